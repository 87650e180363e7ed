package sns_test

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/opentrail/opentrail/sns"
)

// FuzzServe sends arbitrary query strings and bodies, signed and unsigned:
// Serve and ServeUnauthenticated never panic, never answer 5xx (every
// fault here is the client's), and always answer XML.
func FuzzServe(f *testing.F) {
	topic := url.QueryEscape("arn:aws:sns:us-east-1:111122223333:f")
	for _, seed := range []struct{ query, body string }{
		{"", "Action=CreateTopic&Name=f&Version=2010-03-31"},
		{"", "Action=CreateTopic&Name=g&Attributes.entry.1.key=DisplayName&Attributes.entry.1.value=G&Tags.member.1.Key=k&Tags.member.1.Value=v"},
		{"Action=ListTopics&NextToken=c25zOjE", ""},
		{"", "Action=GetTopicAttributes&TopicArn=" + topic},
		{"", "Action=SetTopicAttributes&TopicArn=" + topic + "&AttributeName=Policy&AttributeValue=%7B%22Statement%22%3A%5B%5D%7D"},
		{"", "Action=Subscribe&TopicArn=" + topic + "&Protocol=https&Endpoint=https%3A%2F%2Fexample.com%2F&Attributes.entry.1.key=RawMessageDelivery&Attributes.entry.1.value=true"},
		{"", "Action=ConfirmSubscription&TopicArn=" + topic + "&Token=abc"},
		{"Action=ConfirmSubscription&TopicArn=" + topic + "&Token=abc", ""},
		{"", "Action=Publish&TopicArn=" + topic + "&Message=hi&Subject=s&MessageAttributes.entry.1.Name=a&MessageAttributes.entry.1.Value.DataType=Binary&MessageAttributes.entry.1.Value.BinaryValue=AAE%3D"},
		{"", "Action=Publish&TargetArn=" + topic + "&Message=%7B%22default%22%3A%22x%22%7D&MessageStructure=json"},
		{"", "Action=Unsubscribe&SubscriptionArn=" + topic + "%3A9f0c6a1e-3f0e-4c43-9b52-6a0c2c1b7d11"},
		{"", "Action=ListSubscriptionsByTopic&TopicArn=" + topic},
		{"", "Action=TagResource&ResourceArn=" + topic + "&Tags.member.1.Key=a&Tags.member.1.Value=b"},
		{"", "Action=DeleteTopic&TopicArn=" + topic},
		{"Action=%zz", "a=%"},
	} {
		f.Add(seed.query, seed.body, true)
		f.Add(seed.query, seed.body, false)
	}
	h := mustHarness(f, sns.Options{})
	f.Fuzz(func(t *testing.T, query, body string, signed bool) {
		r := &http.Request{
			Method: http.MethodPost,
			URL:    &url.URL{Path: "/", RawQuery: query},
			Header: http.Header{},
			Body:   io.NopCloser(strings.NewReader(body)),
			Host:   "localhost",
		}
		if body == "" {
			r.Method = http.MethodGet
		}
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		if signed {
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+keyOwner+"/20250101/us-east-1/sns/aws4_request, SignedHeaders=host, Signature=0")
			h.ServeHTTP(w, r)
		} else if !h.service().ServeUnauthenticated(w, r) {
			return
		}
		if w.Code >= 500 {
			t.Fatalf("%q %q: status %d: %s", query, body, w.Code, w.Body)
		}
		if !strings.HasPrefix(w.Header().Get("Content-Type"), "text/xml") {
			if w.Header().Get("Content-Type") == "application/x-pem-file" {
				return
			}
			t.Fatalf("%q %q: Content-Type %q", query, body, w.Header().Get("Content-Type"))
		}
		d := xml.NewDecoder(bytes.NewReader(w.Body.Bytes()))
		for {
			_, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%q %q: response is not XML: %v\n%s", query, body, err, w.Body)
			}
		}
	})
}
