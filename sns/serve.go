package sns

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api/svc"
)

// xmlns is the namespace of every SNS response.
const xmlns = "http://sns.amazonaws.com/doc/2010-03-31/"

// maxBody bounds a request body: a 256 KB message, percent-encoded, with
// its attributes.
const maxBody = 2 << 20

// SNS error codes (the AWS model's names, as they go on the wire).
const (
	codeNotFound         = "NotFound"
	codeResourceNotFound = "ResourceNotFound"
	codeInvalidParameter = "InvalidParameter"
	codeAuthorization    = "AuthorizationError"
	codeInvalidAction    = "InvalidAction"
	codeMissingAction    = "MissingAction"
	codeMissingParameter = "MissingParameter"
	codeMalformedQuery   = "MalformedQueryString"
	codeTagLimit         = "TagLimitExceeded"
	codeInternal         = "InternalError"
)

// statusOf is the HTTP status SNS answers an error code with.
func statusOf(code string) int {
	switch code {
	case codeNotFound, codeResourceNotFound:
		return http.StatusNotFound
	case codeAuthorization, "TopicLimitExceeded", "SubscriptionLimitExceeded", "InvalidSecurity",
		opentrail.CodeAccessDenied, "SignatureDoesNotMatch", "InvalidClientTokenId", "MissingAuthenticationToken",
		"MissingAuthenticationTokenException", "UnrecognizedClientException", "InvalidSignatureException", "ExpiredToken":
		return http.StatusForbidden
	case "Throttled":
		return http.StatusTooManyRequests
	case codeInternal, opentrail.CodeInternalFailure:
		return http.StatusInternalServerError
	case opentrail.CodeServiceUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

func errorf(code, format string, args ...any) error { return opentrail.Errorf(code, format, args...) }

func invalid(format string, args ...any) error {
	return opentrail.Errorf(codeInvalidParameter, format, args...)
}

var errTopicNotFound = &opentrail.Error{Code: codeNotFound, Message: "Topic does not exist"}
var errSubscriptionNotFound = &opentrail.Error{Code: codeNotFound, Message: "Subscription does not exist"}

// call is one request being served.
type call struct {
	svc.Call
	p   url.Values
	rec *svc.Record
}

type handler func(s *Service, ctx context.Context, c *call) (result any, err error)

// actions are the operations opentrail implements.
var actions map[string]handler

func init() {
	actions = map[string]handler{
		"CreateTopic":               (*Service).createTopic,
		"DeleteTopic":               (*Service).deleteTopic,
		"ListTopics":                (*Service).listTopics,
		"GetTopicAttributes":        (*Service).getTopicAttributes,
		"SetTopicAttributes":        (*Service).setTopicAttributes,
		"Subscribe":                 (*Service).subscribe,
		"ConfirmSubscription":       (*Service).confirmSubscription,
		"Unsubscribe":               (*Service).unsubscribe,
		"ListSubscriptions":         (*Service).listSubscriptions,
		"ListSubscriptionsByTopic":  (*Service).listSubscriptionsByTopic,
		"GetSubscriptionAttributes": (*Service).getSubscriptionAttributes,
		"SetSubscriptionAttributes": (*Service).setSubscriptionAttributes,
		"Publish":                   (*Service).publishAction,
		"TagResource":               (*Service).tagResource,
		"UntagResource":             (*Service).untagResource,
		"ListTagsForResource":       (*Service).listTagsForResource,
	}
}

// snsActions are SNS operations opentrail does not implement. They are
// refused with InvalidAction and recorded, since they are real SNS calls.
var snsActions = map[string]bool{
	"AddPermission": true, "RemovePermission": true, "PublishBatch": true,
	"CheckIfPhoneNumberIsOptedOut": true, "CreatePlatformApplication": true, "CreatePlatformEndpoint": true,
	"CreateSMSSandboxPhoneNumber": true, "DeleteEndpoint": true, "DeletePlatformApplication": true,
	"DeleteSMSSandboxPhoneNumber": true, "GetDataProtectionPolicy": true, "GetEndpointAttributes": true,
	"GetPlatformApplicationAttributes": true, "GetSMSAttributes": true, "GetSMSSandboxAccountStatus": true,
	"ListEndpointsByPlatformApplication": true, "ListOriginationNumbers": true, "ListPhoneNumbersOptedOut": true,
	"ListPlatformApplications": true, "ListSMSSandboxPhoneNumbers": true, "OptInPhoneNumber": true,
	"PutDataProtectionPolicy": true, "SetEndpointAttributes": true, "SetPlatformApplicationAttributes": true,
	"SetSMSAttributes": true, "VerifySMSSandboxPhoneNumber": true,
}

// Serve answers one authenticated SNS query-protocol request (the SigV4
// service "sns") and returns what CloudTrail records of it. Parameters
// come from the query string and from a form-encoded body; the body wins
// where both name one. Successful state changes are committed through
// c.Commit together with their record (the returned Record then has
// Committed set); reads, failures and refusals are left to the front to
// record. Requests that are not SNS calls (no Action, or an Action SNS does
// not have) come back with Skip set.
func (s *Service) Serve(w http.ResponseWriter, r *http.Request, c svc.Call) svc.Record {
	ctx := r.Context()
	rec := svc.Record{}
	p, err := readParams(r, c)
	if err != nil {
		rec.Skip = true
		s.writeError(w, c.RequestID, "", err)
		return rec
	}
	action := p.Get("Action")
	h, ok := actions[action]
	switch {
	case action == "":
		rec.Skip = true
		s.writeError(w, c.RequestID, "", errorf(codeMissingAction, "The request must contain the parameter Action."))
		return rec
	case !ok && snsActions[action]:
		rec.EventName = action
		rec.Err = errorf(codeInvalidAction, "opentrail does not implement the SNS action %s", action)
		s.writeError(w, c.RequestID, action, rec.Err)
		return rec
	case !ok:
		rec.Skip = true
		s.writeError(w, c.RequestID, action, errorf(codeInvalidAction, "Could not find operation %s for version 2010-03-31", truncate(action, 100)))
		return rec
	}
	rec.EventName = action
	if c.Principal == nil || c.Authorize == nil || c.Commit == nil {
		rec.Err = s.internal(c.RequestID, action, errors.New("svc.Call lacks Principal, Authorize or Commit"))
		s.writeError(w, c.RequestID, action, rec.Err)
		return rec
	}
	cl := &call{Call: c, p: p, rec: &rec}
	result, err := h(s, ctx, cl)
	if err != nil {
		var e *opentrail.Error
		if !errors.As(err, &e) {
			err = s.internal(c.RequestID, action, err)
		}
		rec.Err = err
		s.writeError(w, c.RequestID, action, err)
		return rec
	}
	writeXML(w, http.StatusOK, response{
		XMLName: xml.Name{Local: action + "Response"},
		Xmlns:   xmlns,
		Result:  result,
		Meta:    responseMetadata{RequestID: c.RequestID},
	})
	return rec
}

// internal logs err and returns the error clients see instead.
func (s *Service) internal(requestID, action string, err error) error {
	s.log.Error("sns internal error", slog.String("request_id", requestID), slog.String("action", action), slog.String("err", err.Error()))
	return &opentrail.Error{Code: codeInternal, Message: opentrail.ErrorMessage(err)}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// readParams merges the query string and a form-encoded body.
func readParams(r *http.Request, c svc.Call) (url.Values, error) {
	p, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errorf(codeMalformedQuery, "The query string is malformed: %v", err)
	}
	if c.Body == nil {
		return p, nil
	}
	b, err := io.ReadAll(io.LimitReader(c.Body, maxBody+1))
	if err != nil {
		var e *opentrail.Error
		if errors.As(err, &e) {
			return nil, e
		}
		return nil, invalid("The request body could not be read.")
	}
	if len(b) > maxBody {
		return nil, invalid("The request body is larger than %d bytes.", maxBody)
	}
	if len(b) == 0 {
		return p, nil
	}
	bp, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, errorf(codeMalformedQuery, "The request body is not a valid form: %v", err)
	}
	for k, v := range bp {
		p[k] = v
	}
	return p, nil
}

// required returns parameter name, or MissingParameter.
func (c *call) required(name string) (string, error) {
	v := c.p.Get(name)
	if v == "" {
		return "", errorf(codeMissingParameter, "The request must contain the parameter %s.", name)
	}
	return v, nil
}

// mapParam reads a query-protocol map: name.entry.N.<k> and name.entry.N.<v>
// for N = 1, 2, ... up to the first gap.
func mapParam(p url.Values, name, k, v string) (map[string]string, error) {
	var m map[string]string
	for i := 1; ; i++ {
		prefix := name + ".entry." + strconv.Itoa(i) + "."
		key, ok := p[prefix+k]
		if !ok {
			return m, nil
		}
		if key[0] == "" {
			return nil, invalid("Invalid parameter: %s: entry %d has no %s", name, i, k)
		}
		if m == nil {
			m = map[string]string{}
		}
		m[key[0]] = p.Get(prefix + v)
	}
}

// tag is a resource tag.
type tag struct {
	Key   string `json:"key" xml:"Key"`
	Value string `json:"value" xml:"Value"`
}

// tagsParam reads name.member.N.Key and name.member.N.Value.
func tagsParam(p url.Values, name string) ([]tag, error) {
	var tags []tag
	for i := 1; ; i++ {
		prefix := name + ".member." + strconv.Itoa(i) + "."
		key, ok := p[prefix+"Key"]
		if !ok {
			return tags, nil
		}
		t := tag{Key: key[0], Value: p.Get(prefix + "Value")}
		if err := validTag(t); err != nil {
			return nil, err
		}
		tags = append(tags, t)
	}
}

// listParam reads name.member.N.
func listParam(p url.Values, name string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := p[name+".member."+strconv.Itoa(i)]
		if !ok {
			return out
		}
		out = append(out, v[0])
	}
}

// boolParam parses an optional boolean parameter ("true"/"false", any case).
func boolParam(p url.Values, name string) (bool, error) {
	switch strings.ToLower(p.Get(name)) {
	case "":
		return false, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, invalid("Invalid parameter: %s must be true or false", name)
}

// response is the envelope of every successful answer.
type response struct {
	XMLName xml.Name
	Xmlns   string           `xml:"xmlns,attr"`
	Result  any              // its own XMLName names it; nil for actions without a result
	Meta    responseMetadata `xml:"ResponseMetadata"`
}

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

type errorResponse struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Error     errorBody
	RequestID string `xml:"RequestId"`
}

type errorBody struct {
	Type    string
	Code    string
	Message string
}

func writeXML(w http.ResponseWriter, status int, v any) {
	b, err := xml.Marshal(v)
	if err != nil {
		// Every value written here is a plain struct of strings.
		panic(fmt.Sprintf("sns: encode response: %v", err))
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(xml.Header)+len(b)))
	w.WriteHeader(status)
	io.WriteString(w, xml.Header)
	w.Write(b)
}

// writeError sends err as SNS does. Errors that are not *opentrail.Error
// are logged and sent as InternalError.
func (s *Service) writeError(w http.ResponseWriter, requestID, action string, err error) {
	var e *opentrail.Error
	if !errors.As(err, &e) {
		e = s.internal(requestID, action, err).(*opentrail.Error)
	}
	WriteError(w, requestID, e)
}

// WriteError answers a request in SNS's error shape (an XML ErrorResponse
// with SNS's status for the code), for errors the API front raises before
// a call reaches Serve, such as failed authentication. AccessDeniedException
// is sent as SNS's AuthorizationError. An error that is not an
// *opentrail.Error is sent as InternalError, without its text; the caller
// logs it.
func WriteError(w http.ResponseWriter, requestID string, err error) {
	var e *opentrail.Error
	if !errors.As(err, &e) {
		e = &opentrail.Error{Code: codeInternal, Message: opentrail.ErrorMessage(err)}
	}
	code := e.Code
	if code == opentrail.CodeAccessDenied {
		code = codeAuthorization
	}
	status := statusOf(code)
	typ := "Sender"
	if status >= 500 {
		typ = "Receiver"
	}
	w.Header().Set("X-Amzn-Errortype", code)
	writeXML(w, status, errorResponse{
		Xmlns:     xmlns,
		Error:     errorBody{Type: typ, Code: code, Message: e.Message},
		RequestID: requestID,
	})
}

// attributes is a query-protocol map in a response.
type attributes struct {
	Entries []entry `xml:"entry"`
}

type entry struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

func attributesOf(m map[string]string) attributes {
	var a attributes
	for _, k := range sortedKeys(m) {
		a.Entries = append(a.Entries, entry{k, m[k]})
	}
	return a
}

// pageToken and parsePageToken make the opaque NextToken of list calls:
// the row ID the next page starts after.
func pageToken(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("sns:" + strconv.FormatInt(id, 10)))
}

func parsePageToken(tok string) (int64, error) {
	if tok == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err == nil && strings.HasPrefix(string(b), "sns:") {
		if id, err := strconv.ParseInt(string(b[4:]), 10, 64); err == nil && id > 0 {
			return id, nil
		}
	}
	return 0, invalid("Invalid parameter: NextToken")
}

// pageSize is the number of items a list call returns at most, as SNS.
const pageSize = 100

// querier is what both a journal.Tx and the read pool offer.
type querier interface {
	QueryRow(query string, args ...any) *sql.Row
	Query(query string, args ...any) (*sql.Rows, error)
}

// readConn adapts the read pool to querier.
type readConn struct {
	ctx context.Context
	db  *sql.DB
}

func (r readConn) QueryRow(q string, args ...any) *sql.Row {
	return r.db.QueryRowContext(r.ctx, q, args...)
}

func (r readConn) Query(q string, args ...any) (*sql.Rows, error) {
	return r.db.QueryContext(r.ctx, q, args...)
}

func (s *Service) reader(ctx context.Context) querier { return readConn{ctx, s.db.Reader()} }

// params renders a record's requestParameters or responseElements; nil
// for an empty map (recorded as JSON null).
func params(kv ...any) json.RawMessage {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		switch v := kv[i+1].(type) {
		case string:
			if v == "" {
				continue
			}
		case map[string]string:
			if len(v) == 0 {
				continue
			}
		case []tag:
			if len(v) == 0 {
				continue
			}
		case []string:
			if len(v) == 0 {
				continue
			}
		case nil:
			continue
		}
		m[kv[i].(string)] = kv[i+1]
	}
	if len(m) == 0 {
		return nil
	}
	return mustJSON(m)
}

// authorize asks the front whether the caller may perform action on
// resource; a refusal becomes SNS's AuthorizationError.
func (c *call) authorize(ctx context.Context, action, resource string) error {
	err := c.Authorize(ctx, "sns:"+action, resource)
	if err == nil {
		return nil
	}
	var e *opentrail.Error
	if errors.As(err, &e) {
		return &opentrail.Error{Code: codeAuthorization, Message: e.Message}
	}
	return err
}

// notAuthorized is SNS's message for a policy refusal.
func (c *call) notAuthorized(action, resource string) error {
	return errorf(codeAuthorization, "User: %s is not authorized to perform: SNS:%s on resource: %s", c.Principal.ARN(), action, resource)
}

// authorizeTopic decides whether the caller may perform action on t: the
// front's authorization must allow it, the topic policy must not deny it,
// and a caller from another account also needs the topic policy to allow
// it.
func (s *Service) authorizeTopic(ctx context.Context, c *call, action string, t *topicRow) error {
	if err := c.authorize(ctx, action, t.arn); err != nil {
		return err
	}
	acct := c.Principal.AccountID
	allow, deny := false, false
	if p, err := parsePolicy(t.attrs[attrPolicy]); err == nil {
		allow, deny = p.evaluate(request{
			principalARN:     c.Principal.ARN(),
			principalAccount: acct,
			action:           "SNS:" + action,
			resource:         t.arn,
			keys: map[string]string{
				"aws:sourceowner":      acct,
				"aws:principalaccount": acct,
				"aws:principalarn":     c.Principal.ARN(),
			},
		})
	}
	if deny || (acct != t.account && !allow) {
		return c.notAuthorized(action, t.arn)
	}
	return nil
}
