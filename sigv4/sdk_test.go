package sigv4_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudtraildata"
	ctdtypes "github.com/aws/aws-sdk-go-v2/service/cloudtraildata/types"
	"github.com/google/go-cmp/cmp"

	"github.com/opentrail/opentrail/sigv4"
)

// sdkCase is a request signed in the test by the AWS SDK for Go's signer.
type sdkCase struct {
	name    string
	method  string
	url     string // escaped as the client sends it
	headers map[string][]string
	body    string
	service string
	region  string
	creds   aws.Credentials
	payload string        // the value signed for the body; "" means its hash
	presign time.Duration // presigned with this X-Amz-Expires when non-zero
}

var sdkCases = []sdkCase{
	{
		name:   "cloudtrail awsJson",
		method: "POST", url: "http://127.0.0.1:8080/",
		headers: map[string][]string{
			"Content-Type": {"application/x-amz-json-1.1"},
			"X-Amz-Target": {"CloudTrail_20131101.LookupEvents"},
		},
		body:    `{"MaxResults":5}`,
		service: "cloudtrail", region: "us-east-1", creds: testCreds,
	},
	{
		name:   "cloudtrail session token",
		method: "POST", url: "https://cloudtrail.eu-central-1.amazonaws.com/",
		headers: map[string][]string{
			"Content-Type": {"application/x-amz-json-1.1"},
			"X-Amz-Target": {"com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.DescribeTrails"},
		},
		body:    `{}`,
		service: "cloudtrail", region: "eu-central-1", creds: testSessionCreds,
	},
	{
		name:    "cloudtrail-data restJson with query",
		method:  "POST",
		url:     "http://localhost:4566/PutAuditEvents?channelArn=arn%3Aaws%3Acloudtrail%3Aus-east-1%3A123456789012%3Achannel%2Fabc&externalId=x%2By",
		headers: map[string][]string{"Content-Type": {"application/json"}},
		body:    `{"auditEvents":[{"id":"1","eventData":"{}"}]}`,
		service: "cloudtrail-data", region: "us-east-1", creds: testCreds,
	},
	{
		name:    "empty body",
		method:  "POST",
		url:     "http://127.0.0.1:8080/",
		headers: map[string][]string{"X-Amz-Target": {"CloudTrail_20131101.ListTrails"}},
		service: "cloudtrail", region: "us-west-2", creds: testCreds,
	},
	{
		name:    "repeated and empty query values",
		method:  "GET",
		url:     "http://127.0.0.1:8080/?b=2&a=1&a=0&empty=&bare&a%20b=c%20d&sl=%2F&t=~",
		service: "logs", region: "ap-south-1", creds: testCreds,
	},
	{
		name:   "headers with runs of spaces and several values",
		method: "POST", url: "http://127.0.0.1:8080/",
		headers: map[string][]string{
			"X-Amz-Target": {"Logs_20140328.PutLogEvents"},
			"X-Amz-Meta-A": {"one   two", "three"},
			"X-Custom":     {"  padded  "},
		},
		body:    `{"logGroupName":"g"}`,
		service: "logs", region: "us-east-1", creds: testCreds,
	},
	{
		name:    "s3 put key with space plus percent unicode equals",
		method:  "PUT",
		url:     "http://127.0.0.1:9000/bucket/AWSLogs/a%20b%2Bc%25d%3De/%C3%A9%E2%82%AC.json.gz",
		headers: map[string][]string{"Content-Type": {"application/octet-stream"}, "X-Amz-Meta-Origin": {"test"}},
		body:    "object data\n",
		service: "s3", region: "us-east-1", creds: testCreds,
	},
	{
		name:    "s3 get key with encoded slash and dot segments",
		method:  "GET",
		url:     "http://127.0.0.1:9000/bucket/a%2Fb/../c/./d%20e",
		headers: map[string][]string{"Range": {"bytes=0-99"}},
		service: "s3", region: "us-east-1", creds: testCreds,
	},
	{
		name:    "s3 unsigned payload",
		method:  "PUT",
		url:     "http://127.0.0.1:9000/bucket/key%20with%20spaces",
		body:    "not covered by the signature",
		service: "s3", region: "eu-west-1", creds: testSessionCreds, payload: sigv4.UnsignedPayload,
	},
	{
		name:    "s3 list with query",
		method:  "GET",
		url:     "http://127.0.0.1:9000/bucket?list-type=2&prefix=AWSLogs%2F123%2Fa%20b&delimiter=%2F&start-after=",
		service: "s3", region: "us-east-1", creds: testCreds,
	},
	{
		name:    "s3 presigned get",
		method:  "GET",
		url:     "http://127.0.0.1:9000/bucket/logs/a%20b%2Bc%3D%C3%A9.json",
		service: "s3", region: "us-east-1", creds: testCreds, payload: sigv4.UnsignedPayload,
		presign: 15 * time.Minute,
	},
	{
		name:    "s3 presigned get with session token",
		method:  "GET",
		url:     "http://127.0.0.1:9000/bucket/digest%2Ffile.json?versionId=3",
		service: "s3", region: "us-east-2", creds: testSessionCreds, payload: sigv4.UnsignedPayload,
		presign: time.Hour,
	},
	{
		name:    "sts presigned get",
		method:  "GET",
		url:     "http://127.0.0.1:8080/?Action=GetCallerIdentity&Version=2011-06-15",
		headers: map[string][]string{"X-K8s-Aws-Id": {"cluster"}},
		service: "sts", region: "us-east-1", creds: testCreds,
		presign: time.Minute,
	},
}

// request builds the client's request as the SDK would send it, signed.
func (c sdkCase) request(tb testing.TB) *http.Request {
	tb.Helper()
	req, err := http.NewRequest(c.method, c.url, strings.NewReader(c.body))
	if err != nil {
		tb.Fatal(err)
	}
	if c.body == "" {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	for k, vs := range c.headers {
		req.Header[k] = vs
	}
	payload := c.payload
	if payload == "" {
		payload = sha256Hex([]byte(c.body))
	}
	if c.service == "s3" && c.presign == 0 {
		req.Header.Set("X-Amz-Content-Sha256", payload) // as the S3 client does
	}
	if c.presign != 0 {
		return mustPresign(tb, req, c.creds, payload, c.service, c.region, testTime, c.presign)
	}
	mustSign(tb, req, c.creds, payload, c.service, c.region, testTime)
	return req
}

func TestSDKSigned(t *testing.T) {
	for _, c := range sdkCases {
		t.Run(c.name, func(t *testing.T) {
			r := mustServerSide(t, c.request(t))
			a := mustParse(t, r)
			got := authSummary{a.AccessKeyID, a.Service, a.Region, a.SigningTime, a.Presigned, a.Expires, a.SecurityToken}
			want := authSummary{c.creds.AccessKeyID, c.service, c.region, testTime, c.presign != 0, c.presign, c.creds.SessionToken}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Parse() mismatch (-want +got):\n%s", diff)
			}
			payload := payloadFor(t, r, a)
			if err := sigv4.Verify(r, a, c.creds.SecretAccessKey, payload, testTime); err != nil {
				t.Fatalf("Verify() = %v, want nil", err)
			}
			// The two ways of computing the signature agree.
			if a.PayloadHash != "" && !strings.HasPrefix(a.PayloadHash, "UNSIGNED") {
				payload = a.PayloadHash
			}
			sdk, ok := sigv4.SignatureBySDK(r, a, c.creds.SecretAccessKey, payload)
			if !ok {
				t.Fatal("SignatureBySDK() does not apply to a request the SDK signed")
			}
			if hand := sigv4.SignatureByHand(r, a, c.creds.SecretAccessKey, payload); sdk != a.Signature || hand != a.Signature {
				t.Errorf("SignatureBySDK() = %s, SignatureByHand() = %s, want %s", sdk, hand, a.Signature)
			}
			if err := sigv4.Verify(r, a, c.creds.SecretAccessKey+"x", payload, testTime); errorKind(err) != sigv4.KindSignatureMismatch {
				t.Errorf("Verify(wrong secret) = %v, want KindSignatureMismatch", err)
			}
		})
	}
}

// TestSDKSignedForcedByHand makes the SDK signer inapplicable by signing a
// header it never signs, and checks the hand path alone verifies the request.
func TestSDKSignedForcedByHand(t *testing.T) {
	for _, c := range sdkCases {
		if c.presign != 0 {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			req := c.request(t)
			// A signer that knows no exclusions: the same request with
			// user-agent signed too. The SDK signer skips only the canonical
			// "User-Agent" key, so a lower-case key slips through; the wire
			// sends it as User-Agent.
			req.Header.Del("Authorization")
			req.Header["user-agent"] = []string{"opentrail-test/1.0"}
			payload := req.Header.Get("X-Amz-Content-Sha256")
			if payload == "" {
				payload = sha256Hex([]byte(c.body))
			}
			mustSign(t, req, c.creds, payload, c.service, c.region, testTime)
			ua := req.Header["user-agent"]
			delete(req.Header, "user-agent")
			req.Header["User-Agent"] = ua
			r := mustServerSide(t, req)
			a := mustParse(t, r)
			if !contains(a.SignedHeaders, "user-agent") {
				t.Fatalf("SignedHeaders = %q, want user-agent among them", a.SignedHeaders)
			}
			if _, ok := sigv4.SignatureBySDK(r, a, c.creds.SecretAccessKey, payloadFor(t, r, a)); ok {
				t.Error("SignatureBySDK() applies to a request with user-agent signed")
			}
			if err := sigv4.Verify(r, a, c.creds.SecretAccessKey, payloadFor(t, r, a), testTime); err != nil {
				t.Fatalf("Verify() = %v, want nil", err)
			}
			r.Header.Set("User-Agent", "changed")
			if err := sigv4.Verify(r, a, c.creds.SecretAccessKey, payloadFor(t, r, a), testTime); errorKind(err) != sigv4.KindSignatureMismatch {
				t.Errorf("Verify(signed user-agent changed) = %v, want KindSignatureMismatch", err)
			}
		})
	}
}

// TestSecretChange checks that a new secret for the same access key takes
// effect at once, although the SDK signer caches derived keys by access key.
func TestSecretChange(t *testing.T) {
	c := sdkCases[0]
	old := c.creds
	renewed := old
	renewed.SecretAccessKey = "renewed/" + old.SecretAccessKey[8:]
	verify := func(signedWith, serverHas aws.Credentials) error {
		c := c
		c.creds = signedWith
		r := mustServerSide(t, c.request(t))
		a := mustParse(t, r)
		return sigv4.Verify(r, a, serverHas.SecretAccessKey, payloadFor(t, r, a), testTime)
	}
	if err := verify(old, old); err != nil {
		t.Fatalf("Verify(old secret) = %v, want nil", err)
	}
	if err := verify(old, renewed); errorKind(err) != sigv4.KindSignatureMismatch {
		t.Errorf("Verify(signed with the old secret after renewal) = %v, want KindSignatureMismatch", err)
	}
	if err := verify(renewed, renewed); err != nil {
		t.Errorf("Verify(renewed secret) = %v, want nil", err)
	}
	if err := verify(renewed, old); errorKind(err) != sigv4.KindSignatureMismatch {
		t.Errorf("Verify(signed with the renewed secret, server has the old) = %v, want KindSignatureMismatch", err)
	}
}

// verifyingServer starts a server that verifies every request with the
// secret of its access key and answers like the AWS JSON protocols.
func verifyingServer(t *testing.T, secrets map[string]string, reply string) (*httptest.Server, *[]*sigv4.Auth) {
	t.Helper()
	var seen []*sigv4.Auth
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail := func(err error) {
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"__type": "InvalidSignatureException", "message": err.Error()})
		}
		a, err := sigv4.Parse(r)
		if err != nil {
			fail(err)
			return
		}
		secret, ok := secrets[a.AccessKeyID]
		if !ok {
			fail(sigv4.UnknownKeyError())
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			fail(err)
			return
		}
		if err := sigv4.Verify(r, a, secret, sha256Hex(body), time.Now()); err != nil {
			fail(err)
			return
		}
		seen = append(seen, a)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		io.WriteString(w, reply)
	}))
	t.Cleanup(srv.Close)
	return srv, &seen
}

func staticCredentials(c aws.Credentials) aws.CredentialsProviderFunc {
	return func(context.Context) (aws.Credentials, error) { return c, nil }
}

// TestCloudTrailClient sends requests from the real AWS SDK for Go
// CloudTrail clients to a server that verifies them.
func TestCloudTrailClient(t *testing.T) {
	secrets := map[string]string{
		testCreds.AccessKeyID:        testCreds.SecretAccessKey,
		testSessionCreds.AccessKeyID: testSessionCreds.SecretAccessKey,
	}
	ctx := context.Background()
	for _, creds := range []aws.Credentials{testCreds, testSessionCreds} {
		t.Run("cloudtrail/"+creds.AccessKeyID, func(t *testing.T) {
			srv, seen := verifyingServer(t, secrets, `{}`)
			client := cloudtrail.New(cloudtrail.Options{
				Region:           "eu-north-1",
				BaseEndpoint:     aws.String(srv.URL),
				Credentials:      staticCredentials(creds),
				HTTPClient:       srv.Client(),
				RetryMaxAttempts: 1,
			})
			if _, err := client.DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{TrailNameList: []string{"a b", "ü"}}); err != nil {
				t.Fatalf("DescribeTrails: %v", err)
			}
			if _, err := client.LookupEvents(ctx, &cloudtrail.LookupEventsInput{
				LookupAttributes: []cttypes.LookupAttribute{{AttributeKey: cttypes.LookupAttributeKeyEventName, AttributeValue: aws.String("CreateTrail")}},
			}); err != nil {
				t.Fatalf("LookupEvents: %v", err)
			}
			for _, a := range *seen {
				if a.Service != "cloudtrail" || a.Region != "eu-north-1" || a.SecurityToken != creds.SessionToken {
					t.Errorf("Parse() = service %q region %q token %q", a.Service, a.Region, a.SecurityToken)
				}
			}
		})
	}
	t.Run("cloudtrail-data", func(t *testing.T) {
		srv, seen := verifyingServer(t, secrets, `{"successful":[],"failed":[]}`)
		client := cloudtraildata.New(cloudtraildata.Options{
			Region:           "us-east-1",
			BaseEndpoint:     aws.String(srv.URL),
			Credentials:      staticCredentials(testCreds),
			HTTPClient:       srv.Client(),
			RetryMaxAttempts: 1,
		})
		_, err := client.PutAuditEvents(ctx, &cloudtraildata.PutAuditEventsInput{
			ChannelArn: aws.String("arn:aws:cloudtrail:us-east-1:123456789012:channel/01234567-0123-0123-0123-0123456789ab"),
			ExternalId: aws.String("ext+id=1"),
			AuditEvents: []ctdtypes.AuditEvent{{
				Id:        aws.String("event-1"),
				EventData: aws.String(`{"version":"1.0","eventName":"Ünïcode & spaces"}`),
			}},
		})
		if err != nil {
			t.Fatalf("PutAuditEvents: %v", err)
		}
		if len(*seen) != 1 || (*seen)[0].Service != "cloudtrail-data" {
			t.Errorf("server saw %d requests, want one for cloudtrail-data", len(*seen))
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		srv, _ := verifyingServer(t, map[string]string{testCreds.AccessKeyID: "not-the-secret"}, `{}`)
		client := cloudtrail.New(cloudtrail.Options{
			Region:           "us-east-1",
			BaseEndpoint:     aws.String(srv.URL),
			Credentials:      staticCredentials(testCreds),
			HTTPClient:       srv.Client(),
			RetryMaxAttempts: 1,
		})
		_, err := client.ListTrails(ctx, &cloudtrail.ListTrailsInput{})
		if err == nil || !strings.Contains(err.Error(), "InvalidSignatureException") {
			t.Errorf("ListTrails with a wrong secret = %v, want InvalidSignatureException", err)
		}
	})
}
