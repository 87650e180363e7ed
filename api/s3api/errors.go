package s3api

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/blob"
	"github.com/opentrail/opentrail/sigv4"
)

// statuses maps S3 error codes to HTTP statuses, as S3 answers them.
var statuses = map[string]int{
	"AccessControlListNotSupported":      http.StatusBadRequest,
	"AccessDenied":                       http.StatusForbidden,
	"AuthorizationHeaderMalformed":       http.StatusBadRequest,
	"AuthorizationQueryParametersError":  http.StatusBadRequest,
	"BadDigest":                          http.StatusBadRequest,
	"BucketAlreadyExists":                http.StatusConflict,
	"BucketAlreadyOwnedByYou":            http.StatusConflict,
	"BucketNotEmpty":                     http.StatusConflict,
	"EntityTooLarge":                     http.StatusBadRequest,
	"ExpiredToken":                       http.StatusBadRequest,
	"IllegalLocationConstraintException": http.StatusBadRequest,
	"IncompleteBody":                     http.StatusBadRequest,
	"InternalError":                      http.StatusInternalServerError,
	"InvalidAccessKeyId":                 http.StatusForbidden,
	"InvalidArgument":                    http.StatusBadRequest,
	"InvalidBucketName":                  http.StatusBadRequest,
	"InvalidDigest":                      http.StatusBadRequest,
	"InvalidLocationConstraint":          http.StatusBadRequest,
	"InvalidRange":                       http.StatusRequestedRangeNotSatisfiable,
	"InvalidRequest":                     http.StatusBadRequest,
	"InvalidStorageClass":                http.StatusBadRequest,
	"InvalidToken":                       http.StatusBadRequest,
	"InvalidURI":                         http.StatusBadRequest,
	"KeyTooLongError":                    http.StatusBadRequest,
	"MalformedPolicy":                    http.StatusBadRequest,
	"MalformedTrailerError":              http.StatusBadRequest,
	"MalformedXML":                       http.StatusBadRequest,
	"MetadataTooLarge":                   http.StatusBadRequest,
	"MethodNotAllowed":                   http.StatusMethodNotAllowed,
	"MissingContentLength":               http.StatusLengthRequired,
	"MissingSecurityHeader":              http.StatusBadRequest,
	"NoSuchBucket":                       http.StatusNotFound,
	"NoSuchBucketPolicy":                 http.StatusNotFound,
	"NoSuchKey":                          http.StatusNotFound,
	"NotImplemented":                     http.StatusNotImplemented,
	"NotModified":                        http.StatusNotModified,
	"PreconditionFailed":                 http.StatusPreconditionFailed,
	"RequestTimeTooSkewed":               http.StatusForbidden,
	"RequestTimeout":                     http.StatusBadRequest,
	"ServiceUnavailable":                 http.StatusServiceUnavailable,
	"SignatureDoesNotMatch":              http.StatusForbidden,
	"SlowDown":                           http.StatusServiceUnavailable,
	"XAmzContentSHA256Mismatch":          http.StatusBadRequest,
}

// Status returns the HTTP status S3 answers an error code with; 400 for a
// code it does not know.
func Status(code string) int {
	if s, ok := statuses[code]; ok {
		return s
	}
	return http.StatusBadRequest
}

// Messages S3 sends with its common errors.
const (
	msgAccessDenied   = "Access Denied"
	msgInternal       = "We encountered an internal error. Please try again."
	msgNoSuchBucket   = "The specified bucket does not exist"
	msgNoSuchKey      = "The specified key does not exist."
	msgNotImplemented = "A header or query you provided implies functionality that is not implemented."
)

// s3Error is an error in S3's terms, with the resource it concerns.
type s3Error struct {
	code, message string
	bucket, key   string
	header        http.Header // extra response headers (Content-Range of a 416)
}

func (e *s3Error) Error() string { return e.code + ": " + e.message }

func errorf(code, message string) *s3Error { return &s3Error{code: code, message: message} }

// errorXML is S3's error document. It has no namespace.
type errorXML struct {
	XMLName    xml.Name `xml:"Error"`
	Code       string   `xml:"Code"`
	Message    string   `xml:"Message"`
	BucketName string   `xml:"BucketName,omitempty"`
	Key        string   `xml:"Key,omitempty"`
	RequestID  string   `xml:"RequestId"`
	HostID     string   `xml:"HostId"`
}

// WriteError writes an S3 error response: the status S3 gives code (see
// Status), the x-amz-request-id and x-amz-id-2 headers, and the XML error
// document, except for HEAD requests, whose errors have no body. The API
// front uses it for failures it detects before a Handler runs
// (SignatureDoesNotMatch, InvalidAccessKeyId, RequestTimeTooSkewed,
// AccessDenied, AuthorizationHeaderMalformed, XAmzContentSHA256Mismatch,
// IncompleteBody, ...).
func WriteError(w http.ResponseWriter, r *http.Request, code, message, requestID string) {
	writeError(w, r, &s3Error{code: code, message: message}, requestID)
}

func writeError(w http.ResponseWriter, r *http.Request, e *s3Error, requestID string) {
	h := w.Header()
	for k, v := range e.header {
		h[k] = v
	}
	h.Set("x-amz-request-id", requestID)
	h.Set("x-amz-id-2", hostID(requestID))
	status := Status(e.code)
	if r.Method == http.MethodHead || status == http.StatusNotModified {
		h.Del("Content-Type")
		w.WriteHeader(status)
		return
	}
	body, err := xml.Marshal(errorXML{Code: e.code, Message: e.message, BucketName: e.bucket, Key: e.key, RequestID: requestID, HostID: hostID(requestID)})
	if err != nil {
		body = nil // only strings go in: cannot happen
	}
	body = append([]byte(xml.Header), body...)
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// hostID is the x-amz-id-2 of a request: derived from its ID, so that
// records and responses agree and tests can predict it.
func hostID(requestID string) string {
	sum := sha256.Sum256([]byte("x-amz-id-2:" + requestID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// storeError turns an error of the bucket store into S3's terms. Errors
// the store does not name are internal: the caller logs them.
func storeError(err error, bucket, key string) (*s3Error, bool) {
	e := &s3Error{bucket: bucket}
	switch {
	case errors.Is(err, blob.ErrNoSuchBucket):
		e.code, e.message = "NoSuchBucket", msgNoSuchBucket
	case errors.Is(err, blob.ErrNoSuchKey):
		e.code, e.message, e.bucket, e.key = "NoSuchKey", msgNoSuchKey, "", key
	case errors.Is(err, blob.ErrBucketExists):
		e.code, e.message = "BucketAlreadyExists", "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."
	case errors.Is(err, blob.ErrBucketOwnedByYou):
		e.code, e.message = "BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it."
	case errors.Is(err, blob.ErrBucketNotEmpty):
		e.code, e.message = "BucketNotEmpty", "The bucket you tried to delete is not empty"
	case errors.Is(err, blob.ErrNoSuchBucketPolicy):
		e.code, e.message = "NoSuchBucketPolicy", "The bucket policy does not exist"
	case errors.Is(err, blob.ErrInvalidBucketName):
		e.code, e.message = "InvalidBucketName", "The specified bucket is not valid."
	case errors.Is(err, blob.ErrInvalidKey):
		e.code, e.message, e.bucket, e.key = "InvalidArgument", "The specified key is not valid.", "", key
	case errors.Is(err, blob.ErrInvalidRange):
		e.code, e.message = "InvalidRange", "The requested range is not satisfiable"
	default:
		return &s3Error{code: "InternalError", message: msgInternal}, false
	}
	return e, true
}

// bodyError turns an error reading the request body into S3's terms: the
// verified body of the API front reports a signature or hash that does not
// match at EOF (sigv4.Error), and a short or broken body ends early.
func bodyError(err error) *s3Error {
	var e *s3Error
	if errors.As(err, &e) {
		return e
	}
	var se *sigv4.Error
	if errors.As(err, &se) {
		switch se.Kind {
		case sigv4.KindSignatureMismatch:
			return errorf("SignatureDoesNotMatch", se.Message)
		case sigv4.KindPayloadMismatch:
			if strings.Contains(strings.ToLower(se.Message), "x-amz-content-sha256") {
				return errorf("XAmzContentSHA256Mismatch", se.Message)
			}
			return errorf("BadDigest", se.Message)
		case sigv4.KindMalformedBody:
			return errorf("IncompleteBody", se.Message)
		}
		return errorf("AccessDenied", se.Message)
	}
	var oe *opentrail.Error
	if errors.As(err, &oe) {
		return errorf(oe.Code, oe.Message)
	}
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return errorf("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
	}
	return errorf("IncompleteBody", "The request body terminated unexpectedly")
}

// kmsError turns an error of the KMS (checking or using an SSE-KMS key)
// into S3's terms, as S3 passes KMS's errors on: KMS.NotFoundException,
// KMS.DisabledException, KMS.KMSInvalidStateException, and AccessDenied
// for a caller the key refuses, with KMS's message (which names the caller,
// kms:Decrypt or kms:GenerateDataKey and the key), as S3 passes it on.
func kmsError(err error) (*s3Error, bool) {
	var oe *opentrail.Error
	if !errors.As(err, &oe) {
		return nil, false
	}
	switch oe.Code {
	case "NotFoundException", "DisabledException", "KMSInvalidStateException", "InvalidCiphertextException":
		return errorf("KMS."+oe.Code, oe.Message), true
	case opentrail.CodeAccessDenied:
		return errorf("AccessDenied", oe.Message), true
	}
	return nil, false
}
