package s3api

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// level is what a request addresses.
type level int

const (
	levelService level = iota // "/"
	levelBucket               // "/bucket"
	levelObject               // "/bucket/key"
)

// operation is an S3 API operation opentrail serves.
type operation struct {
	name     string // the API name, CloudTrail's eventName
	action   string // the IAM action
	readOnly bool
	data     bool // a data event (object-level, and ListObjects)
	serve    func(*request) error
}

var (
	opListBuckets        = &operation{name: "ListBuckets", action: "s3:ListAllMyBuckets", readOnly: true}
	opCreateBucket       = &operation{name: "CreateBucket", action: "s3:CreateBucket"}
	opDeleteBucket       = &operation{name: "DeleteBucket", action: "s3:DeleteBucket"}
	opHeadBucket         = &operation{name: "HeadBucket", action: "s3:ListBucket", readOnly: true}
	opGetBucketLocation  = &operation{name: "GetBucketLocation", action: "s3:GetBucketLocation", readOnly: true}
	opGetBucketPolicy    = &operation{name: "GetBucketPolicy", action: "s3:GetBucketPolicy", readOnly: true}
	opPutBucketPolicy    = &operation{name: "PutBucketPolicy", action: "s3:PutBucketPolicy"}
	opDeleteBucketPolicy = &operation{name: "DeleteBucketPolicy", action: "s3:DeleteBucketPolicy"}
	// AWS records ListObjectsV2 calls as ListObjects too.
	opListObjects   = &operation{name: "ListObjects", action: "s3:ListBucket", readOnly: true, data: true}
	opListObjectsV2 = &operation{name: "ListObjects", action: "s3:ListBucket", readOnly: true, data: true}
	opGetObject     = &operation{name: "GetObject", action: "s3:GetObject", readOnly: true, data: true}
	opHeadObject    = &operation{name: "HeadObject", action: "s3:GetObject", readOnly: true, data: true}
	opPutObject     = &operation{name: "PutObject", action: "s3:PutObject", data: true}
	opDeleteObject  = &operation{name: "DeleteObject", action: "s3:DeleteObject", data: true}
)

func init() {
	opListBuckets.serve = (*request).listBuckets
	opCreateBucket.serve = (*request).createBucket
	opDeleteBucket.serve = (*request).deleteBucket
	opHeadBucket.serve = (*request).headBucket
	opGetBucketLocation.serve = (*request).getBucketLocation
	opGetBucketPolicy.serve = (*request).getBucketPolicy
	opPutBucketPolicy.serve = (*request).putBucketPolicy
	opDeleteBucketPolicy.serve = (*request).deleteBucketPolicy
	opListObjects.serve = (*request).listObjects
	opListObjectsV2.serve = (*request).listObjectsV2
	opGetObject.serve = (*request).getObject
	opHeadObject.serve = (*request).getObject
	opPutObject.serve = (*request).putObject
	opDeleteObject.serve = (*request).deleteObject
}

// subresource names the operations of one query subresource, by method:
// GET, PUT, DELETE, POST, HEAD. "" is no operation.
type subresource [5]string

func methodIndex(m string) int {
	switch m {
	case http.MethodGet:
		return 0
	case http.MethodPut:
		return 1
	case http.MethodDelete:
		return 2
	case http.MethodPost:
		return 3
	case http.MethodHead:
		return 4
	}
	return -1
}

// bucketSubresources are the bucket subresources S3 knows. Only location
// and policy are served; the rest answer NotImplemented with their
// operation's name.
var bucketSubresources = map[string]subresource{
	"accelerate":          {"GetBucketAccelerateConfiguration", "PutBucketAccelerateConfiguration"},
	"acl":                 {"GetBucketAcl", "PutBucketAcl"},
	"analytics":           {"GetBucketAnalyticsConfiguration", "PutBucketAnalyticsConfiguration", "DeleteBucketAnalyticsConfiguration"},
	"cors":                {"GetBucketCors", "PutBucketCors", "DeleteBucketCors"},
	"delete":              {"", "", "", "DeleteObjects"},
	"encryption":          {"GetBucketEncryption", "PutBucketEncryption", "DeleteBucketEncryption"},
	"intelligent-tiering": {"GetBucketIntelligentTieringConfiguration", "PutBucketIntelligentTieringConfiguration", "DeleteBucketIntelligentTieringConfiguration"},
	"inventory":           {"GetBucketInventoryConfiguration", "PutBucketInventoryConfiguration", "DeleteBucketInventoryConfiguration"},
	"lifecycle":           {"GetBucketLifecycleConfiguration", "PutBucketLifecycleConfiguration", "DeleteBucketLifecycle"},
	"location":            {"GetBucketLocation"},
	"logging":             {"GetBucketLogging", "PutBucketLogging"},
	"metadataTable":       {"GetBucketMetadataTableConfiguration", "", "DeleteBucketMetadataTableConfiguration", "CreateBucketMetadataTableConfiguration"},
	"metrics":             {"GetBucketMetricsConfiguration", "PutBucketMetricsConfiguration", "DeleteBucketMetricsConfiguration"},
	"notification":        {"GetBucketNotificationConfiguration", "PutBucketNotificationConfiguration"},
	"object-lock":         {"GetObjectLockConfiguration", "PutObjectLockConfiguration"},
	"ownershipControls":   {"GetBucketOwnershipControls", "PutBucketOwnershipControls", "DeleteBucketOwnershipControls"},
	"policy":              {"GetBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy"},
	"policyStatus":        {"GetBucketPolicyStatus"},
	"publicAccessBlock":   {"GetPublicAccessBlock", "PutPublicAccessBlock", "DeletePublicAccessBlock"},
	"replication":         {"GetBucketReplication", "PutBucketReplication", "DeleteBucketReplication"},
	"requestPayment":      {"GetBucketRequestPayment", "PutBucketRequestPayment"},
	"tagging":             {"GetBucketTagging", "PutBucketTagging", "DeleteBucketTagging"},
	"uploads":             {"ListMultipartUploads"},
	"versioning":          {"GetBucketVersioning", "PutBucketVersioning"},
	"versions":            {"ListObjectVersions"},
	"website":             {"GetBucketWebsite", "PutBucketWebsite", "DeleteBucketWebsite"},
}

// objectSubresources are the object subresources S3 knows; none is served.
var objectSubresources = map[string]subresource{
	"acl":        {"GetObjectAcl", "PutObjectAcl"},
	"attributes": {"GetObjectAttributes"},
	"legal-hold": {"GetObjectLegalHold", "PutObjectLegalHold"},
	"restore":    {"", "", "", "RestoreObject"},
	"retention":  {"GetObjectRetention", "PutObjectRetention"},
	"select":     {"", "", "", "SelectObjectContent"},
	"tagging":    {"GetObjectTagging", "PutObjectTagging", "DeleteObjectTagging"},
	"torrent":    {"GetObjectTorrent"},
	"uploadId":   {"ListParts", "UploadPart", "AbortMultipartUpload", "CompleteMultipartUpload"},
	"uploads":    {"", "", "", "CreateMultipartUpload"},
}

// The subresource names in order, so that a request naming several is
// always routed the same way.
var (
	bucketSubresourceNames = slices.Sorted(maps.Keys(bucketSubresources))
	objectSubresourceNames = slices.Sorted(maps.Keys(objectSubresources))
)

// route finds the operation of a request. It returns the operation, or
// the name of an S3 operation opentrail does not serve, or neither for a
// method S3 does not allow there.
func route(method string, lvl level, q url.Values, h http.Header) (op *operation, unsupported string) {
	mi := methodIndex(method)
	if mi < 0 {
		return nil, ""
	}
	switch lvl {
	case levelService:
		if method == http.MethodGet {
			return opListBuckets, ""
		}
		return nil, ""
	case levelBucket:
		for _, name := range bucketSubresourceNames {
			sub := bucketSubresources[name]
			if _, ok := q[name]; !ok || sub[mi] == "" {
				continue
			}
			switch sub[mi] {
			case "GetBucketLocation":
				return opGetBucketLocation, ""
			case "GetBucketPolicy":
				return opGetBucketPolicy, ""
			case "PutBucketPolicy":
				return opPutBucketPolicy, ""
			case "DeleteBucketPolicy":
				return opDeleteBucketPolicy, ""
			}
			return nil, sub[mi]
		}
		switch method {
		case http.MethodGet:
			if q.Get("list-type") == "2" {
				return opListObjectsV2, ""
			}
			return opListObjects, ""
		case http.MethodPut:
			return opCreateBucket, ""
		case http.MethodDelete:
			return opDeleteBucket, ""
		case http.MethodHead:
			return opHeadBucket, ""
		case http.MethodPost:
			return nil, "PostObject"
		}
	case levelObject:
		if _, ok := q["uploadId"]; ok && method == http.MethodPut && h.Get("x-amz-copy-source") != "" {
			return nil, "UploadPartCopy"
		}
		for _, name := range objectSubresourceNames {
			if sub := objectSubresources[name]; q.Has(name) && sub[mi] != "" {
				return nil, sub[mi]
			}
		}
		switch method {
		case http.MethodGet:
			return opGetObject, ""
		case http.MethodHead:
			return opHeadObject, ""
		case http.MethodPut:
			if h.Get("x-amz-copy-source") != "" {
				return nil, "CopyObject"
			}
			return opPutObject, ""
		case http.MethodDelete:
			return opDeleteObject, ""
		}
	}
	return nil, ""
}

// unsupportedReadOnly says whether an operation opentrail does not serve
// only reads, for its record.
func unsupportedReadOnly(name string) bool {
	return strings.HasPrefix(name, "Get") || strings.HasPrefix(name, "List")
}
