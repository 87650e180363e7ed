package lake

import "context"

// RawQuery runs sql on the query pool without the translator, to test the
// DuckDB sandbox on its own.
func RawQuery(e *Engine, sql string) error {
	rows, err := e.queries.QueryContext(context.Background(), sql)
	if err != nil {
		return err
	}
	for rows.Next() {
	}
	err = rows.Err()
	rows.Close()
	return err
}
