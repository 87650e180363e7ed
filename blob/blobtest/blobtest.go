// Package blobtest is the conformance suite of blob.Store: every store runs
// Run, so that the embedded directory store and an S3-compatible service
// behave alike for opentrail.
//
// The suite checks what the blob package documents: bucket lifecycle and
// its errors, policies, objects with their attributes, ranges, listings
// (prefix, delimiter, pagination, S3's byte order) against a reference
// model, bodies that fail (nothing stored), large objects streamed, and
// concurrent puts of one key (the last wins, never a torn object).
package blobtest

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/opentrail/opentrail/blob"
)

// Options describe the store under test.
type Options struct {
	// Owner is the owner given to CreateBucket, and Region its region.
	Owner, Region string
	// ReportsOwner is set when BucketInfo.Owner is the owner given to
	// CreateBucket (the directory store); otherwise the service decides,
	// and a second owner cannot be tried.
	ReportsOwner bool
	// IgnoresSSE is set for a service that accepts the server-side
	// encryption headers but does not report them back (versitygw's posix
	// backend); the suite then does not check them.
	IgnoresSSE bool
	// SeparateAttributes is set for a service that reads an object's
	// attributes and bytes separately (versitygw's posix backend), so a
	// read racing an overwrite may pair one put's ETag with another's
	// bytes; the suite then checks attributes only once puts have ended.
	SeparateAttributes bool
	// LargeSize is the size of the streamed object (default 100 MB).
	LargeSize int64
}

var bucketSeq atomic.Int64

// newBucket creates a bucket with a fresh name.
func newBucket(t *testing.T, s blob.Store, o Options) string {
	t.Helper()
	name := fmt.Sprintf("conf-%d-%d", time.Now().UnixNano()%1e9, bucketSeq.Add(1))
	if err := s.CreateBucket(context.Background(), name, o.Owner, o.Region); err != nil {
		t.Fatalf("CreateBucket(%s): %v", name, err)
	}
	return name
}

func mustPut(t *testing.T, s blob.Store, bucket, key string, data []byte, opts blob.PutOptions) *blob.ObjectInfo {
	t.Helper()
	info, err := s.PutObject(context.Background(), bucket, key, bytes.NewReader(data), opts)
	if err != nil {
		t.Fatalf("PutObject(%s, %q): %v", bucket, key, err)
	}
	return info
}

func mustGet(t *testing.T, s blob.Store, bucket, key string, offset, length int64) ([]byte, *blob.ObjectInfo) {
	t.Helper()
	rc, info, err := s.GetObject(context.Background(), bucket, key, offset, length)
	if err != nil {
		t.Fatalf("GetObject(%s, %q, %d, %d): %v", bucket, key, offset, length, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s/%s: %v", bucket, key, err)
	}
	return b, info
}

func md5ETag(b []byte) string {
	sum := md5.Sum(b)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

// Run runs the suite against the store newStore returns. newStore may
// return the same store each time: every test uses buckets of its own.
func Run(t *testing.T, newStore func(t *testing.T) blob.Store, o Options) {
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.Owner == "" {
		o.Owner = "111122223333"
	}
	if o.LargeSize == 0 {
		o.LargeSize = 100 << 20
	}
	tests := []struct {
		name string
		fn   func(*testing.T, blob.Store, Options)
	}{
		{"Buckets", testBuckets},
		{"BucketNames", testBucketNames},
		{"MissingBucket", testMissingBucket},
		{"Policy", testPolicy},
		{"Objects", testObjects},
		{"Attributes", testAttributes},
		{"Ranges", testRanges},
		{"FailingBody", testFailingBody},
		{"CanceledPut", testCanceledPut},
		{"List", testList},
		{"ListPages", testListPages},
		{"ListMany", testListMany},
		{"Large", testLarge},
		{"ConcurrentPuts", testConcurrentPuts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t), o) })
	}
}

func testBuckets(t *testing.T, s blob.Store, o Options) {
	ctx := context.Background()
	start := time.Now().Add(-2 * time.Second)
	name := newBucket(t, s, o)

	info, err := s.Bucket(ctx, name)
	if err != nil {
		t.Fatalf("Bucket(%s): %v", name, err)
	}
	want := blob.BucketInfo{Name: name, Region: o.Region}
	if o.ReportsOwner {
		want.Owner = o.Owner
	}
	if diff := cmp.Diff(want, *info, cmpopts.IgnoreFields(blob.BucketInfo{}, "Created")); diff != "" {
		t.Errorf("Bucket(%s) mismatch (-want +got):\n%s", name, diff)
	}
	if info.Created.Before(start) || info.Created.After(time.Now().Add(2*time.Second)) {
		t.Errorf("Bucket(%s).Created = %v, want about now", name, info.Created)
	}

	list, err := s.ListBuckets(ctx)
	if err != nil {
		t.Fatalf("ListBuckets: %v", err)
	}
	found := false
	for i, b := range list {
		if i > 0 && list[i-1].Name >= b.Name {
			t.Errorf("ListBuckets not sorted: %q before %q", list[i-1].Name, b.Name)
		}
		if b.Name == name {
			found = true
			if o.ReportsOwner && b.Owner != o.Owner {
				t.Errorf("ListBuckets: %s owner = %q, want %q", name, b.Owner, o.Owner)
			}
		}
	}
	if !found {
		t.Errorf("ListBuckets does not list %s", name)
	}

	if err := s.CreateBucket(ctx, name, o.Owner, o.Region); !errors.Is(err, blob.ErrBucketOwnedByYou) {
		t.Errorf("CreateBucket(%s) again = %v, want ErrBucketOwnedByYou", name, err)
	}
	if o.ReportsOwner {
		if err := s.CreateBucket(ctx, name, "444455556666", o.Region); !errors.Is(err, blob.ErrBucketExists) {
			t.Errorf("CreateBucket(%s) by another owner = %v, want ErrBucketExists", name, err)
		}
	}

	mustPut(t, s, name, "k", []byte("x"), blob.PutOptions{})
	if err := s.DeleteBucket(ctx, name); !errors.Is(err, blob.ErrBucketNotEmpty) {
		t.Errorf("DeleteBucket(non-empty) = %v, want ErrBucketNotEmpty", err)
	}
	if _, err := s.HeadObject(ctx, name, "k"); err != nil {
		t.Errorf("HeadObject after refused DeleteBucket: %v", err)
	}
	if err := s.DeleteObject(ctx, name, "k"); err != nil {
		t.Fatalf("DeleteObject: %v", err)
	}
	if err := s.DeleteBucket(ctx, name); err != nil {
		t.Fatalf("DeleteBucket(empty): %v", err)
	}
	if _, err := s.Bucket(ctx, name); !errors.Is(err, blob.ErrNoSuchBucket) {
		t.Errorf("Bucket(deleted) = %v, want ErrNoSuchBucket", err)
	}
	if err := s.DeleteBucket(ctx, name); !errors.Is(err, blob.ErrNoSuchBucket) {
		t.Errorf("DeleteBucket(deleted) = %v, want ErrNoSuchBucket", err)
	}
	// The name is free again, and the new bucket is empty.
	if err := s.CreateBucket(ctx, name, o.Owner, o.Region); err != nil {
		t.Fatalf("CreateBucket(%s) after delete: %v", name, err)
	}
	res, err := s.ListObjects(ctx, name, blob.ListOptions{})
	if err != nil || len(res.Objects) != 0 {
		t.Errorf("ListObjects(recreated) = %+v, %v; want empty", res, err)
	}
}

func testBucketNames(t *testing.T, s blob.Store, o Options) {
	ctx := context.Background()
	for _, name := range []string{
		"", "ab", strings.Repeat("a", 64), "Abc", "a_b", "-ab", "ab-", ".ab", "ab.", "a..b",
		"192.168.1.1", "xn--abc", "sthree-abc", "amzn-s3-demo-x", "abc-s3alias", "abc--ol-s3", "abc.mrap",
		"abc--x-s3", "abc--table-s3", "a b", "ab/c", "../etc", "é-bucket",
	} {
		if err := s.CreateBucket(ctx, name, o.Owner, o.Region); !errors.Is(err, blob.ErrInvalidBucketName) {
			t.Errorf("CreateBucket(%q) = %v, want ErrInvalidBucketName", name, err)
		}
		if err := blob.CheckBucketName(name); !errors.Is(err, blob.ErrInvalidBucketName) {
			t.Errorf("CheckBucketName(%q) = %v, want ErrInvalidBucketName", name, err)
		}
	}
	for _, name := range []string{"abc", strings.Repeat("a", 63), "a.b-c.d", "1-2", "my.bucket.1"} {
		if err := blob.CheckBucketName(name); err != nil {
			t.Errorf("CheckBucketName(%q) = %v, want nil", name, err)
		}
	}
}

func testMissingBucket(t *testing.T, s blob.Store, o Options) {
	ctx := context.Background()
	for _, name := range []string{"conf-missing-bucket-" + fmt.Sprint(time.Now().UnixNano()), "..", "UPPER", "a"} {
		checks := map[string]error{}
		_, checks["Bucket"] = s.Bucket(ctx, name)
		checks["DeleteBucket"] = s.DeleteBucket(ctx, name)
		_, checks["BucketPolicy"] = s.BucketPolicy(ctx, name)
		checks["PutBucketPolicy"] = s.PutBucketPolicy(ctx, name, `{"Statement":[]}`)
		checks["DeleteBucketPolicy"] = s.DeleteBucketPolicy(ctx, name)
		_, checks["PutObject"] = s.PutObject(ctx, name, "k", strings.NewReader("x"), blob.PutOptions{})
		_, _, checks["GetObject"] = s.GetObject(ctx, name, "k", 0, -1)
		_, checks["HeadObject"] = s.HeadObject(ctx, name, "k")
		checks["DeleteObject"] = s.DeleteObject(ctx, name, "k")
		_, checks["ListObjects"] = s.ListObjects(ctx, name, blob.ListOptions{})
		for op, err := range checks {
			if !errors.Is(err, blob.ErrNoSuchBucket) {
				t.Errorf("%s(%q) = %v, want ErrNoSuchBucket", op, name, err)
			}
		}
	}
}

func testPolicy(t *testing.T, s blob.Store, o Options) {
	ctx := context.Background()
	b := newBucket(t, s, o)
	if _, err := s.BucketPolicy(ctx, b); !errors.Is(err, blob.ErrNoSuchBucketPolicy) {
		t.Errorf("BucketPolicy(new bucket) = %v, want ErrNoSuchBucketPolicy", err)
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Sid":"read","Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::` + b + `/*"]}]}`
	if err := s.PutBucketPolicy(ctx, b, policy); err != nil {
		t.Fatalf("PutBucketPolicy: %v", err)
	}
	got, err := s.BucketPolicy(ctx, b)
	if err != nil {
		t.Fatalf("BucketPolicy: %v", err)
	}
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("BucketPolicy returned invalid JSON %q: %v", got, err)
	}
	json.Unmarshal([]byte(policy), &w)
	if diff := cmp.Diff(w, g); diff != "" {
		t.Errorf("BucketPolicy mismatch (-want +got):\n%s", diff)
	}
	if err := s.DeleteBucketPolicy(ctx, b); err != nil {
		t.Fatalf("DeleteBucketPolicy: %v", err)
	}
	if _, err := s.BucketPolicy(ctx, b); !errors.Is(err, blob.ErrNoSuchBucketPolicy) {
		t.Errorf("BucketPolicy(deleted) = %v, want ErrNoSuchBucketPolicy", err)
	}
	if err := s.DeleteBucketPolicy(ctx, b); err != nil {
		t.Errorf("DeleteBucketPolicy(none) = %v, want nil", err)
	}
}

func testObjects(t *testing.T, s blob.Store, o Options) {
	ctx := context.Background()
	b := newBucket(t, s, o)
	start := time.Now().Add(-2 * time.Second)
	tests := []struct {
		key  string
		data []byte
	}{
		{"hello.txt", []byte("hello, world\n")},
		{"empty", nil},
		{"dir/sub/file.json.gz", bytes.Repeat([]byte{0, 1, 2, 0xff}, 5000)},
		{"with space/and+plus=eq&amp?q#h", []byte("odd")},
		{"ünïcödé/日本語/😀", []byte("utf-8")},
	}
	for _, tt := range tests {
		put := mustPut(t, s, b, tt.key, tt.data, blob.PutOptions{})
		if put.Key != tt.key || put.Size != int64(len(tt.data)) || put.ETag != md5ETag(tt.data) {
			t.Errorf("PutObject(%q) = {Key %q Size %d ETag %s}, want {%q %d %s}", tt.key, put.Key, put.Size, put.ETag, tt.key, len(tt.data), md5ETag(tt.data))
		}
		got, info := mustGet(t, s, b, tt.key, 0, -1)
		if !bytes.Equal(got, tt.data) {
			t.Errorf("GetObject(%q) = %d bytes, want the %d put", tt.key, len(got), len(tt.data))
		}
		head, err := s.HeadObject(ctx, b, tt.key)
		if err != nil {
			t.Fatalf("HeadObject(%q): %v", tt.key, err)
		}
		for _, i := range []*blob.ObjectInfo{info, head} {
			if i.Key != tt.key || i.Size != int64(len(tt.data)) || i.ETag != md5ETag(tt.data) {
				t.Errorf("info of %q = {Key %q Size %d ETag %s}, want {%q %d %s}", tt.key, i.Key, i.Size, i.ETag, tt.key, len(tt.data), md5ETag(tt.data))
			}
			if i.LastModified.Before(start) || i.LastModified.After(time.Now().Add(2*time.Second)) {
				t.Errorf("LastModified of %q = %v, want about now", tt.key, i.LastModified)
			}
		}
	}
	// Replace.
	mustPut(t, s, b, "hello.txt", []byte("second"), blob.PutOptions{})
	if got, _ := mustGet(t, s, b, "hello.txt", 0, -1); string(got) != "second" {
		t.Errorf("GetObject after overwrite = %q, want %q", got, "second")
	}
	// Delete, twice.
	for range 2 {
		if err := s.DeleteObject(ctx, b, "dir/sub/file.json.gz"); err != nil {
			t.Errorf("DeleteObject: %v", err)
		}
	}
	if _, _, err := s.GetObject(ctx, b, "dir/sub/file.json.gz", 0, -1); !errors.Is(err, blob.ErrNoSuchKey) {
		t.Errorf("GetObject(deleted) = %v, want ErrNoSuchKey", err)
	}
	if _, err := s.HeadObject(ctx, b, "dir/sub/file.json.gz"); !errors.Is(err, blob.ErrNoSuchKey) {
		t.Errorf("HeadObject(deleted) = %v, want ErrNoSuchKey", err)
	}
	// A deleted object's directory leaves no prefix behind.
	res, err := s.ListObjects(ctx, b, blob.ListOptions{Delimiter: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(res.CommonPrefixes, "dir/") {
		t.Errorf("ListObjects after deleting the only key under dir/ = %v, still lists dir/", res.CommonPrefixes)
	}
	for _, key := range []string{"missing", "dir/", "dir/sub"} {
		if _, _, err := s.GetObject(ctx, b, key, 0, -1); !errors.Is(err, blob.ErrNoSuchKey) {
			t.Errorf("GetObject(%q) = %v, want ErrNoSuchKey", key, err)
		}
	}
	if _, err := s.PutObject(ctx, b, "", strings.NewReader("x"), blob.PutOptions{}); !errors.Is(err, blob.ErrInvalidKey) {
		t.Errorf("PutObject(empty key) = %v, want ErrInvalidKey", err)
	}
	if _, err := s.PutObject(ctx, b, strings.Repeat("k", blob.MaxKeyLength+1), strings.NewReader("x"), blob.PutOptions{}); !errors.Is(err, blob.ErrInvalidKey) {
		t.Errorf("PutObject(long key) = %v, want ErrInvalidKey", err)
	}
}

func testAttributes(t *testing.T, s blob.Store, o Options) {
	ctx := context.Background()
	b := newBucket(t, s, o)
	tests := []struct {
		name string
		opts blob.PutOptions
		want blob.ObjectInfo
	}{
		{"none", blob.PutOptions{}, blob.ObjectInfo{}},
		{
			"all",
			blob.PutOptions{
				ContentType: "application/json", ContentEncoding: "gzip", CacheControl: "no-cache",
				ContentDisposition: `attachment; filename="a.json"`, ContentLanguage: "en",
				Metadata:             map[string]string{"Signature": "abc123", "signature-algorithm": "SHA256withRSA"},
				ServerSideEncryption: "AES256",
			},
			blob.ObjectInfo{
				ContentType: "application/json", ContentEncoding: "gzip", CacheControl: "no-cache",
				ContentDisposition: `attachment; filename="a.json"`, ContentLanguage: "en",
				Metadata:             map[string]string{"signature": "abc123", "signature-algorithm": "SHA256withRSA"},
				ServerSideEncryption: "AES256",
			},
		},
	}
	ignore := cmpopts.IgnoreFields(blob.ObjectInfo{}, "Key", "Size", "ETag", "LastModified")
	for _, tt := range tests {
		key := "attr/" + tt.name
		put := mustPut(t, s, b, key, []byte(tt.name), tt.opts)
		head, err := s.HeadObject(ctx, b, key)
		if err != nil {
			t.Fatal(err)
		}
		_, get := mustGet(t, s, b, key, 0, -1)
		for op, got := range map[string]*blob.ObjectInfo{"PutObject": put, "HeadObject": head, "GetObject": get} {
			// Services answer a missing content type with their default.
			if tt.want.ContentType == "" && (got.ContentType == "binary/octet-stream" || got.ContentType == "application/octet-stream") {
				got.ContentType = ""
			}
			if o.IgnoresSSE {
				got.ServerSideEncryption, got.KMSKeyID = tt.want.ServerSideEncryption, tt.want.KMSKeyID
			}
			if diff := cmp.Diff(tt.want, *got, ignore, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("%s(%s) attributes mismatch (-want +got):\n%s", op, tt.name, diff)
			}
		}
	}
	// A listing carries no attributes.
	res, err := s.ListObjects(ctx, b, blob.ListOptions{Prefix: "attr/all"})
	if err != nil || len(res.Objects) != 1 {
		t.Fatalf("ListObjects = %+v, %v", res, err)
	}
	if got := res.Objects[0]; got.ContentType != "" || got.Metadata != nil || got.Size != 3 || got.ETag != md5ETag([]byte("all")) {
		t.Errorf("listed object = %+v, want only key, size, ETag and time", got)
	}
}

func testRanges(t *testing.T, s blob.Store, o Options) {
	ctx := context.Background()
	b := newBucket(t, s, o)
	data := []byte("0123456789")
	mustPut(t, s, b, "ten", data, blob.PutOptions{})
	mustPut(t, s, b, "zero", nil, blob.PutOptions{})
	tests := []struct {
		key            string
		offset, length int64
		want           string
		err            error
	}{
		{"ten", 0, -1, "0123456789", nil},
		{"ten", 0, 10, "0123456789", nil},
		{"ten", 0, 1, "0", nil},
		{"ten", 3, 4, "3456", nil},
		{"ten", 9, -1, "9", nil},
		{"ten", 9, 100, "9", nil},
		{"ten", 5, 0, "", nil},
		{"ten", 10, -1, "", blob.ErrInvalidRange},
		{"ten", 11, 2, "", blob.ErrInvalidRange},
		{"ten", -1, 2, "", blob.ErrInvalidRange},
		{"zero", 0, -1, "", nil},
		{"zero", 0, 5, "", nil},
		{"zero", 1, -1, "", blob.ErrInvalidRange},
	}
	for _, tt := range tests {
		rc, info, err := s.GetObject(ctx, b, tt.key, tt.offset, tt.length)
		if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
			t.Errorf("GetObject(%s, %d, %d) error = %v, want %v", tt.key, tt.offset, tt.length, err, tt.err)
			continue
		}
		if err != nil {
			continue
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != tt.want {
			t.Errorf("GetObject(%s, %d, %d) = %q, %v; want %q", tt.key, tt.offset, tt.length, got, err, tt.want)
		}
		if wantSize := int64(len(data)); tt.key == "ten" && info.Size != wantSize {
			t.Errorf("GetObject(%s, %d, %d).Size = %d, want the object's %d", tt.key, tt.offset, tt.length, info.Size, wantSize)
		}
	}
}

// failingReader gives n bytes, then err.
type failingReader struct {
	n   int
	err error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, r.err
	}
	m := min(len(p), r.n)
	for i := range p[:m] {
		p[i] = 'x'
	}
	r.n -= m
	return m, nil
}

func testFailingBody(t *testing.T, s blob.Store, o Options) {
	ctx := context.Background()
	b := newBucket(t, s, o)
	errBody := errors.New("the body's signature does not match")
	for _, n := range []int{0, 1000, 9 << 20} {
		key := fmt.Sprintf("failing-%d", n)
		_, err := s.PutObject(ctx, b, key, &failingReader{n: n, err: errBody}, blob.PutOptions{})
		if !errors.Is(err, errBody) {
			t.Errorf("PutObject(body failing after %d bytes) = %v, want an error wrapping the body's", n, err)
		}
		if _, err := s.HeadObject(ctx, b, key); !errors.Is(err, blob.ErrNoSuchKey) {
			t.Errorf("HeadObject after a failed put = %v, want ErrNoSuchKey", err)
		}
	}
	// A failed put leaves the object it would have replaced.
	mustPut(t, s, b, "keep", []byte("original"), blob.PutOptions{})
	if _, err := s.PutObject(ctx, b, "keep", &failingReader{n: 5000, err: errBody}, blob.PutOptions{}); !errors.Is(err, errBody) {
		t.Errorf("PutObject(failing body over an object) = %v, want the body's error", err)
	}
	if got, _ := mustGet(t, s, b, "keep", 0, -1); string(got) != "original" {
		t.Errorf("object after a failed overwrite = %q, want %q", got, "original")
	}
	res, err := s.ListObjects(ctx, b, blob.ListOptions{})
	if err != nil || len(res.Objects) != 1 {
		t.Errorf("ListObjects after failed puts = %+v, %v; want only the kept object", res, err)
	}
}

func testCanceledPut(t *testing.T, s blob.Store, o Options) {
	b := newBucket(t, s, o)
	ctx, cancel := context.WithCancel(context.Background())
	r := &cancelingReader{n: 1 << 20, cancel: cancel}
	if _, err := s.PutObject(ctx, b, "canceled", r, blob.PutOptions{}); err == nil {
		t.Errorf("PutObject with a context canceled midway succeeded")
	}
	if _, err := s.HeadObject(context.Background(), b, "canceled"); !errors.Is(err, blob.ErrNoSuchKey) {
		t.Errorf("HeadObject after a canceled put = %v, want ErrNoSuchKey", err)
	}
}

// cancelingReader cancels its context after n bytes and then blocks on
// nothing: it keeps giving bytes, so only the context can end the put.
type cancelingReader struct {
	n      int
	cancel func()
	read   int
}

func (r *cancelingReader) Read(p []byte) (int, error) {
	if r.read >= r.n {
		r.cancel()
	}
	if r.read > 64*r.n {
		return 0, errors.New("the store kept reading after its context was canceled")
	}
	r.read += len(p)
	return len(p), nil
}

// listKeys sort in tricky ways: '-' < '.' < '/' < letters, multi-byte
// UTF-8 above ASCII, and U+FFFD below U+1F600 in UTF-8 (but not in UTF-16).
var listKeys = []string{
	"a-b", "a.b", "a/b", "a/c/d", "a/c/e", "a/d", "ab", "b/", "b/x", "c d/e f",
	"é", "日本/語", "😀", "\uFFFD", "~tilde", "z/z/z", "zz",
}

// model lists keys as S3 does, from a flat sorted list.
func model(keys []string, o blob.ListOptions) *blob.ListResult {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	max := o.MaxKeys
	if max <= 0 {
		max = blob.DefaultMaxKeys
	}
	res := &blob.ListResult{}
	n, last, lastCP := 0, "", ""
	for _, k := range keys {
		if !strings.HasPrefix(k, o.Prefix) {
			continue
		}
		item, isCP := k, false
		if o.Delimiter != "" {
			if i := strings.Index(k[len(o.Prefix):], o.Delimiter); i >= 0 {
				item, isCP = k[:len(o.Prefix)+i+len(o.Delimiter)], true
			}
		}
		if item <= o.StartAfter || isCP && item == lastCP {
			continue
		}
		if n == max {
			res.Truncated, res.NextStartAfter = true, last
			break
		}
		if isCP {
			res.CommonPrefixes = append(res.CommonPrefixes, item)
			lastCP = item
		} else {
			res.Objects = append(res.Objects, blob.ObjectInfo{Key: k})
		}
		n++
		last = item
	}
	return res
}

func listNames(r *blob.ListResult) (keys, prefixes []string) {
	for _, o := range r.Objects {
		keys = append(keys, o.Key)
	}
	return keys, r.CommonPrefixes
}

// content is what putKeys stores under a key: the key itself, but nothing
// for a key ending in '/', which S3-compatible services on file systems
// keep as an empty directory marker.
func content(key string) []byte {
	if strings.HasSuffix(key, "/") {
		return nil
	}
	return []byte(key)
}

func putKeys(t *testing.T, s blob.Store, b string, keys []string) {
	t.Helper()
	for _, k := range keys {
		mustPut(t, s, b, k, content(k), blob.PutOptions{})
	}
}

func testList(t *testing.T, s blob.Store, o Options) {
	ctx := context.Background()
	b := newBucket(t, s, o)
	res, err := s.ListObjects(ctx, b, blob.ListOptions{})
	if err != nil || len(res.Objects)+len(res.CommonPrefixes) != 0 || res.Truncated {
		t.Errorf("ListObjects(empty bucket) = %+v, %v", res, err)
	}
	putKeys(t, s, b, listKeys)

	// The full listing carries each object's attributes.
	all, err := s.ListObjects(ctx, b, blob.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range all.Objects {
		c := content(obj.Key)
		if obj.Size != int64(len(c)) || obj.ETag != md5ETag(c) || obj.LastModified.IsZero() {
			t.Errorf("listed %q = {Size %d ETag %s LastModified %v}, want {%d %s now}", obj.Key, obj.Size, obj.ETag, obj.LastModified, len(c), md5ETag(c))
		}
	}

	for _, prefix := range []string{"", "a", "a/", "a/c/", "b", "z/z", "日", "nope"} {
		for _, delim := range []string{"", "/", "-", ".", "/c"} {
			for _, after := range []string{"", "a", "a-a", "a.a", "a/", "a/c", "a/c/d", "b/", "é", "zz", "\U0010FFFF"} {
				for _, max := range []int{0, 1, 2, 3, 1000} {
					opts := blob.ListOptions{Prefix: prefix, Delimiter: delim, StartAfter: after, MaxKeys: max}
					got, err := s.ListObjects(ctx, b, opts)
					if err != nil {
						t.Fatalf("ListObjects(%+v): %v", opts, err)
					}
					want := model(listKeys, opts)
					gk, gp := listNames(got)
					wk, wp := listNames(want)
					if diff := cmp.Diff(
						[]any{wk, wp, want.Truncated, want.NextStartAfter},
						[]any{gk, gp, got.Truncated, got.NextStartAfter}, cmpopts.EquateEmpty()); diff != "" {
						t.Errorf("ListObjects(%+v) mismatch [keys prefixes truncated next] (-want +got):\n%s", opts, diff)
					}
				}
			}
		}
	}
}

func testListPages(t *testing.T, s blob.Store, o Options) {
	ctx := context.Background()
	b := newBucket(t, s, o)
	putKeys(t, s, b, listKeys)
	for _, prefix := range []string{"", "a", "a/"} {
		for _, delim := range []string{"", "/"} {
			full := model(listKeys, blob.ListOptions{Prefix: prefix, Delimiter: delim})
			wk, wp := listNames(full)
			for _, size := range []int{1, 2, 3, 7} {
				var gk, gp []string
				opts := blob.ListOptions{Prefix: prefix, Delimiter: delim, MaxKeys: size}
				for pages := 0; ; pages++ {
					if pages > len(listKeys) {
						t.Fatalf("ListObjects(%+v) does not end", opts)
					}
					res, err := s.ListObjects(ctx, b, opts)
					if err != nil {
						t.Fatal(err)
					}
					if n := len(res.Objects) + len(res.CommonPrefixes); n > size || res.Truncated && n != size {
						t.Errorf("ListObjects(%+v) page of %d items, truncated %v", opts, n, res.Truncated)
					}
					k, p := listNames(res)
					gk, gp = append(gk, k...), append(gp, p...)
					if !res.Truncated {
						break
					}
					opts.StartAfter = res.NextStartAfter
				}
				if diff := cmp.Diff([][]string{wk, wp}, [][]string{gk, gp}, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("pages of %d (prefix %q, delimiter %q) mismatch (-want +got):\n%s", size, prefix, delim, diff)
				}
			}
		}
	}
}

func testListMany(t *testing.T, s blob.Store, o Options) {
	if testing.Short() {
		t.Skip("short: 1,050 puts")
	}
	ctx := context.Background()
	b := newBucket(t, s, o)
	var keys []string
	for i := range 1050 {
		keys = append(keys, fmt.Sprintf("logs/%02d/%04d.json", i%7, i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(keys))
	sem := make(chan struct{}, 8)
	for _, k := range keys {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if _, err := s.PutObject(ctx, b, k, strings.NewReader(k), blob.PutOptions{}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, opts := range []blob.ListOptions{{}, {MaxKeys: 1000}, {Prefix: "logs/"}, {Prefix: "logs/0", MaxKeys: 999}} {
		var got []string
		pages := 0
		for {
			res, err := s.ListObjects(ctx, b, opts)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			k, _ := listNames(res)
			got = append(got, k...)
			if !res.Truncated {
				break
			}
			opts.StartAfter = res.NextStartAfter
		}
		want, _ := listNames(model(keys, blob.ListOptions{Prefix: opts.Prefix, MaxKeys: len(keys)}))
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("paged listing (%+v) mismatch (-want +got):\n%s", opts, diff)
		}
		if pages < 2 && len(want) > 1000 {
			t.Errorf("listing of %d keys came in %d page", len(want), pages)
		}
	}
	res, err := s.ListObjects(ctx, b, blob.ListOptions{Prefix: "logs/", Delimiter: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"logs/00/", "logs/01/", "logs/02/", "logs/03/", "logs/04/", "logs/05/", "logs/06/"}, res.CommonPrefixes); diff != "" {
		t.Errorf("common prefixes mismatch (-want +got):\n%s", diff)
	}
}

func testLarge(t *testing.T, s blob.Store, o Options) {
	if testing.Short() {
		t.Skip("short: large object")
	}
	ctx := context.Background()
	b := newBucket(t, s, o)
	size := o.LargeSize
	src := func() io.Reader { return io.LimitReader(rand.NewChaCha8([32]byte{1, 2, 3}), size) }
	h := md5.New()
	io.Copy(h, src())
	wantETag := `"` + hex.EncodeToString(h.Sum(nil)) + `"`

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	info, err := s.PutObject(ctx, b, "large", src(), blob.PutOptions{})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatalf("PutObject(%d bytes): %v", size, err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(size)/2 {
		t.Errorf("PutObject of %d MB allocated %d MB: the body is not streamed", size>>20, alloc>>20)
	}
	if info.Size != size || info.ETag != wantETag {
		t.Errorf("PutObject = {Size %d ETag %s}, want {%d %s}", info.Size, info.ETag, size, wantETag)
	}

	runtime.GC()
	runtime.ReadMemStats(&before)
	rc, _, err := s.GetObject(ctx, b, "large", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	h.Reset()
	n, err := io.Copy(h, rc)
	rc.Close()
	runtime.ReadMemStats(&after)
	if err != nil || n != size {
		t.Fatalf("read %d bytes, %v; want %d", n, err, size)
	}
	if got := `"` + hex.EncodeToString(h.Sum(nil)) + `"`; got != wantETag {
		t.Errorf("GetObject content MD5 = %s, want %s", got, wantETag)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(size)/2 {
		t.Errorf("GetObject of %d MB allocated %d MB: the body is not streamed", size>>20, alloc>>20)
	}

	// A range deep inside.
	got, _ := mustGet(t, s, b, "large", size-1000, 10)
	want, _ := io.ReadAll(io.NewSectionReader(readerAt{src}, size-1000, 10))
	if !bytes.Equal(got, want) {
		t.Errorf("range at %d = %x, want %x", size-1000, got, want)
	}
}

// readerAt reads at an offset by reading the stream up to it.
type readerAt struct{ src func() io.Reader }

func (r readerAt) ReadAt(p []byte, off int64) (int, error) {
	s := r.src()
	if _, err := io.CopyN(io.Discard, s, off); err != nil {
		return 0, err
	}
	return io.ReadFull(s, p)
}

func testConcurrentPuts(t *testing.T, s blob.Store, o Options) {
	ctx := context.Background()
	b := newBucket(t, s, o)
	const writers, rounds = 6, 4
	// Writer i puts 256 KiB + i bytes, all of value i: a torn object shows
	// as mixed values or a size that does not match its value.
	body := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, 256<<10+i) }
	check := func(data []byte, info *blob.ObjectInfo, racing bool) error {
		if len(data) == 0 {
			return errors.New("empty object")
		}
		i := int(data[0] - 'a')
		if i < 0 || i >= writers || !bytes.Equal(data, body(i)) {
			return fmt.Errorf("torn object: %d bytes starting with %q", len(data), data[0])
		}
		if racing && o.SeparateAttributes {
			return nil
		}
		if info.ETag != md5ETag(data) || info.Size != int64(len(data)) {
			return fmt.Errorf("attributes {Size %d ETag %s} of another object than the bytes read (writer %d)", info.Size, info.ETag, i)
		}
		return nil
	}
	mustPut(t, s, b, "contended", body(0), blob.PutOptions{})
	var wg sync.WaitGroup
	var stop atomic.Bool
	errs := make(chan error, 100)
	for i := range writers {
		wg.Go(func() {
			for range rounds {
				if _, err := s.PutObject(ctx, b, "contended", bytes.NewReader(body(i)), blob.PutOptions{}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var rg sync.WaitGroup
	for range 2 {
		rg.Go(func() {
			for !stop.Load() {
				rc, info, err := s.GetObject(ctx, b, "contended", 0, -1)
				if err != nil {
					errs <- fmt.Errorf("GetObject during puts: %w", err)
					return
				}
				data, err := io.ReadAll(rc)
				rc.Close()
				if err == nil {
					err = check(data, info, true)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	stop.Store(true)
	rg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	data, info := mustGet(t, s, b, "contended", 0, -1)
	if err := check(data, info, false); err != nil {
		t.Errorf("final object: %v", err)
	}
	res, err := s.ListObjects(ctx, b, blob.ListOptions{})
	if err != nil || len(res.Objects) != 1 {
		t.Errorf("ListObjects after concurrent puts = %+v, %v; want one object", res, err)
	}
}
