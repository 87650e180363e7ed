package sns

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opentrail/opentrail/journal"
)

// keyBits is the size of keys opentrail generates.
const keyBits = 2048

// loadKey sets s.key and s.certPEM from opts: the given key, the key file
// (created if missing), or the key kept in the database (created if
// missing).
func (s *Service) loadKey(ctx context.Context, opts Options) error {
	key := opts.Key
	var err error
	switch {
	case key != nil:
	case opts.KeyFile != "":
		key, err = keyFromFile(opts.KeyFile)
	default:
		key, err = s.keyFromDB(ctx)
	}
	if err != nil {
		return err
	}
	s.key = key
	s.certPEM, err = selfSigned(key)
	return err
}

func keyFromFile(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err := rsa.GenerateKey(rand.Reader, keyBits)
		if err != nil {
			return nil, fmt.Errorf("generate signing key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("encode signing key: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("write signing key: %w", err)
		}
		// O_EXCL: two processes starting at once must not overwrite each
		// other's key; the loser reads the winner's.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return keyFromFile(path)
		}
		if err != nil {
			return nil, fmt.Errorf("write signing key: %w", err)
		}
		werr := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(path)
			return nil, fmt.Errorf("write signing key %s: %w", path, werr)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	key, err := parseKeyPEM(b)
	if err != nil {
		return nil, fmt.Errorf("read signing key %s: %w", path, err)
	}
	return key, nil
}

// parseKeyPEM reads the first private key block of a PEM file (PKCS#1 or
// PKCS#8, RSA only).
func parseKeyPEM(b []byte) (*rsa.PrivateKey, error) {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, errors.New("no private key in PEM data")
		}
		switch blk.Type {
		case "RSA PRIVATE KEY":
			return x509.ParsePKCS1PrivateKey(blk.Bytes)
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				return nil, err
			}
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("the key is a %T; SNS signatures need an RSA key", k)
			}
			return rk, nil
		}
	}
}

func (s *Service) keyFromDB(ctx context.Context) (*rsa.PrivateKey, error) {
	var p string
	err := s.db.Reader().QueryRowContext(ctx, "SELECT pem FROM sns_keys WHERE id = 1").Scan(&p)
	if err == nil {
		return parseKeyPEM([]byte(p))
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	key, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode signing key: %w", err)
	}
	p = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	// Another Service may have stored a key first; keep whichever is there.
	err = s.db.Update(ctx, func(tx *journal.Tx) error {
		if _, err := tx.Exec("INSERT OR IGNORE INTO sns_keys (id, pem, created) VALUES (1, ?, ?)", p, time.Now().Unix()); err != nil {
			return err
		}
		return tx.QueryRow("SELECT pem FROM sns_keys WHERE id = 1").Scan(&p)
	})
	if err != nil {
		return nil, fmt.Errorf("store signing key: %w", err)
	}
	return parseKeyPEM([]byte(p))
}

// selfSigned is the certificate of key, a function of the key alone (fixed
// serial, names and validity; PKCS#1 v1.5 signatures are deterministic), so
// that every start serves the same bytes at SigningCertURL.
func selfSigned(key *rsa.PrivateKey) ([]byte, error) {
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	sum := sha256.Sum256(pub)
	tmpl := &x509.Certificate{
		SerialNumber:          new(big.Int).SetBytes(sum[:16]),
		Subject:               pkix.Name{CommonName: "opentrail SNS message signing", Organization: []string{"opentrail"}},
		NotBefore:             time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		SubjectKeyId:          sum[:20],
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// envelope is the JSON document SNS posts to HTTP endpoints, its fields in
// SNS's order.
type envelope struct {
	Type              string                   `json:"Type"`
	MessageID         string                   `json:"MessageId"`
	Token             string                   `json:"Token,omitempty"`
	TopicARN          string                   `json:"TopicArn"`
	Subject           string                   `json:"Subject,omitempty"`
	Message           string                   `json:"Message"`
	SubscribeURL      string                   `json:"SubscribeURL,omitempty"`
	Timestamp         string                   `json:"Timestamp"`
	SignatureVersion  string                   `json:"SignatureVersion"`
	Signature         string                   `json:"Signature"`
	SigningCertURL    string                   `json:"SigningCertURL"`
	UnsubscribeURL    string                   `json:"UnsubscribeURL,omitempty"`
	MessageAttributes map[string]envelopeValue `json:"MessageAttributes,omitempty"`
}

// envelopeValue is a message attribute as an envelope carries it.
type envelopeValue struct {
	Type  string `json:"Type"`
	Value string `json:"Value"`
}

// Message types.
const (
	typeNotification = "Notification"
	typeConfirmation = "SubscriptionConfirmation"
)

// stringToSign is SNS's canonical form of an envelope: for each signed
// field in byte order of its name, the name, a newline, the value and a
// newline. Notifications sign Message, MessageId, Subject (only when
// present), Timestamp, TopicArn and Type; confirmations sign Message,
// MessageId, SubscribeURL, Timestamp, Token, TopicArn and Type.
func stringToSign(e *envelope) string {
	var b strings.Builder
	add := func(k, v string) { b.WriteString(k + "\n" + v + "\n") }
	add("Message", e.Message)
	add("MessageId", e.MessageID)
	if e.Type == typeNotification {
		if e.Subject != "" {
			add("Subject", e.Subject)
		}
	} else {
		add("SubscribeURL", e.SubscribeURL)
	}
	add("Timestamp", e.Timestamp)
	if e.Type != typeNotification {
		add("Token", e.Token)
	}
	add("TopicArn", e.TopicARN)
	add("Type", e.Type)
	return b.String()
}

// sign fills e.Signature per e.SignatureVersion: "1" is SHA1withRSA, "2"
// SHA256withRSA, both PKCS#1 v1.5, base64.
func (s *Service) sign(e *envelope) error {
	msg := []byte(stringToSign(e))
	var sig []byte
	var err error
	switch e.SignatureVersion {
	case "1":
		h := sha1.Sum(msg)
		sig, err = rsa.SignPKCS1v15(nil, s.key, crypto.SHA1, h[:])
	case "2":
		h := sha256.Sum256(msg)
		sig, err = rsa.SignPKCS1v15(nil, s.key, crypto.SHA256, h[:])
	default:
		return fmt.Errorf("sign: unknown signature version %q", e.SignatureVersion)
	}
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	e.Signature = base64.StdEncoding.EncodeToString(sig)
	return nil
}
