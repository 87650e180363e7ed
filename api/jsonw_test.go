package api

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opentrail/opentrail/api/ctapi"
)

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "ctl \x00\x01\x1f\n\r\t", "é ü 日本", "bad \xff\xfe utf8", "<script>&", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q encodes to invalid JSON %s: %v", s, b, err)
		}
		want, _ := json.Marshal(s)
		var exp string
		json.Unmarshal(want, &exp)
		if got != exp {
			t.Fatalf("%q: decodes to %q, encoding/json's to %q", s, got, exp)
		}
	})
}

func TestAppendLookupResponse(t *testing.T) {
	s := func(v string) *string { return &v }
	out := &ctapi.LookupEventsResponse{
		Events: []ctapi.Event{
			{EventId: s("id"), EventName: s("Run"), ReadOnly: s("false"), AccessKeyId: s("AKIA"), EventTime: ctapi.NewTimestamp(time.Unix(1700000000, 0)),
				EventSource: s("ec2.amazonaws.com"), Username: s("alice"), Resources: []ctapi.Resource{{ResourceType: s("AWS::EC2::Instance"), ResourceName: s("i-1")}},
				CloudTrailEvent: s(`{"eventName":"Run","x":"<\u2028>"}`)},
			{EventTime: ctapi.NewTimestamp(time.Unix(1700000001, 0)), Resources: []ctapi.Resource{}, CloudTrailEvent: s("{}")},
		},
		NextToken: s("tok"),
	}
	want, _ := json.Marshal(out)
	var a, b any
	json.Unmarshal(want, &a)
	if err := json.Unmarshal(appendLookupResponse(nil, out), &b); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("(-encoding/json +appendLookupResponse)\n%s", diff)
	}
	empty, _ := json.Marshal(&ctapi.LookupEventsResponse{Events: []ctapi.Event{}})
	if got := appendLookupResponse(nil, &ctapi.LookupEventsResponse{Events: []ctapi.Event{}}); string(got) != string(empty) {
		t.Errorf("empty response = %s, want %s", got, empty)
	}
}
