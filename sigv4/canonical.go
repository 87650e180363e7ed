package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// handSignature computes the signature from a canonical request written
// here rather than by the AWS SDK signer. It is used only for requests the
// signer cannot reproduce (see sdkRequest): the signer always signs host,
// x-amz-date and a positive content-length and never signs user-agent,
// expect, transfer-encoding or x-amzn-trace-id, so a client that signed
// otherwise (a Date header, a User-Agent, ...) needs its own list honoured.
// Header values are trimmed and their whitespace runs folded to one space,
// as botocore does.
func handSignature(r *http.Request, a *Auth, secret, payload, path, query string) string {
	sum := sha256.Sum256([]byte(canonicalRequest(r, a, payload, path, query)))
	sts := Algorithm + "\n" + a.SigningTime.Format(amzDateFormat) + "\n" + a.scope() + "\n" + hex.EncodeToString(sum[:])
	return hex.EncodeToString(hmacSHA256(signingKey(secret, a.Date, a.Region, a.Service), sts))
}

// canonicalRequest writes the SigV4 canonical request of r with the headers
// the client listed, in its order.
func canonicalRequest(r *http.Request, a *Auth, payload, path, query string) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	switch {
	case path == "":
		b.WriteByte('/')
	case a.Service == "s3":
		b.WriteString(path)
	default:
		b.WriteString(escape(path, true))
	}
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(query, a.Presigned))
	b.WriteByte('\n')
	for _, name := range a.SignedHeaders {
		b.WriteString(name)
		b.WriteByte(':')
		switch name {
		case "host":
			b.WriteString(trimAll(r.Host))
		case "content-length":
			b.WriteString(contentLength(r))
		default:
			for i, v := range r.Header.Values(name) {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(trimAll(v))
			}
		}
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(a.SignedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(payload)
	return b.String()
}

// canonicalQuery decodes the query and writes each name and value escaped
// as SigV4 wants, sorted by name then value. A presigned request leaves out
// its own X-Amz-Signature.
func canonicalQuery(raw string, presigned bool) string {
	if raw == "" {
		return ""
	}
	q, _ := url.ParseQuery(raw)
	if presigned {
		delete(q, querySignature)
	}
	pairs := make([]string, 0, len(q))
	for k, vs := range q {
		ek := escape(k, false)
		for _, v := range vs {
			pairs = append(pairs, ek+"="+escape(v, false))
		}
	}
	// Sorting "k=v" strings orders by key, then value, except that '='
	// would sort against characters of a longer key; compare the parts.
	slices.SortFunc(pairs, func(x, y string) int {
		xk, xv, _ := strings.Cut(x, "=")
		yk, yv, _ := strings.Cut(y, "=")
		if c := strings.Compare(xk, yk); c != 0 {
			return c
		}
		return strings.Compare(xv, yv)
	})
	return strings.Join(pairs, "&")
}

// escape percent-encodes every byte but A-Z a-z 0-9 - . _ ~ (and '/' when
// keepSlash), with upper-case hex.
func escape(s string, keepSlash bool) string {
	const hexUpper = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '/' && keepSlash {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexUpper[c>>4])
		b.WriteByte(hexUpper[c&15])
	}
	return b.String()
}

func trimAll(v string) string {
	return strings.Join(strings.Fields(v), " ")
}

// signingKey derives the SigV4 signing key of a secret for one day, region
// and service.
func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, scopeTerm)
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
