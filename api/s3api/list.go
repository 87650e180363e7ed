package s3api

import (
	"encoding/base64"
	"encoding/xml"
	"net/url"
	"strconv"
	"strings"

	"github.com/opentrail/opentrail/blob"
)

type listBucketResult struct {
	XMLName      xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name         string   `xml:"Name"`
	Prefix       string   `xml:"Prefix"`
	Marker       string   `xml:"Marker"`
	NextMarker   string   `xml:"NextMarker,omitempty"`
	MaxKeys      int      `xml:"MaxKeys"`
	Delimiter    string   `xml:"Delimiter,omitempty"`
	IsTruncated  bool     `xml:"IsTruncated"`
	EncodingType string   `xml:"EncodingType,omitempty"`
	Contents     []contentXML
	Prefixes     []prefixXML `xml:"CommonPrefixes"`
}

type listBucketResultV2 struct {
	XMLName               xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name                  string   `xml:"Name"`
	Prefix                string   `xml:"Prefix"`
	KeyCount              int      `xml:"KeyCount"`
	MaxKeys               int      `xml:"MaxKeys"`
	Delimiter             string   `xml:"Delimiter,omitempty"`
	IsTruncated           bool     `xml:"IsTruncated"`
	ContinuationToken     string   `xml:"ContinuationToken,omitempty"`
	NextContinuationToken string   `xml:"NextContinuationToken,omitempty"`
	StartAfter            string   `xml:"StartAfter,omitempty"`
	EncodingType          string   `xml:"EncodingType,omitempty"`
	Contents              []contentXML
	Prefixes              []prefixXML `xml:"CommonPrefixes"`
}

type contentXML struct {
	XMLName      xml.Name  `xml:"Contents"`
	Key          string    `xml:"Key"`
	LastModified string    `xml:"LastModified"`
	ETag         string    `xml:"ETag"`
	Size         int64     `xml:"Size"`
	Owner        *ownerXML `xml:"Owner,omitempty"`
	StorageClass string    `xml:"StorageClass"`
}

type prefixXML struct {
	Prefix string `xml:"Prefix"`
}

// listing is what both ListObjects versions read from the query.
type listing struct {
	opts     blob.ListOptions
	maxKeys  int
	encode   func(string) string
	encoding string
}

func (q *request) parseListing() (*listing, error) {
	l := &listing{maxKeys: blob.DefaultMaxKeys, encode: func(s string) string { return s }}
	if q.query.Has("max-keys") {
		n, err := strconv.Atoi(q.query.Get("max-keys"))
		if err != nil || n < 0 {
			return nil, errorf("InvalidArgument", "Provided max-keys not an integer or within integer range")
		}
		l.maxKeys = min(n, blob.DefaultMaxKeys)
	}
	switch l.encoding = q.query.Get("encoding-type"); l.encoding {
	case "":
	case "url":
		l.encode = urlEncode
	default:
		return nil, errorf("InvalidArgument", "Invalid Encoding Method specified in Request")
	}
	l.opts = blob.ListOptions{Prefix: q.query.Get("prefix"), Delimiter: q.query.Get("delimiter"), MaxKeys: l.maxKeys}
	return l, nil
}

// list runs the listing; max-keys=0 lists nothing, as in S3.
func (q *request) list(l *listing) (*blob.ListResult, error) {
	if l.maxKeys == 0 {
		return &blob.ListResult{}, nil
	}
	return q.h.Store.ListObjects(q.ctx, q.bucket, l.opts)
}

// urlEncode is S3's encoding-type=url: query escaping, keeping '/'.
func urlEncode(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "%2F", "/")
}

func (q *request) contents(l *listing, res *blob.ListResult, owner bool) ([]contentXML, []prefixXML) {
	var contents []contentXML
	for _, o := range res.Objects {
		c := contentXML{Key: l.encode(o.Key), LastModified: xmlTimeOf(o.LastModified), ETag: o.ETag, Size: o.Size, StorageClass: "STANDARD"}
		if owner {
			c.Owner = &ownerXML{ID: q.info.Owner, DisplayName: q.info.Owner}
		}
		contents = append(contents, c)
	}
	var prefixes []prefixXML
	for _, p := range res.CommonPrefixes {
		prefixes = append(prefixes, prefixXML{l.encode(p)})
	}
	return contents, prefixes
}

// listObjects is ListObjects (version 1): marker, and NextMarker when a
// delimiter is given (without one, clients continue after the last key).
func (q *request) listObjects() error {
	l, err := q.parseListing()
	if err != nil {
		return err
	}
	l.opts.StartAfter = q.query.Get("marker")
	res, err := q.list(l)
	if err != nil {
		return err
	}
	out := listBucketResult{
		Name: q.bucket, Prefix: l.encode(l.opts.Prefix), Marker: l.encode(l.opts.StartAfter), MaxKeys: l.maxKeys,
		Delimiter: l.encode(l.opts.Delimiter), IsTruncated: res.Truncated, EncodingType: l.encoding,
	}
	if res.Truncated && l.opts.Delimiter != "" {
		out.NextMarker = l.encode(res.NextStartAfter)
	}
	out.Contents, out.Prefixes = q.contents(l, res, true)
	return q.writeXML(out)
}

// tokenPrefix marks opentrail's continuation tokens.
const tokenPrefix = "ot1:"

// listObjectsV2 is ListObjectsV2: continuation-token (opentrail's tokens
// are the position, encoded), start-after, fetch-owner, KeyCount.
func (q *request) listObjectsV2() error {
	l, err := q.parseListing()
	if err != nil {
		return err
	}
	startAfter := q.query.Get("start-after")
	l.opts.StartAfter = startAfter
	token := q.query.Get("continuation-token")
	if q.query.Has("continuation-token") {
		b, err := base64.RawURLEncoding.DecodeString(token)
		pos, ok := strings.CutPrefix(string(b), tokenPrefix)
		if err != nil || !ok {
			return errorf("InvalidArgument", "The continuation token provided is incorrect")
		}
		l.opts.StartAfter = pos
	}
	res, err := q.list(l)
	if err != nil {
		return err
	}
	out := listBucketResultV2{
		Name: q.bucket, Prefix: l.encode(l.opts.Prefix), MaxKeys: l.maxKeys, Delimiter: l.encode(l.opts.Delimiter),
		IsTruncated: res.Truncated, ContinuationToken: token, StartAfter: l.encode(startAfter), EncodingType: l.encoding,
		KeyCount: len(res.Objects) + len(res.CommonPrefixes),
	}
	if res.Truncated {
		out.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(tokenPrefix + res.NextStartAfter))
	}
	out.Contents, out.Prefixes = q.contents(l, res, q.query.Get("fetch-owner") == "true")
	return q.writeXML(out)
}
