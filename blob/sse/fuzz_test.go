package sse_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/opentrail/opentrail/blob"
	"github.com/opentrail/opentrail/blob/sse"
	"github.com/opentrail/opentrail/kms"
)

// fixed is a store that holds one object whose stored bytes the test
// chooses: a stand-in for bytes altered at rest.
type fixed struct {
	blob.Store
	info *blob.ObjectInfo
	data []byte
}

func (f *fixed) HeadObject(ctx context.Context, bucket, key string) (*blob.ObjectInfo, error) {
	i := *f.info
	i.Size = int64(len(f.data))
	return &i, nil
}

func (f *fixed) GetObject(ctx context.Context, bucket, key string, offset, length int64) (io.ReadCloser, *blob.ObjectInfo, error) {
	i, _ := f.HeadObject(ctx, bucket, key)
	if offset > int64(len(f.data)) {
		return nil, nil, blob.ErrInvalidRange
	}
	end := int64(len(f.data))
	if length >= 0 && offset+length < end {
		end = offset + length
	}
	return io.NopCloser(bytes.NewReader(f.data[offset:end])), i, nil
}

// FuzzStored reads arbitrary stored bytes as an encrypted object, with
// any range: only the bytes the store wrote decrypt, and then to exactly
// the plaintext; anything else fails with ErrCorrupt or a range error,
// never a panic or wrong plaintext.
func FuzzStored(f *testing.F) {
	e := mustEnv(f)
	ctx := context.Background()
	plain := data(sse.ChunkSize + 100)
	if _, err := e.store.PutObject(ctx, bucket, "o", bytes.NewReader(plain), kmsPut(e.key)); err != nil {
		f.Fatal(err)
	}
	info, err := e.inner.HeadObject(ctx, bucket, "o")
	if err != nil {
		f.Fatal(err)
	}
	rc, _, err := e.inner.GetObject(ctx, bucket, "o", 0, -1)
	if err != nil {
		f.Fatal(err)
	}
	stored, _ := io.ReadAll(rc)
	rc.Close()
	f.Add(stored, int64(0), int64(-1))
	f.Add(stored, int64(sse.ChunkSize-1), int64(3))
	f.Add(stored[:len(stored)-1], int64(0), int64(-1))
	f.Add(stored[:sse.ChunkSize+16], int64(0), int64(-1))
	f.Add(append(bytes.Clone(stored[sse.ChunkSize+16:]), stored[:sse.ChunkSize+16]...), int64(0), int64(-1))
	f.Add([]byte{}, int64(0), int64(-1))
	f.Fuzz(func(t *testing.T, b []byte, offset, length int64) {
		s := sse.New(&fixed{Store: e.inner, info: info, data: b}, e.kms)
		rc, _, err := s.GetObject(ctx, bucket, "o", offset, length)
		if err != nil {
			if !errors.Is(err, sse.ErrCorrupt) && !errors.Is(err, blob.ErrInvalidRange) && !errors.Is(err, kms.ErrInvalidCiphertext) {
				t.Fatalf("GetObject(%d bytes, %d, %d) = %v", len(b), offset, length, err)
			}
			return
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			if !errors.Is(err, sse.ErrCorrupt) {
				t.Fatalf("read = %v", err)
			}
			return
		}
		end := int64(len(plain))
		if length >= 0 && offset+length < end {
			end = offset + length
		}
		if !bytes.Equal(b, stored) || !bytes.Equal(got, plain[offset:end]) {
			t.Fatalf("%d stored bytes, range %d+%d, decrypted to %d bytes", len(b), offset, length, len(got))
		}
	})
}
