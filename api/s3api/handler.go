package s3api

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api/svc"
	"github.com/opentrail/opentrail/blob"
)

// EventSource is the eventSource of the records of S3 calls.
const EventSource = "s3.amazonaws.com"

// DefaultMaxObjectSize is the largest PutObject body by default: S3's
// limit for one PUT.
const DefaultMaxObjectSize = 5 << 30

// xmlns is S3's XML namespace.
const xmlns = "http://s3.amazonaws.com/doc/2006-03-01/"

// Handler serves S3's REST API over a bucket store. Its zero value is not
// usable: Store is required. A Handler is safe for concurrent use.
type Handler struct {
	Store blob.Store
	// Log receives internal errors; nil means slog.Default().
	Log *slog.Logger
	// Now is the clock of the Date header; nil means time.Now.
	Now func() time.Time
	// Domains are host names (without port) under which a request for
	// "<bucket>.<domain>" addresses the bucket in virtual-hosted style,
	// for example "s3.localhost". Path-style requests ("/bucket/key") are
	// always served.
	Domains []string
	// MaxObjectSize bounds a PutObject body; zero means
	// DefaultMaxObjectSize.
	MaxObjectSize int64
	// Keys decides callers' use of KMS keys for SSE-KMS objects (package
	// kms's Service provides it): PutObject with aws:kms needs
	// kms:GenerateDataKey on the key, GetObject of such an object
	// kms:Decrypt. Nil: keys are not checked, and the KMS key ID of a put is
	// recorded as given.
	Keys Keys
}

// Keys is what the handler needs of a KMS. AuthorizeUse decides whether
// the principal may perform action (kms:GenerateDataKey, kms:Decrypt) with
// the key keyRef names (a key ID or alias name in the principal's account
// and region, or an ARN) through S3 (viaService "s3.<region>.amazonaws.com")
// and returns the key's ARN. Its errors carry KMS's codes in an
// *opentrail.Error: NotFoundException, DisabledException,
// KMSInvalidStateException, AccessDeniedException.
type Keys interface {
	AuthorizeUse(ctx context.Context, p *opentrail.Principal, authorize func(context.Context, string, string) error,
		keyRef, region, action, viaService string) (keyARN string, err error)
}

// EventSource returns the eventSource of the records of S3 calls.
func (h *Handler) EventSource() string { return EventSource }

// StreamsBody reports that the handler reads request bodies itself, as
// they arrive: the API front must not buffer them.
func (h *Handler) StreamsBody() bool { return true }

// WriteError writes an S3 error response; see the package function.
func (h *Handler) WriteError(w http.ResponseWriter, r *http.Request, code, message, requestID string) {
	WriteError(w, r, code, message, requestID)
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}

// request is one call being served.
type request struct {
	h   *Handler
	w   *countingWriter
	r   *http.Request
	c   svc.Call
	ctx context.Context

	lvl         level
	bucket, key string
	query       url.Values
	op          *operation
	name        string // the operation's API name, for the record
	body        *bodyReader

	info     *blob.BucketInfo // the bucket, once looked up
	owner    string           // the bucket's owner, for the record ("" when unknown or hidden)
	params   jsonObject       // extra requestParameters
	response json.RawMessage  // responseElements
	sseKMS   bool             // the object is (to be) encrypted under a KMS key
}

// Serve serves one S3 call that the API front authenticated, writes the
// response, and returns what CloudTrail records of it. It never panics on
// any request and answers every client fault with a 4xx S3 error.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, c svc.Call) svc.Record {
	q := &request{h: h, w: &countingWriter{ResponseWriter: w}, r: r, c: c, ctx: r.Context()}
	body := c.Body
	if body == nil {
		body = http.NoBody
	}
	q.body = &bodyReader{r: body}
	q.query = r.URL.Query()
	err := q.parseTarget()
	if err == nil {
		var unsupported string
		q.op, unsupported = route(r.Method, q.lvl, q.query, r.Header)
		switch {
		case q.op != nil:
			q.name = q.op.name
			err = q.run()
		case unsupported != "":
			q.name = unsupported
			err = &s3Error{code: "NotImplemented", message: msgNotImplemented + " opentrail does not implement " + unsupported + "."}
		default:
			err = errorf("MethodNotAllowed", "The specified method is not allowed against this resource.")
		}
	}
	var e *s3Error
	if err != nil {
		e = q.fail(err)
	}
	return q.record(e)
}

// parseTarget finds the bucket and key the request addresses: from the
// Host (virtual-hosted style, see Handler.Domains) or from the path.
func (q *request) parseTarget() error {
	p := q.r.URL.Path
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	host := q.c.Host
	if host == "" {
		host = q.r.Host
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, d := range q.h.Domains {
		if b, ok := strings.CutSuffix(host, "."+strings.ToLower(d)); ok && b != "" {
			q.bucket = b
			q.key = p[1:]
			break
		}
	}
	if q.bucket == "" {
		q.bucket, q.key, _ = strings.Cut(p[1:], "/")
	}
	switch {
	case q.bucket == "":
		q.lvl = levelService
	case q.key == "":
		q.lvl = levelBucket
	default:
		q.lvl = levelObject
	}
	switch {
	case !utf8.ValidString(q.bucket) || !utf8.ValidString(q.key):
		return errorf("InvalidURI", "Couldn't parse the specified URI.")
	case len(q.key) > blob.MaxKeyLength:
		return &s3Error{code: "KeyTooLongError", message: "Your key is too long", bucket: q.bucket}
	}
	return nil
}

// run authorizes and serves a routed operation.
func (q *request) run() error {
	missing := false
	if q.lvl != levelService && q.op != opCreateBucket {
		info, err := q.h.Store.Bucket(q.ctx, q.bucket)
		switch {
		case err == nil:
			q.info, q.owner = info, info.Owner
		case errors.Is(err, blob.ErrNoSuchBucket):
			missing = true
		default:
			return err
		}
	}
	if err := q.authorize(); err != nil {
		return err
	}
	if missing {
		return &s3Error{code: "NoSuchBucket", message: msgNoSuchBucket, bucket: q.bucket}
	}
	return q.op.serve(q)
}

// resourceARN is the ARN the operation acts on.
func (q *request) resourceARN() string {
	switch q.lvl {
	case levelService:
		return "arn:aws:s3:::*"
	case levelObject:
		return "arn:aws:s3:::" + q.bucket + "/" + q.key
	}
	return "arn:aws:s3:::" + q.bucket
}

// authorize asks the authorization point, and the bucket policy where it
// has a say: a bucket of the caller's account may be used if either
// allows (IAM identity policies and the bucket policy add up, as in AWS);
// a bucket of another account only if both do.
func (q *request) authorize() error {
	p := q.c.Principal
	denied := errorf("AccessDenied", msgAccessDenied)
	if p == nil || q.c.Authorize == nil {
		return denied
	}
	action, resource := q.op.action, q.resourceARN()
	allowed := true
	if err := q.c.Authorize(q.ctx, action, resource); err != nil {
		if opentrail.ErrorCode(err) != opentrail.CodeAccessDenied {
			return err
		}
		allowed = false
	}
	if q.info != nil {
		cross := q.info.Owner != "" && q.info.Owner != p.AccountID
		if cross || !allowed {
			byPolicy, err := q.policyAllows(action, resource)
			if err != nil {
				return err
			}
			if cross {
				allowed = allowed && byPolicy
			} else {
				allowed = byPolicy
			}
		}
		if cross && !allowed {
			q.owner = "" // a denied caller does not learn who owns the bucket
		}
	}
	if !allowed {
		return denied
	}
	return nil
}

// fail writes the response of a failed call and returns its S3 error.
func (q *request) fail(err error) *s3Error {
	var e *s3Error
	if !errors.As(err, &e) {
		if ke, ok := kmsError(err); ok {
			e = ke
		} else if se, ok := storeError(err, q.bucket, q.key); ok {
			e = se
		} else if oe := (*opentrail.Error)(nil); errors.As(err, &oe) && oe.Code != opentrail.CodeInternalFailure {
			e = errorf(oe.Code, oe.Message)
		} else {
			q.h.log().ErrorContext(q.ctx, "s3 request failed", "request_id", q.c.RequestID, "operation", q.name,
				"bucket", q.bucket, "key", q.key, "err", err.Error())
			e = errorf("InternalError", msgInternal)
		}
	}
	if !q.w.wroteHeader {
		writeError(q.w, q.r, e, q.c.RequestID)
	}
	return e
}

// record builds what CloudTrail records of the call.
func (q *request) record(e *s3Error) svc.Record {
	rec := svc.Record{EventName: q.name}
	if q.op != nil {
		rec.ReadOnly, rec.Data = q.op.readOnly, q.op.data
	} else if q.name != "" {
		rec.ReadOnly, rec.Data = unsupportedReadOnly(q.name), q.lvl == levelObject
	}
	bucketARN := "arn:aws:s3:::" + q.bucket
	switch q.lvl {
	case levelObject:
		rec.Resources = []opentrail.Resource{
			{Type: "AWS::S3::Object", ARN: bucketARN + "/" + q.key},
			{AccountID: q.owner, Type: "AWS::S3::Bucket", ARN: bucketARN},
		}
	case levelBucket:
		rec.Resources = []opentrail.Resource{{AccountID: q.owner, Type: "AWS::S3::Bucket", ARN: bucketARN}}
	}
	rec.RequestParameters = q.requestParameters()
	if e == nil || e.code == "NotModified" {
		rec.ResponseElements = q.response
	} else {
		rec.Err = &opentrail.Error{Code: e.code, Message: e.message}
	}
	rec.AdditionalEventData = q.additionalEventData()
	return rec
}

// requestParameters are the bucket, the Host, the key and the query as AWS
// records them, plus what the operation added.
func (q *request) requestParameters() json.RawMessage {
	var o jsonObject
	for _, kv := range q.params.kvs {
		o.add(kv.k, kv.v)
	}
	if q.lvl != levelService {
		o.add("bucketName", q.bucket)
	}
	o.add("Host", q.c.Host)
	if q.lvl == levelObject {
		o.add("key", q.key)
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range q.query {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range names {
		if k == "x-id" || strings.HasPrefix(strings.ToLower(k), "x-amz-") || o.has(k) {
			continue
		}
		o.add(k, q.query.Get(k))
	}
	return o.raw()
}

// additionalEventData is what S3 adds to every record: signature version,
// TLS cipher suite, bytes in and out, how the request was signed, and
// x-amz-id-2.
func (q *request) additionalEventData() json.RawMessage {
	var o jsonObject
	o.add("SignatureVersion", "SigV4")
	if q.r.TLS != nil {
		o.add("CipherSuite", cipherSuiteName(q.r.TLS.CipherSuite))
	}
	o.add("bytesTransferredIn", q.body.n)
	if q.sseKMS {
		o.add("SSEApplied", "SSE_KMS")
	}
	method := "AuthHeader"
	if q.query.Has("X-Amz-Signature") || q.query.Has("X-Amz-Credential") {
		method = "QueryString"
	}
	o.add("AuthenticationMethod", method)
	o.add("x-amz-id-2", hostID(q.c.RequestID))
	o.add("bytesTransferredOut", q.w.n)
	return o.raw()
}

// cipherSuiteName names a TLS cipher suite as S3 records it: OpenSSL's
// names for TLS 1.2 suites, IANA's for TLS 1.3.
func cipherSuiteName(id uint16) string {
	switch id {
	case tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:
		return "ECDHE-RSA-AES128-GCM-SHA256"
	case tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:
		return "ECDHE-RSA-AES256-GCM-SHA384"
	case tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:
		return "ECDHE-ECDSA-AES128-GCM-SHA256"
	case tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:
		return "ECDHE-ECDSA-AES256-GCM-SHA384"
	case tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:
		return "ECDHE-RSA-CHACHA20-POLY1305"
	case tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256:
		return "ECDHE-ECDSA-CHACHA20-POLY1305"
	case tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA:
		return "ECDHE-RSA-AES128-SHA"
	}
	return tls.CipherSuiteName(id)
}

// writeXML writes a 200 response with an XML document.
func (q *request) writeXML(v any) error {
	b, err := xml.Marshal(v)
	if err != nil {
		return err
	}
	b = append([]byte(xml.Header), b...)
	h := q.w.Header()
	q.setCommon()
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	q.w.WriteHeader(http.StatusOK)
	if q.r.Method != http.MethodHead {
		q.w.Write(b)
	}
	return nil
}

// writeEmpty writes a response without a body.
func (q *request) writeEmpty(status int) {
	q.setCommon()
	if status != http.StatusNoContent {
		q.w.Header().Set("Content-Length", "0")
	}
	q.w.WriteHeader(status)
}

func (q *request) setCommon() {
	h := q.w.Header()
	h.Set("x-amz-request-id", q.c.RequestID)
	h.Set("x-amz-id-2", hostID(q.c.RequestID))
	now := time.Now
	if q.h.Now != nil {
		now = q.h.Now
	}
	h.Set("Date", now().UTC().Format(http.TimeFormat))
}

// countingWriter counts the bytes of the response body.
type countingWriter struct {
	http.ResponseWriter
	n           int64
	wroteHeader bool
}

func (w *countingWriter) WriteHeader(status int) {
	w.wroteHeader = true
	w.ResponseWriter.WriteHeader(status)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.wroteHeader = true
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// bodyReader counts the bytes of the request body and keeps the first
// error other than EOF, to tell the client's faults from the store's.
type bodyReader struct {
	r   io.Reader
	n   int64
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// jsonObject builds a JSON object with its keys in the order added.
type jsonObject struct {
	kvs []kv
}

type kv struct {
	k string
	v any
}

func (o *jsonObject) add(k string, v any) { o.kvs = append(o.kvs, kv{k, v}) }

func (o *jsonObject) has(k string) bool {
	for _, kv := range o.kvs {
		if kv.k == k {
			return true
		}
	}
	return false
}

func (o *jsonObject) raw() json.RawMessage {
	b := []byte{'{'}
	for i, kv := range o.kvs {
		if i > 0 {
			b = append(b, ',')
		}
		k, _ := json.Marshal(kv.k)
		v, err := json.Marshal(kv.v)
		if err != nil {
			v = []byte("null")
		}
		b = append(b, k...)
		b = append(b, ':')
		b = append(b, v...)
	}
	return append(b, '}')
}
