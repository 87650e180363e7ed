package opentrail

import (
	"regexp"
	"strings"
)

// DefaultRegions are the AWS commercial regions opentrail knows unless
// configured otherwise.
var DefaultRegions = []string{
	"us-east-1", "us-east-2", "us-west-1", "us-west-2",
	"af-south-1",
	"ap-east-1", "ap-east-2", "ap-south-1", "ap-south-2",
	"ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7",
	"ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
	"ca-central-1", "ca-west-1",
	"eu-central-1", "eu-central-2", "eu-west-1", "eu-west-2", "eu-west-3",
	"eu-south-1", "eu-south-2", "eu-north-1",
	"il-central-1", "me-south-1", "me-central-1", "mx-central-1", "sa-east-1",
}

// Partition is the ARN partition opentrail writes.
const Partition = "aws"

var regionName = regexp.MustCompile(`^[a-z]{2,}(-[a-z]+)+-[0-9]+[a-z]?$`)

// ValidRegionName reports whether s has the shape of a region name. It does
// not say the region is configured.
func ValidRegionName(s string) bool { return len(s) <= 64 && regionName.MatchString(s) }

// ParseRegions parses a comma-separated region list.
func ParseRegions(s string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, r := range strings.Split(s, ",") {
		r = strings.TrimSpace(r)
		if r == "" || seen[r] {
			continue
		}
		if !ValidRegionName(r) {
			return nil, Errorf(CodeInvalidParameter, "%q is not a region name (like us-east-1)", r)
		}
		seen[r] = true
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, Errorf(CodeInvalidParameter, "the region list is empty")
	}
	return out, nil
}
