// Package svc is the contract between the API front (package api) and the
// AWS services opentrail embeds beside CloudTrail (S3, SNS, ...): what the
// front tells a service about an authenticated call, and what the service
// tells the front to record of it. The front authenticates, routes and
// records; a service parses its own protocol, decides through Authorize,
// changes its state through Commit, and writes its own response.
package svc

import (
	"context"
	"encoding/json"
	"io"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/journal"
)

// Call is an authenticated request as a service sees it.
type Call struct {
	// Principal is the authenticated caller.
	Principal *opentrail.Principal
	// Region is the region of the request's credential scope.
	Region string
	// RequestID is the request's ID (already in the x-amzn-RequestId and
	// x-amz-request-id response headers).
	RequestID string
	// Host is the Host the client addressed.
	Host string
	// TLS reports whether the request came over TLS.
	TLS bool
	// Body is the request body, verified against the signature (aws-chunked
	// bodies already decoded). It reports an error at EOF if the body did
	// not match the hash the client signed; a service must not keep data
	// whose read ended in an error.
	Body io.Reader
	// ContentLength is the body's (decoded) length, -1 when unknown.
	ContentLength int64

	// Authorize asks opentrail's authorization point whether the caller
	// may perform action (for example "s3:GetObject") on resource (an ARN,
	// or "*"). It returns nil or an *opentrail.Error with code
	// AccessDeniedException; services answer it with their own access
	// denied error.
	Authorize func(ctx context.Context, action, resource string) error

	// Commit runs fn in one journal transaction and appends the call's
	// CloudTrail record in the same transaction, built from *rec as fn
	// left it: a state change never exists without its record. If fn
	// returns an error its changes are undone, and the service reports it
	// in its response and in the Record it returns.
	Commit func(ctx context.Context, fn func(tx *journal.Tx, rec *Record) error) error
}

// Record is what CloudTrail records of a call. A service returns it after
// writing its response; the front appends it unless Committed says a
// Commit already did.
type Record struct {
	EventName string
	ReadOnly  bool
	// Data marks a data event (object-level S3 calls, SNS Publish...);
	// otherwise the call is a management event.
	Data                bool
	Resources           []opentrail.Resource
	RequestParameters   json.RawMessage // nil: JSON null
	ResponseElements    json.RawMessage // nil: JSON null
	AdditionalEventData json.RawMessage
	// Err is the call's error (an *opentrail.Error carrying the service's
	// own error code), nil on success.
	Err error
	// Committed is set by Commit when it appended the record.
	Committed bool
	// Skip asks the front not to record the call at all (AWS records
	// neither, for example, unauthenticated subscription confirmations).
	Skip bool
}
