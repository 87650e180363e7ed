package integrity

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Options say what Validate checks.
type Options struct {
	// TrailARN is the trail's ARN: its home region, account and name
	// select the digests (arn:PARTITION:cloudtrail:REGION:ACCOUNT:trail/NAME).
	TrailARN string
	// Start and End bound the digests validated (End zero: now).
	Start, End time.Time
	// Bucket and Prefix locate the digests (the trail's S3BucketName and
	// S3KeyPrefix).
	Bucket, Prefix string
	// AccountID whose digests are read (default: the ARN's);
	// OrganizationID ("o-...") for an organization trail.
	AccountID, OrganizationID string
	// Region is the region whose digests are read (default: the trail's
	// home region), as the AWS CLI's --region.
	Region string
	// Objects reads the buckets.
	Objects Bucket
	// PublicKeys lists the region's public keys valid in [start, end]:
	// ListPublicKeys.
	PublicKeys func(ctx context.Context, start, end time.Time) ([]PublicKey, error)
	// Workers bounds the log files fetched and hashed at once (default 16).
	Workers int
	// SignatureFromChain lets a digest without signature metadata be
	// checked with the signature the next digest of the chain records for
	// it (previousDigestSignature), when it was reached through that link.
	// That value is covered by the next digest's own verified signature,
	// so it is as good as the metadata; the newest digest of each chain
	// still needs its metadata. For local copies (LocalDir), which have
	// no S3 metadata. The AWS CLI always requires the metadata.
	SignatureFromChain bool
	// Now is the clock for a zero End (nil: time.Now).
	Now func() time.Time
}

// ResultKind says what a Result is about.
type ResultKind int

const (
	// DigestResult is about a digest file.
	DigestResult ResultKind = iota + 1
	// LogResult is about a log file.
	LogResult
	// GapResult is a break of the chain: no digests between two times.
	GapResult
)

// Result is one line of validate-logs' output.
type Result struct {
	Kind ResultKind
	// Backfill marks results of the backfill digest chain.
	Backfill    bool
	Bucket, Key string
	// Problem is empty for a valid file, else what is wrong, in the AWS
	// CLI's words ("hash value doesn't match", "not found", ...).
	Problem string
	// For a valid digest, its digestStartTime and digestEndTime. For a
	// gap, the end of the older digest (Start) and the start of the newer
	// one (End).
	Start, End time.Time
	// Bytes is how many bytes of a log file were read.
	Bytes int64
}

// Valid reports whether the result is a valid file.
func (r Result) Valid() bool { return r.Kind != GapResult && r.Problem == "" }

// String is the result's line in the AWS CLI's words, without newline:
// "Digest file\ts3://bucket/key\tvalid", "Log file\ts3://...\tINVALID: ...",
// "No log files were delivered by CloudTrail between ... and ...", with
// "(backfill) " before the lines of backfill digests and gaps.
func (r Result) String() string {
	pre := ""
	if r.Backfill && r.Kind != LogResult {
		pre = "(backfill) "
	}
	if r.Kind == GapResult {
		return pre + "No log files were delivered by CloudTrail between " + r.Start.UTC().Format(TimeFormat) + " and " + r.End.UTC().Format(TimeFormat)
	}
	what := "Digest file"
	if r.Kind == LogResult {
		what = "Log file"
	}
	status := "valid"
	if r.Problem != "" {
		status = "INVALID: " + r.Problem
	}
	return pre + what + "\ts3://" + r.Bucket + "/" + r.Key + "\t" + status
}

// Problems, in the AWS CLI's words.
const (
	problemFormat    = "invalid format"
	problemSignature = "signature verification failed"
	problemMoved     = "has been moved from its original location"
	problemNotFound  = "not found"
	problemHash      = "hash value doesn't match"
	// problemTrailing is opentrail's: the AWS CLI hashes the first gzip
	// member and ignores what follows it.
	problemTrailing = "unexpected data after end of compressed stream"
)

// maxDigestBytes bounds a digest's uncompressed size (an hour of a very
// busy trail is a few MB).
const maxDigestBytes = 256 << 20

var arnPattern = regexp.MustCompile(`^arn:.+:cloudtrail:.+:\d{12}:trail/.+`)

// Validate checks the trail's digests between opts.Start and opts.End and
// the log files they list, as `aws cloudtrail validate-logs` does: it walks
// each chain (standard, then backfill) from the newest digest back,
// verifies each digest's signature with the public key its fingerprint
// names, and hashes every log file a valid digest lists. It calls report
// once per digest, log file and chain gap, in the AWS CLI's order, from
// the calling goroutine; log files are fetched and hashed by opts.Workers
// goroutines meanwhile.
//
// It returns an error, after reporting what it checked, when it cannot go
// on: a malformed ARN, no public keys, a listing or fetch that fails other
// than by a missing object (access denied, a network error), or ctx ending.
// Tampering is never an error: it is reported as INVALID results.
//
// Where the AWS CLI would crash on a hostile digest (wrong JSON types, a
// previous-digest chain that loops), Validate reports the digest INVALID
// instead, and it reports data after a log file's gzip stream, which the
// CLI ignores.
func Validate(ctx context.Context, opts Options, report func(Result)) error {
	if !arnPattern.MatchString(opts.TrailARN) {
		return fmt.Errorf("Invalid trail ARN provided: %s", opts.TrailARN)
	}
	if opts.Objects == nil || opts.PublicKeys == nil {
		return errors.New("validate: Objects and PublicKeys are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.End.IsZero() {
		opts.End = opts.Now()
	}
	opts.Start, opts.End = opts.Start.UTC(), opts.End.UTC()
	if opts.Start.After(opts.End) {
		return errors.New("Invalid time range specified: start-time must occur before end-time")
	}
	parts := strings.Split(opts.TrailARN, ":")
	w := &walker{opts: opts, homeRegion: parts[3], name: opts.TrailARN[strings.LastIndexByte(opts.TrailARN, '/')+1:],
		account: opts.AccountID, lists: map[listKey]*digestLists{}}
	if w.account == "" {
		w.account = parts[4]
	}
	w.region = opts.Region
	if w.region == "" {
		w.region = w.homeRegion
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = 16
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Results flow through slots in output order; a log file's slot is
	// filled by the worker that hashes it.
	slots := make(chan chan outcome, 8*workers+64)
	jobs := make(chan logJob, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if err := ctx.Err(); err != nil {
					j.slot <- outcome{err: err}
					continue
				}
				r, err := checkLog(ctx, opts.Objects, j.file)
				j.slot <- outcome{r: r, err: err}
			}
		}()
	}
	w.emit = func(r Result) error {
		ch := make(chan outcome, 1)
		ch <- outcome{r: r}
		select {
		case slots <- ch:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	w.emitLog = func(f logEntry) error {
		ch := make(chan outcome, 1)
		select {
		case jobs <- logJob{file: f, slot: ch}:
		case <-ctx.Done():
			return ctx.Err()
		}
		// The job is queued, so a worker fills the slot.
		slots <- ch
		return nil
	}
	var walkErr error
	go func() {
		defer close(slots)
		defer close(jobs)
		walkErr = w.run(ctx)
	}()
	var firstErr error
	for ch := range slots {
		o := <-ch
		if firstErr != nil {
			continue
		}
		if o.err != nil {
			firstErr = o.err
			cancel()
			continue
		}
		report(o.r)
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return walkErr
}

type outcome struct {
	r   Result
	err error
}

type logJob struct {
	file logEntry
	slot chan outcome
}

type logEntry struct {
	bucket, key, hash string
}

type listKey struct {
	bucket, prefix string
	start, end     time.Time
}

// digestLists are the keys of one listing, oldest first; the walk pops
// them from the end, as the AWS CLI does.
type digestLists struct{ standard, backfill []string }

type walker struct {
	opts                              Options
	homeRegion, region, name, account string
	lists                             map[listKey]*digestLists
	emit                              func(Result) error
	emitLog                           func(logEntry) error
	visited                           map[string]bool
	backfill                          bool
	keys                              map[string]PublicKey
}

func (w *walker) run(ctx context.Context) error {
	if err := w.chain(ctx, false); err != nil {
		return err
	}
	return w.chain(ctx, true)
}

// keyDate is the timestamp part of a digest key (characters, as Python
// slices strings).
func keyDate(key string) string {
	n, m := 24, 8
	if strings.HasSuffix(key, "_backfill.json.gz") {
		n, m = 33, 17
	}
	tail := key
	if len(tail) > 4*n {
		tail = tail[len(tail)-4*n:]
	}
	r := []rune(tail)
	if len(r) < n {
		return ""
	}
	return string(r[len(r)-n : len(r)-m])
}

func (w *walker) digestPrefix(prefix string) string {
	p := "AWSLogs/"
	if w.opts.OrganizationID != "" {
		p += w.opts.OrganizationID + "/"
	}
	p += w.account + "/CloudTrail-Digest/" + w.region
	if prefix != "" {
		p = prefix + "/" + p
	}
	return p
}

func (w *walker) keyRegexp(prefix string) (*regexp.Regexp, error) {
	q := regexp.QuoteMeta
	re := "AWSLogs/"
	if w.opts.OrganizationID != "" {
		re += w.opts.OrganizationID + "/"
	}
	re += q(w.account) + `/CloudTrail\-Digest/` + q(w.region) + `/\d+/\d+/\d+/` + q(w.account) + `_CloudTrail\-Digest_` +
		q(w.region) + "_" + q(w.name) + "_" + q(w.homeRegion) + `_.+(?:_backfill)?\.json\.gz`
	if prefix != "" {
		re = q(prefix) + "/" + re
	}
	return regexp.Compile("^" + re + "$")
}

// list returns the digest keys of a bucket in range, listing once per
// (bucket, prefix, start, end) as the AWS CLI does.
func (w *walker) list(ctx context.Context, bucket, prefix string, start, end time.Time) (*digestLists, error) {
	lk := listKey{bucket, prefix, start, end}
	if l := w.lists[lk]; l != nil {
		return l, nil
	}
	re, err := w.keyRegexp(prefix)
	if err != nil {
		return nil, fmt.Errorf("digest key pattern: %w", err)
	}
	mark := start.Add(-time.Minute)
	marker := OrganizationDigestKey(prefix, w.opts.OrganizationID, w.account, w.region, w.name, w.homeRegion, mark)
	from, to := start.Format(keyTimeFormat), end.Add(time.Hour).Format(keyTimeFormat)
	l := &digestLists{}
	err = w.opts.Objects.List(ctx, bucket, w.digestPrefix(prefix), marker, func(key string) bool {
		if !re.MatchString(key) {
			return true
		}
		d := keyDate(key)
		if d > to {
			return false
		}
		if d < from {
			return true
		}
		// The AWS CLI would crash on a key whose timestamp is not one.
		if _, err := time.Parse(keyTimeFormat, d); err != nil {
			return true
		}
		if strings.HasSuffix(key, "_backfill.json.gz") {
			l.backfill = append(l.backfill, key)
		} else {
			l.standard = append(l.standard, key)
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("list digests in s3://%s/%s: %w", bucket, w.digestPrefix(prefix), err)
	}
	w.lists[lk] = l
	return l, nil
}

func (w *walker) pending(l *digestLists) *[]string {
	if w.backfill {
		return &l.backfill
	}
	return &l.standard
}

// last pops the newest key, or the newest older than before.
func last(keys *[]string, before string) (string, time.Time) {
	var limit time.Time
	if before != "" {
		limit, _ = time.Parse(keyTimeFormat, keyDate(before))
	}
	for len(*keys) > 0 {
		k := (*keys)[len(*keys)-1]
		*keys = (*keys)[:len(*keys)-1]
		t, _ := time.Parse(keyTimeFormat, keyDate(k))
		if before == "" || t.Before(limit) {
			return k, t
		}
	}
	return "", time.Time{}
}

func (w *walker) loadKeys(ctx context.Context, start, end time.Time) (map[string]PublicKey, error) {
	keys, err := w.opts.PublicKeys(ctx, start, end)
	if err != nil {
		return nil, fmt.Errorf("list public keys: %w", err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("No public keys found between %s and %s", start.UTC().Format(TimeFormat), end.UTC().Format(TimeFormat))
	}
	m := make(map[string]PublicKey, len(keys))
	for _, k := range keys {
		m[k.Fingerprint] = k
	}
	return m, nil
}

// chain walks one chain of digests, newest first.
func (w *walker) chain(ctx context.Context, backfill bool) error {
	w.backfill = backfill
	w.visited = map[string]bool{}
	start := w.opts.Start
	bucket, prefix := w.opts.Bucket, w.opts.Prefix
	l, err := w.list(ctx, bucket, prefix, start, w.opts.End)
	if err != nil {
		return err
	}
	digests := w.pending(l)
	if backfill {
		w.keys = map[string]PublicKey{}
	} else {
		if w.keys, err = w.loadKeys(ctx, start, w.opts.End.Add(2*time.Hour)); err != nil {
			return err
		}
	}
	key, endDate := last(digests, "")
	lastStart := endDate
	var linkSig *string // previousDigestSignature of the link followed to key
	for key != "" && !start.After(lastStart) {
		var d *checked
		var problem string
		if w.visited[bucket+"/"+key] {
			problem = "the chain of previous digests loops back to this digest"
		} else {
			w.visited[bucket+"/"+key] = true
			d, problem, err = w.check(ctx, bucket, key, linkSig)
			if err != nil {
				return err
			}
		}
		if problem != "" {
			if err := w.emit(Result{Kind: DigestResult, Backfill: backfill, Bucket: bucket, Key: key, Problem: problem}); err != nil {
				return err
			}
			key, _ = last(digests, key)
			linkSig = nil
			continue
		}
		lastStart = d.start
		if err := w.emit(Result{Kind: DigestResult, Backfill: backfill, Bucket: bucket, Key: key, Start: d.start, End: d.end}); err != nil {
			return err
		}
		for _, f := range d.logs {
			if err := w.emitLog(f); err != nil {
				return err
			}
		}
		if d.prevBucket == nil || d.prevKey == nil {
			// The chain starts here; go on with the next older listed digest.
			next, nextEnd := last(digests, key)
			if next != "" {
				if err := w.emit(Result{Kind: GapResult, Backfill: backfill, Start: nextEnd, End: lastStart}); err != nil {
					return err
				}
			}
			key, linkSig = next, nil
			continue
		}
		key, linkSig = *d.prevKey, d.prevSig
		if *d.prevBucket != bucket {
			bucket = *d.prevBucket
			if l, err = w.list(ctx, bucket, prefix, start, d.end); err != nil {
				return err
			}
			digests = w.pending(l)
		}
	}
	return nil
}

// checked is a digest that passed validation.
type checked struct {
	start, end          time.Time
	prevBucket, prevKey *string
	prevSig             *string
	logs                []logEntry
}

// check fetches and validates a digest. It returns the problem in the AWS
// CLI's words ("not found" for a missing digest), or an error when
// validation cannot go on.
func (w *walker) check(ctx context.Context, bucket, key string, linkSig *string) (*checked, string, error) {
	rc, meta, err := w.opts.Objects.Open(ctx, bucket, key)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, problemNotFound, nil
		}
		return nil, "", fmt.Errorf("get digest s3://%s/%s: %w", bucket, key, err)
	}
	raw, problem, err := gunzipAll(rc)
	rc.Close()
	if err != nil {
		return nil, "", fmt.Errorf("read digest s3://%s/%s: %w", bucket, key, err)
	}
	if problem != "" {
		return nil, problem, nil
	}
	if !isJSONObject(raw) {
		return nil, problemFormat, nil
	}
	sigHex, okSig := meta[MetaSignature]
	_, okAlg := meta[MetaSignatureAlgorithm]
	if (!okSig || !okAlg) && w.opts.SignatureFromChain && linkSig != nil {
		sigHex, okSig, okAlg = *linkSig, true, true
	}
	if !okSig || !okAlg {
		return nil, problemSignature, nil
	}
	var backfillTime string
	if w.backfill {
		v, ok := meta[MetaBackfillTimestamp]
		if !ok {
			return nil, problemFormat, nil
		}
		backfillTime = v
	}
	f, ok := parseFields(raw)
	if !ok {
		return nil, problemFormat, nil
	}
	if f.bucket == nil || *f.bucket != bucket || f.object == nil || *f.object != key {
		return nil, problemMoved, nil
	}
	fp := "None"
	if f.fingerprint != nil {
		fp = *f.fingerprint
	}
	if _, ok := w.keys[fp]; !ok && w.backfill {
		t, err := ParseTime(backfillTime)
		if err != nil {
			return nil, err.Error(), nil
		}
		more, err := w.loadKeys(ctx, t.Add(-time.Hour), t.Add(time.Hour))
		if err != nil {
			if ctx.Err() != nil {
				return nil, "", ctx.Err()
			}
			return nil, err.Error(), nil
		}
		for k, v := range more {
			w.keys[k] = v
		}
	}
	pk, ok := w.keys[fp]
	if !ok {
		return nil, fmt.Sprintf("public key not found in region %s for fingerprint %s", w.homeRegion, fp), nil
	}
	pub, err := x509.ParsePKCS1PublicKey(pk.Value)
	if err != nil {
		return nil, "Unable to load PKCS #1 key with fingerprint " + fp, nil
	}
	prev := "null"
	if f.prevSig != nil {
		prev = *f.prevSig
	}
	sig, err := hex.DecodeString(sigHex)
	if err != nil {
		// Python's binascii.unhexlify, whose words the CLI prints.
		if len(sigHex)%2 == 1 {
			return nil, "Odd-length string", nil
		}
		return nil, "Non-hexadecimal digit found", nil
	}
	sum := sha256.Sum256([]byte(signingString(f.end, bucket, key, raw, prev)))
	if rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) != nil {
		return nil, problemSignature, nil
	}
	c := &checked{prevBucket: f.prevBucket, prevKey: f.prevKey, prevSig: f.prevSig, logs: f.logs}
	if c.end, err = ParseTime(f.end); err != nil {
		return nil, err.Error(), nil
	}
	if c.start, err = ParseTime(f.start); err != nil {
		return nil, err.Error(), nil
	}
	return c, "", nil
}

// fields are what the validator reads of a digest's JSON.
type fields struct {
	bucket, object, fingerprint *string
	start, end                  string
	prevSig                     *string // nil: null
	prevBucket, prevKey         *string // nil: null or absent
	logs                        []logEntry
}

// parseFields reads a digest's JSON. It fails (invalid format) if the
// bytes are not a UTF-8 JSON object, a field the AWS CLI requires is
// absent (digestPublicKeyFingerprint, digestS3Bucket, digestS3Object,
// previousDigestSignature, digestEndTime, digestStartTime), or a field
// has a type the CLI could not use.
func parseFields(raw []byte) (*fields, bool) {
	if !utf8.Valid(raw) {
		return nil, false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, false
	}
	for _, k := range []string{"digestPublicKeyFingerprint", "digestS3Bucket", "digestS3Object", "previousDigestSignature", "digestEndTime", "digestStartTime"} {
		if _, ok := m[k]; !ok {
			return nil, false
		}
	}
	// nullable reads a string or null; any other type fails.
	ok := true
	nullable := func(name string) *string {
		v, present := m[name]
		if !present || bytes.Equal(v, []byte("null")) {
			return nil
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			ok = false
			return nil
		}
		return &s
	}
	f := &fields{
		bucket: nullable("digestS3Bucket"), object: nullable("digestS3Object"), fingerprint: nullable("digestPublicKeyFingerprint"),
		prevSig: nullable("previousDigestSignature"), prevBucket: nullable("previousDigestS3Bucket"), prevKey: nullable("previousDigestS3Object"),
	}
	for _, t := range []struct {
		name string
		dst  *string
	}{{"digestStartTime", &f.start}, {"digestEndTime", &f.end}} {
		s := nullable(t.name)
		if s == nil {
			return nil, false
		}
		*t.dst = *s
	}
	if !ok {
		return nil, false
	}
	logs, present := m["logFiles"]
	if !present {
		return nil, false
	}
	var entries []struct {
		S3Bucket  *string `json:"s3Bucket"`
		S3Object  *string `json:"s3Object"`
		HashValue *string `json:"hashValue"`
	}
	if json.Unmarshal(logs, &entries) != nil {
		return nil, false
	}
	for _, e := range entries {
		if e.S3Bucket == nil || e.S3Object == nil || e.HashValue == nil {
			return nil, false
		}
		f.logs = append(f.logs, logEntry{bucket: *e.S3Bucket, key: *e.S3Object, hash: *e.HashValue})
	}
	return f, true
}

// isJSONObject reports whether raw is UTF-8 JSON whose top level is an
// object: what the AWS CLI parses before it looks at the metadata.
func isJSONObject(raw []byte) bool {
	if !utf8.Valid(raw) || !json.Valid(raw) {
		return false
	}
	t := bytes.TrimLeft(raw, " \t\r\n")
	return len(t) > 0 && t[0] == '{'
}
