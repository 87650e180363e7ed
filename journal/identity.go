package journal

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/opentrail/opentrail"
)

// CreateAccount adds an account. It is not an error if it exists.
func (tx *Tx) CreateAccount(id string, now time.Time) error {
	_, err := tx.Exec("INSERT INTO accounts (id, created) VALUES (?, ?) ON CONFLICT (id) DO NOTHING", id, now.Unix())
	if err != nil {
		return fmt.Errorf("create account %s: %w", id, err)
	}
	return nil
}

// AccountExists reports whether the account exists.
func (db *DB) AccountExists(ctx context.Context, id string) (bool, error) {
	var n int
	if err := db.rdb.QueryRowContext(ctx, "SELECT count(*) FROM accounts WHERE id = ?", id).Scan(&n); err != nil {
		return false, fmt.Errorf("find account %s: %w", id, err)
	}
	return n > 0, nil
}

// Accounts lists every account ID.
func (db *DB) Accounts(ctx context.Context) ([]string, error) {
	rows, err := db.rdb.QueryContext(ctx, "SELECT id FROM accounts ORDER BY created, id")
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("list accounts: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// PutAccessKey stores an access key, replacing one with the same ID.
func (tx *Tx) PutAccessKey(k *opentrail.AccessKey, now time.Time) error {
	status := opentrail.KeyInactive
	if k.Active {
		status = opentrail.KeyActive
	}
	_, err := tx.Exec(`INSERT INTO access_keys (id, secret, account, principal_type, principal_name, principal_id, status, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET secret = excluded.secret, account = excluded.account,
			principal_type = excluded.principal_type, principal_name = excluded.principal_name,
			principal_id = excluded.principal_id, status = excluded.status`,
		k.ID, k.Secret, k.Principal.AccountID, k.Principal.Type, k.Principal.Name, k.Principal.PrincipalID, status, now.Unix())
	if err != nil {
		return fmt.Errorf("store access key: %w", err)
	}
	return nil
}

// AccessKey returns the access key with the given ID, or nil when there is none.
func (db *DB) AccessKey(ctx context.Context, id string) (*opentrail.AccessKey, error) {
	k := &opentrail.AccessKey{ID: id}
	var status string
	err := db.rdb.QueryRowContext(ctx, `SELECT secret, account, principal_type, principal_name, principal_id, status
		FROM access_keys WHERE id = ?`, id).Scan(&k.Secret, &k.Principal.AccountID, &k.Principal.Type,
		&k.Principal.Name, &k.Principal.PrincipalID, &status)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find access key: %w", err)
	}
	k.Active = status == opentrail.KeyActive
	k.Principal.AccessKeyID = id
	return k, nil
}

// RootAccessKeys lists the active root keys of an account, oldest first.
func (db *DB) RootAccessKeys(ctx context.Context, account string) ([]*opentrail.AccessKey, error) {
	rows, err := db.rdb.QueryContext(ctx, `SELECT id FROM access_keys
		WHERE account = ? AND principal_type = ? AND status = ? ORDER BY created, id`,
		account, opentrail.PrincipalRoot, opentrail.KeyActive)
	if err != nil {
		return nil, fmt.Errorf("list access keys: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list access keys: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	var out []*opentrail.AccessKey
	for _, id := range ids {
		k, err := db.AccessKey(ctx, id)
		if err != nil {
			return nil, err
		}
		if k != nil {
			out = append(out, k)
		}
	}
	return out, nil
}

// Setting returns a stored setting and whether it exists.
func (db *DB) Setting(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := db.rdb.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", key).Scan(&v)
	if err == sql.ErrNoRows {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read setting %s: %w", key, err)
	}
	return v, true, nil
}

// SetSetting stores a setting.
func (tx *Tx) SetSetting(key, value string) error {
	_, err := tx.Exec("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value)
	if err != nil {
		return fmt.Errorf("store setting %s: %w", key, err)
	}
	return nil
}
