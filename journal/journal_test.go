package journal_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/opentrail/opentrail"
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

func entry(i int, origin journal.Origin, withSummary bool) journal.Entry {
	t := time.Unix(1700000000+int64(i), 0).UTC()
	body := fmt.Appendf(nil, `{"eventVersion":"1.11","eventTime":"%s","awsRegion":"us-east-1","eventName":"Call%d","eventID":"id-%d","eventSource":"x.amazonaws.com","eventType":"AwsApiCall","eventCategory":"Management","requestParameters":{"padding":"%0200d"}}`,
		opentrail.FormatTime(t), i, i, i)
	e := journal.Entry{Account: "111122223333", Region: "us-east-1", Time: t, Category: opentrail.CategoryManagement,
		Origin: origin, History: true, Trails: origin == journal.OriginAPI, Body: body}
	if withSummary {
		s, _ := opentrail.Summarize(body)
		e.Summary = &s
	}
	return e
}

// Feed returns every appended row once, in order, with the body as
// appended, whether it comes from memory or from the database.
func TestFeed(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	db := mustOpen(t, path)
	var want []journal.Entry
	for b := 0; b < 5; b++ {
		var batch []journal.Entry
		for i := 0; i < 150; i++ {
			batch = append(batch, entry(b*150+i, journal.Origin(i%3), i%2 == 0))
		}
		if _, err := db.Append(ctx, batch...); err != nil {
			t.Fatal(err)
		}
		want = append(want, batch...)
	}
	check := func(db *journal.DB) {
		t.Helper()
		var got []journal.Row
		for after := int64(0); ; {
			rows, err := db.Feed(ctx, after, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) == 0 {
				break
			}
			got = append(got, rows...)
			after = rows[len(rows)-1].Seq
		}
		if len(got) != len(want) {
			t.Fatalf("fed %d rows, want %d", len(got), len(want))
		}
		for i, r := range got {
			w := want[i]
			body, err := r.Body()
			if err != nil {
				t.Fatal(err)
			}
			sum, err := r.Summary()
			if err != nil {
				t.Fatal(err)
			}
			if r.Seq != int64(i+1) || string(body) != string(w.Body) || !r.Time.Equal(w.Time) || r.Origin() != w.Origin ||
				r.Category() != w.Category || r.History() != w.History || r.Trails() != w.Trails || sum.EventName != fmt.Sprint("Call", i) {
				t.Fatalf("row %d = seq %d origin %v trails %v %s", i, r.Seq, r.Origin(), r.Trails(), body)
			}
			acct, region, err := db.ScopeOf(ctx, r.Scope)
			if err != nil || acct != "111122223333" || region != "us-east-1" {
				t.Fatalf("scope %d = %s %s %v", r.Scope, acct, region, err)
			}
		}
	}
	check(db) // from the in-memory tail
	db.Close()
	check(mustOpen(t, path)) // from the database
}

func TestConcurrentUpdatesCommitIndependently(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t, "")
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.Update(ctx, func(tx *journal.Tx) error {
				if _, err := tx.Append(entry(i, journal.OriginAPI, false)); err != nil {
					return err
				}
				if err := tx.SetSetting(fmt.Sprint("k", i), "v"); err != nil {
					return err
				}
				if i%4 == 0 {
					return fmt.Errorf("job %d fails", i)
				}
				return nil
			})
		}()
	}
	wg.Wait()
	rows, err := db.Feed(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, r := range rows {
		s, _ := r.Summary()
		names[s.EventName] = true
	}
	for i, err := range errs {
		_, ok, serr := db.Setting(ctx, fmt.Sprint("k", i))
		if serr != nil {
			t.Fatal(serr)
		}
		if (err == nil) != ok || (err == nil) != names[fmt.Sprint("Call", i)] {
			t.Errorf("job %d: err %v but setting stored = %v, event stored = %v", i, err, ok, names[fmt.Sprint("Call", i)])
		}
	}
	if len(rows) != 30 {
		t.Errorf("%d events stored, want 30", len(rows))
	}
	for i, r := range rows {
		if r.Seq != int64(i+1) {
			t.Errorf("row %d has seq %d: sequence numbers must have no gaps", i, r.Seq)
		}
	}
}

func TestReopenKeepsHead(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	db := mustOpen(t, path)
	if _, err := db.Append(ctx, entry(1, journal.OriginAPI, false), entry(2, journal.OriginAPI, false)); err != nil {
		t.Fatal(err)
	}
	head := db.Head()
	db.Close()
	if db = mustOpen(t, path); db.Head() != head || head != 2 {
		t.Errorf("head after reopen = %d, want %d", db.Head(), head)
	}
}
