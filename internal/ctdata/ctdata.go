// Package ctdata reads the CloudTrail records of the shared test data
// (../shared/testdata/cloudtrail beside the repository) for tests.
package ctdata

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// Load reads every CloudTrail file below dir: trail log files
// ({"Records":[...]}, maybe gzipped), JSON arrays of records and
// LookupEvents JSON lines (CloudTrailEvent strings). Files that hold no
// records are skipped, with a reason by path. The test is skipped when dir
// does not exist.
func Load(tb testing.TB, dir string) (records [][]byte, skipped map[string]string) {
	tb.Helper()
	if _, err := os.Stat(dir); err != nil {
		tb.Skipf("no shared test data: %v", err)
	}
	skipped = map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, ".md") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.HasSuffix(path, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				skipped[path] = "bad gzip: " + err.Error()
				return nil
			}
			if b, err = io.ReadAll(zr); err != nil {
				skipped[path] = "bad gzip: " + err.Error()
				return nil
			}
		}
		var recs []json.RawMessage
		var wrapped struct{ Records []json.RawMessage }
		switch {
		case json.Unmarshal(b, &wrapped) == nil && wrapped.Records != nil:
			recs = wrapped.Records
		case json.Unmarshal(b, &recs) == nil:
		case strings.HasSuffix(path, ".jsonl"):
			for _, line := range bytes.Split(b, []byte("\n")) {
				var le struct{ CloudTrailEvent string }
				if len(bytes.TrimSpace(line)) == 0 {
					continue
				}
				if err := json.Unmarshal(line, &le); err != nil || le.CloudTrailEvent == "" {
					skipped[path] = "JSON line without CloudTrailEvent"
					return nil
				}
				recs = append(recs, json.RawMessage(le.CloudTrailEvent))
			}
		case json.Valid(b):
			skipped[path] = "JSON without Records (not a log file)"
			return nil
		default:
			skipped[path] = "malformed JSON"
			return nil
		}
		for _, r := range recs {
			records = append(records, []byte(r))
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return records, skipped
}

// Generator makes new records from the real records of the shared test
// data's invictus-ir dataset: each is the next of them in turn with a
// fresh eventID and requestID, the time asked for and a source address
// counting up.
type Generator struct {
	templates []map[string]any
	n         int
}

// NewGenerator reads the templates below dir (the shared test data's
// cloudtrail folder). The test is skipped when there are none.
func NewGenerator(tb testing.TB, dir string) *Generator {
	tb.Helper()
	paths, _ := filepath.Glob(filepath.Join(dir, "invictus-ir_aws_dataset", "CloudTrail", "*.json"))
	g := &Generator{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		var w struct{ Records []map[string]any }
		if err := json.Unmarshal(b, &w); err != nil {
			tb.Fatal(err)
		}
		g.templates = append(g.templates, w.Records...)
	}
	if len(g.templates) == 0 {
		tb.Skip("no shared test data")
	}
	return g
}

// Next returns a new record whose eventTime is at.
func (g *Generator) Next(tb testing.TB, at time.Time) []byte {
	tb.Helper()
	r := g.templates[g.n%len(g.templates)]
	r["eventID"] = uuid.NewString()
	r["requestID"] = uuid.NewString()
	r["eventTime"] = at.UTC().Format(time.RFC3339)
	r["sourceIPAddress"] = fmt.Sprintf("10.%d.%d.%d", g.n>>16&255, g.n>>8&255, g.n&255)
	g.n++
	b, err := json.Marshal(r)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
