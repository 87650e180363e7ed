package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/smithy-go/middleware"
	"github.com/opentrail/opentrail"
)

// Event history: the table, filters, detail, downloads, chart and live
// mode, all over LookupEvents and the API's event download.

func (c *Console) eventRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+Prefix+"events", c.signedIn(c.handleEvents))
	mux.HandleFunc("GET "+Prefix+"events/detail", c.signedIn(c.handleEvent))
	mux.HandleFunc("GET "+Prefix+"events/download", c.signedIn(c.handleDownload))
	mux.HandleFunc("GET "+Prefix+"events/live", c.signedIn(c.handleLive))
	mux.HandleFunc("GET "+Prefix+"events/chart.svg", c.signedIn(c.handleChart))
}

// attrLabels name the lookup attributes as AWS's console does.
var attrLabels = map[string]string{
	opentrail.AttrEventID:      "Event ID",
	opentrail.AttrEventName:    "Event name",
	opentrail.AttrReadOnly:     "Read-only",
	opentrail.AttrUsername:     "User name",
	opentrail.AttrResourceType: "Resource type",
	opentrail.AttrResourceName: "Resource name",
	opentrail.AttrEventSource:  "Event source",
	opentrail.AttrAccessKeyID:  "AWS access key",
}

// ranges are the relative time ranges the filter offers.
var ranges = []struct {
	Key   string
	Label string
	D     time.Duration
}{
	{"15m", "Last 15 minutes", 15 * time.Minute},
	{"1h", "Last hour", time.Hour},
	{"3h", "Last 3 hours", 3 * time.Hour},
	{"12h", "Last 12 hours", 12 * time.Hour},
	{"1d", "Last day", 24 * time.Hour},
	{"7d", "Last 7 days", 7 * 24 * time.Hour},
	{"30d", "Last 30 days", 30 * 24 * time.Hour},
	{"all", "All (the last 90 days)", 0},
	{"custom", "Custom range (UTC)", 0},
}

// filter is the event history's current filter, as the page's query
// string carries it. Relative ranges are taken from At, the time the
// first page was shown, so that later pages and downloads cover the same
// window.
type filter struct {
	Attr     string
	Value    string
	ReadOnly string // "", "true" or "false"
	Range    string
	From, To string // the custom range as typed (datetime-local, UTC)
	Split    string // the chart's series: "source" or "error"
	At       time.Time

	start, end time.Time // zero: unbounded
}

// dateLayouts are the forms the custom range accepts.
var dateLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339, "2006-01-02 15:04", "2006-01-02"}

func parseDate(v string) (time.Time, bool) {
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func (c *Console) parseFilter(q url.Values) (*filter, *problem) {
	f := &filter{Attr: q.Get("attr"), Value: strings.TrimSpace(q.Get("value")), ReadOnly: q.Get("readonly"),
		Range: q.Get("range"), From: q.Get("from"), To: q.Get("to"), Split: q.Get("split")}
	if f.Attr != "" && attrLabels[f.Attr] == "" {
		return f, &problem{"InvalidLookupAttributesException", "Choose one of the listed lookup attributes."}
	}
	if f.ReadOnly != "" && f.ReadOnly != "true" && f.ReadOnly != "false" {
		f.ReadOnly = ""
	}
	if f.Split != "error" {
		f.Split = "source"
	}
	f.At = c.now().UTC().Truncate(time.Second)
	if at, err := strconv.ParseInt(q.Get("at"), 10, 64); err == nil && at > 0 {
		f.At = time.Unix(at, 0).UTC()
	}
	switch f.Range {
	case "custom":
		var ok bool
		if f.From != "" {
			if f.start, ok = parseDate(f.From); !ok {
				return f, &problem{"InvalidTimeRangeException", "The start of the range is not a date and time (YYYY-MM-DDTHH:MM, UTC)."}
			}
		}
		if f.To != "" {
			if f.end, ok = parseDate(f.To); !ok {
				return f, &problem{"InvalidTimeRangeException", "The end of the range is not a date and time (YYYY-MM-DDTHH:MM, UTC)."}
			}
		}
		if !f.start.IsZero() && !f.end.IsZero() && f.start.After(f.end) {
			return f, &problem{"InvalidTimeRangeException", "The start of the range is after its end."}
		}
	default:
		f.Range = "all"
		for _, r := range ranges {
			if r.Key == q.Get("range") && r.D > 0 {
				f.Range, f.start = r.Key, f.At.Add(-r.D)
			}
		}
	}
	return f, nil
}

// values is the filter as a query string; it pins relative ranges to At.
func (f *filter) values() url.Values {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	if f.Value != "" {
		set("attr", f.Attr)
		set("value", f.Value)
	}
	set("readonly", f.ReadOnly)
	set("range", f.Range)
	if f.Range == "custom" {
		set("from", f.From)
		set("to", f.To)
	} else if f.Range != "all" {
		v.Set("at", strconv.FormatInt(f.At.Unix(), 10))
	}
	if f.Split != "source" {
		set("split", f.Split)
	}
	return v
}

func (f *filter) query(extra ...string) string {
	v := f.values()
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return v.Encode()
}

func (f *filter) lookupInput() *cloudtrail.LookupEventsInput {
	in := &cloudtrail.LookupEventsInput{}
	if f.Attr != "" && f.Value != "" {
		in.LookupAttributes = append(in.LookupAttributes, types.LookupAttribute{AttributeKey: types.LookupAttributeKey(f.Attr), AttributeValue: aws.String(f.Value)})
	}
	if f.ReadOnly != "" {
		in.LookupAttributes = append(in.LookupAttributes, types.LookupAttribute{AttributeKey: types.LookupAttributeKeyReadOnly, AttributeValue: aws.String(f.ReadOnly)})
	}
	if !f.start.IsZero() {
		in.StartTime = aws.Time(f.start)
	}
	if !f.end.IsZero() {
		in.EndTime = aws.Time(f.end)
	}
	return in
}

// downloadQuery is the filter in the API download's parameters.
func (f *filter) downloadQuery(format string) url.Values {
	v := url.Values{"format": {format}}
	if f.Attr != "" && f.Value != "" {
		v.Add("attr", f.Attr+"="+f.Value)
	}
	if f.ReadOnly != "" {
		v.Add("attr", opentrail.AttrReadOnly+"="+f.ReadOnly)
	}
	if !f.start.IsZero() {
		v.Set("start", f.start.Format(time.RFC3339))
	}
	if !f.end.IsZero() {
		v.Set("end", f.end.Format(time.RFC3339))
	}
	return v
}

// eventRow is a row of the history table.
type eventRow struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Time          string `json:"time"`
	User          string `json:"user"`
	Source        string `json:"source"`
	ResourceTypes string `json:"resourceTypes"`
	ResourceNames string `json:"resourceNames"`
	ErrorCode     string `json:"errorCode,omitempty"`
	Href          string `json:"href"`

	requestID string
}

func rowOf(e types.Event) eventRow {
	row := eventRow{ID: aws.ToString(e.EventId), Name: aws.ToString(e.EventName), User: aws.ToString(e.Username),
		Source: aws.ToString(e.EventSource), Time: "—"}
	if e.EventTime != nil {
		row.Time = e.EventTime.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	var typesList, names []string
	for _, r := range e.Resources {
		typesList = append(typesList, aws.ToString(r.ResourceType))
		names = append(names, aws.ToString(r.ResourceName))
	}
	row.ResourceTypes, row.ResourceNames = strings.Join(typesList, ", "), strings.Join(names, ", ")
	var rec struct {
		ErrorCode string `json:"errorCode"`
		RequestID string `json:"requestID"`
	}
	json.Unmarshal([]byte(aws.ToString(e.CloudTrailEvent)), &rec)
	row.ErrorCode, row.requestID = rec.ErrorCode, rec.RequestID
	row.Href = Prefix + "events/detail?" + url.Values{"id": {row.ID}}.Encode()
	return row
}

type option struct {
	Value, Label string
}

type eventsData struct {
	F          *filter
	Attrs      []option
	Ranges     []option
	Rows       []eventRow
	Page       int
	NewestHref string
	OlderHref  string
	CSVHref    string
	JSONHref   string
	ChartSrc   string
	LiveURL    string
	Since      string
}

func (c *Console) handleEvents(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	f, p := c.parseFilter(q)
	d := &eventsData{F: f, Page: 1}
	for _, k := range opentrail.LookupAttributes {
		if k != opentrail.AttrReadOnly {
			d.Attrs = append(d.Attrs, option{k, attrLabels[k]})
		}
	}
	for _, rg := range ranges {
		d.Ranges = append(d.Ranges, option{rg.Key, rg.Label})
	}
	status := http.StatusOK
	if p == nil {
		in := f.lookupInput()
		in.MaxResults = aws.Int32(50)
		if tok := q.Get("next"); tok != "" {
			in.NextToken = aws.String(tok)
			if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 1 {
				d.Page = n
			}
		}
		out, err := c.clients(s).ct.LookupEvents(c.forBrowser(r), in)
		if err != nil {
			p, status = c.problemOf(r, err), http.StatusBadRequest
		} else {
			s.noteOwn(requestID(out.ResultMetadata))
			for _, e := range out.Events {
				d.Rows = append(d.Rows, rowOf(e))
			}
			if out.NextToken != nil {
				d.OlderHref = Prefix + "events?" + f.query("next", *out.NextToken, "page", strconv.Itoa(d.Page+1))
			}
		}
	}
	d.NewestHref = Prefix + "events?" + f.query()
	d.CSVHref = Prefix + "events/download?" + f.query("format", "csv")
	d.JSONHref = Prefix + "events/download?" + f.query("format", "json")
	if p == nil {
		d.ChartSrc = Prefix + "events/chart.svg?" + f.query()
	}
	if d.Page == 1 && p == nil {
		d.LiveURL = Prefix + "events/live?" + f.query()
		d.Since = f.At.Format(time.RFC3339)
	}
	c.render(w, r, status, "events.html", &view{Title: "Event history", Area: Prefix + "events", Error: p, Data: d})
}

// requestID is the API request ID of a call, as its record has it.
func requestID(md middleware.Metadata) string {
	id, _ := awsmiddleware.GetRequestIDMetadata(md)
	return id
}

// handleDownload streams the API's download of the current filter.
func (c *Console) handleDownload(w http.ResponseWriter, r *http.Request, s *session) {
	f, p := c.parseFilter(r.URL.Query())
	if p != nil {
		c.renderError(w, r, http.StatusBadRequest, p.Code, p.Message)
		return
	}
	format := r.URL.Query().Get("format")
	if format != "csv" && format != "json" {
		c.renderError(w, r, http.StatusBadRequest, "InvalidParameterValue", "The download format is csv or json.")
		return
	}
	resp, err := c.get(c.forBrowser(r), s, "/opentrail/events/download", f.downloadQuery(format))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.fail(w, r, downloadError(resp))
		return
	}
	s.noteOwn(resp.Header.Get("X-Amzn-Requestid"))
	for _, h := range []string{"Content-Type", "Content-Disposition"} {
		w.Header().Set(h, resp.Header.Get(h))
	}
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, resp.Body); err != nil {
		c.log.Warn("event download ended early", "err", err.Error())
		panic(http.ErrAbortHandler) // the browser sees a failed download, not a short file
	}
}

// downloadError reads the API's JSON error.
func downloadError(resp *http.Response) error {
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(body, &e) != nil || e.Type == "" {
		return fmt.Errorf("event download: status %d", resp.StatusCode)
	}
	return &opentrail.Error{Code: e.Type, Message: e.Message}
}

// handleLive answers live mode's polls: events newer than since, newest
// first, without the console's own lookups.
func (c *Console) handleLive(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	f, p := c.parseFilter(q)
	w.Header().Set("Content-Type", "application/json")
	if p != nil {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": p.Code + ": " + p.Message})
		return
	}
	since, err := time.Parse(time.RFC3339, q.Get("since"))
	if err != nil {
		since = c.now().Add(-time.Minute)
	}
	in := f.lookupInput()
	in.StartTime, in.EndTime = aws.Time(since.Add(-time.Second)), nil
	in.MaxResults = aws.Int32(50)
	out, err := c.clients(s).ct.LookupEvents(c.forBrowser(r), in)
	if err != nil {
		p := c.problemOf(r, err)
		w.WriteHeader(http.StatusBadGateway)
		json.NewEncoder(w).Encode(map[string]string{"error": p.Code + ": " + p.Message})
		return
	}
	s.noteOwn(requestID(out.ResultMetadata))
	rows := []eventRow{}
	for _, e := range out.Events {
		row := rowOf(e)
		if row.Name == "LookupEvents" && s.isOwn(row.requestID) {
			continue
		}
		rows = append(rows, row)
	}
	json.NewEncoder(w).Encode(map[string]any{"events": rows})
}

// detail is the event detail page's data.
type detail struct {
	Fields    []field
	Resources []resourceLink
	JSON      string
	Name      string
	ID        string
}

type field struct {
	Label, Value, Href string
}

type resourceLink struct {
	Type, Name, Href, HistoryHref string
}

func (c *Console) handleEvent(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.URL.Query().Get("id")
	if id == "" {
		c.renderError(w, r, http.StatusBadRequest, "MissingEventId", "Which event? The address names none.")
		return
	}
	out, err := c.clients(s).ct.LookupEvents(c.forBrowser(r), &cloudtrail.LookupEventsInput{
		LookupAttributes: []types.LookupAttribute{{AttributeKey: types.LookupAttributeKeyEventId, AttributeValue: aws.String(id)}},
		MaxResults:       aws.Int32(1),
	})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	s.noteOwn(requestID(out.ResultMetadata))
	if len(out.Events) == 0 {
		c.renderError(w, r, http.StatusNotFound, "EventNotFound",
			"No event with this ID is in the event history of "+s.region()+" (events stay 90 days; other regions have their own history).")
		return
	}
	e := out.Events[0]
	raw := []byte(aws.ToString(e.CloudTrailEvent))
	d := &detail{Name: aws.ToString(e.EventName), ID: aws.ToString(e.EventId)}
	var rec map[string]json.RawMessage
	json.Unmarshal(raw, &rec)
	str := func(m map[string]json.RawMessage, k string) string {
		v, ok := m[k]
		if !ok {
			return ""
		}
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
		return string(v)
	}
	var ui map[string]json.RawMessage
	json.Unmarshal(rec["userIdentity"], &ui)
	history := func(attr, value string) string {
		if value == "" {
			return ""
		}
		return Prefix + "events?" + url.Values{"attr": {attr}, "value": {value}}.Encode()
	}
	add := func(label, value, href string) {
		if value != "" {
			d.Fields = append(d.Fields, field{label, value, href})
		}
	}
	row := rowOf(e)
	add("Event time", row.Time, "")
	add("Event name", d.Name, history(opentrail.AttrEventName, d.Name))
	add("Event source", aws.ToString(e.EventSource), history(opentrail.AttrEventSource, aws.ToString(e.EventSource)))
	add("User name", aws.ToString(e.Username), history(opentrail.AttrUsername, aws.ToString(e.Username)))
	add("Identity type", str(ui, "type"), "")
	add("Principal ARN", str(ui, "arn"), "")
	add("AWS access key", aws.ToString(e.AccessKeyId), history(opentrail.AttrAccessKeyID, aws.ToString(e.AccessKeyId)))
	add("AWS region", str(rec, "awsRegion"), "")
	add("Source IP address", str(rec, "sourceIPAddress"), "")
	add("User agent", str(rec, "userAgent"), "")
	add("Error code", str(rec, "errorCode"), "")
	add("Error message", str(rec, "errorMessage"), "")
	add("Read-only", aws.ToString(e.ReadOnly), "")
	add("Event type", str(rec, "eventType"), "")
	add("Event category", str(rec, "eventCategory"), "")
	add("From the console", str(rec, "sessionCredentialFromConsole"), "")
	add("Request ID", str(rec, "requestID"), "")
	add("Event ID", d.ID, "")
	add("Recipient account", str(rec, "recipientAccountId"), "")
	for _, res := range e.Resources {
		l := resourceLink{Type: aws.ToString(res.ResourceType), Name: aws.ToString(res.ResourceName)}
		l.HistoryHref = history(opentrail.AttrResourceName, l.Name)
		switch l.Type {
		case "AWS::CloudTrail::Trail":
			if strings.HasPrefix(l.Name, "arn:") {
				l.Href = Prefix + "trails/detail?" + url.Values{"arn": {l.Name}}.Encode()
			}
		case "AWS::S3::Bucket":
			l.Href = Prefix + "buckets/b/" + url.PathEscape(l.Name)
		}
		d.Resources = append(d.Resources, l)
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, raw, "", "  ") == nil {
		d.JSON = pretty.String()
	} else {
		d.JSON = string(raw)
	}
	c.render(w, r, http.StatusOK, "event.html", &view{Title: d.Name, Area: Prefix + "events", Data: d})
}

// handleChart draws event counts over time for the filter as SVG, from
// the API's histogram of it (counted in the index, not from the events).
func (c *Console) handleChart(w http.ResponseWriter, r *http.Request, s *session) {
	f, p := c.parseFilter(r.URL.Query())
	if p != nil {
		http.Error(w, p.Message, http.StatusBadRequest)
		return
	}
	q := f.downloadQuery("")
	q.Del("format")
	q.Set("split", f.Split)
	resp, err := c.get(c.forBrowser(r), s, "/opentrail/events/histogram", q)
	if err != nil {
		http.Error(w, "chart unavailable", http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		http.Error(w, "chart unavailable", http.StatusBadGateway)
		return
	}
	s.noteOwn(resp.Header.Get("X-Amzn-Requestid"))
	h, err := decodeCounts(resp.Body)
	if err != nil {
		c.log.Warn("chart", "err", err.Error())
		http.Error(w, "chart unavailable", http.StatusBadGateway)
		return
	}
	ch := drawChart(h)
	var buf bytes.Buffer
	if err := c.pages["chart.svg"].ExecuteTemplate(&buf, "chart.svg", ch); err != nil {
		c.log.Error("render chart", "err", err.Error())
		http.Error(w, "chart unavailable", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Write(buf.Bytes())
}
