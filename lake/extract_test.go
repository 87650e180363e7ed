package lake

import (
	"context"
	"testing"
)

// TestExtractor checks that the Go extractor, not DuckDB, reads the
// records CloudTrail writes, and that what it stores is smaller and gives
// each record back byte for byte (TestViewMatchesWide and FuzzRecord check
// every column against DuckDB's own conversion).
func TestExtractor(t *testing.T) {
	records := testRecords(t)
	x := newExtractor()
	objects, fast := 0, 0
	for _, r := range records {
		if !isObject(r) {
			continue
		}
		objects++
		if x.extract(r) {
			fast++
		}
	}
	// The shared test data holds a few deliberately odd records; all the
	// others must take the fast path.
	if fast < objects*97/100 {
		t.Errorf("the extractor read %d of %d records; the rest went through DuckDB", fast, objects)
	}

	ctx := context.Background()
	e, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	const id = "4b2e1f9c-0a1b-4c2d-8e3f-112233445566"
	if err := e.CreateStore(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := e.Append(ctx, id, 1, records); err != nil {
		t.Fatal(err)
	}
	var size int64
	for _, r := range records {
		if isObject(r) {
			size += int64(len(r))
		}
	}
	var marked, rows, stored, rebuilt int64
	if err := e.db.QueryRow(`SELECT count(*) FILTER (WHERE contains(eventjson, chr(1))), count(*), sum(strlen(eventjson)) FROM `+dataTable(id)).Scan(&marked, &rows, &stored); err != nil {
		t.Fatal(err)
	}
	if err := e.db.QueryRow(`SELECT sum(strlen(eventjson)) FROM ` + storeTable(id)).Scan(&rebuilt); err != nil {
		t.Fatal(err)
	}
	if rows != int64(objects) || marked < int64(fast)*9/10 {
		t.Errorf("%d rows, %d with fields left out of eventjson; want %d rows, most of %d marked", rows, marked, objects, fast)
	}
	if rebuilt != size {
		t.Errorf("the view's eventjson holds %d bytes, the records %d", rebuilt, size)
	}
	if stored > size*3/4 {
		t.Errorf("the stored eventjson holds %d bytes of the records' %d: fields are not left out", stored, size)
	}
	t.Logf("%d of %d records read in Go; eventjson stored in %d of %d bytes", fast, objects, stored, size)
	if st, err := e.Stats(ctx, id); err != nil || st.Bytes != size || st.Events != int64(objects) {
		t.Errorf("Stats = %+v, %v; want %d events of %d bytes", st, err, objects, size)
	}
}

func TestAWSTime(t *testing.T) {
	for in, ok := range map[string]bool{
		`"2024-01-31T23:59:59Z"`:      true,
		`"2024-06-30T23:59:60Z"`:      false, // a leap second: DuckDB decides
		`"2024-02-30T00:00:00Z"`:      false,
		`"2024-01-31T23:59:59.123Z"`:  false,
		`"2024-01-31 23:59:59Z"`:      false,
		`"2024-01-31T23:59:59+00:00"`: false,
		`"20240131T235959Z"`:          false,
		`2024`:                        false,
	} {
		if _, got := awsTime([]byte(in)); got != ok {
			t.Errorf("awsTime(%s) = %v, want %v", in, got, ok)
		}
	}
}

func TestPlainJSON(t *testing.T) {
	for in, ok := range map[string]bool{
		`{"a":"x\u003cy","b":[1,2.5,true,false,null],"e":"1e5"}`: true,
		`{"a":"\u0000"}`:       false,
		`{"a":"\ud83d\ude00"}`: false,
		`{"a":1e400}`:          false,
		`{"a":1.5E3}`:          false,
		`{"a":"\\u0000"}`:      true, // an escaped backslash, then text
	} {
		if got := plainJSON([]byte(in)); got != ok {
			t.Errorf("plainJSON(%s) = %v, want %v", in, got, ok)
		}
	}
}
