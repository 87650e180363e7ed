package kms_test

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opentrail/opentrail/internal/clitest"
)

// awsCLI runs the AWS CLI against the harness as the owner account and
// decodes its JSON output into out (when not nil).
func awsCLI(tb testing.TB, h *harness, out any, args ...string) string {
	tb.Helper()
	return clitest.JSON(tb, h.srv.URL, keyOwner, "secret", region, out, args...)
}

func TestCLI(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("the AWS CLI is not installed")
	}
	if testing.Short() {
		t.Skip("the AWS CLI takes a second per command")
	}
	h := mustHarness(t)
	var created struct {
		KeyMetadata struct{ KeyId, Arn, KeyState string }
	}
	awsCLI(t, h, &created, "kms", "create-key", "--description", "from the CLI")
	if created.KeyMetadata.KeyState != "Enabled" || !strings.HasSuffix(created.KeyMetadata.Arn, ":key/"+created.KeyMetadata.KeyId) {
		t.Fatalf("create-key = %+v", created)
	}
	awsCLI(t, h, nil, "kms", "create-alias", "--alias-name", "alias/cli", "--target-key-id", created.KeyMetadata.KeyId)
	var aliases struct {
		Aliases []struct{ AliasName, TargetKeyId string }
	}
	awsCLI(t, h, &aliases, "kms", "list-aliases")
	if len(aliases.Aliases) != 1 || aliases.Aliases[0].AliasName != "alias/cli" || aliases.Aliases[0].TargetKeyId != created.KeyMetadata.KeyId {
		t.Errorf("list-aliases = %+v", aliases)
	}

	dir := t.TempDir()
	plainFile := filepath.Join(dir, "plain.txt")
	os.WriteFile(plainFile, []byte("round trip through the CLI\n"), 0o600)
	var enc struct{ CiphertextBlob, KeyId string }
	awsCLI(t, h, &enc, "kms", "encrypt", "--key-id", "alias/cli", "--plaintext", "fileb://"+plainFile,
		"--encryption-context", "purpose=cli")
	if enc.KeyId != created.KeyMetadata.Arn {
		t.Errorf("encrypt KeyId = %s, want %s", enc.KeyId, created.KeyMetadata.Arn)
	}
	blob, err := base64.StdEncoding.DecodeString(enc.CiphertextBlob)
	if err != nil {
		t.Fatal(err)
	}
	blobFile := filepath.Join(dir, "blob.bin")
	os.WriteFile(blobFile, blob, 0o600)
	var dec struct{ Plaintext, KeyId string }
	awsCLI(t, h, &dec, "kms", "decrypt", "--ciphertext-blob", "fileb://"+blobFile, "--encryption-context", "purpose=cli")
	if p, _ := base64.StdEncoding.DecodeString(dec.Plaintext); string(p) != "round trip through the CLI\n" || dec.KeyId != created.KeyMetadata.Arn {
		t.Errorf("decrypt = %q (%s)", p, dec.KeyId)
	}
	var dk struct{ CiphertextBlob, Plaintext, KeyId string }
	awsCLI(t, h, &dk, "kms", "generate-data-key", "--key-id", created.KeyMetadata.Arn, "--key-spec", "AES_256")
	if p, _ := base64.StdEncoding.DecodeString(dk.Plaintext); len(p) != 32 || dk.KeyId != created.KeyMetadata.Arn {
		t.Errorf("generate-data-key = %+v", dk)
	}
	out := awsCLI(t, h, nil, "kms", "describe-key", "--key-id", "alias/cli", "--query", "KeyMetadata.KeyManager", "--output", "text")
	if strings.TrimSpace(out) != "CUSTOMER" {
		t.Errorf("describe-key KeyManager = %q", out)
	}
}
