package console

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The console calls the API in-process: the AWS SDK's clients sign each
// request with the session's key as usual, and a RoundTripper hands the
// request to the API's handler instead of the network. The request the API
// sees carries the browser's address, user agent and TLS connection, so
// the record of a console call says where the user really was, and its
// context carries the API's console mark, which no network client can set.

// endpoint is the base URL the clients sign for. It never reaches the
// network; the Host header it yields is only signed and checked.
const endpoint = "http://console.opentrail.internal"

// browser is what the API is told about the browser a call is made for.
type browser struct {
	remoteAddr string
	userAgent  string
	tls        *tls.ConnectionState
}

type browserKey struct{}

// forBrowser returns a context for API calls made while serving r.
func (c *Console) forBrowser(r *http.Request) context.Context {
	return context.WithValue(r.Context(), browserKey{}, &browser{remoteAddr: r.RemoteAddr, userAgent: r.UserAgent(), tls: r.TLS})
}

// inProcess is an http.RoundTripper that serves requests with the API's
// handler.
type inProcess struct{ api API }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	b, _ := req.Context().Value(browserKey{}).(*browser)
	if b == nil {
		return nil, errors.New("console: an API call was made outside a browser request")
	}
	sr := req.Clone(t.api.ConsoleContext(req.Context()))
	sr.URL = &url.URL{Path: req.URL.Path, RawPath: req.URL.RawPath, RawQuery: req.URL.RawQuery}
	sr.RequestURI = req.URL.RequestURI()
	if sr.Host == "" {
		sr.Host = req.URL.Host
	}
	sr.RemoteAddr, sr.TLS = b.remoteAddr, b.tls
	sr.Proto, sr.ProtoMajor, sr.ProtoMinor = "HTTP/1.1", 1, 1
	sr.Header.Set("User-Agent", b.userAgent) // not signed
	if sr.Body == nil {
		sr.Body = http.NoBody
	}
	pw := newPipeResponse()
	go func() {
		var failed any
		defer func() { pw.finish(failed) }()
		defer func() { failed = recover() }()
		t.api.ServeHTTP(pw, sr)
	}()
	select {
	case <-pw.ready:
	case <-req.Context().Done():
		pw.pr.CloseWithError(req.Context().Err())
		return nil, req.Context().Err()
	}
	resp := &http.Response{
		Status:        fmt.Sprintf("%d %s", pw.status, http.StatusText(pw.status)),
		StatusCode:    pw.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        pw.sent,
		Body:          pw.pr,
		ContentLength: -1,
		Request:       req,
	}
	if n, err := strconv.ParseInt(pw.sent.Get("Content-Length"), 10, 64); err == nil {
		resp.ContentLength = n
	}
	if req.Method == http.MethodHead {
		resp.Body = http.NoBody
		pw.pr.Close()
	}
	return resp, nil
}

// pipeResponse is an http.ResponseWriter whose body streams through a
// pipe to the response the RoundTripper returns.
type pipeResponse struct {
	header http.Header
	sent   http.Header // the header as of WriteHeader
	status int
	ready  chan struct{}
	once   sync.Once
	pr     *io.PipeReader
	pw     *io.PipeWriter
}

func newPipeResponse() *pipeResponse {
	pr, pw := io.Pipe()
	return &pipeResponse{header: http.Header{}, ready: make(chan struct{}), pr: pr, pw: pw}
}

func (p *pipeResponse) Header() http.Header { return p.header }

func (p *pipeResponse) WriteHeader(code int) {
	p.once.Do(func() {
		p.status, p.sent = code, p.header.Clone()
		close(p.ready)
	})
}

func (p *pipeResponse) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return p.pw.Write(b)
}

func (p *pipeResponse) Flush() {}

// finish ends the body; a handler that panicked (as the API does to
// abort a download midway) ends it with an error.
func (p *pipeResponse) finish(failed any) {
	if failed != nil {
		p.WriteHeader(http.StatusInternalServerError)
		p.pw.CloseWithError(fmt.Errorf("the API ended the response early: %v", failed))
		return
	}
	p.WriteHeader(http.StatusOK)
	p.pw.Close()
}

// clients returns the session's API clients for its current region.
func (c *Console) clients(s *session) *clients {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.clients != nil {
		return s.clients
	}
	cfg := aws.Config{
		Region:           s.regionV,
		Credentials:      credentials.NewStaticCredentialsProvider(s.keyID, s.secret, ""),
		HTTPClient:       &http.Client{Transport: inProcess{c.cfg.API}},
		RetryMaxAttempts: 1,
		BaseEndpoint:     aws.String(endpoint),
	}
	s.clients = &clients{
		ct: cloudtrail.NewFromConfig(cfg),
		s3: s3.NewFromConfig(cfg, func(o *s3.Options) {
			o.UsePathStyle = true
			o.DisableLogOutputChecksumValidationSkipped = true
			o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		}),
	}
	return s.clients
}

// emptyPayload is the SHA-256 of an empty body.
const emptyPayload = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// get makes a signed GET for the cloudtrail service (the API's event
// download), the way the CLI would.
func (c *Console) get(ctx context.Context, s *session, path string, query url.Values) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+path+"?"+query.Encode(), nil)
	if err != nil {
		return nil, err
	}
	creds := aws.Credentials{AccessKeyID: s.keyID, SecretAccessKey: s.secret}
	req.Header.Set("X-Amz-Content-Sha256", emptyPayload)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, emptyPayload, "cloudtrail", s.region(), time.Now()); err != nil {
		return nil, err
	}
	return inProcess{c.cfg.API}.RoundTrip(req)
}
