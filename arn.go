package opentrail

import (
	"regexp"
	"strings"
)

// ARN is a parsed Amazon Resource Name:
// arn:partition:service:region:account:resource.
type ARN struct {
	Partition string
	Service   string
	Region    string
	AccountID string
	Resource  string
}

// ParseARN splits an ARN into its parts. It reports false when s is not an ARN.
func ParseARN(s string) (ARN, bool) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] == "" || parts[2] == "" {
		return ARN{}, false
	}
	return ARN{Partition: parts[1], Service: parts[2], Region: parts[3], AccountID: parts[4], Resource: parts[5]}, true
}

func (a ARN) String() string {
	return "arn:" + a.Partition + ":" + a.Service + ":" + a.Region + ":" + a.AccountID + ":" + a.Resource
}

var accountID = regexp.MustCompile(`^[0-9]{12}$`)

// ValidAccountID reports whether s is a 12-digit account ID.
func ValidAccountID(s string) bool { return accountID.MatchString(s) }

// RootARN is the ARN of an account's root user.
func RootARN(account string) string { return "arn:" + Partition + ":iam::" + account + ":root" }
