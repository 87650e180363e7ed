package kms_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/google/uuid"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api"
	"github.com/opentrail/opentrail/api/svc"
	"github.com/opentrail/opentrail/journal"
	"github.com/opentrail/opentrail/kms"
)

// The Service is an embedded service of the API front.
var _ api.Service = (*kms.Service)(nil)

const (
	account = "111122223333"
	other   = "444455556666"
	region  = "us-east-1"

	keyOwner = "AKIAOWNER"   // root of account
	keyAlice = "AKIAALICE"   // IAM user alice of account
	keyOther = "AKIAOTHER01" // root of other
)

// principals are the callers the test front knows, by access key.
var principals = map[string]*opentrail.Principal{
	keyOwner: {Type: opentrail.PrincipalRoot, AccountID: account, PrincipalID: account, AccessKeyID: keyOwner},
	keyAlice: {Type: opentrail.PrincipalIAMUser, AccountID: account, Name: "alice", PrincipalID: "AIDAALICE", AccessKeyID: keyAlice},
	keyOther: {Type: opentrail.PrincipalRoot, AccountID: other, PrincipalID: other, AccessKeyID: keyOther},
}

// testKEK is the key-encryption key of the tests.
var testKEK = bytes.Repeat([]byte{7}, 32)

// harness is a minimal API front around one Service: it takes the caller
// from the SigV4 credential scope without checking the signature, lets
// each account's root do anything in its own account (as iam.Authorizer
// does), lets alice do what allowAlice lists, and records what Serve and
// Commit return.
type harness struct {
	tb   testing.TB
	path string
	db   *journal.DB
	svc  *kms.Service
	srv  *httptest.Server
	now  time.Time

	mu         sync.Mutex
	allowAlice map[string]bool // actions alice's identity policy allows
	returned   []svc.Record
	committed  []svc.Record
}

var credentialScope = regexp.MustCompile(`Credential=([^/]+)/[0-9]{8}/([^/]+)/([^/]+)/aws4_request`)

func mustOpenDB(tb testing.TB, path string) *journal.DB {
	tb.Helper()
	db, err := journal.Open(context.Background(), path, journal.Options{Synchronous: "NORMAL", Migrations: kms.Migrations})
	if err != nil {
		tb.Fatal(err)
	}
	return db
}

func mustHarness(tb testing.TB) *harness {
	tb.Helper()
	h := &harness{tb: tb, path: filepath.Join(tb.TempDir(), "opentrail.db"), allowAlice: map[string]bool{},
		now: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	h.srv = httptest.NewServer(h)
	tb.Cleanup(h.srv.Close)
	h.open(testKEK)
	tb.Cleanup(h.close)
	return h
}

func (h *harness) clock() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}

// advance moves the service's clock.
func (h *harness) advance(d time.Duration) {
	h.mu.Lock()
	h.now = h.now.Add(d)
	h.mu.Unlock()
}

func (h *harness) open(kek []byte) {
	h.tb.Helper()
	h.db = mustOpenDB(h.tb, h.path)
	s, err := kms.New(kms.Options{DB: h.db, KEK: kek, Now: h.clock})
	if err != nil {
		h.tb.Fatal(err)
	}
	h.mu.Lock()
	h.svc = s
	h.mu.Unlock()
}

func (h *harness) close() {
	if h.db != nil {
		h.db.Close()
		h.db = nil
	}
}

func (h *harness) service() *kms.Service {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.svc
}

func (h *harness) authorize(p *opentrail.Principal) func(context.Context, string, string) error {
	return func(ctx context.Context, action, resource string) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		owner := ""
		if a, ok := opentrail.ParseARN(resource); ok {
			owner = a.AccountID
		}
		if p.Type == opentrail.PrincipalRoot && (owner == "" || owner == p.AccountID) || p.Name == "alice" && h.allowAlice[action] {
			return nil
		}
		return opentrail.Errorf(opentrail.CodeAccessDenied, "User: %s is not authorized to perform: %s on resource: %s", p.ARN(), action, resource)
	}
}

func (h *harness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := h.service()
	id := uuid.NewString()
	m := credentialScope.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil || principals[m[1]] == nil || m[3] != "kms" {
		s.WriteError(w, r, "UnrecognizedClientException", "The security token included in the request is invalid.", id)
		return
	}
	p := principals[m[1]]
	c := svc.Call{
		Principal:     p,
		Region:        m[2],
		RequestID:     id,
		Host:          r.Host,
		Body:          r.Body,
		ContentLength: r.ContentLength,
		Authorize:     h.authorize(p),
		Commit: func(ctx context.Context, fn func(tx *journal.Tx, rec *svc.Record) error) error {
			var rec svc.Record
			err := h.db.Update(ctx, func(tx *journal.Tx) error { return fn(tx, &rec) })
			if err == nil {
				rec.Committed = true
				h.mu.Lock()
				h.committed = append(h.committed, rec)
				h.mu.Unlock()
			}
			return err
		},
	}
	w.Header().Set("x-amzn-RequestId", id)
	rec := s.Serve(w, r, c)
	h.mu.Lock()
	h.returned = append(h.returned, rec)
	h.mu.Unlock()
}

func (h *harness) lastRecord() svc.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.returned) == 0 {
		h.tb.Fatal("no call was served")
	}
	return h.returned[len(h.returned)-1]
}

func (h *harness) client(key string) *awskms.Client {
	return awskms.New(awskms.Options{
		Region:       region,
		BaseEndpoint: aws.String(h.srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(key, "secret", ""),
	})
}

func mustCreateKey(tb testing.TB, c *awskms.Client, in *awskms.CreateKeyInput) string {
	tb.Helper()
	if in == nil {
		in = &awskms.CreateKeyInput{}
	}
	out, err := c.CreateKey(context.Background(), in)
	if err != nil {
		tb.Fatalf("CreateKey = %v", err)
	}
	return aws.ToString(out.KeyMetadata.Arn)
}
