package opentrail

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// MaxTrails is the number of trails an account may have in a region,
// counting the other regions' multi-region trails that reach it.
const MaxTrails = 5

// Trail is a trail's configuration and logging state. Its ARN is the same
// in every region: a multi-region trail appears in the regions other than
// its home as a "shadow trail".
type Trail struct {
	Name       string
	Account    string
	HomeRegion string

	S3BucketName               string
	S3KeyPrefix                string
	SNSTopicARN                string
	IncludeGlobalServiceEvents bool
	IsMultiRegion              bool
	LogFileValidation          bool
	KMSKeyID                   string // a key ARN, once KMS keys exist
	IsOrganization             bool

	// EventSelectors and AdvancedEventSelectors are the trail's selectors:
	// at most one of the two is set; neither means AWS's default (all
	// management events).
	EventSelectors         []EventSelector
	AdvancedEventSelectors []AdvancedEventSelector

	Logging          bool
	StartLoggingTime time.Time
	StopLoggingTime  time.Time
	Created          time.Time
}

// ARN is the trail's ARN: arn:aws:cloudtrail:<home region>:<account>:trail/<name>.
func (t *Trail) ARN() string { return TrailARN(t.HomeRegion, t.Account, t.Name) }

// TrailARN builds a trail ARN.
func TrailARN(region, account, name string) string {
	return "arn:" + Partition + ":cloudtrail:" + region + ":" + account + ":trail/" + name
}

// HasCustomEventSelectors reports whether the trail's selectors differ from
// the default.
func (t *Trail) HasCustomEventSelectors() bool {
	return len(t.EventSelectors) > 0 || len(t.AdvancedEventSelectors) > 0
}

// Covers reports whether the trail records the events of region.
func (t *Trail) Covers(region string) bool { return t.IsMultiRegion || region == t.HomeRegion }

// GlobalServices are the event sources whose events AWS records in
// us-east-1 only and delivers to the trails that include global service
// events.
var GlobalServices = map[string]bool{
	"iam.amazonaws.com":        true,
	"sts.amazonaws.com":        true, // the global STS endpoint
	"cloudfront.amazonaws.com": true,
	"route53.amazonaws.com":    true,
	"signin.amazonaws.com":     false, // console sign-ins go to every trail of their region
}

// ParseTrailRef accepts a trail name or trail ARN and returns the name and,
// for an ARN, the home region and account it names.
func ParseTrailRef(ref string) (name, region, account string, isARN bool, err error) {
	if strings.HasPrefix(ref, "arn:") {
		a, ok := ParseARN(ref)
		if !ok || a.Service != "cloudtrail" || !strings.HasPrefix(a.Resource, "trail/") || !accountID.MatchString(a.AccountID) {
			return "", "", "", true, Errorf("CloudTrailARNInvalidException",
				"ARN %s is not valid: trail ARNs look like arn:aws:cloudtrail:us-east-2:123456789012:trail/MyTrail.", ref)
		}
		return strings.TrimPrefix(a.Resource, "trail/"), a.Region, a.AccountID, true, nil
	}
	return ref, "", "", false, ValidateTrailName(ref)
}

var (
	trailNameChars  = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	adjacentSpecial = regexp.MustCompile(`[._-]{2}`)
)

// ValidateTrailName checks CloudTrail's trail naming rules and returns an
// InvalidTrailNameException saying which one a name breaks.
func ValidateTrailName(name string) error {
	bad := func(format string, args ...any) error {
		return Errorf("InvalidTrailNameException", format, args...)
	}
	switch {
	case len(name) < 3:
		return bad("Trail name too short. Minimum allowed length: 3 characters. Specified name length: %d characters.", len(name))
	case len(name) > 128:
		return bad("Trail name too long. Maximum allowed length: 128 characters. Specified name length: %d characters.", len(name))
	case !trailNameChars.MatchString(name):
		return bad("Trail name or ARN can only contain uppercase letters, lowercase letters, numbers, periods (.), hyphens (-), and underscores (_).")
	case !isAlnum(name[0]):
		return bad("Trail name must start with a letter or number.")
	case !isAlnum(name[len(name)-1]):
		return bad("Trail name must end with a letter or number.")
	case adjacentSpecial.MatchString(name):
		return bad("Trail name cannot have adjacent periods, underscores or hyphens: %s", name)
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return bad("Trail name cannot be formatted as an IP address: %s", name)
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

var s3BucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// ValidateS3BucketName checks S3's bucket naming rules for trails and
// returns an InvalidS3BucketNameException.
func ValidateS3BucketName(name string) error {
	bad := func(format string, args ...any) error {
		return Errorf("InvalidS3BucketNameException", format, args...)
	}
	switch {
	case len(name) < 3 || len(name) > 63:
		return bad("Bucket name %q must be between 3 and 63 characters long.", name)
	case strings.ToLower(name) != name:
		return bad("Bucket name should not contain uppercase characters: %s", name)
	case !s3BucketName.MatchString(name):
		return bad("Bucket name %q can contain only lowercase letters, numbers, periods and hyphens, and must begin and end with a letter or number.", name)
	case strings.Contains(name, ".."):
		return bad("Bucket name %q must not contain two adjacent periods.", name)
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return bad("Bucket name %q must not be formatted as an IP address.", name)
	}
	return nil
}

// ValidateS3KeyPrefix checks a trail's S3 key prefix.
func ValidateS3KeyPrefix(prefix string) error {
	if len(prefix) > 200 {
		return Errorf("InvalidS3PrefixException", "The S3 key prefix is %d characters long; the maximum is 200.", len(prefix))
	}
	if strings.HasPrefix(prefix, "/") || strings.Contains(prefix, "//") {
		return Errorf("InvalidS3PrefixException", "S3 key prefix %q must not begin with a slash or contain adjacent slashes.", prefix)
	}
	return nil
}

// LogFileKey is the key of a log file a trail delivers:
// [prefix/]AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<unique>.json.gz
// where the time is the delivery time and unique is 16 letters and digits.
func LogFileKey(prefix, account, region string, delivered time.Time, unique string) string {
	t := delivered.UTC()
	p := ""
	if prefix != "" {
		p = strings.TrimSuffix(prefix, "/") + "/"
	}
	return fmt.Sprintf("%sAWSLogs/%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%s_%s.json.gz",
		p, account, region, t.Format("2006/01/02"), account, region, t.Format("20060102T1504Z"), unique)
}

// TrailStatus is what GetTrailStatus reports of a trail's deliveries.
type TrailStatus struct {
	LatestDeliveryTime            time.Time `json:",omitzero"`
	LatestDeliveryError           string    `json:",omitempty"`
	LatestDeliveryAttemptTime     time.Time `json:",omitzero"`
	LatestDeliveryAttemptOK       bool      `json:",omitempty"`
	LatestNotificationTime        time.Time `json:",omitzero"`
	LatestNotificationError       string    `json:",omitempty"`
	LatestNotificationAttemptTime time.Time `json:",omitzero"`
	LatestNotificationAttemptOK   bool      `json:",omitempty"`
	LatestDigestDeliveryTime      time.Time `json:",omitzero"`
	LatestDigestDeliveryError     string    `json:",omitempty"`
}
