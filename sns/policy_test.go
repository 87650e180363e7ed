package sns_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/opentrail/opentrail/sns"
)

const trailARN = "arn:aws:cloudtrail:us-east-1:111122223333:trail/management"

func TestCanPublish(t *testing.T) {
	h := mustHarness(t, sns.Options{})
	c := h.client(keyOwner)
	ctx := context.Background()
	topic := mustCreateTopic(t, c, "trail-notes")
	s := h.service()

	statement := func(extra string) string {
		return `{"Sid":"AWSCloudTrailSNSPolicy20131101","Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"SNS:Publish","Resource":"` + topic + `"` + extra + `}`
	}
	policy := func(statements ...string) string {
		p := `{"Version":"2012-10-17","Statement":[`
		for i, s := range statements {
			if i > 0 {
				p += ","
			}
			p += s
		}
		return p + `]}`
	}
	for _, tc := range []struct {
		name      string
		policy    string // "" keeps the default policy
		principal string
		source    string
		want      bool
	}{
		{"default policy", "", "cloudtrail.amazonaws.com", trailARN, false},
		{"cloudtrail statement", policy(statement("")), "cloudtrail.amazonaws.com", trailARN, true},
		{"cloudtrail statement, no source", policy(statement("")), "cloudtrail.amazonaws.com", "", true},
		{"another service", policy(statement("")), "s3.amazonaws.com", trailARN, false},
		{"source condition matches", policy(statement(`,"Condition":{"StringEquals":{"aws:SourceArn":"` + trailARN + `"}}`)), "cloudtrail.amazonaws.com", trailARN, true},
		{"source condition, other trail", policy(statement(`,"Condition":{"StringEquals":{"aws:SourceArn":"` + trailARN + `"}}`)), "cloudtrail.amazonaws.com", "arn:aws:cloudtrail:us-east-1:111122223333:trail/other", false},
		{"source condition, no source", policy(statement(`,"Condition":{"StringEquals":{"aws:SourceArn":"` + trailARN + `"}}`)), "cloudtrail.amazonaws.com", "", false},
		{"ArnLike source", policy(statement(`,"Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:cloudtrail:*:111122223333:trail/*"}}`)), "cloudtrail.amazonaws.com", trailARN, true},
		{"source account", policy(statement(`,"Condition":{"StringEquals":{"AWS:SourceAccount":["999999999999","111122223333"]}}`)), "cloudtrail.amazonaws.com", trailARN, true},
		{"source account, other", policy(statement(`,"Condition":{"StringEquals":{"aws:SourceAccount":"999999999999"}}`)), "cloudtrail.amazonaws.com", trailARN, false},
		{"unknown operator", policy(statement(`,"Condition":{"DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}`)), "cloudtrail.amazonaws.com", trailARN, false},
		{"sns:* in a list", policy(`{"Effect":"Allow","Principal":{"Service":["s3.amazonaws.com","cloudtrail.amazonaws.com"]},"Action":["sns:*"],"Resource":"*"}`), "cloudtrail.amazonaws.com", trailARN, true},
		{"principal star", policy(`{"Effect":"Allow","Principal":"*","Action":"*"}`), "cloudtrail.amazonaws.com", trailARN, true},
		{"AWS star is not a service", policy(`{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"*"}`), "cloudtrail.amazonaws.com", trailARN, false},
		{"other action", policy(`{"Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"SNS:Subscribe","Resource":"*"}`), "cloudtrail.amazonaws.com", trailARN, false},
		{"other resource", policy(`{"Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"SNS:Publish","Resource":"arn:aws:sns:us-east-1:111122223333:other"}`), "cloudtrail.amazonaws.com", trailARN, false},
		{"single statement object", `{"Statement":` + statement("") + `}`, "cloudtrail.amazonaws.com", trailARN, true},
		{"deny wins", policy(statement(""), `{"Effect":"Deny","Principal":"*","Action":"SNS:Publish","Resource":"*","Condition":{"StringNotEquals":{"aws:SourceAccount":"111122223333"}}}`), "cloudtrail.amazonaws.com", "arn:aws:cloudtrail:us-east-1:999999999999:trail/x", false},
		{"deny not applying", policy(statement(""), `{"Effect":"Deny","Principal":"*","Action":"SNS:Publish","Resource":"*","Condition":{"StringNotEquals":{"aws:SourceAccount":"111122223333"}}}`), "cloudtrail.amazonaws.com", trailARN, true},
		{"NotPrincipal deny", policy(statement(""), `{"Effect":"Deny","NotPrincipal":{"AWS":"x"},"Action":"*"}`), "cloudtrail.amazonaws.com", trailARN, false},
	} {
		if tc.policy != "" {
			if _, err := c.SetTopicAttributes(ctx, &awssns.SetTopicAttributesInput{TopicArn: aws.String(topic), AttributeName: aws.String("Policy"), AttributeValue: aws.String(tc.policy)}); err != nil {
				t.Fatalf("%s: SetTopicAttributes = %v", tc.name, err)
			}
		}
		got, err := s.CanPublish(ctx, topic, tc.principal, tc.source)
		if err != nil || got != tc.want {
			t.Errorf("%s: CanPublish(%s, %s) = %v, %v; want %v", tc.name, tc.principal, tc.source, got, err, tc.want)
		}
	}
	if _, err := s.CanPublish(ctx, topic+"-missing", "cloudtrail.amazonaws.com", trailARN); !errors.Is(err, sns.ErrNotFound) {
		t.Errorf("CanPublish(missing topic) = %v, want ErrNotFound", err)
	}
	if _, err := s.CanPublish(ctx, "trail-notes", "cloudtrail.amazonaws.com", trailARN); !errors.Is(err, sns.ErrInvalidTopic) {
		t.Errorf("CanPublish(name) = %v, want ErrInvalidTopic", err)
	}
}

func TestInternalAPI(t *testing.T) {
	h := mustHarness(t, sns.Options{})
	h.run()
	c := h.client(keyOwner)
	ctx := context.Background()
	topic := mustCreateTopic(t, c, "trail-notes")
	if _, err := c.SetTopicAttributes(ctx, &awssns.SetTopicAttributesInput{TopicArn: aws.String(topic), AttributeName: aws.String("DisplayName"), AttributeValue: aws.String("Trails")}); err != nil {
		t.Fatal(err)
	}
	s := h.service()

	for _, ref := range []string{"trail-notes", topic} {
		tp, err := s.Topic(ctx, ref, account, region)
		if err != nil {
			t.Fatalf("Topic(%s) = %v", ref, err)
		}
		if tp.ARN != topic || tp.Name != "trail-notes" || tp.Account != account || tp.Region != region ||
			tp.Attributes["DisplayName"] != "Trails" || tp.Attributes["Policy"] == "" || tp.Created.IsZero() {
			t.Errorf("Topic(%s) = %+v", ref, tp)
		}
	}
	for _, tc := range []struct {
		ref  string
		want error
	}{
		{"missing", sns.ErrNotFound},
		{"arn:aws:sns:us-east-1:111122223333:missing", sns.ErrNotFound},
		{"trail-notes", sns.ErrNotFound}, // in another account
		{"bad name!", sns.ErrInvalidTopic},
		{"arn:aws:s3:::bucket", sns.ErrInvalidTopic},
	} {
		acct := account
		if tc.ref == "trail-notes" {
			acct = other
		}
		if _, err := s.Topic(ctx, tc.ref, acct, region); !errors.Is(err, tc.want) {
			t.Errorf("Topic(%s, %s) = %v, want %v", tc.ref, acct, err, tc.want)
		}
	}

	sub := mustSubscriber(t)
	mustConfirmed(t, c, topic, sub)
	body := `{"s3Bucket":"logs","s3ObjectKey":["AWSLogs/111122223333/CloudTrail/us-east-1/2025/01/01/a.json.gz"]}`
	id, err := s.Publish(ctx, topic, "", body)
	if err != nil {
		t.Fatal(err)
	}
	env := decode(t, sub.next(t).body)
	if env["MessageId"] != id || env["Message"] != body || env["Type"] != "Notification" {
		t.Errorf("delivered %v, want message %s", env, id)
	}
	if err := verify(mustCert(t, s.SigningCertURL()), env); err != nil {
		t.Error(err)
	}
	if _, err := s.Publish(ctx, topic+"-missing", "", "x"); !errors.Is(err, sns.ErrNotFound) {
		t.Errorf("Publish(missing) = %v, want ErrNotFound", err)
	}
	if _, err := s.Publish(ctx, topic, "", ""); err == nil {
		t.Error("Publish of an empty message succeeded")
	}
}
