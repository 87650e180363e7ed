package lake_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opentrail/opentrail/lake"
)

func TestForbiddenStatements(t *testing.T) {
	dir := t.TempDir()
	e := mustOpen(t, dir)
	ctx := context.Background()
	if err := e.CreateStore(ctx, storeID); err != nil {
		t.Fatal(err)
	}
	if err := e.CreateStore(ctx, otherID); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(dir, "secret.csv")
	os.WriteFile(secret, []byte("a,b\n1,2\n"), 0o600)
	id := storeID
	tests := []struct{ stmt, want string }{
		{"", "empty"},
		{"   -- nothing\n", "empty"},
		{"DROP TABLE " + id, "only SELECT"},
		{"DELETE FROM " + id, "only SELECT"},
		{"INSERT INTO " + id + " SELECT * FROM " + id, "only SELECT"},
		{"UPDATE " + id + " SET eventname = 'x'", "only SELECT"},
		{"CREATE TABLE x AS SELECT * FROM " + id, "only SELECT"},
		{"COPY (SELECT 1) TO '/tmp/x.csv'", "only SELECT"},
		{"ATTACH '/tmp/x.db' AS x", "only SELECT"},
		{"DETACH x", "only SELECT"},
		{"INSTALL httpfs", "only SELECT"},
		{"LOAD httpfs", "only SELECT"},
		{"SET enable_external_access = true", "only SELECT"},
		{"RESET lock_configuration", "only SELECT"},
		{"PRAGMA database_list", "only SELECT"},
		{"CALL pragma_version()", "only SELECT"},
		{"EXPORT DATABASE '/tmp/x'", "only SELECT"},
		{"IMPORT DATABASE '/tmp/x'", "only SELECT"},
		{"VACUUM", "only SELECT"},
		{"CHECKPOINT", "only SELECT"},
		{"BEGIN TRANSACTION", "only SELECT"},
		{"DESCRIBE " + id, "only SELECT"},
		{"SUMMARIZE " + id, "only SELECT"},
		{"FROM " + id, "only SELECT"},
		{"SELECT 1; DROP TABLE " + id, "only one statement"},
		{"SELECT * FROM " + id + "; SELECT 1", "only one statement"},
		{"SELECT * FROM read_csv('" + secret + "')", "table function read_csv"},
		{"SELECT * FROM read_csv_auto('/etc/passwd')", "table function"},
		{"SELECT * FROM read_parquet('/tmp/x.parquet')", "table function"},
		{"SELECT * FROM read_json('/tmp/x.json')", "table function"},
		{"SELECT * FROM read_text('/etc/passwd')", "table function"},
		{"SELECT * FROM glob('/*')", "expected an event data store"},
		{"SELECT * FROM '/etc/passwd'", "expected an event data store"},
		{`SELECT * FROM "/etc/passwd"`, "not found"},
		{"SELECT * FROM duckdb_settings()", "table function"},
		{"SELECT * FROM duckdb_tables", "not found"},
		{"SELECT * FROM information_schema.tables", "qualified table names"},
		{"SELECT * FROM lake_stores", "not found"},
		{"SELECT * FROM results.q_x", "qualified table names"},
		{"SELECT * FROM " + id + " WHERE eventname IN (SELECT name FROM pragma_table_info('x'))", "table function"},
		{"SELECT current_setting('enable_external_access') FROM " + id, "function current_setting is not supported"},
		{"SELECT getvariable('x') FROM " + id, "GETVARIABLE is not allowed"},
		{"SELECT read_blob('/etc/passwd') FROM " + id, "function read_blob"},
		{"SELECT eventname.read_text() FROM " + id, "method-style calls"},
		{"SELECT * FROM " + id + " WHERE eventname = ?", "unexpected character"},
		{"SELECT $$x$$ FROM " + id, "unexpected character"},
		{"SELECT * FROM " + id + " JOIN query_table('lake_stores') ON true", "expected an event data store"},
		{"SELECT * FROM " + id + " JOIN sqlite_scan('x', 'y') ON true", "table function sqlite_scan"},
		{"SELECT * INTO x FROM " + id, "INTO is not allowed"},
		{"WITH x AS (DELETE FROM " + id + " RETURNING *) SELECT * FROM x", "DELETE is not allowed"},
		{"SELECT * FROM (TABLE " + id + ")", "TABLE is not allowed"},
		{"SELECT * FROM (PIVOT " + id + " ON eventname)", "PIVOT is not allowed"},
		{"SELECT * FROM 00000000-0000-0000-0000-000000000000", "not found"},
		{"SELECT * FROM arn:aws:cloudtrail:us-east-1:999999999999:eventdatastore/" + id, "not found"},
		{"SELECT 1", "at least one event data store"},
		{"SELECT * FROM " + id + " a JOIN " + id + " b ON true, lake_stores", "not found"},
		{"SELECT * FROM " + id + " a JOIN " + id + " b USING (eventid), duckdb_settings", "not found"},
		{"SELECT * FROM (WITH lake_stores AS (SELECT 1 FROM " + id + ") SELECT * FROM lake_stores) x, lake_stores", "lake_stores"},
		{"WITH duckdb_settings AS (SELECT 1 FROM " + id + ") SELECT * FROM (SELECT * FROM duckdb_settings()) x", "table function"},
		{"SELECT * FROM " + id + " WHERE eventname = '" + id + "' AND " + id + " IS NULL", "may only appear after FROM"},
		{"SELECT * FROM " + id + " WHERE (((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((1)))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))", "nested too deeply"},
		{"SELECT '" + strings.Repeat("x", 10001) + "' FROM " + id, "longer than 10000"},
		{"SELECT * FROM " + id + " WHERE eventname = 'x", "unterminated"},
		{"SELECT * FROM " + id + " /* x", "unterminated comment"},
		{"SELECT (1 FROM " + id, "missing )"},
		{"SELECT nosuchfunction(1) FROM " + id, "function nosuchfunction is not supported"},
		{"SELECT nosuchcolumn FROM " + id, "nosuchcolumn"},
	}
	for _, tt := range tests {
		res, err := e.Query(ctx, tt.stmt, resolver(storeID), lake.QueryOptions{ID: queryID()})
		var qe *lake.QueryError
		if !errors.As(err, &qe) {
			t.Errorf("Query(%.80q) = %+v, %v; want QueryError", tt.stmt, res, err)
			continue
		}
		if !strings.Contains(qe.Message, tt.want) {
			t.Errorf("Query(%.80q) error %q, want it to mention %q", tt.stmt, qe.Message, tt.want)
		}
	}
	// Nothing changed: both stores are still there.
	ids, err := e.Stores(ctx)
	if err != nil || len(ids) != 2 {
		t.Errorf("Stores after hostile queries = %v, %v", ids, err)
	}
}

// TestSandbox checks DuckDB's own sandbox on the query connections, as if
// the translator had been bypassed.
func TestSandbox(t *testing.T) {
	dir := t.TempDir()
	e := mustOpen(t, dir)
	secret := filepath.Join(dir, "secret.csv")
	if err := os.WriteFile(secret, []byte("a,b\n1,2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	refused := []string{
		"SELECT * FROM read_csv('" + secret + "')",
		"SELECT * FROM '" + secret + "'",
		"SELECT * FROM read_text('/etc/passwd')",
		"SELECT * FROM glob('/etc/*')",
		"COPY (SELECT 42) TO '" + filepath.Join(dir, "out.csv") + "'",
		"ATTACH '" + filepath.Join(dir, "x.db") + "' AS x",
		"INSTALL httpfs",
		"LOAD httpfs",
		"SET enable_external_access = true",
		"SET lock_configuration = false",
		"RESET enable_external_access",
		"SET memory_limit = '1TB'",
	}
	for _, q := range refused {
		if err := lake.RawQuery(e, q); err == nil {
			t.Errorf("raw %q succeeded, want the sandbox to refuse it", q)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out.csv")); err == nil {
		t.Error("COPY wrote a file")
	}
	if err := lake.RawQuery(e, "SELECT 1"); err != nil {
		t.Errorf("SELECT 1: %v", err)
	}
}
