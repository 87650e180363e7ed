package integrity_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opentrail/opentrail/blob"
	"github.com/opentrail/opentrail/integrity"
	"github.com/opentrail/opentrail/integrity/integritytest"
)

var (
	testKeyOnce sync.Once
	testKeys    [2]*rsa.PrivateKey
)

// testSigners returns two fixed-for-the-run signers: the trail's and a
// stranger's.
func testSigners(tb testing.TB) (*integrity.Signer, *integrity.Signer) {
	tb.Helper()
	testKeyOnce.Do(func() {
		for i := range testKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			testKeys[i] = k
		}
	})
	return integrity.NewSigner(testKeys[0]), integrity.NewSigner(testKeys[1])
}

type chainCase struct {
	store blob.Store
	chain *integritytest.Chain
	keys  []integrity.PublicKey
}

// mustChain builds the standard test chain: digests 0-2 chained, an hour
// without digests, digests 3-4 chained, two log files each.
func mustChain(tb testing.TB) *chainCase {
	tb.Helper()
	store, err := blob.NewDir(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	s, _ := testSigners(tb)
	c, err := integritytest.Build(context.Background(), store, s, integritytest.Options{Digests: 5, BreakBefore: []int{3}})
	if err != nil {
		tb.Fatal(err)
	}
	return &chainCase{store: store, chain: c, keys: []integrity.PublicKey{s.PublicKey()}}
}

func (c *chainCase) options(objects integrity.Bucket) integrity.Options {
	return integrity.Options{
		TrailARN: c.chain.TrailARN, Start: c.chain.Start, End: c.chain.End, Bucket: c.chain.Bucket, Objects: objects,
		PublicKeys: func(ctx context.Context, start, end time.Time) ([]integrity.PublicKey, error) { return c.keys, nil },
	}
}

func run(tb testing.TB, opts integrity.Options) []string {
	tb.Helper()
	var lines []string
	if err := integrity.Validate(context.Background(), opts, func(r integrity.Result) { lines = append(lines, r.String()) }); err != nil {
		tb.Fatalf("Validate: %v", err)
	}
	return lines
}

func digestLine(c *integritytest.Chain, i int, status string) string {
	return fmt.Sprintf("Digest file\ts3://%s/%s\t%s", c.Bucket, c.Signed[i].Key, status)
}

func logLine(c *integritytest.Chain, i, j int, status string) string {
	return fmt.Sprintf("Log file\ts3://%s/%s\t%s", c.Bucket, c.Logs[i][j], status)
}

// want lists the lines of a validation of the standard chain where every
// file is valid unless status says otherwise ("digest i" or "log i j").
func want(c *integritytest.Chain, status map[string]string) []string {
	get := func(k string) string {
		if s, ok := status[k]; ok {
			return s
		}
		return "valid"
	}
	var out []string
	for i := len(c.Signed) - 1; i >= 0; i-- {
		ds := get(fmt.Sprint("digest ", i))
		if ds != "-" {
			out = append(out, digestLine(c, i, ds))
		}
		if ds == "valid" {
			for j := range c.Logs[i] {
				out = append(out, logLine(c, i, j, get(fmt.Sprint("log ", i, " ", j))))
			}
		}
		if i == 3 && get("gap") != "-" {
			out = append(out, "No log files were delivered by CloudTrail between "+c.Digests[2].EndTime.Format(integrity.TimeFormat)+
				" and "+c.Digests[3].StartTime.Format(integrity.TimeFormat))
		}
	}
	return out
}

func TestValidateUntouched(t *testing.T) {
	c := mustChain(t)
	got := run(t, c.options(integrity.BlobBucket(c.store)))
	if diff := cmp.Diff(want(c.chain, nil), got); diff != "" {
		t.Errorf("untouched chain (-want +got):\n%s", diff)
	}
}

// rewrite replaces an object's bytes and metadata.
func rewrite(tb testing.TB, s blob.Store, bucket, key string, f func([]byte) []byte, meta func(map[string]string) map[string]string) {
	tb.Helper()
	ctx := context.Background()
	rc, info, err := s.GetObject(ctx, bucket, key, 0, -1)
	if err != nil {
		tb.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	m := info.Metadata
	if meta != nil {
		m = meta(m)
	}
	if f != nil {
		b = f(b)
	}
	if _, err := s.PutObject(ctx, bucket, key, bytes.NewReader(b), blob.PutOptions{Metadata: m}); err != nil {
		tb.Fatal(err)
	}
}

func gunzip(tb testing.TB, b []byte) []byte {
	tb.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		tb.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func gz(b []byte) []byte {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(b)
	zw.Close()
	return z.Bytes()
}

func TestValidateTampering(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		tamper func(tb testing.TB, c *chainCase)
		status map[string]string
	}{
		{"log file content changed", func(tb testing.TB, c *chainCase) {
			rewrite(tb, c.store, c.chain.Bucket, c.chain.Logs[1][0], func(b []byte) []byte {
				return gz(bytes.Replace(gunzip(tb, b), []byte("DescribeTrails"), []byte("DescribeTrailz"), 1))
			}, nil)
		}, map[string]string{"log 1 0": "INVALID: hash value doesn't match"}},
		{"log file byte flipped", func(tb testing.TB, c *chainCase) {
			rewrite(tb, c.store, c.chain.Bucket, c.chain.Logs[4][1], func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b }, nil)
		}, map[string]string{"log 4 1": "INVALID: invalid format"}},
		{"log file truncated", func(tb testing.TB, c *chainCase) {
			rewrite(tb, c.store, c.chain.Bucket, c.chain.Logs[2][1], func(b []byte) []byte { return b[:len(b)/2] }, nil)
		}, map[string]string{"log 2 1": "INVALID: hash value doesn't match"}},
		{"log file deleted", func(tb testing.TB, c *chainCase) {
			if err := c.store.DeleteObject(ctx, c.chain.Bucket, c.chain.Logs[0][1]); err != nil {
				tb.Fatal(err)
			}
		}, map[string]string{"log 0 1": "INVALID: not found"}},
		{"log file with data after the gzip stream", func(tb testing.TB, c *chainCase) {
			rewrite(tb, c.store, c.chain.Bucket, c.chain.Logs[3][0], func(b []byte) []byte { return append(b, gz([]byte(`{"Records":[]}`))...) }, nil)
		}, map[string]string{"log 3 0": "INVALID: unexpected data after end of compressed stream"}},
		{"digest modified", func(tb testing.TB, c *chainCase) {
			rewrite(tb, c.store, c.chain.Bucket, c.chain.Signed[1].Key, func(b []byte) []byte {
				return gz(bytes.Replace(gunzip(tb, b), []byte(c.chain.Digests[1].LogFiles[0].HashValue), []byte(strings.Repeat("0", 64)), 1))
			}, nil)
		}, map[string]string{"digest 1": "INVALID: signature verification failed"}},
		{"digest deleted", func(tb testing.TB, c *chainCase) {
			if err := c.store.DeleteObject(ctx, c.chain.Bucket, c.chain.Signed[1].Key); err != nil {
				tb.Fatal(err)
			}
		}, map[string]string{"digest 1": "INVALID: not found"}},
		{"newest digest deleted", func(tb testing.TB, c *chainCase) {
			if err := c.store.DeleteObject(ctx, c.chain.Bucket, c.chain.Signed[4].Key); err != nil {
				tb.Fatal(err)
			}
		}, map[string]string{"digest 4": "-"}},
		{"signature metadata removed", func(tb testing.TB, c *chainCase) {
			rewrite(tb, c.store, c.chain.Bucket, c.chain.Signed[2].Key, nil, func(map[string]string) map[string]string { return nil })
		}, map[string]string{"digest 2": "INVALID: signature verification failed"}},
		{"signature altered", func(tb testing.TB, c *chainCase) {
			rewrite(tb, c.store, c.chain.Bucket, c.chain.Signed[0].Key, nil, func(m map[string]string) map[string]string {
				sig := []byte(m["signature"])
				if sig[10] == '0' {
					sig[10] = '1'
				} else {
					sig[10] = '0'
				}
				return map[string]string{"signature": string(sig), "signature-algorithm": "SHA256withRSA"}
			})
		}, map[string]string{"digest 0": "INVALID: signature verification failed"}},
		{"signature not hex", func(tb testing.TB, c *chainCase) {
			rewrite(tb, c.store, c.chain.Bucket, c.chain.Signed[0].Key, nil, func(m map[string]string) map[string]string {
				return map[string]string{"signature": "zz", "signature-algorithm": "SHA256withRSA"}
			})
		}, map[string]string{"digest 0": "INVALID: Non-hexadecimal digit found"}},
		{"digest not gzip", func(tb testing.TB, c *chainCase) {
			rewrite(tb, c.store, c.chain.Bucket, c.chain.Signed[3].Key, func(b []byte) []byte { return []byte("{}") }, nil)
		}, map[string]string{"digest 3": "INVALID: invalid format", "gap": "-"}},
		{"digest lacks a required field", func(tb testing.TB, c *chainCase) {
			rewrite(tb, c.store, c.chain.Bucket, c.chain.Signed[3].Key, func(b []byte) []byte {
				return gz(bytes.Replace(gunzip(tb, b), []byte(`"digestS3Object"`), []byte(`"digestS3Objekt"`), 1))
			}, nil)
		}, map[string]string{"digest 3": "INVALID: invalid format", "gap": "-"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := mustChain(t)
			tc.tamper(t, c)
			got := run(t, c.options(integrity.BlobBucket(c.store)))
			if diff := cmp.Diff(want(c.chain, tc.status), got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateDigestMoved(t *testing.T) {
	ctx := context.Background()
	c := mustChain(t)
	// Move digest 1 one minute later: its original key is gone and the
	// file at the new key names the old one.
	d := c.chain.Digests[1]
	moved := integrity.DigestKey("", d.AccountID, "us-east-1", "trail", "us-east-1", d.EndTime.Add(time.Minute))
	rc, info, err := c.store.GetObject(ctx, c.chain.Bucket, c.chain.Signed[1].Key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	c.store.PutObject(ctx, c.chain.Bucket, moved, bytes.NewReader(b), blob.PutOptions{Metadata: info.Metadata})
	c.store.DeleteObject(ctx, c.chain.Bucket, c.chain.Signed[1].Key)
	got := run(t, c.options(integrity.BlobBucket(c.store)))
	w := want(c.chain, map[string]string{"digest 1": "INVALID: not found"})
	// After the missing digest, the walk goes on with the next older
	// listed key, which is digest 0 (the moved file sorts after digest 1).
	if diff := cmp.Diff(w, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// Moved to the newest position, it is reached from the listing first.
	c2 := mustChain(t)
	d = c2.chain.Digests[4]
	moved = integrity.DigestKey("", d.AccountID, "us-east-1", "trail", "us-east-1", d.EndTime.Add(time.Minute))
	rc, info, _ = c2.store.GetObject(ctx, c2.chain.Bucket, c2.chain.Signed[4].Key, 0, -1)
	b, _ = io.ReadAll(rc)
	rc.Close()
	c2.store.PutObject(ctx, c2.chain.Bucket, moved, bytes.NewReader(b), blob.PutOptions{Metadata: info.Metadata})
	c2.store.DeleteObject(ctx, c2.chain.Bucket, c2.chain.Signed[4].Key)
	got = run(t, c2.options(integrity.BlobBucket(c2.store)))
	w = append([]string{fmt.Sprintf("Digest file\ts3://%s/%s\tINVALID: has been moved from its original location", c2.chain.Bucket, moved)},
		want(c2.chain, map[string]string{"digest 4": "-"})...)
	if diff := cmp.Diff(w, got); diff != "" {
		t.Errorf("moved newest (-want +got):\n%s", diff)
	}
}

func TestValidateWrongKey(t *testing.T) {
	ctx := context.Background()
	_, stranger := testSigners(t)
	t.Run("unknown fingerprint", func(t *testing.T) {
		store, _ := blob.NewDir(t.TempDir())
		c, err := integritytest.Build(ctx, store, stranger, integritytest.Options{Digests: 1})
		if err != nil {
			t.Fatal(err)
		}
		s, _ := testSigners(t)
		cc := &chainCase{store: store, chain: c, keys: []integrity.PublicKey{s.PublicKey()}}
		got := run(t, cc.options(integrity.BlobBucket(store)))
		w := []string{digestLine(c, 0, "INVALID: public key not found in region us-east-1 for fingerprint "+stranger.Fingerprint)}
		if diff := cmp.Diff(w, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("signed by another key under the trail's fingerprint", func(t *testing.T) {
		s, _ := testSigners(t)
		impostor := *stranger
		impostor.Fingerprint = s.Fingerprint
		store, _ := blob.NewDir(t.TempDir())
		c, err := integritytest.Build(ctx, store, &impostor, integritytest.Options{Digests: 1})
		if err != nil {
			t.Fatal(err)
		}
		cc := &chainCase{store: store, chain: c, keys: []integrity.PublicKey{s.PublicKey()}}
		got := run(t, cc.options(integrity.BlobBucket(store)))
		if diff := cmp.Diff([]string{digestLine(c, 0, "INVALID: signature verification failed")}, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("no public keys", func(t *testing.T) {
		c := mustChain(t)
		c.keys = nil
		err := integrity.Validate(ctx, c.options(integrity.BlobBucket(c.store)), func(integrity.Result) {})
		if err == nil || !strings.HasPrefix(err.Error(), "No public keys found between 2026-01-02T10:00:00Z and ") {
			t.Errorf("Validate without keys = %v, want No public keys found", err)
		}
	})
	t.Run("bad key bytes", func(t *testing.T) {
		c := mustChain(t)
		c.keys[0].Value = []byte("not DER")
		got := run(t, c.options(integrity.BlobBucket(c.store)))
		if len(got) == 0 || !strings.HasSuffix(got[0], "INVALID: Unable to load PKCS #1 key with fingerprint "+c.keys[0].Fingerprint) {
			t.Errorf("first line = %q, want Unable to load PKCS #1 key", got)
		}
	})
}

func TestValidateRange(t *testing.T) {
	c := mustChain(t)
	opts := c.options(integrity.BlobBucket(c.store))
	// From the start of digest 3: digests 4 and 3 are walked; 3 starts
	// the chain and nothing older is listed, so no gap line.
	opts.Start = c.chain.Digests[3].StartTime
	got := run(t, opts)
	var w []string
	for _, i := range []int{4, 3} {
		w = append(w, digestLine(c.chain, i, "valid"), logLine(c.chain, i, 0, "valid"), logLine(c.chain, i, 1, "valid"))
	}
	if diff := cmp.Diff(w, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// A range after every digest finds none.
	opts.Start, opts.End = c.chain.End.Add(2*time.Hour), c.chain.End.Add(3*time.Hour)
	if got := run(t, opts); len(got) != 0 {
		t.Errorf("range after the digests: %q, want nothing", got)
	}
	opts.Start, opts.End = opts.End, opts.Start
	if err := integrity.Validate(context.Background(), opts, func(integrity.Result) {}); err == nil {
		t.Error("start after end: no error")
	}
	opts.TrailARN = "arn:aws:cloudtrail:us-east-1:1234:trail/x"
	if err := integrity.Validate(context.Background(), opts, func(integrity.Result) {}); err == nil || !strings.Contains(err.Error(), "Invalid trail ARN") {
		t.Errorf("bad ARN: %v", err)
	}
}

// copyToDir writes the store's bucket into dir as `aws s3 sync` would,
// with metadata sidecars for the given digests.
func copyToDir(tb testing.TB, s blob.Store, bucket, dir string, sidecars ...string) {
	tb.Helper()
	ctx := context.Background()
	res, err := s.ListObjects(ctx, bucket, blob.ListOptions{MaxKeys: 100000})
	if err != nil {
		tb.Fatal(err)
	}
	for _, o := range res.Objects {
		rc, info, err := s.GetObject(ctx, bucket, o.Key, 0, -1)
		if err != nil {
			tb.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		p := filepath.Join(dir, filepath.FromSlash(o.Key))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			tb.Fatal(err)
		}
		for _, k := range sidecars {
			if k == o.Key {
				m, _ := json.Marshal(info.Metadata)
				os.WriteFile(p+integrity.MetadataSuffix, m, 0o644)
			}
		}
	}
}

func TestValidateLocalDir(t *testing.T) {
	c := mustChain(t)
	heads := []string{c.chain.Signed[4].Key, c.chain.Signed[2].Key} // the newest digest of each chain
	dir := t.TempDir()
	copyToDir(t, c.store, c.chain.Bucket, dir, heads...)
	opts := c.options(integrity.LocalDir(dir))
	opts.SignatureFromChain = true
	if diff := cmp.Diff(want(c.chain, nil), run(t, opts)); diff != "" {
		t.Errorf("untouched copy (-want +got):\n%s", diff)
	}
	// Without chained signatures, only the heads validate.
	opts.SignatureFromChain = false
	got := run(t, opts)
	if n := strings.Count(strings.Join(got, "\n"), "INVALID: signature verification failed"); n != 3 {
		t.Errorf("without SignatureFromChain: %d digests fail their signature, want 3:\n%s", n, strings.Join(got, "\n"))
	}
	opts.SignatureFromChain = true

	tamper := func(key string, f func([]byte) []byte) {
		p := filepath.Join(dir, filepath.FromSlash(key))
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if f == nil {
			os.Remove(p)
			return
		}
		os.WriteFile(p, f(b), 0o644)
	}
	// A changed log file, a deleted log file, a modified
	// digest in the middle of a chain (its signature comes from the next
	// digest), a head without its sidecar.
	tamper(c.chain.Logs[4][0], func(b []byte) []byte { return gz(append(gunzip(t, b), ' ')) })
	tamper(c.chain.Logs[3][1], nil)
	tamper(c.chain.Signed[1].Key, func(b []byte) []byte {
		return gz(bytes.Replace(gunzip(t, b), []byte(`"logFiles":[{`), []byte(`"logFiles":[ {`), 1))
	})
	os.Remove(filepath.Join(dir, filepath.FromSlash(c.chain.Signed[2].Key)+integrity.MetadataSuffix))
	got = run(t, opts)
	w := want(c.chain, map[string]string{
		"log 4 0":  "INVALID: hash value doesn't match",
		"log 3 1":  "INVALID: not found",
		"digest 2": "INVALID: signature verification failed",
		// After digest 2 fails, digest 1 is reached from the listing, not
		// by a link, so it has no signature either; digest 0 is then
		// reached from the listing too.
		"digest 1": "INVALID: signature verification failed",
		"digest 0": "INVALID: signature verification failed",
	})
	if diff := cmp.Diff(w, got); diff != "" {
		t.Errorf("tampered copy (-want +got):\n%s", diff)
	}
	// With the head's sidecar back, the modified digest 1 fails alone and
	// digest 0, reached after it from the listing, lacks a signature.
	m, _ := json.Marshal(c.chain.Signed[2].Metadata)
	os.WriteFile(filepath.Join(dir, filepath.FromSlash(c.chain.Signed[2].Key)+integrity.MetadataSuffix), m, 0o644)
	got = run(t, opts)
	w = want(c.chain, map[string]string{
		"log 4 0":  "INVALID: hash value doesn't match",
		"log 3 1":  "INVALID: not found",
		"digest 1": "INVALID: signature verification failed",
		"digest 0": "INVALID: signature verification failed",
	})
	if diff := cmp.Diff(w, got); diff != "" {
		t.Errorf("tampered copy, head sidecar back (-want +got):\n%s", diff)
	}
}

// loopBucket serves a hostile chain: every digest names itself as the
// previous one.
func TestValidateLoopingChain(t *testing.T) {
	ctx := context.Background()
	store, _ := blob.NewDir(t.TempDir())
	s, _ := testSigners(t)
	store.CreateBucket(ctx, "trail-bucket", "123456789012", "us-east-1")
	start := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	key := integrity.DigestKey("", "123456789012", "us-east-1", "trail", "us-east-1", start.Add(time.Hour))
	d := &integrity.Digest{AccountID: "123456789012", StartTime: start.Add(2 * time.Hour), EndTime: start.Add(time.Hour), S3Bucket: "trail-bucket", S3Object: key,
		Previous: &integrity.PreviousDigest{S3Bucket: "trail-bucket", S3Object: key, Signature: "00"}}
	sd, err := integrity.SignDigest(d, s)
	if err != nil {
		t.Fatal(err)
	}
	store.PutObject(ctx, "trail-bucket", key, bytes.NewReader(sd.Body), blob.PutOptions{Metadata: sd.Metadata})
	opts := integrity.Options{TrailARN: "arn:aws:cloudtrail:us-east-1:123456789012:trail/trail", Start: start, End: start.Add(2 * time.Hour),
		Bucket: "trail-bucket", Objects: integrity.BlobBucket(store),
		PublicKeys: func(context.Context, time.Time, time.Time) ([]integrity.PublicKey, error) {
			return []integrity.PublicKey{s.PublicKey()}, nil
		}}
	done := make(chan []string)
	go func() { done <- run(t, opts) }()
	select {
	case got := <-done:
		w := []string{"Digest file\ts3://trail-bucket/" + key + "\tvalid",
			"Digest file\ts3://trail-bucket/" + key + "\tINVALID: the chain of previous digests loops back to this digest"}
		if diff := cmp.Diff(w, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Validate did not end on a looping chain")
	}
}

// failingBucket fails every log file read after a while.
type failingBucket struct{ integrity.Bucket }

func (f failingBucket) Open(ctx context.Context, bucket, key string) (io.ReadCloser, map[string]string, error) {
	if strings.Contains(key, "/CloudTrail/") {
		return nil, nil, fmt.Errorf("access denied")
	}
	return f.Bucket.Open(ctx, bucket, key)
}

func TestValidateFetchErrorStops(t *testing.T) {
	c := mustChain(t)
	var lines []string
	err := integrity.Validate(context.Background(), c.options(failingBucket{integrity.BlobBucket(c.store)}), func(r integrity.Result) {
		lines = append(lines, r.String())
	})
	if err == nil || !strings.Contains(err.Error(), "access denied") {
		t.Fatalf("Validate = %v, want the access denied error", err)
	}
	if diff := cmp.Diff([]string{digestLine(c.chain, 4, "valid")}, lines); diff != "" {
		t.Errorf("reported before the error (-want +got):\n%s", diff)
	}
}
