package sigv4

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// MaxChunkSize is the largest chunk a signed aws-chunked body may carry.
// Each chunk is held in memory until its signature is checked, so this bounds
// the memory one upload can take; the AWS SDKs send 64 KiB to 1 MiB chunks.
// Unsigned chunks stream through and are bounded only by
// x-amz-decoded-content-length.
const MaxChunkSize = 16 << 20

const (
	maxLine         = 4096     // one chunk header or trailer line, CRLF included
	maxTrailerBytes = 16 << 10 // all trailer lines together
	readBufferSize  = 32 << 10
	firstChunkAlloc = 32 << 10 // a signed chunk's buffer grows as data arrives
)

// ChunkedReader reads the decoded body of an aws-chunked request (S3 uploads
// with x-amz-content-sha256 of StreamingPayload, StreamingPayloadTrailer or
// StreamingUnsignedPayloadTrailer).
//
// Signed chunks are returned only after their signature, chained from the
// request's seed signature, has been checked. Unsigned chunks stream through.
// Only the io.EOF at the end says the whole body is authentic and complete:
// the final chunk and trailer signatures, a checksum trailer named in
// x-amz-trailer, and x-amz-decoded-content-length are checked then, so the
// caller must not keep what it read unless Read ended with io.EOF. Failures
// are *Error (KindSignatureMismatch, KindPayloadMismatch, KindMalformedBody),
// or the error of the underlying body wrapped with %w.
type ChunkedReader struct {
	br      *bufio.Reader
	a       *Auth
	signed  bool // chunks carry signatures
	trailer bool // trailing headers follow the final chunk
	stream  *v4.StreamSigner
	secret  string
	prevSig []byte // signature of the last chunk read

	buf  []byte // the current signed chunk
	data []byte // verified data not yet returned
	left int64  // bytes left in the current unsigned chunk

	n    int64 // decoded bytes so far
	want int64 // x-amz-decoded-content-length, or -1

	sum      hash.Hash // the checksum named in x-amz-trailer, if known
	sumName  string
	trailers http.Header
	err      error
}

// NewChunkedReader returns a reader of the decoded body of r. a and secret
// must be those Verify accepted r with: a.Signature seeds the chain of chunk
// signatures. It reads r.Body and the x-amz-decoded-content-length and
// x-amz-trailer headers; it does not close r.Body. Errors are *Error: an
// a.PayloadHash that is not one of the three aws-chunked forms
// (KindIncomplete), or a malformed x-amz-decoded-content-length
// (KindMalformedBody).
func NewChunkedReader(r *http.Request, a *Auth, secret string) (*ChunkedReader, error) {
	c := &ChunkedReader{a: a, want: -1}
	switch a.PayloadHash {
	case StreamingPayload:
		c.signed = true
	case StreamingPayloadTrailer:
		c.signed, c.trailer = true, true
	case StreamingUnsignedPayloadTrailer:
		c.trailer = true
	default:
		return nil, errorf(KindIncomplete, "x-amz-content-sha256 '"+a.PayloadHash+"' is not an aws-chunked encoding this server decodes.")
	}
	if v := r.Header.Get("X-Amz-Decoded-Content-Length"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || v[0] == '+' {
			return nil, errorf(KindMalformedBody, "x-amz-decoded-content-length must be a non-negative integer, got '"+v+"'.")
		}
		c.want = n
	}
	if c.trailer {
		for name := range strings.SplitSeq(r.Header.Get("X-Amz-Trailer"), ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			if h := newChecksum(name); h != nil {
				c.sum, c.sumName = h, name
				break
			}
		}
	}
	if c.signed {
		seed, err := hex.DecodeString(a.Signature)
		if err != nil {
			return nil, errorf(KindIncomplete, "Signature must be 64 lower-case hexadecimal characters, got '"+a.Signature+"'.")
		}
		c.prevSig = seed
		c.secret = secret
		c.stream = v4.NewStreamSigner(aws.Credentials{AccessKeyID: a.AccessKeyID, SecretAccessKey: secret}, a.Service, a.Region, seed)
	}
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	c.br = bufio.NewReaderSize(body, readBufferSize)
	return c, nil
}

// Trailer returns the trailing headers that followed the final chunk, with
// canonical names (X-Amz-Checksum-Crc32, ...) and without the trailer
// signature. It is nil until Read has returned io.EOF.
func (c *ChunkedReader) Trailer() http.Header {
	if c.err != io.EOF {
		return nil
	}
	return c.trailers
}

// Read reads decoded body bytes. See ChunkedReader for what io.EOF means.
func (c *ChunkedReader) Read(p []byte) (int, error) {
	for {
		switch {
		case len(c.data) > 0:
			n := copy(p, c.data)
			c.data = c.data[n:]
			return n, nil
		case c.err != nil:
			return 0, c.err
		case c.left > 0:
			return c.readUnsigned(p)
		case len(p) == 0:
			return 0, nil
		}
		c.err = c.next()
	}
}

func (c *ChunkedReader) readUnsigned(p []byte) (int, error) {
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.br.Read(p)
	c.left -= int64(n)
	c.account(p[:n])
	switch {
	case err != nil:
		c.err = c.bodyError(err)
	case c.left == 0:
		c.err = c.crlf()
	}
	if n > 0 {
		return n, nil
	}
	return 0, c.err
}

func (c *ChunkedReader) account(p []byte) {
	c.n += int64(len(p))
	if c.sum != nil {
		c.sum.Write(p)
	}
}

// next reads the next chunk header and, for a signed chunk, its data and
// signature. It returns io.EOF after the final chunk checks out.
func (c *ChunkedReader) next() error {
	line, err := c.line()
	if err != nil {
		return c.bodyError(err)
	}
	size, sig, err := c.parseChunkHeader(line)
	if err != nil {
		return err
	}
	if c.want >= 0 && c.n+size > c.want {
		return errorf(KindMalformedBody, "The body is longer than x-amz-decoded-content-length ("+strconv.FormatInt(c.want, 10)+" bytes).")
	}
	if !c.signed {
		if size == 0 {
			return c.finish()
		}
		c.left = size
		return nil
	}
	if err := c.readChunk(int(size)); err != nil {
		return err
	}
	got, err := c.stream.GetSignature(context.Background(), nil, c.buf, c.a.SigningTime)
	if err != nil {
		return fmt.Errorf("sign aws-chunked chunk: %w", err)
	}
	if !hmac.Equal(got, sig) {
		return errorf(KindSignatureMismatch, "The chunk signature we calculated does not match the signature you provided.")
	}
	c.prevSig = got
	c.account(c.buf)
	c.data = c.buf
	if size == 0 {
		return c.finish()
	}
	return nil
}

// readChunk reads size bytes of chunk data and the CRLF after them into
// c.buf, growing it only as data arrives so that a chunk header claiming a
// large size costs nothing until the bytes come.
func (c *ChunkedReader) readChunk(size int) error {
	c.buf = c.buf[:0]
	if size == 0 {
		return nil
	}
	for len(c.buf) < size {
		if len(c.buf) == cap(c.buf) {
			c.buf = slices.Grow(c.buf, min(size-len(c.buf), max(cap(c.buf), firstChunkAlloc)))
		}
		m, err := io.ReadFull(c.br, c.buf[len(c.buf):min(cap(c.buf), size)])
		c.buf = c.buf[:len(c.buf)+m]
		if err != nil {
			return c.bodyError(err)
		}
	}
	return c.crlf()
}

func (c *ChunkedReader) parseChunkHeader(line []byte) (size int64, sig []byte, err error) {
	bad := func() (int64, []byte, error) {
		return 0, nil, errorf(KindMalformedBody, "Malformed aws-chunked chunk header: '"+printable(line)+"'.")
	}
	sizeHex := line
	if c.signed {
		const ext = ";chunk-signature="
		i := strings.Index(string(line), ext)
		if i < 0 || len(line)-i-len(ext) != 64 {
			return bad()
		}
		sizeHex = line[:i]
		sig = make([]byte, 32)
		if _, err := hex.Decode(sig, line[i+len(ext):]); err != nil {
			return bad()
		}
	}
	if len(sizeHex) == 0 || len(sizeHex) > 16 {
		return bad()
	}
	u, err := strconv.ParseUint(string(sizeHex), 16, 63)
	if err != nil {
		return bad()
	}
	if c.signed && u > MaxChunkSize {
		return 0, nil, errorf(KindMalformedBody, "Chunk of "+strconv.FormatUint(u, 10)+" bytes is larger than the limit of "+strconv.Itoa(MaxChunkSize)+".")
	}
	return int64(u), sig, nil
}

// finish reads what follows the final chunk: trailing headers, if any, then
// an empty line. It checks the trailer signature, the checksum and the
// decoded length, and returns io.EOF when all hold.
func (c *ChunkedReader) finish() error {
	var lines []string
	total := 0
	for {
		line, err := c.line()
		if err == io.EOF && len(lines) == 0 && !(c.signed && c.trailer) {
			break // tolerate a body that ends right after the final chunk
		}
		if err != nil {
			return c.bodyError(err)
		}
		if len(line) == 0 {
			break
		}
		if total += len(line); total > maxTrailerBytes {
			return errorf(KindMalformedBody, "The trailing headers are longer than "+strconv.Itoa(maxTrailerBytes)+" bytes.")
		}
		lines = append(lines, string(line))
	}
	if len(lines) > 0 && !c.trailer {
		return errorf(KindMalformedBody, "Trailing headers are only allowed with a -TRAILER x-amz-content-sha256.")
	}
	var canon strings.Builder
	var trailerSig string
	c.trailers = make(http.Header, len(lines))
	for _, line := range lines {
		name, value, ok := strings.Cut(line, ":")
		name = strings.ToLower(strings.TrimSpace(name))
		value = strings.TrimSpace(value)
		if !ok || !isHeaderName(name) {
			return errorf(KindMalformedBody, "The request contained trailing data that was not well-formed: '"+printable([]byte(line))+"'.")
		}
		if name == "x-amz-trailer-signature" {
			trailerSig = value
			continue
		}
		c.trailers.Add(name, value)
		canon.WriteString(name)
		canon.WriteByte(':')
		canon.WriteString(value)
		canon.WriteByte('\n')
	}
	if c.signed && c.trailer {
		if err := c.checkTrailerSignature(canon.String(), trailerSig); err != nil {
			return err
		}
	}
	if c.want >= 0 && c.n != c.want {
		return errorf(KindMalformedBody, "You did not provide the number of bytes specified by the x-amz-decoded-content-length header: got "+
			strconv.FormatInt(c.n, 10)+", want "+strconv.FormatInt(c.want, 10)+".")
	}
	if c.sum != nil {
		sent := c.trailers.Get(c.sumName)
		if sent == "" {
			return errorf(KindMalformedBody, "The x-amz-trailer header names "+c.sumName+" but the body has no such trailer.")
		}
		if base64.StdEncoding.EncodeToString(c.sum.Sum(nil)) != sent {
			algo := strings.ToUpper(strings.TrimPrefix(c.sumName, "x-amz-checksum-"))
			return errorf(KindPayloadMismatch, "The "+algo+" you specified did not match the calculated checksum.")
		}
	}
	return io.EOF
}

// checkTrailerSignature checks the signature of the trailing headers, chained
// from the final chunk's signature. The AWS SDK signer has no form of this
// string to sign, so it is written here.
func (c *ChunkedReader) checkTrailerSignature(canon, sent string) error {
	want, err := hex.DecodeString(sent)
	if err != nil || len(want) != sha256.Size {
		return errorf(KindMalformedBody, "The trailing headers need an x-amz-trailer-signature of 64 hexadecimal characters.")
	}
	sum := sha256.Sum256([]byte(canon))
	sts := "AWS4-HMAC-SHA256-TRAILER\n" + c.a.SigningTime.Format(amzDateFormat) + "\n" + c.a.scope() + "\n" +
		hex.EncodeToString(c.prevSig) + "\n" + hex.EncodeToString(sum[:])
	got := hmacSHA256(signingKey(c.secret, c.a.Date, c.a.Region, c.a.Service), sts)
	if !hmac.Equal(got, want) {
		return errorf(KindSignatureMismatch, "The trailer signature we calculated does not match the signature you provided.")
	}
	return nil
}

// line reads one CRLF-terminated line of at most maxLine bytes and returns
// it without the CRLF. It returns io.EOF only when no byte was left.
func (c *ChunkedReader) line() ([]byte, error) {
	b, err := c.br.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull || len(b) > maxLine:
		return nil, errorf(KindMalformedBody, "An aws-chunked line is longer than "+strconv.Itoa(maxLine)+" bytes.")
	case err == io.EOF && len(b) == 0:
		return nil, io.EOF
	case err == io.EOF:
		return nil, io.ErrUnexpectedEOF
	case err != nil:
		return nil, err
	case len(b) < 2 || b[len(b)-2] != '\r':
		return nil, errorf(KindMalformedBody, "An aws-chunked line does not end in CRLF.")
	}
	return b[:len(b)-2], nil
}

func (c *ChunkedReader) crlf() error {
	var b [2]byte
	if _, err := io.ReadFull(c.br, b[:]); err != nil {
		return c.bodyError(err)
	}
	if b != [2]byte{'\r', '\n'} {
		return errorf(KindMalformedBody, "Chunk data is not followed by CRLF.")
	}
	return nil
}

// bodyError turns an early end of the body into KindMalformedBody and wraps
// any other error of the underlying reader.
func (c *ChunkedReader) bodyError(err error) error {
	var e *Error
	switch {
	case errors.As(err, &e):
		return err
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return errorf(KindMalformedBody, "The body ended before the final aws-chunked chunk.")
	}
	return fmt.Errorf("read aws-chunked body: %w", err)
}

// crc64NVME is the CRC-64/NVME polynomial, bit-reversed as hash/crc64 wants.
const crc64NVME = 0x9a6c9329ac4bc9b5

func newChecksum(name string) hash.Hash {
	switch name {
	case "x-amz-checksum-crc32":
		return crc32.NewIEEE()
	case "x-amz-checksum-crc32c":
		return crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case "x-amz-checksum-crc64nvme":
		return crc64.New(crc64.MakeTable(crc64NVME))
	case "x-amz-checksum-sha1":
		return sha1.New()
	case "x-amz-checksum-sha256":
		return sha256.New()
	}
	return nil
}

// printable quotes at most 80 bytes of b for an error message.
func printable(b []byte) string {
	if len(b) > 80 {
		b = b[:80]
	}
	q := strconv.QuoteToASCII(string(b))
	return q[1 : len(q)-1]
}
