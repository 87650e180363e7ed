package history

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opentrail/opentrail"
)

func TestSummaryRoundTrip(t *testing.T) {
	ro := true
	s := opentrail.Summary{EventID: "id", EventName: "GetObject", EventSource: "s3.amazonaws.com", EventType: "AwsApiCall",
		Category: "Data", Region: "eu-west-1", RecipientAccountID: "111122223333", Time: time.Unix(1700000000, 0).UTC(),
		ReadOnly: &ro, AccessKeyID: "AKIA", Username: "alice", UserARN: "arn:aws:iam::111122223333:user/alice",
		ErrorCode: "AccessDenied", SessionCredentialFromConsole: "true", VPCEndpointID: "vpce-1",
		Resources:       []opentrail.LookupResource{{Type: "AWS::S3::Object", Name: "arn:aws:s3:::b/k"}},
		RecordResources: []opentrail.Resource{{Type: "AWS::S3::Object", ARNPrefix: "arn:aws:s3:::b/"}, {AccountID: "1", Type: "AWS::S3::Bucket", ARN: "arn:aws:s3:::b"}}}
	got, err := decodeSummary(encodeSummary(&s))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	// Indexes written by earlier versions stay readable.
	v1 := []byte{1}
	for _, f := range []string{"old", "Run", "ec2.amazonaws.com", "AwsApiCall", "Management", "us-east-1", "111122223333", "AKIA", "bob"} {
		v1 = appendString(v1, f)
	}
	v1 = binary.AppendVarint(v1, s.Time.Unix())
	v1 = append(v1, 0) // readOnly false
	v1 = binary.AppendUvarint(v1, 1)
	v1 = appendString(appendString(v1, "AWS::EC2::Instance"), "i-1")
	old, err := decodeSummary(v1)
	if err != nil || old.EventID != "old" || old.Username != "bob" || !old.Time.Equal(s.Time) || *old.ReadOnly ||
		len(old.Resources) != 1 || old.Resources[0].Name != "i-1" {
		t.Errorf("version 1 summary: %+v, %v", old, err)
	}
	for i := range encodeSummary(&s) {
		if _, err := decodeSummary(encodeSummary(&s)[:i]); err == nil && i < 5 {
			t.Errorf("a summary cut at %d bytes decoded", i)
		}
	}
}
