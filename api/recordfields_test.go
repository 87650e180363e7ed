package api

import (
	"encoding/json"
	"testing"
)

func TestRecordStrings(t *testing.T) {
	records := []string{
		`{"eventVersion":"1.11","errorCode":"AccessDenied","sourceIPAddress":"198.51.100.7"}`,
		`{"requestParameters":{"errorCode":"nested","list":[{"sourceIPAddress":"x"}, "]}\"{"]},"sourceIPAddress":"203.0.113.1"}`,
		` { "errorCode" : "Quote\"d \u00e9\\/" , "n": 12, "b": true, "z": null, "sourceIPAddress": "a\nb" } `,
		`{"errorCode":17,"sourceIPAddress":"10.0.0.1"}`,
		`{"responseElements":null,"resources":[],"sourceIPAddress":"s3.amazonaws.com"}`,
		`{}`,
	}
	for _, rec := range records {
		var want struct {
			ErrorCode       any `json:"errorCode"`
			SourceIPAddress any `json:"sourceIPAddress"`
		}
		if err := json.Unmarshal([]byte(rec), &want); err != nil {
			t.Fatalf("%s: %v", rec, err)
		}
		str := func(v any) string { s, _ := v.(string); return s }
		got := recordStrings([]byte(rec), "errorCode", "sourceIPAddress")
		if got[0] != str(want.ErrorCode) || got[1] != str(want.SourceIPAddress) {
			t.Errorf("%s: got %q, want %q %q", rec, got, str(want.ErrorCode), str(want.SourceIPAddress))
		}
	}
	// Anything else yields empty strings, never a panic.
	for _, bad := range []string{``, `[]`, `"x"`, `{"errorCode":`, `{"errorCode":"open`, `{"a":[1,2`, `{"a":]}`, `{"a"}`, `{"a":1 "errorCode":"x"}`} {
		got := recordStrings([]byte(bad), "errorCode", "sourceIPAddress")
		if len(got) != 2 || got[1] != "" {
			t.Errorf("%q: got %q", bad, got)
		}
	}
}
