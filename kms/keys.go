package kms

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/journal"
)

// Key describes a KMS key.
type Key struct {
	ARN     string
	ID      string
	Account string
	Region  string
	// State is StateEnabled, StateDisabled or StatePendingDeletion.
	State       string
	Description string
	// Manager is "CUSTOMER", or "AWS" for the AWS managed key aws/s3.
	Manager string
	Created time.Time
	// DeletionDate is set when State is StatePendingDeletion.
	DeletionDate time.Time
}

// keyRow is a key as stored.
type keyRow struct {
	seq         int64
	id, arn     string
	account     string
	region      string
	description string
	state       string
	manager     string
	policy      string
	tags        string
	material    []byte
	created     int64
	deletion    int64
	pendingDays int
}

func (k *keyRow) key() *Key {
	out := &Key{ARN: k.arn, ID: k.id, Account: k.account, Region: k.region, State: k.state,
		Description: k.description, Manager: k.manager, Created: time.UnixMilli(k.created).UTC()}
	if k.deletion > 0 {
		out.DeletionDate = time.UnixMilli(k.deletion).UTC()
	}
	return out
}

const keyColumns = "seq, id, arn, account, region, description, state, manager, policy, tags, material, created, deletion, pending_days"

type scanner interface{ Scan(dest ...any) error }

func scanKey(r scanner) (*keyRow, error) {
	var k keyRow
	err := r.Scan(&k.seq, &k.id, &k.arn, &k.account, &k.region, &k.description, &k.state, &k.manager,
		&k.policy, &k.tags, &k.material, &k.created, &k.deletion, &k.pendingDays)
	if err != nil {
		return nil, err
	}
	return &k, nil
}

// querier is what both a journal.Tx and the read pool offer.
type querier interface {
	QueryRow(query string, args ...any) *sql.Row
	Query(query string, args ...any) (*sql.Rows, error)
}

type readConn struct {
	ctx context.Context
	db  *sql.DB
}

func (r readConn) QueryRow(q string, args ...any) *sql.Row {
	return r.db.QueryRowContext(r.ctx, q, args...)
}

func (r readConn) Query(q string, args ...any) (*sql.Rows, error) {
	return r.db.QueryContext(r.ctx, q, args...)
}

func (s *Service) reader(ctx context.Context) querier { return readConn{ctx, s.db.Reader()} }

func keyARN(region, account, id string) string {
	return "arn:" + opentrail.Partition + ":kms:" + region + ":" + account + ":key/" + id
}

func aliasARN(region, account, name string) string {
	return "arn:" + opentrail.Partition + ":kms:" + region + ":" + account + ":" + name
}

var keyIDPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// ref is a parsed key reference.
type ref struct {
	account, region string
	keyID           string // set for key IDs and key ARNs
	alias           string // alias/...: set for alias names and alias ARNs
	isARN           bool
}

func (r ref) String() string {
	if r.alias != "" {
		return aliasARN(r.region, r.account, r.alias)
	}
	return keyARN(r.region, r.account, r.keyID)
}

// parseRef parses a key ID, key ARN, alias name or alias ARN; names are
// in the given account and region.
func parseRef(s, account, region string) (ref, error) {
	if strings.HasPrefix(s, "arn:") {
		a, ok := opentrail.ParseARN(s)
		if !ok || a.Service != "kms" || !opentrail.ValidAccountID(a.AccountID) || a.Region == "" {
			return ref{}, kmsError(codeInvalidArn, "Invalid arn %s", s)
		}
		r := ref{account: a.AccountID, region: a.Region, isARN: true}
		switch {
		case strings.HasPrefix(a.Resource, "key/"):
			r.keyID = strings.TrimPrefix(a.Resource, "key/")
		case strings.HasPrefix(a.Resource, "alias/") && len(a.Resource) > len("alias/"):
			r.alias = a.Resource
		default:
			return ref{}, kmsError(codeInvalidArn, "Invalid arn %s", s)
		}
		return r, nil
	}
	r := ref{account: account, region: region}
	if strings.HasPrefix(s, "alias/") && len(s) > len("alias/") {
		r.alias = s
		return r, nil
	}
	if !keyIDPattern.MatchString(s) {
		return ref{}, notFound("Invalid keyId '%s'", truncate(s, 256))
	}
	r.keyID = s
	return r, nil
}

// managedS3Alias is the alias of the AWS managed key S3 uses when a
// PutObject asks for aws:kms without naming a key.
const managedS3Alias = "alias/aws/s3"

// lookup finds the key a reference names. Keys past their deletion date
// are not found. A reference to alias/aws/s3 creates that AWS managed key
// when create is set and it does not exist yet.
func (s *Service) lookup(ctx context.Context, q querier, r ref, create bool) (*keyRow, error) {
	var (
		k   *keyRow
		err error
	)
	if r.alias != "" {
		k, err = scanKey(q.QueryRow("SELECT "+prefixed("k.", keyColumns)+` FROM kms_aliases a JOIN kms_keys k ON k.id = a.key_id
			WHERE a.account = ? AND a.region = ? AND a.name = ?`, r.account, r.region, r.alias))
		if errors.Is(err, sql.ErrNoRows) && create && r.alias == managedS3Alias && opentrail.ValidAccountID(r.account) && opentrail.ValidRegionName(r.region) {
			if err = s.createManaged(ctx, r.account, r.region); err == nil {
				return s.lookup(ctx, s.reader(ctx), r, false)
			}
		}
		if errors.Is(err, sql.ErrNoRows) {
			return nil, wrap(ErrNotFound, notFound("Alias '%s' is not found.", r))
		}
	} else {
		k, err = scanKey(q.QueryRow("SELECT "+keyColumns+" FROM kms_keys WHERE id = ?", r.keyID))
		if err == nil && (k.account != r.account || k.region != r.region) {
			err = sql.ErrNoRows
		}
		if errors.Is(err, sql.ErrNoRows) {
			return nil, wrap(ErrNotFound, notFound("Key '%s' does not exist", r))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("look up key %s: %w", r, err)
	}
	if s.expired(k) {
		return nil, wrap(ErrNotFound, notFound("Key '%s' does not exist", k.arn))
	}
	return k, nil
}

// expired reports whether k's deletion date has passed.
func (s *Service) expired(k *keyRow) bool {
	return k.state == StatePendingDeletion && k.deletion > 0 && k.deletion <= s.now().UnixMilli()
}

func prefixed(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}

// usable returns the error of using k for cryptography: nil when enabled.
func usable(k *keyRow) error {
	switch k.state {
	case StateEnabled:
		return nil
	case StateDisabled:
		return wrap(ErrDisabled, kmsError(codeDisabled, "%s is disabled.", k.arn))
	case StatePendingDeletion:
		return wrap(ErrPendingDeletion, kmsError(codeInvalidState, "%s is pending deletion.", k.arn))
	}
	return kmsError(codeInvalidState, "%s is %s.", k.arn, k.state)
}

// newKeyRow makes a new key with fresh material.
func (s *Service) newKeyRow(account, region, description, manager, policy, tags string) *keyRow {
	id := uuid.NewString()
	arn := keyARN(region, account, id)
	material := make([]byte, 32)
	if _, err := rand.Read(material); err != nil {
		panic(err)
	}
	sealed := s.seal(material, []byte(arn))
	clear(material)
	return &keyRow{id: id, arn: arn, account: account, region: region, description: description,
		state: StateEnabled, manager: manager, policy: policy, tags: tags, material: sealed,
		created: s.now().UnixMilli()}
}

func insertKey(tx *journal.Tx, k *keyRow) error {
	res, err := tx.Exec(`INSERT INTO kms_keys (id, arn, account, region, description, state, manager, policy, tags, material, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.id, k.arn, k.account, k.region, k.description, k.state, k.manager, k.policy, k.tags, k.material, k.created)
	if err != nil {
		return fmt.Errorf("insert key: %w", err)
	}
	k.seq, _ = res.LastInsertId()
	return nil
}

// createManaged creates the AWS managed key aws/s3 of an account and region
// if it does not exist.
func (s *Service) createManaged(ctx context.Context, account, region string) error {
	k := s.newKeyRow(account, region, "Default key that protects my S3 objects when no other key is defined", "AWS",
		managedS3Policy(account, region), "[]")
	return s.db.Update(ctx, func(tx *journal.Tx) error {
		var n int
		if err := tx.QueryRow("SELECT count(*) FROM kms_aliases WHERE account = ? AND region = ? AND name = ?",
			account, region, managedS3Alias).Scan(&n); err != nil || n > 0 {
			return err
		}
		if err := insertKey(tx, k); err != nil {
			return err
		}
		_, err := tx.Exec("INSERT INTO kms_aliases (account, region, name, key_id, created, updated) VALUES (?, ?, ?, ?, ?, ?)",
			account, region, managedS3Alias, k.id, k.created, k.created)
		return err
	})
}

// DefaultPolicy is the key policy KMS gives a key created without one:
// the account's root may do everything, which delegates the key to the
// account's IAM policies.
func DefaultPolicy(account string) string {
	return `{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:aws:iam::` + account + `:root"
    },
    "Action" : "kms:*",
    "Resource" : "*"
  } ]
}`
}

// managedS3Policy is the policy of the AWS managed key aws/s3: principals
// of the account may use it through S3, and read its metadata directly.
func managedS3Policy(account, region string) string {
	b, _ := json.MarshalIndent(map[string]any{
		"Version": "2012-10-17",
		"Id":      "auto-s3-2",
		"Statement": []any{
			map[string]any{
				"Sid":       "Allow access through S3 for all principals in the account that are authorized to use S3",
				"Effect":    "Allow",
				"Principal": map[string]any{"AWS": "*"},
				"Action":    []string{"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"},
				"Resource":  "*",
				"Condition": map[string]any{"StringEquals": map[string]string{
					"kms:CallerAccount": account, "kms:ViaService": "s3." + region + ".amazonaws.com"}},
			},
			map[string]any{
				"Sid":       "Allow direct access to key metadata to the account",
				"Effect":    "Allow",
				"Principal": map[string]any{"AWS": "arn:aws:iam::" + account + ":root"},
				"Action":    []string{"kms:Describe*", "kms:Get*", "kms:List*"},
				"Resource":  "*",
			},
		},
	}, "", "  ")
	return string(b)
}

// Key returns the key ref names: a key ID or alias name in account and
// region, or a key ARN or alias ARN. It fails with an error wrapping
// ErrNotFound when there is no such key (or it was deleted). For a
// disabled key or one pending deletion it returns the key and an error
// wrapping ErrDisabled or ErrPendingDeletion. The reference alias/aws/s3
// creates the AWS managed key when it does not exist yet, as S3's first
// use of it does.
func (s *Service) Key(ctx context.Context, keyRef, account, region string) (*Key, error) {
	r, err := parseRef(keyRef, account, region)
	if err != nil {
		return nil, wrap(ErrNotFound, err)
	}
	k, err := s.lookup(ctx, s.reader(ctx), r, true)
	if err != nil {
		return nil, err
	}
	return k.key(), usable(k)
}

// keyByRef resolves a reference without an account: key IDs are unique
// across accounts; alias names need an ARN.
func (s *Service) keyByRef(ctx context.Context, keyRef string) (*keyRow, error) {
	if keyIDPattern.MatchString(keyRef) {
		k, err := scanKey(s.reader(ctx).QueryRow("SELECT "+keyColumns+" FROM kms_keys WHERE id = ?", keyRef))
		if errors.Is(err, sql.ErrNoRows) {
			return nil, wrap(ErrNotFound, notFound("Invalid keyId '%s'", keyRef))
		}
		if err != nil {
			return nil, err
		}
		if s.expired(k) {
			return nil, wrap(ErrNotFound, notFound("Key '%s' does not exist", k.arn))
		}
		return k, nil
	}
	if !strings.HasPrefix(keyRef, "arn:") {
		return nil, wrap(ErrNotFound, notFound("Invalid keyId '%s': an alias name needs its ARN here", truncate(keyRef, 256)))
	}
	r, err := parseRef(keyRef, "", "")
	if err != nil {
		return nil, wrap(ErrNotFound, err)
	}
	return s.lookup(ctx, s.reader(ctx), r, true)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// KeyARN is Key's ARN: it resolves keyRef (a key ID or alias name in
// account and region, or an ARN) and fails as Key does, also for a key
// that is disabled or pending deletion.
func (s *Service) KeyARN(ctx context.Context, keyRef, account, region string) (string, error) {
	k, err := s.Key(ctx, keyRef, account, region)
	if k == nil {
		return "", err
	}
	return k.ARN, err
}
