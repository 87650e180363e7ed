package opentrail_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opentrail/opentrail"
)

// The plaso file is saved LookupEvents output from a real account: its
// EventName, Username, ReadOnly, AccessKeyId and Resources are AWS's own
// event-history view of the records in CloudTrailEvent.
func TestSummarizeAgainstLookupEventsOutput(t *testing.T) {
	f, err := os.Open("testdata/cloudtrail/log2timeline_plaso/aws_cloudtrail.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		var want struct {
			EventId, EventName, ReadOnly, AccessKeyId, EventSource, Username string
			Resources                                                        []struct{ ResourceType, ResourceName string }
			CloudTrailEvent                                                  string
		}
		if err := json.Unmarshal(sc.Bytes(), &want); err != nil {
			t.Fatal(err)
		}
		n++
		sum, err := opentrail.Summarize([]byte(want.CloudTrailEvent))
		if err != nil {
			t.Fatalf("%s: %v", want.EventId, err)
		}
		ro := ""
		if sum.ReadOnly != nil {
			ro = map[bool]string{true: "true", false: "false"}[*sum.ReadOnly]
		}
		got := []string{sum.EventID, sum.EventName, ro, sum.AccessKeyID, sum.EventSource, sum.Username}
		exp := []string{want.EventId, want.EventName, want.ReadOnly, want.AccessKeyId, want.EventSource, want.Username}
		if diff := cmp.Diff(exp, got); diff != "" {
			t.Errorf("%s %s: attributes (-want +got):\n%s", want.EventId, want.EventName, diff)
		}
		// AWS derives resources per API; check that what AWS listed and
		// the record itself names is found (the anonymised file changed
		// some IDs between the record and the listing).
		rec := want.CloudTrailEvent
		for _, r := range want.Resources {
			if !strings.Contains(rec, `"`+r.ResourceName+`"`) {
				continue
			}
			if !sum.Matches(opentrail.AttrResourceName, r.ResourceName) || !sum.Matches(opentrail.AttrResourceType, r.ResourceType) {
				t.Errorf("%s %s: resource %s %s not found in %+v", want.EventId, want.EventName, r.ResourceType, r.ResourceName, sum.Resources)
			}
		}
		if len(want.Resources) == 0 && len(sum.Resources) != 0 {
			t.Errorf("%s %s: resources %+v, AWS lists none", want.EventId, want.EventName, sum.Resources)
		}
	}
	if n != 6 {
		t.Fatalf("read %d events, want 6", n)
	}
}

func TestSummarizeRejects(t *testing.T) {
	for _, in := range []string{
		`[]`, `"x"`, `{`, `{}`,
		`{"eventTime":"ThisIsAWrongEventTime","awsRegion":"us-east-1"}`,
		`{"eventTime":"2024-01-01T00:00:00Z"}`,
		`{"eventTime":null,"awsRegion":"us-east-1"}`,
	} {
		if _, err := opentrail.Summarize([]byte(in)); !errors.Is(err, opentrail.ErrInvalidRecord) {
			t.Errorf("Summarize(%s) = %v, want ErrInvalidRecord", in, err)
		}
	}
	// Wrong types elsewhere do not make a record invalid.
	sum, err := opentrail.Summarize([]byte(`{"eventTime":"2024-01-01T00:00:00Z","awsRegion":"us-east-1","eventName":5,"readOnly":"true","userIdentity":"odd"}`))
	if err != nil {
		t.Fatal(err)
	}
	if sum.EventName != "" || sum.ReadOnly == nil || !*sum.ReadOnly || sum.Category != opentrail.CategoryManagement {
		t.Errorf("lenient summary = %+v", sum)
	}
}

func TestLookupUsername(t *testing.T) {
	tests := []struct {
		ui   opentrail.UserIdentity
		want string
	}{
		{opentrail.UserIdentity{Type: "Root", ARN: "arn:aws:iam::1:root"}, "root"},
		{opentrail.UserIdentity{Type: "IAMUser", UserName: "alice"}, "alice"},
		{opentrail.UserIdentity{Type: "AssumedRole", ARN: "arn:aws:sts::1:assumed-role/Admin/bob-session"}, "bob-session"},
		{opentrail.UserIdentity{Type: "FederatedUser", ARN: "arn:aws:sts::1:federated-user/carol"}, "carol"},
		{opentrail.UserIdentity{Type: "AWSService", InvokedBy: "ec2.amazonaws.com"}, "ec2.amazonaws.com"},
		{opentrail.UserIdentity{}, ""},
	}
	for _, tt := range tests {
		if got := opentrail.LookupUsername(&tt.ui); got != tt.want {
			t.Errorf("LookupUsername(%+v) = %q, want %q", tt.ui, got, tt.want)
		}
	}
}

// Every record of the shared real logs either summarizes or is one of the
// deliberately broken synthetic records.
func TestSummarizeRealLogs(t *testing.T) {
	files, _ := filepath.Glob("testdata/cloudtrail/*/*.json")
	more, _ := filepath.Glob("testdata/cloudtrail/*/*/*.json")
	files = append(files, more...)
	ok, bad := 0, 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var recs []json.RawMessage
		var wrapped struct{ Records []json.RawMessage }
		if json.Unmarshal(b, &wrapped) == nil && wrapped.Records != nil {
			recs = wrapped.Records
		} else if json.Unmarshal(b, &recs) != nil {
			continue // the deliberately malformed file
		}
		for _, r := range recs {
			if _, err := opentrail.Summarize(r); err != nil {
				bad++
				if !strings.Contains(f, "processing-library") {
					t.Errorf("%s: %v", f, err)
				}
				continue
			}
			ok++
		}
	}
	if ok < 600 {
		t.Errorf("only %d records summarized", ok)
	}
}

func validActivity(owner string) map[string]any {
	return map[string]any{
		"version":            "1.0",
		"userIdentity":       map[string]any{"type": "AppUser", "principalId": "alice", "details": map[string]any{"team": "ops"}},
		"userAgent":          "app/1.0",
		"eventSource":        "app.example.com",
		"eventName":          "Login",
		"eventTime":          "2026-01-02T03:04:05Z",
		"UID":                "uid-1",
		"requestParameters":  map[string]any{"k": "v"},
		"sourceIPAddress":    "192.0.2.1",
		"recipientAccountId": owner,
	}
}

func TestParseActivityEvent(t *testing.T) {
	const owner = "111122223333"
	mk := func(edit func(m map[string]any)) string {
		m := validActivity(owner)
		if edit != nil {
			edit(m)
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	good := mk(nil)
	sum := sha256.Sum256([]byte(good))
	tests := []struct {
		name     string
		data     string
		checksum string
		code     string
	}{
		{"valid", good, "", ""},
		{"valid with checksum", good, base64.StdEncoding.EncodeToString(sum[:]), ""},
		{"bad checksum", good, base64.StdEncoding.EncodeToString(make([]byte, 32)), opentrail.AuditInvalidChecksum},
		{"not json", "{nope", "", opentrail.AuditInvalidData},
		{"not object", `[1]`, "", opentrail.AuditInvalidData},
		{"missing version", mk(func(m map[string]any) { delete(m, "version") }), "", opentrail.AuditFieldNotFound},
		{"missing UID", mk(func(m map[string]any) { delete(m, "UID") }), "", opentrail.AuditFieldNotFound},
		{"missing principal", mk(func(m map[string]any) { m["userIdentity"] = map[string]any{"type": "x"} }), "", opentrail.AuditFieldNotFound},
		{"wrong type", mk(func(m map[string]any) { m["eventName"] = 7 }), "", opentrail.AuditInvalidData},
		{"long eventName", mk(func(m map[string]any) { m["eventName"] = strings.Repeat("x", 1025) }), "", opentrail.AuditFieldTooLong},
		{"long errorCode", mk(func(m map[string]any) { m["errorCode"] = strings.Repeat("x", 257) }), "", opentrail.AuditFieldTooLong},
		{"big requestParameters", mk(func(m map[string]any) { m["requestParameters"] = map[string]any{"x": strings.Repeat("y", 101*1024)} }), "", opentrail.AuditFieldTooLong},
		{"requestParameters not object", mk(func(m map[string]any) { m["requestParameters"] = "x" }), "", opentrail.AuditInvalidData},
		{"bad time", mk(func(m map[string]any) { m["eventTime"] = "yesterday" }), "", opentrail.AuditInvalidData},
		{"time without zone", mk(func(m map[string]any) { m["eventTime"] = "2026-01-02T03:04:05" }), "", ""},
		{"bad ip", mk(func(m map[string]any) { m["sourceIPAddress"] = "999.1.1.1" }), "", opentrail.AuditInvalidData},
		{"ipv6", mk(func(m map[string]any) { m["sourceIPAddress"] = "2001:db8::1" }), "", ""},
		{"other account", mk(func(m map[string]any) { m["recipientAccountId"] = "999999999999" }), "", opentrail.AuditInvalidRecipient},
		{"aws source", mk(func(m map[string]any) { m["eventSource"] = "iam.amazonaws.com" }), "", opentrail.AuditInvalidEventSource},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := opentrail.ParseActivityEvent(tt.data, tt.checksum, owner)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("ParseActivityEvent = %v, want success", err)
				}
				if !json.Valid(ev.Data) || ev.Time.IsZero() {
					t.Errorf("event = %+v", ev)
				}
				return
			}
			var ae *opentrail.AuditEventError
			if !errors.As(err, &ae) || ae.Code != tt.code {
				t.Fatalf("ParseActivityEvent = %v, want code %s", err, tt.code)
			}
		})
	}
}

func FuzzParseActivityEvent(f *testing.F) {
	good, _ := json.Marshal(validActivity("111122223333"))
	f.Add(string(good), "")
	f.Add(`{"version":"1","userIdentity":{"type":"t","principalId":"p"},"eventSource":"s","eventName":"n","eventTime":"2024-01-01T00:00:00Z","UID":"u","recipientAccountId":"111122223333","requestParameters":null}`, "")
	f.Add(`{"userIdentity":null}`, "abc")
	f.Add(`{"eventTime":{"a":1}}`, "")
	f.Fuzz(func(t *testing.T, data, checksum string) {
		ev, err := opentrail.ParseActivityEvent(data, checksum, "111122223333")
		if err != nil {
			var ae *opentrail.AuditEventError
			if !errors.As(err, &ae) || ae.Code == "" || ae.Message == "" {
				t.Fatalf("error %v is not an AuditEventError with code and message", err)
			}
			return
		}
		if !json.Valid(ev.Data) {
			t.Fatalf("accepted event data is not valid JSON: %q", ev.Data)
		}
		// Parsing the accepted (compacted) data again accepts it again.
		if _, err := opentrail.ParseActivityEvent(string(ev.Data), "", "111122223333"); err != nil {
			t.Fatalf("re-parse of accepted data failed: %v", err)
		}
		rec := opentrail.WrapActivityEvent(ev, "id", "us-east-1", "111122223333", "arn:aws:x", ev.Time)
		b, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		fast := opentrail.ActivityRecord(ev, "id", "us-east-1", "111122223333", "arn:aws:x", ev.Time)
		var a, c any
		if err := json.Unmarshal(fast, &a); err != nil {
			t.Fatalf("ActivityRecord is not JSON: %v\n%s", err, fast)
		}
		json.Unmarshal(b, &c)
		if !cmp.Equal(a, c) {
			t.Fatalf("ActivityRecord and WrapActivityEvent differ:\n%s\n%s", fast, b)
		}
		sum, err := opentrail.Summarize(fast)
		if err != nil {
			t.Fatalf("wrapped record does not summarize: %v", err)
		}
		if want := opentrail.ActivitySummary(ev, "id", "us-east-1", "111122223333"); !cmp.Equal(want, sum) {
			t.Fatalf("ActivitySummary differs from Summarize (-want +got):\n%s", cmp.Diff(want, sum))
		}
	})
}

// SummarizeEvent (from a record's fields) agrees with Summarize (from its
// bytes) on every real record.
func TestSummarizeEventAgrees(t *testing.T) {
	files, _ := filepath.Glob("testdata/cloudtrail/*/*.json")
	more, _ := filepath.Glob("testdata/cloudtrail/*/*/*.json")
	n := 0
	for _, f := range append(files, more...) {
		b, _ := os.ReadFile(f)
		var recs []json.RawMessage
		var wrapped struct{ Records []json.RawMessage }
		if json.Unmarshal(b, &wrapped) == nil && wrapped.Records != nil {
			recs = wrapped.Records
		} else if json.Unmarshal(b, &recs) != nil {
			continue
		}
		for _, r := range recs {
			want, err := opentrail.Summarize(r)
			if err != nil {
				continue
			}
			var ev opentrail.Event
			if json.Unmarshal(r, &ev) != nil {
				continue // a field of an unexpected type: only Summarize copes
			}
			got, err := opentrail.SummarizeEvent(&ev)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s %s: (-Summarize +SummarizeEvent)\n%s", f, want.EventID, diff)
			}
			n++
		}
	}
	if n < 500 {
		t.Errorf("compared only %d records", n)
	}
}
