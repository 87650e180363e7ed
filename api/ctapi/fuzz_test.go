package ctapi_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api/ctapi"
)

// FuzzDecode feeds arbitrary bodies to Decode for every operation. Decode
// must not panic, must fail only with a SerializationException or a
// validation code of the operation, and what it accepts must re-encode to a
// body that decodes to the same request.
func FuzzDecode(f *testing.F) {
	ops := ctapi.Operations()
	index := func(op string) uint8 { return uint8(slices.Index(ops, op)) }
	for _, c := range capturedRequests(f) {
		f.Add(index(c.Op), c.Body)
	}
	for _, seed := range []struct{ op, body string }{
		{"LookupEvents", `{"MaxResults":100,"LookupAttributes":[{"AttributeKey":"Foo"}],"StartTime":"x"}`},
		{"StartDashboardRefresh", `{"DashboardId":"d","QueryParameterValues":{"$k$":"v","x":null}}`},
		{"ListInsightsData", `{"InsightSource":"s","DataType":"InsightsEvents","Dimensions":{"EventName":"x"}}`},
		{"CreateEventDataStore", `{"Name":"eds","RetentionPeriod":7,"AdvancedEventSelectors":[{"FieldSelectors":[{"Field":"eventCategory","Equals":["Data"]}]}]}`},
		{"PutEventConfiguration", `{"TrailName":"t","MaxEventSize":"Large","ContextKeySelectors":[{"Type":"TagContext","Equals":["a"]}]}`},
		{"ListTrails", `{"NextToken":"\u00e9\ud800"}`},
		{"ListTrails", `[[[[{}]]]]`},
		{"ListTrails", ``},
	} {
		f.Add(index(seed.op), []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, opIndex uint8, body []byte) {
		op := ops[int(opIndex)%len(ops)]
		dst := ctapi.NewInput(op)
		err := ctapi.Decode(op, body, dst)
		if err != nil {
			var e *opentrail.Error
			if !errors.As(err, &e) {
				t.Fatalf("Decode(%s, %q) = %T %v, want an *opentrail.Error", op, body, err, err)
			}
			if e.Code != opentrail.CodeSerialization && !slices.Contains(ctapi.ValidationCodes(op), e.Code) {
				t.Fatalf("Decode(%s, %q) code %s, want SerializationException or one of %v", op, body, e.Code, ctapi.ValidationCodes(op))
			}
			if !json.Valid(ctapi.RequestParameters(op, body)) {
				t.Fatalf("RequestParameters(%s, %q) is not JSON", op, body)
			}
			return
		}
		rp := ctapi.RequestParameters(op, body)
		if !json.Valid(rp) {
			t.Fatalf("RequestParameters(%s, %q) = %q, not JSON", op, body, rp)
		}
		again, err := json.Marshal(dst)
		if err != nil {
			t.Fatalf("Marshal(Decode(%s, %q)): %v", op, body, err)
		}
		dst2 := ctapi.NewInput(op)
		if err := ctapi.Decode(op, again, dst2); err != nil {
			t.Fatalf("Decode(%s, %q) re-encoded as %s fails: %v", op, body, again, err)
		}
		if diff := cmp.Diff(dst, dst2); diff != "" {
			t.Fatalf("Decode(%s, %q) re-encoded as %s decodes differently (-first +second):\n%s", op, body, again, diff)
		}
	})
}
