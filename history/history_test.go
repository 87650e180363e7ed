package history_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/history"
	"github.com/opentrail/opentrail/journal"
)

func mustOpen(tb testing.TB, path string) *journal.DB {
	tb.Helper()
	if path == "" {
		path = filepath.Join(tb.TempDir(), "opentrail.db")
	}
	db, err := journal.Open(context.Background(), path, journal.Options{Synchronous: "NORMAL"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func mustIndex(tb testing.TB, db *journal.DB, opts history.Options) *history.Index {
	tb.Helper()
	if opts.Dir == "" {
		opts.Dir = filepath.Join(filepath.Dir(db.Path()), "history")
	}
	x, err := history.Open(context.Background(), db, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { x.Close() })
	return x
}

func record(id, name, user string, t time.Time, readOnly bool) []byte {
	ev := opentrail.Event{
		EventVersion: opentrail.EventVersion,
		UserIdentity: &opentrail.UserIdentity{Type: "IAMUser", UserName: user, AccessKeyID: "AKIA" + user,
			ARN: "arn:aws:iam::111122223333:user/" + user, AccountID: "111122223333"},
		EventTime:         opentrail.FormatTime(t),
		EventSource:       "ec2.amazonaws.com",
		EventName:         name,
		AWSRegion:         "us-east-1",
		RequestParameters: json.RawMessage(`{"instancesSet":{"items":[{"instanceId":"i-` + id + `"}]}}`),
		ResponseElements:  opentrail.Null,
		EventID:           id,
		ReadOnly:          opentrail.Bool(readOnly),
		EventType:         opentrail.TypeAwsAPICall,
		EventCategory:     opentrail.CategoryManagement,
	}
	b, _ := json.Marshal(ev)
	return b
}

func entry(body []byte, t time.Time, origin journal.Origin) journal.Entry {
	return journal.Entry{Account: "111122223333", Region: "us-east-1", Time: t, Category: opentrail.CategoryManagement,
		Origin: origin, History: true, Trails: true, Body: body}
}

func ids(found []history.Found) []string {
	var out []string
	for _, f := range found {
		out = append(out, f.Summary.EventID)
	}
	return out
}

func TestAppendIndexLookup(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t, "")
	now := time.Now().UTC().Truncate(time.Second)
	var entries []journal.Entry
	for i := range 120 {
		user := []string{"alice", "bob"}[i%2]
		name := []string{"RunInstances", "DescribeInstances", "StopInstances"}[i%3]
		entries = append(entries, entry(record(fmt.Sprintf("e%03d", i), name, user, now.Add(time.Duration(i-120)*time.Minute), name == "DescribeInstances"), now.Add(time.Duration(i-120)*time.Minute), journal.OriginAPI))
	}
	if _, err := db.Append(ctx, entries...); err != nil {
		t.Fatal(err)
	}
	h := mustIndex(t, db, history.Options{})
	if err := h.CatchUp(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := h.Indexed(), db.Head(); got != want {
		t.Fatalf("Indexed() = %d, want head %d", got, want)
	}

	// All events, newest first, in pages of 50.
	var all []string
	var after *history.Cursor
	for page := 0; ; page++ {
		found, next, err := h.Lookup(ctx, history.Query{Account: "111122223333", Region: "us-east-1", Limit: 50, After: after})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ids(found)...)
		if next == nil {
			break
		}
		after = next
	}
	var want []string
	for i := 119; i >= 0; i-- {
		want = append(want, fmt.Sprintf("e%03d", i))
	}
	if diff := cmp.Diff(want, all); diff != "" {
		t.Errorf("all events (-want +got):\n%s", diff)
	}

	tests := []struct {
		name  string
		attrs []history.Attr
		start time.Time
		end   time.Time
		want  func(i int) bool
	}{
		{"by user", []history.Attr{{opentrail.AttrUsername, "bob"}}, time.Time{}, time.Time{}, func(i int) bool { return i%2 == 1 }},
		{"by name", []history.Attr{{opentrail.AttrEventName, "StopInstances"}}, time.Time{}, time.Time{}, func(i int) bool { return i%3 == 2 }},
		{"read only", []history.Attr{{opentrail.AttrReadOnly, "true"}}, time.Time{}, time.Time{}, func(i int) bool { return i%3 == 1 }},
		{"access key", []history.Attr{{opentrail.AttrAccessKeyID, "AKIAalice"}}, time.Time{}, time.Time{}, func(i int) bool { return i%2 == 0 }},
		{"event id", []history.Attr{{opentrail.AttrEventID, "e007"}}, time.Time{}, time.Time{}, func(i int) bool { return i == 7 }},
		{"resource name (write calls only)", []history.Attr{{opentrail.AttrResourceName, "i-e009"}}, time.Time{}, time.Time{}, func(i int) bool { return i == 9 }},
		{"resource type", []history.Attr{{opentrail.AttrResourceType, "AWS::EC2::Instance"}}, time.Time{}, time.Time{}, func(i int) bool { return i%3 != 1 }},
		{"combined", []history.Attr{{opentrail.AttrUsername, "bob"}, {opentrail.AttrEventName, "RunInstances"}}, time.Time{}, time.Time{}, func(i int) bool { return i%2 == 1 && i%3 == 0 }},
		{"time range inclusive", nil, now.Add(-30 * time.Minute), now.Add(-20 * time.Minute), func(i int) bool { return i >= 90 && i <= 100 }},
		{"no match", []history.Attr{{opentrail.AttrUsername, "carol"}}, time.Time{}, time.Time{}, func(i int) bool { return false }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			err := h.Scan(ctx, history.Query{Account: "111122223333", Region: "us-east-1", Attrs: tt.attrs, Start: tt.start, End: tt.end}, func(f history.Found) error {
				got = append(got, f.Summary.EventID)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for i := 119; i >= 0; i-- {
				if tt.want(i) {
					want = append(want, fmt.Sprintf("e%03d", i))
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	// Other scopes see nothing.
	found, _, err := h.Lookup(ctx, history.Query{Account: "111122223333", Region: "eu-west-1", Limit: 50})
	if err != nil || len(found) != 0 {
		t.Errorf("other region: %d events, err %v; want none", len(found), err)
	}
	found, _, err = h.Lookup(ctx, history.Query{Account: "999999999999", Region: "us-east-1", Limit: 50})
	if err != nil || len(found) != 0 {
		t.Errorf("other account: %d events, err %v; want none", len(found), err)
	}
}

func TestIngestDedupeAndRetention(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t, "")
	now := time.Now().UTC().Truncate(time.Second)
	old := now.Add(-100 * 24 * time.Hour)
	recent := now.Add(-time.Hour)
	noID := []byte(`{"eventVersion":"1.05","eventTime":"` + opentrail.FormatTime(recent) + `","awsRegion":"us-east-1","eventName":"X","eventSource":"s.amazonaws.com"}`)
	batch := []journal.Entry{
		entry(record("dup", "RunInstances", "alice", recent, false), recent, journal.OriginIngest),
		entry(record("dup", "RunInstances", "alice", recent, false), recent, journal.OriginIngest),
		entry(noID, recent, journal.OriginIngest),
		entry(record("old", "RunInstances", "alice", old, false), old, journal.OriginIngest),
	}
	// The same batch twice: as if a log file were ingested twice.
	for range 2 {
		if _, err := db.Append(ctx, batch...); err != nil {
			t.Fatal(err)
		}
	}
	h := mustIndex(t, db, history.Options{})
	if err := h.CatchUp(ctx, nil); err != nil {
		t.Fatal(err)
	}
	var got []string
	h.Scan(ctx, history.Query{Account: "111122223333", Region: "us-east-1", Start: now.Add(-200 * 24 * time.Hour)}, func(f history.Found) error {
		got = append(got, f.Summary.EventName+"/"+f.Summary.EventID)
		return nil
	})
	if diff := cmp.Diff([]string{"X/", "RunInstances/dup"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	// Retention: with a clock 2 hours later and a 90-minute retention, the
	// recent events expire too.
	h.Close()
	h2 := mustIndex(t, db, history.Options{Retention: 90 * time.Minute, Now: func() time.Time { return now.Add(2 * time.Hour) }})
	found, _, err := h2.Lookup(ctx, history.Query{Account: "111122223333", Region: "us-east-1", Limit: 50})
	if err != nil || len(found) != 0 {
		t.Errorf("after retention: %d events, err %v; want none", len(found), err)
	}
	// The journal drops what every consumer has taken, but its newest event.
	if _, n, err := h2.Expire(ctx); err != nil || n != int64(len(batch)*2-1) {
		t.Errorf("Expire deleted %d events, err %v; want %d", n, err, len(batch)*2-1)
	}
}

func TestReopenKeepsCheckpoint(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	db := mustOpen(t, path)
	now := time.Now().UTC()
	if _, err := db.Append(ctx, entry(record("a", "RunInstances", "alice", now, false), now, journal.OriginAPI)); err != nil {
		t.Fatal(err)
	}
	opts := history.Options{Dir: filepath.Join(filepath.Dir(path), "history")}
	h, err := history.Open(ctx, db, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.CatchUp(ctx, nil); err != nil {
		t.Fatal(err)
	}
	head := db.Head()
	if _, err := history.Open(ctx, db, opts); err != history.ErrLocked {
		t.Errorf("second Open = %v, want ErrLocked", err)
	}
	h.Close()
	db.Close()
	db = mustOpen(t, path)
	h = mustIndex(t, db, opts)
	if h.Indexed() != head {
		t.Errorf("indexed after reopen = %d, want %d", h.Indexed(), head)
	}
	found, _, err := h.Lookup(ctx, history.Query{Account: "111122223333", Region: "us-east-1", Limit: 5})
	if err != nil || len(found) != 1 {
		t.Errorf("lookup after reopen: %d events, %v", len(found), err)
	}
}
