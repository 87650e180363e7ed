package lakeresults

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// Putter stores one object. A retry with the same key and body must be
// harmless.
type Putter func(ctx context.Context, bucket, key string, body []byte, contentType string) error

// DefaultMaxFileBytes is the default bound of a result file: the CSV
// bytes (before gzip) after which it is closed and the next one begun.
const DefaultMaxFileBytes = 128 << 20

// Content types of the saved objects.
const (
	CSVContentType  = "application/x-gzip"
	SignContentType = "application/json"
)

// Writer splits a query's CSV results (a header row, then one record per
// row, as lake.Engine.WriteCSV writes them) into result files. Each is
// gzipped (at gzip.BestSpeed: about twice the speed of the default level,
// for files some 15% larger), begins with the header row, and is closed at
// the first record end once it holds maxFileBytes CSV bytes or more (so a
// file exceeds the bound by at most one record), then stored with put.
// Only the file being filled is held in memory, compressed.
//
// Write finds record ends by following CSV quoting (a newline inside a
// quoted field does not end a record), so the input must be CSV as
// encoding/csv writes it. After Close, Files lists what was stored, for
// the sign file (NewSignFile). Errors from put are returned wrapped.
type Writer struct {
	ctx         context.Context
	put         Putter
	bucket, dir string
	max         int64

	header   []byte // the header record, with its newline
	inHeader bool
	scan     csvScan

	open bool         // a file is being filled
	buf  bytes.Buffer // its compressed bytes
	zw   *gzip.Writer
	size int64 // its CSV bytes

	files []File
	err   error
}

// NewWriter returns a Writer that stores files under dir (ending in "/")
// of bucket. maxFileBytes <= 0 means DefaultMaxFileBytes.
func NewWriter(ctx context.Context, put Putter, bucket, dir string, maxFileBytes int64) *Writer {
	if maxFileBytes <= 0 {
		maxFileBytes = DefaultMaxFileBytes
	}
	return &Writer{ctx: ctx, put: put, bucket: bucket, dir: dir, max: maxFileBytes, inHeader: true}
}

// Write adds CSV bytes; records may be split across calls in any way.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n := len(p)
	for len(p) > 0 {
		if !w.open {
			w.begin()
		}
		end := w.scan.recordEnd(p)
		chunk := p
		if end >= 0 {
			chunk = p[:end+1]
		}
		if _, err := w.zw.Write(chunk); err != nil {
			w.err = err
			return 0, err
		}
		w.size += int64(len(chunk))
		if w.inHeader {
			w.header = append(w.header, chunk...)
		}
		p = p[len(chunk):]
		if end < 0 {
			break
		}
		if w.inHeader {
			w.inHeader = false
			continue
		}
		if w.size >= w.max {
			if err := w.finish(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// begin starts the next file with the header row.
func (w *Writer) begin() {
	w.buf.Reset()
	if w.zw == nil {
		w.zw, _ = gzip.NewWriterLevel(&w.buf, gzip.BestSpeed) // a valid level: no error
	} else {
		w.zw.Reset(&w.buf)
	}
	w.open, w.size = true, 0
	if !w.inHeader && len(w.header) > 0 {
		w.zw.Write(w.header) // into a bytes.Buffer: cannot fail
		w.size = int64(len(w.header))
	}
}

// finish compresses and stores the file being filled.
func (w *Writer) finish() error {
	if err := w.zw.Close(); err != nil {
		w.err = err
		return err
	}
	w.open = false
	name := FileName(len(w.files) + 1)
	body := w.buf.Bytes()
	if err := w.put(w.ctx, w.bucket, w.dir+name, body, CSVContentType); err != nil {
		w.err = fmt.Errorf("store %s: %w", name, err)
		return w.err
	}
	sum := sha256.Sum256(body)
	w.files = append(w.files, File{Hash: hex.EncodeToString(sum[:]), Name: name})
	return nil
}

// Close stores the last file (an empty one if nothing was written).
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if !w.open && len(w.files) == 0 {
		w.begin()
	}
	if w.open {
		if err := w.finish(); err != nil {
			return err
		}
	}
	w.err = errClosed
	return nil
}

var errClosed = errors.New("lakeresults: Writer is closed")

// Err returns the error that stopped the Writer (a failed put, wrapped),
// nil if none did; after Close, the closed error. It lets a caller see the
// bucket's error when the code writing the CSV reports it otherwise.
func (w *Writer) Err() error { return w.err }

// Files lists the files stored, in order.
func (w *Writer) Files() []File { return append([]File(nil), w.files...) }
