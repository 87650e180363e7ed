package sns

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/opentrail/opentrail/journal"
)

// Run delivers queued messages to HTTP and HTTPS subscribers until ctx
// ends, then waits for the attempts in flight (cancelled with ctx, and not
// counted as failures) and returns nil. Only one Run may be active per
// Service; deliveries queued while none runs wait in the database.
//
// Each subscription's queue is worked by at most one attempt at a time, in
// the order messages were queued, and at most Options.Concurrency
// subscriptions are worked at once. When an attempt fails, the message is
// retried per the retry policy (see Options) and the subscription's other
// due messages wait with it, so a failing endpoint is not sent every
// message in turn. Run also removes subscriptions left unconfirmed for
// longer than a confirmation token lives (three days).
func (s *Service) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.run {
		s.mu.Unlock()
		return errors.New("sns: Run is already running")
	}
	s.run = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.run = false
		s.mu.Unlock()
	}()

	var wg sync.WaitGroup
	defer wg.Wait()
	busy := map[string]bool{}               // subscriptions being worked
	done := make(chan string, s.concurrent) // a worker finished its subscription
	var lastCleanup time.Time
	for {
		for drained := false; !drained; {
			select {
			case arn := <-done:
				delete(busy, arn)
			default:
				drained = true
			}
		}
		if time.Since(lastCleanup) > time.Hour {
			if err := s.cleanup(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("sns: remove expired subscriptions", slog.String("err", err.Error()))
			}
			lastCleanup = time.Now()
		}
		next, err := s.dispatch(ctx, busy, done, &wg)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if strings.Contains(err.Error(), "database is closed") {
				return fmt.Errorf("sns delivery: %w", err) // Run must stop before the database closes
			}
			s.log.Warn("sns: read delivery queue", slog.String("err", err.Error()))
			next = time.Now().Add(time.Second)
		}
		wait := min(max(time.Until(next), time.Millisecond), 30*time.Second)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-s.wake:
		case arn := <-done:
			delete(busy, arn)
		case <-timer.C:
		}
		timer.Stop()
	}
}

// dispatch starts a worker for each subscription that has a due delivery
// and is not being worked, while slots are free, and returns when the
// next delivery that is not yet due becomes due.
func (s *Service) dispatch(ctx context.Context, busy map[string]bool, done chan<- string, wg *sync.WaitGroup) (time.Time, error) {
	now := time.Now().UnixMilli()
	next := time.Now().Add(30 * time.Second)
	var due []string
	if len(busy) < s.concurrent {
		rows, err := s.db.Reader().QueryContext(ctx,
			"SELECT arn FROM sns_subscriptions s WHERE EXISTS (SELECT 1 FROM sns_deliveries d WHERE d.subscription_arn = s.arn AND d.next_attempt <= ?) ORDER BY id", now)
		if err != nil {
			return next, err
		}
		for rows.Next() {
			var arn string
			if err := rows.Scan(&arn); err != nil {
				rows.Close()
				return next, err
			}
			due = append(due, arn)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return next, err
		}
	}
	for _, arn := range due {
		if busy[arn] {
			continue
		}
		if len(busy) >= s.concurrent {
			break
		}
		busy[arn] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.work(ctx, arn)
			done <- arn
		}()
	}
	var n sql.NullInt64
	if err := s.db.Reader().QueryRowContext(ctx, "SELECT min(next_attempt) FROM sns_deliveries WHERE next_attempt > ?", now).Scan(&n); err != nil {
		return next, err
	}
	if n.Valid && time.UnixMilli(n.Int64).Before(next) {
		next = time.UnixMilli(n.Int64)
	}
	return next, nil
}

// queued is a delivery with its message.
type queued struct {
	id       int64
	attempts int
	created  int64 // unix milliseconds
	msgID    sql.NullInt64
	env      envelope
	attrs    string
}

// work sends the due deliveries of one subscription, oldest first, until
// none is due, one fails, or ctx ends.
func (s *Service) work(ctx context.Context, subARN string) {
	for ctx.Err() == nil {
		sub, err := getSub(s.reader(ctx), subARN)
		if errors.Is(err, errSubscriptionNotFound) {
			// Unsubscribe removes the queue too; this only clears what a
			// concurrent delete left behind.
			s.update(ctx, func(tx *journal.Tx) error {
				_, err := tx.Exec("DELETE FROM sns_deliveries WHERE subscription_arn = ?", subARN)
				return err
			})
			return
		}
		if err != nil {
			s.pause(ctx, "sns: read subscription", subARN, err)
			return
		}
		q, err := s.nextDue(ctx, subARN)
		if errors.Is(err, sql.ErrNoRows) {
			return
		}
		if err != nil {
			s.pause(ctx, "sns: read delivery queue", subARN, err)
			return
		}
		if !q.msgID.Valid {
			s.finish(ctx, q)
			continue
		}
		if time.Since(time.UnixMilli(q.created)) > s.maxAge {
			s.drop(ctx, sub, q, "older than the retry window")
			continue
		}
		err = s.send(ctx, sub, q)
		if err == nil {
			s.finish(ctx, q)
			continue
		}
		if ctx.Err() != nil {
			return // shutting down: this attempt does not count
		}
		q.attempts++
		if q.attempts >= s.attempts || time.Since(time.UnixMilli(q.created)) > s.maxAge {
			s.drop(ctx, sub, q, err.Error())
			continue
		}
		s.retry(ctx, subARN, q, err)
		return
	}
}

// pause logs an unexpected error and waits a second, so that a failing
// database does not make the loop spin.
func (s *Service) pause(ctx context.Context, what, subARN string, err error) {
	if ctx.Err() != nil {
		return
	}
	s.log.Warn(what, slog.String("subscription", subARN), slog.String("err", err.Error()))
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// nextDue returns the oldest due delivery of a subscription, or
// sql.ErrNoRows.
func (s *Service) nextDue(ctx context.Context, subARN string) (*queued, error) {
	var q queued
	var typ, topic, subject, message, token, subURL, ts, sigVer, sig sql.NullString
	var attrs sql.NullString
	err := s.db.Reader().QueryRowContext(ctx, `
SELECT d.id, d.attempts, d.created, m.id, m.message_id, m.type, m.topic_arn, m.subject, m.message, m.attributes,
	m.token, m.subscribe_url, m.timestamp, m.signature_version, m.signature
FROM sns_deliveries d LEFT JOIN sns_messages m ON m.id = d.message
WHERE d.subscription_arn = ? AND d.next_attempt <= ?
ORDER BY d.next_attempt, d.id LIMIT 1`, subARN, time.Now().UnixMilli()).Scan(
		&q.id, &q.attempts, &q.created, &q.msgID, &q.env.MessageID, &typ, &topic, &subject, &message, &attrs,
		&token, &subURL, &ts, &sigVer, &sig)
	if err != nil {
		return nil, err
	}
	q.env.Type, q.env.TopicARN, q.env.Subject, q.env.Message = typ.String, topic.String, subject.String, message.String
	q.env.Token, q.env.SubscribeURL, q.env.Timestamp = token.String, subURL.String, ts.String
	q.env.SignatureVersion, q.env.Signature = sigVer.String, sig.String
	q.attrs = attrs.String
	return &q, nil
}

// maxResponse bounds how much of an endpoint's answer is read.
const maxResponse = 64 << 10

// send makes one delivery attempt.
func (s *Service) send(ctx context.Context, sub *subRow, q *queued) error {
	e := q.env
	e.SigningCertURL = s.SigningCertURL()
	raw := e.Type == typeNotification && sub.attrs[attrRawMessageDelivery] == "true"
	var body []byte
	if raw {
		body = []byte(e.Message)
	} else {
		if e.Type == typeNotification {
			e.UnsubscribeURL = s.url("/", "Action", "Unsubscribe", "SubscriptionArn", sub.arn)
			if q.attrs != "" {
				if err := json.Unmarshal([]byte(q.attrs), &e.MessageAttributes); err != nil {
					return fmt.Errorf("message attributes: %w", err)
				}
			}
		}
		body = jsonNoEscape(&e)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.endpoint, strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	h := req.Header
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Set("User-Agent", "opentrail SNS agent")
	h.Set("x-amz-sns-message-type", e.Type)
	h.Set("x-amz-sns-message-id", e.MessageID)
	h.Set("x-amz-sns-topic-arn", e.TopicARN)
	if e.Type == typeNotification {
		h.Set("x-amz-sns-subscription-arn", sub.arn)
	}
	if raw {
		h.Set("x-amz-sns-rawdelivery", "true")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("endpoint answered %s", resp.Status)
	}
	return nil
}

// update runs fn in a write transaction, with a context that outlives a
// cancelled ctx only long enough to record what was already done.
func (s *Service) update(ctx context.Context, fn func(tx *journal.Tx) error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := s.db.Update(ctx, fn)
	if err != nil && !errors.Is(err, journal.ErrClosed) {
		s.log.Warn("sns: update delivery queue", slog.String("err", err.Error()))
	}
	return err
}

// finish removes a delivery, and its message once no delivery needs it.
func (s *Service) finish(ctx context.Context, q *queued) {
	s.update(ctx, func(tx *journal.Tx) error {
		if _, err := tx.Exec("DELETE FROM sns_deliveries WHERE id = ?", q.id); err != nil {
			return err
		}
		if q.msgID.Valid {
			if _, err := tx.Exec("DELETE FROM sns_messages WHERE id = ? AND NOT EXISTS (SELECT 1 FROM sns_deliveries WHERE message = ?)", q.msgID.Int64, q.msgID.Int64); err != nil {
				return err
			}
		}
		return nil
	})
}

// drop gives up on a delivery.
func (s *Service) drop(ctx context.Context, sub *subRow, q *queued, reason string) {
	s.log.Warn("sns: delivery abandoned",
		slog.String("subscription", sub.arn), slog.String("endpoint", sub.endpoint),
		slog.String("message_id", q.env.MessageID), slog.Int("attempts", q.attempts), slog.String("err", reason))
	s.finish(ctx, q)
}

// retry schedules the next attempt of a failed delivery, and holds back
// the subscription's other due deliveries until then.
func (s *Service) retry(ctx context.Context, subARN string, q *queued, cause error) {
	delay := s.minDelay
	for i := 1; i < q.attempts && delay < s.maxDelay; i++ {
		delay *= 2
	}
	delay = min(delay, s.maxDelay)
	at := time.Now().Add(delay).UnixMilli()
	msg := truncate(cause.Error(), 512)
	s.update(ctx, func(tx *journal.Tx) error {
		if _, err := tx.Exec("UPDATE sns_deliveries SET attempts = ?, next_attempt = ?, last_error = ? WHERE id = ?", q.attempts, at, msg, q.id); err != nil {
			return err
		}
		_, err := tx.Exec("UPDATE sns_deliveries SET next_attempt = ? WHERE subscription_arn = ? AND next_attempt < ?", at, subARN, at)
		return err
	})
}

// cleanup removes subscriptions whose confirmation token expired.
func (s *Service) cleanup(ctx context.Context) error {
	cutoff := time.Now().Add(-tokenTTL).Unix()
	rows, err := s.db.Reader().QueryContext(ctx, "SELECT arn, topic_arn FROM sns_subscriptions WHERE confirmed = 0 AND created < ?", cutoff)
	if err != nil {
		return err
	}
	var expired [][2]string
	for rows.Next() {
		var a [2]string
		if err := rows.Scan(&a[0], &a[1]); err != nil {
			rows.Close()
			return err
		}
		expired = append(expired, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(expired) == 0 {
		return err
	}
	return s.db.Update(ctx, func(tx *journal.Tx) error {
		for _, a := range expired {
			if err := deleteSubscription(tx, a[0], a[1]); err != nil && !errors.Is(err, errSubscriptionNotFound) {
				return err
			}
		}
		return nil
	})
}
