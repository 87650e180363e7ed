package lake

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// OPENTRAIL_LAKE_FLAT=off runs the tests and benchmarks without the flat
// view rewrite, to measure what it saves.
func init() {
	if os.Getenv("OPENTRAIL_LAKE_FLAT") == "off" {
		flatRewrite = false
	}
}

// SetFlatRewrite turns the flat view rewrite on or off and returns a
// function that restores the previous setting.
func SetFlatRewrite(on bool) (restore func()) {
	old := flatRewrite
	flatRewrite = on
	return func() { flatRewrite = old }
}

// FlatColumns are the flat view's leaf columns, by struct path.
func FlatColumns() map[string]string {
	m := make(map[string]string, len(flatColumn))
	for k, v := range flatColumn {
		m[k] = v
	}
	return m
}

// ddlLeaves lists the leaf fields of the STRUCT type that starts at
// def[0] (just after "STRUCT("), as path -> type.
func ddlLeaves(prefix, def string, out map[string]string) string {
	for {
		def = strings.TrimLeft(def, " \t\n,")
		if def == "" {
			return def
		}
		if def[0] == ')' {
			return def[1:]
		}
		sp := strings.IndexAny(def, " \t\n")
		name := strings.Trim(def[:sp], `"`)
		def = strings.TrimLeft(def[sp:], " \t\n")
		path := prefix + "." + name
		if strings.HasPrefix(def, "STRUCT(") {
			def = ddlLeaves(path, def[len("STRUCT("):], out)
			continue
		}
		end := strings.IndexAny(def, ",)")
		if strings.HasPrefix(def, "MAP(") {
			end = strings.Index(def, ")") + 1
		}
		out[path] = strings.TrimSpace(def[:end])
		def = def[end:]
	}
}

// TestFlatLeavesCoverSchema checks flatLeaves and flatMapPaths against
// columnsDDL: every leaf of useridentity, tlsdetails and metadata is one
// or the other, and each is a leaf there.
func TestFlatLeavesCoverSchema(t *testing.T) {
	leaves := map[string]string{}
	for s := range flatStructs {
		i := strings.Index(columnsDDL, "\t"+s+" STRUCT(")
		if i < 0 {
			t.Fatalf("%s is not a STRUCT column of columnsDDL", s)
		}
		ddlLeaves(s, columnsDDL[i+len("\t"+s+" STRUCT("):], leaves)
	}
	for path, typ := range leaves {
		switch {
		case strings.HasPrefix(typ, "MAP("):
			if !flatMapPaths[path] {
				t.Errorf("map %s is not in flatMapPaths", path)
			}
		case flatColumn[path] == "":
			t.Errorf("leaf %s (%s) is not in flatLeaves", path, typ)
		}
	}
	for _, l := range flatLeaves {
		if typ, ok := leaves[l.path]; !ok || strings.HasPrefix(typ, "MAP(") {
			t.Errorf("flatLeaves path %s is not a plain leaf of columnsDDL", l.path)
		}
	}
	for p := range flatMapPaths {
		if !strings.HasPrefix(leaves[p], "MAP(") {
			t.Errorf("flatMapPaths path %s is not a map of columnsDDL", p)
		}
	}
	if len(publicColumns) < 30 || !publicColumns["eventjsonchecksum"] || !publicColumns["useridentity"] || publicColumns["arn"] || publicColumns["type"] {
		t.Errorf("publicColumns = %v", publicColumns)
	}
}

// TestFlatViewMatchesView checks the flat view against the public view on
// the shared test data and records that fill every leaf: the same columns
// first, then only the leaf columns, each equal (and of the same type) to
// its struct path in every row.
func TestFlatViewMatchesView(t *testing.T) {
	dir := t.TempDir()
	e, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := e.CreateStore(ctx, fuzzStore); err != nil {
		t.Fatal(err)
	}
	recs := append(testRecords(t), FlatRecords...)
	if err := e.Append(ctx, fuzzStore, 1, recs); err != nil {
		t.Fatal(err)
	}
	// A lake written before the flat views gets them when opened.
	if _, err := e.db.Exec(`DROP VIEW ` + flatTable(fuzzStore)); err != nil {
		t.Fatal(err)
	}
	e.Close()
	if e, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	describe := func(table string) []string {
		rows, err := e.db.Query(`SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index`, table)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var cols []string
		for rows.Next() {
			var n, typ string
			if err := rows.Scan(&n, &typ); err != nil {
				t.Fatal(err)
			}
			cols = append(cols, n+" "+typ)
		}
		return cols
	}
	pub, flat := describe("eds_"+fuzzStore), describe("edsf_"+fuzzStore)
	if len(pub) != len(publicColumns) || len(flat) != len(pub)+len(flatLeaves) {
		t.Fatalf("public view has %d columns, flat view %d, want %d more", len(pub), len(flat), len(flatLeaves))
	}
	for i := range pub {
		if !publicColumns[strings.Fields(pub[i])[0]] {
			t.Errorf("publicColumns lacks %s", pub[i])
		}
		if pub[i] != flat[i] {
			t.Errorf("column %d: public %q, flat %q", i, pub[i], flat[i])
		}
	}
	for i, l := range flatLeaves {
		if got := flat[len(pub)+i]; !strings.HasPrefix(got, flatColumn[l.path]+" ") {
			t.Errorf("flat column %d = %q, want %s", len(pub)+i, got, flatColumn[l.path])
		}
		var diff, filled int
		var pt, ft string
		q := fmt.Sprintf(`SELECT count(*) FILTER (WHERE %s IS DISTINCT FROM %s), count(%s), any_value(typeof(%s)), any_value(typeof(%s)) FROM %s`,
			l.path, quoteIdent(flatColumn[l.path]), l.path, l.path, quoteIdent(flatColumn[l.path]), flatTable(fuzzStore))
		if err := e.db.QueryRow(q).Scan(&diff, &filled, &pt, &ft); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if diff != 0 || pt != ft {
			t.Errorf("%s: %d rows differ from %s; types %s and %s", l.path, diff, flatColumn[l.path], pt, ft)
		}
		if filled == 0 {
			t.Errorf("%s: no row has a value: the test does not check it", l.path)
		}
	}
	// Both views go with the store.
	if err := e.DropStore(ctx, fuzzStore); err != nil {
		t.Fatal(err)
	}
	if cols := describe("edsf_" + fuzzStore); len(cols) != 0 {
		t.Errorf("flat view left after DropStore: %d columns", len(cols))
	}
}

// FlatRecords fill every leaf of useridentity, tlsdetails and metadata,
// with values of every JSON kind (and resources, for lambdas).
var FlatRecords = [][]byte{
	[]byte(`{"eventVersion":"1.09","eventTime":"2024-01-02T03:04:05Z","eventSource":"sts.amazonaws.com","eventName":"AssumeRole","awsRegion":"us-east-1","eventID":"full-1",
	 "userIdentity":{"type":"AssumedRole","principalId":"AROA:s","arn":"arn:aws:sts::123456789012:assumed-role/r/s","accountId":"123456789012","accessKeyId":"ASIA1","userName":"u",
	  "sessionContext":{"attributes":{"creationDate":"2024-01-02T03:00:00Z","mfaAuthenticated":"true"},
	   "sessionIssuer":{"type":"Role","principalId":"AROA","arn":"arn:aws:iam::123456789012:role/r","accountId":"123456789012","userName":"r"},
	   "webIdFederationData":{"federatedProvider":"arn:aws:iam::123456789012:oidc-provider/x","attributes":{"a":"b","n":1}},
	   "sourceIdentity":"alice","ec2RoleDelivery":"2.0","ec2IssuedInVPC":"vpc-1"},
	  "onBehalfOf":{"userId":"u-1","identityStoreArn":"arn:aws:identitystore::123456789012:identitystore/d-1"},
	  "inScopeOf":{"sourceArn":"arn:aws:lambda:us-east-1:123456789012:function:f","sourceAccount":"123456789012","issuerType":"AWS::Lambda::Function","credentialsIssuedTo":"arn:aws:iam::123456789012:role/x"},
	  "invokedBy":"lambda.amazonaws.com","identityProvider":"idp"},
	 "resources":[{"ARN":"arn:aws:iam::123456789012:role/r","type":"AWS::IAM::Role"}],
	 "tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"sts.amazonaws.com"},
	 "metadata":{"ingestionTime":"2024-01-02T03:04:06Z","channelARN":"arn:aws:cloudtrail:us-east-1:123456789012:channel/c1"}}`),
	[]byte(`{"eventTime":"2024-01-02T03:04:06Z","eventName":"Odd","eventID":"full-2",
	 "userIdentity":{"type":1,"arn":true,"principalId":{"x":[1,2]},"accountId":null,"sessionContext":{"attributes":{"creationDate":"20240102T030405Z","mfaAuthenticated":false},
	  "sessionIssuer":{"arn":["a"]},"webIdFederationData":{"attributes":"not an object"},"ec2RoleDelivery":1.50}},
	 "tlsDetails":{"tlsVersion":12},"metadata":{"channelARN":"","ingestionTime":"x"}}`),
	[]byte(`{"eventTime":"2024-01-02T03:04:07Z","eventName":"Bare","eventID":"full-3","userIdentity":null,"tlsDetails":"TLSv1.2","metadata":[]}`),
	[]byte(`{"eventTime":"2024-01-02T03:04:08Z","eventName":"Empty","eventID":"full-4","userIdentity":{"sessionContext":{"attributes":{"creationDate":"yesterday"}}}}`),
}

func TestFlattenTranslation(t *testing.T) {
	id := fuzzStore
	tests := []struct {
		stmt string
		want string // the translation, when flattened; "" when not
	}{
		{`SELECT useridentity.arn, count(*) FROM ` + id + ` GROUP BY 1`,
			`SELECT "ot_ui_arn" AS "arn" , count ( * ) AS "_col1" FROM "edsf_` + id + `" AS "eds_` + id + `" GROUP BY 1`},
		{`select A."userIdentity"."ARN" from ` + id + ` a where a.TLSDETAILS.tlsVersion = 'x'`,
			`SELECT A . "ot_ui_arn" AS "ARN" FROM "edsf_` + id + `" a WHERE a . "ot_tls_tlsversion" = 'x'`},
		{`SELECT eventdata.useridentity.type, metadata.channelarn FROM ` + id + ` AS "M"`,
			`SELECT eventdata . useridentity . type AS "type" , "ot_md_channelarn" AS "channelarn" FROM "edsf_` + id + `" AS "M"`},
		{`SELECT count(*) * 2 FROM ` + id + ` WHERE useridentity . /* x */ sessioncontext.sessionissuer.arn IS NOT NULL`,
			`SELECT count ( * ) * 2 AS "_col0" FROM "edsf_` + id + `" AS "eds_` + id + `" WHERE "ot_ui_si_arn" IS NOT NULL`},
		{`SELECT count(*) FROM ` + id, ""},
		{`SELECT * FROM ` + id + ` WHERE useridentity.arn IS NULL`, ""},
		{`SELECT a.*, a.useridentity.arn FROM ` + id + ` a`, ""},
		{`SELECT useridentity.sessioncontext, useridentity.arn FROM ` + id, ""},
		{`SELECT useridentity.arn FROM ` + id + ` GROUP BY useridentity`, ""},
		{`SELECT useridentity.arn FROM ` + id + ` a GROUP BY a.useridentity`, ""},
		{`SELECT useridentity.arnx FROM ` + id, ""},
		{`SELECT useridentity.arn AS useridentity FROM ` + id, ""},
		{`SELECT useridentity.arn FROM ` + id + ` useridentity`, ""},
		{`SELECT useridentity.arn FROM ` + id + ` eventdata`, ""},
		{`SELECT useridentity.arn, a FROM ` + id + ` a`, ""},
		{`SELECT transform(resources, useridentity -> useridentity.arn) FROM ` + id, ""},
		{`SELECT useridentity.arn FROM ` + id + ` CROSS JOIN UNNEST(resources) AS t(useridentity)`, ""},
		{`SELECT useridentity.arn FROM (SELECT useridentity FROM ` + id + `)`, ""},
		{`WITH t AS (SELECT useridentity FROM ` + id + `) SELECT useridentity.arn FROM t`, ""},
		{`(SELECT useridentity.arn FROM ` + id + `)`, ""},
		{`SELECT useridentity.arn FROM ` + id + ` UNION BY NAME SELECT useridentity.arn FROM ` + id, ""},
		{`SELECT count(*) FROM ` + id + ` a NATURAL JOIN ` + id + ` b WHERE a.useridentity.arn IS NULL`, ""},
		{`SELECT count(*) FROM ` + id + ` a JOIN ` + id + ` b USING (eventid) WHERE a.useridentity.arn IS NULL`, ""},
		{`SELECT ot_ui_arn, useridentity.arn FROM ` + id, ""},
		{`SELECT "eds_` + id + `".useridentity.arn FROM ` + id, ""},
		{`SELECT useridentity['arn'], useridentity.arn FROM ` + id, ""},
		{`SELECT CAST(1 AS useridentity.arn), useridentity.arn FROM ` + id, ""},
		{`SELECT useridentity.arn FROM ` + id + ` AS t(a, b)`, ""},
		{`SELECT "usérIdentity".arn, useridentity.arn FROM ` + id, ""},
		{`SELECT useridentity.arn FROM ` + id + ` TABLESAMPLE 10`, ""},
		{`SELECT DISTINCT ON (eventname) * FROM ` + id + ` WHERE useridentity.arn IS NULL`, ""},
	}
	for _, tt := range tests {
		tr, err := translate(tt.stmt, fuzzResolve)
		if err != nil {
			t.Errorf("translate(%q): %v", tt.stmt, err)
			continue
		}
		restore := SetFlatRewrite(false)
		plain, err := translate(tt.stmt, fuzzResolve)
		restore()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case tt.want == "" && tr.sql != plain.sql:
			t.Errorf("translate(%q) flattened:\n%s", tt.stmt, tr.sql)
		case tt.want != "" && tr.sql != tt.want:
			t.Errorf("translate(%q) =\n%s\nwant\n%s", tt.stmt, tr.sql, tt.want)
		}
	}
}

// unflatten checks that flat, a translation flattened, differs from plain,
// the same statement's translation without the rewrite, only by what
// flatten does: store views replaced by their flat views, and paths to
// leaves by the leaf columns.
func unflatten(flat, plain string) error {
	ft, err := tokenize(flat)
	if err != nil {
		return err
	}
	pt, err := tokenize(plain)
	if err != nil {
		return err
	}
	leafPath := map[string]string{}
	for p, c := range flatColumn {
		leafPath[c] = p
	}
	i, j := 0, 0
	for i < len(ft) && j < len(pt) {
		f, p := ft[i], pt[j]
		switch {
		case f.kind == tkQIdent && strings.HasPrefix(f.text, "edsf_"):
			want := "eds_" + strings.TrimPrefix(f.text, "edsf_")
			if p.kind != tkQIdent || p.text != want {
				return fmt.Errorf("token %d: %s in place of %q", i, f.text, p.text)
			}
			if i+2 < len(ft) && ft[i+1].kw("as") && ft[i+2].kind == tkQIdent && ft[i+2].text == want {
				i += 2
			}
			i, j = i+1, j+1
		case f.kind == tkQIdent && leafPath[f.text] != "":
			var parts []string
			for {
				if !isName(pt[j]) {
					return fmt.Errorf("token %d: %s in place of %q", i, f.text, pt[j].text)
				}
				parts = append(parts, asciiLower(pt[j].text))
				if j+2 < len(pt) && pt[j+1].is(tkOp, ".") {
					j += 2
					continue
				}
				j++
				break
			}
			if path := strings.Join(parts, "."); path != leafPath[f.text] {
				return fmt.Errorf("token %d: %s in place of %s", i, f.text, path)
			}
			i++
		case f.kind != p.kind || f.text != p.text:
			return fmt.Errorf("token %d: %q in place of %q", i, f.text, p.text)
		default:
			i, j = i+1, j+1
		}
	}
	if i != len(ft) || j != len(pt) {
		return errors.New("different lengths")
	}
	return nil
}

// FuzzTranslateFlat checks the translator with the flat view rewrite: it
// accepts and refuses exactly what it does without it, reads the same
// stores, keeps FuzzTranslate's guarantees, and changes nothing but what
// flatten may change.
func FuzzTranslateFlat(f *testing.F) {
	id := fuzzStore
	seeds := []string{
		"SELECT useridentity.arn, count(*) FROM " + id + " WHERE errorcode = 'AccessDenied' GROUP BY 1 ORDER BY 2 DESC",
		"SELECT a.useridentity.sessioncontext.sessionissuer.arn FROM " + id + " a JOIN " + id + " b ON a.eventid = b.eventid WHERE b.tlsdetails.tlsversion IS NOT NULL",
		"select \"UserIdentity\".\"Type\", METADATA.channelarn from " + id + " x where x.useridentity.arn like '%a%' having count(*) > 1",
		"SELECT useridentity.arn FROM " + id + " WHERE useridentity.arn IN (SELECT useridentity.arn FROM " + id + " o)",
		"SELECT element_at(useridentity.sessioncontext.webidfederationdata.attributes, 'a'), useridentity.type FROM " + id,
		"SELECT count(*) * 2, max(useridentity.sessioncontext.attributes.creationdate) FROM " + id,
		"SELECT useridentity.arn AS useridentity FROM " + id,
		"SELECT transform(resources, r -> r.arn), useridentity.arn FROM " + id,
		"SELECT * FROM " + id + " WHERE useridentity.arn IS NULL",
		"SELECT useridentity.arn FROM " + id + " a, " + id + " b WHERE a.eventid = b.eventid",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, stmt string) {
		tr, err := translate(stmt, fuzzResolve)
		restore := SetFlatRewrite(false)
		plain, perr := translate(stmt, fuzzResolve)
		restore()
		if (err == nil) != (perr == nil) || err != nil && err.Error() != perr.Error() {
			t.Fatalf("translate(%q): %v with the rewrite, %v without", stmt, err, perr)
		}
		if err != nil {
			var qe *QueryError
			if !errors.As(err, &qe) {
				t.Fatalf("translate(%q) error %T %v, want *QueryError", stmt, err, err)
			}
			return
		}
		if fmt.Sprint(tr.stores) != fmt.Sprint(plain.stores) {
			t.Fatalf("translate(%q) reads %v with the rewrite, %v without", stmt, tr.stores, plain.stores)
		}
		checkOutput(t, stmt, tr.sql)
		if tr.sql == plain.sql {
			return
		}
		if err := unflatten(tr.sql, plain.sql); err != nil {
			t.Fatalf("translate(%q): %v\nflat:  %s\nplain: %s", stmt, err, tr.sql, plain.sql)
		}
		// What flatten refuses outright never reaches the flat view.
		in, _ := tokenize(stmt)
		for i, tk := range in {
			if tk.is(tkOp, "->") || tk.is(tkOp, "*") && !plainStar(in, i) || tk.kind == tkIdent && flatRefused[asciiLower(tk.text)] {
				t.Fatalf("translate(%q) flattened a statement with %s:\n%s", stmt, tk.text, tr.sql)
			}
		}
	})
}
