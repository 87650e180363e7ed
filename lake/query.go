package lake

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"
)

// Query statuses, as CloudTrail's QueryStatus names them.
const (
	StatusFinished  = "FINISHED"
	StatusFailed    = "FAILED"
	StatusTimedOut  = "TIMED_OUT"
	StatusCancelled = "CANCELLED"
)

// QueryOptions control one query run.
type QueryOptions struct {
	// ID names the stored results (the CloudTrail QueryId). Required.
	ID string
	// Timeout is the run-time limit; when it passes the query stops with
	// status TIMED_OUT and keeps the rows produced so far. 0 means none.
	Timeout time.Duration
	// MaxRows caps the rows kept (0: no cap); the query still finishes.
	MaxRows int64
}

// Statistics are DescribeQuery's QueryStatistics.
type Statistics struct {
	EventsMatched int64 // result rows
	EventsScanned int64 // events in the stores the query read
	BytesScanned  int64 // size of those events' records
	ExecutionTime time.Duration
}

// Result is the outcome of Query. Its rows are kept in the lake and read
// with Results and WriteCSV until DropResults.
type Result struct {
	ID      string
	Status  string   // StatusFinished, StatusFailed, StatusTimedOut or StatusCancelled
	Message string   // why the query failed, for StatusFailed
	Columns []string // column labels as written in the SELECT list
	Stats   Statistics
}

// Check translates stmt and has DuckDB bind it without running it, so
// StartQuery can refuse a bad statement at once. Errors are *QueryError.
func (e *Engine) Check(ctx context.Context, stmt string, resolve Resolver) error {
	tr, err := safeTranslate(stmt, resolve)
	if err != nil {
		return err
	}
	conn, err := e.queries.Conn(ctx)
	if err != nil {
		return fmt.Errorf("check query: %w", err)
	}
	defer conn.Close()
	st, err := conn.PrepareContext(ctx, tr.sql)
	if err != nil {
		return duckError(err)
	}
	return st.Close()
}

// Query checks, translates and runs a CloudTrail Lake statement and stores
// its rows under opts.ID. It returns a *QueryError (and no Result) when the
// statement is refused or DuckDB cannot bind it; failures while running,
// cancellation through ctx and the time limit are reported in the Result's
// Status. Cancelling ctx interrupts DuckDB.
func (e *Engine) Query(ctx context.Context, stmt string, resolve Resolver, opts QueryOptions) (*Result, error) {
	if !validStoreID(opts.ID) {
		return nil, fmt.Errorf("lake: invalid query id %q", opts.ID)
	}
	tr, err := safeTranslate(stmt, resolve)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	res := &Result{ID: opts.ID, Status: StatusFinished}
	for _, id := range tr.stores {
		st, err := e.Stats(ctx, id)
		if err != nil {
			return nil, &QueryError{Message: fmt.Sprintf("event data store %s not found", id)}
		}
		res.Stats.EventsScanned += st.Events
		res.Stats.BytesScanned += st.Bytes
	}

	runCtx := ctx
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	conn, err := e.queries.Conn(runCtx)
	if err != nil {
		return e.stopped(ctx, runCtx, res, start, err)
	}
	defer conn.Close()
	rows, err := conn.QueryContext(runCtx, tr.sql)
	if err != nil {
		var qe *QueryError
		if ctx.Err() == nil && runCtx.Err() == nil && errors.As(duckError(err), &qe) && isBindError(err) {
			return nil, qe
		}
		return e.stopped(ctx, runCtx, res, start, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", opts.ID, err)
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", opts.ID, err)
	}
	res.Columns = cols
	w, err := e.newResultWriter(context.WithoutCancel(ctx), opts.ID, cols)
	if err != nil {
		return nil, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	cells := make([]*string, len(cols))
	var runErr error
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			runErr = err
			break
		}
		res.Stats.EventsMatched++
		if opts.MaxRows > 0 && res.Stats.EventsMatched > opts.MaxRows {
			continue
		}
		for i, v := range vals {
			cells[i] = format(v, types[i].DatabaseTypeName())
		}
		if err := w.add(cells); err != nil {
			w.close()
			return nil, err
		}
	}
	if runErr == nil {
		runErr = rows.Err()
	}
	if err := w.close(); err != nil {
		return nil, err
	}
	if runErr != nil {
		return e.stopped(ctx, runCtx, res, start, runErr)
	}
	res.Stats.ExecutionTime = time.Since(start)
	return res, nil
}

// stopped completes res for a query that did not finish: cancelled by the
// caller, out of time, or failed. Whatever rows were stored stay.
func (e *Engine) stopped(ctx, runCtx context.Context, res *Result, start time.Time, err error) (*Result, error) {
	res.Stats.ExecutionTime = time.Since(start)
	switch {
	case ctx.Err() != nil:
		res.Status = StatusCancelled
	case runCtx.Err() != nil:
		res.Status = StatusTimedOut
	default:
		res.Status = StatusFailed
		res.Message = duckError(err).Error()
	}
	if res.Columns == nil {
		// Keep an (empty) result so paging works for every terminal query.
		w, werr := e.newResultWriter(context.WithoutCancel(ctx), res.ID, []string{})
		if werr != nil {
			return nil, werr
		}
		if werr := w.close(); werr != nil {
			return nil, werr
		}
	}
	return res, nil
}

func isBindError(err error) bool {
	var de *duckdb.Error
	if !errors.As(err, &de) {
		return false
	}
	switch de.Type {
	case duckdb.ErrorTypeBinder, duckdb.ErrorTypeCatalog, duckdb.ErrorTypeParser, duckdb.ErrorTypeSyntax:
		return true
	}
	return false
}

var (
	lineRef       = regexp.MustCompile(`(?s)\n*LINE \d+:.*$`)
	internalFunc  = regexp.MustCompile(`\b(ot|cte)_`)
	internalTable = regexp.MustCompile(`"?\beds[df]?_([A-Za-z0-9-]+)"?`)
)

// duckError turns a DuckDB error into a *QueryError a person can act on:
// the message without DuckDB's echo of the translated statement, and
// without opentrail's internal names.
func duckError(err error) error {
	var qe *QueryError
	if errors.As(err, &qe) {
		return qe
	}
	msg := err.Error()
	msg = lineRef.ReplaceAllString(msg, "")
	msg = flatNames.Replace(msg)
	msg = internalFunc.ReplaceAllString(msg, "")
	msg = internalTable.ReplaceAllString(msg, "$1")
	return &QueryError{Message: strings.TrimSpace(msg)}
}

// format renders a value as CloudTrail Lake does: every value a string,
// timestamps as YYYY-MM-DD HH:MM:SS.mmm, NULL as nil.
func format(v any, dbType string) *string {
	if v == nil {
		return nil
	}
	s := formatValue(v, dbType)
	return &s
}

func formatValue(v any, dbType string) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return x
	case []byte:
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	case int8, int16, int32, int64, int, uint8, uint16, uint32, uint64, uint:
		return fmt.Sprint(x)
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case *big.Int:
		return x.String()
	case duckdb.Decimal:
		return formatDecimal(x)
	case time.Time:
		switch dbType {
		case "DATE":
			return x.UTC().Format("2006-01-02")
		case "TIME", "TIMETZ":
			return x.Format("15:04:05.000")
		}
		return x.UTC().Format("2006-01-02 15:04:05.000")
	case duckdb.Interval:
		d := time.Duration(x.Micros) * time.Microsecond
		return fmt.Sprintf("%d-%d %d %02d:%02d:%02d.%03d", x.Months/12, x.Months%12, x.Days,
			int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60, d.Milliseconds()%1000)
	case duckdb.UUID:
		return x.String()
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = formatValue(e, "")
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + formatValue(x[k], "")
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case duckdb.OrderedMap:
		return formatOrdered(&x)
	case *duckdb.OrderedMap:
		return formatOrdered(x)
	case duckdb.Map:
		parts := make([]string, 0, len(x))
		for k, e := range x {
			parts = append(parts, formatValue(k, "")+"="+formatValue(e, ""))
		}
		sort.Strings(parts)
		return "{" + strings.Join(parts, ", ") + "}"
	default:
		if s, ok := v.(fmt.Stringer); ok {
			return s.String()
		}
		return fmt.Sprint(v)
	}
}

// formatOrdered renders a map as Trino does: {k=v, ...} in key order.
func formatOrdered(m *duckdb.OrderedMap) string {
	ks, vs := m.Keys(), m.Values()
	parts := make([]string, len(ks))
	for i := range ks {
		parts[i] = formatValue(ks[i], "") + "=" + formatValue(vs[i], "")
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func formatDecimal(d duckdb.Decimal) string {
	if d.Value == nil {
		return "0"
	}
	s := new(big.Int).Abs(d.Value).String()
	sign := ""
	if d.Value.Sign() < 0 {
		sign = "-"
	}
	if d.Scale == 0 {
		return sign + s
	}
	for len(s) <= int(d.Scale) {
		s = "0" + s
	}
	return sign + s[:len(s)-int(d.Scale)] + "." + s[len(s)-int(d.Scale):]
}

// resultWriter stores result rows through DuckDB's appender.
type resultWriter struct {
	e    *Engine
	ctx  context.Context
	id   string
	cols []string
	conn *sql.Conn
	app  *duckdb.Appender
	n    int64
	buf  []byte
}

func resultTable(id string) string { return `results."q_` + id + `"` }

func (e *Engine) newResultWriter(ctx context.Context, id string, cols []string) (*resultWriter, error) {
	colJSON, _ := json.Marshal(cols)
	if _, err := e.db.ExecContext(ctx, `DROP TABLE IF EXISTS `+resultTable(id)); err != nil {
		return nil, fmt.Errorf("store results of %s: %w", id, err)
	}
	if _, err := e.db.ExecContext(ctx, `CREATE TABLE `+resultTable(id)+` (n BIGINT, r VARCHAR)`); err != nil {
		return nil, fmt.Errorf("store results of %s: %w", id, err)
	}
	if _, err := e.db.ExecContext(ctx, `INSERT OR REPLACE INTO lake_results VALUES (?, ?, 0)`, id, string(colJSON)); err != nil {
		return nil, fmt.Errorf("store results of %s: %w", id, err)
	}
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("store results of %s: %w", id, err)
	}
	w := &resultWriter{e: e, ctx: ctx, id: id, cols: cols, conn: conn}
	err = conn.Raw(func(dc any) error {
		a, err := duckdb.NewAppenderFromConn(dc.(driver.Conn), "results", "q_"+id)
		w.app = a
		return err
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("store results of %s: %w", id, err)
	}
	return w, nil
}

func (w *resultWriter) add(cells []*string) error {
	b, _ := json.Marshal(cells)
	if err := w.app.AppendRow(w.n, string(b)); err != nil {
		return fmt.Errorf("store results of %s: %w", w.id, err)
	}
	w.n++
	return nil
}

func (w *resultWriter) close() error {
	var errs []error
	if w.app != nil {
		errs = append(errs, w.app.Close())
	}
	errs = append(errs, w.conn.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store results of %s: %w", w.id, err)
	}
	if _, err := w.e.db.ExecContext(w.ctx, `UPDATE lake_results SET rows = ? WHERE id = ?`, w.n, w.id); err != nil {
		return fmt.Errorf("store results of %s: %w", w.id, err)
	}
	return nil
}

// ErrResultsNotFound is returned for a query whose results were never
// stored or were dropped.
var ErrResultsNotFound = errors.New("lake: query results not found")

// Cell is one value of a result row. Null marks SQL NULL (Value is "").
type Cell struct {
	Column string
	Value  string
	Null   bool
}

// Page is part of a query's results.
type Page struct {
	Columns []string
	Rows    [][]Cell
	Total   int64 // rows in the whole result
	Next    int64 // offset of the next page, or -1 when this is the last
}

// Results returns up to limit rows of query id's results from offset on.
// Callers encode Next in their NextToken.
func (e *Engine) Results(ctx context.Context, id string, offset int64, limit int) (*Page, error) {
	if !validStoreID(id) || offset < 0 || limit <= 0 {
		return nil, ErrResultsNotFound
	}
	var colJSON string
	p := &Page{Next: -1}
	err := e.db.QueryRowContext(ctx, `SELECT columns, rows FROM lake_results WHERE id = ?`, id).Scan(&colJSON, &p.Total)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrResultsNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read results of %s: %w", id, err)
	}
	if err := json.Unmarshal([]byte(colJSON), &p.Columns); err != nil {
		return nil, fmt.Errorf("read results of %s: %w", id, err)
	}
	rows, err := e.db.QueryContext(ctx, `SELECT r FROM `+resultTable(id)+` WHERE n >= ? ORDER BY n LIMIT ?`, offset, limit)
	if err != nil {
		return nil, fmt.Errorf("read results of %s: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		row, err := scanRow(rows, p.Columns)
		if err != nil {
			return nil, fmt.Errorf("read results of %s: %w", id, err)
		}
		p.Rows = append(p.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read results of %s: %w", id, err)
	}
	if end := offset + int64(len(p.Rows)); end < p.Total {
		p.Next = end
	}
	return p, nil
}

func scanRow(rows *sql.Rows, cols []string) ([]Cell, error) {
	var r string
	if err := rows.Scan(&r); err != nil {
		return nil, err
	}
	var vals []*string
	if err := json.Unmarshal([]byte(r), &vals); err != nil {
		return nil, err
	}
	row := make([]Cell, len(vals))
	for i, v := range vals {
		row[i].Column = cols[i]
		if v == nil {
			row[i].Null = true
		} else {
			row[i].Value = *v
		}
	}
	return row, nil
}

// WriteCSV streams query id's results to w as CSV: a header row of column
// labels, then one record per row; NULL is an empty field. It is the body
// of the result_<n>.csv files of saved results (before gzip) and of
// downloads.
func (e *Engine) WriteCSV(ctx context.Context, id string, w io.Writer) error {
	if !validStoreID(id) {
		return ErrResultsNotFound
	}
	var colJSON string
	err := e.db.QueryRowContext(ctx, `SELECT columns FROM lake_results WHERE id = ?`, id).Scan(&colJSON)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrResultsNotFound
	}
	if err != nil {
		return fmt.Errorf("read results of %s: %w", id, err)
	}
	var cols []string
	if err := json.Unmarshal([]byte(colJSON), &cols); err != nil {
		return fmt.Errorf("read results of %s: %w", id, err)
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(cols); err != nil {
		return err
	}
	rows, err := e.db.QueryContext(ctx, `SELECT r FROM `+resultTable(id)+` ORDER BY n`)
	if err != nil {
		return fmt.Errorf("read results of %s: %w", id, err)
	}
	defer rows.Close()
	rec := make([]string, len(cols))
	for rows.Next() {
		row, err := scanRow(rows, cols)
		if err != nil {
			return fmt.Errorf("read results of %s: %w", id, err)
		}
		for i, c := range row {
			rec[i] = c.Value
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read results of %s: %w", id, err)
	}
	cw.Flush()
	return cw.Error()
}

// DropResults deletes query id's stored results (CloudTrail keeps them 7
// days). Dropping missing results is not an error.
func (e *Engine) DropResults(ctx context.Context, id string) error {
	if !validStoreID(id) {
		return nil
	}
	if _, err := e.db.ExecContext(ctx, `DROP TABLE IF EXISTS `+resultTable(id)); err != nil {
		return fmt.Errorf("drop results of %s: %w", id, err)
	}
	if _, err := e.db.ExecContext(ctx, `DELETE FROM lake_results WHERE id = ?`, id); err != nil {
		return fmt.Errorf("drop results of %s: %w", id, err)
	}
	return nil
}
