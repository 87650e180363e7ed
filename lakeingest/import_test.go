package lakeingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/klauspost/compress/gzip"
	"github.com/opentrail/opentrail/blob"
	"github.com/opentrail/opentrail/internal/ctdata"
	"github.com/opentrail/opentrail/journal"
	"github.com/opentrail/opentrail/lake"
)

func TestParseS3URI(t *testing.T) {
	for _, c := range []struct {
		uri, bucket, prefix string
		ok                  bool
	}{
		{"s3://trail-logs/", "trail-logs", "", true},
		{"s3://trail-logs", "trail-logs", "", true},
		{"s3://trail-logs/prefix/", "trail-logs", "prefix/", true},
		{"s3://trail-logs/a/b", "trail-logs", "a/b/", true},
		{"s3://Trail_Logs/", "", "", false},
		{"s3:///prefix/", "", "", false},
		{"https://trail-logs/", "", "", false},
		{"s3://trail-logs/\xff/", "", "", false},
		{"", "", "", false},
	} {
		b, p, ok := ParseS3URI(c.uri)
		if b != c.bucket || p != c.prefix || ok != c.ok {
			t.Errorf("ParseS3URI(%q) = %q, %q, %v; want %q, %q, %v", c.uri, b, p, ok, c.bucket, c.prefix, c.ok)
		}
	}
}

func TestLogFileKey(t *testing.T) {
	const ct = "AWSLogs/111122223333/CloudTrail/us-east-1/2023/07/10/111122223333_CloudTrail_us-east-1_20230710T1205Z_abc.json.gz"
	for _, c := range []struct {
		prefix, key string
		want        bool
	}{
		{"", ct, true},
		{"AWSLogs/", ct, true},
		{"other/", ct, false},
		{"", "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2023/07/10/x-Digest.json.gz", false},
		{"", "AWSLogs/111122223333/CloudTrail-Insight/us-east-1/2023/07/10/x.json.gz", false},
		{"AWSLogs/111122223333/CloudTrail-Insight/", "AWSLogs/111122223333/CloudTrail-Insight/us-east-1/2023/07/10/x.json.gz", true},
		{"", "AWSLogs/o-abc123/111122223333/CloudTrail/us-east-1/2023/07/10/x.json.gz", true},
		{"", "AWSLogs/o-abc123/111122223333/elasticloadbalancing/x.json.gz", false},
		{"", "prefix/AWSLogs/111122223333/CloudTrail/eu-west-1/x.json.gz", true},
		{"", "my-own-layout/logs-2023.json.gz", true},
		{"", "AWSLogs/111122223333/CloudTrail/us-east-1/2023/07/10/x.json", false},
		{"", "AWSLogs/x.json.gz", true},
	} {
		if got := LogFileKey(c.prefix, c.key); got != c.want {
			t.Errorf("LogFileKey(%q, %q) = %v, want %v", c.prefix, c.key, got, c.want)
		}
	}
}

func TestKeyTime(t *testing.T) {
	for _, c := range []struct {
		key         string
		want        string
		precise, ok bool
	}{
		{"AWSLogs/1/CloudTrail/us-east-1/2023/07/10/1_CloudTrail_us-east-1_20230710T1205Z_abc.json.gz", "2023-07-10T12:05:00Z", true, true},
		{"x/2023/07/10/file.json.gz", "2023-07-10T00:00:00Z", false, true},
		{"x/2023/13/10/file.json.gz", "", false, false},
		{"file_20230710T1299Z_x.json.gz", "", false, false},
		{"file.json.gz", "", false, false},
	} {
		tm, precise, ok := KeyTime(c.key)
		got := ""
		if ok {
			got = tm.Format(time.RFC3339)
		}
		if got != c.want || precise != c.precise || ok != c.ok {
			t.Errorf("KeyTime(%q) = %s, %v, %v; want %s, %v, %v", c.key, got, precise, ok, c.want, c.precise, c.ok)
		}
	}
	at := func(s string) time.Time { tm, _ := time.Parse(time.RFC3339, s); return tm }
	key := "AWSLogs/1/CloudTrail/us-east-1/2023/07/10/1_CloudTrail_us-east-1_20230710T1205Z_abc.json.gz"
	for _, c := range []struct {
		start, end string
		want       bool
	}{
		{"2023-07-10T12:00:00Z", "2023-07-10T12:10:00Z", true},
		{"2023-07-10T12:06:00Z", "", false}, // the file's events are all earlier
		{"", "2023-07-10T11:30:00Z", true},  // it may hold events of the hour before
		{"", "2023-07-10T10:30:00Z", false}, // not of two hours before
		{"2023-07-10T12:05:00Z", "", true},  // the boundary is in
		{"2023-07-01T00:00:00Z", "2023-07-31T00:00:00Z", true},
	} {
		if got := KeyInRange(key, at(c.start), at(c.end)); got != c.want {
			t.Errorf("KeyInRange(%s, %s) = %v, want %v", c.start, c.end, got, c.want)
		}
	}
	if !KeyInRange("x/2023/07/10/f.json.gz", at("2023-07-10T23:00:00Z"), time.Time{}) || KeyInRange("x/2023/07/10/f.json.gz", at("2023-07-11T02:00:00Z"), time.Time{}) {
		t.Error("KeyInRange of a day folder")
	}
}

func TestValidRoleARN(t *testing.T) {
	for s, want := range map[string]bool{
		"arn:aws:iam::123456789012:role/CloudTrailImport":    true,
		"arn:aws:iam::123456789012:role/service-role/Import": true,
		"arn:aws:iam::123456789012:user/alice":               false,
		"arn:aws:iam:us-east-1:123456789012:role/x":          false,
		"arn:aws:iam::12345:role/x":                          false,
		"arn:aws:iam::123456789012:role/":                    false,
		"arn:aws:iam::123456789012:role/has space":           false,
		"arn:aws:s3:::bucket":                                false,
		"":                                                   false,
	} {
		if got := ValidRoleARN(s); got != want {
			t.Errorf("ValidRoleARN(%q) = %v, want %v", s, got, want)
		}
	}
}

// refParseLog is parseLog written with encoding/json, for comparison.
func refParseLog(data []byte, f logFilter) ([][]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		if json.Valid(data) {
			return nil, errLogFile
		}
		return nil, err
	}
	raw, ok := top["Records"]
	if !ok {
		return nil, errLogFile
	}
	var list []json.RawMessage
	if raw = bytes.TrimSpace(raw); len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &list) != nil {
		return nil, errLogFile
	}
	var out [][]byte
	for _, r := range list {
		r = bytes.TrimSpace(r)
		var m map[string]json.RawMessage
		if len(r) == 0 || r[0] != '{' || json.Unmarshal(r, &m) != nil {
			return nil, errLogFile
		}
		var t time.Time
		et, has := m["eventTime"]
		var s string
		readable := has && bytes.IndexByte(et, '\\') < 0 && json.Unmarshal(et, &s) == nil
		if readable {
			var err error
			t, err = time.Parse(time.RFC3339, s)
			readable = err == nil
		}
		switch {
		case !readable:
			if !f.start.IsZero() || !f.end.IsZero() {
				continue
			}
		case !f.start.IsZero() && t.Before(f.start), !f.end.IsZero() && t.After(f.end), !f.cutoff.IsZero() && t.Before(f.cutoff):
			continue
		}
		out = append(out, []byte(r))
	}
	return out, nil
}

// compareParse checks parseLog against refParseLog.
func compareParse(t *testing.T, data []byte, f logFilter) {
	t.Helper()
	got, err := parseLog(data, f)
	want, werr := refParseLog(data, f)
	if (err == nil) != (werr == nil) {
		t.Fatalf("parseLog(%q): error %v, reference %v", data, err, werr)
	}
	if err != nil {
		if errors.Is(err, errLogFile) != errors.Is(werr, errLogFile) {
			t.Fatalf("parseLog(%q): error %v, reference %v", data, err, werr)
		}
		return
	}
	if len(got) != len(want) {
		t.Fatalf("parseLog(%q): %d records, reference %d", data, len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(bytes.TrimSpace(got[i]), want[i]) {
			t.Fatalf("parseLog(%q): record %d = %q, reference %q", data, i, got[i], want[i])
		}
	}
}

var parseSeeds = []string{
	`{"Records":[{"eventTime":"2023-07-10T12:00:00Z","eventName":"A"},{"eventTime":"2023-07-10T13:00:00Z"}]}`,
	` { "Other" : [1, {"x": "]"}], "Records" : [ {"eventTime" : "2013-01-01T00:00:00Z" , "a":{"b":[1,2,"\"}"]}} ] } `,
	`{"Records":[{"eventTime":"ThisIsAWrongEventTime"},{"eventName":"no time"}]}`,
	`{"Records":[{"eventTime":"2023-07-10T12:00:00Z"}, 5]}`,
	`{"Records":null}`,
	`{"Records":[]}`,
	`{"NotRecords":[]}`,
	`[{"eventTime":"2023-07-10T12:00:00Z"}]`,
	`{"Records":[{"eventTime":"2023-07-10T12:00:00Z"}]`,
	`{"Records":[{"eventTime":"2023-07-10T12:00:00Z"}],"Records":[{"eventTime":"2023-07-11T12:00:00Z"},{}]}`,
	`{"Rec\u006frds":[{"event\u0054ime":"2023-07-10T12:00:00Z","eventTime":"2023-07-09T12:00:00Z"}]}`,
	`{"Records":[{"eventTime":"2023-07-10T12:00:00\u005a"}]}`,
	`{"Records":[{"eventTime":1}]}`,
}

var parseFilters = []logFilter{
	{},
	{start: time.Date(2023, 7, 10, 12, 0, 0, 0, time.UTC), end: time.Date(2023, 7, 10, 12, 30, 0, 0, time.UTC)},
	{cutoff: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)},
}

func TestParseLog(t *testing.T) {
	for _, s := range parseSeeds {
		for _, f := range parseFilters {
			compareParse(t, []byte(s), f)
		}
	}
	recs, err := parseLog([]byte(parseSeeds[0]), parseFilters[1])
	if err != nil || len(recs) != 1 || !strings.Contains(string(recs[0]), `"A"`) {
		t.Errorf("range: %q, %v", recs, err)
	}
	if _, err := parseLog([]byte(`{"Records":[`), logFilter{}); err == nil || errors.Is(err, errLogFile) {
		t.Errorf("truncated file: %v", err)
	}
	// The shared test data: every file parses as encoding/json reads it.
	files, _ := filepath.Glob("../../shared/testdata/cloudtrail/*/*.json")
	more, _ := filepath.Glob("../../shared/testdata/cloudtrail/*/*/*.json")
	if _, err := os.Stat("../../shared/testdata/cloudtrail"); err == nil && len(files)+len(more) < 40 {
		t.Errorf("found %d files of the shared test data", len(files)+len(more))
	}
	for _, p := range append(files, more...) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range parseFilters {
			compareParse(t, b, f)
		}
	}
}

func FuzzParseLog(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add([]byte(s), uint8(0))
	}
	if b, err := os.ReadFile("../../shared/testdata/cloudtrail/log2timeline_plaso/aws_cloudtrail.json"); err == nil {
		f.Add(b, uint8(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, filter uint8) {
		compareParse(t, data, parseFilters[int(filter)%len(parseFilters)])
	})
}

func FuzzParseS3URI(f *testing.F) {
	for _, s := range []string{"s3://trail-logs/", "s3://trail-logs/a/b", "s3://a..b/", "s3://x", "s3://trail-logs//"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		bucket, prefix, ok := ParseS3URI(uri)
		if !ok {
			return
		}
		if blob.CheckBucketName(bucket) != nil || !utf8.ValidString(prefix) || prefix != "" && !strings.HasSuffix(prefix, "/") {
			t.Fatalf("ParseS3URI(%q) = %q, %q", uri, bucket, prefix)
		}
		// What it names parses back to the same.
		b2, p2, ok2 := ParseS3URI("s3://" + bucket + "/" + prefix)
		if !ok2 || b2 != bucket || p2 != prefix {
			t.Fatalf("round trip of %q: %q %q %v", uri, b2, p2, ok2)
		}
		ValidRoleARN(uri)
	})
}

func FuzzImportKey(f *testing.F) {
	f.Add("", "AWSLogs/111122223333/CloudTrail/us-east-1/2023/07/10/111122223333_CloudTrail_us-east-1_20230710T1205Z_abc.json.gz")
	f.Add("AWSLogs/o-1/", "AWSLogs/o-1/111122223333/CloudTrail-Digest/2023/07/10/x.json.gz")
	f.Add("", "a/2023/02/30/_20231301T0000Z_.json.gz")
	f.Fuzz(func(t *testing.T, prefix, key string) {
		if LogFileKey(prefix, key) && (!strings.HasPrefix(key, prefix) || !strings.HasSuffix(key, ".json.gz")) {
			t.Fatalf("LogFileKey(%q, %q) took a key outside the prefix or not gzip", prefix, key)
		}
		tm, precise, ok := KeyTime(key)
		if !ok {
			if !tm.IsZero() || precise {
				t.Fatalf("KeyTime(%q) = %v, %v without a time", key, tm, precise)
			}
			if !KeyInRange(key, time.Unix(1, 0), time.Unix(2, 0)) {
				t.Fatalf("KeyInRange(%q): a key without a time must be read", key)
			}
			return
		}
		// The time named is in the key, in the form it was read from.
		form := tm.Format("2006/01/02")
		if precise {
			form = tm.Format("20060102T1504Z")
		}
		if !strings.Contains(key, form) || tm.Location() != time.UTC {
			t.Fatalf("KeyTime(%q) = %v, not in the key", key, tm)
		}
		if !KeyInRange(key, tm, tm) {
			t.Fatalf("KeyInRange(%q) excludes its own time %v", key, tm)
		}
	})
}

// BenchmarkImport imports generated log files (real records of the shared
// test data with varied IDs, times and addresses, OPENTRAIL_BENCH_IMPORT_FILES
// files of OPENTRAIL_BENCH_IMPORT_EVENTS events, default 100 of 1,000) from
// the embedded bucket store into a store, and reports events/s.
func BenchmarkImport(b *testing.B) {
	files, perFile := envInt("OPENTRAIL_BENCH_IMPORT_FILES", 100), envInt("OPENTRAIL_BENCH_IMPORT_EVENTS", 1000)
	ctx := context.Background()
	dir := b.TempDir()
	store, err := blob.NewDir(filepath.Join(dir, "buckets"))
	if err != nil {
		b.Fatal(err)
	}
	if err := store.CreateBucket(ctx, "bench-logs", "123456789012", "us-east-1"); err != nil {
		b.Fatal(err)
	}
	var bytesIn int64
	for i, body := range genLogs(b, files, perFile) {
		key := fmt.Sprintf("AWSLogs/123456789012/CloudTrail/us-east-1/2026/01/02/123456789012_CloudTrail_us-east-1_20260102T%02d%02dZ_%08d.json.gz", i/12%24, i%12*5, i)
		if _, err := store.PutObject(ctx, "bench-logs", key, bytes.NewReader(body), blob.PutOptions{}); err != nil {
			b.Fatal(err)
		}
		bytesIn += int64(len(body))
	}
	db, lk := openTestEnv(b, dir, lake.Options{MemoryLimit: "2GB"})
	importer := NewImporter(ImporterOptions{DB: db, Lake: lk, Buckets: store})
	total := 0.0
	for b.Loop() {
		im := newTestImport(b, db, lk, "bench-logs")
		if err := importer.run(ctx, im.ID); err != nil {
			b.Fatal(err)
		}
		got, err := GetImport(ctx, db, im.ID)
		if err != nil || got.Status != ImportCompleted || got.Stats.EventsCompleted != int64(files*perFile) {
			b.Fatalf("import: %v %+v", err, got)
		}
		total += float64(got.Stats.EventsCompleted)
	}
	b.ReportMetric(total/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(bytesIn)/float64(files), "gzip-bytes/file")
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// genLogs makes gzipped log files from the shared test data's real
// records, with varied IDs, times and source addresses.
func genLogs(tb testing.TB, files, perFile int) [][]byte {
	tb.Helper()
	g := ctdata.NewGenerator(tb, "../../shared/testdata/cloudtrail")
	base := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	var out [][]byte
	for f := range files {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write([]byte(`{"Records":[`))
		for i := range perFile {
			if i > 0 {
				zw.Write([]byte(","))
			}
			zw.Write(g.Next(tb, base.Add(time.Duration(f)*5*time.Minute+time.Duration(i)*time.Second)))
		}
		zw.Write([]byte(`]}`))
		if err := zw.Close(); err != nil {
			tb.Fatal(err)
		}
		out = append(out, buf.Bytes())
	}
	return out
}

// BenchmarkImportRead measures the reading side of an import alone:
// fetching from the embedded store, decompressing and parsing files of
// 1,000 generated records, on all cores, as the importer's readers do.
func BenchmarkImportRead(b *testing.B) {
	const files, perFile = 40, 1000
	ctx := context.Background()
	store, err := blob.NewDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	if err := store.CreateBucket(ctx, "bench-logs", "123456789012", "us-east-1"); err != nil {
		b.Fatal(err)
	}
	var keys []*logFile
	for i, body := range genLogs(b, files, perFile) {
		key := fmt.Sprintf("AWSLogs/123456789012/CloudTrail/us-east-1/2026/01/02/f%04d.json.gz", i)
		if _, err := store.PutObject(ctx, "bench-logs", key, bytes.NewReader(body), blob.PutOptions{}); err != nil {
			b.Fatal(err)
		}
		keys = append(keys, &logFile{key: key})
	}
	im := NewImporter(ImporterOptions{Buckets: store})
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			r := im.read(ctx, "bench-logs", keys[i%files], logFilter{cutoff: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)})
			if r.errType != "" || len(r.events) != perFile {
				b.Errorf("read: %s %s", r.errType, r.errText)
				return
			}
			i++
		}
	})
	b.ReportMetric(float64(b.N*perFile)/b.Elapsed().Seconds(), "events/s")
}

func FuzzValidJSON(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add([]byte(s))
	}
	for _, s := range []string{``, ` `, `-`, `-0`, `01`, `1.`, `1.5e`, `1E+9`, `"\u12"`, `"\ud800"`, "\"\x01\"", "\"\xff\"", `[1,]`, `{"a":1,}`, `nul`, `[[[]]]`, `{"a" 1}`, `"\/"`, `tru`, `0.0e-0`} {
		f.Add([]byte(s))
	}
	f.Add(bytes.Repeat([]byte("["), maxNesting))
	f.Add(append(bytes.Repeat([]byte("["), maxNesting+1), bytes.Repeat([]byte("]"), maxNesting+1)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := validJSON(data), json.Valid(data); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid %v", data, got, want)
		}
	})
}

func TestValidJSONNesting(t *testing.T) {
	for _, n := range []int{maxNesting, maxNesting + 1} {
		for _, open := range []string{"[", `{"a":`} {
			closeBy := "]"
			if open != "[" {
				closeBy = "}"
			}
			doc := []byte(strings.Repeat(open, n) + "1" + strings.Repeat(closeBy, n))
			if got, want := validJSON(doc), json.Valid(doc); got != want {
				t.Errorf("nesting %d of %q: validJSON %v, json.Valid %v", n, open, got, want)
			}
		}
	}
}

// TestImportFailureStatuses follows a failed file through a retry: FAILED,
// then RETRY while it waits and is copied again (its error kept), then
// SUCCEEDED; a file that fails again is FAILED with its new error, and a
// file copied the first time is never listed.
func TestImportFailureStatuses(t *testing.T) {
	ctx := context.Background()
	db, err := journal.Open(ctx, filepath.Join(t.TempDir(), "opentrail.db"), journal.Options{Synchronous: "NORMAL", Migrations: Migrations})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	im := &Import{ID: uuid.NewString(), Account: "123456789012", Region: "us-east-1", Status: ImportFailed, Created: now, Updated: now}
	update := func(f func(tx *journal.Tx) error) {
		t.Helper()
		if err := db.Update(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	list := func() string {
		t.Helper()
		fs, err := ImportFailures(ctx, db, im.ID)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, f := range fs {
			out = append(out, f.Location+" "+f.Status+" "+f.ErrorType)
		}
		return strings.Join(out, "; ")
	}
	update(func(tx *journal.Tx) error {
		if err := PutImport(tx, im); err != nil {
			return err
		}
		for _, f := range []struct{ loc, status, errType string }{
			{"s3://b/a", fileFailed, "InvalidJson"},
			{"s3://b/b", fileCompleted, ""},
			{"s3://b/c", fileFailed, "S3ReadError"},
		} {
			if err := putImportFile(tx, im.ID, f.loc, f.status, 0, f.errType, "message", now); err != nil {
				return err
			}
		}
		return nil
	})
	if got, want := list(), "s3://b/a FAILED InvalidJson; s3://b/c FAILED S3ReadError"; got != want {
		t.Errorf("failures: %q, want %q", got, want)
	}
	update(func(tx *journal.Tx) error { return RetryImport(tx, im, now) })
	if got, want := list(), "s3://b/a RETRY InvalidJson; s3://b/c RETRY S3ReadError"; got != want {
		t.Errorf("after RetryImport: %q, want %q", got, want)
	}
	update(func(tx *journal.Tx) error {
		return putImportFile(tx, im.ID, "s3://b/a", fileImporting, 20, "", "", now)
	})
	if got, want := list(), "s3://b/a RETRY InvalidJson; s3://b/c RETRY S3ReadError"; got != want {
		t.Errorf("while copying again: %q, want %q", got, want)
	}
	update(func(tx *journal.Tx) error {
		if err := putImportFile(tx, im.ID, "s3://b/a", fileCompleted, 20, "", "", now); err != nil {
			return err
		}
		return putImportFile(tx, im.ID, "s3://b/c", fileFailed, 0, "InvalidGzip", "message", now)
	})
	if got, want := list(), "s3://b/a SUCCEEDED InvalidJson; s3://b/c FAILED InvalidGzip"; got != want {
		t.Errorf("after the retry: %q, want %q", got, want)
	}
}

// TestImportRetryAfterMissingBucket fails an import whose bucket is gone
// (a failure of the import as a whole), then retries it once the bucket
// holds logs: the failure is listed as SUCCEEDED and the logs are copied.
func TestImportRetryAfterMissingBucket(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := blob.NewDir(filepath.Join(dir, "buckets"))
	if err != nil {
		t.Fatal(err)
	}
	db, lk := openTestEnv(t, dir, lake.Options{})
	importer := NewImporter(ImporterOptions{DB: db, Lake: lk, Buckets: store})
	im := newTestImport(t, db, lk, "gone-logs")
	if err := importer.run(ctx, im.ID); err != nil {
		t.Fatal(err)
	}
	failures := func() []ImportFailure {
		t.Helper()
		fs, err := ImportFailures(ctx, db, im.ID)
		if err != nil {
			t.Fatal(err)
		}
		return fs
	}
	if got, err := GetImport(ctx, db, im.ID); err != nil || got.Status != ImportFailed {
		t.Fatalf("import of a missing bucket: %v %+v", err, got)
	}
	if fs := failures(); len(fs) != 1 || fs[0].Location != "s3://gone-logs/" || fs[0].Status != "FAILED" || fs[0].ErrorType != "ImportFailed" {
		t.Fatalf("failures: %+v", fs)
	}

	if err := store.CreateBucket(ctx, "gone-logs", "123456789012", "us-east-1"); err != nil {
		t.Fatal(err)
	}
	for i, body := range genLogs(t, 2, 10) {
		key := fmt.Sprintf("AWSLogs/123456789012/CloudTrail/us-east-1/2026/01/02/123456789012_CloudTrail_us-east-1_20260102T00%02dZ_%08d.json.gz", i, i)
		if _, err := store.PutObject(ctx, "gone-logs", key, bytes.NewReader(body), blob.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Update(ctx, func(tx *journal.Tx) error {
		cur, err := TxImport(tx, im.ID)
		if err != nil {
			return err
		}
		return RetryImport(tx, cur, time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	if fs := failures(); len(fs) != 1 || fs[0].Status != "RETRY" {
		t.Fatalf("failures after RetryImport: %+v", fs)
	}
	if err := importer.run(ctx, im.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := GetImport(ctx, db, im.ID); err != nil || got.Status != ImportCompleted || got.Stats.EventsCompleted != 20 || got.Stats.FailedEntries != 0 {
		t.Fatalf("retried import: %v %+v", err, got)
	}
	if fs := failures(); len(fs) != 1 || fs[0].Status != "SUCCEEDED" || fs[0].ErrorType != "ImportFailed" {
		t.Fatalf("failures after the retry: %+v", fs)
	}

	// A failed file gone from the bucket when the import is retried stays
	// FAILED, not RETRY.
	if err := db.Update(ctx, func(tx *journal.Tx) error {
		cur, err := TxImport(tx, im.ID)
		if err != nil {
			return err
		}
		if err := putImportFile(tx, im.ID, "s3://gone-logs/AWSLogs/vanished.json.gz", fileFailed, 0, "InvalidGzip", "message", time.Now()); err != nil {
			return err
		}
		cur.Status = ImportFailed
		cur.Stats.FailedEntries = 1
		if err := PutImport(tx, cur); err != nil {
			return err
		}
		return RetryImport(tx, cur, time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	if err := importer.run(ctx, im.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := GetImport(ctx, db, im.ID); err != nil || got.Status != ImportFailed || got.Stats.FailedEntries != 1 || got.Stats.EventsCompleted != 20 {
		t.Fatalf("retry with a vanished file: %v %+v", err, got)
	}
	fs := failures()
	if len(fs) != 2 || fs[1].Location != "s3://gone-logs/AWSLogs/vanished.json.gz" || fs[1].Status != "FAILED" {
		t.Fatalf("failures after the retry with a vanished file: %+v", fs)
	}
}

// openTestEnv opens a journal and a lake in dir, closed when the test
// ends.
func openTestEnv(tb testing.TB, dir string, opts lake.Options) (*journal.DB, *lake.Engine) {
	tb.Helper()
	db, err := journal.Open(context.Background(), filepath.Join(dir, "opentrail.db"), journal.Options{Synchronous: "NORMAL", Migrations: Migrations})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	lk, err := lake.Open(filepath.Join(dir, "lake"), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { lk.Close() })
	return db, lk
}

// failingLake fails every batch holding the source bad, as an engine
// error would.
type failingLake struct {
	*lake.Engine
	bad string
}

func (f failingLake) ImportBatch(ctx context.Context, id string, sources []lake.ImportSource) ([]lake.ImportResult, error) {
	for _, s := range sources {
		if s.Source == f.bad {
			return nil, errors.New("disk full")
		}
	}
	return f.Engine.ImportBatch(ctx, id, sources)
}

// TestImportGroupFailure checks that a file the lake refuses fails alone:
// the other files of its group are copied.
func TestImportGroupFailure(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := blob.NewDir(filepath.Join(dir, "buckets"))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateBucket(ctx, "logs", "123456789012", "us-east-1"); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i, body := range genLogs(t, 5, 10) {
		key := fmt.Sprintf("AWSLogs/123456789012/CloudTrail/us-east-1/2026/01/02/123456789012_CloudTrail_us-east-1_20260102T00%02dZ_%08d.json.gz", i, i)
		info, err := store.PutObject(ctx, "logs", key, bytes.NewReader(body), blob.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, (&logFile{location: "s3://logs/" + key, etag: info.ETag}).source())
	}
	db, lk := openTestEnv(t, dir, lake.Options{})
	importer := NewImporter(ImporterOptions{DB: db, Lake: failingLake{lk, keys[2]}, Buckets: store})
	im := newTestImport(t, db, lk, "logs")
	if err := importer.run(ctx, im.ID); err != nil {
		t.Fatal(err)
	}
	got, err := GetImport(ctx, db, im.ID)
	if err != nil || got.Status != ImportFailed || got.Stats.FilesCompleted != 4 || got.Stats.EventsCompleted != 40 || got.Stats.FailedEntries != 1 {
		t.Fatalf("import with one file the lake refuses: %v %+v", err, got)
	}
	fs, err := ImportFailures(ctx, db, im.ID)
	if err != nil || len(fs) != 1 || fs[0].ErrorType != "InternalError" {
		t.Fatalf("failures: %+v %v", fs, err)
	}
}

// newTestImport creates a store and an import into it of bucket's logs,
// ready for Importer.run.
func newTestImport(tb testing.TB, db *journal.DB, lk *lake.Engine, bucket string) *Import {
	tb.Helper()
	ctx := context.Background()
	id := uuid.NewString()
	if err := lk.CreateStore(ctx, id); err != nil {
		tb.Fatal(err)
	}
	st := &Store{ID: id, Account: "123456789012", Region: "us-east-1", Name: id, Status: StatusEnabled, Retention: 3653}
	im := &Import{ID: uuid.NewString(), Account: st.Account, Region: st.Region, Store: id, Destination: st.ARN(),
		SourceURI: "s3://" + bucket + "/", Bucket: bucket, Status: ImportInitializing, Created: time.Now()}
	if err := db.Update(ctx, func(tx *journal.Tx) error {
		if err := PutStore(tx, st, true); err != nil {
			return err
		}
		return PutImport(tx, im)
	}); err != nil {
		tb.Fatal(err)
	}
	return im
}
