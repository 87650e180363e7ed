package journal

import (
	"database/sql"
	"fmt"
	"strings"
)

// multiInsert runs INSERTs of many rows per statement, preparing each
// (table, row count) statement once per transaction: one statement per row
// costs more in call overhead than SQLite spends storing the row.
type multiInsert struct {
	tx      *Tx
	columns int
	stmts   map[string]*sql.Stmt
}

func newMultiInsert(tx *Tx, columns int) *multiInsert {
	return &multiInsert{tx: tx, columns: columns, stmts: map[string]*sql.Stmt{}}
}

// exec runs prefix (an "INSERT ... (columns)" clause) with n rows of
// arguments.
func (m *multiInsert) exec(prefix string, n int, args []any) (sql.Result, error) {
	key := fmt.Sprint(prefix, "/", n)
	st, ok := m.stmts[key]
	if !ok {
		var b strings.Builder
		b.WriteString(prefix)
		b.WriteString(" VALUES ")
		row := "(" + strings.TrimSuffix(strings.Repeat("?,", m.columns), ",") + ")"
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(row)
		}
		var err error
		if st, err = m.tx.tx.PrepareContext(m.tx.ctx, b.String()); err != nil {
			return nil, err
		}
		m.stmts[key] = st
	}
	return st.Exec(args...)
}

func (m *multiInsert) close() {
	for _, s := range m.stmts {
		s.Close()
	}
}
