package lake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/opentrail/opentrail/internal/ctdata"
	"github.com/opentrail/opentrail/lake"
)

const (
	storeID  = "4b2e1f9c-0a1b-4c2d-8e3f-112233445566"
	otherID  = "9d8c7b6a-5f4e-4d3c-8b2a-665544332211"
	account  = "123456789012"
	storeARN = "arn:aws:cloudtrail:us-east-1:" + account + ":eventdatastore/" + storeID
)

func mustOpen(tb testing.TB, dir string) *lake.Engine {
	tb.Helper()
	e, err := lake.Open(dir, lake.Options{})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { e.Close() })
	return e
}

// resolver accepts the IDs (or ARNs in account) of the given stores.
func resolver(ids ...string) lake.Resolver {
	return func(ref string) (string, error) {
		for _, id := range ids {
			if strings.EqualFold(ref, id) || ref == "arn:aws:cloudtrail:us-east-1:"+account+":eventdatastore/"+id {
				return id, nil
			}
		}
		return "", fmt.Errorf("event data store %s not found", ref)
	}
}

const testdataDir = "../../shared/testdata/cloudtrail"

// loadTestdata reads the records of the shared test data (ctdata.Load).
func loadTestdata(tb testing.TB) (events [][]byte, skipped map[string]string) {
	tb.Helper()
	return ctdata.Load(tb, testdataDir)
}

// record is the part of a record the truth computations read.
type record struct {
	EventTime    string `json:"eventTime"`
	EventSource  string `json:"eventSource"`
	EventName    string `json:"eventName"`
	ErrorCode    string `json:"errorCode"`
	UserIdentity struct {
		Type string `json:"type"`
		ARN  string `json:"arn"`
	} `json:"userIdentity"`
	RequestParameters json.RawMessage `json:"requestParameters"`
	EventCategory     string          `json:"eventCategory"`
}

func mustLoad(tb testing.TB) (*lake.Engine, []record) {
	tb.Helper()
	events, skipped := loadTestdata(tb)
	if len(events) == 0 {
		tb.Fatal("no events in test data")
	}
	tb.Logf("loaded %d events; skipped %d files: %v", len(events), len(skipped), skipped)
	e := mustOpen(tb, tb.TempDir())
	ctx := context.Background()
	if err := e.CreateStore(ctx, storeID); err != nil {
		tb.Fatal(err)
	}
	if err := e.Append(ctx, storeID, 1, events); err != nil {
		tb.Fatal(err)
	}
	recs := make([]record, len(events))
	for i, ev := range events {
		if err := json.Unmarshal(ev, &recs[i]); err != nil {
			tb.Fatalf("event %d: %v", i, err)
		}
	}
	return e, recs
}

var nextQuery = 0

func queryID() string {
	nextQuery++
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", nextQuery)
}

// mustQuery runs stmt and returns all rows as maps of column to value
// ("<null>" for NULL), in order.
func mustQuery(tb testing.TB, e *lake.Engine, stmt string) ([]string, [][]string) {
	tb.Helper()
	ctx := context.Background()
	res, err := e.Query(ctx, stmt, resolver(storeID, otherID), lake.QueryOptions{ID: queryID()})
	if err != nil {
		tb.Fatalf("Query(%q): %v", stmt, err)
	}
	if res.Status != lake.StatusFinished {
		tb.Fatalf("Query(%q) status %s: %s", stmt, res.Status, res.Message)
	}
	var rows [][]string
	for off := int64(0); off >= 0; {
		p, err := e.Results(ctx, res.ID, off, 7)
		if err != nil {
			tb.Fatal(err)
		}
		for _, r := range p.Rows {
			row := make([]string, len(r))
			for i, c := range r {
				row[i] = c.Value
				if c.Null {
					row[i] = "<null>"
				}
			}
			rows = append(rows, row)
		}
		off = p.Next
	}
	if int64(len(rows)) != res.Stats.EventsMatched {
		tb.Errorf("paged %d rows, EventsMatched %d", len(rows), res.Stats.EventsMatched)
	}
	return res.Columns, rows
}

func countsOf(rows [][]string) map[string]string {
	m := map[string]string{}
	for _, r := range rows {
		m[r[0]] = r[1]
	}
	return m
}

func truthCounts(recs []record, key func(r record) (string, bool)) map[string]string {
	n := map[string]int{}
	for _, r := range recs {
		if k, ok := key(r); ok {
			n[k]++
		}
	}
	m := map[string]string{}
	for k, v := range n {
		m[k] = fmt.Sprint(v)
	}
	return m
}

func diffMaps(tb testing.TB, what string, got, want map[string]string) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Errorf("%s: %d groups, want %d", what, len(got), len(want))
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	bad := 0
	for _, k := range keys {
		if got[k] != want[k] {
			bad++
			if bad < 5 {
				tb.Errorf("%s[%q] = %q, want %q", what, k, got[k], want[k])
			}
		}
	}
}

func TestQueriesMatchTruth(t *testing.T) {
	e, recs := mustLoad(t)

	_, rows := mustQuery(t, e, `SELECT count(*) FROM `+storeID)
	if rows[0][0] != fmt.Sprint(len(recs)) {
		t.Errorf("count(*) = %s, want %d", rows[0][0], len(recs))
	}

	_, rows = mustQuery(t, e, `SELECT eventName, count(*) AS n FROM `+storeID+` WHERE eventName IS NOT NULL GROUP BY eventName`)
	diffMaps(t, "by eventName", countsOf(rows), truthCounts(recs, func(r record) (string, bool) { return r.EventName, r.EventName != "" }))

	_, rows = mustQuery(t, e, `select EVENTSOURCE, COUNT(*) from `+storeARN+` where eventsource is not null group by 1`)
	diffMaps(t, "by eventSource", countsOf(rows), truthCounts(recs, func(r record) (string, bool) { return r.EventSource, r.EventSource != "" }))

	_, rows = mustQuery(t, e, `SELECT errorCode, count(*) FROM `+storeID+` WHERE errorCode IS NOT NULL GROUP BY errorCode ORDER BY 2 DESC`)
	diffMaps(t, "by errorCode", countsOf(rows), truthCounts(recs, func(r record) (string, bool) { return r.ErrorCode, r.ErrorCode != "" }))

	// Struct access: top users by ARN.
	_, rows = mustQuery(t, e, `SELECT userIdentity.arn AS who, count(*) FROM `+storeID+` WHERE userIdentity.arn IS NOT NULL GROUP BY userIdentity.arn ORDER BY count(*) DESC, who`)
	diffMaps(t, "by userIdentity.arn", countsOf(rows), truthCounts(recs, func(r record) (string, bool) { return r.UserIdentity.ARN, r.UserIdentity.ARN != "" }))

	_, rows = mustQuery(t, e, `SELECT useridentity.type, count(*) FROM `+storeID+` WHERE useridentity.type IS NOT NULL GROUP BY 1`)
	diffMaps(t, "by userIdentity.type", countsOf(rows), truthCounts(recs, func(r record) (string, bool) { return r.UserIdentity.Type, r.UserIdentity.Type != "" }))

	// Time window with the string-vs-timestamp idiom.
	_, rows = mustQuery(t, e, `SELECT count(*) FROM `+storeID+` WHERE eventTime >= '2023-07-10 12:00:00' AND eventTime < '2023-07-10 12:30:00'`)
	want := 0
	for _, r := range recs {
		if len(r.EventTime) == 20 && r.EventTime >= "2023-07-10T12:00:00Z" && r.EventTime < "2023-07-10T12:30:00Z" {
			want++
		}
	}
	if want == 0 || rows[0][0] != fmt.Sprint(want) {
		t.Errorf("time window count = %s, want %d", rows[0][0], want)
	}

	// Hour buckets.
	_, rows = mustQuery(t, e, `SELECT date_trunc('hour', eventTime), count(*) FROM `+storeID+` WHERE eventTime IS NOT NULL GROUP BY 1`)
	diffMaps(t, "by hour", countsOf(rows), truthCounts(recs, func(r record) (string, bool) {
		if len(r.EventTime) != 20 || r.EventTime[10] != 'T' {
			return "", false
		}
		return r.EventTime[:10] + " " + r.EventTime[11:13] + ":00:00.000", true
	}))

	// Map access: element_at returns the value.
	_, rows = mustQuery(t, e, `SELECT element_at(requestParameters, 'bucketName') AS bucket, count(*) FROM `+storeID+` WHERE element_at(requestParameters, 'bucketName') IS NOT NULL GROUP BY 1`)
	diffMaps(t, "by bucketName", countsOf(rows), truthCounts(recs, func(r record) (string, bool) {
		var m map[string]any
		if json.Unmarshal(r.RequestParameters, &m) != nil {
			return "", false
		}
		v, ok := m["bucketName"].(string)
		return v, ok
	}))

	// Distinct users.
	_, rows = mustQuery(t, e, `SELECT count(DISTINCT userIdentity.arn) FROM `+storeID)
	if got, want := rows[0][0], fmt.Sprint(len(truthCounts(recs, func(r record) (string, bool) { return r.UserIdentity.ARN, r.UserIdentity.ARN != "" }))); got != want {
		t.Errorf("distinct users = %s, want %s", got, want)
	}
}

func TestResultShape(t *testing.T) {
	e, _ := mustLoad(t)
	cols, rows := mustQuery(t, e, `SELECT eventID, eventName, eventTime, readOnly, count(*) OVER () AS total, errorCode, cardinality(resources) FROM `+storeID+` WHERE errorCode IS NULL AND eventTime IS NOT NULL ORDER BY eventTime DESC, eventID LIMIT 1`)
	wantCols := []string{"eventID", "eventName", "eventTime", "readOnly", "total", "errorCode", "_col6"}
	if strings.Join(cols, ",") != strings.Join(wantCols, ",") {
		t.Errorf("columns = %v, want %v", cols, wantCols)
	}
	if len(rows) != 1 {
		t.Fatalf("rows = %v", rows)
	}
	if ts := rows[0][2]; len(ts) != len("2006-01-02 15:04:05.000") || ts[10] != ' ' {
		t.Errorf("eventTime rendered %q, want YYYY-MM-DD HH:MM:SS.mmm", ts)
	}
	if rows[0][5] != "<null>" {
		t.Errorf("errorCode = %q, want NULL", rows[0][5])
	}
}

func TestPagingAndCSV(t *testing.T) {
	e, recs := mustLoad(t)
	ctx := context.Background()
	res, err := e.Query(ctx, `SELECT eventID, eventName FROM `+storeID+` ORDER BY eventTime, eventID`, resolver(storeID), lake.QueryOptions{ID: queryID()})
	if err != nil || res.Status != lake.StatusFinished {
		t.Fatalf("Query: %v %+v", err, res)
	}
	if res.Stats.EventsMatched != int64(len(recs)) || res.Stats.EventsScanned != int64(len(recs)) || res.Stats.BytesScanned == 0 {
		t.Errorf("stats = %+v, want %d matched and scanned", res.Stats, len(recs))
	}
	p, err := e.Results(ctx, res.ID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if p.Next != -1 || len(p.Rows) != len(recs) || p.Total != int64(len(recs)) {
		t.Errorf("one page of 1000: %d rows, total %d, next %d", len(p.Rows), p.Total, p.Next)
	}
	p2, err := e.Results(ctx, res.ID, 100, 50)
	if err != nil {
		t.Fatal(err)
	}
	if p2.Next != 150 || p2.Rows[0][0].Value != p.Rows[100][0].Value {
		t.Errorf("page at 100: next %d, first %v want %v", p2.Next, p2.Rows[0][0], p.Rows[100][0])
	}
	var buf bytes.Buffer
	if err := e.WriteCSV(ctx, res.ID, &buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if lines[0] != "eventID,eventName" || len(lines) != len(recs)+1 {
		t.Errorf("CSV header %q, %d lines; want %d", lines[0], len(lines), len(recs)+1)
	}
	if err := e.DropResults(ctx, res.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Results(ctx, res.ID, 0, 10); !errors.Is(err, lake.ErrResultsNotFound) {
		t.Errorf("Results after DropResults: %v, want ErrResultsNotFound", err)
	}
}
