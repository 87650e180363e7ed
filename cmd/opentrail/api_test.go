package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/opentrail/opentrail/api/ctapi"
)

type rawResponse struct {
	status  int
	code    string
	message string
	body    string
	reqID   string
}

// rawCall sends a CloudTrail request built by hand, signed (when secret is
// not empty) with the SDK's signer at the given time.
func rawCall(tb testing.TB, url, target, body, keyID, secret, region string, at time.Time, edit func(*http.Request)) rawResponse {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	if secret != "" {
		sum := sha256.Sum256([]byte(body))
		creds := aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "cloudtrail", region, at); err != nil {
			tb.Fatal(err)
		}
	}
	if edit != nil {
		edit(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	json.Unmarshal(b, &e)
	return rawResponse{status: resp.StatusCode, code: e.Type, message: e.Message, body: string(b), reqID: resp.Header.Get("x-amzn-RequestId")}
}

func TestAPIErrors(t *testing.T) {
	ts := mustRunMain(t)
	const lookup = "CloudTrail_20131101.LookupEvents"
	now := time.Now()
	tests := []struct {
		name    string
		target  string
		body    string
		keyID   string
		secret  string
		region  string
		at      time.Time
		edit    func(*http.Request)
		status  int
		code    string
		message string // a part of the message
	}{
		{name: "no authentication", target: lookup, body: "{}", status: 403, code: "MissingAuthenticationTokenException"},
		{name: "unknown access key", target: lookup, body: "{}", keyID: "AKIAUNKNOWNKEY000000", secret: "x", status: 400,
			code: "UnrecognizedClientException", message: "security token included in the request is invalid"},
		{name: "wrong secret", target: lookup, body: "{}", secret: "wrong", status: 400, code: "InvalidSignatureException",
			message: "signature we calculated does not match"},
		{name: "request signed 20 minutes ago", target: lookup, body: "{}", at: now.Add(-20 * time.Minute), status: 400,
			code: "InvalidSignatureException", message: "Signature expired"},
		{name: "request signed in the future", target: lookup, body: "{}", at: now.Add(20 * time.Minute), status: 400,
			code: "InvalidSignatureException", message: "not yet current"},
		{name: "body changed after signing", target: lookup, body: "{}", edit: func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(`{"MaxResults":5}`))
			r.ContentLength = 16
		}, status: 400, code: "InvalidSignatureException"},
		{name: "signature part missing", target: lookup, body: "{}", edit: func(r *http.Request) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:strings.Index(a, ", Signature=")])
		}, status: 400, code: "IncompleteSignatureException", message: "Signature"},
		{name: "region not served", target: lookup, body: "{}", region: "xx-nowhere-1", status: 400, code: "InvalidSignatureException",
			message: "valid region"},
		{name: "unknown operation", target: "CloudTrail_20131101.MakeCoffee", body: "{}", status: 400, code: "UnknownOperationException"},
		{name: "no target", target: "", body: "{}", status: 400, code: "UnknownOperationException"},
		{name: "malformed JSON", target: lookup, body: `{"MaxResults":`, status: 400, code: "SerializationException"},
		{name: "wrong member type", target: lookup, body: `{"MaxResults":"ten"}`, status: 400, code: "SerializationException",
			message: "MaxResults"},
		{name: "out of range", target: lookup, body: `{"MaxResults":500}`, status: 400, code: "InvalidMaxResultsException",
			message: "less than or equal to 50"},
		{name: "missing required member", target: "CloudTrail_20131101.GetChannel", body: `{}`, status: 400,
			code: "InvalidParameterException", message: "must not be null"},
		{name: "operation not built", target: "CloudTrail_20131101.CreateDashboard", body: `{"Name":"d1"}`, status: 400,
			code: "UnsupportedOperationException", message: "CreateDashboard"},
		{name: "long target form", target: "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.ListChannels", body: "{}", status: 200},
		{name: "empty body", target: "CloudTrail_20131101.ListChannels", body: "", status: 200},
		{name: "body too large", target: lookup, body: `{"x":"` + strings.Repeat("a", 9<<20) + `"}`, status: 413,
			code: "RequestEntityTooLargeException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keyID, secret, region, at := ts.KeyID, ts.Secret, "us-east-1", now
			if tt.keyID != "" {
				keyID = tt.keyID
			}
			if tt.secret != "" {
				secret = tt.secret
			}
			if tt.code == "MissingAuthenticationTokenException" {
				secret = ""
			}
			if tt.region != "" {
				region = tt.region
			}
			if !tt.at.IsZero() {
				at = tt.at
			}
			r := rawCall(t, ts.URL, tt.target, tt.body, keyID, secret, region, at, tt.edit)
			if r.status != tt.status || r.code != tt.code || !strings.Contains(r.message, tt.message) {
				t.Fatalf("got %d %s %q, want %d %s containing %q (body %.300s)", r.status, r.code, r.message, tt.status, tt.code, tt.message, r.body)
			}
			if r.reqID == "" {
				t.Errorf("no x-amzn-RequestId header")
			}
			if tt.status == 500 {
				t.Errorf("internal error")
			}
		})
	}

	// Failed calls with a known key are recorded, with their error.
	ct := ts.cloudtrail("us-east-1")
	want := map[string]string{
		"InvalidSignatureException":     "LookupEvents",
		"SerializationException":        "LookupEvents",
		"UnsupportedOperationException": "CreateDashboard",
		"InvalidMaxResultsException":    "LookupEvents",
	}
	events := lookupAll(t, ct, &cloudtrail.LookupEventsInput{StartTime: aws.Time(now.Add(-time.Minute))})
	found := map[string]string{}
	for _, e := range events {
		var rec struct{ ErrorCode, EventName string }
		json.Unmarshal([]byte(aws.ToString(e.CloudTrailEvent)), &rec)
		if rec.ErrorCode != "" {
			found[rec.ErrorCode] = rec.EventName
		}
	}
	for code, name := range want {
		if found[code] != name {
			t.Errorf("no recorded %s call failing with %s (recorded failures: %v)", name, code, found)
		}
	}
	if _, ok := found["UnrecognizedClientException"]; ok {
		t.Errorf("a call with an unknown key was recorded in the account's history")
	}
}

// Every operation of the model either works or says plainly that it is not
// built: never a 500, never a fake success.
func TestEveryOperationAnswers(t *testing.T) {
	ts := mustRunMain(t)
	for _, op := range ctapi.Operations() {
		r := rawCall(t, ts.URL, "CloudTrail_20131101."+op, "{}", ts.KeyID, ts.Secret, "us-east-1", time.Now(), nil)
		switch {
		case r.status >= 500:
			t.Errorf("%s: %d %s", op, r.status, r.body)
		case r.status == 200:
			// Operations that need no input and are built answer.
		case r.code == "UnsupportedOperationException" && !strings.Contains(r.message, op):
			t.Errorf("%s: UnsupportedOperationException does not name the operation: %q", op, r.message)
		case r.code == "" || r.message == "":
			t.Errorf("%s: %d without an error code and message: %s", op, r.status, r.body)
		}
	}
}

func TestChannels(t *testing.T) {
	ts := mustRunMain(t)
	ctx := context.Background()
	ct := ts.cloudtrail("us-east-1")
	arn := mustCreateHistoryChannel(t, ct, "first")
	_, err := ct.CreateChannel(ctx, &cloudtrail.CreateChannelInput{Name: aws.String("first"), Source: aws.String("Custom"),
		Destinations: []types.Destination{{Type: types.DestinationTypeAwsService, Location: aws.String("cloudtrail.amazonaws.com")}}})
	if errorCode(err) != "ChannelAlreadyExistsException" {
		t.Errorf("duplicate name: %v", err)
	}
	_, err = ct.CreateChannel(ctx, &cloudtrail.CreateChannelInput{Name: aws.String("x!"), Source: aws.String("Custom"),
		Destinations: []types.Destination{{Type: types.DestinationTypeAwsService, Location: aws.String("cloudtrail.amazonaws.com")}}})
	if errorCode(err) != "InvalidParameterException" {
		t.Errorf("bad name: %v", err)
	}
	_, err = ct.CreateChannel(ctx, &cloudtrail.CreateChannelInput{Name: aws.String("lake"), Source: aws.String("Custom"),
		Destinations: []types.Destination{{Type: types.DestinationTypeEventDataStore, Location: aws.String("arn:aws:cloudtrail:us-east-1:" + testAccount + ":eventdatastore/00000000-0000-0000-0000-000000000000")}}})
	if errorCode(err) != "EventDataStoreNotFoundException" {
		t.Errorf("missing event data store: %v", err)
	}
	id := arn[strings.LastIndex(arn, "/")+1:]
	got, err := ct.GetChannel(ctx, &cloudtrail.GetChannelInput{Channel: aws.String(id)})
	if err != nil || aws.ToString(got.ChannelArn) != arn || aws.ToString(got.Name) != "first" {
		t.Fatalf("GetChannel by ID: %v %+v", err, got)
	}
	if _, err := ct.AddTags(ctx, &cloudtrail.AddTagsInput{ResourceId: aws.String(arn), TagsList: []types.Tag{{Key: aws.String("team"), Value: aws.String("ops")}}}); err != nil {
		t.Fatal(err)
	}
	tags, err := ct.ListTags(ctx, &cloudtrail.ListTagsInput{ResourceIdList: []string{arn}})
	if err != nil || len(tags.ResourceTagList) != 1 || len(tags.ResourceTagList[0].TagsList) != 1 || aws.ToString(tags.ResourceTagList[0].TagsList[0].Value) != "ops" {
		t.Fatalf("ListTags: %v %+v", err, tags)
	}
	up, err := ct.UpdateChannel(ctx, &cloudtrail.UpdateChannelInput{Channel: aws.String(arn), Name: aws.String("renamed")})
	if err != nil || aws.ToString(up.Name) != "renamed" {
		t.Fatalf("UpdateChannel: %v", err)
	}
	// Another region does not see the channel.
	if _, err := ts.cloudtrail("eu-west-1").GetChannel(ctx, &cloudtrail.GetChannelInput{Channel: aws.String(arn)}); errorCode(err) != "ChannelNotFoundException" {
		t.Errorf("GetChannel from another region: %v", err)
	}
	if _, err := ct.DeleteChannel(ctx, &cloudtrail.DeleteChannelInput{Channel: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	list, err := ct.ListChannels(ctx, &cloudtrail.ListChannelsInput{})
	if err != nil || len(list.Channels) != 0 {
		t.Fatalf("ListChannels after delete: %v %+v", err, list)
	}
	if _, err := ct.DeleteChannel(ctx, &cloudtrail.DeleteChannelInput{Channel: aws.String(arn)}); errorCode(err) != "ChannelNotFoundException" {
		t.Errorf("second delete: %v", err)
	}
	if _, err := ct.GetChannel(ctx, &cloudtrail.GetChannelInput{Channel: aws.String("not-a-channel")}); errorCode(err) != "ChannelARNInvalidException" {
		t.Errorf("malformed channel: %v", err)
	}
}
