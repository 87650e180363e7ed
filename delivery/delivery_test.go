package delivery_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/delivery"
	"github.com/opentrail/opentrail/journal"
)

const account = "111122223333"

// memStore is a bucket backend in memory that can be made to fail.
type memStore struct {
	mu      sync.Mutex
	objects map[string][]byte
	puts    int
	fail    int // fail the next n puts
}

func (s *memStore) PutObject(ctx context.Context, bucket, key string, body []byte, opts delivery.PutOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.puts++
	if s.fail > 0 {
		s.fail--
		return &opentrail.Error{Code: "NoSuchBucket", Message: "The specified bucket does not exist"}
	}
	if opts.ContentType != "application/json" || opts.ContentEncoding != "gzip" {
		return fmt.Errorf("unexpected put options %+v", opts)
	}
	if s.objects == nil {
		s.objects = map[string][]byte{}
	}
	s.objects[bucket+"/"+key] = append([]byte(nil), body...)
	return nil
}

func (s *memStore) snapshot() map[string][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]byte{}
	for k, v := range s.objects {
		out[k] = v
	}
	return out
}

type memNotifier struct {
	mu       sync.Mutex
	messages []string
}

func (n *memNotifier) Publish(ctx context.Context, topic, message string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.messages = append(n.messages, topic+" "+message)
	return nil
}

func mustOpen(tb testing.TB) *journal.DB {
	tb.Helper()
	db, err := journal.Open(context.Background(), filepath.Join(tb.TempDir(), "db"), journal.Options{Synchronous: "NORMAL", Migrations: delivery.Migrations})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

var seqID int

// event appends a management event of acct in region and returns its ID.
func event(tb testing.TB, db *journal.DB, acct, region string, mutate func(*opentrail.Event, *journal.Entry)) string {
	tb.Helper()
	seqID++
	id := fmt.Sprintf("ev-%04d", seqID)
	ev := &opentrail.Event{EventVersion: "1.11", EventTime: opentrail.FormatTime(time.Now()), EventSource: "ec2.amazonaws.com",
		EventName: "DescribeInstances", AWSRegion: region, EventID: id, ReadOnly: opentrail.Bool(true), EventType: "AwsApiCall",
		EventCategory: "Management", RequestParameters: opentrail.Null, ResponseElements: opentrail.Null, RecipientAccountID: acct}
	e := journal.Entry{Account: acct, Region: region, Time: time.Now(), Category: "Management", History: true, Trails: true}
	if mutate != nil {
		mutate(ev, &e)
	}
	e.Body, _ = json.Marshal(ev)
	if _, err := db.Append(context.Background(), e); err != nil {
		tb.Fatal(err)
	}
	return id
}

// setTrail records a trail configuration from the next journal event on,
// and appends that event: the call that changed the trail, as the API
// does. It returns the call's event ID.
func setTrail(tb testing.TB, db *journal.DB, t *opentrail.Trail) string {
	tb.Helper()
	err := db.Update(context.Background(), func(tx *journal.Tx) error {
		seq, err := tx.NextSeq()
		if err != nil {
			return err
		}
		if t != nil {
			if err := tx.PutTrail(t); err != nil {
				return err
			}
		}
		arn := opentrail.TrailARN("us-east-1", account, "main")
		if seq == 1 {
			if err := tx.SetCheckpoint("trail:"+arn, 0); err != nil {
				return err
			}
		}
		return tx.AddTrailVersion(arn, seq, t)
	})
	if err != nil {
		tb.Fatal(err)
	}
	return event(tb, db, account, "us-east-1", func(ev *opentrail.Event, _ *journal.Entry) {
		ev.EventSource, ev.EventName, ev.ReadOnly = "cloudtrail.amazonaws.com", "UpdateTrail", opentrail.Bool(false)
	})
}

func trail() *opentrail.Trail {
	return &opentrail.Trail{Name: "main", Account: account, HomeRegion: "us-east-1", S3BucketName: "logs", S3KeyPrefix: "pre",
		SNSTopicARN: "arn:aws:sns:us-east-1:111122223333:t", IncludeGlobalServiceEvents: true, Logging: true}
}

var keyPattern = regexp.MustCompile(`^logs/pre/AWSLogs/111122223333/CloudTrail/([a-z0-9-]+)/\d{4}/\d{2}/\d{2}/111122223333_CloudTrail_([a-z0-9-]+)_\d{8}T\d{4}Z_[A-Za-z0-9]{16}\.json\.gz$`)

// delivered reads every delivered record: event ID -> region of its file.
func delivered(tb testing.TB, objects map[string][]byte) map[string][]string {
	tb.Helper()
	out := map[string][]string{}
	for k, v := range objects {
		m := keyPattern.FindStringSubmatch(k)
		if m == nil || m[1] != m[2] {
			tb.Fatalf("key %q is not a CloudTrail log file key", k)
		}
		zr, err := gzip.NewReader(bytes.NewReader(v))
		if err != nil {
			tb.Fatal(err)
		}
		raw, err := io.ReadAll(zr)
		if err != nil {
			tb.Fatal(err)
		}
		var f struct{ Records []opentrail.Event }
		if err := json.Unmarshal(raw, &f); err != nil {
			tb.Fatalf("%s: %v", k, err)
		}
		for _, r := range f.Records {
			if r.AWSRegion != m[1] {
				tb.Errorf("record of %s in the file of %s", r.AWSRegion, m[1])
			}
			out[r.EventID] = append(out[r.EventID], m[1])
		}
	}
	return out
}

func run(tb testing.TB, db *journal.DB, store *memStore, n delivery.Notifier) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	m := delivery.New(delivery.Options{DB: db, Store: store, Notifier: n, Interval: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(logWriter{tb}, nil))})
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDeliversWhatTheTrailRecords(t *testing.T) {
	db := mustOpen(t)
	store := &memStore{}
	notes := &memNotifier{}
	var want []string
	want = append(want, setTrail(t, db, trail()), event(t, db, account, "us-east-1", nil))
	event(t, db, account, "eu-west-1", nil)                                          // another region: single-region trail
	event(t, db, "999999999999", "us-east-1", nil)                                   // another account
	event(t, db, account, "us-east-1", func(ev *opentrail.Event, e *journal.Entry) { // a data event: not selected
		ev.EventCategory, e.Category, ev.ManagementEvent = "Data", "Data", opentrail.Bool(false)
	})
	event(t, db, account, "us-east-1", func(_ *opentrail.Event, e *journal.Entry) { e.Trails = false }) // ingested history
	want = append(want, event(t, db, account, "us-east-1", func(ev *opentrail.Event, _ *journal.Entry) {
		ev.EventName = "RunInstances"
		ev.ReadOnly = opentrail.Bool(false)
	}))
	stop := run(t, db, store, notes)
	defer stop()
	waitFor(t, "delivery", func() bool { return len(delivered(t, store.snapshot())) == len(want) })

	// Stop logging: the next events are not delivered; switch to a
	// multi-region trail and start again: other regions' events are.
	off := trail()
	off.Logging = false
	want = append(want, setTrail(t, db, off)) // StopLogging is delivered: logging was on before it
	event(t, db, account, "us-east-1", nil)
	multi := trail()
	multi.IsMultiRegion = true
	want = append(want, setTrail(t, db, multi)) // StartLogging is delivered: logging is on after it
	want = append(want, event(t, db, account, "eu-west-1", nil), event(t, db, account, "us-east-1", nil))
	waitFor(t, "delivery", func() bool { return len(delivered(t, store.snapshot())) == len(want) })
	time.Sleep(200 * time.Millisecond) // four intervals: nothing more may come
	got := delivered(t, store.snapshot())
	var gotIDs []string
	for id, regions := range got {
		if len(regions) != 1 {
			t.Errorf("event %s delivered %d times", id, len(regions))
		}
		gotIDs = append(gotIDs, id)
	}
	sort.Strings(gotIDs)
	sort.Strings(want)
	if diff := cmp.Diff(want, gotIDs); diff != "" {
		t.Errorf("delivered events (-want +got):\n%s", diff)
	}
	// One notification per delivery, naming the delivered keys.
	notes.mu.Lock()
	defer notes.mu.Unlock()
	var noted []string
	for _, m := range notes.messages {
		var msg struct {
			S3Bucket    string
			S3ObjectKey []string
		}
		topic, body, _ := cutSpace(m)
		if err := json.Unmarshal([]byte(body), &msg); err != nil || msg.S3Bucket != "logs" || topic != "arn:aws:sns:us-east-1:111122223333:t" {
			t.Fatalf("notification %q", m)
		}
		noted = append(noted, msg.S3ObjectKey...)
	}
	var keys []string
	for k := range store.snapshot() {
		keys = append(keys, k[len("logs/"):])
	}
	sort.Strings(keys)
	sort.Strings(noted)
	if diff := cmp.Diff(keys, noted); diff != "" {
		t.Errorf("notified keys (-objects +notifications):\n%s", diff)
	}
}

func cutSpace(s string) (string, string, bool) {
	for i := range s {
		if s[i] == ' ' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// A bucket that refuses writes is retried; GetTrailStatus's fields tell the
// truth meanwhile; every event is delivered once when it recovers.
func TestOutageIsRetried(t *testing.T) {
	db := mustOpen(t)
	store := &memStore{fail: 2}
	ids := []string{setTrail(t, db, trail()), event(t, db, account, "us-east-1", nil), event(t, db, account, "us-east-1", nil)}
	stop := run(t, db, store, nil)
	defer stop()
	arn := opentrail.TrailARN("us-east-1", account, "main")
	waitFor(t, "a failed attempt", func() bool {
		st, _ := db.TrailStatus(context.Background(), arn)
		return st.LatestDeliveryError == "NoSuchBucket" && !st.LatestDeliveryAttemptOK
	})
	waitFor(t, "delivery", func() bool { return len(delivered(t, store.snapshot())) == 3 })
	waitFor(t, "the status of the successful attempt", func() bool {
		st, _ := db.TrailStatus(context.Background(), arn)
		return st.LatestDeliveryError == "" && st.LatestDeliveryAttemptOK && !st.LatestDeliveryTime.IsZero()
	})
	for _, id := range ids {
		if n := len(delivered(t, store.snapshot())[id]); n != 1 {
			t.Errorf("event %s delivered %d times", id, n)
		}
	}
}

// A delivery interrupted after its intent was stored is redone with the
// same keys and bytes.
func TestRedoWritesTheSameFiles(t *testing.T) {
	db := mustOpen(t)
	setTrail(t, db, trail())
	for range 4 {
		event(t, db, account, "us-east-1", nil)
	}
	first := &memStore{}
	stop := run(t, db, first, nil)
	waitFor(t, "delivery", func() bool { return len(first.snapshot()) == 1 })
	stop()
	// Pretend the write never happened: put the intent back and rewind
	// the checkpoint, as a crash between intent and checkpoint leaves them.
	arn := opentrail.TrailARN("us-east-1", account, "main")
	var created int64
	for k := range first.snapshot() {
		m := regexp.MustCompile(`_(\d{8}T\d{4})Z_`).FindStringSubmatch(k)
		tm, _ := time.Parse("20060102T1504", m[1])
		created = tm.Unix()
	}
	err := db.Update(context.Background(), func(tx *journal.Tx) error {
		if _, err := tx.Exec("INSERT INTO delivery_intents (trail, lo, hi, created) VALUES (?, 0, ?, ?)", arn, db.Head(), created); err != nil {
			return err
		}
		return tx.SetCheckpoint("trail:"+arn, 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	second := &memStore{}
	stop = run(t, db, second, nil)
	defer stop()
	waitFor(t, "redo", func() bool { return len(second.snapshot()) == 1 })
	if diff := cmp.Diff(first.snapshot(), second.snapshot()); diff != "" {
		t.Errorf("redone delivery differs (-first +redo):\n%s", diff)
	}
}

// A deleted trail delivers what it recorded, then lets the journal go.
func TestDeletedTrailFinishes(t *testing.T) {
	db := mustOpen(t)
	store := &memStore{}
	ids := []string{setTrail(t, db, trail()), event(t, db, account, "us-east-1", nil), setTrail(t, db, nil)}
	event(t, db, account, "us-east-1", nil) // after the deletion
	stop := run(t, db, store, nil)
	defer stop()
	waitFor(t, "delivery", func() bool { return len(delivered(t, store.snapshot())) == 3 })
	got := delivered(t, store.snapshot())
	for _, id := range ids {
		if len(got[id]) != 1 {
			t.Errorf("delivered %v, want %v", got, ids)
		}
	}
	waitFor(t, "the consumer to end", func() bool {
		arns, _ := db.TrailARNsWithVersions(context.Background())
		return len(arns) == 0
	})
	// With another consumer (event history) past everything, the journal
	// may now let the trail's events go.
	if err := db.Update(context.Background(), func(tx *journal.Tx) error { return tx.SetCheckpoint("history", db.Head()) }); err != nil {
		t.Fatal(err)
	}
	if n, err := db.DeleteConsumed(context.Background()); err != nil || n != int64(db.Head()-1) {
		t.Errorf("DeleteConsumed after the trail finished: %d, %v; want %d", n, err, db.Head()-1)
	}
}

// logWriter sends the consumers' logs to the test log.
type logWriter struct{ tb testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// Events a channel routes to the account's CloudTrail reach trails that
// log management events; those routed to event data stores only do not.
func TestChannelEvents(t *testing.T) {
	db := mustOpen(t)
	store := &memStore{}
	ids := []string{setTrail(t, db, trail())}
	channel := func(toTrails bool) string {
		return event(t, db, account, "us-east-1", func(ev *opentrail.Event, e *journal.Entry) {
			ev.EventCategory, ev.EventType, e.Category = "ActivityAuditLog", "ActivityLog", "ActivityAuditLog"
			ev.EventData = json.RawMessage(`{"eventName":"Login","eventSource":"app.example.com"}`)
			e.Origin, e.Trails, e.History = journal.OriginChannel, toTrails, toTrails
		})
	}
	ids = append(ids, channel(true))
	channel(false)
	stop := run(t, db, store, nil)
	defer stop()
	waitFor(t, "delivery", func() bool { return len(delivered(t, store.snapshot())) == 2 })
	time.Sleep(150 * time.Millisecond)
	got := delivered(t, store.snapshot())
	for _, id := range ids {
		if len(got[id]) != 1 {
			t.Errorf("delivered %v, want %v", got, ids)
		}
	}
}
