package lakeingest

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/journal"
	"github.com/opentrail/opentrail/lake"
)

// Options configure a Manager.
type Options struct {
	DB     *journal.DB
	Lake   *lake.Engine
	Logger *slog.Logger
	Now    func() time.Time
	// MaintainEvery is how often retention, purges and old queries are
	// dealt with (default an hour).
	MaintainEvery time.Duration
}

// Manager runs one consumer per event data store, and the periodic
// maintenance: retention, purge of stores whose pending deletion ended,
// removal of queries older than QueryRetention.
type Manager struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	running map[string]bool
	wg      sync.WaitGroup
}

// New returns a Manager; call Run.
func New(opts Options) *Manager {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaintainEvery <= 0 {
		opts.MaintainEvery = time.Hour
	}
	return &Manager{opts: opts, log: opts.Logger.With(slog.String("component", "lake")), running: map[string]bool{}}
}

// Run starts a consumer for every store, and keeps doing so as stores are
// created, until ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var maintained time.Time
	for {
		ids, err := versionedIDs(ctx, m.opts.DB)
		if err != nil && ctx.Err() == nil {
			m.log.Error("list event data stores", slog.String("err", err.Error()))
		}
		for _, id := range ids {
			m.mu.Lock()
			if !m.running[id] {
				m.running[id] = true
				m.wg.Add(1)
				go m.consume(ctx, id)
			}
			m.mu.Unlock()
		}
		if time.Since(maintained) >= m.opts.MaintainEvery {
			m.Maintain(ctx)
			maintained = time.Now()
		}
		select {
		case <-ctx.Done():
			m.wg.Wait()
			return nil
		case <-t.C:
		}
	}
}

// Maintain expires events past each store's retention, purges stores whose
// pending deletion ended, and drops queries older than QueryRetention.
func (m *Manager) Maintain(ctx context.Context) {
	now := m.opts.Now()
	stores, err := AllStores(ctx, m.opts.DB)
	if err != nil {
		m.log.Error("list event data stores", slog.String("err", err.Error()))
		return
	}
	for _, s := range stores {
		if s.Status == StatusPendingDeletion && now.Sub(s.Deleted) >= PendingDeletion {
			if err := m.opts.DB.Update(ctx, func(tx *journal.Tx) error { return purge(tx, s) }); err != nil {
				m.log.Error("purge event data store", slog.String("store", s.ID), slog.String("err", err.Error()))
			}
			continue
		}
		n, err := m.opts.Lake.Expire(ctx, s.ID, now.AddDate(0, 0, -s.Retention))
		if err != nil && !errors.Is(err, lake.ErrStoreNotFound) {
			m.log.Error("expire event data store", slog.String("store", s.ID), slog.String("err", err.Error()))
		} else if n > 0 {
			m.log.Info("expired events", slog.String("store", s.ID), slog.Int64("events", n))
		}
	}
	ids, err := expiredQueries(ctx, m.opts.DB, now.Add(-QueryRetention))
	if err != nil {
		m.log.Error("list old queries", slog.String("err", err.Error()))
		return
	}
	for _, id := range ids {
		if err := m.opts.Lake.DropResults(ctx, id); err != nil {
			m.log.Error("drop query results", slog.String("query", id), slog.String("err", err.Error()))
			continue
		}
		if err := m.opts.DB.Update(ctx, func(tx *journal.Tx) error {
			_, err := tx.Exec(`DELETE FROM lake_queries WHERE id = ?`, id)
			return err
		}); err != nil {
			m.log.Error("delete query", slog.String("query", id), slog.String("err", err.Error()))
		}
	}
}

func (m *Manager) consume(ctx context.Context, id string) {
	defer m.wg.Done()
	defer func() {
		m.mu.Lock()
		delete(m.running, id)
		m.mu.Unlock()
	}()
	c := &consumer{m: m, id: id, log: m.log.With(slog.String("store", id)), channels: map[string]*opentrail.Channel{}}
	journal.RunConsumer(ctx, c.log, "ingestion", c.run)
}

// consumer feeds one store.
type consumer struct {
	m        *Manager
	id       string
	log      *slog.Logger
	versions []version
	matchers map[int64]*opentrail.Matcher  // by version seq
	channels map[string]*opentrail.Channel // by channel ARN, refreshed per batch
}

const batchRows = 5000

// run takes new events into the store until ctx ends, an error occurs (the
// caller retries) or the store is purged (done).
func (c *consumer) run(ctx context.Context) (done bool, err error) {
	db, lk := c.m.opts.DB, c.m.opts.Lake
	if err := c.loadVersions(ctx); err != nil {
		return false, err
	}
	if len(c.versions) == 0 {
		return true, nil
	}
	if c.purged() {
		return true, c.finish(ctx)
	}
	if err := lk.CreateStore(ctx, c.id); err != nil {
		return false, err
	}
	after, err := lk.Checkpoint(ctx, c.id)
	if err != nil {
		return false, err
	}
	after = max(after, c.versions[0].Seq-1)
	journalCkpt := time.Now()
	for {
		rows, err := db.Feed(ctx, after, batchRows)
		if err != nil {
			return false, err
		}
		if err := c.loadVersions(ctx); err != nil {
			return false, err
		}
		clear(c.channels)
		var bodies [][]byte
		for i := range rows {
			r := &rows[i]
			body, ok, err := c.pick(ctx, r)
			if err != nil {
				return false, err
			}
			if ok {
				bodies = append(bodies, body)
			}
		}
		if len(rows) > 0 {
			upTo := rows[len(rows)-1].Seq
			if len(bodies) > 0 || time.Since(journalCkpt) > time.Second {
				if err := lk.Append(ctx, c.id, upTo, bodies); err != nil {
					return false, err
				}
				after = upTo
				// The journal may now let go of what the store has taken.
				if err := db.Update(ctx, func(tx *journal.Tx) error { return tx.SetCheckpoint(ConsumerName(c.id), upTo) }); err != nil {
					return false, err
				}
				journalCkpt = time.Now()
			} else {
				// Nothing taken: the lake checkpoint moves later, with the
				// next batch; meanwhile read on from here.
				after = upTo
			}
		}
		if c.purged() && len(rows) < batchRows {
			return true, c.finish(ctx)
		}
		if len(rows) > 0 {
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		_, werr := db.WaitHead(wctx, after)
		cancel()
		if ctx.Err() != nil {
			return false, nil
		}
		if errors.Is(werr, journal.ErrClosed) {
			return false, werr
		}
		if errors.Is(werr, context.DeadlineExceeded) {
			// Quiet journal: make sure the lake checkpoint has caught up
			// with what was read, so a restart does not reread it.
			if cp, err := lk.Checkpoint(ctx, c.id); err == nil && cp < after {
				if err := lk.Append(ctx, c.id, after, nil); err != nil {
					return false, err
				}
				if err := db.Update(ctx, func(tx *journal.Tx) error { return tx.SetCheckpoint(ConsumerName(c.id), after) }); err != nil {
					return false, err
				}
			}
		}
	}
}

func (c *consumer) purged() bool {
	return len(c.versions) > 0 && c.versions[len(c.versions)-1].Store == nil
}

// finish drops a purged store's events and forgets it.
func (c *consumer) finish(ctx context.Context) error {
	if err := c.m.opts.Lake.DropStore(ctx, c.id); err != nil {
		return err
	}
	return c.m.opts.DB.Update(ctx, func(tx *journal.Tx) error {
		if err := tx.DeleteCheckpoint(ConsumerName(c.id)); err != nil {
			return err
		}
		_, err := tx.Exec(`DELETE FROM lake_eds_versions WHERE id = ?`, c.id)
		return err
	})
}

func (c *consumer) loadVersions(ctx context.Context) error {
	vs, err := versions(ctx, c.m.opts.DB, c.id)
	if err != nil {
		return err
	}
	if c.matchers == nil {
		c.matchers = map[int64]*opentrail.Matcher{}
	}
	for _, v := range vs {
		if v.Store == nil || c.matchers[v.Seq] != nil {
			continue
		}
		m, err := opentrail.CompileStoreSelectors(v.Store.Selectors)
		if err != nil {
			// Stored selectors were validated when set; a store whose
			// selectors no longer compile takes nothing.
			c.log.Error("event data store selectors", slog.String("err", err.Error()))
			m = &opentrail.Matcher{}
		}
		c.matchers[v.Seq] = m
	}
	c.versions = vs
	return nil
}

// at returns the version in force for the event at seq (nil: none, or the
// store is purged).
func (c *consumer) at(seq int64) (*Store, *opentrail.Matcher) {
	var cur *version
	for i := range c.versions {
		if c.versions[i].Seq > seq {
			break
		}
		cur = &c.versions[i]
	}
	if cur == nil || cur.Store == nil {
		return nil, nil
	}
	return cur.Store, c.matchers[cur.Seq]
}

// pick decides whether the store takes the event, and returns its record.
func (c *consumer) pick(ctx context.Context, r *journal.Row) ([]byte, bool, error) {
	s, match := c.at(r.Seq)
	if s == nil || !s.Ingesting() {
		return nil, false, nil
	}
	switch r.Origin() {
	case journal.OriginAPI, journal.OriginChannel:
	default:
		// Logs loaded with `opentrail ingest` are history, not live events.
		return nil, false, nil
	}
	account, region, err := c.m.opts.DB.ScopeOf(ctx, r.Scope)
	if err != nil {
		return nil, false, err
	}
	if account != s.Account || (!s.MultiRegion && region != s.Region) {
		return nil, false, nil
	}
	sum, err := r.Summary()
	if err != nil {
		c.log.Warn("unreadable journal event", slog.Int64("seq", r.Seq), slog.String("err", err.Error()))
		return nil, false, nil
	}
	if r.Origin() == journal.OriginChannel {
		// Channel events go only to the stores their channel names, and
		// only when the store's selectors take ActivityAuditLog.
		if !s.TakesActivity() {
			return nil, false, nil
		}
	} else if !match.Match(sum) {
		return nil, false, nil
	}
	body, err := r.Body()
	if err != nil {
		return nil, false, err
	}
	if r.Origin() == journal.OriginChannel {
		ok, err := c.channelFeeds(ctx, body, s)
		if err != nil || !ok {
			return nil, false, err
		}
	}
	return body, true, nil
}

// channelFeeds reports whether the channel a record came through names the
// store as a destination.
func (c *consumer) channelFeeds(ctx context.Context, body []byte, s *Store) (bool, error) {
	var rec struct {
		Metadata struct {
			ChannelARN string `json:"channelARN"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(body, &rec); err != nil || rec.Metadata.ChannelARN == "" {
		return false, nil
	}
	ch, ok := c.channels[rec.Metadata.ChannelARN]
	if !ok {
		id, _, _, valid := opentrail.ParseChannelID(rec.Metadata.ChannelARN)
		if valid {
			var err error
			if ch, err = c.m.opts.DB.Channel(ctx, id); err != nil {
				return false, err
			}
		}
		c.channels[rec.Metadata.ChannelARN] = ch
	}
	if ch == nil {
		return false, nil
	}
	arn := s.ARN()
	for _, d := range ch.Destinations {
		if d.Type == opentrail.DestinationEventDataStore && d.Location == arn {
			return true, nil
		}
	}
	return false, nil
}
