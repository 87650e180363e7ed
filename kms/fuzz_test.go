package kms_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api/svc"
	"github.com/opentrail/opentrail/journal"
	"github.com/opentrail/opentrail/kms"
)

// FuzzServe sends arbitrary operations and bodies: Serve never panics,
// never answers 5xx (every fault here is the client's), and always answers
// JSON (a KMS error carries __type).
func FuzzServe(f *testing.F) {
	h := mustHarness(f)
	c := h.client(keyOwner)
	arn := mustCreateKey(f, c, nil)
	enc, err := c.Encrypt(context.Background(), &awskms.EncryptInput{KeyId: aws.String(arn), Plaintext: []byte("seed")})
	if err != nil {
		f.Fatal(err)
	}
	blob, _ := json.Marshal(enc.CiphertextBlob)
	for _, seed := range []struct{ op, body string }{
		{"CreateKey", `{"Description":"d","KeySpec":"SYMMETRIC_DEFAULT","Tags":[{"TagKey":"a","TagValue":"b"}]}`},
		{"CreateKey", `{"Policy":"{\"Statement\":[]}"}`},
		{"DescribeKey", `{"KeyId":"` + arn + `"}`},
		{"DescribeKey", `{"KeyId":"alias/aws/s3"}`},
		{"ListKeys", `{"Limit":2,"Marker":"a21zOjE"}`},
		{"EnableKey", `{"KeyId":"` + arn + `"}`},
		{"DisableKey", `{"KeyId":"` + arn + `"}`},
		{"ScheduleKeyDeletion", `{"KeyId":"` + arn + `","PendingWindowInDays":7}`},
		{"CancelKeyDeletion", `{"KeyId":"` + arn + `"}`},
		{"CreateAlias", `{"AliasName":"alias/x","TargetKeyId":"` + arn + `"}`},
		{"ListAliases", `{"KeyId":"` + arn + `","Limit":1}`},
		{"DeleteAlias", `{"AliasName":"alias/x"}`},
		{"Encrypt", `{"KeyId":"` + arn + `","Plaintext":"aGk=","EncryptionContext":{"a":"b"}}`},
		{"Decrypt", `{"CiphertextBlob":` + string(blob) + `}`},
		{"GenerateDataKey", `{"KeyId":"` + arn + `","NumberOfBytes":16}`},
		{"GetKeyPolicy", `{"KeyId":"` + arn + `","PolicyName":"default"}`},
		{"PutKeyPolicy", `{"KeyId":"` + arn + `","Policy":"{"}`},
		{"Sign", `{}`},
		{"Nope", `[`},
	} {
		f.Add(seed.op, seed.body)
	}
	s := h.service()
	f.Fuzz(func(t *testing.T, op, body string) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("X-Amz-Target", "TrentService."+op)
		w := httptest.NewRecorder()
		p := principals[keyOwner]
		s.Serve(w, r, svc.Call{
			Principal: p, Region: region, RequestID: "fuzz", Body: strings.NewReader(body), ContentLength: int64(len(body)),
			Authorize: h.authorize(p),
			Commit: func(ctx context.Context, fn func(tx *journal.Tx, rec *svc.Record) error) error {
				var rec svc.Record
				return h.db.Update(ctx, func(tx *journal.Tx) error { return fn(tx, &rec) })
			},
		})
		if w.Code >= 500 {
			t.Fatalf("%s %q answered %d: %s", op, body, w.Code, w.Body)
		}
		var v map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
			t.Fatalf("%s %q answered non-JSON %q", op, body, w.Body)
		}
		if w.Code != http.StatusOK && v["__type"] == nil {
			t.Fatalf("%s %q error without __type: %s", op, body, w.Body)
		}
	})
}

// FuzzCiphertext decrypts arbitrary blobs and contexts: only a blob the
// service made, with its context, decrypts; anything else fails with
// ErrInvalidCiphertext or ErrNotFound, never a panic.
func FuzzCiphertext(f *testing.F) {
	h := mustHarness(f)
	c := h.client(keyOwner)
	arn := mustCreateKey(f, c, nil)
	s := h.service()
	_, good, _, err := s.GenerateDataKey(context.Background(), arn, map[string]string{"k": "v"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, "k", "v")
	f.Add(good, "k", "w")
	f.Add(good[:40], "", "")
	f.Add([]byte{1}, "", "")
	f.Add(append(bytes.Clone(good), 0), "k", "v")
	f.Fuzz(func(t *testing.T, blob []byte, k, v string) {
		encCtx := map[string]string{k: v}
		if k == "" && v == "" {
			encCtx = nil
		}
		plain, keyARN, err := s.Decrypt(context.Background(), blob, encCtx)
		if err == nil {
			if !bytes.Equal(blob, good) || k != "k" || v != "v" || keyARN != arn || len(plain) != 32 {
				t.Fatalf("Decrypt(%x, %q=%q) succeeded", blob, k, v)
			}
			return
		}
		if !errors.Is(err, kms.ErrInvalidCiphertext) && !errors.Is(err, kms.ErrNotFound) {
			t.Fatalf("Decrypt(%x) = %v", blob, err)
		}
		if code := opentrail.ErrorCode(err); code != "InvalidCiphertextException" && code != "NotFoundException" {
			t.Fatalf("Decrypt(%x) code %s", blob, code)
		}
	})
}
