package s3api_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api/s3api"
	"github.com/opentrail/opentrail/api/svc"
	"github.com/opentrail/opentrail/blob"
	"github.com/opentrail/opentrail/sigv4"
)

// Handler is what the API front expects of an embedded service.
var _ interface {
	Serve(http.ResponseWriter, *http.Request, svc.Call) svc.Record
	WriteError(w http.ResponseWriter, r *http.Request, code, message, requestID string)
	EventSource() string
	StreamsBody() bool
} = (*s3api.Handler)(nil)

// The accounts and keys of the test front.
const (
	account      = "111122223333"
	otherAccount = "444455556666"
	rootKey      = "AKIAOPENTRAILROOT001"
	otherKey     = "AKIAOPENTRAILOTHER01"
	userKey      = "AKIAOPENTRAILUSER001"
	secret       = "opentrail/test/secret/key/0123456789abcd"
)

var principals = map[string]*opentrail.Principal{
	rootKey:  {Type: opentrail.PrincipalRoot, AccountID: account, PrincipalID: account, AccessKeyID: rootKey},
	otherKey: {Type: opentrail.PrincipalRoot, AccountID: otherAccount, PrincipalID: otherAccount, AccessKeyID: otherKey},
	userKey:  {Type: opentrail.PrincipalIAMUser, AccountID: account, Name: "alice", PrincipalID: "AIDAALICE", AccessKeyID: userKey},
}

// front is the API front of the tests. It does not verify signatures: it
// takes the principal from the access key in the Authorization header (or
// presigned query), decodes aws-chunked bodies as the real front does,
// and lets the principals of the accounts in allowed do anything, as the
// authorization point would let their roots.
type front struct {
	t       testing.TB
	h       *s3api.Handler
	mu      sync.Mutex
	allowed map[string]bool // accounts whose root Authorize allows
	seq     int
	calls   []call
}

// call is a request the front served and the record the Handler returned.
type call struct {
	method, target string
	status         int
	bytesOut       int64
	payload        string // x-amz-content-sha256 as sent
	rec            svc.Record
}

// mustServer starts the test front over a directory store.
func mustServer(tb testing.TB) (*front, *httptest.Server, blob.Store) {
	tb.Helper()
	store, err := blob.NewDir(filepath.Join(tb.TempDir(), "buckets"))
	if err != nil {
		tb.Fatal(err)
	}
	f := &front{t: tb, allowed: map[string]bool{account: true},
		h: &s3api.Handler{Store: store, Now: func() time.Time { return time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC) }}}
	srv := httptest.NewServer(f)
	tb.Cleanup(srv.Close)
	return f, srv, store
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.seq++
	id := fmt.Sprintf("OTREQ%011d", f.seq)
	f.mu.Unlock()
	w.Header().Set("x-amz-request-id", id)
	auth, err := sigv4.Parse(r)
	if err != nil {
		s3api.WriteError(w, r, "AccessDenied", "Access Denied", id)
		return
	}
	p := principals[auth.AccessKeyID]
	if p == nil {
		s3api.WriteError(w, r, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", id)
		return
	}
	var body io.Reader = r.Body
	length := r.ContentLength
	if _, literal := auth.PayloadLiteral(); !literal && auth.PayloadHash != "" {
		// As the real front does: the hash the client signed is checked
		// as the body streams by, and a mismatch replaces EOF.
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
	c := svc.Call{
		Principal: p, Region: auth.Region, RequestID: id, Host: r.Host, TLS: r.TLS != nil,
		Body: body, ContentLength: length,
		Authorize: func(ctx context.Context, action, resource string) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			if p.Type == opentrail.PrincipalRoot && f.allowed[p.AccountID] {
				return nil
			}
			return opentrail.Errorf(opentrail.CodeAccessDenied, "User: %s is not authorized to perform: %s on resource: %s", p.ARN(), action, resource)
		},
	}
	cw := &statusWriter{ResponseWriter: w}
	rec := f.h.Serve(cw, r, c)
	f.mu.Lock()
	f.calls = append(f.calls, call{method: r.Method, target: r.RequestURI, status: cw.status, bytesOut: cw.n, payload: auth.PayloadHash, rec: rec})
	f.mu.Unlock()
}

// payloads returns the x-amz-content-sha256 values of the calls so far.
func (f *front) payloads() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := map[string]int{}
	for _, c := range f.calls {
		m[c.payload]++
	}
	return m
}

// last returns the record of the last call.
func (f *front) last() call {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		f.t.Fatal("no call served")
	}
	return f.calls[len(f.calls)-1]
}

func (f *front) allow(acct string, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.allowed[acct] = ok
}

type statusWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (w *statusWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
	w.ResponseWriter.WriteHeader(s)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

// mustClient returns an SDK client of the test front with the given
// access key.
func mustClient(tb testing.TB, srv *httptest.Server, key string) *s3.Client {
	tb.Helper()
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(key, secret, ""),
		// opentrail stores no checksums to answer GetObject with.
		DisableLogOutputChecksumValidationSkipped: true,
	})
}

// hashCheck reports, at EOF, a body that does not match the hash the
// client signed.
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
