package iam_test

import (
	"testing"

	"github.com/opentrail/opentrail/iam"
)

// The bucket policy AWS documents for CloudTrail.
const trailBucketPolicy = `{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "AWSCloudTrailAclCheck20150319", "Effect": "Allow",
     "Principal": {"Service": "cloudtrail.amazonaws.com"},
     "Action": "s3:GetBucketAcl", "Resource": "arn:aws:s3:::amzn-s3-demo-bucket",
     "Condition": {"StringEquals": {"aws:SourceArn": "arn:aws:cloudtrail:us-east-2:111122223333:trail/trailName"}}},
    {"Sid": "AWSCloudTrailWrite20150319", "Effect": "Allow",
     "Principal": {"Service": "cloudtrail.amazonaws.com"},
     "Action": "s3:PutObject", "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/AWSLogs/111122223333/*",
     "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control",
                                    "aws:SourceArn": "arn:aws:cloudtrail:us-east-2:111122223333:trail/trailName"}}},
    {"Sid": "DenyOther", "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/*"}
  ]
}`

func TestPolicyAllows(t *testing.T) {
	trail := "arn:aws:cloudtrail:us-east-2:111122223333:trail/trailName"
	put := func(resource, source, acl string) iam.PolicyRequest {
		return iam.PolicyRequest{Service: "cloudtrail.amazonaws.com", Action: "s3:PutObject", Resource: resource,
			Context: map[string]string{"aws:SourceArn": source, "s3:x-amz-acl": acl}}
	}
	tests := []struct {
		name string
		req  iam.PolicyRequest
		want bool
	}{
		{"put log file", put("arn:aws:s3:::amzn-s3-demo-bucket/AWSLogs/111122223333/CloudTrail/us-east-2/2024/01/01/x.json.gz", trail, "bucket-owner-full-control"), true},
		{"other account's prefix", put("arn:aws:s3:::amzn-s3-demo-bucket/AWSLogs/999999999999/x", trail, "bucket-owner-full-control"), false},
		{"other trail", put("arn:aws:s3:::amzn-s3-demo-bucket/AWSLogs/111122223333/x", "arn:aws:cloudtrail:us-east-2:111122223333:trail/other", "bucket-owner-full-control"), false},
		{"without the ACL", put("arn:aws:s3:::amzn-s3-demo-bucket/AWSLogs/111122223333/x", trail, ""), false},
		{"acl check", iam.PolicyRequest{Service: "cloudtrail.amazonaws.com", Action: "s3:GetBucketAcl", Resource: "arn:aws:s3:::amzn-s3-demo-bucket",
			Context: map[string]string{"aws:SourceArn": trail}}, true},
		{"another service", iam.PolicyRequest{Service: "config.amazonaws.com", Action: "s3:PutObject", Resource: "arn:aws:s3:::amzn-s3-demo-bucket/AWSLogs/111122223333/x"}, false},
		{"explicit deny wins", iam.PolicyRequest{Principal: "111122223333", Action: "s3:DeleteObject", Resource: "arn:aws:s3:::amzn-s3-demo-bucket/k"}, false},
		{"action case", iam.PolicyRequest{Service: "cloudtrail.amazonaws.com", Action: "S3:PUTOBJECT", Resource: "arn:aws:s3:::amzn-s3-demo-bucket/AWSLogs/111122223333/x",
			Context: map[string]string{"aws:SourceArn": trail, "s3:x-amz-acl": "bucket-owner-full-control"}}, true},
	}
	for _, tt := range tests {
		got, err := iam.PolicyAllows(trailBucketPolicy, tt.req)
		if err != nil || got != tt.want {
			t.Errorf("%s: PolicyAllows = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	wild := `{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222233334444:root"},"Action":"s3:Get*","Resource":"arn:aws:s3:::b/logs/*"}}`
	if ok, _ := iam.PolicyAllows(wild, iam.PolicyRequest{Principal: "222233334444", Action: "s3:GetObject", Resource: "arn:aws:s3:::b/logs/a/b.gz"}); !ok {
		t.Errorf("wildcard action and resource with an account root principal: denied")
	}
	if ok, _ := iam.PolicyAllows(wild, iam.PolicyRequest{Principal: "222233334444", Action: "s3:PutObject", Resource: "arn:aws:s3:::b/logs/a"}); ok {
		t.Errorf("s3:Get* allowed s3:PutObject")
	}
	for _, bad := range []string{`{`, `{"Statement":[]}`, `{"Statement":[{"Effect":"Maybe","Action":"x"}]}`} {
		if iam.ParsePolicy(bad) == nil {
			t.Errorf("ParsePolicy(%s) accepted a bad policy", bad)
		}
	}
}

func FuzzPolicyAllows(f *testing.F) {
	f.Add(trailBucketPolicy, "s3:PutObject", "arn:aws:s3:::amzn-s3-demo-bucket/AWSLogs/111122223333/x")
	f.Add(`{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}`, "x", "y")
	f.Fuzz(func(t *testing.T, doc, action, resource string) {
		iam.PolicyAllows(doc, iam.PolicyRequest{Service: "cloudtrail.amazonaws.com", Principal: "111122223333", Action: action, Resource: resource,
			Context: map[string]string{"aws:SourceArn": "a"}})
		iam.ParsePolicy(doc)
	})
}
