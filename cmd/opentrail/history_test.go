package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudtraildata"
	dtypes "github.com/aws/aws-sdk-go-v2/service/cloudtraildata/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
)

// appEvent is an external event as a caller would send it.
func appEvent(principal, name string, t time.Time, i int) string {
	b, _ := json.Marshal(map[string]any{
		"version":            "1.0",
		"userIdentity":       map[string]any{"type": "AppUser", "principalId": principal},
		"eventSource":        "app.example.com",
		"eventName":          name,
		"eventTime":          t.UTC().Format(time.RFC3339),
		"UID":                fmt.Sprintf("uid-%d", i),
		"recipientAccountId": testAccount,
		"requestParameters":  map[string]any{"n": i},
	})
	return string(b)
}

// mustCreateHistoryChannel creates a channel that routes to event history.
func mustCreateHistoryChannel(tb testing.TB, ct *cloudtrail.Client, name string) string {
	tb.Helper()
	out, err := ct.CreateChannel(context.Background(), &cloudtrail.CreateChannelInput{
		Name:         aws.String(name),
		Source:       aws.String("Custom"),
		Destinations: []types.Destination{{Type: types.DestinationTypeAwsService, Location: aws.String("cloudtrail.amazonaws.com")}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return aws.ToString(out.ChannelArn)
}

// putEvents sends n external events numbered from..from+n-1 through the
// channel, in batches of 100; who gives each one's principal and name.
func putEvents(tb testing.TB, data *cloudtraildata.Client, channel string, from, n int, who func(i int) (string, string)) []string {
	tb.Helper()
	var ids []string
	for lo := from; lo < from+n; lo += 100 {
		var evs []dtypes.AuditEvent
		for i := lo; i < min(lo+100, from+n); i++ {
			p, name := who(i)
			evs = append(evs, dtypes.AuditEvent{Id: aws.String(fmt.Sprint("e", i)), EventData: aws.String(appEvent(p, name, time.Now(), i))})
		}
		out, err := data.PutAuditEvents(context.Background(), &cloudtraildata.PutAuditEventsInput{ChannelArn: aws.String(channel), AuditEvents: evs})
		if err != nil {
			tb.Fatal(err)
		}
		if len(out.Failed) != 0 {
			tb.Fatalf("PutAuditEvents failed: %+v", out.Failed)
		}
		for _, s := range out.Successful {
			ids = append(ids, aws.ToString(s.EventID))
		}
	}
	return ids
}

// lookupAll pages through LookupEvents with the SDK's paginator.
func lookupAll(tb testing.TB, ct *cloudtrail.Client, in *cloudtrail.LookupEventsInput) []types.Event {
	tb.Helper()
	var all []types.Event
	p := cloudtrail.NewLookupEventsPaginator(ct, in)
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			tb.Fatal(err)
		}
		if len(page.Events) > 50 {
			tb.Fatalf("a page holds %d events, more than 50", len(page.Events))
		}
		all = append(all, page.Events...)
	}
	return all
}

func attr(k types.LookupAttributeKey, v string) []types.LookupAttribute {
	return []types.LookupAttribute{{AttributeKey: k, AttributeValue: aws.String(v)}}
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestLookupEventsEveryAttribute(t *testing.T) {
	ts := mustRunMain(t)
	ctx := context.Background()
	ct, data := ts.cloudtrail("us-east-1"), ts.cloudtraildata("us-east-1")
	start := time.Now().Add(-time.Minute)

	chARN := mustCreateHistoryChannel(t, ct, "app-events")
	if _, err := ct.ListChannels(ctx, &cloudtrail.ListChannelsInput{}); err != nil {
		t.Fatal(err)
	}
	_, err := ct.GetChannel(ctx, &cloudtrail.GetChannelInput{Channel: aws.String("arn:aws:cloudtrail:us-east-1:" + testAccount + ":channel/00000000-0000-0000-0000-000000000000")})
	if errorCode(err) != "ChannelNotFoundException" {
		t.Fatalf("GetChannel of a missing channel: %v, want ChannelNotFoundException", err)
	}

	// 130 external events from three principals, two event names.
	principals := []string{"alice", "bob", "carol"}
	var eventIDs []string
	want := map[string]int{} // principal -> count
	for batch := 0; batch < 2; batch++ {
		var evs []dtypes.AuditEvent
		n := 100
		if batch == 1 {
			n = 30
		}
		for i := 0; i < n; i++ {
			k := batch*100 + i
			p := principals[k%3]
			want[p]++
			name := "Read"
			if k%2 == 0 {
				name = "Write"
			}
			evs = append(evs, dtypes.AuditEvent{Id: aws.String(fmt.Sprint("e", k)), EventData: aws.String(appEvent(p, name, time.Now(), k))})
		}
		out, err := data.PutAuditEvents(ctx, &cloudtraildata.PutAuditEventsInput{ChannelArn: aws.String(chARN), AuditEvents: evs})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Failed) != 0 || len(out.Successful) != n {
			t.Fatalf("PutAuditEvents: %d successful, failed %+v", len(out.Successful), out.Failed)
		}
		for _, s := range out.Successful {
			eventIDs = append(eventIDs, aws.ToString(s.EventID))
		}
	}

	// Later lookups are recorded too: bound the searches to the second in
	// which the setup ended, and look up only from the next one.
	end := time.Now().Truncate(time.Second)
	time.Sleep(time.Until(end.Add(time.Second + 10*time.Millisecond)))

	// Every event, newest first, across pages of 50.
	all := lookupAll(t, ct, &cloudtrail.LookupEventsInput{StartTime: aws.Time(start), EndTime: aws.Time(end)})
	// CreateChannel, ListChannels, GetChannel (failed) and 130 channel
	// events; PutAuditEvents calls are data events, not in event history.
	if len(all) != 133 {
		t.Fatalf("LookupEvents returned %d events, want 133", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i].EventTime.After(*all[i-1].EventTime) {
			t.Fatalf("events are not newest first at %d", i)
		}
	}
	byName := map[string]types.Event{}
	for _, e := range all {
		byName[aws.ToString(e.EventName)] = e
	}
	create := byName["CreateChannel"]
	var rec map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(create.CloudTrailEvent)), &rec); err != nil {
		t.Fatal(err)
	}
	ui := rec["userIdentity"].(map[string]any)
	if rec["eventSource"] != "cloudtrail.amazonaws.com" || rec["eventType"] != "AwsApiCall" || rec["eventCategory"] != "Management" ||
		rec["readOnly"] != false || rec["managementEvent"] != true || rec["recipientAccountId"] != testAccount ||
		ui["type"] != "Root" || ui["arn"] != "arn:aws:iam::"+testAccount+":root" || ui["accessKeyId"] != testKeyID ||
		rec["sourceIPAddress"] != "127.0.0.1" || rec["awsRegion"] != "us-east-1" || rec["eventID"] != aws.ToString(create.EventId) {
		t.Errorf("CreateChannel record: %s", aws.ToString(create.CloudTrailEvent))
	}
	if rp := rec["requestParameters"].(map[string]any); rp["name"] != "app-events" {
		t.Errorf("requestParameters = %v", rp)
	}
	if re := rec["responseElements"].(map[string]any); re["channelArn"] != chARN {
		t.Errorf("responseElements = %v", re)
	}
	if aws.ToString(create.Username) != "root" || aws.ToString(create.ReadOnly) != "false" || aws.ToString(create.AccessKeyId) != testKeyID {
		t.Errorf("CreateChannel event = %+v", create)
	}
	failed := byName["GetChannel"]
	if !json.Valid([]byte(aws.ToString(failed.CloudTrailEvent))) || !containsAll(aws.ToString(failed.CloudTrailEvent), `"errorCode":"ChannelNotFoundException"`, `"responseElements":null`) {
		t.Errorf("failed GetChannel record: %s", aws.ToString(failed.CloudTrailEvent))
	}

	count := func(attrs []types.LookupAttribute) int {
		return len(lookupAll(t, ct, &cloudtrail.LookupEventsInput{StartTime: aws.Time(start), EndTime: aws.Time(end), LookupAttributes: attrs}))
	}
	tests := []struct {
		key   types.LookupAttributeKey
		value string
		want  int
	}{
		{types.LookupAttributeKeyEventId, eventIDs[42], 1},
		{types.LookupAttributeKeyEventId, aws.ToString(create.EventId), 1},
		{types.LookupAttributeKeyEventName, "CreateChannel", 1},
		{types.LookupAttributeKeyEventName, "Write", 65},
		{types.LookupAttributeKeyReadOnly, "true", 2},
		{types.LookupAttributeKeyReadOnly, "false", 1},
		{types.LookupAttributeKeyUsername, "root", 3},
		{types.LookupAttributeKeyUsername, "alice", want["alice"]},
		{types.LookupAttributeKeyUsername, "carol", want["carol"]},
		{types.LookupAttributeKeyResourceType, "AWS::CloudTrail::Channel", 1},
		{types.LookupAttributeKeyResourceName, chARN, 1},
		{types.LookupAttributeKeyEventSource, "cloudtrail.amazonaws.com", 3},
		{types.LookupAttributeKeyEventSource, "app.example.com", 130},
		{types.LookupAttributeKeyAccessKeyId, testKeyID, 3},
		{types.LookupAttributeKeyUsername, "nobody", 0},
	}
	for _, tt := range tests {
		if got := count(attr(tt.key, tt.value)); got != tt.want {
			t.Errorf("LookupEvents %s=%s: %d events, want %d", tt.key, tt.value, got, tt.want)
		}
	}
	// Several attributes combine (an opentrail extension).
	if got := count(append(attr(types.LookupAttributeKeyUsername, "alice"), attr(types.LookupAttributeKeyEventName, "Write")...)); got != 22 {
		t.Errorf("Username=alice AND EventName=Write: %d events, want 22", got)
	}

	// The channel event found by ID is the wrapped event as sent.
	ev := lookupAll(t, ct, &cloudtrail.LookupEventsInput{LookupAttributes: attr(types.LookupAttributeKeyEventId, eventIDs[7])})[0]
	var wrapped struct {
		EventCategory, EventType, EventID, RecipientAccountId string
		Metadata                                              struct{ ChannelARN string }
		EventData                                             map[string]any
	}
	if err := json.Unmarshal([]byte(aws.ToString(ev.CloudTrailEvent)), &wrapped); err != nil {
		t.Fatal(err)
	}
	if wrapped.EventCategory != "ActivityAuditLog" || wrapped.EventType != "ActivityLog" || wrapped.EventID != eventIDs[7] ||
		wrapped.Metadata.ChannelARN != chARN || wrapped.EventData["UID"] != "uid-7" || wrapped.RecipientAccountId != testAccount {
		t.Errorf("channel event = %s", aws.ToString(ev.CloudTrailEvent))
	}

	// Time range bounds are inclusive and exclude what is outside.
	if got := len(lookupAll(t, ct, &cloudtrail.LookupEventsInput{EndTime: aws.Time(start)})); got != 0 {
		t.Errorf("events before the test started: %d", got)
	}

	// Other regions have their own history.
	if got := len(lookupAll(t, ts.cloudtrail("eu-west-1"), &cloudtrail.LookupEventsInput{})); got != 0 {
		t.Errorf("eu-west-1 history has %d events, want 0", got)
	}
}

func TestLookupEventsValidation(t *testing.T) {
	ts := mustRunMain(t)
	ctx := context.Background()
	ct := ts.cloudtrail("us-east-1")
	for i := 0; i < 3; i++ {
		ct.ListChannels(ctx, &cloudtrail.ListChannelsInput{})
	}
	page, err := ct.LookupEvents(ctx, &cloudtrail.LookupEventsInput{MaxResults: aws.Int32(1)})
	if err != nil || page.NextToken == nil {
		t.Fatalf("LookupEvents MaxResults=1: %v, token %v", err, page)
	}
	now := time.Now()
	tests := []struct {
		name string
		in   cloudtrail.LookupEventsInput
		code string
	}{
		{"max results too big", cloudtrail.LookupEventsInput{MaxResults: aws.Int32(51)}, "InvalidMaxResultsException"},
		{"max results zero", cloudtrail.LookupEventsInput{MaxResults: aws.Int32(0)}, "InvalidMaxResultsException"},
		{"start after end", cloudtrail.LookupEventsInput{StartTime: aws.Time(now), EndTime: aws.Time(now.Add(-time.Hour))}, "InvalidTimeRangeException"},
		{"garbage token", cloudtrail.LookupEventsInput{NextToken: aws.String("not-a-token")}, "InvalidNextTokenException"},
		{"token of other parameters", cloudtrail.LookupEventsInput{NextToken: page.NextToken, MaxResults: aws.Int32(1),
			LookupAttributes: attr(types.LookupAttributeKeyUsername, "root")}, "InvalidNextTokenException"},
		{"bad attribute key", cloudtrail.LookupEventsInput{LookupAttributes: attr("Color", "red")}, "InvalidLookupAttributesException"},
		{"empty attribute value", cloudtrail.LookupEventsInput{LookupAttributes: attr(types.LookupAttributeKeyUsername, "")}, "InvalidLookupAttributesException"},
		{"insight with user name", cloudtrail.LookupEventsInput{EventCategory: types.EventCategoryInsight,
			LookupAttributes: attr(types.LookupAttributeKeyUsername, "root")}, "InvalidLookupAttributesException"},
		{"bad category", cloudtrail.LookupEventsInput{EventCategory: "management"}, "InvalidEventCategoryException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ct.LookupEvents(ctx, &tt.in)
			if got := errorCode(err); got != tt.code {
				t.Fatalf("LookupEvents = %v, want %s", err, tt.code)
			}
			var ae smithy.APIError
			errors.As(err, &ae)
			if ae.ErrorMessage() == "" {
				t.Errorf("error without a message")
			}
		})
	}
	// The token continues with the same parameters.
	next, err := ct.LookupEvents(ctx, &cloudtrail.LookupEventsInput{MaxResults: aws.Int32(1), NextToken: page.NextToken})
	if err != nil || len(next.Events) != 1 || aws.ToString(next.Events[0].EventId) == aws.ToString(page.Events[0].EventId) {
		t.Fatalf("second page: %v %+v", err, next)
	}
}

func TestLookupEventsThrottle(t *testing.T) {
	ts := mustRunMain(t, func(m *Main) { m.LookupRate = 2 })
	// No retries: the test must see the throttling errors.
	ct := cloudtrail.New(cloudtrail.Options{}, func(o *cloudtrail.Options) {
		cfg := ts.awsConfig("us-east-1")
		o.Region, o.Credentials, o.BaseEndpoint = cfg.Region, cfg.Credentials, aws.String(ts.URL)
		o.Retryer = aws.NopRetryer{}
	})
	var codes []string
	for i := 0; i < 4; i++ {
		_, err := ct.LookupEvents(context.Background(), &cloudtrail.LookupEventsInput{})
		codes = append(codes, errorCode(err))
	}
	if diff := cmp.Diff([]string{"", "", "ThrottlingException", "ThrottlingException"}, codes); diff != "" {
		t.Errorf("error codes (-want +got):\n%s", diff)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}
