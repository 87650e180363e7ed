package opentrail

import (
	"crypto/rand"
	"encoding/base64"
	"math/big"
)

// Principal types as they appear in userIdentity.type.
const (
	PrincipalRoot    = "Root"
	PrincipalIAMUser = "IAMUser"
)

// Principal is an authenticated caller.
type Principal struct {
	Type        string // PrincipalRoot or PrincipalIAMUser
	AccountID   string
	Name        string // IAM user name; empty for the root user
	PrincipalID string // the account ID for root, AIDA... for IAM users
	AccessKeyID string // the key the request was signed with
}

// ARN is the principal's ARN.
func (p *Principal) ARN() string {
	if p.Type == PrincipalRoot {
		return RootARN(p.AccountID)
	}
	return "arn:" + Partition + ":iam::" + p.AccountID + ":user/" + p.Name
}

// UserIdentity is the userIdentity element of records of the principal's calls.
func (p *Principal) UserIdentity() *UserIdentity {
	ui := &UserIdentity{
		Type:        p.Type,
		PrincipalID: p.PrincipalID,
		ARN:         p.ARN(),
		AccountID:   p.AccountID,
		AccessKeyID: p.AccessKeyID,
	}
	if p.Type == PrincipalIAMUser {
		ui.UserName = p.Name
	}
	return ui
}

// AccessKey is a long-term access key pair and the principal it belongs to.
type AccessKey struct {
	ID        string
	Secret    string
	Principal Principal // AccessKeyID is set to ID
	Active    bool
}

// Access key status values.
const (
	KeyActive   = "Active"
	KeyInactive = "Inactive"
)

const keyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// NewAccessKeyID returns a random access key ID shaped like AWS's
// long-term keys: "AKIA" and 16 characters of [A-Z2-7].
func NewAccessKeyID() string { return "AKIA" + randomString(keyAlphabet, 16) }

// NewPrincipalID returns a random IAM user ID shaped like AWS's ("AIDA...").
func NewPrincipalID() string { return "AIDA" + randomString(keyAlphabet, 17) }

// NewSecretKey returns a random 40-character secret access key.
func NewSecretKey() string {
	b := make([]byte, 30)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// NewAccountID returns a random 12-digit account ID not starting with 0.
func NewAccountID() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(9e11))
	return big.NewInt(0).Add(n, big.NewInt(1e11)).String()
}

func randomString(alphabet string, n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
