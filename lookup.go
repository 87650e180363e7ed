package opentrail

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Lookup attribute keys of LookupEvents, exactly as on the wire.
const (
	AttrEventID      = "EventId"
	AttrEventName    = "EventName"
	AttrReadOnly     = "ReadOnly"
	AttrUsername     = "Username"
	AttrResourceType = "ResourceType"
	AttrResourceName = "ResourceName"
	AttrEventSource  = "EventSource"
	AttrAccessKeyID  = "AccessKeyId"
)

// LookupAttributes lists the lookup attribute keys in the order AWS documents them.
var LookupAttributes = []string{AttrEventID, AttrEventName, AttrReadOnly, AttrUsername,
	AttrResourceType, AttrResourceName, AttrEventSource, AttrAccessKeyID}

// Summary is what event history needs to know of a record: the values of
// its lookup attributes and the fields LookupEvents returns beside the
// record itself.
type Summary struct {
	EventID            string
	EventName          string
	EventSource        string
	EventType          string
	Category           string
	Region             string
	RecipientAccountID string
	Time               time.Time
	ReadOnly           *bool
	AccessKeyID        string
	Username           string
	Resources          []LookupResource

	// The fields event selectors look at beyond the ones above.
	UserARN                      string     // userIdentity.arn
	ErrorCode                    string     // errorCode
	SessionCredentialFromConsole string     // "true" or ""
	VPCEndpointID                string     // vpcEndpointId
	RecordResources              []Resource // the record's own resources list
}

// LookupResource is one element of a LookupEvents event's Resources.
type LookupResource struct {
	Type string
	Name string
}

// Values returns the values the record has for a lookup attribute.
func (s *Summary) Values(attr string) []string {
	one := func(v string) []string {
		if v == "" {
			return nil
		}
		return []string{v}
	}
	switch attr {
	case AttrEventID:
		return one(s.EventID)
	case AttrEventName:
		return one(s.EventName)
	case AttrEventSource:
		return one(s.EventSource)
	case AttrUsername:
		return one(s.Username)
	case AttrAccessKeyID:
		return one(s.AccessKeyID)
	case AttrReadOnly:
		if s.ReadOnly == nil {
			return nil
		}
		return []string{fmt.Sprint(*s.ReadOnly)}
	case AttrResourceType, AttrResourceName:
		var out []string
		for _, r := range s.Resources {
			v := r.Type
			if attr == AttrResourceName {
				v = r.Name
			}
			if v != "" && !contains(out, v) {
				out = append(out, v)
			}
		}
		return out
	}
	return nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// Matches reports whether the record has value for attr.
func (s *Summary) Matches(attr, value string) bool {
	return contains(s.Values(attr), value)
}

// ErrInvalidRecord is wrapped by Summarize's errors for records that cannot
// be placed in event history.
var ErrInvalidRecord = errors.New("invalid record")

// record is the lenient decoding target of Summarize: fields of the wrong
// type are left empty rather than failing the whole record.
type record struct {
	EventID            string          `json:"eventID"`
	EventName          string          `json:"eventName"`
	EventSource        string          `json:"eventSource"`
	EventType          string          `json:"eventType"`
	EventCategory      string          `json:"eventCategory"`
	AWSRegion          string          `json:"awsRegion"`
	RecipientAccountID string          `json:"recipientAccountId"`
	EventTime          string          `json:"eventTime"`
	ReadOnly           json.RawMessage `json:"readOnly"`
	UserIdentity       json.RawMessage `json:"userIdentity"`
	Resources          json.RawMessage `json:"resources"`
	RequestParameters  json.RawMessage `json:"requestParameters"`
	ResponseElements   json.RawMessage `json:"responseElements"`
	EventData          json.RawMessage `json:"eventData"`
	ErrorCode          string          `json:"errorCode"`
	SessionCredential  string          `json:"sessionCredentialFromConsole"`
	VPCEndpointID      string          `json:"vpcEndpointId"`
}

// Summarize reads a record's lookup attributes. It fails, wrapping
// ErrInvalidRecord, only when the record is not a JSON object or lacks a
// valid eventTime or awsRegion; other fields of unexpected types are treated
// as absent.
func Summarize(rec []byte) (Summary, error) {
	var r record
	if err := json.Unmarshal(rec, &r); err != nil {
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) || te.Field == "" {
			return Summary{}, fmt.Errorf("%w: %v", ErrInvalidRecord, err)
		}
		// A field of the wrong type: decode field by field so the others survive.
		r = decodeLeniently(rec)
	}
	s := Summary{
		EventID:                      r.EventID,
		EventName:                    r.EventName,
		EventSource:                  r.EventSource,
		EventType:                    r.EventType,
		Category:                     r.EventCategory,
		Region:                       r.AWSRegion,
		RecipientAccountID:           r.RecipientAccountID,
		ErrorCode:                    r.ErrorCode,
		SessionCredentialFromConsole: r.SessionCredential,
		VPCEndpointID:                r.VPCEndpointID,
	}
	if r.EventTime == "" {
		return Summary{}, fmt.Errorf("%w: eventTime is missing", ErrInvalidRecord)
	}
	t, err := ParseTime(r.EventTime)
	if err != nil {
		return Summary{}, fmt.Errorf("%w: eventTime %q is not a time", ErrInvalidRecord, r.EventTime)
	}
	s.Time = t
	if s.Region == "" {
		return Summary{}, fmt.Errorf("%w: awsRegion is missing", ErrInvalidRecord)
	}
	if s.Category == "" {
		// Records before eventVersion 1.07 carry no category; they are
		// management events unless they are Insights.
		s.Category = CategoryManagement
		if s.EventType == TypeAwsCloudTrailInsight {
			s.Category = CategoryInsight
		}
	}
	var ro bool
	if json.Unmarshal(r.ReadOnly, &ro) == nil {
		s.ReadOnly = &ro
	} else {
		var ros string // some producers write "true"
		if json.Unmarshal(r.ReadOnly, &ros) == nil && (ros == "true" || ros == "false") {
			b := ros == "true"
			s.ReadOnly = &b
		}
	}
	if s.Category == CategoryActivityAuditLog {
		summarizeActivity(&s, r.EventData)
		return s, nil
	}
	var ui UserIdentity
	if len(r.UserIdentity) > 0 && json.Unmarshal(r.UserIdentity, &ui) != nil {
		ui = UserIdentity{}
		lenientIdentity(r.UserIdentity, &ui)
	}
	var res []Resource
	if len(r.Resources) > 0 && !bytes.Equal(r.Resources, Null) {
		json.Unmarshal(r.Resources, &res)
	}
	s.AccessKeyID = ui.AccessKeyID
	s.Username = LookupUsername(&ui)
	s.UserARN = ui.ARN
	if len(res) > 0 {
		s.RecordResources = res
	}
	s.Resources = lookupResources(&s, res, r.RequestParameters, r.ResponseElements)
	return s, nil
}

// SummarizeEvent is Summarize of the record ev encodes, taken from its
// fields without encoding and parsing it.
func SummarizeEvent(ev *Event) (Summary, error) {
	t, err := ParseTime(ev.EventTime)
	if err != nil || ev.AWSRegion == "" {
		return Summarize(mustMarshal(ev)) // for its error
	}
	s := Summary{
		EventID:                      ev.EventID,
		EventName:                    ev.EventName,
		EventSource:                  ev.EventSource,
		EventType:                    ev.EventType,
		Category:                     ev.EventCategory,
		Region:                       ev.AWSRegion,
		RecipientAccountID:           ev.RecipientAccountID,
		Time:                         t,
		ReadOnly:                     ev.ReadOnly,
		ErrorCode:                    ev.ErrorCode,
		SessionCredentialFromConsole: ev.SessionCredentialFromConsole,
		VPCEndpointID:                ev.VPCEndpointID,
		RecordResources:              ev.Resources,
	}
	if s.Category == "" || s.Category == CategoryActivityAuditLog {
		return Summarize(mustMarshal(ev))
	}
	if ev.ReadOnly != nil {
		ro := *ev.ReadOnly
		s.ReadOnly = &ro
	}
	if ui := ev.UserIdentity; ui != nil {
		s.AccessKeyID = ui.AccessKeyID
		s.Username = LookupUsername(ui)
		s.UserARN = ui.ARN
	}
	s.Resources = lookupResources(&s, ev.Resources, ev.RequestParameters, ev.ResponseElements)
	return s, nil
}

func mustMarshal(ev *Event) []byte {
	b, _ := json.Marshal(ev)
	return b
}

// ParseTime parses a record time: RFC 3339 in UTC as CloudTrail writes it,
// also accepting fractional seconds and offsets.
func ParseTime(v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

func decodeLeniently(rec []byte) record {
	var fields map[string]json.RawMessage
	var r record
	if json.Unmarshal(rec, &fields) != nil {
		return r
	}
	str := func(k string) string {
		var v string
		json.Unmarshal(fields[k], &v)
		return v
	}
	r.EventID, r.EventName, r.EventSource = str("eventID"), str("eventName"), str("eventSource")
	r.EventType, r.EventCategory, r.AWSRegion = str("eventType"), str("eventCategory"), str("awsRegion")
	r.RecipientAccountID, r.EventTime = str("recipientAccountId"), str("eventTime")
	r.ReadOnly, r.UserIdentity, r.Resources = fields["readOnly"], fields["userIdentity"], fields["resources"]
	r.RequestParameters, r.ResponseElements = fields["requestParameters"], fields["responseElements"]
	r.EventData = fields["eventData"]
	r.ErrorCode, r.SessionCredential, r.VPCEndpointID = str("errorCode"), str("sessionCredentialFromConsole"), str("vpcEndpointId")
	return r
}

func lenientIdentity(raw json.RawMessage, ui *UserIdentity) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return
	}
	for k, dst := range map[string]*string{"type": &ui.Type, "principalId": &ui.PrincipalID, "arn": &ui.ARN,
		"accountId": &ui.AccountID, "accessKeyId": &ui.AccessKeyID, "userName": &ui.UserName, "invokedBy": &ui.InvokedBy} {
		json.Unmarshal(fields[k], dst)
	}
}

// LookupUsername is the Username event history shows for an identity: the
// IAM user name, "root" for the account root, the session name of an assumed
// role, the name of a federated user, the calling service for AWS services.
func LookupUsername(ui *UserIdentity) string {
	switch ui.Type {
	case "Root":
		if ui.UserName != "" {
			return ui.UserName
		}
		return "root"
	case "AssumedRole", "FederatedUser", "WebIdentityUser", "SAMLUser":
		if ui.UserName != "" {
			return ui.UserName
		}
		if i := strings.LastIndexByte(ui.ARN, '/'); i >= 0 && i+1 < len(ui.ARN) {
			return ui.ARN[i+1:]
		}
	case "AWSService":
		return ui.InvokedBy
	}
	if ui.UserName != "" {
		return ui.UserName
	}
	return ""
}

// summarizeActivity fills the attributes of an event that arrived through a
// channel from its caller-provided eventData.
func summarizeActivity(s *Summary, raw json.RawMessage) {
	var d struct {
		EventName    string `json:"eventName"`
		EventSource  string `json:"eventSource"`
		UID          string `json:"UID"`
		UserIdentity struct {
			Type        string `json:"type"`
			PrincipalID string `json:"principalId"`
		} `json:"userIdentity"`
	}
	json.Unmarshal(raw, &d)
	s.EventName, s.EventSource, s.Username = d.EventName, d.EventSource, d.UserIdentity.PrincipalID
}

// lookupResources derives event history's Resources: the record's own
// resources list, and for write calls the well-known resource identifiers in
// its request parameters and response elements. AWS derives these per API;
// this is a documented approximation covering the common services.
func lookupResources(s *Summary, res []Resource, params, response json.RawMessage) []LookupResource {
	var out []LookupResource
	add := func(typ, name string) {
		if typ == "" || name == "" {
			return
		}
		for _, x := range out {
			if x.Type == typ && x.Name == name {
				return
			}
		}
		out = append(out, LookupResource{Type: typ, Name: name})
	}
	for _, x := range res {
		name := x.ARN
		if name == "" {
			name = x.ARNPrefix
		}
		add(x.Type, name)
	}
	if s.ReadOnly == nil || !*s.ReadOnly {
		keys := resourceKeys[s.EventSource]
		if keys != nil {
			for _, raw := range []json.RawMessage{params, response} {
				walkResources(raw, keys, add, 0)
			}
		}
		if s.EventSource == "cloudtrail.amazonaws.com" && trailWrites[s.EventName] {
			var p struct {
				Name      string `json:"name"`
				TrailName string `json:"trailName"`
			}
			json.Unmarshal(params, &p)
			if !strings.HasPrefix(p.Name, "arn:") || !hasType(out, "AWS::CloudTrail::Trail") {
				add("AWS::CloudTrail::Trail", p.Name)
			}
			add("AWS::CloudTrail::Trail", p.TrailName)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Type != out[j].Type {
			return out[i].Type < out[j].Type
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// trailWrites are the CloudTrail write calls whose name parameter is a trail.
var trailWrites = map[string]bool{"CreateTrail": true, "UpdateTrail": true, "DeleteTrail": true,
	"StartLogging": true, "StopLogging": true, "PutEventSelectors": true, "PutInsightSelectors": true}

func hasType(rs []LookupResource, typ string) bool {
	for _, r := range rs {
		if r.Type == typ {
			return true
		}
	}
	return false
}

// resourceKeys maps, per event source, parameter names to the resource type
// their string values identify.
var resourceKeys = map[string]map[string]string{
	"ec2.amazonaws.com": {
		"instanceId": "AWS::EC2::Instance", "imageId": "AWS::EC2::Ami", "vpcId": "AWS::EC2::VPC",
		"subnetId": "AWS::EC2::Subnet", "groupId": "AWS::EC2::SecurityGroup", "groupName": "AWS::EC2::SecurityGroup",
		"keyName": "AWS::EC2::KeyPair", "networkInterfaceId": "AWS::EC2::NetworkInterface",
		"volumeId": "AWS::EC2::Volume", "snapshotId": "AWS::EC2::Snapshot",
		"internetGatewayId": "AWS::EC2::InternetGateway", "routeTableId": "AWS::EC2::RouteTable",
		"allocationId": "AWS::EC2::EIP", "natGatewayId": "AWS::EC2::NatGateway",
		"flowLogId": "AWS::EC2::FlowLog", "launchTemplateId": "AWS::EC2::LaunchTemplate",
	},
	"iam.amazonaws.com": {
		"userName": "AWS::IAM::User", "roleName": "AWS::IAM::Role", "groupName": "AWS::IAM::Group",
		"policyArn": "AWS::IAM::Policy", "accessKeyId": "AWS::IAM::AccessKey",
		"instanceProfileName": "AWS::IAM::InstanceProfile",
	},
	"s3.amazonaws.com":             {"bucketName": "AWS::S3::Bucket"},
	"cloudtrail.amazonaws.com":     {"trailARN": "AWS::CloudTrail::Trail", "s3BucketName": "AWS::S3::Bucket", "channelArn": "AWS::CloudTrail::Channel", "eventDataStoreArn": "AWS::CloudTrail::EventDataStore"},
	"lambda.amazonaws.com":         {"functionName": "AWS::Lambda::Function", "layerName": "AWS::Lambda::LayerVersion"},
	"kms.amazonaws.com":            {"keyId": "AWS::KMS::Key", "aliasName": "AWS::KMS::Alias"},
	"secretsmanager.amazonaws.com": {"secretId": "AWS::SecretsManager::Secret", "name": "AWS::SecretsManager::Secret"},
	"ssm.amazonaws.com":            {"documentName": "AWS::SSM::Document", "instanceId": "AWS::EC2::Instance", "target": "AWS::EC2::Instance"},
	"rds.amazonaws.com": {"dBInstanceIdentifier": "AWS::RDS::DBInstance", "dBSnapshotIdentifier": "AWS::RDS::DBSnapshot",
		"dBClusterIdentifier": "AWS::RDS::DBCluster"},
	"sns.amazonaws.com":      {"topicArn": "AWS::SNS::Topic"},
	"sqs.amazonaws.com":      {"queueUrl": "AWS::SQS::Queue"},
	"logs.amazonaws.com":     {"logGroupName": "AWS::Logs::LogGroup"},
	"dynamodb.amazonaws.com": {"tableName": "AWS::DynamoDB::Table"},
}

func walkResources(raw json.RawMessage, keys map[string]string, add func(string, string), depth int) {
	if len(raw) == 0 || depth > 8 {
		return
	}
	switch raw[0] {
	case '{':
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) != nil {
			return
		}
		names := make([]string, 0, len(m))
		for k := range m {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			v := m[k]
			if typ, ok := keys[k]; ok && len(v) > 0 && v[0] == '"' {
				var s string
				if json.Unmarshal(v, &s) == nil {
					add(typ, s)
				}
				continue
			}
			walkResources(v, keys, add, depth+1)
		}
	case '[':
		var l []json.RawMessage
		if json.Unmarshal(raw, &l) != nil {
			return
		}
		for _, v := range l {
			walkResources(v, keys, add, depth+1)
		}
	}
}
