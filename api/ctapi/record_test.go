package ctapi_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/opentrail/opentrail/api/ctapi"
)

// The want values below are requestParameters and responseElements of real
// CloudTrail records (stratus-red-team detonations, 2023), with the request
// a client sends for them.
func TestRequestParameters(t *testing.T) {
	tests := []struct {
		name     string
		op, body string
		want     string
	}{
		{
			name: "CreateTrail with tags",
			op:   "CreateTrail",
			body: `{"Name":"stratus-red-team-ctes-trail-qyxyekjbtk","S3BucketName":"stratus-red-team-ctes-bucket-qyxyekjbtk","IncludeGlobalServiceEvents":true,"TagsList":[{"Key":"StratusRedTeam","Value":"true"}]}`,
			want: `{"name":"stratus-red-team-ctes-trail-qyxyekjbtk","s3BucketName":"stratus-red-team-ctes-bucket-qyxyekjbtk","includeGlobalServiceEvents":true,"tagsList":[{"key":"StratusRedTeam","value":"true"}]}`,
		},
		{
			name: "DescribeTrails keeps its lower-case names and empty lists",
			op:   "DescribeTrails",
			body: `{"trailNameList":[],"includeShadowTrails":true}`,
			want: `{"trailNameList":[],"includeShadowTrails":true}`,
		},
		{
			name: "PutEventSelectors",
			op:   "PutEventSelectors",
			body: `{"TrailName":"stratus-red-team-ctes-trail-qyxyekjbtk","EventSelectors":[{"ReadWriteType":"ReadOnly","IncludeManagementEvents":false,"DataResources":[{"Type":"AWS::S3::Object","Values":[]},{"Type":"AWS::Lambda::Function","Values":[]}],"ExcludeManagementEventSources":[]}]}`,
			want: `{"trailName":"stratus-red-team-ctes-trail-qyxyekjbtk","eventSelectors":[{"readWriteType":"ReadOnly","includeManagementEvents":false,"dataResources":[{"type":"AWS::S3::Object","values":[]},{"type":"AWS::Lambda::Function","values":[]}],"excludeManagementEventSources":[]}]}`,
		},
		{
			name: "ListTags",
			op:   "ListTags",
			body: `{"ResourceIdList":["arn:aws:cloudtrail:us-east-1:123837392027:trail/stratus-red-team-ctes-trail-qyxyekjbtk"]}`,
			want: `{"resourceIdList":["arn:aws:cloudtrail:us-east-1:123837392027:trail/stratus-red-team-ctes-trail-qyxyekjbtk"]}`,
		},
		{
			name: "StartLogging",
			op:   "StartLogging",
			body: `{"Name":"stratus-red-team-ct-stop-trail-qzbgnfqisx"}`,
			want: `{"name":"stratus-red-team-ct-stop-trail-qzbgnfqisx"}`,
		},
		{
			name: "timestamps, unknown and null members",
			op:   "LookupEvents",
			body: `{"StartTime":1795507635,"EndTime":1795550835.5,"Bogus":1,"NextToken":null,"MaxResults":5}`,
			want: `{"startTime":"Nov 24, 2026, 8:07:15 AM","endTime":"Nov 24, 2026, 8:07:15 PM","maxResults":5}`,
		},
		{
			name: "map keys stay as sent",
			op:   "StartDashboardRefresh",
			body: `{"DashboardId":"d","QueryParameterValues":{"$StartTime$":"2024-01-01","Key":"v"}}`,
			want: `{"dashboardId":"d","queryParameterValues":{"$StartTime$":"2024-01-01","Key":"v"}}`,
		},
		{
			name: "invalid values are still recorded",
			op:   "LookupEvents",
			body: `{"MaxResults":500,"LookupAttributes":[{"AttributeKey":"Nope","AttributeValue":"<script>&"}]}`,
			want: `{"lookupAttributes":[{"attributeKey":"Nope","attributeValue":"<script>&"}],"maxResults":500}`,
		},
		{name: "empty body", op: "ListTrails", body: ``, want: `null`},
		{name: "empty object", op: "DescribeTrails", body: `{}`, want: `null`},
		{name: "only unknown members", op: "DescribeTrails", body: `{"Foo":"bar"}`, want: `null`},
		{name: "malformed", op: "ListTrails", body: `{"NextToken":`, want: `null`},
		{name: "wrong type", op: "LookupEvents", body: `{"MaxResults":"5"}`, want: `null`},
		{name: "unknown operation", op: "Nope", body: `{"a":1}`, want: `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ctapi.RequestParameters(tt.op, []byte(tt.body))
			if got == nil || !json.Valid(got) {
				t.Fatalf("RequestParameters(%s, %s) = %q, not JSON", tt.op, tt.body, got)
			}
			if diff := jsonDiff(t, got, []byte(tt.want)); diff != "" {
				t.Errorf("RequestParameters(%s, %s) = %s (-want +got):\n%s", tt.op, tt.body, got, diff)
			}
		})
	}
}

func TestResponseElements(t *testing.T) {
	trailARN := "arn:aws:cloudtrail:us-east-1:123837392027:trail/stratus-red-team-ctes-trail-qyxyekjbtk"
	selectors := []ctapi.EventSelector{{
		ReadWriteType:           ptr(ctapi.ReadWriteTypeReadOnly),
		IncludeManagementEvents: ptr(false),
		DataResources: []ctapi.DataResource{
			{Type: ptr("AWS::S3::Object"), Values: []string{}},
			{Type: ptr("AWS::Lambda::Function"), Values: []string{}},
		},
		ExcludeManagementEventSources: []string{},
	}}
	tests := []struct {
		name string
		op   string
		out  any
		want string
	}{
		{
			name: "CreateTrail",
			op:   "CreateTrail",
			out: ctapi.CreateTrailResponse{
				Name:                       ptr("stratus-red-team-ctes-trail-qyxyekjbtk"),
				S3BucketName:               ptr("stratus-red-team-ctes-bucket-qyxyekjbtk"),
				IncludeGlobalServiceEvents: ptr(true),
				IsMultiRegionTrail:         ptr(false),
				TrailARN:                   ptr(trailARN),
				LogFileValidationEnabled:   ptr(false),
				IsOrganizationTrail:        ptr(false),
			},
			want: `{"name":"stratus-red-team-ctes-trail-qyxyekjbtk","s3BucketName":"stratus-red-team-ctes-bucket-qyxyekjbtk","includeGlobalServiceEvents":true,"isMultiRegionTrail":false,"trailARN":"arn:aws:cloudtrail:us-east-1:123837392027:trail/stratus-red-team-ctes-trail-qyxyekjbtk","logFileValidationEnabled":false,"isOrganizationTrail":false}`,
		},
		{
			name: "PutEventSelectors, by pointer",
			op:   "PutEventSelectors",
			out:  &ctapi.PutEventSelectorsResponse{TrailARN: ptr(trailARN), EventSelectors: selectors},
			want: `{"trailARN":"arn:aws:cloudtrail:us-east-1:123837392027:trail/stratus-red-team-ctes-trail-qyxyekjbtk","eventSelectors":[{"readWriteType":"ReadOnly","includeManagementEvents":false,"dataResources":[{"type":"AWS::S3::Object","values":[]},{"type":"AWS::Lambda::Function","values":[]}],"excludeManagementEventSources":[]}]}`,
		},
		{
			name: "blobs and timestamps",
			op:   "ListPublicKeys",
			out: ctapi.ListPublicKeysResponse{PublicKeyList: []ctapi.PublicKey{{
				Value:             []byte{0x30, 0x82, 0x01, 0x0a},
				ValidityStartTime: ctapi.NewTimestamp(time.Date(2026, 11, 24, 12, 7, 15, 0, time.UTC)),
				ValidityEndTime:   ctapi.NewTimestamp(time.Date(2026, 11, 25, 0, 0, 0, 0, time.FixedZone("EST", -5*3600))),
			}}},
			want: `{"publicKeyList":[{"value":"MIIBCg==","validityStartTime":"Nov 24, 2026, 12:07:15 PM","validityEndTime":"Nov 25, 2026, 5:00:00 AM"}]}`,
		},
		{
			name: "nested maps keep their keys",
			op:   "GetQueryResults",
			out: ctapi.GetQueryResultsResponse{
				QueryStatus:     ptr(ctapi.QueryStatusFinished),
				QueryResultRows: [][]map[string]string{{{"eventName": "ConsoleLogin"}, {"COUNT(*)": "3"}}},
				QueryStatistics: &ctapi.QueryStatistics{BytesScanned: ptr[int64](1 << 40)},
			},
			want: `{"queryStatus":"FINISHED","queryStatistics":{"bytesScanned":1099511627776},"queryResultRows":[[{"eventName":"ConsoleLogin"},{"COUNT(*)":"3"}]]}`,
		},
		{
			name: "DescribeTrails with no trails",
			op:   "DescribeTrails",
			out:  ctapi.DescribeTrailsResponse{TrailList: []ctapi.Trail{}},
			want: `{"trailList":[]}`,
		},
		{
			name: "floats",
			op:   "SearchSampleQueries",
			out:  ctapi.SearchSampleQueriesResponse{SearchResults: []ctapi.SearchSampleQueriesSearchResult{{Name: ptr("q"), Relevance: ptr[float32](0.75)}}},
			want: `{"searchResults":[{"name":"q","relevance":0.75}]}`,
		},
		{
			name: "any value with the response's JSON form",
			op:   "StartQuery",
			out:  map[string]any{"QueryId": "0d5d6c6a-1b5e-4b1a-9d8e-7f6a5b4c3d2e", "Other": 1},
			want: `{"queryId":"0d5d6c6a-1b5e-4b1a-9d8e-7f6a5b4c3d2e"}`,
		},
		{
			name: "any value: longs, floats, blobs and timestamps are converted by the model",
			op:   "ListInsightsMetricData",
			out:  map[string]any{"Timestamps": []any{1795507635, 1795507635.5}, "Values": []float64{1.5, 2e-7}, "EventName": "PutObject"},
			want: `{"eventName":"PutObject","timestamps":["Nov 24, 2026, 8:07:15 AM","Nov 24, 2026, 8:07:15 AM"],"values":[1.5,2e-07]}`,
		},
		{
			name: "any value: a long and a blob",
			op:   "ListPublicKeys",
			out:  json.RawMessage(`{"PublicKeyList":[{"Value":"AAEC","Fingerprint":"f"}]}`),
			want: `{"publicKeyList":[{"value":"AAEC","fingerprint":"f"}]}`,
		},
		{name: "any value: bad base64", op: "ListPublicKeys", out: json.RawMessage(`{"PublicKeyList":[{"Value":"!!"}]}`), want: `null`},
		{name: "any value: float out of range", op: "SearchSampleQueries", out: json.RawMessage(`{"SearchResults":[{"Relevance":1e39}]}`), want: `null`},
		{name: "any value: long", op: "GetQueryResults", out: json.RawMessage(`{"QueryStatistics":{"BytesScanned":9007199254740993}}`), want: `{"queryStatistics":{"bytesScanned":9007199254740993}}`},
		{name: "empty response", op: "StartLogging", out: ctapi.StartLoggingResponse{}, want: `null`},
		{name: "nil", op: "GetTrail", out: nil, want: `null`},
		{name: "nil pointer", op: "GetTrail", out: (*ctapi.GetTrailResponse)(nil), want: `null`},
		{name: "not the response", op: "GetTrail", out: []int{1}, want: `null`},
		{name: "unknown operation", op: "Nope", out: ctapi.GetTrailResponse{}, want: `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ctapi.ResponseElements(tt.op, tt.out)
			if tt.name == "any value: long" && !strings.Contains(string(got), "9007199254740993") {
				t.Errorf("ResponseElements lost precision of a long: %s", got)
			}
			if got == nil || !json.Valid(got) {
				t.Fatalf("ResponseElements(%s) = %q, not JSON", tt.op, got)
			}
			if diff := jsonDiff(t, got, []byte(tt.want)); diff != "" {
				t.Errorf("ResponseElements(%s) = %s (-want +got):\n%s", tt.op, got, diff)
			}
		})
	}
}

// TestRecordEscaping checks the exact bytes of strings in a record: JSON
// escapes where needed, and <, >, & left alone as CloudTrail writes them.
func TestRecordEscaping(t *testing.T) {
	out := ctapi.GetTrailResponse{Trail: &ctapi.Trail{Name: ptr("a\"b\\c\nd\re\tf\x01g\u2028h<i>&j\xffk😀")}}
	got := string(ctapi.ResponseElements("GetTrail", out))
	want := `{"trail":{"name":"a\"b\\c\nd\re\tf\u0001g\u2028h<i>&j\ufffdk😀"}}`
	if got != want {
		t.Errorf("ResponseElements = %s\nwant            %s", got, want)
	}
	var v any
	if err := json.Unmarshal([]byte(got), &v); err != nil {
		t.Fatal(err)
	}
}
