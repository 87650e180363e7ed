package s3api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/opentrail/opentrail/blob"
)

// S3's time format in XML documents.
const xmlTime = "2006-01-02T15:04:05.000Z"

type ownerXML struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName"`
}

type listAllMyBucketsResult struct {
	XMLName           xml.Name    `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListAllMyBucketsResult"`
	Owner             ownerXML    `xml:"Owner"`
	Buckets           []bucketXML `xml:"Buckets>Bucket"`
	ContinuationToken string      `xml:"ContinuationToken,omitempty"`
	Prefix            string      `xml:"Prefix,omitempty"`
}

type bucketXML struct {
	Name         string `xml:"Name"`
	CreationDate string `xml:"CreationDate"`
	BucketRegion string `xml:"BucketRegion,omitempty"`
}

// listBuckets lists the caller's buckets: those its account owns, and
// those of a store that does not tell owners.
func (q *request) listBuckets() error {
	prefix, region := q.query.Get("prefix"), q.query.Get("bucket-region")
	max := 10000
	if v := q.query.Get("max-buckets"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return errorf("InvalidArgument", "max-buckets must be an integer between 1 and 10000")
		}
		max = n
	}
	after := ""
	if q.query.Has("continuation-token") {
		t, err := base64.RawURLEncoding.DecodeString(q.query.Get("continuation-token"))
		if err != nil || len(t) == 0 {
			return errorf("InvalidArgument", "The continuation token provided is incorrect")
		}
		after = string(t)
	}
	list, err := q.h.Store.ListBuckets(q.ctx)
	if err != nil {
		return err
	}
	account := q.c.Principal.AccountID
	res := listAllMyBucketsResult{Owner: ownerXML{ID: account, DisplayName: account}, Buckets: []bucketXML{}, Prefix: prefix}
	for _, b := range list {
		if b.Owner != "" && b.Owner != account || !strings.HasPrefix(b.Name, prefix) || region != "" && b.Region != region || b.Name <= after {
			continue
		}
		if len(res.Buckets) == max {
			res.ContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(res.Buckets[max-1].Name))
			break
		}
		res.Buckets = append(res.Buckets, bucketXML{Name: b.Name, CreationDate: b.Created.UTC().Format(xmlTime), BucketRegion: b.Region})
	}
	return q.writeXML(res)
}

type createBucketConfiguration struct {
	XMLName            xml.Name `xml:"CreateBucketConfiguration"`
	LocationConstraint string   `xml:"LocationConstraint"`
	Location           *struct{ Name, Type string }
	Bucket             *struct{ DataRedundancy, Type string }
}

// createBucket creates a bucket of the caller's account in the region of
// the body's LocationConstraint, or of the call.
func (q *request) createBucket() error {
	if err := blob.CheckBucketName(q.bucket); err != nil {
		return &s3Error{code: "InvalidBucketName", message: "The specified bucket is not valid.", bucket: q.bucket}
	}
	h := q.r.Header
	switch h.Get("x-amz-acl") {
	case "", "private", "bucket-owner-full-control":
	default:
		return errorf("InvalidBucketAclWithObjectOwnership", "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting")
	}
	for _, g := range []string{"x-amz-grant-full-control", "x-amz-grant-read", "x-amz-grant-read-acp", "x-amz-grant-write", "x-amz-grant-write-acp"} {
		if h.Get(g) != "" {
			return errorf("InvalidBucketAclWithObjectOwnership", "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting")
		}
	}
	if strings.EqualFold(h.Get("x-amz-bucket-object-lock-enabled"), "true") {
		return errorf("NotImplemented", msgNotImplemented+" opentrail does not implement Object Lock.")
	}
	if o := h.Get("x-amz-object-ownership"); o != "" && o != "BucketOwnerEnforced" {
		return errorf("NotImplemented", msgNotImplemented+" opentrail buckets have no ACLs: only x-amz-object-ownership BucketOwnerEnforced.")
	}
	body, err := q.readSmallBody(64 << 10)
	if err != nil {
		return err
	}
	region := q.c.Region
	if len(bytes.TrimSpace(body)) > 0 {
		var cfg createBucketConfiguration
		if err := xml.Unmarshal(body, &cfg); err != nil {
			return errorf("MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema")
		}
		if cfg.Location != nil || cfg.Bucket != nil {
			return errorf("NotImplemented", msgNotImplemented+" opentrail does not implement directory buckets.")
		}
		var c jsonObject
		c.add("LocationConstraint", cfg.LocationConstraint)
		c.add("xmlns", xmlns)
		q.params.add("CreateBucketConfiguration", c.raw())
		if loc := cfg.LocationConstraint; loc != "" {
			if !validRegion(loc) {
				return errorf("InvalidLocationConstraint", "The specified location-constraint is not valid")
			}
			region = loc
		}
	}
	if region == "" {
		region = "us-east-1"
	}
	q.owner = q.c.Principal.AccountID
	if err := q.h.Store.CreateBucket(q.ctx, q.bucket, q.owner, region); err != nil {
		if errors.Is(err, blob.ErrBucketExists) {
			q.owner = ""
		}
		return err
	}
	q.w.Header().Set("Location", "/"+q.bucket)
	q.writeEmpty(http.StatusOK)
	return nil
}

// validRegion accepts region names shaped like AWS's ("eu-west-1"), and
// the legacy "EU".
func validRegion(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func (q *request) deleteBucket() error {
	if err := q.h.Store.DeleteBucket(q.ctx, q.bucket); err != nil {
		return err
	}
	q.writeEmpty(http.StatusNoContent)
	return nil
}

func (q *request) headBucket() error {
	q.w.Header().Set("x-amz-bucket-region", q.info.Region)
	q.w.Header().Set("x-amz-access-point-alias", "false")
	q.writeEmpty(http.StatusOK)
	return nil
}

type locationConstraint struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ LocationConstraint"`
	Region  string   `xml:",chardata"`
}

// getBucketLocation answers the bucket's region; us-east-1 is empty, as
// in S3.
func (q *request) getBucketLocation() error {
	q.params.add("location", "")
	region := q.info.Region
	if region == "us-east-1" {
		region = ""
	}
	return q.writeXML(locationConstraint{Region: region})
}

func (q *request) getBucketPolicy() error {
	q.params.add("policy", "")
	policy, err := q.h.Store.BucketPolicy(q.ctx, q.bucket)
	if err != nil {
		return err
	}
	q.setCommon()
	h := q.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(policy)))
	q.w.WriteHeader(http.StatusOK)
	io.WriteString(q.w, policy)
	return nil
}

// maxPolicyBytes is the largest bucket policy, as in S3.
const maxPolicyBytes = 20 << 10

func (q *request) putBucketPolicy() error {
	body, err := q.readSmallBody(maxPolicyBytes)
	if err != nil {
		var e *s3Error
		if errors.As(err, &e) && e.code == "EntityTooLarge" {
			return errorf("MalformedPolicy", "Policies must be no more than 20 KB")
		}
		return err
	}
	if err := validatePolicy(body, q.bucket); err != nil {
		return err
	}
	var compact bytes.Buffer
	if json.Compact(&compact, body) == nil {
		q.params.add("bucketPolicy", json.RawMessage(compact.Bytes()))
	}
	q.params.add("policy", "")
	if err := q.h.Store.PutBucketPolicy(q.ctx, q.bucket, string(body)); err != nil {
		return err
	}
	q.writeEmpty(http.StatusNoContent)
	return nil
}

func (q *request) deleteBucketPolicy() error {
	q.params.add("policy", "")
	if err := q.h.Store.DeleteBucketPolicy(q.ctx, q.bucket); err != nil {
		return err
	}
	q.writeEmpty(http.StatusNoContent)
	return nil
}

// xmlTimeOf formats a time for an XML document.
func xmlTimeOf(t time.Time) string { return t.UTC().Format(xmlTime) }
