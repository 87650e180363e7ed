// Package sns is opentrail's embedded Amazon SNS: the topics a trail
// notifies after each log file it delivers, and their HTTP and HTTPS
// subscribers.
//
// It speaks SNS's query protocol (form-encoded requests, XML responses and
// errors, API version 2010-03-31), so the AWS CLI and SDKs work against it
// unchanged: Serve answers authenticated calls, ServeUnauthenticated the
// SubscribeURL that subscribers follow and the signing certificate. Topics,
// subscriptions, tags and undelivered messages live in the journal's SQLite
// database (see Migrations), and every state change commits in the same
// transaction as the CloudTrail record of the call that made it
// (svc.Call.Commit). Publish is recorded as a data event, with the message
// hidden as AWS hides it; unauthenticated confirmations are not recorded.
//
// Run delivers messages as SNS does: a SubscriptionConfirmation to each
// new subscriber, then one Notification per publish to each confirmed one,
// each a JSON envelope signed with opentrail's RSA key (SignatureVersion 1,
// SHA1withRSA, or 2, SHA256withRSA, over SNS's canonical string), whose
// self-signed certificate is served at SigningCertURL. Failed deliveries
// are retried with exponential backoff within a bounded number of attempts
// and time (see Options). Delivery is at least once: a message leaves the
// database only after its endpoint answered 2xx, so a crash between the
// two sends it again, as SNS may.
//
// The internal API (Topic, CanPublish, Publish) is what CloudTrail uses to
// check a trail's topic and to send its notifications.
//
// What opentrail's SNS is not: it delivers to http and https endpoints only
// (no SQS, Lambda, email, SMS or mobile push), and has no FIFO topics,
// filter policies, dead-letter queues, topic encryption, AddPermission or
// PublishBatch. Requests for those are refused with InvalidParameter or
// InvalidAction, never accepted and ignored. Delivery policies set on
// topics and subscriptions are validated, kept and returned, but the retry
// policy applied is opentrail's (EffectiveDeliveryPolicy shows it).
//
// Authorization: every call needs the API front's consent (svc.Call's
// Authorize, for the action "sns:<Action>" on the topic ARN, or "*" for
// the list calls). A call on a topic of another account also needs an
// Allow in the topic policy, and an applicable Deny in it refuses anyone.
// Topic policies are evaluated within the subset described at CanPublish,
// with AWS:SourceOwner, aws:PrincipalAccount and aws:PrincipalArn set to
// the caller's account and ARN. Subscriptions are managed by their owner
// and by the topic's owner; a confirmation token is its own authority.
package sns

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/opentrail/opentrail/journal"
)

// Migrations are the package's tables; pass them in journal.Options.
var Migrations = []journal.Migration{{Name: "sns/1", SQL: schema1}}

const schema1 = `
CREATE TABLE sns_topics (
	id         INTEGER PRIMARY KEY,   -- creation order: the ListTopics cursor
	arn        TEXT NOT NULL UNIQUE,
	account    TEXT NOT NULL,
	region     TEXT NOT NULL,
	name       TEXT NOT NULL,
	attributes TEXT NOT NULL,         -- JSON object of the settable attributes (Policy, DisplayName, ...)
	created    INTEGER NOT NULL       -- unix seconds
);
CREATE INDEX sns_topics_scope ON sns_topics (account, region, id);
CREATE TABLE sns_subscriptions (
	id            INTEGER PRIMARY KEY, -- creation order: the list cursor
	arn           TEXT NOT NULL UNIQUE,
	topic_arn     TEXT NOT NULL,
	owner         TEXT NOT NULL,       -- account that subscribed
	principal     TEXT NOT NULL,       -- ARN of the principal that subscribed
	region        TEXT NOT NULL,
	protocol      TEXT NOT NULL,       -- http or https
	endpoint      TEXT NOT NULL,
	token         TEXT NOT NULL,       -- confirmation token
	confirmed     INTEGER NOT NULL,    -- 0 pending confirmation, 1 confirmed
	authenticated INTEGER NOT NULL,    -- ConfirmationWasAuthenticated
	attributes    TEXT NOT NULL,       -- JSON object: RawMessageDelivery, DeliveryPolicy
	created       INTEGER NOT NULL     -- unix seconds
);
CREATE INDEX sns_subscriptions_topic ON sns_subscriptions (topic_arn, id);
CREATE INDEX sns_subscriptions_owner ON sns_subscriptions (owner, region, id);
CREATE UNIQUE INDEX sns_subscriptions_endpoint ON sns_subscriptions (topic_arn, protocol, endpoint);
CREATE TABLE sns_tags (
	arn   TEXT NOT NULL,
	key   TEXT NOT NULL,
	value TEXT NOT NULL,
	PRIMARY KEY (arn, key)
);
CREATE TABLE sns_messages (
	id                INTEGER PRIMARY KEY,
	message_id        TEXT NOT NULL,   -- the envelope's MessageId
	type              TEXT NOT NULL,   -- Notification or SubscriptionConfirmation
	topic_arn         TEXT NOT NULL,
	subject           TEXT NOT NULL,
	message           TEXT NOT NULL,
	attributes        TEXT NOT NULL,   -- JSON of the envelope's MessageAttributes, '' if none
	token             TEXT NOT NULL,   -- SubscriptionConfirmation only
	subscribe_url     TEXT NOT NULL,   -- SubscriptionConfirmation only
	timestamp         TEXT NOT NULL,
	signature_version TEXT NOT NULL,
	signature         TEXT NOT NULL,
	created           INTEGER NOT NULL -- unix seconds
);
CREATE TABLE sns_deliveries (
	id               INTEGER PRIMARY KEY,
	message          INTEGER NOT NULL, -- sns_messages.id
	subscription_arn TEXT NOT NULL,
	attempts         INTEGER NOT NULL DEFAULT 0,
	next_attempt     INTEGER NOT NULL, -- unix milliseconds
	created          INTEGER NOT NULL, -- unix milliseconds
	last_error       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sns_deliveries_due ON sns_deliveries (next_attempt);
CREATE INDEX sns_deliveries_subscription ON sns_deliveries (subscription_arn, next_attempt, id);
CREATE INDEX sns_deliveries_message ON sns_deliveries (message);
CREATE TABLE sns_keys (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	pem     TEXT NOT NULL,             -- PKCS#8 private key, used when Options names no key
	created INTEGER NOT NULL
);
`

// Options configure a Service.
type Options struct {
	// BaseURL is opentrail's endpoint as subscribers reach it, for example
	// "https://opentrail.example.com:4566". SubscribeURL, UnsubscribeURL and
	// SigningCertURL are built from it. Required.
	BaseURL string

	// Key signs messages. If nil, the key is read from KeyFile, which is
	// created with a new 2048-bit key (mode 0600) if it does not exist; if
	// KeyFile is empty too, a key is generated once and kept in the
	// database.
	Key     *rsa.PrivateKey
	KeyFile string

	// Client sends deliveries. Nil means a client with a 15-second timeout
	// (SNS's HTTP delivery timeout) that does not follow redirects. A
	// client given here should have a timeout too: a hung endpoint holds
	// one of the Concurrency delivery slots until it times out.
	Client *http.Client

	// Concurrency bounds the delivery attempts in flight (default 8). At
	// most one attempt per subscription is in flight at a time.
	Concurrency int

	// The retry policy. A delivery that fails (a connection error, a
	// timeout or a status other than 2xx) is tried again after
	// MinRetryDelay, then after twice that each time, at most
	// MaxRetryDelay apart, until it has been tried MaxAttempts times or
	// MaxAge has passed since it was queued; then it is dropped and
	// logged. Defaults: 1 s, 60 s, 10 attempts, 1 hour.
	MinRetryDelay time.Duration
	MaxRetryDelay time.Duration
	MaxAttempts   int
	MaxAge        time.Duration

	// Logger receives delivery failures; nil discards them.
	Logger *slog.Logger
}

// Service is the embedded SNS. It is safe for concurrent use. Its state is
// in the database; a new Service on the same database picks up topics,
// subscriptions and pending deliveries where the last one left them.
type Service struct {
	db   *journal.DB
	log  *slog.Logger
	base *url.URL // BaseURL without a trailing slash in Path

	key        *rsa.PrivateKey
	certPEM    []byte
	client     *http.Client
	concurrent int
	minDelay   time.Duration
	maxDelay   time.Duration
	attempts   int
	maxAge     time.Duration

	wake chan struct{} // signalled when deliveries are queued
	mu   sync.Mutex    // guards run
	run  bool          // a Run is active
}

// ErrNotFound is returned by Topic, CanPublish and Publish when the topic
// does not exist.
var ErrNotFound = errors.New("sns: topic does not exist")

// ErrInvalidTopic is returned by Topic, CanPublish and Publish when the
// reference is neither a valid topic name nor a topic ARN.
var ErrInvalidTopic = errors.New("sns: invalid topic name or ARN")

// New returns the service over db, whose Options must have included
// Migrations. It loads or creates the signing key.
func New(db *journal.DB, opts Options) (*Service, error) {
	ctx := context.Background()
	if opts.BaseURL == "" {
		return nil, errors.New("new sns: Options.BaseURL is required")
	}
	base, err := url.Parse(opts.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("new sns: BaseURL %q is not an http or https URL", opts.BaseURL)
	}
	base.Path = strings.TrimSuffix(base.Path, "/")
	base.RawQuery, base.Fragment = "", ""
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		db:         db,
		log:        opts.Logger,
		base:       base,
		client:     opts.Client,
		concurrent: opts.Concurrency,
		minDelay:   opts.MinRetryDelay,
		maxDelay:   opts.MaxRetryDelay,
		attempts:   opts.MaxAttempts,
		maxAge:     opts.MaxAge,
		wake:       make(chan struct{}, 1),
	}
	if s.client == nil {
		s.client = &http.Client{
			Timeout:       15 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if s.concurrent <= 0 {
		s.concurrent = 8
	}
	if s.minDelay <= 0 {
		s.minDelay = time.Second
	}
	if s.maxDelay <= 0 {
		s.maxDelay = time.Minute
	}
	s.maxDelay = max(s.maxDelay, s.minDelay)
	if s.attempts <= 0 {
		s.attempts = 10
	}
	if s.maxAge <= 0 {
		s.maxAge = time.Hour
	}
	if err := s.loadKey(ctx, opts); err != nil {
		return nil, fmt.Errorf("new sns: %w", err)
	}
	return s, nil
}

// CertPath is the path, under BaseURL, of the signing certificate.
const CertPath = "/opentrail/sns/SimpleNotificationService.pem"

// SigningCertURL is the URL of the certificate that verifies the service's
// message signatures.
func (s *Service) SigningCertURL() string { return s.url(CertPath) }

// CertificatePEM is the signing certificate, PEM-encoded.
func (s *Service) CertificatePEM() []byte { return s.certPEM }

// url is BaseURL joined with path and a query of name, value pairs, in
// their order (SNS writes Action first).
func (s *Service) url(path string, query ...string) string {
	u := *s.base
	u.Path += path
	u.RawPath = ""
	var b strings.Builder
	for i := 0; i+1 < len(query); i += 2 {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(query[i]) + "=" + url.QueryEscape(query[i+1]))
	}
	u.RawQuery = b.String()
	return u.String()
}

// notify wakes the delivery loop.
func (s *Service) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
