// Package api is opentrail's front door: one HTTP handler that serves every
// AWS service opentrail speaks on one listener. A request is authenticated
// with Signature Version 4, routed by the service name in its credential
// scope, decided by the authorization point (package iam), served, and
// recorded as a CloudTrail event in the same journal transaction as any
// state change it makes.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/history"
	"github.com/opentrail/opentrail/iam"
	"github.com/opentrail/opentrail/journal"
	"github.com/opentrail/opentrail/lake"
	"github.com/opentrail/opentrail/sigv4"
)

// Config is what a Server needs.
type Config struct {
	DB      *journal.DB
	History *history.Index
	// Regions are the regions the server answers for.
	Regions []string
	Logger  *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// LookupRate, when positive, limits LookupEvents to this many requests
	// per second per account and region, answering ThrottlingException
	// beyond it, as AWS does (2). Zero means no limit.
	LookupRate float64
	// MaxBodyBytes bounds request bodies (default 8 MiB).
	MaxBodyBytes int64
	// Buckets is the trails' bucket backend; nil: no bucket can be used.
	Buckets Buckets
	// RequireBucketPolicy makes CreateTrail refuse a bucket without a
	// policy that lets CloudTrail write, as AWS does. It suits the embedded
	// store; with an outside S3-compatible service opentrail writes with
	// its own credentials, and only a policy that exists is checked.
	RequireBucketPolicy bool
	// Topics is the notification service; nil: no topic can be used.
	Topics Topics
	// PublicKeys serves ListPublicKeys; nil: the operation is refused.
	PublicKeys PublicKeys
	// KMSKeys checks trails' KmsKeyId; nil: the reference is kept as given
	// (an outside bucket service uses it).
	KMSKeys KMSKeys
	// Services are the embedded AWS services, by SigV4 signing name ("s3",
	// "sns").
	Services map[string]Service
	// Unauthenticated, if set, may serve a request that carries no
	// signature (the console, SNS subscription confirmation links); it
	// reports whether it did.
	Unauthenticated func(w http.ResponseWriter, r *http.Request) bool
	// IndexWait bounds how long a lookup waits for the history index to
	// cover events committed before it arrived (default 5 s).
	IndexWait time.Duration

	// Lake runs CloudTrail Lake (event data stores, queries); nil: those
	// operations are refused. See lake.go and lake_queries.go.
	Lake *lake.Engine
	// QueryTimeout is a Lake query's run-time limit (default 1h).
	QueryTimeout time.Duration
	// QueryResults receives saved query results; ResultSigner signs them.
	QueryResults QueryResults
	ResultSigner ResultSigner
	// ResultFileBytes bounds the CSV bytes of each saved result file
	// (default lakeresults.DefaultMaxFileBytes; tests lower it).
	ResultFileBytes int64
}

// Server serves the AWS APIs.
type Server struct {
	cfg     Config
	db      *journal.DB
	history *history.Index
	log     *slog.Logger
	now     func() time.Time
	authz   iam.Authorizer
	regions map[string]bool

	// visible is the journal sequence number that lookups wait for the
	// index to reach: the last commit other than a lookup's own record, so
	// that a client sees its calls at once and lookups do not wait for
	// each other.
	visible atomic.Int64

	keys     sync.Map // access key ID -> cachedKey
	channels sync.Map // channel ID -> recently read channel
	limits   sync.Map // "account/region" -> *bucket

	queries *queryRunner // Lake queries running in this process
}

type cachedKey struct {
	key     *opentrail.AccessKey
	fetched time.Time
}

// New returns a Server.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 8 << 20
	}
	if cfg.IndexWait <= 0 {
		cfg.IndexWait = 5 * time.Second
	}
	if len(cfg.Regions) == 0 {
		cfg.Regions = opentrail.DefaultRegions
	}
	s := &Server{cfg: cfg, db: cfg.DB, history: cfg.History, log: cfg.Logger, now: cfg.Now, regions: map[string]bool{}, queries: newQueryRunner()}
	for _, r := range cfg.Regions {
		s.regions[r] = true
	}
	return s
}

// Regions are the regions the server answers for.
func (s *Server) Regions() []string { return slices.Clone(s.cfg.Regions) }

// request is one API call being served: who made it, from where, and what
// will be recorded of it.
type request struct {
	id        string
	r         *http.Request
	body      []byte
	auth      *sigv4.Auth
	principal *opentrail.Principal
	region    string
	service   string
	op        string
	start     time.Time
	sourceIP  string
	userAgent string
	tls       *opentrail.TLSDetails
	committed bool // a service's Commit appended the call's record
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := &request{
		id:        uuid.NewString(),
		r:         r,
		start:     s.now(),
		sourceIP:  sourceIP(r),
		userAgent: truncate(r.UserAgent(), 1024),
		tls:       tlsDetails(r),
	}
	w.Header().Set("x-amzn-RequestId", req.id)
	proto := protocolOf(r)
	if r.URL.Path == "/healthz" && r.Method == http.MethodGet {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "ok\n")
		return
	}

	auth, err := sigv4.Parse(r)
	if err != nil {
		if s.cfg.Unauthenticated != nil && s.cfg.Unauthenticated(w, r) {
			return
		}
		if sv, name := s.guessService(r); sv != nil {
			req.service = name
			s.serviceError(w, req, sv, authError(err))
			return
		}
		s.writeError(w, req, proto, authError(err))
		return
	}
	req.auth = auth
	req.service = auth.Service
	req.region = auth.Region
	sv := s.cfg.Services[auth.Service]
	switch {
	case auth.Service == "cloudtrail":
		proto = protoJSON
	case auth.Service == "cloudtrail-data":
		proto = protoREST
	case sv != nil:
	default:
		s.writeError(w, req, proto, opentrail.Errorf("UnrecognizedClientException",
			"opentrail does not serve the %q service at this endpoint (it serves %s)", auth.Service, strings.Join(s.serviceNames(), ", ")))
		return
	}
	if !s.regions[auth.Region] {
		err := opentrail.Errorf("InvalidSignatureException",
			"Credential should be scoped to a valid region, not '%s'. This opentrail serves: %s (see --regions).",
			auth.Region, strings.Join(s.cfg.Regions, ", "))
		if sv != nil {
			s.serviceError(w, req, sv, err)
		} else {
			s.writeError(w, req, proto, err)
		}
		return
	}
	if sv != nil {
		w.Header().Set("x-amz-request-id", req.id)
		s.serveService(w, req, sv)
		return
	}

	// Read the body under the size limit before verifying: the signature
	// covers its hash.
	body, err := readBody(r, s.cfg.MaxBodyBytes)
	if err != nil {
		s.writeError(w, req, proto, opentrail.Errorf(opentrail.CodeSerialization, "could not read the request body: %v", err))
		return
	}
	if int64(len(body)) > s.cfg.MaxBodyBytes {
		s.writeError(w, req, proto, &opentrail.Error{Code: codeTooLarge,
			Message: "the request body is larger than the limit of " + humanBytes(s.cfg.MaxBodyBytes)})
		return
	}
	req.body = body

	key, err := s.accessKey(r.Context(), auth.AccessKeyID)
	if err != nil {
		s.writeError(w, req, proto, err)
		return
	}
	if key == nil || !key.Active {
		s.writeError(w, req, proto, opentrail.Errorf("UnrecognizedClientException", "The security token included in the request is invalid."))
		return
	}
	p := key.Principal
	req.principal = &p
	if err := sigv4.Verify(r, auth, key.Secret, payloadHash(body), s.now()); err != nil {
		// The key is known: record the failed call under its principal.
		aerr := authError(err)
		switch auth.Service {
		case "cloudtrail":
			req.op = operationName(r.Header.Get("X-Amz-Target"))
		case "cloudtrail-data":
			req.op = "PutAuditEvents"
		}
		if req.op != "" {
			s.recordOutcome(r.Context(), req, outcome{readOnly: isReadOnly(req.op), data: auth.Service == "cloudtrail-data", err: aerr})
		}
		s.writeError(w, req, proto, aerr)
		return
	}

	switch auth.Service {
	case "cloudtrail":
		if r.URL.Path == DownloadPath {
			s.serveDownload(w, req)
			return
		}
		if r.URL.Path == HistogramPath {
			s.serveHistogram(w, req)
			return
		}
		s.serveCloudTrail(w, req)
	case "cloudtrail-data":
		s.serveCloudTrailData(w, req)
	}
}

// serviceNames lists the services the listener serves.
func (s *Server) serviceNames() []string {
	names := []string{"cloudtrail", "cloudtrail-data"}
	for n := range s.cfg.Services {
		names = append(names, n)
	}
	slices.Sort(names[2:])
	return names
}

// guessService picks the embedded service an unsigned request was meant
// for, so that its error is one the client reads: SNS's query protocol
// names an Action; S3 requests name neither an Action nor a target.
func (s *Server) guessService(r *http.Request) (Service, string) {
	if r.Header.Get("X-Amz-Target") != "" || strings.HasPrefix(r.URL.Path, "/PutAuditEvents") || r.URL.Path == DownloadPath || r.URL.Path == HistogramPath {
		return nil, ""
	}
	if r.URL.Query().Get("Action") != "" || strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return s.cfg.Services["sns"], "sns"
	}
	return s.cfg.Services["s3"], "s3"
}

func (s *Server) accessKey(ctx context.Context, id string) (*opentrail.AccessKey, error) {
	if v, ok := s.keys.Load(id); ok {
		c := v.(cachedKey)
		if s.now().Sub(c.fetched) < 10*time.Second {
			return c.key, nil
		}
	}
	k, err := s.db.AccessKey(ctx, id)
	if err != nil {
		return nil, err
	}
	s.keys.Store(id, cachedKey{key: k, fetched: s.now()})
	return k, nil
}

// authorize asks the decision point.
func (s *Server) authorize(ctx context.Context, req *request, action, resource string) error {
	return s.authz.Authorize(ctx, iam.Request{
		Principal: req.principal,
		Action:    action,
		Resource:  resource,
		Context: map[string]string{
			"aws:SourceIp":        req.sourceIP,
			"aws:RequestedRegion": req.region,
			"aws:UserAgent":       req.userAgent,
			"aws:SecureTransport": boolString(req.tls != nil),
		},
	})
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// readBody reads up to limit+1 bytes of the body, sized by Content-Length
// when the client sent one.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if n := r.ContentLength; n >= 0 && n <= limit {
		buf := make([]byte, n)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			return nil, err
		}
		return buf, nil
	}
	return io.ReadAll(io.LimitReader(r.Body, limit+1))
}

func payloadHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// tlsDetails describes the connection as CloudTrail's tlsDetails does.
func tlsDetails(r *http.Request) *opentrail.TLSDetails {
	if r.TLS == nil {
		return nil
	}
	version := map[uint16]string{tls.VersionTLS10: "TLSv1", tls.VersionTLS11: "TLSv1.1",
		tls.VersionTLS12: "TLSv1.2", tls.VersionTLS13: "TLSv1.3"}[r.TLS.Version]
	return &opentrail.TLSDetails{
		TLSVersion:               version,
		CipherSuite:              tls.CipherSuiteName(r.TLS.CipherSuite),
		ClientProvidedHostHeader: hostOnly(r.Host),
	}
}

func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return h
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return itoa(n>>10) + " KiB"
	}
	return itoa(n) + " bytes"
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	if n == 0 {
		return "0"
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// authError maps a SigV4 failure to the awsJson error AWS sends.
func authError(err error) error {
	var se *sigv4.Error
	if !errors.As(err, &se) {
		return err
	}
	code := map[sigv4.Kind]string{
		sigv4.KindMissing:           "MissingAuthenticationTokenException",
		sigv4.KindIncomplete:        "IncompleteSignatureException",
		sigv4.KindUnknownKey:        "UnrecognizedClientException",
		sigv4.KindSignatureMismatch: "InvalidSignatureException",
		sigv4.KindExpired:           "InvalidSignatureException",
		sigv4.KindPayloadMismatch:   "InvalidSignatureException",
	}[se.Kind]
	if code == "" {
		code = "IncompleteSignatureException"
	}
	return &opentrail.Error{Code: code, Message: se.Message}
}
