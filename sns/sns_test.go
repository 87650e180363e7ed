package sns_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/sns"
)

// wantCode checks that err is the SDK's error with code and that its
// message contains msg.
func wantCode(tb testing.TB, what string, err error, code, msg string) {
	tb.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		tb.Fatalf("%s = %v, want %s", what, err, code)
	}
	if ae.ErrorCode() != code || !strings.Contains(ae.ErrorMessage(), msg) {
		tb.Fatalf("%s = %s %q, want %s containing %q", what, ae.ErrorCode(), ae.ErrorMessage(), code, msg)
	}
}

func TestTopics(t *testing.T) {
	h := mustHarness(t, sns.Options{})
	c := h.client(keyOwner)
	ctx := context.Background()

	arn := mustCreateTopic(t, c, "trail-notes")
	if want := "arn:aws:sns:us-east-1:111122223333:trail-notes"; arn != want {
		t.Fatalf("CreateTopic = %s, want %s", arn, want)
	}
	rec := h.lastRecord()
	if diff := cmp.Diff(`{"name":"trail-notes"}`, string(rec.RequestParameters)); diff != "" {
		t.Errorf("CreateTopic requestParameters (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(`{"topicArn":"`+arn+`"}`, string(rec.ResponseElements)); diff != "" {
		t.Errorf("CreateTopic responseElements (-want +got):\n%s", diff)
	}
	if !rec.Committed || rec.EventName != "CreateTopic" || rec.ReadOnly || rec.Data {
		t.Errorf("CreateTopic record = %+v", rec)
	}
	if got := h.lastCommitted(); got.EventName != "CreateTopic" || string(got.ResponseElements) != string(rec.ResponseElements) {
		t.Errorf("committed record = %+v", got)
	}

	// Idempotent by name.
	if again := mustCreateTopic(t, c, "trail-notes"); again != arn {
		t.Fatalf("second CreateTopic = %s, want %s", again, arn)
	}
	_, err := c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("trail-notes"), Attributes: map[string]string{"DisplayName": "x"}})
	var ip *types.InvalidParameterException
	if !errors.As(err, &ip) {
		t.Fatalf("CreateTopic with other attributes = %v, want InvalidParameterException", err)
	}

	get := func() map[string]string {
		t.Helper()
		out, err := c.GetTopicAttributes(ctx, &awssns.GetTopicAttributesInput{TopicArn: aws.String(arn)})
		if err != nil {
			t.Fatalf("GetTopicAttributes = %v", err)
		}
		return out.Attributes
	}
	attrs := get()
	for k, want := range map[string]string{
		"TopicArn": arn, "Owner": account, "DisplayName": "", "SubscriptionsPending": "0",
		"SubscriptionsConfirmed": "0", "SubscriptionsDeleted": "0",
	} {
		if attrs[k] != want {
			t.Errorf("attribute %s = %q, want %q", k, attrs[k], want)
		}
	}
	var policy struct {
		Version   string
		Statement []struct {
			Effect    string
			Principal map[string]string
			Action    []string
			Resource  string
			Condition map[string]map[string]string
		}
	}
	if err := json.Unmarshal([]byte(attrs["Policy"]), &policy); err != nil {
		t.Fatalf("Policy %q: %v", attrs["Policy"], err)
	}
	if len(policy.Statement) != 1 || policy.Statement[0].Resource != arn ||
		policy.Statement[0].Condition["StringEquals"]["AWS:SourceOwner"] != account ||
		policy.Statement[0].Principal["AWS"] != "*" || len(policy.Statement[0].Action) != 8 {
		t.Errorf("default Policy = %s", attrs["Policy"])
	}
	if !json.Valid([]byte(attrs["EffectiveDeliveryPolicy"])) {
		t.Errorf("EffectiveDeliveryPolicy = %q", attrs["EffectiveDeliveryPolicy"])
	}
	if rec := h.lastRecord(); !rec.ReadOnly || rec.Committed {
		t.Errorf("GetTopicAttributes record = %+v", rec)
	}

	set := func(name, value string) error {
		_, err := c.SetTopicAttributes(ctx, &awssns.SetTopicAttributesInput{TopicArn: aws.String(arn), AttributeName: aws.String(name), AttributeValue: aws.String(value)})
		return err
	}
	if err := set("DisplayName", "Trail notes"); err != nil {
		t.Fatal(err)
	}
	if err := set("DeliveryPolicy", `{"http":{}}`); err != nil {
		t.Fatal(err)
	}
	if got := get(); got["DisplayName"] != "Trail notes" || got["DeliveryPolicy"] != `{"http":{}}` {
		t.Errorf("after SetTopicAttributes: DisplayName %q, DeliveryPolicy %q", got["DisplayName"], got["DeliveryPolicy"])
	}
	wantCode(t, "SetTopicAttributes(Policy, not JSON)", set("Policy", "{not json"), "InvalidParameter", "Policy")
	wantCode(t, "SetTopicAttributes(DeliveryPolicy, not JSON)", set("DeliveryPolicy", "["), "InvalidParameter", "DeliveryPolicy")
	wantCode(t, "SetTopicAttributes(KmsMasterKeyId)", set("KmsMasterKeyId", "alias/x"), "InvalidParameter", "KmsMasterKeyId")
	wantCode(t, "SetTopicAttributes(Nonsense)", set("Nonsense", "1"), "InvalidParameter", "AttributeName")
	rec = h.lastRecord()
	if rec.Committed || opentrail.ErrorCode(rec.Err) != "InvalidParameter" || rec.EventName != "SetTopicAttributes" {
		t.Errorf("failed SetTopicAttributes record = %+v", rec)
	}

	for _, tc := range []struct{ name, msg string }{
		{"", "Name"},
		{"has space", "Topic Name"},
		{strings.Repeat("x", 257), "Topic Name"},
		{"orders.fifo", "FIFO"},
	} {
		_, err := c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String(tc.name)})
		if tc.name == "" {
			// The SDK refuses a missing required parameter itself.
			if err == nil {
				t.Errorf("CreateTopic(%q) succeeded", tc.name)
			}
			continue
		}
		wantCode(t, fmt.Sprintf("CreateTopic(%.20q)", tc.name), err, "InvalidParameter", tc.msg)
	}
	_, err = c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("f"), Attributes: map[string]string{"FifoTopic": "true"}})
	wantCode(t, "CreateTopic(FifoTopic=true)", err, "InvalidParameter", "FIFO")

	// Tags.
	tagged := mustCreateTopic(t, c, "tagged")
	if _, err := c.TagResource(ctx, &awssns.TagResourceInput{ResourceArn: aws.String(tagged), Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("sec")}, {Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagResource(ctx, &awssns.UntagResourceInput{ResourceArn: aws.String(tagged), TagKeys: []string{"env"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := c.ListTagsForResource(ctx, &awssns.ListTagsForResourceInput{ResourceArn: aws.String(tagged)})
	if err != nil {
		t.Fatal(err)
	}
	if len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "team" || aws.ToString(tags.Tags[0].Value) != "sec" {
		t.Errorf("ListTagsForResource = %+v", tags.Tags)
	}
	_, err = c.ListTagsForResource(ctx, &awssns.ListTagsForResourceInput{ResourceArn: aws.String(arn + "-missing")})
	var rnf *types.ResourceNotFoundException
	if !errors.As(err, &rnf) {
		t.Errorf("ListTagsForResource(missing) = %v, want ResourceNotFoundException", err)
	}

	// Delete, then it is gone; deleting again succeeds.
	if _, err := c.DeleteTopic(ctx, &awssns.DeleteTopicInput{TopicArn: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetTopicAttributes(ctx, &awssns.GetTopicAttributesInput{TopicArn: aws.String(arn)})
	var nf *types.NotFoundException
	if !errors.As(err, &nf) || !strings.Contains(nf.ErrorMessage(), "Topic does not exist") {
		t.Fatalf("GetTopicAttributes after DeleteTopic = %v, want NotFoundException", err)
	}
	if _, err := c.DeleteTopic(ctx, &awssns.DeleteTopicInput{TopicArn: aws.String(arn)}); err != nil {
		t.Errorf("DeleteTopic of a deleted topic = %v", err)
	}
	_, err = c.GetTopicAttributes(ctx, &awssns.GetTopicAttributesInput{TopicArn: aws.String("arn:aws:sns:us-west-2:111122223333:elsewhere")})
	wantCode(t, "GetTopicAttributes(other region)", err, "InvalidParameter", "TopicArn")
	_, err = c.GetTopicAttributes(ctx, &awssns.GetTopicAttributesInput{TopicArn: aws.String("not-an-arn")})
	wantCode(t, "GetTopicAttributes(not an ARN)", err, "InvalidParameter", "TopicArn")
}

func TestListTopicsPages(t *testing.T) {
	h := mustHarness(t, sns.Options{})
	c := h.client(keyOwner)
	ctx := context.Background()
	var want []string
	for i := range 230 {
		want = append(want, mustCreateTopic(t, c, fmt.Sprintf("t%03d", i)))
	}
	mustCreateTopic(t, h.client(keyOther), "not-mine")

	var got []string
	pages := 0
	p := awssns.NewListTopicsPaginator(c, &awssns.ListTopicsInput{})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Topics) > 100 {
			t.Errorf("page of %d topics, want at most 100", len(out.Topics))
		}
		pages++
		for _, tp := range out.Topics {
			got = append(got, aws.ToString(tp.TopicArn))
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListTopics (-want +got):\n%s", diff)
	}
	if pages != 3 {
		t.Errorf("ListTopics took %d pages, want 3", pages)
	}
	_, err := c.ListTopics(ctx, &awssns.ListTopicsInput{NextToken: aws.String("bogus")})
	wantCode(t, "ListTopics(bogus token)", err, "InvalidParameter", "NextToken")
}

func TestSubscriptions(t *testing.T) {
	h := mustHarness(t, sns.Options{})
	h.run()
	c := h.client(keyOwner)
	ctx := context.Background()
	topic := mustCreateTopic(t, c, "notes")

	subscribe := func(protocol, endpoint string, attrs map[string]string) (string, error) {
		out, err := c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String(protocol), Endpoint: aws.String(endpoint), Attributes: attrs})
		if err != nil {
			return "", err
		}
		return aws.ToString(out.SubscriptionArn), nil
	}
	for _, tc := range []struct{ protocol, endpoint, msg string }{
		{"sqs", "arn:aws:sqs:us-east-1:111122223333:q", "http and https"},
		{"email", "a@example.com", "http and https"},
		{"https", "http://example.com/", "match the specified protocol"},
		{"http", "not a url", "Endpoint"},
	} {
		_, err := subscribe(tc.protocol, tc.endpoint, nil)
		wantCode(t, "Subscribe("+tc.protocol+", "+tc.endpoint+")", err, "InvalidParameter", tc.msg)
	}
	_, err := subscribe("http", "http://example.com/", map[string]string{"FilterPolicy": "{}"})
	wantCode(t, "Subscribe(FilterPolicy)", err, "InvalidParameter", "FilterPolicy")

	sub := mustSubscriber(t)
	subARN := mustConfirmed(t, c, topic, sub)
	rec := h.lastRecord()
	if rec.EventName != "Subscribe" || !strings.Contains(string(rec.RequestParameters), `"protocol":"http"`) ||
		string(rec.ResponseElements) != `{"subscriptionArn":"pending confirmation"}` {
		t.Errorf("Subscribe record = %s %s %s", rec.EventName, rec.RequestParameters, rec.ResponseElements)
	}

	// Subscribing the confirmed endpoint again answers its ARN.
	if again, err := subscribe("http", sub.URL, nil); err != nil || again != subARN {
		t.Errorf("second Subscribe = %q, %v; want %s", again, err, subARN)
	}

	out, err := c.GetSubscriptionAttributes(ctx, &awssns.GetSubscriptionAttributesInput{SubscriptionArn: aws.String(subARN)})
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"SubscriptionArn": subARN, "TopicArn": topic, "Owner": account, "Protocol": "http", "Endpoint": sub.URL,
		"PendingConfirmation": "false", "ConfirmationWasAuthenticated": "false", "RawMessageDelivery": "false",
	} {
		if out.Attributes[k] != want {
			t.Errorf("subscription attribute %s = %q, want %q", k, out.Attributes[k], want)
		}
	}
	setSub := func(name, value string) error {
		_, err := c.SetSubscriptionAttributes(ctx, &awssns.SetSubscriptionAttributesInput{SubscriptionArn: aws.String(subARN), AttributeName: aws.String(name), AttributeValue: aws.String(value)})
		return err
	}
	if err := setSub("RawMessageDelivery", "true"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "SetSubscriptionAttributes(RawMessageDelivery=maybe)", setSub("RawMessageDelivery", "maybe"), "InvalidParameter", "RawMessageDelivery")
	wantCode(t, "SetSubscriptionAttributes(RedrivePolicy)", setSub("RedrivePolicy", "{}"), "InvalidParameter", "RedrivePolicy")
	out, _ = c.GetSubscriptionAttributes(ctx, &awssns.GetSubscriptionAttributesInput{SubscriptionArn: aws.String(subARN)})
	if out.Attributes["RawMessageDelivery"] != "true" {
		t.Errorf("RawMessageDelivery = %q after setting it", out.Attributes["RawMessageDelivery"])
	}

	// A signed ConfirmSubscription with a wrong token fails.
	_, err = c.ConfirmSubscription(ctx, &awssns.ConfirmSubscriptionInput{TopicArn: aws.String(topic), Token: aws.String("0000")})
	wantCode(t, "ConfirmSubscription(bad token)", err, "InvalidParameter", "token")

	// A second, signed confirmation path: subscribe another endpoint and
	// confirm with the SDK, asking for authenticated unsubscribes.
	sub2 := mustSubscriber(t)
	if got, err := subscribe("http", sub2.URL, nil); err != nil || got != "pending confirmation" {
		t.Fatalf("Subscribe = %q, %v", got, err)
	}
	conf := decode(t, sub2.next(t).body)
	cout, err := c.ConfirmSubscription(ctx, &awssns.ConfirmSubscriptionInput{TopicArn: aws.String(topic), Token: aws.String(conf["Token"]), AuthenticateOnUnsubscribe: aws.String("true")})
	if err != nil {
		t.Fatal(err)
	}
	sub2ARN := aws.ToString(cout.SubscriptionArn)
	if rec := h.lastRecord(); !rec.Committed || strings.Contains(string(rec.RequestParameters), conf["Token"]) ||
		string(rec.ResponseElements) != `{"subscriptionArn":"`+sub2ARN+`"}` {
		t.Errorf("ConfirmSubscription record = %s %s", rec.RequestParameters, rec.ResponseElements)
	}
	out, _ = c.GetSubscriptionAttributes(ctx, &awssns.GetSubscriptionAttributesInput{SubscriptionArn: aws.String(sub2ARN)})
	if out.Attributes["ConfirmationWasAuthenticated"] != "true" {
		t.Errorf("ConfirmationWasAuthenticated = %q", out.Attributes["ConfirmationWasAuthenticated"])
	}

	// Pending subscriptions for the paging test: 120 endpoints.
	for i := range 120 {
		if _, err := subscribe("https", fmt.Sprintf("https://example.com/%d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	count := func(list func(context.Context, *string) ([]types.Subscription, *string, error)) (n, pending, pages int) {
		t.Helper()
		var tok *string
		for {
			subs, next, err := list(ctx, tok)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, s := range subs {
				n++
				if aws.ToString(s.SubscriptionArn) == "PendingConfirmation" {
					pending++
				}
			}
			if next == nil {
				return n, pending, pages
			}
			tok = next
		}
	}
	n, pending, pages := count(func(ctx context.Context, tok *string) ([]types.Subscription, *string, error) {
		out, err := c.ListSubscriptions(ctx, &awssns.ListSubscriptionsInput{NextToken: tok})
		if err != nil {
			return nil, nil, err
		}
		return out.Subscriptions, out.NextToken, nil
	})
	if n != 122 || pending != 120 || pages != 2 {
		t.Errorf("ListSubscriptions: %d subscriptions, %d pending, %d pages; want 122, 120, 2", n, pending, pages)
	}
	n, _, pages = count(func(ctx context.Context, tok *string) ([]types.Subscription, *string, error) {
		out, err := c.ListSubscriptionsByTopic(ctx, &awssns.ListSubscriptionsByTopicInput{TopicArn: aws.String(topic), NextToken: tok})
		if err != nil {
			return nil, nil, err
		}
		return out.Subscriptions, out.NextToken, nil
	})
	if n != 122 || pages != 2 {
		t.Errorf("ListSubscriptionsByTopic: %d subscriptions, %d pages; want 122, 2", n, pages)
	}
	tattrs, _ := c.GetTopicAttributes(ctx, &awssns.GetTopicAttributesInput{TopicArn: aws.String(topic)})
	if tattrs.Attributes["SubscriptionsConfirmed"] != "2" || tattrs.Attributes["SubscriptionsPending"] != "120" {
		t.Errorf("topic counts: %s confirmed, %s pending", tattrs.Attributes["SubscriptionsConfirmed"], tattrs.Attributes["SubscriptionsPending"])
	}

	if _, err := c.Unsubscribe(ctx, &awssns.UnsubscribeInput{SubscriptionArn: aws.String(subARN)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetSubscriptionAttributes(ctx, &awssns.GetSubscriptionAttributesInput{SubscriptionArn: aws.String(subARN)})
	var nf *types.NotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("GetSubscriptionAttributes after Unsubscribe = %v, want NotFoundException", err)
	}
	_, err = c.Unsubscribe(ctx, &awssns.UnsubscribeInput{SubscriptionArn: aws.String("pending confirmation")})
	wantCode(t, "Unsubscribe(pending confirmation)", err, "InvalidParameter", "SubscriptionArn")
}

func TestPublish(t *testing.T) {
	h := mustHarness(t, sns.Options{})
	c := h.client(keyOwner)
	ctx := context.Background()
	topic := mustCreateTopic(t, c, "notes")

	out, err := c.Publish(ctx, &awssns.PublishInput{
		TopicArn: aws.String(topic), Message: aws.String("hello"), Subject: aws.String("greeting"),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"kind": {DataType: aws.String("String"), StringValue: aws.String("test")},
			"n":    {DataType: aws.String("Number"), StringValue: aws.String("42")},
			"blob": {DataType: aws.String("Binary"), BinaryValue: []byte{0, 1, 2}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := h.lastRecord()
	if !rec.Data || !rec.Committed || rec.EventName != "Publish" {
		t.Errorf("Publish record = %+v", rec)
	}
	want := `{"message":"HIDDEN_DUE_TO_SECURITY_REASONS","messageAttributes":"HIDDEN_DUE_TO_SECURITY_REASONS","subject":"HIDDEN_DUE_TO_SECURITY_REASONS","topicArn":"` + topic + `"}`
	if diff := cmp.Diff(want, string(rec.RequestParameters)); diff != "" {
		t.Errorf("Publish requestParameters (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(`{"messageId":"`+aws.ToString(out.MessageId)+`"}`, string(rec.ResponseElements)); diff != "" {
		t.Errorf("Publish responseElements (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		name string
		in   awssns.PublishInput
		code string
		msg  string
	}{
		{"missing topic", awssns.PublishInput{TopicArn: aws.String(topic + "x"), Message: aws.String("m")}, "NotFound", "Topic does not exist"},
		{"empty message", awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("")}, "InvalidParameter", "Empty message"},
		{"too long", awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String(strings.Repeat("x", 256*1024+1))}, "InvalidParameter", "too long"},
		{"subject with newline", awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("m"), Subject: aws.String("a\nb")}, "InvalidParameter", "Subject"},
		{"phone", awssns.PublishInput{PhoneNumber: aws.String("+15555550100"), Message: aws.String("m")}, "InvalidParameter", "SMS"},
		{"json without default", awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String(`{"http":"x"}`), MessageStructure: aws.String("json")}, "InvalidParameter", "default"},
		{"bad number", awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("m"), MessageAttributes: map[string]types.MessageAttributeValue{"n": {DataType: aws.String("Number"), StringValue: aws.String("x")}}}, "ParameterValueInvalid", "number"},
	} {
		_, err := c.Publish(ctx, &tc.in)
		wantCode(t, "Publish("+tc.name+")", err, tc.code, tc.msg)
		if rec := h.lastRecord(); rec.Committed || opentrail.ErrorCode(rec.Err) != tc.code {
			t.Errorf("Publish(%s) record: committed %v, error %v", tc.name, rec.Committed, rec.Err)
		}
	}
	var nf *types.NotFoundException
	_, err = c.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic + "x"), Message: aws.String("m")})
	if !errors.As(err, &nf) {
		t.Errorf("Publish to a missing topic = %T, want *types.NotFoundException", err)
	}
	// A full-size message is accepted.
	if _, err := c.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String(strings.Repeat("x", 256*1024))}); err != nil {
		t.Errorf("Publish of 256 KiB = %v", err)
	}
}

func TestAuthorization(t *testing.T) {
	h := mustHarness(t, sns.Options{})
	owner, stranger := h.client(keyOwner), h.client(keyOther)
	ctx := context.Background()
	topic := mustCreateTopic(t, owner, "shared")

	publish := func(c *awssns.Client) error {
		_, err := c.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("m")})
		return err
	}
	var ae *types.AuthorizationErrorException
	if err := publish(stranger); !errors.As(err, &ae) {
		t.Fatalf("Publish from another account = %v, want AuthorizationErrorException", err)
	}
	_, err := stranger.GetTopicAttributes(ctx, &awssns.GetTopicAttributesInput{TopicArn: aws.String(topic)})
	wantCode(t, "GetTopicAttributes from another account", err, "AuthorizationError", "arn:aws:iam::444455556666:user/bob")
	_, err = stranger.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("https"), Endpoint: aws.String("https://example.com/")})
	wantCode(t, "Subscribe from another account", err, "AuthorizationError", "SNS:Subscribe")
	list, _ := stranger.ListTopics(ctx, &awssns.ListTopicsInput{})
	if len(list.Topics) != 0 {
		t.Errorf("another account lists %d topics", len(list.Topics))
	}

	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":["sns:Publish","sns:Subscribe"],"Resource":"` + topic + `"}]}`
	if _, err := owner.SetTopicAttributes(ctx, &awssns.SetTopicAttributesInput{TopicArn: aws.String(topic), AttributeName: aws.String("Policy"), AttributeValue: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	if err := publish(stranger); err != nil {
		t.Errorf("Publish allowed by the topic policy = %v", err)
	}
	if _, err := stranger.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("https"), Endpoint: aws.String("https://example.com/")}); err != nil {
		t.Errorf("Subscribe allowed by the topic policy = %v", err)
	}
	_, err = stranger.DeleteTopic(ctx, &awssns.DeleteTopicInput{TopicArn: aws.String(topic)})
	wantCode(t, "DeleteTopic from another account", err, "AuthorizationError", "DeleteTopic")

	// An explicit Deny binds the owner too.
	deny := `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"SNS:Publish","Resource":"*"}]}`
	if _, err := owner.SetTopicAttributes(ctx, &awssns.SetTopicAttributesInput{TopicArn: aws.String(topic), AttributeName: aws.String("Policy"), AttributeValue: aws.String(deny)}); err != nil {
		t.Fatal(err)
	}
	if err := publish(owner); !errors.As(err, &ae) {
		t.Errorf("Publish denied by the topic policy = %v, want AuthorizationErrorException", err)
	}

	// The front's refusal becomes AuthorizationError.
	h.mu.Lock()
	h.deny["sns:CreateTopic"] = true
	h.mu.Unlock()
	_, err = owner.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("refused")})
	wantCode(t, "CreateTopic refused by the front", err, "AuthorizationError", "sns:CreateTopic")
	if rec := h.lastRecord(); rec.Committed || opentrail.ErrorCode(rec.Err) != "AuthorizationError" {
		t.Errorf("refused CreateTopic record: %+v", rec)
	}
}

// rawCall sends an unsigned-but-credentialled query request, as the
// front would hand it over, and returns status and body.
func rawCall(tb testing.TB, h *harness, method, query, body string) (int, string) {
	tb.Helper()
	req, err := http.NewRequest(method, h.srv.URL+"/?"+query, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+keyOwner+"/20250101/us-east-1/sns/aws4_request, SignedHeaders=host, Signature=0")
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestWireShapes(t *testing.T) {
	h := mustHarness(t, sns.Options{})
	type errorResponse struct {
		XMLName xml.Name `xml:"http://sns.amazonaws.com/doc/2010-03-31/ ErrorResponse"`
		Error   struct {
			Type, Code, Message string
		}
		RequestID string `xml:"RequestId"`
	}
	for _, tc := range []struct {
		name, method, query, body string
		status                    int
		code, msg                 string
		skip                      bool
	}{
		{"not found", "POST", "", "Action=GetTopicAttributes&TopicArn=arn:aws:sns:us-east-1:111122223333:nope&Version=2010-03-31", 404, "NotFound", "Topic does not exist", false},
		{"GET query", "GET", "Action=GetTopicAttributes&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A111122223333%3Anope", "", 404, "NotFound", "Topic does not exist", false},
		{"unknown action", "POST", "", "Action=FlyToTheMoon&Version=2010-03-31", 400, "InvalidAction", "FlyToTheMoon", true},
		{"unimplemented action", "POST", "", "Action=AddPermission&TopicArn=x", 400, "InvalidAction", "opentrail does not implement the SNS action AddPermission", false},
		{"no action", "POST", "", "Version=2010-03-31", 400, "MissingAction", "Action", true},
		{"missing parameter", "POST", "", "Action=GetTopicAttributes", 400, "MissingParameter", "TopicArn", false},
		{"malformed body", "POST", "", "Action=CreateTopic&Name=%zz", 400, "MalformedQueryString", "", true},
	} {
		status, body := rawCall(t, h, tc.method, tc.query, tc.body)
		var e errorResponse
		if err := xml.Unmarshal([]byte(body), &e); err != nil {
			t.Errorf("%s: body %q: %v", tc.name, body, err)
			continue
		}
		if status != tc.status || e.Error.Code != tc.code || e.Error.Type != "Sender" || !strings.Contains(e.Error.Message, tc.msg) || e.RequestID == "" {
			t.Errorf("%s = %d %+v, want %d %s %q", tc.name, status, e, tc.status, tc.code, tc.msg)
		}
		if rec := h.lastRecord(); rec.Skip != tc.skip {
			t.Errorf("%s: record Skip = %v, want %v", tc.name, rec.Skip, tc.skip)
		}
	}

	status, body := rawCall(t, h, "POST", "", "Action=CreateTopic&Name=shape&Version=2010-03-31")
	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<CreateTopicResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><CreateTopicResult><TopicArn>arn:aws:sns:us-east-1:111122223333:shape</TopicArn></CreateTopicResult><ResponseMetadata><RequestId>` +
		h.requestIDIn(body) + `</RequestId></ResponseMetadata></CreateTopicResponse>`
	if status != 200 || body != want {
		t.Errorf("CreateTopic = %d\n%s\nwant\n%s", status, body, want)
	}
	status, body = rawCall(t, h, "POST", "", "Action=DeleteTopic&TopicArn="+url.QueryEscape("arn:aws:sns:us-east-1:111122223333:shape"))
	if status != 200 || !strings.Contains(body, `<DeleteTopicResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><ResponseMetadata><RequestId>`) {
		t.Errorf("DeleteTopic = %d %s", status, body)
	}

	// The front's own refusals, in SNS's shape, reach the SDK.
	_, err := h.client("AKIAUNKNOWN").ListTopics(context.Background(), &awssns.ListTopicsInput{})
	wantCode(t, "ListTopics with an unknown key", err, "InvalidClientTokenId", "security token")
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusForbidden {
		t.Errorf("unknown key: status %v, want 403", err)
	}

	// The SDK reports an unimplemented action as InvalidAction.
	_, err = h.client(keyOwner).AddPermission(context.Background(), &awssns.AddPermissionInput{
		TopicArn: aws.String("arn:aws:sns:us-east-1:111122223333:x"), Label: aws.String("l"),
		AWSAccountId: []string{other}, ActionName: []string{"Publish"},
	})
	wantCode(t, "AddPermission", err, "InvalidAction", "AddPermission")
}

func (h *harness) requestIDIn(body string) string {
	_, after, _ := strings.Cut(body, "<RequestId>")
	id, _, _ := strings.Cut(after, "</RequestId>")
	return id
}
