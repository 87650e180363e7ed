package lake_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/klauspost/compress/gzip"
	"github.com/opentrail/opentrail/lake"
)

func benchEvents(n int) [][]byte {
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	evs := make([][]byte, n)
	for i := range evs {
		evs[i] = syntheticEvent(i, base.Add(time.Duration(i)*time.Second))
	}
	return evs
}

// BenchmarkAppend measures ingestion: batches of 5,000 synthetic ~1 KB
// records, each batch one transaction with its checkpoint.
func BenchmarkAppend(b *testing.B) {
	e := mustOpen(b, b.TempDir())
	ctx := context.Background()
	if err := e.CreateStore(ctx, storeID); err != nil {
		b.Fatal(err)
	}
	const batch = 5000
	evs := benchEvents(batch)
	var size int
	for _, ev := range evs {
		size += len(ev)
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	seq := int64(0)
	cpu := cpuTime()
	for b.Loop() {
		seq++
		if err := e.Append(ctx, storeID, seq, evs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(seq*batch)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(seq*batch), "cpu-µs/event")
}

// cpuTime is the CPU time (user and system, all threads) the process has
// used: on a shared machine it shows the work done where wall time shows
// the machine's load too.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkQuery1M loads 1,000,000 events, then runs a sample aggregation.
func BenchmarkQuery1M(b *testing.B) {
	e := mustOpen(b, b.TempDir())
	ctx := context.Background()
	if err := e.CreateStore(ctx, storeID); err != nil {
		b.Fatal(err)
	}
	const total, batch = 1_000_000, 10_000
	evs := benchEvents(batch)
	start := time.Now()
	for seq := int64(1); seq*batch <= total; seq++ {
		if err := e.Append(ctx, storeID, seq, evs); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("loaded %d events in %v (%.0f events/s)", total, time.Since(start), total/time.Since(start).Seconds())
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.Logf("Go heap after load: %d MB", ms.HeapAlloc>>20)
	queries := map[string]string{
		"by-source-name": `SELECT eventSource, eventName, count(*) AS n FROM ` + storeID + ` WHERE eventTime > '2024-01-01 00:00:00' GROUP BY 1, 2 ORDER BY n DESC LIMIT 20`,
		"errors-by-user": `SELECT userIdentity.arn, count(*) FROM ` + storeID + ` WHERE errorCode = 'AccessDenied' GROUP BY 1 ORDER BY 2 DESC`,
		"map-lookup":     `SELECT element_at(requestParameters, 'bucketName') AS bucket, count(*) FROM ` + storeID + ` GROUP BY 1`,
	}
	for name, q := range queries {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				res, err := e.Query(ctx, q, resolver(storeID), lake.QueryOptions{ID: queryID()})
				if err != nil || res.Status != lake.StatusFinished {
					b.Fatal(res, err)
				}
			}
		})
	}
}

// BenchmarkLakeScale measures a store at scale with realistic records
// (realistic_test.go): OPENTRAIL_BENCH_LAKE_EVENTS events (default
// 200,000) are written as gzipped trail log files of 1,000 records, then
// imported with ImportBatch in groups of 20,000 events, as the importer
// does. It reports the
// import rate, the store's disk use against the gzipped files, and a
// GROUP BY over the store next to the same query run by DuckDB straight
// on the gzipped files (read_json and unnest of Records). With
// OPENTRAIL_BENCH_LAKE_COPIES=k the store then holds k copies of those
// events and DuckDB reads the file list k times, for sizes that importing
// would take too long to build on a small machine.
func BenchmarkLakeScale(b *testing.B) {
	total := 200_000
	if v, err := strconv.Atoi(os.Getenv("OPENTRAIL_BENCH_LAKE_EVENTS")); err == nil && v > 0 {
		total = v
	}
	const perFile = 1000
	ctx := context.Background()
	logs := b.TempDir()
	g := newRealistic(b, 7)

	// The trail's log files.
	start := time.Now()
	var gzBytes, jsonBytes int64
	files := 0
	for n := 0; n < total; n += perFile {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		io.WriteString(zw, `{"Records":[`)
		for i := n; i < min(total, n+perFile); i++ {
			if i > n {
				io.WriteString(zw, ",")
			}
			rec := g.next()
			jsonBytes += int64(len(rec))
			zw.Write(rec)
		}
		io.WriteString(zw, `]}`)
		zw.Close()
		gzBytes += int64(buf.Len())
		if err := os.WriteFile(filepath.Join(logs, fmt.Sprintf("f%07d.json.gz", files)), buf.Bytes(), 0o600); err != nil {
			b.Fatal(err)
		}
		files++
	}
	b.Logf("%d events in %d log files: %d MB of JSON, %d MB gzipped (written in %v)", total, files, jsonBytes>>20, gzBytes>>20, time.Since(start).Round(time.Millisecond))

	// Import them.
	dir := b.TempDir()
	e, err := lake.Open(dir, lake.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { e.Close() }()
	if err := e.CreateStore(ctx, storeID); err != nil {
		b.Fatal(err)
	}
	var importTime, readTime time.Duration
	cpu := cpuTime()
	var group []lake.ImportSource
	groupEvents := 0
	for f := 0; f < files; f++ {
		rs := time.Now()
		name := filepath.Join(logs, fmt.Sprintf("f%07d.json.gz", f))
		evs := readLogFile(b, name)
		readTime += time.Since(rs)
		group = append(group, lake.ImportSource{Source: name, Events: evs})
		groupEvents += len(evs)
		if groupEvents < 20000 && f < files-1 {
			continue
		}
		is := time.Now()
		if _, err := e.ImportBatch(ctx, storeID, group); err != nil {
			b.Fatal(err)
		}
		importTime += time.Since(is)
		group, groupEvents = group[:0], 0
	}
	cpuUsed := cpuTime() - cpu
	b.Logf("Import: %.0f events/s (%v in Import, %v reading and parsing the files; %.1f CPU-µs/event in all)",
		float64(total)/importTime.Seconds(), importTime.Round(time.Millisecond), readTime.Round(time.Millisecond), float64(cpuUsed.Microseconds())/float64(total))

	// Disk use, once DuckDB has checkpointed (Close does).
	cs := time.Now()
	if err := e.Close(); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "lake.duckdb"))
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("store on disk: %d MB (checkpoint %v) = %.0f%% of the gzipped log files, %.1f%% of the JSON",
		st.Size()>>20, time.Since(cs).Round(time.Millisecond), 100*float64(st.Size())/float64(gzBytes), 100*float64(st.Size())/float64(jsonBytes))
	if e, err = lake.Open(dir, lake.Options{}); err != nil {
		b.Fatal(err)
	}
	copies := 1
	if v, err := strconv.Atoi(os.Getenv("OPENTRAIL_BENCH_LAKE_COPIES")); err == nil && v > 1 {
		copies = v
		cs := time.Now()
		if err := lake.CopyEvents(e, storeID, copies); err != nil {
			b.Fatal(err)
		}
		b.Logf("store now holds %d copies: %d events (copied in %v)", copies, copies*total, time.Since(cs).Round(time.Millisecond))
	}

	const q = `SELECT eventSource, eventName, count(*) AS n FROM ` + storeID + ` GROUP BY 1, 2 ORDER BY n DESC LIMIT 20`
	var lakeTime time.Duration
	b.Run("lake-group-by", func(b *testing.B) {
		for b.Loop() {
			res, err := e.Query(ctx, q, resolver(storeID), lake.QueryOptions{ID: queryID()})
			if err != nil || res.Status != lake.StatusFinished {
				b.Fatal(res, err)
			}
		}
		lakeTime = b.Elapsed() / time.Duration(b.N)
	})

	// What a user does without opentrail: DuckDB on the log files.
	raw, err := duckdb.NewConnector("", nil)
	if err != nil {
		b.Fatal(err)
	}
	db := sql.OpenDB(raw)
	defer db.Close()
	var list []string
	for range copies {
		for f := 0; f < files; f++ {
			list = append(list, "'"+filepath.Join(logs, fmt.Sprintf("f%07d.json.gz", f))+"'")
		}
	}
	direct := `SELECT r.eventSource, r.eventName, count(*) AS n FROM (SELECT unnest(Records) AS r FROM read_json([` + strings.Join(list, ", ") +
		`], columns = {Records: 'STRUCT("eventSource" VARCHAR, "eventName" VARCHAR)[]'})) GROUP BY 1, 2 ORDER BY n DESC LIMIT 20`
	var directTime time.Duration
	b.Run("duckdb-on-log-files", func(b *testing.B) {
		for b.Loop() {
			rows, err := db.QueryContext(ctx, direct)
			if err != nil {
				b.Fatal(err)
			}
			for rows.Next() {
			}
			if err := rows.Err(); err != nil {
				b.Fatal(err)
			}
			rows.Close()
		}
		directTime = b.Elapsed() / time.Duration(b.N)
	})
	if lakeTime > 0 {
		b.Logf("GROUP BY over %d events: lake %v, DuckDB on the gzipped files %v: %.0fx", copies*total, lakeTime.Round(time.Millisecond), directTime.Round(time.Millisecond), float64(directTime)/float64(lakeTime))
	}
}

// readLogFile reads the records of a gzipped trail log file.
func readLogFile(tb testing.TB, name string) [][]byte {
	f, err := os.Open(name)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	var file struct{ Records []json.RawMessage }
	if err := json.NewDecoder(zr).Decode(&file); err != nil {
		tb.Fatal(err)
	}
	evs := make([][]byte, len(file.Records))
	for i, r := range file.Records {
		evs[i] = r
	}
	return evs
}
