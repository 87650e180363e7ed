package ctapi_test

import (
	"testing"

	"github.com/opentrail/opentrail/api/ctapi"
)

// A LookupEvents body as the AWS CLI sends it.
var lookupEventsBody = []byte(`{"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "ConsoleLogin"}], "StartTime": 1704067200, "EndTime": 1704153600.5, "MaxResults": 50, "NextToken": "eyJrIjoidiJ9"}`)

func BenchmarkDecodeLookupEvents(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(lookupEventsBody)))
	for b.Loop() {
		var in ctapi.LookupEventsRequest
		if err := ctapi.Decode("LookupEvents", lookupEventsBody, &in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRequestParametersLookupEvents(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		ctapi.RequestParameters("LookupEvents", lookupEventsBody)
	}
}
