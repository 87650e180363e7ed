package lake

import (
	"errors"
	"strings"
	"testing"
)

const fuzzStore = "4b2e1f9c-0a1b-4c2d-8e3f-112233445566"

func fuzzResolve(ref string) (string, error) {
	if strings.EqualFold(ref, fuzzStore) || strings.HasSuffix(ref, ":eventdatastore/"+fuzzStore) {
		return fuzzStore, nil
	}
	return "", errors.New("not found")
}

// FuzzTranslate checks that the translator never panics, returns only
// QueryErrors, and that what it accepts is one read-only statement that
// calls only allowed functions and reads only resolved stores.
func FuzzTranslate(f *testing.F) {
	seeds := []string{
		"SELECT eventName, count(*) FROM " + fuzzStore + " GROUP BY 1",
		"SELECT element_at(requestParameters, 'bucketName') FROM arn:aws:cloudtrail:us-east-1:123456789012:eventdatastore/" + fuzzStore,
		"WITH t(a) AS (SELECT 1 FROM " + fuzzStore + ") SELECT a FROM t",
		"SELECT * FROM " + fuzzStore + " CROSS JOIN UNNEST(resources) AS t(r) WHERE r.arn LIKE '%x%'",
		"SELECT EXTRACT(year FROM eventtime), date_format(eventtime, '%Y %i') FROM " + fuzzStore,
		"SELECT * FROM read_csv('/etc/passwd')",
		"SELECT 1; DROP TABLE x",
		"SELECT \"a\"\"b\", 'c''d' FROM " + fuzzStore + " -- x\n/* y */",
		"SELECT x FROM (SELECT y FROM " + fuzzStore + ") , " + fuzzStore + " z WHERE a IS NOT DISTINCT FROM b",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, stmt string) {
		tr, err := translate(stmt, fuzzResolve)
		if err != nil {
			var qe *QueryError
			if !errors.As(err, &qe) {
				t.Fatalf("translate(%q) error %T %v, want *QueryError", stmt, err, err)
			}
			return
		}
		checkOutput(t, stmt, tr.sql)
		if len(tr.stores) == 0 {
			t.Fatalf("accepted %q without a store", stmt)
		}
	})
}

// allowedFunctions are the DuckDB functions translated statements call.
var allowedFunctions = func() map[string]bool {
	m := map[string]bool{}
	for _, fn := range functions {
		m[fn] = true
	}
	return m
}()

// checkOutput checks that sql, the translation of stmt, is one statement
// that calls only allowed functions and reads only fuzzStore's views.
func checkOutput(t *testing.T, stmt, sql string) {
	t.Helper()
	toks, err := tokenize(sql)
	if err != nil {
		t.Fatalf("output of %q does not tokenize: %v\n%s", stmt, err, sql)
	}
	for i, tk := range toks {
		l := strings.ToLower(tk.text)
		switch tk.kind {
		case tkIdent:
			if forbidden[l] {
				t.Fatalf("output of %q contains %s:\n%s", stmt, tk.text, sql)
			}
			if i+1 < len(toks) && toks[i+1].is(tkOp, "(") && !keywords[l] && !allowedFunctions[l] && !(i > 0 && toks[i-1].kw("as")) {
				// a CTE name with a column list is the only other case
				if !(i > 0 && (toks[i-1].kw("with") || toks[i-1].kw("recursive") || toks[i-1].is(tkOp, ","))) {
					t.Fatalf("output of %q calls %s:\n%s", stmt, tk.text, sql)
				}
			}
		case tkQIdent:
			if (strings.HasPrefix(l, "eds_") || strings.HasPrefix(l, "edsd_") || strings.HasPrefix(l, "edsf_")) && l != "eds_"+fuzzStore && l != "edsf_"+fuzzStore {
				t.Fatalf("output of %q reads %s", stmt, tk.text)
			}
		case tkOp:
			if tk.text == ";" {
				t.Fatalf("output of %q has a semicolon", stmt)
			}
		case tkRef:
			t.Fatalf("output of %q keeps a raw store reference", stmt)
		}
	}
}
