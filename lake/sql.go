package lake

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// QueryError is a statement the engine refuses or DuckDB could not run. Line
// and Column are 1-based positions in the statement as the caller wrote it,
// or 0 when unknown. Message is safe to show the person who wrote the query.
type QueryError struct {
	Line, Column int
	Message      string
}

func (e *QueryError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d:%d: %s", e.Line, e.Column, e.Message)
	}
	return e.Message
}

// Resolver maps an event data store reference written in a query (an ID or
// an ARN, exactly as written) to the ID of a store the caller may read. It
// returns an error, shown to the caller, for references that are unknown or
// not the caller's.
type Resolver func(ref string) (storeID string, err error)

// MaxStatementLength is AWS's limit on QueryStatement.
const MaxStatementLength = 10000

const maxDepth = 64

type tokenKind int

const (
	tkIdent  tokenKind = iota // unquoted word
	tkQIdent                  // "quoted identifier"
	tkString                  // 'string literal'
	tkNumber
	tkOp
	tkRef // event data store ID or ARN
)

type token struct {
	kind tokenKind
	text string // ident: as written; qident/string: unescaped value
	pos  int    // byte offset in the statement
}

func (t token) is(kind tokenKind, s string) bool {
	return t.kind == kind && strings.EqualFold(t.text, s)
}

func (t token) kw(s string) bool { return t.is(tkIdent, s) }

var refPattern = regexp.MustCompile(`^(?:arn:aws[a-z-]*:cloudtrail:[a-z0-9-]*:[0-9]*:eventdatastore/)?[A-Za-z0-9]{8}-[A-Za-z0-9]{4}-[A-Za-z0-9]{4}-[A-Za-z0-9]{4}-[A-Za-z0-9]{12}`)

var multiOps = []string{"<=", ">=", "<>", "!=", "||", "->", "::"}

const singleOps = "(),.+-*/%=<>[]:;{}|"

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentPart(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

// tokenize splits a statement into tokens, dropping comments. Anything it
// does not know (parameters, dollar quotes, backslashes, ...) is an error.
func tokenize(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case c == '-' && i+1 < len(s) && s[i+1] == '-':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return nil, posError(s, i, "unterminated comment")
			}
			i += end + 4
		case refPattern.MatchString(s[i:]) && (i == 0 || !isIdentPart(s[i-1])):
			m := refPattern.FindString(s[i:])
			if j := i + len(m); j < len(s) && (isIdentPart(s[j]) || s[j] == '-') {
				return nil, posError(s, i, "malformed event data store reference")
			}
			toks = append(toks, token{tkRef, m, i})
			i += len(m)
		case isIdentStart(c):
			j := i
			for j < len(s) && isIdentPart(s[j]) {
				j++
			}
			toks = append(toks, token{tkIdent, s[i:j], i})
			i = j
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			j := i
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
				j++
			}
			if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
				k := j + 1
				if k < len(s) && (s[k] == '+' || s[k] == '-') {
					k++
				}
				if k < len(s) && s[k] >= '0' && s[k] <= '9' {
					j = k
					for j < len(s) && s[j] >= '0' && s[j] <= '9' {
						j++
					}
				}
			}
			num := s[i:j]
			if strings.Count(num, ".") > 1 {
				return nil, posError(s, i, fmt.Sprintf("malformed number %q", num))
			}
			if j < len(s) && isIdentStart(s[j]) {
				return nil, posError(s, i, fmt.Sprintf("malformed number or identifier near %q", s[i:min(len(s), j+8)]))
			}
			toks = append(toks, token{tkNumber, num, i})
			i = j
		case c == '\'' || c == '"':
			var b strings.Builder
			j := i + 1
			closed := false
			for j < len(s) {
				if s[j] == c {
					if j+1 < len(s) && s[j+1] == c {
						b.WriteByte(c)
						j += 2
						continue
					}
					closed = true
					j++
					break
				}
				b.WriteByte(s[j])
				j++
			}
			if !closed {
				return nil, posError(s, i, "unterminated quoted text")
			}
			v := b.String()
			if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
				return nil, posError(s, i, "quoted text is not valid UTF-8")
			}
			kind := tkString
			if c == '"' {
				kind = tkQIdent
				if v == "" {
					return nil, posError(s, i, "empty quoted identifier")
				}
			}
			toks = append(toks, token{kind, v, i})
			i = j
		default:
			op := ""
			for _, m := range multiOps {
				if strings.HasPrefix(s[i:], m) {
					op = m
					break
				}
			}
			if op == "" && strings.IndexByte(singleOps, c) >= 0 {
				op = string(c)
			}
			if op == "" {
				r, _ := utf8.DecodeRuneInString(s[i:])
				return nil, posError(s, i, fmt.Sprintf("unexpected character %q", r))
			}
			toks = append(toks, token{tkOp, op, i})
			i += len(op)
		}
	}
	return toks, nil
}

func posError(s string, off int, msg string) *QueryError {
	line, col := 1, 1
	for i := 0; i < off && i < len(s); i++ {
		if s[i] == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return &QueryError{Line: line, Column: col, Message: msg}
}

// forbidden are words that start or signal statements other than a read, or
// DuckDB syntax that reads tables without naming them in FROM. They are
// refused wherever they appear unquoted.
var forbidden = map[string]bool{
	"insert": true, "update": true, "delete": true, "merge": true, "upsert": true,
	"create": true, "drop": true, "alter": true, "truncate": true,
	"copy": true, "attach": true, "detach": true, "install": true, "load": true,
	"force": true, "set": true, "reset": true, "pragma": true, "call": true,
	"export": true, "import": true, "vacuum": true, "checkpoint": true,
	"begin": true, "commit": true, "rollback": true, "abort": true,
	"transaction": true, "grant": true, "revoke": true, "use": true,
	"describe": true, "summarize": true, "show": true, "explain": true,
	"table": true, "pivot": true, "unpivot": true, "pivot_wider": true, "pivot_longer": true,
	"into": true, "returning": true, "prepare": true, "execute": true, "deallocate": true,
	"macro": true, "function": true, "secret": true, "analyze": true,
	"getvariable": true, "query_table": true,
}

// keywords are words that are never function names even when a parenthesis
// follows them.
var keywords = map[string]bool{
	"select": true, "from": true, "where": true, "group": true, "by": true, "having": true,
	"order": true, "limit": true, "offset": true, "fetch": true, "first": true, "next": true,
	"rows": true, "row": false, "only": true, "union": true, "except": true, "intersect": true,
	"all": true, "distinct": true, "as": true, "on": true, "using": true, "join": true,
	"inner": true, "left": true, "right": true, "full": true, "outer": true, "cross": true,
	"natural": true, "lateral": true, "and": true, "or": true, "not": true, "in": true,
	"exists": true, "is": true, "null": true, "like": true, "ilike": true, "between": true,
	"case": true, "when": true, "then": true, "else": true, "end": true, "cast": true,
	"try_cast": true, "extract": true, "interval": true, "over": true, "partition": true,
	"filter": false, "within": true, "with": true, "recursive": true, "values": true,
	"any": true, "some": true, "asc": true, "desc": true, "nulls": true, "last": true,
	"true": true, "false": true, "window": true, "qualify": true, "escape": true,
	"array": true, "map": false, "timestamp": true, "time": true,
	"materialized": true, "range": false, "preceding": true, "following": true,
	"unbounded": true, "current": true, "ties": true, "percent": true, "similar": true,
	"glob": true, "at": true, "zone": true, "semi": true, "anti": true, "asof": true,
	"positional": true, "collate": true, "tablesample": true, "sample": true,
	"varchar": true, "decimal": true, "numeric": true, "char": true, "double": true,
	"real": true, "integer": true, "bigint": true, "boolean": true, "json": true,
}

// clauseEnd are words that end a FROM clause at their depth. ON and USING
// do not: a comma after a join condition starts another table reference.
var clauseEnd = map[string]bool{
	"where": true, "group": true, "having": true, "order": true, "limit": true,
	"offset": true, "fetch": true, "union": true, "except": true, "intersect": true,
	"window": true, "qualify": true, "select": true,
}

// functions maps each function a query may call (Trino name, lower case) to
// the DuckDB function or opentrail macro that implements it.
var functions = map[string]string{
	// aggregates
	"count": "count", "sum": "sum", "min": "min", "max": "max", "avg": "avg",
	"count_if": "count_if", "approx_distinct": "approx_count_distinct",
	"approx_percentile": "approx_quantile", "arbitrary": "any_value", "any_value": "any_value",
	"max_by": "max_by", "min_by": "min_by", "array_agg": "array_agg", "bool_and": "bool_and",
	"bool_or": "bool_or", "every": "bool_and", "stddev": "stddev", "stddev_pop": "stddev_pop",
	"stddev_samp": "stddev_samp", "variance": "variance", "var_pop": "var_pop",
	"var_samp": "var_samp", "listagg": "string_agg", "string_agg": "string_agg",
	"histogram": "histogram", "grouping": "grouping",
	// window
	"row_number": "row_number", "rank": "rank", "dense_rank": "dense_rank",
	"percent_rank": "percent_rank", "cume_dist": "cume_dist", "ntile": "ntile",
	"lag": "lag", "lead": "lead", "first_value": "first_value", "last_value": "last_value",
	"nth_value": "nth_value",
	// conditional
	"coalesce": "coalesce", "nullif": "nullif", "if": "if", "greatest": "greatest",
	"least": "least", "try": "try", "typeof": "typeof",
	// strings
	"lower": "lower", "upper": "upper", "length": "length", "substr": "substr",
	"substring": "substring", "strpos": "strpos", "position": "position", "trim": "trim",
	"ltrim": "ltrim", "rtrim": "rtrim", "replace": "replace", "reverse": "reverse",
	"lpad": "lpad", "rpad": "rpad", "concat": "concat", "concat_ws": "concat_ws",
	"split": "string_split", "split_part": "split_part", "starts_with": "starts_with",
	"ends_with": "ends_with", "url_decode": "url_decode", "url_encode": "url_encode",
	"regexp_like": "regexp_matches", "regexp_extract": "regexp_extract",
	"regexp_extract_all": "regexp_extract_all", "regexp_replace": "ot_regexp_replace",
	"regexp_split": "string_split_regex", "md5": "md5", "sha256": "sha256",
	"to_hex": "to_hex", "chr": "chr", "codepoint": "ascii", "levenshtein_distance": "levenshtein",
	"hamming_distance": "hamming", "format": "format",
	// numbers
	"abs": "abs", "round": "round", "ceil": "ceil", "ceiling": "ceiling", "floor": "floor",
	"power": "power", "pow": "pow", "sqrt": "sqrt", "mod": "mod", "ln": "ln",
	"log10": "log10", "log2": "log2", "exp": "exp", "sign": "sign",
	"random": "random", "rand": "random", "is_nan": "isnan", "nan": "nan", "infinity": "infinity",
	// dates
	"now": "now", "current_timestamp": "current_timestamp", "current_date": "current_date",
	"date_trunc": "ot_date_trunc", "date_diff": "date_sub", "date_add": "ot_date_add",
	"from_iso8601_timestamp": "ot_from_iso8601_timestamp",
	"from_iso8601_date":      "ot_from_iso8601_date", "to_iso8601": "ot_to_iso8601",
	"from_unixtime": "ot_from_unixtime", "to_unixtime": "epoch", "date_format": "ot_date_format",
	"date_parse": "ot_date_parse", "year": "year", "month": "month", "day": "day",
	"day_of_month": "day", "hour": "hour", "minute": "minute", "second": "second",
	"millisecond": "millisecond", "week": "week", "week_of_year": "week", "quarter": "quarter",
	"day_of_week": "isodow", "dow": "isodow", "day_of_year": "dayofyear", "doy": "dayofyear",
	"year_of_week": "isoyear", "last_day_of_month": "last_day", "date": "ot_date",
	// maps, arrays, rows
	"element_at": "ot_element_at", "cardinality": "ot_cardinality", "contains": "ot_contains",
	"map_keys": "map_keys", "map_values": "map_values", "map": "map",
	"array_distinct": "list_distinct", "array_max": "list_max", "array_min": "list_min",
	"array_sort": "list_sort", "array_position": "list_position", "array_join": "array_to_string",
	"array_remove": "ot_array_remove", "slice": "ot_slice", "concat_arrays": "list_concat",
	"transform": "list_transform", "filter": "list_filter", "flatten": "flatten",

	"row": "row", "unnest": "unnest",
	// json
	"json_extract": "json_extract", "json_extract_scalar": "ot_json_extract_scalar",
	"json_parse": "json", "json_format": "ot_json_format", "json_array_length": "json_array_length",
	"json_array_contains": "ot_json_array_contains", "json_array_get": "ot_json_array_get",
	"json_size": "ot_json_size", "is_json_scalar": "ot_is_json_scalar",
}

// translation is a checked statement ready for DuckDB.
type translation struct {
	sql    string
	stores []string // store IDs, in order of first reference
}

// storeTable is the DuckDB table that holds a store's events.
func storeTable(id string) string { return `"eds_` + strings.ReplaceAll(id, `"`, `""`) + `"` }

// Translate checks a CloudTrail Lake statement and rewrites it for DuckDB.
// It returns the DuckDB SQL and the IDs of the stores it reads. Errors are
// *QueryError.
func Translate(stmt string, resolve Resolver) (sql string, stores []string, err error) {
	t, err := safeTranslate(stmt, resolve)
	if err != nil {
		return "", nil, err
	}
	return t.sql, t.stores, nil
}

// safeTranslate is translate with a last line of defence: a panic (which
// the fuzz test hunts for) becomes a QueryError instead of taking the
// server down.
func safeTranslate(stmt string, resolve Resolver) (tr *translation, err error) {
	defer func() {
		if r := recover(); r != nil {
			tr, err = nil, &QueryError{Message: "the statement could not be parsed"}
		}
	}()
	return translate(stmt, resolve)
}

func translate(stmt string, resolve Resolver) (*translation, error) {
	if strings.TrimSpace(stmt) == "" {
		return nil, &QueryError{Message: "the query statement is empty"}
	}
	if len(stmt) > MaxStatementLength {
		return nil, &QueryError{Message: fmt.Sprintf("the query statement is longer than %d characters", MaxStatementLength)}
	}
	if !utf8.ValidString(stmt) {
		return nil, &QueryError{Message: "the query statement is not valid UTF-8"}
	}
	toks, err := tokenize(stmt)
	if err != nil {
		return nil, err
	}
	errAt := func(t token, format string, args ...any) error {
		return posError(stmt, t.pos, fmt.Sprintf(format, args...))
	}
	// One statement: a trailing semicolon is allowed, nothing after it.
	for i, t := range toks {
		if t.is(tkOp, ";") {
			if i != len(toks)-1 {
				return nil, errAt(t, "only one statement is allowed")
			}
			toks = toks[:i]
		}
	}
	if len(toks) == 0 {
		return nil, &QueryError{Message: "the query statement is empty"}
	}
	first := toks[0]
	if !first.kw("select") && !first.kw("with") && !first.is(tkOp, "(") {
		return nil, errAt(first, "only SELECT statements are allowed, not %s", strings.ToUpper(first.text))
	}

	// CTE names: an identifier, optionally with a column list, followed by
	// AS and then '(' or MATERIALIZED/NOT.
	ctes := map[string]bool{}
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if t.kind != tkIdent && t.kind != tkQIdent {
			continue
		}
		if i > 0 && !(toks[i-1].kw("with") || toks[i-1].kw("recursive") || toks[i-1].is(tkOp, ",")) {
			continue
		}
		j := i + 1
		if j < len(toks) && toks[j].is(tkOp, "(") {
			j = matchParen(toks, j) + 1
		}
		if j+1 < len(toks) && toks[j].kw("as") && (toks[j+1].is(tkOp, "(") || toks[j+1].kw("materialized") || toks[j+1].kw("not")) {
			ctes[strings.ToLower(t.text)] = true
		}
	}

	// The format argument of date_format/date_parse, when a literal.
	mysqlFmt := map[int]bool{}
	for i := 0; i+1 < len(toks); i++ {
		if l := strings.ToLower(toks[i].text); toks[i].kind == tkIdent && (l == "date_format" || l == "date_parse") && toks[i+1].is(tkOp, "(") {
			end := matchParen(toks, i+1)
			depth := 0
			for j := i + 1; j < end; j++ {
				switch {
				case toks[j].is(tkOp, "("):
					depth++
				case toks[j].is(tkOp, ")"):
					depth--
				case depth == 1 && toks[j].is(tkOp, ",") && toks[j+1].kind == tkString:
					mysqlFmt[j+1] = true
				}
			}
		}
	}

	type frame struct{ inFrom, noFrom bool }
	stack := []frame{{}}
	out := make([]string, 0, len(toks))
	var stores []string
	seen := map[string]bool{}
	expectTable := false
	var refs []storeRef // store references, for flatten
	otherFrom := false  // a table that is not a store: not flattened

	for i := 0; i < len(toks); i++ {
		t := toks[i]
		var prev, next token
		hasNext := i+1 < len(toks)
		if i > 0 {
			prev = toks[i-1]
		}
		if hasNext {
			next = toks[i+1]
		}
		lower := strings.ToLower(t.text)
		top := &stack[len(stack)-1]

		if expectTable {
			expectTable = false
			switch {
			case t.kw("lateral"):
				out = append(out, "LATERAL")
				expectTable = true
				otherFrom = true
				continue
			case t.is(tkOp, "("):
				// subquery or parenthesised join: checked as it goes
				otherFrom = true
			case t.kind == tkRef || t.kind == tkQIdent || (t.kind == tkIdent && !keywords[lower] && !forbidden[lower]):
				if hasNext && next.is(tkOp, ".") {
					return nil, errAt(t, "qualified table names are not allowed; use an event data store ID or ARN")
				}
				if hasNext && next.is(tkOp, "(") {
					if lower != "unnest" || t.kind != tkIdent {
						return nil, errAt(t, "table function %s is not allowed", t.text)
					}
					out = append(out, "unnest")
					otherFrom = true
					continue
				}
				if t.kind != tkRef && ctes[lower] {
					out = append(out, cteName(lower))
					otherFrom = true
					continue
				}
				if resolve == nil {
					return nil, errAt(t, "event data store %s not found", t.text)
				}
				id, rerr := resolve(t.text)
				if rerr != nil {
					return nil, errAt(t, "%s", rerr.Error())
				}
				if !validStoreID(id) {
					return nil, errAt(t, "event data store %s not found", t.text)
				}
				if !seen[id] {
					seen[id] = true
					stores = append(stores, id)
				}
				refs = append(refs, storeRef{i, id})
				out = append(out, storeTable(id))
				continue
			default:
				return nil, errAt(t, "expected an event data store ID or ARN after FROM or JOIN, found %q", t.text)
			}
		}

		switch t.kind {
		case tkRef:
			return nil, errAt(t, "event data store %s may only appear after FROM or JOIN", t.text)
		case tkString:
			if mysqlFmt[i] {
				out = append(out, quoteString(mysqlToStrftime(t.text)))
				break
			}
			out = append(out, quoteString(t.text))
		case tkQIdent:
			if ctes[lower] && !prev.is(tkOp, ".") {
				out = append(out, cteName(lower))
				break
			}
			out = append(out, quoteIdent(t.text))
		case tkNumber:
			out = append(out, t.text)
		case tkOp:
			switch t.text {
			case "(":
				if len(stack) >= maxDepth {
					return nil, errAt(t, "the statement is nested too deeply (more than %d levels)", maxDepth)
				}
				pl := strings.ToLower(prev.text)
				stack = append(stack, frame{noFrom: i > 0 && prev.kind == tkIdent && (pl == "extract" || pl == "substring" || pl == "trim" || pl == "overlay" || pl == "position")})
			case ")":
				if len(stack) == 1 {
					return nil, errAt(t, "unbalanced parenthesis")
				}
				stack = stack[:len(stack)-1]
			case ",":
				if top.inFrom {
					expectTable = true
				}
			}
			out = append(out, t.text)
		case tkIdent:
			if forbidden[lower] {
				return nil, errAt(t, "%s is not allowed: CloudTrail Lake queries are read-only SELECT statements", strings.ToUpper(t.text))
			}
			isCall := hasNext && next.is(tkOp, "(") && !keywords[lower]
			if lower == "filter" && i+2 < len(toks) && toks[i+2].kw("where") {
				isCall = false // count(*) FILTER (WHERE ...)
			}
			if isCall && ctes[lower] && (i == 0 || prev.kw("with") || prev.kw("recursive") || prev.is(tkOp, ",")) {
				isCall = false // CTE column list
			}
			if isCall && prev.kw("as") {
				isCall = false // alias column list: AS t(x, y)
			}
			if isCall {
				if i > 0 && prev.is(tkOp, ".") {
					return nil, errAt(t, "method-style calls (x.%s(...)) are not allowed", t.text)
				}
				fn, ok := functions[lower]
				if !ok {
					return nil, errAt(t, "function %s is not supported", t.text)
				}
				out = append(out, fn)
				continue
			}
			switch lower {
			case "from":
				if top.noFrom || prev.kw("distinct") {
					break // EXTRACT(x FROM y), IS [NOT] DISTINCT FROM
				}
				top.inFrom = true
				expectTable = true
			case "join":
				top.inFrom = true
				expectTable = true
			default:
				if clauseEnd[lower] {
					top.inFrom = false
				}
			}
			switch {
			case keywords[lower]:
				out = append(out, strings.ToUpper(lower))
			case ctes[lower] && !prev.is(tkOp, "."):
				out = append(out, cteName(lower))
			default:
				out = append(out, t.text)
			}
		}
	}
	if expectTable {
		return nil, &QueryError{Message: "expected an event data store ID or ARN at the end of the statement"}
	}
	if len(stack) != 1 {
		return nil, &QueryError{Message: "unbalanced parenthesis: missing )"}
	}
	if len(stores) == 0 {
		return nil, &QueryError{Message: "the query must read from at least one event data store (FROM <event data store ID>)"}
	}
	if !otherFrom {
		flatten(toks, out, refs)
	}
	out = labelColumns(toks, out)
	kept := out[:0]
	for _, o := range out {
		if o != "" {
			kept = append(kept, o)
		}
	}
	return &translation{sql: strings.Join(kept, " "), stores: stores}, nil
}

// mysqlToStrftime converts a MySQL-style date pattern (Trino's date_format,
// date_parse) to strftime's.
func mysqlToStrftime(f string) string {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '%' || i+1 == len(f) {
			b.WriteByte(f[i])
			continue
		}
		i++
		switch f[i] {
		case 'i':
			b.WriteString("%M")
		case 's', 'S':
			b.WriteString("%S")
		case 'T':
			b.WriteString("%H:%M:%S")
		case 'f':
			b.WriteString("%f")
		case 'r':
			b.WriteString("%I:%M:%S %p")
		case 'M':
			b.WriteString("%B")
		case 'W':
			b.WriteString("%A")
		case 'c':
			b.WriteString("%-m")
		case 'e':
			b.WriteString("%-d")
		case 'k':
			b.WriteString("%-H")
		case 'h', 'I':
			b.WriteString("%I")
		case 'l':
			b.WriteString("%-I")
		case 'v':
			b.WriteString("%V")
		case 'x':
			b.WriteString("%G")
		default:
			b.WriteByte('%')
			b.WriteByte(f[i])
		}
	}
	return b.String()
}

func matchParen(toks []token, open int) int {
	depth := 0
	for i := open; i < len(toks); i++ {
		switch {
		case toks[i].is(tkOp, "("):
			depth++
		case toks[i].is(tkOp, ")"):
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return len(toks) - 1
}

// labelColumns gives unnamed expressions of the outermost select list the
// names Trino gives them (_col0, _col1, ...), so result columns read as they
// do in CloudTrail Lake. toks and out correspond one to one.
func labelColumns(toks []token, out []string) []string {
	if len(toks) != len(out) {
		return out
	}
	// The first SELECT at depth 0.
	depth, start := 0, -1
	for i, t := range toks {
		if t.is(tkOp, "(") {
			depth++
		} else if t.is(tkOp, ")") {
			depth--
		} else if depth == 0 && t.kw("select") {
			start = i + 1
			break
		}
	}
	if start < 0 {
		return out
	}
	if start < len(toks) && (toks[start].kw("distinct") || toks[start].kw("all")) {
		start++
	}
	var items [][2]int
	depth = 0
	b := start
	end := len(toks)
	for i := start; i < len(toks); i++ {
		t := toks[i]
		if t.is(tkOp, "(") || t.is(tkOp, "[") {
			depth++
		} else if t.is(tkOp, ")") || t.is(tkOp, "]") {
			depth--
		} else if depth == 0 && t.is(tkOp, ",") {
			items = append(items, [2]int{b, i})
			b = i + 1
		} else if depth == 0 && (t.kw("from") || t.kw("where") || t.kw("union") || t.kw("except") || t.kw("intersect") || t.kw("group") || t.kw("order") || t.kw("limit") || t.kw("having")) {
			end = i
			break
		}
		if depth < 0 {
			return out
		}
	}
	items = append(items, [2]int{b, end})
	res := make([]string, 0, len(out)+2*len(items))
	last := 0
	for n, it := range items {
		if it[0] >= it[1] {
			continue
		}
		if label, ok := columnLabel(toks[it[0]:it[1]], n); ok {
			res = append(res, out[last:it[1]]...)
			res = append(res, "AS", quoteIdent(label))
			last = it[1]
		}
	}
	return append(res, out[last:]...)
}

// columnLabel returns the label Trino gives select item n when it has no
// alias: the column name as written for a column reference (DuckDB would
// use the stored lower-case name), _colN for any other expression. ok is
// false for items that keep their own name (aliases, *).
func columnLabel(item []token, n int) (label string, ok bool) {
	if needsLabel(item) {
		return "_col" + strconv.Itoa(n), true
	}
	last := item[len(item)-1]
	if len(item)%2 == 1 && (last.kind == tkIdent || last.kind == tkQIdent) && (len(item) == 1 || item[len(item)-2].is(tkOp, ".")) {
		return last.text, true
	}
	return "", false
}

func needsLabel(item []token) bool {
	n := len(item)
	// a.b.c or a or *
	simple := true
	for i, t := range item {
		want := i%2 == 0
		if want && !(t.kind == tkIdent && !keywords[strings.ToLower(t.text)] || t.kind == tkQIdent || t.is(tkOp, "*")) {
			simple = false
			break
		}
		if !want && !t.is(tkOp, ".") {
			simple = false
			break
		}
	}
	if simple && n%2 == 1 {
		return false
	}
	last := item[n-1]
	if n >= 2 && (last.kind == tkIdent && !keywords[strings.ToLower(last.text)] || last.kind == tkQIdent) {
		p := item[n-2]
		if p.kw("as") || p.is(tkOp, ")") || p.is(tkOp, "]") || p.kind == tkString || p.kind == tkNumber ||
			p.kind == tkQIdent || p.kind == tkIdent && !keywords[strings.ToLower(p.text)] {
			return false
		}
	}
	return true
}

// cteName renames a common table expression so that no reference to it,
// in scope or not, can ever name a real table.
func cteName(lower string) string { return quoteIdent("cte_" + lower) }

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func quoteString(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }

var storeIDPattern = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

func validStoreID(id string) bool { return storeIDPattern.MatchString(id) }
