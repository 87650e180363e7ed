package ingest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opentrail/opentrail/ingest"
)

func scanAll(t *testing.T, in string) ([]string, error) {
	t.Helper()
	var got []string
	err := ingest.Scan(strings.NewReader(in), func(raw json.RawMessage, n int, offset int64) error {
		if n != len(got)+1 {
			t.Fatalf("record numbered %d, want %d", n, len(got)+1)
		}
		got = append(got, string(bytes.TrimSpace(raw)))
		return nil
	})
	return got, err
}

func TestScanForms(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
		err      string
	}{
		{"records", `{"Records":[{"a":1},{"b":2}]}`, []string{`{"a":1}`, `{"b":2}`}, ""},
		{"records after other keys", `{"Records":[{"a":1}],"Extra":{"x":[1,2]}}`, []string{`{"a":1}`}, ""},
		{"lookup output", `{"Events":[{"CloudTrailEvent":"{}"}],"NextToken":"x"}`, []string{`{"CloudTrailEvent":"{}"}`}, ""},
		{"array", " [ {\"a\":1} ,\n{\"b\":2} ] ", []string{`{"a":1}`, `{"b":2}`}, ""},
		{"json lines", "{\"a\":1}\n{\"b\":2}\n", []string{`{"a":1}`, `{"b":2}`}, ""},
		{"records null", `{"Records":null}`, nil, ""},
		{"empty", "  \n", nil, "empty"},
		{"truncated", `{"Records":[{"a":1},{"b":`, []string{`{"a":1}`}, "truncated"},
		{"garbage", `{"Records":[{"a":1}}`, []string{`{"a":1}`}, "not valid JSON"},
		{"other object (a record to validate)", `{"Records2":[]}`, []string{`{"Records2":[]}`}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := scanAll(t, tt.in)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("error %v, want one containing %q", err, tt.err)
			}
		})
	}
}

func FuzzScan(f *testing.F) {
	for _, p := range []string{
		"../testdata/cloudtrail/flosell_trailscraper/events-for-smoke-test.json",
		"../testdata/cloudtrail/log2timeline_plaso/aws_cloudtrail.jsonl",
		"../testdata/cloudtrail/aws_aws-cloudtrail-processing-library/SerializerTestFileBadJsonFormat.json",
		"../testdata/cloudtrail/DataDog_stratus-red-team/detonation-logs/aws.defense-evasion.cloudtrail-stop.json",
	} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"Records":[1,"x",null,[]]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		stop := errors.New("stop")
		n := 0
		err := ingest.Scan(bytes.NewReader(data), func(raw json.RawMessage, i int, offset int64) error {
			n++
			if !json.Valid(raw) {
				t.Fatalf("record %d is not valid JSON: %q", i, raw)
			}
			if offset < 0 || offset > int64(len(data)) {
				t.Fatalf("offset %d outside the input", offset)
			}
			if n > len(data) {
				return stop
			}
			return nil
		})
		if err == stop {
			t.Fatalf("more records than bytes")
		}
	})
}
