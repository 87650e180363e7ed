package ctapi_test

import (
	"slices"
	"testing"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api/ctapi"
)

func TestOperation(t *testing.T) {
	tests := []struct {
		target string
		want   string // "" for UnknownOperationException
		msg    string
	}{
		{target: "CloudTrail_20131101.LookupEvents", want: "LookupEvents"},
		{target: "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents", want: "LookupEvents"},
		{target: "CloudTrail_20131101.GetEventConfiguration", want: "GetEventConfiguration"},
		{target: "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.DescribeTrails", want: "DescribeTrails"},
		{target: "", msg: "Missing X-Amz-Target header: expected CloudTrail_20131101.<Operation>"},
		{target: "CloudTrail_20131101.Lookupevents", msg: "Unknown operation: CloudTrail_20131101.Lookupevents"},
		{target: "CloudTrail_20131101.", msg: "Unknown operation: CloudTrail_20131101."},
		{target: "LookupEvents"},
		{target: "CloudTrail_20131101LookupEvents"},
		{target: "cloudtrail_20131101.LookupEvents"},
		{target: "CloudTrail_20131101.LookupEvents "},
		{target: "Foo.CloudTrail_20131101.LookupEvents"},
		{target: "com.amazonaws.cloudtrail.v20131101.LookupEvents"},
		{target: "DynamoDB_20120810.ListTables", msg: "Unknown operation: DynamoDB_20120810.ListTables"},
		{target: "CloudTrail_20131101.CloudTrail_20131101.LookupEvents"},
	}
	for _, tt := range tests {
		got, err := ctapi.Operation(tt.target)
		if tt.want != "" {
			if got != tt.want || err != nil {
				t.Errorf("Operation(%q) = %q, %v; want %q", tt.target, got, err, tt.want)
			}
			continue
		}
		e, ok := err.(*opentrail.Error)
		if !ok || e.Code != opentrail.CodeUnknownOperation || got != "" {
			t.Errorf("Operation(%q) = %q, %v; want an UnknownOperationException", tt.target, got, err)
			continue
		}
		if tt.msg != "" && e.Message != tt.msg {
			t.Errorf("Operation(%q) message = %q, want %q", tt.target, e.Message, tt.msg)
		}
	}
}

func TestOperations(t *testing.T) {
	ops := ctapi.Operations()
	if len(ops) != 60 || !slices.IsSorted(ops) {
		t.Fatalf("Operations() = %d names (sorted: %v), want 60 sorted", len(ops), slices.IsSorted(ops))
	}
	for _, op := range ops {
		if got, err := ctapi.Operation("CloudTrail_20131101." + op); got != op || err != nil {
			t.Errorf("Operation of listed %s = %q, %v", op, got, err)
		}
		if ctapi.NewInput(op) == nil {
			t.Errorf("no request type for %s", op)
		}
	}
	ops[0] = "changed"
	if ctapi.Operations()[0] == "changed" {
		t.Error("Operations() shares its slice with the package")
	}
}

func TestErrorStatus(t *testing.T) {
	tests := []struct {
		code string
		want int
	}{
		{"TrailNotFoundException", 404},
		{"TrailNotProvidedException", 404},
		{"EventDataStoreNotFoundException", 404},
		{"AccessDeniedException", 403},
		{"InsufficientS3BucketPolicyException", 403},
		{"MaximumNumberOfTrailsExceededException", 403},
		{"ConflictException", 409},
		{"ThrottlingException", 429},
		{"MaxConcurrentQueriesException", 429},
		{"InvalidTrailNameException", 400},
		{"InvalidParameterException", 400},
		{"InsufficientIAMAccessPermissionException", 400}, // not in the Smithy model
		{opentrail.CodeInternalFailure, 500},
		{"ServiceUnavailable", 503},
		{"MissingAuthenticationTokenException", 403},
		{opentrail.CodeSerialization, 400},
		{opentrail.CodeUnknownOperation, 400},
		{"UnrecognizedClientException", 400},
		{"SomethingElse", 400},
		{"", 400},
	}
	for _, tt := range tests {
		if got := ctapi.ErrorStatus(tt.code); got != tt.want {
			t.Errorf("ErrorStatus(%q) = %d, want %d", tt.code, got, tt.want)
		}
	}
}
