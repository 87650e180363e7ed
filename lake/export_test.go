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

// CopyEvents adds copies-1 copies of the events of store id to it, so a
// benchmark can reach sizes that importing would take too long to build.
func CopyEvents(e *Engine, id string, copies int) error {
	var n int64
	if err := e.db.QueryRow(`SELECT count(*) FROM ` + dataTable(id)).Scan(&n); err != nil {
		return err
	}
	for i := 1; i < copies; i++ {
		if _, err := e.db.Exec(`INSERT INTO `+dataTable(id)+` SELECT * FROM `+dataTable(id)+` WHERE rowid < ?`, n); err != nil {
			return err
		}
	}
	_, err := e.db.Exec(`UPDATE lake_stores SET events = events * ?, bytes = bytes * ? WHERE id = ?`, copies, copies, id)
	return err
}
