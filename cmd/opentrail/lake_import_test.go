package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/uuid"
	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/blob"
	"github.com/opentrail/opentrail/internal/ctdata"
)

// importRole is the S3BucketAccessRoleArn of the tests' imports:
// well formed, never assumed.
const importRole = "arn:aws:iam::123456789012:role/CloudTrailLakeImport"

// sharedTestdata is the shared CloudTrail test data beside the repository.
func sharedTestdata(tb testing.TB) string {
	tb.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "testdata", "cloudtrail")
	if _, err := os.Stat(dir); err != nil {
		tb.Skipf("no shared test data: %v", err)
	}
	return dir
}

// importObject is an object the tests put in a source bucket.
type importObject struct {
	key  string
	body []byte
	// records are the events of a valid log file; fails is the
	// ErrorType(s) the import reports for a file it cannot read; a file
	// with neither is not one the import reads.
	records [][]byte
	fails   []string
}

func gzipBytes(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// impRecord is the part of a record the truth computations read.
type impRecord struct {
	EventTime    string `json:"eventTime"`
	EventSource  string `json:"eventSource"`
	EventName    string `json:"eventName"`
	EventID      string `json:"eventID"`
	ErrorCode    string `json:"errorCode"`
	AWSRegion    string `json:"awsRegion"`
	Recipient    string `json:"recipientAccountId"`
	UserIdentity struct {
		ARN string `json:"arn"`
	} `json:"userIdentity"`
	RequestParameters json.RawMessage `json:"requestParameters"`
}

func decodeRecords(tb testing.TB, raws [][]byte) []impRecord {
	tb.Helper()
	out := make([]impRecord, len(raws))
	for i, r := range raws {
		if err := json.Unmarshal(r, &out[i]); err != nil {
			tb.Fatalf("record %d: %v", i, err)
		}
	}
	return out
}

// eventTimeOf parses a record's eventTime; ok is false when it is not an
// RFC 3339 time.
func (r impRecord) eventTimeOf() (time.Time, bool) {
	t, err := time.Parse(time.RFC3339, r.EventTime)
	return t, err == nil
}

// importKey is where CloudTrail delivers a log file of account and region
// named with time t.
func importKey(account, region string, t time.Time, unique string) string {
	return fmt.Sprintf("AWSLogs/%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%s_%s.json.gz",
		account, region, t.Format("2006/01/02"), account, region, t.Format("20060102T1504Z"), unique)
}

// testdataObjects turns the shared test data into a bucket as trails
// fill it: every file of records becomes a gzipped log file
// ({"Records": [...]}) at CloudTrail's key for its account, region and the
// time of its last event (the real gzipped log keeps its bytes and its
// name); the malformed files and the SNS notification bodies become log
// files the import must report; digests, other services' logs and
// uncompressed files sit beside them and must be left alone.
func testdataObjects(tb testing.TB) []importObject {
	tb.Helper()
	dir := sharedTestdata(tb)
	var out []importObject
	n := 0
	unique := func() string { n++; return fmt.Sprintf("Imp%013d", n) }
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".md") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		name := filepath.Base(p)
		if strings.HasSuffix(name, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				tb.Fatal(err)
			}
			var plain bytes.Buffer
			if _, err := plain.ReadFrom(zr); err != nil {
				tb.Fatal(err)
			}
			var wrapped struct{ Records []json.RawMessage }
			if err := json.Unmarshal(plain.Bytes(), &wrapped); err != nil {
				tb.Fatal(err)
			}
			// A real delivered file keeps its bytes and its name, in its
			// own folder; others are handled as their content.
			parts := strings.Split(strings.TrimSuffix(name, ".json.gz"), "_")
			if t, err := time.Parse("20060102T1504Z", parts[min(3, len(parts)-1)]); err == nil && len(parts) == 5 {
				key := fmt.Sprintf("AWSLogs/%s/CloudTrail/%s/%s/%s", parts[0], parts[2], t.Format("2006/01/02"), name)
				out = append(out, importObject{key: key, body: b, records: rawRecords(wrapped.Records)})
				return nil
			}
			b = plain.Bytes()
		}
		var recs []json.RawMessage
		var wrapped struct{ Records []json.RawMessage }
		switch {
		case json.Unmarshal(b, &wrapped) == nil && wrapped.Records != nil:
			recs = wrapped.Records
		case json.Unmarshal(b, &recs) == nil:
		case strings.HasSuffix(name, ".jsonl"):
			for _, line := range bytes.Split(b, []byte("\n")) {
				var le struct{ CloudTrailEvent string }
				if len(bytes.TrimSpace(line)) > 0 {
					if err := json.Unmarshal(line, &le); err != nil {
						tb.Fatalf("%s: %v", p, err)
					}
					recs = append(recs, json.RawMessage(le.CloudTrailEvent))
				}
			}
		case json.Valid(b):
			// Valid JSON, not a log file (SNS notifications).
			key := importKey(testAccount, "us-east-1", time.Date(2014, 3, 9, 12, 0, 0, 0, time.UTC), unique())
			out = append(out, importObject{key: key, body: gzipBytes(tb, b), fails: []string{"InvalidLogFile"}})
			return nil
		default:
			key := importKey(testAccount, "us-east-1", time.Date(2014, 3, 9, 12, 5, 0, 0, time.UTC), unique())
			out = append(out, importObject{key: key, body: gzipBytes(tb, b), fails: []string{"InvalidJson"}})
			return nil
		}
		account, region := testAccount, "us-east-1"
		var last time.Time
		for _, r := range decodeRecords(tb, rawRecords(recs)) {
			if t, ok := r.eventTimeOf(); ok && t.After(last) {
				last = t
			}
			if opentrail.ValidAccountID(r.Recipient) {
				account = r.Recipient
			}
			if opentrail.ValidRegionName(r.AWSRegion) {
				region = r.AWSRegion
			}
		}
		if last.IsZero() {
			last = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		}
		body, err := json.Marshal(map[string]any{"Records": recs})
		if err != nil {
			tb.Fatal(err)
		}
		key := importKey(account, region, last.Truncate(5*time.Minute).Add(5*time.Minute), unique())
		out = append(out, importObject{key: key, body: gzipBytes(tb, body), records: rawRecords(recs)})
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	out = append(out,
		// Not gzip, though named so.
		importObject{key: importKey(testAccount, "eu-west-1", time.Date(2023, 7, 11, 9, 0, 0, 0, time.UTC), unique()),
			body: []byte(`{"Records":[]}`), fails: []string{"InvalidGzip"}},
		// Left alone: a digest, another service's logs, an uncompressed
		// file, a file outside AWSLogs' CloudTrail folder.
		importObject{key: "AWSLogs/" + testAccount + "/CloudTrail-Digest/us-east-1/2023/07/10/" + testAccount + "_CloudTrail-Digest_us-east-1_trail_us-east-1_20230710T120000Z.json.gz",
			body: gzipBytes(tb, []byte(`{"awsAccountId":"`+testAccount+`"}`))},
		importObject{key: "AWSLogs/" + testAccount + "/elasticloadbalancing/us-east-1/2023/07/10/lb.json.gz", body: gzipBytes(tb, []byte(`not json`))},
		importObject{key: "AWSLogs/" + testAccount + "/CloudTrail/us-east-1/2023/07/10/notes.json", body: []byte(`{"Records":[{}]}`)},
	)
	return out
}

func rawRecords(recs []json.RawMessage) [][]byte {
	out := make([][]byte, len(recs))
	for i, r := range recs {
		out[i] = []byte(r)
	}
	return out
}

// putObjects creates bucket and puts the objects through the S3 endpoint.
func putObjects(tb testing.TB, s3c *s3.Client, bucket string, objs []importObject) {
	tb.Helper()
	ctx := context.Background()
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		tb.Fatal(err)
	}
	for _, o := range objs {
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(o.key), Body: bytes.NewReader(o.body)}); err != nil {
			tb.Fatalf("put %s: %v", o.key, err)
		}
	}
}

// importTruth is what an import of objs must copy and report: the records
// of the valid files whose eventTime is after cutoff (or unreadable) and
// within [start, end] when given.
type importTruth struct {
	records  []impRecord
	files    int
	failures map[string][]string // location -> acceptable error types
	prefixes int
}

func truthOf(tb testing.TB, bucket string, objs []importObject, cutoff, start, end time.Time) importTruth {
	tb.Helper()
	tr := importTruth{failures: map[string][]string{}}
	dirs := map[string]bool{}
	for _, o := range objs {
		switch {
		case o.fails != nil:
			tr.failures["s3://"+bucket+"/"+o.key] = o.fails
		case o.records != nil:
			tr.files++
		default:
			continue
		}
		dirs[path.Dir(o.key)] = true
		for _, r := range decodeRecords(tb, o.records) {
			t, ok := r.eventTimeOf()
			if !ok && (!start.IsZero() || !end.IsZero()) {
				continue
			}
			if ok && (t.Before(cutoff) || !start.IsZero() && t.Before(start) || !end.IsZero() && t.After(end)) {
				continue
			}
			tr.records = append(tr.records, r)
		}
	}
	tr.prefixes = len(dirs)
	return tr
}

// quietStore creates a store whose selectors take none of the server's
// own events (only EC2's management events, which opentrail never
// records), so that it holds only what is imported into it.
func quietStore(tb testing.TB, ct *cloudtrail.Client, name string, retention int32) (arn, id string) {
	tb.Helper()
	return mustStore(tb, ct, &cloudtrail.CreateEventDataStoreInput{Name: aws.String(name), RetentionPeriod: aws.Int32(retention),
		TerminationProtectionEnabled: aws.Bool(false),
		AdvancedEventSelectors: []types.AdvancedEventSelector{{Name: aws.String("EC2 only"), FieldSelectors: []types.AdvancedFieldSelector{
			{Field: aws.String("eventCategory"), Equals: []string{"Management"}},
			{Field: aws.String("eventSource"), Equals: []string{"ec2.amazonaws.com"}},
		}}}})
}

// waitImport polls GetImport until the import ends.
func waitImport(tb testing.TB, ct *cloudtrail.Client, id string, d time.Duration) *cloudtrail.GetImportOutput {
	tb.Helper()
	return pollImport(tb, ct, id, d, "it ends", importEnded)
}

func importEnded(out *cloudtrail.GetImportOutput) bool {
	switch out.ImportStatus {
	case types.ImportStatusCompleted, types.ImportStatusFailed, types.ImportStatusStopped:
		return true
	}
	return false
}

// pollImport polls GetImport until until holds, and fails if the import
// ends first or d passes.
func pollImport(tb testing.TB, ct *cloudtrail.Client, id string, d time.Duration, what string, until func(*cloudtrail.GetImportOutput) bool) *cloudtrail.GetImportOutput {
	tb.Helper()
	deadline := time.Now().Add(d)
	for {
		out, err := ct.GetImport(context.Background(), &cloudtrail.GetImportInput{ImportId: aws.String(id)})
		if err != nil {
			tb.Fatal(err)
		}
		if until(out) {
			return out
		}
		if importEnded(out) {
			tb.Fatalf("import %s ended %s before %s", id, out.ImportStatus, what)
		}
		if time.Now().After(deadline) {
			tb.Fatalf("import %s still %s after %s, waiting until %s: %+v", id, out.ImportStatus, d, what, *out.ImportStatistics)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func startImport(tb testing.TB, ct *cloudtrail.Client, storeARN, uri string, start, end *time.Time) *cloudtrail.StartImportOutput {
	tb.Helper()
	out, err := ct.StartImport(context.Background(), importInput(storeARN, uri, start, end))
	if err != nil {
		tb.Fatalf("StartImport: %v", err)
	}
	return out
}

func importInput(storeARN, uri string, start, end *time.Time) *cloudtrail.StartImportInput {
	return &cloudtrail.StartImportInput{
		Destinations: []string{storeARN},
		ImportSource: &types.ImportSource{S3: &types.S3ImportSource{
			S3LocationUri: aws.String(uri), S3BucketRegion: aws.String("us-east-1"), S3BucketAccessRoleArn: aws.String(importRole),
		}},
		StartEventTime: start,
		EndEventTime:   end,
	}
}

func checkStats(tb testing.TB, what string, got *types.ImportStatistics, want types.ImportStatistics) {
	tb.Helper()
	g := [5]int64{aws.ToInt64(got.PrefixesFound), aws.ToInt64(got.PrefixesCompleted), aws.ToInt64(got.FilesCompleted), aws.ToInt64(got.EventsCompleted), aws.ToInt64(got.FailedEntries)}
	w := [5]int64{aws.ToInt64(want.PrefixesFound), aws.ToInt64(want.PrefixesCompleted), aws.ToInt64(want.FilesCompleted), aws.ToInt64(want.EventsCompleted), aws.ToInt64(want.FailedEntries)}
	if g != w {
		tb.Errorf("%s: statistics (prefixes found, completed, files, events, failed) = %v, want %v", what, g, w)
	}
}

// countQuery runs a query of one number.
func countQuery(tb testing.TB, ct *cloudtrail.Client, stmt string) int {
	tb.Helper()
	_, rows := runQuery(tb, ct, stmt, 10)
	if len(rows) != 1 || len(rows[0]) != 1 {
		tb.Fatalf("%s: rows %v", stmt, rows)
	}
	for _, v := range rows[0][0] {
		n, err := strconv.Atoi(v)
		if err != nil {
			tb.Fatalf("%s: %v", stmt, err)
		}
		return n
	}
	return -1
}

func truthGroups(recs []impRecord, key func(impRecord) (string, bool)) map[string]int {
	out := map[string]int{}
	for _, r := range recs {
		if k, ok := key(r); ok {
			out[k]++
		}
	}
	return out
}

func diffCounts(tb testing.TB, what string, got, want map[string]int) {
	tb.Helper()
	if len(want) == 0 {
		tb.Errorf("%s: the truth is empty; the test data is not what it should be", what)
	}
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	bad := 0
	for _, k := range keys {
		if got[k] != want[k] {
			if bad++; bad <= 5 {
				tb.Errorf("%s[%q] = %d, want %d", what, k, got[k], want[k])
			}
		}
	}
}

// checkAgainstTruth compares the store's query results with the truth
// computed from the records.
func checkAgainstTruth(tb testing.TB, ct *cloudtrail.Client, id string, recs []impRecord) {
	tb.Helper()
	// Results are read 7 rows at a time, to page through them.
	if got := countQuery(tb, ct, `SELECT count(*) FROM `+id); got != len(recs) {
		tb.Errorf("count(*) = %d, want %d", got, len(recs))
	}
	diffCounts(tb, "by eventSource", pagedCounts(tb, ct, `SELECT eventSource, count(*) FROM `+id+` WHERE eventSource IS NOT NULL GROUP BY eventSource`, 7),
		truthGroups(recs, func(r impRecord) (string, bool) { return r.EventSource, r.EventSource != "" }))
	diffCounts(tb, "by eventName", pagedCounts(tb, ct, `SELECT eventName, count(*) AS n FROM `+id+` WHERE eventName IS NOT NULL GROUP BY eventName ORDER BY n DESC`, 7),
		truthGroups(recs, func(r impRecord) (string, bool) { return r.EventName, r.EventName != "" }))
	diffCounts(tb, "by errorCode", pagedCounts(tb, ct, `SELECT errorCode, count(*) FROM `+id+` WHERE errorCode IS NOT NULL GROUP BY errorCode`, 7),
		truthGroups(recs, func(r impRecord) (string, bool) { return r.ErrorCode, r.ErrorCode != "" }))
	diffCounts(tb, "by hour", pagedCounts(tb, ct, `SELECT date_trunc('hour', eventTime), count(*) FROM `+id+` WHERE eventTime IS NOT NULL GROUP BY 1`, 7),
		truthGroups(recs, func(r impRecord) (string, bool) {
			t, ok := r.eventTimeOf()
			return t.UTC().Truncate(time.Hour).Format("2006-01-02 15:04:05.000"), ok
		}))
	diffCounts(tb, "by bucketName", pagedCounts(tb, ct, `SELECT element_at(requestParameters, 'bucketName'), count(*) FROM `+id+
		` WHERE element_at(requestParameters, 'bucketName') IS NOT NULL GROUP BY 1`, 7),
		truthGroups(recs, func(r impRecord) (string, bool) {
			var m map[string]any
			if json.Unmarshal(r.RequestParameters, &m) != nil {
				return "", false
			}
			v, ok := m["bucketName"].(string)
			return v, ok
		}))
	users := truthGroups(recs, func(r impRecord) (string, bool) { return r.UserIdentity.ARN, r.UserIdentity.ARN != "" })
	if got := countQuery(tb, ct, `SELECT count(DISTINCT userIdentity.arn) FROM `+id); got != len(users) || got == 0 {
		tb.Errorf("distinct users = %d, want %d", got, len(users))
	}
}

func TestLakeImportFromBucket(t *testing.T) {
	ts := mustRunMain(t, lakeMemory)
	ctx := context.Background()
	ct, s3c := ts.cloudtrail("us-east-1"), ts.s3("us-east-1")
	objs := testdataObjects(t)
	putObjects(t, s3c, "trail-logs", objs)
	const retention = 3653
	storeARN, storeID := quietStore(t, ct, "imported", retention)
	truth := truthOf(t, "trail-logs", objs, time.Now().AddDate(0, 0, -retention), time.Time{}, time.Time{})
	if len(truth.failures) < 3 || truth.files < 40 || len(truth.records) < 500 {
		t.Fatalf("test data: %d files, %d failures, %d records", truth.files, len(truth.failures), len(truth.records))
	}

	// Validation.
	stoppedARN, _ := mustStore(t, ct, &cloudtrail.CreateEventDataStoreInput{Name: aws.String("stopped"), StartIngestion: aws.Bool(false)})
	deletedARN, _ := quietStore(t, ct, "deleted", 7)
	if _, err := ct.DeleteEventDataStore(ctx, &cloudtrail.DeleteEventDataStoreInput{EventDataStore: aws.String(deletedARN)}); err != nil {
		t.Fatal(err)
	}
	// A bucket of another account, made directly in the bucket store.
	buckets, err := blob.NewDir(filepath.Join(ts.DataDir, "buckets"))
	if err != nil {
		t.Fatal(err)
	}
	if err := buckets.CreateBucket(ctx, "someone-elses-logs", "444455556666", "us-east-1"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		in   *cloudtrail.StartImportInput
		code string
	}{
		{"no bucket", importInput(storeARN, "s3://no-such-bucket/", nil, nil), "InvalidImportSourceException"},
		{"another account's bucket", importInput(storeARN, "s3://someone-elses-logs/", nil, nil), "InvalidImportSourceException"},
		{"bad uri", importInput(storeARN, "https://trail-logs/", nil, nil), "InvalidImportSourceException"},
		{"bad bucket name", importInput(storeARN, "s3://Trail_Logs/", nil, nil), "InvalidImportSourceException"},
		{"no store", importInput(strings.Replace(storeARN, storeID[:8], "00000000", 1), "s3://trail-logs/", nil, nil), "EventDataStoreNotFoundException"},
		{"bad store", importInput("arn:aws:cloudtrail:us-east-1:123456789012:trail/x", "s3://trail-logs/", nil, nil), "EventDataStoreARNInvalidException"},
		{"range", importInput(storeARN, "s3://trail-logs/", aws.Time(time.Now().Add(-time.Hour)), aws.Time(time.Now().Add(-2*time.Hour))), "InvalidParameterException"},
		{"role", func() *cloudtrail.StartImportInput {
			in := importInput(storeARN, "s3://trail-logs/", nil, nil)
			in.ImportSource.S3.S3BucketAccessRoleArn = aws.String("arn:aws:iam::123456789012:user/alice")
			return in
		}(), "InvalidParameterException"},
		{"retry unknown", &cloudtrail.StartImportInput{ImportId: aws.String(uuid.NewString())}, "ImportNotFoundException"},
		{"stopped store", importInput(stoppedARN, "s3://trail-logs/", nil, nil), "InvalidEventDataStoreStatusException"},
		{"deleted store", importInput(deletedARN, "s3://trail-logs/", nil, nil), "InactiveEventDataStoreException"},
		{"other region", func() *cloudtrail.StartImportInput {
			in := importInput(storeARN, "s3://trail-logs/", nil, nil)
			in.ImportSource.S3.S3BucketRegion = aws.String("eu-west-1")
			return in
		}(), "InvalidImportSourceException"},
	} {
		if _, err := ct.StartImport(ctx, c.in); errorCode(err) != c.code {
			t.Errorf("StartImport (%s): %v, want %s", c.name, err, c.code)
		}
	}
	if _, err := ct.GetImport(ctx, &cloudtrail.GetImportInput{ImportId: aws.String(uuid.NewString())}); errorCode(err) != "ImportNotFoundException" {
		t.Errorf("GetImport of an unknown import: %v", err)
	}

	started := startImport(t, ct, storeARN, "s3://trail-logs/", nil, nil)
	id := aws.ToString(started.ImportId)
	if started.ImportStatus != types.ImportStatusInitializing || !slices.Equal(started.Destinations, []string{storeARN}) ||
		aws.ToString(started.ImportSource.S3.S3LocationUri) != "s3://trail-logs/" || aws.ToString(started.ImportSource.S3.S3BucketAccessRoleArn) != importRole ||
		started.CreatedTimestamp == nil || started.StartEventTime != nil {
		t.Errorf("StartImport: %+v", started)
	}
	done := waitImport(t, ct, id, 2*time.Minute)
	if done.ImportStatus != types.ImportStatusFailed {
		t.Errorf("import ended %s, want FAILED (some files are malformed)", done.ImportStatus)
	}
	want := types.ImportStatistics{PrefixesFound: aws.Int64(int64(truth.prefixes)), PrefixesCompleted: aws.Int64(int64(truth.prefixes)),
		FilesCompleted: aws.Int64(int64(truth.files)), EventsCompleted: aws.Int64(int64(len(truth.records))), FailedEntries: aws.Int64(int64(len(truth.failures)))}
	checkStats(t, "first import", done.ImportStatistics, want)

	// Failures: every malformed file, with its location, paged.
	got := map[string]string{}
	in := &cloudtrail.ListImportFailuresInput{ImportId: aws.String(id), MaxResults: aws.Int32(2)}
	for {
		page, err := ct.ListImportFailures(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Failures) > 2 {
			t.Errorf("a page of %d failures", len(page.Failures))
		}
		for _, f := range page.Failures {
			got[aws.ToString(f.Location)] = aws.ToString(f.ErrorType)
			if f.Status != types.ImportFailureStatusFailed || aws.ToString(f.ErrorMessage) == "" || f.LastUpdatedTime == nil {
				t.Errorf("failure %+v", f)
			}
		}
		if page.NextToken == nil {
			break
		}
		in.NextToken = page.NextToken
	}
	if len(got) != len(truth.failures) {
		t.Errorf("ListImportFailures: %v, want %v", got, truth.failures)
	}
	for loc, types := range truth.failures {
		if !slices.Contains(types, got[loc]) {
			t.Errorf("failure of %s: %q, want one of %v", loc, got[loc], types)
		}
	}

	checkAgainstTruth(t, ct, storeID, truth.records)

	// Importing the same files again, by a new import or by retrying this
	// one, copies nothing twice.
	again := waitImport(t, ct, aws.ToString(startImport(t, ct, storeARN, "s3://trail-logs/", nil, nil).ImportId), time.Minute)
	want.EventsCompleted = aws.Int64(0)
	checkStats(t, "second import of the same files", again.ImportStatistics, want)
	retried, err := ct.StartImport(ctx, &cloudtrail.StartImportInput{ImportId: aws.String(id)})
	if err != nil || retried.ImportStatus != types.ImportStatusInitializing {
		t.Fatalf("retry: %v %+v", err, retried)
	}
	if r := waitImport(t, ct, id, time.Minute); r.ImportStatus != types.ImportStatusFailed || aws.ToInt64(r.ImportStatistics.FailedEntries) != int64(len(truth.failures)) {
		t.Errorf("retried import: %s %+v", r.ImportStatus, *r.ImportStatistics)
	}
	if n := countQuery(t, ct, `SELECT count(*) FROM `+storeID); n != len(truth.records) {
		t.Errorf("after importing again: %d events, want %d", n, len(truth.records))
	}

	// A time range: only the files named in it are read and only the
	// events in it are copied.
	rangeARN, rangeID := quietStore(t, ct, "range", retention)
	from, to := time.Date(2023, 7, 10, 12, 0, 0, 0, time.UTC), time.Date(2023, 7, 10, 12, 15, 0, 0, time.UTC)
	ranged := startImport(t, ct, rangeARN, "s3://trail-logs/AWSLogs/", &from, &to)
	if !aws.ToTime(ranged.StartEventTime).Equal(from) || !aws.ToTime(ranged.EndEventTime).Equal(to) {
		t.Errorf("StartImport range: %v %v", ranged.StartEventTime, ranged.EndEventTime)
	}
	r := waitImport(t, ct, aws.ToString(ranged.ImportId), time.Minute)
	inRange := truthOf(t, "trail-logs", objs, time.Time{}, from, to)
	if len(inRange.records) < 50 || aws.ToInt64(r.ImportStatistics.EventsCompleted) != int64(len(inRange.records)) {
		t.Errorf("ranged import: %d events, want %d", aws.ToInt64(r.ImportStatistics.EventsCompleted), len(inRange.records))
	}
	if aws.ToInt64(r.ImportStatistics.FilesCompleted) >= int64(truth.files) {
		t.Errorf("ranged import read %d files, as many as the whole bucket", aws.ToInt64(r.ImportStatistics.FilesCompleted))
	}
	checkAgainstTruth(t, ct, rangeID, inRange.records)

	// Retention: a store keeping 7 days takes none of these old events.
	shortARN, shortID := quietStore(t, ct, "short", 7)
	s := waitImport(t, ct, aws.ToString(startImport(t, ct, shortARN, "s3://trail-logs/", nil, nil).ImportId), time.Minute)
	undated := truthOf(t, "trail-logs", objs, time.Now().AddDate(0, 0, -7), time.Time{}, time.Time{})
	if aws.ToInt64(s.ImportStatistics.EventsCompleted) != int64(len(undated.records)) ||
		countQuery(t, ct, `SELECT count(*) FROM `+shortID) != len(undated.records) {
		t.Errorf("7-day store: %d events imported, want %d (only those without a readable eventTime)", aws.ToInt64(s.ImportStatistics.EventsCompleted), len(undated.records))
	}

	// ListImports: newest first, by destination and by status, paged.
	var listed []types.ImportsListItem
	lin := &cloudtrail.ListImportsInput{MaxResults: aws.Int32(1)}
	for {
		page, err := ct.ListImports(ctx, lin)
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, page.Imports...)
		if page.NextToken == nil {
			break
		}
		lin.NextToken = page.NextToken
	}
	if len(listed) != 4 || aws.ToString(listed[3].ImportId) != id && aws.ToString(listed[2].ImportId) != id {
		t.Errorf("ListImports: %d imports", len(listed))
	}
	byStore, err := ct.ListImports(ctx, &cloudtrail.ListImportsInput{Destination: aws.String(rangeARN)})
	if err != nil || len(byStore.Imports) != 1 || aws.ToString(byStore.Imports[0].ImportId) != aws.ToString(ranged.ImportId) {
		t.Errorf("ListImports by destination: %v %+v", err, byStore)
	}
	failed, err := ct.ListImports(ctx, &cloudtrail.ListImportsInput{ImportStatus: types.ImportStatusFailed})
	if err != nil || len(failed.Imports) != 3 {
		t.Errorf("ListImports FAILED: %v, %d imports", err, len(failed.Imports))
	}
	completed, err := ct.ListImports(ctx, &cloudtrail.ListImportsInput{ImportStatus: types.ImportStatusCompleted})
	if err != nil || len(completed.Imports) != 1 || aws.ToString(completed.Imports[0].ImportId) != aws.ToString(ranged.ImportId) {
		t.Errorf("ListImports COMPLETED: %v %+v", err, completed)
	}

	// The calls are recorded as management events.
	waitUntil(t, 10*time.Second, "StartImport in event history", func() bool {
		return len(lookupAll(t, ct, &cloudtrail.LookupEventsInput{LookupAttributes: attr(types.LookupAttributeKeyEventName, "StartImport")})) >= 5
	})
}

// genObjects makes files log files of perFile events each, from real
// records with varied IDs, times and addresses, all within the last day.
func genObjects(tb testing.TB, files, perFile int) []importObject {
	tb.Helper()
	g := ctdata.NewGenerator(tb, sharedTestdata(tb))
	base := time.Now().UTC().Add(-24 * time.Hour).Truncate(24 * time.Hour).Add(30 * time.Minute) // one day's folder
	var out []importObject
	for f := range files {
		t := base.Add(time.Duration(f) * 5 * time.Minute % (23 * time.Hour))
		recs := make([]json.RawMessage, perFile)
		for i := range recs {
			recs[i] = g.Next(tb, t.Add(-time.Duration(i%300)*time.Second))
		}
		body, _ := json.Marshal(map[string]any{"Records": recs})
		out = append(out, importObject{key: importKey(testAccount, "us-east-1", t, fmt.Sprintf("Gen%013d", f)), body: gzipBytes(tb, body), records: rawRecords(recs)})
	}
	return out
}

// TestLakeImportStopAndRefusals runs a larger import: while it runs, the
// account's second import and changes to the store are refused;
// StopImport stops it with the events copied matching its statistics;
// retrying it finishes the copy without duplicates.
func TestLakeImportStopAndRefusals(t *testing.T) {
	ts := mustRunMain(t, lakeMemory)
	ctx := context.Background()
	ct, s3c := ts.cloudtrail("us-east-1"), ts.s3("us-east-1")
	const perFile = 150
	objs := genObjects(t, 80, perFile)
	putObjects(t, s3c, "big-logs", objs)
	storeARN, storeID := quietStore(t, ct, "big", 366)
	otherARN, _ := mustStore(t, ct, &cloudtrail.CreateEventDataStoreInput{Name: aws.String("other")})

	id := aws.ToString(startImport(t, ct, storeARN, "s3://big-logs/", nil, nil).ImportId)
	if _, err := ct.StartImport(ctx, importInput(otherARN, "s3://big-logs/", nil, nil)); errorCode(err) != "AccountHasOngoingImportException" {
		t.Errorf("second import: %v", err)
	}
	if _, err := ct.UpdateEventDataStore(ctx, &cloudtrail.UpdateEventDataStoreInput{EventDataStore: aws.String(storeARN), RetentionPeriod: aws.Int32(30)}); errorCode(err) != "EventDataStoreHasOngoingImportException" {
		t.Errorf("UpdateEventDataStore during an import: %v", err)
	}
	if _, err := ct.DeleteEventDataStore(ctx, &cloudtrail.DeleteEventDataStoreInput{EventDataStore: aws.String(storeARN)}); errorCode(err) != "EventDataStoreHasOngoingImportException" {
		t.Errorf("DeleteEventDataStore during an import: %v", err)
	}
	// Stop it once it is copying.
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := ct.GetImport(ctx, &cloudtrail.GetImportInput{ImportId: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		if out.ImportStatus == types.ImportStatusInProgress {
			if aws.ToInt64(out.ImportStatistics.PrefixesFound) != 1 {
				t.Errorf("during the import: %+v", *out.ImportStatistics)
			}
			break
		}
		if out.ImportStatus != types.ImportStatusInitializing || time.Now().After(deadline) {
			t.Fatalf("import %s before it could be stopped", out.ImportStatus)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stopped, err := ct.StopImport(ctx, &cloudtrail.StopImportInput{ImportId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	if stopped.ImportStatus != types.ImportStatusStopped || stopped.ImportStatistics == nil {
		t.Fatalf("StopImport: %+v", stopped)
	}
	// It stops promptly: at most the files being copied finish.
	time.Sleep(time.Second)
	after := waitImport(t, ct, id, time.Second)
	time.Sleep(500 * time.Millisecond)
	later := waitImport(t, ct, id, time.Second)
	if *after.ImportStatistics.FilesCompleted != *later.ImportStatistics.FilesCompleted || aws.ToInt64(later.ImportStatistics.FilesCompleted) >= int64(len(objs)) {
		t.Errorf("after StopImport: %d then %d files of %d", *after.ImportStatistics.FilesCompleted, *later.ImportStatistics.FilesCompleted, len(objs))
	}
	if n := countQuery(t, ct, `SELECT count(*) FROM `+storeID); n != int(aws.ToInt64(later.ImportStatistics.EventsCompleted)) {
		t.Errorf("stopped import: %d events in the store, statistics say %d", n, aws.ToInt64(later.ImportStatistics.EventsCompleted))
	}
	if _, err := ct.StopImport(ctx, &cloudtrail.StopImportInput{ImportId: aws.String(id)}); err != nil {
		t.Errorf("StopImport again: %v", err)
	}
	// Now the store may change, and the retried import finishes the copy.
	if _, err := ct.UpdateEventDataStore(ctx, &cloudtrail.UpdateEventDataStoreInput{EventDataStore: aws.String(storeARN), RetentionPeriod: aws.Int32(30)}); err != nil {
		t.Errorf("UpdateEventDataStore after the import stopped: %v", err)
	}
	if _, err := ct.StartImport(ctx, &cloudtrail.StartImportInput{ImportId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	end := waitImport(t, ct, id, 3*time.Minute)
	total := len(objs) * perFile
	checkStats(t, "retried import", end.ImportStatistics, types.ImportStatistics{PrefixesFound: aws.Int64(1), PrefixesCompleted: aws.Int64(1),
		FilesCompleted: aws.Int64(int64(len(objs))), EventsCompleted: aws.Int64(int64(total)), FailedEntries: aws.Int64(0)})
	if end.ImportStatus != types.ImportStatusCompleted {
		t.Errorf("retried import ended %s", end.ImportStatus)
	}
	if n := countQuery(t, ct, `SELECT count(DISTINCT eventID) FROM `+storeID); n != total {
		t.Errorf("%d distinct events, want %d", n, total)
	}
	if n := countQuery(t, ct, `SELECT count(*) FROM `+storeID); n != total {
		t.Errorf("%d events, want %d", n, total)
	}
	if _, err := ct.StopImport(ctx, &cloudtrail.StopImportInput{ImportId: aws.String(id)}); errorCode(err) != "OperationNotPermittedException" {
		t.Errorf("StopImport of a completed import: %v", err)
	}
}

// TestLakeImportCrash kills the server (SIGKILL) during an import; after a
// restart the import resumes and every event is in the store exactly once.
func TestLakeImportCrash(t *testing.T) {
	dataDir := t.TempDir()
	srv := spawn(t, dataDir, "--lake-memory-limit", "1GB", "--log-level", "warn")
	ts := srv.server()
	ct, s3c := ts.cloudtrail("us-east-1"), ts.s3("us-east-1")
	const perFile = 100
	objs := genObjects(t, 100, perFile)
	putObjects(t, s3c, "crash-logs", objs)
	storeARN, storeID := quietStore(t, ct, "crash", 366)
	id := aws.ToString(startImport(t, ct, storeARN, "s3://crash-logs/", nil, nil).ImportId)
	// Kill it as soon as it has recorded progress, before it ends.
	out := pollImport(t, ct, id, time.Minute, "the kill", func(out *cloudtrail.GetImportOutput) bool {
		return aws.ToInt64(out.ImportStatistics.FilesCompleted) > 0
	})
	t.Logf("killing the server after %d files", aws.ToInt64(out.ImportStatistics.FilesCompleted))
	srv.kill(t)
	srv = spawn(t, dataDir, "--lake-memory-limit", "1GB", "--log-level", "warn")
	defer srv.stop(t)
	ts = srv.server()
	ct = ts.cloudtrail("us-east-1")
	end := waitImport(t, ct, id, 3*time.Minute)
	total := len(objs) * perFile
	if end.ImportStatus != types.ImportStatusCompleted {
		t.Errorf("import ended %s", end.ImportStatus)
	}
	checkStats(t, "resumed import", end.ImportStatistics, types.ImportStatistics{PrefixesFound: aws.Int64(1), PrefixesCompleted: aws.Int64(1),
		FilesCompleted: aws.Int64(int64(len(objs))), EventsCompleted: aws.Int64(int64(total)), FailedEntries: aws.Int64(0)})
	if n := countQuery(t, ct, `SELECT count(*) FROM `+storeID); n != total {
		t.Errorf("%d events after the crash, want %d", n, total)
	}
	if n := countQuery(t, ct, `SELECT count(DISTINCT eventID) FROM `+storeID); n != total {
		t.Errorf("%d distinct events after the crash, want %d", n, total)
	}
}

// TestLakeImportAWSCLI drives imports with the real AWS CLI.
func TestLakeImportAWSCLI(t *testing.T) {
	ts := mustRunMain(t, lakeMemory)
	ct, s3c := ts.cloudtrail("us-east-1"), ts.s3("us-east-1")
	objs := genObjects(t, 3, 20)
	objs = append(objs, importObject{key: importKey(testAccount, "us-east-1", time.Now().UTC().Add(-24*time.Hour).Truncate(24*time.Hour).Add(12*time.Hour), "Broken0000000001"),
		body: gzipBytes(t, []byte(`{"Records": [{"eventTime": `)), fails: []string{"InvalidJson"}})
	putObjects(t, s3c, "cli-logs", objs)
	storeARN, storeID := quietStore(t, ct, "cli", 3653)

	var started struct {
		ImportId     string
		ImportStatus string
		Destinations []string
		ImportSource struct {
			S3 struct{ S3LocationUri string }
		}
	}
	ts.awsCLI(t, "us-east-1", &started, false, "cloudtrail", "start-import", "--destinations", storeARN,
		"--import-source", `{"S3":{"S3LocationUri":"s3://cli-logs/","S3BucketRegion":"us-east-1","S3BucketAccessRoleArn":"`+importRole+`"}}`)
	if started.ImportId == "" || started.ImportStatus != "INITIALIZING" || len(started.Destinations) != 1 || started.ImportSource.S3.S3LocationUri != "s3://cli-logs/" {
		t.Fatalf("start-import: %+v", started)
	}
	var got struct {
		ImportStatus     string
		ImportStatistics map[string]int64
	}
	waitImport(t, ct, started.ImportId, time.Minute)
	ts.awsCLI(t, "us-east-1", &got, false, "cloudtrail", "get-import", "--import-id", started.ImportId)
	want := map[string]int64{"PrefixesFound": 1, "PrefixesCompleted": 1, "FilesCompleted": 3, "EventsCompleted": 60, "FailedEntries": 1}
	if got.ImportStatus != "FAILED" || fmt.Sprint(got.ImportStatistics) != fmt.Sprint(want) {
		t.Errorf("get-import: %+v, want FAILED %v", got, want)
	}
	var list struct {
		Imports []struct{ ImportId, ImportStatus string }
	}
	ts.awsCLI(t, "us-east-1", &list, false, "cloudtrail", "list-imports", "--import-status", "FAILED")
	if len(list.Imports) != 1 || list.Imports[0].ImportId != started.ImportId {
		t.Errorf("list-imports: %+v", list)
	}
	var failures struct {
		Failures []struct{ Location, Status, ErrorType, ErrorMessage string }
	}
	ts.awsCLI(t, "us-east-1", &failures, false, "cloudtrail", "list-import-failures", "--import-id", started.ImportId)
	if len(failures.Failures) != 1 || failures.Failures[0].Location != "s3://cli-logs/"+objs[3].key || failures.Failures[0].Status != "FAILED" ||
		failures.Failures[0].ErrorType != "InvalidJson" {
		t.Errorf("list-import-failures: %+v", failures)
	}

	// With the broken file replaced, a retry copies it: the failure stays
	// listed, as SUCCEEDED, and nothing is copied twice.
	fixed := genObjects(t, 1, 20)[0]
	fixed.key = objs[3].key
	if _, err := s3c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("cli-logs"), Key: aws.String(fixed.key), Body: bytes.NewReader(fixed.body)}); err != nil {
		t.Fatal(err)
	}
	var retried struct{ ImportId, ImportStatus string }
	ts.awsCLI(t, "us-east-1", &retried, false, "cloudtrail", "start-import", "--import-id", started.ImportId)
	if retried.ImportId != started.ImportId || retried.ImportStatus != "INITIALIZING" {
		t.Errorf("start-import --import-id: %+v", retried)
	}
	waitImport(t, ct, started.ImportId, time.Minute)
	ts.awsCLI(t, "us-east-1", &got, false, "cloudtrail", "get-import", "--import-id", started.ImportId)
	want = map[string]int64{"PrefixesFound": 1, "PrefixesCompleted": 1, "FilesCompleted": 4, "EventsCompleted": 80, "FailedEntries": 0}
	if got.ImportStatus != "COMPLETED" || fmt.Sprint(got.ImportStatistics) != fmt.Sprint(want) {
		t.Errorf("get-import after the retry: %+v, want COMPLETED %v", got, want)
	}
	ts.awsCLI(t, "us-east-1", &failures, false, "cloudtrail", "list-import-failures", "--import-id", started.ImportId)
	if len(failures.Failures) != 1 || failures.Failures[0].Location != "s3://cli-logs/"+objs[3].key || failures.Failures[0].Status != "SUCCEEDED" ||
		failures.Failures[0].ErrorType != "InvalidJson" {
		t.Errorf("list-import-failures after the retry: %+v", failures)
	}
	if n := countQuery(t, ct, `SELECT count(DISTINCT eventid) FROM `+storeID); n != 80 {
		t.Errorf("%d events in the store after the retry, want 80", n)
	}

	stderr := ts.awsCLI(t, "us-east-1", nil, true, "cloudtrail", "get-import", "--import-id", uuid.NewString())
	if !strings.Contains(stderr, "ImportNotFoundException") {
		t.Errorf("get-import of an unknown import: %s", stderr)
	}
}

// TestLakeImportResumesAfterRestart shuts the server down cleanly during
// an import: the import is not ended by the shutdown, and the next start
// finishes it.
func TestLakeImportResumesAfterRestart(t *testing.T) {
	dataDir := t.TempDir()
	onDir := func(m *Main) { m.DataDir = dataDir }
	ts := mustRunMain(t, lakeMemory, onDir)
	ctx := context.Background()
	ct, s3c := ts.cloudtrail("us-east-1"), ts.s3("us-east-1")
	const perFile = 100
	objs := genObjects(t, 80, perFile)
	putObjects(t, s3c, "restart-logs", objs)
	storeARN, storeID := quietStore(t, ct, "restart", 366)
	id := aws.ToString(startImport(t, ct, storeARN, "s3://restart-logs/", nil, nil).ImportId)
	pollImport(t, ct, id, time.Minute, "the restart", func(out *cloudtrail.GetImportOutput) bool {
		return out.ImportStatus == types.ImportStatusInProgress
	})
	if err := ts.m.Close(); err != nil {
		t.Fatal(err)
	}
	ts = mustRunMain(t, lakeMemory, onDir)
	ct = ts.cloudtrail("us-east-1")
	if out, err := ct.GetImport(ctx, &cloudtrail.GetImportInput{ImportId: aws.String(id)}); err != nil || out.ImportStatus == types.ImportStatusCompleted && aws.ToInt64(out.ImportStatistics.FilesCompleted) < int64(len(objs)) {
		t.Fatalf("after the restart: %v %+v", err, out)
	}
	end := waitImport(t, ct, id, 3*time.Minute)
	total := len(objs) * perFile
	if end.ImportStatus != types.ImportStatusCompleted || aws.ToInt64(end.ImportStatistics.EventsCompleted) != int64(total) {
		t.Errorf("import ended %s with %d events, want COMPLETED with %d", end.ImportStatus, aws.ToInt64(end.ImportStatistics.EventsCompleted), total)
	}
	if n := countQuery(t, ct, `SELECT count(DISTINCT eventID) FROM `+storeID); n != total {
		t.Errorf("%d distinct events, want %d", n, total)
	}
	if n := countQuery(t, ct, `SELECT count(*) FROM `+storeID); n != total {
		t.Errorf("%d events, want %d", n, total)
	}
}

// TestLakeImportFromVersity imports logs from a bucket of a real
// S3-compatible server configured as the bucket backend.
func TestLakeImportFromVersity(t *testing.T) {
	v := startVersity(t)
	objs := testdataObjects(t)
	putObjects(t, v.client(), "outside-logs", objs)
	ts := mustRunMain(t, lakeMemory, withVersityBackend(v))
	ct := ts.cloudtrail("us-east-1")
	const retention = 3653
	storeARN, storeID := quietStore(t, ct, "outside", retention)
	truth := truthOf(t, "outside-logs", objs, time.Now().AddDate(0, 0, -retention), time.Time{}, time.Time{})
	end := waitImport(t, ct, aws.ToString(startImport(t, ct, storeARN, "s3://outside-logs/", nil, nil).ImportId), 2*time.Minute)
	checkStats(t, "import from versitygw", end.ImportStatistics, types.ImportStatistics{
		PrefixesFound: aws.Int64(int64(truth.prefixes)), PrefixesCompleted: aws.Int64(int64(truth.prefixes)),
		FilesCompleted: aws.Int64(int64(truth.files)), EventsCompleted: aws.Int64(int64(len(truth.records))), FailedEntries: aws.Int64(int64(len(truth.failures)))})
	if n := countQuery(t, ct, `SELECT count(*) FROM `+storeID); n != len(truth.records) {
		t.Errorf("%d events imported from versitygw, want %d", n, len(truth.records))
	}
}
