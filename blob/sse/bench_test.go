package sse_test

import (
	"context"
	"io"
	"testing"

	"github.com/opentrail/opentrail/blob"
)

// BenchmarkPut and BenchmarkGet compare SSE-KMS objects with plain ones
// in the directory store: 8 MB objects, MB/s from b.SetBytes.
func BenchmarkPut(b *testing.B) {
	for _, tt := range []struct {
		name string
		opts func(e *env) blob.PutOptions
	}{
		{"plain", func(*env) blob.PutOptions { return blob.PutOptions{} }},
		{"sse-kms", func(e *env) blob.PutOptions { return blob.PutOptions{ServerSideEncryption: "aws:kms", KMSKeyID: e.key} }},
	} {
		b.Run(tt.name, func(b *testing.B) {
			e := mustEnv(b)
			const size = 8 << 20
			opts := tt.opts(e)
			b.SetBytes(size)
			for b.Loop() {
				if _, err := e.store.PutObject(context.Background(), bucket, "obj", &pattern{n: size}, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkGet(b *testing.B) {
	for _, tt := range []struct {
		name string
		opts func(e *env) blob.PutOptions
	}{
		{"plain", func(*env) blob.PutOptions { return blob.PutOptions{} }},
		{"sse-kms", func(e *env) blob.PutOptions { return blob.PutOptions{ServerSideEncryption: "aws:kms", KMSKeyID: e.key} }},
	} {
		b.Run(tt.name, func(b *testing.B) {
			e := mustEnv(b)
			const size = 8 << 20
			ctx := context.Background()
			if _, err := e.store.PutObject(ctx, bucket, "obj", &pattern{n: size}, tt.opts(e)); err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 256<<10)
			b.SetBytes(size)
			for b.Loop() {
				rc, _, err := e.store.GetObject(ctx, bucket, "obj", 0, -1)
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{rc}, buf); err != nil || n != size {
					b.Fatal(n, err)
				}
				rc.Close()
			}
		})
	}
}
