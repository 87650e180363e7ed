package lake

import (
	"slices"
	"strings"
)

// The flat view. The view queries read, storeTable(id), rebuilds struct
// columns such as useridentity with struct_pack, and DuckDB builds the
// whole struct for every row even when a query reads one field of it:
// useridentity.arn costs the ~25 columns of useridentity. So each store
// has a second view, flatTable(id): the same columns, built the same way
// (viewColumns over viewFrom), plus the data table's leaf columns under
// names that start with flatPrefix. When the translator can tell that a
// statement reads the stores only through their public columns, it reads
// the flat views instead and turns each struct path that ends at a leaf
// (useridentity.arn, tlsdetails.tlsversion, ...) into that leaf's column
// (flatten). The results are the same: the struct field is that column.

// flatTable is the flat view of store id.
func flatTable(id string) string { return `"edsf_` + strings.ReplaceAll(id, `"`, `""`) + `"` }

// flatPrefix starts the names of the flat view's leaf columns. A statement
// that writes any identifier starting with it is not flattened, so users
// never see these columns.
const flatPrefix = "ot_"

// flatLeaf is a struct path of the public view (lower case, dot
// separated) that ends at a plain field, and the data table column
// viewColumns builds that field from.
type flatLeaf struct{ path, column string }

var flatLeaves = []flatLeaf{
	{"useridentity.type", "ui_type"},
	{"useridentity.principalid", "ui_principalid"},
	{"useridentity.arn", "ui_arn"},
	{"useridentity.accountid", "ui_accountid"},
	{"useridentity.accesskeyid", "ui_accesskeyid"},
	{"useridentity.username", "ui_username"},
	{"useridentity.sessioncontext.attributes.creationdate", "ui_sc_creationdate"},
	{"useridentity.sessioncontext.attributes.mfaauthenticated", "ui_sc_mfaauthenticated"},
	{"useridentity.sessioncontext.sessionissuer.type", "ui_si_type"},
	{"useridentity.sessioncontext.sessionissuer.principalid", "ui_si_principalid"},
	{"useridentity.sessioncontext.sessionissuer.arn", "ui_si_arn"},
	{"useridentity.sessioncontext.sessionissuer.accountid", "ui_si_accountid"},
	{"useridentity.sessioncontext.sessionissuer.username", "ui_si_username"},
	{"useridentity.sessioncontext.webidfederationdata.federatedprovider", "ui_wif_federatedprovider"},
	{"useridentity.sessioncontext.sourceidentity", "ui_sc_sourceidentity"},
	{"useridentity.sessioncontext.ec2roledelivery", "ui_sc_ec2roledelivery"},
	{"useridentity.sessioncontext.ec2issuedinvpc", "ui_sc_ec2issuedinvpc"},
	{"useridentity.onbehalfof.userid", "ui_obo_userid"},
	{"useridentity.onbehalfof.identitystorearn", "ui_obo_identitystorearn"},
	{"useridentity.inscopeof.sourcearn", "ui_iso_sourcearn"},
	{"useridentity.inscopeof.sourceaccount", "ui_iso_sourceaccount"},
	{"useridentity.inscopeof.issuertype", "ui_iso_issuertype"},
	{"useridentity.inscopeof.credentialsissuedto", "ui_iso_credentialsissuedto"},
	{"useridentity.invokedby", "ui_invokedby"},
	{"useridentity.identityprovider", "ui_identityprovider"},
	{"tlsdetails.tlsversion", "tls_tlsversion"},
	{"tlsdetails.ciphersuite", "tls_ciphersuite"},
	{"tlsdetails.clientprovidedhostheader", "tls_clientprovidedhostheader"},
	{"metadata.ingestiontime", "md_ingestiontime"},
	{"metadata.channelarn", "md_channelarn"},
}

// flatMapPaths are the paths into flatStructs that end at a map: left as
// they are.
var flatMapPaths = map[string]bool{
	"useridentity.sessioncontext.webidfederationdata.attributes": true,
}

// flatStructs are the public view's columns that flatLeaves reach into.
var flatStructs = map[string]bool{"useridentity": true, "tlsdetails": true, "metadata": true}

// flatColumn maps a flatLeaves path to its column in the flat view.
var flatColumn = func() map[string]string {
	m := make(map[string]string, len(flatLeaves))
	for _, l := range flatLeaves {
		m[l.path] = flatPrefix + l.column
	}
	return m
}()

// flatNames turns the flat view's leaf columns back into the struct paths
// a statement wrote, for error messages: a statement reading
// useridentity.arn hears of useridentity.arn, not of a column it never
// named. Longer names come first, so that ot_ui_si_arn is not read as
// ot_ui_s... of another leaf.
var flatNames = func() *strings.Replacer {
	leaves := slices.Clone(flatLeaves)
	slices.SortFunc(leaves, func(a, b flatLeaf) int { return len(b.column) - len(a.column) })
	var pairs []string
	for _, l := range leaves {
		pairs = append(pairs, flatColumn[l.path], l.path)
	}
	return strings.NewReplacer(pairs...)
}()

// createFlatView is the statement that (re)creates the flat view of store
// id.
func createFlatView(id string) string {
	cols := make([]string, len(flatLeaves))
	for i, l := range flatLeaves {
		cols[i] = l.column + " AS " + quoteIdent(flatColumn[l.path])
	}
	return `CREATE OR REPLACE VIEW ` + flatTable(id) + ` AS SELECT ` + viewColumns + ",\n\t" +
		strings.Join(cols, ",\n\t") + ` FROM ` + viewFrom(id)
}

// flatRewrite turns the rewrite on; tests turn it off to compare.
var flatRewrite = true

// publicColumns are the column names of the public view (columnsDDL).
var publicColumns = func() map[string]bool {
	m := map[string]bool{}
	depth := 0
	start := true
	for _, field := range strings.FieldsFunc(columnsDDL, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n'
	}) {
		if start && depth == 0 {
			m[strings.Trim(field, `"`)] = true
		}
		start = false
		for _, c := range field {
			switch c {
			case '(':
				depth++
			case ')':
				depth--
			case ',':
				if depth == 0 {
					start = true
				}
			}
		}
	}
	return m
}()

// flatFollowers are the words that may follow a store reference (and its
// alias) in a statement that is flattened.
var flatFollowers = map[string]bool{
	"where": true, "group": true, "order": true, "limit": true, "offset": true, "having": true,
	"union": true, "except": true, "intersect": true, "window": true, "qualify": true, "fetch": true,
	"join": true, "inner": true, "left": true, "right": true, "full": true, "cross": true,
	"semi": true, "anti": true, "on": true,
}

// flatRefused are words that make a statement one the rewrite leaves
// alone: they bind names (WITH, lambdas, comprehensions), give tables
// other than stores, or match columns by name (NATURAL, BY NAME), where
// the flat view's extra columns or a rewritten path could be seen.
var flatRefused = map[string]bool{
	"with": true, "recursive": true, "lambda": true, "natural": true, "lateral": true,
	"unnest": true, "for": true, "values": true, "using": true,
}

// storeRef is a store reference of a statement: the token and the store.
type storeRef struct {
	tok int
	id  string
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func isName(t token) bool { return t.kind == tkIdent || t.kind == tkQIdent }

// flatten rewrites the translation out of toks (one string per token, as
// translate builds it) to read the flat views when that cannot change
// what the statement means, and reports whether it did. refs are the
// statement's store references; every table the statement reads must be
// one of them. out is changed only when flatten returns true; tokens a
// rewritten path no longer needs become "".
//
// The statement is flattened only if all of these hold:
//   - it starts with SELECT (so its result columns are the ones
//     labelColumns names);
//   - it has no CTE, subquery or UNNEST in FROM, lambda, list
//     comprehension, NATURAL join, USING, BY NAME or VALUES (flatRefused);
//   - its only * are count(*) and multiplications;
//   - no identifier starts with flatPrefix or "eds", or holds a non-ASCII
//     character;
//   - each store reference is followed by an optional alias (not a name of
//     the public view's columns, and never written elsewhere but as a
//     qualifier: alias.column) and then the end, ",", ")" or a word of
//     flatFollowers;
//   - every path that starts with useridentity, tlsdetails or metadata
//     (alone or after a store alias) ends at a leaf of flatLeaves or at a
//     map of flatMapPaths, and is not written after AS or ::; no path is
//     followed by a dot that does not continue it (x.*);
//   - at least one path ends at a leaf.
//
// And so that DuckDB's messages stay the same (they would name the flat
// view's columns): every name that stands alone is a keyword, a function,
// a column of the public view, a name the statement defines (an alias,
// a result column's label) or a word of flatWords; and a path without a
// store alias is not in a statement that joins stores in one FROM.
func flatten(toks []token, out []string, refs []storeRef) bool {
	if !flatRewrite || len(refs) == 0 || len(toks) != len(out) || !toks[0].kw("select") {
		return false
	}
	n := len(toks)
	for i, t := range toks {
		switch t.kind {
		case tkOp:
			switch t.text {
			case "->":
				return false
			case "*":
				if !plainStar(toks, i) {
					return false
				}
			}
		case tkIdent, tkQIdent:
			l := asciiLower(t.text)
			if !isASCII(t.text) || strings.HasPrefix(l, flatPrefix) || strings.HasPrefix(l, "eds") {
				return false
			}
			if t.kind == tkIdent && (flatRefused[l] || l == "by" && i+1 < n && toks[i+1].kw("name")) {
				return false
			}
		}
	}

	// Store references and their aliases.
	aliases := map[string]bool{}
	aliasAt := map[int]bool{}
	aliased := map[int]bool{}
	for _, r := range refs {
		j := r.tok + 1
		alias := -1
		switch {
		case j < n && toks[j].kw("as"):
			if j+1 >= n || !(toks[j+1].kind == tkQIdent || toks[j+1].kind == tkIdent && !keywords[asciiLower(toks[j+1].text)] && !flatFollowers[asciiLower(toks[j+1].text)]) {
				return false
			}
			alias = j + 1
		case j < n && (toks[j].kind == tkQIdent || toks[j].kind == tkIdent && !keywords[asciiLower(toks[j].text)] && !flatFollowers[asciiLower(toks[j].text)]):
			alias = j
		}
		if alias >= 0 {
			a := asciiLower(toks[alias].text)
			if publicColumns[a] || flatStructs[a] {
				return false
			}
			aliases[a] = true
			aliasAt[alias] = true
			aliased[r.tok] = true
			j = alias + 1
		}
		if j < n && !(toks[j].is(tkOp, ",") || toks[j].is(tkOp, ")") || toks[j].kind == tkIdent && flatFollowers[asciiLower(toks[j].text)]) {
			return false
		}
	}

	// Names the statement defines: aliases of expressions (and the odd
	// word in alias position, such as a type after AS).
	defined := map[string]bool{}
	refAt := map[int]bool{}
	for _, r := range refs {
		refAt[r.tok] = true
	}
	for i := 1; i < n; i++ {
		if !isName(toks[i]) || toks[i-1].is(tkOp, ".") || i+1 < n && (toks[i+1].is(tkOp, ".") || toks[i+1].is(tkOp, "(")) {
			continue
		}
		switch p := toks[i-1]; {
		case p.kw("as"), p.kind == tkQIdent, p.kind == tkString, p.kind == tkNumber, p.is(tkOp, ")"), p.is(tkOp, "]"),
			p.kind == tkIdent && !keywords[asciiLower(p.text)]:
			defined[asciiLower(toks[i].text)] = true
		}
	}
	// and the labels labelColumns gives paths of the result columns.
	j := 0
	for _, o := range labelColumns(toks, make([]string, n)) {
		switch {
		case o == "":
			j++
		case strings.HasPrefix(o, `"`) && j >= 2 && toks[j-2].is(tkOp, "."):
			defined[asciiLower(strings.ReplaceAll(o[1:len(o)-1], `""`, `"`))] = true
		}
	}

	// Paths: maximal chains name.name... not preceded by a dot.
	type rewrite struct{ from, to int }
	var rewrites []rewrite
	unqualified := false
	for i := 0; i < n; i++ {
		if !isName(toks[i]) || i > 0 && toks[i-1].is(tkOp, ".") {
			continue
		}
		k := i
		for k+2 < n && toks[k+1].is(tkOp, ".") && isName(toks[k+2]) {
			k += 2
		}
		if k+1 < n && toks[k+1].is(tkOp, ".") {
			return false // x.* or x.(...) or a dot before something else
		}
		l0 := asciiLower(toks[i].text)
		s := -1
		switch {
		case aliases[l0]:
			if k == i {
				if !aliasAt[i] {
					return false // the alias alone: a row
				}
				continue
			}
			if flatStructs[asciiLower(toks[i+2].text)] {
				s = i + 2
			}
		case flatStructs[l0]:
			s = i
			unqualified = true
		case k == i && !(i+1 < n && toks[i+1].is(tkOp, "(")) && !refAt[i] &&
			!(toks[i].kind == tkIdent && keywords[l0]) && !publicColumns[l0] && !defined[l0] && !flatWords[l0]:
			// A name DuckDB may not know: its message would list the
			// flat view's columns as candidates.
			return false
		}
		if s < 0 {
			continue
		}
		if i > 0 && (toks[i-1].kw("as") || toks[i-1].is(tkOp, "::")) {
			return false
		}
		parts := make([]string, 0, (k-s)/2+1)
		for j := s; j <= k; j += 2 {
			parts = append(parts, asciiLower(toks[j].text))
		}
		path := strings.Join(parts, ".")
		switch {
		case flatColumn[path] != "":
			rewrites = append(rewrites, rewrite{s, k})
		case flatMapPaths[path]:
		default:
			return false // a struct, or no such field
		}
		i = k
	}
	if len(rewrites) == 0 || unqualified && sharedFrom(toks, refs) {
		// Two tables in one FROM: DuckDB would name the leaf column in
		// its message about an ambiguous path.
		return false
	}

	for _, rw := range rewrites {
		parts := make([]string, 0, (rw.to-rw.from)/2+1)
		for j := rw.from; j <= rw.to; j += 2 {
			parts = append(parts, asciiLower(toks[j].text))
		}
		out[rw.from] = quoteIdent(flatColumn[strings.Join(parts, ".")])
		for j := rw.from + 1; j <= rw.to; j++ {
			out[j] = ""
		}
	}
	for _, r := range refs {
		out[r.tok] = flatTable(r.id)
		if !aliased[r.tok] {
			// The name DuckDB gives the public view, for its messages.
			out[r.tok] += " AS " + storeTable(r.id)
		}
	}
	return true
}

// flatWords are words that are neither keywords nor columns but may stand
// alone in a statement: date parts, type names, niladic functions.
var flatWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`year quarter month week day dow doy hour minute second millisecond
		microsecond epoch isodow isoyear dayofweek dayofyear yearweek century decade millennium era
		timezone timezone_hour timezone_minute years quarters months weeks days hours minutes seconds
		milliseconds microseconds date timestamptz timestamp_s timestamp_ms timestamp_ns int int2 int4
		int8 smallint tinyint hugeint uinteger ubigint usmallint utinyint float float4 float8 text
		string blob uuid bool current_timestamp current_date current_time localtimestamp localtime
		both leading trailing`) {
		m[w] = true
	}
	return m
}()

// sharedFrom reports whether two of refs are tables of the same FROM
// clause.
func sharedFrom(toks []token, refs []storeRef) bool {
	refAt := map[int]bool{}
	for _, r := range refs {
		refAt[r.tok] = true
	}
	lastFrom := []int{-1}
	seen := map[int]bool{}
	for i, t := range toks {
		d := len(lastFrom) - 1
		switch {
		case t.is(tkOp, "("):
			lastFrom = append(lastFrom, -1)
		case t.is(tkOp, ")"):
			if d > 0 {
				lastFrom = lastFrom[:d]
			}
		case t.kw("from") && !(i > 0 && toks[i-1].kw("distinct")):
			lastFrom[d] = i
		case refAt[i]:
			if seen[lastFrom[d]] {
				return true
			}
			seen[lastFrom[d]] = true
		}
	}
	return false
}

// plainStar reports whether the * at toks[i] is the one of count(*) or a
// multiplication, not a star that lists columns.
func plainStar(toks []token, i int) bool {
	if i >= 2 && i+1 < len(toks) && toks[i-1].is(tkOp, "(") && toks[i+1].is(tkOp, ")") &&
		toks[i-2].kind == tkIdent && asciiLower(toks[i-2].text) == "count" {
		return true
	}
	if i == 0 || i+1 >= len(toks) {
		return false
	}
	p := toks[i-1]
	switch p.kind {
	case tkNumber, tkString, tkQIdent:
	case tkIdent:
		if keywords[asciiLower(p.text)] {
			return false
		}
	default:
		switch {
		case p.is(tkOp, "]"):
		case p.is(tkOp, ")"):
			// f(...) * x, a call, not DISTINCT ON (...) *
			open := matchOpen(toks, i-1)
			if open < 1 || toks[open-1].kind != tkIdent || keywords[asciiLower(toks[open-1].text)] {
				return false
			}
		default:
			return false
		}
	}
	switch nx := toks[i+1]; nx.kind {
	case tkNumber, tkString, tkQIdent:
		return true
	case tkIdent:
		return !keywords[asciiLower(nx.text)]
	default:
		return nx.is(tkOp, "(") || nx.is(tkOp, "-") || nx.is(tkOp, "+")
	}
}

// matchOpen is the index of the "(" that the ")" at toks[close] closes,
// or -1.
func matchOpen(toks []token, close int) int {
	depth := 0
	for i := close; i >= 0; i-- {
		switch {
		case toks[i].is(tkOp, ")"):
			depth++
		case toks[i].is(tkOp, "("):
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}
