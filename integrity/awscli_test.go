package integrity_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opentrail/opentrail/blob"
	"github.com/opentrail/opentrail/integrity/integritytest"
)

// awscliCheck is run by python3: it checks digests with the AWS CLI's own
// code (awscli.customizations.cloudtrail.validation): the key pattern and
// timestamp slice of DigestProvider, and Sha256RSADigestValidator, which
// uses the rsa module the CLI verifies with. It reads a JSON list of cases
// and prints one result per case.
const awscliCheck = `
import json, re, sys
from awscli.customizations.cloudtrail.validation import (
    DigestProvider, Sha256RSADigestValidator, DigestError, extract_digest_key_date)

cases = json.load(open(sys.argv[1]))
out = []
for c in cases:
    provider = DigestProvider(s3_client_provider=None, account_id=c['account'], trail_name=c['trail'],
                              trail_home_region=c['region'], trail_source_region=c['region'])
    digest = open(c['file'], 'rb').read()
    data = json.loads(digest.decode())
    data['_signature'] = c['signature']
    data['_signature_algorithm'] = 'SHA256withRSA'
    res = {'key_matches': bool(re.match(provider._create_digest_key_regex(c['prefix']), c['key'])),
           'key_date': extract_digest_key_date(c['key'])}
    try:
        Sha256RSADigestValidator().validate(c['bucket'], c['key'], c['public_key'], data, digest)
        res['valid'] = True
    except DigestError as e:
        res['valid'] = False
        res['error'] = str(e)
    out.append(res)
print(json.dumps(out))
`

// TestAWSCLIValidatesOurDigests has the AWS CLI's validator check digests
// this package signed: a starting digest, chained ones, an empty one, a
// prefixed key; and a tampered one, which it must reject.
func TestAWSCLIValidatesOurDigests(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err == nil {
		err = exec.Command(py, "-c", "import awscli.customizations.cloudtrail.validation").Run()
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("python3 with awscli is required in CI: %v", err)
		}
		t.Skipf("python3 with the awscli package not available (%v): install awscli to check digests with the AWS CLI's validator", err)
	}
	ctx := context.Background()
	store, _ := blob.NewDir(t.TempDir())
	s, _ := testSigners(t)
	chain, err := integritytest.Build(ctx, store, s, integritytest.Options{Digests: 3, Prefix: "some/prefix"})
	if err != nil {
		t.Fatal(err)
	}
	empty, err := integritytest.Build(ctx, store, s, integritytest.Options{Digests: 1, LogsPerDigest: -1, TrailName: "quiet",
		Start: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var cases []map[string]string
	add := func(c *integritytest.Chain, i int, raw []byte, sig string) {
		f := filepath.Join(dir, fmt.Sprintf("digest-%d.json", len(cases)))
		os.WriteFile(f, raw, 0o644)
		cases = append(cases, map[string]string{"account": c.Account, "trail": c.TrailName, "region": c.Region, "prefix": c.Prefix,
			"bucket": c.Bucket, "key": c.Signed[i].Key, "file": f, "signature": sig,
			"public_key": base64.StdEncoding.EncodeToString(s.PublicKey().Value)})
	}
	for i, sd := range chain.Signed {
		add(chain, i, sd.Uncompressed, sd.Signature)
	}
	add(empty, 0, empty.Signed[0].Uncompressed, empty.Signed[0].Signature)
	tampered := []byte(strings.Replace(string(chain.Signed[1].Uncompressed), `"hashAlgorithm":"SHA-256"`, `"hashAlgorithm":"SHA-256" `, 1))
	add(chain, 1, tampered, chain.Signed[1].Signature)
	in := filepath.Join(dir, "cases.json")
	b, _ := json.Marshal(cases)
	os.WriteFile(in, b, 0o644)
	script := filepath.Join(dir, "check.py")
	os.WriteFile(script, []byte(awscliCheck), 0o644)
	out, err := exec.Command(py, script, in).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	var res []struct {
		KeyMatches bool   `json:"key_matches"`
		KeyDate    string `json:"key_date"`
		Valid      bool
		Error      string
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res) != len(cases) {
		t.Fatalf("python output %q: %v", out, err)
	}
	for i, r := range res {
		key := cases[i]["key"]
		wantValid := i < len(res)-1
		if r.Valid != wantValid {
			t.Errorf("case %d (%s): AWS CLI valid = %v (%s), want %v", i, key, r.Valid, r.Error, wantValid)
		}
		if !r.KeyMatches {
			t.Errorf("case %d: key %s does not match the AWS CLI's digest key pattern", i, key)
		}
		if _, err := time.Parse("20060102T150405Z", r.KeyDate); err != nil {
			t.Errorf("case %d: the AWS CLI reads timestamp %q from %s", i, r.KeyDate, key)
		}
	}
	if last := res[len(res)-1]; !strings.HasSuffix(last.Error, "INVALID: signature verification failed") {
		t.Errorf("tampered digest: AWS CLI says %q, want signature verification failed", last.Error)
	}
}
