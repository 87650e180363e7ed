package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opentrail/opentrail/blob"
	"github.com/opentrail/opentrail/integrity"
)

// awscliValidate runs the AWS CLI's validate-logs code
// (awscli.customizations.cloudtrail.validation.CloudTrailValidateLogs) with
// stand-in S3 and CloudTrail clients that read a directory copy of a
// bucket, each object's metadata in KEY.metadata.json. It prints a JSON
// object with the command's stdout, stderr and exit status.
const awscliValidate = `
import io, json, os, sys
from botocore.exceptions import ClientError
from dateutil import parser, tz
from awscli.customizations.cloudtrail import validation as v

args = json.load(open(sys.argv[1]))
root = args['dir']

class Pages:
    def __init__(self, keys): self.keys = keys
    def search(self, expr): return iter(self.keys)

class Paginator:
    def paginate(self, Bucket, Marker, Prefix):
        keys = []
        for d, _, files in os.walk(root):
            for f in files:
                k = os.path.relpath(os.path.join(d, f), root).replace(os.sep, '/')
                if not k.endswith('.metadata.json') and k.startswith(Prefix) and k > Marker:
                    keys.append(k)
        return Pages(sorted(keys))

class S3:
    def get_paginator(self, name): return Paginator()
    def get_object(self, Bucket, Key):
        p = os.path.join(root, Key)
        if not os.path.isfile(p):
            raise ClientError({'Error': {'Code': 'NoSuchKey', 'Message': 'The specified key does not exist.'}}, 'GetObject')
        meta = {}
        if os.path.isfile(p + '.metadata.json'):
            meta = json.load(open(p + '.metadata.json'))
        return {'Body': io.BytesIO(open(p, 'rb').read()), 'Metadata': meta}

class Provider:
    def get_client(self, bucket): return S3()

class CloudTrail:
    def list_public_keys(self, StartTime, EndTime):
        return {'PublicKeyList': [{'Value': k['value'], 'Fingerprint': k['fingerprint']} for k in args['keys']]}

out, err = io.StringIO(), io.StringIO()
sys.stdout, sys.stderr = out, err
cmd = v.CloudTrailValidateLogs(None)
cmd.trail_arn = args['arn']
cmd.is_verbose = args['verbose']
cmd.start_time = v.normalize_date(v.parse_date(args['start']))
cmd.end_time = v.normalize_date(v.parse_date(args['end']))
cmd.s3_bucket = args['bucket']
cmd.s3_prefix = None
cmd.account_id = None
cmd._source_region = args['region']
cmd.s3_client_provider = Provider()
cmd.cloudtrail_client = CloudTrail()
cmd.organization_client = None
cmd._call()
rc = 1 if cmd._invalid_digests + cmd._invalid_backfill_digests > 0 or cmd._invalid_logs > 0 else 0
sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
print(json.dumps({'stdout': out.getvalue(), 'stderr': err.getvalue(), 'rc': rc}))
`

// TestValidateLogsAgreesWithAWSCLI runs the AWS CLI's validator and
// validate-logs on the same tampered buckets and compares their output
// byte for byte.
func TestValidateLogsAgreesWithAWSCLI(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err == nil {
		err = exec.Command(py, "-c", "import awscli.customizations.cloudtrail.validation").Run()
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("python3 with awscli is required in CI: %v", err)
		}
		t.Skipf("python3 with the awscli package not available (%v)", err)
	}
	ctx := context.Background()
	rewrite := func(t *testing.T, s blob.Store, key string, body func([]byte) []byte, meta map[string]string) {
		rc, info, err := s.GetObject(ctx, "trail-bucket", key, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if body != nil {
			b = body(b)
		}
		if meta == nil {
			meta = info.Metadata
		}
		if _, err := s.PutObject(ctx, "trail-bucket", key, bytes.NewReader(b), blob.PutOptions{Metadata: meta}); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name   string
		tamper func(t *testing.T, f *validateFixture)
	}{
		{"untouched", func(*testing.T, *validateFixture) {}},
		{"log byte changed", func(t *testing.T, f *validateFixture) {
			rewrite(t, f.store, f.chain.Logs[2][0], func(b []byte) []byte { b[len(b)/2] ^= 1; return b }, nil)
		}},
		{"log header byte changed", func(t *testing.T, f *validateFixture) {
			rewrite(t, f.store, f.chain.Logs[2][0], func(b []byte) []byte { b[5] ^= 1; return b }, nil) // mtime: ignored
		}},
		{"log truncated", func(t *testing.T, f *validateFixture) {
			rewrite(t, f.store, f.chain.Logs[3][1], func(b []byte) []byte { return b[:len(b)-20] }, nil)
		}},
		{"log trailer cut", func(t *testing.T, f *validateFixture) {
			rewrite(t, f.store, f.chain.Logs[3][1], func(b []byte) []byte { return b[:len(b)-4] }, nil)
		}},
		{"log emptied", func(t *testing.T, f *validateFixture) {
			rewrite(t, f.store, f.chain.Logs[1][1], func([]byte) []byte { return nil }, nil)
		}},
		{"log deleted", func(t *testing.T, f *validateFixture) { f.store.DeleteObject(ctx, "trail-bucket", f.chain.Logs[0][0]) }},
		{"digest deleted", func(t *testing.T, f *validateFixture) {
			f.store.DeleteObject(ctx, "trail-bucket", f.chain.Signed[1].Key)
		}},
		{"chain head deleted", func(t *testing.T, f *validateFixture) {
			f.store.DeleteObject(ctx, "trail-bucket", f.chain.Signed[2].Key)
		}},
		{"digest moved", func(t *testing.T, f *validateFixture) {
			d := f.chain.Digests[4]
			moved := integrity.DigestKey("", d.AccountID, "us-east-1", "trail", "us-east-1", d.EndTime.Add(time.Minute))
			rc, info, _ := f.store.GetObject(ctx, "trail-bucket", f.chain.Signed[4].Key, 0, -1)
			b, _ := io.ReadAll(rc)
			rc.Close()
			f.store.PutObject(ctx, "trail-bucket", moved, bytes.NewReader(b), blob.PutOptions{Metadata: info.Metadata})
			f.store.DeleteObject(ctx, "trail-bucket", f.chain.Signed[4].Key)
		}},
		{"digest signature removed", func(t *testing.T, f *validateFixture) {
			rewrite(t, f.store, f.chain.Signed[3].Key, nil, map[string]string{"x": "y"})
		}},
		{"digest signature altered", func(t *testing.T, f *validateFixture) {
			sig := f.chain.Signed[0].Signature
			rewrite(t, f.store, f.chain.Signed[0].Key, nil, map[string]string{"signature": "00" + sig[2:], "signature-algorithm": "SHA256withRSA"})
		}},
		{"digest signature odd length", func(t *testing.T, f *validateFixture) {
			rewrite(t, f.store, f.chain.Signed[0].Key, nil, map[string]string{"signature": "abc", "signature-algorithm": "SHA256withRSA"})
		}},
		{"digest corrupt", func(t *testing.T, f *validateFixture) {
			rewrite(t, f.store, f.chain.Signed[1].Key, func(b []byte) []byte { b[len(b)/2] ^= 1; return b }, nil)
		}},
		{"wrong public key", func(t *testing.T, f *validateFixture) { f.api.keys[0].Fingerprint = strings.Repeat("ab", 16) }},
		{"backfill digests", func(t *testing.T, f *validateFixture) {
			for i, tampered := range []bool{false, true} {
				d := *f.chain.Digests[i+1]
				d.Previous = nil
				d.S3Object = strings.TrimSuffix(d.S3Object, ".json.gz") + "_backfill.json.gz"
				d.LogFiles = d.LogFiles[:1]
				sd, err := integrity.SignDigest(&d, f.signer)
				if err != nil {
					t.Fatal(err)
				}
				sd.Metadata["backfill-generation-timestamp"] = "2026-01-02T17:00:00Z"
				if tampered {
					sd.Metadata["signature"] = "00" + sd.Signature[2:]
				}
				f.store.PutObject(ctx, "trail-bucket", sd.Key, bytes.NewReader(sd.Body), blob.PutOptions{Metadata: sd.Metadata})
			}
		}},
		// The one deliberate difference: the AWS CLI hashes the first gzip
		// member and ignores what follows; validate-logs reports it.
		{"data after the gzip stream", func(t *testing.T, f *validateFixture) {
			rewrite(t, f.store, f.chain.Logs[4][0], func(b []byte) []byte { return append(b, b...) }, nil)
		}},
	}
	for _, verbose := range []bool{false, true} {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s/verbose=%v", tc.name, verbose), func(t *testing.T) {
				f := mustValidateFixture(t)
				tc.tamper(t, f)
				code, stdout, stderr := f.run(t, validateFlags{verbose: verbose})

				dir := t.TempDir()
				res, err := f.store.ListObjects(ctx, "trail-bucket", blob.ListOptions{MaxKeys: 10000})
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range res.Objects {
					rc, info, err := f.store.GetObject(ctx, "trail-bucket", o.Key, 0, -1)
					if err != nil {
						t.Fatal(err)
					}
					b, _ := io.ReadAll(rc)
					rc.Close()
					p := filepath.Join(dir, filepath.FromSlash(o.Key))
					os.MkdirAll(filepath.Dir(p), 0o755)
					os.WriteFile(p, b, 0o644)
					m, _ := json.Marshal(info.Metadata)
					os.WriteFile(p+integrity.MetadataSuffix, m, 0o644)
				}
				var keys []map[string]any
				for _, k := range f.api.keys {
					keys = append(keys, map[string]any{"value": k.Value, "fingerprint": k.Fingerprint}) // []byte marshals as base64
				}
				args, _ := json.Marshal(map[string]any{"dir": dir, "arn": f.chain.TrailARN, "verbose": verbose, "start": "2026-01-02T10:00:00Z",
					"end": "2026-01-02T16:00:00Z", "bucket": "trail-bucket", "region": "us-east-1", "keys": keys})
				argFile := filepath.Join(t.TempDir(), "args.json")
				os.WriteFile(argFile, args, 0o644)
				script := filepath.Join(t.TempDir(), "validate.py")
				os.WriteFile(script, []byte(awscliValidate), 0o644)
				out, err := exec.Command(py, script, argFile).Output()
				if err != nil {
					t.Fatalf("python: %v\n%s", err, out)
				}
				var cli struct {
					Stdout, Stderr string
					RC             int
				}
				if err := json.Unmarshal(out, &cli); err != nil {
					t.Fatalf("python output %q: %v", out, err)
				}
				if tc.name == "data after the gzip stream" {
					line := "Log file\ts3://trail-bucket/" + f.chain.Logs[4][0] + "\tINVALID: unexpected data after end of compressed stream\n\n"
					if cli.RC != 0 || code != 1 || !strings.Contains(stderr, line) {
						t.Errorf("AWS CLI exit %d, opentrail exit %d, stderr %q; want 0, 1 and %q", cli.RC, code, stderr, line)
					}
					return
				}
				if tc.name == "backfill digests" && (!strings.Contains(stdout, "\n1/2 backfill digest files valid, 1/2 backfill digest files INVALID\n") ||
					!strings.Contains(stderr, "(backfill) Digest file\t")) {
					t.Errorf("the backfill chain was not validated:\n%s%s", stdout, stderr)
				}
				if code != cli.RC {
					t.Errorf("exit %d, AWS CLI %d", code, cli.RC)
				}
				if diff := cmp.Diff(cli.Stdout, stdout); diff != "" {
					t.Errorf("stdout (-aws +opentrail):\n%s", diff)
				}
				if diff := cmp.Diff(cli.Stderr, stderr); diff != "" {
					t.Errorf("stderr (-aws +opentrail):\n%s", diff)
				}
			})
		}
	}
}
