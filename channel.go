package opentrail

import (
	"regexp"
	"strings"
	"time"
)

// Channel destination types (CloudTrail's Destination.Type).
const (
	DestinationEventDataStore = "EVENT_DATA_STORE"
	DestinationAWSService     = "AWS_SERVICE"
)

// HistoryLocation is the AWS_SERVICE destination location that routes a
// channel's events into the account's own event history and trails, as if
// CloudTrail had recorded them. This is opentrail's extension: AWS channels
// feed event data stores only.
const HistoryLocation = "cloudtrail.amazonaws.com"

// SourceCustom is the source of channels for one's own applications.
const SourceCustom = "Custom"

// MaxChannels is the number of channels an account may have in a region.
const MaxChannels = 25

// Channel receives events from outside through PutAuditEvents.
type Channel struct {
	ID           string // the UUID ending the ARN
	Account      string
	Region       string
	Name         string
	Source       string
	Destinations []Destination
	Created      time.Time
	Ingestion    IngestionStatus
}

// Destination is where a channel's events go.
type Destination struct {
	Type     string
	Location string
}

// IngestionStatus is a channel's latest PutAuditEvents activity.
type IngestionStatus struct {
	LatestSuccessTime    time.Time
	LatestSuccessEventID string
	LatestAttemptTime    time.Time
	LatestAttemptEventID string
	LatestErrorCode      string
}

// ARN is the channel's ARN.
func (c *Channel) ARN() string { return ChannelARN(c.Region, c.Account, c.ID) }

// ChannelARN builds a channel ARN.
func ChannelARN(region, account, id string) string {
	return "arn:" + Partition + ":cloudtrail:" + region + ":" + account + ":channel/" + id
}

// ToHistory reports whether the channel routes events to event history and trails.
func (c *Channel) ToHistory() bool {
	for _, d := range c.Destinations {
		if d.Type == DestinationAWSService && d.Location == HistoryLocation {
			return true
		}
	}
	return false
}

var (
	channelName = regexp.MustCompile(`^[a-zA-Z0-9._\-]{3,128}$`)
	uuidRE      = regexp.MustCompile(`^[a-f0-9\-]{36}$`)
)

// ValidChannelName reports whether s is a valid channel name.
func ValidChannelName(s string) bool { return channelName.MatchString(s) }

// ParseChannelID accepts a channel ARN or its ID suffix and returns the ID,
// and the region and account the ARN names (empty for a bare ID). It reports
// false when s is neither.
func ParseChannelID(s string) (id, region, account string, ok bool) {
	if uuidRE.MatchString(s) {
		return s, "", "", true
	}
	a, ok := ParseARN(s)
	if !ok || a.Service != "cloudtrail" || !strings.HasPrefix(a.Resource, "channel/") {
		return "", "", "", false
	}
	id = strings.TrimPrefix(a.Resource, "channel/")
	if !uuidRE.MatchString(id) {
		return "", "", "", false
	}
	return id, a.Region, a.AccountID, true
}

// Tag is a resource tag.
type Tag struct {
	Key   string
	Value string
}
