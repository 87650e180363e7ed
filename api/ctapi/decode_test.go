package ctapi_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api/ctapi"
)

// TestDecodeValidation checks each kind of constraint violation, with the
// exact code and message a client gets.
func TestDecodeValidation(t *testing.T) {
	const prefix1 = "1 validation error detected: "
	tests := []struct {
		name     string
		op, body string
		code     string
		msg      string
	}{
		{
			name: "range max, override", op: "LookupEvents", body: `{"MaxResults":100}`,
			code: "InvalidMaxResultsException",
			msg:  prefix1 + "Value '100' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 50",
		},
		{
			name: "range min", op: "LookupEvents", body: `{"MaxResults":0}`,
			code: "InvalidMaxResultsException",
			msg:  prefix1 + "Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1",
		},
		{
			name: "range, no override declared", op: "ListChannels", body: `{"MaxResults":1001}`,
			code: "InvalidParameterException",
			msg:  prefix1 + "Value '1001' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 1000",
		},
		{
			name: "MaxQueryResults", op: "GetQueryResults", body: `{"QueryId":"0d5d6c6a-1b5e-4b1a-9d8e-7f6a5b4c3d2e","MaxQueryResults":1001}`,
			code: "InvalidMaxResultsException",
			msg:  prefix1 + "Value '1001' at 'maxQueryResults' failed to satisfy constraint: Member must have value less than or equal to 1000",
		},
		{
			name: "ListEventDataStores MaxResults", op: "ListEventDataStores", body: `{"MaxResults":-1}`,
			code: "InvalidMaxResultsException",
			msg:  prefix1 + "Value '-1' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1",
		},
		{
			name: "enum in a list element", op: "LookupEvents", body: `{"LookupAttributes":[{"AttributeKey":"Foo","AttributeValue":"x"}]}`,
			code: "InvalidLookupAttributesException",
			msg:  prefix1 + "Value 'Foo' at 'lookupAttributes.1.member.attributeKey' failed to satisfy constraint: Member must satisfy enum value set: [EventId, EventName, ReadOnly, Username, ResourceType, ResourceName, EventSource, AccessKeyId]",
		},
		{
			name: "string length, second element", op: "LookupEvents", body: `{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":"x"},{"AttributeKey":"EventName","AttributeValue":""}]}`,
			code: "InvalidLookupAttributesException",
			msg:  prefix1 + "Value '' at 'lookupAttributes.2.member.attributeValue' failed to satisfy constraint: Member must have length greater than or equal to 1",
		},
		{
			name: "required in a list element", op: "LookupEvents", body: `{"LookupAttributes":[{"AttributeValue":"x"}]}`,
			code: "InvalidLookupAttributesException",
			msg:  prefix1 + "Value null at 'lookupAttributes.1.member.attributeKey' failed to satisfy constraint: Member must not be null",
		},
		{
			name: "enum, lowercase value set", op: "LookupEvents", body: `{"EventCategory":"Insight"}`,
			code: "InvalidEventCategoryException",
			msg:  prefix1 + "Value 'Insight' at 'eventCategory' failed to satisfy constraint: Member must satisfy enum value set: [insight]",
		},
		{
			name: "next token length", op: "ListQueries", body: `{"EventDataStore":"eds-0123","NextToken":"abc"}`,
			code: "InvalidNextTokenException",
			msg:  prefix1 + "Value 'abc' at 'nextToken' failed to satisfy constraint: Member must have length greater than or equal to 4",
		},
		{
			name: "query status enum", op: "ListQueries", body: `{"EventDataStore":"eds-0123","QueryStatus":"DONE"}`,
			code: "InvalidQueryStatusException",
			msg:  prefix1 + "Value 'DONE' at 'queryStatus' failed to satisfy constraint: Member must satisfy enum value set: [QUEUED, RUNNING, FINISHED, FAILED, CANCELLED, TIMED_OUT]",
		},
		{
			name: "two required members, trail name override", op: "CreateTrail", body: `{}`,
			code: "InvalidTrailNameException",
			msg: "2 validation errors detected: " +
				"Value null at 'name' failed to satisfy constraint: Member must not be null; " +
				"Value null at 's3BucketName' failed to satisfy constraint: Member must not be null",
		},
		{
			name: "bucket override", op: "CreateTrail", body: `{"Name":"t"}`,
			code: "InvalidS3BucketNameException",
			msg:  prefix1 + "Value null at 's3BucketName' failed to satisfy constraint: Member must not be null",
		},
		{
			name: "trail name on GetEventSelectors", op: "GetEventSelectors", body: `{}`,
			code: "InvalidTrailNameException",
			msg:  prefix1 + "Value null at 'trailName' failed to satisfy constraint: Member must not be null",
		},
		{
			name: "Name is no trail name on CreateEventDataStore", op: "CreateEventDataStore", body: `{"Name":"a b"}`,
			code: "InvalidParameterException",
			msg:  prefix1 + `Value 'a b' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9._\-]+$`,
		},
		{
			name: "length and pattern on one value", op: "CreateEventDataStore", body: `{"Name":"!"}`,
			code: "InvalidParameterException",
			msg: "2 validation errors detected: " +
				"Value '!' at 'name' failed to satisfy constraint: Member must have length greater than or equal to 3; " +
				`Value '!' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9._\-]+$`,
		},
		{
			name: "pattern must match the whole value", op: "RegisterOrganizationDelegatedAdmin", body: `{"MemberAccountId":"12345678901x"}`,
			code: "InvalidParameterException",
			msg:  prefix1 + `Value '12345678901x' at 'memberAccountId' failed to satisfy constraint: Member must satisfy regular expression pattern: \d+`,
		},
		{
			name: "range on a long-lived setting", op: "CreateEventDataStore", body: `{"Name":"eds","RetentionPeriod":5}`,
			code: "InvalidParameterException",
			msg:  prefix1 + "Value '5' at 'retentionPeriod' failed to satisfy constraint: Member must have value greater than or equal to 7",
		},
		{
			name: "tag override", op: "AddTags", body: `{"ResourceId":"arn:aws:cloudtrail:us-east-1:123456789012:trail/t","TagsList":[{"Key":"k","Value":""}]}`,
			code: "InvalidTagParameterException",
			msg:  prefix1 + "Value '' at 'tagsList.1.member.value' failed to satisfy constraint: Member must have length greater than or equal to 1",
		},
		{
			name: "list length, nested, selectors override", op: "PutEventSelectors", body: `{"TrailName":"t","AdvancedEventSelectors":[{"FieldSelectors":[{"Field":"eventCategory","Equals":[]}]}]}`,
			code: "InvalidEventSelectorsException",
			msg:  prefix1 + "Value '[]' at 'advancedEventSelectors.1.member.fieldSelectors.1.member.equals' failed to satisfy constraint: Member must have length greater than or equal to 1",
		},
		{
			name: "basic selector enum", op: "PutEventSelectors", body: `{"TrailName":"t","EventSelectors":[{"ReadWriteType":"Read"}]}`,
			code: "InvalidEventSelectorsException",
			msg:  prefix1 + "Value 'Read' at 'eventSelectors.1.member.readWriteType' failed to satisfy constraint: Member must satisfy enum value set: [ReadOnly, WriteOnly, All]",
		},
		{
			name: "insight selectors override", op: "PutInsightSelectors", body: `{"TrailName":"t","InsightSelectors":[{"InsightType":"Bogus"}]}`,
			code: "InvalidInsightSelectorsException",
			msg:  prefix1 + "Value 'Bogus' at 'insightSelectors.1.member.insightType' failed to satisfy constraint: Member must satisfy enum value set: [ApiCallRateInsight, ApiErrorRateInsight]",
		},
		{
			name: "map keys and values", op: "StartDashboardRefresh", body: `{"DashboardId":"arn:aws:cloudtrail:us-east-1:123456789012:dashboard/d","QueryParameterValues":{"$x":"a b","$StartTime$":"ok"}}`,
			code: "InvalidParameterException",
			msg: "2 validation errors detected: " +
				"Value '{$StartTime$=ok, $x=a b}' at 'queryParameterValues' failed to satisfy constraint: Map keys must satisfy constraint: [Member must have length greater than or equal to 3]; " +
				`Value '{$StartTime$=ok, $x=a b}' at 'queryParameterValues' failed to satisfy constraint: Map value must satisfy constraint: [Member must satisfy regular expression pattern: ^[a-zA-Z0-9._/\-:]+$]`,
		},
		{
			name: "map length and enum key", op: "ListInsightsData", body: `{"InsightSource":"arn:aws:cloudtrail:us-east-1:123456789012:trail/t","DataType":"InsightsEvents","Dimensions":{}}`,
			code: "InvalidParameterException",
			msg:  prefix1 + "Value '{}' at 'dimensions' failed to satisfy constraint: Member must have length greater than or equal to 1",
		},
		{
			name: "list of structures too long", op: "PutEventConfiguration", body: `{"TrailName":"t","ContextKeySelectors":[{"Type":"TagContext","Equals":["a"]},{"Type":"RequestContext","Equals":["b","c"]},{"Type":"TagContext","Equals":["d"]}]}`,
			code: "InvalidParameterException",
			msg:  prefix1 + "Value '[{Type: TagContext, Equals: [a]}, {Type: RequestContext, Equals: [b, c]}, {Type: TagContext, Equals: [d]}]' at 'contextKeySelectors' failed to satisfy constraint: Member must have length less than or equal to 2",
		},
		{
			name: "violations across members, first decides the code", op: "LookupEvents", body: `{"MaxResults":51,"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":""}]}`,
			code: "InvalidLookupAttributesException",
			msg: "2 validation errors detected: " +
				"Value '' at 'lookupAttributes.1.member.attributeValue' failed to satisfy constraint: Member must have length greater than or equal to 1; " +
				"Value '51' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 50",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ctapi.Decode(tt.op, []byte(tt.body), ctapi.NewInput(tt.op))
			var e *opentrail.Error
			if !errors.As(err, &e) {
				t.Fatalf("Decode(%s, %s) = %v, want an *opentrail.Error", tt.op, tt.body, err)
			}
			if e.Code != tt.code || e.Message != tt.msg {
				t.Errorf("Decode(%s, %s) =\n  %s: %s\nwant\n  %s: %s", tt.op, tt.body, e.Code, e.Message, tt.code, tt.msg)
			}
		})
	}
}

// TestDecodeSerialization checks bodies that are not well-formed requests.
func TestDecodeSerialization(t *testing.T) {
	deep := func(n int) string { // a body whose top object holds n-1 nested arrays
		return `{"X":` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + `}`
	}
	tests := []struct {
		name     string
		op, body string
		msg      string // "" for any message
	}{
		{name: "string for integer", op: "LookupEvents", body: `{"MaxResults":"5"}`, msg: "Expected integer for member 'MaxResults', got string"},
		{name: "float for integer", op: "LookupEvents", body: `{"MaxResults":5.0}`, msg: "Expected integer for member 'MaxResults', got number 5.0"},
		{name: "exponent for integer", op: "LookupEvents", body: `{"MaxResults":1e1}`, msg: "Expected integer for member 'MaxResults', got number 1e1"},
		{name: "int32 overflow", op: "LookupEvents", body: `{"MaxResults":2147483648}`, msg: "Value 2147483648 for member 'MaxResults' is out of range for a 32-bit integer"},
		{name: "boolean for integer", op: "LookupEvents", body: `{"MaxResults":true}`, msg: "Expected integer for member 'MaxResults', got boolean"},
		{name: "object for list", op: "LookupEvents", body: `{"LookupAttributes":{"AttributeKey":"EventName"}}`, msg: "Expected array for member 'LookupAttributes', got object"},
		{name: "string for structure", op: "LookupEvents", body: `{"LookupAttributes":["EventName"]}`, msg: "Expected object for member 'LookupAttributes[0]', got string"},
		{name: "number for string, nested", op: "LookupEvents", body: `{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":7}]}`, msg: "Expected string for member 'LookupAttributes[0].AttributeValue', got number"},
		{name: "string timestamp", op: "LookupEvents", body: `{"StartTime":"2024-01-01T00:00:00Z"}`, msg: "Expected timestamp (epoch seconds as a JSON number) for member 'StartTime', got string"},
		{name: "timestamp out of range", op: "LookupEvents", body: `{"StartTime":1e30}`, msg: "Timestamp 1e30 for member 'StartTime' is out of range (years 1 to 9999)"},
		{name: "string boolean", op: "DescribeTrails", body: `{"includeShadowTrails":"true"}`, msg: "Expected boolean for member 'includeShadowTrails', got string"},
		{name: "number in string list", op: "DescribeTrails", body: `{"trailNameList":["a",1]}`, msg: "Expected string for member 'trailNameList[1]', got number"},
		{name: "number map value", op: "StartDashboardRefresh", body: `{"DashboardId":"d","QueryParameterValues":{"$k$":1}}`, msg: `Expected string for member 'QueryParameterValues["$k$"]', got number`},
		{name: "array top level", op: "ListTrails", body: `[]`, msg: "The request body must be a JSON object, got array"},
		{name: "string top level", op: "ListTrails", body: `"{}"`, msg: "The request body must be a JSON object, got string"},
		{name: "number top level", op: "ListTrails", body: ` 5 `, msg: "The request body must be a JSON object, got number"},
		{name: "unterminated object", op: "ListTrails", body: `{"NextToken":"a"`, msg: "Malformed JSON in request body: unexpected end of input"},
		{name: "missing colon", op: "ListTrails", body: `{"NextToken" "a"}`, msg: "Malformed JSON in request body at byte 13: expected ':' after member name"},
		{name: "single quotes", op: "ListTrails", body: `{'NextToken':'a'}`, msg: "Malformed JSON in request body at byte 1: expected a member name"},
		{name: "trailing comma", op: "ListTrails", body: `{"NextToken":"a",}`},
		{name: "bad literal", op: "DescribeTrails", body: `{"includeShadowTrails":tru}`},
		{name: "bad literal in unknown member", op: "ListTrails", body: `{"Foo":nul}`},
		{name: "bad escape", op: "ListTrails", body: `{"NextToken":"\x"}`},
		{name: "bad unicode escape", op: "ListTrails", body: `{"NextToken":"\u12"}`},
		{name: "control character", op: "ListTrails", body: "{\"NextToken\":\"a\x01\"}"},
		{name: "leading zero", op: "LookupEvents", body: `{"MaxResults":05}`},
		{name: "bare minus", op: "LookupEvents", body: `{"MaxResults":-}`},
		{name: "trailing data", op: "ListTrails", body: `{} {}`, msg: "Malformed JSON in request body at byte 3: unexpected data after the top-level object"},
		{name: "unterminated string in unknown member", op: "ListTrails", body: `{"Foo":"abc`},
		{name: "too deep", op: "ListTrails", body: deep(ctapi.MaxDepth + 1), msg: "Request body nests objects and arrays deeper than 64 levels"},
		{name: "bad base64 is never in a request; bad number is", op: "ListPublicKeys", body: `{"StartTime":1.}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ctapi.Decode(tt.op, []byte(tt.body), ctapi.NewInput(tt.op))
			var e *opentrail.Error
			if !errors.As(err, &e) || e.Code != opentrail.CodeSerialization {
				t.Fatalf("Decode(%s, %q) = %v, want a SerializationException", tt.op, tt.body, err)
			}
			if tt.msg != "" && e.Message != tt.msg {
				t.Errorf("Decode(%s, %q) message = %q, want %q", tt.op, tt.body, e.Message, tt.msg)
			}
		})
	}

	// Just deep enough is fine.
	if err := ctapi.Decode("ListTrails", []byte(deep(ctapi.MaxDepth)), nil); err != nil {
		t.Errorf("Decode of a body %d deep = %v, want nil", ctapi.MaxDepth, err)
	}
}

// TestDecodeAccepts checks bodies that decode, and what they decode to.
func TestDecodeAccepts(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		op, body string
		want     any
	}{
		{name: "empty body", op: "LookupEvents", body: ``, want: &ctapi.LookupEventsRequest{}},
		{name: "white space", op: "LookupEvents", body: " \n\t", want: &ctapi.LookupEventsRequest{}},
		{name: "null body", op: "LookupEvents", body: `null`, want: &ctapi.LookupEventsRequest{}},
		{name: "empty object", op: "ListTrails", body: `{}`, want: &ctapi.ListTrailsRequest{}},
		{name: "null members are absent", op: "CreateTrail", body: `{"Name":"t","S3BucketName":"b","S3KeyPrefix":null,"TagsList":null}`,
			want: &ctapi.CreateTrailRequest{Name: ptr("t"), S3BucketName: ptr("b")}},
		{name: "null list elements are dropped", op: "DescribeTrails", body: `{"trailNameList":["a",null,"b"]}`,
			want: &ctapi.DescribeTrailsRequest{TrailNameList: []string{"a", "b"}}},
		{name: "empty list is present", op: "DescribeTrails", body: `{"trailNameList":[],"includeShadowTrails":true}`,
			want: &ctapi.DescribeTrailsRequest{TrailNameList: []string{}, IncludeShadowTrails: ptr(true)}},
		{name: "unknown members are ignored, names are case-sensitive", op: "LookupEvents", body: `{"maxresults":100,"Foo":{"Bar":[1,2.5,{"x":null}],"Baz":"\u00e9"},"MaxResults":10}`,
			want: &ctapi.LookupEventsRequest{MaxResults: ptr[int32](10)}},
		{name: "unknown members of every JSON type are skipped", op: "ListTrails", body: `{"A":[true,false,null,-1.5e3,0,"s\"\u0041",{"a":[]},[]],"B":{},"NextToken":"t"}`,
			want: &ctapi.ListTrailsRequest{NextToken: ptr("t")}},
		{name: "last duplicate wins", op: "LookupEvents", body: `{"MaxResults":10,"MaxResults":20}`,
			want: &ctapi.LookupEventsRequest{MaxResults: ptr[int32](20)}},
		{name: "a later null clears", op: "LookupEvents", body: `{"MaxResults":10,"MaxResults":null}`,
			want: &ctapi.LookupEventsRequest{}},
		{name: "escapes", op: "ListTrails", body: `{"NextToken":"a\"\\\/\n\u00e9\ud83d\ude00"}`,
			want: &ctapi.ListTrailsRequest{NextToken: ptr("a\"\\/\né😀")}},
		{name: "escaped member name", op: "ListTrails", body: `{"Next\u0054oken":"x"}`,
			want: &ctapi.ListTrailsRequest{NextToken: ptr("x")}},
		{name: "timestamp forms", op: "LookupEvents", body: `{"StartTime":1.7040672E9,"EndTime":1704067200.250}`,
			want: &ctapi.LookupEventsRequest{StartTime: ctapi.NewTimestamp(t0), EndTime: ctapi.NewTimestamp(t0.Add(250 * time.Millisecond))}},
		{name: "map", op: "StartDashboardRefresh", body: `{"DashboardId":"d","QueryParameterValues":{"$StartTime$":"2024-01-01","$Skip$":null}}`,
			want: &ctapi.StartDashboardRefreshRequest{DashboardId: ptr("d"), QueryParameterValues: map[string]string{"$StartTime$": "2024-01-01"}}},
		{name: "enum-keyed map", op: "ListInsightsData", body: `{"InsightSource":"arn:t","DataType":"InsightsEvents","Dimensions":{"EventName":"PutObject"}}`,
			want: &ctapi.ListInsightsDataRequest{InsightSource: ptr("arn:t"), DataType: ptr(ctapi.ListInsightsDataTypeInsightsEvents),
				Dimensions: map[ctapi.ListInsightsDataDimensionKey]string{ctapi.ListInsightsDataDimensionKeyEventName: "PutObject"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ctapi.NewInput(tt.op)
			if err := ctapi.Decode(tt.op, []byte(tt.body), got); err != nil {
				t.Fatalf("Decode(%s, %q) = %v", tt.op, tt.body, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decode(%s, %q) (-want +got):\n%s", tt.op, tt.body, diff)
			}
		})
	}
}

func TestDecodeMisuse(t *testing.T) {
	var in ctapi.LookupEventsRequest
	if got := errCode(ctapi.Decode("Lookupevents", []byte(`{}`), &in)); got != opentrail.CodeUnknownOperation {
		t.Errorf("Decode(unknown op) code = %q, want %s", got, opentrail.CodeUnknownOperation)
	}
	var wrong ctapi.ListTrailsRequest
	if got := errCode(ctapi.Decode("LookupEvents", []byte(`{}`), &wrong)); got != opentrail.CodeInternalFailure {
		t.Errorf("Decode(wrong dst type) code = %q, want %s", got, opentrail.CodeInternalFailure)
	}
	if got := errCode(ctapi.Decode("LookupEvents", []byte(`{}`), in)); got != opentrail.CodeInternalFailure {
		t.Errorf("Decode(dst not a pointer) code = %q, want %s", got, opentrail.CodeInternalFailure)
	}
	if err := ctapi.Decode("LookupEvents", []byte(`{"MaxResults":5}`), nil); err != nil {
		t.Errorf("Decode(nil dst) = %v, want nil", err)
	}

	// A failed Decode leaves dst as it was.
	in = ctapi.LookupEventsRequest{NextToken: ptr("kept")}
	if err := ctapi.Decode("LookupEvents", []byte(`{"NextToken":"x","MaxResults":500}`), &in); err == nil {
		t.Fatal("Decode(MaxResults 500) = nil, want an error")
	}
	if diff := cmp.Diff(ctapi.LookupEventsRequest{NextToken: ptr("kept")}, in); diff != "" {
		t.Errorf("dst after a failed Decode (-want +got):\n%s", diff)
	}
	// A successful one replaces it entirely.
	if err := ctapi.Decode("LookupEvents", []byte(`{"MaxResults":5}`), &in); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ctapi.LookupEventsRequest{MaxResults: ptr[int32](5)}, in); diff != "" {
		t.Errorf("dst after Decode (-want +got):\n%s", diff)
	}
}

// TestDecodeBoundsMessages checks that a flood of violations and a huge
// value give a bounded message that still counts everything.
func TestDecodeBoundsMessages(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"LookupAttributes":[`)
	for i := range 1000 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"AttributeKey":"EventName","AttributeValue":""}`)
	}
	b.WriteString(`]}`)
	err := ctapi.Decode("LookupEvents", []byte(b.String()), nil)
	var e *opentrail.Error
	if !errors.As(err, &e) {
		t.Fatalf("Decode = %v", err)
	}
	if !strings.HasPrefix(e.Message, "1000 validation errors detected: ") || !strings.HasSuffix(e.Message, "; and 900 more") {
		t.Errorf("message starts %.60q and ends %q; want the full count and a cut list", e.Message, e.Message[len(e.Message)-20:])
	}

	long := strings.Repeat("x", 20000)
	err = ctapi.Decode("StartQuery", []byte(`{"QueryStatement":"`+long+`"}`), nil)
	if !errors.As(err, &e) || e.Code != "InvalidQueryStatementException" {
		t.Fatalf("Decode(long QueryStatement) = %v, want InvalidQueryStatementException", err)
	}
	if len(e.Message) > 2000 || !strings.Contains(e.Message, "Member must have length less than or equal to 10000") {
		t.Errorf("message is %d bytes: %.200q...; want the violation with the value cut", len(e.Message), e.Message)
	}
}

// TestOverrideRules keeps validationOverrides honest: every rule must apply
// to at least one operation, and the overrides CloudTrail reports resolve as expected.
func TestOverrideRules(t *testing.T) {
	used := map[[2]string]bool{}
	for _, op := range ctapi.Operations() {
		for member, code := range ctapi.Overrides(op) {
			used[[2]string{member, code}] = true
		}
	}
	for _, r := range ctapi.OverrideRules() {
		if !used[r] {
			t.Errorf("override %s -> %s applies to no operation", r[0], r[1])
		}
	}
	want := map[string]map[string]string{
		"LookupEvents": {
			"MaxResults": "InvalidMaxResultsException", "LookupAttributes": "InvalidLookupAttributesException",
			"EventCategory": "InvalidEventCategoryException", "NextToken": "InvalidNextTokenException",
		},
		"CreateTrail": {
			"Name": "InvalidTrailNameException", "S3BucketName": "InvalidS3BucketNameException",
			"S3KeyPrefix": "InvalidS3PrefixException", "SnsTopicName": "InvalidSnsTopicNameException",
			"KmsKeyId": "InvalidKmsKeyIdException", "TagsList": "InvalidTagParameterException",
			"CloudWatchLogsLogGroupArn": "InvalidCloudWatchLogsLogGroupArnException",
			"CloudWatchLogsRoleArn":     "InvalidCloudWatchLogsRoleArnException",
		},
		"ListQueries": {
			"MaxResults": "InvalidMaxResultsException", "NextToken": "InvalidNextTokenException",
			"QueryStatus": "InvalidQueryStatusException",
		},
		"CreateEventDataStore": {
			"AdvancedEventSelectors": "InvalidEventSelectorsException", "KmsKeyId": "InvalidKmsKeyIdException",
			"TagsList": "InvalidTagParameterException",
		},
		"ListPublicKeys":    {"NextToken": "InvalidTokenException"},
		"ListTrails":        nil,
		"DescribeTrails":    {"trailNameList": "InvalidTrailNameException"},
		"GetQueryResults":   {"MaxQueryResults": "InvalidMaxResultsException", "NextToken": "InvalidNextTokenException"},
		"PutEventSelectors": {"TrailName": "InvalidTrailNameException", "EventSelectors": "InvalidEventSelectorsException", "AdvancedEventSelectors": "InvalidEventSelectorsException"},
	}
	for op, w := range want {
		if diff := cmp.Diff(w, ctapi.Overrides(op)); diff != "" {
			t.Errorf("overrides of %s (-want +got):\n%s", op, diff)
		}
	}
}
