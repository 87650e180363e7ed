// Package kms is opentrail's embedded AWS Key Management Service: the
// symmetric keys that encrypt trails' log files (SSE-KMS, see package
// blob/sse) and that clients use directly through KMS's API.
//
// It speaks KMS's awsJson1_1 protocol (X-Amz-Target TrentService.<Op>,
// SigV4 signing name kms), so the AWS CLI and SDKs work against it
// unchanged. It implements CreateKey (SYMMETRIC_DEFAULT ENCRYPT_DECRYPT keys
// only), DescribeKey, ListKeys, EnableKey, DisableKey, ScheduleKeyDeletion,
// CancelKeyDeletion, CreateAlias, ListAliases, DeleteAlias, Encrypt,
// Decrypt, GenerateDataKey, GetKeyPolicy and PutKeyPolicy. Every other KMS
// operation is refused with UnsupportedOperationException naming it.
//
// Keys, aliases and policies live in the journal's SQLite database (see
// Migrations); every state change commits in the same transaction as the
// CloudTrail record of the call that made it. Key material is 32 random
// bytes per key, stored only sealed with AES-256-GCM under the
// key-encryption key given in Options (bound to the key's ARN), and never
// logged or recorded. Ciphertext blobs are opentrail's own self-describing
// format (see ciphertext.go): the key ID, a nonce and the AES-256-GCM sealed
// plaintext, with the encryption context as additional authenticated data,
// so Decrypt needs no KeyId.
//
// Authorization: each call on a key needs both the API front's consent
// (svc.Call's Authorize for "kms:<Op>" on the key ARN) and the key policy's,
// as KMS combines them: a key policy statement that names the caller
// directly suffices on its own in the key's account; one that names the
// caller's account delegates to IAM (the default key policy does); an
// explicit Deny in the key policy refuses everyone it names. Policies are
// evaluated by package iam.
//
// Keys scheduled for deletion are deleted when their window ends: Run
// deletes them (recording KMS's DeleteKey AwsServiceEvent), and until it
// has, they are treated as deleted already.
package kms

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/journal"
)

// Migrations are the package's tables; pass them in journal.Options.
var Migrations = []journal.Migration{{Name: "kms/1", SQL: schema1}}

const schema1 = `
CREATE TABLE kms_keys (
	seq          INTEGER PRIMARY KEY,   -- creation order: the ListKeys marker
	id           TEXT NOT NULL UNIQUE,  -- UUID key ID
	arn          TEXT NOT NULL UNIQUE,
	account      TEXT NOT NULL,
	region       TEXT NOT NULL,
	description  TEXT NOT NULL,
	state        TEXT NOT NULL,         -- Enabled, Disabled or PendingDeletion
	manager      TEXT NOT NULL,         -- CUSTOMER, or AWS for aws/<service> keys
	policy       TEXT NOT NULL,
	tags         TEXT NOT NULL,         -- JSON list of {TagKey, TagValue}
	material     BLOB NOT NULL,         -- 32-byte key, sealed under the key-encryption key
	created      INTEGER NOT NULL,      -- unix milliseconds
	deletion     INTEGER NOT NULL DEFAULT 0, -- unix milliseconds the key is deleted at, when PendingDeletion
	pending_days INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX kms_keys_scope ON kms_keys (account, region, seq);
CREATE INDEX kms_keys_deletion ON kms_keys (deletion) WHERE deletion > 0;
CREATE TABLE kms_aliases (
	account  TEXT NOT NULL,
	region   TEXT NOT NULL,
	name     TEXT NOT NULL,             -- alias/...
	key_id   TEXT NOT NULL,
	created  INTEGER NOT NULL,          -- unix milliseconds
	updated  INTEGER NOT NULL,
	PRIMARY KEY (account, region, name)
);
CREATE INDEX kms_aliases_key ON kms_aliases (key_id);
CREATE TABLE kms_kek (
	id    INTEGER PRIMARY KEY CHECK (id = 1),
	check_value BLOB NOT NULL           -- a known text sealed under the key-encryption key
);
`

// Key states, as KMS names them.
const (
	StateEnabled         = "Enabled"
	StateDisabled        = "Disabled"
	StatePendingDeletion = "PendingDeletion"
)

// Errors of the internal API (Key, GenerateDataKey, Decrypt, AuthorizeUse).
// They come wrapped together with an *opentrail.Error carrying KMS's error
// code and message, so that callers can both test them with errors.Is and
// pass the error on to a client.
var (
	// ErrNotFound: no such key or alias (or the key was deleted). A
	// trail answers KmsKeyNotFoundException, S3 KMS.NotFoundException.
	ErrNotFound = errors.New("kms: key not found")
	// ErrDisabled: the key is disabled. A trail answers
	// KmsKeyDisabledException, S3 KMS.DisabledException; delivery fails
	// until the key is enabled again.
	ErrDisabled = errors.New("kms: key is disabled")
	// ErrPendingDeletion: the key is scheduled for deletion (S3
	// KMS.KMSInvalidStateException). CancelKeyDeletion makes it usable
	// again, once enabled.
	ErrPendingDeletion = errors.New("kms: key is pending deletion")
	// ErrInvalidCiphertext: the blob is not a ciphertext of this service,
	// was altered, or the encryption context does not match.
	ErrInvalidCiphertext = errors.New("kms: invalid ciphertext")
)

// Options configure a Service.
type Options struct {
	// DB holds the keys; its Options must have included Migrations.
	// Required.
	DB *journal.DB
	// KEK is the 32-byte key-encryption key under which key material is
	// sealed. Required. A database whose keys were sealed under another
	// KEK is refused by New.
	KEK []byte
	// Log receives internal errors; nil discards them.
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service is the embedded KMS. It is safe for concurrent use; its state is
// in the database, so a new Service on the same database with the same KEK
// sees the same keys.
type Service struct {
	db  *journal.DB
	kek cipher.AEAD
	log *slog.Logger
	now func() time.Time

	mu    sync.Mutex
	aeads map[string]cipher.AEAD // key ID -> its unsealed material, ready to use
}

// kekCheck is sealed under the KEK when the first Service opens a
// database, so that a later one can tell a wrong KEK from damage.
const kekCheck = "opentrail kms key-encryption key check v1"

// New returns the service over opts.DB. It fails if KEK is not 32 bytes or
// is not the KEK the database's keys were sealed under.
func New(opts Options) (*Service, error) {
	if opts.DB == nil {
		return nil, errors.New("new kms: Options.DB is required")
	}
	if len(opts.KEK) != 32 {
		return nil, fmt.Errorf("new kms: the key-encryption key must be 32 bytes, not %d", len(opts.KEK))
	}
	kek, err := newAEAD(opts.KEK)
	if err != nil {
		return nil, fmt.Errorf("new kms: %w", err)
	}
	s := &Service{db: opts.DB, kek: kek, log: opts.Log, now: opts.Now, aeads: map[string]cipher.AEAD{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.checkKEK(context.Background()); err != nil {
		return nil, fmt.Errorf("new kms: %w", err)
	}
	return s, nil
}

// ErrWrongKEK is returned by New when the key-encryption key is not the one
// the database's keys were sealed under: start opentrail with the right
// one (the keys cannot be used without it).
var ErrWrongKEK = errors.New("kms: the key-encryption key is not the one the stored keys were sealed with")

func (s *Service) checkKEK(ctx context.Context) error {
	var sealed []byte
	err := s.db.Reader().QueryRowContext(ctx, "SELECT check_value FROM kms_kek WHERE id = 1").Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		fresh := s.seal([]byte(kekCheck), []byte("kek-check"))
		err = s.db.Update(ctx, func(tx *journal.Tx) error {
			_, err := tx.Exec("INSERT INTO kms_kek (id, check_value) VALUES (1, ?) ON CONFLICT (id) DO NOTHING", fresh)
			return err
		})
		if err != nil {
			return fmt.Errorf("store key-encryption key check: %w", err)
		}
		err = s.db.Reader().QueryRowContext(ctx, "SELECT check_value FROM kms_kek WHERE id = 1").Scan(&sealed)
	}
	if err != nil {
		return fmt.Errorf("read key-encryption key check: %w", err)
	}
	plain, err := s.open(sealed, []byte("kek-check"))
	if err != nil || string(plain) != kekCheck {
		return ErrWrongKEK
	}
	return nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// seal encrypts plain under the KEK: nonce || ciphertext.
func (s *Service) seal(plain, aad []byte) []byte {
	nonce := make([]byte, s.kek.NonceSize(), s.kek.NonceSize()+len(plain)+s.kek.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand does not fail
	}
	return s.kek.Seal(nonce, nonce, plain, aad)
}

func (s *Service) open(sealed, aad []byte) ([]byte, error) {
	n := s.kek.NonceSize()
	if len(sealed) < n+s.kek.Overhead() {
		return nil, errors.New("sealed value too short")
	}
	return s.kek.Open(nil, sealed[:n], sealed[n:], aad)
}

// keyAEAD returns the cipher of a key's material, unsealing it once.
func (s *Service) keyAEAD(k *keyRow) (cipher.AEAD, error) {
	s.mu.Lock()
	a, ok := s.aeads[k.id]
	s.mu.Unlock()
	if ok {
		return a, nil
	}
	material, err := s.open(k.material, []byte(k.arn))
	if err != nil {
		return nil, fmt.Errorf("unseal key material of %s: %w", k.arn, err)
	}
	a, err = newAEAD(material)
	clear(material)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.aeads[k.id] = a
	s.mu.Unlock()
	return a, nil
}

// forget drops deleted keys' ciphers.
func (s *Service) forget(ids ...string) {
	s.mu.Lock()
	for _, id := range ids {
		delete(s.aeads, id)
	}
	s.mu.Unlock()
}

// Run deletes keys whose deletion window has ended, every interval (a
// minute when zero or less), until ctx ends. Keys past their deletion date
// are treated as deleted even before Run gets to them.
func (s *Service) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.DeleteExpired(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("kms: delete expired keys", slog.String("err", err.Error()))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// DeleteExpired deletes the keys whose deletion date has passed, with
// their aliases, and returns how many it deleted. Each deletion is
// recorded, in the same transaction, as KMS records it: a DeleteKey
// AwsServiceEvent in the key's account and region.
func (s *Service) DeleteExpired(ctx context.Context) (int, error) {
	now := s.now().UnixMilli()
	var ids []string
	err := s.db.Update(ctx, func(tx *journal.Tx) error {
		ids = ids[:0]
		rows, err := tx.Query("SELECT "+keyColumns+" FROM kms_keys WHERE deletion > 0 AND deletion <= ? AND state = ?", now, StatePendingDeletion)
		if err != nil {
			return err
		}
		var keys []*keyRow
		for rows.Next() {
			k, err := scanKey(rows)
			if err != nil {
				rows.Close()
				return err
			}
			keys = append(keys, k)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, k := range keys {
			if _, err := tx.Exec("DELETE FROM kms_aliases WHERE key_id = ?", k.id); err != nil {
				return err
			}
			if _, err := tx.Exec("DELETE FROM kms_keys WHERE id = ?", k.id); err != nil {
				return err
			}
			e, err := deletionEntry(k, time.UnixMilli(k.deletion))
			if err != nil {
				return err
			}
			if _, err := tx.Append(e); err != nil {
				return err
			}
			ids = append(ids, k.id)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	s.forget(ids...)
	return len(ids), nil
}

// deletionEntry is the record of a key's deletion at the end of its
// window: KMS deletes it, no caller does.
func deletionEntry(k *keyRow, at time.Time) (journal.Entry, error) {
	yes, no := true, false
	id, err := uuid.NewV7()
	if err != nil {
		return journal.Entry{}, err
	}
	at = at.UTC()
	ev := &opentrail.Event{
		EventVersion:       opentrail.EventVersion,
		UserIdentity:       &opentrail.UserIdentity{AccountID: k.account, InvokedBy: "kms.amazonaws.com"},
		EventTime:          at.Format(time.RFC3339),
		EventSource:        EventSource,
		EventName:          "DeleteKey",
		AWSRegion:          k.region,
		SourceIPAddress:    "kms.amazonaws.com",
		UserAgent:          "kms.amazonaws.com",
		RequestParameters:  opentrail.Null,
		ResponseElements:   opentrail.Null,
		EventID:            id.String(),
		ReadOnly:           &no,
		Resources:          []opentrail.Resource{keyResource(k.arn, k.account)},
		EventType:          "AwsServiceEvent",
		ManagementEvent:    &yes,
		RecipientAccountID: k.account,
		EventCategory:      opentrail.CategoryManagement,
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return journal.Entry{}, err
	}
	sum, err := opentrail.SummarizeEvent(ev)
	if err != nil {
		return journal.Entry{}, err
	}
	return journal.Entry{Summary: &sum, Account: k.account, Region: k.region, Time: at,
		Category: ev.EventCategory, Origin: journal.OriginAPI, History: true, Trails: true, Body: body}, nil
}
