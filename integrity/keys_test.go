package integrity_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opentrail/opentrail/integrity"
	"github.com/opentrail/opentrail/journal"
)

func mustDB(tb testing.TB) *journal.DB {
	tb.Helper()
	db, err := journal.Open(context.Background(), filepath.Join(tb.TempDir(), "opentrail.db"),
		journal.Options{Synchronous: "NORMAL", Migrations: integrity.Migrations})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func mustKeys(tb testing.TB, db *journal.DB, kek []byte, c *clock) *integrity.Keys {
	tb.Helper()
	k, err := integrity.NewKeys(db, kek, c.now)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

var kek1 = bytes.Repeat([]byte{1}, 32)

func TestKeysCreateAndReuse(t *testing.T) {
	ctx := context.Background()
	db := mustDB(t)
	c := &clock{t: t0}
	k := mustKeys(t, db, kek1, c)
	s1, err := k.Signer(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(s1.Fingerprint) {
		t.Errorf("fingerprint %q is not 32 lower-case hex", s1.Fingerprint)
	}
	if !s1.ValidityStart.Equal(t0) || s1.ValidityEnd.Sub(s1.ValidityStart) != 2592000*time.Second {
		t.Errorf("validity %v - %v, want 30 days from %v", s1.ValidityStart, s1.ValidityEnd, t0)
	}
	c.add(time.Hour)
	s2, err := k.Signer(ctx, "us-east-1")
	if err != nil || s2.Fingerprint != s1.Fingerprint {
		t.Errorf("second Signer = %v, %v, want the same key", s2, err)
	}
	other, err := k.Signer(ctx, "eu-west-1")
	if err != nil || other.Fingerprint == s1.Fingerprint {
		t.Errorf("Signer(eu-west-1) = %v, %v, want a key of its own", other, err)
	}
	// A new Keys on the same database (a restart) finds and decrypts it.
	k2 := mustKeys(t, db, kek1, c)
	s3, err := k2.Signer(ctx, "us-east-1")
	if err != nil || s3.Fingerprint != s1.Fingerprint {
		t.Fatalf("after restart Signer = %v, %v, want the stored key", s3, err)
	}
	// It signs with the stored key: the listed public key verifies it.
	keys, err := k2.PublicKeys(ctx, "us-east-1", time.Time{}, time.Time{})
	if err != nil || len(keys) != 1 {
		t.Fatalf("PublicKeys(now) = %v, %v, want one key", keys, err)
	}
	pub, err := x509.ParsePKCS1PublicKey(keys[0].Value)
	if err != nil {
		t.Fatalf("Value is not DER PKCS#1: %v", err)
	}
	if pub.N.BitLen() != 2048 {
		t.Errorf("key is %d bits, want 2048", pub.N.BitLen())
	}
	if keys[0].Fingerprint != integrity.Fingerprint(keys[0].Value) || keys[0].Fingerprint != s1.Fingerprint {
		t.Errorf("listed fingerprint %s, want %s", keys[0].Fingerprint, s1.Fingerprint)
	}
	sig, err := s3.Sign([]byte("data"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("data"))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		t.Errorf("signature does not verify with the listed key: %v", err)
	}
	// The private key is stored encrypted.
	var priv []byte
	if err := db.Reader().QueryRow("SELECT private_key FROM signing_keys WHERE fingerprint = ?", s1.Fingerprint).Scan(&priv); err != nil {
		t.Fatal(err)
	}
	if _, err := x509.ParsePKCS1PrivateKey(priv); err == nil || bytes.Contains(priv, pub.N.Bytes()[:32]) {
		t.Error("private key is stored in the clear")
	}
}

func TestKeysRotation(t *testing.T) {
	ctx := context.Background()
	db := mustDB(t)
	c := &clock{t: t0}
	k := mustKeys(t, db, kek1, c)
	first, err := k.Signer(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	c.add(integrity.KeyRotation - time.Second)
	if s, _ := k.Signer(ctx, "us-east-1"); s.Fingerprint != first.Fingerprint {
		t.Fatal("rotated before KeyRotation")
	}
	c.add(time.Second)
	second, err := k.Signer(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if second.Fingerprint == first.Fingerprint {
		t.Fatal("no rotation after KeyRotation")
	}
	if !second.ValidityStart.Before(first.ValidityEnd) {
		t.Errorf("new key starts %v, after the old one ends %v: no overlap", second.ValidityStart, first.ValidityEnd)
	}
	fps := func(keys []integrity.PublicKey, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, k := range keys {
			switch k.Fingerprint {
			case first.Fingerprint:
				out = append(out, "first")
			case second.Fingerprint:
				out = append(out, "second")
			default:
				out = append(out, "other")
			}
		}
		return strings.Join(out, ",")
	}
	tests := []struct {
		name       string
		start, end time.Time
		want       string
	}{
		{"now, in the overlap", time.Time{}, time.Time{}, "first,second"},
		{"before any key", t0.Add(-48 * time.Hour), t0.Add(-time.Hour), ""},
		{"the first day", t0, t0.Add(24 * time.Hour), "first"},
		{"everything", t0.Add(-time.Hour), t0.Add(60 * 24 * time.Hour), "first,second"},
		{"the second key's last second", second.ValidityEnd, second.ValidityEnd, "second"},
		{"after both", second.ValidityEnd.Add(time.Second), second.ValidityEnd.Add(time.Hour), ""},
	}
	for _, tc := range tests {
		if got := fps(k.PublicKeys(ctx, "us-east-1", tc.start, tc.end)); got != tc.want {
			t.Errorf("%s: PublicKeys = %q, want %q", tc.name, got, tc.want)
		}
	}
	if _, err := k.PublicKeys(ctx, "us-east-1", t0.Add(time.Hour), t0); !errors.Is(err, integrity.ErrInvalidTimeRange) {
		t.Errorf("start after end: %v, want ErrInvalidTimeRange", err)
	}
	// After the first key expires, now lists only the second.
	c.add(4 * 24 * time.Hour)
	if got := fps(k.PublicKeys(ctx, "us-east-1", time.Time{}, time.Time{})); got != "second" {
		t.Errorf("after expiry: %q, want second", got)
	}
	// Listing a region with no key yet creates its current key.
	if got := fps(k.PublicKeys(ctx, "ap-south-1", time.Time{}, time.Time{})); got != "other" {
		t.Errorf("new region: %q, want its new key", got)
	}
}

func TestKeysWrongKEK(t *testing.T) {
	ctx := context.Background()
	db := mustDB(t)
	c := &clock{t: t0}
	if _, err := mustKeys(t, db, kek1, c).Signer(ctx, "us-east-1"); err != nil {
		t.Fatal(err)
	}
	k := mustKeys(t, db, bytes.Repeat([]byte{2}, 32), c)
	_, err := k.Signer(ctx, "us-east-1")
	if !errors.Is(err, integrity.ErrWrongKEK) || !strings.Contains(err.Error(), integrity.KEKEnv) {
		t.Errorf("Signer with another KEK = %v, want ErrWrongKEK naming %s", err, integrity.KEKEnv)
	}
	var n int
	db.Reader().QueryRow("SELECT count(*) FROM signing_keys").Scan(&n)
	if n != 1 {
		t.Errorf("%d keys after a wrong KEK, want 1 (no replacement key)", n)
	}
	if _, err := integrity.NewKeys(db, []byte("short"), nil); err == nil {
		t.Error("NewKeys with a 5-byte KEK: no error")
	}
}

func TestKeysConcurrent(t *testing.T) {
	ctx := context.Background()
	db := mustDB(t)
	c := &clock{t: t0}
	// Two Keys on one database stand for two processes.
	ks := []*integrity.Keys{mustKeys(t, db, kek1, c), mustKeys(t, db, kek1, c)}
	regions := []string{"us-east-1", "us-west-2"}
	for round := range 2 {
		if round == 1 {
			c.add(integrity.KeyRotation)
		}
		var wg sync.WaitGroup
		fps := make([]string, 16)
		for i := range fps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := ks[i%2].Signer(ctx, regions[i/2%2])
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Sign([]byte("x")); err != nil {
					t.Error(err)
				}
				fps[i] = s.Fingerprint
			}()
		}
		wg.Wait()
		seen := map[string]map[string]bool{}
		for i, fp := range fps {
			r := regions[i/2%2]
			if seen[r] == nil {
				seen[r] = map[string]bool{}
			}
			seen[r][fp] = true
		}
		for r, set := range seen {
			if len(set) != 1 {
				t.Errorf("round %d: %s got %d different current keys, want 1", round, r, len(set))
			}
		}
	}
	for _, r := range regions {
		var n int
		db.Reader().QueryRow("SELECT count(*) FROM signing_keys WHERE region = ?", r).Scan(&n)
		if n != 2 {
			t.Errorf("%s has %d keys after one rotation, want 2", r, n)
		}
	}
}

func TestLoadKEK(t *testing.T) {
	dir := t.TempDir()
	noEnv := func(string) string { return "" }
	kek, generated, err := integrity.LoadKEK(dir, noEnv)
	if err != nil || !generated || len(kek) != 32 {
		t.Fatalf("first LoadKEK = %d bytes, %v, %v; want a new 32-byte key", len(kek), generated, err)
	}
	st, err := os.Stat(filepath.Join(dir, "keys", "kek"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("kek file: %v, %v; want mode 0600", st, err)
	}
	again, generated, err := integrity.LoadKEK(dir, noEnv)
	if err != nil || generated || !bytes.Equal(again, kek) {
		t.Errorf("second LoadKEK = %v, %v; want the same key", generated, err)
	}
	want := bytes.Repeat([]byte{7}, 32)
	env := func(k string) string {
		if k == integrity.KEKEnv {
			return base64.StdEncoding.EncodeToString(want)
		}
		return ""
	}
	envDir := t.TempDir()
	got, generated, err := integrity.LoadKEK(envDir, env)
	if err != nil || generated || !bytes.Equal(got, want) {
		t.Errorf("LoadKEK with %s = %v, %v", integrity.KEKEnv, generated, err)
	}
	if _, err := os.Stat(filepath.Join(envDir, "keys", "kek")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("with %s set, a key file was written (%v)", integrity.KEKEnv, err)
	}
	for _, bad := range []string{"not base64!", base64.StdEncoding.EncodeToString([]byte("16 bytes only..."))} {
		_, _, err := integrity.LoadKEK(envDir, func(string) string { return bad })
		if err == nil || !strings.Contains(err.Error(), integrity.KEKEnv) {
			t.Errorf("LoadKEK(%q) = %v, want an error naming %s", bad, err, integrity.KEKEnv)
		}
	}
	os.WriteFile(filepath.Join(envDir, "keys-broken"), nil, 0o600)
	os.MkdirAll(filepath.Join(envDir, "keys"), 0o700)
	os.WriteFile(filepath.Join(envDir, "keys", "kek"), []byte("garbage"), 0o600)
	if _, _, err := integrity.LoadKEK(envDir, noEnv); err == nil {
		t.Error("LoadKEK with a corrupt key file: no error")
	}
}

func TestLoadKEKConcurrent(t *testing.T) {
	dir := t.TempDir()
	keks := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range keks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, _, err := integrity.LoadKEK(dir, func(string) string { return "" })
			if err != nil {
				t.Error(err)
			}
			keks[i] = k
		}()
	}
	wg.Wait()
	for _, k := range keks[1:] {
		if !bytes.Equal(k, keks[0]) {
			t.Fatal("concurrent LoadKEK calls returned different keys")
		}
	}
}
