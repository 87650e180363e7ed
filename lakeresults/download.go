package lakeresults

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
)

// Getter opens an object of a bucket.
type Getter func(ctx context.Context, bucket, key string) (io.ReadCloser, error)

// PublicKey returns the DER (PKCS#1 RSAPublicKey) public key of region with fingerprint.
type PublicKey func(ctx context.Context, region, fingerprint string) ([]byte, error)

// Errors of Download, returned wrapped (test with errors.Is).
var (
	// ErrMissingSignFile: result_sign.json cannot be read.
	ErrMissingSignFile = errors.New("missing sign file")
	// ErrMissingFile: a file the sign file lists cannot be read.
	ErrMissingFile = errors.New("missing file")
	// ErrFileHash: a file's SHA-256 is not the one the sign file lists.
	ErrFileHash = errors.New("results were changed")
	// ErrMalformed: a verified file is not gzipped CSV, or its header
	// differs from the first file's.
	ErrMalformed = errors.New("malformed results")
)

// spoolMemory is how much of a result file Download holds in memory while
// checking its hash; larger files go to a temporary file.
var spoolMemory int64 = 32 << 20

// Download verifies dir's result_sign.json (signature with the region's key, and every listed file's SHA-256) and writes the results to w as one CSV with a single header row. Nothing unverified is written to w: a file is verified before any of its rows are written. Errors say what failed (missing sign file, signature mismatch, file hash mismatch, missing file).
func Download(ctx context.Context, get Getter, key PublicKey, bucket, dir string, w io.Writer) error {
	sf, err := ReadSignFile(ctx, get, bucket, dir)
	if err != nil {
		return err
	}
	der, err := key(ctx, sf.Region, sf.PublicKeyFingerprint)
	if err != nil {
		return fmt.Errorf("public key %s of %s: %w", sf.PublicKeyFingerprint, sf.Region, err)
	}
	if err := sf.Verify(der); err != nil {
		return err
	}
	j := &joiner{w: w}
	for _, f := range sf.Files {
		if err := ctx.Err(); err != nil {
			return err
		}
		sp, err := fetch(ctx, get, bucket, dir, f)
		if err != nil {
			return err
		}
		err = j.add(f.Name, sp)
		sp.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// ReadSignFile reads and parses dir's result_sign.json (not verified).
func ReadSignFile(ctx context.Context, get Getter, bucket, dir string) (*SignFile, error) {
	rc, err := get(ctx, bucket, dir+SignFileName)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot read s3://%s/%s%s: %w", ErrMissingSignFile, bucket, dir, SignFileName, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxSignFile+1))
	if err != nil {
		return nil, fmt.Errorf("%w: cannot read s3://%s/%s%s: %w", ErrMissingSignFile, bucket, dir, SignFileName, err)
	}
	return ParseSignFile(b)
}

// maxResultObject bounds a result file as fetched, so a replaced object
// cannot fill the disk before its hash is found wrong (the writer cuts
// files at DefaultMaxFileBytes of CSV, compressed).
var maxResultObject int64 = 1 << 30

// fetch reads a listed file, checks its hash and returns its bytes.
func fetch(ctx context.Context, get Getter, bucket, dir string, f File) (*spool, error) {
	rc, err := get(ctx, bucket, dir+f.Name)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is listed in %s but cannot be read: %w", ErrMissingFile, f.Name, SignFileName, err)
	}
	defer rc.Close()
	sp := &spool{}
	h := sha256.New()
	n, err := io.Copy(sp, io.TeeReader(io.LimitReader(rc, maxResultObject+1), h))
	if err == nil && n > maxResultObject {
		sp.Close()
		return nil, fmt.Errorf("%w: %s is larger than %d bytes, far more than a result file holds", ErrFileHash, f.Name, maxResultObject)
	}
	if err != nil {
		sp.Close()
		return nil, fmt.Errorf("%w: reading %s: %w", ErrMissingFile, f.Name, err)
	}
	if hex.EncodeToString(h.Sum(nil)) != f.Hash {
		sp.Close()
		return nil, fmt.Errorf("%w: %s SHA-256 does not match %s", ErrFileHash, f.Name, SignFileName)
	}
	return sp, nil
}

// spool holds a file's bytes: in memory up to spoolMemory, then in a
// temporary file.
type spool struct {
	mem  bytes.Buffer
	file *os.File
}

func (s *spool) Write(p []byte) (int, error) {
	if s.file == nil && int64(s.mem.Len()+len(p)) <= spoolMemory {
		return s.mem.Write(p)
	}
	if s.file == nil {
		f, err := os.CreateTemp("", "opentrail-results-*")
		if err != nil {
			return 0, err
		}
		os.Remove(f.Name()) // unlinked: gone when closed
		s.file = f
		if _, err := f.Write(s.mem.Bytes()); err != nil {
			return 0, err
		}
		s.mem = bytes.Buffer{}
	}
	return s.file.Write(p)
}

// reader reads the bytes from the start.
func (s *spool) reader() (io.Reader, error) {
	if s.file == nil {
		return bytes.NewReader(s.mem.Bytes()), nil
	}
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return s.file, nil
}

func (s *spool) Close() error {
	if s.file != nil {
		return s.file.Close()
	}
	return nil
}

// maxHeader bounds a result file's header row.
const maxHeader = 1 << 20

// joiner writes result files' CSV as one: the first file whole, the
// others without their header row, which must be the same bytes.
type joiner struct {
	w      io.Writer
	header []byte // the first file's header record, nil before it
}

func (j *joiner) add(name string, sp *spool) error {
	r, err := sp.reader()
	if err != nil {
		return err
	}
	zr, err := gzip.NewReader(r)
	if err == io.EOF {
		return fmt.Errorf("%w: %s is empty, not gzip", ErrMalformed, name)
	}
	if err != nil {
		return fmt.Errorf("%w: %s is not gzip: %v", ErrMalformed, name, err)
	}
	defer zr.Close()
	var s csvScan
	buf := make([]byte, 64<<10)
	var header []byte
	inHeader, last := true, byte('\n')
	for {
		n, rerr := zr.Read(buf)
		p := buf[:n]
		if inHeader && n > 0 {
			end := s.recordEnd(p)
			if end < 0 {
				header = append(header, p...)
				p = nil
			} else {
				header = append(header, p[:end+1]...)
				p = p[end+1:]
				inHeader = false
				if err := j.startFile(name, header); err != nil {
					return err
				}
			}
			if len(header) > maxHeader {
				return fmt.Errorf("%w: %s: the header row is longer than %d bytes", ErrMalformed, name, maxHeader)
			}
		}
		if !inHeader && len(p) > 0 {
			s.follow(p)
			if _, err := j.w.Write(p); err != nil {
				return err
			}
			last = p[len(p)-1]
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("%w: %s: %v", ErrMalformed, name, rerr)
		}
	}
	if s.inQuote {
		return fmt.Errorf("%w: %s ends inside a quoted field", ErrMalformed, name)
	}
	if inHeader && len(header) > 0 { // a header without its newline, no rows
		header = append(header, '\n')
		return j.startFile(name, header)
	}
	if last != '\n' {
		_, err := j.w.Write([]byte{'\n'}) // end the last record before the next file's
		return err
	}
	return nil
}

// startFile writes the first file's header, or checks a later file's.
func (j *joiner) startFile(name string, header []byte) error {
	if j.header == nil {
		j.header = bytes.Clone(header)
		_, err := j.w.Write(header)
		return err
	}
	if !bytes.Equal(bytes.TrimRight(header, "\r\n"), bytes.TrimRight(j.header, "\r\n")) {
		return fmt.Errorf("%w: %s has another header row than the first file", ErrMalformed, name)
	}
	return nil
}

// csvScan follows CSV quoting to find record ends: a newline outside
// double quotes ends a record (an escaped quote "" toggles twice).
type csvScan struct{ inQuote bool }

// recordEnd returns the index of the newline in p that ends the current
// record, or -1, following the quoting up to there.
func (s *csvScan) recordEnd(p []byte) int {
	for i := 0; i < len(p); i++ {
		j := bytes.IndexAny(p[i:], "\"\n")
		if j < 0 {
			return -1
		}
		i += j
		if p[i] == '"' {
			s.inQuote = !s.inQuote
		} else if !s.inQuote {
			return i
		}
	}
	return -1
}

// follow updates the quoting state over p.
func (s *csvScan) follow(p []byte) {
	if bytes.Count(p, []byte{'"'})%2 == 1 {
		s.inQuote = !s.inQuote
	}
}
