package lake_test

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// realistic makes varied records from the shared test data's real
// records: each record is one of them (chosen with a skew, as a few calls
// dominate real trails) with a fresh eventID and requestID, a time that
// advances, and a source address, access key and session name drawn from
// pools of realistic size.
type realistic struct {
	templates [][]string // static text between slots, per template
	slots     [][]byte   // the slot kinds between the pieces
	rng       *rand.Rand
	ips, keys []string
	at        time.Time
}

// Slot kinds, written into templates as "\u0000<kind>".
const (
	slotEventID   = 'E'
	slotRequestID = 'R'
	slotTime      = 'T'
	slotIP        = 'I'
	slotKey       = 'K'
)

func newRealistic(tb testing.TB, seed uint64) *realistic {
	tb.Helper()
	events, _ := loadTestdata(tb)
	g := &realistic{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), at: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	for range 5000 {
		g.ips = append(g.ips, fmt.Sprintf("%d.%d.%d.%d", 1+g.rng.IntN(222), g.rng.IntN(256), g.rng.IntN(256), 1+g.rng.IntN(254)))
	}
	const b32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	for range 300 {
		k := []byte("ASIA")
		for range 16 {
			k = append(k, b32[g.rng.IntN(len(b32))])
		}
		g.keys = append(g.keys, string(k))
	}
	for _, ev := range events {
		var rec map[string]any
		if json.Unmarshal(ev, &rec) != nil {
			continue
		}
		if t, ok := rec["eventTime"].(string); !ok || !strings.HasPrefix(t, "20") {
			continue
		}
		rec["eventID"] = "\x00E"
		rec["eventTime"] = "\x00T"
		if _, ok := rec["requestID"]; ok {
			rec["requestID"] = "\x00R"
		}
		if ip, ok := rec["sourceIPAddress"].(string); ok && strings.Count(ip, ".") == 3 {
			rec["sourceIPAddress"] = "\x00I"
		}
		if ui, ok := rec["userIdentity"].(map[string]any); ok {
			if _, ok := ui["accessKeyId"]; ok {
				ui["accessKeyId"] = "\x00K"
			}
		}
		b, err := json.Marshal(rec)
		if err != nil {
			continue
		}
		parts := strings.Split(string(b), `"\u0000`)
		pieces := []string{parts[0]}
		var kinds []byte
		for _, p := range parts[1:] {
			// p is the slot kind, the closing quote, then static text.
			kinds = append(kinds, p[0])
			pieces = append(pieces, p[2:])
		}
		g.templates = append(g.templates, pieces)
		g.slots = append(g.slots, kinds)
	}
	if len(g.templates) == 0 {
		tb.Skip("no templates in the test data")
	}
	return g
}

func (g *realistic) uuid() string {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		v := g.rng.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// next returns the next record.
func (g *realistic) next() []byte {
	// Skew: half the records come from 1/16 of the templates.
	n := len(g.templates)
	i := g.rng.IntN(n)
	if g.rng.IntN(2) == 0 {
		i = g.rng.IntN(max(1, n/16))
	}
	g.at = g.at.Add(time.Duration(g.rng.IntN(6)) * time.Millisecond)
	var sb strings.Builder
	pieces := g.templates[i]
	sb.WriteString(pieces[0])
	for k, kind := range g.slots[i] {
		sb.WriteByte('"')
		switch kind {
		case slotEventID:
			sb.WriteString(g.uuid())
		case slotRequestID:
			sb.WriteString(g.uuid())
		case slotTime:
			sb.WriteString(g.at.Format("2006-01-02T15:04:05Z"))
		case slotIP:
			sb.WriteString(g.ips[g.rng.IntN(len(g.ips))])
		case slotKey:
			sb.WriteString(g.keys[g.rng.IntN(len(g.keys))])
		}
		sb.WriteByte('"')
		sb.WriteString(pieces[k+1])
	}
	return []byte(sb.String())
}

func TestRealisticRecords(t *testing.T) {
	g := newRealistic(t, 1)
	ids := map[string]bool{}
	var last string
	for range 2000 {
		b := g.next()
		var rec struct {
			EventID   string `json:"eventID"`
			EventTime string `json:"eventTime"`
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		if ids[rec.EventID] || len(rec.EventID) != 36 {
			t.Fatalf("eventID %q repeated or malformed", rec.EventID)
		}
		ids[rec.EventID] = true
		if rec.EventTime < last {
			t.Fatalf("time went back: %s after %s", rec.EventTime, last)
		}
		last = rec.EventTime
	}
}
