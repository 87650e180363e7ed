package s3api_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/blob"
	"github.com/opentrail/opentrail/sigv4"
)

// apiCode returns the S3 error code of err, "" if it has none.
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func mustCreateBucket(tb testing.TB, c *s3.Client, name string) {
	tb.Helper()
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		tb.Fatalf("CreateBucket(%s): %v", name, err)
	}
}

func mustPutObject(tb testing.TB, c *s3.Client, bucket, key string, body []byte) *s3.PutObjectOutput {
	tb.Helper()
	out, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		tb.Fatalf("PutObject(%s/%s): %v", bucket, key, err)
	}
	return out
}

func mustGetObject(tb testing.TB, c *s3.Client, in *s3.GetObjectInput) ([]byte, *s3.GetObjectOutput) {
	tb.Helper()
	out, err := c.GetObject(context.Background(), in)
	if err != nil {
		tb.Fatalf("GetObject(%s/%s): %v", aws.ToString(in.Bucket), aws.ToString(in.Key), err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return b, out
}

func quotedMD5(b []byte) string {
	sum := md5.Sum(b)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

func TestSDKBuckets(t *testing.T) {
	f, srv, _ := mustServer(t)
	f.allow(otherAccount, true)
	c := mustClient(t, srv, rootKey)
	other := mustClient(t, srv, otherKey)
	ctx := context.Background()

	mustCreateBucket(t, c, "plain")
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("europe"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraintEuWest1}}); err != nil {
		t.Fatalf("CreateBucket with LocationConstraint: %v", err)
	}
	for bucket, want := range map[string]string{"plain": "", "europe": "eu-west-1"} {
		loc, err := c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String(bucket)})
		if err != nil || string(loc.LocationConstraint) != want {
			t.Errorf("GetBucketLocation(%s) = %q, %v; want %q", bucket, loc.LocationConstraint, err, want)
		}
		head, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
		wantRegion := want
		if wantRegion == "" {
			wantRegion = "us-east-1"
		}
		if err != nil || aws.ToString(head.BucketRegion) != wantRegion {
			t.Errorf("HeadBucket(%s) region = %q, %v; want %q", bucket, aws.ToString(head.BucketRegion), err, wantRegion)
		}
	}

	list, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range list.Buckets {
		names = append(names, aws.ToString(b.Name))
		if d := time.Since(aws.ToTime(b.CreationDate)); d < 0 || d > time.Minute {
			t.Errorf("bucket %s CreationDate %v, want about now", aws.ToString(b.Name), b.CreationDate)
		}
	}
	if diff := cmp.Diff([]string{"europe", "plain"}, names); diff != "" {
		t.Errorf("ListBuckets mismatch (-want +got):\n%s", diff)
	}
	if got := aws.ToString(list.Owner.ID); got != account {
		t.Errorf("ListBuckets owner = %q, want %q", got, account)
	}
	// Another account sees none of them.
	if ol, err := other.ListBuckets(ctx, &s3.ListBucketsInput{}); err != nil || len(ol.Buckets) != 0 {
		t.Errorf("ListBuckets by another account = %+v, %v; want none", ol, err)
	}
	// Pages of one.
	var paged []string
	for p := s3.NewListBucketsPaginator(c, &s3.ListBucketsInput{MaxBuckets: aws.Int32(1)}); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range page.Buckets {
			paged = append(paged, aws.ToString(b.Name))
		}
	}
	if diff := cmp.Diff(names, paged); diff != "" {
		t.Errorf("ListBuckets pages mismatch (-want +got):\n%s", diff)
	}

	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("plain")})
	var owned *types.BucketAlreadyOwnedByYou
	if !errors.As(err, &owned) {
		t.Errorf("CreateBucket(existing) = %v, want BucketAlreadyOwnedByYou", err)
	}
	_, err = other.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("plain")})
	var exists *types.BucketAlreadyExists
	if !errors.As(err, &exists) {
		t.Errorf("CreateBucket(another's) = %v, want BucketAlreadyExists", err)
	}
	for _, name := range []string{"Bad_Name", "ab", "192.168.0.1", "xn--bucket"} {
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); apiCode(err) != "InvalidBucketName" {
			t.Errorf("CreateBucket(%q) = %v, want InvalidBucketName", name, err)
		}
	}

	mustPutObject(t, c, "plain", "k", []byte("x"))
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("plain")}); apiCode(err) != "BucketNotEmpty" {
		t.Errorf("DeleteBucket(non-empty) = %v, want BucketNotEmpty", err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("plain"), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("plain")}); err != nil {
		t.Fatalf("DeleteBucket: %v", err)
	}
	var notFound *types.NotFound
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("plain")}); !errors.As(err, &notFound) {
		t.Errorf("HeadBucket(deleted) = %v, want NotFound", err)
	}
	var noBucket *types.NoSuchBucket
	if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("plain")}); !errors.As(err, &noBucket) {
		t.Errorf("ListObjectsV2(deleted) = %v, want NoSuchBucket", err)
	}
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("plain"), Key: aws.String("k")}); apiCode(err) != "NoSuchBucket" {
		t.Errorf("GetObject(deleted bucket) = %v, want NoSuchBucket", err)
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("plain")}); apiCode(err) != "NoSuchBucket" {
		t.Errorf("DeleteBucket(deleted) = %v, want NoSuchBucket", err)
	}
}

func TestSDKPolicy(t *testing.T) {
	_, srv, _ := mustServer(t)
	c := mustClient(t, srv, rootKey)
	ctx := context.Background()
	mustCreateBucket(t, c, "pol")
	if _, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("pol")}); apiCode(err) != "NoSuchBucketPolicy" {
		t.Errorf("GetBucketPolicy(none) = %v, want NoSuchBucketPolicy", err)
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Sid":"AWSCloudTrailAclCheck","Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"s3:GetBucketAcl","Resource":"arn:aws:s3:::pol"},` +
		`{"Sid":"AWSCloudTrailWrite","Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::pol/AWSLogs/111122223333/*","Condition":{"StringEquals":{"s3:x-amz-acl":"bucket-owner-full-control"}}}]}`
	if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("pol"), Policy: aws.String(policy)}); err != nil {
		t.Fatalf("PutBucketPolicy: %v", err)
	}
	got, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("pol")})
	if err != nil || aws.ToString(got.Policy) != policy {
		t.Errorf("GetBucketPolicy = %q, %v; want the policy put", aws.ToString(got.Policy), err)
	}
	for name, bad := range map[string]string{
		"not JSON":           `{"Statement":`,
		"no statement":       `{"Version":"2012-10-17"}`,
		"bad effect":         `{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pol/*"}]}`,
		"no principal":       `{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::pol/*"}]}`,
		"other bucket":       `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}]}`,
		"bucket name prefix": `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::polx/*"}]}`,
		"not s3 action":      `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ec2:RunInstances","Resource":"arn:aws:s3:::pol/*"}]}`,
		"bad version":        `{"Version":"2020-01-01","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pol/*"}]}`,
		"array":              `[]`,
	} {
		if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("pol"), Policy: aws.String(bad)}); apiCode(err) != "MalformedPolicy" {
			t.Errorf("PutBucketPolicy(%s) = %v, want MalformedPolicy", name, err)
		}
	}
	if _, err := c.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String("pol")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("pol")}); apiCode(err) != "NoSuchBucketPolicy" {
		t.Errorf("GetBucketPolicy(deleted) = %v, want NoSuchBucketPolicy", err)
	}
}

// TestSDKAccess: buckets of another account are closed unless its policy
// opens them; a bucket policy can open a bucket to a user of the account.
func TestSDKAccess(t *testing.T) {
	f, srv, _ := mustServer(t)
	c := mustClient(t, srv, rootKey)
	other := mustClient(t, srv, otherKey)
	user := mustClient(t, srv, userKey)
	ctx := context.Background()
	f.allow(otherAccount, true) // its own policies let it do anything
	mustCreateBucket(t, c, "shared")
	mustPutObject(t, c, "shared", "AWSLogs/444455556666/log.json", []byte("theirs"))
	mustPutObject(t, c, "shared", "AWSLogs/111122223333/log.json", []byte("mine"))

	get := func(c *s3.Client, key string) error {
		_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("shared"), Key: aws.String(key)})
		return err
	}
	if err := get(other, "AWSLogs/444455556666/log.json"); apiCode(err) != "AccessDenied" {
		t.Errorf("GetObject by another account without a policy = %v, want AccessDenied", err)
	}
	if _, err := other.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("shared"), Key: aws.String("x"), Body: strings.NewReader("x")}); apiCode(err) != "AccessDenied" {
		t.Errorf("PutObject by another account = %v, want AccessDenied", err)
	}
	if err := get(user, "AWSLogs/111122223333/log.json"); apiCode(err) != "AccessDenied" {
		t.Errorf("GetObject by a user without permissions = %v, want AccessDenied", err)
	}
	policy := `{"Version":"2012-10-17","Statement":[` +
		`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":["s3:GetObject"],"Resource":"arn:aws:s3:::shared/AWSLogs/444455556666/*"},` +
		`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::shared","Condition":{"StringLike":{"s3:prefix":"AWSLogs/444455556666/*"}}},` +
		`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"s3:Get*","Resource":"arn:aws:s3:::shared/*"}]}`
	if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("shared"), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"other reads its prefix", get(other, "AWSLogs/444455556666/log.json"), ""},
		{"other reads another prefix", get(other, "AWSLogs/111122223333/log.json"), "AccessDenied"},
		{"user reads", get(user, "AWSLogs/111122223333/log.json"), ""},
		{"other lists its prefix", func() error {
			_, err := other.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("shared"), Prefix: aws.String("AWSLogs/444455556666/")})
			return err
		}(), ""},
		{"other lists all", func() error {
			_, err := other.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("shared")})
			return err
		}(), "AccessDenied"},
		{"other deletes", func() error {
			_, err := other.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("shared"), Key: aws.String("AWSLogs/444455556666/log.json")})
			return err
		}(), "AccessDenied"},
		{"user puts", func() error {
			_, err := user.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("shared"), Key: aws.String("u"), Body: strings.NewReader("u")})
			return err
		}(), "AccessDenied"},
	}
	for _, tt := range tests {
		if got := apiCode(tt.err); got != tt.want {
			t.Errorf("%s: error %v, want code %q", tt.name, tt.err, tt.want)
		}
	}
	// The other account's identity policies must allow too.
	f.allow(otherAccount, false)
	if err := get(other, "AWSLogs/444455556666/log.json"); apiCode(err) != "AccessDenied" {
		t.Errorf("GetObject by another account its own policies deny = %v, want AccessDenied", err)
	}
}

func TestSDKObjects(t *testing.T) {
	_, srv, _ := mustServer(t)
	c := mustClient(t, srv, rootKey)
	ctx := context.Background()
	mustCreateBucket(t, c, "objs")

	body := []byte(`{"Records":[]}`)
	put, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("objs"), Key: aws.String("AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/06/log.json.gz"),
		Body: bytes.NewReader(body), ContentType: aws.String("application/json"), ContentEncoding: aws.String("gzip"),
		CacheControl: aws.String("max-age=60"), ContentDisposition: aws.String("inline"), ContentLanguage: aws.String("en"),
		Metadata:             map[string]string{"Signature": "0a1b", "signature-algorithm": "SHA256withRSA"},
		ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String("arn:aws:kms:us-east-1:111122223333:key/k1"),
	})
	if err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	if aws.ToString(put.ETag) != quotedMD5(body) || put.ServerSideEncryption != types.ServerSideEncryptionAwsKms || aws.ToString(put.SSEKMSKeyId) != "arn:aws:kms:us-east-1:111122223333:key/k1" {
		t.Errorf("PutObject = {ETag %s SSE %s KMS %s}, want {%s aws:kms k1}", aws.ToString(put.ETag), put.ServerSideEncryption, aws.ToString(put.SSEKMSKeyId), quotedMD5(body))
	}
	key := "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/06/log.json.gz"
	got, out := mustGetObject(t, c, &s3.GetObjectInput{Bucket: aws.String("objs"), Key: aws.String(key)})
	if !bytes.Equal(got, body) {
		t.Errorf("GetObject = %q, want %q", got, body)
	}
	type attrs struct {
		ContentType, ContentEncoding, CacheControl, ContentDisposition, ContentLanguage, ETag, SSE, KMS, AcceptRanges string
		Length                                                                                                        int64
		Metadata                                                                                                      map[string]string
	}
	want := attrs{"application/json", "gzip", "max-age=60", "inline", "en", quotedMD5(body), "aws:kms", "arn:aws:kms:us-east-1:111122223333:key/k1", "bytes",
		int64(len(body)), map[string]string{"signature": "0a1b", "signature-algorithm": "SHA256withRSA"}}
	gotAttrs := attrs{aws.ToString(out.ContentType), aws.ToString(out.ContentEncoding), aws.ToString(out.CacheControl), aws.ToString(out.ContentDisposition),
		aws.ToString(out.ContentLanguage), aws.ToString(out.ETag), string(out.ServerSideEncryption), aws.ToString(out.SSEKMSKeyId), aws.ToString(out.AcceptRanges),
		aws.ToInt64(out.ContentLength), out.Metadata}
	if diff := cmp.Diff(want, gotAttrs); diff != "" {
		t.Errorf("GetObject attributes mismatch (-want +got):\n%s", diff)
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("objs"), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	headAttrs := attrs{aws.ToString(head.ContentType), aws.ToString(head.ContentEncoding), aws.ToString(head.CacheControl), aws.ToString(head.ContentDisposition),
		aws.ToString(head.ContentLanguage), aws.ToString(head.ETag), string(head.ServerSideEncryption), aws.ToString(head.SSEKMSKeyId), aws.ToString(head.AcceptRanges),
		aws.ToInt64(head.ContentLength), head.Metadata}
	if diff := cmp.Diff(want, headAttrs); diff != "" {
		t.Errorf("HeadObject attributes mismatch (-want +got):\n%s", diff)
	}
	if d := time.Since(aws.ToTime(head.LastModified)); d < -time.Second || d > time.Minute {
		t.Errorf("LastModified = %v, want about now", head.LastModified)
	}

	// Without attributes: S3's default content type (the SDK sends
	// application/octet-stream; a bare request sends none), no encryption.
	mustPutObject(t, c, "objs", "bare", []byte("bare"))
	_, bare := mustGetObject(t, c, &s3.GetObjectInput{Bucket: aws.String("objs"), Key: aws.String("bare")})
	if aws.ToString(bare.ContentType) != "application/octet-stream" || bare.ServerSideEncryption != "" || len(bare.Metadata) != 0 {
		t.Errorf("bare object = {ContentType %q SSE %q Metadata %v}", aws.ToString(bare.ContentType), bare.ServerSideEncryption, bare.Metadata)
	}
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/objs/untyped", strings.NewReader("x"))
	if resp := mustSend(t, req); resp.status != 200 {
		t.Fatalf("PUT without Content-Type = %d %s", resp.status, resp.body)
	}
	if _, out := mustGetObject(t, c, &s3.GetObjectInput{Bucket: aws.String("objs"), Key: aws.String("untyped")}); aws.ToString(out.ContentType) != "binary/octet-stream" {
		t.Errorf("object put without Content-Type has Content-Type %q, want binary/octet-stream", aws.ToString(out.ContentType))
	}

	// Keys that need escaping, and that a file system would misread.
	for _, k := range []string{"with space/and+plus", "ünïcödé/😀", "a//b", "../../../etc/passwd", "dot/./seg", "%2e%2e/enc", "trailing/", "q?uery#frag&x=1", "tab\there"} {
		mustPutObject(t, c, "objs", k, []byte("v:"+k))
		if got, _ := mustGetObject(t, c, &s3.GetObjectInput{Bucket: aws.String("objs"), Key: aws.String(k)}); string(got) != "v:"+k {
			t.Errorf("GetObject(%q) = %q", k, got)
		}
	}

	var noKey *types.NoSuchKey
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("objs"), Key: aws.String("missing")}); !errors.As(err, &noKey) {
		t.Errorf("GetObject(missing) = %v, want NoSuchKey", err)
	}
	var notFound *types.NotFound
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("objs"), Key: aws.String("missing")}); !errors.As(err, &notFound) {
		t.Errorf("HeadObject(missing) = %v, want NotFound", err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("objs"), Key: aws.String("missing")}); err != nil {
		t.Errorf("DeleteObject(missing) = %v, want success", err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("objs"), Key: aws.String("bare")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("objs"), Key: aws.String("bare")}); !errors.As(err, &notFound) {
		t.Errorf("HeadObject(deleted) = %v, want NotFound", err)
	}

	// Digests: a wrong Content-MD5 stores nothing.
	wrong := md5.Sum([]byte("something else"))
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("objs"), Key: aws.String("digest"), Body: strings.NewReader("payload"),
		ContentMD5: aws.String(base64.StdEncoding.EncodeToString(wrong[:]))})
	if apiCode(err) != "BadDigest" {
		t.Errorf("PutObject with a wrong Content-MD5 = %v, want BadDigest", err)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("objs"), Key: aws.String("digest")}); !errors.As(err, &notFound) {
		t.Errorf("HeadObject after BadDigest = %v, want NotFound", err)
	}
	right := md5.Sum([]byte("payload"))
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("objs"), Key: aws.String("digest"), Body: strings.NewReader("payload"),
		ContentMD5: aws.String(base64.StdEncoding.EncodeToString(right[:]))}); err != nil {
		t.Errorf("PutObject with the right Content-MD5: %v", err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("objs"), Key: aws.String("sha"), Body: strings.NewReader("payload"),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256}); err != nil {
		t.Errorf("PutObject with a SHA-256 checksum: %v", err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("objs"), Key: aws.String("sse"), Body: strings.NewReader("x"),
		ServerSideEncryption: "rot13"}); apiCode(err) != "InvalidArgument" {
		t.Errorf("PutObject with an unknown encryption = %v, want InvalidArgument", err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("objs"), Key: aws.String(strings.Repeat("k", 1025)), Body: strings.NewReader("x")}); apiCode(err) != "KeyTooLongError" {
		t.Errorf("PutObject with a 1025-byte key = %v, want KeyTooLongError", err)
	}

	// A large object, streamed both ways.
	large := bytes.Repeat([]byte("0123456789abcdef"), 3<<20/16+7)
	mustPutObject(t, c, "objs", "large", large)
	if got, _ := mustGetObject(t, c, &s3.GetObjectInput{Bucket: aws.String("objs"), Key: aws.String("large")}); !bytes.Equal(got, large) {
		t.Errorf("GetObject(large) = %d bytes, want the %d put", len(got), len(large))
	}

	// Presigned URLs.
	presign := s3.NewPresignClient(c)
	pre, err := presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("objs"), Key: aws.String("digest")})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(pre.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "payload" {
		t.Errorf("presigned GET = %d %q, want 200 %q", resp.StatusCode, b, "payload")
	}
}

func TestSDKRanges(t *testing.T) {
	_, srv, _ := mustServer(t)
	c := mustClient(t, srv, rootKey)
	ctx := context.Background()
	mustCreateBucket(t, c, "ranges")
	mustPutObject(t, c, "ranges", "digits", []byte("0123456789"))
	mustPutObject(t, c, "ranges", "empty", nil)
	tests := []struct {
		key, rng     string
		want         string
		contentRange string
		code         string
	}{
		{"digits", "bytes=0-4", "01234", "bytes 0-4/10", ""},
		{"digits", "bytes=5-", "56789", "bytes 5-9/10", ""},
		{"digits", "bytes=-3", "789", "bytes 7-9/10", ""},
		{"digits", "bytes=-30", "0123456789", "bytes 0-9/10", ""},
		{"digits", "bytes=8-100", "89", "bytes 8-9/10", ""},
		{"digits", "bytes=9-9", "9", "bytes 9-9/10", ""},
		{"digits", "bytes=10-", "", "", "InvalidRange"},
		{"digits", "bytes=100-200", "", "", "InvalidRange"},
		{"digits", "bytes=-0", "", "", "InvalidRange"},
		{"digits", "bytes=5-2", "0123456789", "", ""},     // invalid: ignored
		{"digits", "items=0-1", "0123456789", "", ""},     // other unit: ignored
		{"digits", "bytes=0-1,3-4", "0123456789", "", ""}, // several: ignored
		{"empty", "bytes=0-", "", "", "InvalidRange"},
	}
	for _, tt := range tests {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("ranges"), Key: aws.String(tt.key), Range: aws.String(tt.rng)})
		if code := apiCode(err); code != tt.code {
			t.Errorf("GetObject(%s, %s) error %v, want code %q", tt.key, tt.rng, err, tt.code)
			continue
		}
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if string(b) != tt.want || aws.ToString(out.ContentRange) != tt.contentRange {
			t.Errorf("GetObject(%s, %s) = %q (Content-Range %q), want %q (%q)", tt.key, tt.rng, b, aws.ToString(out.ContentRange), tt.want, tt.contentRange)
		}
	}
	// Conditional requests.
	etag := quotedMD5([]byte("0123456789"))
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("ranges"), Key: aws.String("digits"), IfMatch: aws.String(`"nope"`)}); apiCode(err) != "PreconditionFailed" {
		t.Errorf("GetObject(If-Match other) = %v, want PreconditionFailed", err)
	}
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("ranges"), Key: aws.String("digits"), IfMatch: aws.String(etag)}); err != nil {
		t.Errorf("GetObject(If-Match same) = %v", err)
	}
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("ranges"), Key: aws.String("digits"), IfNoneMatch: aws.String(etag)}); apiCode(err) != "NotModified" {
		t.Errorf("GetObject(If-None-Match same) = %v, want NotModified", err)
	}
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("ranges"), Key: aws.String("digits"), IfModifiedSince: aws.Time(time.Now().Add(time.Hour))}); apiCode(err) != "NotModified" {
		t.Errorf("GetObject(If-Modified-Since future) = %v, want NotModified", err)
	}
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("ranges"), Key: aws.String("digits"), IfUnmodifiedSince: aws.Time(time.Now().Add(-time.Hour))}); apiCode(err) != "PreconditionFailed" {
		t.Errorf("GetObject(If-Unmodified-Since past) = %v, want PreconditionFailed", err)
	}
}

// listKeys are more than a page, with tricky neighbours.
func listKeys() []string {
	keys := []string{"a-b", "a.b", "a/b", "a b/c", "é/x", "😀", "\uFFFD"}
	for i := range 1205 {
		keys = append(keys, fmt.Sprintf("AWSLogs/111122223333/CloudTrail/%s/2024/05/%02d/f%04d.json.gz", []string{"us-east-1", "eu-west-1", "ap-south-1"}[i%3], i%28+1, i))
	}
	slices.Sort(keys)
	return keys
}

func TestSDKList(t *testing.T) {
	_, srv, store := mustServer(t)
	c := mustClient(t, srv, rootKey)
	ctx := context.Background()
	mustCreateBucket(t, c, "list")
	keys := listKeys()
	for _, k := range keys {
		if _, err := store.PutObject(ctx, "list", k, strings.NewReader(k), blob.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// Everything, in pages of 100 and of the default 1000.
	for _, max := range []int32{100, 0} {
		in := &s3.ListObjectsV2Input{Bucket: aws.String("list"), FetchOwner: aws.Bool(true)}
		if max > 0 {
			in.MaxKeys = aws.Int32(max)
		}
		var got []string
		pages := 0
		for p := s3.NewListObjectsV2Paginator(c, in); p.HasMorePages(); {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if int(aws.ToInt32(page.KeyCount)) != len(page.Contents) {
				t.Errorf("KeyCount %d, %d keys", aws.ToInt32(page.KeyCount), len(page.Contents))
			}
			for _, o := range page.Contents {
				got = append(got, aws.ToString(o.Key))
				if o.Owner == nil || aws.ToString(o.Owner.ID) != account || aws.ToString(o.ETag) != quotedMD5([]byte(aws.ToString(o.Key))) || o.StorageClass != types.ObjectStorageClassStandard {
					t.Fatalf("listed object %+v: want owner, ETag and storage class", o)
				}
			}
		}
		if diff := cmp.Diff(keys, got); diff != "" {
			t.Errorf("ListObjectsV2 pages of %d mismatch (-want +got):\n%s", max, diff)
		}
		if wantPages := (len(keys) + 999) / 1000; max == 100 {
			wantPages = (len(keys) + 99) / 100
			if pages != wantPages {
				t.Errorf("ListObjectsV2 pages of %d: %d pages, want %d", max, pages, wantPages)
			}
		}
	}

	// Delimiter, at two levels, paginated by twos.
	tests := []struct {
		prefix   string
		keys     []string
		prefixes []string
	}{
		{"", []string{"a-b", "a.b", "😀", "\uFFFD"}, []string{"AWSLogs/", "a b/", "a/", "é/"}},
		{"AWSLogs/111122223333/CloudTrail/", nil, []string{"AWSLogs/111122223333/CloudTrail/ap-south-1/", "AWSLogs/111122223333/CloudTrail/eu-west-1/", "AWSLogs/111122223333/CloudTrail/us-east-1/"}},
		{"a", []string{"a-b", "a.b"}, []string{"a b/", "a/"}},
	}
	for _, tt := range tests {
		var gotKeys, gotPrefixes []string
		for p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String("list"), Prefix: aws.String(tt.prefix), Delimiter: aws.String("/"), MaxKeys: aws.Int32(2)}); p.HasMorePages(); {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range page.Contents {
				gotKeys = append(gotKeys, aws.ToString(o.Key))
			}
			for _, cp := range page.CommonPrefixes {
				gotPrefixes = append(gotPrefixes, aws.ToString(cp.Prefix))
			}
		}
		slices.Sort(tt.keys)
		slices.Sort(tt.prefixes)
		if diff := cmp.Diff([][]string{tt.keys, tt.prefixes}, [][]string{gotKeys, gotPrefixes}, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("ListObjectsV2(prefix %q, delimiter /) mismatch (-want +got):\n%s", tt.prefix, diff)
		}
	}

	// Version 1: Marker, and NextMarker with a delimiter.
	var v1 []string
	in := &s3.ListObjectsInput{Bucket: aws.String("list"), MaxKeys: aws.Int32(333)}
	for {
		page, err := c.ListObjects(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			v1 = append(v1, aws.ToString(o.Key))
		}
		if !aws.ToBool(page.IsTruncated) {
			break
		}
		if page.NextMarker != nil {
			t.Errorf("ListObjects without a delimiter returned NextMarker %q", aws.ToString(page.NextMarker))
		}
		in.Marker = page.Contents[len(page.Contents)-1].Key
	}
	if diff := cmp.Diff(keys, v1); diff != "" {
		t.Errorf("ListObjects (v1) mismatch (-want +got):\n%s", diff)
	}
	page, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("list"), Delimiter: aws.String("/"), MaxKeys: aws.Int32(2)})
	if err != nil || !aws.ToBool(page.IsTruncated) || aws.ToString(page.NextMarker) != "a b/" {
		t.Errorf("ListObjects(delimiter, 2) = truncated %v NextMarker %q, %v; want true %q", aws.ToBool(page.IsTruncated), aws.ToString(page.NextMarker), err, "a b/")
	}

	// start-after, encoding-type=url, max-keys=0.
	v2, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("list"), StartAfter: aws.String("a.b"), MaxKeys: aws.Int32(3), EncodingType: types.EncodingTypeUrl})
	if err != nil {
		t.Fatal(err)
	}
	var enc []string
	for _, o := range v2.Contents {
		k, err := url.QueryUnescape(aws.ToString(o.Key))
		if err != nil {
			t.Fatal(err)
		}
		enc = append(enc, k)
	}
	if diff := cmp.Diff([]string{"a/b", "é/x", "\uFFFD"}, enc); diff != "" {
		t.Errorf("ListObjectsV2(start-after a.b, url) mismatch (-want +got):\n%s", diff)
	}
	if got := aws.ToString(v2.Contents[1].Key); got != "%C3%A9/x" {
		t.Errorf("url-encoded key = %q, want %q", got, "%C3%A9/x")
	}
	sp, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("list"), Prefix: aws.String("a b"), EncodingType: types.EncodingTypeUrl})
	if err != nil || len(sp.Contents) != 1 || aws.ToString(sp.Contents[0].Key) != "a+b/c" || aws.ToString(sp.Prefix) != "a+b" {
		t.Errorf("ListObjectsV2(prefix 'a b', url) = %+v, %v; want key and prefix encoded", sp, err)
	}
	zero, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("list"), MaxKeys: aws.Int32(0)})
	if err != nil || len(zero.Contents) != 0 || aws.ToBool(zero.IsTruncated) {
		t.Errorf("ListObjectsV2(max-keys 0) = %d keys, truncated %v, %v", len(zero.Contents), aws.ToBool(zero.IsTruncated), err)
	}
	if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("list"), ContinuationToken: aws.String("garbage")}); apiCode(err) != "InvalidArgument" {
		t.Errorf("ListObjectsV2(bad token) = %v, want InvalidArgument", err)
	}
}

func TestSDKNotImplemented(t *testing.T) {
	_, srv, _ := mustServer(t)
	c := mustClient(t, srv, rootKey)
	ctx := context.Background()
	mustCreateBucket(t, c, "nimpl")
	mustPutObject(t, c, "nimpl", "k", []byte("x"))
	b, k := aws.String("nimpl"), aws.String("k")
	calls := map[string]func() error{
		"CreateMultipartUpload": func() error {
			_, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: k})
			return err
		},
		"CopyObject": func() error {
			_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("k2"), CopySource: aws.String("nimpl/k")})
			return err
		},
		"GetObjectAcl": func() error { _, err := c.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: b, Key: k}); return err },
		"PutObjectTagging": func() error {
			_, err := c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: b, Key: k, Tagging: &types.Tagging{TagSet: []types.Tag{}}})
			return err
		},
		"GetBucketVersioning": func() error {
			_, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: b})
			return err
		},
		"GetBucketAcl": func() error { _, err := c.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: b}); return err },
		"DeleteObjects": func() error {
			_, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: b, Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: k}}}})
			return err
		},
	}
	for name, call := range calls {
		err := call()
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "NotImplemented" || !strings.Contains(ae.ErrorMessage(), name) {
			t.Errorf("%s = %v, want NotImplemented naming %s", name, err, name)
		}
	}
	// The object is still there: nothing pretended to work.
	if got, _ := mustGetObject(t, c, &s3.GetObjectInput{Bucket: b, Key: k}); string(got) != "x" {
		t.Errorf("object after refused calls = %q", got)
	}
}

// TestSDKChecksums: the SDK's default checksums arrive as it sends them
// (a header, or an aws-chunked trailer), and a body that does not match
// its checksum is refused and not stored.
func TestSDKChecksums(t *testing.T) {
	f, plain, _ := mustServer(t)
	// The SDK sends trailing checksums over TLS only.
	srv := httptest.NewTLSServer(f)
	defer srv.Close()
	ctx := context.Background()
	c := mustClient(t, srv, rootKey)
	c = s3.New(c.Options(), func(o *s3.Options) { o.HTTPClient = srv.Client() })
	mustCreateBucket(t, c, "sums")
	for _, algo := range []types.ChecksumAlgorithm{types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmSha1, types.ChecksumAlgorithmSha256, types.ChecksumAlgorithmCrc64nvme} {
		key := "sum-" + string(algo)
		// A reader without Seek makes the SDK stream an aws-chunked body
		// with the checksum as a trailer.
		for _, body := range []io.Reader{strings.NewReader("checked " + key), io.MultiReader(strings.NewReader("checked " + key))} {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("sums"), Key: aws.String(key), Body: body, ChecksumAlgorithm: algo,
				ContentLength: aws.Int64(int64(len("checked " + key)))})
			if err != nil {
				t.Errorf("PutObject with %s (%T): %v", algo, body, err)
			}
		}
	}
	if n := f.payloads()[sigv4.StreamingUnsignedPayloadTrailer]; n == 0 {
		t.Errorf("no PutObject came as %s: %v", sigv4.StreamingUnsignedPayloadTrailer, f.payloads())
	}
	// A checksum header that does not match the body.
	req, _ := http.NewRequest(http.MethodPut, plain.URL+"/sums/bad", strings.NewReader("body"))
	req.Header.Set("x-amz-checksum-crc32", base64.StdEncoding.EncodeToString([]byte{1, 2, 3, 4}))
	resp := mustSend(t, req)
	if resp.status != http.StatusBadRequest || !strings.Contains(resp.body, "<Code>BadDigest</Code>") {
		t.Errorf("PUT with a wrong x-amz-checksum-crc32 = %d %s, want 400 BadDigest", resp.status, resp.body)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("sums"), Key: aws.String("bad")}); err == nil {
		t.Errorf("object with a wrong checksum was stored")
	}
}

// TestBadBodies: bodies that fail the checks of the front (signed hash,
// aws-chunked trailer) or of the Handler store nothing and answer S3's
// error.
func TestBadBodies(t *testing.T) {
	f, srv, _ := mustServer(t)
	c := mustClient(t, srv, rootKey)
	ctx := context.Background()
	mustCreateBucket(t, c, "bodies")
	chunked := func(data, trailer string) string {
		return fmt.Sprintf("%x\r\n%s\r\n0\r\n%s\r\n\r\n", len(data), data, trailer)
	}
	crc := func(s string) string {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], crc32.ChecksumIEEE([]byte(s)))
		return base64.StdEncoding.EncodeToString(b[:])
	}
	otherHash := sha256.Sum256([]byte("not the body"))
	tests := []struct {
		name    string
		header  http.Header
		body    string
		payload string
		status  int
		code    string
	}{
		{"signed hash mismatch", nil, "body", hex.EncodeToString(otherHash[:]), 400, "XAmzContentSHA256Mismatch"},
		{"trailer checksum mismatch", http.Header{"Content-Encoding": {"aws-chunked"}, "X-Amz-Trailer": {"x-amz-checksum-crc32"}, "X-Amz-Decoded-Content-Length": {"5"}},
			chunked("hello", "x-amz-checksum-crc32:"+crc("other")), sigv4.StreamingUnsignedPayloadTrailer, 400, "BadDigest"},
		{"decoded length short", http.Header{"Content-Encoding": {"aws-chunked"}, "X-Amz-Trailer": {"x-amz-checksum-crc32"}, "X-Amz-Decoded-Content-Length": {"9"}},
			chunked("hello", "x-amz-checksum-crc32:"+crc("hello")), sigv4.StreamingUnsignedPayloadTrailer, 400, "IncompleteBody"},
		{"trailer checksum right", http.Header{"Content-Encoding": {"aws-chunked"}, "X-Amz-Trailer": {"x-amz-checksum-crc32"}, "X-Amz-Decoded-Content-Length": {"5"}},
			chunked("hello", "x-amz-checksum-crc32:"+crc("hello")), sigv4.StreamingUnsignedPayloadTrailer, 200, ""},
		{"bad Content-MD5", http.Header{"Content-Md5": {"not base64"}}, "body", "", 400, "InvalidDigest"},
		{"metadata too large", http.Header{"X-Amz-Meta-Big": {strings.Repeat("m", 2100)}}, "body", "", 400, "MetadataTooLarge"},
		{"ACL", http.Header{"X-Amz-Acl": {"public-read"}}, "body", "", 400, "AccessControlListNotSupported"},
		{"SSE-C", http.Header{"X-Amz-Server-Side-Encryption-Customer-Algorithm": {"AES256"}}, "body", "", 501, "NotImplemented"},
		{"KMS key without aws:kms", http.Header{"X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id": {"k"}}, "body", "", 400, "InvalidArgument"},
		{"storage class", http.Header{"X-Amz-Storage-Class": {"GLACIER"}}, "body", "", 501, "NotImplemented"},
	}
	for i, tt := range tests {
		key := fmt.Sprintf("obj%d", i)
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/bodies/"+key, strings.NewReader(tt.body))
		for k, v := range tt.header {
			req.Header[k] = v
		}
		resp := mustSendPayload(t, rootKey, req, tt.payload)
		if resp.status != tt.status || tt.code != "" && !strings.Contains(resp.body, "<Code>"+tt.code+"</Code>") {
			t.Errorf("%s: %d %s, want %d %s", tt.name, resp.status, resp.body, tt.status, tt.code)
		}
		if rec := f.last().rec; opentrailCode(rec.Err) != tt.code {
			t.Errorf("%s: recorded error %v, want %q", tt.name, rec.Err, tt.code)
		}
		_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bodies"), Key: aws.String(key)})
		if stored := err == nil; stored != (tt.status == 200) {
			t.Errorf("%s: object stored = %v, want %v", tt.name, stored, tt.status == 200)
		}
	}
	if got, _ := mustGetObject(t, c, &s3.GetObjectInput{Bucket: aws.String("bodies"), Key: aws.String("obj3")}); string(got) != "hello" {
		t.Errorf("object sent aws-chunked = %q, want the decoded body", got)
	}
}

func opentrailCode(err error) string {
	if err == nil {
		return ""
	}
	return opentrail.ErrorCode(err)
}

// TestSDKVirtualHosted: with Handler.Domains, "<bucket>.<domain>" names
// the bucket, as the SDKs address S3 by default.
func TestSDKVirtualHosted(t *testing.T) {
	f, srv, _ := mustServer(t)
	f.h.Domains = []string{"s3.test"}
	addr := strings.TrimPrefix(srv.URL, "http://")
	_, port, _ := strings.Cut(addr, ":")
	dial := &net.Dialer{}
	c := s3.New(mustClient(t, srv, rootKey).Options(), func(o *s3.Options) {
		o.UsePathStyle = false
		o.BaseEndpoint = aws.String("http://s3.test:" + port)
		// Every host of the test domain is the test server.
		o.HTTPClient = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dial.DialContext(ctx, network, addr)
		}}}
	})
	ctx := context.Background()
	mustCreateBucket(t, c, "vhost")
	if rec := f.last(); !strings.HasPrefix(rec.target, "/") || rec.rec.EventName != "CreateBucket" || !strings.Contains(string(rec.rec.RequestParameters), `"Host":"vhost.s3.test:`+port+`"`) {
		t.Errorf("CreateBucket over a virtual host: %s %s", rec.target, rec.rec.RequestParameters)
	}
	mustPutObject(t, c, "vhost", "a/b c", []byte("virtual"))
	if got, _ := mustGetObject(t, c, &s3.GetObjectInput{Bucket: aws.String("vhost"), Key: aws.String("a/b c")}); string(got) != "virtual" {
		t.Errorf("GetObject over a virtual host = %q", got)
	}
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("vhost")})
	if err != nil || len(list.Contents) != 1 || aws.ToString(list.Contents[0].Key) != "a/b c" {
		t.Errorf("ListObjectsV2 over a virtual host = %+v, %v", list, err)
	}
	// The same bucket path-style.
	if got, _ := mustGetObject(t, mustClient(t, srv, rootKey), &s3.GetObjectInput{Bucket: aws.String("vhost"), Key: aws.String("a/b c")}); string(got) != "virtual" {
		t.Errorf("GetObject path-style = %q", got)
	}
}

// TestStreaming: objects pass through without being held in memory.
func TestStreaming(t *testing.T) {
	if testing.Short() {
		t.Skip("short: 64 MB each way")
	}
	_, srv, _ := mustServer(t)
	c := mustClient(t, srv, rootKey)
	mustCreateBucket(t, c, "stream")
	const size = 64 << 20
	src := func() io.Reader { return io.LimitReader(rand.NewChaCha8([32]byte{7}), size) }
	h := md5.New()
	io.Copy(h, src())
	want := `"` + hex.EncodeToString(h.Sum(nil)) + `"`

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/stream/big", src())
	req.ContentLength = size
	resp := mustSendPayload(t, rootKey, req, "UNSIGNED-PAYLOAD")
	runtime.ReadMemStats(&after)
	if resp.status != 200 || resp.header.Get("ETag") != want {
		t.Fatalf("PUT of %d MB = %d %s, ETag %s; want 200, %s", size>>20, resp.status, resp.body, resp.header.Get("ETag"), want)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/4 {
		t.Errorf("PUT of %d MB allocated %d MB", size>>20, alloc>>20)
	}

	runtime.GC()
	runtime.ReadMemStats(&before)
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("stream"), Key: aws.String("big")})
	if err != nil {
		t.Fatal(err)
	}
	h.Reset()
	n, err := io.Copy(h, out.Body)
	out.Body.Close()
	runtime.ReadMemStats(&after)
	if err != nil || n != size || `"`+hex.EncodeToString(h.Sum(nil))+`"` != want {
		t.Errorf("GET = %d bytes, %v, MD5 %x; want %d bytes, %s", n, err, h.Sum(nil), size, want)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/4 {
		t.Errorf("GET of %d MB allocated %d MB", size>>20, alloc>>20)
	}
}
