package s3api

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"strconv"
	"strings"
)

// checkedBody is the request body, checked as it streams by: not longer
// than a limit (EntityTooLarge), exactly as long as Content-Length says
// (IncompleteBody), and matching Content-MD5 and any x-amz-checksum-*
// header (BadDigest). A failed check replaces EOF with an *s3Error, so a
// store given this body keeps nothing.
type checkedBody struct {
	r     *bodyReader
	limit int64
	want  int64 // Content-Length, or -1
	sums  []digest
	err   error
}

type digest struct {
	name string // the header, for the message
	h    hash.Hash
	want []byte
}

// crc64NVME is the CRC-64/NVME polynomial, bit-reversed as hash/crc64
// wants it.
const crc64NVME = 0x9a6c9329ac4bc9b5

var checksumHeaders = []struct {
	header string
	size   int
	new    func() hash.Hash
}{
	{"x-amz-checksum-crc32", 4, func() hash.Hash { return crc32.NewIEEE() }},
	{"x-amz-checksum-crc32c", 4, func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) }},
	{"x-amz-checksum-crc64nvme", 8, func() hash.Hash { return crc64.New(crc64.MakeTable(crc64NVME)) }},
	{"x-amz-checksum-sha1", 20, sha1.New},
	{"x-amz-checksum-sha256", 32, sha256.New},
}

// openBody returns the request body with its checks, or the error of a
// digest header that is malformed or a Content-Length over limit.
func (q *request) openBody(limit int64) (*checkedBody, error) {
	b := &checkedBody{r: q.body, limit: limit, want: q.c.ContentLength}
	if b.want > limit {
		return nil, errorf("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
	}
	h := q.r.Header
	if v := h.Get("Content-MD5"); v != "" {
		sum, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(sum) != md5.Size {
			return nil, errorf("InvalidDigest", "The Content-MD5 you specified was invalid.")
		}
		b.sums = append(b.sums, digest{"Content-MD5", md5.New(), sum})
	}
	for _, c := range checksumHeaders {
		v := h.Get(c.header)
		if v == "" {
			continue
		}
		sum, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(sum) != c.size {
			return nil, errorf("InvalidRequest", "Value for "+c.header+" header is invalid.")
		}
		b.sums = append(b.sums, digest{c.header, c.new(), sum})
	}
	return b, nil
}

func (b *checkedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.r.Read(p)
	for _, d := range b.sums {
		d.h.Write(p[:n])
	}
	if b.r.n > b.limit {
		b.err = errorf("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
		return n, b.err
	}
	if err == io.EOF {
		if b.want >= 0 && b.r.n != b.want {
			b.err = errorf("IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header: got "+
				strconv.FormatInt(b.r.n, 10)+" of "+strconv.FormatInt(b.want, 10)+".")
			return n, b.err
		}
		for _, d := range b.sums {
			if !bytes.Equal(d.h.Sum(nil), d.want) {
				if d.name == "Content-MD5" {
					b.err = errorf("BadDigest", "The Content-MD5 you specified did not match what we received.")
				} else {
					algo := strings.ToUpper(strings.TrimPrefix(d.name, "x-amz-checksum-"))
					b.err = errorf("BadDigest", "The "+algo+" you specified did not match the calculated checksum.")
				}
				return n, b.err
			}
		}
	}
	if err != nil {
		b.err = err
	}
	return n, err
}

// readSmallBody reads a body of at most limit bytes (policies, bucket
// configurations), checked as openBody checks.
func (q *request) readSmallBody(limit int64) ([]byte, error) {
	b, err := q.openBody(limit)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(b)
	if err != nil {
		return nil, bodyError(err)
	}
	return data, nil
}
