package lakeingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"runtime"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/opentrail/opentrail/blob"
	"github.com/opentrail/opentrail/journal"
	"github.com/opentrail/opentrail/lake"
)

// ImportBuckets is the bucket store imports read: the server's bucket
// backend (a blob.Store).
type ImportBuckets interface {
	ListObjects(ctx context.Context, bucket string, opts blob.ListOptions) (*blob.ListResult, error)
	GetObject(ctx context.Context, bucket, key string, offset, length int64) (io.ReadCloser, *blob.ObjectInfo, error)
}

// ImportLake is what an Importer needs of the lake (a *lake.Engine).
type ImportLake interface {
	ImportBatch(ctx context.Context, id string, sources []lake.ImportSource) ([]lake.ImportResult, error)
}

// ImporterOptions configure an Importer.
type ImporterOptions struct {
	DB      *journal.DB
	Lake    ImportLake
	Buckets ImportBuckets
	Logger  *slog.Logger
	Now     func() time.Time
	// Readers is how many files are fetched and parsed at once (default:
	// GOMAXPROCS, at least 2).
	Readers int
	// Poll is how often new, stopped and interrupted imports are noticed
	// (default 250 ms).
	Poll time.Duration
}

// MaxLogFileSize bounds a log file, compressed and once decompressed; a
// larger one is refused (CloudTrail's files are far smaller).
const MaxLogFileSize = 256 << 20

// Importer runs imports: those StartImport records, and after a restart
// those that were running.
type Importer struct {
	opts ImporterOptions
	log  *slog.Logger

	mu      sync.Mutex
	running map[string]bool
	wg      sync.WaitGroup
}

// NewImporter returns an Importer; call Run.
func NewImporter(opts ImporterOptions) *Importer {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Readers <= 0 {
		opts.Readers = max(2, runtime.GOMAXPROCS(0))
	}
	if opts.Poll <= 0 {
		opts.Poll = 250 * time.Millisecond
	}
	return &Importer{opts: opts, log: opts.Logger.With(slog.String("component", "lake-import")), running: map[string]bool{}}
}

// Run runs the imports initializing or in progress, and those started
// later, until ctx ends. An import interrupted by ctx resumes at the next
// Run.
func (im *Importer) Run(ctx context.Context) {
	t := time.NewTicker(im.opts.Poll)
	defer t.Stop()
	for {
		ids, err := activeImports(ctx, im.opts.DB)
		if err != nil && ctx.Err() == nil {
			im.log.Error("list imports", slog.String("err", err.Error()))
		}
		for _, id := range ids {
			im.mu.Lock()
			if !im.running[id] {
				im.running[id] = true
				im.wg.Add(1)
				go im.runOne(ctx, id)
			}
			im.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			im.wg.Wait()
			return
		case <-t.C:
		}
	}
}

func (im *Importer) runOne(ctx context.Context, id string) {
	defer im.wg.Done()
	defer func() {
		im.mu.Lock()
		delete(im.running, id)
		im.mu.Unlock()
	}()
	log := im.log.With(slog.String("import", id))
	for ctx.Err() == nil {
		err := im.run(ctx, id)
		if err == nil || ctx.Err() != nil {
			return
		}
		log.Error("import", slog.String("err", err.Error()))
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
		}
	}
}

// logFile is a file an import reads.
type logFile struct {
	key, etag string
	dir       string // its folder: CloudTrail's "prefix" in the statistics
	location  string // s3://bucket/key
}

// source names a file for the lake's per-source idempotency: the same
// key with the same content is imported once per store.
func (f *logFile) source() string { return f.location + "#" + f.etag }

// fileResult is a file read and parsed, or why it could not be.
type fileResult struct {
	file             *logFile
	events           [][]byte
	errType, errText string
}

// run carries one import to its end (or until it is stopped or ctx ends).
func (im *Importer) run(ctx context.Context, id string) error {
	db := im.opts.DB
	imp, err := GetImport(ctx, db, id)
	if err != nil || imp == nil || !imp.Active() {
		return err
	}
	st, err := GetStore(ctx, db, imp.Store)
	if err != nil {
		return err
	}
	if st == nil || st.Status == StatusPendingDeletion {
		return im.finish(ctx, imp, "", "the destination event data store no longer exists")
	}
	now := im.opts.Now()
	files, err := im.list(ctx, imp)
	if err != nil {
		if errors.Is(err, blob.ErrNoSuchBucket) {
			return im.finish(ctx, imp, imp.SourceURI, "The S3 bucket "+imp.Bucket+" does not exist.")
		}
		return err
	}
	// A retry got past what failed the whole import before (the store,
	// the bucket): that failure is now SUCCEEDED.
	err = db.Update(ctx, func(tx *journal.Tx) error {
		_, err := tx.Exec(`UPDATE lake_import_files SET status = ?, updated = ? WHERE import = ? AND status = ? AND error_type = 'ImportFailed'`,
			fileCompleted, now.UnixMilli(), id, fileRetry)
		return err
	})
	if err != nil {
		return err
	}
	done, err := importFiles(ctx, db, id)
	if err != nil {
		return err
	}
	// The statistics follow from the files dealt with so far, so a resumed
	// import counts each file once.
	left := map[string]int{} // files not dealt with, by folder
	var todo []*logFile
	var stats ImportStats
	dirs := map[string]bool{}
	for _, f := range files {
		dirs[f.dir] = true
		d, ok := done[f.location]
		switch {
		case ok && d.status == fileCompleted:
			stats.FilesCompleted++
			stats.EventsCompleted += d.events
			continue
		case ok && d.status == fileFailed:
			stats.FailedEntries++
			continue
		}
		left[f.dir]++
		todo = append(todo, f)
	}
	stats.PrefixesFound = int64(len(dirs))
	stats.PrefixesCompleted = int64(len(dirs) - len(left))
	if ok, err := im.progress(ctx, imp, ImportInProgress, stats, nil); err != nil || !ok {
		return err
	}
	w := &importWriter{im: im, imp: imp, stats: stats, left: left, done: done, log: im.log.With(slog.String("import", id))}
	filter := logFilter{start: imp.Start, end: imp.End, cutoff: now.AddDate(0, 0, -st.Retention)}
	stopped, err := w.copy(ctx, todo, filter)
	if err != nil || stopped || ctx.Err() != nil {
		return err // stopped, or the server is shutting down: it resumes at the next start
	}
	return im.finish(ctx, imp, "", "")
}

// list finds the log files under the import's prefix, in key order.
func (im *Importer) list(ctx context.Context, imp *Import) ([]*logFile, error) {
	var out []*logFile
	opts := blob.ListOptions{Prefix: imp.Prefix}
	for {
		page, err := im.opts.Buckets.ListObjects(ctx, imp.Bucket, opts)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", imp.Bucket, imp.Prefix, err)
		}
		for _, o := range page.Objects {
			if !LogFileKey(imp.Prefix, o.Key) || !KeyInRange(o.Key, imp.Start, imp.End) {
				continue
			}
			out = append(out, &logFile{key: o.Key, etag: o.ETag, dir: path.Dir(o.Key), location: "s3://" + imp.Bucket + "/" + o.Key})
		}
		if !page.Truncated {
			return out, nil
		}
		opts.StartAfter = page.NextStartAfter
	}
}

// finish ends an import: COMPLETED without failures, FAILED with some.
// failLocation and failText record a failure of the import as a whole.
func (im *Importer) finish(ctx context.Context, imp *Import, failLocation, failText string) error {
	return im.opts.DB.Update(context.WithoutCancel(ctx), func(tx *journal.Tx) error {
		cur, err := TxImport(tx, imp.ID)
		if err != nil || cur == nil || !cur.Active() || cur.Run != imp.Run {
			return err
		}
		now := im.opts.Now().UTC()
		if failText != "" {
			if failLocation == "" {
				failLocation = cur.Destination
			}
			if err := putImportFile(tx, cur.ID, failLocation, fileFailed, 0, "ImportFailed", failText, now); err != nil {
				return err
			}
			cur.Stats.FailedEntries++
		}
		// Files a retry was to read again but did not (gone from the
		// bucket, or the run ended early) stay failed.
		res, err := tx.Exec(`UPDATE lake_import_files SET status = ?, updated = ? WHERE import = ? AND status = ?`,
			fileFailed, now.UnixMilli(), cur.ID, fileRetry)
		if err != nil {
			return err
		}
		left, _ := res.RowsAffected()
		cur.Stats.FailedEntries += left
		cur.Status = ImportCompleted
		if cur.Stats.FailedEntries > 0 {
			cur.Status = ImportFailed
		}
		cur.Updated = now
		return PutImport(tx, cur)
	})
}

// progress records an import's statistics and status (and the files in
// tx's callback) unless it was stopped meanwhile: then it reports false.
// A stopped import still records files it finished copying.
func (im *Importer) progress(ctx context.Context, imp *Import, status string, stats ImportStats, files func(*journal.Tx) error) (bool, error) {
	running := true
	err := im.opts.DB.Update(context.WithoutCancel(ctx), func(tx *journal.Tx) error {
		cur, err := TxImport(tx, imp.ID)
		if err != nil {
			return err
		}
		if cur == nil || cur.Run != imp.Run {
			running = false // gone, or retried: a new run owns it
			return nil
		}
		if files != nil {
			if err := files(tx); err != nil {
				return err
			}
		}
		if !cur.Active() {
			running = false
			if cur.Status != ImportStopped {
				return nil
			}
		} else {
			cur.Status = status
		}
		cur.Stats = stats
		cur.Updated = im.opts.Now().UTC()
		return PutImport(tx, cur)
	})
	return running, err
}

// importWriter hands parsed files to the lake and records their outcome.
type importWriter struct {
	im    *Importer
	imp   *Import
	log   *slog.Logger
	stats ImportStats
	left  map[string]int
	done  map[string]importFile
}

// groupFiles and groupEvents bound how much is handed to the lake between
// two records of progress.
const (
	groupFiles  = 64
	groupEvents = 20000
	groupWait   = 250 * time.Millisecond
)

// copy reads the files in parallel (readers goroutines fetch, decompress
// and parse) while it hands them to the lake one at a time, recording
// progress every group of files. It reports whether the import was
// stopped.
func (w *importWriter) copy(ctx context.Context, todo []*logFile, filter logFilter) (stopped bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	readers := w.im.opts.Readers
	jobs := make(chan int)
	results := make([]chan *fileResult, len(todo))
	for i := range results {
		results[i] = make(chan *fileResult, 1)
	}
	// Readers run at most 2*readers files ahead of the writer: tokens
	// bound the memory parsed files hold.
	tokens := make(chan struct{}, 2*readers)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(jobs)
		for i := range todo {
			select {
			case tokens <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				results[i] <- w.im.read(ctx, w.imp.Bucket, todo[i], filter)
			}
		}()
	}
	var group []*fileResult
	groupEv := 0
	last := time.Now()
	for i := range todo {
		var r *fileResult
		select {
		case r = <-results[i]:
		case <-ctx.Done():
			return false, nil
		}
		<-tokens
		if ctx.Err() != nil {
			return false, nil
		}
		group = append(group, r)
		groupEv += len(r.events)
		if len(group) >= groupFiles || groupEv >= groupEvents || time.Since(last) >= groupWait || i == len(todo)-1 {
			ok, err := w.flush(ctx, group)
			if err != nil || !ok {
				return !ok, err
			}
			group, groupEv, last = group[:0], 0, time.Now()
		}
	}
	return false, nil
}

// flush hands a group of files to the lake: it first records those it
// will import as IMPORTING (so that after a crash, a file the lake
// already has is counted as this import's), imports them, then records
// the outcome and the statistics. It reports false once the import is
// stopped.
func (w *importWriter) flush(ctx context.Context, group []*fileResult) (bool, error) {
	im := w.im
	var intents []*fileResult
	resumed := map[string]int64{} // files an earlier run handed to the lake, with their events
	for _, r := range group {
		if r.errType != "" || len(r.events) == 0 {
			continue
		}
		if d := w.done[r.file.location]; d.status == fileImporting {
			resumed[r.file.location] = d.events
		} else {
			intents = append(intents, r)
		}
	}
	if len(intents) > 0 {
		err := im.opts.DB.Update(context.WithoutCancel(ctx), func(tx *journal.Tx) error {
			now := im.opts.Now()
			for _, r := range intents {
				if err := putImportFile(tx, w.imp.ID, r.file.location, fileImporting, int64(len(r.events)), "", "", now); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return false, err
		}
	}
	type outcome struct {
		r      *fileResult
		events int64
	}
	var pending []outcome
	// The files go to the lake in one transaction.
	var sources []lake.ImportSource
	for _, r := range group {
		if r.errType == "" && len(r.events) > 0 {
			sources = append(sources, lake.ImportSource{Source: r.file.source(), Events: r.events})
		}
	}
	var results []lake.ImportResult
	if len(sources) > 0 {
		var end bool
		var err error
		if results, end, err = w.importGroup(ctx, sources); end {
			return false, err
		}
	}
	for _, r := range group {
		o := outcome{r: r}
		if r.errType == "" && len(r.events) > 0 {
			res := results[0]
			results = results[1:]
			switch {
			case errors.Is(res.Err, lake.ErrAlreadyImported):
				// Copied before: by this import before a restart (its
				// intent says how many events), or by another import.
				res.Added = resumed[r.file.location]
			case res.Err != nil:
				r.errType, r.errText = "InternalError", "The file could not be stored in the event data store."
			}
			o.events = res.Added
		}
		pending = append(pending, o)
		if r.errType != "" {
			w.stats.FailedEntries++
		} else {
			w.stats.FilesCompleted++
			w.stats.EventsCompleted += o.events
		}
		w.left[r.file.dir]--
		if w.left[r.file.dir] == 0 {
			w.stats.PrefixesCompleted++
		}
	}
	// The lake took the group whole, so its outcomes are recorded
	// together, also when the import was stopped meanwhile.
	return im.progress(ctx, w.imp, ImportInProgress, w.stats, func(tx *journal.Tx) error {
		now := im.opts.Now()
		for _, o := range pending {
			status := fileCompleted
			if o.r.errType != "" {
				status = fileFailed
			}
			if err := putImportFile(tx, w.imp.ID, o.r.file.location, status, o.events, o.r.errType, o.r.errText, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// importGroup hands sources to the lake in one transaction and, if that
// fails, one by one, so that a file the lake refuses fails alone. It
// returns a result per source, or end true when the import cannot go on
// (ctx ended, or the store is gone: err is then the import's end).
func (w *importWriter) importGroup(ctx context.Context, sources []lake.ImportSource) (results []lake.ImportResult, end bool, err error) {
	ended := func(err error) (bool, error) {
		switch {
		case ctx.Err() != nil:
			return true, nil
		case errors.Is(err, lake.ErrStoreNotFound):
			return true, w.im.finish(ctx, w.imp, "", "the destination event data store no longer exists")
		}
		return false, nil
	}
	results, err = w.im.opts.Lake.ImportBatch(ctx, w.imp.Store, sources)
	if end, err := ended(err); end {
		return nil, true, err
	}
	if err == nil {
		return results, false, nil
	}
	w.log.Warn("import log files together", slog.Int("files", len(sources)), slog.String("err", err.Error()))
	results = make([]lake.ImportResult, len(sources))
	for i, src := range sources {
		res, err := w.im.opts.Lake.ImportBatch(ctx, w.imp.Store, []lake.ImportSource{src})
		if end, err := ended(err); end {
			return nil, true, err
		}
		if err != nil {
			w.log.Error("import log file", slog.String("source", src.Source), slog.String("err", err.Error()))
			results[i].Err = err
			continue
		}
		results[i] = res[0]
	}
	return results, false, nil
}

// read fetches, decompresses and parses one log file.
func (im *Importer) read(ctx context.Context, bucket string, f *logFile, filter logFilter) *fileResult {
	r := &fileResult{file: f}
	rc, info, err := im.opts.Buckets.GetObject(ctx, bucket, f.key, 0, -1)
	if err != nil {
		r.errType, r.errText = "S3ReadError", "The file could not be read: "+readError(err)
		return r
	}
	defer rc.Close()
	var size int64
	if info != nil && info.Size > 0 && info.Size < MaxLogFileSize {
		size = info.Size
	}
	buf := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead))
	_, err = buf.ReadFrom(io.LimitReader(rc, MaxLogFileSize+1))
	raw := buf.Bytes()
	if err != nil {
		r.errType, r.errText = "S3ReadError", "The file could not be read: "+readError(err)
		return r
	}
	if len(raw) > MaxLogFileSize {
		r.errType, r.errText = "FileTooLarge", fmt.Sprintf("The file is larger than %d bytes.", MaxLogFileSize)
		return r
	}
	data, err := gunzip(raw)
	if err != nil {
		r.errType, r.errText = "InvalidGzip", "The file is not a valid gzip file: "+err.Error()
		return r
	}
	r.events, err = parseLog(data, filter)
	if err != nil {
		r.errType, r.errText = "InvalidLogFile", "The file is not a valid CloudTrail log file: "+err.Error()
		if !errors.Is(err, errLogFile) {
			r.errType = "InvalidJson"
		}
	}
	return r
}

func readError(err error) string {
	switch {
	case errors.Is(err, blob.ErrNoSuchKey):
		return "NoSuchKey: the object no longer exists"
	case errors.Is(err, blob.ErrNoSuchBucket):
		return "NoSuchBucket: the bucket no longer exists"
	}
	return err.Error()
}

// gzipReaders are reused: a reader holds a large window.
var gzipReaders sync.Pool

// gunzip decompresses a whole gzip file (all its members), up to
// MaxLogFileSize.
func gunzip(b []byte) ([]byte, error) {
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		return nil, errors.New("it does not start with the gzip header")
	}
	zr, _ := gzipReaders.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(bytes.NewReader(b))
	} else {
		err = zr.Reset(bytes.NewReader(b))
	}
	if err != nil {
		return nil, err
	}
	defer gzipReaders.Put(zr)
	out := bytes.NewBuffer(make([]byte, 0, min(8*len(b), 16<<20))) // grows as needed; a hostile file cannot reserve much
	n, err := io.Copy(out, io.LimitReader(zr, MaxLogFileSize+1))
	if err != nil {
		return nil, err
	}
	if n > MaxLogFileSize {
		return nil, fmt.Errorf("it holds more than %d bytes", MaxLogFileSize)
	}
	return out.Bytes(), nil
}
