package s3api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/google/go-cmp/cmp"
	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api/svc"
)

type response struct {
	status int
	header http.Header
	body   string
}

// mustSend signs req as the root of the test account and sends it.
func mustSend(tb testing.TB, req *http.Request) response {
	tb.Helper()
	return mustSendAs(tb, rootKey, req)
}

// mustSendAs signs req with the given access key (the body's hash in
// x-amz-content-sha256) and sends it.
func mustSendAs(tb testing.TB, key string, req *http.Request) response {
	tb.Helper()
	return mustSendPayload(tb, key, req, "")
}

// mustSendPayload signs req with x-amz-content-sha256 set to hash and
// sends it, streaming the body; with an empty hash it reads the body first
// and sends its hash.
func mustSendPayload(tb testing.TB, key string, req *http.Request, hash string) response {
	tb.Helper()
	if hash == "" {
		var body []byte
		if req.Body != nil {
			body, _ = io.ReadAll(req.Body)
			req.Body = io.NopCloser(bytes.NewReader(body))
			req.ContentLength = int64(len(body))
		}
		sum := sha256.Sum256(body)
		hash = hex.EncodeToString(sum[:])
	}
	req.Header.Set("X-Amz-Content-Sha256", hash)
	err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).
		SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}, req, hash, "s3", "us-east-1", time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// jsonEqual compares JSON documents by value.
var jsonEqual = cmp.Transformer("json", func(m json.RawMessage) any {
	if m == nil {
		return nil
	}
	var v any
	if err := json.Unmarshal(m, &v); err != nil {
		return "invalid JSON: " + string(m)
	}
	return v
})

// The records below follow the shapes of AWS's documented S3 records
// ("CloudTrail log file entries for Amazon S3" and "Logging data events"
// in the S3 user guide, and real trail records): the same keys in
// requestParameters, the resources list, and additionalEventData.
func TestRecords(t *testing.T) {
	f, srv, _ := mustServer(t)
	host := strings.TrimPrefix(srv.URL, "http://")
	bucketRes := func(owner string) []opentrail.Resource {
		return []opentrail.Resource{{AccountID: owner, Type: "AWS::S3::Bucket", ARN: "arn:aws:s3:::rec"}}
	}
	objectRes := func(key, owner string) []opentrail.Resource {
		return []opentrail.Resource{{Type: "AWS::S3::Object", ARN: "arn:aws:s3:::rec/" + key}, {AccountID: owner, Type: "AWS::S3::Bucket", ARN: "arn:aws:s3:::rec"}}
	}
	// extra is additionalEventData, with the byte counts and x-amz-id-2 of
	// the exchange.
	extra := func(in int, resp response, method string) json.RawMessage {
		return json.RawMessage(`{"SignatureVersion":"SigV4","bytesTransferredIn":` + strconv.Itoa(in) +
			`,"AuthenticationMethod":"` + method + `","x-amz-id-2":"` + resp.header.Get("x-amz-id-2") +
			`","bytesTransferredOut":` + strconv.Itoa(len(resp.body)) + `}`)
	}
	params := func(s string) json.RawMessage { return json.RawMessage(strings.ReplaceAll(s, "HOST", host)) }
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::rec/shared/*"}]}`
	createBody := `<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>`

	tests := []struct {
		name   string
		key    string // access key; root of the test account if empty
		method string
		target string
		header http.Header
		body   string
		status int
		want   func(resp response) svc.Record
	}{
		{"CreateBucket", "", "PUT", "/rec", nil, createBody, 200, func(resp response) svc.Record {
			return svc.Record{EventName: "CreateBucket", Resources: bucketRes(account),
				RequestParameters:   params(`{"CreateBucketConfiguration":{"LocationConstraint":"eu-west-1","xmlns":"http://s3.amazonaws.com/doc/2006-03-01/"},"bucketName":"rec","Host":"HOST"}`),
				AdditionalEventData: extra(len(createBody), resp, "AuthHeader")}
		}},
		{"CreateBucket again", "", "PUT", "/rec", nil, "", 409, func(resp response) svc.Record {
			return svc.Record{EventName: "CreateBucket", Resources: bucketRes(account),
				RequestParameters:   params(`{"bucketName":"rec","Host":"HOST"}`),
				AdditionalEventData: extra(0, resp, "AuthHeader"),
				Err:                 &opentrail.Error{Code: "BucketAlreadyOwnedByYou", Message: "Your previous request to create the named bucket succeeded and you already own it."}}
		}},
		{"ListBuckets", "", "GET", "/", nil, "", 200, func(resp response) svc.Record {
			return svc.Record{EventName: "ListBuckets", ReadOnly: true, RequestParameters: params(`{"Host":"HOST"}`), AdditionalEventData: extra(0, resp, "AuthHeader")}
		}},
		{"GetBucketLocation", "", "GET", "/rec?location", nil, "", 200, func(resp response) svc.Record {
			return svc.Record{EventName: "GetBucketLocation", ReadOnly: true, Resources: bucketRes(account),
				RequestParameters: params(`{"bucketName":"rec","location":"","Host":"HOST"}`), AdditionalEventData: extra(0, resp, "AuthHeader")}
		}},
		{"GetBucketPolicy none", "", "GET", "/rec?policy", nil, "", 404, func(resp response) svc.Record {
			return svc.Record{EventName: "GetBucketPolicy", ReadOnly: true, Resources: bucketRes(account),
				RequestParameters: params(`{"bucketName":"rec","Host":"HOST","policy":""}`), AdditionalEventData: extra(0, resp, "AuthHeader"),
				Err: &opentrail.Error{Code: "NoSuchBucketPolicy", Message: "The bucket policy does not exist"}}
		}},
		{"PutBucketPolicy", "", "PUT", "/rec?policy", nil, policy, 204, func(resp response) svc.Record {
			return svc.Record{EventName: "PutBucketPolicy", Resources: bucketRes(account),
				RequestParameters:   params(`{"bucketPolicy":` + policy + `,"bucketName":"rec","Host":"HOST","policy":""}`),
				AdditionalEventData: extra(len(policy), resp, "AuthHeader")}
		}},
		{"PutObject SSE", "", "PUT", "/rec/dir/k%20one.json", http.Header{"X-Amz-Server-Side-Encryption": {"AES256"}, "Content-Type": {"application/json"}}, `{"a":1}`, 200, func(resp response) svc.Record {
			return svc.Record{EventName: "PutObject", Data: true, Resources: objectRes("dir/k one.json", account),
				RequestParameters:   params(`{"bucketName":"rec","Host":"HOST","key":"dir/k one.json"}`),
				ResponseElements:    json.RawMessage(`{"x-amz-server-side-encryption":"AES256"}`),
				AdditionalEventData: extra(7, resp, "AuthHeader")}
		}},
		{"PutObject plain", "", "PUT", "/rec/shared/x", nil, "xyz", 200, func(resp response) svc.Record {
			return svc.Record{EventName: "PutObject", Data: true, Resources: objectRes("shared/x", account),
				RequestParameters: params(`{"bucketName":"rec","Host":"HOST","key":"shared/x"}`), AdditionalEventData: extra(3, resp, "AuthHeader")}
		}},
		{"GetObject", "", "GET", "/rec/dir/k%20one.json", nil, "", 200, func(resp response) svc.Record {
			return svc.Record{EventName: "GetObject", ReadOnly: true, Data: true, Resources: objectRes("dir/k one.json", account),
				RequestParameters: params(`{"bucketName":"rec","Host":"HOST","key":"dir/k one.json"}`), AdditionalEventData: extra(0, resp, "AuthHeader")}
		}},
		{"GetObject missing", "", "GET", "/rec/missing", nil, "", 404, func(resp response) svc.Record {
			return svc.Record{EventName: "GetObject", ReadOnly: true, Data: true, Resources: objectRes("missing", account),
				RequestParameters: params(`{"bucketName":"rec","Host":"HOST","key":"missing"}`), AdditionalEventData: extra(0, resp, "AuthHeader"),
				Err: &opentrail.Error{Code: "NoSuchKey", Message: "The specified key does not exist."}}
		}},
		{"HeadObject", "", "HEAD", "/rec/shared/x", nil, "", 200, func(resp response) svc.Record {
			return svc.Record{EventName: "HeadObject", ReadOnly: true, Data: true, Resources: objectRes("shared/x", account),
				RequestParameters: params(`{"bucketName":"rec","Host":"HOST","key":"shared/x"}`), AdditionalEventData: extra(0, resp, "AuthHeader")}
		}},
		{"ListObjectsV2", "", "GET", "/rec?list-type=2&prefix=&delimiter=%2F&encoding-type=url", nil, "", 200, func(resp response) svc.Record {
			return svc.Record{EventName: "ListObjects", ReadOnly: true, Data: true, Resources: bucketRes(account),
				RequestParameters:   params(`{"bucketName":"rec","Host":"HOST","delimiter":"/","encoding-type":"url","list-type":"2","prefix":""}`),
				AdditionalEventData: extra(0, resp, "AuthHeader")}
		}},
		{"GetObject by another account", otherKey, "GET", "/rec/dir/k%20one.json", nil, "", 403, func(resp response) svc.Record {
			return svc.Record{EventName: "GetObject", ReadOnly: true, Data: true, Resources: objectRes("dir/k one.json", ""),
				RequestParameters: params(`{"bucketName":"rec","Host":"HOST","key":"dir/k one.json"}`), AdditionalEventData: extra(0, resp, "AuthHeader"),
				Err: &opentrail.Error{Code: "AccessDenied", Message: "Access Denied"}}
		}},
		{"DeleteObject", "", "DELETE", "/rec/shared/x", nil, "", 204, func(resp response) svc.Record {
			return svc.Record{EventName: "DeleteObject", Data: true, Resources: objectRes("shared/x", account),
				RequestParameters: params(`{"bucketName":"rec","Host":"HOST","key":"shared/x"}`), AdditionalEventData: extra(0, resp, "AuthHeader")}
		}},
		{"GetBucketAcl", "", "GET", "/rec?acl", nil, "", 501, func(resp response) svc.Record {
			return svc.Record{EventName: "GetBucketAcl", ReadOnly: true, Resources: bucketRes(""),
				RequestParameters: params(`{"acl":"","bucketName":"rec","Host":"HOST"}`), AdditionalEventData: extra(0, resp, "AuthHeader"),
				Err: &opentrail.Error{Code: "NotImplemented", Message: "A header or query you provided implies functionality that is not implemented. opentrail does not implement GetBucketAcl."}}
		}},
		{"DeleteBucketPolicy", "", "DELETE", "/rec?policy", nil, "", 204, func(resp response) svc.Record {
			return svc.Record{EventName: "DeleteBucketPolicy", Resources: bucketRes(account),
				RequestParameters: params(`{"bucketName":"rec","Host":"HOST","policy":""}`), AdditionalEventData: extra(0, resp, "AuthHeader")}
		}},
		{"DeleteBucket not empty", "", "DELETE", "/rec", nil, "", 409, func(resp response) svc.Record {
			return svc.Record{EventName: "DeleteBucket", Resources: bucketRes(account),
				RequestParameters: params(`{"bucketName":"rec","Host":"HOST"}`), AdditionalEventData: extra(0, resp, "AuthHeader"),
				Err: &opentrail.Error{Code: "BucketNotEmpty", Message: "The bucket you tried to delete is not empty"}}
		}},
		{"HeadBucket missing", "", "HEAD", "/nothere", nil, "", 404, func(resp response) svc.Record {
			return svc.Record{EventName: "HeadBucket", ReadOnly: true, Resources: []opentrail.Resource{{Type: "AWS::S3::Bucket", ARN: "arn:aws:s3:::nothere"}},
				RequestParameters: params(`{"bucketName":"nothere","Host":"HOST"}`), AdditionalEventData: extra(0, resp, "AuthHeader"),
				Err: &opentrail.Error{Code: "NoSuchBucket", Message: "The specified bucket does not exist"}}
		}},
		{"unknown method", "", "PATCH", "/rec", nil, "", 405, func(resp response) svc.Record {
			return svc.Record{Resources: bucketRes(""), RequestParameters: params(`{"bucketName":"rec","Host":"HOST"}`),
				AdditionalEventData: extra(0, resp, "AuthHeader"),
				Err:                 &opentrail.Error{Code: "MethodNotAllowed", Message: "The specified method is not allowed against this resource."}}
		}},
	}
	for _, tt := range tests {
		var body io.Reader
		if tt.body != "" {
			body = strings.NewReader(tt.body)
		}
		req, err := http.NewRequest(tt.method, srv.URL+tt.target, body)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range tt.header {
			req.Header[k] = v
		}
		key := tt.key
		if key == "" {
			key = rootKey
		}
		resp := mustSendAs(t, key, req)
		if resp.status != tt.status {
			t.Errorf("%s: status %d, want %d (%s)", tt.name, resp.status, tt.status, resp.body)
		}
		got := f.last()
		if got.bytesOut != int64(len(resp.body)) {
			t.Errorf("%s: the front saw %d bytes out, the client %d", tt.name, got.bytesOut, len(resp.body))
		}
		if diff := cmp.Diff(tt.want(resp), got.rec, jsonEqual); diff != "" {
			t.Errorf("%s: record mismatch (-want +got):\n%s", tt.name, diff)
		}
		if id := resp.header.Get("x-amz-request-id"); !strings.HasPrefix(id, "OTREQ") || resp.header.Get("x-amz-id-2") == "" {
			t.Errorf("%s: x-amz-request-id %q, x-amz-id-2 %q", tt.name, id, resp.header.Get("x-amz-id-2"))
		}
		if tt.status >= 300 && tt.method != "HEAD" {
			var e struct {
				Code, Message, RequestId, HostId string
			}
			if err := xml.Unmarshal([]byte(resp.body), &e); err != nil || e.RequestId != resp.header.Get("x-amz-request-id") || e.HostId != resp.header.Get("x-amz-id-2") {
				t.Errorf("%s: error document %q (%v) does not carry the request's IDs", tt.name, resp.body, err)
			}
		}
		if tt.method == "HEAD" && resp.body != "" {
			t.Errorf("%s: HEAD response has a body", tt.name)
		}
	}

	// A presigned URL is recorded as QueryString.
	req, _ := http.NewRequest("GET", srv.URL+"/rec/dir/k%20one.json", nil)
	q := url.Values{"X-Amz-Content-Sha256": {"UNSIGNED-PAYLOAD"}, "X-Amz-Expires": {"900"}}
	req.URL.RawQuery = q.Encode()
	signed, _, err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).PresignHTTP(context.Background(),
		aws.Credentials{AccessKeyID: rootKey, SecretAccessKey: secret}, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(signed)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	var aed map[string]any
	json.Unmarshal(f.last().rec.AdditionalEventData, &aed)
	if resp.StatusCode != 200 || aed["AuthenticationMethod"] != "QueryString" {
		t.Errorf("presigned GET: status %d, AuthenticationMethod %v; want 200 QueryString", resp.StatusCode, aed["AuthenticationMethod"])
	}
}
