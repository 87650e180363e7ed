package ctapi_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opentrail/opentrail/api/ctapi"
)

// TestAWSCLI runs the AWS CLI (botocore) against a fake service built on
// ctapi: the service must decode what the CLI sends, with the long
// X-Amz-Target form, and the CLI must print what the service answered.
// It is skipped when aws is not on PATH; -update saves what the CLI sent to
// testdata/requests.
func TestAWSCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the AWS CLI")
	}
	awsCLI, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("aws not on PATH")
	}
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := time.Date(2024, 1, 1, 12, 30, 45, 123_000_000, time.UTC)

	tests := []struct {
		name       string
		args       []string
		op         string
		reply      any
		wantIn     any
		wantStdout string // JSON the CLI prints
	}{
		{
			name: "lookup-events",
			args: []string{"lookup-events", "--lookup-attributes", "AttributeKey=EventName,AttributeValue=X", "--start-time", "2024-01-01T00:00:00Z", "--max-results", "5"},
			op:   "LookupEvents",
			reply: ctapi.LookupEventsResponse{Events: []ctapi.Event{{
				EventId:   ptr("9a1b2c3d-0000-4000-8000-000000000001"),
				EventName: ptr("X"),
				EventTime: ctapi.NewTimestamp(t1),
				Resources: []ctapi.Resource{},
			}}},
			wantIn: &ctapi.LookupEventsRequest{
				LookupAttributes: []ctapi.LookupAttribute{{AttributeKey: ptr(ctapi.LookupAttributeKeyEventName), AttributeValue: ptr("X")}},
				StartTime:        ctapi.NewTimestamp(t0),
				MaxResults:       ptr[int32](5),
			},
			wantStdout: `{"Events":[{"EventId":"9a1b2c3d-0000-4000-8000-000000000001","EventName":"X","EventTime":1704112245.123,"Resources":[]}]}`,
		},
		{
			name: "create-trail",
			args: []string{"create-trail", "--name", "t", "--s3-bucket-name", "b", "--tags-list", "Key=k,Value=v", "--is-multi-region-trail", "--no-enable-log-file-validation"},
			op:   "CreateTrail",
			reply: ctapi.CreateTrailResponse{
				Name:               ptr("t"),
				S3BucketName:       ptr("b"),
				IsMultiRegionTrail: ptr(true),
				TrailARN:           ptr("arn:aws:cloudtrail:us-east-1:123456789012:trail/t"),
			},
			wantIn: &ctapi.CreateTrailRequest{
				Name:                    ptr("t"),
				S3BucketName:            ptr("b"),
				IsMultiRegionTrail:      ptr(true),
				EnableLogFileValidation: ptr(false),
				TagsList:                []ctapi.Tag{{Key: ptr("k"), Value: ptr("v")}},
			},
			wantStdout: `{"Name":"t","S3BucketName":"b","IsMultiRegionTrail":true,"TrailARN":"arn:aws:cloudtrail:us-east-1:123456789012:trail/t"}`,
		},
		{
			name:       "describe-trails",
			args:       []string{"describe-trails"},
			op:         "DescribeTrails",
			reply:      ctapi.DescribeTrailsResponse{TrailList: []ctapi.Trail{}},
			wantIn:     &ctapi.DescribeTrailsRequest{},
			wantStdout: `{"trailList":[]}`,
		},
		{
			name: "put-event-selectors",
			args: []string{"put-event-selectors", "--trail-name", "t", "--advanced-event-selectors",
				`[{"Name":"S3 writes","FieldSelectors":[{"Field":"eventCategory","Equals":["Data"]},{"Field":"resources.type","Equals":["AWS::S3::Object"]}]}]`},
			op: "PutEventSelectors",
			reply: ctapi.PutEventSelectorsResponse{
				TrailARN: ptr("arn:aws:cloudtrail:us-east-1:123456789012:trail/t"),
			},
			wantIn: &ctapi.PutEventSelectorsRequest{
				TrailName: ptr("t"),
				AdvancedEventSelectors: []ctapi.AdvancedEventSelector{{
					Name: ptr("S3 writes"),
					FieldSelectors: []ctapi.AdvancedFieldSelector{
						{Field: ptr("eventCategory"), Equals: []string{"Data"}},
						{Field: ptr("resources.type"), Equals: []string{"AWS::S3::Object"}},
					},
				}},
			},
			wantStdout: `{"TrailARN":"arn:aws:cloudtrail:us-east-1:123456789012:trail/t"}`,
		},
		{
			name: "list-public-keys",
			args: []string{"list-public-keys", "--start-time", "2024-01-01T00:00:00Z"},
			op:   "ListPublicKeys",
			reply: ctapi.ListPublicKeysResponse{PublicKeyList: []ctapi.PublicKey{{
				Value:             []byte("\x30\x82\x01\x0a"),
				ValidityStartTime: ctapi.NewTimestamp(t0),
				ValidityEndTime:   ctapi.NewTimestamp(t1),
				Fingerprint:       ptr("8eba5db5bea9b640d1c96a77256fe7f2"),
			}}},
			wantIn:     &ctapi.ListPublicKeysRequest{StartTime: ctapi.NewTimestamp(t0)},
			wantStdout: `{"PublicKeyList":[{"Value":"MIIBCg==","ValidityStartTime":1704067200,"ValidityEndTime":1704112245.123,"Fingerprint":"8eba5db5bea9b640d1c96a77256fe7f2"}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, srv := newFake(t, map[string]any{tt.op: tt.reply})
			home := t.TempDir()
			cmd := exec.CommandContext(t.Context(), awsCLI, append(append([]string{"cloudtrail"}, tt.args...),
				"--endpoint-url", srv.URL, "--output", "json")...)
			cmd.Env = []string{
				"PATH=" + os.Getenv("PATH"),
				"HOME=" + home,
				"TZ=UTC",
				"AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
				"AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
				"AWS_DEFAULT_REGION=us-east-1",
				"AWS_CONFIG_FILE=" + home + "/config",
				"AWS_SHARED_CREDENTIALS_FILE=" + home + "/credentials",
				"AWS_EC2_METADATA_DISABLED=true",
				"AWS_PAGER=",
			}
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("aws %s: %v\n%s", strings.Join(tt.args, " "), err, stderr.Bytes())
			}
			c := fake.last(t)
			if want := "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101." + tt.op; c.Target != want {
				t.Errorf("X-Amz-Target = %q, want %q", c.Target, want)
			}
			if c.Err != nil {
				t.Fatalf("Decode(%s) of %s: %v", c.Op, c.Body, c.Err)
			}
			if diff := cmp.Diff(tt.wantIn, c.In); diff != "" {
				t.Errorf("decoded request of %s differs (-want +got):\n%s", c.Body, diff)
			}
			if diff := jsonDiff(t, stdout.Bytes(), []byte(tt.wantStdout)); diff != "" {
				t.Errorf("aws printed %s (-want +got):\n%s", stdout.Bytes(), diff)
			}
			if *update {
				writeCaptured(t, "cli-"+tt.name, c.Target, c.Body)
			}
		})
	}
}
