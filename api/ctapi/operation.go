package ctapi

import (
	"slices"
	"strings"

	"github.com/opentrail/opentrail"
)

// Operation returns the operation named by an X-Amz-Target header. It
// accepts exactly the two forms clients send: "CloudTrail_20131101.<Op>"
// (Smithy-generated SDKs such as aws-sdk-go-v2) and
// "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.<Op>" (botocore,
// the AWS CLI and older SDKs), where <Op> is one of Operations, spelt
// exactly. Anything else is an UnknownOperationException naming the target.
func Operation(target string) (name string, err error) {
	rest, ok := strings.CutPrefix(target, longTargetPrefix+".")
	if !ok {
		rest, ok = strings.CutPrefix(target, shortTargetPrefix+".")
	}
	if ok {
		if _, known := opsByName[rest]; known {
			return rest, nil
		}
	}
	if target == "" {
		return "", opentrail.Errorf(opentrail.CodeUnknownOperation, "Missing X-Amz-Target header: expected %s.<Operation>", shortTargetPrefix)
	}
	return "", opentrail.Errorf(opentrail.CodeUnknownOperation, "Unknown operation: %s", truncate(target, 256))
}

// Operations returns the names of all CloudTrail operations, sorted. The
// slice is the caller's to keep.
func Operations() []string {
	return slices.Clone(opNames)
}

// ErrorStatus returns the HTTP status CloudTrail answers with for an error
// code: the model's (smithy.api#httpError) for CloudTrail's own exceptions,
// the documented one for the common AWS errors (InternalFailure 500,
// ServiceUnavailable 503, MissingAuthenticationToken 403, ...), and 400 for
// any other code.
func ErrorStatus(code string) int {
	if st, ok := errorStatusTable[code]; ok {
		return st
	}
	if st, ok := commonErrorStatus[code]; ok {
		return st
	}
	return 400
}

// commonErrorStatus holds the errors any AWS JSON service may return that
// CloudTrail's model does not list and that are not 400 (AWS "Common
// Errors"; the authentication ones are documented, not seen from CloudTrail).
// Every other common error (UnrecognizedClientException,
// InvalidSignatureException, IncompleteSignature, ExpiredTokenException,
// RequestExpired, SerializationException, UnknownOperationException,
// ValidationException) is 400.
var commonErrorStatus = map[string]int{
	opentrail.CodeInternalFailure:         500,
	"InternalFailureException":            500,
	"InternalServerError":                 500,
	"ServiceUnavailable":                  503,
	opentrail.CodeServiceUnavailable:      503,
	"MissingAuthenticationToken":          403,
	"MissingAuthenticationTokenException": 403,
	"InvalidClientTokenId":                403,
	"OptInRequired":                       403,
}
