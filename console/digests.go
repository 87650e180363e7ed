package console

import (
	"compress/gzip"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/opentrail/opentrail/integrity"
)

// The object page of a digest file shows its validation state, checked the
// way `opentrail validate-logs` checks one digest: its signature (from the
// object's x-amz-meta-signature, with the public key ListPublicKeys gives
// for its fingerprint), its link to the previous digest, and, on request,
// the hash of every log file it lists. Only public information is used:
// what any holder of the bucket and the public keys can check.

// maxDigestLogChecks bounds the log files one page view hashes.
const maxDigestLogChecks = 500

type digestState struct {
	// Signature is "valid" or why it is not.
	Signature   string
	SignatureOK bool
	Fingerprint string
	Region      string
	// Chain describes the link to the previous digest.
	Chain   string
	ChainOK bool
	// Logs are the listed log files' states when they were checked
	// (CheckLogsHref otherwise).
	Logs          []logState
	LogsChecked   bool
	LogsValid     int
	CheckLogsHref string
	LogCount      int
	Skipped       int
}

type logState struct {
	Key, Href, State string
	OK               bool
}

// checkDigest validates the digest at bucket/key whose uncompressed bytes
// are raw and whose user metadata is meta. checkLogs also hashes the log
// files it lists.
func (c *Console) checkDigest(ctx context.Context, cl *clients, bucket, key string, raw []byte, meta map[string]string, checkLogs bool) *digestState {
	st := &digestState{Region: digestRegion(key)}
	d, err := integrity.ParseDigest(raw)
	if err != nil {
		st.Signature = "not a valid digest file: " + err.Error()
		return st
	}
	st.Fingerprint = d.PublicKeyFingerprint
	st.LogCount = len(d.LogFiles)
	st.Signature, st.SignatureOK = c.verifyDigestSignature(ctx, cl, st.Region, bucket, key, d, raw, meta)
	st.Chain, st.ChainOK = checkPrevious(ctx, cl, d)
	if !checkLogs {
		if len(d.LogFiles) > 0 {
			st.CheckLogsHref = objectHref(bucket, key, "object") + "&check=logs"
		}
		return st
	}
	st.LogsChecked = true
	for i, lf := range d.LogFiles {
		if i == maxDigestLogChecks {
			st.Skipped = len(d.LogFiles) - i
			break
		}
		ls := logState{Key: lf.S3Bucket + "/" + lf.S3Object, Href: objectHref(lf.S3Bucket, lf.S3Object, "object")}
		ls.State, ls.OK = checkListedLog(ctx, cl, lf)
		if ls.OK {
			st.LogsValid++
		}
		st.Logs = append(st.Logs, ls)
	}
	return st
}

// digestRegion is the region in a digest key
// (.../CloudTrail-Digest/<region>/yyyy/mm/dd/...).
func digestRegion(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		if p == "CloudTrail-Digest" && i+1 < len(parts) {
			return parts[i+1]
		}
	}
	return ""
}

func (c *Console) verifyDigestSignature(ctx context.Context, cl *clients, region, bucket, key string, d *integrity.Digest, raw []byte, meta map[string]string) (string, bool) {
	if d.S3Bucket != bucket || d.S3Object != key {
		return fmt.Sprintf("invalid: the digest says it belongs at %s/%s (it was moved)", d.S3Bucket, d.S3Object), false
	}
	sigHex := meta[integrity.MetaSignature]
	if sigHex == "" {
		return "invalid: the object has no x-amz-meta-signature", false
	}
	if alg := meta[integrity.MetaSignatureAlgorithm]; alg != integrity.SignatureAlgorithm {
		return fmt.Sprintf("invalid: unsupported signature algorithm %q", alg), false
	}
	sig, err := hex.DecodeString(sigHex)
	if err != nil {
		return "invalid: the signature is not hex", false
	}
	pub, err := publicKeyFor(ctx, cl, region, d)
	if err != nil {
		return err.Error(), false
	}
	sum := sha256.Sum256([]byte(integrity.SigningString(d, raw)))
	if rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) != nil {
		return "invalid: the signature does not match the digest", false
	}
	return "valid", true
}

// publicKeyFor finds the digest's public key among the region's keys
// valid around the digest's period.
func publicKeyFor(ctx context.Context, cl *clients, region string, d *integrity.Digest) (*rsa.PublicKey, error) {
	in := &cloudtrail.ListPublicKeysInput{StartTime: aws.Time(d.StartTime.Add(-time.Hour))}
	opt := func(o *cloudtrail.Options) {
		if region != "" {
			o.Region = region
		}
	}
	for p := cloudtrail.NewListPublicKeysPaginator(cl.ct, in); p.HasMorePages(); {
		out, err := p.NextPage(ctx, opt)
		if err != nil {
			return nil, fmt.Errorf("cannot check: ListPublicKeys failed: %v", err)
		}
		for _, k := range out.PublicKeyList {
			if aws.ToString(k.Fingerprint) != d.PublicKeyFingerprint {
				continue
			}
			pub, err := x509.ParsePKCS1PublicKey(k.Value)
			if err != nil {
				return nil, fmt.Errorf("cannot check: public key %s is not an RSA key", d.PublicKeyFingerprint)
			}
			return pub, nil
		}
	}
	return nil, fmt.Errorf("invalid: no public key with fingerprint %s in %s", d.PublicKeyFingerprint, region)
}

// checkPrevious checks that the previous digest exists and carries the
// signature this digest names.
func checkPrevious(ctx context.Context, cl *clients, d *integrity.Digest) (string, bool) {
	p := d.Previous
	if p == nil {
		return "starting digest (no previous digest)", true
	}
	out, err := cl.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(p.S3Bucket), Key: aws.String(p.S3Object)})
	if err != nil {
		return fmt.Sprintf("previous digest %s/%s: %s", p.S3Bucket, p.S3Object, s3Problem(err)), false
	}
	if out.Metadata[integrity.MetaSignature] != p.Signature {
		return fmt.Sprintf("previous digest %s/%s has a different signature than this digest names", p.S3Bucket, p.S3Object), false
	}
	return "previous digest present, signature matches", true
}

// checkListedLog fetches a log file and compares the SHA-256 of its
// uncompressed bytes with the digest's hashValue.
func checkListedLog(ctx context.Context, cl *clients, lf integrity.LogFile) (string, bool) {
	out, err := cl.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(lf.S3Bucket), Key: aws.String(lf.S3Object)})
	if err != nil {
		return s3Problem(err), false
	}
	defer out.Body.Close()
	zr, err := gzip.NewReader(out.Body)
	if err != nil {
		return "invalid: not a gzip file", false
	}
	zr.Multistream(false)
	h := sha256.New()
	if _, err := io.Copy(h, zr); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return "invalid: " + err.Error(), false
	}
	if hex.EncodeToString(h.Sum(nil)) != lf.HashValue {
		return "invalid: hash value doesn't match", false
	}
	return "valid", true
}

func s3Problem(err error) string {
	var nf interface{ ErrorCode() string }
	if errors.As(err, &nf) && (nf.ErrorCode() == "NoSuchKey" || nf.ErrorCode() == "NotFound") {
		return "invalid: not found"
	}
	return "cannot check: " + err.Error()
}
