package api

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/history"
)

// DownloadPath is where event history downloads are served: GET with the
// query parameters format (csv or json), start and end (RFC 3339 or epoch
// seconds), attr (Key=Value, repeatable, all must match) and category
// (insight). Requests are signed with SigV4 for the cloudtrail service, like
// API calls, and recorded as LookupEvents calls.
const DownloadPath = "/opentrail/events/download"

// CSVHeader is the header row of CSV downloads: the columns of the
// CloudTrail console's event history download, then the full record.
var CSVHeader = []string{"Event ID", "Event time", "User name", "Event name", "Resource type", "Resource name",
	"AWS access key", "AWS region", "Error code", "Source IP address", "Event source", "Read-only", "Resources",
	"CloudTrail event"}

// DownloadQuery is a parsed download request.
type DownloadQuery struct {
	Format  string // "csv" or "json"
	Attrs   []history.Attr
	Start   time.Time
	End     time.Time
	Insight bool
}

// ParseDownloadQuery reads a download request's query string.
func ParseDownloadQuery(q map[string][]string) (*DownloadQuery, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	d := &DownloadQuery{Format: get("format")}
	if d.Format != "csv" && d.Format != "json" {
		return nil, opentrail.Errorf(opentrail.CodeInvalidParameter, "format must be csv or json, not %q.", d.Format)
	}
	for _, a := range q["attr"] {
		k, v, ok := strings.Cut(a, "=")
		if !ok || !validAttr(k) {
			return nil, opentrail.Errorf("InvalidLookupAttributesException",
				"attr %q is not Key=Value with Key one of %s.", a, strings.Join(opentrail.LookupAttributes, ", "))
		}
		d.Attrs = append(d.Attrs, history.Attr{Key: k, Value: v})
	}
	var err error
	if d.Start, err = parseTimeParam("start", get("start")); err != nil {
		return nil, err
	}
	if d.End, err = parseTimeParam("end", get("end")); err != nil {
		return nil, err
	}
	if !d.Start.IsZero() && !d.End.IsZero() && d.Start.After(d.End) {
		return nil, opentrail.Errorf("InvalidTimeRangeException", "start is after end.")
	}
	switch get("category") {
	case "":
	case "insight":
		d.Insight = true
	default:
		return nil, opentrail.Errorf("InvalidEventCategoryException", "category must be insight or absent.")
	}
	return d, nil
}

func validAttr(k string) bool {
	for _, a := range opentrail.LookupAttributes {
		if a == k {
			return true
		}
	}
	return false
}

// parseTimeParam accepts RFC 3339 or epoch seconds.
func parseTimeParam(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Unix(0, int64(f*1e9)), nil
	}
	return time.Time{}, opentrail.Errorf(opentrail.CodeInvalidParameter, "%s %q is not an RFC 3339 time or epoch seconds.", name, v)
}

func (s *Server) serveDownload(w http.ResponseWriter, req *request) {
	ctx := req.r.Context()
	req.op = "LookupEvents"
	d, err := ParseDownloadQuery(req.r.URL.Query())
	params := downloadParams(d)
	if err == nil {
		err = s.authorize(ctx, req, "cloudtrail:LookupEvents", "*")
	}
	if rerr := s.recordOutcome(ctx, req, outcome{readOnly: true, lookup: true, params: params, err: err}); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		s.writeError(w, req, protoJSON, err)
		return
	}
	p := &lookupParams{insight: d.Insight, attrs: d.Attrs, start: d.Start, end: d.End}
	if err := s.streamDownload(ctx, w, req, d.Format, p); err != nil {
		s.log.Warn("download ended early", slog.String("request_id", req.id), slog.String("err", err.Error()))
		// The status line is gone: end the response abruptly so the client
		// sees a failed transfer, not a short file.
		panic(http.ErrAbortHandler)
	}
}

func downloadParams(d *DownloadQuery) json.RawMessage {
	if d == nil {
		return nil
	}
	m := map[string]any{"downloadFormat": d.Format}
	if len(d.Attrs) > 0 {
		var attrs []map[string]string
		for _, a := range d.Attrs {
			attrs = append(attrs, map[string]string{"attributeKey": a.Key, "attributeValue": a.Value})
		}
		m["lookupAttributes"] = attrs
	}
	if !d.Start.IsZero() {
		m["startTime"] = d.Start.UTC().Format(time.RFC3339)
	}
	if !d.End.IsZero() {
		m["endTime"] = d.End.UTC().Format(time.RFC3339)
	}
	if d.Insight {
		m["eventCategory"] = "insight"
	}
	b, _ := json.Marshal(m)
	return b
}

// streamDownload writes every matching event, newest first, without holding
// more than a page of them in memory.
func (s *Server) streamDownload(ctx context.Context, w http.ResponseWriter, req *request, format string, p *lookupParams) error {
	wctx, cancel := context.WithTimeout(ctx, s.cfg.IndexWait)
	s.history.WaitFor(wctx, s.visible.Load())
	cancel()
	name := "event_history_" + s.now().UTC().Format("20060102T150405Z") + "." + format
	h := w.Header()
	if format == "csv" {
		h.Set("Content-Type", "text/csv; charset=utf-8")
	} else {
		h.Set("Content-Type", "application/json")
	}
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	ew := NewEventWriter(bw, format)
	q := history.Query{Account: req.principal.AccountID, Region: req.region, Insight: p.insight,
		Attrs: p.attrs, Start: p.start, End: p.end}
	n := 0
	err := s.history.Scan(ctx, q, func(f history.Found) error {
		n++
		if n%1000 == 0 {
			if err := bw.Flush(); err != nil {
				return err
			}
		}
		return ew.Write(f)
	})
	if err != nil {
		return err
	}
	if err := ew.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// EventWriter writes events as a CSV or JSON download.
type EventWriter struct {
	format string
	w      io.Writer
	csv    *csv.Writer
	n      int
}

// NewEventWriter returns a writer of format "csv" or "json".
func NewEventWriter(w io.Writer, format string) *EventWriter {
	ew := &EventWriter{format: format, w: w}
	if format == "csv" {
		ew.csv = csv.NewWriter(w)
	}
	return ew
}

// Write adds one event.
func (ew *EventWriter) Write(f history.Found) error {
	if ew.format == "json" {
		sep := ",\n"
		if ew.n == 0 {
			sep = "[\n"
		}
		ew.n++
		if _, err := io.WriteString(ew.w, sep); err != nil {
			return err
		}
		_, err := ew.w.Write(f.Body)
		return err
	}
	if ew.n == 0 {
		if err := ew.csv.Write(CSVHeader); err != nil {
			return err
		}
	}
	ew.n++
	return ew.csv.Write(csvRow(f))
}

// Close finishes the document.
func (ew *EventWriter) Close() error {
	if ew.format == "json" {
		end := "\n]\n"
		if ew.n == 0 {
			end = "[]\n"
		}
		_, err := io.WriteString(ew.w, end)
		return err
	}
	if ew.n == 0 {
		ew.csv.Write(CSVHeader)
	}
	ew.csv.Flush()
	return ew.csv.Error()
}

func csvRow(f history.Found) []string {
	s := f.Summary
	fields := recordStrings(f.Body, "errorCode", "sourceIPAddress")
	errorCode, sourceIP := fields[0], fields[1]
	var types, names []string
	var resources []map[string]string
	for _, r := range s.Resources {
		types = append(types, r.Type)
		names = append(names, r.Name)
		resources = append(resources, map[string]string{"ResourceType": r.Type, "ResourceName": r.Name})
	}
	resJSON := "[]"
	if len(resources) > 0 {
		b, _ := json.Marshal(resources)
		resJSON = string(b)
	}
	readOnly := ""
	if s.ReadOnly != nil {
		readOnly = fmt.Sprint(*s.ReadOnly)
	}
	row := []string{s.EventID, opentrail.FormatTime(s.Time), s.Username, s.EventName,
		strings.Join(types, ", "), strings.Join(names, ", "), s.AccessKeyID, s.Region, errorCode, sourceIP,
		s.EventSource, readOnly, resJSON, string(f.Body)}
	for i := range row {
		row[i] = csvSafe(row[i])
	}
	return row
}

// csvSafe keeps spreadsheet programs from running a cell as a formula:
// event fields are attacker-controlled, and a cell beginning with = + - @
// (or a tab or carriage return) is prefixed with a single quote.
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
