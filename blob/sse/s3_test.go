package sse_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api/s3api"
	"github.com/opentrail/opentrail/api/svc"
	"github.com/opentrail/opentrail/journal"
	"github.com/opentrail/opentrail/sigv4"
)

const (
	rootKey  = "AKIASSEROOT000000001"
	aliceKey = "AKIASSEALICE00000001"
	secret   = "sse/test/secret/key/0123456789abcdefghij"
)

var principals = map[string]*opentrail.Principal{
	rootKey:  root,
	aliceKey: {Type: opentrail.PrincipalIAMUser, AccountID: account, Name: "alice", PrincipalID: "AIDAALICE", AccessKeyID: aliceKey},
}

// front serves S3 over the env's encrypting store, as the API front does:
// it takes the caller from the access key (without checking signatures),
// checks signed payload hashes and decodes aws-chunked bodies, and
// authorizes roots in their account and alice for s3:* and the KMS
// actions in aliceMay.
type front struct {
	h        *s3api.Handler
	mu       sync.Mutex
	aliceMay map[string]bool
	last     svc.Record
}

func (e *env) mustServer(tb testing.TB) (*front, *httptest.Server) {
	f := &front{h: &s3api.Handler{Store: e.store, Keys: e.kms}, aliceMay: map[string]bool{}}
	srv := httptest.NewServer(f)
	tb.Cleanup(srv.Close)
	return f, srv
}

func (f *front) allow(action string, ok bool) {
	f.mu.Lock()
	f.aliceMay[action] = ok
	f.mu.Unlock()
}

func (f *front) lastRecord() svc.Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

func authorizer(p *opentrail.Principal, aliceMay func(string) bool) func(context.Context, string, string) error {
	return func(ctx context.Context, action, resource string) error {
		owner := ""
		if a, ok := opentrail.ParseARN(resource); ok {
			owner = a.AccountID
		}
		if p.Type == opentrail.PrincipalRoot && (owner == "" || owner == p.AccountID) ||
			p.Name == "alice" && (strings.HasPrefix(action, "s3:") || aliceMay(action)) {
			return nil
		}
		return opentrail.Errorf(opentrail.CodeAccessDenied, "User: %s is not authorized to perform: %s on resource: %s", p.ARN(), action, resource)
	}
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := fmt.Sprintf("REQ%p", r)
	auth, err := sigv4.Parse(r)
	if err != nil {
		s3api.WriteError(w, r, "AccessDenied", "Access Denied", id)
		return
	}
	p := principals[auth.AccessKeyID]
	if p == nil {
		s3api.WriteError(w, r, "InvalidAccessKeyId", "unknown key", id)
		return
	}
	var body io.Reader = r.Body
	length := r.ContentLength
	if _, literal := auth.PayloadLiteral(); !literal && auth.PayloadHash != "" {
		body = &hashCheck{r: r.Body, h: sha256.New(), check: auth.CheckPayload}
	}
	if auth.Chunked() {
		cr, err := sigv4.NewChunkedReader(r, auth, secret)
		if err != nil {
			s3api.WriteError(w, r, "IncompleteBody", err.Error(), id)
			return
		}
		body, length = cr, -1
		if v := r.Header.Get("X-Amz-Decoded-Content-Length"); v != "" {
			length, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	may := func(a string) bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.aliceMay[a]
	}
	rec := f.h.Serve(w, r, svc.Call{Principal: p, Region: auth.Region, RequestID: id, Host: r.Host,
		Body: body, ContentLength: length, Authorize: authorizer(p, may)})
	f.mu.Lock()
	f.last = rec
	f.mu.Unlock()
}

type hashCheck struct {
	r     io.Reader
	h     hash.Hash
	check func(string) error
}

func (c *hashCheck) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	if err == io.EOF {
		if cerr := c.check(hex.EncodeToString(c.h.Sum(nil))); cerr != nil {
			return n, cerr
		}
	}
	return n, err
}

func s3Client(srv *httptest.Server, key string) *s3.Client {
	return s3.New(s3.Options{
		Region: region, BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, ""),
		DisableLogOutputChecksumValidationSkipped: true,
	})
}

func s3Code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// mustKMSCall serves one KMS call as the account's root and returns its
// JSON result.
func mustKMSCall(tb testing.TB, e *env, op, body string) map[string]any {
	tb.Helper()
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	r.Header.Set("X-Amz-Target", "TrentService."+op)
	w := httptest.NewRecorder()
	e.kms.Serve(w, r, svc.Call{Principal: root, Region: region, RequestID: "test", Body: strings.NewReader(body),
		Authorize: authorizer(root, func(string) bool { return false }),
		Commit: func(ctx context.Context, fn func(*journal.Tx, *svc.Record) error) error {
			var rec svc.Record
			return e.db.Update(ctx, func(tx *journal.Tx) error { return fn(tx, &rec) })
		}})
	if w.Code != http.StatusOK {
		tb.Fatalf("KMS %s = %d %s", op, w.Code, w.Body)
	}
	var out map[string]any
	json.Unmarshal(w.Body.Bytes(), &out)
	return out
}

// TestS3 puts and gets SSE-KMS objects through S3's API with the AWS
// SDK.
func TestS3(t *testing.T) {
	e := mustEnv(t)
	f, srv := e.mustServer(t)
	c, alice := s3Client(srv, rootKey), s3Client(srv, aliceKey)
	ctx := context.Background()
	body := bytes.Repeat([]byte("confidential log line 0123456789\n"), 5000) // 165 KB: three chunks
	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("AWSLogs/x.json"), Body: bytes.NewReader(body),
		ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String("alias/logs")})
	if err != nil {
		t.Fatal(err)
	}
	if put.ServerSideEncryption != types.ServerSideEncryptionAwsKms || aws.ToString(put.SSEKMSKeyId) != e.key {
		t.Errorf("PutObject = SSE %s key %s, want aws:kms %s", put.ServerSideEncryption, aws.ToString(put.SSEKMSKeyId), e.key)
	}
	rec := f.lastRecord()
	if !strings.Contains(string(rec.ResponseElements), `"x-amz-server-side-encryption-aws-kms-key-id":"`+e.key+`"`) ||
		!strings.Contains(string(rec.AdditionalEventData), `"SSEApplied":"SSE_KMS"`) {
		t.Errorf("PutObject record: response %s, additional %s", rec.ResponseElements, rec.AdditionalEventData)
	}
	if bytes.Contains(onDisk(t, e.dir), []byte("confidential log line")) {
		t.Fatal("the plaintext is on disk")
	}

	got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("AWSLogs/x.json")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if !bytes.Equal(b, body) || aws.ToInt64(got.ContentLength) != int64(len(body)) || got.ServerSideEncryption != types.ServerSideEncryptionAwsKms ||
		aws.ToString(got.SSEKMSKeyId) != e.key {
		t.Errorf("GetObject = %d bytes, length %d, SSE %s, key %s", len(b), aws.ToInt64(got.ContentLength), got.ServerSideEncryption, aws.ToString(got.SSEKMSKeyId))
	}
	// A range across the first chunk boundary.
	const from, to = 65536 - 10, 65536 + 9
	rg, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("AWSLogs/x.json"), Range: aws.String(fmt.Sprintf("bytes=%d-%d", from, to))})
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(rg.Body)
	rg.Body.Close()
	if !bytes.Equal(b, body[from:to+1]) || aws.ToString(rg.ContentRange) != fmt.Sprintf("bytes %d-%d/%d", from, to, len(body)) {
		t.Errorf("ranged GetObject = %q (%s)", b, aws.ToString(rg.ContentRange))
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("AWSLogs/x.json")})
	if err != nil || aws.ToInt64(head.ContentLength) != int64(len(body)) || aws.ToString(head.SSEKMSKeyId) != e.key {
		t.Errorf("HeadObject = %+v, %v", head, err)
	}
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil || len(list.Contents) != 1 || aws.ToInt64(list.Contents[0].Size) != int64(len(body)) {
		t.Errorf("ListObjectsV2 = %+v, %v", list, err)
	}

	// alice may read the bucket (s3:*) but not use the key: the default
	// key policy leaves her to IAM, which does not allow kms:Decrypt.
	_, err = alice.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("AWSLogs/x.json")})
	if s3Code(err) != "AccessDenied" {
		t.Errorf("GetObject(alice without kms:Decrypt) = %v, want AccessDenied", err)
	}
	if _, err := alice.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("AWSLogs/x.json")}); err != nil {
		t.Errorf("HeadObject(alice) = %v: needs no key", err)
	}
	_, err = alice.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("a"), Body: strings.NewReader("a"),
		ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String(e.key)})
	if s3Code(err) != "AccessDenied" {
		t.Errorf("PutObject(alice without kms:GenerateDataKey) = %v, want AccessDenied", err)
	}
	f.allow("kms:Decrypt", true)
	if out, err := alice.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("AWSLogs/x.json")}); err != nil {
		t.Errorf("GetObject(alice with kms:Decrypt) = %v", err)
	} else {
		out.Body.Close()
	}

	// A key that does not exist, a disabled key.
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("n"), Body: strings.NewReader("n"),
		ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String("alias/missing")})
	if s3Code(err) != "KMS.NotFoundException" {
		t.Errorf("PutObject(missing key) = %v, want KMS.NotFoundException", err)
	}
	mustKMSCall(t, e, "DisableKey", `{"KeyId":"`+e.key+`"}`)
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("AWSLogs/x.json")})
	var re interface{ HTTPStatusCode() int }
	if s3Code(err) != "KMS.DisabledException" || !errors.As(err, &re) || re.HTTPStatusCode() != 400 {
		t.Errorf("GetObject(disabled key) = %v, want KMS.DisabledException (400)", err)
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("d"), Body: strings.NewReader("d"),
		ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String(e.key)})
	if s3Code(err) != "KMS.DisabledException" {
		t.Errorf("PutObject(disabled key) = %v, want KMS.DisabledException", err)
	}
	mustKMSCall(t, e, "ScheduleKeyDeletion", `{"KeyId":"`+e.key+`","PendingWindowInDays":7}`)
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("AWSLogs/x.json")})
	if s3Code(err) != "KMS.KMSInvalidStateException" {
		t.Errorf("GetObject(key pending deletion) = %v, want KMS.KMSInvalidStateException", err)
	}

	// Without a key ID, S3 uses the account's aws/s3 key.
	put, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("default"), Body: strings.NewReader("default key"),
		ServerSideEncryption: types.ServerSideEncryptionAwsKms})
	if err != nil || !strings.HasPrefix(aws.ToString(put.SSEKMSKeyId), "arn:aws:kms:us-east-1:111122223333:key/") {
		t.Fatalf("PutObject(aws/s3) = %+v, %v", put, err)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("default")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(out.Body)
	out.Body.Close()
	if string(b) != "default key" {
		t.Errorf("GetObject(aws/s3 object) = %q", b)
	}
}

// pattern is a seekable body of n bytes that are a function of their
// offset, generated as read.
type pattern struct{ n, off int64 }

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	for i := range b {
		x := uint64(p.off+int64(i)) * 0x9E3779B97F4A7C15
		b[i] = byte(x >> 56)
	}
	p.off += int64(len(b))
	return len(b), nil
}

func (p *pattern) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		p.off = off
	case io.SeekCurrent:
		p.off += off
	case io.SeekEnd:
		p.off = p.n + off
	}
	return p.off, nil
}

// TestS3Large streams a 64 MB SSE-KMS object each way without holding it
// in memory.
func TestS3Large(t *testing.T) {
	if testing.Short() {
		t.Skip("short: 64 MB each way")
	}
	e := mustEnv(t)
	_, srv := e.mustServer(t)
	c := s3Client(srv, rootKey)
	ctx := context.Background()
	const size = 64 << 20
	want := sha256.New()
	io.Copy(want, &pattern{n: size})

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("big"), Body: &pattern{n: size},
		ContentLength: aws.Int64(size), ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String(e.key)})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/4 {
		t.Errorf("PUT of %d MB allocated %d MB", size>>20, alloc>>20)
	}

	runtime.GC()
	runtime.ReadMemStats(&before)
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("big")})
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	n, err := io.Copy(got, out.Body)
	out.Body.Close()
	runtime.ReadMemStats(&after)
	if err != nil || n != size || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Errorf("GET = %d bytes, %v; want %d bytes of the same content", n, err, size)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/4 {
		t.Errorf("GET of %d MB allocated %d MB", size>>20, alloc>>20)
	}
	// A range in the middle, across a chunk boundary.
	rg, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("big"), Range: aws.String("bytes=33554400-33554500")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rg.Body)
	rg.Body.Close()
	p := &pattern{n: size, off: 33554400}
	exp := make([]byte, 101)
	p.Read(exp)
	if !bytes.Equal(b, exp) {
		t.Errorf("range = %x, want %x", b, exp)
	}
}
