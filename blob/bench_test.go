package blob_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/opentrail/opentrail/blob"
)

// BenchmarkPutGet puts an object into the directory store (durably: fsync
// of the file and its directory) and reads it back.
func BenchmarkPutGet(b *testing.B) {
	for _, size := range []int{1 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dKB", size>>10), func(b *testing.B) {
			s, _ := mustDir(b)
			mustBucket(b, s, "bench")
			ctx := context.Background()
			data := bytes.Repeat([]byte("opentrail"), size/9+1)[:size]
			key := "AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/02/object.json.gz"
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.PutObject(ctx, "bench", key, bytes.NewReader(data), blob.PutOptions{ContentType: "application/json"}); err != nil {
					b.Fatal(err)
				}
				rc, _, err := s.GetObject(ctx, "bench", key, 0, -1)
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.Copy(io.Discard, rc); err != nil || n != int64(size) {
					b.Fatalf("read %d bytes, %v", n, err)
				}
				rc.Close()
			}
		})
	}
}

// BenchmarkList lists a page of 1,000 keys out of 5,000 in one directory.
func BenchmarkList(b *testing.B) {
	s, _ := mustDir(b)
	mustBucket(b, s, "bench")
	ctx := context.Background()
	for i := range 5000 {
		if _, err := s.PutObject(ctx, "bench", fmt.Sprintf("logs/2024/01/02/%05d.json.gz", i), bytes.NewReader([]byte("x")), blob.PutOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		res, err := s.ListObjects(ctx, "bench", blob.ListOptions{Prefix: "logs/2024/01/02/", StartAfter: "logs/2024/01/02/02000.json.gz"})
		if err != nil || len(res.Objects) != 1000 {
			b.Fatalf("ListObjects = %d objects, %v", len(res.Objects), err)
		}
	}
}
