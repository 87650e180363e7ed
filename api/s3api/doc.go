// Package s3api is opentrail's S3-compatible endpoint: S3's REST API over a
// blob.Store, so that the AWS CLI and SDKs (aws s3 ls, aws s3 cp, aws
// cloudtrail validate-logs, any S3 client) read and write opentrail's
// buckets unchanged. Handler is an embedded service of the API front
// (package api): the front authenticates, the Handler authorizes, serves
// and says what CloudTrail records of the call (svc.Record).
//
// # What it serves
//
// Path-style requests ("/bucket/key") and, for the hosts in
// Handler.Domains, virtual-hosted ones ("bucket.domain/key"). Operations:
// ListBuckets, CreateBucket, DeleteBucket, HeadBucket, GetBucketLocation,
// GetBucketPolicy, PutBucketPolicy, DeleteBucketPolicy, ListObjects,
// ListObjectsV2, GetObject (single byte ranges, conditional requests,
// response-* overrides), HeadObject, PutObject (Content-MD5 and
// x-amz-checksum-* checked, user metadata, server-side encryption headers
// recorded and echoed) and DeleteObject. Every other S3 operation
// (multipart uploads, copies, ACLs, tagging, versioning, ...) answers
// NotImplemented naming it; headers that would change what is stored but
// are not supported (SSE-C, object lock, tagging, storage classes other
// than STANDARD) do too. Nothing is accepted and ignored.
//
// Responses are S3's: XML in S3's namespace, S3's error documents and
// statuses (no body for HEAD), ETag, Last-Modified, x-amz-request-id (the
// call's request ID) and x-amz-id-2 (derived from it).
//
// # Authorization
//
// Every operation asks svc.Call.Authorize with S3's IAM action
// (s3:ListAllMyBuckets, s3:CreateBucket, s3:ListBucket, s3:GetObject,
// s3:PutObject, s3:GetBucketPolicy, ...) and the bucket or object ARN. For
// an existing bucket of the caller's account, the bucket policy may allow
// what that does not; a bucket of another account needs both. See
// policy.go for the subset of bucket policies evaluated.
//
// SSE-KMS: with Handler.Keys set (the embedded KMS), a PutObject with
// x-amz-server-side-encryption aws:kms needs kms:GenerateDataKey on the key
// it names (the account's aws/s3 key when it names none), and a GetObject
// of such an object kms:Decrypt on its key, as the KMS decides (key policy
// and identity policies); a refusal is AccessDenied, and KMS's errors pass
// on as S3 passes them: KMS.NotFoundException, KMS.DisabledException,
// KMS.KMSInvalidStateException. Responses name the key by its ARN. The
// store does the encryption (package blob/sse).
//
// # What the API front must do
//
//   - Route requests whose SigV4 scope names the s3 service here, without
//     cleaning the path: S3 keys may hold "//", "." and ".." segments, and
//     "%2F" means '/'. Pass the Host the client used in svc.Call.Host.
//   - Verify the signature with S3's rules (the path is signed as sent),
//     then hand over the body without buffering it (StreamsBody is true):
//     for x-amz-content-sha256 UNSIGNED-PAYLOAD, the body as it is; for a
//     hex hash, the body with the hash checked at EOF (an error instead of
//     io.EOF on mismatch); for STREAMING-* values (aws-chunked, sent by
//     the CLI and SDKs for uploads, with Content-Encoding aws-chunked), the
//     body decoded by sigv4.NewChunkedReader, with ContentLength from
//     x-amz-decoded-content-length. Presigned URLs (X-Amz-Signature in the
//     query) sign UNSIGNED-PAYLOAD unless they name a hash; the Handler
//     records them as AuthenticationMethod QueryString.
//   - Report failures before the Handler runs with WriteError and S3's
//     codes: SignatureDoesNotMatch, InvalidAccessKeyId,
//     RequestTimeTooSkewed, AccessDenied (missing or expired signature),
//     AuthorizationHeaderMalformed, XAmzContentSHA256Mismatch,
//     IncompleteBody, EntityTooLarge, InternalError.
//   - Append the returned svc.Record (eventSource s3.amazonaws.com) unless
//     its EventName is empty (a method S3 does not know).
//
// A body that fails while the Handler reads it (a bad chunk signature, a
// hash or checksum that does not match, a short body) stores nothing and
// answers the S3 error of the failure: SignatureDoesNotMatch,
// XAmzContentSHA256Mismatch, BadDigest or IncompleteBody.
//
// # What CloudTrail records
//
// eventName is the API name (ListObjectsV2 is recorded as ListObjects, as
// AWS does); object calls and ListObjects are data events, bucket calls
// and ListBuckets management events. requestParameters hold bucketName,
// Host, key and the query as AWS writes them; responseElements are null
// but for PutObject with server-side encryption; resources name the object
// and the bucket with its owner account; additionalEventData carries
// SignatureVersion, CipherSuite (over TLS), bytesTransferredIn,
// AuthenticationMethod, x-amz-id-2 and bytesTransferredOut.
package s3api
