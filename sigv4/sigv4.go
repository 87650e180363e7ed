// Package sigv4 verifies AWS Signature Version 4 on requests that reach
// opentrail, for every service it fronts on its listener (cloudtrail,
// cloudtrail-data, s3, sns, kms, logs, iam, sts, ...).
//
// It holds three steps. Parse reads the Authorization header or the presigned
// query into an Auth without needing any secret; the caller routes on
// Auth.Service and looks up the secret of Auth.AccessKeyID. Verify then
// recomputes the signature with that secret, using the AWS SDK's own signer
// on a copy of the request that carries exactly what the client signed, and
// checks the clock and the body hash. For S3 uploads sent as aws-chunked
// bodies, NewChunkedReader decodes the body and verifies each chunk.
//
// Every failure the client should hear about is an *Error whose Kind the API
// front maps to the wire error of the service (for example KindSignatureMismatch
// to InvalidSignatureException or, for S3, SignatureDoesNotMatch).
package sigv4

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Kind says what went wrong, for the API front to map to a wire error.
type Kind int

const (
	// KindMissing: neither an Authorization header nor an X-Amz-Algorithm
	// query parameter. AWS answers MissingAuthenticationTokenException.
	KindMissing Kind = iota + 1
	// KindIncomplete: a malformed or partial Authorization header or set of
	// presign parameters, an unsupported algorithm, a bad date, or host not
	// signed. AWS answers IncompleteSignatureException (S3:
	// AuthorizationHeaderMalformed or AuthorizationQueryParametersError).
	KindIncomplete
	// KindUnknownKey: the access key is not known. Parse and Verify never
	// return it; the caller does, with UnknownKeyError. AWS answers
	// UnrecognizedClientException (S3: InvalidAccessKeyId).
	KindUnknownKey
	// KindSignatureMismatch: the signature, or an aws-chunked chunk or trailer
	// signature, is wrong. AWS answers InvalidSignatureException (S3:
	// SignatureDoesNotMatch).
	KindSignatureMismatch
	// KindExpired: the signing time is more than MaxSkew away from now, or a
	// presigned URL is past its X-Amz-Expires. AWS answers
	// InvalidSignatureException with a "Signature expired" message (S3:
	// RequestTimeTooSkewed, or AccessDenied "Request has expired").
	KindExpired
	// KindPayloadMismatch: x-amz-content-sha256 does not match the body, or
	// an aws-chunked checksum trailer does not match the decoded body (S3:
	// XAmzContentSHA256Mismatch, BadDigest).
	KindPayloadMismatch
	// KindMalformedBody: an aws-chunked body is not well formed: bad chunk
	// framing, a chunk over MaxChunkSize, a missing or malformed trailer, or a
	// decoded length other than x-amz-decoded-content-length (S3:
	// IncompleteBody, MalformedTrailerError, InvalidRequest).
	KindMalformedBody
)

var kindNames = [...]string{
	KindMissing:           "Missing",
	KindIncomplete:        "Incomplete",
	KindUnknownKey:        "UnknownKey",
	KindSignatureMismatch: "SignatureMismatch",
	KindExpired:           "Expired",
	KindPayloadMismatch:   "PayloadMismatch",
	KindMalformedBody:     "MalformedBody",
}

func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Error is an authentication failure. Message is safe to send to the client:
// it only repeats what the client sent and the server's clock.
type Error struct {
	Kind    Kind
	Message string
}

func (e *Error) Error() string {
	return "sigv4: " + e.Kind.String() + ": " + e.Message
}

func errorf(k Kind, msg string) *Error {
	return &Error{Kind: k, Message: msg}
}

// UnknownKeyError returns the error for an access key the caller does not
// know, with the message AWS sends.
func UnknownKeyError() *Error {
	return errorf(KindUnknownKey, "The security token included in the request is invalid.")
}

// Values of x-amz-content-sha256 that stand in for the hash of the body.
const (
	// UnsignedPayload leaves the body out of the signature.
	UnsignedPayload = "UNSIGNED-PAYLOAD"
	// StreamingPayload is an aws-chunked body with a signature per chunk.
	StreamingPayload = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	// StreamingPayloadTrailer is StreamingPayload followed by signed trailing
	// headers.
	StreamingPayloadTrailer = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	// StreamingUnsignedPayloadTrailer is an aws-chunked body without chunk
	// signatures, followed by trailing headers such as x-amz-checksum-crc32.
	StreamingUnsignedPayloadTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

// Algorithm is the only signing algorithm accepted.
const Algorithm = "AWS4-HMAC-SHA256"

// MaxSkew is how far the signing time of a request may be from the server's
// clock, either way.
const MaxSkew = 15 * time.Minute

// MaxExpires is the longest X-Amz-Expires a presigned URL may ask for.
const MaxExpires = 7 * 24 * time.Hour

const (
	amzDateFormat  = "20060102T150405Z"
	scopeDateFmt   = "20060102"
	scopeTerm      = "aws4_request"
	headerAuthz    = "Authorization"
	headerAmzDate  = "X-Amz-Date"
	headerDate     = "Date"
	headerSHA256   = "X-Amz-Content-Sha256"
	headerToken    = "X-Amz-Security-Token"
	queryAlgorithm = "X-Amz-Algorithm"
	queryCred      = "X-Amz-Credential"
	queryDate      = "X-Amz-Date"
	queryExpires   = "X-Amz-Expires"
	querySigned    = "X-Amz-SignedHeaders"
	querySignature = "X-Amz-Signature"
	queryToken     = "X-Amz-Security-Token"
	querySHA256    = "X-Amz-Content-Sha256"
)

// Auth is what Parse learned from a request, before any secret is known.
type Auth struct {
	AccessKeyID string
	// Date is the day of the credential scope, as "20240101".
	Date    string
	Region  string
	Service string
	// SigningTime comes from X-Amz-Date (header or query), or from the Date
	// header when a client signed with that instead. It is in UTC.
	SigningTime time.Time
	// SignedHeaders are the lower-case names the client signed, in the order
	// it listed them.
	SignedHeaders []string
	// Signature is the client's signature: 64 lower-case hex digits.
	Signature string
	// Presigned is true when the request authenticates with query
	// parameters rather than the Authorization header.
	Presigned bool
	// Expires is X-Amz-Expires of a presigned request; zero otherwise.
	Expires time.Duration
	// PayloadHash is x-amz-content-sha256 (header, or query when presigned)
	// as sent: a hex hash, UnsignedPayload, a STREAMING-* value, or "".
	PayloadHash string
	// SecurityToken is X-Amz-Security-Token (header or query), or "". The
	// caller checks it against the session that issued AccessKeyID.
	SecurityToken string
}

// Authorization returns the Authorization header value that carries a, in
// the form the AWS SDKs write it. Parse reads it back to an equal Auth.
func (a *Auth) Authorization() string {
	var b strings.Builder
	b.Grow(len(Algorithm) + 90 + len(a.AccessKeyID) + len(a.Region) + len(a.Service) + 16*len(a.SignedHeaders) + len(a.Signature))
	b.WriteString(Algorithm)
	b.WriteString(" Credential=")
	b.WriteString(a.credential())
	b.WriteString(", SignedHeaders=")
	for i, h := range a.SignedHeaders {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(h)
	}
	b.WriteString(", Signature=")
	b.WriteString(a.Signature)
	return b.String()
}

func (a *Auth) credential() string {
	return a.AccessKeyID + "/" + a.scope()
}

func (a *Auth) scope() string {
	return a.Date + "/" + a.Region + "/" + a.Service + "/" + scopeTerm
}

// Chunked reports whether the body is aws-chunked in one of the forms
// NewChunkedReader decodes.
func (a *Auth) Chunked() bool {
	switch a.PayloadHash {
	case StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedPayloadTrailer:
		return true
	}
	return false
}

// PayloadLiteral returns the value the client signed in place of the body
// hash, and true, when the signature does not cover the body itself: for s3
// only, x-amz-content-sha256 of UnsignedPayload or STREAMING-*, or
// UnsignedPayload for a presigned URL that names no hash. The caller then
// passes that value to Verify without reading the body. Otherwise it returns
// "", false and the caller hashes the body: other services always sign the
// body, as on AWS, so a client that signed a literal for them fails with
// KindSignatureMismatch.
func (a *Auth) PayloadLiteral() (string, bool) {
	if a.Service != "s3" {
		return "", false
	}
	switch {
	case a.PayloadHash == UnsignedPayload || strings.HasPrefix(a.PayloadHash, "STREAMING-"):
		return a.PayloadHash, true
	case a.Presigned && a.PayloadHash == "":
		return UnsignedPayload, true
	}
	return "", false
}

// Parse reads the SigV4 authentication of r: the Authorization header, or
// the X-Amz-* query parameters of a presigned URL. It needs no secret and
// checks only form: scope shape, date format, that host is signed, that the
// scope's day is the signing day. Errors are *Error of KindMissing (nothing
// to read) or KindIncomplete. The returned Auth is never nil when err is nil.
func Parse(r *http.Request) (*Auth, error) {
	authz := r.Header[headerAuthz]
	var q url.Values
	if strings.Contains(r.URL.RawQuery, queryAlgorithm+"=") {
		// Parse the query only when it may be presigned: most requests are not.
		q, _ = url.ParseQuery(r.URL.RawQuery)
		if _, ok := q[queryAlgorithm]; !ok {
			q = nil
		}
	}
	switch {
	case len(authz) > 0 && q != nil:
		return nil, errorf(KindIncomplete, "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified.")
	case q != nil:
		return parseQuery(r, q)
	case len(authz) == 0 || authz[0] == "":
		return nil, errorf(KindMissing, "Missing Authentication Token")
	case len(authz) > 1:
		return nil, errorf(KindIncomplete, "Only one Authorization header may be sent.")
	}
	return parseHeader(r, authz[0])
}

func parseHeader(r *http.Request, h string) (*Auth, error) {
	incomplete := func(msg string) error {
		return errorf(KindIncomplete, msg+" Authorization="+h)
	}
	alg, rest, _ := strings.Cut(h, " ")
	if alg != Algorithm {
		return nil, incomplete("Unsupported AWS 'algorithm': '" + alg + "'. Only " + Algorithm + " is supported.")
	}
	var cred, signed, sig string
	var haveCred, haveSigned, haveSig bool
	for rest != "" {
		var part string
		part, rest, _ = strings.Cut(rest, ",")
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return nil, incomplete("Invalid key=value pair (missing equal-sign) in Authorization header: '" + part + "'.")
		}
		var dst *string
		var seen *bool
		switch k {
		case "Credential":
			dst, seen = &cred, &haveCred
		case "SignedHeaders":
			dst, seen = &signed, &haveSigned
		case "Signature":
			dst, seen = &sig, &haveSig
		default:
			continue
		}
		if *seen {
			return nil, incomplete("Authorization header has more than one '" + k + "' parameter.")
		}
		*dst, *seen = v, true
	}
	amzDate := r.Header.Get(headerAmzDate)
	date := r.Header.Get(headerDate)
	var missing []string
	if !haveCred {
		missing = append(missing, "Authorization header requires 'Credential' parameter.")
	}
	if !haveSig {
		missing = append(missing, "Authorization header requires 'Signature' parameter.")
	}
	if !haveSigned {
		missing = append(missing, "Authorization header requires 'SignedHeaders' parameter.")
	}
	if amzDate == "" && date == "" {
		missing = append(missing, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	if len(missing) > 0 {
		return nil, incomplete(strings.Join(missing, " "))
	}

	a := &Auth{
		PayloadHash:   r.Header.Get(headerSHA256),
		SecurityToken: r.Header.Get(headerToken),
	}
	var err error
	if amzDate != "" {
		a.SigningTime, err = parseAmzDate(amzDate)
	} else {
		a.SigningTime, err = parseHTTPDate(date)
	}
	if err != nil {
		return nil, err
	}
	if msg := a.setCredential(cred); msg != "" {
		return nil, incomplete(msg)
	}
	if msg := a.setSignedHeaders(signed); msg != "" {
		return nil, incomplete(msg)
	}
	if msg := a.setSignature(sig); msg != "" {
		return nil, incomplete(msg)
	}
	return a, nil
}

func parseQuery(r *http.Request, q url.Values) (*Auth, error) {
	const required = "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
	var v [6]string
	for i, name := range [...]string{queryAlgorithm, queryCred, querySignature, queryDate, querySigned, queryExpires} {
		switch vs := q[name]; len(vs) {
		case 0:
			return nil, errorf(KindIncomplete, required)
		case 1:
			v[i] = vs[0]
		default:
			return nil, errorf(KindIncomplete, "Query-string authentication requires exactly one "+name+" parameter.")
		}
	}
	alg, cred, sig, date, signed, expires := v[0], v[1], v[2], v[3], v[4], v[5]
	if alg != Algorithm {
		return nil, errorf(KindIncomplete, "X-Amz-Algorithm only supports \""+Algorithm+"\".")
	}
	a := &Auth{Presigned: true, SecurityToken: q.Get(queryToken)}
	if a.PayloadHash = r.Header.Get(headerSHA256); a.PayloadHash == "" {
		a.PayloadHash = q.Get(querySHA256)
	}
	n, err := strconv.ParseInt(expires, 10, 64)
	switch {
	case err != nil && len(expires) > 0 && expires[0] == '-':
		return nil, errorf(KindIncomplete, "X-Amz-Expires must be non-negative.")
	case err != nil || strings.HasPrefix(expires, "+"):
		return nil, errorf(KindIncomplete, "X-Amz-Expires should be a number.")
	case n < 0:
		return nil, errorf(KindIncomplete, "X-Amz-Expires must be non-negative.")
	case n > int64(MaxExpires/time.Second):
		return nil, errorf(KindIncomplete, "X-Amz-Expires must be less than a week (in seconds) that is 604800.")
	}
	a.Expires = time.Duration(n) * time.Second
	if a.SigningTime, err = parseAmzDate(date); err != nil {
		return nil, err
	}
	if msg := a.setCredential(cred); msg != "" {
		return nil, errorf(KindIncomplete, msg)
	}
	if msg := a.setSignedHeaders(signed); msg != "" {
		return nil, errorf(KindIncomplete, msg)
	}
	if msg := a.setSignature(sig); msg != "" {
		return nil, errorf(KindIncomplete, msg)
	}
	return a, nil
}

// setCredential fills the key and scope from "AKID/20240101/region/service/aws4_request"
// and returns a message saying what is wrong, or "".
func (a *Auth) setCredential(c string) string {
	parts := strings.Split(c, "/")
	if len(parts) != 5 {
		return "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '" + c + "'."
	}
	a.AccessKeyID, a.Date, a.Region, a.Service = parts[0], parts[1], parts[2], parts[3]
	switch {
	case parts[4] != scopeTerm:
		return "Credential should be scoped with a valid terminator: 'aws4_request', not '" + parts[4] + "'."
	case !isToken(a.AccessKeyID):
		return "Credential should name a valid access key, got '" + a.AccessKeyID + "'."
	case !isToken(a.Region):
		return "Credential should be scoped to a valid region, not '" + a.Region + "'."
	case !isToken(a.Service):
		return "Credential should be scoped to a valid service, not '" + a.Service + "'."
	}
	if day := a.SigningTime.Format(scopeDateFmt); a.Date != day {
		return "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '" + a.Date + "' != '" + day + "', from '" + a.SigningTime.Format(amzDateFormat) + "'."
	}
	return ""
}

func (a *Auth) setSignedHeaders(s string) string {
	bad := "SignedHeaders must be a ';'-separated list of lower-case header names, got '" + s + "'."
	if s == "" {
		return bad
	}
	a.SignedHeaders = make([]string, 0, strings.Count(s, ";")+1)
	host := false
	for name := range strings.SplitSeq(s, ";") {
		if !isHeaderName(name) {
			return bad
		}
		host = host || name == "host"
		a.SignedHeaders = append(a.SignedHeaders, name)
	}
	if !host {
		return "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
	}
	return ""
}

func (a *Auth) setSignature(s string) string {
	if len(s) != 64 || !isLowerHex(s) {
		return "Signature must be 64 lower-case hexadecimal characters, got '" + s + "'."
	}
	a.Signature = s
	return ""
}

func parseAmzDate(s string) (time.Time, error) {
	t, err := time.Parse(amzDateFormat, s)
	if err != nil || t.Format(amzDateFormat) != s {
		return time.Time{}, errorf(KindIncomplete, "Date must be in ISO-8601 'basic format'. Got '"+s+"'. See http://en.wikipedia.org/wiki/ISO_8601")
	}
	return t, nil
}

// httpDateLayouts are the forms a Date header is written in: RFC 7231's
// preferred form and its obsolete ones, and RFC 1123 with a numeric zone,
// which Python's email.utils.formatdate (used by botocore) writes.
var httpDateLayouts = [...]string{http.TimeFormat, time.RFC1123, time.RFC1123Z, time.RFC850, time.ANSIC}

func parseHTTPDate(s string) (time.Time, error) {
	for _, layout := range httpDateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errorf(KindIncomplete, "Date header must be an HTTP date. Got '"+s+"'.")
}

// isToken reports whether s is non-empty printable ASCII without space, ',',
// '/' or ';', the characters that delimit the Authorization header.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == ',' || c == '/' || c == ';' {
			return false
		}
	}
	return true
}

// isHeaderName reports whether s is a non-empty lower-case RFC 9110 token.
func isHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
