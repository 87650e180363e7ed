package lakeingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/blob"
)

// ParseS3URI reads an import's S3LocationUri, s3://bucket[/prefix], and
// returns the bucket and the key prefix to scan: empty, or ending in "/"
// (a prefix names a folder). It reports false for anything else.
func ParseS3URI(uri string) (bucket, prefix string, ok bool) {
	rest, found := strings.CutPrefix(uri, "s3://")
	if !found {
		return "", "", false
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if blob.CheckBucketName(bucket) != nil || !utf8.ValidString(prefix) || len(prefix) > blob.MaxKeyLength-1 {
		return "", "", false
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return bucket, prefix, true
}

// LogFileKey reports whether an import of prefix reads the object at key:
// a gzipped log file (name ending in .json.gz) and, where the key follows
// CloudTrail's layout (AWSLogs/[o-org/]account/service/...) below the
// prefix, one in the CloudTrail service folder: digests, Insights and
// other services' logs are left alone unless the prefix itself names
// their folder.
func LogFileKey(prefix, key string) bool {
	if !strings.HasPrefix(key, prefix) || !strings.HasSuffix(key, ".json.gz") {
		return false
	}
	segs := strings.Split(key, "/")
	for i, s := range segs {
		if s != "AWSLogs" {
			continue
		}
		j := i + 1
		if j < len(segs) && strings.HasPrefix(segs[j], "o-") {
			j++ // an organization trail's folder
		}
		j++ // the account
		if j >= len(segs)-1 {
			return true // no service folder: not CloudTrail's layout
		}
		// Where the service folder starts in the key: only a folder below
		// the prefix is judged.
		at := len(strings.Join(segs[:j], "/")) + 1
		if at < len(prefix) {
			return true
		}
		return segs[j] == "CloudTrail"
	}
	return true
}

// KeyTime reads the time a log file's key names: the delivery time in
// CloudTrail's file name (..._20230710T1205Z_...) to the minute, or else
// the date of its YYYY/MM/DD folders. precise is true for the former; ok
// is false when the key names no time.
func KeyTime(key string) (t time.Time, precise, ok bool) {
	name := key[strings.LastIndexByte(key, '/')+1:]
	for i := 0; i+15 <= len(name); i++ {
		// _YYYYMMDDTHHMMZ_
		if name[i] == '_' && i+16 < len(name) && name[i+9] == 'T' && name[i+14] == 'Z' && name[i+15] == '_' {
			if t, err := time.Parse("20060102T1504Z", name[i+1:i+15]); err == nil {
				return t, true, true
			}
		}
	}
	segs := strings.Split(key, "/")
	for i := len(segs) - 2; i >= 2; i-- {
		if len(segs[i-2]) == 4 && len(segs[i-1]) == 2 && len(segs[i]) == 2 {
			if t, err := time.Parse("2006/01/02", segs[i-2]+"/"+segs[i-1]+"/"+segs[i]); err == nil {
				return t, false, true
			}
		}
	}
	return time.Time{}, false, false
}

// keySlack is how late after its last event a log file may be named:
// CloudTrail delivers within minutes; an hour leaves room.
const keySlack = time.Hour

// KeyInRange reports whether the log file at key may hold events in
// [start, end] (zero: unbounded), judging by the time its key names. A key
// that names no time may.
func KeyInRange(key string, start, end time.Time) bool {
	t, precise, ok := KeyTime(key)
	if !ok {
		return true
	}
	// The file holds events from before its time (precise) or of its day.
	first, last := t.Add(-keySlack), t
	if !precise {
		first, last = t, t.Add(24*time.Hour)
	}
	if !start.IsZero() && last.Before(start) {
		return false
	}
	if !end.IsZero() && first.After(end) {
		return false
	}
	return true
}

// logFilter picks the records of a log file an import copies.
type logFilter struct {
	start, end time.Time // the import's range; zero: unbounded
	cutoff     time.Time // the store's retention: older events are skipped
}

// errLogFile is wrapped by parseLog's errors about the file's content.
var errLogFile = errors.New("not a CloudTrail log file")

// parseLog reads a decompressed log file, {"Records": [record, ...]} with
// any other keys ignored, and returns the records the filter takes
// (slices of data). Records whose eventTime cannot be read are taken when
// the import has no time range (retention cannot judge them either). A
// file that is not valid JSON, has no Records list, or whose list holds
// anything but objects is refused whole. As with encoding/json, of
// repeated names the last counts.
func parseLog(data []byte, f logFilter) (records [][]byte, err error) {
	if !validJSON(data) {
		var v any
		err := json.Unmarshal(data, &v)
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	s := scanner{b: data}
	s.space()
	if !s.consume('{') {
		return nil, fmt.Errorf("%w: the file is not a JSON object", errLogFile)
	}
	found := false
	for {
		s.space()
		if s.consume('}') {
			break
		}
		s.consume(',')
		s.space()
		key := s.str()
		s.space()
		s.consume(':')
		s.space()
		if !nameIs(key, "Records") {
			s.value()
			continue
		}
		found, records, err = true, records[:0], nil
		if !s.consume('[') {
			err = fmt.Errorf("%w: Records is not a list", errLogFile)
			s.value()
			continue
		}
		for {
			s.space()
			if s.consume(']') {
				break
			}
			s.consume(',')
			s.space()
			start := s.i
			isObject := s.peek() == '{'
			s.value()
			if !isObject {
				err = fmt.Errorf("%w: Records holds something other than objects", errLogFile)
				continue
			}
			if rec := data[start:s.i]; err == nil && f.takes(rec) {
				records = append(records, rec)
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("%w: no Records list", errLogFile)
	}
	if err != nil {
		return nil, err
	}
	return records, nil
}

// nameIs reports whether a member name (a JSON string with its quotes)
// is name once unescaped.
func nameIs(key []byte, name string) bool {
	if bytes.IndexByte(key, '\\') < 0 {
		return len(key) == len(name)+2 && string(key[1:len(key)-1]) == name
	}
	var k string
	return json.Unmarshal(key, &k) == nil && k == name
}

// takes reports whether the filter takes a record.
func (f logFilter) takes(rec []byte) bool {
	raw := topLevelString(rec, "eventTime")
	t, err := time.Parse(time.RFC3339, string(raw))
	if raw == nil || err != nil {
		return f.start.IsZero() && f.end.IsZero()
	}
	if !f.start.IsZero() && t.Before(f.start) || !f.end.IsZero() && t.After(f.end) {
		return false
	}
	return f.cutoff.IsZero() || !t.Before(f.cutoff)
}

// topLevelString returns the value of a member of a valid JSON object (the
// last, if repeated) when it is a string without escapes; nil otherwise.
func topLevelString(obj []byte, name string) []byte {
	s := scanner{b: obj}
	s.space()
	if !s.consume('{') {
		return nil
	}
	var out []byte
	for {
		s.space()
		if s.i >= len(s.b) || s.consume('}') {
			return out
		}
		s.consume(',')
		s.space()
		key := s.str()
		s.space()
		s.consume(':')
		s.space()
		if !nameIs(key, name) {
			s.value()
			continue
		}
		v := s.b[s.i:]
		s.value()
		v = v[:len(v)-len(s.b[s.i:])]
		out = nil
		if len(v) >= 2 && v[0] == '"' && bytes.IndexByte(v, '\\') < 0 {
			out = v[1 : len(v)-1]
		}
	}
}

// scanner walks JSON already known to be valid (validJSON): it does not
// check syntax, only finds where values end, and never reads past the end
// of b.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) consume(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// str skips a string and returns it with its quotes.
func (s *scanner) str() []byte {
	start := s.i
	if !s.consume('"') {
		return nil
	}
	for {
		j := bytes.IndexByte(s.b[s.i:], '"')
		if j < 0 {
			s.i = len(s.b)
			return s.b[start:]
		}
		s.i += j
		// The quote ends the string unless an odd number of backslashes
		// escapes it.
		k := s.i
		for k > start+1 && s.b[k-1] == '\\' {
			k--
		}
		s.i++
		if (s.i-1-k)%2 == 0 {
			return s.b[start:s.i]
		}
	}
}

// value skips one value.
func (s *scanner) value() {
	depth := 0
	for s.i < len(s.b) {
		switch c := s.b[s.i]; c {
		case '"':
			s.str()
			if depth == 0 {
				return
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return // the end of the enclosing value
			}
			depth--
			if depth == 0 {
				s.i++
				return
			}
		case ',':
			if depth == 0 {
				return
			}
		}
		s.i++
	}
}

// ValidRoleARN reports whether s is an IAM role ARN
// (arn:<partition>:iam::<account>:role/[path/]name), as an import's
// S3BucketAccessRoleArn must be.
func ValidRoleARN(s string) bool {
	a, ok := opentrail.ParseARN(s)
	if !ok || a.Service != "iam" || a.Region != "" || !opentrail.ValidAccountID(a.AccountID) || len(s) > 2048 {
		return false
	}
	name, ok := strings.CutPrefix(a.Resource, "role/")
	return ok && name != "" && !strings.HasSuffix(name, "/") && !strings.ContainsAny(name, " \t\r\n")
}
