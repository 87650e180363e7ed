package lake_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	opentrail "github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/lake"
)

const longQuery = `SELECT count(*) FROM ` + storeID + ` a CROSS JOIN ` + storeID + ` b CROSS JOIN ` + storeID + ` c CROSS JOIN ` + storeID + ` d WHERE a.eventname || b.eventname || c.eventname <> d.eventname`

func TestCancelStopsQuery(t *testing.T) {
	e, _ := mustLoad(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	res, err := e.Query(ctx, longQuery, resolver(storeID), lake.QueryOptions{ID: queryID()})
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != lake.StatusCancelled {
		t.Errorf("status %s, want CANCELLED", res.Status)
	}
	if took > 1300*time.Millisecond {
		t.Errorf("cancelled query returned after %v, want within a second of the cancel", took)
	}
	// The engine is still usable.
	mustQuery(t, e, `SELECT count(*) FROM `+storeID)
}

func TestTimeout(t *testing.T) {
	e, _ := mustLoad(t)
	start := time.Now()
	res, err := e.Query(context.Background(), longQuery, resolver(storeID), lake.QueryOptions{ID: queryID(), Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != lake.StatusTimedOut {
		t.Errorf("status %s, want TIMED_OUT", res.Status)
	}
	if took := time.Since(start); took > 1300*time.Millisecond {
		t.Errorf("timed-out query returned after %v", took)
	}
	// Its (partial) results are retrievable.
	if _, err := e.Results(context.Background(), res.ID, 0, 10); err != nil {
		t.Errorf("Results of a timed-out query: %v", err)
	}
	// A query that finishes in time is not affected by the limit.
	res, err = e.Query(context.Background(), `SELECT eventid FROM `+storeID, resolver(storeID), lake.QueryOptions{ID: queryID(), Timeout: 10 * time.Second})
	if err != nil || res.Status != lake.StatusFinished || res.Stats.EventsMatched == 0 {
		t.Errorf("quick query with a limit: %+v, %v", res, err)
	}
}

func syntheticEvent(i int, at time.Time) []byte {
	ev := opentrail.Event{
		EventVersion:       opentrail.EventVersion,
		UserIdentity:       &opentrail.UserIdentity{Type: "IAMUser", ARN: fmt.Sprintf("arn:aws:iam::%s:user/u%d", account, i%50), AccountID: account, UserName: fmt.Sprintf("u%d", i%50)},
		EventTime:          opentrail.FormatTime(at),
		EventSource:        "s3.amazonaws.com",
		EventName:          []string{"GetObject", "PutObject", "ListBuckets", "DeleteObject"}[i%4],
		AWSRegion:          "us-east-1",
		SourceIPAddress:    "192.0.2.1",
		UserAgent:          "aws-cli/2.15.0 Python/3.11",
		RequestParameters:  json.RawMessage(fmt.Sprintf(`{"bucketName":"b%d","key":"k/%d","nested":{"a":[1,2]}}`, i%10, i)),
		ResponseElements:   opentrail.Null,
		RequestID:          fmt.Sprintf("req-%d", i),
		EventID:            fmt.Sprintf("ev-%08d", i),
		ReadOnly:           opentrail.Bool(i%4 != 1),
		Resources:          []opentrail.Resource{{Type: "AWS::S3::Bucket", ARN: fmt.Sprintf("arn:aws:s3:::b%d", i%10)}},
		EventType:          opentrail.TypeAwsAPICall,
		ManagementEvent:    opentrail.Bool(false),
		RecipientAccountID: account,
		EventCategory:      opentrail.CategoryData,
		TLSDetails:         &opentrail.TLSDetails{TLSVersion: "TLSv1.3", CipherSuite: "TLS_AES_128_GCM_SHA256", ClientProvidedHostHeader: "s3.amazonaws.com"},
	}
	if i%7 == 0 {
		ev.ErrorCode = "AccessDenied"
		ev.ErrorMessage = "Access Denied"
	}
	b, _ := json.Marshal(ev)
	return b
}

// TestAppendCrashSafety reopens a lake whose engine was never closed, as
// after a crash, and resumes ingestion from Checkpoint: every event is
// there exactly once, and re-sent batches are ignored.
func TestAppendCrashSafety(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	batch := crashBatch
	// A child process appends three batches and exits without Close, as a
	// crash would: the last commits are only in DuckDB's WAL.
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$")
	cmd.Env = append(os.Environ(), "LAKE_CRASH_DIR="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("crash helper: %v\n%s", err, out)
	}

	e2 := mustOpen(t, dir)
	cp, err := e2.Checkpoint(ctx, storeID)
	if err != nil || cp != 300 {
		t.Fatalf("Checkpoint after crash = %d, %v; want 300", cp, err)
	}
	// The consumer re-sends the last batch (it could not know it was
	// committed), then continues.
	if err := e2.Append(ctx, storeID, 300, batch(200, 300)); err != nil {
		t.Fatal(err)
	}
	if err := e2.Append(ctx, storeID, 400, batch(300, 400)); err != nil {
		t.Fatal(err)
	}
	checkEventsOnce(t, e2, 400, "after crash and resume")
}

// checkEventsOnce checks that the test store holds want events, each once,
// and that its statistics say so.
func checkEventsOnce(t *testing.T, e *lake.Engine, want int, when string) {
	t.Helper()
	_, rows := mustQuery(t, e, `SELECT count(*), count(DISTINCT eventid) FROM `+storeID)
	if w := fmt.Sprint(want); rows[0][0] != w || rows[0][1] != w {
		t.Errorf("%s: %v events (%v distinct), want %d", when, rows[0][0], rows[0][1], want)
	}
	if st, _ := e.Stats(context.Background(), storeID); st.Events != int64(want) {
		t.Errorf("%s: Stats.Events = %d, want %d", when, st.Events, want)
	}
}

// TestCrashHelper is the child process of TestAppendCrashSafety.
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv("LAKE_CRASH_DIR")
	if dir == "" {
		t.Skip("only run by TestAppendCrashSafety")
	}
	ctx := context.Background()
	e, err := lake.Open(dir, lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.CreateStore(ctx, storeID); err != nil {
		t.Fatal(err)
	}
	for seq := int64(1); seq <= 3; seq++ {
		if err := e.Append(ctx, storeID, seq*100, crashBatch(int(seq-1)*100, int(seq)*100)); err != nil {
			t.Fatal(err)
		}
	}
	os.Exit(0)
}

func crashBatch(from, to int) [][]byte {
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	var evs [][]byte
	for i := from; i < to; i++ {
		evs = append(evs, syntheticEvent(i, base.Add(time.Duration(i)*time.Second)))
	}
	return evs
}

func TestExpire(t *testing.T) {
	e := mustOpen(t, t.TempDir())
	ctx := context.Background()
	if err := e.CreateStore(ctx, storeID); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var evs [][]byte
	for i := 0; i < 100; i++ {
		evs = append(evs, syntheticEvent(i, base.Add(time.Duration(i)*24*time.Hour)))
	}
	if err := e.Append(ctx, storeID, 1, evs); err != nil {
		t.Fatal(err)
	}
	n, err := e.Expire(ctx, storeID, base.Add(30*24*time.Hour))
	if err != nil || n != 30 {
		t.Fatalf("Expire = %d, %v; want 30", n, err)
	}
	_, rows := mustQuery(t, e, `SELECT count(*), min(eventtime) FROM `+storeID)
	if rows[0][0] != "70" || rows[0][1] != "2024-01-31 00:00:00.000" {
		t.Errorf("after Expire: %v, want 70 events from 2024-01-31", rows[0])
	}
	if n, _ := e.Expire(ctx, storeID, base.Add(30*24*time.Hour)); n != 0 {
		t.Errorf("second Expire = %d, want 0", n)
	}
	// Expire takes the size of the records it deletes, as stored before
	// fields were left out of eventjson, off the store's size.
	var left int64
	for _, ev := range evs[30:] {
		left += int64(len(ev))
	}
	if st, _ := e.Stats(ctx, storeID); st.Events != 70 || st.Bytes != left {
		t.Errorf("Stats = %+v, want 70 events of %d bytes", st, left)
	}
	if err := e.DropStore(ctx, storeID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Checkpoint(ctx, storeID); err != lake.ErrStoreNotFound {
		t.Errorf("Checkpoint after DropStore: %v", err)
	}
	if err := e.Append(ctx, storeID, 2, evs); err != lake.ErrStoreNotFound {
		t.Errorf("Append after DropStore: %v", err)
	}
}

func TestActivityEvents(t *testing.T) {
	e := mustOpen(t, t.TempDir())
	ctx := context.Background()
	if err := e.CreateStore(ctx, storeID); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	payload := json.RawMessage(`{"version":"0.01","userIdentity":{"type":"CustomUser","principalId":"alice","details":{"team":"ops"}},"eventSource":"app.example.com","eventName":"Login","eventTime":"2024-03-01T10:00:00Z","UID":"u-1","requestParameters":{"door":"front"},"recipientAccountId":"123456789012"}`)
	ev := opentrail.WrapActivityEvent(&opentrail.ActivityEvent{Time: at, Data: payload}, "act-1", "us-east-1", account, "arn:aws:cloudtrail:us-east-1:123456789012:channel/c1", at)
	b, _ := json.Marshal(ev)
	if err := e.Append(ctx, storeID, 1, [][]byte{b, []byte("not json"), []byte(`[1]`)}); err != nil {
		t.Fatal(err)
	}
	_, rows := mustQuery(t, e, `SELECT eventcategory, metadata.channelarn, eventdata.useridentity.principalid, element_at(eventdata.useridentity.details, 'team'), element_at(eventdata.requestparameters, 'door'), eventdata.uid, eventtime FROM `+storeID)
	want := []string{"ActivityAuditLog", "arn:aws:cloudtrail:us-east-1:123456789012:channel/c1", "alice", "ops", "front", "u-1", "2024-03-01 10:00:00.000"}
	if len(rows) != 1 || fmt.Sprint(rows[0]) != fmt.Sprint(want) {
		t.Errorf("activity event row = %v, want %v (and the two malformed bodies skipped)", rows, want)
	}
}
