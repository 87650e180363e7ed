package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api/ctapi"
	"github.com/opentrail/opentrail/history"
)

// lookupParams are LookupEvents' parameters after validation.
type lookupParams struct {
	insight    bool
	attrs      []history.Attr
	start, end time.Time
	limit      int
	after      *history.Cursor
}

// insightAttrs are the only attributes valid for Insights lookups.
var insightAttrs = map[string]bool{opentrail.AttrEventID: true, opentrail.AttrEventName: true, opentrail.AttrEventSource: true}

func (s *Server) lookupParams(in *ctapi.LookupEventsRequest) (*lookupParams, error) {
	p := &lookupParams{limit: 50}
	if in.MaxResults != nil {
		p.limit = int(*in.MaxResults)
	}
	if in.EventCategory != nil {
		if *in.EventCategory != ctapi.EventCategoryInsight {
			return nil, opentrail.Errorf("InvalidEventCategoryException", "EventCategory must be insight, not %q.", *in.EventCategory)
		}
		p.insight = true
	}
	for _, a := range in.LookupAttributes {
		key, value := string(deref(a.AttributeKey)), deref(a.AttributeValue)
		if p.insight && !insightAttrs[key] {
			return nil, opentrail.Errorf("InvalidLookupAttributesException",
				"%s is not a valid lookup attribute for Insights events: use EventId, EventName or EventSource.", key)
		}
		p.attrs = append(p.attrs, history.Attr{Key: key, Value: value})
	}
	if in.StartTime != nil {
		p.start = in.StartTime.Time
	}
	if in.EndTime != nil {
		p.end = in.EndTime.Time
	}
	if !p.start.IsZero() && !p.end.IsZero() && p.start.After(p.end) {
		return nil, opentrail.Errorf("InvalidTimeRangeException",
			"StartTime %s is after EndTime %s: the start of the time range must be at or before its end.",
			p.start.UTC().Format(time.RFC3339), p.end.UTC().Format(time.RFC3339))
	}
	if in.NextToken != nil {
		c, err := decodeToken(*in.NextToken, p.fingerprint())
		if err != nil {
			return nil, err
		}
		p.after = c
	}
	return p, nil
}

// fingerprint identifies the parameters a NextToken is bound to.
func (p *lookupParams) fingerprint() uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%v|%d|%d|", p.insight, p.start.UnixNano(), p.end.UnixNano())
	for _, a := range p.attrs {
		fmt.Fprintf(h, "%q=%q|", a.Key, a.Value)
	}
	return h.Sum64()
}

type pageToken struct {
	V uint64 `json:"v"` // fingerprint of the parameters
	T int64  `json:"t"`
	S int64  `json:"s"`
}

func encodeToken(fp uint64, c *history.Cursor) string {
	b, _ := json.Marshal(pageToken{V: fp, T: c.Time, S: c.Seq})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(tok string, fp uint64) (*history.Cursor, error) {
	var t pageToken
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err == nil {
		err = json.Unmarshal(b, &t)
	}
	if err != nil || t.S <= 0 {
		return nil, opentrail.Errorf("InvalidNextTokenException", "The NextToken is not one LookupEvents returned.")
	}
	if t.V != fp {
		return nil, opentrail.Errorf("InvalidNextTokenException",
			"The NextToken belongs to a LookupEvents call with other parameters: pass the same parameters with it.")
	}
	return &history.Cursor{Time: t.T, Seq: t.S}, nil
}

func (s *Server) lookupEvents(ctx context.Context, req *request, in *ctapi.LookupEventsRequest) (any, error) {
	p, err := s.lookupParams(in)
	if err != nil {
		return nil, err
	}
	if err := s.throttle(req); err != nil {
		return nil, err
	}
	found, next, err := s.lookup(ctx, req, p)
	if err != nil {
		return nil, err
	}
	out := &ctapi.LookupEventsResponse{Events: make([]ctapi.Event, 0, len(found))}
	for _, f := range found {
		out.Events = append(out.Events, lookupEvent(f))
	}
	if next != nil {
		out.NextToken = ptr(encodeToken(p.fingerprint(), next))
	}
	return out, nil
}

// lookup runs a history query for the caller's account and region, once the
// index covers every event committed before the request arrived (so a
// client sees its own calls at once).
func (s *Server) lookup(ctx context.Context, req *request, p *lookupParams) ([]history.Found, *history.Cursor, error) {
	wctx, cancel := context.WithTimeout(ctx, s.cfg.IndexWait)
	err := s.history.WaitFor(wctx, s.visible.Load())
	cancel()
	if err != nil && ctx.Err() != nil {
		return nil, nil, ctx.Err()
	}
	return s.history.Lookup(ctx, history.Query{
		Account: req.principal.AccountID,
		Region:  req.region,
		Insight: p.insight,
		Attrs:   p.attrs,
		Start:   p.start,
		End:     p.end,
		Limit:   p.limit,
		After:   p.after,
	})
}

// lookupEvent is the LookupEvents view of a found event.
func lookupEvent(f history.Found) ctapi.Event {
	sum := f.Summary
	ev := ctapi.Event{
		EventTime:       ctapi.NewTimestamp(sum.Time),
		CloudTrailEvent: ptr(string(f.Body)),
		Resources:       make([]ctapi.Resource, 0, len(sum.Resources)),
	}
	set := func(dst **string, v string) {
		if v != "" {
			*dst = ptr(v)
		}
	}
	set(&ev.EventId, sum.EventID)
	set(&ev.EventName, sum.EventName)
	set(&ev.EventSource, sum.EventSource)
	set(&ev.Username, sum.Username)
	set(&ev.AccessKeyId, sum.AccessKeyID)
	if sum.ReadOnly != nil {
		ev.ReadOnly = ptr(fmt.Sprint(*sum.ReadOnly))
	}
	for _, r := range sum.Resources {
		ev.Resources = append(ev.Resources, ctapi.Resource{ResourceType: ptr(r.Type), ResourceName: ptr(r.Name)})
	}
	return ev
}

// bucket is a token bucket for the optional LookupEvents rate limit.
type bucket struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// throttle applies the configured LookupEvents rate per account and region.
func (s *Server) throttle(req *request) error {
	rate := s.cfg.LookupRate
	if rate <= 0 {
		return nil
	}
	v, _ := s.limits.LoadOrStore(req.principal.AccountID+"/"+req.region, &bucket{tokens: rate, last: s.now()})
	b := v.(*bucket)
	b.mu.Lock()
	defer b.mu.Unlock()
	now := s.now()
	b.tokens = min(rate, b.tokens+now.Sub(b.last).Seconds()*rate)
	b.last = now
	if b.tokens < 1 {
		return opentrail.Errorf(opentrail.CodeThrottling, "Rate exceeded")
	}
	b.tokens--
	return nil
}
