package integrity

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
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
	var in io.Reader = src
	if fastGunzipAvailable() && !streamOnly {
		done, body, err := checkLogFast(src, f, &r)
		if err != nil {
			return r, fmt.Errorf("read log file s3://%s/%s: %w", f.bucket, f.key, err)
		}
		if done {
			return r, nil
		}
		// Not a clean single member, or too big to hold: the streaming
		// path below classifies it, from the bytes already read on.
		in = io.MultiReader(bytes.NewReader(body), src)
	}
	br := bufPool.Get().(*bufio.Reader)
	br.Reset(in)
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

// Whole-buffer decompression (libdeflate) is several times faster than
// streaming, so log files up to maxFastCompressed are read whole and
// decompressed in one call when libdeflate is installed.
const (
	maxFastCompressed = 64 << 20
	maxFastSize       = 256 << 20 // bounds what a hostile ISIZE can make us allocate
	maxPooledOut      = 32 << 20
)

// streamOnly turns the whole-buffer path off (tests compare both paths).
var streamOnly = false

var fastPool = sync.Pool{New: func() any { return new(fastBufs) }}

type fastBufs struct{ in, out []byte }

// checkLogFast reads the log file whole and, if it is one clean gzip
// member (possibly followed by other bytes), hashes it and sets r; done is
// then true. Otherwise it returns the bytes it read (which the caller
// must consume before the rest of src) and done false. Its results are the
// streaming path's: same hash, same "unexpected data" rule.
func checkLogFast(src *sourceReader, f logEntry, r *Result) (done bool, body []byte, err error) {
	bufs := fastPool.Get().(*fastBufs)
	in, err := readUpTo(src, bufs.in[:0], maxFastCompressed+1)
	bufs.in = in[:0]
	if err != nil || len(in) > maxFastCompressed || len(in) < 18 {
		// The streaming path owns the bytes from here: hand over a copy,
		// since bufs goes back to the pool.
		body = append([]byte(nil), in...)
		fastPool.Put(bufs)
		return false, body, err
	}
	defer func() {
		if cap(bufs.out) > maxPooledOut {
			bufs.out = nil
		}
		fastPool.Put(bufs)
	}()
	// The gzip trailer's ISIZE is the member's size (mod 2^32) when the
	// member is the whole file; if it is not, or ISIZE is implausible for a
	// deflate stream, libdeflate reports a problem and the streaming path
	// decides.
	size := int(binary.LittleEndian.Uint32(in[len(in)-4:]))
	if size == 0 || size > maxFastSize || size > 1100*len(in) {
		return false, append([]byte(nil), in...), nil
	}
	if cap(bufs.out) < size {
		bufs.out = make([]byte, size)
	}
	n, used, ok := fastGunzip(in, bufs.out[:size])
	if !ok {
		return false, append([]byte(nil), in...), nil
	}
	sum := sha256.Sum256(bufs.out[:n])
	switch {
	case hex.EncodeToString(sum[:]) != f.hash:
		r.Problem = problemHash
	case used < len(in):
		r.Problem = problemTrailing
	}
	r.Bytes = src.n
	return true, nil, nil
}

// readUpTo appends to buf what r yields, stopping after limit bytes.
func readUpTo(r io.Reader, buf []byte, limit int) ([]byte, error) {
	for len(buf) < limit {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):min(cap(buf), limit)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}
