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
	"github.com/opentrail/opentrail/blob"
	"github.com/opentrail/opentrail/delivery"
	"github.com/opentrail/opentrail/sns"
)

// objectStore lets trails deliver into a blob.Store.
type objectStore struct{ store blob.Store }

func (o objectStore) PutObject(ctx context.Context, bucket, key string, body []byte, opts delivery.PutOptions) error {
	po := blob.PutOptions{ContentType: opts.ContentType, ContentEncoding: opts.ContentEncoding}
	if opts.KMSKeyID != "" {
		po.ServerSideEncryption, po.KMSKeyID = "aws:kms", opts.KMSKeyID
	}
	_, err := o.store.PutObject(ctx, bucket, key, bytes.NewReader(body), po)
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
