package samples_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/opentrail/opentrail/internal/ctdata"
	"github.com/opentrail/opentrail/lake"
	"github.com/opentrail/opentrail/lake/samples"
)

const storeID = "5c0a7d52-3e1f-4b6a-9c8d-0f1e2d3c4b5a"

// testdata is the shared collection of real CloudTrail logs, beside the
// repository.
const testdata = "../../../shared/testdata/cloudtrail"

// realEvents reads the records of the shared test data (ctdata.Load).
func realEvents(tb testing.TB) [][]byte {
	tb.Helper()
	events, _ := ctdata.Load(tb, testdata)
	return events
}

func resolve(ref string) (string, error) {
	if ref == storeID {
		return storeID, nil
	}
	return "", fmt.Errorf("event data store %s not found", ref)
}

// Every sample runs on real logs, and most of them find something there.
func TestCatalogueRunsOnRealLogs(t *testing.T) {
	events := realEvents(t)
	if len(events) < 100 {
		t.Fatalf("only %d events in the test data", len(events))
	}
	ctx := context.Background()
	e, err := lake.Open(t.TempDir(), lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.CreateStore(ctx, storeID); err != nil {
		t.Fatal(err)
	}
	if err := e.Append(ctx, storeID, 1, events); err != nil {
		t.Fatal(err)
	}
	all := samples.All()
	withRows := 0
	for i, q := range all {
		stmt := strings.ReplaceAll(q.SQL, samples.StorePlaceholder, storeID)
		res, err := e.Query(ctx, stmt, resolve, lake.QueryOptions{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1)})
		if err != nil {
			t.Errorf("%s: %v", q.Name, err)
			continue
		}
		if res.Status != lake.StatusFinished {
			t.Errorf("%s: %s %s", q.Name, res.Status, res.Message)
			continue
		}
		page, err := e.Results(ctx, res.ID, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%-40s %d rows", q.Name, page.Total)
		if page.Total > 0 {
			withRows++
		}
	}
	if withRows*2 < len(all) {
		t.Errorf("%d of %d samples return rows on the real logs, want at least half", withRows, len(all))
	}
}

// The catalogue is well formed: enough queries, unique names, every SQL
// reads $EDS_ID.
func TestCatalogueShape(t *testing.T) {
	all := samples.All()
	if len(all) < 30 {
		t.Errorf("%d samples, want at least 30", len(all))
	}
	names := map[string]bool{}
	for _, q := range all {
		if q.Name == "" || q.Description == "" || !strings.Contains(q.SQL, "FROM "+samples.StorePlaceholder) {
			t.Errorf("sample %+v is incomplete", q)
		}
		if names[q.Name] {
			t.Errorf("two samples are named %q", q.Name)
		}
		names[q.Name] = true
	}
	all[0].Name = "changed"
	if samples.All()[0].Name == "changed" {
		t.Error("All returns the catalogue itself, not a copy")
	}
}
