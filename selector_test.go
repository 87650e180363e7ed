package opentrail_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opentrail/opentrail"
)

const (
	s3Object  = "AWS::S3::Object"
	s3Bucket  = "AWS::S3::Bucket"
	lambdaFn  = "AWS::Lambda::Function"
	ddbTable  = "AWS::DynamoDB::Table"
	acct      = "123456789012"
	bucket1   = "amzn-s3-demo-bucket1"
	helloARN  = "arn:aws:lambda:us-west-2:111111111111:function:helloworld"
	hello2ARN = "arn:aws:lambda:us-west-2:111111111111:function:helloworld2"
	tableARN  = "arn:aws:dynamodb:us-east-1:123456789012:table/Orders"
)

func ptr[T any](v T) *T { return &v }

// Summaries of typical records, as Summarize would produce them.

func mgmt(source, name string, readOnly *bool) *opentrail.Summary {
	return &opentrail.Summary{Category: opentrail.CategoryManagement, EventSource: source, EventName: name,
		EventType: opentrail.TypeAwsAPICall, ReadOnly: readOnly, UserARN: "arn:aws:iam::" + acct + ":user/alice"}
}

// s3Event is an object-level S3 data event: its resources are the object
// and its bucket, as CloudTrail records them.
func s3Event(name, bucket, key string, readOnly bool) *opentrail.Summary {
	return &opentrail.Summary{Category: opentrail.CategoryData, EventSource: "s3.amazonaws.com", EventName: name,
		EventType: opentrail.TypeAwsAPICall, ReadOnly: ptr(readOnly), UserARN: "arn:aws:iam::" + acct + ":user/alice",
		RecordResources: []opentrail.Resource{
			{Type: s3Object, ARN: "arn:aws:s3:::" + bucket + "/" + key},
			{Type: s3Bucket, ARN: "arn:aws:s3:::" + bucket, AccountID: acct},
		}}
}

// s3List is ListObjects: the object resource carries an ARNPrefix.
func s3List(bucket, prefix string) *opentrail.Summary {
	return &opentrail.Summary{Category: opentrail.CategoryData, EventSource: "s3.amazonaws.com", EventName: "ListObjects",
		EventType: opentrail.TypeAwsAPICall, ReadOnly: ptr(true),
		RecordResources: []opentrail.Resource{
			{Type: s3Object, ARNPrefix: "arn:aws:s3:::" + bucket + "/" + prefix},
			{Type: s3Bucket, ARN: "arn:aws:s3:::" + bucket},
		}}
}

func invoke(fn string) *opentrail.Summary {
	return &opentrail.Summary{Category: opentrail.CategoryData, EventSource: "lambda.amazonaws.com", EventName: "Invoke",
		EventType: opentrail.TypeAwsAPICall, ReadOnly: ptr(false),
		RecordResources: []opentrail.Resource{{Type: lambdaFn, ARN: fn}}}
}

func ddbEvent(name, userARN string, console bool) *opentrail.Summary {
	s := &opentrail.Summary{Category: opentrail.CategoryData, EventSource: "dynamodb.amazonaws.com", EventName: name,
		EventType: opentrail.TypeAwsAPICall, ReadOnly: ptr(strings.HasPrefix(name, "Get")), UserARN: userARN,
		RecordResources: []opentrail.Resource{{Type: ddbTable, ARN: tableARN}}}
	if console {
		s.SessionCredentialFromConsole = "true"
	}
	return s
}

func vpce(source, name, errorCode string) *opentrail.Summary {
	return &opentrail.Summary{Category: opentrail.CategoryNetworkActivity, EventSource: source, EventName: name,
		EventType: "AwsVpceEvent", ErrorCode: errorCode, VPCEndpointID: "vpce-EXAMPLE08c1b6b9b7",
		UserARN: "arn:aws:iam::777788889999:user/bob"}
}

var (
	describe   = mgmt("ec2.amazonaws.com", "DescribeInstances", ptr(true))
	runInst    = mgmt("ec2.amazonaws.com", "RunInstances", ptr(false))
	consoleIn  = mgmt("signin.amazonaws.com", "ConsoleLogin", nil) // no readOnly
	kmsDecrypt = mgmt("kms.amazonaws.com", "Decrypt", ptr(true))
	rdsData    = mgmt("rdsdata.amazonaws.com", "ExecuteStatement", ptr(false))
	getImage   = s3Event("GetObject", bucket1, "example-images/cat.png", true)
	putImage   = s3Event("PutObject", bucket1, "example-images/cat.png", false)
	getDoc     = s3Event("GetObject", bucket1, "docs/a.txt", true)
	getOther   = s3Event("GetObject", bucket1+"0", "example-images/cat.png", true) // bucket name extends bucket1
	listBucket = s3List(bucket1, "")
	invokeHW   = invoke(helloARN)
	invokeHW2  = invoke(hello2ARN)
	ddbConsole = ddbEvent("PutItem", "arn:aws:sts::"+acct+":assumed-role/HumanRole/alice", true)
	ddbService = ddbEvent("GetItem", "arn:aws:sts::"+acct+":assumed-role/AppRole/i-0abc", false)
	kmsDenied  = vpce("kms.amazonaws.com", "ListKeys", "VpceAccessDenied")
	kmsAllowed = vpce("kms.amazonaws.com", "ListKeys", "")
	s3Denied   = vpce("s3.amazonaws.com", "PutObject", "VpceAccessDenied")
	insight    = &opentrail.Summary{Category: opentrail.CategoryInsight, EventSource: "ec2.amazonaws.com",
		EventName: "RunInstances", EventType: opentrail.TypeAwsCloudTrailInsight}
	activity = &opentrail.Summary{Category: opentrail.CategoryActivityAuditLog, EventSource: "partner.example",
		EventName: "UserLogin", EventType: opentrail.TypeActivityLog}
)

// allEvents names every sample event, for tables that list what matches.
var allEvents = []struct {
	name string
	s    *opentrail.Summary
}{
	{"describe", describe}, {"runInst", runInst}, {"consoleIn", consoleIn}, {"kmsDecrypt", kmsDecrypt},
	{"rdsData", rdsData}, {"getImage", getImage}, {"putImage", putImage}, {"getDoc", getDoc},
	{"getOther", getOther}, {"listBucket", listBucket}, {"invokeHW", invokeHW}, {"invokeHW2", invokeHW2},
	{"ddbConsole", ddbConsole}, {"ddbService", ddbService}, {"kmsDenied", kmsDenied},
	{"kmsAllowed", kmsAllowed}, {"s3Denied", s3Denied}, {"insight", insight}, {"activity", activity},
}

func eq(field string, v ...string) opentrail.FieldSelector {
	return opentrail.FieldSelector{Field: field, Equals: v}
}

func category(c string) opentrail.FieldSelector { return eq("eventCategory", c) }

func TestSelectorMatch(t *testing.T) {
	mgmtAll := []string{"describe", "runInst", "consoleIn", "kmsDecrypt", "rdsData"}
	tests := []struct {
		name     string
		store    bool
		basic    []opentrail.EventSelector
		advanced []opentrail.AdvancedEventSelector
		want     []string // names of the events that match
	}{
		{
			name: "no selectors: all management events, nothing else",
			want: mgmtAll,
		},
		{
			name: "all data events of one bucket, plus management events",
			basic: []opentrail.EventSelector{{ReadWriteType: "All", IncludeManagementEvents: ptr(true),
				DataResources: []opentrail.DataResource{{Type: s3Object, Values: []string{"arn:aws:s3:::" + bucket1 + "/"}}}}},
			want: append(mgmtAll, "getImage", "putImage", "getDoc", "listBucket"),
		},
		{
			name: "exclude KMS events",
			basic: []opentrail.EventSelector{{ReadWriteType: "All", IncludeManagementEvents: ptr(true),
				ExcludeManagementEventSources: []string{"kms.amazonaws.com"}}},
			want: []string{"describe", "runInst", "consoleIn", "rdsData"},
		},
		{
			name: "exclude KMS and RDS Data API events, defaults otherwise",
			basic: []opentrail.EventSelector{{
				ExcludeManagementEventSources: []string{"kms.amazonaws.com", "rdsdata.amazonaws.com"}}},
			want: []string{"describe", "runInst", "consoleIn"},
		},
		{
			name:  "write-only management events; records without readOnly are left out",
			basic: []opentrail.EventSelector{{ReadWriteType: "WriteOnly"}},
			want:  []string{"runInst", "rdsData"},
		},
		{
			name: "read-only data events for a bucket prefix, no management events",
			basic: []opentrail.EventSelector{{ReadWriteType: "ReadOnly", IncludeManagementEvents: ptr(false),
				DataResources: []opentrail.DataResource{{Type: s3Object, Values: []string{"arn:aws:s3:::" + bucket1 + "/example-images"}}}}},
			want: []string{"getImage"},
		},
		{
			name: "Lambda function ARNs are exact",
			basic: []opentrail.EventSelector{{IncludeManagementEvents: ptr(false),
				DataResources: []opentrail.DataResource{{Type: lambdaFn, Values: []string{helloARN}}}}},
			want: []string{"invokeHW"},
		},
		{
			name: "all S3 objects and all functions, across selectors",
			basic: []opentrail.EventSelector{
				{IncludeManagementEvents: ptr(false), DataResources: []opentrail.DataResource{{Type: s3Object, Values: []string{"arn:aws:s3"}}}},
				{ReadWriteType: "ReadOnly", DataResources: []opentrail.DataResource{{Type: lambdaFn, Values: []string{"arn:aws:lambda"}}}},
			},
			// Invoke is a write: the second selector's ReadOnly leaves it out.
			want: []string{"describe", "kmsDecrypt", "getImage", "putImage", "getDoc", "getOther", "listBucket"},
		},
		{
			name: "all DynamoDB tables",
			basic: []opentrail.EventSelector{{IncludeManagementEvents: ptr(false),
				DataResources: []opentrail.DataResource{{Type: ddbTable, Values: []string{"arn:aws:dynamodb"}}}}},
			want: []string{"ddbConsole", "ddbService"},
		},
		{
			name: "advanced: management events and S3 data events except one bucket",
			advanced: []opentrail.AdvancedEventSelector{
				{Name: "Management events", FieldSelectors: []opentrail.FieldSelector{category("Management")}},
				{Name: "S3 except bucket1", FieldSelectors: []opentrail.FieldSelector{
					category("Data"), eq("resources.type", s3Object),
					{Field: "resources.ARN", NotStartsWith: []string{"arn:aws:s3:::" + bucket1 + "/"}},
				}},
			},
			// getOther's bucket only extends bucket1's name; the bucket
			// resources of bucket1's events do not rescue them.
			want: append(mgmtAll, "getOther"),
		},
		{
			name: "advanced: write-only management events without KMS",
			advanced: []opentrail.AdvancedEventSelector{{FieldSelectors: []opentrail.FieldSelector{
				category("Management"), eq("readOnly", "false"),
				{Field: "eventSource", NotEquals: []string{"kms.amazonaws.com"}},
			}}},
			want: []string{"runInst", "rdsData"},
		},
		{
			name: "advanced: readOnly true",
			advanced: []opentrail.AdvancedEventSelector{{FieldSelectors: []opentrail.FieldSelector{
				category("Management"), eq("readOnly", "true")}}},
			want: []string{"describe", "kmsDecrypt"},
		},
		{
			name: "advanced: PutObject and DeleteObject under two prefixes",
			advanced: []opentrail.AdvancedEventSelector{{FieldSelectors: []opentrail.FieldSelector{
				category("Data"), eq("resources.type", s3Object), eq("eventName", "PutObject", "DeleteObject"),
				{Field: "resources.ARN", StartsWith: []string{
					"arn:aws:s3:::" + bucket1 + "/example-images/", "arn:aws:s3:::" + bucket1 + "/docs/"}},
			}}},
			want: []string{"putImage"},
		},
		{
			name: "advanced: positive and negative operators on one field",
			advanced: []opentrail.AdvancedEventSelector{{FieldSelectors: []opentrail.FieldSelector{
				category("Data"), eq("resources.type", s3Object),
				{Field: "resources.ARN", StartsWith: []string{"arn:aws:s3:::" + bucket1 + "/"},
					NotEndsWith: []string{".txt"}},
			}}},
			want: []string{"getImage", "putImage", "listBucket"},
		},
		{
			// The bucket resource's ARN lacks the slash: only the object
			// resource's ARNPrefix can match.
			name: "advanced: list operations match through ARNPrefix",
			advanced: []opentrail.AdvancedEventSelector{{FieldSelectors: []opentrail.FieldSelector{
				category("Data"), eq("resources.type", s3Object), eq("eventName", "ListObjects"),
				{Field: "resources.ARN", StartsWith: []string{"arn:aws:s3:::" + bucket1 + "/"}},
			}}},
			want: []string{"listBucket"},
		},
		{
			name: "advanced: one exact Lambda function",
			advanced: []opentrail.AdvancedEventSelector{{FieldSelectors: []opentrail.FieldSelector{
				category("Data"), eq("resources.type", lambdaFn), eq("resources.ARN", hello2ARN)}}},
			want: []string{"invokeHW2"},
		},
		{
			name: "advanced: DynamoDB events by human roles from the console",
			advanced: []opentrail.AdvancedEventSelector{{FieldSelectors: []opentrail.FieldSelector{
				category("Data"), eq("resources.type", ddbTable),
				{Field: "userIdentity.arn", StartsWith: []string{"arn:aws:sts::" + acct + ":assumed-role/HumanRole/"}},
				eq("sessionCredentialFromConsole", "true"),
			}}},
			want: []string{"ddbConsole"},
		},
		{
			name: "advanced: not from the console, reads only, by event type",
			advanced: []opentrail.AdvancedEventSelector{{FieldSelectors: []opentrail.FieldSelector{
				category("Data"), eq("resources.type", ddbTable), eq("eventType", "AwsApiCall"),
				{Field: "sessionCredentialFromConsole", NotEquals: []string{"true"}},
				{Field: "eventName", StartsWith: []string{"Get"}, NotEquals: []string{"GetRecords"}},
			}}},
			want: []string{"ddbService"},
		},
		{
			name: "advanced: VpceAccessDenied events for KMS",
			advanced: []opentrail.AdvancedEventSelector{{FieldSelectors: []opentrail.FieldSelector{
				category("NetworkActivity"), eq("eventSource", "kms.amazonaws.com"), eq("errorCode", "VpceAccessDenied")}}},
			want: []string{"kmsDenied"},
		},
		{
			name: "advanced: network activity for two sources over one endpoint",
			advanced: []opentrail.AdvancedEventSelector{
				{FieldSelectors: []opentrail.FieldSelector{category("NetworkActivity"), eq("eventSource", "kms.amazonaws.com"),
					{Field: "vpcEndpointId", StartsWith: []string{"vpce-EXAMPLE"}}}},
				{FieldSelectors: []opentrail.FieldSelector{category("NetworkActivity"), eq("eventSource", "s3.amazonaws.com"),
					{Field: "userIdentity.arn", EndsWith: []string{"user/bob"}}}},
			},
			want: []string{"kmsDenied", "kmsAllowed", "s3Denied"},
		},
		{
			name:  "store: no selectors collects management events",
			store: true,
			want:  mgmtAll,
		},
		{
			name:  "store: events from a channel",
			store: true,
			advanced: []opentrail.AdvancedEventSelector{{FieldSelectors: []opentrail.FieldSelector{
				category("ActivityAuditLog")}}},
			want: []string{"activity"},
		},
		{
			name:  "store: Insights events",
			store: true,
			advanced: []opentrail.AdvancedEventSelector{{FieldSelectors: []opentrail.FieldSelector{
				category("Insight")}}},
			want: []string{"insight"},
		},
		{
			name:  "store: management events by name and caller",
			store: true,
			advanced: []opentrail.AdvancedEventSelector{{FieldSelectors: []opentrail.FieldSelector{
				category("Management"), {Field: "eventName", NotStartsWith: []string{"Describe", "Decrypt"}},
				{Field: "userIdentity.arn", EndsWith: []string{":user/alice"}},
				{Field: "eventSource", NotEquals: []string{"signin.amazonaws.com"}},
			}}},
			want: []string{"runInst", "rdsData"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m *opentrail.Matcher
			var err error
			if tt.store {
				m, err = opentrail.CompileStoreSelectors(tt.advanced)
			} else {
				m, err = opentrail.CompileTrailSelectors(tt.basic, tt.advanced)
			}
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			var got []string
			for _, e := range allEvents {
				if m.Match(e.s) {
					got = append(got, e.name)
				}
				if want := refMatch(tt.basic, tt.advanced, e.s); m.Match(e.s) != want {
					t.Errorf("Match(%s) = %v, reference evaluator says %v", e.name, !want, want)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("matching events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSelectorMatchNil(t *testing.T) {
	var m *opentrail.Matcher
	if m.Match(describe) {
		t.Error("nil Matcher matched an event")
	}
	m, err := opentrail.CompileTrailSelectors(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Match(nil) {
		t.Error("Match(nil) = true, want false")
	}
}

func basicS3(values ...string) []opentrail.EventSelector {
	return []opentrail.EventSelector{{DataResources: []opentrail.DataResource{{Type: s3Object, Values: values}}}}
}

func sel(fs ...opentrail.FieldSelector) []opentrail.AdvancedEventSelector {
	return []opentrail.AdvancedEventSelector{{FieldSelectors: fs}}
}

func dataSel(typ string, fs ...opentrail.FieldSelector) []opentrail.AdvancedEventSelector {
	return sel(append([]opentrail.FieldSelector{category("Data"), eq("resources.type", typ)}, fs...)...)
}

func repeat(n int, s string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestValidateTrailSelectors(t *testing.T) {
	manyBuckets := make([]string, 251)
	for i := range manyBuckets {
		manyBuckets[i] = "arn:aws:s3:::bucket-" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + "/p" + string(rune('0'+i%10))
	}
	tests := []struct {
		name     string
		basic    []opentrail.EventSelector
		advanced []opentrail.AdvancedEventSelector
		want     string // the message; "" for valid
	}{
		// Valid sets.
		{name: "basic defaults", basic: []opentrail.EventSelector{{}}},
		{name: "basic S3 bucket, prefix and all", basic: basicS3("arn:aws:s3:::"+bucket1+"/", "arn:aws:s3:::"+bucket1+"/example-images", "arn:aws:s3", "arn:aws:s3:::")},
		{name: "basic lambda and dynamodb", basic: []opentrail.EventSelector{{ReadWriteType: "WriteOnly", DataResources: []opentrail.DataResource{
			{Type: lambdaFn, Values: []string{helloARN, "arn:aws:lambda", helloARN + ":prod"}},
			{Type: ddbTable, Values: []string{tableARN, "arn:aws:dynamodb"}}}}}},
		{name: "250 data resources plus all-resources values", basic: []opentrail.EventSelector{
			{DataResources: []opentrail.DataResource{{Type: s3Object, Values: append(manyBuckets[:200:200], "arn:aws:s3")}}},
			{DataResources: []opentrail.DataResource{{Type: lambdaFn, Values: append(repeat(50, helloARN), "arn:aws:lambda")}}}}},
		{name: "five basic selectors", basic: make([]opentrail.EventSelector, 5)},
		{name: "advanced management", advanced: sel(category("Management"))},
		{name: "advanced management excluding KMS and RDS Data", advanced: sel(category("Management"), eq("readOnly", "true"),
			opentrail.FieldSelector{Field: "eventSource", NotEquals: []string{"kms.amazonaws.com", "rdsdata.amazonaws.com"}})},
		{name: "advanced data, every field", advanced: dataSel(s3Object,
			opentrail.FieldSelector{Field: "eventName", StartsWith: []string{"Get"}, NotEquals: []string{"GetObjectAcl"}},
			opentrail.FieldSelector{Field: "eventSource", EndsWith: []string{"s3.amazonaws.com"}},
			opentrail.FieldSelector{Field: "eventType", NotEquals: []string{"AwsServiceEvent"}},
			eq("readOnly", "true"),
			opentrail.FieldSelector{Field: "resources.ARN", StartsWith: []string{"arn:aws:s3:::bucket1/"}, NotEquals: []string{"arn:aws:s3:::bucket1/secret.txt"}},
			opentrail.FieldSelector{Field: "sessionCredentialFromConsole", NotEquals: []string{"true"}},
			opentrail.FieldSelector{Field: "userIdentity.arn", NotEndsWith: []string{"/ServiceRole"}})},
		{name: "advanced data, other resource type", advanced: dataSel("AWS::S3Express::Object",
			eq("resources.ARN", "arn:aws:s3express:us-east-1:123456789012:bucket/b--use1-az4--x-s3/key"))},
		{name: "advanced network activity", advanced: sel(category("NetworkActivity"), eq("eventSource", "kms.amazonaws.com"),
			eq("errorCode", "VpceAccessDenied"), opentrail.FieldSelector{Field: "vpcEndpointId", NotEquals: []string{"vpce-1"}},
			opentrail.FieldSelector{Field: "eventName", Equals: []string{"ListKeys"}},
			opentrail.FieldSelector{Field: "userIdentity.arn", StartsWith: []string{"arn:aws:iam::"}})},
		{name: "advanced, six selectors", advanced: append(append(append(sel(category("Management")), dataSel(s3Object)...),
			dataSel(lambdaFn)...), append(append(dataSel(ddbTable), dataSel("AWS::S3Outposts::Object")...), dataSel("AWS::SNS::Topic")...)...)},
		{name: "advanced, 500 values", advanced: dataSel(s3Object, opentrail.FieldSelector{Field: "eventName", Equals: repeat(498, "GetObject")})},

		// Errors.
		{name: "both kinds", basic: []opentrail.EventSelector{{}}, advanced: sel(category("Management")),
			want: "You can use either EventSelectors or AdvancedEventSelectors, but not both."},
		{name: "neither kind", want: "Specify either EventSelectors (1 to 5) or AdvancedEventSelectors."},
		{name: "six basic selectors", basic: make([]opentrail.EventSelector, 6),
			want: "A trail can have up to 5 event selectors; the request has 6."},
		{name: "bad ReadWriteType", basic: []opentrail.EventSelector{{ReadWriteType: "read-only"}},
			want: "Value read-only for ReadWriteType is invalid. Valid values are ReadOnly, WriteOnly and All."},
		{name: "bad excluded source", basic: []opentrail.EventSelector{{ExcludeManagementEventSources: []string{"s3.amazonaws.com"}}},
			want: "Value s3.amazonaws.com for ExcludeManagementEventSources is invalid. Only kms.amazonaws.com and rdsdata.amazonaws.com can be excluded."},
		{name: "basic type not supported", basic: []opentrail.EventSelector{{DataResources: []opentrail.DataResource{{Type: "AWS::S3::Bucket", Values: []string{"arn:aws:s3"}}}}},
			want: "Value AWS::S3::Bucket for DataResources.Type is invalid. Event selectors log data events for AWS::S3::Object, AWS::Lambda::Function and AWS::DynamoDB::Table; use advanced event selectors for other resource types."},
		{name: "basic type without values", basic: []opentrail.EventSelector{{DataResources: []opentrail.DataResource{{Type: lambdaFn}}}},
			want: "DataResources of type AWS::Lambda::Function must have at least one value. Use arn:aws:lambda for all functions, or a function's exact ARN."},
		{name: "S3 wildcard", basic: basicS3("arn:aws:s3:::*"),
			want: "Value arn:aws:s3:::* for DataResources.Values is invalid. Use arn:aws:s3 for all buckets, or arn:aws:s3:::bucket/ followed by an optional object prefix."},
		{name: "S3 wildcard bucket with prefix", basic: basicS3("arn:aws:s3:::cg-*/*"),
			want: "Value arn:aws:s3:::cg-*/* for DataResources.Values is invalid. Use arn:aws:s3 for all buckets, or arn:aws:s3:::bucket/ followed by an optional object prefix."},
		{name: "S3 bucket without slash", basic: basicS3("arn:aws:s3:::" + bucket1),
			want: "Value arn:aws:s3:::amzn-s3-demo-bucket1 for DataResources.Values is invalid. Use arn:aws:s3 for all buckets, or arn:aws:s3:::bucket/ followed by an optional object prefix."},
		{name: "lambda wildcard", basic: []opentrail.EventSelector{{DataResources: []opentrail.DataResource{{Type: lambdaFn, Values: []string{"arn:aws:lambda:*"}}}}},
			want: "Value arn:aws:lambda:* for DataResources.Values is invalid. Use arn:aws:lambda for all functions, or a function's exact ARN."},
		{name: "table value for a function", basic: []opentrail.EventSelector{{DataResources: []opentrail.DataResource{{Type: lambdaFn, Values: []string{tableARN}}}}},
			want: "Value " + tableARN + " for DataResources.Values is invalid. Use arn:aws:lambda for all functions, or a function's exact ARN."},
		{name: "dynamodb table prefix", basic: []opentrail.EventSelector{{DataResources: []opentrail.DataResource{{Type: ddbTable, Values: []string{"arn:aws:dynamodb:us-east-1:123456789012:table/"}}}}},
			want: "Value arn:aws:dynamodb:us-east-1:123456789012:table/ for DataResources.Values is invalid. Use arn:aws:dynamodb for all tables, or a table's exact ARN."},
		{name: "251 data resources", basic: []opentrail.EventSelector{
			{DataResources: []opentrail.DataResource{{Type: s3Object, Values: manyBuckets[:200]}}},
			{DataResources: []opentrail.DataResource{{Type: s3Object, Values: manyBuckets[200:]}}}},
			want: "A trail can have up to 250 data resources across all event selectors; the request has 251. Values that select all resources (such as arn:aws:s3) do not count."},

		{name: "no field selectors", advanced: []opentrail.AdvancedEventSelector{{Name: "empty"}},
			want: `Advanced event selector "empty" must have at least one field selector.`},
		{name: "name too long", advanced: []opentrail.AdvancedEventSelector{{Name: strings.Repeat("n", 1001), FieldSelectors: []opentrail.FieldSelector{category("Management")}}},
			want: "The name of advanced event selector 0 is 1001 characters long; the maximum is 1000."},
		{name: "field name pattern", advanced: sel(category("Management"), eq("event-name", "x")),
			want: `Field "event-name" is invalid: field names are 1 to 1000 letters, digits, periods and underscores.`},
		{name: "empty field name", advanced: sel(eq("", "x")),
			want: `Field "" is invalid: field names are 1 to 1000 letters, digits, periods and underscores.`},
		{name: "unknown field", advanced: sel(category("Management"), eq("awsRegion", "us-east-1")),
			want: "Field awsRegion is not supported. Supported fields are eventCategory, eventSource, eventName, eventType, readOnly, resources.type, resources.ARN, sessionCredentialFromConsole, userIdentity.arn, errorCode and vpcEndpointId."},
		{name: "field names are case-sensitive", advanced: sel(eq("EventCategory", "Management")),
			want: "Field EventCategory is not supported. Supported fields are eventCategory, eventSource, eventName, eventType, readOnly, resources.type, resources.ARN, sessionCredentialFromConsole, userIdentity.arn, errorCode and vpcEndpointId."},
		{name: "duplicate field", advanced: sel(category("Management"), eq("readOnly", "true"), eq("readOnly", "false")),
			want: "Advanced event selector at index 0 has more than one field selector for readOnly; combine their conditions in one field selector."},
		{name: "no operator", advanced: sel(category("Data"), opentrail.FieldSelector{Field: "eventName"}),
			want: "Field selector eventName of advanced event selector at index 0 needs at least one operator: Equals, StartsWith, EndsWith, NotEquals, NotStartsWith or NotEndsWith."},
		{name: "empty operator", advanced: sel(category("Data"), opentrail.FieldSelector{Field: "eventName", StartsWith: []string{}}),
			want: "Operator StartsWith of field eventName must have at least one value."},
		{name: "empty value", advanced: sel(category("Data"), opentrail.FieldSelector{Field: "eventName", NotEquals: []string{""}}),
			want: "Values of field eventName must be 1 to 2048 characters long; a value of operator NotEquals is 0."},
		{name: "value too long", advanced: dataSel(s3Object, opentrail.FieldSelector{Field: "resources.ARN", StartsWith: []string{strings.Repeat("a", 2049)}}),
			want: "Values of field resources.ARN must be 1 to 2048 characters long; a value of operator StartsWith is 2049."},
		{name: "501 values", advanced: dataSel(s3Object, opentrail.FieldSelector{Field: "eventName", Equals: repeat(499, "GetObject")}),
			want: "Advanced event selectors can have up to 500 values across all conditions; the request has 501."},
		{name: "no eventCategory", advanced: sel(eq("readOnly", "true")),
			want: "Advanced event selector at index 0 must have an eventCategory field selector."},
		{name: "eventCategory operator", advanced: sel(opentrail.FieldSelector{Field: "eventCategory", StartsWith: []string{"Manage"}}),
			want: "Field eventCategory supports only the Equals operator; it cannot use StartsWith."},
		{name: "two categories", advanced: sel(eq("eventCategory", "Management", "Data")),
			want: "Field eventCategory of advanced event selector at index 0 must have exactly one value; use one advanced event selector per event category."},
		{name: "store category on a trail", advanced: sel(category("Insight")),
			want: "Value Insight for field eventCategory is invalid. Valid values for trails are Management, Data and NetworkActivity."},
		{name: "eventName for management on a trail", advanced: sel(category("Management"), eq("eventName", "RunInstances")),
			want: "Field eventName is not supported for Management events in trails."},
		{name: "resources.ARN for management", advanced: sel(category("Management"), opentrail.FieldSelector{Field: "resources.ARN", StartsWith: []string{"arn:"}}),
			want: "Field resources.ARN is not supported for Management events in trails."},
		{name: "readOnly for network activity", advanced: sel(category("NetworkActivity"), eq("eventSource", "kms.amazonaws.com"), eq("readOnly", "true")),
			want: "Field readOnly is not supported for NetworkActivity events in trails."},
		{name: "errorCode for data", advanced: dataSel(s3Object, eq("errorCode", "VpceAccessDenied")),
			want: "Field errorCode is not supported for Data events in trails."},
		{name: "management eventSource Equals", advanced: sel(category("Management"), eq("eventSource", "ec2.amazonaws.com")),
			want: "Management event selectors on trails can only exclude event sources with eventSource NotEquals kms.amazonaws.com or rdsdata.amazonaws.com; Equals ec2.amazonaws.com is not supported."},
		{name: "management eventSource other exclusion", advanced: sel(category("Management"), opentrail.FieldSelector{Field: "eventSource", NotEquals: []string{"kms.amazonaws.com", "s3.amazonaws.com"}}),
			want: "Management event selectors on trails can only exclude event sources with eventSource NotEquals kms.amazonaws.com or rdsdata.amazonaws.com; NotEquals s3.amazonaws.com is not supported."},
		{name: "readOnly value", advanced: sel(category("Management"), eq("readOnly", "yes")),
			want: "Value yes for field readOnly is invalid. Valid values are true and false."},
		{name: "readOnly operator", advanced: sel(category("Management"), opentrail.FieldSelector{Field: "readOnly", NotEquals: []string{"true"}}),
			want: "Field readOnly supports only the Equals operator; it cannot use NotEquals."},
		{name: "data without resources.type", advanced: sel(category("Data"), eq("eventName", "GetObject")),
			want: "Advanced event selector at index 0 for Data events must have a resources.type field selector."},
		{name: "resources.type operator", advanced: sel(category("Data"), opentrail.FieldSelector{Field: "resources.type", StartsWith: []string{"AWS::S3::"}}),
			want: "Field resources.type supports only the Equals operator; it cannot use StartsWith."},
		{name: "two resource types", advanced: []opentrail.AdvancedEventSelector{{Name: "S3 and Lambda", FieldSelectors: []opentrail.FieldSelector{category("Data"), eq("resources.type", s3Object, lambdaFn)}}},
			want: `Field resources.type of advanced event selector "S3 and Lambda" must have exactly one value; to log several resource types, use one advanced event selector for each.`},
		{name: "resources.type shape", advanced: dataSel("S3Object"),
			want: "Value S3Object for field resources.type is invalid: resource types look like AWS::S3::Object."},
		{name: "resources.ARN Equals a bucket", advanced: dataSel(s3Object, eq("resources.ARN", "arn:aws:s3:::"+bucket1)),
			want: "Value arn:aws:s3:::amzn-s3-demo-bucket1 for field resources.ARN is not a valid AWS::S3::Object ARN. Equals and NotEquals need the exact ARN of a resource of that type; use StartsWith to match a prefix, such as arn:aws:s3:::bucket/ for all objects in a bucket."},
		{name: "resources.ARN NotEquals a non-ARN", advanced: dataSel("AWS::SNS::Topic", opentrail.FieldSelector{Field: "resources.ARN", NotEquals: []string{"my-topic"}}),
			want: "Value my-topic for field resources.ARN is not a valid AWS::SNS::Topic ARN. Equals and NotEquals need the exact ARN of a resource of that type; use StartsWith to match a prefix, such as arn:aws:s3:::bucket/ for all objects in a bucket."},
		{name: "resources.ARN Equals a function prefix", advanced: dataSel(lambdaFn, eq("resources.ARN", "arn:aws:lambda:us-west-2:111111111111:function:")),
			want: "Value arn:aws:lambda:us-west-2:111111111111:function: for field resources.ARN is not a valid AWS::Lambda::Function ARN. Equals and NotEquals need the exact ARN of a resource of that type; use StartsWith to match a prefix, such as arn:aws:s3:::bucket/ for all objects in a bucket."},
		{name: "sessionCredentialFromConsole operator", advanced: dataSel(s3Object, opentrail.FieldSelector{Field: "sessionCredentialFromConsole", StartsWith: []string{"t"}}),
			want: "Field sessionCredentialFromConsole supports only the Equals and NotEquals operators; it cannot use StartsWith."},
		{name: "sessionCredentialFromConsole value", advanced: dataSel(s3Object, eq("sessionCredentialFromConsole", "yes")),
			want: "Value yes for field sessionCredentialFromConsole is invalid. Valid values are true and false."},
		{name: "network without eventSource", advanced: sel(category("NetworkActivity"), eq("errorCode", "VpceAccessDenied")),
			want: "Advanced event selector at index 0 for NetworkActivity events must have an eventSource field selector naming the event source to log."},
		{name: "network eventSource operator", advanced: sel(category("NetworkActivity"), opentrail.FieldSelector{Field: "eventSource", NotEquals: []string{"kms.amazonaws.com"}}),
			want: "Field eventSource of NetworkActivity selectors supports only the Equals operator; it cannot use NotEquals."},
		{name: "network two event sources", advanced: sel(category("NetworkActivity"), eq("eventSource", "kms.amazonaws.com", "s3.amazonaws.com")),
			want: "Field eventSource of NetworkActivity advanced event selector at index 0 must have exactly one value; to log several event sources, use one advanced event selector for each."},
		{name: "errorCode value", advanced: sel(category("NetworkActivity"), eq("eventSource", "kms.amazonaws.com"), eq("errorCode", "AccessDenied")),
			want: "Value AccessDenied for field errorCode is invalid. The only supported errorCode is VpceAccessDenied."},
		{name: "errorCode operator", advanced: sel(category("NetworkActivity"), eq("eventSource", "kms.amazonaws.com"), opentrail.FieldSelector{Field: "errorCode", NotEquals: []string{"VpceAccessDenied"}}),
			want: "Field errorCode supports only the Equals operator; it cannot use NotEquals."},
		{name: "errors in a later selector", advanced: append(sel(category("Management")), opentrail.AdvancedEventSelector{Name: "data", FieldSelectors: []opentrail.FieldSelector{category("Data")}}),
			want: `Advanced event selector "data" for Data events must have a resources.type field selector.`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := messageOf(t, opentrail.ValidateTrailSelectors(tt.basic, tt.advanced))
			if got != tt.want {
				t.Errorf("ValidateTrailSelectors() = %q, want %q", got, tt.want)
			}
			m, err := opentrail.CompileTrailSelectors(tt.basic, tt.advanced)
			if tt.want == "" || (len(tt.basic) == 0 && len(tt.advanced) == 0) {
				if err != nil || m == nil {
					t.Errorf("CompileTrailSelectors() = %v, %v; want a matcher", m, err)
				}
			} else if got := messageOf(t, err); got != tt.want || m != nil {
				t.Errorf("CompileTrailSelectors() = %v, %q; want nil, %q", m, got, tt.want)
			}
		})
	}
}

func TestValidateStoreSelectors(t *testing.T) {
	tests := []struct {
		name     string
		advanced []opentrail.AdvancedEventSelector
		want     string
	}{
		{name: "none"},
		{name: "management with store-only fields", advanced: sel(category("Management"),
			opentrail.FieldSelector{Field: "eventName", NotStartsWith: []string{"Describe"}},
			opentrail.FieldSelector{Field: "eventSource", Equals: []string{"ec2.amazonaws.com"}},
			eq("eventType", "AwsApiCall"), eq("sessionCredentialFromConsole", "true"),
			opentrail.FieldSelector{Field: "userIdentity.arn", EndsWith: []string{"/admin"}})},
		{name: "management, data and network activity together", advanced: append(append(sel(category("Management")),
			dataSel(s3Object)...), sel(category("NetworkActivity"), eq("eventSource", "s3.amazonaws.com"))...)},
		{name: "one channel category", advanced: append(sel(category("ActivityAuditLog")), sel(category("ActivityAuditLog"))...)},
		{name: "config items", advanced: sel(category("ConfigurationItem"))},
		{name: "evidence", advanced: sel(category("Evidence"))},
		{name: "five selectors", advanced: append(append(sel(category("Management")), dataSel(s3Object)...),
			append(append(dataSel(lambdaFn), dataSel(ddbTable)...), dataSel("AWS::SNS::Topic")...)...)},

		{name: "six selectors", advanced: append(append(append(sel(category("Management")), dataSel(s3Object)...),
			append(append(dataSel(lambdaFn), dataSel(ddbTable)...), dataSel("AWS::SNS::Topic")...)...), dataSel("AWS::SQS::Queue")...),
			want: "An event data store can have up to 5 advanced event selectors; the request has 6."},
		{name: "unknown category", advanced: sel(category("Audit")),
			want: "Value Audit for field eventCategory is invalid. Valid values for event data stores are Management, Data, NetworkActivity, Insight, ConfigurationItem, Evidence and ActivityAuditLog."},
		{name: "channel events filtered", advanced: sel(category("ActivityAuditLog"), eq("eventName", "UserLogin")),
			want: "Field eventName is not supported for ActivityAuditLog events: only eventCategory can be used to select them."},
		{name: "insights filtered", advanced: sel(category("Insight"), eq("readOnly", "true")),
			want: "Field readOnly is not supported for Insight events: only eventCategory can be used to select them."},
		{name: "userIdentity.arn for network activity", advanced: sel(category("NetworkActivity"), eq("eventSource", "kms.amazonaws.com"),
			opentrail.FieldSelector{Field: "userIdentity.arn", StartsWith: []string{"arn:aws:iam::"}}),
			want: "Field userIdentity.arn is not supported for NetworkActivity events in event data stores."},
		{name: "config items with management events", advanced: append(sel(category("Management")), sel(category("ConfigurationItem"))...),
			want: "An event data store collects one type of event: eventCategory ConfigurationItem cannot be combined with CloudTrail events (Management, Data, NetworkActivity) in the same event data store."},
		{name: "channel events with Insights", advanced: append(sel(category("ActivityAuditLog")), sel(category("Insight"))...),
			want: "An event data store collects one type of event: eventCategory Insight cannot be combined with ActivityAuditLog in the same event data store."},
		{name: "trail rules still apply", advanced: dataSel(s3Object, eq("resources.ARN", "arn:aws:s3:::bucket1/")),
			want: "Value arn:aws:s3:::bucket1/ for field resources.ARN is not a valid AWS::S3::Object ARN. Equals and NotEquals need the exact ARN of a resource of that type; use StartsWith to match a prefix, such as arn:aws:s3:::bucket/ for all objects in a bucket."},
		{name: "field shape", advanced: sel(category("Data"), eq("resources.type", s3Object), eq("resources.type", s3Object)),
			want: "Advanced event selector at index 0 has more than one field selector for resources.type; combine their conditions in one field selector."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := messageOf(t, opentrail.ValidateStoreSelectors(tt.advanced)); got != tt.want {
				t.Errorf("ValidateStoreSelectors() = %q, want %q", got, tt.want)
			}
			m, err := opentrail.CompileStoreSelectors(tt.advanced)
			if (err == nil) != (tt.want == "") || (m == nil) != (err != nil) {
				t.Errorf("CompileStoreSelectors() = %v, %v; want error %v", m, err, tt.want != "")
			}
		})
	}
}

// messageOf returns the message of err, which must be nil or an *Error with
// code InvalidEventSelectorsException.
func messageOf(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var e *opentrail.Error
	if !errors.As(err, &e) || e.Code != "InvalidEventSelectorsException" {
		t.Fatalf("error %v (%T) is not an InvalidEventSelectorsException", err, err)
	}
	return e.Message
}
