package ctapi_test

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api/ctapi"
)

func Example() {
	target := "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"
	body := []byte(`{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":"ConsoleLogin"}],"MaxResults":5}`)

	op, err := ctapi.Operation(target)
	if err != nil {
		panic(err)
	}
	var in ctapi.LookupEventsRequest
	if err := ctapi.Decode(op, body, &in); err != nil {
		panic(err)
	}
	fmt.Println(op, *in.LookupAttributes[0].AttributeKey == ctapi.LookupAttributeKeyEventName, *in.MaxResults)

	out, _ := json.Marshal(ctapi.LookupEventsResponse{Events: []ctapi.Event{{
		EventName: in.LookupAttributes[0].AttributeValue,
		EventTime: ctapi.NewTimestamp(time.Date(2015, 2, 20, 23, 55, 29, 123e6, time.UTC)),
	}}})
	fmt.Println(string(out))
	fmt.Println(string(ctapi.RequestParameters(op, body)))
	// Output:
	// LookupEvents true 5
	// {"Events":[{"EventName":"ConsoleLogin","EventTime":1424476529.123}]}
	// {"lookupAttributes":[{"attributeKey":"EventName","attributeValue":"ConsoleLogin"}],"maxResults":5}
}

func ExampleDecode_validation() {
	err := ctapi.Decode("LookupEvents", []byte(`{"MaxResults":100}`), nil)
	code := opentrail.ErrorCode(err)
	fmt.Println(ctapi.ErrorStatus(code), code)
	fmt.Println(opentrail.ErrorMessage(err))
	// Output:
	// 400 InvalidMaxResultsException
	// 1 validation error detected: Value '100' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 50
}
