package blob

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// spoolMemory is how much of an object PutObject holds in memory before it
// spools the rest to a temporary file.
const spoolMemory = 8 << 20

type s3Store struct {
	c      *s3.Client
	region string
}

// NewS3 returns the store that keeps buckets in an S3-compatible service
// through client, configured by the caller (endpoint, credentials,
// path-style addressing). region is the region reported for a bucket when
// the service does not name one.
//
// The service decides who owns what: CreateBucket's owner is not sent, and
// BucketInfo.Owner is the owner the service reports in ListBuckets when it
// is a 12-digit account ID (AWS reports a canonical user ID, other
// services often an access key), otherwise "".
//
// PutObject reads the whole body before it sends anything, so that a body
// whose read fails is never stored: the first 8 MiB in memory, the rest in
// a temporary file (os.TempDir). It sends Content-MD5, so the service
// checks what arrived. ObjectInfo.LastModified of a put is the local
// clock's.
func NewS3(client *s3.Client, region string) Store {
	return &s3Store{c: client, region: region}
}

// s3Error maps an error of the S3 client to the sentinels, keeping the
// original in the chain.
func s3Error(action string, err error) error {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return fmt.Errorf("%s: %w", action, err)
	}
	var sentinel error
	switch ae.ErrorCode() {
	case "NoSuchBucket":
		sentinel = ErrNoSuchBucket
	case "NoSuchKey":
		sentinel = ErrNoSuchKey
	case "BucketAlreadyExists":
		sentinel = ErrBucketExists
	case "BucketAlreadyOwnedByYou":
		sentinel = ErrBucketOwnedByYou
	case "BucketNotEmpty":
		sentinel = ErrBucketNotEmpty
	case "NoSuchBucketPolicy":
		sentinel = ErrNoSuchBucketPolicy
	case "InvalidBucketName":
		sentinel = ErrInvalidBucketName
	case "InvalidRange":
		sentinel = ErrInvalidRange
	case "KeyTooLongError":
		sentinel = ErrInvalidKey
	default:
		return fmt.Errorf("%s: %w", action, err)
	}
	return fmt.Errorf("%s: %w (%w)", action, sentinel, err)
}

// isNotFound reports a 404 without an error code, as HEAD requests get.
func isNotFound(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "NotFound" || ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NoSuchBucket")
}

func (s *s3Store) CreateBucket(ctx context.Context, name, owner, region string) error {
	if err := CheckBucketName(name); err != nil {
		return fmt.Errorf("create bucket: %w", err)
	}
	in := &s3.CreateBucketInput{Bucket: &name}
	if region != "" && region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(region)}
	}
	if _, err := s.c.CreateBucket(ctx, in); err != nil {
		return s3Error("create bucket "+name, err)
	}
	return nil
}

func (s *s3Store) DeleteBucket(ctx context.Context, name string) error {
	if CheckBucketName(name) != nil {
		return fmt.Errorf("delete bucket %q: %w", printable(name), ErrNoSuchBucket)
	}
	if _, err := s.c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &name}); err != nil {
		return s3Error("delete bucket "+name, err)
	}
	return nil
}

func (s *s3Store) Bucket(ctx context.Context, name string) (*BucketInfo, error) {
	if CheckBucketName(name) != nil {
		return nil, fmt.Errorf("bucket %q: %w", printable(name), ErrNoSuchBucket)
	}
	head, err := s.c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &name})
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("bucket %s: %w (%w)", name, ErrNoSuchBucket, err)
		}
		return nil, s3Error("head bucket "+name, err)
	}
	info := &BucketInfo{Name: name, Region: aws.ToString(head.BucketRegion)}
	// Owner and creation date come only with the listing.
	list, err := s.listBuckets(ctx, name)
	if err != nil {
		return nil, err
	}
	for _, b := range list {
		if b.Name == name {
			info.Owner, info.Created = b.Owner, b.Created
			if info.Region == "" {
				info.Region = b.Region
			}
		}
	}
	if info.Region == "" {
		info.Region = s.region
		if loc, err := s.c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: &name}); err == nil {
			info.Region = string(loc.LocationConstraint)
			if info.Region == "" {
				info.Region = "us-east-1"
			}
		}
	}
	return info, nil
}

func (s *s3Store) ListBuckets(ctx context.Context) ([]BucketInfo, error) {
	return s.listBuckets(ctx, "")
}

// listBuckets lists the buckets whose names begin with prefix (a hint the
// service may ignore).
func (s *s3Store) listBuckets(ctx context.Context, prefix string) ([]BucketInfo, error) {
	list := []BucketInfo{}
	in := &s3.ListBucketsInput{}
	if prefix != "" {
		in.Prefix = &prefix
	}
	for {
		out, err := s.c.ListBuckets(ctx, in)
		if err != nil {
			return nil, s3Error("list buckets", err)
		}
		owner := ""
		if out.Owner != nil && isAccountID(aws.ToString(out.Owner.ID)) {
			owner = aws.ToString(out.Owner.ID)
		}
		for _, b := range out.Buckets {
			if !strings.HasPrefix(aws.ToString(b.Name), prefix) {
				continue
			}
			region := aws.ToString(b.BucketRegion)
			list = append(list, BucketInfo{Name: aws.ToString(b.Name), Owner: owner, Region: region, Created: aws.ToTime(b.CreationDate)})
		}
		if aws.ToString(out.ContinuationToken) == "" {
			return list, nil
		}
		in.ContinuationToken = out.ContinuationToken
	}
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (s *s3Store) BucketPolicy(ctx context.Context, name string) (string, error) {
	if CheckBucketName(name) != nil {
		return "", fmt.Errorf("bucket %q: %w", printable(name), ErrNoSuchBucket)
	}
	out, err := s.c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: &name})
	if err != nil {
		return "", s3Error("get bucket policy "+name, err)
	}
	if aws.ToString(out.Policy) == "" {
		return "", fmt.Errorf("bucket %s: %w", name, ErrNoSuchBucketPolicy)
	}
	return aws.ToString(out.Policy), nil
}

func (s *s3Store) PutBucketPolicy(ctx context.Context, name, policy string) error {
	if CheckBucketName(name) != nil {
		return fmt.Errorf("bucket %q: %w", printable(name), ErrNoSuchBucket)
	}
	if _, err := s.c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: &name, Policy: &policy}); err != nil {
		return s3Error("put bucket policy "+name, err)
	}
	return nil
}

func (s *s3Store) DeleteBucketPolicy(ctx context.Context, name string) error {
	if CheckBucketName(name) != nil {
		return fmt.Errorf("bucket %q: %w", printable(name), ErrNoSuchBucket)
	}
	if _, err := s.c.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: &name}); err != nil {
		return s3Error("delete bucket policy "+name, err)
	}
	return nil
}

// spooled is a body read whole: in memory or in a temporary file.
type spooled struct {
	r    io.ReadSeeker
	size int64
	md5  []byte
	file *os.File
}

func (sp *spooled) close() {
	if sp.file != nil {
		sp.file.Close()
		os.Remove(sp.file.Name())
	}
}

// spool reads r to EOF. A read error is a *readError.
func spool(ctx context.Context, r io.Reader) (*spooled, error) {
	h := md5.New()
	var mem bytes.Buffer
	n, err := copyBody(ctx, io.MultiWriter(&mem, h), io.LimitReader(r, spoolMemory))
	if err != nil {
		return nil, err
	}
	if n < spoolMemory {
		return &spooled{r: bytes.NewReader(mem.Bytes()), size: n, md5: h.Sum(nil)}, nil
	}
	f, err := os.CreateTemp("", "opentrail-put-")
	if err != nil {
		return nil, err
	}
	sp := &spooled{file: f}
	if _, err := f.Write(mem.Bytes()); err != nil {
		sp.close()
		return nil, err
	}
	rest, err := copyBody(ctx, io.MultiWriter(f, h), r)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		sp.close()
		return nil, err
	}
	sp.r, sp.size, sp.md5 = f, n+rest, h.Sum(nil)
	return sp, nil
}

func (s *s3Store) PutObject(ctx context.Context, bucket, key string, r io.Reader, opts PutOptions) (*ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return nil, fmt.Errorf("put object: %w", err)
	}
	if CheckBucketName(bucket) != nil {
		return nil, fmt.Errorf("put object: bucket %q: %w", printable(bucket), ErrNoSuchBucket)
	}
	body, err := spool(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("put object %s/%s: %w", bucket, key, err)
	}
	defer body.close()
	meta := normalizeMetadata(opts.Metadata)
	in := &s3.PutObjectInput{
		Bucket: &bucket, Key: &key, Body: body.r, ContentLength: &body.size,
		ContentMD5: aws.String(base64.StdEncoding.EncodeToString(body.md5)),
		Metadata:   meta,
	}
	for _, f := range []struct {
		dst **string
		v   string
	}{
		{&in.ContentType, opts.ContentType}, {&in.ContentEncoding, opts.ContentEncoding},
		{&in.CacheControl, opts.CacheControl}, {&in.ContentDisposition, opts.ContentDisposition},
		{&in.ContentLanguage, opts.ContentLanguage}, {&in.SSEKMSKeyId, opts.KMSKeyID},
	} {
		if f.v != "" {
			*f.dst = aws.String(f.v)
		}
	}
	in.ServerSideEncryption = types.ServerSideEncryption(opts.ServerSideEncryption)
	out, err := s.c.PutObject(ctx, in)
	if err != nil {
		return nil, s3Error("put object "+bucket+"/"+key, err)
	}
	return &ObjectInfo{
		Key: key, Size: body.size, ETag: aws.ToString(out.ETag), LastModified: time.Now().UTC().Truncate(time.Second),
		ContentType: opts.ContentType, ContentEncoding: opts.ContentEncoding, CacheControl: opts.CacheControl,
		ContentDisposition: opts.ContentDisposition, ContentLanguage: opts.ContentLanguage, Metadata: meta,
		ServerSideEncryption: string(out.ServerSideEncryption), KMSKeyID: aws.ToString(out.SSEKMSKeyId),
	}, nil
}

func (s *s3Store) GetObject(ctx context.Context, bucket, key string, offset, length int64) (io.ReadCloser, *ObjectInfo, error) {
	if offset < 0 || length < -1 {
		return nil, nil, fmt.Errorf("get object %s/%s: offset %d, length %d: %w", bucket, key, offset, length, ErrInvalidRange)
	}
	if err := s.checkNames(ctx, bucket, key); err != nil {
		return nil, nil, err
	}
	in := &s3.GetObjectInput{Bucket: &bucket, Key: &key}
	switch {
	case length == 0:
		// A range cannot name zero bytes: check the offset and read none.
		info, err := s.HeadObject(ctx, bucket, key)
		if err != nil {
			return nil, nil, err
		}
		if _, err := clampRange(info.Size, offset, 0); err != nil {
			return nil, nil, fmt.Errorf("get object %s/%s: %w", bucket, key, err)
		}
		return io.NopCloser(strings.NewReader("")), info, nil
	case length > 0:
		in.Range = aws.String("bytes=" + strconv.FormatInt(offset, 10) + "-" + strconv.FormatInt(offset+length-1, 10))
	case offset > 0:
		in.Range = aws.String("bytes=" + strconv.FormatInt(offset, 10) + "-")
	}
	out, err := s.c.GetObject(ctx, in)
	if err != nil {
		if offset == 0 && errors.Is(s3Error("", err), ErrInvalidRange) {
			// S3 refuses any range of an empty object; the store allows
			// offset 0.
			if info, herr := s.HeadObject(ctx, bucket, key); herr == nil && info.Size == 0 {
				return io.NopCloser(strings.NewReader("")), info, nil
			}
		}
		return nil, nil, s.objectError(ctx, "get object", bucket, key, err)
	}
	info := &ObjectInfo{
		Key: key, Size: aws.ToInt64(out.ContentLength), ETag: aws.ToString(out.ETag), LastModified: aws.ToTime(out.LastModified),
		ContentType: aws.ToString(out.ContentType), ContentEncoding: aws.ToString(out.ContentEncoding),
		CacheControl: aws.ToString(out.CacheControl), ContentDisposition: aws.ToString(out.ContentDisposition),
		ContentLanguage: aws.ToString(out.ContentLanguage), Metadata: normalizeMetadata(out.Metadata),
		ServerSideEncryption: string(out.ServerSideEncryption), KMSKeyID: aws.ToString(out.SSEKMSKeyId),
	}
	if cr := aws.ToString(out.ContentRange); cr != "" {
		// "bytes 0-9/100": the object's size follows the slash.
		if i := strings.LastIndexByte(cr, '/'); i >= 0 {
			if n, err := strconv.ParseInt(cr[i+1:], 10, 64); err == nil {
				info.Size = n
			}
		}
	}
	return out.Body, info, nil
}

// checkNames fails for names no object can have.
func (s *s3Store) checkNames(ctx context.Context, bucket, key string) error {
	if CheckBucketName(bucket) != nil {
		return fmt.Errorf("bucket %q: %w", printable(bucket), ErrNoSuchBucket)
	}
	if checkKey(key) != nil {
		if _, err := s.Bucket(ctx, bucket); err != nil {
			return err
		}
		return fmt.Errorf("object %s/%s: %w", bucket, printable(key), ErrNoSuchKey)
	}
	return nil
}

// objectError maps an error of an object request; a bare 404 is told
// apart (missing bucket or missing key) with a HeadBucket.
func (s *s3Store) objectError(ctx context.Context, action, bucket, key string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "NotFound" {
		if _, berr := s.c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &bucket}); berr != nil && isNotFound(berr) {
			return fmt.Errorf("%s %s/%s: %w (%w)", action, bucket, key, ErrNoSuchBucket, err)
		}
		return fmt.Errorf("%s %s/%s: %w (%w)", action, bucket, key, ErrNoSuchKey, err)
	}
	return s3Error(action+" "+bucket+"/"+key, err)
}

func (s *s3Store) HeadObject(ctx context.Context, bucket, key string) (*ObjectInfo, error) {
	if err := s.checkNames(ctx, bucket, key); err != nil {
		return nil, err
	}
	out, err := s.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return nil, s.objectError(ctx, "head object", bucket, key, err)
	}
	return &ObjectInfo{
		Key: key, Size: aws.ToInt64(out.ContentLength), ETag: aws.ToString(out.ETag), LastModified: aws.ToTime(out.LastModified),
		ContentType: aws.ToString(out.ContentType), ContentEncoding: aws.ToString(out.ContentEncoding),
		CacheControl: aws.ToString(out.CacheControl), ContentDisposition: aws.ToString(out.ContentDisposition),
		ContentLanguage: aws.ToString(out.ContentLanguage), Metadata: normalizeMetadata(out.Metadata),
		ServerSideEncryption: string(out.ServerSideEncryption), KMSKeyID: aws.ToString(out.SSEKMSKeyId),
	}, nil
}

func (s *s3Store) DeleteObject(ctx context.Context, bucket, key string) error {
	if CheckBucketName(bucket) != nil {
		return fmt.Errorf("bucket %q: %w", printable(bucket), ErrNoSuchBucket)
	}
	if checkKey(key) != nil {
		_, err := s.Bucket(ctx, bucket)
		return err
	}
	if _, err := s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: &key}); err != nil {
		if isNotFound(err) && !errors.Is(s3Error("", err), ErrNoSuchBucket) {
			return nil
		}
		return s3Error("delete object "+bucket+"/"+key, err)
	}
	return nil
}

// ListObjects pages through ListObjectsV2 and cuts its own pages, so that
// the result does not depend on how a service treats a start-after that
// names a common prefix: here, as in S3, such a prefix is not listed again.
func (s *s3Store) ListObjects(ctx context.Context, bucket string, opts ListOptions) (*ListResult, error) {
	if CheckBucketName(bucket) != nil {
		return nil, fmt.Errorf("list objects: bucket %q: %w", printable(bucket), ErrNoSuchBucket)
	}
	max := opts.MaxKeys
	if max <= 0 {
		max = DefaultMaxKeys
	}
	in := &s3.ListObjectsV2Input{Bucket: &bucket, MaxKeys: aws.Int32(int32(min(max+1, 1000)))}
	if opts.Prefix != "" {
		in.Prefix = &opts.Prefix
	}
	if opts.Delimiter != "" {
		in.Delimiter = &opts.Delimiter
	}
	if opts.StartAfter != "" {
		in.StartAfter = &opts.StartAfter
	}
	res := &ListResult{}
	n := 0
	last := ""
	for {
		out, err := s.c.ListObjectsV2(ctx, in)
		if err != nil {
			return nil, s3Error("list objects "+bucket, err)
		}
		// Merge keys and prefixes, both in order.
		objs, cps := out.Contents, out.CommonPrefixes
		for len(objs) > 0 || len(cps) > 0 {
			var item string
			isObj := len(cps) == 0 || len(objs) > 0 && aws.ToString(objs[0].Key) < aws.ToString(cps[0].Prefix)
			if isObj {
				item = aws.ToString(objs[0].Key)
			} else {
				item = aws.ToString(cps[0].Prefix)
			}
			if item <= opts.StartAfter || item == last {
				if isObj {
					objs = objs[1:]
				} else {
					cps = cps[1:]
				}
				continue
			}
			if n == max {
				res.Truncated, res.NextStartAfter = true, last
				return res, nil
			}
			if isObj {
				o := objs[0]
				res.Objects = append(res.Objects, ObjectInfo{Key: item, Size: aws.ToInt64(o.Size), ETag: aws.ToString(o.ETag), LastModified: aws.ToTime(o.LastModified)})
				objs = objs[1:]
			} else {
				res.CommonPrefixes = append(res.CommonPrefixes, item)
				cps = cps[1:]
			}
			n++
			last = item
		}
		if !aws.ToBool(out.IsTruncated) || aws.ToString(out.NextContinuationToken) == "" {
			return res, nil
		}
		in.ContinuationToken, in.StartAfter = out.NextContinuationToken, nil
	}
}
