package sigv4_test

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"runtime/metrics"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/opentrail/opentrail/sigv4"
)

func FuzzParse(f *testing.F) {
	for _, c := range mustGoldenCases(f) {
		r := c.request(f)
		f.Add(r.Header.Get("Authorization"), r.Header.Get("X-Amz-Date"), r.Header.Get("Date"), r.URL.RawQuery)
	}
	for _, c := range sdkCases {
		r := c.request(f)
		f.Add(r.Header.Get("Authorization"), r.Header.Get("X-Amz-Date"), "", r.URL.RawQuery)
	}
	for _, s := range []string{
		"", "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA256 ", "AWS4-HMAC-SHA256 ,,,", "AWS4-HMAC-SHA256 Credential=",
		"AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, SignedHeaders=host, Signature=",
		"AWS4-HMAC-SHA256 Credential=////, SignedHeaders=;, Signature==",
		"AWS4-HMAC-SHA256\tCredential=x", "AWS AKID:sig", "Bearer token", "AWS4-HMAC-SHA256 Credential=\xff\xfe/20240517/r/s/aws4_request",
	} {
		f.Add(s, "20240517T083015Z", "", "")
	}
	f.Add("", "", "", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a%2F20240517%2Fr%2Fs%2Faws4_request&X-Amz-Date=20240517T083015Z&X-Amz-Expires=1&X-Amz-SignedHeaders=host&X-Amz-Signature=00")
	f.Add("", "", "Fri, 17 May 2024 08:30:15 GMT", "X-Amz-Algorithm=&X-Amz-Algorithm=x;y")

	f.Fuzz(func(t *testing.T, authz, amzDate, date, query string) {
		r := fuzzRequest(authz, amzDate, date, query)
		a, err := sigv4.Parse(r)
		if err != nil {
			if _, ok := err.(*sigv4.Error); !ok || a != nil {
				t.Fatalf("Parse() = %v, %#v; want nil, *sigv4.Error", a, err)
			}
			return
		}
		// Written back as a header and parsed again, the Auth is the same.
		want := *a
		if a.Presigned {
			want.Presigned, want.Expires, want.SecurityToken, want.PayloadHash = false, 0, "", ""
			amzDate, date = a.SigningTime.Format("20060102T150405Z"), ""
		}
		again, err := sigv4.Parse(fuzzRequest(a.Authorization(), amzDate, date, ""))
		if err != nil {
			t.Fatalf("Parse(%q) = %v after Parse accepted it", a.Authorization(), err)
		}
		if diff := cmp.Diff(&want, again); diff != "" {
			t.Fatalf("Parse(Authorization()) mismatch (-want +got):\n%s", diff)
		}
		// Verifying never panics, and fails as a mismatch: the secret is made up.
		err = sigv4.Verify(r, a, "fuzz-secret", "", a.SigningTime)
		if errorKind(err) != sigv4.KindSignatureMismatch {
			t.Fatalf("Verify() = %v, want KindSignatureMismatch", err)
		}
	})
}

func fuzzRequest(authz, amzDate, date, query string) *http.Request {
	r := &http.Request{
		Method:     "POST",
		URL:        &url.URL{Path: "/", RawQuery: query},
		Host:       "127.0.0.1:8080",
		Header:     http.Header{"Content-Type": {"application/x-amz-json-1.1"}},
		RequestURI: "/?" + query,
	}
	for k, v := range map[string]string{"Authorization": authz, "X-Amz-Date": amzDate, "Date": date} {
		if v != "" {
			r.Header[k] = []string{v}
		}
	}
	return r
}

func FuzzChunkedReader(f *testing.F) {
	modes := []string{sigv4.StreamingPayload, sigv4.StreamingPayloadTrailer, sigv4.StreamingUnsignedPayloadTrailer}
	// Small seeds keep the fuzzer's minimisation of new inputs quick.
	data := testData(300)
	f.Add(encodeSigned(chunkAuth(modes[0], testSeed), testCreds.SecretAccessKey, data, []int{100}, nil), uint8(0))
	f.Add(encodeSigned(chunkAuth(modes[1], testSeed), testCreds.SecretAccessKey, data, []int{100}, []string{"x-amz-checksum-crc32:" + crc32Base64(data)}), uint8(1))
	f.Add(encodeUnsigned(data, 128, []string{"x-amz-checksum-crc32:" + crc32Base64(data)}), uint8(2))
	f.Add([]byte("0\r\n\r\n"), uint8(2))
	f.Add([]byte("ffffff;chunk-signature=0000000000000000000000000000000000000000000000000000000000000000\r\nabc"), uint8(0))

	f.Fuzz(func(t *testing.T, body []byte, mode uint8) {
		a := chunkAuth(modes[int(mode)%len(modes)], testSeed)
		r := chunkRequest(body, "X-Amz-Trailer", "x-amz-checksum-crc32")
		before := allocatedBytes()
		cr, err := sigv4.NewChunkedReader(r, a, testCreds.SecretAccessKey)
		if err != nil {
			t.Fatalf("NewChunkedReader() = %v", err)
		}
		got, err := io.ReadAll(cr)
		allocated := allocatedBytes() - before
		var e *sigv4.Error
		if err != nil && !errors.As(err, &e) {
			t.Fatalf("read = %#v, want a *sigv4.Error", err)
		}
		if len(got) > len(body) {
			t.Fatalf("decoded %d bytes out of %d", len(got), len(body))
		}
		if err == nil && a.PayloadHash != sigv4.StreamingPayload && cr.Trailer().Get("X-Amz-Checksum-Crc32") == "" {
			t.Fatal("accepted a body without the checksum trailer x-amz-trailer names")
		}
		if limit := uint64(1<<20 + 4*len(body)); allocated > limit {
			t.Fatalf("decoding %d bytes allocated %d bytes, more than %d", len(body), allocated, limit)
		}
	})
}

// allocatedBytes returns the bytes allocated on the heap so far. Unlike
// runtime.ReadMemStats it does not stop the world, which would slow fuzzing
// tenfold; large allocations, the ones that matter here, count at once.
func allocatedBytes() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
