package lake

import (
	"bytes"
	"database/sql/driver"
	"encoding/json"
	"math/bits"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/duckdb/duckdb-go/v2"
)

// The extractor computes a record's row of the data table in Go, so that
// ingestion appends rows straight into the table instead of asking DuckDB
// to parse every record with json_transform (most of the cost of a batch).
// It handles the records CloudTrail writes: fields of the expected JSON
// types, times in AWS's format, no duplicate keys. Anything else (a number
// where a string is expected, a time in another format, a key written with
// escapes, a duplicate key) makes it give the record up, and the record
// goes through DuckDB (insertPhysical) as before, so every record gets the
// row DuckDB would give it; extract_test.go compares the two on the shared
// test data and under fuzzing.
//
// It also shortens eventjson: the text of a marked column's field is left
// out and a marker put in its place when that text is exactly what
// rebuildEventJSON writes back (see layout.go). Values such as eventID,
// requestID and the caller's address are then stored once instead of
// twice, which is most of what a store saves against the log files.

// pathNode is one object level of the record structure the extractor
// reads: the keys it knows there, each either an object level of its own or
// the column it fills.
type pathNode struct {
	id    int // index into extractor.seen
	index map[string]int
	kids  []*pathNode // per key: the level below, or nil for a column
	cols  []int       // per key: the column index, or -1
}

var (
	recordTree *pathNode
	treeNodes  int
)

func init() {
	recordTree = newPathNode()
	for ci, c := range physicalColumns {
		if c.kind == kindRecord || c.kind == kindUUID {
			continue
		}
		n := recordTree
		for d, key := range c.path {
			k, ok := n.index[key]
			if !ok {
				k = len(n.kids)
				n.index[key] = k
				n.kids = append(n.kids, nil)
				n.cols = append(n.cols, -1)
			}
			if d == len(c.path)-1 {
				n.cols[k] = ci
				break
			}
			if n.kids[k] == nil {
				n.kids[k] = newPathNode()
			}
			n = n.kids[k]
		}
	}
}

func newPathNode() *pathNode {
	n := &pathNode{id: treeNodes, index: map[string]int{}}
	treeNodes++
	return n
}

// span is a marked field's place in the record: [start, end) is left out
// of eventjson and replaced with marker.
type span struct {
	start, end int
	marker     byte
}

// extractor holds the buffers of one goroutine's extraction.
type extractor struct {
	row   []driver.Value
	seen  [][]bool // per object level: which keys were met
	spans []span
	rec   []byte
	out   []byte
	fail  bool
}

// markerOf maps a column index to its marker byte (0 if it has none).
var markerOf = func() []byte {
	m := make([]byte, len(physicalColumns))
	for k, i := range markedColumns {
		m[i] = markerByte(k)
	}
	return m
}()

func newExtractor() *extractor {
	x := &extractor{row: make([]driver.Value, len(physicalColumns)), seen: make([][]bool, treeNodes)}
	var size func(n *pathNode)
	size = func(n *pathNode) {
		x.seen[n.id] = make([]bool, len(n.kids))
		for _, k := range n.kids {
			if k != nil {
				size(k)
			}
		}
	}
	size(recordTree)
	return x
}

// extract computes rec's row into x.row (in physicalColumns order). rec
// must be one valid JSON object (isObject). It reports false when the
// record must go through DuckDB instead; x.row is then meaningless.
func (x *extractor) extract(rec []byte) bool {
	if !utf8.Valid(rec) {
		return false
	}
	clear(x.row)
	for _, s := range x.seen {
		clear(s)
	}
	x.spans = x.spans[:0]
	x.rec = rec
	x.fail = false
	i := skipSpace(rec, 0)
	x.object(i, recordTree)
	if x.fail {
		return false
	}
	// eventjson: the record with the marked fields cut out.
	if len(x.spans) == 0 {
		x.row[eventJSONColumn] = string(rec)
		return true
	}
	out := x.out[:0]
	at := 0
	for _, s := range x.spans {
		out = append(out, rec[at:s.start]...)
		out = append(out, 1, s.marker)
		at = s.end
	}
	out = append(out, rec[at:]...)
	x.out = out
	x.row[eventJSONColumn] = string(out)
	return true
}

// object reads the object starting at rec[i] (a '{') for level n and
// returns the index after it.
func (x *extractor) object(i int, n *pathNode) int {
	rec := x.rec
	seen := x.seen[n.id]
	i = skipSpace(rec, i+1)
	if rec[i] == '}' {
		return i + 1
	}
	for {
		// key
		ks := i
		ke, esc := scanString(rec, ks)
		i = skipSpace(rec, ke)
		i = skipSpace(rec, i+1) // ':'
		k, known := n.index[string(rec[ks+1:ke-1])]
		if esc {
			// A key written with escapes may decode to a known one.
			x.fail = true
			return i
		}
		vs := i
		ve := skipValue(rec, vs)
		if known {
			if seen[k] {
				x.fail = true // a duplicate key: left to DuckDB
				return ve
			}
			seen[k] = true
			if kid := n.kids[k]; kid != nil {
				switch rec[vs] {
				case '{':
					x.object(vs, kid)
				case 'n':
				default:
					x.fail = true
				}
			} else {
				x.value(n.cols[k], vs, ve)
			}
			if x.fail {
				return ve
			}
		}
		i = skipSpace(rec, ve)
		if rec[i] == '}' {
			return i + 1
		}
		i = skipSpace(rec, i+1) // ','
	}
}

// value fills column ci from the value rec[vs:ve].
func (x *extractor) value(ci, vs, ve int) {
	rec := x.rec
	raw := rec[vs:ve]
	c := &physicalColumns[ci]
	if raw[0] == 'n' { // null: the column stays NULL
		return
	}
	switch c.kind {
	case kindString:
		if raw[0] != '"' {
			x.fail = true
			return
		}
		if bytes.IndexByte(raw, '\\') < 0 {
			v := raw[1 : len(raw)-1]
			if t, ok := uuidTwin[ci]; ok {
				if u, ok := lowerUUID(v); ok {
					x.row[t] = u
					x.markAt(ci, vs, ve)
					return
				}
			}
			x.row[ci] = string(v)
			x.markAt(ci, vs, ve)
			return
		}
		var v string
		if json.Unmarshal(raw, &v) != nil || strings.ContainsRune(v, 0) || strings.ContainsRune(v, utf8.RuneError) {
			x.fail = true // NUL or a lone surrogate: left to DuckDB
			return
		}
		x.row[ci] = v
	case kindJSON:
		if raw[0] != '{' && raw[0] != '[' || !plainJSON(raw) {
			x.fail = true
			return
		}
		x.row[ci] = string(raw)
		x.markAt(ci, vs, ve)
	case kindTime, kindCreation:
		t, ok := awsTime(raw)
		if !ok {
			x.fail = true
			return
		}
		x.row[ci] = t
		if c.kind == kindTime {
			x.markAt(ci, vs, ve)
		}
	case kindBool:
		switch raw[0] {
		case 't':
			x.row[ci] = true
		case 'f':
			x.row[ci] = false
		default:
			x.fail = true
		}
	}
}

func (x *extractor) markAt(ci, vs, ve int) {
	if m := markerOf[ci]; m != 0 {
		x.spans = append(x.spans, span{vs, ve, m})
	}
}

// lowerUUID parses a UUID written as DuckDB writes one: lower-case hex in
// groups of 8, 4, 4, 4 and 12.
func lowerUUID(b []byte) (duckdb.UUID, bool) {
	var u duckdb.UUID
	if len(b) != 36 {
		return u, false
	}
	n := 0
	for i := 0; i < 36; i++ {
		c := b[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return u, false
			}
			continue
		}
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		default:
			return u, false
		}
		u[n/2] |= v << (4 * (1 - n%2))
		n++
	}
	return u, true
}

// awsTime parses a JSON string holding a time as AWS writes it,
// "2006-01-02T15:04:05Z", and nothing else.
func awsTime(raw []byte) (time.Time, bool) {
	if len(raw) != len(eventTimeLayout)+2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return time.Time{}, false
	}
	s := string(raw[1 : len(raw)-1])
	t, err := time.Parse(eventTimeLayout, s)
	if err != nil || t.Format(eventTimeLayout) != s {
		return time.Time{}, false
	}
	return t, true
}

// plainJSON reports whether the JSON text raw has no \u0000, no surrogate
// escapes and no numbers with exponents: DuckDB reads those differently
// when it parses a column's text again from when it parsed them as part of
// a record (a lone surrogate, 1e400), so such values are left to DuckDB.
func plainJSON(raw []byte) bool {
	in := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case in && c == '\\':
			if i+5 < len(raw) && raw[i+1] == 'u' {
				v, err := strconv.ParseUint(string(raw[i+2:i+6]), 16, 16)
				if err != nil || v == 0 || v >= 0xd800 && v <= 0xdfff {
					return false
				}
			}
			i++
		case c == '"':
			in = !in
		case !in && (c == 'e' || c == 'E') && i > 0 && (raw[i-1] >= '0' && raw[i-1] <= '9' || raw[i-1] == '.'):
			return false
		}
	}
	return true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanString returns the index after the string starting at b[i] (a '"')
// and whether it has escapes.
func scanString(b []byte, i int) (int, bool) {
	esc := false
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			esc = true
			j++
		case '"':
			return j + 1, esc
		}
	}
	return len(b), esc
}

// skipValue returns the index after the value starting at b[i]. b is valid
// JSON.
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		e, _ := scanString(b, i)
		return e
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e, _ := scanString(b, j)
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	default: // number, true, false, null
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
			j++
		}
		return j
	}
}

// extracted is the result of reading a run of records: rows for those the
// extractor read, holding only the columns some row of the run fills (cols,
// a bit per physicalColumns index), the other records as they are, and the
// JSON size of all the objects among them. Leaving out the columns that
// are NULL throughout (most of them, in most runs) saves setting each of
// their cells through DuckDB's appender.
type extracted struct {
	rows    [][]driver.Value
	cols    colSet
	rest    [][]byte
	size    int64
	skipped []int // indexes in the whole batch of the elements skipped
}

// extractChunk is how many records an extractor reads before handing
// their rows over.
const extractChunk = 512

// extractors is how many goroutines read records while one appends.
const extractors = 2

// extractAll reads events in runs of extractChunk records, with
// extractors goroutines taking runs in turn, and sends each run's result to
// out in order. It closes out at the end or when stop closes. Elements that
// are not JSON objects are skipped.
func extractAll(events [][]byte, out chan<- extracted, stop <-chan struct{}) {
	defer close(out)
	var lanes [extractors]chan extracted
	for k := range lanes {
		lanes[k] = make(chan extracted, 2)
		go func(k int) {
			defer close(lanes[k])
			x := newExtractor()
			for at := k * extractChunk; at < len(events); at += extractors * extractChunk {
				c := x.run(events[at:min(at+extractChunk, len(events))], at)
				select {
				case lanes[k] <- c:
				case <-stop:
					return
				}
			}
		}(k)
	}
	for n := 0; n*extractChunk < len(events); n++ {
		c, ok := <-lanes[n%extractors]
		if !ok {
			return // stopped
		}
		select {
		case out <- c:
		case <-stop:
			return
		}
	}
}

// run reads one run of records, which start at index at of the batch.
func (x *extractor) run(run [][]byte, at int) extracted {
	width := len(physicalColumns)
	var c extracted
	values := make([]driver.Value, 0, len(run)*width)
	for i, ev := range run {
		if !isObject(ev) {
			c.skipped = append(c.skipped, at+i)
			continue
		}
		c.size += int64(len(ev))
		if !x.extract(ev) {
			c.rest = append(c.rest, ev)
			continue
		}
		for ci, v := range x.row {
			if v != nil {
				c.cols.add(ci)
			}
		}
		values = append(values, x.row...)
	}
	// Keep the columns some row fills.
	n := c.cols.len()
	c.rows = make([][]driver.Value, 0, len(values)/width)
	for r := 0; r < len(values); r += width {
		row := values[r : r : r+n]
		for ci, v := range values[r : r+width] {
			if c.cols.has(ci) {
				row = append(row, v)
			}
		}
		c.rows = append(c.rows, row)
	}
	return c
}

// colSet is a set of physicalColumns indexes.
type colSet [2]uint64

func (s *colSet) add(ci int)     { s[ci/64] |= 1 << (ci % 64) }
func (s colSet) has(ci int) bool { return s[ci/64]&(1<<(ci%64)) != 0 }
func (s colSet) len() int        { return bits.OnesCount64(s[0]) + bits.OnesCount64(s[1]) }

// names are the names of the columns in s.
func (s colSet) names() []string {
	var names []string
	for ci, c := range physicalColumns {
		if s.has(ci) {
			names = append(names, c.name)
		}
	}
	return names
}

func init() {
	if len(physicalColumns) > 128 {
		panic("lake: colSet holds at most 128 columns")
	}
}
