// Package ctapi is CloudTrail's awsJson1_1 wire model: a Go struct for the
// request and the response of every CloudTrail operation, the shape tables
// of the CloudTrail API model, and the code that checks request bodies
// against them, so that the AWS CLI and SDKs talk to opentrail unchanged.
//
// A handler of the API front reads a call like this:
//
//	op, err := ctapi.Operation(r.Header.Get("X-Amz-Target"))
//	...
//	var in ctapi.LookupEventsRequest
//	if err := ctapi.Decode(op, body, &in); err != nil { ... }
//
// and answers with json.Marshal of a response struct such as
// ctapi.LookupEventsResponse. Structs name members exactly as the wire does,
// including DescribeTrails' lower-case trailNameList, includeShadowTrails
// and trailList. Scalars and nested structures are pointers, so absent and
// zero differ; lists and maps are nil when absent and marshal as [] and {}
// when empty but present, as AWS answers (for example {"trailList":[]}).
// Times are *Timestamp, which marshals as epoch seconds.
//
// Every error is an *opentrail.Error whose Code is the AWS exception name.
// On the wire an error is the status ErrorStatus(code) with the body
// {"__type":"<Code>","message":"<Message>"}.
//
// RequestParameters and ResponseElements render a call as the
// requestParameters and responseElements of the CloudTrail event that
// records it.
//
// types.go and model.go are generated from the botocore and Smithy models
// of CloudTrail by internal/cmd/modelgen; do not edit them.
package ctapi

//go:generate go run ../../internal/cmd/modelgen -model ../../../shared/aws-models/botocore/cloudtrail_2013-11-01_service-2.json -smithy ../../../shared/aws-models/cloudtrail-2013-11-01.json -out .
