package sigv4_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/opentrail/opentrail/sigv4"
)

// ingestRequest is a PutAuditEvents request with a body of about 100 KB,
// signed by the AWS SDK signer, as a server receives it.
func ingestRequest(tb testing.TB, signUserAgent bool) (*http.Request, []byte) {
	tb.Helper()
	body := []byte(`{"auditEvents":[{"id":"1","eventData":"` + strings.Repeat("x", 100_000) + `"}]}`)
	req, _ := http.NewRequest("POST", "http://127.0.0.1:8080/PutAuditEvents?channelArn=arn%3Aaws%3Acloudtrail%3Aus-east-1%3A123456789012%3Achannel%2Fabc", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if signUserAgent {
		req.Header["user-agent"] = []string{"bench/1.0"} // signed: see TestSDKSignedForcedByHand
	}
	mustSign(tb, req, testCreds, sha256Hex(body), "cloudtrail-data", "us-east-1", testTime)
	if ua, ok := req.Header["user-agent"]; ok {
		delete(req.Header, "user-agent")
		req.Header["User-Agent"] = ua
	}
	return mustServerSide(tb, req), body
}

// BenchmarkVerify measures Verify alone on the ingest path: the body hash is
// computed once, outside the loop.
func BenchmarkVerify(b *testing.B) {
	r, body := ingestRequest(b, false)
	a := mustParse(b, r)
	payload := sha256Hex(body)
	b.ReportAllocs()
	for b.Loop() {
		if err := sigv4.Verify(r, a, testCreds.SecretAccessKey, payload, testTime); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyWithBody adds what the API front pays besides: parsing the
// header and hashing the 100 KB body.
func BenchmarkVerifyWithBody(b *testing.B) {
	r, body := ingestRequest(b, false)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		a, err := sigv4.Parse(r)
		if err != nil {
			b.Fatal(err)
		}
		if err := sigv4.Verify(r, a, testCreds.SecretAccessKey, sha256Hex(body), testTime); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyByHand measures a request the SDK signer cannot reproduce.
func BenchmarkVerifyByHand(b *testing.B) {
	r, body := ingestRequest(b, true)
	a := mustParse(b, r)
	payload := sha256Hex(body)
	b.ReportAllocs()
	for b.Loop() {
		if err := sigv4.Verify(r, a, testCreds.SecretAccessKey, payload, testTime); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	r, _ := ingestRequest(b, false)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sigv4.Parse(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChunkedReader decodes a signed 1 MiB upload in 64 KiB chunks.
func BenchmarkChunkedReader(b *testing.B) {
	data := testData(1 << 20)
	a := chunkAuth(sigv4.StreamingPayload, testSeed)
	body := encodeSigned(a, testCreds.SecretAccessKey, data, repeat(65536, len(data)/65536), nil)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		cr, err := sigv4.NewChunkedReader(chunkRequest(body), a, testCreds.SecretAccessKey)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, cr); err != nil {
			b.Fatal(err)
		}
	}
}

func repeat(n, count int) []int {
	s := make([]int, count)
	for i := range s {
		s[i] = n
	}
	return s
}
