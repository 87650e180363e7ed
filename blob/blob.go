// Package blob keeps buckets of objects for opentrail: the log and digest
// files trails deliver, saved Lake query results, and whatever clients put
// through the S3-compatible endpoint (package api/s3api).
//
// Store is the one interface, with two implementations. NewDir keeps the
// buckets in a directory (opentrail's data directory/buckets): the embedded
// default. NewS3 keeps them in any S3-compatible service (AWS S3, MinIO,
// Ceph, versitygw) through the AWS SDK's S3 client. Both pass the same
// conformance suite, package blob/blobtest.
//
// The model is S3's, reduced to what opentrail needs: buckets with an owner
// account, a region and an optional policy; objects with a key, bytes, an
// ETag, a few standard headers and user metadata; listings in key order
// with prefix, delimiter and pagination. There are no versions, ACLs, tags
// or multipart uploads.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors callers act on. Store methods return them wrapped (test with
// errors.Is); the S3-compatible endpoint answers each with the S3 error of
// the same name.
var (
	// ErrNoSuchBucket: the bucket does not exist (S3 NoSuchBucket, 404).
	// A name that is not a valid bucket name never exists.
	ErrNoSuchBucket = errors.New("no such bucket")
	// ErrNoSuchKey: the object does not exist (S3 NoSuchKey, 404).
	ErrNoSuchKey = errors.New("no such key")
	// ErrBucketExists: CreateBucket named a bucket another owner has
	// (S3 BucketAlreadyExists, 409). Pick another name.
	ErrBucketExists = errors.New("bucket already exists")
	// ErrBucketOwnedByYou: CreateBucket named a bucket the same owner
	// already has (S3 BucketAlreadyOwnedByYou, 409). The bucket is usable.
	ErrBucketOwnedByYou = errors.New("bucket already owned by you")
	// ErrBucketNotEmpty: DeleteBucket on a bucket that still holds
	// objects (S3 BucketNotEmpty, 409). Delete the objects first.
	ErrBucketNotEmpty = errors.New("bucket not empty")
	// ErrNoSuchBucketPolicy: the bucket has no policy (S3
	// NoSuchBucketPolicy, 404).
	ErrNoSuchBucketPolicy = errors.New("no such bucket policy")
	// ErrInvalidBucketName: CreateBucket with a name S3's naming rules
	// refuse (S3 InvalidBucketName, 400). See CheckBucketName.
	ErrInvalidBucketName = errors.New("invalid bucket name")
	// ErrInvalidKey: an object key that is empty, longer than MaxKeyLength
	// bytes or not UTF-8 (S3 KeyTooLongError or InvalidArgument, 400).
	ErrInvalidKey = errors.New("invalid object key")
	// ErrInvalidRange: GetObject asked for bytes that are not in the
	// object (S3 InvalidRange, 416).
	ErrInvalidRange = errors.New("invalid range")
)

// MaxKeyLength is the longest object key, in bytes of UTF-8, as in S3.
const MaxKeyLength = 1024

// DefaultMaxKeys is the page size of a listing that asks for none.
const DefaultMaxKeys = 1000

// BucketInfo describes a bucket.
type BucketInfo struct {
	Name string
	// Owner is the 12-digit account ID of the owner, "" when the backend
	// does not tell (see NewS3).
	Owner string
	// Region is the bucket's region, for example "us-east-1".
	Region  string
	Created time.Time
}

// ObjectInfo describes an object.
type ObjectInfo struct {
	Key  string
	Size int64
	// ETag is the quoted lower-case hex MD5 of the object's bytes, as S3
	// gives it for objects stored in one piece:
	// "\"d41d8cd98f00b204e9800998ecf8427e\"".
	ETag         string
	LastModified time.Time

	// The fields below are set by HeadObject and GetObject; a listing
	// leaves them empty, as S3's listings carry none of them, except that
	// the directory store's listings report ServerSideEncryption (package
	// blob/sse derives encrypted objects' plaintext sizes from it).
	ContentType        string
	ContentEncoding    string
	CacheControl       string
	ContentDisposition string
	ContentLanguage    string
	// Metadata is the user metadata: lower-case names without the
	// x-amz-meta- prefix. Nil when there is none.
	Metadata map[string]string
	// ServerSideEncryption is "", "AES256", "aws:kms" or "aws:kms:dsse";
	// KMSKeyID is the key of the latter two.
	ServerSideEncryption string
	KMSKeyID             string
}

// PutOptions are the attributes stored with an object.
type PutOptions struct {
	ContentType        string
	ContentEncoding    string
	CacheControl       string
	ContentDisposition string
	ContentLanguage    string
	// Metadata is the user metadata; names are stored in lower case.
	Metadata map[string]string
	// ServerSideEncryption and KMSKeyID ask for S3's server-side
	// encryption. The directory store records them and reports them back
	// but writes the bytes as they are; wrapped by package blob/sse, it
	// stores aws:kms objects encrypted under the KMS key.
	ServerSideEncryption string
	KMSKeyID             string
}

// ListOptions select a page of a listing.
type ListOptions struct {
	// Prefix limits the listing to keys that start with it.
	Prefix string
	// Delimiter, when set, rolls up every key that contains it after the
	// prefix into one common prefix: the key up to and including the
	// first delimiter after the prefix.
	Delimiter string
	// StartAfter lists only keys and common prefixes after it, in byte
	// order: ListObjects' marker, ListObjectsV2's start-after or the
	// position a continuation token stands for.
	StartAfter string
	// MaxKeys bounds the number of objects and common prefixes together;
	// zero or less means DefaultMaxKeys.
	MaxKeys int
}

// ListResult is a page of a listing.
type ListResult struct {
	// Objects are in key order (UTF-8 byte order, as S3), with Key, Size,
	// ETag and LastModified set.
	Objects []ObjectInfo
	// CommonPrefixes are in order too.
	CommonPrefixes []string
	// Truncated reports that more follows; list again with StartAfter set
	// to NextStartAfter, the last key or common prefix of this page.
	Truncated      bool
	NextStartAfter string
}

// Store is a set of buckets. Implementations are safe for concurrent use.
// Bucket and key names are S3's: operations on a bucket name that
// CheckBucketName refuses fail with ErrNoSuchBucket (CreateBucket with
// ErrInvalidBucketName), and keys must pass the rules of ErrInvalidKey.
type Store interface {
	// CreateBucket creates an empty bucket owned by the given account in
	// the given region. It fails with ErrInvalidBucketName,
	// ErrBucketOwnedByYou or ErrBucketExists.
	CreateBucket(ctx context.Context, name, owner, region string) error
	// DeleteBucket deletes an empty bucket and its policy. It fails with
	// ErrNoSuchBucket or ErrBucketNotEmpty.
	DeleteBucket(ctx context.Context, name string) error
	// Bucket describes a bucket, or fails with ErrNoSuchBucket.
	Bucket(ctx context.Context, name string) (*BucketInfo, error)
	// ListBuckets lists every bucket, by name. An empty store gives an
	// empty list and no error.
	ListBuckets(ctx context.Context) ([]BucketInfo, error)

	// BucketPolicy returns the bucket's policy document as it was put. It
	// fails with ErrNoSuchBucket or ErrNoSuchBucketPolicy.
	BucketPolicy(ctx context.Context, name string) (string, error)
	// PutBucketPolicy replaces the bucket's policy. The store keeps the
	// text and does not judge it; the caller validates.
	PutBucketPolicy(ctx context.Context, name, policy string) error
	// DeleteBucketPolicy removes the policy; a bucket without one is not
	// an error.
	DeleteBucketPolicy(ctx context.Context, name string) error

	// PutObject stores the bytes of r under key, replacing any object
	// there, and returns what it stored. The object appears whole or not
	// at all: if reading r fails, nothing is stored and the error wraps
	// r's error, so a body that reports a bad signature or digest at EOF
	// leaves no trace. Of concurrent puts to one key, the last to finish
	// wins. r is read to EOF but not closed.
	PutObject(ctx context.Context, bucket, key string, r io.Reader, opts PutOptions) (*ObjectInfo, error)
	// GetObject opens length bytes of the object from offset (length -1:
	// to the end; a length past the end stops at the end). offset must be
	// within the object, or 0 for an empty object; otherwise it fails with
	// ErrInvalidRange. It fails with ErrNoSuchBucket or ErrNoSuchKey. The
	// caller closes the reader; the bytes it reads are those of the
	// object as it was when GetObject returned, even if it is replaced
	// meanwhile.
	GetObject(ctx context.Context, bucket, key string, offset, length int64) (io.ReadCloser, *ObjectInfo, error)
	// HeadObject describes an object, or fails with ErrNoSuchBucket or
	// ErrNoSuchKey.
	HeadObject(ctx context.Context, bucket, key string) (*ObjectInfo, error)
	// DeleteObject deletes an object. Deleting a key that does not exist
	// is not an error (as in S3); a missing bucket is ErrNoSuchBucket.
	DeleteObject(ctx context.Context, bucket, key string) error
	// ListObjects returns a page of the bucket's keys; see ListOptions.
	ListObjects(ctx context.Context, bucket string, opts ListOptions) (*ListResult, error)
}

// CheckBucketName returns nil if name follows S3's rules for bucket names,
// and otherwise an error wrapping ErrInvalidBucketName that says which rule
// it breaks: 3 to 63 characters; lower-case letters, digits, dots and
// hyphens; a letter or digit first and last; no two adjacent dots; not an
// IPv4 address; not starting with "xn--", "sthree-" or "amzn-s3-demo-"; not
// ending with "-s3alias", "--ol-s3", ".mrap", "--x-s3" or "--table-s3".
func CheckBucketName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("bucket name %q %s: %w", printable(name), why, ErrInvalidBucketName)
	}
	if len(name) < 3 || len(name) > 63 {
		return bad("must be between 3 and 63 characters long")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return bad("may contain only lower-case letters, digits, dots and hyphens")
		}
	}
	if !isAlnum(name[0]) || !isAlnum(name[len(name)-1]) {
		return bad("must begin and end with a letter or digit")
	}
	if strings.Contains(name, "..") {
		return bad("must not contain two adjacent periods")
	}
	if a, err := netip.ParseAddr(name); err == nil && a.Is4() {
		return bad("must not be formatted as an IP address")
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(name, p) {
			return bad("must not start with " + p)
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(name, s) {
			return bad("must not end with " + s)
		}
	}
	return nil
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// checkKey returns nil for a key a store accepts.
func checkKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("object key is empty: %w", ErrInvalidKey)
	case len(key) > MaxKeyLength:
		return fmt.Errorf("object key is %d bytes long, more than %d: %w", len(key), MaxKeyLength, ErrInvalidKey)
	case !utf8.ValidString(key):
		return fmt.Errorf("object key %q is not UTF-8: %w", printable(key), ErrInvalidKey)
	}
	return nil
}

// printable shortens s for an error message.
func printable(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return s
}

// normalizeMetadata returns m with lower-case names, nil if empty.
func normalizeMetadata(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

// etag quotes a hex digest as S3 does.
func etag(hexDigest string) string { return `"` + hexDigest + `"` }
