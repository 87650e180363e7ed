package integrity

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
)

// sourceReader remembers the error of the reader under a decompressor, so
// that a failing download is told apart from corrupt data.
type sourceReader struct {
	r   io.Reader
	n   int64
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.n += int64(n)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

var bufPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 256<<10) }}
var copyPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// gunzipAll decompresses a digest: one gzip member, whole, as Python's
// zlib.decompress. Corrupt, truncated or oversized data is a problem
// ("invalid format"), and so is data after the member; a failing read of
// rc is an error.
func gunzipAll(rc io.Reader) ([]byte, string, error) {
	src := &sourceReader{r: rc}
	br := bufio.NewReaderSize(src, 64<<10)
	zr, err := gzip.NewReader(br)
	if err != nil {
		if src.err != nil {
			return nil, "", src.err
		}
		return nil, problemFormat, nil
	}
	zr.Multistream(false)
	raw, err := io.ReadAll(io.LimitReader(zr, maxDigestBytes+1))
	if src.err != nil {
		return nil, "", src.err
	}
	if err != nil || len(raw) > maxDigestBytes {
		return nil, problemFormat, nil
	}
	if _, err := br.ReadByte(); err == nil {
		return nil, problemTrailing, nil
	} else if src.err != nil {
		return nil, "", src.err
	}
	return raw, "", nil
}

// checkLog fetches a log file, decompresses it as a stream and compares the
// SHA-256 of its bytes with the digest's hashValue, with the AWS CLI's
// classification: a missing file is "not found"; corrupt gzip data
// (header, deflate data, CRC or length) is "invalid format"; a stream that
// ends early is hashed as far as it goes (so it is a hash mismatch, as
// with Python's zlib); a file with bytes after its gzip stream whose hash
// matches is "unexpected data after end of compressed stream".
func checkLog(ctx context.Context, objects Bucket, f logEntry) (Result, error) {
	r := Result{Kind: LogResult, Bucket: f.bucket, Key: f.key}
	rc, _, err := objects.Open(ctx, f.bucket, f.key)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			r.Problem = problemNotFound
			return r, nil
		}
		return r, fmt.Errorf("get log file s3://%s/%s: %w", f.bucket, f.key, err)
	}
	defer rc.Close()
	src := &sourceReader{r: rc}
	br := bufPool.Get().(*bufio.Reader)
	br.Reset(src)
	defer func() { br.Reset(nil); bufPool.Put(br) }()
	h := sha256.New()
	problem := ""
	truncated := false
	zr, err := gzip.NewReader(br)
	switch {
	case err == nil:
		zr.Multistream(false)
		bp := copyPool.Get().(*[]byte)
		_, err = io.CopyBuffer(h, zr, *bp)
		copyPool.Put(bp)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			truncated = true
		} else if err != nil {
			problem = problemFormat
		}
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		truncated = true // an empty or cut header hashes as no bytes
	default:
		problem = problemFormat
	}
	if src.err != nil {
		return r, fmt.Errorf("read log file s3://%s/%s: %w", f.bucket, f.key, src.err)
	}
	if problem == "" {
		if hex.EncodeToString(h.Sum(nil)) != f.hash {
			problem = problemHash
		} else if !truncated {
			if _, err := br.ReadByte(); err == nil {
				problem = problemTrailing
			}
		}
	}
	if src.err != nil {
		return r, fmt.Errorf("read log file s3://%s/%s: %w", f.bucket, f.key, src.err)
	}
	r.Problem = problem
	r.Bytes = src.n
	return r, nil
}
