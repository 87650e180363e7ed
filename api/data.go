package api

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/journal"
)

// The CloudTrail Data service (restJson1): PutAuditEvents.

const (
	maxAuditEvents     = 100
	maxAuditBatchBytes = 1 << 20 // eventData per request
)

var (
	auditIDPattern    = regexp.MustCompile(`^[-_A-Za-z0-9]{1,128}$`)
	externalIDPattern = regexp.MustCompile(`^[\w+=,.@:\/-]*$`)
)

type auditEvent struct {
	ID                string `json:"id"`
	EventData         string `json:"eventData"`
	EventDataChecksum string `json:"eventDataChecksum"`
}

type putAuditEventsBody struct {
	AuditEvents []auditEvent `json:"auditEvents"`
}

type auditSuccess struct {
	ID      string `json:"id"`
	EventID string `json:"eventID"`
}

type auditFailure struct {
	ID           string `json:"id"`
	ErrorCode    string `json:"errorCode"`
	ErrorMessage string `json:"errorMessage"`
}

type putAuditEventsResponse struct {
	Successful []auditSuccess `json:"successful"`
	Failed     []auditFailure `json:"failed"`
}

func validation(format string, args ...any) error {
	return opentrail.Errorf("ValidationException", format, args...)
}

func (s *Server) serveCloudTrailData(w http.ResponseWriter, req *request) {
	ctx := req.r.Context()
	if req.r.Method != http.MethodPost || req.r.URL.Path != "/PutAuditEvents" {
		s.writeError(w, req, protoREST, opentrail.Errorf(opentrail.CodeUnknownOperation,
			"CloudTrail Data serves POST /PutAuditEvents, not %s %s", req.r.Method, req.r.URL.Path))
		return
	}
	req.op = "PutAuditEvents"
	q := req.r.URL.Query()
	channelRef, externalID := q.Get("channelArn"), q.Get("externalId")
	params, _ := json.Marshal(map[string]string{"channelArn": channelRef})
	o := outcome{data: true, params: params}

	var out *putAuditEventsResponse
	err := s.putAuditEventsCheck(ctx, req, channelRef, externalID)
	var c *opentrail.Channel
	var body putAuditEventsBody
	if err == nil {
		c, err = findChannel(ctx, s, nil, req, channelRef)
		if err != nil {
			err = dataChannelError(err)
		}
	}
	if err == nil {
		o.resources = []opentrail.Resource{{AccountID: c.Account, Type: "AWS::CloudTrail::Channel", ARN: c.ARN()}}
		err = decodeAuditEvents(req.body, &body)
	}
	if err == nil {
		out, err = s.putAuditEvents(ctx, req, c, body.AuditEvents, o)
	}
	if err != nil {
		o.err = err
		s.recordOutcome(ctx, req, o)
		s.writeError(w, req, protoREST, err)
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		s.writeError(w, req, protoREST, err)
		return
	}
	writeJSON(w, protoREST, b)
}

// putAuditEvents accepts the events, records the call and updates the
// channel in one commit: the response is sent only after all of it is
// durable. Everything but the inserts happens before the writer takes over.
func (s *Server) putAuditEvents(ctx context.Context, req *request, c *opentrail.Channel, events []auditEvent, o outcome) (*putAuditEventsResponse, error) {
	out, entries := s.acceptAuditEvents(req, c, events)
	call, err := s.entry(req, s.event(req, o))
	if err != nil {
		return nil, err
	}
	entries = append(entries, call)
	journal.Prepare(entries)
	st := opentrail.IngestionStatus{LatestAttemptTime: req.start}
	if n := len(out.Successful); n > 0 {
		st.LatestAttemptEventID = out.Successful[n-1].EventID
		st.LatestSuccessTime, st.LatestSuccessEventID = req.start, st.LatestAttemptEventID
	}
	if n := len(out.Failed); n > 0 {
		st.LatestErrorCode = out.Failed[n-1].ErrorCode
	}
	var seq int64
	err = s.db.Update(context.WithoutCancel(ctx), func(tx *journal.Tx) error {
		if seq, err = tx.Append(entries...); err != nil {
			return err
		}
		return tx.RecordIngestion(c.ID, st)
	})
	if err != nil {
		return nil, err
	}
	s.committed(seq)
	return out, nil
}

// putAuditEventsCheck validates the request's query string and asks the
// authorization point.
func (s *Server) putAuditEventsCheck(ctx context.Context, req *request, channelRef, externalID string) error {
	if channelRef == "" {
		return validation("1 validation error detected: Value null at 'channelArn' failed to satisfy constraint: Member must not be null")
	}
	if externalID != "" && (len(externalID) < 2 || len(externalID) > 1224 || !externalIDPattern.MatchString(externalID)) {
		return validation("1 validation error detected: Value at 'externalId' failed to satisfy constraint: Member must have length between 2 and 1224 and match pattern ^[\\w+=,.@:\\/-]*$")
	}
	if _, _, account, ok := opentrail.ParseChannelID(channelRef); ok && account != "" && account != req.principal.AccountID {
		return opentrail.Errorf("ChannelInsufficientPermission", "The caller's account %s does not own channel %s.", req.principal.AccountID, channelRef)
	}
	return s.authorize(ctx, req, "cloudtrail-data:PutAuditEvents", channelRef)
}

// dataChannelError renames the control plane's channel errors to the data
// plane's.
func dataChannelError(err error) error {
	switch opentrail.ErrorCode(err) {
	case "ChannelARNInvalidException":
		return &opentrail.Error{Code: "InvalidChannelARN", Message: opentrail.ErrorMessage(err)}
	case "ChannelNotFoundException":
		return &opentrail.Error{Code: "ChannelNotFound", Message: opentrail.ErrorMessage(err)}
	}
	return err
}

func decodeAuditEvents(raw []byte, body *putAuditEventsBody) error {
	if err := json.Unmarshal(raw, body); err != nil {
		return opentrail.Errorf(opentrail.CodeSerialization, "The request body is not a PutAuditEvents request: %v", err)
	}
	n := len(body.AuditEvents)
	if n < 1 || n > maxAuditEvents {
		return validation("1 validation error detected: Value at 'auditEvents' failed to satisfy constraint: Member must have length between 1 and %d (got %d)", maxAuditEvents, n)
	}
	seen := make(map[string]bool, n)
	total := 0
	for i, e := range body.AuditEvents {
		if e.ID == "" {
			return validation("1 validation error detected: Value null at 'auditEvents.%d.member.id' failed to satisfy constraint: Member must not be null", i+1)
		}
		if !auditIDPattern.MatchString(e.ID) {
			return validation("1 validation error detected: Value '%s' at 'auditEvents.%d.member.id' failed to satisfy constraint: Member must have length between 1 and 128 and satisfy regular expression pattern: ^[-_A-Za-z0-9]+$", truncate(e.ID, 200), i+1)
		}
		if seen[e.ID] {
			return opentrail.Errorf("DuplicatedAuditEventId", "Two or more entries in the request have the id %q.", e.ID)
		}
		seen[e.ID] = true
		total += len(e.EventData)
	}
	if total > maxAuditBatchBytes {
		return validation("The events of one PutAuditEvents request may hold at most 1 MB of eventData; this one holds %d bytes.", total)
	}
	return nil
}

// acceptAuditEvents validates each event and wraps the valid ones as
// CloudTrail records for the channel.
func (s *Server) acceptAuditEvents(req *request, c *opentrail.Channel, events []auditEvent) (*putAuditEventsResponse, []journal.Entry) {
	out := &putAuditEventsResponse{Successful: []auditSuccess{}, Failed: []auditFailure{}}
	entries := make([]journal.Entry, 0, len(events))
	toHistory := c.ToHistory()
	arn := c.ARN()
	for _, e := range events {
		ev, err := opentrail.ParseActivityEvent(e.EventData, e.EventDataChecksum, c.Account)
		if err != nil {
			ae := err.(*opentrail.AuditEventError)
			out.Failed = append(out.Failed, auditFailure{ID: e.ID, ErrorCode: ae.Code, ErrorMessage: truncate(ae.Message, 1024)})
			continue
		}
		id := newEventID()
		sum := opentrail.ActivitySummary(ev, id, c.Region, c.Account)
		entries = append(entries, journal.Entry{
			Summary:  &sum,
			Account:  c.Account,
			Region:   c.Region,
			Time:     ev.Time,
			Category: opentrail.CategoryActivityAuditLog,
			Origin:   journal.OriginChannel,
			History:  toHistory,
			Trails:   toHistory,
			Body:     opentrail.ActivityRecord(ev, id, c.Region, c.Account, arn, req.start),
		})
		out.Successful = append(out.Successful, auditSuccess{ID: e.ID, EventID: id})
	}
	return out, entries
}
