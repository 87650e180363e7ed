package sns

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/journal"
)

// maxMessage bounds a message with its attributes, as SNS does (256 KB).
const maxMessage = 256 * 1024

// hidden replaces message content in CloudTrail records, as AWS does.
const hidden = "HIDDEN_DUE_TO_SECURITY_REASONS"

const codeParameterValueInvalid = "ParameterValueInvalid"

// outgoing is a message ready to be queued: one envelope per distinct
// body (MessageStructure json may give http and https different bodies).
type outgoing struct {
	topicARN string
	// byProtocol maps "http" and "https" to the envelope their
	// subscribers get.
	byProtocol map[string]*envelope
	attrs      string // JSON of the envelope's MessageAttributes, "" if none
}

// checkSubject applies SNS's rules: at most 100 characters, no line
// breaks or control characters.
func checkSubject(subject string) error {
	if !utf8.ValidString(subject) || utf8.RuneCountInString(subject) > 100 {
		return invalid("Invalid parameter: Subject")
	}
	for _, r := range subject {
		if unicode.IsControl(r) {
			return invalid("Invalid parameter: Subject")
		}
	}
	return nil
}

// bodies resolves a message and its MessageStructure into the body each
// protocol gets.
func bodies(message, structure string) (map[string]string, error) {
	switch structure {
	case "":
		return map[string]string{"http": message, "https": message}, nil
	case "json":
	default:
		return nil, invalid("Invalid parameter: MessageStructure")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(message), &m); err != nil {
		return nil, invalid("Invalid parameter: Message Structure - JSON message body failed to parse")
	}
	out := map[string]string{}
	for _, k := range []string{"default", "http", "https"} {
		raw, ok := m[k]
		if !ok {
			continue
		}
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, invalid("Invalid parameter: Message Structure - the value of %s must be a string", k)
		}
		out[k] = v
	}
	def, ok := out["default"]
	if !ok {
		return nil, invalid("Invalid parameter: Message Structure - No default entry in JSON message body")
	}
	for _, p := range []string{"http", "https"} {
		if _, ok := out[p]; !ok {
			out[p] = def
		}
	}
	delete(out, "default")
	return out, nil
}

// messageAttributes reads MessageAttributes.entry.N.{Name,Value.DataType,
// Value.StringValue,Value.BinaryValue} into the envelope's form, and
// returns their size as SNS counts it (names, types and values).
func messageAttributes(c *call) (map[string]envelopeValue, int, error) {
	var out map[string]envelopeValue
	size := 0
	for i := 1; ; i++ {
		prefix := "MessageAttributes.entry." + strconv.Itoa(i) + "."
		names, ok := c.p[prefix+"Name"]
		if !ok {
			return out, size, nil
		}
		name := names[0]
		if err := checkAttributeName(name); err != nil {
			return nil, 0, err
		}
		typ := c.p.Get(prefix + "Value.DataType")
		base, _, _ := strings.Cut(typ, ".")
		if strings.HasPrefix(typ, "String.Array") {
			base = "String.Array"
		}
		var value string
		sv, hasString := c.p[prefix+"Value.StringValue"]
		bv, hasBinary := c.p[prefix+"Value.BinaryValue"]
		switch base {
		case "String", "Number", "String.Array":
			if !hasString || sv[0] == "" {
				return nil, 0, errorf(codeParameterValueInvalid, "The message attribute '%s' must contain non-empty message attribute value for message attribute type '%s'.", name, truncate(typ, 256))
			}
			value = sv[0]
			if base == "Number" {
				if _, err := strconv.ParseFloat(value, 64); err != nil {
					return nil, 0, errorf(codeParameterValueInvalid, "Could not cast message attribute '%s' value to number.", name)
				}
			}
			if base == "String.Array" {
				var arr []any
				if err := json.Unmarshal([]byte(value), &arr); err != nil {
					return nil, 0, errorf(codeParameterValueInvalid, "The message attribute '%s' with type 'String.Array' has an invalid value.", name)
				}
			}
		case "Binary":
			if !hasBinary || bv[0] == "" {
				return nil, 0, errorf(codeParameterValueInvalid, "The message attribute '%s' must contain non-empty message attribute value for message attribute type 'Binary'.", name)
			}
			b, err := base64.StdEncoding.DecodeString(bv[0])
			if err != nil {
				return nil, 0, errorf(codeParameterValueInvalid, "The message attribute '%s' has an invalid binary value.", name)
			}
			value = base64.StdEncoding.EncodeToString(b)
			size += len(b) - len(value)
		default:
			return nil, 0, errorf(codeParameterValueInvalid, "The message attribute '%s' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.", name)
		}
		if out == nil {
			out = map[string]envelopeValue{}
		}
		out[name] = envelopeValue{Type: typ, Value: value}
		size += len(name) + len(typ) + len(value)
	}
}

// checkAttributeName applies SNS's rules for message attribute names.
func checkAttributeName(name string) error {
	bad := name == "" || len(name) > 256 || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") ||
		strings.Contains(name, "..") || strings.HasPrefix(strings.ToLower(name), "aws.") || strings.HasPrefix(strings.ToLower(name), "amazon.")
	for i := 0; i < len(name) && !bad; i++ {
		c := name[i]
		bad = !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.')
	}
	if bad {
		return errorf(codeParameterValueInvalid, "Message attribute name '%s' is invalid.", truncate(name, 256))
	}
	return nil
}

// prepare builds the envelopes of a message published to t. It signs them
// only if t has confirmed subscriptions (signing costs about a
// millisecond); queue signs what a subscription confirmed meanwhile needs.
func (s *Service) prepare(ctx context.Context, t *topicRow, subject string, bodies map[string]string, attrs map[string]envelopeValue) (*outgoing, error) {
	var subscribed bool
	if err := s.db.Reader().QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM sns_subscriptions WHERE topic_arn = ? AND confirmed = 1)", t.arn).Scan(&subscribed); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	o := &outgoing{topicARN: t.arn, byProtocol: map[string]*envelope{}}
	if len(attrs) > 0 {
		o.attrs = string(mustJSON(attrs))
	}
	id := uuid.NewString()
	ts := timestamp(time.Now())
	for _, p := range []string{"http", "https"} {
		if p == "https" && bodies["https"] == bodies["http"] {
			o.byProtocol[p] = o.byProtocol["http"]
			continue
		}
		e := &envelope{
			Type:             typeNotification,
			MessageID:        id,
			TopicARN:         t.arn,
			Subject:          subject,
			Message:          bodies[p],
			Timestamp:        ts,
			SignatureVersion: signatureVersion(t),
		}
		if subscribed {
			if err := s.sign(e); err != nil {
				return nil, err
			}
		}
		o.byProtocol[p] = e
	}
	return o, nil
}

// queue stores o and a delivery of it for each confirmed subscription of
// its topic, which must exist.
func (s *Service) queue(tx *journal.Tx, o *outgoing) error {
	if _, err := getTopic(tx, o.topicARN); err != nil {
		return err
	}
	rows, err := tx.Query("SELECT arn, protocol FROM sns_subscriptions WHERE topic_arn = ? AND confirmed = 1", o.topicARN)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	type target struct{ arn, protocol string }
	var targets []target
	for rows.Next() {
		var t target
		if err := rows.Scan(&t.arn, &t.protocol); err != nil {
			rows.Close()
			return fmt.Errorf("publish: %w", err)
		}
		targets = append(targets, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	now := time.Now()
	stored := map[*envelope]int64{}
	for _, t := range targets {
		e := o.byProtocol[t.protocol]
		if e == nil {
			continue
		}
		id, ok := stored[e]
		if !ok {
			if e.Signature == "" {
				if err := s.sign(e); err != nil {
					return err
				}
			}
			if id, err = insertMessage(tx, e, o.attrs, now); err != nil {
				return err
			}
			stored[e] = id
		}
		if err := insertDelivery(tx, id, t.arn, now); err != nil {
			return err
		}
	}
	return nil
}

type publishResult struct {
	XMLName   xml.Name `xml:"PublishResult"`
	MessageId string
}

func (s *Service) publishAction(ctx context.Context, c *call) (any, error) {
	c.rec.Data = true
	arnParam := "TopicArn"
	if c.p.Get("TopicArn") == "" && c.p.Get("TargetArn") != "" {
		arnParam = "TargetArn"
	}
	message, hasMessage := c.p["Message"]
	subject, structure := c.p.Get("Subject"), c.p.Get("MessageStructure")
	_, hasAttrs := c.p["MessageAttributes.entry.1.Name"]
	hide := func(present bool) string {
		if present {
			return hidden
		}
		return ""
	}
	c.rec.RequestParameters = params(strings.ToLower(arnParam[:1])+arnParam[1:], c.p.Get(arnParam),
		"message", hide(hasMessage), "subject", hide(subject != ""), "messageStructure", structure,
		"messageAttributes", hide(hasAttrs), "phoneNumber", c.p.Get("PhoneNumber"))
	if c.p.Get("PhoneNumber") != "" {
		return nil, invalid("Invalid parameter: PhoneNumber: opentrail does not send SMS; publish to a topic")
	}
	if c.p.Get(arnParam) == "" {
		return nil, errorf(codeMissingParameter, "The request must contain the parameter TopicArn.")
	}
	topicARN, err := c.topicParam(arnParam)
	if err != nil {
		return nil, err
	}
	if !hasMessage {
		return nil, errorf(codeMissingParameter, "The request must contain the parameter Message.")
	}
	if message[0] == "" {
		return nil, invalid("Invalid parameter: Empty message")
	}
	if c.p.Get("MessageDeduplicationId") != "" {
		return nil, invalid("Invalid parameter: MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid for this topic type")
	}
	if err := checkSubject(subject); err != nil {
		return nil, err
	}
	attrs, size, err := messageAttributes(c)
	if err != nil {
		return nil, err
	}
	if len(message[0])+size > maxMessage {
		return nil, invalid("Invalid parameter: Message too long")
	}
	b, err := bodies(message[0], structure)
	if err != nil {
		return nil, err
	}
	c.rec.Resources = topicResource(topicARN)
	t, err := getTopic(s.reader(ctx), topicARN)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeTopic(ctx, c, "Publish", t); err != nil {
		return nil, err
	}
	o, err := s.prepare(ctx, t, subject, b, attrs)
	if err != nil {
		return nil, err
	}
	id := o.byProtocol["http"].MessageID
	err = s.commit(ctx, c, func(tx *journal.Tx) error {
		c.rec.ResponseElements = params("messageId", id)
		return s.queue(tx, o)
	})
	if err != nil {
		return nil, err
	}
	s.notify()
	return publishResult{MessageId: id}, nil
}

// Publish publishes message, with an optional subject, to the topic
// topicARN on behalf of opentrail itself (CloudTrail's notifications) and
// returns its MessageId. It checks no policy (see CanPublish) and records
// nothing. The message is queued for every confirmed subscriber before
// Publish returns; Run delivers it. Errors: ErrInvalidTopic, ErrNotFound,
// or an *opentrail.Error for a subject or message SNS would refuse.
func (s *Service) Publish(ctx context.Context, topicARN, subject, message string) (string, error) {
	if _, ok := parseTopicARN(topicARN); !ok {
		return "", ErrInvalidTopic
	}
	if message == "" {
		return "", invalid("Invalid parameter: Empty message")
	}
	if len(message) > maxMessage {
		return "", invalid("Invalid parameter: Message too long")
	}
	if err := checkSubject(subject); err != nil {
		return "", err
	}
	t, err := getTopic(s.reader(ctx), topicARN)
	if errors.Is(err, errTopicNotFound) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("publish to %s: %w", topicARN, err)
	}
	o, err := s.prepare(ctx, t, subject, map[string]string{"http": message, "https": message}, nil)
	if err != nil {
		return "", fmt.Errorf("publish to %s: %w", topicARN, err)
	}
	err = s.db.Update(ctx, func(tx *journal.Tx) error { return s.queue(tx, o) })
	if errors.Is(err, errTopicNotFound) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("publish to %s: %w", topicARN, err)
	}
	s.notify()
	return o.byProtocol["http"].MessageID, nil
}

// Topic returns the topic ref names: a topic ARN, or a name in account and
// region. Errors: ErrInvalidTopic when ref is neither, ErrNotFound when
// there is no such topic.
func (s *Service) Topic(ctx context.Context, ref, account, region string) (*Topic, error) {
	arn := ref
	if strings.HasPrefix(ref, "arn:") {
		if _, ok := parseTopicARN(ref); !ok {
			return nil, ErrInvalidTopic
		}
	} else {
		if !validTopicName(ref) {
			return nil, ErrInvalidTopic
		}
		arn = topicARN(region, account, ref)
	}
	q := s.reader(ctx)
	t, err := getTopic(q, arn)
	if errors.Is(err, errTopicNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("topic %s: %w", arn, err)
	}
	attrs, err := s.topicAttributes(q, t)
	if err != nil {
		return nil, fmt.Errorf("topic %s: %w", arn, err)
	}
	return &Topic{ARN: t.arn, Name: t.name, Account: t.account, Region: t.region, Attributes: attrs, Created: time.Unix(t.created, 0).UTC()}, nil
}

// CanPublish reports whether the policy of topic topicARN allows the
// service principal (for example "cloudtrail.amazonaws.com") to publish to
// it on behalf of sourceARN (for example a trail's ARN), as CloudTrail
// checks before it accepts a trail's SnsTopicName. It returns ErrNotFound
// when the topic does not exist and ErrInvalidTopic for a malformed ARN.
//
// What is evaluated: each statement's Effect (an applicable Deny wins over
// any Allow), Principal ("*", {"AWS": ...} which never matches a service
// principal, {"Service": ...}), Action (with * and ? wildcards, case
// insensitive: SNS:Publish, sns:*, *), Resource (wildcards; absent means
// any), and Condition with the String and Arn operators (Equals,
// NotEquals, Like, NotLike, StringEqualsIgnoreCase, ...IfExists) on the
// keys aws:SourceArn (sourceARN), aws:SourceAccount and AWS:SourceOwner
// (sourceARN's account). A statement with an operator or key opentrail
// does not know, or with NotPrincipal, NotAction or NotResource, never
// allows and, if it is a Deny, always denies.
func (s *Service) CanPublish(ctx context.Context, topicARN, servicePrincipal, sourceARN string) (bool, error) {
	if _, ok := parseTopicARN(topicARN); !ok {
		return false, ErrInvalidTopic
	}
	t, err := getTopic(s.reader(ctx), topicARN)
	if errors.Is(err, errTopicNotFound) {
		return false, ErrNotFound
	}
	if err != nil {
		return false, fmt.Errorf("topic policy of %s: %w", topicARN, err)
	}
	p, err := parsePolicy(t.attrs[attrPolicy])
	if err != nil {
		return false, nil
	}
	keys := map[string]string{}
	if sourceARN != "" {
		keys["aws:sourcearn"] = sourceARN
		if a, ok := opentrail.ParseARN(sourceARN); ok && a.AccountID != "" {
			keys["aws:sourceaccount"] = a.AccountID
			keys["aws:sourceowner"] = a.AccountID
		}
	}
	allow, deny := p.evaluate(request{service: servicePrincipal, action: "SNS:Publish", resource: topicARN, keys: keys})
	return allow && !deny, nil
}

// jsonNoEscape marshals v without HTML escaping, as SNS writes envelopes.
func jsonNoEscape(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
