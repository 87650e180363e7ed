package sns

import (
	"context"
	"database/sql"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api/svc"
	"github.com/opentrail/opentrail/journal"
)

// Topic attribute names.
const (
	attrPolicy           = "Policy"
	attrDisplayName      = "DisplayName"
	attrDeliveryPolicy   = "DeliveryPolicy"
	attrSignatureVersion = "SignatureVersion"
	attrTracingConfig    = "TracingConfig"
	attrFifoTopic        = "FifoTopic"
)

// Topic is a topic as the internal API returns it.
type Topic struct {
	ARN     string
	Name    string
	Account string
	Region  string
	// Attributes are those GetTopicAttributes returns (Policy,
	// DisplayName, Owner, SubscriptionsConfirmed, ...).
	Attributes map[string]string
	Created    time.Time
}

// topicRow is a row of sns_topics.
type topicRow struct {
	id      int64
	arn     string
	account string
	region  string
	name    string
	attrs   map[string]string
	created int64
}

// validTopicName reports whether name is a standard topic name: 1 to 256
// letters, digits, hyphens and underscores.
func validTopicName(name string) bool {
	if name == "" || len(name) > 256 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// checkTopicName returns the client error for an unusable topic name.
func checkTopicName(name string) error {
	if strings.HasSuffix(name, ".fifo") {
		return invalid("Invalid parameter: Topic Name: opentrail does not support FIFO topics")
	}
	if !validTopicName(name) {
		return invalid("Invalid parameter: Topic Name")
	}
	return nil
}

// parseTopicARN checks that s is the ARN of a standard topic.
func parseTopicARN(s string) (opentrail.ARN, bool) {
	a, ok := opentrail.ParseARN(s)
	if !ok || a.Partition != opentrail.Partition || a.Service != "sns" ||
		!opentrail.ValidRegionName(a.Region) || !opentrail.ValidAccountID(a.AccountID) || !validTopicName(a.Resource) {
		return opentrail.ARN{}, false
	}
	return a, true
}

func topicARN(region, account, name string) string {
	return opentrail.ARN{Partition: opentrail.Partition, Service: "sns", Region: region, AccountID: account, Resource: name}.String()
}

// topicParam reads and checks the topic ARN parameter name: it must be a
// topic ARN of the request's region.
func (c *call) topicParam(name string) (string, error) {
	v, err := c.required(name)
	if err != nil {
		return "", err
	}
	a, ok := parseTopicARN(v)
	if !ok || a.Region != c.Region {
		return "", invalid("Invalid parameter: %s", name)
	}
	return v, nil
}

func scanTopic(row *sql.Row) (*topicRow, error) {
	var t topicRow
	var attrs string
	err := row.Scan(&t.id, &t.arn, &t.account, &t.region, &t.name, &attrs, &t.created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errTopicNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read topic: %w", err)
	}
	if err := json.Unmarshal([]byte(attrs), &t.attrs); err != nil {
		return nil, fmt.Errorf("read topic %s: %w", t.arn, err)
	}
	if t.attrs == nil {
		t.attrs = map[string]string{}
	}
	return &t, nil
}

const topicColumns = "id, arn, account, region, name, attributes, created"

// getTopic returns the topic, or errTopicNotFound.
func getTopic(q querier, arn string) (*topicRow, error) {
	return scanTopic(q.QueryRow("SELECT "+topicColumns+" FROM sns_topics WHERE arn = ?", arn))
}

// checkTopicAttribute validates one settable topic attribute. An empty
// value unsets those attributes that may be unset.
func checkTopicAttribute(name, value string) error {
	switch name {
	case attrPolicy:
		if _, err := parsePolicy(value); err != nil {
			return invalid("Invalid parameter: Policy Error: %v", err)
		}
	case attrDisplayName:
		if utf8.RuneCountInString(value) > 100 {
			return invalid("Invalid parameter: DisplayName is longer than 100 characters")
		}
	case attrDeliveryPolicy:
		if value != "" && !json.Valid([]byte(value)) {
			return invalid("Invalid parameter: DeliveryPolicy: not valid JSON")
		}
	case attrSignatureVersion:
		if value != "1" && value != "2" {
			return invalid("Invalid parameter: SignatureVersion must be 1 or 2")
		}
	case attrTracingConfig:
		if value != "PassThrough" && value != "Active" {
			return invalid("Invalid parameter: TracingConfig must be PassThrough or Active")
		}
	case attrFifoTopic:
		if strings.EqualFold(value, "true") {
			return invalid("Invalid parameter: Attributes Reason: opentrail does not support FIFO topics")
		}
		if !strings.EqualFold(value, "false") {
			return invalid("Invalid parameter: Attributes Reason: FifoTopic must be true or false")
		}
	case "KmsMasterKeyId", "ContentBasedDeduplication", "ArchivePolicy", "DataProtectionPolicy", "FifoThroughputScope":
		return invalid("Invalid parameter: Attributes Reason: opentrail does not support the topic attribute %s", name)
	default:
		if strings.HasSuffix(name, "FeedbackRoleArn") || strings.HasSuffix(name, "FeedbackSampleRate") {
			return invalid("Invalid parameter: Attributes Reason: opentrail does not support the topic attribute %s", name)
		}
		return invalid("Invalid parameter: AttributeName")
	}
	return nil
}

type createTopicResult struct {
	XMLName  xml.Name `xml:"CreateTopicResult"`
	TopicArn string
}

func (s *Service) createTopic(ctx context.Context, c *call) (any, error) {
	name, err := c.required("Name")
	if err != nil {
		return nil, err
	}
	attrs, err := mapParam(c.p, "Attributes", "key", "value")
	if err != nil {
		return nil, err
	}
	tags, err := tagsParam(c.p, "Tags")
	if err != nil {
		return nil, err
	}
	c.rec.RequestParameters = params("name", name, "attributes", attrs, "tags", tags)
	if err := checkTopicName(name); err != nil {
		return nil, err
	}
	for k, v := range attrs {
		if err := checkTopicAttribute(k, v); err != nil {
			return nil, err
		}
	}
	delete(attrs, attrFifoTopic) // only "false" gets here
	if len(tags) > maxTags {
		return nil, errTagLimit
	}
	arn := topicARN(c.Region, c.Principal.AccountID, name)
	if err := c.authorize(ctx, "CreateTopic", arn); err != nil {
		return nil, err
	}
	c.rec.Resources = topicResource(arn)
	err = s.commit(ctx, c, func(tx *journal.Tx) error {
		t, err := getTopic(tx, arn)
		switch {
		case err == nil:
			for k, v := range attrs {
				if t.attrs[k] != v {
					return invalid("Invalid parameter: Attributes Reason: Topic already exists with different attributes")
				}
			}
			have, err := readTags(tx, arn)
			if err != nil {
				return err
			}
			for _, tg := range tags {
				if v, ok := have[tg.Key]; !ok || v != tg.Value {
					return invalid("Invalid parameter: Tags Reason: Topic already exists with different tags")
				}
			}
		case errors.Is(err, errTopicNotFound):
			stored := map[string]string{attrPolicy: defaultPolicy(arn, c.Principal.AccountID)}
			maps.Copy(stored, attrs)
			if _, err := tx.Exec("INSERT INTO sns_topics (arn, account, region, name, attributes, created) VALUES (?, ?, ?, ?, ?, ?)",
				arn, c.Principal.AccountID, c.Region, name, string(mustJSON(stored)), time.Now().Unix()); err != nil {
				return fmt.Errorf("create topic: %w", err)
			}
			if err := putTags(tx, arn, tags); err != nil {
				return err
			}
		default:
			return err
		}
		c.rec.ResponseElements = params("topicArn", arn)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return createTopicResult{TopicArn: arn}, nil
}

func topicResource(arn string) []opentrail.Resource {
	a, _ := opentrail.ParseARN(arn)
	return []opentrail.Resource{{AccountID: a.AccountID, Type: "AWS::SNS::Topic", ARN: arn}}
}

// commit runs fn in c.Commit, so that the call's record (*c.rec, as fn
// leaves it) commits with fn's changes, and marks the record committed.
func (s *Service) commit(ctx context.Context, c *call, fn func(tx *journal.Tx) error) error {
	err := c.Commit(ctx, func(tx *journal.Tx, rec *svc.Record) error {
		if err := fn(tx); err != nil {
			return err
		}
		rec.EventName = c.rec.EventName
		rec.ReadOnly = c.rec.ReadOnly
		rec.Data = c.rec.Data
		rec.Resources = c.rec.Resources
		rec.RequestParameters = c.rec.RequestParameters
		rec.ResponseElements = c.rec.ResponseElements
		rec.AdditionalEventData = c.rec.AdditionalEventData
		return nil
	})
	if err == nil {
		c.rec.Committed = true
	}
	return err
}

func (s *Service) deleteTopic(ctx context.Context, c *call) (any, error) {
	arn, err := c.topicParam("TopicArn")
	c.rec.RequestParameters = params("topicArn", c.p.Get("TopicArn"))
	if err != nil {
		return nil, err
	}
	c.rec.Resources = topicResource(arn)
	t, err := getTopic(s.reader(ctx), arn)
	switch {
	case errors.Is(err, errTopicNotFound):
		// Deleting a topic that does not exist succeeds, as in SNS.
		return nil, c.authorize(ctx, "DeleteTopic", arn)
	case err != nil:
		return nil, err
	}
	if err := s.authorizeTopic(ctx, c, "DeleteTopic", t); err != nil {
		return nil, err
	}
	return nil, s.commit(ctx, c, func(tx *journal.Tx) error {
		for _, q := range []string{
			"DELETE FROM sns_deliveries WHERE subscription_arn IN (SELECT arn FROM sns_subscriptions WHERE topic_arn = ?)",
			"DELETE FROM sns_messages WHERE topic_arn = ?",
			"DELETE FROM sns_subscriptions WHERE topic_arn = ?",
			"DELETE FROM sns_tags WHERE arn = ?",
			"DELETE FROM sns_topics WHERE arn = ?",
		} {
			if _, err := tx.Exec(q, arn); err != nil {
				return fmt.Errorf("delete topic: %w", err)
			}
		}
		return nil
	})
}

type listTopicsResult struct {
	XMLName   xml.Name `xml:"ListTopicsResult"`
	Topics    topicList
	NextToken string `xml:",omitempty"`
}

type topicList struct {
	Members []topicMember `xml:"member"`
}

type topicMember struct {
	TopicArn string
}

func (s *Service) listTopics(ctx context.Context, c *call) (any, error) {
	c.rec.ReadOnly = true
	tok := c.p.Get("NextToken")
	c.rec.RequestParameters = params("nextToken", tok)
	after, err := parsePageToken(tok)
	if err != nil {
		return nil, err
	}
	if err := c.authorize(ctx, "ListTopics", "*"); err != nil {
		return nil, err
	}
	rows, err := s.db.Reader().QueryContext(ctx,
		"SELECT id, arn FROM sns_topics WHERE account = ? AND region = ? AND id > ? ORDER BY id LIMIT ?",
		c.Principal.AccountID, c.Region, after, pageSize+1)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	defer rows.Close()
	res := listTopicsResult{}
	var last int64
	for rows.Next() {
		var id int64
		var arn string
		if err := rows.Scan(&id, &arn); err != nil {
			return nil, fmt.Errorf("list topics: %w", err)
		}
		if len(res.Topics.Members) == pageSize {
			res.NextToken = pageToken(last)
			break
		}
		res.Topics.Members = append(res.Topics.Members, topicMember{arn})
		last = id
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	return res, nil
}

type getTopicAttributesResult struct {
	XMLName    xml.Name `xml:"GetTopicAttributesResult"`
	Attributes attributes
}

func (s *Service) getTopicAttributes(ctx context.Context, c *call) (any, error) {
	c.rec.ReadOnly = true
	arn, err := c.topicParam("TopicArn")
	c.rec.RequestParameters = params("topicArn", c.p.Get("TopicArn"))
	if err != nil {
		return nil, err
	}
	c.rec.Resources = topicResource(arn)
	q := s.reader(ctx)
	t, err := getTopic(q, arn)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeTopic(ctx, c, "GetTopicAttributes", t); err != nil {
		return nil, err
	}
	attrs, err := s.topicAttributes(q, t)
	if err != nil {
		return nil, err
	}
	return getTopicAttributesResult{Attributes: attributesOf(attrs)}, nil
}

// topicAttributes are the attributes GetTopicAttributes returns.
func (s *Service) topicAttributes(q querier, t *topicRow) (map[string]string, error) {
	out := maps.Clone(t.attrs)
	out["TopicArn"] = t.arn
	out["Owner"] = t.account
	if _, ok := out[attrDisplayName]; !ok {
		out[attrDisplayName] = ""
	}
	var pending, confirmed int
	err := q.QueryRow("SELECT count(*) FILTER (WHERE confirmed = 0), count(*) FILTER (WHERE confirmed = 1) FROM sns_subscriptions WHERE topic_arn = ?", t.arn).
		Scan(&pending, &confirmed)
	if err != nil {
		return nil, fmt.Errorf("count subscriptions: %w", err)
	}
	out["SubscriptionsPending"] = strconv.Itoa(pending)
	out["SubscriptionsConfirmed"] = strconv.Itoa(confirmed)
	out["SubscriptionsDeleted"] = "0"
	out["EffectiveDeliveryPolicy"] = s.effectiveDeliveryPolicy()
	return out, nil
}

// effectiveDeliveryPolicy describes opentrail's retry policy in SNS's
// delivery policy shape. Delivery policies set on topics and
// subscriptions are kept and returned but not applied.
func (s *Service) effectiveDeliveryPolicy() string {
	type retryPolicy struct {
		MinDelayTarget     int    `json:"minDelayTarget"`
		MaxDelayTarget     int    `json:"maxDelayTarget"`
		NumRetries         int    `json:"numRetries"`
		NumMaxDelayRetries int    `json:"numMaxDelayRetries"`
		NumNoDelayRetries  int    `json:"numNoDelayRetries"`
		NumMinDelayRetries int    `json:"numMinDelayRetries"`
		BackoffFunction    string `json:"backoffFunction"`
	}
	type httpPolicy struct {
		DefaultHealthyRetryPolicy    retryPolicy       `json:"defaultHealthyRetryPolicy"`
		DisableSubscriptionOverrides bool              `json:"disableSubscriptionOverrides"`
		DefaultRequestPolicy         map[string]string `json:"defaultRequestPolicy"`
	}
	return string(mustJSON(map[string]httpPolicy{"http": {
		DefaultHealthyRetryPolicy: retryPolicy{
			MinDelayTarget:  int(s.minDelay.Seconds()),
			MaxDelayTarget:  int(s.maxDelay.Seconds()),
			NumRetries:      s.attempts - 1,
			BackoffFunction: "exponential",
		},
		DefaultRequestPolicy: map[string]string{"headerContentType": "text/plain; charset=UTF-8"},
	}}))
}

func (s *Service) setTopicAttributes(ctx context.Context, c *call) (any, error) {
	arn, err := c.topicParam("TopicArn")
	name, value := c.p.Get("AttributeName"), c.p.Get("AttributeValue")
	c.rec.RequestParameters = params("topicArn", c.p.Get("TopicArn"), "attributeName", name, "attributeValue", value)
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, errorf(codeMissingParameter, "The request must contain the parameter AttributeName.")
	}
	if name == attrFifoTopic {
		return nil, invalid("Invalid parameter: AttributeName: FifoTopic is set only when a topic is created")
	}
	if err := checkTopicAttribute(name, value); err != nil {
		return nil, err
	}
	c.rec.Resources = topicResource(arn)
	t, err := getTopic(s.reader(ctx), arn)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeTopic(ctx, c, "SetTopicAttributes", t); err != nil {
		return nil, err
	}
	return nil, s.commit(ctx, c, func(tx *journal.Tx) error {
		t, err := getTopic(tx, arn)
		if err != nil {
			return err
		}
		if value == "" && name != attrDisplayName {
			delete(t.attrs, name)
		} else {
			t.attrs[name] = value
		}
		if _, err := tx.Exec("UPDATE sns_topics SET attributes = ? WHERE arn = ?", string(mustJSON(t.attrs)), arn); err != nil {
			return fmt.Errorf("set topic attributes: %w", err)
		}
		return nil
	})
}

// Tags.

const maxTags = 50

var errTagLimit = errorf(codeTagLimit, "Could not complete request: tag quota of per resource exceeded")

func validTag(t tag) error {
	if t.Key == "" || utf8.RuneCountInString(t.Key) > 128 {
		return invalid("Invalid parameter: Tags Reason: a tag key must be 1 to 128 characters")
	}
	if utf8.RuneCountInString(t.Value) > 256 {
		return invalid("Invalid parameter: Tags Reason: a tag value must be at most 256 characters")
	}
	if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
		return invalid("Invalid parameter: Tags Reason: tag keys must not start with aws:")
	}
	return nil
}

func readTags(q querier, arn string) (map[string]string, error) {
	rows, err := q.Query("SELECT key, value FROM sns_tags WHERE arn = ?", arn)
	if err != nil {
		return nil, fmt.Errorf("read tags: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("read tags: %w", err)
		}
		out[k] = v
	}
	return out, rows.Err()
}

func putTags(tx *journal.Tx, arn string, tags []tag) error {
	for _, t := range tags {
		if _, err := tx.Exec("INSERT OR REPLACE INTO sns_tags (arn, key, value) VALUES (?, ?, ?)", arn, t.Key, t.Value); err != nil {
			return fmt.Errorf("put tags: %w", err)
		}
	}
	return nil
}

// tagTopic reads the ResourceArn parameter and the topic it names.
func (s *Service) tagTopic(ctx context.Context, c *call, action string) (*topicRow, error) {
	v, err := c.required("ResourceArn")
	if err != nil {
		return nil, err
	}
	c.rec.Resources = nil
	if a, ok := parseTopicARN(v); !ok || a.Region != c.Region {
		return nil, invalid("Invalid parameter: ResourceArn")
	}
	c.rec.Resources = topicResource(v)
	t, err := getTopic(s.reader(ctx), v)
	if errors.Is(err, errTopicNotFound) {
		return nil, errorf(codeResourceNotFound, "Resource does not exist")
	}
	if err != nil {
		return nil, err
	}
	return t, s.authorizeTopic(ctx, c, action, t)
}

func (s *Service) tagResource(ctx context.Context, c *call) (any, error) {
	tags, err := tagsParam(c.p, "Tags")
	c.rec.RequestParameters = params("resourceArn", c.p.Get("ResourceArn"), "tags", tags)
	if err != nil {
		return nil, err
	}
	if len(tags) == 0 {
		return nil, errorf(codeMissingParameter, "The request must contain the parameter Tags.")
	}
	t, err := s.tagTopic(ctx, c, "TagResource")
	if err != nil {
		return nil, err
	}
	err = s.commit(ctx, c, func(tx *journal.Tx) error {
		if _, err := getTopic(tx, t.arn); err != nil {
			return errorf(codeResourceNotFound, "Resource does not exist")
		}
		have, err := readTags(tx, t.arn)
		if err != nil {
			return err
		}
		n := len(have)
		for _, tg := range tags {
			if _, ok := have[tg.Key]; !ok {
				have[tg.Key] = tg.Value
				n++
			}
		}
		if n > maxTags {
			return errTagLimit
		}
		return putTags(tx, t.arn, tags)
	})
	return struct {
		XMLName xml.Name `xml:"TagResourceResult"`
	}{}, err
}

func (s *Service) untagResource(ctx context.Context, c *call) (any, error) {
	keys := listParam(c.p, "TagKeys")
	c.rec.RequestParameters = params("resourceArn", c.p.Get("ResourceArn"), "tagKeys", keys)
	if len(keys) == 0 {
		return nil, errorf(codeMissingParameter, "The request must contain the parameter TagKeys.")
	}
	t, err := s.tagTopic(ctx, c, "UntagResource")
	if err != nil {
		return nil, err
	}
	err = s.commit(ctx, c, func(tx *journal.Tx) error {
		for _, k := range keys {
			if _, err := tx.Exec("DELETE FROM sns_tags WHERE arn = ? AND key = ?", t.arn, k); err != nil {
				return fmt.Errorf("untag: %w", err)
			}
		}
		return nil
	})
	return struct {
		XMLName xml.Name `xml:"UntagResourceResult"`
	}{}, err
}

type listTagsResult struct {
	XMLName xml.Name `xml:"ListTagsForResourceResult"`
	Tags    struct {
		Members []tag `xml:"member"`
	}
}

func (s *Service) listTagsForResource(ctx context.Context, c *call) (any, error) {
	c.rec.ReadOnly = true
	c.rec.RequestParameters = params("resourceArn", c.p.Get("ResourceArn"))
	t, err := s.tagTopic(ctx, c, "ListTagsForResource")
	if err != nil {
		return nil, err
	}
	have, err := readTags(s.reader(ctx), t.arn)
	if err != nil {
		return nil, err
	}
	var res listTagsResult
	for _, k := range sortedKeys(have) {
		res.Tags.Members = append(res.Tags.Members, tag{Key: k, Value: have[k]})
	}
	return res, nil
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
