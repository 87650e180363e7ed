package ctapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/smithy-go/document"
	"github.com/aws/smithy-go/middleware"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api/ctapi"
)

func newClient(url string) *cloudtrail.Client {
	return cloudtrail.New(cloudtrail.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}, nil
		}),
		RetryMaxAttempts: 1,
	})
}

// sdkOpts compares SDK values, ignoring response metadata.
var sdkOpts = cmp.Options{
	cmp.Exporter(func(reflect.Type) bool { return true }),
	cmpopts.IgnoreTypes(middleware.Metadata{}, document.NoSerde{}),
}

// TestSDKRoundTrip sends calls with the real aws-sdk-go-v2 CloudTrail client
// to a fake service built on ctapi. The service must decode exactly what the
// SDK sent, and the SDK must read exactly what the service answered.
func TestSDKRoundTrip(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := time.Date(2024, 1, 2, 3, 4, 5, 500_000_000, time.UTC)
	t2 := time.Date(2024, 1, 1, 12, 30, 45, 123_000_000, time.UTC)
	trailARN := "arn:aws:cloudtrail:us-east-1:123456789012:trail/management"
	key := []byte{0x30, 0x82, 0x01, 0x0a, 0x02, 0x82, 0x01, 0x01, 0x00, 0xff, 0xfe}

	tests := []struct {
		name    string
		op      string
		call    func(context.Context, *cloudtrail.Client) (any, error)
		wantIn  any // the request the service must decode
		reply   any // what the service answers
		wantOut any // what the SDK must return
	}{
		{
			name: "LookupEvents",
			op:   "LookupEvents",
			call: func(ctx context.Context, c *cloudtrail.Client) (any, error) {
				return c.LookupEvents(ctx, &cloudtrail.LookupEventsInput{
					LookupAttributes: []types.LookupAttribute{{AttributeKey: types.LookupAttributeKeyEventName, AttributeValue: aws.String("ConsoleLogin")}},
					StartTime:        aws.Time(t0),
					EndTime:          aws.Time(t1),
					MaxResults:       aws.Int32(5),
					NextToken:        aws.String("page-2"),
				})
			},
			wantIn: &ctapi.LookupEventsRequest{
				LookupAttributes: []ctapi.LookupAttribute{{AttributeKey: ptr(ctapi.LookupAttributeKeyEventName), AttributeValue: ptr("ConsoleLogin")}},
				StartTime:        ctapi.NewTimestamp(t0),
				EndTime:          ctapi.NewTimestamp(t1),
				MaxResults:       ptr[int32](5),
				NextToken:        ptr("page-2"),
			},
			reply: ctapi.LookupEventsResponse{
				Events: []ctapi.Event{{
					EventId:         ptr("9a1b2c3d-0000-4000-8000-000000000001"),
					EventName:       ptr("ConsoleLogin"),
					ReadOnly:        ptr("false"),
					AccessKeyId:     ptr("ASIAEXAMPLE"),
					EventTime:       ctapi.NewTimestamp(t2),
					EventSource:     ptr("signin.amazonaws.com"),
					Username:        ptr("alice"),
					Resources:       []ctapi.Resource{{ResourceType: ptr("AWS::IAM::User"), ResourceName: ptr("alice")}},
					CloudTrailEvent: ptr(`{"eventVersion":"1.08","eventName":"ConsoleLogin"}`),
				}},
				NextToken: ptr("page-3"),
			},
			wantOut: &cloudtrail.LookupEventsOutput{
				Events: []types.Event{{
					EventId:         aws.String("9a1b2c3d-0000-4000-8000-000000000001"),
					EventName:       aws.String("ConsoleLogin"),
					ReadOnly:        aws.String("false"),
					AccessKeyId:     aws.String("ASIAEXAMPLE"),
					EventTime:       aws.Time(t2),
					EventSource:     aws.String("signin.amazonaws.com"),
					Username:        aws.String("alice"),
					Resources:       []types.Resource{{ResourceType: aws.String("AWS::IAM::User"), ResourceName: aws.String("alice")}},
					CloudTrailEvent: aws.String(`{"eventVersion":"1.08","eventName":"ConsoleLogin"}`),
				}},
				NextToken: aws.String("page-3"),
			},
		},
		{
			name: "CreateTrail",
			op:   "CreateTrail",
			call: func(ctx context.Context, c *cloudtrail.Client) (any, error) {
				return c.CreateTrail(ctx, &cloudtrail.CreateTrailInput{
					Name:                    aws.String("management"),
					S3BucketName:            aws.String("audit-logs"),
					S3KeyPrefix:             aws.String("ct"),
					IsMultiRegionTrail:      aws.Bool(true),
					EnableLogFileValidation: aws.Bool(false),
					TagsList:                []types.Tag{{Key: aws.String("team"), Value: aws.String("sec")}, {Key: aws.String("empty")}},
				})
			},
			wantIn: &ctapi.CreateTrailRequest{
				Name:                    ptr("management"),
				S3BucketName:            ptr("audit-logs"),
				S3KeyPrefix:             ptr("ct"),
				IsMultiRegionTrail:      ptr(true),
				EnableLogFileValidation: ptr(false),
				TagsList:                []ctapi.Tag{{Key: ptr("team"), Value: ptr("sec")}, {Key: ptr("empty")}},
			},
			reply: &ctapi.CreateTrailResponse{
				Name:                       ptr("management"),
				S3BucketName:               ptr("audit-logs"),
				S3KeyPrefix:                ptr("ct"),
				IncludeGlobalServiceEvents: ptr(true),
				IsMultiRegionTrail:         ptr(true),
				TrailARN:                   ptr(trailARN),
				LogFileValidationEnabled:   ptr(false),
				IsOrganizationTrail:        ptr(false),
			},
			wantOut: &cloudtrail.CreateTrailOutput{
				Name:                       aws.String("management"),
				S3BucketName:               aws.String("audit-logs"),
				S3KeyPrefix:                aws.String("ct"),
				IncludeGlobalServiceEvents: aws.Bool(true),
				IsMultiRegionTrail:         aws.Bool(true),
				TrailARN:                   aws.String(trailARN),
				LogFileValidationEnabled:   aws.Bool(false),
				IsOrganizationTrail:        aws.Bool(false),
			},
		},
		{
			name: "PutEventSelectors/advanced",
			op:   "PutEventSelectors",
			call: func(ctx context.Context, c *cloudtrail.Client) (any, error) {
				return c.PutEventSelectors(ctx, &cloudtrail.PutEventSelectorsInput{
					TrailName: aws.String("management"),
					AdvancedEventSelectors: []types.AdvancedEventSelector{{
						Name: aws.String("S3 writes"),
						FieldSelectors: []types.AdvancedFieldSelector{
							{Field: aws.String("eventCategory"), Equals: []string{"Data"}},
							{Field: aws.String("resources.type"), Equals: []string{"AWS::S3::Object"}},
							{Field: aws.String("readOnly"), Equals: []string{"false"}},
							{Field: aws.String("resources.ARN"), StartsWith: []string{"arn:aws:s3:::audit-logs/"}, NotEndsWith: []string{".tmp", ".swp"}},
						},
					}},
				})
			},
			wantIn: &ctapi.PutEventSelectorsRequest{
				TrailName: ptr("management"),
				AdvancedEventSelectors: []ctapi.AdvancedEventSelector{{
					Name: ptr("S3 writes"),
					FieldSelectors: []ctapi.AdvancedFieldSelector{
						{Field: ptr("eventCategory"), Equals: []string{"Data"}},
						{Field: ptr("resources.type"), Equals: []string{"AWS::S3::Object"}},
						{Field: ptr("readOnly"), Equals: []string{"false"}},
						{Field: ptr("resources.ARN"), StartsWith: []string{"arn:aws:s3:::audit-logs/"}, NotEndsWith: []string{".tmp", ".swp"}},
					},
				}},
			},
			reply: ctapi.PutEventSelectorsResponse{
				TrailARN: ptr(trailARN),
				AdvancedEventSelectors: []ctapi.AdvancedEventSelector{{
					Name:           ptr("S3 writes"),
					FieldSelectors: []ctapi.AdvancedFieldSelector{{Field: ptr("eventCategory"), Equals: []string{"Data"}}},
				}},
			},
			wantOut: &cloudtrail.PutEventSelectorsOutput{
				TrailARN: aws.String(trailARN),
				AdvancedEventSelectors: []types.AdvancedEventSelector{{
					Name:           aws.String("S3 writes"),
					FieldSelectors: []types.AdvancedFieldSelector{{Field: aws.String("eventCategory"), Equals: []string{"Data"}}},
				}},
			},
		},
		{
			name: "PutEventSelectors/basic",
			op:   "PutEventSelectors",
			call: func(ctx context.Context, c *cloudtrail.Client) (any, error) {
				return c.PutEventSelectors(ctx, &cloudtrail.PutEventSelectorsInput{
					TrailName: aws.String("management"),
					EventSelectors: []types.EventSelector{{
						ReadWriteType:                 types.ReadWriteTypeReadOnly,
						IncludeManagementEvents:       aws.Bool(false),
						DataResources:                 []types.DataResource{{Type: aws.String("AWS::S3::Object"), Values: []string{}}},
						ExcludeManagementEventSources: []string{},
					}},
				})
			},
			wantIn: &ctapi.PutEventSelectorsRequest{
				TrailName: ptr("management"),
				EventSelectors: []ctapi.EventSelector{{
					ReadWriteType:                 ptr(ctapi.ReadWriteTypeReadOnly),
					IncludeManagementEvents:       ptr(false),
					DataResources:                 []ctapi.DataResource{{Type: ptr("AWS::S3::Object"), Values: []string{}}},
					ExcludeManagementEventSources: []string{},
				}},
			},
			reply: ctapi.PutEventSelectorsResponse{
				TrailARN: ptr(trailARN),
				EventSelectors: []ctapi.EventSelector{{
					ReadWriteType:                 ptr(ctapi.ReadWriteTypeReadOnly),
					IncludeManagementEvents:       ptr(false),
					DataResources:                 []ctapi.DataResource{{Type: ptr("AWS::S3::Object"), Values: []string{}}},
					ExcludeManagementEventSources: []string{},
				}},
			},
			wantOut: &cloudtrail.PutEventSelectorsOutput{
				TrailARN: aws.String(trailARN),
				EventSelectors: []types.EventSelector{{
					ReadWriteType:                 types.ReadWriteTypeReadOnly,
					IncludeManagementEvents:       aws.Bool(false),
					DataResources:                 []types.DataResource{{Type: aws.String("AWS::S3::Object"), Values: []string{}}},
					ExcludeManagementEventSources: []string{},
				}},
			},
		},
		{
			name: "DescribeTrails",
			op:   "DescribeTrails",
			call: func(ctx context.Context, c *cloudtrail.Client) (any, error) {
				return c.DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{
					TrailNameList:       []string{"management", trailARN},
					IncludeShadowTrails: aws.Bool(false),
				})
			},
			wantIn: &ctapi.DescribeTrailsRequest{
				TrailNameList:       []string{"management", trailARN},
				IncludeShadowTrails: ptr(false),
			},
			reply: ctapi.DescribeTrailsResponse{TrailList: []ctapi.Trail{{
				Name:                       ptr("management"),
				S3BucketName:               ptr("audit-logs"),
				IncludeGlobalServiceEvents: ptr(true),
				IsMultiRegionTrail:         ptr(true),
				HomeRegion:                 ptr("us-east-1"),
				TrailARN:                   ptr(trailARN),
				LogFileValidationEnabled:   ptr(true),
				HasCustomEventSelectors:    ptr(true),
				HasInsightSelectors:        ptr(false),
				IsOrganizationTrail:        ptr(false),
			}}},
			wantOut: &cloudtrail.DescribeTrailsOutput{TrailList: []types.Trail{{
				Name:                       aws.String("management"),
				S3BucketName:               aws.String("audit-logs"),
				IncludeGlobalServiceEvents: aws.Bool(true),
				IsMultiRegionTrail:         aws.Bool(true),
				HomeRegion:                 aws.String("us-east-1"),
				TrailARN:                   aws.String(trailARN),
				LogFileValidationEnabled:   aws.Bool(true),
				HasCustomEventSelectors:    aws.Bool(true),
				HasInsightSelectors:        aws.Bool(false),
				IsOrganizationTrail:        aws.Bool(false),
			}}},
		},
		{
			name: "DescribeTrails/none",
			op:   "DescribeTrails",
			call: func(ctx context.Context, c *cloudtrail.Client) (any, error) {
				return c.DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{})
			},
			wantIn:  &ctapi.DescribeTrailsRequest{},
			reply:   ctapi.DescribeTrailsResponse{TrailList: []ctapi.Trail{}},
			wantOut: &cloudtrail.DescribeTrailsOutput{TrailList: []types.Trail{}},
		},
		{
			name: "ListPublicKeys",
			op:   "ListPublicKeys",
			call: func(ctx context.Context, c *cloudtrail.Client) (any, error) {
				return c.ListPublicKeys(ctx, &cloudtrail.ListPublicKeysInput{StartTime: aws.Time(t0), EndTime: aws.Time(t2)})
			},
			wantIn: &ctapi.ListPublicKeysRequest{StartTime: ctapi.NewTimestamp(t0), EndTime: ctapi.NewTimestamp(t2)},
			reply: ctapi.ListPublicKeysResponse{PublicKeyList: []ctapi.PublicKey{{
				Value:             key,
				ValidityStartTime: ctapi.NewTimestamp(t0),
				ValidityEndTime:   ctapi.NewTimestamp(t1),
				Fingerprint:       ptr("8eba5db5bea9b640d1c96a77256fe7f2"),
			}}},
			wantOut: &cloudtrail.ListPublicKeysOutput{PublicKeyList: []types.PublicKey{{
				Value:             key,
				ValidityStartTime: aws.Time(t0),
				ValidityEndTime:   aws.Time(t1),
				Fingerprint:       aws.String("8eba5db5bea9b640d1c96a77256fe7f2"),
			}}},
		},
		{
			name: "GetQueryResults",
			op:   "GetQueryResults",
			call: func(ctx context.Context, c *cloudtrail.Client) (any, error) {
				return c.GetQueryResults(ctx, &cloudtrail.GetQueryResultsInput{
					QueryId:         aws.String("0d5d6c6a-1b5e-4b1a-9d8e-7f6a5b4c3d2e"),
					MaxQueryResults: aws.Int32(2),
					NextToken:       aws.String("tok1"),
				})
			},
			wantIn: &ctapi.GetQueryResultsRequest{
				QueryId:         ptr("0d5d6c6a-1b5e-4b1a-9d8e-7f6a5b4c3d2e"),
				MaxQueryResults: ptr[int32](2),
				NextToken:       ptr("tok1"),
			},
			reply: ctapi.GetQueryResultsResponse{
				QueryStatus:     ptr(ctapi.QueryStatusFinished),
				QueryStatistics: &ctapi.QueryStatistics{ResultsCount: ptr[int32](2), TotalResultsCount: ptr[int32](2), BytesScanned: ptr[int64](1 << 40)},
				QueryResultRows: [][]map[string]string{
					{{"eventName": "ConsoleLogin"}, {"count": "3"}},
					{{"eventName": "AssumeRole"}, {"count": "17"}},
				},
				NextToken: ptr("tok2"),
			},
			wantOut: &cloudtrail.GetQueryResultsOutput{
				QueryStatus:     types.QueryStatusFinished,
				QueryStatistics: &types.QueryStatistics{ResultsCount: aws.Int32(2), TotalResultsCount: aws.Int32(2), BytesScanned: aws.Int64(1 << 40)},
				QueryResultRows: [][]map[string]string{
					{{"eventName": "ConsoleLogin"}, {"count": "3"}},
					{{"eventName": "AssumeRole"}, {"count": "17"}},
				},
				NextToken: aws.String("tok2"),
			},
		},
		{
			name: "StartQuery",
			op:   "StartQuery",
			call: func(ctx context.Context, c *cloudtrail.Client) (any, error) {
				return c.StartQuery(ctx, &cloudtrail.StartQueryInput{
					QueryStatement:  aws.String("SELECT eventName, COUNT(*) FROM eds WHERE eventTime > ? GROUP BY 1"),
					QueryParameters: []string{"2024-01-01 00:00:00"},
					DeliveryS3Uri:   aws.String("s3://query-results/out"),
				})
			},
			wantIn: &ctapi.StartQueryRequest{
				QueryStatement:  ptr("SELECT eventName, COUNT(*) FROM eds WHERE eventTime > ? GROUP BY 1"),
				QueryParameters: []string{"2024-01-01 00:00:00"},
				DeliveryS3Uri:   ptr("s3://query-results/out"),
			},
			reply: ctapi.StartQueryResponse{QueryId: ptr("0d5d6c6a-1b5e-4b1a-9d8e-7f6a5b4c3d2e"), EventDataStoreOwnerAccountId: ptr("123456789012")},
			wantOut: &cloudtrail.StartQueryOutput{
				QueryId:                      aws.String("0d5d6c6a-1b5e-4b1a-9d8e-7f6a5b4c3d2e"),
				EventDataStoreOwnerAccountId: aws.String("123456789012"),
			},
		},
		{
			name: "StartLogging/empty-output",
			op:   "StartLogging",
			call: func(ctx context.Context, c *cloudtrail.Client) (any, error) {
				return c.StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: aws.String(trailARN)})
			},
			wantIn:  &ctapi.StartLoggingRequest{Name: ptr(trailARN)},
			reply:   ctapi.StartLoggingResponse{},
			wantOut: &cloudtrail.StartLoggingOutput{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, srv := newFake(t, map[string]any{tt.op: tt.reply})
			got, err := tt.call(t.Context(), newClient(srv.URL))
			c := fake.last(t)
			if err != nil {
				t.Fatalf("%s: %v (service saw target %q body %s, decode error %v)", tt.op, err, c.Target, c.Body, c.Err)
			}
			if c.Target != "CloudTrail_20131101."+tt.op {
				t.Errorf("X-Amz-Target = %q, want the short form for %s", c.Target, tt.op)
			}
			if diff := cmp.Diff(tt.wantIn, c.In); diff != "" {
				t.Errorf("decoded request differs (-want +got):\n%s", diff)
			}
			// Nothing the SDK sent may be lost: the decoded request
			// re-encodes to the body, value for value.
			reenc, err := json.Marshal(c.In)
			if err != nil {
				t.Fatal(err)
			}
			if diff := jsonDiff(t, reenc, c.Body); diff != "" {
				t.Errorf("decoded request does not re-encode to the body %s (-body +re-encoded):\n%s", c.Body, diff)
			}
			if diff := cmp.Diff(tt.wantOut, got, sdkOpts); diff != "" {
				t.Errorf("SDK output differs (-want +got):\n%s", diff)
			}
			if *update {
				writeCaptured(t, "sdk-"+strings.ReplaceAll(tt.name, "/", "-"), c.Target, c.Body)
			}
		})
	}
}

// TestSDKErrors checks that the SDK sees errors rendered from ctapi as the
// typed exceptions of the model, with the model's HTTP status.
func TestSDKErrors(t *testing.T) {
	fake, srv := newFake(t, map[string]any{
		"GetTrail":     opentrail.Errorf("TrailNotFoundException", "Unknown trail: nope for the user: 123456789012"),
		"LookupEvents": ctapi.LookupEventsResponse{},
	})
	client := newClient(srv.URL)

	_, err := client.GetTrail(t.Context(), &cloudtrail.GetTrailInput{Name: aws.String("nope")})
	var notFound *types.TrailNotFoundException
	if !errors.As(err, &notFound) {
		t.Fatalf("GetTrail error = %v, want *types.TrailNotFoundException", err)
	}
	if got, want := notFound.ErrorMessage(), "Unknown trail: nope for the user: 123456789012"; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != 404 {
		t.Errorf("GetTrail error %v: want HTTP status 404", err)
	}

	_, err = client.LookupEvents(t.Context(), &cloudtrail.LookupEventsInput{MaxResults: aws.Int32(100)})
	var badMax *types.InvalidMaxResultsException
	if !errors.As(err, &badMax) {
		t.Fatalf("LookupEvents error = %v (service decode error %v), want *types.InvalidMaxResultsException", err, fake.last(t).Err)
	}
	want := "1 validation error detected: Value '100' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 50"
	if got := badMax.ErrorMessage(); got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
}
