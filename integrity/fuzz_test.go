package integrity_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opentrail/opentrail/integrity"
)

// memBucket is an in-memory Bucket.
type memBucket map[string]memObject

type memObject struct {
	body []byte
	meta map[string]string
}

func (m memBucket) List(ctx context.Context, bucket, prefix, startAfter string, fn func(string) bool) error {
	var keys []string
	for k := range m {
		if strings.HasPrefix(k, prefix) && k > startAfter {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !fn(k) {
			break
		}
	}
	return nil
}

func (m memBucket) Open(ctx context.Context, bucket, key string) (io.ReadCloser, map[string]string, error) {
	o, ok := m[key]
	if !ok {
		return nil, nil, integrity.ErrNotFound
	}
	return io.NopCloser(bytes.NewReader(o.body)), o.meta, nil
}

func FuzzParseDigest(f *testing.F) {
	for _, s := range goldenJSON {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"digestStartTime":"2015-08-17T14:01:31.5+02:00","logFiles":[{}],"previousDigestS3Object":"x"}`))
	f.Add([]byte(`{"digestEndTime":12}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := integrity.ParseDigest(b)
		if err != nil {
			return
		}
		out := d.Marshal()
		d2, err := integrity.ParseDigest(out)
		if err != nil {
			t.Fatalf("ParseDigest(Marshal(ParseDigest(%q))) = %v", b, err)
		}
		if diff := cmp.Diff(out, d2.Marshal()); diff != "" {
			t.Fatalf("parse-format-parse not stable (-first +second):\n%s", diff)
		}
	})
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2015-08-17T14:01:31Z", "20150817T140131Z", "2015-08-17T14:01:31.123+05:30", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := integrity.ParseTime(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "Unable to parse date value: ") {
				t.Fatalf("ParseTime(%q) error %q", s, err)
			}
			return
		}
		if tm.Location() != time.UTC {
			t.Fatalf("ParseTime(%q) not in UTC", s)
		}
		back, err := integrity.ParseTime(tm.Truncate(time.Second).Format(integrity.TimeFormat))
		if err != nil || !back.Equal(tm.Truncate(time.Second)) {
			t.Fatalf("ParseTime(%q) = %v does not round-trip: %v, %v", s, tm, back, err)
		}
	})
}

// knownProblem reports whether a result's problem is one Validate gives.
func knownProblem(r integrity.Result) bool {
	p := r.Problem
	for _, k := range []string{"", "invalid format", "signature verification failed", "has been moved from its original location",
		"not found", "hash value doesn't match", "unexpected data after end of compressed stream",
		"the chain of previous digests loops back to this digest", "Odd-length string", "Non-hexadecimal digit found"} {
		if p == k {
			return true
		}
	}
	for _, pre := range []string{"public key not found in region ", "Unable to load PKCS #1 key with fingerprint ", "Unable to parse date value: "} {
		if strings.HasPrefix(p, pre) {
			return true
		}
	}
	return false
}

// FuzzValidateHostileDigests validates buckets holding fuzzed digest
// files (signed, so they get past the signature to the chain walk and the
// log files) and fuzzed log files: Validate must end, never panic, and
// report only its own classifications.
func FuzzValidateHostileDigests(f *testing.F) {
	s, _ := testSigners(f)
	start := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	key := func(end time.Time) string {
		return integrity.DigestKey("", "123456789012", "us-east-1", "trail", "us-east-1", end)
	}
	k1, k2 := key(start.Add(time.Hour)), key(start.Add(2*time.Hour))
	seed := func(prev string) []byte {
		d := &integrity.Digest{AccountID: "123456789012", StartTime: start.Add(time.Hour), EndTime: start.Add(2 * time.Hour), S3Bucket: "b", S3Object: k2,
			Previous: &integrity.PreviousDigest{S3Bucket: "b", S3Object: prev, Signature: "00"},
			LogFiles: []integrity.LogFile{{S3Bucket: "b", S3Object: "log.json.gz", HashValue: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}}}
		return d.Marshal()
	}
	f.Add(seed(k1), gz(nil), true)
	f.Add(seed(k2), gz([]byte("x")), true) // a loop
	f.Add([]byte(goldenJSON["starting"]), []byte{0x1f, 0x8b}, false)
	f.Add([]byte(`{"digestS3Bucket":"b","digestS3Object":"`+k2+`","digestPublicKeyFingerprint":[],"previousDigestSignature":1,"digestEndTime":null,"digestStartTime":"","logFiles":{}}`), []byte{}, true)
	f.Fuzz(func(t *testing.T, raw, logBody []byte, signed bool) {
		// The fuzzed JSON stands at k2, signed as it is; k1 is a valid
		// starting digest.
		first := &integrity.Digest{AccountID: "123456789012", StartTime: start, EndTime: start.Add(time.Hour), S3Bucket: "b", S3Object: k1}
		sd1, err := integrity.SignDigest(first, s)
		if err != nil {
			t.Fatal(err)
		}
		meta := map[string]string{"signature-algorithm": "SHA256withRSA"}
		if signed {
			// Sign the fuzzed bytes as if they were a digest at k2.
			sig, err := s.Sign([]byte(start.Add(2*time.Hour).Format(integrity.TimeFormat) + "\nb/" + k2 + "\n" + sha256hex(raw) + "\n" + prevSig(raw)))
			if err != nil {
				t.Fatal(err)
			}
			meta["signature"] = hexString(sig)
		}
		m := memBucket{k1: {sd1.Body, sd1.Metadata}, k2: {gz(raw), meta}, "log.json.gz": {logBody, nil}}
		opts := integrity.Options{TrailARN: "arn:aws:cloudtrail:us-east-1:123456789012:trail/trail", Start: start, End: start.Add(3 * time.Hour),
			Bucket: "b", Objects: m, Workers: 2,
			PublicKeys: func(context.Context, time.Time, time.Time) ([]integrity.PublicKey, error) {
				return []integrity.PublicKey{s.PublicKey()}, nil
			}}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		n := 0
		err = integrity.Validate(ctx, opts, func(r integrity.Result) {
			n++
			if !knownProblem(r) {
				t.Errorf("unexpected problem %q", r.Problem)
			}
		})
		if err != nil {
			t.Fatalf("Validate: %v", err)
		}
		if n > 100 {
			t.Fatalf("%d results from two digests and one log file", n)
		}
	})
}

func FuzzLocalDirKeys(f *testing.F) {
	for _, k := range []string{"AWSLogs/1/x.json.gz", "../x", "/etc/passwd", "a//b", "a/./b", ".", ""} {
		f.Add(k)
	}
	dir := f.TempDir()
	b := integrity.LocalDir(dir)
	f.Fuzz(func(t *testing.T, key string) {
		rc, _, err := b.Open(context.Background(), "b", key)
		if err == nil {
			rc.Close()
			t.Fatalf("Open(%q) found a file in an empty directory", key)
		}
		b.List(context.Background(), "b", key, "", func(string) bool { return true })
	})
}

func sha256hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func hexString(b []byte) string { return hex.EncodeToString(b) }

// prevSig is the previousDigestSignature a validator puts in the signed
// string: the value if it is a string, else "null".
func prevSig(raw []byte) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return "null"
	}
	var s string
	if json.Unmarshal(m["previousDigestSignature"], &s) != nil {
		return "null"
	}
	return s
}
