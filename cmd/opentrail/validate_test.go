package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/google/go-cmp/cmp"
	"github.com/opentrail/opentrail/blob"
	"github.com/opentrail/opentrail/integrity"
	"github.com/opentrail/opentrail/integrity/integritytest"
)

// fakeTrailAPI answers DescribeTrails and ListPublicKeys for one trail.
type fakeTrailAPI struct {
	trail types.Trail
	keys  []integrity.PublicKey
}

func (f *fakeTrailAPI) DescribeTrails(ctx context.Context, in *cloudtrail.DescribeTrailsInput, _ ...func(*cloudtrail.Options)) (*cloudtrail.DescribeTrailsOutput, error) {
	return &cloudtrail.DescribeTrailsOutput{TrailList: []types.Trail{{TrailARN: aws.String("arn:aws:cloudtrail:us-east-1:123456789012:trail/other")}, f.trail}}, nil
}

func (f *fakeTrailAPI) ListPublicKeys(ctx context.Context, in *cloudtrail.ListPublicKeysInput, _ ...func(*cloudtrail.Options)) (*cloudtrail.ListPublicKeysOutput, error) {
	out := &cloudtrail.ListPublicKeysOutput{}
	for _, k := range f.keys {
		out.PublicKeyList = append(out.PublicKeyList, types.PublicKey{Value: k.Value, Fingerprint: aws.String(k.Fingerprint)})
	}
	return out, nil
}

type validateFixture struct {
	signer *integrity.Signer
	store  blob.Store
	chain  *integritytest.Chain
	api    *fakeTrailAPI
}

func mustValidateFixture(t *testing.T) *validateFixture {
	t.Helper()
	store, err := blob.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s := integrity.NewSigner(key)
	c, err := integritytest.Build(context.Background(), store, s, integritytest.Options{Digests: 5, BreakBefore: []int{3}})
	if err != nil {
		t.Fatal(err)
	}
	return &validateFixture{signer: s, store: store, chain: c, api: &fakeTrailAPI{
		trail: types.Trail{TrailARN: aws.String(c.TrailARN), S3BucketName: aws.String(c.Bucket), Name: aws.String(c.TrailName)},
		keys:  []integrity.PublicKey{s.PublicKey()},
	}}
}

func (f *validateFixture) run(t *testing.T, fl validateFlags) (code int, stdout, stderr string) {
	t.Helper()
	if fl.trailARN == "" {
		fl.trailARN = f.chain.TrailARN
	}
	if fl.start == "" {
		fl.start = "2026-01-02T10:00:00Z"
	}
	if fl.end == "" {
		fl.end = "2026-01-02T16:00:00Z"
	}
	var out, errOut bytes.Buffer
	code = validateLogs(context.Background(), fl, "us-east-1", f.api, integrity.BlobBucket(f.store), &out, &errOut)
	return code, out.String(), errOut.String()
}

const (
	vHeader  = "Validating log files for trail arn:aws:cloudtrail:us-east-1:123456789012:trail/trail between 2026-01-02T10:00:00Z and 2026-01-02T16:00:00Z\n\n"
	vSummary = "Results requested for 2026-01-02T10:00:00Z to 2026-01-02T16:00:00Z\nResults found for 2026-01-02T10:00:00Z to 2026-01-02T16:00:00Z:\n\n"
	vGap     = "No log files were delivered by CloudTrail between 2026-01-02T13:00:00Z and 2026-01-02T14:00:00Z"
)

func TestValidateLogsOutput(t *testing.T) {
	f := mustValidateFixture(t)
	code, stdout, stderr := f.run(t, validateFlags{})
	if code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	if diff := cmp.Diff(vHeader+vSummary+"5/5 digest files valid\n10/10 log files valid\n", stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(vGap+"\n\n", stderr); diff != "" {
		t.Errorf("stderr (-want +got):\n%s", diff)
	}

	// --verbose lists every file; the gap line on stderr is then set off
	// by a blank line before it, and the summary by one too.
	code, stdout, stderr = f.run(t, validateFlags{verbose: true})
	var lines []string
	c := f.chain
	for _, i := range []int{4, 3, 2, 1, 0} {
		lines = append(lines, "Digest file\ts3://trail-bucket/"+c.Signed[i].Key+"\tvalid")
		for _, k := range c.Logs[i] {
			lines = append(lines, "Log file\ts3://trail-bucket/"+k+"\tvalid")
		}
	}
	if want := vHeader + strings.Join(lines, "\n") + "\n\n" + vSummary + "5/5 digest files valid\n10/10 log files valid\n"; code != 0 || stdout != want {
		t.Errorf("verbose: exit %d, stdout (-want +got):\n%s", code, cmp.Diff(want, stdout))
	}
	if diff := cmp.Diff("\n"+vGap+"\n\n", stderr); diff != "" {
		t.Errorf("verbose stderr (-want +got):\n%s", diff)
	}

	// Tampering: exit 1, the INVALID lines on stderr, the counts.
	ctx := context.Background()
	if err := f.store.DeleteObject(ctx, c.Bucket, c.Logs[4][1]); err != nil {
		t.Fatal(err)
	}
	if err := f.store.DeleteObject(ctx, c.Bucket, c.Signed[1].Key); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = f.run(t, validateFlags{})
	if code != 1 {
		t.Errorf("tampered: exit %d, want 1", code)
	}
	if diff := cmp.Diff(vHeader+vSummary+"4/5 digest files valid, 1/5 digest files INVALID\n7/8 log files valid, 1/8 log files INVALID\n", stdout); diff != "" {
		t.Errorf("tampered stdout (-want +got):\n%s", diff)
	}
	wantErr := "Log file\ts3://trail-bucket/" + c.Logs[4][1] + "\tINVALID: not found\n\n" + vGap + "\n\n" +
		"Digest file\ts3://trail-bucket/" + c.Signed[1].Key + "\tINVALID: not found\n\n"
	if diff := cmp.Diff(wantErr, stderr); diff != "" {
		t.Errorf("tampered stderr (-want +got):\n%s", diff)
	}
}

func TestValidateLogsNoDigests(t *testing.T) {
	f := mustValidateFixture(t)
	code, stdout, _ := f.run(t, validateFlags{start: "2026-02-01T00:00:00Z", end: "2026-02-02T00:00:00Z"})
	want := "Validating log files for trail " + f.chain.TrailARN + " between 2026-02-01T00:00:00Z and 2026-02-02T00:00:00Z\n\n" +
		"Results requested for 2026-02-01T00:00:00Z to 2026-02-02T00:00:00Z\nNo digests found\n"
	if code != 0 || stdout != want {
		t.Errorf("exit %d, stdout (-want +got):\n%s", code, cmp.Diff(want, stdout))
	}
	// Every digest invalid: "No valid digests found in range".
	f.api.keys[0].Fingerprint = "00000000000000000000000000000000"
	code, stdout, _ = f.run(t, validateFlags{})
	if code != 1 || !strings.Contains(stdout, "No valid digests found in range\n\n0/5 digest files valid, 5/5 digest files INVALID\n") {
		t.Errorf("exit %d, stdout:\n%s", code, stdout)
	}
}

func TestValidateLogsErrors(t *testing.T) {
	f := mustValidateFixture(t)
	for _, tc := range []struct {
		name    string
		flags   validateFlags
		wantErr string
	}{
		{"unknown trail", validateFlags{trailARN: "arn:aws:cloudtrail:us-east-1:123456789012:trail/nope"}, "A trail could not be found for arn:aws:cloudtrail:us-east-1:123456789012:trail/nope"},
		{"bad ARN", validateFlags{trailARN: "trail"}, "Invalid trail ARN provided: trail"},
		{"start after end", validateFlags{start: "2026-01-03T00:00:00Z"}, "Invalid time range specified"},
		{"bad time", validateFlags{start: "yesterday"}, "Unable to parse date value: yesterday"},
	} {
		code, stdout, stderr := f.run(t, tc.flags)
		if code != 1 || !strings.Contains(stderr, tc.wantErr) || stdout != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 1 and %q", tc.name, code, stdout, stderr, tc.wantErr)
		}
	}
	f.api.keys = nil
	code, _, stderr := f.run(t, validateFlags{})
	if code != 1 || !strings.Contains(stderr, "No public keys found between 2026-01-02T10:00:00Z and 2026-01-02T18:00:00Z") {
		t.Errorf("no keys: exit %d, stderr %q", code, stderr)
	}
	var out, errOut bytes.Buffer
	if code := validateLogsMain(context.Background(), []string{"--start-time", "2026-01-02T10:00:00Z"}, &out, &errOut, func(string) string { return "" }); code != 2 {
		t.Errorf("without --trail-arn: exit %d, want 2 (%s)", code, errOut.String())
	}
	if code := validateLogsMain(context.Background(), []string{"--bogus"}, &out, &errOut, func(string) string { return "" }); code != 2 {
		t.Errorf("unknown flag: exit %d, want 2", code)
	}
}

// TestValidateLogsMainLocalDir runs the whole command, with the AWS SDK
// clients, against a stand-in CloudTrail endpoint and a local copy of the
// bucket.
func TestValidateLogsMainLocalDir(t *testing.T) {
	f := mustValidateFixture(t)
	c := f.chain
	dir := t.TempDir()
	ctx := context.Background()
	res, err := f.store.ListObjects(ctx, c.Bucket, blob.ListOptions{MaxKeys: 10000})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range res.Objects {
		rc, info, err := f.store.GetObject(ctx, c.Bucket, o.Key, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		p := filepath.Join(dir, filepath.FromSlash(o.Key))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, b, 0o644)
		if o.Key == c.Signed[4].Key || o.Key == c.Signed[2].Key {
			m, _ := json.Marshal(info.Metadata)
			os.WriteFile(p+integrity.MetadataSuffix, m, 0o644)
		}
	}
	var targets []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := r.Header.Get("X-Amz-Target")
		targets = append(targets, target[strings.LastIndexByte(target, '.')+1:])
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		switch {
		case strings.HasSuffix(target, ".DescribeTrails"):
			json.NewEncoder(w).Encode(map[string]any{"trailList": []map[string]any{{"Name": c.TrailName, "S3BucketName": c.Bucket, "TrailARN": c.TrailARN}}})
		case strings.HasSuffix(target, ".ListPublicKeys"):
			k := f.api.keys[0]
			json.NewEncoder(w).Encode(map[string]any{"PublicKeyList": []map[string]any{{"Value": base64.StdEncoding.EncodeToString(k.Value),
				"Fingerprint": k.Fingerprint, "ValidityStartTime": 1767225600, "ValidityEndTime": 1769817600}}})
		default:
			w.WriteHeader(400)
			io.WriteString(w, `{"__type":"UnknownOperationException"}`)
		}
	}))
	defer api.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	env := map[string]string{"OPENTRAIL_ENDPOINT_URL": api.URL, "AWS_REGION": "us-east-1"}
	var out, errOut bytes.Buffer
	code := validateLogsMain(ctx, []string{"--trail-arn", c.TrailARN, "--start-time", "2026-01-02T10:00:00Z", "--end-time", "2026-01-02T16:00:00Z",
		"--local-dir", dir}, &out, &errOut, func(k string) string { return env[k] })
	if code != 0 || out.String() != vHeader+vSummary+"5/5 digest files valid\n10/10 log files valid\n" {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	if diff := cmp.Diff([]string{"DescribeTrails", "ListPublicKeys"}, targets); diff != "" {
		t.Errorf("API calls (-want +got):\n%s", diff)
	}
}
