package kms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api/svc"
	"github.com/opentrail/opentrail/journal"
)

// EventSource is the eventSource of the records of KMS calls.
const EventSource = "kms.amazonaws.com"

// targetPrefix is KMS's X-Amz-Target prefix.
const targetPrefix = "TrentService."

// maxBody bounds a request body: a 6 KB ciphertext or a 32 KB policy,
// base64-encoded and quoted, with room to spare.
const maxBody = 1 << 20

// KMS error codes, as the model names them.
const (
	codeNotFound        = "NotFoundException"
	codeDisabled        = "DisabledException"
	codeInvalidState    = "KMSInvalidStateException"
	codeInvalidArn      = "InvalidArnException"
	codeInvalidCipher   = "InvalidCiphertextException"
	codeIncorrectKey    = "IncorrectKeyException"
	codeKeyUsage        = "InvalidKeyUsageException"
	codeAlreadyExists   = "AlreadyExistsException"
	codeAliasName       = "InvalidAliasNameException"
	codeMalformedPolicy = "MalformedPolicyDocumentException"
	codeMarker          = "InvalidMarkerException"
	codeValidation      = "ValidationException"
	codeUnsupported     = "UnsupportedOperationException"
	codeTag             = "TagException"
	codeInternal        = "KMSInternalException"
	codeDryRun          = "DryRunOperationException"
)

func kmsError(code, format string, args ...any) *opentrail.Error {
	return opentrail.Errorf(code, format, args...)
}

func notFound(format string, args ...any) *opentrail.Error {
	return kmsError(codeNotFound, format, args...)
}

func validation(format string, args ...any) *opentrail.Error {
	return kmsError(codeValidation, "1 validation error detected: "+format, args...)
}

// wrap joins a sentinel and the client's error.
func wrap(sentinel error, e error) error { return fmt.Errorf("%w: %w", sentinel, e) }

// statusOf is the HTTP status KMS answers a code with.
func statusOf(code string) int {
	switch code {
	case codeInternal, opentrail.CodeInternalFailure:
		return http.StatusInternalServerError
	case "DependencyTimeoutException", opentrail.CodeServiceUnavailable:
		return http.StatusServiceUnavailable
	case "MissingAuthenticationTokenException":
		return http.StatusForbidden
	case "RequestEntityTooLargeException":
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

// frontCodes maps the API front's own error codes to KMS's.
var frontCodes = map[string]string{
	"PayloadMismatch": "InvalidSignatureException",
	"MalformedBody":   opentrail.CodeSerialization,
	"InternalFailure": codeInternal,
}

// WriteError writes an error in KMS's awsJson shape, for errors the API
// front raises before a call reaches Serve.
func (s *Service) WriteError(w http.ResponseWriter, r *http.Request, code, message, requestID string) {
	if c, ok := frontCodes[code]; ok {
		code = c
	}
	writeError(w, code, message)
}

// EventSource returns kms.amazonaws.com.
func (s *Service) EventSource() string { return EventSource }

// StreamsBody reports false: KMS requests are small, the front buffers
// and verifies them.
func (s *Service) StreamsBody() bool { return false }

func writeError(w http.ResponseWriter, code, message string) {
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.1")
	h.Set("X-Amzn-Errortype", code)
	w.WriteHeader(statusOf(code))
	b, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message,omitempty"`
	}{code, message})
	w.Write(b)
}

func writeJSON(w http.ResponseWriter, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.1")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(b)
	return err
}

// call is one request being served.
type call struct {
	svc.Call
	ctx    context.Context
	op     string
	body   []byte
	rec    *svc.Record
	params jsonObject // requestParameters, in AWS's order
}

type handler func(s *Service, c *call) (any, error)

var handlers map[string]handler

func init() {
	handlers = map[string]handler{
		"CreateKey":           (*Service).createKey,
		"DescribeKey":         (*Service).describeKey,
		"ListKeys":            (*Service).listKeys,
		"EnableKey":           (*Service).enableKey,
		"DisableKey":          (*Service).disableKey,
		"ScheduleKeyDeletion": (*Service).scheduleKeyDeletion,
		"CancelKeyDeletion":   (*Service).cancelKeyDeletion,
		"CreateAlias":         (*Service).createAlias,
		"ListAliases":         (*Service).listAliases,
		"DeleteAlias":         (*Service).deleteAlias,
		"Encrypt":             (*Service).encrypt,
		"Decrypt":             (*Service).decrypt,
		"GenerateDataKey":     (*Service).generateDataKey,
		"GetKeyPolicy":        (*Service).getKeyPolicy,
		"PutKeyPolicy":        (*Service).putKeyPolicy,
	}
}

// otherOps are the KMS operations opentrail does not implement: refused
// with UnsupportedOperationException and recorded, as real KMS calls.
var otherOps = map[string]bool{}

func init() {
	for _, op := range strings.Fields(`ConnectCustomKeyStore CreateCustomKeyStore CreateGrant DeleteCustomKeyStore
		DeleteImportedKeyMaterial DeriveSharedSecret DescribeCustomKeyStores DisableKeyRotation DisconnectCustomKeyStore
		EnableKeyRotation GenerateDataKeyPair GenerateDataKeyPairWithoutPlaintext GenerateDataKeyWithoutPlaintext
		GenerateMac GenerateRandom GetKeyLastUsage GetKeyRotationStatus GetParametersForImport GetPublicKey
		ImportKeyMaterial ListGrants ListKeyPolicies ListKeyRotations ListResourceTags ListRetirableGrants ReEncrypt
		ReplicateKey RetireGrant RevokeGrant RotateKeyOnDemand Sign TagResource UntagResource UpdateAlias
		UpdateCustomKeyStore UpdateKeyDescription UpdatePrimaryRegion Verify VerifyMac`) {
		otherOps[op] = true
	}
}

// readOnlyOps are recorded with readOnly true.
var readOnlyOps = map[string]bool{
	"DescribeKey": true, "ListKeys": true, "ListAliases": true, "GetKeyPolicy": true,
	"Encrypt": true, "Decrypt": true, "GenerateDataKey": true,
}

// Serve answers one authenticated KMS request (SigV4 service "kms") and
// returns what CloudTrail records of it. State changes are committed
// through c.Commit together with their record. Requests that are not KMS
// operations come back with Skip set.
func (s *Service) Serve(w http.ResponseWriter, r *http.Request, c svc.Call) svc.Record {
	rec := svc.Record{}
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, targetPrefix)
	if r.Method != http.MethodPost || !ok || op == "" {
		rec.Skip = true
		writeError(w, opentrail.CodeUnknownOperation, "")
		return rec
	}
	h, known := handlers[op]
	switch {
	case !known && otherOps[op]:
		rec.EventName = op
		rec.ReadOnly = strings.HasPrefix(op, "Get") || strings.HasPrefix(op, "List") || strings.HasPrefix(op, "Describe")
		rec.Err = kmsError(codeUnsupported, "opentrail does not implement the KMS operation %s", op)
		writeError(w, codeUnsupported, rec.Err.(*opentrail.Error).Message)
		return rec
	case !known:
		rec.Skip = true
		writeError(w, opentrail.CodeUnknownOperation, "")
		return rec
	}
	rec.EventName = op
	rec.ReadOnly = readOnlyOps[op]
	cl := &call{Call: c, ctx: r.Context(), op: op, rec: &rec}
	result, err := s.serve(cl, h)
	if err != nil {
		var e *opentrail.Error
		if !errors.As(err, &e) {
			s.log.Error("kms internal error", slog.String("request_id", c.RequestID), slog.String("operation", op), slog.String("err", err.Error()))
			e = &opentrail.Error{Code: codeInternal, Message: "The request could not be completed due to an internal error."}
		}
		rec.Err = e
		rec.RequestParameters = cl.params.raw()
		rec.ResponseElements = nil
		writeError(w, e.Code, e.Message)
		return rec
	}
	if !rec.Committed {
		rec.RequestParameters = cl.params.raw()
	}
	if err := writeJSON(w, result); err != nil {
		s.log.Warn("kms response not sent", slog.String("request_id", c.RequestID), slog.String("err", err.Error()))
	}
	return rec
}

func (s *Service) serve(c *call, h handler) (any, error) {
	if c.Principal == nil || c.Authorize == nil || c.Commit == nil {
		return nil, errors.New("svc.Call lacks Principal, Authorize or Commit")
	}
	if c.Body != nil {
		b, err := io.ReadAll(io.LimitReader(c.Body, maxBody+1))
		if err != nil {
			var e *opentrail.Error
			if errors.As(err, &e) {
				return nil, e
			}
			return nil, kmsError(opentrail.CodeSerialization, "The request body could not be read")
		}
		if len(b) > maxBody {
			return nil, kmsError(codeValidation, "The request body is larger than %d bytes", maxBody)
		}
		c.body = b
	}
	return h(s, c)
}

// decode reads the request body into v; an empty body is {}.
func (c *call) decode(v any) error {
	b := c.body
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return kmsError(opentrail.CodeSerialization, "Unexpected value at '%s'", truncate(te.Field, 100))
		}
		return kmsError(opentrail.CodeSerialization, "The request body is not valid JSON for %s", c.op)
	}
	return nil
}

// commit runs fn in the journal transaction that records the call; fn
// sets the record's fields (through c.rec) as it goes.
func (c *call) commit(fn func(tx *journal.Tx) error) error {
	err := c.Commit(c.ctx, func(tx *journal.Tx, rec *svc.Record) error {
		if err := fn(tx); err != nil {
			return err
		}
		c.rec.RequestParameters = c.params.raw()
		*rec = *c.rec
		return nil
	})
	if err == nil {
		c.rec.Committed = true
	}
	return err
}

// keyResource is the record's resources entry for a key.
func keyResource(arn, account string) opentrail.Resource {
	return opentrail.Resource{AccountID: account, Type: "AWS::KMS::Key", ARN: arn}
}

// recordDate is how KMS's records write dates.
func recordDate(t time.Time) string { return t.UTC().Format("Jan 2, 2006, 3:04:05 PM") }

// epoch is an awsJson timestamp: seconds since the epoch.
type epoch time.Time

func (e epoch) MarshalJSON() ([]byte, error) {
	t := time.Time(e)
	return []byte(strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64)), nil
}

// jsonObject builds a JSON object with its keys in the order added.
type jsonObject struct {
	kvs []kv
}

type kv struct {
	k string
	v any
}

func (o *jsonObject) add(k string, v any) { o.kvs = append(o.kvs, kv{k, v}) }

// addNonEmpty adds strings, maps and lists that are not empty.
func (o *jsonObject) addNonEmpty(k string, v any) {
	switch x := v.(type) {
	case string:
		if x == "" {
			return
		}
	case map[string]string:
		if len(x) == 0 {
			return
		}
	case *int:
		if x == nil {
			return
		}
		v = *x
	case *bool:
		if x == nil {
			return
		}
		v = *x
	case nil:
		return
	}
	o.add(k, v)
}

func (o *jsonObject) raw() json.RawMessage {
	if len(o.kvs) == 0 {
		return nil
	}
	b := []byte{'{'}
	for i, kv := range o.kvs {
		if i > 0 {
			b = append(b, ',')
		}
		k, _ := json.Marshal(kv.k)
		v, err := json.Marshal(kv.v)
		if err != nil {
			v = []byte("null")
		}
		b = append(b, k...)
		b = append(b, ':')
		b = append(b, v...)
	}
	return append(b, '}')
}
