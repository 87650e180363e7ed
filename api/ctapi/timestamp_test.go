package ctapi_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api/ctapi"
)

func TestTimestampMarshal(t *testing.T) {
	tests := []struct {
		t    time.Time
		want string
	}{
		{time.Date(2015, 2, 20, 23, 55, 29, 0, time.UTC), "1424476529"},
		{time.Date(2015, 2, 20, 23, 55, 29, 123_000_000, time.UTC), "1424476529.123"},
		{time.Date(2015, 2, 20, 23, 55, 29, 100_000_000, time.UTC), "1424476529.100"},
		{time.Date(2015, 2, 20, 23, 55, 29, 5_000_000, time.UTC), "1424476529.005"},
		{time.Date(2015, 2, 20, 23, 55, 29, 123_999_999, time.UTC), "1424476529.123"}, // rounded down
		{time.Date(2015, 2, 20, 23, 55, 29, 999_999, time.UTC), "1424476529"},
		{time.Date(2015, 2, 21, 0, 55, 29, 0, time.FixedZone("CET", 3600)), "1424476529"},
		{time.Unix(0, 0), "0"},
		{time.Unix(-1, 500_000_000), "-0.500"},
		{time.Unix(-2, 0), "-2"},
		{time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), "253402300799"},
	}
	for _, tt := range tests {
		got, err := json.Marshal(ctapi.Timestamp{Time: tt.t})
		if err != nil || string(got) != tt.want {
			t.Errorf("Marshal(%v) = %s, %v; want %s", tt.t, got, err, tt.want)
		}
		// The pointer form marshals the same.
		got, _ = json.Marshal(ctapi.NewTimestamp(tt.t))
		if string(got) != tt.want {
			t.Errorf("Marshal(&%v) = %s, want %s", tt.t, got, tt.want)
		}
	}
}

func TestTimestampUnmarshal(t *testing.T) {
	base := time.Date(2015, 2, 20, 23, 55, 29, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"1424476529", base},
		{"1424476529.0", base},
		{"1424476529.123", base.Add(123 * time.Millisecond)},
		{"1424476529.1239", base.Add(123 * time.Millisecond)}, // below a millisecond is dropped
		{"1.424476529123e9", base.Add(123 * time.Millisecond)},
		{"1.424476529123E+9", base.Add(123 * time.Millisecond)},
		{"14244765291230e-4", base.Add(123 * time.Millisecond)},
		{"0.0000000000001424476529e22", base},
		{"0", time.Unix(0, 0)},
		{"-0", time.Unix(0, 0)},
		{"0e999999999999", time.Unix(0, 0)},
		{"1e-999999999999", time.Unix(0, 0)},
		{"-1.5", time.Unix(-2, 500_000_000)},
		{"-1.0005", time.Unix(-2, 999_000_000)}, // toward the past, as marshalling rounds
		{"253402300799", time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)},
		{"-62135596800", time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		var ts ctapi.Timestamp
		if err := json.Unmarshal([]byte(tt.in), &ts); err != nil {
			t.Errorf("Unmarshal(%s) = %v", tt.in, err)
			continue
		}
		if !ts.Time.Equal(tt.want) || ts.Location() != time.UTC {
			t.Errorf("Unmarshal(%s) = %v, want %v in UTC", tt.in, ts.Time, tt.want)
		}
		// What was read writes back to the same instant.
		out, _ := json.Marshal(ts)
		var again ctapi.Timestamp
		if err := json.Unmarshal(out, &again); err != nil || !again.Equal(ts) {
			t.Errorf("Unmarshal(Marshal(%s) = %s) = %v, %v; want %v", tt.in, out, again.Time, err, ts.Time)
		}
	}

	for _, in := range []string{`"1424476529"`, `"2015-02-20T23:55:29Z"`, `true`, `{}`, `[]`, `253402300800`, `1e13`, `-62135596801`, `1e999999999999`} {
		var ts ctapi.Timestamp
		err := json.Unmarshal([]byte(in), &ts)
		if code := errCode(err); code != opentrail.CodeSerialization {
			t.Errorf("Unmarshal(%s) = %v, want a SerializationException", in, err)
		}
	}

	ts := ctapi.Timestamp{Time: base}
	if err := json.Unmarshal([]byte("null"), &ts); err != nil || !ts.Time.Equal(base) {
		t.Errorf("Unmarshal(null) changed the value to %v, %v", ts.Time, err)
	}
}

func TestTimestampEqual(t *testing.T) {
	a := ctapi.Timestamp{Time: time.Date(2024, 1, 1, 1, 0, 0, 0, time.FixedZone("X", 3600))}
	b := ctapi.Timestamp{Time: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	if !a.Equal(b) {
		t.Errorf("%v.Equal(%v) = false, want true", a, b)
	}
	if a.Equal(ctapi.Timestamp{Time: b.Add(time.Millisecond)}) {
		t.Errorf("Equal ignores a millisecond")
	}
}
