package sns_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/google/uuid"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api/svc"
	"github.com/opentrail/opentrail/journal"
	"github.com/opentrail/opentrail/sns"
)

const (
	account = "111122223333"
	other   = "444455556666"
	region  = "us-east-1"

	keyOwner = "AKIAOWNER" // root of account
	keyOther = "AKIAOTHER" // IAM user bob of other
)

// principals are the callers the test front knows, by access key.
var principals = map[string]*opentrail.Principal{
	keyOwner: {Type: opentrail.PrincipalRoot, AccountID: account, PrincipalID: account, AccessKeyID: keyOwner},
	keyOther: {Type: opentrail.PrincipalIAMUser, AccountID: other, Name: "bob", PrincipalID: "AIDAOTHER", AccessKeyID: keyOther},
}

// harness is a minimal API front around one Service: it takes the caller
// from the SigV4 credential scope without checking the signature, allows
// every action not listed in deny, and commits records nowhere but in
// memory.
type harness struct {
	tb   testing.TB
	path string
	db   *journal.DB
	svc  *sns.Service
	srv  *httptest.Server
	opts sns.Options

	mu        sync.Mutex
	deny      map[string]bool // actions Authorize refuses
	returned  []svc.Record    // what Serve returned
	committed []svc.Record    // what Commit appended
}

var credentialScope = regexp.MustCompile(`Credential=([^/]+)/[0-9]{8}/([^/]+)/([^/]+)/aws4_request`)

func mustOpenDB(tb testing.TB, path string) *journal.DB {
	tb.Helper()
	db, err := journal.Open(context.Background(), path, journal.Options{Synchronous: "NORMAL", Migrations: sns.Migrations})
	if err != nil {
		tb.Fatal(err)
	}
	return db
}

// mustHarness starts a front and a Service on a new database. The
// Service's delivery loop is not started; see run.
func mustHarness(tb testing.TB, opts sns.Options) *harness {
	tb.Helper()
	h := &harness{tb: tb, path: filepath.Join(tb.TempDir(), "opentrail.db"), deny: map[string]bool{}}
	h.srv = httptest.NewServer(h)
	tb.Cleanup(h.srv.Close)
	if opts.KeyFile == "" && opts.Key == nil {
		opts.Key = testKey(tb)
	}
	if opts.MinRetryDelay == 0 {
		opts.MinRetryDelay = 10 * time.Millisecond
		opts.MaxRetryDelay = 40 * time.Millisecond
	}
	opts.BaseURL = h.srv.URL
	h.opts = opts
	h.open()
	tb.Cleanup(func() { h.close() })
	return h
}

var (
	keyOnce   sync.Once
	sharedKey *rsa.PrivateKey
)

// testKey is one key for the whole test binary: generating 2048-bit keys
// is slow.
func testKey(tb testing.TB) *rsa.PrivateKey {
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		sharedKey = k
	})
	return sharedKey
}

func (h *harness) open() {
	h.tb.Helper()
	h.db = mustOpenDB(h.tb, h.path)
	s, err := sns.New(h.db, h.opts)
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

// reopen closes the database and opens it again with a new Service, as a
// restart of opentrail does.
func (h *harness) reopen() {
	h.tb.Helper()
	h.close()
	h.open()
}

// run starts the delivery loop; the returned function stops it and waits.
func (h *harness) run() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	s := h.service()
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				h.tb.Errorf("Run = %v", err)
			}
		})
	}
	h.tb.Cleanup(stop)
	return stop
}

func (h *harness) service() *sns.Service {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.svc
}

func (h *harness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := h.service()
	if s.ServeUnauthenticated(w, r) {
		return
	}
	m := credentialScope.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil || principals[m[1]] == nil || m[3] != "sns" {
		sns.WriteError(w, "unauthenticated", opentrail.Errorf("InvalidClientTokenId", "The security token included in the request is invalid."))
		return
	}
	p := principals[m[1]]
	c := svc.Call{
		Principal:     p,
		Region:        m[2],
		RequestID:     uuid.NewString(),
		Host:          r.Host,
		Body:          r.Body,
		ContentLength: r.ContentLength,
		Authorize: func(ctx context.Context, action, resource string) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.deny[action] {
				return opentrail.Errorf(opentrail.CodeAccessDenied, "User: %s is not authorized to perform: %s on resource: %s", p.ARN(), action, resource)
			}
			return nil
		},
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
	w.Header().Set("x-amzn-RequestId", c.RequestID)
	rec := s.Serve(w, r, c)
	h.mu.Lock()
	h.returned = append(h.returned, rec)
	h.mu.Unlock()
}

// lastRecord is what Serve returned for the last call.
func (h *harness) lastRecord() svc.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.returned) == 0 {
		h.tb.Fatal("no call was served")
	}
	return h.returned[len(h.returned)-1]
}

func (h *harness) lastCommitted() svc.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.committed) == 0 {
		h.tb.Fatal("nothing was committed")
	}
	return h.committed[len(h.committed)-1]
}

// client is the AWS SDK's SNS client for the caller with access key key.
func (h *harness) client(key string) *awssns.Client {
	return awssns.New(awssns.Options{
		Region:       region,
		BaseEndpoint: aws.String(h.srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(key, "secret", ""),
	})
}

func mustCreateTopic(tb testing.TB, c *awssns.Client, name string) string {
	tb.Helper()
	out, err := c.CreateTopic(context.Background(), &awssns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		tb.Fatalf("CreateTopic(%s) = %v", name, err)
	}
	return aws.ToString(out.TopicArn)
}

// delivery is one POST an endpoint received.
type delivery struct {
	header http.Header
	body   []byte
}

// subscriber is an HTTP endpoint that records what it receives. Its
// answer to each request comes from status (200 when nil).
type subscriber struct {
	*httptest.Server
	got    chan delivery
	mu     sync.Mutex
	status func(n int) int
	n      int
}

func mustSubscriber(tb testing.TB) *subscriber {
	tb.Helper()
	s := &subscriber{got: make(chan delivery, 1000)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.n++
		code := http.StatusOK
		if s.status != nil {
			code = s.status(s.n)
		}
		s.mu.Unlock()
		if code/100 == 2 {
			s.got <- delivery{r.Header.Clone(), b}
		}
		w.WriteHeader(code)
	}))
	tb.Cleanup(s.Close)
	return s
}

// next waits for the next accepted delivery.
func (s *subscriber) next(tb testing.TB) delivery {
	tb.Helper()
	select {
	case d := <-s.got:
		return d
	case <-time.After(10 * time.Second):
		tb.Fatal("no delivery within 10s")
	}
	return delivery{}
}

// none checks that nothing more arrives for a little while.
func (s *subscriber) none(tb testing.TB) {
	tb.Helper()
	select {
	case d := <-s.got:
		tb.Fatalf("unexpected delivery: %s %s", d.header.Get("x-amz-sns-message-type"), d.body)
	case <-time.After(200 * time.Millisecond):
	}
}

// mustConfirmed subscribes sub to topic, waits for the confirmation and
// confirms it by GETting its SubscribeURL, as a subscriber's HTTP server
// does. It returns the subscription ARN.
func mustConfirmed(tb testing.TB, c *awssns.Client, topic string, sub *subscriber) string {
	tb.Helper()
	ctx := context.Background()
	out, err := c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("http"), Endpoint: aws.String(sub.URL)})
	if err != nil {
		tb.Fatalf("Subscribe = %v", err)
	}
	if got := aws.ToString(out.SubscriptionArn); got != "pending confirmation" {
		tb.Fatalf("Subscribe = %q, want pending confirmation", got)
	}
	d := sub.next(tb)
	m := decode(tb, d.body)
	if m["Type"] != "SubscriptionConfirmation" {
		tb.Fatalf("first delivery is a %q, want SubscriptionConfirmation", m["Type"])
	}
	resp, err := http.Get(m["SubscribeURL"])
	if err != nil {
		tb.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET SubscribeURL = %d %s", resp.StatusCode, body)
	}
	var r struct {
		Result struct {
			SubscriptionArn string
		} `xml:"ConfirmSubscriptionResult"`
	}
	if err := xml.Unmarshal(body, &r); err != nil || !strings.HasPrefix(r.Result.SubscriptionArn, topic+":") {
		tb.Fatalf("GET SubscribeURL body %s (%v)", body, err)
	}
	return r.Result.SubscriptionArn
}

func decode(tb testing.TB, b []byte) map[string]string {
	tb.Helper()
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		tb.Fatalf("delivery is not JSON: %v: %s", err, b)
	}
	m := map[string]string{}
	for k, v := range raw {
		if s, ok := v.(string); ok {
			m[k] = s
		}
	}
	return m
}

// mustCert fetches and parses the certificate at url.
func mustCert(tb testing.TB, url string) *x509.Certificate {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	blk, _ := pem.Decode(b)
	if resp.StatusCode != http.StatusOK || blk == nil {
		tb.Fatalf("GET %s = %d %q", url, resp.StatusCode, b)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	return cert
}

// verify checks an envelope's signature as AWS documents it for
// subscribers: the canonical string lists, in this order, the fields
// Message, MessageId, Subject (Notification only, when present),
// SubscribeURL (confirmations), Timestamp, Token (confirmations), TopicArn
// and Type, each as "name\nvalue\n"; SignatureVersion 1 signs its SHA-1,
// 2 its SHA-256, with PKCS#1 v1.5.
func verify(cert *x509.Certificate, m map[string]string) error {
	keys := []string{"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"}
	if m["Type"] == "Notification" {
		keys = []string{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"}
	}
	var b strings.Builder
	for _, k := range keys {
		v, ok := m[k]
		if !ok {
			if k == "Subject" {
				continue
			}
			return fmt.Errorf("envelope lacks %s", k)
		}
		b.WriteString(k + "\n" + v + "\n")
	}
	sig, err := base64.StdEncoding.DecodeString(m["Signature"])
	if err != nil {
		return err
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("certificate key is not RSA")
	}
	switch m["SignatureVersion"] {
	case "1":
		sum := sha1.Sum([]byte(b.String()))
		return rsa.VerifyPKCS1v15(pub, crypto.SHA1, sum[:], sig)
	case "2":
		sum := sha256.Sum256([]byte(b.String()))
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
	}
	return fmt.Errorf("SignatureVersion %q", m["SignatureVersion"])
}
