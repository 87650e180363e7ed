// Package delivery turns the journal into trails' log files: one consumer
// per trail reads the journal in order, picks the events the trail records
// (its account, its regions, its selectors, while it is logging, each event
// judged by the configuration the trail had when the event was recorded),
// and writes them as gzipped {"Records":[...]} files at AWS's keys, then
// notifies the trail's topic.
//
// Delivery is exactly-once across crashes: before writing, a consumer
// stores an intent naming the journal range a batch covers; files are a
// pure function of that range (their keys and contents are derived from
// the events in it), so after a crash the intent is redone and rewrites the
// same objects; the checkpoint moves past the range only once the files are
// written and the topic notified.
package delivery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/journal"
)

// ObjectStore is where log files go: the trail's bucket backend.
type ObjectStore interface {
	// PutObject stores an object; a retry with the same key and body
	// must be harmless.
	PutObject(ctx context.Context, bucket, key string, body []byte, opts PutOptions) error
}

// PutOptions are the object attributes of a log file.
type PutOptions struct {
	ContentType     string
	ContentEncoding string
	// KMSKeyID, when set, asks for SSE-KMS with that key.
	KMSKeyID string
	// EncryptionContext is the KMS encryption context (aws:cloudtrail:arn).
	EncryptionContext map[string]string
	// Metadata is user metadata (x-amz-meta-*): digests' signatures.
	Metadata map[string]string
}

// Notifier tells a topic about delivered files.
type Notifier interface {
	// Publish sends message to the topic as CloudTrail (the service
	// principal cloudtrail.amazonaws.com) does.
	Publish(ctx context.Context, topicARN, message string) error
}

// Delivered is a file a consumer wrote, for observers (digests, tests).
type Delivered struct {
	Trail  string // trail ARN
	Bucket string
	Key    string
	Region string
	// Hash is the SHA-256 of the uncompressed file; Oldest and Newest are
	// its oldest and newest event times; At is the delivery time.
	Hash           [32]byte
	Oldest, Newest time.Time
	At             time.Time
}

// Options configure a Manager.
type Options struct {
	DB       *journal.DB
	Store    ObjectStore
	Notifier Notifier // nil: no notifications
	// Interval is the longest an event waits before its file is written
	// (AWS: about 5 minutes).
	Interval time.Duration
	// MaxFileBytes bounds a file's uncompressed size (AWS: 50 MB).
	MaxFileBytes int
	Logger       *slog.Logger
	Now          func() time.Time
	// OnDelivered, if set, is called after each file is written.
	OnDelivered func(Delivered)
	// Signers, if set, sign the digest files of trails with log file
	// validation; nil: no digests.
	Signers Signers
	// DigestInterval is how long a digest covers (AWS: an hour).
	DigestInterval time.Duration
	// Regions are the regions a multi-region trail delivers digests for.
	Regions []string
}

// DefaultInterval is AWS's typical delivery interval.
const DefaultInterval = 5 * time.Minute

// defaultMaxFileBytes keeps files under AWS's 50 MB limit.
const defaultMaxFileBytes = 45 << 20

// Manager runs one consumer per trail.
type Manager struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	running map[string]bool
	wg      sync.WaitGroup
}

// New returns a Manager; call Run.
func New(opts Options) *Manager {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.DigestInterval <= 0 {
		opts.DigestInterval = DefaultDigestInterval
	}
	if opts.MaxFileBytes <= 0 {
		opts.MaxFileBytes = defaultMaxFileBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Manager{opts: opts, log: opts.Logger.With(slog.String("component", "delivery")), running: map[string]bool{}}
}

// Migrations are the tables of package delivery.
var Migrations = []journal.Migration{{Name: "delivery/1", SQL: `
CREATE TABLE delivery_intents (
	trail   TEXT NOT NULL,     -- trail ARN
	lo      INTEGER NOT NULL,  -- the batch covers journal seqs (lo, hi]
	hi      INTEGER NOT NULL,
	created INTEGER NOT NULL,  -- unix seconds: the delivery time in the files' keys
	written INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (trail, lo)
);`}, digestMigration}

// Run starts a consumer for every trail and keeps doing so as trails are
// created, until ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		arns, err := m.opts.DB.TrailARNsWithVersions(ctx)
		if err != nil && ctx.Err() == nil {
			m.log.Error("list trails", slog.String("err", err.Error()))
		}
		for _, arn := range arns {
			m.mu.Lock()
			if !m.running[arn] {
				m.running[arn] = true
				m.wg.Add(1)
				go m.consume(ctx, arn)
			}
			m.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			m.wg.Wait()
			return nil
		case <-t.C:
		}
	}
}

func consumerName(arn string) string { return "trail:" + arn }

// consume runs one trail's consumer until ctx ends or the trail is deleted
// and everything it recorded is delivered.
func (m *Manager) consume(ctx context.Context, arn string) {
	defer m.wg.Done()
	defer func() {
		m.mu.Lock()
		delete(m.running, arn)
		m.mu.Unlock()
	}()
	c := &consumer{m: m, arn: arn, log: m.log.With(slog.String("trail", arn))}
	journal.RunConsumer(ctx, c.log, "delivery", c.run)
}

// consumer delivers one trail.
type consumer struct {
	m        *Manager
	arn      string
	log      *slog.Logger
	versions []journal.TrailVersion
	matchers map[int64]*opentrail.Matcher // by version seq
	// noChains: no digest chain was open at the last look while log file
	// validation was off, so digests need not read the database.
	noChains bool
}

// errDone ends a consumer whose trail is gone.
var errDone = errors.New("trail deleted and delivered")

// run redoes pending intents, then delivers new events until ctx ends, an
// error occurs (the caller retries), or the trail is deleted and done.
func (c *consumer) run(ctx context.Context) (done bool, err error) {
	db := c.m.opts.DB
	if err := c.loadVersions(ctx); err != nil {
		return false, err
	}
	if err := c.redoIntents(ctx); err != nil {
		return false, err
	}
	after, err := db.Checkpoint(ctx, consumerName(c.arn))
	if err != nil {
		return false, err
	}
	lo := after
	var first time.Time // when the first event of the batch was seen
	sizes := map[string]int{}
	lastCheckpoint := time.Now()
	for {
		rows, err := db.Feed(ctx, after, 5000)
		if err != nil {
			return false, err
		}
		if err := c.loadVersions(ctx); err != nil {
			return false, err
		}
		for i := range rows {
			r := &rows[i]
			if _, ok, err := c.pick(ctx, r); err != nil {
				return false, err
			} else if ok {
				if first.IsZero() {
					first = c.m.opts.Now()
				}
				_, region, _ := c.m.opts.DB.ScopeOf(ctx, r.Scope)
				sizes[region] += len(r.StoredBody()) * 3 // about the record's size
				if sizes[region] >= c.m.opts.MaxFileBytes {
					// A file is full: deliver what is gathered now.
					if err := c.deliver(ctx, lo, r.Seq); err != nil {
						return false, err
					}
					lo, first, sizes = r.Seq, time.Time{}, map[string]int{}
				}
			}
			after = r.Seq
		}
		now := c.m.opts.Now()
		if !first.IsZero() && now.Sub(first) >= c.m.opts.Interval {
			if err := c.deliver(ctx, lo, after); err != nil {
				return false, err
			}
			lo, first, sizes = after, time.Time{}, map[string]int{}
		}
		if first.IsZero() && after > lo && (len(rows) == 0 || time.Since(lastCheckpoint) > time.Second) {
			// Nothing for this trail in (lo, after]: move past it so the
			// journal can let those events go.
			if err := db.Update(ctx, func(tx *journal.Tx) error { return tx.SetCheckpoint(consumerName(c.arn), after) }); err != nil {
				return false, err
			}
			lo, lastCheckpoint = after, time.Now()
		}
		if c.deletedBy(after) && !first.IsZero() {
			// The trail is gone: what it recorded before goes out now.
			if err := c.deliver(ctx, lo, after); err != nil {
				return false, err
			}
			lo, first, sizes = after, time.Time{}, map[string]int{}
		}
		if err := c.digests(ctx, first.IsZero(), c.deletedBy(after) && first.IsZero()); err != nil {
			return false, err
		}
		if c.deletedBy(after) && first.IsZero() {
			// Everything the trail recorded is delivered.
			err := db.Update(ctx, func(tx *journal.Tx) error {
				if err := tx.DeleteCheckpoint(consumerName(c.arn)); err != nil {
					return err
				}
				return tx.ForgetTrailVersions(c.arn)
			})
			return err == nil, err
		}
		if len(rows) > 0 {
			continue
		}
		wait := time.Second
		if !first.IsZero() {
			wait = max(time.Millisecond, c.m.opts.Interval-now.Sub(first))
		}
		wctx, cancel := context.WithTimeout(ctx, wait)
		_, werr := db.WaitHead(wctx, after)
		cancel()
		if ctx.Err() != nil {
			return false, nil
		}
		if errors.Is(werr, journal.ErrClosed) {
			return false, werr
		}
	}
}

func (c *consumer) loadVersions(ctx context.Context) error {
	var after int64
	if n := len(c.versions); n > 0 {
		after = c.versions[n-1].Seq
	}
	vs, err := c.m.opts.DB.TrailVersions(ctx, c.arn, after)
	if err != nil {
		return err
	}
	if c.matchers == nil {
		c.matchers = map[int64]*opentrail.Matcher{}
	}
	for _, v := range vs {
		if v.Trail != nil {
			m, err := opentrail.CompileTrailSelectors(v.Trail.EventSelectors, v.Trail.AdvancedEventSelectors)
			if err != nil {
				return fmt.Errorf("trail %s version %d: %w", c.arn, v.Seq, err)
			}
			c.matchers[v.Seq] = m
		}
	}
	c.versions = append(c.versions, vs...)
	return nil
}

// versionAt returns the versions in force just before and at seq (either
// may be zero when the trail did not exist).
func (c *consumer) versionAt(seq int64) (before, at journal.TrailVersion) {
	for _, v := range c.versions {
		if v.Seq < seq {
			before = v
		}
		if v.Seq <= seq {
			at = v
		}
	}
	return before, at
}

// deletedBy reports whether the trail was deleted at or before seq.
func (c *consumer) deletedBy(seq int64) bool {
	n := len(c.versions)
	return n > 0 && c.versions[n-1].Trail == nil && c.versions[n-1].Seq <= seq
}

// pick decides whether the trail delivers an event, judging it by the
// configuration in force when the event was recorded. A call that changes
// logging is delivered if logging was on just before or after it (so the
// StartLogging and StopLogging calls themselves are in the files).
func (c *consumer) pick(ctx context.Context, r *journal.Row) (*opentrail.Summary, bool, error) {
	if !r.Trails() {
		return nil, false, nil
	}
	before, at := c.versionAt(r.Seq)
	v := at
	if v.Trail == nil || !v.Trail.Logging {
		v = before
	}
	if v.Trail == nil || !v.Trail.Logging {
		return nil, false, nil
	}
	t := v.Trail
	account, region, err := c.m.opts.DB.ScopeOf(ctx, r.Scope)
	if err != nil {
		return nil, false, err
	}
	if account != t.Account || !t.Covers(region) {
		return nil, false, nil
	}
	sum, err := r.Summary()
	if err != nil {
		return nil, false, nil // not a record a trail can deliver
	}
	if opentrail.GlobalServices[sum.EventSource] && !t.IncludeGlobalServiceEvents {
		return nil, false, nil
	}
	judged := sum
	if r.Origin() == journal.OriginChannel && sum.Category == opentrail.CategoryActivityAuditLog {
		// Events a channel routes to the account's CloudTrail are selected
		// as management events (trails' selectors have no category for
		// them).
		s := *sum
		s.Category = opentrail.CategoryManagement
		judged = &s
	}
	if !c.matchers[v.Seq].Match(judged) {
		return nil, false, nil
	}
	return sum, true, nil
}

// trailFor returns the configuration to deliver a batch ending at hi with:
// the bucket and prefix in force at its end (or before its deletion).
func (c *consumer) trailFor(hi int64) *opentrail.Trail {
	before, at := c.versionAt(hi)
	if at.Trail != nil {
		return at.Trail
	}
	if before.Trail != nil {
		return before.Trail
	}
	for i := len(c.versions) - 1; i >= 0; i-- {
		if c.versions[i].Trail != nil {
			return c.versions[i].Trail
		}
	}
	return nil
}

// deliver writes the files of the batch (lo, hi]: intent first, files,
// notification, then checkpoint.
func (c *consumer) deliver(ctx context.Context, lo, hi int64) error {
	now := c.m.opts.Now().UTC().Truncate(time.Second)
	err := c.m.opts.DB.Update(ctx, func(tx *journal.Tx) error {
		_, err := tx.Exec(`INSERT INTO delivery_intents (trail, lo, hi, created) VALUES (?, ?, ?, ?)
			ON CONFLICT (trail, lo) DO NOTHING`, c.arn, lo, hi, now.Unix())
		return err
	})
	if err != nil {
		return fmt.Errorf("store delivery intent: %w", err)
	}
	return c.complete(ctx, intent{lo: lo, hi: hi, created: now})
}

type intent struct {
	lo, hi  int64
	created time.Time
	written bool
}

// redoIntents finishes the intents a crash interrupted, oldest first.
func (c *consumer) redoIntents(ctx context.Context) error {
	rows, err := c.m.opts.DB.Reader().QueryContext(ctx,
		"SELECT lo, hi, created, written FROM delivery_intents WHERE trail = ? ORDER BY lo", c.arn)
	if err != nil {
		return fmt.Errorf("read delivery intents: %w", err)
	}
	var pending []intent
	for rows.Next() {
		var it intent
		var created int64
		if err := rows.Scan(&it.lo, &it.hi, &created, &it.written); err != nil {
			rows.Close()
			return err
		}
		it.created = time.Unix(created, 0).UTC()
		pending = append(pending, it)
	}
	rows.Close()
	for _, it := range pending {
		c.log.Info("finishing interrupted delivery", slog.Int64("lo", it.lo), slog.Int64("hi", it.hi))
		if err := c.complete(ctx, it); err != nil {
			return err
		}
	}
	return nil
}

// file is one log file being built.
type file struct {
	region         string
	chunk          int
	raw            int // uncompressed bytes so far
	buf            bytes.Buffer
	gz             *gzip.Writer
	hash           hashWriter
	n              int
	oldest, newest time.Time
}

// complete writes an intent's files (a pure function of the journal range),
// notifies the topic, and moves the checkpoint past the range.
func (c *consumer) complete(ctx context.Context, it intent) error {
	db := c.m.opts.DB
	t := c.trailFor(it.hi)
	if t == nil {
		return fmt.Errorf("trail %s has no configuration for its events up to %d", c.arn, it.hi)
	}
	files, err := c.build(ctx, it)
	if err != nil {
		return err
	}
	status := func(fn func(*opentrail.TrailStatus)) {
		if err := db.Update(ctx, func(tx *journal.Tx) error { return tx.UpdateTrailStatus(c.arn, fn) }); err != nil {
			c.log.Warn("store trail status", slog.String("err", err.Error()))
		}
	}
	var keys []string
	var delivered []Delivered
	if !it.written {
		for _, f := range files {
			key := opentrail.LogFileKey(t.S3KeyPrefix, t.Account, f.region, it.created, uniqueString(c.arn, it.lo, it.hi, f.region, f.chunk))
			opts := PutOptions{ContentType: "application/json", ContentEncoding: "gzip"}
			if t.KMSKeyID != "" {
				opts.KMSKeyID = t.KMSKeyID
				opts.EncryptionContext = map[string]string{"aws:cloudtrail:arn": c.arn}
			}
			attempt := c.m.opts.Now()
			if err := c.m.opts.Store.PutObject(ctx, t.S3BucketName, key, f.buf.Bytes(), opts); err != nil {
				msg := deliveryError(err)
				status(func(st *opentrail.TrailStatus) {
					st.LatestDeliveryAttemptTime, st.LatestDeliveryAttemptOK, st.LatestDeliveryError = attempt, false, msg
				})
				return fmt.Errorf("write %s to bucket %s: %w", key, t.S3BucketName, err)
			}
			keys = append(keys, key)
			d := Delivered{Trail: c.arn, Bucket: t.S3BucketName, Key: key, Region: f.region,
				Hash: f.hash.sum(), Oldest: f.oldest, Newest: f.newest, At: it.created}
			delivered = append(delivered, d)
			if c.m.opts.OnDelivered != nil {
				c.m.opts.OnDelivered(d)
			}
		}
		done := c.m.opts.Now()
		err := db.Update(ctx, func(tx *journal.Tx) error {
			if _, err := tx.Exec("UPDATE delivery_intents SET written = 1 WHERE trail = ? AND lo = ?", c.arn, it.lo); err != nil {
				return err
			}
			if t.LogFileValidation && c.m.opts.Signers != nil {
				if err := recordDigestFiles(tx, c.arn, delivered); err != nil {
					return err
				}
			}
			if len(files) == 0 {
				return nil
			}
			return tx.UpdateTrailStatus(c.arn, func(st *opentrail.TrailStatus) {
				st.LatestDeliveryAttemptTime, st.LatestDeliveryAttemptOK, st.LatestDeliveryError = done, true, ""
				st.LatestDeliveryTime = done
			})
		})
		if err != nil {
			return err
		}
	} else {
		for _, f := range files {
			keys = append(keys, opentrail.LogFileKey(t.S3KeyPrefix, t.Account, f.region, it.created, uniqueString(c.arn, it.lo, it.hi, f.region, f.chunk)))
		}
	}
	if t.SNSTopicARN != "" && len(keys) > 0 && c.m.opts.Notifier != nil {
		attempt := c.m.opts.Now()
		msg := notification(t.S3BucketName, keys)
		if err := c.m.opts.Notifier.Publish(ctx, t.SNSTopicARN, msg); err != nil {
			status(func(st *opentrail.TrailStatus) {
				st.LatestNotificationAttemptTime, st.LatestNotificationAttemptOK, st.LatestNotificationError = attempt, false, err.Error()
			})
			return fmt.Errorf("notify %s: %w", t.SNSTopicARN, err)
		}
		status(func(st *opentrail.TrailStatus) {
			st.LatestNotificationAttemptTime, st.LatestNotificationAttemptOK, st.LatestNotificationError = attempt, true, ""
			st.LatestNotificationTime = c.m.opts.Now()
		})
	}
	return db.Update(ctx, func(tx *journal.Tx) error {
		if _, err := tx.Exec("DELETE FROM delivery_intents WHERE trail = ? AND lo = ?", c.arn, it.lo); err != nil {
			return err
		}
		return tx.SetCheckpoint(consumerName(c.arn), it.hi)
	})
}

// build reads the journal range (lo, hi] again and encodes the files of
// the events the trail delivers, per region, split by size.
func (c *consumer) build(ctx context.Context, it intent) ([]*file, error) {
	var files []*file
	open := map[string]*file{}
	after := it.lo
	for after < it.hi {
		rows, err := c.m.opts.DB.Feed(ctx, after, 5000)
		if err != nil {
			return nil, err
		}
		if len(rows) == 0 {
			return nil, fmt.Errorf("journal events %d to %d are gone before trail %s delivered them", after, it.hi, c.arn)
		}
		for i := range rows {
			r := &rows[i]
			if r.Seq > it.hi {
				break
			}
			after = r.Seq
			sum, ok, err := c.pick(ctx, r)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			body, err := r.Body()
			if err != nil {
				return nil, err
			}
			_, region, _ := c.m.opts.DB.ScopeOf(ctx, r.Scope)
			f := open[region]
			if f != nil && f.raw+len(body)+16 > c.m.opts.MaxFileBytes {
				if err := f.close(); err != nil {
					return nil, err
				}
				files = append(files, f)
				f = &file{region: region, chunk: f.chunk + 1}
				open[region] = f
			}
			if f == nil {
				f = &file{region: region}
				open[region] = f
			}
			if err := f.add(body, sum.Time); err != nil {
				return nil, err
			}
		}
	}
	for _, f := range open {
		if err := f.close(); err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	// A stable order: region, then chunk.
	for i := 1; i < len(files); i++ {
		for j := i; j > 0 && (files[j].region < files[j-1].region || files[j].region == files[j-1].region && files[j].chunk < files[j-1].chunk); j-- {
			files[j], files[j-1] = files[j-1], files[j]
		}
	}
	return files, nil
}

func (f *file) write(b []byte) error {
	f.raw += len(b)
	f.hash.Write(b)
	_, err := f.gz.Write(b)
	return err
}

func (f *file) add(record []byte, t time.Time) error {
	if f.gz == nil {
		// Level 1: delivery keeps up with tens of thousands of events a
		// second; the output depends only on the input, so a redone
		// delivery writes the same bytes.
		gz, err := gzip.NewWriterLevel(&f.buf, gzip.BestSpeed)
		if err != nil {
			return err
		}
		f.gz = gz
		f.hash.init()
		if err := f.write([]byte(`{"Records":[`)); err != nil {
			return err
		}
	} else if err := f.write([]byte{','}); err != nil {
		return err
	}
	if f.oldest.IsZero() || t.Before(f.oldest) {
		f.oldest = t
	}
	if t.After(f.newest) {
		f.newest = t
	}
	f.n++
	return f.write(record)
}

func (f *file) close() error {
	if err := f.write([]byte("]}")); err != nil {
		return err
	}
	return f.gz.Close()
}

// uniqueString is the 16-character unique part of a log file name, derived
// from the trail and the journal range so that a redone delivery writes
// the same key.
func uniqueString(arn string, lo, hi int64, region string, chunk int) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%d|%d|%s|%d", arn, lo, hi, region, chunk)
	sum := h.Sum(nil)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	v := binary.BigEndian.Uint64(sum)
	v2 := binary.BigEndian.Uint64(sum[8:])
	var b [16]byte
	for i := range b {
		if i == 8 {
			v = v2
		}
		b[i] = alphabet[v%uint64(len(alphabet))]
		v /= uint64(len(alphabet))
	}
	return string(b[:])
}

// notification is CloudTrail's SNS message for delivered files.
func notification(bucket string, keys []string) string {
	var b strings.Builder
	b.WriteString(`{"s3Bucket":`)
	b.Write(quote(bucket))
	b.WriteString(`,"s3ObjectKey":[`)
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(quote(k))
	}
	b.WriteString("]}")
	return b.String()
}

func quote(s string) []byte {
	var b bytes.Buffer
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.Bytes()
}

// deliveryError is what GetTrailStatus shows of a failed write.
func deliveryError(err error) string {
	var e *opentrail.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return err.Error()
}

// hashWriter is a SHA-256 of everything written (the digest's hash of the
// uncompressed file).
type hashWriter struct{ h hash.Hash }

func (w *hashWriter) init()             { w.h = sha256.New() }
func (w *hashWriter) Write(b []byte)    { w.h.Write(b) }
func (w *hashWriter) sum() (s [32]byte) { copy(s[:], w.h.Sum(nil)); return }
