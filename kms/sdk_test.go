package kms_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
	"github.com/google/uuid"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/kms"
)

// wantCode checks that err is the API error code, with a message
// containing each of msgs.
func wantCode(tb testing.TB, what string, err error, code string, msgs ...string) {
	tb.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		tb.Errorf("%s = %v, want %s", what, err, code)
		return
	}
	if ae.ErrorCode() != code {
		tb.Errorf("%s = %s (%s), want %s", what, ae.ErrorCode(), ae.ErrorMessage(), code)
	}
	for _, m := range msgs {
		if !strings.Contains(ae.ErrorMessage(), m) {
			tb.Errorf("%s message %q does not contain %q", what, ae.ErrorMessage(), m)
		}
	}
}

func TestCreateDescribeList(t *testing.T) {
	h := mustHarness(t)
	c := h.client(keyOwner)
	ctx := context.Background()
	out, err := c.CreateKey(ctx, &awskms.CreateKeyInput{Description: aws.String("logs"), Tags: []types.Tag{{TagKey: aws.String("team"), TagValue: aws.String("sec")}}})
	if err != nil {
		t.Fatal(err)
	}
	m := out.KeyMetadata
	id := aws.ToString(m.KeyId)
	arn := "arn:aws:kms:us-east-1:111122223333:key/" + id
	if _, err := uuid.Parse(id); err != nil || aws.ToString(m.Arn) != arn || aws.ToString(m.AWSAccountId) != account ||
		m.KeyState != types.KeyStateEnabled || !m.Enabled || m.KeySpec != types.KeySpecSymmetricDefault ||
		m.KeyUsage != types.KeyUsageTypeEncryptDecrypt || m.KeyManager != types.KeyManagerTypeCustomer ||
		m.Origin != types.OriginTypeAwsKms || aws.ToString(m.Description) != "logs" || !m.CreationDate.Equal(h.clock()) ||
		len(m.EncryptionAlgorithms) != 1 || m.EncryptionAlgorithms[0] != types.EncryptionAlgorithmSpecSymmetricDefault {
		t.Errorf("CreateKey metadata = %+v", m)
	}
	rec := h.lastRecord()
	if !rec.Committed || rec.EventName != "CreateKey" || rec.ReadOnly || len(rec.Resources) != 1 || rec.Resources[0].ARN != arn ||
		rec.Resources[0].Type != "AWS::KMS::Key" || !strings.Contains(string(rec.ResponseElements), `"keyId":"`+id+`"`) ||
		!strings.Contains(string(rec.RequestParameters), `"description":"logs"`) {
		t.Errorf("CreateKey record = %+v\n%s\n%s", rec, rec.RequestParameters, rec.ResponseElements)
	}
	if _, err := c.CreateAlias(ctx, &awskms.CreateAliasInput{AliasName: aws.String("alias/logs"), TargetKeyId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{id, arn, "alias/logs", "arn:aws:kms:us-east-1:111122223333:alias/logs"} {
		d, err := c.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: aws.String(ref)})
		if err != nil || aws.ToString(d.KeyMetadata.Arn) != arn {
			t.Errorf("DescribeKey(%s) = %v, %v", ref, d, err)
		}
	}
	if rec := h.lastRecord(); !rec.ReadOnly || rec.Committed || rec.ResponseElements != nil || rec.Resources[0].ARN != arn {
		t.Errorf("DescribeKey record = %+v", rec)
	}
	for _, tt := range []struct{ ref, code, msg string }{
		{"nope", "NotFoundException", "Invalid keyId 'nope'"},
		{uuid.NewString(), "NotFoundException", "does not exist"},
		{"arn:aws:kms:us-east-1:111122223333:key/" + uuid.NewString(), "NotFoundException", "does not exist"},
		{"alias/none", "NotFoundException", "alias/none' is not found"},
		{"arn:aws:s3:::bucket", "InvalidArnException", "Invalid arn"},
		{"arn:aws:kms:us-west-2:111122223333:key/" + id, "NotFoundException", "us-west-2"},
	} {
		_, err := c.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: aws.String(tt.ref)})
		wantCode(t, "DescribeKey("+tt.ref+")", err, tt.code, tt.msg)
	}
	_, err = c.DescribeKey(ctx, &awskms.DescribeKeyInput{})
	if err == nil {
		t.Error("DescribeKey without KeyId succeeded")
	}

	// Pages of ListKeys cover every key once, in creation order.
	want := []string{arn, mustCreateKey(t, c, nil), mustCreateKey(t, c, nil)}
	mustCreateKey(t, h.client(keyOther), nil) // another account's: not listed
	var got []string
	var marker *string
	for pages := 0; ; pages++ {
		l, err := c.ListKeys(ctx, &awskms.ListKeysInput{Limit: aws.Int32(2), Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range l.Keys {
			got = append(got, aws.ToString(k.KeyArn))
		}
		if !l.Truncated {
			break
		}
		marker = l.NextMarker
		if pages > 3 {
			t.Fatal("ListKeys does not end")
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("ListKeys = %v, want %v", got, want)
	}
	_, err = c.ListKeys(ctx, &awskms.ListKeysInput{Marker: aws.String("bogus")})
	wantCode(t, "ListKeys(bogus marker)", err, "InvalidMarkerException")
	_, err = c.ListKeys(ctx, &awskms.ListKeysInput{Limit: aws.Int32(1001)})
	wantCode(t, "ListKeys(1001)", err, "ValidationException", "limit")
}

func TestCreateKeyUnsupported(t *testing.T) {
	h := mustHarness(t)
	c := h.client(keyOwner)
	ctx := context.Background()
	for _, tt := range []struct {
		in        awskms.CreateKeyInput
		code, msg string
	}{
		{awskms.CreateKeyInput{KeySpec: types.KeySpecRsa2048}, "UnsupportedOperationException", "RSA_2048"},
		{awskms.CreateKeyInput{KeyUsage: types.KeyUsageTypeSignVerify}, "UnsupportedOperationException", "SIGN_VERIFY"},
		{awskms.CreateKeyInput{Origin: types.OriginTypeExternal}, "UnsupportedOperationException", "EXTERNAL"},
		{awskms.CreateKeyInput{MultiRegion: aws.Bool(true)}, "UnsupportedOperationException", "multi-Region"},
		{awskms.CreateKeyInput{KeySpec: "NOPE"}, "ValidationException", "keySpec"},
		{awskms.CreateKeyInput{Policy: aws.String("{")}, "MalformedPolicyDocumentException", ""},
		{awskms.CreateKeyInput{Policy: aws.String(`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"kms:*","Resource":"*"}]}`)},
			"MalformedPolicyDocumentException", "will not allow you to update the key policy"},
		{awskms.CreateKeyInput{Tags: []types.Tag{{TagKey: aws.String("aws:x"), TagValue: aws.String("")}}}, "TagException", "reserved"},
	} {
		_, err := c.CreateKey(ctx, &tt.in)
		wantCode(t, "CreateKey", err, tt.code, tt.msg)
	}
	// The safety check can be bypassed.
	if _, err := c.CreateKey(ctx, &awskms.CreateKeyInput{BypassPolicyLockoutSafetyCheck: true,
		Policy: aws.String(`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"kms:*","Resource":"*"}]}`)}); err != nil {
		t.Errorf("CreateKey with bypass = %v", err)
	}
	// Operations KMS has and opentrail does not are named and recorded.
	_, err := c.GenerateRandom(ctx, &awskms.GenerateRandomInput{NumberOfBytes: aws.Int32(8)})
	wantCode(t, "GenerateRandom", err, "UnsupportedOperationException", "GenerateRandom")
	if rec := h.lastRecord(); rec.EventName != "GenerateRandom" || opentrail.ErrorCode(rec.Err) != "UnsupportedOperationException" {
		t.Errorf("GenerateRandom record = %+v", rec)
	}
}

func TestKeyStates(t *testing.T) {
	h := mustHarness(t)
	c := h.client(keyOwner)
	ctx := context.Background()
	arn := mustCreateKey(t, c, nil)
	encrypt := func() error {
		_, err := c.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(arn), Plaintext: []byte("x")})
		return err
	}
	state := func() types.KeyState {
		d, err := c.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		return d.KeyMetadata.KeyState
	}
	blob, err := c.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(arn), Plaintext: []byte("secret")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DisableKey(ctx, &awskms.DisableKeyInput{KeyId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	if rec := h.lastRecord(); !rec.Committed || rec.EventName != "DisableKey" || string(rec.RequestParameters) != `{"keyId":"`+arn+`"}` {
		t.Errorf("DisableKey record = %+v %s", rec, rec.RequestParameters)
	}
	if s := state(); s != types.KeyStateDisabled {
		t.Errorf("state after DisableKey = %s", s)
	}
	wantCode(t, "Encrypt(disabled)", encrypt(), "DisabledException", arn+" is disabled.")
	// The SDK's typed errors, for a few of the codes.
	var disabled *types.DisabledException
	if err := encrypt(); !errors.As(err, &disabled) {
		t.Errorf("Encrypt(disabled) = %T, want *types.DisabledException", err)
	}
	var nf *types.NotFoundException
	if _, err := c.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: aws.String("alias/none")}); !errors.As(err, &nf) {
		t.Errorf("DescribeKey(alias/none) = %T, want *types.NotFoundException", err)
	}
	var inv *types.InvalidCiphertextException
	if _, err := c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: []byte("garbage garbage garbage garbage garbage garbage")}); !errors.As(err, &inv) {
		t.Errorf("Decrypt(garbage) = %T, want *types.InvalidCiphertextException", err)
	}
	_, err = c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: blob.CiphertextBlob})
	wantCode(t, "Decrypt(disabled)", err, "DisabledException")
	_, err = c.GenerateDataKey(ctx, &awskms.GenerateDataKeyInput{KeyId: aws.String(arn), KeySpec: types.DataKeySpecAes256})
	wantCode(t, "GenerateDataKey(disabled)", err, "DisabledException")
	if _, err := c.EnableKey(ctx, &awskms.EnableKeyInput{KeyId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	if err := encrypt(); err != nil {
		t.Errorf("Encrypt after EnableKey = %v", err)
	}

	for _, days := range []int32{6, 31} {
		_, err = c.ScheduleKeyDeletion(ctx, &awskms.ScheduleKeyDeletionInput{KeyId: aws.String(arn), PendingWindowInDays: aws.Int32(days)})
		wantCode(t, "ScheduleKeyDeletion", err, "ValidationException", "pendingWindowInDays")
	}
	sched, err := c.ScheduleKeyDeletion(ctx, &awskms.ScheduleKeyDeletionInput{KeyId: aws.String(arn), PendingWindowInDays: aws.Int32(7)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(sched.KeyId) != arn || sched.KeyState != types.KeyStatePendingDeletion || aws.ToInt32(sched.PendingWindowInDays) != 7 ||
		!sched.DeletionDate.Equal(h.clock().Add(7*24*time.Hour)) {
		t.Errorf("ScheduleKeyDeletion = %+v", sched)
	}
	if rec := h.lastRecord(); !strings.Contains(string(rec.ResponseElements), `"keyState":"PendingDeletion"`) {
		t.Errorf("ScheduleKeyDeletion record = %s", rec.ResponseElements)
	}
	if s := state(); s != types.KeyStatePendingDeletion {
		t.Errorf("state after ScheduleKeyDeletion = %s", s)
	}
	wantCode(t, "Encrypt(pending)", encrypt(), "KMSInvalidStateException", "pending deletion")
	_, err = c.EnableKey(ctx, &awskms.EnableKeyInput{KeyId: aws.String(arn)})
	wantCode(t, "EnableKey(pending)", err, "KMSInvalidStateException", "pending deletion")
	_, err = c.ScheduleKeyDeletion(ctx, &awskms.ScheduleKeyDeletionInput{KeyId: aws.String(arn)})
	wantCode(t, "ScheduleKeyDeletion(pending)", err, "KMSInvalidStateException")
	if _, err := c.CancelKeyDeletion(ctx, &awskms.CancelKeyDeletionInput{KeyId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	if s := state(); s != types.KeyStateDisabled {
		t.Errorf("state after CancelKeyDeletion = %s, want Disabled", s)
	}
	_, err = c.CancelKeyDeletion(ctx, &awskms.CancelKeyDeletionInput{KeyId: aws.String(arn)})
	wantCode(t, "CancelKeyDeletion(not pending)", err, "KMSInvalidStateException", "not pending deletion")

	// After the window, the key is gone, before and after Run's sweep.
	if _, err := c.ScheduleKeyDeletion(ctx, &awskms.ScheduleKeyDeletionInput{KeyId: aws.String(arn), PendingWindowInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	h.advance(7*24*time.Hour - time.Second)
	if s := state(); s != types.KeyStatePendingDeletion {
		t.Errorf("state a second before deletion = %s", s)
	}
	h.advance(2 * time.Second)
	_, err = c.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: aws.String(arn)})
	wantCode(t, "DescribeKey(deleted)", err, "NotFoundException")
	if l, _ := c.ListKeys(ctx, &awskms.ListKeysInput{}); len(l.Keys) != 0 {
		t.Errorf("ListKeys after deletion = %+v", l.Keys)
	}
	if n, err := h.service().DeleteExpired(ctx); n != 1 || err != nil {
		t.Errorf("DeleteExpired = %d, %v", n, err)
	}
	// The deletion is recorded as KMS's own DeleteKey event.
	rows, err := h.db.Feed(ctx, 0, 100)
	if err != nil || len(rows) != 1 {
		t.Fatalf("journal after DeleteExpired = %d rows, %v", len(rows), err)
	}
	body, _ := rows[0].Body()
	var ev opentrail.Event
	json.Unmarshal(body, &ev)
	if ev.EventName != "DeleteKey" || ev.EventType != "AwsServiceEvent" || ev.EventSource != "kms.amazonaws.com" ||
		ev.UserIdentity == nil || ev.UserIdentity.InvokedBy != "kms.amazonaws.com" || len(ev.Resources) != 1 || ev.Resources[0].ARN != arn ||
		ev.RecipientAccountID != account || ev.AWSRegion != region {
		t.Errorf("DeleteKey record = %s", body)
	}
	if n, err := h.service().DeleteExpired(ctx); n != 0 || err != nil {
		t.Errorf("DeleteExpired again = %d, %v", n, err)
	}
	_, err = c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: blob.CiphertextBlob})
	wantCode(t, "Decrypt(deleted key)", err, "InvalidCiphertextException")
}

func TestAliases(t *testing.T) {
	h := mustHarness(t)
	c := h.client(keyOwner)
	ctx := context.Background()
	k1, k2 := mustCreateKey(t, c, nil), mustCreateKey(t, c, nil)
	id1 := k1[strings.LastIndex(k1, "/")+1:]
	for _, name := range []string{"alias/a", "alias/b", "alias/c"} {
		if _, err := c.CreateAlias(ctx, &awskms.CreateAliasInput{AliasName: aws.String(name), TargetKeyId: aws.String(k1)}); err != nil {
			t.Fatal(err)
		}
	}
	rec := h.lastRecord()
	if !rec.Committed || len(rec.Resources) != 2 || rec.Resources[0].ARN != "arn:aws:kms:us-east-1:111122223333:alias/c" || rec.Resources[1].ARN != k1 {
		t.Errorf("CreateAlias record = %+v", rec)
	}
	if _, err := c.CreateAlias(ctx, &awskms.CreateAliasInput{AliasName: aws.String("alias/z"), TargetKeyId: aws.String(k2)}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, target, code, msg string }{
		{"alias/a", k2, "AlreadyExistsException", "arn:aws:kms:us-east-1:111122223333:alias/a already exists"},
		{"nope", k1, "InvalidAliasNameException", "alias/"},
		{"alias/aws/mine", k1, "InvalidAliasNameException", "reserved"},
		{"alias/has space", k1, "ValidationException", "aliasName"},
		{"alias/d", uuid.NewString(), "NotFoundException", "does not exist"},
		{"alias/e", "alias/a", "ValidationException", "alias"},
	} {
		_, err := c.CreateAlias(ctx, &awskms.CreateAliasInput{AliasName: aws.String(tt.name), TargetKeyId: aws.String(tt.target)})
		wantCode(t, "CreateAlias("+tt.name+")", err, tt.code, tt.msg)
	}
	var names []string
	var marker *string
	for {
		l, err := c.ListAliases(ctx, &awskms.ListAliasesInput{KeyId: aws.String(id1), Limit: aws.Int32(2), Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range l.Aliases {
			if aws.ToString(a.TargetKeyId) != id1 || aws.ToString(a.AliasArn) != "arn:aws:kms:us-east-1:111122223333:"+aws.ToString(a.AliasName) {
				t.Errorf("alias entry %+v", a)
			}
			names = append(names, aws.ToString(a.AliasName))
		}
		if !l.Truncated {
			break
		}
		marker = l.NextMarker
	}
	if got := strings.Join(names, " "); got != "alias/a alias/b alias/c" {
		t.Errorf("ListAliases(k1) = %s", got)
	}
	all, err := c.ListAliases(ctx, &awskms.ListAliasesInput{})
	if err != nil || len(all.Aliases) != 4 {
		t.Errorf("ListAliases() = %+v, %v", all, err)
	}
	if _, err := c.DeleteAlias(ctx, &awskms.DeleteAliasInput{AliasName: aws.String("alias/b")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteAlias(ctx, &awskms.DeleteAliasInput{AliasName: aws.String("alias/b")})
	wantCode(t, "DeleteAlias(again)", err, "NotFoundException", "alias/b' is not found")
	_, err = c.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: aws.String("alias/b")})
	wantCode(t, "DescribeKey(deleted alias)", err, "NotFoundException")
	// Another account's aliases are its own.
	_, err = h.client(keyOther).DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: aws.String("alias/a")})
	wantCode(t, "DescribeKey(other's alias)", err, "NotFoundException")
}

func TestEncryptDecrypt(t *testing.T) {
	h := mustHarness(t)
	c := h.client(keyOwner)
	ctx := context.Background()
	arn, arn2 := mustCreateKey(t, c, nil), mustCreateKey(t, c, nil)
	encCtx := map[string]string{"purpose": "test", "bucket": "b"}
	enc, err := c.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(arn), Plaintext: []byte("hello kms"), EncryptionContext: encCtx})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(enc.KeyId) != arn || enc.EncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault || bytes.Contains(enc.CiphertextBlob, []byte("hello kms")) {
		t.Errorf("Encrypt = %+v", enc)
	}
	rec := h.lastRecord()
	if !rec.ReadOnly || rec.Data || rec.Committed || rec.EventName != "Encrypt" || len(rec.Resources) != 1 || rec.Resources[0].ARN != arn ||
		rec.ResponseElements != nil || strings.Contains(string(rec.RequestParameters), "aGVsbG8") {
		t.Errorf("Encrypt record = %+v %s", rec, rec.RequestParameters)
	}
	var params map[string]any
	json.Unmarshal(rec.RequestParameters, &params)
	if params["keyId"] != arn || params["encryptionAlgorithm"] != "SYMMETRIC_DEFAULT" || params["encryptionContext"] == nil || len(params) != 3 {
		t.Errorf("Encrypt requestParameters = %s", rec.RequestParameters)
	}
	dec, err := c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: encCtx})
	if err != nil || string(dec.Plaintext) != "hello kms" || aws.ToString(dec.KeyId) != arn {
		t.Fatalf("Decrypt = %+v, %v", dec, err)
	}
	if rec := h.lastRecord(); rec.EventName != "Decrypt" || len(rec.Resources) != 1 || rec.Resources[0].ARN != arn || rec.ResponseElements != nil {
		t.Errorf("Decrypt record = %+v", rec)
	}
	if _, err := c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: encCtx, KeyId: aws.String(arn)}); err != nil {
		t.Errorf("Decrypt with KeyId = %v", err)
	}
	tampered := bytes.Clone(enc.CiphertextBlob)
	tampered[len(tampered)-1] ^= 1
	swapped := bytes.Clone(enc.CiphertextBlob)
	copy(swapped[1:17], uuid.MustParse(arn2[strings.LastIndex(arn2, "/")+1:]).NodeID()) // not a whole UUID: some other key ID
	for _, tt := range []struct {
		name string
		in   awskms.DecryptInput
		code string
	}{
		{"wrong context", awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"purpose": "other", "bucket": "b"}}, "InvalidCiphertextException"},
		{"no context", awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}, "InvalidCiphertextException"},
		{"extra context", awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"purpose": "test", "bucket": "b", "x": ""}}, "InvalidCiphertextException"},
		{"tampered", awskms.DecryptInput{CiphertextBlob: tampered, EncryptionContext: encCtx}, "InvalidCiphertextException"},
		{"swapped key", awskms.DecryptInput{CiphertextBlob: swapped, EncryptionContext: encCtx}, "InvalidCiphertextException"},
		{"garbage", awskms.DecryptInput{CiphertextBlob: []byte("not a ciphertext blob at all, not at all, not at all")}, "InvalidCiphertextException"},
		{"other key", awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: encCtx, KeyId: aws.String(arn2)}, "IncorrectKeyException"},
		{"algorithm", awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: encCtx, EncryptionAlgorithm: types.EncryptionAlgorithmSpecRsaesOaepSha256}, "InvalidKeyUsageException"},
	} {
		_, err := c.Decrypt(ctx, &tt.in)
		wantCode(t, "Decrypt("+tt.name+")", err, tt.code)
	}
	// Another region's KMS does not know the key.
	other := awskms.New(c.Options(), func(o *awskms.Options) { o.Region = "eu-west-1" })
	_, err = other.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: encCtx})
	wantCode(t, "Decrypt(other region)", err, "InvalidCiphertextException")

	for _, tt := range []struct {
		name string
		in   awskms.EncryptInput
		code string
	}{
		{"empty", awskms.EncryptInput{KeyId: aws.String(arn), Plaintext: []byte{}}, "ValidationException"},
		{"too long", awskms.EncryptInput{KeyId: aws.String(arn), Plaintext: make([]byte, 4097)}, "ValidationException"},
		{"bad key", awskms.EncryptInput{KeyId: aws.String("12345678"), Plaintext: []byte("x")}, "NotFoundException"},
		{"dry run", awskms.EncryptInput{KeyId: aws.String(arn), Plaintext: []byte("x"), DryRun: aws.Bool(true)}, "DryRunOperationException"},
		{"grants", awskms.EncryptInput{KeyId: aws.String(arn), Plaintext: []byte("x"), GrantTokens: []string{"t"}}, "InvalidGrantTokenException"},
	} {
		_, err := c.Encrypt(ctx, &tt.in)
		wantCode(t, "Encrypt("+tt.name+")", err, tt.code)
	}
	if _, err := c.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(arn), Plaintext: make([]byte, 4096)}); err != nil {
		t.Errorf("Encrypt(4096 bytes) = %v", err)
	}

	for _, tt := range []struct {
		in   awskms.GenerateDataKeyInput
		size int
	}{
		{awskms.GenerateDataKeyInput{KeySpec: types.DataKeySpecAes256}, 32},
		{awskms.GenerateDataKeyInput{KeySpec: types.DataKeySpecAes128}, 16},
		{awskms.GenerateDataKeyInput{NumberOfBytes: aws.Int32(1024)}, 1024},
		{awskms.GenerateDataKeyInput{NumberOfBytes: aws.Int32(1), EncryptionContext: encCtx}, 1},
	} {
		tt.in.KeyId = aws.String("arn:aws:kms:us-east-1:111122223333:key/" + arn[strings.LastIndex(arn, "/")+1:])
		dk, err := c.GenerateDataKey(ctx, &tt.in)
		if err != nil || len(dk.Plaintext) != tt.size || aws.ToString(dk.KeyId) != arn {
			t.Errorf("GenerateDataKey(%d) = %+v, %v", tt.size, dk, err)
			continue
		}
		d, err := c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: tt.in.EncryptionContext})
		if err != nil || !bytes.Equal(d.Plaintext, dk.Plaintext) {
			t.Errorf("Decrypt(data key) = %v, %v", d, err)
		}
	}
	for _, in := range []awskms.GenerateDataKeyInput{
		{KeyId: aws.String(arn)},
		{KeyId: aws.String(arn), KeySpec: types.DataKeySpecAes256, NumberOfBytes: aws.Int32(32)},
		{KeyId: aws.String(arn), NumberOfBytes: aws.Int32(1025)},
		{KeyId: aws.String(arn), KeySpec: "AES_512"},
	} {
		_, err := c.GenerateDataKey(ctx, &in)
		wantCode(t, "GenerateDataKey", err, "ValidationException")
	}
}

func TestKeyPolicies(t *testing.T) {
	h := mustHarness(t)
	owner, alice, stranger := h.client(keyOwner), h.client(keyAlice), h.client(keyOther)
	ctx := context.Background()
	arn := mustCreateKey(t, owner, nil)
	pol, err := owner.GetKeyPolicy(ctx, &awskms.GetKeyPolicyInput{KeyId: aws.String(arn), PolicyName: aws.String("default")})
	if err != nil || aws.ToString(pol.Policy) != kms.DefaultPolicy(account) || aws.ToString(pol.PolicyName) != "default" {
		t.Errorf("GetKeyPolicy = %+v, %v", pol, err)
	}
	_, err = owner.GetKeyPolicy(ctx, &awskms.GetKeyPolicyInput{KeyId: aws.String(arn), PolicyName: aws.String("other")})
	wantCode(t, "GetKeyPolicy(other)", err, "NotFoundException")

	encrypt := func(c *awskms.Client) error {
		_, err := c.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(arn), Plaintext: []byte("x")})
		return err
	}
	// The default policy delegates to IAM: alice needs an identity policy.
	wantCode(t, "Encrypt(alice, no IAM)", encrypt(alice), "AccessDeniedException",
		"User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:Encrypt on resource: "+arn, "identity-based policy")
	h.mu.Lock()
	h.allowAlice["kms:Encrypt"] = true
	h.mu.Unlock()
	if err := encrypt(alice); err != nil {
		t.Errorf("Encrypt(alice, IAM allows) = %v", err)
	}
	// Another account's caller is not in the policy.
	wantCode(t, "Encrypt(stranger)", encrypt(stranger), "AccessDeniedException")

	// A policy naming alice directly for Decrypt, denying her Encrypt.
	policy := `{"Version":"2012-10-17","Statement":[
	 {"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
	 {"Sid":"alice","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":["kms:Decrypt","kms:DescribeKey"],"Resource":"*"},
	 {"Sid":"no","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:Encrypt","Resource":"*"}]}`
	if _, err := owner.PutKeyPolicy(ctx, &awskms.PutKeyPolicyInput{KeyId: aws.String(arn), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	if rec := h.lastRecord(); !rec.Committed || rec.EventName != "PutKeyPolicy" {
		t.Errorf("PutKeyPolicy record = %+v", rec)
	}
	wantCode(t, "Encrypt(alice, denied)", encrypt(alice), "AccessDeniedException", "explicit deny")
	enc, err := owner.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(arn), Plaintext: []byte("for alice")})
	if err != nil {
		t.Fatal(err)
	}
	if d, err := alice.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}); err != nil || string(d.Plaintext) != "for alice" {
		t.Errorf("Decrypt(alice, named in policy) = %v, %v", d, err)
	}

	for _, tt := range []struct{ policy, code, msg string }{
		{"{", "MalformedPolicyDocumentException", ""},
		{`{"Statement":[{"Effect":"Maybe","Action":"kms:*"}]}`, "MalformedPolicyDocumentException", "Effect"},
		{`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:*","Resource":"*"}]}`,
			"MalformedPolicyDocumentException", "will not allow you"},
	} {
		_, err := owner.PutKeyPolicy(ctx, &awskms.PutKeyPolicyInput{KeyId: aws.String(arn), Policy: aws.String(tt.policy)})
		wantCode(t, "PutKeyPolicy", err, tt.code, tt.msg)
	}
	p, _ := owner.GetKeyPolicy(ctx, &awskms.GetKeyPolicyInput{KeyId: aws.String(arn)})
	if aws.ToString(p.Policy) != policy {
		t.Errorf("a refused PutKeyPolicy changed the policy to %s", aws.ToString(p.Policy))
	}
	// A policy that leaves the owner out takes effect with the bypass.
	locked := `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:Decrypt","Resource":"*"}]}`
	if _, err := owner.PutKeyPolicy(ctx, &awskms.PutKeyPolicyInput{KeyId: aws.String(arn), Policy: aws.String(locked), BypassPolicyLockoutSafetyCheck: true}); err != nil {
		t.Fatal(err)
	}
	_, err = owner.DisableKey(ctx, &awskms.DisableKeyInput{KeyId: aws.String(arn)})
	wantCode(t, "DisableKey(locked out)", err, "AccessDeniedException", "resource-based policy")
}

func TestInternalAPI(t *testing.T) {
	h := mustHarness(t)
	c := h.client(keyOwner)
	ctx := context.Background()
	s := h.service()
	arn := mustCreateKey(t, c, nil)
	if _, err := c.CreateAlias(ctx, &awskms.CreateAliasInput{AliasName: aws.String("alias/trail"), TargetKeyId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	k, err := s.Key(ctx, "alias/trail", account, region)
	if err != nil || k.ARN != arn || k.State != kms.StateEnabled || k.Account != account || k.Region != region {
		t.Fatalf("Key(alias/trail) = %+v, %v", k, err)
	}
	if _, err := s.Key(ctx, "alias/trail", other, region); !errors.Is(err, kms.ErrNotFound) {
		t.Errorf("Key(alias/trail) in another account = %v, want ErrNotFound", err)
	}
	trail := "arn:aws:cloudtrail:us-east-1:111122223333:trail/t"
	encCtx := map[string]string{"aws:cloudtrail:arn": trail}
	dk, blob, got, err := s.GenerateDataKey(ctx, "arn:aws:kms:us-east-1:111122223333:alias/trail", encCtx)
	if err != nil || got != arn || len(dk) != 32 {
		t.Fatalf("GenerateDataKey = %x, %s, %v", dk, got, err)
	}
	plain, got, err := s.Decrypt(ctx, blob, encCtx)
	if err != nil || got != arn || !bytes.Equal(plain, dk) {
		t.Fatalf("Decrypt = %x, %s, %v", plain, got, err)
	}
	if _, _, err := s.Decrypt(ctx, blob, nil); !errors.Is(err, kms.ErrInvalidCiphertext) {
		t.Errorf("Decrypt(no context) = %v, want ErrInvalidCiphertext", err)
	}
	// The API front's client sees the same data key.
	d, err := c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: blob, EncryptionContext: encCtx})
	if err != nil || !bytes.Equal(d.Plaintext, dk) {
		t.Errorf("Decrypt through the API = %v, %v", d, err)
	}

	// The default policy does not let CloudTrail use the key; a policy
	// like the CloudTrail console's does, for the account's trails only.
	if ok, err := s.AllowsService(ctx, arn, "cloudtrail.amazonaws.com", "kms:GenerateDataKey", trail); ok || err != nil {
		t.Errorf("AllowsService(default policy) = %v, %v", ok, err)
	}
	policy := `{"Version": "2012-10-17", "Statement": [{
	"Sid": "Enable IAM User Permissions", "Effect": "Allow",
	"Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}, {
	"Sid": "Allow CloudTrail to encrypt logs", "Effect": "Allow",
	"Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "kms:GenerateDataKey*", "Resource": "*",
	"Condition": {"StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": "arn:aws:cloudtrail:*:111122223333:trail/*"}}} ]}`
	if _, err := c.PutKeyPolicy(ctx, &awskms.PutKeyPolicyInput{KeyId: aws.String(arn), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		trail string
		want  bool
	}{{trail, true}, {"arn:aws:cloudtrail:us-east-1:444455556666:trail/t", false}} {
		if ok, err := s.AllowsService(ctx, arn, "cloudtrail.amazonaws.com", "kms:GenerateDataKey", tt.trail); ok != tt.want || err != nil {
			t.Errorf("AllowsService(%s) = %v, %v, want %v", tt.trail, ok, err, tt.want)
		}
	}

	if _, err := c.DisableKey(ctx, &awskms.DisableKeyInput{KeyId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	if k, err := s.Key(ctx, arn, "", ""); !errors.Is(err, kms.ErrDisabled) || k == nil || k.State != kms.StateDisabled {
		t.Errorf("Key(disabled) = %+v, %v", k, err)
	}
	if _, _, _, err := s.GenerateDataKey(ctx, arn, nil); !errors.Is(err, kms.ErrDisabled) || opentrail.ErrorCode(err) != "DisabledException" {
		t.Errorf("GenerateDataKey(disabled) = %v", err)
	}
	if _, _, err := s.Decrypt(ctx, blob, encCtx); !errors.Is(err, kms.ErrDisabled) {
		t.Errorf("Decrypt(disabled) = %v", err)
	}
	c.EnableKey(ctx, &awskms.EnableKeyInput{KeyId: aws.String(arn)})
	if _, err := c.ScheduleKeyDeletion(ctx, &awskms.ScheduleKeyDeletionInput{KeyId: aws.String(arn), PendingWindowInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.GenerateDataKey(ctx, arn, nil); !errors.Is(err, kms.ErrPendingDeletion) {
		t.Errorf("GenerateDataKey(pending deletion) = %v", err)
	}
	if _, _, err := s.Decrypt(ctx, blob, encCtx); !errors.Is(err, kms.ErrPendingDeletion) {
		t.Errorf("Decrypt(pending deletion) = %v", err)
	}
	h.advance(8 * 24 * time.Hour)
	if _, err := s.Key(ctx, arn, "", ""); !errors.Is(err, kms.ErrNotFound) {
		t.Errorf("Key(deleted) = %v", err)
	}
	if _, _, err := s.Decrypt(ctx, blob, encCtx); !errors.Is(err, kms.ErrNotFound) {
		t.Errorf("Decrypt(deleted) = %v", err)
	}
	if _, _, _, err := s.GenerateDataKey(ctx, arn, nil); !errors.Is(err, kms.ErrNotFound) {
		t.Errorf("GenerateDataKey(deleted) = %v", err)
	}
}

// The AWS managed key aws/s3 appears on first use; its policy lets the
// account use it only through S3 and read its metadata.
func TestManagedKey(t *testing.T) {
	h := mustHarness(t)
	c := h.client(keyOwner)
	ctx := context.Background()
	d, err := c.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: aws.String("alias/aws/s3")})
	if err != nil || d.KeyMetadata.KeyManager != types.KeyManagerTypeAws {
		t.Fatalf("DescribeKey(alias/aws/s3) = %+v, %v", d, err)
	}
	_, err = c.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String("alias/aws/s3"), Plaintext: []byte("x")})
	wantCode(t, "Encrypt(aws/s3) directly", err, "AccessDeniedException")
	_, err = c.DisableKey(ctx, &awskms.DisableKeyInput{KeyId: d.KeyMetadata.Arn})
	wantCode(t, "DisableKey(aws/s3)", err, "AccessDeniedException")
	arn, err := h.service().AuthorizeUse(ctx, principals[keyOwner], h.authorize(principals[keyOwner]), "alias/aws/s3", region, "kms:GenerateDataKey", "s3.us-east-1.amazonaws.com")
	if err != nil || arn != aws.ToString(d.KeyMetadata.Arn) {
		t.Errorf("AuthorizeUse(aws/s3 via S3) = %s, %v", arn, err)
	}
	_, err = c.DeleteAlias(ctx, &awskms.DeleteAliasInput{AliasName: aws.String("alias/aws/s3")})
	wantCode(t, "DeleteAlias(aws/s3)", err, "InvalidAliasNameException")
}

// Run deletes keys whose window ended, in the background.
func TestRun(t *testing.T) {
	h := mustHarness(t)
	c := h.client(keyOwner)
	ctx, cancel := context.WithCancel(context.Background())
	arn := mustCreateKey(t, c, nil)
	if _, err := c.ScheduleKeyDeletion(ctx, &awskms.ScheduleKeyDeletionInput{KeyId: aws.String(arn), PendingWindowInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	h.advance(7*24*time.Hour + time.Minute)
	done := make(chan error, 1)
	go func() { done <- h.service().Run(ctx, 10*time.Millisecond) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := h.db.Reader().QueryRowContext(ctx, "SELECT count(*) FROM kms_keys").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not delete the key within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}
