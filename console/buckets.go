package console

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Buckets: browse buckets, prefixes and objects over the S3 API; open a
// log file decompressed and formatted; download an object.

func (c *Console) bucketRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+Prefix+"buckets", c.signedIn(c.handleBuckets))
	mux.HandleFunc("GET "+Prefix+"buckets/b/{bucket}", c.signedIn(c.handleBucket))
	mux.HandleFunc("GET "+Prefix+"buckets/b/{bucket}/object", c.signedIn(c.handleObject))
	mux.HandleFunc("GET "+Prefix+"buckets/b/{bucket}/download", c.signedIn(c.handleObjectDownload))
}

type bucketItem struct {
	Name    string
	Href    string
	Created time.Time
}

func bucketHref(bucket, prefix string) string {
	h := Prefix + "buckets/b/" + url.PathEscape(bucket)
	if prefix != "" {
		h += "?" + url.Values{"prefix": {prefix}}.Encode()
	}
	return h
}

func objectHref(bucket, key, op string) string {
	return Prefix + "buckets/b/" + url.PathEscape(bucket) + "/" + op + "?" + url.Values{"key": {key}}.Encode()
}

func (c *Console) handleBuckets(w http.ResponseWriter, r *http.Request, s *session) {
	out, err := c.clients(s).s3.ListBuckets(c.forBrowser(r), &s3.ListBucketsInput{})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	var items []bucketItem
	for _, b := range out.Buckets {
		items = append(items, bucketItem{Name: aws.ToString(b.Name), Href: bucketHref(aws.ToString(b.Name), ""), Created: aws.ToTime(b.CreationDate)})
	}
	c.render(w, r, http.StatusOK, "buckets.html", &view{Title: "Buckets", Area: Prefix + "buckets", Data: items})
}

type crumb struct {
	Label, Href string
}

type objectItem struct {
	Name, Href, OpenHref, DownloadHref string
	Size                               int64
	Modified                           time.Time
	Folder                             bool
}

type bucketData struct {
	Bucket    string
	Prefix    string
	Crumbs    []crumb
	Items     []objectItem
	NextHref  string
	FirstHref string
}

// crumbs are the links to a prefix's parents.
func crumbs(bucket, prefix string) []crumb {
	out := []crumb{{bucket, bucketHref(bucket, "")}}
	acc := ""
	for _, part := range strings.SplitAfter(prefix, "/") {
		if part == "" {
			continue
		}
		acc += part
		out = append(out, crumb{strings.TrimSuffix(part, "/"), bucketHref(bucket, acc)})
	}
	return out
}

func (c *Console) handleBucket(w http.ResponseWriter, r *http.Request, s *session) {
	bucket := r.PathValue("bucket")
	q := r.URL.Query()
	prefix := q.Get("prefix")
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Delimiter: aws.String("/"), MaxKeys: aws.Int32(200)}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	if tok := q.Get("token"); tok != "" {
		in.ContinuationToken = aws.String(tok)
	}
	out, err := c.clients(s).s3.ListObjectsV2(c.forBrowser(r), in)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := &bucketData{Bucket: bucket, Prefix: prefix, Crumbs: crumbs(bucket, prefix), FirstHref: bucketHref(bucket, prefix)}
	for _, p := range out.CommonPrefixes {
		full := aws.ToString(p.Prefix)
		d.Items = append(d.Items, objectItem{Name: strings.TrimPrefix(full, prefix), Href: bucketHref(bucket, full), Folder: true})
	}
	for _, o := range out.Contents {
		key := aws.ToString(o.Key)
		d.Items = append(d.Items, objectItem{Name: strings.TrimPrefix(key, prefix), OpenHref: objectHref(bucket, key, "object"),
			DownloadHref: objectHref(bucket, key, "download"), Size: aws.ToInt64(o.Size), Modified: aws.ToTime(o.LastModified)})
	}
	if aws.ToBool(out.IsTruncated) && out.NextContinuationToken != nil {
		v := url.Values{"token": {*out.NextContinuationToken}}
		if prefix != "" {
			v.Set("prefix", prefix)
		}
		d.NextHref = Prefix + "buckets/b/" + url.PathEscape(bucket) + "?" + v.Encode()
	}
	c.render(w, r, http.StatusOK, "bucket.html", &view{Title: bucket, Area: Prefix + "buckets", Data: d})
}

// maxView bounds what the object page reads and decompresses.
const maxView = 32 << 20

type objectData struct {
	Bucket, Key   string
	Crumbs        []crumb
	DownloadHref  string
	Size          int64
	Modified      time.Time
	ContentType   string
	Compressed    bool
	Kind          string // "log", "digest", "json", "text" or "binary"
	Records       []logRecord
	Text          string
	Truncated     bool
	Digest        *digestState
	DecodeProblem string
}

type logRecord struct {
	Name, Time, Source, User, Href string
	JSON                           string
}

func (c *Console) handleObject(w http.ResponseWriter, r *http.Request, s *session) {
	bucket, key := r.PathValue("bucket"), r.URL.Query().Get("key")
	out, err := c.clients(s).s3.GetObject(c.forBrowser(r), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	defer out.Body.Close()
	dir := ""
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		dir = key[:i+1]
	}
	d := &objectData{Bucket: bucket, Key: key, Crumbs: crumbs(bucket, dir), DownloadHref: objectHref(bucket, key, "download"),
		Size: aws.ToInt64(out.ContentLength), Modified: aws.ToTime(out.LastModified), ContentType: aws.ToString(out.ContentType)}
	body, err := io.ReadAll(io.LimitReader(out.Body, maxView+1))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if len(body) > maxView {
		body, d.Truncated = body[:maxView], true
	}
	if len(body) > 2 && body[0] == 0x1f && body[1] == 0x8b {
		d.Compressed = true
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err == nil {
			body, err = io.ReadAll(io.LimitReader(zr, maxView+1))
		}
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			d.DecodeProblem = "The file is not valid gzip: " + err.Error()
		}
		if len(body) > maxView {
			body, d.Truncated = body[:maxView], true
		}
	}
	describeContent(d, key, body)
	if d.Kind == "digest" && d.Compressed && !d.Truncated {
		d.Digest = c.checkDigest(c.forBrowser(r), c.clients(s), bucket, key, body, out.Metadata, r.URL.Query().Get("check") == "logs")
	}
	c.render(w, r, http.StatusOK, "object.html", &view{Title: path.Base(key), Area: Prefix + "buckets", Data: d})
}

// describeContent decides how the object page shows a file: a log file's
// records one by one, other JSON indented, text as it is.
func describeContent(d *objectData, key string, body []byte) {
	trimmed := bytes.TrimSpace(body)
	var logFile struct {
		Records []json.RawMessage `json:"Records"`
	}
	switch {
	case len(trimmed) > 0 && trimmed[0] == '{' && json.Unmarshal(trimmed, &logFile) == nil && logFile.Records != nil:
		d.Kind = "log"
		for _, raw := range logFile.Records {
			var rec struct {
				EventName    string `json:"eventName"`
				EventTime    string `json:"eventTime"`
				EventSource  string `json:"eventSource"`
				EventID      string `json:"eventID"`
				UserIdentity struct {
					Type     string `json:"type"`
					UserName string `json:"userName"`
				} `json:"userIdentity"`
			}
			json.Unmarshal(raw, &rec)
			lr := logRecord{Name: rec.EventName, Time: rec.EventTime, Source: rec.EventSource, User: rec.UserIdentity.UserName}
			if lr.User == "" {
				lr.User = rec.UserIdentity.Type
			}
			if rec.EventID != "" {
				lr.Href = Prefix + "events/detail?" + url.Values{"id": {rec.EventID}}.Encode()
			}
			var pretty bytes.Buffer
			if json.Indent(&pretty, raw, "", "  ") == nil {
				lr.JSON = pretty.String()
			} else {
				lr.JSON = string(raw)
			}
			d.Records = append(d.Records, lr)
		}
	case json.Valid(trimmed) && len(trimmed) > 0:
		d.Kind = "json"
		if strings.Contains(key, "CloudTrail-Digest") {
			d.Kind = "digest"
		}
		var pretty bytes.Buffer
		json.Indent(&pretty, trimmed, "", "  ")
		d.Text = pretty.String()
	case utf8.Valid(body) && !bytes.ContainsRune(body, 0):
		d.Kind = "text"
		d.Text = string(body)
	default:
		d.Kind = "binary"
	}
}

// handleObjectDownload sends an object as an attachment of an opaque type,
// so that a browser never renders stored content on the console's origin.
func (c *Console) handleObjectDownload(w http.ResponseWriter, r *http.Request, s *session) {
	bucket, key := r.PathValue("bucket"), r.URL.Query().Get("key")
	out, err := c.clients(s).s3.GetObject(c.forBrowser(r), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	defer out.Body.Close()
	name := path.Base(key)
	if name == "" || name == "." || name == "/" {
		name = "object"
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	if out.ContentLength != nil {
		h.Set("Content-Length", strconv.FormatInt(*out.ContentLength, 10))
	}
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	if _, err := io.Copy(bw, out.Body); err != nil {
		panic(http.ErrAbortHandler)
	}
	bw.Flush()
}
