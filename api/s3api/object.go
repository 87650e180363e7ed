package s3api

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/opentrail/opentrail/blob"
)

// maxMetadataBytes bounds the user metadata of an object, names and values
// together, as in S3.
const maxMetadataBytes = 2 << 10

// defaultContentType is what S3 answers for an object stored without one.
const defaultContentType = "binary/octet-stream"

func (q *request) checkVersion() error {
	if v := q.query.Get("versionId"); q.query.Has("versionId") && v != "null" {
		return errorf("InvalidArgument", "Invalid version id specified")
	}
	return nil
}

func (q *request) putObject() error {
	if err := q.checkVersion(); err != nil {
		return err
	}
	h := q.r.Header
	opts := blob.PutOptions{
		ContentType:        h.Get("Content-Type"),
		ContentEncoding:    stripAWSChunked(h.Values("Content-Encoding")),
		CacheControl:       h.Get("Cache-Control"),
		ContentDisposition: h.Get("Content-Disposition"),
		ContentLanguage:    h.Get("Content-Language"),
	}
	if opts.ContentType == "" {
		opts.ContentType = defaultContentType
	}
	switch h.Get("x-amz-acl") {
	case "", "private", "bucket-owner-full-control":
	default:
		return errorf("AccessControlListNotSupported", "The bucket does not allow ACLs")
	}
	for name := range h {
		lower := strings.ToLower(name)
		switch {
		case strings.HasPrefix(lower, "x-amz-grant-"):
			return errorf("AccessControlListNotSupported", "The bucket does not allow ACLs")
		case strings.HasPrefix(lower, "x-amz-server-side-encryption-customer-"):
			return errorf("NotImplemented", msgNotImplemented+" opentrail does not implement SSE-C.")
		case lower == "x-amz-tagging", strings.HasPrefix(lower, "x-amz-object-lock-"), lower == "x-amz-website-redirect-location",
			lower == "if-match", lower == "if-none-match", lower == "x-amz-write-offset-bytes":
			return errorf("NotImplemented", msgNotImplemented+" opentrail does not implement "+name+" on PutObject.")
		case strings.HasPrefix(lower, "x-amz-meta-"):
			if opts.Metadata == nil {
				opts.Metadata = map[string]string{}
			}
			opts.Metadata[lower[len("x-amz-meta-"):]] = strings.Join(h[name], ",")
		}
	}
	size := 0
	for k, v := range opts.Metadata {
		size += len(k) + len(v)
	}
	if size > maxMetadataBytes {
		return errorf("MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size.")
	}
	if sc := h.Get("x-amz-storage-class"); sc != "" && sc != "STANDARD" {
		return errorf("NotImplemented", msgNotImplemented+" opentrail stores every object in the STANDARD storage class.")
	}
	sse, kms := h.Get("x-amz-server-side-encryption"), h.Get("x-amz-server-side-encryption-aws-kms-key-id")
	switch sse {
	case "", "AES256":
		if kms != "" {
			return errorf("InvalidArgument", "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms")
		}
	case "aws:kms", "aws:kms:dsse":
	default:
		return errorf("InvalidArgument", "The encryption method specified is not supported")
	}
	opts.ServerSideEncryption, opts.KMSKeyID = sse, kms
	if (sse == "aws:kms" || sse == "aws:kms:dsse") && q.h.Keys != nil {
		ref := kms
		if ref == "" {
			ref = "alias/aws/s3"
		}
		arn, err := q.useKey(ref, "kms:GenerateDataKey")
		if err != nil {
			return err
		}
		opts.KMSKeyID, q.sseKMS = arn, true
	}

	max := q.h.MaxObjectSize
	if max <= 0 {
		max = DefaultMaxObjectSize
	}
	body, err := q.openBody(max)
	if err != nil {
		return err
	}
	info, err := q.h.Store.PutObject(q.ctx, q.bucket, q.key, body, opts)
	if err != nil {
		if body.err != nil && !errors.Is(body.err, io.EOF) {
			return bodyError(body.err)
		}
		return err
	}
	w := q.w.Header()
	w.Set("ETag", info.ETag)
	if sse != "" {
		var re jsonObject
		re.add("x-amz-server-side-encryption", sse)
		w.Set("x-amz-server-side-encryption", sse)
		if kms := info.KMSKeyID; kms != "" {
			re.add("x-amz-server-side-encryption-aws-kms-key-id", kms)
			w.Set("x-amz-server-side-encryption-aws-kms-key-id", kms)
		}
		q.response = re.raw()
	}
	for _, c := range checksumHeaders {
		if v := h.Get(c.header); v != "" {
			w.Set(c.header, v)
		}
	}
	q.writeEmpty(http.StatusOK)
	return nil
}

// stripAWSChunked removes the aws-chunked coding, which describes the
// transfer and not the object, from Content-Encoding, as S3 does.
func stripAWSChunked(values []string) string {
	var keep []string
	for _, v := range values {
		for c := range strings.SplitSeq(v, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "aws-chunked") {
				keep = append(keep, c)
			}
		}
	}
	return strings.Join(keep, ",")
}

// getObject serves GetObject and HeadObject: ranges, conditions, and the
// object's headers.
func (q *request) getObject() error {
	if err := q.checkVersion(); err != nil {
		return err
	}
	if q.query.Has("partNumber") {
		return errorf("NotImplemented", msgNotImplemented+" opentrail does not implement partNumber: objects are stored in one part.")
	}
	head := q.r.Method == http.MethodHead
	rangeHeader := q.r.Header.Get("Range")
	var (
		rc   io.ReadCloser
		info *blob.ObjectInfo
		rng  byteRange
		err  error
	)
	if head || rangeHeader != "" || q.h.Keys != nil {
		// The range is resolved against the object's size first; a put
		// in between changes the ETag, and then it is resolved again.
		// With a KMS, the caller's use of an SSE-KMS object's key is
		// decided before the object is opened.
		for attempt := 0; ; attempt++ {
			if info, err = q.h.Store.HeadObject(q.ctx, q.bucket, q.key); err != nil {
				return err
			}
			if err := q.checkKey(info, head); err != nil {
				return err
			}
			if rng, err = parseRange(rangeHeader, info.Size); err != nil {
				return err
			}
			if head {
				break
			}
			var got *blob.ObjectInfo
			if rc, got, err = q.h.Store.GetObject(q.ctx, q.bucket, q.key, rng.start, rng.length); err != nil {
				return err
			}
			if got.ETag == info.ETag || attempt == 2 {
				if got.ETag != info.ETag && got.KMSKeyID != info.KMSKeyID {
					if err := q.checkKey(got, head); err != nil {
						rc.Close()
						return err
					}
				}
				info = got
				break
			}
			rc.Close()
		}
	} else {
		if rc, info, err = q.h.Store.GetObject(q.ctx, q.bucket, q.key, 0, -1); err != nil {
			return err
		}
		rng = byteRange{start: 0, length: info.Size}
	}
	if rc != nil {
		defer rc.Close()
	}
	if err := q.checkConditions(info); err != nil {
		if e := (*s3Error)(nil); errors.As(err, &e) && e.code == "NotModified" {
			w := q.w.Header()
			w.Set("ETag", info.ETag)
			w.Set("Last-Modified", info.LastModified.UTC().Format(http.TimeFormat))
		}
		return err
	}
	q.objectHeaders(info)
	w := q.w.Header()
	w.Set("Content-Length", strconv.FormatInt(rng.length, 10))
	status := http.StatusOK
	if rng.partial {
		status = http.StatusPartialContent
		w.Set("Content-Range", "bytes "+strconv.FormatInt(rng.start, 10)+"-"+strconv.FormatInt(rng.start+rng.length-1, 10)+"/"+strconv.FormatInt(info.Size, 10))
	}
	q.setCommon()
	q.w.WriteHeader(status)
	if head {
		return nil
	}
	if _, err := io.Copy(q.w, rc); err != nil {
		// The status is sent: the client sees a short body.
		q.h.log().WarnContext(q.ctx, "s3 object body not sent whole", "request_id", q.c.RequestID, "bucket", q.bucket, "key", q.key, "err", err.Error())
	}
	return nil
}

// objectHeaders sets the headers that describe an object, with the
// response-* query overrides S3 allows on GetObject.
func (q *request) objectHeaders(info *blob.ObjectInfo) {
	w := q.w.Header()
	w.Set("ETag", info.ETag)
	w.Set("Last-Modified", info.LastModified.UTC().Format(http.TimeFormat))
	w.Set("Accept-Ranges", "bytes")
	ct := info.ContentType
	if ct == "" {
		ct = defaultContentType
	}
	w.Set("Content-Type", ct)
	for _, hv := range []struct{ header, value string }{
		{"Content-Encoding", info.ContentEncoding}, {"Cache-Control", info.CacheControl},
		{"Content-Disposition", info.ContentDisposition}, {"Content-Language", info.ContentLanguage},
		{"x-amz-server-side-encryption", info.ServerSideEncryption},
		{"x-amz-server-side-encryption-aws-kms-key-id", info.KMSKeyID},
	} {
		if hv.value != "" {
			w.Set(hv.header, hv.value)
		}
	}
	for k, v := range info.Metadata {
		// Lower case, as S3 sends them: clients such as botocore keep
		// the case of the header as the metadata's name.
		w["x-amz-meta-"+strings.ToLower(k)] = []string{v}
	}
	for param, header := range map[string]string{
		"response-content-type": "Content-Type", "response-content-language": "Content-Language",
		"response-expires": "Expires", "response-cache-control": "Cache-Control",
		"response-content-disposition": "Content-Disposition", "response-content-encoding": "Content-Encoding",
	} {
		if q.query.Has(param) {
			w.Set(header, q.query.Get(param))
		}
	}
}

// checkConditions applies If-Match, If-Unmodified-Since (412) and
// If-None-Match, If-Modified-Since (304), as RFC 9110 orders them.
func (q *request) checkConditions(info *blob.ObjectInfo) error {
	h := q.r.Header
	modified := info.LastModified.Truncate(time.Second)
	failed := errorf("PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
	if v := h.Get("If-Match"); v != "" {
		if !etagMatches(v, info.ETag) {
			return failed
		}
	} else if t, err := http.ParseTime(h.Get("If-Unmodified-Since")); err == nil && modified.After(t) {
		return failed
	}
	notModified := errorf("NotModified", "Not Modified")
	if v := h.Get("If-None-Match"); v != "" {
		if etagMatches(v, info.ETag) {
			return notModified
		}
	} else if t, err := http.ParseTime(h.Get("If-Modified-Since")); err == nil && !modified.After(t) {
		return notModified
	}
	return nil
}

func etagMatches(list, etag string) bool {
	for v := range strings.SplitSeq(list, ",") {
		v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
		if v == "*" || v == etag || `"`+v+`"` == etag {
			return true
		}
	}
	return false
}

// byteRange is the part of an object a response carries.
type byteRange struct {
	start, length int64
	partial       bool
}

// parseRange resolves a Range header against an object of size bytes. A
// header that is absent, not in bytes, or names several ranges is ignored
// (the whole object, as S3 does); a range that starts past the end is
// InvalidRange.
func parseRange(header string, size int64) (byteRange, error) {
	all := byteRange{start: 0, length: size}
	spec, ok := strings.CutPrefix(strings.TrimSpace(header), "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return all, nil
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return all, nil
	}
	unsatisfiable := &s3Error{
		code: "InvalidRange", message: "The requested range is not satisfiable",
		header: http.Header{"Content-Range": {"bytes */" + strconv.FormatInt(size, 10)}},
	}
	if first == "" {
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 || last[0] == '+' {
			return all, nil
		}
		if n == 0 || size == 0 {
			return all, unsatisfiable
		}
		n = min(n, size)
		return byteRange{start: size - n, length: n, partial: true}, nil
	}
	a, err := strconv.ParseInt(first, 10, 64)
	if err != nil || a < 0 || first[0] == '+' {
		return all, nil
	}
	b := size - 1
	if last != "" {
		if b, err = strconv.ParseInt(last, 10, 64); err != nil || b < a || last[0] == '+' {
			return all, nil
		}
		b = min(b, size-1)
	}
	if a >= size {
		return all, unsatisfiable
	}
	return byteRange{start: a, length: b - a + 1, partial: true}, nil
}

func (q *request) deleteObject() error {
	if err := q.checkVersion(); err != nil {
		return err
	}
	if err := q.h.Store.DeleteObject(q.ctx, q.bucket, q.key); err != nil {
		return err
	}
	q.writeEmpty(http.StatusNoContent)
	return nil
}

// useKey asks the KMS whether the caller may perform action with the key
// keyRef names, for an object of the bucket, and returns the key's ARN.
func (q *request) useKey(keyRef, action string) (string, error) {
	region := q.c.Region
	if q.info != nil && q.info.Region != "" {
		region = q.info.Region
	}
	return q.h.Keys.AuthorizeUse(q.ctx, q.c.Principal, q.c.Authorize, keyRef, region, action, "s3."+region+".amazonaws.com")
}

// checkKey decides, for a GetObject of an SSE-KMS object, whether the
// caller may decrypt with its key (HeadObject needs no key).
func (q *request) checkKey(info *blob.ObjectInfo, head bool) error {
	sse := info.ServerSideEncryption
	if q.h.Keys == nil || info.KMSKeyID == "" || sse != "aws:kms" && sse != "aws:kms:dsse" {
		return nil
	}
	q.sseKMS = true
	if head {
		return nil
	}
	_, err := q.useKey(info.KMSKeyID, "kms:Decrypt")
	return err
}
