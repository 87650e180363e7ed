package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/history"
	"github.com/opentrail/opentrail/ingest"
	"github.com/opentrail/opentrail/journal"
)

const ingestSynopsis = `Usage: opentrail ingest [flags] FILE|DIR...

Loads CloudTrail log files into an account's event history: files as trails
deliver them ({"Records":[...]}, plain or .json.gz), JSON arrays of records,
JSON lines of records, and saved LookupEvents output. Directories are walked
for *.json, *.jsonl and *.gz files. Records are kept unchanged and each goes
to the history of its own awsRegion. Records older than the history
retention cannot be searched and are skipped; data events are skipped too
(event history holds management and Insights events, as in AWS).

Malformed files and records are reported with their position and skipped;
the rest is loaded. Works whether or not a server runs on the data
directory. Exit status 1 when anything was skipped as malformed.`

func runIngest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var dataDir, account string
	var retention time.Duration
	var quiet bool
	fs := newFlagSet("ingest", ingestSynopsis, stderr)
	fs.String(&dataDir, "data-dir", "OPENTRAIL_DATA_DIR", "./opentrail-data", "directory holding opentrail's state")
	fs.String(&account, "account-id", "OPENTRAIL_ACCOUNT_ID", "", "account whose history receives the events (default: the data directory's default account)")
	fs.Duration(&retention, "history-retention", "OPENTRAIL_HISTORY_RETENTION", history.DefaultRetention, "event history retention: older records are skipped")
	fs.Bool(&quiet, "quiet", "", false, "print only the summary and problems, no progress")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitError{code: 2, msg: "ingest needs at least one file or directory"}
	}
	files, err := ingest.Paths(fs.Args())
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return errors.New("no log files found (looked for *.json, *.jsonl and *.gz)")
	}
	if _, err := os.Stat(dataDir); err != nil {
		return fmt.Errorf("data directory %s: %w (run opentrail serve once to create it, or pass --data-dir)", dataDir, err)
	}
	db, err := journal.Open(ctx, filepath.Join(dataDir, "opentrail.db"), journal.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	if account == "" {
		v, ok, err := db.Setting(ctx, settingDefaultAccount)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("the data directory %s has no default account yet: run opentrail serve once, or pass --account-id", dataDir)
		}
		account = v
	}
	if !opentrail.ValidAccountID(account) {
		return fmt.Errorf("--account-id %q is not a 12-digit account ID", account)
	}
	prog := newProgress(stderr, quiet)
	start := time.Now()
	rep, err := ingest.Load(ctx, db, files, ingest.Options{
		Account:   account,
		Retention: retention,
		Progress: func(p ingest.Progress) {
			prog.update("ingest: %d/%d files, %d records read, %d stored, %s", p.FilesDone, p.Files, p.Records, p.Ingested, mib(p.Bytes))
		},
	})
	prog.done()
	for _, p := range rep.Problems {
		fmt.Fprintln(stderr, "skipped:", p)
	}
	if err != nil {
		return err
	}
	// Index what was loaded, so that it is searchable even if no server
	// runs on this data directory (a running server indexes it itself).
	h, err := history.Open(ctx, db, history.Options{Dir: filepath.Join(dataDir, "history"), Retention: retention})
	switch {
	case errors.Is(err, history.ErrLocked):
		fmt.Fprintln(stderr, "ingest: a server runs on this data directory; it indexes the events itself")
	case err != nil:
		return err
	default:
		err := h.CatchUp(ctx, func(indexed, head int64) {
			prog.update("ingest: indexing %d/%d", indexed, head)
		})
		prog.done()
		if cerr := h.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "ingested %d of %d records from %d files into account %s in %s",
		rep.Ingested, rep.Records, rep.Files, account, time.Since(start).Round(time.Millisecond))
	var notes []string
	if rep.TooOld > 0 {
		notes = append(notes, fmt.Sprintf("%d older than the %s history retention", rep.TooOld, retention))
	}
	if rep.NotHistory > 0 {
		notes = append(notes, fmt.Sprintf("%d data or network-activity events (not kept in event history)", rep.NotHistory))
	}
	if rep.Invalid > 0 {
		notes = append(notes, fmt.Sprintf("%d malformed records", rep.Invalid))
	}
	if rep.FilesFailed > 0 {
		notes = append(notes, fmt.Sprintf("%d files could not be read to the end", rep.FilesFailed))
	}
	if len(notes) > 0 {
		fmt.Fprintf(stdout, "; skipped: ")
		for i, n := range notes {
			if i > 0 {
				fmt.Fprint(stdout, ", ")
			}
			fmt.Fprint(stdout, n)
		}
	}
	fmt.Fprintln(stdout)
	if rep.Invalid > 0 || rep.FilesFailed > 0 {
		return exitError{code: 1}
	}
	return nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
