package kms_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/opentrail/opentrail/kms"
)

// Keys survive a restart with the same key-encryption key; another KEK is
// refused; the stored key material is sealed, not raw.
func TestKEK(t *testing.T) {
	h := mustHarness(t)
	c := h.client(keyOwner)
	ctx := context.Background()
	arn := mustCreateKey(t, c, nil)
	if _, err := c.CreateAlias(ctx, &awskms.CreateAliasInput{AliasName: aws.String("alias/keep"), TargetKeyId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	enc, err := c.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String("alias/keep"), Plaintext: []byte("survives")})
	if err != nil {
		t.Fatal(err)
	}

	// The material column holds nonce || AES-256-GCM(32-byte key) under
	// the KEK, bound to the key's ARN.
	var sealed []byte
	if err := h.db.Reader().QueryRowContext(ctx, "SELECT material FROM kms_keys WHERE arn = ?", arn).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if len(sealed) != 12+32+16 {
		t.Fatalf("stored material is %d bytes, want 60 (sealed 32-byte key)", len(sealed))
	}
	b, _ := aes.NewCipher(testKEK)
	g, _ := cipher.NewGCM(b)
	material, err := g.Open(nil, sealed[:12], sealed[12:], []byte(arn))
	if err != nil {
		t.Fatalf("stored material does not open under the KEK: %v", err)
	}
	// That material decrypts the blob: opentrail's own format, checked
	// independently here (version, key ID, nonce, sealed data).
	kb, _ := aes.NewCipher(material)
	kg, _ := cipher.NewGCM(kb)
	blob := enc.CiphertextBlob
	if _, err := kg.Open(nil, blob[17:29], blob[29:], blob[:17]); err != nil {
		t.Errorf("the blob does not open with the unsealed material: %v", err)
	}
	db, err := os.ReadFile(h.path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(db, material) {
		t.Error("the database file contains the raw key material")
	}

	h.close()
	h.open(testKEK)
	c = h.client(keyOwner)
	d, err := c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(d.Plaintext) != "survives" || aws.ToString(d.KeyId) != arn {
		t.Fatalf("Decrypt after restart = %v, %v", d, err)
	}
	if dk, err := c.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: aws.String("alias/keep")}); err != nil || aws.ToString(dk.KeyMetadata.Arn) != arn {
		t.Errorf("DescribeKey(alias) after restart = %v, %v", dk, err)
	}

	h.close()
	db2 := mustOpenDB(t, h.path)
	defer db2.Close()
	wrong := bytes.Repeat([]byte{8}, 32)
	if _, err := kms.New(kms.Options{DB: db2, KEK: wrong}); !errors.Is(err, kms.ErrWrongKEK) {
		t.Errorf("New with another KEK = %v, want ErrWrongKEK", err)
	}
	if _, err := kms.New(kms.Options{DB: db2, KEK: []byte("short")}); err == nil {
		t.Error("New with a 5-byte KEK succeeded")
	}
}
