package sigv4

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// signer recomputes header signatures. It is shared so that its cache of
// derived keys (one per region and service, valid for a day) serves every
// request.
var signer = v4.NewSigner()

// s3Paths makes the signer use the path as sent: S3 signs object keys
// escaped once, every other service escapes the path a second time.
func s3Paths(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }

// Verify recomputes the signature of r with secret and compares it with
// a.Signature in constant time. a must come from Parse(r).
//
// payloadHash is the lower-case hex SHA-256 of the body the caller read or,
// when a.PayloadLiteral reports one, that literal (the body is then not read
// before Verify). If a.PayloadHash is a hash the client claimed, that claim
// is what the signature covers, and Verify checks it against payloadHash
// with CheckPayload. A caller that streams a large body instead of reading
// it first may pass a.PayloadHash itself and call CheckPayload with the hash
// of what it streamed once the body is read.
//
// Verify checks, in order: the signature (KindSignatureMismatch), the clock
// (KindExpired: the signing time more than MaxSkew from now either way, or a
// presigned URL used after X-Amz-Expires), and the claimed body hash
// (KindPayloadMismatch). It returns nil or an *Error. It does not read r.Body.
func Verify(r *http.Request, a *Auth, secret, payloadHash string, now time.Time) error {
	payload := payloadHash
	if a.claimsHash() {
		payload = a.PayloadHash
	}
	path, query := requestTarget(r)
	ok := equal(signature(r, a, secret, payload, path, query), a.Signature)
	if !ok && a.Service != "s3" {
		// Most SDKs (botocore, JavaScript) sign other services' paths with
		// dot segments and empty segments removed; the Go SDK signs them as
		// sent. Both are tried; S3 keys are never normalised.
		if clean := removeDotSegments(path); clean != path {
			ok = equal(signature(r, a, secret, payload, clean, query), a.Signature)
		}
	}
	if !ok {
		return errorf(KindSignatureMismatch, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	if err := a.checkTime(now); err != nil {
		return err
	}
	return a.CheckPayload(payloadHash)
}

// claimsHash reports whether x-amz-content-sha256 claims a body hash rather
// than standing in for one.
func (a *Auth) claimsHash() bool {
	return a.PayloadHash != "" && a.PayloadHash != UnsignedPayload && !strings.HasPrefix(a.PayloadHash, "STREAMING-")
}

// CheckPayload returns a KindPayloadMismatch *Error when the client claimed
// a body hash in x-amz-content-sha256 and payloadHash, the hex SHA-256 of
// the body received, differs from it; otherwise nil.
func (a *Auth) CheckPayload(payloadHash string) error {
	if a.claimsHash() && !strings.EqualFold(a.PayloadHash, payloadHash) {
		return errorf(KindPayloadMismatch, "The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	return nil
}

func equal(computed, sent string) bool {
	return subtle.ConstantTimeCompare([]byte(computed), []byte(sent)) == 1
}

func (a *Auth) checkTime(now time.Time) error {
	now = now.UTC()
	t := a.SigningTime
	skew := func() string { return strconv.Itoa(int(MaxSkew/time.Minute)) + " min.)" }
	if t.Sub(now) > MaxSkew {
		return errorf(KindExpired, "Signature not yet current: "+t.Format(amzDateFormat)+" is still later than "+
			now.Add(MaxSkew).Format(amzDateFormat)+" ("+now.Format(amzDateFormat)+" + "+skew())
	}
	if a.Presigned {
		if now.Sub(t) > a.Expires {
			return errorf(KindExpired, "Request has expired: X-Amz-Date "+t.Format(amzDateFormat)+" plus X-Amz-Expires "+
				strconv.FormatInt(int64(a.Expires/time.Second), 10)+" is earlier than "+now.Format(amzDateFormat)+".")
		}
		return nil
	}
	if now.Sub(t) > MaxSkew {
		return errorf(KindExpired, "Signature expired: "+t.Format(amzDateFormat)+" is now earlier than "+
			now.Add(-MaxSkew).Format(amzDateFormat)+" ("+now.Format(amzDateFormat)+" - "+skew())
	}
	return nil
}

// requestTarget returns the escaped path and the raw query exactly as the
// client sent them: from RequestURI when the request came from a server,
// from URL otherwise.
func requestTarget(r *http.Request) (path, query string) {
	u := r.RequestURI
	if u == "" || u == "*" {
		return r.URL.EscapedPath(), r.URL.RawQuery
	}
	path, query, _ = strings.Cut(u, "?")
	if !strings.HasPrefix(path, "/") {
		// Absolute form, "http://host/path".
		if _, rest, ok := strings.Cut(path, "://"); ok {
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				return rest[i:], query
			}
			return "/", query
		}
	}
	return path, query
}

// signature computes the signature of r as the client should have computed
// it, with the AWS SDK signer when it can reproduce what the client signed
// and by hand otherwise.
func signature(r *http.Request, a *Auth, secret, payload, path, query string) string {
	var sig string
	var ok bool
	if a.Presigned {
		sig, ok = sdkPresignSignature(r, a, secret, payload, path, query)
	} else {
		sig, ok = sdkSignature(r, a, secret, payload, path, query)
	}
	if ok {
		return sig
	}
	return handSignature(r, a, secret, payload, path, query)
}

// sdkRequests recycles the requests handed to the signer, which keeps
// nothing of them once it returns.
var sdkRequests = sync.Pool{New: func() any {
	return &http.Request{URL: new(url.URL), Header: make(http.Header, 8)}
}}

func newSDKRequest() *http.Request {
	req := sdkRequests.Get().(*http.Request)
	u, h := req.URL, req.Header
	*u = url.URL{}
	clear(h)
	*req = http.Request{URL: u, Header: h}
	return req
}

func releaseSDKRequest(req *http.Request) {
	sdkRequests.Put(req)
}

// sdkRequest builds the copy of r that the SDK signer sees: method, host,
// path as sent, and exactly the headers the client signed. It returns false
// when the signer could not reproduce the client's canonical request: the
// client signed a header the signer never signs (User-Agent, Expect,
// Transfer-Encoding, X-Amzn-Trace-Id, Authorization) or a content-length of
// zero, listed headers out of order, signed a header it did not send, or
// sent a value the signer trims differently from the other SDKs (tabs and
// other whitespace than spaces). For a header signature it also needs
// x-amz-date, which the signer writes itself; a client that signed Date
// instead is handled by hand.
func sdkRequest(r *http.Request, a *Auth, path, query string) (*http.Request, bool) {
	if !strings.HasPrefix(path, "/") {
		return nil, false
	}
	var length int64
	ordinary, date := 0, false
	for i, name := range a.SignedHeaders {
		if i > 0 && name <= a.SignedHeaders[i-1] {
			return nil, false
		}
		switch name {
		case "host":
		case "content-length":
			n, ok := positiveInt(contentLength(r))
			if !ok {
				return nil, false
			}
			length = n
		case "x-amz-date":
			if a.Presigned {
				ordinary++
				continue
			}
			if len(r.Header.Values(headerAmzDate)) != 1 {
				return nil, false
			}
			date = true
		case "authorization", "user-agent", "x-amzn-trace-id", "expect", "transfer-encoding":
			return nil, false
		default:
			ordinary++
		}
	}
	if !a.Presigned && !date {
		return nil, false
	}

	req := newSDKRequest()
	req.Method, req.Host, req.ContentLength = r.Method, r.Host, length
	req.URL.Opaque, req.URL.RawQuery = path, query
	if strings.HasPrefix(path, "//") {
		// The signer reads Opaque as "//host/path": give it a host so that a
		// path starting with "//" stays whole.
		req.URL.Opaque = "//-" + path
	}
	for k, vs := range r.Header {
		if !signed(a.SignedHeaders, k) || strings.EqualFold(k, "Host") || strings.EqualFold(k, "Content-Length") {
			continue // host and content-length come from r.Host and ContentLength
		}
		if strings.EqualFold(k, headerAmzDate) && !a.Presigned {
			continue // the signer writes it from the signing time
		}
		for _, v := range vs {
			if !spacesOnly(v) {
				releaseSDKRequest(req)
				return nil, false
			}
		}
		// The signer only reads these values, so they are shared, not copied.
		req.Header[k] = vs
		ordinary--
	}
	if ordinary != 0 {
		releaseSDKRequest(req)
		return nil, false
	}
	return req, true
}

func sdkSignature(r *http.Request, a *Auth, secret, payload, path, query string) (string, bool) {
	req, ok := sdkRequest(r, a, path, query)
	if !ok {
		return "", false
	}
	defer releaseSDKRequest(req)
	creds := aws.Credentials{AccessKeyID: cacheID(a.AccessKeyID, secret), SecretAccessKey: secret}
	var err error
	if a.Service == "s3" {
		err = signer.SignHTTP(context.Background(), creds, req, payload, a.Service, a.Region, a.SigningTime, s3Paths)
	} else {
		err = signer.SignHTTP(context.Background(), creds, req, payload, a.Service, a.Region, a.SigningTime)
	}
	if err != nil {
		return "", false
	}
	// "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=a;b, Signature=hex"
	authz := req.Header.Get(headerAuthz)
	const sh, sg = ", SignedHeaders=", ", Signature="
	i, j := strings.Index(authz, sh), strings.LastIndex(authz, sg)
	if i < 0 || j < i || !sameList(authz[i+len(sh):j], a.SignedHeaders) {
		return "", false
	}
	return authz[j+len(sg):], true
}

func sdkPresignSignature(r *http.Request, a *Auth, secret, payload, path, query string) (string, bool) {
	req, ok := sdkRequest(r, a, path, query)
	if !ok {
		return "", false
	}
	defer releaseSDKRequest(req)
	q, _ := url.ParseQuery(query)
	delete(q, querySignature)
	req.URL.RawQuery = q.Encode()
	// The access key is part of a presigned canonical request, so the shared
	// signer's cache, which trusts the access key to name one secret, is not
	// used: presigned URLs are rare enough to derive the key each time.
	s := v4.NewSigner(func(o *v4.SignerOptions) {
		o.DisableHeaderHoisting = true
		o.DisableURIPathEscaping = a.Service == "s3"
	})
	creds := aws.Credentials{AccessKeyID: a.AccessKeyID, SecretAccessKey: secret}
	uri, _, err := s.PresignHTTP(context.Background(), creds, req, payload, a.Service, a.Region, a.SigningTime)
	if err != nil {
		return "", false
	}
	_, raw, _ := strings.Cut(uri, "?")
	signedQuery, err := url.ParseQuery(raw)
	if err != nil || !sameList(signedQuery.Get(querySigned), a.SignedHeaders) {
		return "", false
	}
	return signedQuery.Get(querySignature), true
}

// cacheID is the access key given to the shared signer. The signer caches
// derived keys by access key, region, service and day, and would keep using
// a key derived from an old secret after the secret of an access key
// changed; adding a digest of the secret makes such a change a cache miss.
// A header signature does not cover the access key, so this does not change
// the result.
func cacheID(accessKey, secret string) string {
	sum := sha256.Sum256([]byte(secret))
	var b strings.Builder
	b.Grow(len(accessKey) + 1 + 32)
	b.WriteString(accessKey)
	b.WriteByte('#')
	var h [32]byte
	hex.Encode(h[:], sum[:16])
	b.Write(h[:])
	return b.String()
}

func signed(names []string, key string) bool {
	for _, n := range names {
		if strings.EqualFold(n, key) {
			return true
		}
	}
	return false
}

// sameList reports whether s is names joined with ';'.
func sameList(s string, names []string) bool {
	for i, n := range names {
		if i > 0 {
			if s == "" || s[0] != ';' {
				return false
			}
			s = s[1:]
		}
		if !strings.HasPrefix(s, n) {
			return false
		}
		s = s[len(n):]
	}
	return s == ""
}

// spacesOnly reports whether v holds no whitespace other than the space
// character, so that every signer trims and folds it the same way.
func spacesOnly(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < ' ' || c == 0x7f {
			return false
		}
		if c >= 0x80 {
			return strings.IndexFunc(v[i:], unicode.IsSpace) < 0
		}
	}
	return true
}

// contentLength returns the content-length the client sent, or "".
func contentLength(r *http.Request) string {
	if v := r.Header["Content-Length"]; len(v) > 0 {
		return v[0]
	}
	if r.ContentLength >= 0 {
		return strconv.FormatInt(r.ContentLength, 10)
	}
	return ""
}

// positiveInt parses a decimal integer written without sign or leading
// zeros, as the signer writes it, and reports whether it is above zero.
func positiveInt(s string) (int64, bool) {
	if s == "" || s[0] < '1' || s[0] > '9' || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// removeDotSegments normalises a path as RFC 3986 section 5.2.4 does, and
// also drops empty segments, as botocore and the JavaScript SDK do before
// signing any service but S3.
func removeDotSegments(path string) string {
	if !strings.Contains(path, "//") && !strings.Contains(path, "/.") {
		return path
	}
	var out []string
	for seg := range strings.SplitSeq(path, "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
		}
	}
	clean := "/" + strings.Join(out, "/")
	if len(out) > 0 && strings.HasSuffix(path, "/") {
		clean += "/"
	}
	return clean
}
