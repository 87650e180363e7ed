// Package integrity implements CloudTrail's log file integrity validation:
// the per-region RSA signing keys (Keys, kept encrypted in the journal
// database), the hourly digest files that chain and sign delivered log
// files (Digest, SignDigest, DigestKey), and a validator that checks a
// bucket, or a local copy of one, the way `aws cloudtrail validate-logs`
// does (Validate).
//
// The formats follow AWS byte for byte where it matters: the digest key
// layout, the JSON fields and their order, the string that is signed, the
// S3 metadata, and the validator's checks and messages.
package integrity

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"
)

// Algorithm names as they appear in digests and metadata.
const (
	SignatureAlgorithm = "SHA256withRSA"
	HashAlgorithm      = "SHA-256"
)

// S3 user metadata names of a digest object (x-amz-meta-...).
const (
	MetaSignature          = "signature"
	MetaSignatureAlgorithm = "signature-algorithm"
	MetaBackfillTimestamp  = "backfill-generation-timestamp"
)

// TimeFormat is the format of every time in a digest.
const TimeFormat = "2006-01-02T15:04:05Z"

// keyTimeFormat is the timestamp in digest keys.
const keyTimeFormat = "20060102T150405Z"

// Digest is one digest file. Times are written in UTC with second
// precision; a zero time is written as null.
type Digest struct {
	AccountID            string    // awsAccountId
	StartTime, EndTime   time.Time // digestStartTime, digestEndTime
	S3Bucket, S3Object   string    // digestS3Bucket, digestS3Object
	PublicKeyFingerprint string    // digestPublicKeyFingerprint (set by SignDigest)
	SignatureAlgorithm   string    // digestSignatureAlgorithm (set by SignDigest)
	// NewestEventTime and OldestEventTime span the log files' events; zero
	// (null) when there are none.
	NewestEventTime, OldestEventTime time.Time
	// Previous is the previous digest of the chain; nil for a starting
	// digest, whose five previousDigest* fields are null.
	Previous *PreviousDigest
	// LogFiles are the log files delivered in [StartTime, EndTime]; none
	// is written as [].
	LogFiles []LogFile
}

// PreviousDigest links a digest to the one before it.
type PreviousDigest struct {
	S3Bucket, S3Object string
	HashValue          string // hex SHA-256 of the previous digest's uncompressed bytes
	HashAlgorithm      string // "SHA-256"
	Signature          string // hex signature of the previous digest
}

// LogFile is an entry of a digest's logFiles.
type LogFile struct {
	S3Bucket, S3Object string
	HashValue          string // hex SHA-256 of the uncompressed log file
	HashAlgorithm      string // "SHA-256"
	NewestEventTime    time.Time
	OldestEventTime    time.Time
}

// NewLogFile returns the entry of a log file from the SHA-256 of its
// uncompressed bytes.
func NewLogFile(bucket, key string, sha [32]byte, newest, oldest time.Time) LogFile {
	return LogFile{S3Bucket: bucket, S3Object: key, HashValue: hex.EncodeToString(sha[:]), HashAlgorithm: HashAlgorithm,
		NewestEventTime: newest, OldestEventTime: oldest}
}

// DigestKey is the object key of the digest that region delivers for a
// trail, ending at end:
//
//	[prefix/]AWSLogs/account/CloudTrail-Digest/region/YYYY/MM/DD/account_CloudTrail-Digest_region_trailName_homeRegion_YYYYMMDDTHHMMSSZ.json.gz
func DigestKey(prefix, account, region, trailName, homeRegion string, end time.Time) string {
	return OrganizationDigestKey(prefix, "", account, region, trailName, homeRegion, end)
}

// OrganizationDigestKey is DigestKey for a member account of an
// organization trail: orgID ("o-...") follows AWSLogs/. An empty orgID
// gives DigestKey.
func OrganizationDigestKey(prefix, orgID, account, region, trailName, homeRegion string, end time.Time) string {
	end = end.UTC()
	var b strings.Builder
	if prefix != "" {
		b.WriteString(prefix)
		b.WriteByte('/')
	}
	b.WriteString("AWSLogs/")
	if orgID != "" {
		b.WriteString(orgID)
		b.WriteByte('/')
	}
	fmt.Fprintf(&b, "%s/CloudTrail-Digest/%s/%s/%s_CloudTrail-Digest_%s_%s_%s_%s.json.gz",
		account, region, end.Format("2006/01/02"), account, region, trailName, homeRegion, end.Format(keyTimeFormat))
	return b.String()
}

// Marshal returns the digest's JSON as AWS writes it: compact, fields in
// AWS's order. These are the bytes that are hashed and signed.
func (d *Digest) Marshal() []byte {
	b := make([]byte, 0, 700+300*len(d.LogFiles))
	b = append(b, `{"awsAccountId":`...)
	b = appendString(b, d.AccountID)
	b = append(b, `,"digestStartTime":`...)
	b = appendTime(b, d.StartTime)
	b = append(b, `,"digestEndTime":`...)
	b = appendTime(b, d.EndTime)
	b = append(b, `,"digestS3Bucket":`...)
	b = appendString(b, d.S3Bucket)
	b = append(b, `,"digestS3Object":`...)
	b = appendString(b, d.S3Object)
	b = append(b, `,"digestPublicKeyFingerprint":`...)
	b = appendString(b, d.PublicKeyFingerprint)
	b = append(b, `,"digestSignatureAlgorithm":`...)
	b = appendString(b, d.SignatureAlgorithm)
	b = append(b, `,"newestEventTime":`...)
	b = appendTime(b, d.NewestEventTime)
	b = append(b, `,"oldestEventTime":`...)
	b = appendTime(b, d.OldestEventTime)
	p := d.Previous
	if p == nil {
		b = append(b, `,"previousDigestS3Bucket":null,"previousDigestS3Object":null,"previousDigestHashValue":null,"previousDigestHashAlgorithm":null,"previousDigestSignature":null`...)
	} else {
		b = append(b, `,"previousDigestS3Bucket":`...)
		b = appendString(b, p.S3Bucket)
		b = append(b, `,"previousDigestS3Object":`...)
		b = appendString(b, p.S3Object)
		b = append(b, `,"previousDigestHashValue":`...)
		b = appendString(b, p.HashValue)
		b = append(b, `,"previousDigestHashAlgorithm":`...)
		b = appendString(b, p.HashAlgorithm)
		b = append(b, `,"previousDigestSignature":`...)
		b = appendString(b, p.Signature)
	}
	b = append(b, `,"logFiles":[`...)
	for i, f := range d.LogFiles {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"s3Bucket":`...)
		b = appendString(b, f.S3Bucket)
		b = append(b, `,"s3Object":`...)
		b = appendString(b, f.S3Object)
		b = append(b, `,"hashValue":`...)
		b = appendString(b, f.HashValue)
		b = append(b, `,"hashAlgorithm":`...)
		b = appendString(b, f.HashAlgorithm)
		b = append(b, `,"newestEventTime":`...)
		b = appendTime(b, f.NewestEventTime)
		b = append(b, `,"oldestEventTime":`...)
		b = appendTime(b, f.OldestEventTime)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, TimeFormat)
	return append(b, '"')
}

// appendString appends s as a JSON string, escaping only what JSON
// requires (no HTML escapes); invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, "\ufffd"...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// SigningString is the string a digest's signature covers, built from the
// digest's own field values and the SHA-256 of its uncompressed bytes:
//
//	digestEndTime \n digestS3Bucket/digestS3Object \n hex(SHA-256(uncompressed)) \n previousDigestSignature
//
// with the literal "null" as the last part of a starting digest.
func SigningString(d *Digest, uncompressed []byte) string {
	prev := "null"
	if d.Previous != nil {
		prev = d.Previous.Signature
	}
	end := ""
	if !d.EndTime.IsZero() {
		end = d.EndTime.UTC().Format(TimeFormat)
	}
	return signingString(end, d.S3Bucket, d.S3Object, uncompressed, prev)
}

func signingString(end, bucket, object string, uncompressed []byte, prev string) string {
	sum := sha256.Sum256(uncompressed)
	return end + "\n" + bucket + "/" + object + "\n" + hex.EncodeToString(sum[:]) + "\n" + prev
}

// SignedDigest is a digest ready to be written.
type SignedDigest struct {
	Bucket, Key  string // where it goes: the digest's S3Bucket and S3Object
	Uncompressed []byte // the JSON, as hashed and signed
	Body         []byte // the gzipped JSON: the object's bytes
	// Signature is the lower-case hex signature.
	Signature string
	// Metadata is the object's user metadata: signature and
	// signature-algorithm (x-amz-meta-signature, ...).
	Metadata map[string]string
}

// SignDigest sets d's fingerprint and signature algorithm from s, and
// returns the digest's bytes, gzipped body, signature and metadata.
func SignDigest(d *Digest, s *Signer) (*SignedDigest, error) {
	if d.S3Bucket == "" || d.S3Object == "" || d.EndTime.IsZero() {
		return nil, errors.New("sign digest: the digest needs its bucket, object key and end time")
	}
	d.PublicKeyFingerprint = s.Fingerprint
	d.SignatureAlgorithm = SignatureAlgorithm
	raw := d.Marshal()
	sig, err := s.Sign([]byte(SigningString(d, raw)))
	if err != nil {
		return nil, fmt.Errorf("sign digest %s: %w", d.S3Object, err)
	}
	var body bytes.Buffer
	body.Grow(len(raw)/4 + 64)
	zw := gzip.NewWriter(&body)
	zw.Write(raw)
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress digest: %w", err)
	}
	hexSig := hex.EncodeToString(sig)
	return &SignedDigest{Bucket: d.S3Bucket, Key: d.S3Object, Uncompressed: raw, Body: body.Bytes(), Signature: hexSig,
		Metadata: map[string]string{MetaSignature: hexSig, MetaSignatureAlgorithm: SignatureAlgorithm}}, nil
}

// Previous is the link the next digest of the chain carries to this one.
func (sd *SignedDigest) Previous() *PreviousDigest {
	sum := sha256.Sum256(sd.Uncompressed)
	return &PreviousDigest{S3Bucket: sd.Bucket, S3Object: sd.Key, HashValue: hex.EncodeToString(sum[:]),
		HashAlgorithm: HashAlgorithm, Signature: sd.Signature}
}

// wireDigest is a digest's JSON with every field optional and nullable.
type wireDigest struct {
	AccountID          *string `json:"awsAccountId"`
	StartTime          *string `json:"digestStartTime"`
	EndTime            *string `json:"digestEndTime"`
	S3Bucket           *string `json:"digestS3Bucket"`
	S3Object           *string `json:"digestS3Object"`
	Fingerprint        *string `json:"digestPublicKeyFingerprint"`
	SignatureAlgorithm *string `json:"digestSignatureAlgorithm"`
	NewestEventTime    *string `json:"newestEventTime"`
	OldestEventTime    *string `json:"oldestEventTime"`
	PreviousS3Bucket   *string `json:"previousDigestS3Bucket"`
	PreviousS3Object   *string `json:"previousDigestS3Object"`
	PreviousHashValue  *string `json:"previousDigestHashValue"`
	PreviousHashAlgo   *string `json:"previousDigestHashAlgorithm"`
	PreviousSignature  *string `json:"previousDigestSignature"`
	LogFiles           []struct {
		S3Bucket        *string `json:"s3Bucket"`
		S3Object        *string `json:"s3Object"`
		HashValue       *string `json:"hashValue"`
		HashAlgorithm   *string `json:"hashAlgorithm"`
		NewestEventTime *string `json:"newestEventTime"`
		OldestEventTime *string `json:"oldestEventTime"`
	} `json:"logFiles"`
}

// ParseDigest decodes a digest's uncompressed JSON. Missing or null
// strings read as "", missing or null times as zero; a digest whose
// previousDigestS3Object is null or missing has no Previous. It fails for
// bytes that are not UTF-8 JSON of that shape, or times that are not
// RFC 3339. ParseDigest(d.Marshal()) gives d back (times in UTC, to the
// second).
func ParseDigest(uncompressed []byte) (*Digest, error) {
	if !utf8.Valid(uncompressed) {
		return nil, errors.New("parse digest: not UTF-8")
	}
	var w wireDigest
	if err := json.Unmarshal(uncompressed, &w); err != nil {
		return nil, fmt.Errorf("parse digest: %w", err)
	}
	var errs []error
	tm := func(name string, s *string) time.Time {
		if s == nil {
			return time.Time{}
		}
		t, err := ParseTime(*s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		return t
	}
	d := &Digest{
		AccountID: str(w.AccountID), StartTime: tm("digestStartTime", w.StartTime), EndTime: tm("digestEndTime", w.EndTime),
		S3Bucket: str(w.S3Bucket), S3Object: str(w.S3Object), PublicKeyFingerprint: str(w.Fingerprint),
		SignatureAlgorithm: str(w.SignatureAlgorithm),
		NewestEventTime:    tm("newestEventTime", w.NewestEventTime), OldestEventTime: tm("oldestEventTime", w.OldestEventTime),
	}
	if w.PreviousS3Object != nil {
		d.Previous = &PreviousDigest{S3Bucket: str(w.PreviousS3Bucket), S3Object: *w.PreviousS3Object,
			HashValue: str(w.PreviousHashValue), HashAlgorithm: str(w.PreviousHashAlgo), Signature: str(w.PreviousSignature)}
	}
	for i, f := range w.LogFiles {
		name := "logFiles[" + strconv.Itoa(i) + "]."
		d.LogFiles = append(d.LogFiles, LogFile{S3Bucket: str(f.S3Bucket), S3Object: str(f.S3Object), HashValue: str(f.HashValue),
			HashAlgorithm: str(f.HashAlgorithm), NewestEventTime: tm(name+"newestEventTime", f.NewestEventTime),
			OldestEventTime: tm(name+"oldestEventTime", f.OldestEventTime)})
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("parse digest: %w", errors.Join(errs...))
	}
	return d, nil
}

func str(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// ParseTime reads a digest or key time: YYYY-MM-DDTHH:MM:SSZ (any RFC 3339
// time) or YYYYMMDDTHHMMSSZ, returned in UTC.
func ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(keyTimeFormat, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("Unable to parse date value: %s", s)
}
