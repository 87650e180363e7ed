package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/history"
)

// HistogramPath is where event history counts per time bucket are served
// (the console's chart): GET with the download's start, end, attr and
// category parameters, split (source or error) and buckets (the most
// buckets, default 60). Requests are signed like downloads and recorded as
// LookupEvents calls. The answer is JSON: start (RFC 3339), step
// (seconds), buckets, series (name and counts), and since when the count
// stopped at its limit (only events at or after it are counted).
const HistogramPath = "/opentrail/events/histogram"

// histogramMaxRead bounds the events a histogram reads one by one (when
// its split cannot be counted from the index's keys alone).
const histogramMaxRead = 200000

// HistogramResponse is the JSON answer of HistogramPath.
type HistogramResponse struct {
	Start   string            `json:"start"`
	Step    int64             `json:"step"`
	Buckets int               `json:"buckets"`
	Series  []HistogramSeries `json:"series"`
	Since   string            `json:"since,omitempty"`
}

// HistogramSeries is one series of a HistogramResponse.
type HistogramSeries struct {
	Name   string  `json:"name"`
	Counts []int64 `json:"counts"`
}

func (s *Server) serveHistogram(w http.ResponseWriter, req *request) {
	ctx := req.r.Context()
	req.op = "LookupEvents"
	q := url.Values(req.r.URL.Query())
	split := q.Get("split")
	q.Set("format", "json")
	d, err := ParseDownloadQuery(q)
	buckets := 60
	if err == nil && split != history.SplitSource && split != history.SplitError {
		err = opentrail.Errorf(opentrail.CodeInvalidParameter, "split must be %s or %s, not %q.", history.SplitSource, history.SplitError, split)
	}
	if v := q.Get("buckets"); err == nil && v != "" {
		if buckets, err = strconv.Atoi(v); err != nil || buckets < 1 || buckets > 1000 {
			err = opentrail.Errorf(opentrail.CodeInvalidParameter, "buckets must be a number from 1 to 1000, not %q.", v)
		}
	}
	var params json.RawMessage
	if d != nil {
		var m map[string]any
		json.Unmarshal(downloadParams(d), &m)
		delete(m, "downloadFormat")
		m["histogramSplit"] = split
		params, _ = json.Marshal(m)
	}
	if err == nil {
		err = s.authorize(ctx, req, "cloudtrail:LookupEvents", "*")
	}
	if rerr := s.recordOutcome(ctx, req, outcome{readOnly: true, lookup: true, params: params, err: err}); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		s.writeError(w, req, protoREST, err)
		return
	}
	body, err := s.histogram(ctx, req, d, split, buckets)
	if err != nil && ctx.Err() != nil {
		return // the client is gone
	}
	if err != nil {
		s.writeError(w, req, protoREST, err)
		return
	}
	writeJSON(w, protoREST, body)
}

func (s *Server) histogram(ctx context.Context, req *request, d *DownloadQuery, split string, buckets int) ([]byte, error) {
	wctx, cancel := context.WithTimeout(ctx, s.cfg.IndexWait)
	s.history.WaitFor(wctx, s.visible.Load())
	cancel()
	h, err := s.history.Histogram(ctx, history.HistogramQuery{
		Query: history.Query{Account: req.principal.AccountID, Region: req.region, Insight: d.Insight,
			Attrs: d.Attrs, Start: d.Start, End: d.End},
		Split: split, MaxBuckets: buckets, MaxRead: histogramMaxRead,
	})
	if err != nil {
		return nil, err
	}
	out := HistogramResponse{Start: h.Start.UTC().Format(time.RFC3339), Step: int64(h.Step / time.Second),
		Buckets: h.Buckets, Series: make([]HistogramSeries, 0, len(h.Series))}
	for _, se := range h.Series {
		out.Series = append(out.Series, HistogramSeries{Name: se.Name, Counts: se.Counts})
	}
	if !h.Since.IsZero() {
		out.Since = h.Since.UTC().Format(time.RFC3339)
	}
	return json.Marshal(out)
}
