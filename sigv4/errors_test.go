package sigv4_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opentrail/opentrail/sigv4"
)

const (
	goodCredential = "Credential=AKIDOPENTRAILTEST001/20240517/us-east-1/cloudtrail/aws4_request"
	goodSigned     = "SignedHeaders=content-type;host;x-amz-date"
	goodSignature  = "Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

func TestParseErrors(t *testing.T) {
	authz := func(parts ...string) string { return "AWS4-HMAC-SHA256 " + strings.Join(parts, ", ") }
	for _, tc := range []struct {
		name    string
		target  string
		headers map[string]string
		want    *sigv4.Error
	}{
		{
			name: "no authentication",
			want: &sigv4.Error{Kind: sigv4.KindMissing, Message: "Missing Authentication Token"},
		},
		{
			name:    "empty authorization",
			headers: map[string]string{"Authorization": ""},
			want:    &sigv4.Error{Kind: sigv4.KindMissing, Message: "Missing Authentication Token"},
		},
		{
			name:    "missing signature",
			headers: map[string]string{"Authorization": authz(goodCredential, goodSigned)},
			want: &sigv4.Error{Kind: sigv4.KindIncomplete, Message: "Authorization header requires 'Signature' parameter. Authorization=" +
				authz(goodCredential, goodSigned)},
		},
		{
			name:    "missing credential",
			headers: map[string]string{"Authorization": authz(goodSigned, goodSignature)},
			want: &sigv4.Error{Kind: sigv4.KindIncomplete, Message: "Authorization header requires 'Credential' parameter. Authorization=" +
				authz(goodSigned, goodSignature)},
		},
		{
			name:    "missing signed headers",
			headers: map[string]string{"Authorization": authz(goodCredential, goodSignature)},
			want: &sigv4.Error{Kind: sigv4.KindIncomplete, Message: "Authorization header requires 'SignedHeaders' parameter. Authorization=" +
				authz(goodCredential, goodSignature)},
		},
		{
			name:    "missing everything",
			headers: map[string]string{"Authorization": "AWS4-HMAC-SHA256 ", "X-Amz-Date": ""},
			want: &sigv4.Error{Kind: sigv4.KindIncomplete, Message: "Authorization header requires 'Credential' parameter. " +
				"Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. " +
				"Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256 "},
		},
		{
			name:    "wrong scope terminator",
			headers: map[string]string{"Authorization": authz("Credential=AKIDOPENTRAILTEST001/20240517/us-east-1/cloudtrail/aws5_request", goodSigned, goodSignature)},
			want: &sigv4.Error{Kind: sigv4.KindIncomplete, Message: "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'. Authorization=" +
				authz("Credential=AKIDOPENTRAILTEST001/20240517/us-east-1/cloudtrail/aws5_request", goodSigned, goodSignature)},
		},
		{
			name:    "short credential",
			headers: map[string]string{"Authorization": authz("Credential=AKIDOPENTRAILTEST001/20240517/us-east-1", goodSigned, goodSignature)},
			want: &sigv4.Error{Kind: sigv4.KindIncomplete, Message: "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'AKIDOPENTRAILTEST001/20240517/us-east-1'. Authorization=" +
				authz("Credential=AKIDOPENTRAILTEST001/20240517/us-east-1", goodSigned, goodSignature)},
		},
		{
			name:    "scope day is not the signing day",
			headers: map[string]string{"Authorization": authz("Credential=AKIDOPENTRAILTEST001/20240516/us-east-1/cloudtrail/aws4_request", goodSigned, goodSignature)},
			want: &sigv4.Error{Kind: sigv4.KindIncomplete, Message: "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20240516' != '20240517', from '20240517T083015Z'. Authorization=" +
				authz("Credential=AKIDOPENTRAILTEST001/20240516/us-east-1/cloudtrail/aws4_request", goodSigned, goodSignature)},
		},
		{
			name:    "host not signed",
			headers: map[string]string{"Authorization": authz(goodCredential, "SignedHeaders=content-type;x-amz-date", goodSignature)},
			want: &sigv4.Error{Kind: sigv4.KindIncomplete, Message: "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization. Authorization=" +
				authz(goodCredential, "SignedHeaders=content-type;x-amz-date", goodSignature)},
		},
		{
			name:    "upper-case signed header",
			headers: map[string]string{"Authorization": authz(goodCredential, "SignedHeaders=Host;x-amz-date", goodSignature)},
			want: &sigv4.Error{Kind: sigv4.KindIncomplete, Message: "SignedHeaders must be a ';'-separated list of lower-case header names, got 'Host;x-amz-date'. Authorization=" +
				authz(goodCredential, "SignedHeaders=Host;x-amz-date", goodSignature)},
		},
		{
			name:    "bad date",
			headers: map[string]string{"Authorization": authz(goodCredential, goodSigned, goodSignature), "X-Amz-Date": "2024-05-17T08:30:15Z"},
			want:    &sigv4.Error{Kind: sigv4.KindIncomplete, Message: "Date must be in ISO-8601 'basic format'. Got '2024-05-17T08:30:15Z'. See http://en.wikipedia.org/wiki/ISO_8601"},
		},
		{
			name:    "unsupported algorithm",
			headers: map[string]string{"Authorization": "AWS AKIDOPENTRAILTEST001:c2lnbmF0dXJl"},
			want:    &sigv4.Error{Kind: sigv4.KindIncomplete, Message: "Unsupported AWS 'algorithm': 'AWS'. Only AWS4-HMAC-SHA256 is supported. Authorization=AWS AKIDOPENTRAILTEST001:c2lnbmF0dXJl"},
		},
		{
			name:    "component without equal sign",
			headers: map[string]string{"Authorization": authz(goodCredential, "SignedHeaders", goodSignature)},
			want: &sigv4.Error{Kind: sigv4.KindIncomplete, Message: "Invalid key=value pair (missing equal-sign) in Authorization header: 'SignedHeaders'. Authorization=" +
				authz(goodCredential, "SignedHeaders", goodSignature)},
		},
		{
			name:    "short signature",
			headers: map[string]string{"Authorization": authz(goodCredential, goodSigned, "Signature=abc")},
			want: &sigv4.Error{Kind: sigv4.KindIncomplete, Message: "Signature must be 64 lower-case hexadecimal characters, got 'abc'. Authorization=" +
				authz(goodCredential, goodSigned, "Signature=abc")},
		},
		{
			name:    "header and query",
			target:  "/?X-Amz-Algorithm=AWS4-HMAC-SHA256",
			headers: map[string]string{"Authorization": authz(goodCredential, goodSigned, goodSignature)},
			want:    &sigv4.Error{Kind: sigv4.KindIncomplete, Message: "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified."},
		},
		{
			name:   "presign without expires",
			target: "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDOPENTRAILTEST001%2F20240517%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20240517T083015Z&X-Amz-SignedHeaders=host&X-Amz-Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			want:   &sigv4.Error{Kind: sigv4.KindIncomplete, Message: "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."},
		},
		{
			name:   "presign for more than a week",
			target: "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDOPENTRAILTEST001%2F20240517%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20240517T083015Z&X-Amz-Expires=604801&X-Amz-SignedHeaders=host&X-Amz-Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			want:   &sigv4.Error{Kind: sigv4.KindIncomplete, Message: "X-Amz-Expires must be less than a week (in seconds) that is 604800."},
		},
		{
			name:   "presign with another algorithm",
			target: "/?X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256&X-Amz-Credential=AKIDOPENTRAILTEST001%2F20240517%2Fs3%2Faws4_request&X-Amz-Date=20240517T083015Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00",
			want:   &sigv4.Error{Kind: sigv4.KindIncomplete, Message: "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"."},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := tc.target
			if target == "" {
				target = "/"
			}
			r := httptest.NewRequest("POST", "http://127.0.0.1:8080"+target, nil)
			r.Header.Set("X-Amz-Date", "20240517T083015Z")
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			if v, ok := tc.headers["X-Amz-Date"]; ok && v == "" {
				r.Header.Del("X-Amz-Date")
			}
			a, err := sigv4.Parse(r)
			if a != nil {
				t.Errorf("Parse() = %+v, want nil", a)
			}
			e, ok := err.(*sigv4.Error)
			if !ok {
				t.Fatalf("Parse() error = %#v, want *sigv4.Error", err)
			}
			if diff := cmp.Diff(tc.want, e); diff != "" {
				t.Errorf("Parse() error mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVerifyClock(t *testing.T) {
	const iso = "20060102T150405Z"
	ts := testTime.Format(iso)
	for _, tc := range []struct {
		name string
		now  time.Time
		want *sigv4.Error
	}{
		{name: "on time", now: testTime},
		{name: "14 minutes later", now: testTime.Add(14 * time.Minute)},
		{name: "14 minutes earlier", now: testTime.Add(-14 * time.Minute)},
		{name: "15 minutes later", now: testTime.Add(15 * time.Minute)},
		{
			name: "16 minutes later",
			now:  testTime.Add(16 * time.Minute),
			want: &sigv4.Error{Kind: sigv4.KindExpired, Message: "Signature expired: " + ts + " is now earlier than " +
				testTime.Add(time.Minute).Format(iso) + " (" + testTime.Add(16*time.Minute).Format(iso) + " - 15 min.)"},
		},
		{
			name: "16 minutes earlier",
			now:  testTime.Add(-16 * time.Minute),
			want: &sigv4.Error{Kind: sigv4.KindExpired, Message: "Signature not yet current: " + ts + " is still later than " +
				testTime.Add(-time.Minute).Format(iso) + " (" + testTime.Add(-16*time.Minute).Format(iso) + " + 15 min.)"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustServerSide(t, sdkCases[0].request(t))
			a := mustParse(t, r)
			err := sigv4.Verify(r, a, testCreds.SecretAccessKey, payloadFor(t, r, a), tc.now)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify() = %v, want nil", err)
				}
				return
			}
			if diff := cmp.Diff(tc.want, err); diff != "" {
				t.Errorf("Verify() error mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVerifyPresignExpiry(t *testing.T) {
	c := sdkCases[len(sdkCases)-1] // sts presigned for one minute
	for _, tc := range []struct {
		name string
		now  time.Time
		want sigv4.Kind
	}{
		{name: "fresh", now: testTime},
		{name: "just before expiry", now: testTime.Add(59 * time.Second)},
		{name: "at expiry", now: testTime.Add(60 * time.Second)},
		{name: "expired", now: testTime.Add(61 * time.Second), want: sigv4.KindExpired},
		{name: "a day later", now: testTime.Add(24 * time.Hour), want: sigv4.KindExpired},
		{name: "signed 14 minutes ahead", now: testTime.Add(-14 * time.Minute)},
		{name: "signed 16 minutes ahead", now: testTime.Add(-16 * time.Minute), want: sigv4.KindExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustServerSide(t, c.request(t))
			a := mustParse(t, r)
			err := sigv4.Verify(r, a, c.creds.SecretAccessKey, payloadFor(t, r, a), tc.now)
			if got := errorKind(err); got != tc.want || (err != nil && got == 0) {
				t.Errorf("Verify() = %v, want Kind %v", err, tc.want)
			}
		})
	}
	r := mustServerSide(t, c.request(t))
	a := mustParse(t, r)
	err := sigv4.Verify(r, a, c.creds.SecretAccessKey, payloadFor(t, r, a), testTime.Add(2*time.Minute))
	want := &sigv4.Error{Kind: sigv4.KindExpired, Message: "Request has expired: X-Amz-Date 20240517T083015Z plus X-Amz-Expires 60 is earlier than 20240517T083215Z."}
	if diff := cmp.Diff(want, err); diff != "" {
		t.Errorf("Verify() error mismatch (-want +got):\n%s", diff)
	}
}

func TestVerifyPayload(t *testing.T) {
	// An S3 PUT whose x-amz-content-sha256 is signed: the signature holds,
	// the body does not match it.
	c := sdkCases[6]
	r := mustServerSide(t, c.request(t))
	a := mustParse(t, r)
	body := mustBody(t, r)
	if err := sigv4.Verify(r, a, c.creds.SecretAccessKey, sha256Hex(body), testTime); err != nil {
		t.Fatalf("Verify() = %v, want nil", err)
	}
	body[0] ^= 0xff
	err := sigv4.Verify(r, a, c.creds.SecretAccessKey, sha256Hex(body), testTime)
	want := &sigv4.Error{Kind: sigv4.KindPayloadMismatch, Message: "The provided 'x-amz-content-sha256' header does not match what was computed."}
	if diff := cmp.Diff(want, err); diff != "" {
		t.Errorf("Verify(tampered body) mismatch (-want +got):\n%s", diff)
	}

	// Streamed: the signature is checked against the claim before the body
	// is read, the body against the claim after.
	if err := sigv4.Verify(r, a, c.creds.SecretAccessKey, a.PayloadHash, testTime); err != nil {
		t.Fatalf("Verify(claimed hash) = %v, want nil", err)
	}
	if diff := cmp.Diff(want, a.CheckPayload(sha256Hex(body))); diff != "" {
		t.Errorf("CheckPayload(tampered body) mismatch (-want +got):\n%s", diff)
	}
	body[0] ^= 0xff
	if err := a.CheckPayload(strings.ToUpper(sha256Hex(body))); err != nil {
		t.Errorf("CheckPayload(body hash in upper case) = %v, want nil", err)
	}

	// Without a claimed hash, a changed body changes the signature.
	c = sdkCases[0]
	r = mustServerSide(t, c.request(t))
	a = mustParse(t, r)
	err = sigv4.Verify(r, a, c.creds.SecretAccessKey, sha256Hex([]byte(`{"MaxResults":6}`)), testTime)
	want = &sigv4.Error{Kind: sigv4.KindSignatureMismatch, Message: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}
	if diff := cmp.Diff(want, err); diff != "" {
		t.Errorf("Verify(tampered body) mismatch (-want +got):\n%s", diff)
	}
}

// TestUnsignedPayloadOnlyForS3 checks that a client cannot leave the body
// out of the signature of a service other than S3.
func TestUnsignedPayloadOnlyForS3(t *testing.T) {
	req, _ := http.NewRequest("POST", "http://127.0.0.1:8080/", strings.NewReader(`{"MaxResults":5}`))
	req.Header.Set("X-Amz-Target", "CloudTrail_20131101.LookupEvents")
	req.Header.Set("X-Amz-Content-Sha256", sigv4.UnsignedPayload)
	mustSign(t, req, testCreds, sigv4.UnsignedPayload, "cloudtrail", "us-east-1", testTime)
	r := mustServerSide(t, req)
	a := mustParse(t, r)
	if lit, ok := a.PayloadLiteral(); ok {
		t.Fatalf("PayloadLiteral() = %q, true; want false for cloudtrail", lit)
	}
	err := sigv4.Verify(r, a, testCreds.SecretAccessKey, payloadFor(t, r, a), testTime)
	if errorKind(err) != sigv4.KindSignatureMismatch {
		t.Errorf("Verify() = %v, want KindSignatureMismatch", err)
	}
}

func TestErrorString(t *testing.T) {
	err := sigv4.UnknownKeyError()
	if got, want := err.Error(), "sigv4: UnknownKey: The security token included in the request is invalid."; got != want {
		t.Errorf("UnknownKeyError().Error() = %q, want %q", got, want)
	}
	if got, want := sigv4.Kind(99).String(), "Kind(99)"; got != want {
		t.Errorf("Kind(99).String() = %q, want %q", got, want)
	}
}

// TestVerifyConcurrent verifies requests of several keys, services and
// secrets at once, sharing the signer's cache of derived keys.
func TestVerifyConcurrent(t *testing.T) {
	type job struct {
		r       *http.Request
		a       *sigv4.Auth
		secret  string
		payload string
		want    sigv4.Kind
	}
	var jobs []job
	for _, c := range sdkCases {
		r := mustServerSide(t, c.request(t))
		a := mustParse(t, r)
		payload := payloadFor(t, r, a)
		jobs = append(jobs, job{r, a, c.creds.SecretAccessKey, payload, 0},
			job{r, a, c.creds.SecretAccessKey + "!", payload, sigv4.KindSignatureMismatch})
	}
	done := make(chan error)
	for w := range 8 {
		go func() {
			for i := range 200 {
				j := jobs[(i+w)%len(jobs)]
				err := sigv4.Verify(j.r, j.a, j.secret, j.payload, testTime)
				if errorKind(err) != j.want && !(j.want == 0 && err == nil) {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
