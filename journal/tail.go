package journal

import (
	"sort"
	"sync"

	"github.com/opentrail/opentrail"
)

// The tail keeps, in memory, the most recently committed journal rows as
// consumers read them (scope, time, flags, the stored body, and the
// record's lookup attributes when the appender had them), so that consumers
// that keep up neither read the rows back nor parse the records again. It
// holds the rows this process committed; rows committed by another process,
// or pushed out of the tail, are read from the database.

// tailItem is one committed journal row.
type tailItem struct {
	seq, scope, time, flags int64
	sum                     *opentrail.Summary // nil: unknown, parse the body
	enc                     []byte             // the body as stored
	dedupe                  int64              // see Entry.dedupe
}

// maxTail bounds the rows the tail keeps.
const maxTail = 65536

type tail struct {
	mu    sync.Mutex
	items []tailItem // ascending seq
}

// push adds the rows of one commit; they follow every row already held.
func (t *tail) push(items []tailItem) {
	if len(items) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := len(t.items); n > 0 && t.items[n-1].seq >= items[0].seq {
		t.items = t.items[:0] // cannot happen with one writer; stay correct anyway
	}
	t.items = append(t.items, items...)
	if over := len(t.items) - maxTail; over > 0 {
		// Drop a quarter at once so that the copy is rare.
		drop := max(over, maxTail/4)
		t.items = append(t.items[:0], t.items[drop:]...)
	}
}

// from returns up to limit rows starting exactly at seq with no gap, or nil
// when the tail does not hold seq.
func (t *tail) from(seq int64, limit int) []tailItem {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := sort.Search(len(t.items), func(i int) bool { return t.items[i].seq >= seq })
	if i == len(t.items) || t.items[i].seq != seq {
		return nil
	}
	n := 0
	for i+n < len(t.items) && n < limit && t.items[i+n].seq == seq+int64(n) {
		n++ // stops at a row committed by another process: read from the database
	}
	return append([]tailItem(nil), t.items[i:i+n]...)
}
