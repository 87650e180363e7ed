package console

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
)

// Lake queries: the editor with the sample catalogue, a query's page
// (status and statistics while it runs, then its results), cancel, the
// results as CSV, and a store's query history.

// storePlaceholder stands for the chosen store's ID in sample queries.
const storePlaceholder = "$EDS_ID"

// resultsPageSize is how many result rows a query page shows.
const resultsPageSize = 50

func queryHref(id, store string) string {
	h := Prefix + "lake/queries/" + url.PathEscape(id)
	if store != "" {
		h += "?" + url.Values{"store": {store}}.Encode()
	}
	return h
}

type storeOption struct {
	ID, Name string
	Selected bool
}

type sampleQuery struct {
	Name, Description, SQL, UseHref string
}

type editorData struct {
	Stores        []storeOption
	Store         string // the chosen store's ID
	SQL           string
	DeliveryURI   string
	Phrase        string
	Samples       []sampleQuery
	SampleProblem *problem
	Searched      bool
}

// editorHref opens the editor with a statement.
func editorHref(store, phrase, sql string) string {
	v := url.Values{}
	for k, val := range map[string]string{"store": store, "phrase": phrase, "sql": sql} {
		if val != "" {
			v.Set(k, val)
		}
	}
	return Prefix + "lake/editor?" + v.Encode()
}

func defaultStatement(id string) string {
	return "SELECT eventTime, eventName, eventSource, userIdentity.arn\nFROM " + id + "\nORDER BY eventTime DESC\nLIMIT 10"
}

func (c *Console) handleEditor(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	d := &editorData{Store: q.Get("store"), SQL: q.Get("sql"), DeliveryURI: q.Get("delivery"), Phrase: strings.TrimSpace(q.Get("phrase"))}
	c.renderEditor(w, r, s, http.StatusOK, d, nil)
}

// renderEditor fills in the stores and the samples matching the phrase.
func (c *Console) renderEditor(w http.ResponseWriter, r *http.Request, s *session, status int, d *editorData, p *problem) {
	stores, err := c.listStores(r, s)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for _, st := range stores {
		if st.Pending {
			continue
		}
		if d.Store == "" {
			d.Store = st.ID
		}
		d.Stores = append(d.Stores, storeOption{ID: st.ID, Name: st.Name, Selected: st.ID == d.Store})
	}
	if d.SQL == "" && d.Store != "" {
		d.SQL = defaultStatement(d.Store)
	}
	if d.Phrase != "" {
		d.Searched = true
		out, err := c.clients(s).ct.SearchSampleQueries(c.forBrowser(r), &cloudtrail.SearchSampleQueriesInput{
			SearchPhrase: aws.String(d.Phrase), MaxResults: aws.Int32(10)})
		if err != nil {
			d.SampleProblem = c.problemOf(r, err)
		} else {
			for _, res := range out.SearchResults {
				sql := aws.ToString(res.SQL)
				if d.Store != "" {
					sql = strings.ReplaceAll(sql, storePlaceholder, d.Store)
				}
				d.Samples = append(d.Samples, sampleQuery{Name: aws.ToString(res.Name), Description: aws.ToString(res.Description),
					SQL: sql, UseHref: editorHref(d.Store, d.Phrase, sql)})
			}
		}
	}
	c.render(w, r, status, "lake_editor.html", &view{Title: "Query editor", Area: lakeArea, Error: p, Data: d})
}

func (c *Console) handleRun(w http.ResponseWriter, r *http.Request, s *session) {
	d := &editorData{Store: r.PostFormValue("store"), SQL: r.PostFormValue("sql"),
		DeliveryURI: strings.TrimSpace(r.PostFormValue("delivery")), Phrase: strings.TrimSpace(r.PostFormValue("phrase"))}
	stmt := strings.TrimSpace(d.SQL)
	if d.Store != "" {
		stmt = strings.ReplaceAll(stmt, storePlaceholder, d.Store)
	}
	if stmt == "" {
		c.renderEditor(w, r, s, http.StatusBadRequest, d, &problem{"InvalidQueryStatementException", "Enter a query statement."})
		return
	}
	in := &cloudtrail.StartQueryInput{QueryStatement: aws.String(stmt)}
	if d.DeliveryURI != "" {
		in.DeliveryS3Uri = aws.String(d.DeliveryURI)
	}
	out, err := c.clients(s).ct.StartQuery(c.forBrowser(r), in)
	if err != nil {
		c.renderEditor(w, r, s, http.StatusBadRequest, d, c.problemOf(r, err))
		return
	}
	http.Redirect(w, r, queryHref(aws.ToString(out.QueryId), d.Store), http.StatusSeeOther)
}

// queryStats is a query's state and statistics, as the page and its
// status poll show them.
type queryStats struct {
	Status        string `json:"status"`
	Active        bool   `json:"active"`
	EventsMatched int64  `json:"eventsMatched"`
	EventsScanned int64  `json:"eventsScanned"`
	BytesScanned  string `json:"bytesScanned"`
	ExecutionTime string `json:"executionTime"`
	Error         string `json:"error,omitempty"`
}

// statsOf reads DescribeQuery's answer. A query still running has no
// execution time yet: it shows the time since it was created.
func statsOf(d *cloudtrail.DescribeQueryOutput, now time.Time) queryStats {
	st := queryStats{Status: string(d.QueryStatus), Error: aws.ToString(d.ErrorMessage)}
	st.Active = d.QueryStatus == types.QueryStatusQueued || d.QueryStatus == types.QueryStatusRunning
	var ms int32
	if qs := d.QueryStatistics; qs != nil {
		st.EventsMatched, st.EventsScanned = aws.ToInt64(qs.EventsMatched), aws.ToInt64(qs.EventsScanned)
		st.BytesScanned = humanBytes(aws.ToInt64(qs.BytesScanned))
		ms = aws.ToInt32(qs.ExecutionTimeInMillis)
		if st.Active && ms == 0 && qs.CreationTime != nil {
			ms = int32(min(max(now.Sub(*qs.CreationTime).Milliseconds(), 0), 1<<31-1))
		}
	} else {
		st.BytesScanned = humanBytes(0)
	}
	took := time.Duration(ms) * time.Millisecond
	if st.Active {
		took = took.Round(time.Second)
	}
	st.ExecutionTime = took.String()
	return st
}

type queryData struct {
	ID, Store, StoreHref string
	StoreName            string
	Statement            string
	Created              time.Time
	Stats                queryStats
	DeliveryURI          string
	DeliveryStatus       string
	StatusURL, CancelURL string
	EditHref             string
	Columns              []string
	Rows                 [][]string
	Total                int32
	Page                 int
	FirstRow, LastRow    int
	NextHref, FirstHref  string
	CSVHref, SavedHref   string
	ResultsProblem       *problem
}

func (c *Console) handleQuery(w http.ResponseWriter, r *http.Request, s *session) {
	id, q := r.PathValue("id"), r.URL.Query()
	ctx := c.forBrowser(r)
	desc, err := c.clients(s).ct.DescribeQuery(ctx, &cloudtrail.DescribeQueryInput{QueryId: aws.String(id)})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	store := q.Get("store")
	d := &queryData{ID: id, Store: store, Statement: aws.ToString(desc.QueryString), Stats: statsOf(desc, c.now()),
		DeliveryURI: aws.ToString(desc.DeliveryS3Uri), DeliveryStatus: string(desc.DeliveryStatus), Page: 1,
		StatusURL: Prefix + "lake/queries/" + url.PathEscape(id) + "/status",
		CancelURL: Prefix + "lake/queries/" + url.PathEscape(id) + "/cancel",
		EditHref:  editorHref(store, "", aws.ToString(desc.QueryString)),
		FirstHref: queryHref(id, store)}
	if desc.QueryStatistics != nil {
		d.Created = aws.ToTime(desc.QueryStatistics.CreationTime)
	}
	if store != "" {
		d.StoreHref, d.StoreName = storeHref(store), store
		if st, err := c.getStore(r, s, store); err == nil {
			d.StoreName = st.Name
		}
	}
	if !d.Stats.Active {
		in := &cloudtrail.GetQueryResultsInput{QueryId: aws.String(id), MaxQueryResults: aws.Int32(resultsPageSize)}
		if tok := q.Get("token"); tok != "" {
			in.NextToken = aws.String(tok)
			if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 1 {
				d.Page = n
			}
		}
		res, err := c.clients(s).ct.GetQueryResults(ctx, in)
		if err != nil {
			d.ResultsProblem = c.problemOf(r, err)
		} else {
			d.Columns, d.Rows = resultTable(res.QueryResultRows)
			if res.QueryStatistics != nil {
				d.Total = aws.ToInt32(res.QueryStatistics.TotalResultsCount)
			}
			d.FirstRow = (d.Page-1)*resultsPageSize + 1
			d.LastRow = d.FirstRow + len(d.Rows) - 1
			if res.NextToken != nil {
				v := url.Values{"token": {*res.NextToken}, "page": {strconv.Itoa(d.Page + 1)}}
				if store != "" {
					v.Set("store", store)
				}
				d.NextHref = Prefix + "lake/queries/" + url.PathEscape(id) + "?" + v.Encode()
			}
			d.CSVHref = Prefix + "lake/queries/" + url.PathEscape(id) + "/results.csv"
		}
		if desc.DeliveryStatus == types.DeliveryStatusSuccess {
			d.SavedHref = Prefix + "lake/queries/" + url.PathEscape(id) + "/saved.csv"
		}
	}
	c.render(w, r, http.StatusOK, "lake_query.html", &view{Title: "Query " + id, Area: lakeArea, Data: d})
}

// resultTable turns GetQueryResults rows (each a list of one-entry maps,
// column label to value) into column names and rows of values. The
// columns are those of the first row.
func resultTable(in [][]map[string]string) (cols []string, rows [][]string) {
	for i, row := range in {
		vals := make([]string, len(row))
		for j, cell := range row {
			for k, v := range cell {
				if i == 0 {
					cols = append(cols, k)
				}
				vals[j] = v
			}
		}
		rows = append(rows, vals)
	}
	return cols, rows
}

// handleQueryStatus answers the query page's poll while a query runs.
func (c *Console) handleQueryStatus(w http.ResponseWriter, r *http.Request, s *session) {
	desc, err := c.clients(s).ct.DescribeQuery(c.forBrowser(r), &cloudtrail.DescribeQueryInput{QueryId: aws.String(r.PathValue("id"))})
	var body any
	if err != nil {
		p := c.problemOf(r, err)
		body = map[string]string{"error": p.Code + ": " + p.Message}
	} else {
		body = statsOf(desc, c.now())
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

func (c *Console) handleQueryCancel(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	store := r.PostFormValue("store")
	if _, err := c.clients(s).ct.CancelQuery(c.forBrowser(r), &cloudtrail.CancelQueryInput{QueryId: aws.String(id)}); err != nil {
		p := c.problemOf(r, err)
		s.setFlash("The query was not cancelled: " + p.Code + ": " + p.Message)
	} else {
		s.setFlash("Query cancelled.")
	}
	http.Redirect(w, r, queryHref(id, store), http.StatusSeeOther)
}

// handleResultsCSV streams every page of a query's results as CSV: a
// header of the column labels, then the rows as GetQueryResults returns
// them.
func (c *Console) handleResultsCSV(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	ctx := c.forBrowser(r)
	in := &cloudtrail.GetQueryResultsInput{QueryId: aws.String(id), MaxQueryResults: aws.Int32(1000)}
	res, err := c.clients(s).ct.GetQueryResults(ctx, in)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if res.QueryStatus == types.QueryStatusQueued || res.QueryStatus == types.QueryStatusRunning {
		c.renderError(w, r, http.StatusConflict, "QueryNotFinished", "The query is still running: its results can be downloaded once it ends.")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": "query-" + id + ".csv"}))
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	cw := csv.NewWriter(bw)
	for first := true; ; first = false {
		cols, rows := resultTable(res.QueryResultRows)
		if first && len(cols) > 0 {
			cw.Write(cols)
		}
		for _, row := range rows {
			cw.Write(row)
		}
		if res.NextToken == nil {
			break
		}
		in.NextToken = res.NextToken
		if res, err = c.clients(s).ct.GetQueryResults(ctx, in); err != nil {
			c.log.WarnContext(r.Context(), "query results download", slog.String("query", id), slog.String("err", err.Error()))
			panic(http.ErrAbortHandler) // the browser sees a failed download, not a short file
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		panic(http.ErrAbortHandler)
	}
	bw.Flush()
}

// historyRow is a query in a store's history.
type historyRow struct {
	ID, Href, Status, Statement string
	Created                     time.Time
}

type historyData struct {
	Store               *storeRow
	Rows                []historyRow
	NextHref, FirstHref string
	EditorHref          string
}

// historyPageSize is how many queries a history page lists; each needs a
// DescribeQuery for its statement.
const historyPageSize = 20

func (c *Console) handleQueryHistory(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	st, err := c.getStore(r, s, id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := &historyData{Store: st, FirstHref: storeHref(id) + "/queries", EditorHref: editorHref(id, "", "")}
	var p *problem
	in := &cloudtrail.ListQueriesInput{EventDataStore: aws.String(id), MaxResults: aws.Int32(historyPageSize)}
	if tok := r.URL.Query().Get("token"); tok != "" {
		in.NextToken = aws.String(tok)
	}
	ctx := c.forBrowser(r)
	out, err := c.clients(s).ct.ListQueries(ctx, in)
	if err != nil {
		p = c.problemOf(r, err)
	} else {
		for _, q := range out.Queries {
			row := historyRow{ID: aws.ToString(q.QueryId), Status: string(q.QueryStatus), Created: aws.ToTime(q.CreationTime)}
			row.Href = queryHref(row.ID, id)
			if desc, err := c.clients(s).ct.DescribeQuery(ctx, &cloudtrail.DescribeQueryInput{QueryId: q.QueryId}); err == nil {
				row.Statement = snippet(aws.ToString(desc.QueryString), 160)
			}
			d.Rows = append(d.Rows, row)
		}
		if out.NextToken != nil {
			d.NextHref = storeHref(id) + "/queries?" + url.Values{"token": {*out.NextToken}}.Encode()
		}
	}
	c.render(w, r, http.StatusOK, "lake_history.html", &view{Title: "Query history of " + st.Name, Area: lakeArea, Error: p, Data: d})
}

// snippet is the start of a statement on one line.
func snippet(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
