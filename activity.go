package opentrail

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"
)

// Error codes PutAuditEvents reports per event in failed[] (the codes the
// CloudTrail Data API reference lists).
const (
	AuditFieldTooLong       = "FieldTooLong"
	AuditFieldNotFound      = "FieldNotFound"
	AuditInvalidChecksum    = "InvalidChecksum"
	AuditInvalidData        = "InvalidData"
	AuditInvalidRecipient   = "InvalidRecipient"
	AuditInvalidEventSource = "InvalidEventSource"
)

// ActivityEventVersion is the eventVersion of the records CloudTrail wraps
// around events that arrive through channels. The value AWS writes is
// unconfirmed; opentrail writes "1.0".
const ActivityEventVersion = "1.0"

// MaxAuditEventData bounds one event's eventData, as CloudTrail bounds event
// size (256 KB).
const MaxAuditEventData = 256 * 1024

// AuditEventError is why one PutAuditEvents entry was refused.
type AuditEventError struct {
	Code    string
	Message string
}

func (e *AuditEventError) Error() string { return e.Code + ": " + e.Message }

func auditErr(code, format string, args ...any) *AuditEventError {
	return &AuditEventError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// activityData is the schema of a channel event's eventData
// (CloudTrail Lake integrations event schema). Missing and empty strings
// are treated alike; objects are only measured, not copied.
type activityData struct {
	Version             string            `json:"version"`
	UserIdentity        *activityIdentity `json:"userIdentity"`
	UserAgent           string            `json:"userAgent"`
	EventSource         string            `json:"eventSource"`
	EventName           string            `json:"eventName"`
	EventTime           string            `json:"eventTime"`
	UID                 string            `json:"UID"`
	RequestParameters   jsonShape         `json:"requestParameters"`
	ResponseElements    jsonShape         `json:"responseElements"`
	ErrorCode           string            `json:"errorCode"`
	ErrorMessage        string            `json:"errorMessage"`
	SourceIPAddress     string            `json:"sourceIPAddress"`
	RecipientAccountID  string            `json:"recipientAccountId"`
	AdditionalEventData jsonShape         `json:"additionalEventData"`
}

type activityIdentity struct {
	Type        string    `json:"type"`
	PrincipalID string    `json:"principalId"`
	Details     jsonShape `json:"details"`
}

// jsonShape records what kind of JSON value a member held and how long it
// was, without keeping it.
type jsonShape struct {
	first byte // 0 when absent
	size  int
}

func (j *jsonShape) UnmarshalJSON(b []byte) error {
	j.first, j.size = b[0], len(b)
	return nil
}

// ActivityEvent is a validated channel event.
type ActivityEvent struct {
	// Data is the caller's eventData, compacted.
	Data json.RawMessage
	// Time is its eventTime.
	Time time.Time
	// Name, Source and Principal are its eventName, eventSource and
	// userIdentity.principalId.
	Name, Source, Principal string
}

// ParseActivityEvent validates one PutAuditEvents entry's eventData against
// the external-event schema for a channel owned by owner, and checks
// checksum (base64 SHA-256 of the eventData bytes) when it is not empty. The
// error, if any, is an *AuditEventError carrying the failed[] code.
func ParseActivityEvent(eventData, checksum, owner string) (*ActivityEvent, error) {
	if checksum != "" {
		sum := sha256.Sum256([]byte(eventData))
		if base64.StdEncoding.EncodeToString(sum[:]) != checksum {
			return nil, auditErr(AuditInvalidChecksum, "eventDataChecksum does not match the base64 SHA-256 of eventData")
		}
	}
	if len(eventData) > MaxAuditEventData {
		return nil, auditErr(AuditFieldTooLong, "eventData is %d bytes; the limit is %d", len(eventData), MaxAuditEventData)
	}
	raw := bytes.TrimSpace([]byte(eventData))
	if !utf8.Valid(raw) {
		return nil, auditErr(AuditInvalidData, "eventData is not valid UTF-8")
	}
	if len(raw) == 0 || raw[0] != '{' {
		return nil, auditErr(AuditInvalidData, "eventData must be a JSON object")
	}
	var d activityData
	if err := json.Unmarshal(raw, &d); err != nil {
		if te, ok := err.(*json.UnmarshalTypeError); ok {
			field := te.Field
			if field == "" {
				field = "eventData"
			}
			return nil, auditErr(AuditInvalidData, "field %s must be a %s, not %s", field, jsonKind(te.Type.Kind().String()), te.Value)
		}
		return nil, auditErr(AuditInvalidData, "eventData is not valid JSON: %v", err)
	}
	required := []struct {
		name, v string
	}{
		{"version", d.Version},
		{"eventSource", d.EventSource},
		{"eventName", d.EventName},
		{"eventTime", d.EventTime},
		{"UID", d.UID},
		{"recipientAccountId", d.RecipientAccountID},
	}
	for _, f := range required {
		if f.v == "" {
			return nil, auditErr(AuditFieldNotFound, "required field %s is missing", f.name)
		}
	}
	if d.UserIdentity == nil {
		return nil, auditErr(AuditFieldNotFound, "required field userIdentity is missing")
	}
	if d.UserIdentity.Type == "" {
		return nil, auditErr(AuditFieldNotFound, "required field userIdentity.type is missing")
	}
	if d.UserIdentity.PrincipalID == "" {
		return nil, auditErr(AuditFieldNotFound, "required field userIdentity.principalId is missing")
	}
	lengths := []struct {
		name string
		v    string
		max  int
	}{
		{"version", d.Version, 256},
		{"eventSource", d.EventSource, 1024},
		{"eventName", d.EventName, 1024},
		{"UID", d.UID, 1024},
		{"userAgent", d.UserAgent, 1024},
		{"errorCode", d.ErrorCode, 256},
		{"errorMessage", d.ErrorMessage, 256},
		{"userIdentity.type", d.UserIdentity.Type, 128},
		{"userIdentity.principalId", d.UserIdentity.PrincipalID, 1024},
	}
	for _, f := range lengths {
		if len(f.v) > f.max {
			return nil, auditErr(AuditFieldTooLong, "field %s is %d characters; the limit is %d", f.name, len(f.v), f.max)
		}
	}
	objects := []struct {
		name string
		v    jsonShape
		max  int
	}{
		{"requestParameters", d.RequestParameters, 100 * 1024},
		{"responseElements", d.ResponseElements, 100 * 1024},
		{"additionalEventData", d.AdditionalEventData, 28 * 1024},
		{"userIdentity.details", d.UserIdentity.Details, 100 * 1024},
	}
	for _, f := range objects {
		if f.v.first == 0 || f.v.first == 'n' { // absent or null
			continue
		}
		if f.v.first != '{' {
			return nil, auditErr(AuditInvalidData, "field %s must be a JSON object", f.name)
		}
		if f.v.size > f.max {
			return nil, auditErr(AuditFieldTooLong, "field %s is %d bytes; the limit is %d", f.name, f.v.size, f.max)
		}
	}
	t, err := parseActivityTime(d.EventTime)
	if err != nil {
		return nil, auditErr(AuditInvalidData, "eventTime %q is not a UTC time like 2024-01-02T15:04:05Z", d.EventTime)
	}
	if d.SourceIPAddress != "" {
		if _, err := netip.ParseAddr(d.SourceIPAddress); err != nil {
			return nil, auditErr(AuditInvalidData, "sourceIPAddress %q is not an IPv4 or IPv6 address", d.SourceIPAddress)
		}
	}
	if d.RecipientAccountID != owner {
		return nil, auditErr(AuditInvalidRecipient, "recipientAccountId %s is not the channel owner's account %s", d.RecipientAccountID, owner)
	}
	// Events from outside must not pose as an AWS service's own events.
	if strings.HasSuffix(strings.ToLower(d.EventSource), ".amazonaws.com") {
		return nil, auditErr(AuditInvalidEventSource, "eventSource %q is an AWS service; events from outside AWS must name their own source", d.EventSource)
	}
	data := raw
	if bytes.ContainsAny(raw, " \t\r\n") {
		var compact bytes.Buffer
		if err := json.Compact(&compact, raw); err != nil {
			return nil, auditErr(AuditInvalidData, "eventData is not valid JSON: %v", err)
		}
		data = compact.Bytes()
	}
	return &ActivityEvent{Data: data, Time: t, Name: d.EventName, Source: d.EventSource, Principal: d.UserIdentity.PrincipalID}, nil
}

func jsonKind(k string) string {
	switch k {
	case "ptr", "string":
		return "string"
	case "struct":
		return "object"
	}
	return k
}

func parseActivityTime(v string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("bad time %q", v)
}

// ActivityRecord is WrapActivityEvent encoded as JSON, with the fields in
// the order CloudTrail writes them, built without re-encoding eventData.
func ActivityRecord(ev *ActivityEvent, eventID, region, account, channelARN string, ingested time.Time) []byte {
	b := make([]byte, 0, len(ev.Data)+320)
	b = append(b, `{"eventVersion":`...)
	b = appendJSONString(b, ActivityEventVersion)
	b = append(b, `,"eventCategory":"ActivityAuditLog","eventType":"ActivityLog","eventID":`...)
	b = appendJSONString(b, eventID)
	b = append(b, `,"eventTime":`...)
	b = appendJSONString(b, FormatTime(ev.Time))
	b = append(b, `,"awsRegion":`...)
	b = appendJSONString(b, region)
	b = append(b, `,"recipientAccountId":`...)
	b = appendJSONString(b, account)
	b = append(b, `,"metadata":{"ingestionTime":`...)
	b = appendJSONString(b, FormatTime(ingested))
	b = append(b, `,"channelARN":`...)
	b = appendJSONString(b, channelARN)
	b = append(b, `},"eventData":`...)
	b = append(b, ev.Data...)
	return append(b, '}')
}

// ActivitySummary is Summarize of an ActivityRecord, without parsing it.
func ActivitySummary(ev *ActivityEvent, eventID, region, account string) Summary {
	return Summary{
		EventID:            eventID,
		EventName:          ev.Name,
		EventSource:        ev.Source,
		EventType:          TypeActivityLog,
		Category:           CategoryActivityAuditLog,
		Region:             region,
		RecipientAccountID: account,
		Time:               ev.Time.Truncate(time.Second),
		Username:           ev.Principal,
	}
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// WrapActivityEvent builds the record CloudTrail stores for a channel event.
func WrapActivityEvent(ev *ActivityEvent, eventID, region, account, channelARN string, ingested time.Time) *Event {
	return &Event{
		EventVersion:       ActivityEventVersion,
		EventCategory:      CategoryActivityAuditLog,
		EventType:          TypeActivityLog,
		EventID:            eventID,
		EventTime:          FormatTime(ev.Time),
		AWSRegion:          region,
		RecipientAccountID: account,
		Metadata:           &ChannelMetadata{IngestionTime: FormatTime(ingested), ChannelARN: channelARN},
		EventData:          ev.Data,
	}
}
