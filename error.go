package opentrail

import (
	"errors"
	"fmt"
)

// Error is an error a client may see. Code is the AWS error name exactly as it
// goes on the wire (for example "TrailNotFoundException"), Message is text that
// is safe to show to the caller. Any error that is not an *Error is internal:
// it is logged and the client gets InternalFailure.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string {
	return e.Code + ": " + e.Message
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the *Error in err's chain, "InternalFailure"
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternalFailure
}

// ErrorMessage returns the message of the *Error in err's chain, a generic
// message for any other non-nil error (whose text may hold internals), and ""
// for nil.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "We encountered an internal error. Please try again."
}

// Codes used by more than one package. Service-specific codes are written
// where they are raised, as the AWS models name them.
const (
	CodeInternalFailure     = "InternalFailure"
	CodeAccessDenied        = "AccessDeniedException"
	CodeInvalidParameter    = "InvalidParameterException"
	CodeSerialization       = "SerializationException"
	CodeUnknownOperation    = "UnknownOperationException"
	CodeThrottling          = "ThrottlingException"
	CodeServiceUnavailable  = "ServiceUnavailableException"
	CodeUnsupportedOp       = "UnsupportedOperationException"
	CodeOperationNotAllowed = "OperationNotPermittedException"
)
