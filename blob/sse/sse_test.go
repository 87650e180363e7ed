package sse_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/blob"
	"github.com/opentrail/opentrail/blob/blobtest"
	"github.com/opentrail/opentrail/blob/sse"
	"github.com/opentrail/opentrail/journal"
	"github.com/opentrail/opentrail/kms"
)

const (
	account = "111122223333"
	region  = "us-east-1"
	bucket  = "logs-bucket"
)

var root = &opentrail.Principal{Type: opentrail.PrincipalRoot, AccountID: account, PrincipalID: account, AccessKeyID: "AKIAROOT"}

// env is a directory store wrapped by sse over a KMS with one key.
type env struct {
	dir   string // the buckets directory
	inner blob.Store
	store *sse.Store
	kms   *kms.Service
	db    *journal.DB
	key   string // the key's ARN
}

func mustEnv(tb testing.TB) *env {
	tb.Helper()
	e := &env{dir: filepath.Join(tb.TempDir(), "buckets")}
	var err error
	if e.inner, err = blob.NewDir(e.dir); err != nil {
		tb.Fatal(err)
	}
	e.db, err = journal.Open(context.Background(), filepath.Join(tb.TempDir(), "db"), journal.Options{Synchronous: "NORMAL", Migrations: kms.Migrations})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.db.Close() })
	if e.kms, err = kms.New(kms.Options{DB: e.db, KEK: bytes.Repeat([]byte{1}, 32)}); err != nil {
		tb.Fatal(err)
	}
	e.store = sse.New(e.inner, e.kms)
	e.key = e.createKey(tb, "alias/logs")
	if err := e.store.CreateBucket(context.Background(), bucket, account, region); err != nil {
		tb.Fatal(err)
	}
	return e
}

// createKey creates a key with an alias through the KMS API's internal
// path: a Serve call with a fake front.
func (e *env) createKey(tb testing.TB, alias string) string {
	tb.Helper()
	arn := mustKMSCall(tb, e, "CreateKey", `{}`)["KeyMetadata"].(map[string]any)["Arn"].(string)
	if alias != "" {
		mustKMSCall(tb, e, "CreateAlias", `{"AliasName":"`+alias+`","TargetKeyId":"`+arn+`"}`)
	}
	return arn
}

// kmsPut is the PutOptions of an SSE-KMS object.
func kmsPut(key string) blob.PutOptions {
	return blob.PutOptions{ContentType: "application/json", ServerSideEncryption: "aws:kms", KMSKeyID: key,
		Metadata: map[string]string{"signature": "abc"}}
}

func data(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{9})
	r.Read(b)
	return b
}

func get(tb testing.TB, s blob.Store, key string, offset, length int64) ([]byte, *blob.ObjectInfo) {
	tb.Helper()
	rc, info, err := s.GetObject(context.Background(), bucket, key, offset, length)
	if err != nil {
		tb.Fatalf("GetObject(%s, %d, %d) = %v", key, offset, length, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		tb.Fatalf("read %s: %v", key, err)
	}
	return b, info
}

// onDisk returns the bytes of every file under dir.
func onDisk(tb testing.TB, dir string) []byte {
	tb.Helper()
	var all []byte
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			all = append(all, b...)
		}
		return nil
	})
	return all
}

func TestRoundTrip(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	const c = sse.ChunkSize
	for _, n := range []int{0, 1, 100, c - 1, c, c + 1, 2 * c, 3*c + 5} {
		body := data(n)
		key := "obj/" + string(rune('a'+n%26)) + "-" + itoa(n)
		info, err := e.store.PutObject(ctx, bucket, key, bytes.NewReader(body), kmsPut("alias/logs"))
		if err != nil {
			t.Fatalf("PutObject(%d bytes) = %v", n, err)
		}
		if info.Size != int64(n) || info.KMSKeyID != e.key || info.ServerSideEncryption != "aws:kms" || info.Metadata["signature"] != "abc" || len(info.Metadata) != 1 {
			t.Errorf("PutObject(%d bytes) info = %+v", n, info)
		}
		got, gi := get(t, e.store, key, 0, -1)
		if !bytes.Equal(got, body) {
			t.Errorf("GetObject(%d bytes) returned %d different bytes", n, len(got))
		}
		hi, err := e.store.HeadObject(ctx, bucket, key)
		if err != nil || hi.Size != int64(n) || gi.Size != int64(n) || len(hi.Metadata) != 1 || hi.KMSKeyID != e.key {
			t.Errorf("HeadObject(%d bytes) = %+v, %v; GetObject info %+v", n, hi, err, gi)
		}
		// Ranges, across and along chunk boundaries.
		for _, r := range [][2]int64{{0, 1}, {int64(n) - 1, -1}, {c - 3, 7}, {c, c}, {c - 1, 2*c + 3}, {int64(n) / 2, -1}, {1, int64(n)}} {
			if r[0] < 0 || r[0] >= int64(n) {
				continue
			}
			end := int64(n)
			if r[1] >= 0 && r[0]+r[1] < end {
				end = r[0] + r[1]
			}
			got, _ := get(t, e.store, key, r[0], r[1])
			if !bytes.Equal(got, body[r[0]:end]) {
				t.Errorf("GetObject(%d bytes, %d, %d) = %d bytes, not the range", n, r[0], r[1], len(got))
			}
		}
		if n > 0 {
			if _, _, err := e.store.GetObject(ctx, bucket, key, int64(n), 1); !errors.Is(err, blob.ErrInvalidRange) {
				t.Errorf("GetObject past the end = %v", err)
			}
		}
	}
	res, err := e.store.ListObjects(ctx, bucket, blob.ListOptions{Prefix: "obj/"})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range res.Objects {
		if want := o.Key[len(o.Key)-len(itoa(int(o.Size))):]; want != itoa(int(o.Size)) {
			t.Errorf("listed %s with size %d", o.Key, o.Size)
		}
	}
	if len(res.Objects) != 8 {
		t.Errorf("listed %d objects", len(res.Objects))
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// The bytes at rest are ciphertext; objects without aws:kms are stored as
// they are.
func TestAtRest(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	secret := bytes.Repeat([]byte(`{"eventName":"PutObject","sourceIPAddress":"198.51.100.7"}`), 3000)
	if _, err := e.store.PutObject(ctx, bucket, "enc", bytes.NewReader(secret), kmsPut(e.key)); err != nil {
		t.Fatal(err)
	}
	disk := onDisk(t, e.dir)
	if bytes.Contains(disk, []byte(`"eventName":"PutObject"`)) || bytes.Contains(disk, []byte("198.51.100.7")) {
		t.Error("the plaintext of an SSE-KMS object is on disk")
	}
	plain := []byte("plain text stays plain, as before")
	if _, err := e.store.PutObject(ctx, bucket, "plain", bytes.NewReader(plain), blob.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(onDisk(t, e.dir), plain) {
		t.Error("an object without SSE-KMS was changed at rest")
	}
	if got, _ := get(t, e.store, "plain", 6, 4); string(got) != "text" {
		t.Errorf("range of a plain object = %q", got)
	}

	// A byte changed at rest is detected, not returned.
	var file string
	filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() != "" && !d.IsDir() && bytes.Contains([]byte(p), []byte("enc")) {
			file = p
		}
		return nil
	})
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("object file of enc: %v", err)
	}
	b[100] ^= 0x20
	os.WriteFile(file, b, 0o644)
	rc, _, err := e.store.GetObject(ctx, bucket, "enc", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(rc)
	rc.Close()
	if !errors.Is(err, sse.ErrCorrupt) {
		t.Errorf("reading a tampered object = %v, want ErrCorrupt", err)
	}
	// The second chunk is intact.
	if got, _ := get(t, e.store, "enc", sse.ChunkSize+10, 20); !bytes.Equal(got, secret[sse.ChunkSize+10:sse.ChunkSize+30]) {
		t.Errorf("intact chunk of a tampered object = %q", got)
	}
}

// Missing, disabled and deleted keys fail puts and gets with the KMS's
// errors.
func TestKeyErrors(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	if _, err := e.store.PutObject(ctx, bucket, "x", bytes.NewReader([]byte("x")), kmsPut("alias/none")); !errors.Is(err, kms.ErrNotFound) ||
		opentrail.ErrorCode(err) != "NotFoundException" {
		t.Errorf("PutObject(missing key) = %v", err)
	}
	if _, err := e.store.HeadObject(ctx, bucket, "x"); !errors.Is(err, blob.ErrNoSuchKey) {
		t.Errorf("a refused put stored something: %v", err)
	}
	if _, err := e.store.PutObject(ctx, bucket, "x", bytes.NewReader([]byte("x")), kmsPut(e.key)); err != nil {
		t.Fatal(err)
	}
	mustKMSCall(t, e, "DisableKey", `{"KeyId":"`+e.key+`"}`)
	if _, _, err := e.store.GetObject(ctx, bucket, "x", 0, -1); !errors.Is(err, kms.ErrDisabled) {
		t.Errorf("GetObject(disabled key) = %v", err)
	}
	if _, err := e.store.PutObject(ctx, bucket, "y", bytes.NewReader([]byte("y")), kmsPut(e.key)); !errors.Is(err, kms.ErrDisabled) {
		t.Errorf("PutObject(disabled key) = %v", err)
	}
	if info, err := e.store.HeadObject(ctx, bucket, "x"); err != nil || info.Size != 1 {
		t.Errorf("HeadObject needs no key: %+v, %v", info, err)
	}
	mustKMSCall(t, e, "EnableKey", `{"KeyId":"`+e.key+`"}`)
	if got, _ := get(t, e.store, "x", 0, -1); string(got) != "x" {
		t.Errorf("GetObject after EnableKey = %q", got)
	}
	// The default key is the AWS managed aws/s3 of the bucket's owner.
	info, err := e.store.PutObject(ctx, bucket, "d", bytes.NewReader([]byte("default")), blob.PutOptions{ServerSideEncryption: "aws:kms"})
	if err != nil {
		t.Fatal(err)
	}
	k, err := e.kms.Key(ctx, "alias/aws/s3", account, region)
	if err != nil || info.KMSKeyID != k.ARN || k.Manager != "AWS" {
		t.Errorf("default key = %s, aws/s3 = %+v, %v", info.KMSKeyID, k, err)
	}
}

// The wrapper passes the conformance suite (objects without aws:kms).
func TestConformance(t *testing.T) {
	e := mustEnv(t)
	blobtest.Run(t, func(t *testing.T) blob.Store { return e.store }, blobtest.Options{ReportsOwner: true, LargeSize: 16 << 20})
}

// PlainSize inverts the layout for every size around chunk boundaries.
func TestPlainSize(t *testing.T) {
	const c = 10
	for p := int64(0); p < 100; p++ {
		chunks := max((p+c-1)/c, 1)
		if got := sse.PlainSize(p+16*chunks, c); got != p {
			t.Errorf("PlainSize(%d) = %d, want %d", p+16*chunks, got, p)
		}
	}
	for _, bad := range []int64{0, 5, 15, 26 + 3, 26 + 16} {
		if got := sse.PlainSize(bad, c); got != -1 {
			t.Errorf("PlainSize(%d) = %d, want -1", bad, got)
		}
	}
}

type failing struct{ n int }

var errBody = errors.New("body broke")

func (f *failing) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errBody
	}
	n := min(len(p), f.n)
	clear(p[:n])
	f.n -= n
	return n, nil
}

// A body that fails stores nothing, and its error comes back.
func TestFailingBody(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	for _, n := range []int{0, 10, sse.ChunkSize, 3*sse.ChunkSize + 1} {
		_, err := e.store.PutObject(ctx, bucket, "f", &failing{n: n}, kmsPut(e.key))
		if !errors.Is(err, errBody) {
			t.Errorf("PutObject(body failing after %d bytes) = %v, want the body's error", n, err)
		}
		if _, err := e.store.HeadObject(ctx, bucket, "f"); !errors.Is(err, blob.ErrNoSuchKey) {
			t.Errorf("after a failed put: HeadObject = %v, want ErrNoSuchKey", err)
		}
	}
}
