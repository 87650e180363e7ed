package api

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"
	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/journal"
)

// eventSources by SigV4 service name.
var eventSources = map[string]string{
	"cloudtrail":      "cloudtrail.amazonaws.com",
	"cloudtrail-data": "cloudtrail-data.amazonaws.com",
}

// outcome is what the record of a call says beyond who called and from where.
type outcome struct {
	readOnly  bool
	data      bool // a data event (not management)
	lookup    bool // a LookupEvents call: later lookups need not wait to see it
	params    json.RawMessage
	response  json.RawMessage
	resources []opentrail.Resource
	err       error
}

// newEventID returns a time-ordered event ID in the GUID form records use.
func newEventID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// event builds the CloudTrail record of a call.
func (s *Server) event(req *request, o outcome) *opentrail.Event {
	ev := &opentrail.Event{
		EventVersion:       opentrail.EventVersion,
		EventTime:          opentrail.FormatTime(req.start),
		EventSource:        eventSources[req.service],
		EventName:          req.op,
		AWSRegion:          req.region,
		SourceIPAddress:    req.sourceIP,
		UserAgent:          req.userAgent,
		RequestParameters:  o.params,
		ResponseElements:   o.response,
		RequestID:          req.id,
		EventID:            newEventID(),
		ReadOnly:           opentrail.Bool(o.readOnly),
		Resources:          o.resources,
		EventType:          opentrail.TypeAwsAPICall,
		ManagementEvent:    opentrail.Bool(!o.data),
		RecipientAccountID: req.principal.AccountID,
		EventCategory:      opentrail.CategoryManagement,
		TLSDetails:         req.tls,
	}
	if o.data {
		ev.EventCategory = opentrail.CategoryData
	}
	ev.UserIdentity = req.principal.UserIdentity()
	if len(ev.RequestParameters) == 0 {
		ev.RequestParameters = opentrail.Null
	}
	// AWS records no response elements for read-only calls and failures.
	if o.readOnly || o.err != nil || len(ev.ResponseElements) == 0 {
		ev.ResponseElements = opentrail.Null
	}
	if o.err != nil {
		ev.ErrorCode = opentrail.ErrorCode(o.err)
		ev.ErrorMessage = truncate(opentrail.ErrorMessage(o.err), 1024)
	}
	if fromConsole(req.r.Context()) {
		ev.SessionCredentialFromConsole = "true" // see console.go
	}
	return ev
}

// entry turns a record of a call into a journal entry of the caller's account.
func (s *Server) entry(req *request, ev *opentrail.Event) (journal.Entry, error) {
	body, err := json.Marshal(ev)
	if err != nil {
		return journal.Entry{}, err
	}
	sum, err := opentrail.SummarizeEvent(ev)
	if err != nil {
		return journal.Entry{}, err
	}
	return journal.Entry{
		Summary:  &sum,
		Account:  req.principal.AccountID,
		Region:   req.region,
		Time:     req.start,
		Category: ev.EventCategory,
		Origin:   journal.OriginAPI,
		History:  ev.EventCategory == opentrail.CategoryManagement,
		Trails:   true,
		Body:     body,
	}, nil
}

// record appends the record of a call and waits until it is durable.
func (s *Server) record(ctx context.Context, req *request, o outcome) error {
	e, err := s.entry(req, s.event(req, o))
	if err != nil {
		return err
	}
	// The record must outlive a client that hangs up.
	seq, err := s.db.Append(context.WithoutCancel(ctx), e)
	if err == nil && !o.lookup {
		s.committed(seq)
	}
	return err
}

// committed notes that a change (or a record other than a lookup's) was
// committed at seq: lookups wait for the index to cover it.
func (s *Server) committed(seq int64) {
	for {
		cur := s.visible.Load()
		if seq <= cur || s.visible.CompareAndSwap(cur, seq) {
			return
		}
	}
}
