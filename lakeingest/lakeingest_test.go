package lakeingest_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opentrail/opentrail/journal"
	"github.com/opentrail/opentrail/lake"
	"github.com/opentrail/opentrail/lakeingest"
)

func TestParseStoreRef(t *testing.T) {
	const id = "0123abcd-0000-4000-8000-00000000abcd"
	for _, c := range []struct {
		ref                 string
		id, region, account string
		ok                  bool
	}{
		{id, id, "", "", true},
		{strings.ToUpper(id), id, "", "", true},
		{"arn:aws:cloudtrail:eu-west-1:123456789012:eventdatastore/" + id, id, "eu-west-1", "123456789012", true},
		{"arn:aws:cloudtrail:eu-west-1:123456789012:channel/" + id, "", "", "", false},
		{"arn:aws:cloudtrail:eu-west-1:123456789012:eventdatastore/x", "", "", "", false},
		{"", "", "", "", false},
		{id + "0", "", "", "", false},
	} {
		gid, region, account, ok := lakeingest.ParseStoreRef(c.ref)
		if gid != c.id || region != c.region || account != c.account || ok != c.ok {
			t.Errorf("ParseStoreRef(%q) = %q, %q, %q, %v; want %q, %q, %q, %v", c.ref, gid, region, account, ok, c.id, c.region, c.account, c.ok)
		}
	}
}

func FuzzParseStoreRef(f *testing.F) {
	f.Add("0123abcd-0000-4000-8000-00000000abcd")
	f.Add("arn:aws:cloudtrail:us-east-1:123456789012:eventdatastore/0123abcd-0000-4000-8000-00000000abcd")
	f.Add("arn:aws:cloudtrail:::eventdatastore/")
	f.Fuzz(func(t *testing.T, ref string) {
		id, region, account, ok := lakeingest.ParseStoreRef(ref)
		if !ok {
			return
		}
		if id != strings.ToLower(id) || len(id) != 36 || strings.ContainsAny(id, `"'; `) {
			t.Fatalf("ParseStoreRef(%q) gave ID %q", ref, id)
		}
		// The ARN built back from the parts parses to the same parts.
		if region != "" || account != "" {
			id2, r2, a2, ok2 := lakeingest.ParseStoreRef(lakeingest.StoreARN(region, account, id))
			if !ok2 || id2 != id || r2 != region || a2 != account {
				t.Fatalf("round trip of %q: %q %q %q %v", ref, id2, r2, a2, ok2)
			}
		}
	})
}

// A store pending deletion is purged, events and all, once seven days
// have passed, and not before.
func TestPurge(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, lk := lakeingest.OpenTestEnv(t, dir, lake.Options{})
	// The clock is read by the manager's goroutine while the test moves it.
	start := time.Now()
	var days atomic.Int64
	clock := func() time.Time { return start.Add(time.Duration(days.Load()) * 24 * time.Hour) }
	st := &lakeingest.Store{ID: "0123abcd-0000-4000-8000-00000000abcd", Account: "123456789012", Region: "us-east-1", Name: "s",
		Status: lakeingest.StatusPendingDeletion, Retention: 7, Created: start, Updated: start, Deleted: start}
	if err := db.Update(ctx, func(tx *journal.Tx) error { return lakeingest.PutStore(tx, st, true) }); err != nil {
		t.Fatal(err)
	}
	if err := lk.CreateStore(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	m := lakeingest.New(lakeingest.Options{DB: db, Lake: lk, Now: clock, MaintainEvery: time.Hour})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { m.Run(runCtx); close(done) }()
	defer func() { cancel(); <-done }()

	days.Store(6)
	m.Maintain(ctx)
	if s, err := lakeingest.GetStore(ctx, db, st.ID); err != nil || s == nil {
		t.Fatalf("store gone after 6 days: %v", err)
	}
	days.Store(8)
	m.Maintain(ctx)
	if s, err := lakeingest.GetStore(ctx, db, st.ID); err != nil || s != nil {
		t.Fatalf("store still there after 8 days: %v %+v", err, s)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := lk.Checkpoint(ctx, st.ID)
		if errors.Is(err, lake.ErrStoreNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the lake still has the purged store: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if cp, err := db.Checkpoint(ctx, lakeingest.ConsumerName(st.ID)); err != nil || cp != 0 {
		t.Errorf("the purged store's journal checkpoint is still %d (%v)", cp, err)
	}
}
