package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/blob"
	"github.com/opentrail/opentrail/delivery"
	"github.com/opentrail/opentrail/iam"
	"github.com/opentrail/opentrail/kms"
	"github.com/opentrail/opentrail/sns"
)

// objectStore lets trails deliver into a blob.Store.
type objectStore struct{ store blob.Store }

func (o objectStore) PutObject(ctx context.Context, bucket, key string, body []byte, opts delivery.PutOptions) error {
	po := blob.PutOptions{ContentType: opts.ContentType, ContentEncoding: opts.ContentEncoding, Metadata: opts.Metadata}
	if opts.KMSKeyID != "" {
		po.ServerSideEncryption, po.KMSKeyID = "aws:kms", opts.KMSKeyID
	}
	_, err := o.store.PutObject(ctx, bucket, key, bytes.NewReader(body), po)
	var e *opentrail.Error
	if errors.As(err, &e) && (errors.Is(err, kms.ErrDisabled) || errors.Is(err, kms.ErrNotFound) || errors.Is(err, kms.ErrPendingDeletion)) {
		// As S3 reports a KMS key it cannot use (LatestDeliveryError).
		return fmt.Errorf("%w", &opentrail.Error{Code: "KMS." + e.Code, Message: e.Message})
	}
	return err
}

// topics lets CreateTrail check SNS topics of the embedded service.
type topics struct{ sns *sns.Service }

func (t topics) TopicARN(ctx context.Context, ref, account, region string) (string, error) {
	topic, err := t.sns.Topic(ctx, ref, account, region)
	if errors.Is(err, sns.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return topic.ARN, nil
}

func (t topics) CanPublish(ctx context.Context, topicARN, service, sourceARN string) (bool, error) {
	return t.sns.CanPublish(ctx, topicARN, service, sourceARN)
}

// notifier publishes trails' notifications through the embedded SNS.
type notifier struct{ sns *sns.Service }

func (n notifier) Publish(ctx context.Context, topicARN, message string) error {
	_, err := n.sns.Publish(ctx, topicARN, "", message)
	return err
}

// s3Backend connects to an S3-compatible service for trails' buckets.
func (m *Main) s3Backend() (blob.Store, error) {
	if m.S3Endpoint == "" {
		return nil, errors.New("--bucket-backend s3 needs --s3-endpoint (for example http://127.0.0.1:7070)")
	}
	if _, err := url.Parse(m.S3Endpoint); err != nil {
		return nil, fmt.Errorf("--s3-endpoint: %w", err)
	}
	keyID, secret := m.getenv("OPENTRAIL_S3_ACCESS_KEY_ID"), m.getenv("OPENTRAIL_S3_SECRET_ACCESS_KEY")
	if keyID == "" || secret == "" {
		return nil, errors.New("--bucket-backend s3 needs OPENTRAIL_S3_ACCESS_KEY_ID and OPENTRAIL_S3_SECRET_ACCESS_KEY")
	}
	client := s3.New(s3.Options{
		Region:       m.S3Region,
		Credentials:  credentials.NewStaticCredentialsProvider(keyID, secret, ""),
		BaseEndpoint: aws.String(strings.TrimRight(m.S3Endpoint, "/")),
		UsePathStyle: true,
	})
	return blob.NewS3(client, m.S3Region), nil
}

// externalSNS is an SNS-compatible service outside opentrail (AWS SNS, or
// another opentrail) holding trails' topics.
type externalSNS struct {
	client *awssns.Client
}

// snsBackend connects to the SNS-compatible service of --sns-backend sns.
func (m *Main) snsBackend() (*externalSNS, error) {
	if m.SNSEndpoint == "" {
		return nil, errors.New("--sns-backend sns needs --sns-endpoint (for example https://sns.us-east-1.amazonaws.com)")
	}
	if _, err := url.Parse(m.SNSEndpoint); err != nil {
		return nil, fmt.Errorf("--sns-endpoint: %w", err)
	}
	keyID, secret := m.getenv("OPENTRAIL_SNS_ACCESS_KEY_ID"), m.getenv("OPENTRAIL_SNS_SECRET_ACCESS_KEY")
	if keyID == "" || secret == "" {
		return nil, errors.New("--sns-backend sns needs OPENTRAIL_SNS_ACCESS_KEY_ID and OPENTRAIL_SNS_SECRET_ACCESS_KEY")
	}
	return &externalSNS{client: awssns.New(awssns.Options{
		Region:       m.SNSRegion,
		Credentials:  credentials.NewStaticCredentialsProvider(keyID, secret, ""),
		BaseEndpoint: aws.String(strings.TrimRight(m.SNSEndpoint, "/")),
	})}, nil
}

// TopicARN finds a topic by ARN or by name. A name is looked for among the
// topics the configured credentials can list, in the trail's account and
// region first.
func (e *externalSNS) TopicARN(ctx context.Context, ref, account, region string) (string, error) {
	if strings.HasPrefix(ref, "arn:") {
		_, err := e.client.GetTopicAttributes(ctx, &awssns.GetTopicAttributesInput{TopicArn: aws.String(ref)})
		var nf *snstypes.NotFoundException
		if errors.As(err, &nf) {
			return "", nil
		}
		if err != nil {
			return "", fmt.Errorf("SNS backend: %w", err)
		}
		return ref, nil
	}
	var found []string
	p := awssns.NewListTopicsPaginator(e.client, &awssns.ListTopicsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("SNS backend: %w", err)
		}
		for _, t := range page.Topics {
			arn := aws.ToString(t.TopicArn)
			if strings.HasSuffix(arn, ":"+ref) {
				found = append(found, arn)
			}
		}
	}
	for _, arn := range found {
		if strings.HasPrefix(arn, "arn:aws:sns:"+region+":"+account+":") {
			return arn, nil
		}
	}
	if len(found) > 0 {
		return found[0], nil
	}
	return "", nil
}

// CanPublish evaluates the topic's policy when the credentials may read it;
// a policy opentrail cannot read is the service's to enforce at Publish.
func (e *externalSNS) CanPublish(ctx context.Context, topicARN, service, sourceARN string) (bool, error) {
	out, err := e.client.GetTopicAttributes(ctx, &awssns.GetTopicAttributesInput{TopicArn: aws.String(topicARN)})
	if err != nil {
		return true, nil
	}
	doc := out.Attributes["Policy"]
	if doc == "" {
		return true, nil
	}
	ok, err := iam.PolicyAllows(doc, iam.PolicyRequest{Service: service, Action: "sns:Publish", Resource: topicARN,
		Context: map[string]string{"aws:SourceArn": sourceARN}})
	if err != nil {
		return true, nil
	}
	return ok, nil
}

// Publish sends a trail's notification.
func (e *externalSNS) Publish(ctx context.Context, topicARN, message string) error {
	_, err := e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topicARN), Message: aws.String(message)})
	return err
}

// kmsTrailKeys checks trails' KMS keys in the embedded KMS.
type kmsTrailKeys struct{ kms *kms.Service }

func (k kmsTrailKeys) TrailKey(ctx context.Context, ref, account, region, trailARN string) (string, error) {
	key, err := k.kms.Key(ctx, ref, account, region)
	switch {
	case errors.Is(err, kms.ErrNotFound):
		return "", opentrail.Errorf("KmsKeyNotFoundException", "KMS key not found: %s", ref)
	case errors.Is(err, kms.ErrDisabled), errors.Is(err, kms.ErrPendingDeletion):
		return "", opentrail.Errorf("KmsKeyDisabledException", "KMS key is disabled or pending deletion: %s", ref)
	case err != nil:
		return "", err
	}
	ok, err := k.kms.AllowsService(ctx, key.ARN, "cloudtrail.amazonaws.com", "kms:GenerateDataKey", trailARN)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", opentrail.Errorf("InsufficientEncryptionPolicyException",
			"Insufficient permissions to access S3 bucket or KMS key %s: its key policy must let cloudtrail.amazonaws.com use kms:GenerateDataKey* for this trail.", key.ARN)
	}
	return key.ARN, nil
}
