package integrity_test

import (
	"bytes"
	"compress/gzip"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"regexp"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opentrail/opentrail/integrity"
)

var (
	dEnd   = time.Date(2015, 8, 17, 15, 1, 31, 0, time.UTC)
	dStart = dEnd.Add(-time.Hour)
)

func goldenDigests() map[string]*integrity.Digest {
	key := integrity.DigestKey("", "111122223333", "us-east-2", "my-trail", "us-east-1", dEnd)
	return map[string]*integrity.Digest{
		"starting": {
			AccountID: "111122223333", StartTime: dStart, EndTime: dEnd, S3Bucket: "bucket", S3Object: key,
			PublicKeyFingerprint: "31e8b5433410dfb61a9dc45cc65b22ff", SignatureAlgorithm: "SHA256withRSA",
			NewestEventTime: dEnd.Add(-2 * time.Minute), OldestEventTime: dStart.Add(-3 * time.Minute),
			LogFiles: []integrity.LogFile{{S3Bucket: "bucket", S3Object: "AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/17/a.json.gz",
				HashValue: "9bb6196fc6b84d6f075a56548feca262bd99ba3c2de41b618e5b6e22c1fc71f6", HashAlgorithm: "SHA-256",
				NewestEventTime: dEnd.Add(-2 * time.Minute), OldestEventTime: dStart.Add(-3 * time.Minute)}},
		},
		"empty": {
			AccountID: "111122223333", StartTime: dStart, EndTime: dEnd, S3Bucket: "bucket", S3Object: key,
			PublicKeyFingerprint: "31e8b5433410dfb61a9dc45cc65b22ff", SignatureAlgorithm: "SHA256withRSA",
			Previous: &integrity.PreviousDigest{S3Bucket: "bucket", S3Object: "prev.json.gz",
				HashValue: "97fb791cf91ffc440d274f8190dbdd9aa09c34432aba82739df18b6d3c13df2d", HashAlgorithm: "SHA-256",
				Signature: "50f2b4b3"},
		},
		"chained": {
			AccountID: "111122223333", StartTime: dStart, EndTime: dEnd, S3Bucket: "bucket", S3Object: key,
			PublicKeyFingerprint: "31e8b5433410dfb61a9dc45cc65b22ff", SignatureAlgorithm: "SHA256withRSA",
			NewestEventTime: dEnd, OldestEventTime: dStart,
			Previous: &integrity.PreviousDigest{S3Bucket: "bucket", S3Object: "prev.json.gz",
				HashValue: "97fb791cf91ffc440d274f8190dbdd9aa09c34432aba82739df18b6d3c13df2d", HashAlgorithm: "SHA-256",
				Signature: "50f2b4b3"},
			LogFiles: []integrity.LogFile{
				{S3Bucket: "bucket", S3Object: "a&<b>\"\\\n.json.gz", HashValue: "00", HashAlgorithm: "SHA-256", NewestEventTime: dEnd, OldestEventTime: dStart},
				{S3Bucket: "bucket", S3Object: "é.json.gz", HashValue: "01", HashAlgorithm: "SHA-256", NewestEventTime: dEnd, OldestEventTime: dEnd},
			},
		},
	}
}

const goldenKey = `AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/111122223333_CloudTrail-Digest_us-east-2_my-trail_us-east-1_20150817T150131Z.json.gz`

var goldenJSON = map[string]string{
	"starting": `{"awsAccountId":"111122223333","digestStartTime":"2015-08-17T14:01:31Z","digestEndTime":"2015-08-17T15:01:31Z","digestS3Bucket":"bucket","digestS3Object":"` + goldenKey + `","digestPublicKeyFingerprint":"31e8b5433410dfb61a9dc45cc65b22ff","digestSignatureAlgorithm":"SHA256withRSA","newestEventTime":"2015-08-17T14:59:31Z","oldestEventTime":"2015-08-17T13:58:31Z","previousDigestS3Bucket":null,"previousDigestS3Object":null,"previousDigestHashValue":null,"previousDigestHashAlgorithm":null,"previousDigestSignature":null,"logFiles":[{"s3Bucket":"bucket","s3Object":"AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/17/a.json.gz","hashValue":"9bb6196fc6b84d6f075a56548feca262bd99ba3c2de41b618e5b6e22c1fc71f6","hashAlgorithm":"SHA-256","newestEventTime":"2015-08-17T14:59:31Z","oldestEventTime":"2015-08-17T13:58:31Z"}]}`,
	"empty":    `{"awsAccountId":"111122223333","digestStartTime":"2015-08-17T14:01:31Z","digestEndTime":"2015-08-17T15:01:31Z","digestS3Bucket":"bucket","digestS3Object":"` + goldenKey + `","digestPublicKeyFingerprint":"31e8b5433410dfb61a9dc45cc65b22ff","digestSignatureAlgorithm":"SHA256withRSA","newestEventTime":null,"oldestEventTime":null,"previousDigestS3Bucket":"bucket","previousDigestS3Object":"prev.json.gz","previousDigestHashValue":"97fb791cf91ffc440d274f8190dbdd9aa09c34432aba82739df18b6d3c13df2d","previousDigestHashAlgorithm":"SHA-256","previousDigestSignature":"50f2b4b3","logFiles":[]}`,
	"chained":  `{"awsAccountId":"111122223333","digestStartTime":"2015-08-17T14:01:31Z","digestEndTime":"2015-08-17T15:01:31Z","digestS3Bucket":"bucket","digestS3Object":"` + goldenKey + `","digestPublicKeyFingerprint":"31e8b5433410dfb61a9dc45cc65b22ff","digestSignatureAlgorithm":"SHA256withRSA","newestEventTime":"2015-08-17T15:01:31Z","oldestEventTime":"2015-08-17T14:01:31Z","previousDigestS3Bucket":"bucket","previousDigestS3Object":"prev.json.gz","previousDigestHashValue":"97fb791cf91ffc440d274f8190dbdd9aa09c34432aba82739df18b6d3c13df2d","previousDigestHashAlgorithm":"SHA-256","previousDigestSignature":"50f2b4b3","logFiles":[{"s3Bucket":"bucket","s3Object":"a&<b>\"\\\n.json.gz","hashValue":"00","hashAlgorithm":"SHA-256","newestEventTime":"2015-08-17T15:01:31Z","oldestEventTime":"2015-08-17T14:01:31Z"},{"s3Bucket":"bucket","s3Object":"é.json.gz","hashValue":"01","hashAlgorithm":"SHA-256","newestEventTime":"2015-08-17T15:01:31Z","oldestEventTime":"2015-08-17T15:01:31Z"}]}`,
}

func TestDigestMarshalGolden(t *testing.T) {
	for name, d := range goldenDigests() {
		got := string(d.Marshal())
		if diff := cmp.Diff(goldenJSON[name], got); diff != "" {
			t.Errorf("%s digest JSON (-want +got):\n%s", name, diff)
		}
		back, err := integrity.ParseDigest([]byte(got))
		if err != nil {
			t.Fatalf("%s: ParseDigest: %v", name, err)
		}
		if diff := cmp.Diff(d, back); diff != "" {
			t.Errorf("%s: ParseDigest(Marshal(d)) differs (-d +back):\n%s", name, diff)
		}
	}
}

func TestDigestKey(t *testing.T) {
	if got := integrity.DigestKey("", "111122223333", "us-east-2", "my-trail", "us-east-1", dEnd.In(time.FixedZone("x", 3600))); got != goldenKey {
		t.Errorf("DigestKey = %s, want %s", got, goldenKey)
	}
	// The AWS CLI's pattern (validation.py _create_digest_key_regex), and
	// its timestamp slice key[-24:-8].
	re := regexp.MustCompile(`^my/prefix/AWSLogs/111122223333/CloudTrail\-Digest/us\-east\-2/\d+/\d+/\d+/111122223333_CloudTrail\-Digest_us\-east\-2_my\-trail_us\-east\-1_.+(?:_backfill)?\.json\.gz$`)
	k := integrity.DigestKey("my/prefix", "111122223333", "us-east-2", "my-trail", "us-east-1", dEnd)
	if !re.MatchString(k) {
		t.Errorf("%s does not match the AWS CLI's pattern", k)
	}
	if ts := k[len(k)-24 : len(k)-8]; ts != "20150817T150131Z" {
		t.Errorf("key timestamp %q, want 20150817T150131Z", ts)
	}
	org := integrity.OrganizationDigestKey("", "o-abc", "111122223333", "us-east-2", "my-trail", "us-east-1", dEnd)
	if want := "AWSLogs/o-abc/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/111122223333_CloudTrail-Digest_us-east-2_my-trail_us-east-1_20150817T150131Z.json.gz"; org != want {
		t.Errorf("OrganizationDigestKey = %s, want %s", org, want)
	}
}

func ExampleDigestKey() {
	end := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	fmt.Println(integrity.DigestKey("logs", "123456789012", "eu-west-1", "main", "us-east-1", end))
	// Output: logs/AWSLogs/123456789012/CloudTrail-Digest/eu-west-1/2026/01/02/123456789012_CloudTrail-Digest_eu-west-1_main_us-east-1_20260102T150405Z.json.gz
}

func TestSigningString(t *testing.T) {
	d := goldenDigests()["starting"]
	raw := d.Marshal()
	sum := sha256.Sum256(raw)
	want := "2015-08-17T15:01:31Z\nbucket/" + goldenKey + "\n" + hex.EncodeToString(sum[:]) + "\nnull"
	if got := integrity.SigningString(d, raw); got != want {
		t.Errorf("SigningString(starting) = %q, want %q", got, want)
	}
	d = goldenDigests()["chained"]
	if got := integrity.SigningString(d, raw); got[len(got)-9:] != "\n50f2b4b3" {
		t.Errorf("SigningString(chained) ends %q, want the previous signature", got)
	}
}

func TestSignDigest(t *testing.T) {
	s, _ := testSigners(t)
	d := goldenDigests()["chained"]
	d.PublicKeyFingerprint, d.SignatureAlgorithm = "", ""
	sd, err := integrity.SignDigest(d, s)
	if err != nil {
		t.Fatal(err)
	}
	if d.PublicKeyFingerprint != s.Fingerprint || d.SignatureAlgorithm != "SHA256withRSA" {
		t.Errorf("SignDigest left fingerprint %q, algorithm %q", d.PublicKeyFingerprint, d.SignatureAlgorithm)
	}
	zr, err := gzip.NewReader(bytes.NewReader(sd.Body))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(zr)
	if !bytes.Equal(raw, sd.Uncompressed) || !bytes.Equal(raw, d.Marshal()) {
		t.Error("the body does not gunzip to the digest's JSON")
	}
	if diff := cmp.Diff(map[string]string{"signature": sd.Signature, "signature-algorithm": "SHA256withRSA"}, sd.Metadata); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	// Independent check: RSA PKCS#1 v1.5 over SHA-256 of the documented
	// string, built here by hand.
	sum := sha256.Sum256(raw)
	msg := "2015-08-17T15:01:31Z\nbucket/" + goldenKey + "\n" + hex.EncodeToString(sum[:]) + "\n50f2b4b3"
	h := sha256.Sum256([]byte(msg))
	sig, err := hex.DecodeString(sd.Signature)
	if err != nil || len(sig) != 256 {
		t.Fatalf("signature %q: %d bytes, %v; want 256 bytes of hex", sd.Signature, len(sig), err)
	}
	pub, err := x509.ParsePKCS1PublicKey(s.PublicKey().Value)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig); err != nil {
		t.Errorf("signature does not verify: %v", err)
	}
	next := sd.Previous()
	if next.S3Object != goldenKey || next.HashValue != hex.EncodeToString(sum[:]) || next.Signature != sd.Signature || next.HashAlgorithm != "SHA-256" {
		t.Errorf("Previous() = %+v", next)
	}
	if _, err := integrity.SignDigest(&integrity.Digest{}, s); err == nil {
		t.Error("SignDigest of an empty digest: no error")
	}
}
