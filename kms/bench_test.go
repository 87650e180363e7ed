package kms_test

import (
	"context"
	"testing"
)

// BenchmarkDataKey is the internal round trip of SSE-KMS: a data key made
// and unwrapped again, in process, as the bucket store does per object.
func BenchmarkDataKey(b *testing.B) {
	h := mustHarness(b)
	arn := mustCreateKey(b, h.client(keyOwner), nil)
	s := h.service()
	ctx := context.Background()
	encCtx := map[string]string{"aws:s3:arn": "arn:aws:s3:::bucket/key"}
	b.ReportAllocs()
	for b.Loop() {
		_, blob, _, err := s.GenerateDataKey(ctx, arn, encCtx)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := s.Decrypt(ctx, blob, encCtx); err != nil {
			b.Fatal(err)
		}
	}
}
