package integrity

import (
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/opentrail/opentrail/journal"
)

// Key lifetimes. AWS's published keys are valid for 30 days and overlap;
// here a key is current for its first KeyRotation and stays valid (listed
// by PublicKeys for digests it signed) until KeyValidity.
const (
	KeyValidity = 30 * 24 * time.Hour
	KeyRotation = 27 * 24 * time.Hour
	keyBits     = 2048
)

// KEKEnv is the environment variable that supplies the key-encryption key.
const KEKEnv = "OPENTRAIL_KEY_ENCRYPTION_KEY"

// Errors callers act on.
var (
	// ErrWrongKEK: a stored private key does not decrypt with the
	// key-encryption key given to NewKeys. Stop and ask the operator to
	// set OPENTRAIL_KEY_ENCRYPTION_KEY (or restore DATA_DIR/keys/kek) to
	// the key the signing keys were encrypted with; never sign with a
	// fresh key in its place, or the digest chain's keys change silently.
	ErrWrongKEK = errors.New("wrong key-encryption key")
	// ErrInvalidTimeRange: PublicKeys was asked for a start after its end
	// (CloudTrail's InvalidTimeRangeException).
	ErrInvalidTimeRange = errors.New("invalid time range")
)

// Migrations are the tables of package integrity; pass them in
// journal.Options.Migrations.
var Migrations = []journal.Migration{{Name: "integrity/1", SQL: `
CREATE TABLE signing_keys (
	region      TEXT NOT NULL,
	fingerprint TEXT NOT NULL,     -- 32 lower-case hex: MD5 of public_key
	public_key  BLOB NOT NULL,     -- DER PKCS#1 RSAPublicKey
	private_key BLOB NOT NULL,     -- AES-256-GCM nonce||ciphertext of the DER PKCS#1 private key
	valid_from  INTEGER NOT NULL,  -- unix seconds
	valid_to    INTEGER NOT NULL,
	PRIMARY KEY (region, fingerprint)
);
CREATE INDEX signing_keys_validity ON signing_keys (region, valid_from);`}}

// LoadKEK returns the 32-byte key-encryption key that protects the signing
// keys' private halves in the database.
//
// If OPENTRAIL_KEY_ENCRYPTION_KEY is set (base64 of 32 bytes), that is the
// key, and nothing is written to disk: keep it in a secret store and the
// database alone (or a backup of it) reveals no private key. Otherwise the
// key is read from DATA_DIR/keys/kek, which is created with mode 0600 on
// first use (generated reports that); that file protects only against a
// leak of the database alone, since anyone who can read the data directory
// can read both. Losing the key makes the stored signing keys unusable
// (ErrWrongKEK): back it up with the database.
func LoadKEK(dataDir string, getenv func(string) string) (kek []byte, generated bool, err error) {
	if v := strings.TrimSpace(getenv(KEKEnv)); v != "" {
		kek, err := decodeKEK(v)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", KEKEnv, err)
		}
		return kek, false, nil
	}
	dir := filepath.Join(dataDir, "keys")
	path := filepath.Join(dir, "kek")
	if b, err := os.ReadFile(path); err == nil {
		kek, err := decodeKEK(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, false, fmt.Errorf("key-encryption key file %s: %w (restore it from a backup, or set %s)", path, err, KEKEnv)
		}
		return kek, false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, false, fmt.Errorf("read key-encryption key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("create key directory: %w", err)
	}
	kek = make([]byte, 32)
	if _, err := rand.Read(kek); err != nil {
		return nil, false, err
	}
	// Write a temporary file and hard-link it into place: the link fails
	// if another process created the file meanwhile, and then its key wins.
	tmp, err := os.CreateTemp(dir, ".kek-*")
	if err != nil {
		return nil, false, fmt.Errorf("create key-encryption key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err == nil {
		_, err = tmp.WriteString(base64.StdEncoding.EncodeToString(kek) + "\n")
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, false, fmt.Errorf("write key-encryption key: %w", err)
		}
	} else {
		tmp.Close()
		return nil, false, fmt.Errorf("write key-encryption key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return LoadKEK(dataDir, func(string) string { return "" })
		}
		return nil, false, fmt.Errorf("write key-encryption key: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return kek, true, nil
}

func decodeKEK(v string) ([]byte, error) {
	var b []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err = enc.DecodeString(v); err == nil {
			break
		}
	}
	if err != nil {
		return nil, errors.New("not base64; generate a key with: head -c 32 /dev/urandom | base64")
	}
	if len(b) != 32 {
		return nil, fmt.Errorf("decodes to %d bytes, not 32; generate a key with: head -c 32 /dev/urandom | base64", len(b))
	}
	return b, nil
}

// PublicKey is a public signing key as ListPublicKeys returns it.
type PublicKey struct {
	// Value is the DER encoding of the PKCS#1 RSAPublicKey.
	Value                      []byte
	ValidityStart, ValidityEnd time.Time
	// Fingerprint is 32 lower-case hex characters (see Fingerprint).
	Fingerprint string
}

// Fingerprint is the fingerprint of a DER PKCS#1 public key: the hex MD5 of
// those bytes. How AWS derives its fingerprints is not documented
// (unconfirmed); validators only compare it with a digest's
// digestPublicKeyFingerprint, so any stable 32-hex value works.
func Fingerprint(der []byte) string {
	sum := md5.Sum(der)
	return hex.EncodeToString(sum[:])
}

// Signer signs digests with one private key. It is safe for concurrent use.
type Signer struct {
	// Fingerprint of the public key, for digestPublicKeyFingerprint.
	Fingerprint string
	// ValidityStart and ValidityEnd are the key's validity (zero for a
	// signer made by NewSigner).
	ValidityStart, ValidityEnd time.Time
	key                        *rsa.PrivateKey
}

// NewSigner returns a signer for key, with its fingerprint computed.
func NewSigner(key *rsa.PrivateKey) *Signer {
	return &Signer{Fingerprint: Fingerprint(marshalPublic(&key.PublicKey)), key: key}
}

// Sign returns the RSASSA-PKCS1-v1_5 SHA-256 signature ("SHA256withRSA")
// of data.
func (s *Signer) Sign(data []byte) ([]byte, error) {
	sum := sha256.Sum256(data)
	return rsa.SignPKCS1v15(nil, s.key, crypto.SHA256, sum[:])
}

// PublicKey returns the signer's public key.
func (s *Signer) PublicKey() PublicKey {
	return PublicKey{Value: marshalPublic(&s.key.PublicKey), ValidityStart: s.ValidityStart, ValidityEnd: s.ValidityEnd, Fingerprint: s.Fingerprint}
}

// current reports whether s is the key to sign with at now.
func (s *Signer) current(now time.Time) bool {
	return !now.Before(s.ValidityStart) && now.Before(s.ValidityStart.Add(KeyRotation)) && now.Before(s.ValidityEnd)
}

// Keys keeps the per-region signing keys in the journal database (table
// signing_keys, see Migrations), private halves encrypted with the
// key-encryption key. It is safe for concurrent use, also by several
// processes on one database: a key is created in a write transaction that
// first checks that no other writer created one.
type Keys struct {
	db   *journal.DB
	aead cipher.AEAD
	now  func() time.Time

	mu      sync.Mutex
	regions map[string]*regionKeys
}

type regionKeys struct {
	mu      sync.Mutex // held while finding or creating the current key
	current *Signer
}

// NewKeys returns the key store on db (opened with Migrations), with the
// 32-byte key-encryption key kek (see LoadKEK) and a clock (nil: time.Now).
func NewKeys(db *journal.DB, kek []byte, now func() time.Time) (*Keys, error) {
	if len(kek) != 32 {
		return nil, fmt.Errorf("key-encryption key is %d bytes, not 32", len(kek))
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &Keys{db: db, aead: aead, now: now, regions: map[string]*regionKeys{}}, nil
}

func (k *Keys) region(name string) *regionKeys {
	k.mu.Lock()
	defer k.mu.Unlock()
	r := k.regions[name]
	if r == nil {
		r = &regionKeys{}
		k.regions[name] = r
	}
	return r
}

// keyRow is a row of signing_keys.
type keyRow struct {
	fingerprint        string
	public, private    []byte
	validFrom, validTo int64
}

const keyColumns = "fingerprint, public_key, private_key, valid_from, valid_to"

func scanKey(sc interface{ Scan(...any) error }) (*keyRow, error) {
	var r keyRow
	if err := sc.Scan(&r.fingerprint, &r.public, &r.private, &r.validFrom, &r.validTo); err != nil {
		return nil, err
	}
	return &r, nil
}

// newestQuery finds the key with the latest start at or before a time.
const newestQuery = "SELECT " + keyColumns + " FROM signing_keys WHERE region = ? AND valid_from <= ? ORDER BY valid_from DESC, fingerprint DESC LIMIT 1"

// Signer returns the region's current signing key, creating one if the
// region has none yet or the current one is due for rotation (KeyRotation
// after its start). Old keys stay in the database and in PublicKeys. It
// fails with ErrWrongKEK if the stored key does not decrypt.
func (k *Keys) Signer(ctx context.Context, region string) (*Signer, error) {
	if region == "" {
		return nil, errors.New("signing key: no region")
	}
	rk := k.region(region)
	rk.mu.Lock()
	defer rk.mu.Unlock()
	now := k.now()
	if s := rk.current; s != nil && s.current(now) {
		return s, nil
	}
	row, err := scanKey(k.db.Reader().QueryRowContext(ctx, newestQuery, region, now.Unix()))
	if err != nil && err != sql.ErrNoRows {
		return nil, fmt.Errorf("read signing key of %s: %w", region, err)
	}
	if row != nil {
		s, err := k.open(region, row)
		if err != nil {
			return nil, err
		}
		if s.current(now) {
			rk.current = s
			return s, nil
		}
	}
	s, err := k.create(ctx, region, now)
	if err != nil {
		return nil, err
	}
	rk.current = s
	return s, nil
}

// create generates a key valid from now and stores it, unless another
// writer stored a current key first; it returns the current key.
func (k *Keys) create(ctx context.Context, region string, now time.Time) (*Signer, error) {
	priv, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	start := now.Truncate(time.Second)
	pub := marshalPublic(&priv.PublicKey)
	mine := &keyRow{fingerprint: Fingerprint(pub), public: pub, validFrom: start.Unix(), validTo: start.Add(KeyValidity).Unix()}
	mine.private = k.seal(region, mine.fingerprint, marshalPrivate(priv))
	var winner *keyRow
	err = k.db.Update(ctx, func(tx *journal.Tx) error {
		winner = nil
		row, err := scanKey(tx.QueryRow(newestQuery, region, now.Unix()))
		if err != nil && err != sql.ErrNoRows {
			return err
		}
		if row != nil {
			from := time.Unix(row.validFrom, 0)
			if now.Before(from.Add(KeyRotation)) && now.Before(time.Unix(row.validTo, 0)) {
				winner = row
				return nil
			}
		}
		_, err = tx.Exec("INSERT INTO signing_keys (region, "+keyColumns+") VALUES (?, ?, ?, ?, ?, ?)",
			region, mine.fingerprint, mine.public, mine.private, mine.validFrom, mine.validTo)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store signing key of %s: %w", region, err)
	}
	if winner != nil {
		return k.open(region, winner)
	}
	return &Signer{Fingerprint: mine.fingerprint, ValidityStart: time.Unix(mine.validFrom, 0).UTC(),
		ValidityEnd: time.Unix(mine.validTo, 0).UTC(), key: priv}, nil
}

func (k *Keys) aad(region, fingerprint string) []byte {
	return []byte("opentrail signing key\x00" + region + "\x00" + fingerprint)
}

func (k *Keys) seal(region, fingerprint string, plain []byte) []byte {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plain)+k.aead.Overhead())
	rand.Read(nonce) // never fails (crypto/rand crashes the program instead)
	return k.aead.Seal(nonce, nonce, plain, k.aad(region, fingerprint))
}

// open decrypts a stored key.
func (k *Keys) open(region string, r *keyRow) (*Signer, error) {
	ns := k.aead.NonceSize()
	if len(r.private) < ns {
		return nil, fmt.Errorf("signing key %s of %s: stored private key is truncated", r.fingerprint, region)
	}
	plain, err := k.aead.Open(nil, r.private[:ns], r.private[ns:], k.aad(region, r.fingerprint))
	if err != nil {
		return nil, fmt.Errorf("decrypt signing key %s of %s: %w: the key-encryption key is not the one the key was encrypted with; set %s to that key, or restore DATA_DIR/keys/kek",
			r.fingerprint, region, ErrWrongKEK, KEKEnv)
	}
	priv, err := parsePrivate(plain)
	if err != nil {
		return nil, fmt.Errorf("signing key %s of %s: %w", r.fingerprint, region, err)
	}
	if Fingerprint(marshalPublic(&priv.PublicKey)) != r.fingerprint {
		return nil, fmt.Errorf("signing key %s of %s: private key does not match its public key", r.fingerprint, region)
	}
	return &Signer{Fingerprint: r.fingerprint, ValidityStart: time.Unix(r.validFrom, 0).UTC(),
		ValidityEnd: time.Unix(r.validTo, 0).UTC(), key: priv}, nil
}

// PublicKeys returns the region's public keys whose validity overlaps
// [start, end] (both inclusive), oldest first: ListPublicKeys. A zero
// start or end means now, so both zero asks for the keys valid now. When
// the range includes now, the current key is created first if needed, so
// a region always has a key to show. A start after the end fails with
// ErrInvalidTimeRange. The result never contains private material.
func (k *Keys) PublicKeys(ctx context.Context, region string, start, end time.Time) ([]PublicKey, error) {
	now := k.now()
	if start.IsZero() {
		start = now
	}
	if end.IsZero() {
		end = now
	}
	if start.After(end) {
		return nil, fmt.Errorf("start time %s is after end time %s: %w", start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339), ErrInvalidTimeRange)
	}
	if !now.Before(start.Truncate(time.Second)) && !now.After(end) {
		if _, err := k.Signer(ctx, region); err != nil {
			return nil, err
		}
	}
	// valid_to >= start: a key that expired at a second inside the range
	// still counts; start is rounded down to the stored precision.
	rows, err := k.db.Reader().QueryContext(ctx, "SELECT fingerprint, public_key, valid_from, valid_to FROM signing_keys WHERE region = ? AND valid_from <= ? AND valid_to >= ? ORDER BY valid_from, fingerprint",
		region, unixFloor(end), unixFloor(start))
	if err != nil {
		return nil, fmt.Errorf("list public keys of %s: %w", region, err)
	}
	defer rows.Close()
	var out []PublicKey
	for rows.Next() {
		var pk PublicKey
		var from, to int64
		if err := rows.Scan(&pk.Fingerprint, &pk.Value, &from, &to); err != nil {
			return nil, fmt.Errorf("list public keys of %s: %w", region, err)
		}
		pk.ValidityStart, pk.ValidityEnd = time.Unix(from, 0).UTC(), time.Unix(to, 0).UTC()
		out = append(out, pk)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list public keys of %s: %w", region, err)
	}
	return out, nil
}

func unixFloor(t time.Time) int64 { return t.Truncate(time.Second).Unix() }

func marshalPublic(k *rsa.PublicKey) []byte { return x509.MarshalPKCS1PublicKey(k) }

func marshalPrivate(k *rsa.PrivateKey) []byte { return x509.MarshalPKCS1PrivateKey(k) }

func parsePrivate(der []byte) (*rsa.PrivateKey, error) {
	k, err := x509.ParsePKCS1PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("decode private key: %w", err)
	}
	return k, nil
}
