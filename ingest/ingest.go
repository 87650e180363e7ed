// Package ingest loads CloudTrail log files into an account's event history:
// files as trails deliver them ({"Records":[...]}, plain or gzipped), JSON
// arrays of records, JSON lines of records, and the output of LookupEvents
// (records inside "CloudTrailEvent" strings). Records are kept byte for byte
// (whitespace aside) and each goes to the history of its own awsRegion.
// Malformed files and records are reported with their position and skipped;
// the rest goes on.
package ingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/journal"
)

// Options configure a load.
type Options struct {
	// Account receives the events.
	Account string
	// Retention is event history's retention: older records are skipped
	// (they could never be found). Zero means 90 days.
	Retention time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Progress, if set, is called after each batch and each file.
	Progress func(Progress)
	// BatchSize is how many records one journal commit holds (default 2000).
	BatchSize int
}

// Progress reports how far a load is.
type Progress struct {
	File      string
	FilesDone int
	Files     int
	Bytes     int64 // bytes read from files so far (compressed size)
	Records   int
	Ingested  int
}

// Problem is a file or record that was skipped.
type Problem struct {
	File string
	// Record is the 1-based position of the record in its file, 0 when
	// the problem concerns the file itself.
	Record int
	// Offset is the byte offset in the (uncompressed) file where the
	// problem was found, when known.
	Offset int64
	Err    string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Record > 0 {
		fmt.Fprintf(&b, ": record %d", p.Record)
	}
	if p.Offset > 0 {
		fmt.Fprintf(&b, " (byte %d)", p.Offset)
	}
	b.WriteString(": ")
	b.WriteString(p.Err)
	return b.String()
}

// Report summarises a load.
type Report struct {
	Files       int
	FilesFailed int
	Records     int // records read
	Ingested    int // records stored
	TooOld      int // records older than the retention period
	NotHistory  int // data and network-activity records: event history keeps management and Insights events only
	Invalid     int // records that are not valid CloudTrail records
	Problems    []Problem
}

// Paths expands the arguments into the files to load: files as given,
// directories walked for *.json, *.jsonl and *.gz files, in name order.
func Paths(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		var found []string
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() && logFileName.MatchString(d.Name()) {
				found = append(found, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

var logFileName = regexp.MustCompile(`(?i)\.(json|jsonl|ndjson|gz)$`)

// Load reads the files and appends their records to the journal.
func Load(ctx context.Context, db *journal.DB, files []string, opts Options) (*Report, error) {
	if !opentrail.ValidAccountID(opts.Account) {
		return nil, fmt.Errorf("ingest: %q is not a 12-digit account ID", opts.Account)
	}
	if opts.Retention <= 0 {
		opts.Retention = 90 * 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 2000
	}
	l := &loader{db: db, opts: opts, report: &Report{}, cutoff: opts.Now().Add(-opts.Retention)}
	l.progress.Files = len(files)
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return l.report, err
		}
		l.progress.File = f
		if err := l.file(ctx, f); err != nil {
			if errors.Is(err, errStore) {
				return l.report, err
			}
			l.report.FilesFailed++
			l.problem(Problem{File: f, Err: err.Error()})
		}
		l.report.Files++
		l.progress.FilesDone++
		if err := l.flush(ctx); err != nil {
			return l.report, err
		}
	}
	return l.report, nil
}

// errStore marks failures of the journal, which stop the load.
var errStore = errors.New("store")

type loader struct {
	db       *journal.DB
	opts     Options
	report   *Report
	cutoff   time.Time
	batch    []journal.Entry
	progress Progress
}

func (l *loader) problem(p Problem) {
	// Keep the report bounded on hostile inputs; the counts stay exact.
	if len(l.report.Problems) < 1000 {
		l.report.Problems = append(l.report.Problems, p)
	}
}

func (l *loader) flush(ctx context.Context) error {
	if len(l.batch) > 0 {
		if _, err := l.db.Append(ctx, l.batch...); err != nil {
			return fmt.Errorf("%w: append to journal: %v", errStore, err)
		}
		l.report.Ingested += len(l.batch)
		l.batch = l.batch[:0]
	}
	l.progress.Records = l.report.Records
	l.progress.Ingested = l.report.Ingested
	if l.opts.Progress != nil {
		l.opts.Progress(l.progress)
	}
	return nil
}

// countingReader counts the bytes read from the file, for progress.
type countingReader struct {
	r io.Reader
	n *int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += int64(n)
	return n, err
}

func (l *loader) file(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(countingReader{f, &l.progress.Bytes}, 256<<10)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("not a valid gzip file: %v", err)
		}
		defer zr.Close()
		r = zr
	}
	return l.stream(ctx, path, r)
}

var wrapperStart = regexp.MustCompile(`^\s*\{\s*"(Records|Events)"\s*:`)

// stream reads the records of one (decompressed) file.
func (l *loader) stream(ctx context.Context, path string, r io.Reader) error {
	return Scan(r, func(raw json.RawMessage, n int, offset int64) error {
		if err := l.record(path, n, offset, raw); err != nil {
			return err
		}
		if len(l.batch) >= l.opts.BatchSize {
			return l.flush(ctx)
		}
		return nil
	})
}

// Scan reads the records of one decompressed log file in any of the forms
// Load accepts and calls fn with each, its 1-based position and the byte
// offset where it starts. A record is any JSON value there; fn decides
// what is valid. Scan stops at fn's first error, and at the first point the
// file stops being valid JSON (the error says where).
func Scan(r io.Reader, fn func(raw json.RawMessage, n int, offset int64) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(256)
	dec := json.NewDecoder(br)
	n := 0
	var offset int64 // where the record being read starts
	each := func(raw json.RawMessage) error {
		n++
		return fn(raw, n, offset)
	}
	switch {
	case len(bytes.TrimSpace(head)) == 0:
		return fmt.Errorf("the file is empty")
	case wrapperStart.Match(head):
		// {"Records": [ ... ]} (or {"Events": [...]}, LookupEvents output):
		// stream the array's elements; other keys are ignored.
		if _, err := dec.Token(); err != nil {
			return syntaxErr(dec, err)
		}
		found := false
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return syntaxErr(dec, err)
			}
			key, _ := tok.(string)
			if key != "Records" && key != "Events" {
				var skip json.RawMessage
				if err := dec.Decode(&skip); err != nil {
					return syntaxErr(dec, err)
				}
				continue
			}
			found = true
			if err := scanArray(dec, &offset, each); err != nil {
				return err
			}
		}
		if !found {
			return fmt.Errorf("no Records list")
		}
		return nil
	case bytes.HasPrefix(bytes.TrimSpace(head), []byte("[")):
		return scanArray(dec, &offset, each)
	default:
		// JSON lines (or concatenated objects).
		for {
			var raw json.RawMessage
			offset = dec.InputOffset()
			err := dec.Decode(&raw)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return syntaxErr(dec, err)
			}
			if err := each(raw); err != nil {
				return err
			}
		}
	}
}

// scanArray streams the elements of a JSON array.
func scanArray(dec *json.Decoder, offset *int64, each func(json.RawMessage) error) error {
	tok, err := dec.Token()
	if err != nil {
		return syntaxErr(dec, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		if tok == nil {
			return nil // "Records": null
		}
		return fmt.Errorf("byte %d: expected a list of records", dec.InputOffset())
	}
	for dec.More() {
		var raw json.RawMessage
		*offset = dec.InputOffset()
		if err := dec.Decode(&raw); err != nil {
			return syntaxErr(dec, err)
		}
		if err := each(raw); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return syntaxErr(dec, err)
	}
	return nil
}

func syntaxErr(dec *json.Decoder, err error) error {
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return fmt.Errorf("byte %d: the file ends in the middle of a JSON value (truncated?)", dec.InputOffset())
	}
	return fmt.Errorf("byte %d: not valid JSON: %v", dec.InputOffset(), err)
}

// record validates one record and queues it.
func (l *loader) record(path string, n int, offset int64, raw json.RawMessage) error {
	l.report.Records++
	raw = bytes.TrimSpace(raw)
	// LookupEvents output: the record is the CloudTrailEvent string.
	if len(raw) > 0 && raw[0] == '{' && bytes.Contains(raw, []byte(`"CloudTrailEvent"`)) {
		var ev struct {
			CloudTrailEvent *string `json:"CloudTrailEvent"`
		}
		if json.Unmarshal(raw, &ev) == nil && ev.CloudTrailEvent != nil {
			raw = json.RawMessage(*ev.CloudTrailEvent)
		}
	}
	if len(raw) == 0 || raw[0] != '{' {
		l.report.Invalid++
		l.problem(Problem{File: path, Record: n, Offset: offset, Err: "not a JSON object"})
		return nil
	}
	sum, err := opentrail.Summarize(raw)
	if err != nil {
		l.report.Invalid++
		l.problem(Problem{File: path, Record: n, Offset: offset, Err: strings.TrimPrefix(err.Error(), opentrail.ErrInvalidRecord.Error()+": ")})
		return nil
	}
	switch sum.Category {
	case opentrail.CategoryManagement, opentrail.CategoryInsight:
	default:
		l.report.NotHistory++
		return nil
	}
	if sum.Time.Before(l.cutoff) {
		l.report.TooOld++
		return nil
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		l.report.Invalid++
		l.problem(Problem{File: path, Record: n, Offset: offset, Err: err.Error()})
		return nil
	}
	l.batch = append(l.batch, journal.Entry{
		Account:  l.opts.Account,
		Region:   sum.Region,
		Time:     sum.Time,
		Category: sum.Category,
		Origin:   journal.OriginIngest,
		History:  true,
		Body:     compact.Bytes(),
	})
	return nil
}
