package sns

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/opentrail/opentrail/journal"
)

// Subscription attribute names.
const (
	attrRawMessageDelivery = "RawMessageDelivery"
)

const (
	// pendingARN is what Subscribe answers for a subscription that waits
	// for confirmation, and pendingListed what the list calls show.
	pendingARN    = "pending confirmation"
	pendingListed = "PendingConfirmation"
	// tokenTTL is how long a confirmation token is valid, as in SNS.
	tokenTTL = 3 * 24 * time.Hour
	// maxEndpoint bounds the length of an endpoint URL.
	maxEndpoint = 2048
)

// subRow is a row of sns_subscriptions.
type subRow struct {
	id            int64
	arn           string
	topicARN      string
	owner         string
	principal     string
	region        string
	protocol      string
	endpoint      string
	token         string
	confirmed     bool
	authenticated bool
	attrs         map[string]string
	created       int64
}

const subColumns = "id, arn, topic_arn, owner, principal, region, protocol, endpoint, token, confirmed, authenticated, attributes, created"

func scanSub(row *sql.Row) (*subRow, error) {
	var r subRow
	var attrs string
	err := row.Scan(&r.id, &r.arn, &r.topicARN, &r.owner, &r.principal, &r.region, &r.protocol, &r.endpoint,
		&r.token, &r.confirmed, &r.authenticated, &attrs, &r.created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errSubscriptionNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read subscription: %w", err)
	}
	if err := json.Unmarshal([]byte(attrs), &r.attrs); err != nil {
		return nil, fmt.Errorf("read subscription %s: %w", r.arn, err)
	}
	if r.attrs == nil {
		r.attrs = map[string]string{}
	}
	return &r, nil
}

func getSub(q querier, arn string) (*subRow, error) {
	return scanSub(q.QueryRow("SELECT "+subColumns+" FROM sns_subscriptions WHERE arn = ?", arn))
}

// parseSubscriptionARN returns the topic ARN of a subscription ARN
// (<topic ARN>:<UUID>).
func parseSubscriptionARN(s string) (string, bool) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", false
	}
	if _, ok := parseTopicARN(s[:i]); !ok {
		return "", false
	}
	if _, err := uuid.Parse(s[i+1:]); err != nil || len(s[i+1:]) != 36 {
		return "", false
	}
	return s[:i], true
}

// subscriptionParam reads and checks a subscription ARN parameter and
// returns it with its topic's ARN.
func (c *call) subscriptionParam(name string) (arn, topic string, err error) {
	v, err := c.required(name)
	if err != nil {
		return "", "", err
	}
	topic, ok := parseSubscriptionARN(v)
	if !ok {
		return "", "", invalid("Invalid parameter: %s Reason: An ARN must have at least 6 elements, not a valid subscription ARN", name)
	}
	if a, _ := parseTopicARN(topic); a.Region != c.Region {
		return "", "", invalid("Invalid parameter: %s", name)
	}
	return v, topic, nil
}

// checkProtocol refuses the protocols opentrail does not deliver to.
func checkProtocol(protocol string) (string, error) {
	p := strings.ToLower(protocol)
	switch p {
	case "http", "https":
		return p, nil
	}
	return "", invalid("Invalid parameter: Protocol: opentrail delivers to http and https endpoints only, not %s", truncate(protocol, 64))
}

// checkEndpoint checks that endpoint is an absolute URL of protocol.
func checkEndpoint(protocol, endpoint string) error {
	if endpoint == "" {
		return invalid("Invalid parameter: Endpoint")
	}
	u, err := url.Parse(endpoint)
	if err != nil || len(endpoint) > maxEndpoint || u.Host == "" || u.Opaque != "" {
		return invalid("Invalid parameter: Endpoint: not a valid %s URL", protocol)
	}
	if !strings.EqualFold(u.Scheme, protocol) {
		return invalid("Invalid parameter: Endpoint must match the specified protocol")
	}
	return nil
}

// checkSubscriptionAttribute validates one settable subscription attribute
// and returns the value to store.
func checkSubscriptionAttribute(name, value string) (string, error) {
	switch name {
	case attrRawMessageDelivery:
		v := strings.ToLower(value)
		if v != "true" && v != "false" {
			return "", invalid("Invalid parameter: RawMessageDelivery must be true or false")
		}
		return v, nil
	case attrDeliveryPolicy:
		if value != "" && !json.Valid([]byte(value)) {
			return "", invalid("Invalid parameter: DeliveryPolicy: not valid JSON")
		}
		return value, nil
	case "FilterPolicy", "FilterPolicyScope", "RedrivePolicy", "SubscriptionRoleArn", "ReplayPolicy":
		return "", invalid("Invalid parameter: Attributes Reason: opentrail does not support the subscription attribute %s", name)
	}
	return "", invalid("Invalid parameter: AttributeName")
}

func newToken() string {
	b := make([]byte, 64)
	rand.Read(b)
	return hex.EncodeToString(b)
}

type subscribeResult struct {
	XMLName         xml.Name `xml:"SubscribeResult"`
	SubscriptionArn string
}

func (s *Service) subscribe(ctx context.Context, c *call) (any, error) {
	topicARN, err := c.topicParam("TopicArn")
	protocol, endpoint := c.p.Get("Protocol"), c.p.Get("Endpoint")
	attrs, aerr := mapParam(c.p, "Attributes", "key", "value")
	var returnParam any
	if strings.EqualFold(c.p.Get("ReturnSubscriptionArn"), "true") {
		returnParam = true
	}
	c.rec.RequestParameters = params("topicArn", c.p.Get("TopicArn"), "protocol", protocol, "endpoint", endpoint,
		"attributes", attrs, "returnSubscriptionArn", returnParam)
	if err != nil {
		return nil, err
	}
	if aerr != nil {
		return nil, aerr
	}
	if protocol == "" {
		return nil, errorf(codeMissingParameter, "The request must contain the parameter Protocol.")
	}
	protocol, err = checkProtocol(protocol)
	if err != nil {
		return nil, err
	}
	if err := checkEndpoint(protocol, endpoint); err != nil {
		return nil, err
	}
	for k, v := range attrs {
		if attrs[k], err = checkSubscriptionAttribute(k, v); err != nil {
			return nil, err
		}
	}
	returnARN, err := boolParam(c.p, "ReturnSubscriptionArn")
	if err != nil {
		return nil, err
	}
	c.rec.Resources = topicResource(topicARN)
	t, err := getTopic(s.reader(ctx), topicARN)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeTopic(ctx, c, "Subscribe", t); err != nil {
		return nil, err
	}
	var result string
	err = s.commit(ctx, c, func(tx *journal.Tx) error {
		t, err := getTopic(tx, topicARN)
		if err != nil {
			return err
		}
		sub, err := scanSub(tx.QueryRow("SELECT "+subColumns+" FROM sns_subscriptions WHERE topic_arn = ? AND protocol = ? AND endpoint = ?",
			topicARN, protocol, endpoint))
		switch {
		case err == nil && sub.confirmed:
			for k, v := range attrs {
				if sub.attrs[k] != v {
					return invalid("Invalid parameter: Attributes Reason: Subscription already exists with different attributes")
				}
			}
		case err == nil:
			// Still pending: send the confirmation again, with the
			// attributes of this request.
			for k, v := range attrs {
				sub.attrs[k] = v
			}
			// The token's lifetime starts again with the new confirmation.
			if _, err := tx.Exec("UPDATE sns_subscriptions SET attributes = ?, created = ? WHERE arn = ?",
				string(mustJSON(sub.attrs)), time.Now().Unix(), sub.arn); err != nil {
				return fmt.Errorf("subscribe: %w", err)
			}
			if err := s.queueConfirmation(tx, t, sub); err != nil {
				return err
			}
		case errors.Is(err, errSubscriptionNotFound):
			sub = &subRow{
				arn:       topicARN + ":" + uuid.NewString(),
				topicARN:  topicARN,
				owner:     c.Principal.AccountID,
				principal: c.Principal.ARN(),
				region:    c.Region,
				protocol:  protocol,
				endpoint:  endpoint,
				token:     newToken(),
				attrs:     attrs,
			}
			if sub.attrs == nil {
				sub.attrs = map[string]string{}
			}
			if _, err := tx.Exec("INSERT INTO sns_subscriptions (arn, topic_arn, owner, principal, region, protocol, endpoint, token, confirmed, authenticated, attributes, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?)",
				sub.arn, sub.topicARN, sub.owner, sub.principal, sub.region, sub.protocol, sub.endpoint, sub.token,
				string(mustJSON(sub.attrs)), time.Now().Unix()); err != nil {
				return fmt.Errorf("subscribe: %w", err)
			}
			if err := s.queueConfirmation(tx, t, sub); err != nil {
				return err
			}
		default:
			return err
		}
		result = sub.arn
		if !sub.confirmed && !returnARN {
			result = pendingARN
		}
		c.rec.ResponseElements = params("subscriptionArn", result)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.notify()
	return subscribeResult{SubscriptionArn: result}, nil
}

// signatureVersion is the SignatureVersion of a topic's messages.
func signatureVersion(t *topicRow) string {
	if v := t.attrs[attrSignatureVersion]; v == "2" {
		return v
	}
	return "1"
}

// timestamp is the envelope's time format.
func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// queueConfirmation queues a SubscriptionConfirmation for sub.
func (s *Service) queueConfirmation(tx *journal.Tx, t *topicRow, sub *subRow) error {
	now := time.Now()
	e := &envelope{
		Type:      typeConfirmation,
		MessageID: uuid.NewString(),
		Token:     sub.token,
		TopicARN:  t.arn,
		Message: "You have chosen to subscribe to the topic " + t.arn +
			".\nTo confirm the subscription, visit the SubscribeURL included in this message.",
		SubscribeURL:     s.url("/", "Action", "ConfirmSubscription", "TopicArn", t.arn, "Token", sub.token),
		Timestamp:        timestamp(now),
		SignatureVersion: signatureVersion(t),
	}
	if err := s.sign(e); err != nil {
		return err
	}
	id, err := insertMessage(tx, e, "", now)
	if err != nil {
		return err
	}
	return insertDelivery(tx, id, sub.arn, now)
}

func insertMessage(tx *journal.Tx, e *envelope, attrs string, now time.Time) (int64, error) {
	res, err := tx.Exec("INSERT INTO sns_messages (message_id, type, topic_arn, subject, message, attributes, token, subscribe_url, timestamp, signature_version, signature, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		e.MessageID, e.Type, e.TopicARN, e.Subject, e.Message, attrs, e.Token, e.SubscribeURL, e.Timestamp, e.SignatureVersion, e.Signature, now.Unix())
	if err != nil {
		return 0, fmt.Errorf("queue message: %w", err)
	}
	return res.LastInsertId()
}

func insertDelivery(tx *journal.Tx, message int64, subARN string, now time.Time) error {
	ms := now.UnixMilli()
	if _, err := tx.Exec("INSERT INTO sns_deliveries (message, subscription_arn, next_attempt, created) VALUES (?, ?, ?, ?)",
		message, subARN, ms, ms); err != nil {
		return fmt.Errorf("queue delivery: %w", err)
	}
	return nil
}

type confirmSubscriptionResult struct {
	XMLName         xml.Name `xml:"ConfirmSubscriptionResult"`
	SubscriptionArn string
}

// confirm confirms the subscription to topicARN whose token is token and
// returns its ARN. Confirming a confirmed subscription again succeeds.
// authenticated records that a signed request asked for
// AuthenticateOnUnsubscribe.
func confirm(tx *journal.Tx, topicARN, token string, authenticated bool) (string, error) {
	if _, err := getTopic(tx, topicARN); err != nil {
		return "", err
	}
	sub, err := scanSub(tx.QueryRow("SELECT "+subColumns+" FROM sns_subscriptions WHERE topic_arn = ? AND token = ?", topicARN, token))
	if errors.Is(err, errSubscriptionNotFound) || (err == nil && !sub.confirmed && time.Since(time.Unix(sub.created, 0)) > tokenTTL) {
		return "", invalid("Invalid token")
	}
	if err != nil {
		return "", err
	}
	if _, err := tx.Exec("UPDATE sns_subscriptions SET confirmed = 1, authenticated = ? WHERE arn = ?",
		sub.authenticated || authenticated, sub.arn); err != nil {
		return "", fmt.Errorf("confirm subscription: %w", err)
	}
	return sub.arn, nil
}

func (s *Service) confirmSubscription(ctx context.Context, c *call) (any, error) {
	topicARN, err := c.topicParam("TopicArn")
	authOnUnsub := c.p.Get("AuthenticateOnUnsubscribe")
	// The token is left out of the record: it is a credential.
	c.rec.RequestParameters = params("topicArn", c.p.Get("TopicArn"), "authenticateOnUnsubscribe", authOnUnsub)
	if err != nil {
		return nil, err
	}
	token, err := c.required("Token")
	if err != nil {
		return nil, err
	}
	auth, err := boolParam(c.p, "AuthenticateOnUnsubscribe")
	if err != nil {
		return nil, err
	}
	c.rec.Resources = topicResource(topicARN)
	// The token proves the endpoint's consent; the front's authorization
	// still applies to signed calls.
	if err := c.authorize(ctx, "ConfirmSubscription", topicARN); err != nil {
		return nil, err
	}
	var arn string
	err = s.commit(ctx, c, func(tx *journal.Tx) error {
		var err error
		arn, err = confirm(tx, topicARN, token, auth)
		c.rec.ResponseElements = params("subscriptionArn", arn)
		return err
	})
	if err != nil {
		return nil, err
	}
	return confirmSubscriptionResult{SubscriptionArn: arn}, nil
}

// mayManage reports whether the caller may unsubscribe sub or read and set
// its attributes: its owner and the topic's owner may.
func (c *call) mayManage(sub *subRow, action string) error {
	a, _ := parseTopicARN(sub.topicARN)
	if c.Principal.AccountID == sub.owner || c.Principal.AccountID == a.AccountID {
		return nil
	}
	return c.notAuthorized(action, sub.arn)
}

func (s *Service) unsubscribe(ctx context.Context, c *call) (any, error) {
	c.rec.RequestParameters = params("subscriptionArn", c.p.Get("SubscriptionArn"))
	arn, topicARN, err := c.subscriptionParam("SubscriptionArn")
	if err != nil {
		return nil, err
	}
	c.rec.Resources = topicResource(topicARN)
	sub, err := getSub(s.reader(ctx), arn)
	if err != nil {
		return nil, err
	}
	if err := c.authorize(ctx, "Unsubscribe", topicARN); err != nil {
		return nil, err
	}
	if err := c.mayManage(sub, "Unsubscribe"); err != nil {
		return nil, err
	}
	return nil, s.commit(ctx, c, func(tx *journal.Tx) error {
		return deleteSubscription(tx, arn, topicARN)
	})
}

// deleteSubscription removes a subscription and what is queued for it.
func deleteSubscription(tx *journal.Tx, arn, topicARN string) error {
	res, err := tx.Exec("DELETE FROM sns_subscriptions WHERE arn = ?", arn)
	if err != nil {
		return fmt.Errorf("unsubscribe: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errSubscriptionNotFound
	}
	if _, err := tx.Exec("DELETE FROM sns_deliveries WHERE subscription_arn = ?", arn); err != nil {
		return fmt.Errorf("unsubscribe: %w", err)
	}
	if _, err := tx.Exec("DELETE FROM sns_messages WHERE topic_arn = ? AND NOT EXISTS (SELECT 1 FROM sns_deliveries d WHERE d.message = sns_messages.id)", topicARN); err != nil {
		return fmt.Errorf("unsubscribe: %w", err)
	}
	return nil
}

type listSubscriptionsResult struct {
	XMLName       xml.Name
	Subscriptions subscriptionList
	NextToken     string `xml:",omitempty"`
}

type subscriptionList struct {
	Members []subscriptionMember `xml:"member"`
}

type subscriptionMember struct {
	SubscriptionArn string
	Owner           string
	Protocol        string
	Endpoint        string
	TopicArn        string
}

func (s *Service) listSubscriptions(ctx context.Context, c *call) (any, error) {
	c.rec.ReadOnly = true
	tok := c.p.Get("NextToken")
	c.rec.RequestParameters = params("nextToken", tok)
	after, err := parsePageToken(tok)
	if err != nil {
		return nil, err
	}
	if err := c.authorize(ctx, "ListSubscriptions", "*"); err != nil {
		return nil, err
	}
	return s.listSubs(ctx, "ListSubscriptionsResult", "owner = ? AND region = ?", after, c.Principal.AccountID, c.Region)
}

func (s *Service) listSubscriptionsByTopic(ctx context.Context, c *call) (any, error) {
	c.rec.ReadOnly = true
	topicARN, err := c.topicParam("TopicArn")
	tok := c.p.Get("NextToken")
	c.rec.RequestParameters = params("topicArn", c.p.Get("TopicArn"), "nextToken", tok)
	if err != nil {
		return nil, err
	}
	after, err := parsePageToken(tok)
	if err != nil {
		return nil, err
	}
	c.rec.Resources = topicResource(topicARN)
	t, err := getTopic(s.reader(ctx), topicARN)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeTopic(ctx, c, "ListSubscriptionsByTopic", t); err != nil {
		return nil, err
	}
	return s.listSubs(ctx, "ListSubscriptionsByTopicResult", "topic_arn = ?", after, topicARN)
}

// listSubs returns one page of the subscriptions where cond holds.
func (s *Service) listSubs(ctx context.Context, result, cond string, after int64, args ...any) (any, error) {
	args = append(args, after, pageSize+1)
	rows, err := s.db.Reader().QueryContext(ctx,
		"SELECT id, arn, owner, protocol, endpoint, topic_arn, confirmed FROM sns_subscriptions WHERE "+cond+" AND id > ? ORDER BY id LIMIT ?", args...)
	if err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	defer rows.Close()
	res := listSubscriptionsResult{XMLName: xml.Name{Local: result}}
	var last int64
	for rows.Next() {
		var id int64
		var m subscriptionMember
		var confirmed bool
		if err := rows.Scan(&id, &m.SubscriptionArn, &m.Owner, &m.Protocol, &m.Endpoint, &m.TopicArn, &confirmed); err != nil {
			return nil, fmt.Errorf("list subscriptions: %w", err)
		}
		if len(res.Subscriptions.Members) == pageSize {
			res.NextToken = pageToken(last)
			break
		}
		if !confirmed {
			m.SubscriptionArn = pendingListed
		}
		res.Subscriptions.Members = append(res.Subscriptions.Members, m)
		last = id
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	return res, nil
}

type getSubscriptionAttributesResult struct {
	XMLName    xml.Name `xml:"GetSubscriptionAttributesResult"`
	Attributes attributes
}

func (s *Service) getSubscriptionAttributes(ctx context.Context, c *call) (any, error) {
	c.rec.ReadOnly = true
	c.rec.RequestParameters = params("subscriptionArn", c.p.Get("SubscriptionArn"))
	arn, topicARN, err := c.subscriptionParam("SubscriptionArn")
	if err != nil {
		return nil, err
	}
	c.rec.Resources = topicResource(topicARN)
	sub, err := getSub(s.reader(ctx), arn)
	if err != nil {
		return nil, err
	}
	if err := c.authorize(ctx, "GetSubscriptionAttributes", topicARN); err != nil {
		return nil, err
	}
	if err := c.mayManage(sub, "GetSubscriptionAttributes"); err != nil {
		return nil, err
	}
	attrs := map[string]string{
		"SubscriptionArn":              sub.arn,
		"TopicArn":                     sub.topicARN,
		"Owner":                        sub.owner,
		"Protocol":                     sub.protocol,
		"Endpoint":                     sub.endpoint,
		"SubscriptionPrincipal":        sub.principal,
		"ConfirmationWasAuthenticated": strconv.FormatBool(sub.authenticated),
		"PendingConfirmation":          strconv.FormatBool(!sub.confirmed),
		attrRawMessageDelivery:         "false",
		"EffectiveDeliveryPolicy":      s.effectiveDeliveryPolicy(),
	}
	for k, v := range sub.attrs {
		attrs[k] = v
	}
	return getSubscriptionAttributesResult{Attributes: attributesOf(attrs)}, nil
}

func (s *Service) setSubscriptionAttributes(ctx context.Context, c *call) (any, error) {
	name, value := c.p.Get("AttributeName"), c.p.Get("AttributeValue")
	c.rec.RequestParameters = params("subscriptionArn", c.p.Get("SubscriptionArn"), "attributeName", name, "attributeValue", value)
	arn, topicARN, err := c.subscriptionParam("SubscriptionArn")
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, errorf(codeMissingParameter, "The request must contain the parameter AttributeName.")
	}
	value, err = checkSubscriptionAttribute(name, value)
	if err != nil {
		return nil, err
	}
	c.rec.Resources = topicResource(topicARN)
	sub, err := getSub(s.reader(ctx), arn)
	if err != nil {
		return nil, err
	}
	if err := c.authorize(ctx, "SetSubscriptionAttributes", topicARN); err != nil {
		return nil, err
	}
	if err := c.mayManage(sub, "SetSubscriptionAttributes"); err != nil {
		return nil, err
	}
	return nil, s.commit(ctx, c, func(tx *journal.Tx) error {
		sub, err := getSub(tx, arn)
		if err != nil {
			return err
		}
		if value == "" {
			delete(sub.attrs, name)
		} else {
			sub.attrs[name] = value
		}
		if _, err := tx.Exec("UPDATE sns_subscriptions SET attributes = ? WHERE arn = ?", string(mustJSON(sub.attrs)), arn); err != nil {
			return fmt.Errorf("set subscription attributes: %w", err)
		}
		return nil
	})
}
