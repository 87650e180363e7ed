package kms_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api"
	"github.com/opentrail/opentrail/history"
	"github.com/opentrail/opentrail/journal"
	"github.com/opentrail/opentrail/kms"
)

// TestFront serves KMS through opentrail's real API front, as serve wires
// it (Services["kms"]): SigV4 checked, records in the journal.
func TestFront(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := journal.Open(ctx, filepath.Join(dir, "opentrail.db"), journal.Options{Synchronous: "NORMAL", Migrations: kms.Migrations})
	if err != nil {
		t.Fatal(err)
	}
	const keyID, secret = "AKIAFRONTTEST0000001", "front/test/secret/0123456789abcdefghijk"
	now := time.Now()
	err = db.Update(ctx, func(tx *journal.Tx) error {
		if err := tx.CreateAccount(account, now); err != nil {
			return err
		}
		return tx.PutAccessKey(&opentrail.AccessKey{ID: keyID, Secret: secret, Active: true, Principal: opentrail.Principal{
			Type: opentrail.PrincipalRoot, AccountID: account, PrincipalID: account, AccessKeyID: keyID}}, now)
	})
	if err != nil {
		t.Fatal(err)
	}
	hx, err := history.Open(ctx, db, history.Options{Dir: filepath.Join(dir, "history"), CacheMiB: 8})
	if err != nil {
		t.Fatal(err)
	}
	s, err := kms.New(kms.Options{DB: db, KEK: testKEK})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Config{DB: db, History: hx, Regions: []string{region},
		Services: map[string]api.Service{"kms": s}}))
	t.Cleanup(func() {
		srv.Close()
		hx.Close()
		db.Close()
	})
	c := awskms.New(awskms.Options{Region: region, BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider(keyID, secret, "")})
	out, err := c.CreateKey(ctx, &awskms.CreateKeyInput{Description: aws.String("via the front")})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(out.KeyMetadata.Arn)
	enc, err := c.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(arn), Plaintext: []byte("PLAINTEXT-MARKER")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}); err != nil {
		t.Fatal(err)
	}
	bad := awskms.New(awskms.Options{Region: region, BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider(keyID, "wrong secret", "")})
	_, err = bad.ListKeys(ctx, &awskms.ListKeysInput{})
	wantCode(t, "ListKeys(bad signature)", err, "InvalidSignatureException")

	rows, err := db.Feed(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rows {
		body, _ := r.Body()
		var ev opentrail.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Fatal(err)
		}
		names = append(names, ev.EventName)
		if ev.EventSource != "kms.amazonaws.com" || ev.EventCategory != "Management" || len(ev.Resources) != 1 || ev.Resources[0].ARN != arn {
			t.Errorf("record %s", body)
		}
		if ro := ev.EventName != "CreateKey"; ev.ReadOnly == nil || *ev.ReadOnly != ro {
			t.Errorf("%s readOnly = %v", ev.EventName, ev.ReadOnly)
		}
		if bytes.Contains(body, []byte("PLAINTEXT-MARKER")) || bytes.Contains(body, []byte("UExBSU5URVhULU1BUktFUg")) {
			t.Errorf("record holds the plaintext: %s", body)
		}
	}
	if got, want := len(names), 3; got != want || names[0] != "CreateKey" || names[1] != "Encrypt" || names[2] != "Decrypt" {
		t.Errorf("recorded %v, want CreateKey Encrypt Decrypt", names)
	}
}
