package lakeresults

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/opentrail/opentrail/integrity"
)

// SignFile is result_sign.json.
type SignFile struct {
	Version            string `json:"version"`
	Region             string `json:"region"`
	Files              []File `json:"files"`
	HashAlgorithm      string `json:"hashAlgorithm"`
	SignatureAlgorithm string `json:"signatureAlgorithm"`
	QueryCompleteTime  string `json:"queryCompleteTime"`
	// HashSignature is the hex signature of SigningString.
	HashSignature        string `json:"hashSignature"`
	PublicKeyFingerprint string `json:"publicKeyFingerprint"`
}

// File is a result file listed in the sign file.
type File struct {
	// Hash is the hex SHA-256 of the file's (compressed) bytes.
	Hash string `json:"fileHashValue"`
	Name string `json:"fileName"`
}

// The algorithms a sign file names.
const (
	HashAlgorithm      = "SHA-256"
	SignatureAlgorithm = "SHA256withRSA"
)

// maxSignFile bounds the sign file a reader accepts (about a million files).
const maxSignFile = 128 << 20

// SigningString is what the sign file's signature covers: the files'
// hashes joined by single spaces, in the listed order.
func (sf *SignFile) SigningString() string {
	hashes := make([]string, len(sf.Files))
	for i, f := range sf.Files {
		hashes[i] = f.Hash
	}
	return strings.Join(hashes, " ")
}

// NewSignFile lists files and signs them with signer.
func NewSignFile(region string, files []File, completed time.Time, signer *integrity.Signer) (*SignFile, error) {
	sf := &SignFile{
		Version: "1.0", Region: region, Files: files,
		HashAlgorithm: HashAlgorithm, SignatureAlgorithm: SignatureAlgorithm,
		QueryCompleteTime:    completed.UTC().Format("2006-01-02T15:04:05Z"),
		PublicKeyFingerprint: signer.Fingerprint,
	}
	sig, err := signer.Sign([]byte(sf.SigningString()))
	if err != nil {
		return nil, fmt.Errorf("sign query results: %w", err)
	}
	sf.HashSignature = hex.EncodeToString(sig)
	return sf, nil
}

// Marshal returns the sign file's JSON.
func (sf *SignFile) Marshal() []byte {
	b, _ := json.Marshal(sf) // strings and a slice of them: cannot fail
	return b
}

var (
	hexHash     = regexp.MustCompile(`^[0-9a-f]{64}$`)
	hexString   = regexp.MustCompile(`^(?:[0-9a-fA-F]{2})+$`)
	fingerprint = regexp.MustCompile(`^[0-9a-fA-F]{1,128}$`)
	regionName  = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)
	// fileName is a plain object name: no slashes, no "." or ".." alone.
	fileName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,254}$`)
)

// ParseSignFile reads result_sign.json and checks that it is complete and
// well formed: known algorithms, at least one file, each with a plain
// name (no slashes) listed once and a SHA-256 in hex, a hex signature, a
// fingerprint and a region. It does not verify the signature (Verify).
func ParseSignFile(b []byte) (*SignFile, error) {
	if len(b) > maxSignFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", SignFileName, maxSignFile)
	}
	var sf SignFile
	if err := json.Unmarshal(b, &sf); err != nil {
		return nil, fmt.Errorf("%s is not valid JSON: %w", SignFileName, err)
	}
	bad := func(format string, args ...any) (*SignFile, error) {
		return nil, fmt.Errorf("%s: "+format, append([]any{SignFileName}, args...)...)
	}
	switch {
	case sf.HashAlgorithm != HashAlgorithm:
		return bad("hashAlgorithm %q is not %s", sf.HashAlgorithm, HashAlgorithm)
	case sf.SignatureAlgorithm != SignatureAlgorithm:
		return bad("signatureAlgorithm %q is not %s", sf.SignatureAlgorithm, SignatureAlgorithm)
	case !regionName.MatchString(sf.Region):
		return bad("region %q is not a region name", sf.Region)
	case !fingerprint.MatchString(sf.PublicKeyFingerprint):
		return bad("publicKeyFingerprint %q is not a hex fingerprint", sf.PublicKeyFingerprint)
	case !hexString.MatchString(sf.HashSignature):
		return bad("hashSignature is not a hex signature")
	case len(sf.Files) == 0:
		return bad("no files are listed")
	}
	seen := make(map[string]bool, len(sf.Files))
	for i, f := range sf.Files {
		switch {
		case !fileName.MatchString(f.Name):
			return bad("file %d: fileName %q is not a plain file name", i+1, f.Name)
		case seen[f.Name]:
			return bad("%s is listed twice", f.Name)
		case !hexHash.MatchString(f.Hash):
			return bad("%s: fileHashValue %q is not a hex SHA-256", f.Name, f.Hash)
		}
		seen[f.Name] = true
	}
	return &sf, nil
}

// ErrSignature is returned (wrapped) by Verify when the signature does not
// match.
var ErrSignature = errors.New("signature mismatch")

// Verify checks the sign file's signature with the DER PKCS#1 public key
// der: the key of the sign file's region with its publicKeyFingerprint
// (finding it is the caller's part, as fingerprints are opaque).
func (sf *SignFile) Verify(der []byte) error {
	pub, err := x509.ParsePKCS1PublicKey(der)
	if err != nil {
		return fmt.Errorf("public key %s: %w", sf.PublicKeyFingerprint, err)
	}
	sig, err := hex.DecodeString(sf.HashSignature)
	if err != nil {
		return fmt.Errorf("%w: hashSignature is not hex", ErrSignature)
	}
	sum := sha256.Sum256([]byte(sf.SigningString()))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return fmt.Errorf("%w: %s's hashSignature does not verify with public key %s", ErrSignature, SignFileName, sf.PublicKeyFingerprint)
	}
	return nil
}
