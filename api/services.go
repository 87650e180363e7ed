package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"net/http"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api/svc"
	"github.com/opentrail/opentrail/journal"
	"github.com/opentrail/opentrail/sigv4"
)

// Service is an AWS service embedded beside CloudTrail (S3, SNS, ...),
// reached by its SigV4 signing name.
type Service interface {
	// Serve handles an authenticated call and writes the response; it
	// returns what CloudTrail records of the call (see svc.Record).
	Serve(w http.ResponseWriter, r *http.Request, c svc.Call) svc.Record
	// WriteError writes an error raised by the front (authentication,
	// limits) in the service's own protocol. code is one of the service's
	// codes, as errorCodes maps them.
	WriteError(w http.ResponseWriter, r *http.Request, code, message, requestID string)
	// EventSource is the eventSource of the service's records
	// (s3.amazonaws.com).
	EventSource() string
	// StreamsBody reports whether the service reads the body itself as a
	// stream (S3 objects) rather than the front buffering it.
	StreamsBody() bool
}

// frontErrors maps the front's own error codes (named as awsJson services
// name them) to each query/XML service's codes.
var frontErrors = map[string]map[string]string{
	"s3": {
		"MissingAuthenticationTokenException": "AccessDenied",
		"IncompleteSignatureException":        "AuthorizationHeaderMalformed",
		"UnrecognizedClientException":         "InvalidAccessKeyId",
		"InvalidSignatureException":           "SignatureDoesNotMatch",
		"RequestExpired":                      "RequestTimeTooSkewed",
		"PayloadMismatch":                     "XAmzContentSHA256Mismatch",
		"MalformedBody":                       "IncompleteBody",
		codeTooLarge:                          "EntityTooLarge",
		opentrail.CodeAccessDenied:            "AccessDenied",
		opentrail.CodeInternalFailure:         "InternalError",
	},
	"sns": {
		"MissingAuthenticationTokenException": "MissingAuthenticationToken",
		"IncompleteSignatureException":        "IncompleteSignature",
		"UnrecognizedClientException":         "InvalidClientTokenId",
		"InvalidSignatureException":           "SignatureDoesNotMatch",
		"RequestExpired":                      "RequestExpired",
		"PayloadMismatch":                     "SignatureDoesNotMatch",
		"MalformedBody":                       "MalformedQueryString",
		codeTooLarge:                          "RequestEntityTooLarge",
		opentrail.CodeAccessDenied:            "AuthorizationError",
		opentrail.CodeInternalFailure:         "InternalFailure",
	},
}

// serviceError writes a front error for a service request.
func (s *Server) serviceError(w http.ResponseWriter, req *request, sv Service, err error) {
	var e *opentrail.Error
	if !errors.As(err, &e) {
		s.log.Error("internal error", "request_id", req.id, "service", req.service, "err", err.Error())
		e = &opentrail.Error{Code: opentrail.CodeInternalFailure, Message: opentrail.ErrorMessage(err)}
	}
	code := e.Code
	if c, ok := frontErrors[req.service][code]; ok {
		code = c
	}
	sv.WriteError(w, req.r, code, e.Message, req.id)
}

// serviceAuthError maps a SigV4 failure for a service request, keeping the
// kinds the S3 and query protocols tell apart.
func serviceAuthError(err error) error {
	var se *sigv4.Error
	if errors.As(err, &se) {
		switch se.Kind {
		case sigv4.KindExpired:
			return &opentrail.Error{Code: "RequestExpired", Message: se.Message}
		case sigv4.KindPayloadMismatch:
			return &opentrail.Error{Code: "PayloadMismatch", Message: se.Message}
		case sigv4.KindMalformedBody:
			return &opentrail.Error{Code: "MalformedBody", Message: se.Message}
		}
	}
	return authError(err)
}

// serveService authenticates and serves a request for an embedded service.
func (s *Server) serveService(w http.ResponseWriter, req *request, sv Service) {
	r := req.r
	ctx := r.Context()
	key, err := s.accessKey(ctx, req.auth.AccessKeyID)
	if err != nil {
		s.serviceError(w, req, sv, err)
		return
	}
	if key == nil || !key.Active {
		s.serviceError(w, req, sv, opentrail.Errorf("UnrecognizedClientException", "The AWS Access Key Id you provided does not exist in our records."))
		return
	}
	p := key.Principal
	req.principal = &p

	// The payload hash the signature covers: a literal the client signed
	// instead (S3 unsigned and streaming payloads), or the body's hash.
	var body io.Reader
	contentLength := r.ContentLength
	literal, isLiteral := req.auth.PayloadLiteral()
	switch {
	case isLiteral:
		err = sigv4.Verify(r, req.auth, key.Secret, literal, s.now())
		body = r.Body
		if err == nil && req.auth.Chunked() {
			cr, cerr := sigv4.NewChunkedReader(r, req.auth, key.Secret)
			if cerr != nil {
				err = cerr
			} else {
				body = cr
				contentLength = decodedLength(r)
			}
		}
	case sv.StreamsBody() && req.auth.PayloadHash != "":
		// The client claimed the body's hash: verify the signature now
		// and the hash as the body streams by.
		err = sigv4.Verify(r, req.auth, key.Secret, req.auth.PayloadHash, s.now())
		body = &hashingReader{r: r.Body, h: sha256.New(), check: req.auth.CheckPayload}
	default:
		var b []byte
		b, err = readBody(r, s.cfg.MaxBodyBytes)
		if err == nil && int64(len(b)) > s.cfg.MaxBodyBytes {
			err = &opentrail.Error{Code: codeTooLarge, Message: "the request body is larger than the limit of " + humanBytes(s.cfg.MaxBodyBytes)}
		}
		if err == nil {
			err = sigv4.Verify(r, req.auth, key.Secret, payloadHash(b), s.now())
			body, contentLength = bytes.NewReader(b), int64(len(b))
		}
	}
	if err != nil {
		s.serviceError(w, req, sv, serviceAuthError(err))
		return
	}
	call := svc.Call{
		Principal:     req.principal,
		Region:        req.region,
		RequestID:     req.id,
		Host:          r.Host,
		TLS:           r.TLS != nil,
		Body:          body,
		ContentLength: contentLength,
		Authorize: func(ctx context.Context, action, resource string) error {
			return s.authorize(ctx, req, action, resource)
		},
	}
	call.Commit = func(ctx context.Context, fn func(tx *journal.Tx, rec *svc.Record) error) error {
		var seq int64
		err := s.db.Update(context.WithoutCancel(ctx), func(tx *journal.Tx) error {
			var rec svc.Record
			if err := fn(tx, &rec); err != nil {
				return err
			}
			req.op = rec.EventName
			e, err := s.entry(req, s.serviceEvent(req, sv, rec))
			if err != nil {
				return err
			}
			seq, err = tx.Append(e)
			return err
		})
		if err == nil {
			s.committed(seq)
			req.committed = true
		}
		return err
	}
	rec := sv.Serve(w, r, call)
	if rec.Skip || rec.Committed || req.committed {
		return
	}
	req.op = rec.EventName
	if req.op == "" {
		return // not an operation the service knows: nothing to record
	}
	e, err := s.entry(req, s.serviceEvent(req, sv, rec))
	if err == nil {
		var seq int64
		if seq, err = s.db.Append(context.WithoutCancel(ctx), e); err == nil && !rec.ReadOnly {
			s.committed(seq)
		}
	}
	if err != nil {
		s.log.Error("record service call", "request_id", req.id, "service", req.service, "err", err.Error())
	}
}

// serviceEvent builds the CloudTrail record of a service call.
func (s *Server) serviceEvent(req *request, sv Service, rec svc.Record) *opentrail.Event {
	ev := s.event(req, outcome{readOnly: rec.ReadOnly, data: rec.Data, params: rec.RequestParameters,
		response: rec.ResponseElements, resources: rec.Resources, err: rec.Err})
	ev.EventSource = sv.EventSource()
	ev.AdditionalEventData = rec.AdditionalEventData
	if rec.ResponseElements != nil && rec.Err == nil {
		ev.ResponseElements = rec.ResponseElements // services decide, reads included
	}
	return ev
}

// decodedLength is an aws-chunked body's decoded length, -1 if unknown.
func decodedLength(r *http.Request) int64 {
	var n int64
	v := r.Header.Get("X-Amz-Decoded-Content-Length")
	if v == "" {
		return -1
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// hashingReader checks, at EOF, the body against the hash the client
// signed.
type hashingReader struct {
	r     io.Reader
	h     hash.Hash
	check func(string) error
	err   error
}

func (hr *hashingReader) Read(p []byte) (int, error) {
	if hr.err != nil {
		return 0, hr.err
	}
	n, err := hr.r.Read(p)
	hr.h.Write(p[:n])
	if err == io.EOF {
		if cerr := hr.check(hex.EncodeToString(hr.h.Sum(nil))); cerr != nil {
			hr.err = cerr
			return n, cerr
		}
	}
	return n, err
}

// ServiceFuncs makes a Service of functions.
type ServiceFuncs struct {
	ServeFunc      func(w http.ResponseWriter, r *http.Request, c svc.Call) svc.Record
	WriteErrorFunc func(w http.ResponseWriter, r *http.Request, code, message, requestID string)
	Source         string // the eventSource
	Streams        bool   // the service reads the body as a stream
}

func (f ServiceFuncs) Serve(w http.ResponseWriter, r *http.Request, c svc.Call) svc.Record {
	return f.ServeFunc(w, r, c)
}

func (f ServiceFuncs) WriteError(w http.ResponseWriter, r *http.Request, code, message, requestID string) {
	f.WriteErrorFunc(w, r, code, message, requestID)
}

func (f ServiceFuncs) EventSource() string { return f.Source }
func (f ServiceFuncs) StreamsBody() bool   { return f.Streams }
