package lake_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/opentrail/opentrail/lake"
)

func TestImportOnce(t *testing.T) {
	e := mustOpen(t, t.TempDir())
	ctx := context.Background()
	if _, err := e.Import(ctx, storeID, "s3://b/k1", crashBatch(0, 10)); !errors.Is(err, lake.ErrStoreNotFound) {
		t.Fatalf("Import into a missing store: %v", err)
	}
	if err := e.CreateStore(ctx, storeID); err != nil {
		t.Fatal(err)
	}
	const src = `s3://bucket/AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/01/f.json.gz "etag-1"`
	if ok, err := e.Imported(ctx, storeID, src); err != nil || ok {
		t.Fatalf("Imported before Import = %v, %v", ok, err)
	}
	// Two non-objects are skipped and not counted.
	evs := append(crashBatch(0, 100), []byte("not json"), []byte(`[1]`))
	n, err := e.Import(ctx, storeID, src, evs)
	if err != nil || n != 100 {
		t.Fatalf("Import = %d, %v; want 100", n, err)
	}
	if ok, err := e.Imported(ctx, storeID, src); err != nil || !ok {
		t.Fatalf("Imported after Import = %v, %v", ok, err)
	}
	// The same source again adds nothing, even with other events.
	if n, err := e.Import(ctx, storeID, src, crashBatch(100, 200)); !errors.Is(err, lake.ErrAlreadyImported) || n != 0 {
		t.Fatalf("second Import = %d, %v; want ErrAlreadyImported", n, err)
	}
	// Another source (same key, other ETag) is another import.
	if n, err := e.Import(ctx, storeID, src+"2", crashBatch(100, 150)); err != nil || n != 50 {
		t.Fatalf("Import of another source = %d, %v", n, err)
	}
	// An empty log file is a source too.
	if n, err := e.Import(ctx, storeID, "empty", nil); err != nil || n != 0 {
		t.Fatalf("Import of no events = %d, %v", n, err)
	}
	if _, err := e.Import(ctx, storeID, "empty", nil); !errors.Is(err, lake.ErrAlreadyImported) {
		t.Fatalf("second Import of no events: %v", err)
	}
	_, rows := mustQuery(t, e, `SELECT count(*), count(DISTINCT eventid) FROM `+storeID)
	if rows[0][0] != "150" || rows[0][1] != "150" {
		t.Errorf("store holds %v events (%v distinct), want 150", rows[0][0], rows[0][1])
	}
	var size int64
	for _, ev := range crashBatch(0, 150) {
		size += int64(len(ev))
	}
	if st, _ := e.Stats(ctx, storeID); st.Events != 150 || st.Bytes != size {
		t.Errorf("Stats = %+v, want 150 events, %d bytes", st, size)
	}
	// Imports do not move the journal checkpoint.
	if cp, _ := e.Checkpoint(ctx, storeID); cp != 0 {
		t.Errorf("Checkpoint after imports = %d, want 0", cp)
	}

	// Dropping the store forgets its sources.
	if err := e.DropStore(ctx, storeID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Imported(ctx, storeID, src); !errors.Is(err, lake.ErrStoreNotFound) {
		t.Errorf("Imported after DropStore: %v", err)
	}
	if err := e.CreateStore(ctx, storeID); err != nil {
		t.Fatal(err)
	}
	if ok, err := e.Imported(ctx, storeID, src); err != nil || ok {
		t.Errorf("Imported in a re-created store = %v, %v", ok, err)
	}
	if n, err := e.Import(ctx, storeID, src, crashBatch(0, 10)); err != nil || n != 10 {
		t.Errorf("Import into a re-created store = %d, %v", n, err)
	}
}

// TestImportConcurrentWithAppend runs imports (each source twice, from two
// goroutines) while the journal consumer appends to the same store: every
// event lands exactly once and the checkpoint is the consumer's.
func TestImportConcurrentWithAppend(t *testing.T) {
	e := mustOpen(t, t.TempDir())
	ctx := context.Background()
	if err := e.CreateStore(ctx, storeID); err != nil {
		t.Fatal(err)
	}
	const files, perFile, batches, perBatch = 8, 50, 8, 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	added := map[string]int64{}
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := 0; f < files; f++ {
				src := fmt.Sprintf("file-%d", f)
				n, err := e.Import(ctx, storeID, src, crashBatch(f*perFile, (f+1)*perFile))
				if err != nil && !errors.Is(err, lake.ErrAlreadyImported) {
					t.Error(err)
				}
				mu.Lock()
				added[src] += n
				mu.Unlock()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		base := files * perFile
		for s := 0; s < batches; s++ {
			if err := e.Append(ctx, storeID, int64(s+1), crashBatch(base+s*perBatch, base+(s+1)*perBatch)); err != nil {
				t.Error(err)
			}
		}
	}()
	wg.Wait()
	for src, n := range added {
		if n != perFile {
			t.Errorf("%s: %d events added in all, want %d", src, n, perFile)
		}
	}
	total := files*perFile + batches*perBatch
	checkEventsOnce(t, e, total, "after concurrent imports and appends")
	if cp, _ := e.Checkpoint(ctx, storeID); cp != batches {
		t.Errorf("Checkpoint = %d, want %d", cp, batches)
	}
}

// TestImportCrashSafety imports in a child process that exits without
// Close, as a crash would: after reopening, every source the child saw
// succeed is imported with all its events, and importing it again adds
// nothing.
func TestImportCrashSafety(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	cmd := exec.Command(os.Args[0], "-test.run=^TestImportCrashHelper$")
	cmd.Env = append(os.Environ(), "LAKE_IMPORT_CRASH_DIR="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("crash helper: %v\n%s", err, out)
	}
	e := mustOpen(t, dir)
	for f := 0; f < 3; f++ {
		src := fmt.Sprintf("file-%d", f)
		if ok, err := e.Imported(ctx, storeID, src); err != nil || !ok {
			t.Errorf("Imported(%s) after crash = %v, %v", src, ok, err)
		}
		if _, err := e.Import(ctx, storeID, src, crashBatch(f*100, (f+1)*100)); !errors.Is(err, lake.ErrAlreadyImported) {
			t.Errorf("re-Import(%s) after crash: %v", src, err)
		}
	}
	checkEventsOnce(t, e, 300, "after crash")
}

// TestImportCrashHelper is the child process of TestImportCrashSafety.
func TestImportCrashHelper(t *testing.T) {
	dir := os.Getenv("LAKE_IMPORT_CRASH_DIR")
	if dir == "" {
		t.Skip("only run by TestImportCrashSafety")
	}
	ctx := context.Background()
	e, err := lake.Open(dir, lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.CreateStore(ctx, storeID); err != nil {
		t.Fatal(err)
	}
	for f := 0; f < 3; f++ {
		if _, err := e.Import(ctx, storeID, fmt.Sprintf("file-%d", f), crashBatch(f*100, (f+1)*100)); err != nil {
			t.Fatal(err)
		}
	}
	os.Exit(0)
}

// TestImportBatch imports several sources in one transaction: each is
// counted on its own, a source already imported or given twice is added
// once, and elements that are not objects are skipped in the right source.
func TestImportBatch(t *testing.T) {
	e := mustOpen(t, t.TempDir())
	ctx := context.Background()
	if _, err := e.ImportBatch(ctx, storeID, []lake.ImportSource{{Source: "a"}}); !errors.Is(err, lake.ErrStoreNotFound) {
		t.Fatalf("ImportBatch into a missing store: %v", err)
	}
	if err := e.CreateStore(ctx, storeID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Import(ctx, storeID, "old", crashBatch(0, 10)); err != nil {
		t.Fatal(err)
	}
	res, err := e.ImportBatch(ctx, storeID, []lake.ImportSource{
		{Source: "a", Events: append(crashBatch(10, 20), []byte("not json"))},
		{Source: "old", Events: crashBatch(100, 200)},
		{Source: "b", Events: append([][]byte{[]byte(`[]`)}, crashBatch(20, 45)...)},
		{Source: "a", Events: crashBatch(200, 300)},
		{Source: "empty"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []lake.ImportResult{{Added: 10}, {Err: lake.ErrAlreadyImported}, {Added: 25}, {Err: lake.ErrAlreadyImported}, {}}
	for i := range want {
		if res[i].Added != want[i].Added || !errors.Is(res[i].Err, want[i].Err) {
			t.Errorf("result %d = %+v, want %+v", i, res[i], want[i])
		}
	}
	_, rows := mustQuery(t, e, `SELECT count(*), count(DISTINCT eventid) FROM `+storeID)
	if rows[0][0] != "45" || rows[0][1] != "45" {
		t.Errorf("store holds %v events (%v distinct), want 45", rows[0][0], rows[0][1])
	}
	for _, src := range []string{"a", "b", "empty"} {
		if ok, err := e.Imported(ctx, storeID, src); err != nil || !ok {
			t.Errorf("Imported(%s) = %v, %v", src, ok, err)
		}
	}
	if res, err := e.ImportBatch(ctx, storeID, nil); err != nil || len(res) != 0 {
		t.Errorf("ImportBatch of no sources = %v, %v", res, err)
	}
	if _, err := e.ImportBatch(ctx, storeID, []lake.ImportSource{{Source: "c"}, {Source: ""}}); err == nil {
		t.Error("ImportBatch accepted an empty source")
	}
	if ok, _ := e.Imported(ctx, storeID, "c"); ok {
		t.Error("a refused batch imported one of its sources")
	}
}

// TestImportBatchAcrossRuns imports sources whose events span the runs
// the engine reads in parallel (512 records each), with elements that are
// not objects on both sides of run boundaries: each source is counted
// exactly.
func TestImportBatchAcrossRuns(t *testing.T) {
	e := mustOpen(t, t.TempDir())
	ctx := context.Background()
	if err := e.CreateStore(ctx, storeID); err != nil {
		t.Fatal(err)
	}
	bad := []byte("not json")
	a := crashBatch(0, 700)
	a = append(a[:511], append([][]byte{bad, bad}, a[511:]...)...) // at 511 and 512
	b := crashBatch(700, 1300)
	b = append(b[:324], append([][]byte{bad}, b[324:]...)...) // at 702+324 = 1026
	c := append(crashBatch(1300, 2400), bad)
	res, err := e.ImportBatch(ctx, storeID, []lake.ImportSource{{Source: "a", Events: a}, {Source: "b", Events: b}, {Source: "c", Events: c}})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int64{700, 600, 1100} {
		if res[i].Added != want || res[i].Err != nil {
			t.Errorf("source %d: %+v, want %d added", i, res[i], want)
		}
	}
	_, rows := mustQuery(t, e, `SELECT count(*), count(DISTINCT eventid) FROM `+storeID)
	if rows[0][0] != "2400" || rows[0][1] != "2400" {
		t.Errorf("store holds %v events (%v distinct), want 2400", rows[0][0], rows[0][1])
	}
}
