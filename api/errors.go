package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api/ctapi"
)

// protocol is the wire protocol of a request, which decides the shape of
// its errors.
type protocol int

const (
	protoJSON protocol = iota // awsJson1_1 (cloudtrail)
	protoREST                 // restJson1 (cloudtrail-data)
)

const codeTooLarge = "RequestEntityTooLargeException"

// protocolOf guesses the protocol of a request before it is authenticated,
// so that even a request without credentials gets an error its client reads.
func protocolOf(r *http.Request) protocol {
	if r.Header.Get("X-Amz-Target") == "" && strings.HasPrefix(r.URL.Path, "/PutAuditEvents") {
		return protoREST
	}
	return protoJSON
}

// statusOf is the HTTP status of an error code: the CloudTrail model's for
// its own errors, AWS's common statuses for the rest.
func statusOf(code string) int {
	switch code {
	case "MissingAuthenticationTokenException", opentrail.CodeAccessDenied:
		return http.StatusForbidden
	case "UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignatureException",
		opentrail.CodeSerialization, opentrail.CodeUnknownOperation, "ValidationException":
		return http.StatusBadRequest
	case codeTooLarge:
		return http.StatusRequestEntityTooLarge
	case opentrail.CodeInternalFailure:
		return http.StatusInternalServerError
	case opentrail.CodeServiceUnavailable:
		return http.StatusServiceUnavailable
	case "ChannelInsufficientPermission", "ChannelNotFound", "InvalidChannelARN", "ChannelUnsupportedSchema", "DuplicatedAuditEventId":
		return http.StatusBadRequest
	}
	return ctapi.ErrorStatus(code)
}

// writeError sends err in the request's protocol. Errors that are not
// *opentrail.Error are internal: they are logged and the client sees
// InternalFailure.
func (s *Server) writeError(w http.ResponseWriter, req *request, proto protocol, err error) {
	var e *opentrail.Error
	if !errors.As(err, &e) {
		s.log.Error("internal error", slog.String("request_id", req.id), slog.String("operation", req.op), slog.String("err", err.Error()))
		e = &opentrail.Error{Code: opentrail.CodeInternalFailure, Message: opentrail.ErrorMessage(err)}
	}
	status := statusOf(e.Code)
	h := w.Header()
	h.Set("X-Amzn-Errortype", e.Code)
	switch proto {
	case protoREST:
		h.Set("Content-Type", "application/json")
	default:
		h.Set("Content-Type", "application/x-amz-json-1.1")
	}
	w.WriteHeader(status)
	body, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{e.Code, e.Message})
	w.Write(body)
}

// writeJSON sends a successful response.
func writeJSON(w http.ResponseWriter, proto protocol, body []byte) {
	if proto == protoREST {
		w.Header().Set("Content-Type", "application/json")
	} else {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	}
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}
