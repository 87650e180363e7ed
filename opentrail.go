// Package opentrail is an open-source, self-hosted implementation of AWS
// CloudTrail. It records who did what, when, from where and with what
// result; keeps that record tamper-evident; delivers it to buckets, topics
// and log groups; and lets people search it and query it with SQL.
//
// This root package holds the domain: the CloudTrail event record, the
// identities that appear in it, accounts and regions, ARNs, and the error
// type every layer returns to clients. It imports only the standard library;
// the adapters (sigv4, api, journal, ...) import it, never each other, and
// cmd/opentrail wires them together.
package opentrail

import (
	"encoding/json"
	"time"
)

// EventVersion is the record format version opentrail writes.
const EventVersion = "1.11"

// Event categories (the record's eventCategory).
const (
	CategoryManagement       = "Management"
	CategoryData             = "Data"
	CategoryNetworkActivity  = "NetworkActivity"
	CategoryInsight          = "Insight"
	CategoryActivityAuditLog = "ActivityAuditLog"
)

// Event types (the record's eventType).
const (
	TypeAwsAPICall           = "AwsApiCall"
	TypeAwsServiceEvent      = "AwsServiceEvent"
	TypeAwsConsoleAction     = "AwsConsoleAction"
	TypeAwsConsoleSignIn     = "AwsConsoleSignIn"
	TypeAwsCloudTrailInsight = "AwsCloudTrailInsight"
	TypeActivityLog          = "ActivityLog"
)

// TimeFormat is the layout of eventTime and every other time a record holds:
// UTC, second precision.
const TimeFormat = "2006-01-02T15:04:05Z"

// FormatTime renders t as a record time.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// Event is one CloudTrail record, every field up to eventVersion 1.11, in the
// order AWS writes them. JSON names are the wire names. Optional fields are
// omitted when empty; RequestParameters and ResponseElements are written as
// JSON null for API calls that have none (set them to Null).
//
// Records that come from outside opentrail are kept as the bytes they arrived
// in (see the journal); Event is what opentrail itself writes and what readers
// decode when they need fields.
type Event struct {
	EventVersion                 string           `json:"eventVersion"`
	UserIdentity                 *UserIdentity    `json:"userIdentity,omitempty"`
	EventTime                    string           `json:"eventTime"`
	EventSource                  string           `json:"eventSource,omitempty"`
	EventName                    string           `json:"eventName,omitempty"`
	AWSRegion                    string           `json:"awsRegion"`
	SourceIPAddress              string           `json:"sourceIPAddress,omitempty"`
	UserAgent                    string           `json:"userAgent,omitempty"`
	ErrorCode                    string           `json:"errorCode,omitempty"`
	ErrorMessage                 string           `json:"errorMessage,omitempty"`
	RequestParameters            json.RawMessage  `json:"requestParameters,omitempty"`
	ResponseElements             json.RawMessage  `json:"responseElements,omitempty"`
	AdditionalEventData          json.RawMessage  `json:"additionalEventData,omitempty"`
	RequestID                    string           `json:"requestID,omitempty"`
	EventID                      string           `json:"eventID"`
	ReadOnly                     *bool            `json:"readOnly,omitempty"`
	Resources                    []Resource       `json:"resources,omitempty"`
	EventType                    string           `json:"eventType"`
	APIVersion                   string           `json:"apiVersion,omitempty"`
	ManagementEvent              *bool            `json:"managementEvent,omitempty"`
	RecipientAccountID           string           `json:"recipientAccountId,omitempty"`
	SharedEventID                string           `json:"sharedEventID,omitempty"`
	VPCEndpointID                string           `json:"vpcEndpointId,omitempty"`
	VPCEndpointAccountID         string           `json:"vpcEndpointAccountId,omitempty"`
	ServiceEventDetails          json.RawMessage  `json:"serviceEventDetails,omitempty"`
	InsightDetails               json.RawMessage  `json:"insightDetails,omitempty"`
	EventCategory                string           `json:"eventCategory"`
	Addendum                     *Addendum        `json:"addendum,omitempty"`
	SessionCredentialFromConsole string           `json:"sessionCredentialFromConsole,omitempty"`
	EdgeDeviceDetails            json.RawMessage  `json:"edgeDeviceDetails,omitempty"`
	TLSDetails                   *TLSDetails      `json:"tlsDetails,omitempty"`
	EventContext                 json.RawMessage  `json:"eventContext,omitempty"`
	Annotation                   string           `json:"annotation,omitempty"`
	Metadata                     *ChannelMetadata `json:"metadata,omitempty"`
	EventData                    json.RawMessage  `json:"eventData,omitempty"`
}

// Null is the JSON null that API-call records carry in requestParameters and
// responseElements when there is nothing to show.
var Null = json.RawMessage("null")

// UserIdentity is the record's userIdentity element.
type UserIdentity struct {
	Type             string          `json:"type,omitempty"`
	PrincipalID      string          `json:"principalId,omitempty"`
	ARN              string          `json:"arn,omitempty"`
	AccountID        string          `json:"accountId,omitempty"`
	AccessKeyID      string          `json:"accessKeyId,omitempty"`
	UserName         string          `json:"userName,omitempty"`
	SessionContext   *SessionContext `json:"sessionContext,omitempty"`
	InvokedBy        string          `json:"invokedBy,omitempty"`
	IdentityProvider string          `json:"identityProvider,omitempty"`
	CredentialID     string          `json:"credentialId,omitempty"`
	OnBehalfOf       json.RawMessage `json:"onBehalfOf,omitempty"`
	InScopeOf        json.RawMessage `json:"inScopeOf,omitempty"`
}

// SessionContext describes temporary credentials.
type SessionContext struct {
	SessionIssuer       *SessionIssuer     `json:"sessionIssuer,omitempty"`
	WebIDFederationData json.RawMessage    `json:"webIdFederationData,omitempty"`
	Attributes          *SessionAttributes `json:"attributes,omitempty"`
	SourceIdentity      string             `json:"sourceIdentity,omitempty"`
	EC2RoleDelivery     string             `json:"ec2RoleDelivery,omitempty"`
	AssumedRoot         string             `json:"assumedRoot,omitempty"`
}

// SessionIssuer is the principal that issued temporary credentials.
type SessionIssuer struct {
	Type        string `json:"type,omitempty"`
	PrincipalID string `json:"principalId,omitempty"`
	ARN         string `json:"arn,omitempty"`
	AccountID   string `json:"accountId,omitempty"`
	UserName    string `json:"userName,omitempty"`
}

// SessionAttributes are a session's creation date and MFA state.
type SessionAttributes struct {
	CreationDate     string `json:"creationDate,omitempty"`
	MFAAuthenticated string `json:"mfaAuthenticated,omitempty"`
}

// Resource is one element of a record's resources list. S3 object data
// events name the object with ARNPrefix instead of ARN.
type Resource struct {
	AccountID string `json:"accountId,omitempty"`
	Type      string `json:"type,omitempty"`
	ARN       string `json:"ARN,omitempty"`
	ARNPrefix string `json:"ARNPrefix,omitempty"`
}

// TLSDetails describes the TLS connection an API call arrived on.
type TLSDetails struct {
	TLSVersion               string `json:"tlsVersion,omitempty"`
	CipherSuite              string `json:"cipherSuite,omitempty"`
	ClientProvidedHostHeader string `json:"clientProvidedHostHeader,omitempty"`
}

// Addendum marks a record delivered late or updated.
type Addendum struct {
	Reason            string `json:"reason,omitempty"`
	UpdatedFields     string `json:"updatedFields,omitempty"`
	OriginalRequestID string `json:"originalRequestID,omitempty"`
	OriginalEventID   string `json:"originalEventID,omitempty"`
}

// ChannelMetadata is the metadata element CloudTrail adds to events that
// arrive through a channel (eventCategory ActivityAuditLog).
type ChannelMetadata struct {
	IngestionTime string `json:"ingestionTime"`
	ChannelARN    string `json:"channelARN"`
}

// Bool returns a pointer to b, for the optional boolean fields.
func Bool(b bool) *bool { return &b }
