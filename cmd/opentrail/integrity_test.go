package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/journal"
)

func (ts *testServer) kms(region string) *kms.Client {
	return kms.NewFromConfig(ts.awsConfig(region), func(o *kms.Options) { o.BaseEndpoint = aws.String(ts.URL) })
}

// trailKeyPolicy lets the account's root manage the key and CloudTrail
// encrypt log files with it.
func trailKeyPolicy(account string) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
 {"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%[1]s:root"},"Action":"kms:*","Resource":"*"},
 {"Sid":"Allow CloudTrail to encrypt logs","Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"kms:GenerateDataKey*","Resource":"*",
  "Condition":{"StringLike":{"kms:EncryptionContext:aws:cloudtrail:arn":"arn:aws:cloudtrail:*:%[1]s:trail/*"}}}]}`, account)
}

// validation is the outcome of one validator run.
type validation struct {
	code           int
	stdout, stderr string
}

// runValidateLogs runs opentrail validate-logs against the server.
func runValidateLogs(t *testing.T, ts *testServer, args ...string) validation {
	t.Helper()
	env := map[string]string{"AWS_ACCESS_KEY_ID": ts.KeyID, "AWS_SECRET_ACCESS_KEY": ts.Secret, "AWS_REGION": "us-east-1",
		"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true"}
	for k, v := range env {
		t.Setenv(k, v) // the SDK's credential chain reads the process environment
	}
	var stdout, stderr bytes.Buffer
	code := validateLogsMain(context.Background(), append([]string{"--endpoint-url", ts.URL}, args...), &stdout, &stderr,
		func(k string) string { return env[k] })
	return validation{code, stdout.String(), stderr.String()}
}

// runAWSValidateLogs runs the stock AWS CLI's validate-logs against the
// server, its S3 calls going to the embedded S3-compatible endpoint.
func runAWSValidateLogs(t *testing.T, ts *testServer, args ...string) validation {
	t.Helper()
	if _, err := exec.LookPath("aws"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the aws CLI is not installed")
		}
		t.Skip("the aws CLI is not installed")
	}
	cmd := exec.Command("aws", append([]string{"--endpoint-url", ts.URL, "cloudtrail", "validate-logs"}, args...)...)
	cmd.Env = append(os.Environ(),
		"AWS_ACCESS_KEY_ID="+ts.KeyID, "AWS_SECRET_ACCESS_KEY="+ts.Secret, "AWS_DEFAULT_REGION=us-east-1",
		"AWS_ENDPOINT_URL_S3="+ts.URL, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return validation{code, stdout.String(), stderr.String()}
}

// TestLogFileIntegrity runs a trail with log file validation and a KMS key
// through delivery, a restart, and tampering, and has both validators (ours
// and the stock AWS CLI) judge the bucket each time.
func TestLogFileIntegrity(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	opts := func(m *Main) {
		m.DataDir, m.DeliveryInterval, m.DigestInterval, m.Regions = dataDir, time.Second, 2*time.Second, "us-east-1,eu-west-1"
	}
	// Until the restart, the signing keys' clock is 28 days behind: the
	// region's first key is then past its 27 days as the current key, and
	// the restarted server rotates to a new one inside the validated range.
	ts := mustRunMain(t, opts, func(m *Main) { m.keysNow = func() time.Time { return time.Now().Add(-28 * 24 * time.Hour) } })
	start := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	ct, s3c, kc := ts.cloudtrail("us-east-1"), ts.s3("us-east-1"), ts.kms("us-east-1")
	mustBucket(t, s3c, "signed-logs", true)

	key, err := kc.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("trail logs")})
	if err != nil {
		t.Fatal(err)
	}
	keyID := aws.ToString(key.KeyMetadata.KeyId)
	if _, err := kc.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/trail-logs"), TargetKeyId: &keyID}); err != nil {
		t.Fatal(err)
	}
	trailInput := &cloudtrail.CreateTrailInput{Name: aws.String("signed"), S3BucketName: aws.String("signed-logs"),
		EnableLogFileValidation: aws.Bool(true), IsMultiRegionTrail: aws.Bool(true), KmsKeyId: aws.String("alias/trail-logs")}
	// The key's default policy does not let CloudTrail use it.
	_, err = ct.CreateTrail(ctx, trailInput)
	var insufficient *types.InsufficientEncryptionPolicyException
	if !errors.As(err, &insufficient) {
		t.Fatalf("CreateTrail with a key CloudTrail may not use: %v, want InsufficientEncryptionPolicyException", err)
	}
	_, err = ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String("nokey"), S3BucketName: aws.String("signed-logs"),
		KmsKeyId: aws.String("alias/missing")})
	var notFound *types.KmsKeyNotFoundException
	if !errors.As(err, &notFound) {
		t.Fatalf("CreateTrail with a missing key: %v, want KmsKeyNotFoundException", err)
	}
	if _, err := kc.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: &keyID, PolicyName: aws.String("default"),
		Policy: aws.String(trailKeyPolicy(ts.Account))}); err != nil {
		t.Fatal(err)
	}
	created, err := ct.CreateTrail(ctx, trailInput)
	if err != nil {
		t.Fatal(err)
	}
	trailARN := aws.ToString(created.TrailARN)
	if !aws.ToBool(created.LogFileValidationEnabled) || aws.ToString(created.KmsKeyId) != aws.ToString(key.KeyMetadata.Arn) {
		t.Errorf("CreateTrail: validation %v, KmsKeyId %s; want true and the key's ARN %s",
			aws.ToBool(created.LogFileValidationEnabled), aws.ToString(created.KmsKeyId), aws.ToString(key.KeyMetadata.Arn))
	}
	if _, err := ct.StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: aws.String("signed")}); err != nil {
		t.Fatal(err)
	}

	// ListPublicKeys: the current key of the region, in AWS's encoding.
	keys, err := ct.ListPublicKeys(ctx, &cloudtrail.ListPublicKeysInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.PublicKeyList) != 1 || !bytes.HasPrefix(keys.PublicKeyList[0].Value, []byte{0x30, 0x82, 0x01, 0x0a}) ||
		len(aws.ToString(keys.PublicKeyList[0].Fingerprint)) != 32 {
		t.Fatalf("ListPublicKeys = %+v, want one PKCS#1 RSA-2048 key with a 32-hex fingerprint", keys.PublicKeyList)
	}
	if _, err := ct.ListPublicKeys(ctx, &cloudtrail.ListPublicKeysInput{StartTime: aws.Time(time.Now()),
		EndTime: aws.Time(time.Now().Add(-time.Hour))}); !errors.As(err, new(*types.InvalidTimeRangeException)) {
		t.Errorf("ListPublicKeys with start after end: %v, want InvalidTimeRangeException", err)
	}

	digestCount := func() (digests, logs int) {
		out, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("signed-logs")})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.Contents {
			switch k := aws.ToString(o.Key); {
			case strings.Contains(k, "/CloudTrail-Digest/"):
				digests++
			case strings.Contains(k, "/CloudTrail/"):
				logs++
			}
		}
		return
	}
	for i := 0; i < 5; i++ {
		ct.DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{})
		time.Sleep(300 * time.Millisecond)
	}
	waitUntil(t, 30*time.Second, "digests listing log files", func() bool {
		ct.DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{}) // more to deliver
		d, l := digestCount()
		return d >= 4 && l >= 2
	})

	// Log files are ciphertext at rest; digests are not.
	var plainLogs, encrypted, plainDigests int
	filepath.WalkDir(filepath.Join(dataDir, "buckets"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(path)
		switch {
		case bytes.Contains(b, []byte("aws:kms")) && bytes.HasPrefix(b, []byte{0x1f, 0x8b}):
			plainLogs++
		case bytes.Contains(b, []byte("aws:kms")):
			encrypted++
		case bytes.HasPrefix(b, []byte{0x1f, 0x8b}) && bytes.Contains(b, []byte("SHA256withRSA")):
			plainDigests++
		}
		return nil
	})
	if plainLogs != 0 || encrypted == 0 || plainDigests == 0 {
		t.Errorf("at rest: %d log files encrypted, %d KMS log files stored as plain gzip, %d digests stored plain (want some, none, some)",
			encrypted, plainLogs, plainDigests)
	}
	got, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("signed-logs"), Prefix: aws.String("AWSLogs/" + ts.Account + "/CloudTrail/")})
	if err != nil || len(got.Contents) == 0 {
		t.Fatalf("no log files: %v", err)
	}
	obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("signed-logs"), Key: got.Contents[0].Key})
	if err != nil {
		t.Fatal(err)
	}
	obj.Body.Close()
	if obj.ServerSideEncryption != "aws:kms" || aws.ToString(obj.SSEKMSKeyId) != aws.ToString(key.KeyMetadata.Arn) {
		t.Errorf("log file: SSE %q key %q, want aws:kms with the trail's key", obj.ServerSideEncryption, aws.ToString(obj.SSEKMSKeyId))
	}
	deniedWithoutKey(t, ts, "signed-logs", aws.ToString(got.Contents[0].Key))

	// The chain continues across a restart.
	if err := ts.m.Close(); err != nil {
		t.Fatal(err)
	}
	ts = mustRunMain(t, opts)
	ct, s3c = ts.cloudtrail("us-east-1"), ts.s3("us-east-1")
	d0, _ := digestCount()
	ct.DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{})
	waitUntil(t, 30*time.Second, "digests after the restart", func() bool { d, _ := digestCount(); return d >= d0+2 })
	keys, err = ct.ListPublicKeys(ctx, &cloudtrail.ListPublicKeysInput{StartTime: aws.Time(time.Now().Add(-time.Hour))})
	if err != nil || len(keys.PublicKeyList) != 2 {
		t.Fatalf("ListPublicKeys after the rotation: %v keys (%v), want the old and the new", len(keys.PublicKeyList), err)
	}
	stop := func() {
		t.Helper()
		if _, err := ct.StopLogging(ctx, &cloudtrail.StopLoggingInput{Name: aws.String("signed")}); err != nil {
			t.Fatal(err)
		}
		// The final digests list the log file holding StopLogging; then no more.
		time.Sleep(4 * time.Second)
		d1, _ := digestCount()
		time.Sleep(3 * time.Second)
		if d2, _ := digestCount(); d2 != d1 {
			t.Errorf("digests went on after StopLogging: %d then %d", d1, d2)
		}
	}
	// A gap: logging stops, then starts again (a new chain).
	stop()
	if _, err := ct.StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: aws.String("signed")}); err != nil {
		t.Fatal(err)
	}
	d0, _ = digestCount()
	waitUntil(t, 30*time.Second, "digests after StartLogging", func() bool {
		ct.DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{})
		d, _ := digestCount()
		return d >= d0+4
	})
	stop()
	st, err := ct.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String("signed")})
	if err != nil {
		t.Fatal(err)
	}
	if st.LatestDigestDeliveryTime == nil || st.LatestDigestDeliveryError != nil {
		t.Errorf("GetTrailStatus: digest time %v error %v", st.LatestDigestDeliveryTime, aws.ToString(st.LatestDigestDeliveryError))
	}
	end := time.Now().UTC().Add(time.Minute).Format(time.RFC3339)
	args := []string{"--trail-arn", trailARN, "--start-time", start, "--end-time", end, "--verbose"}

	// Untouched: both validators find everything valid, and agree.
	ours := runValidateLogs(t, ts, args...)
	// The StopLogging/StartLogging gap is reported as such, not as an error.
	if ours.code != 0 || strings.Contains(ours.stdout+ours.stderr, "INVALID") || !strings.Contains(ours.stdout, "digest files valid") ||
		strings.Count(ours.stderr, "No log files were delivered by CloudTrail between") != 1 {
		t.Fatalf("validate-logs on untouched files: exit %d\n%s\n%s", ours.code, ours.stdout, ours.stderr)
	}
	stock := runAWSValidateLogs(t, ts, args...)
	if stock.code != 0 || strings.Contains(stock.stdout, "INVALID") || !strings.Contains(stock.stdout, "digest files valid") {
		t.Fatalf("aws cloudtrail validate-logs on untouched files: exit %d\n%s\n%s", stock.code, stock.stdout, stock.stderr)
	}
	if ours.stdout != stock.stdout || ours.stderr != stock.stderr {
		t.Errorf("validators disagree on untouched files:\nours:\n%s\naws:\n%s", ours.stdout, stock.stdout)
	}
	// The other region's chain: digests without log files, signed with
	// that region's key.
	euArgs := append(append([]string(nil), args...), "--region", "eu-west-1")
	eu, euStock := runValidateLogs(t, ts, euArgs...), runAWSValidateLogs(t, ts, euArgs...)
	for name, v := range map[string]validation{"validate-logs": eu, "aws cloudtrail validate-logs": euStock} {
		if v.code != 0 || strings.Contains(v.stdout, "INVALID") || !strings.Contains(v.stdout, "/CloudTrail-Digest/eu-west-1/") {
			t.Errorf("%s --region eu-west-1: exit %d\n%s\n%s", name, v.code, v.stdout, v.stderr)
		}
	}
	if n := strings.Count(ours.stdout, "Log file\t"); n < 2 {
		t.Errorf("%d log files validated, want at least 2:\n%s", n, ours.stdout)
	}

	// Tampering: a log file rewritten, another deleted, a digest deleted.
	list, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("signed-logs")})
	if err != nil {
		t.Fatal(err)
	}
	var logKeys, digestKeys []string
	for _, o := range list.Contents {
		if k := aws.ToString(o.Key); strings.Contains(k, "/CloudTrail-Digest/us-east-1/") {
			digestKeys = append(digestKeys, k)
		} else if strings.Contains(k, "/CloudTrail/us-east-1/") && strings.Contains(ours.stdout, k) {
			logKeys = append(logKeys, k)
		}
	}
	if len(logKeys) < 2 || len(digestKeys) < 3 {
		t.Fatalf("need 2 validated log files and 3 digests in us-east-1, have %d and %d", len(logKeys), len(digestKeys))
	}
	type object struct {
		body []byte
		meta map[string]string
	}
	get := func(key string) object {
		o, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("signed-logs"), Key: &key})
		if err != nil {
			t.Fatal(err)
		}
		defer o.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(o.Body)
		return object{b.Bytes(), o.Metadata}
	}
	put := func(key string, o object) {
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("signed-logs"), Key: &key,
			Body: bytes.NewReader(o.body), Metadata: o.meta}); err != nil {
			t.Fatal(err)
		}
	}
	savedLogs := []object{get(logKeys[0]), get(logKeys[1])}
	gz := func(s string) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write([]byte(s))
		zw.Close()
		return b.Bytes()
	}
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("signed-logs"), Key: &logKeys[0],
		Body: bytes.NewReader(gz(`{"Records":[]}`))}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("signed-logs"), Key: &logKeys[1]}); err != nil {
		t.Fatal(err)
	}
	ours = runValidateLogs(t, ts, args...)
	stock = runAWSValidateLogs(t, ts, args...)
	for name, v := range map[string]validation{"validate-logs": ours, "aws cloudtrail validate-logs": stock} {
		if v.code != 1 {
			t.Errorf("%s on tampered files: exit %d, want 1", name, v.code)
		}
		for _, want := range []string{
			"s3://signed-logs/" + logKeys[0] + "\tINVALID: hash value doesn't match",
			"s3://signed-logs/" + logKeys[1] + "\tINVALID: not found",
		} {
			if !strings.Contains(v.stderr, want) {
				t.Errorf("%s does not report %q:\n%s\n%s", name, want, v.stdout, v.stderr)
			}
		}
	}
	if ours.stderr != stock.stderr {
		t.Errorf("validators disagree on tampered files:\nours:\n%s\naws:\n%s", ours.stderr, stock.stderr)
	}

	for i, o := range savedLogs { // back to untouched: the same bytes, encrypted again
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("signed-logs"), Key: &logKeys[i],
			Body: bytes.NewReader(o.body), ServerSideEncryption: "aws:kms", SSEKMSKeyId: key.KeyMetadata.Arn}); err != nil {
			t.Fatal(err)
		}
	}
	// Digest tampering, each case on the untouched bucket: deleted, moved
	// (another digest's bytes at its key), signature metadata altered.
	// digestKeys[1] is inside the first chain: the next digest links to it.
	middle, other := digestKeys[1], digestKeys[2]
	original := get(middle)
	forged := map[string]string{}
	for k, v := range original.meta {
		forged[k] = v
	}
	forged["signature"] = strings.Repeat("ab", len(original.meta["signature"])/2)
	for _, c := range []struct {
		name   string
		tamper func()
		want   string
	}{
		{"digest deleted", func() {
			if _, err := s3c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("signed-logs"), Key: &middle}); err != nil {
				t.Fatal(err)
			}
		}, "INVALID: not found"},
		{"digest moved", func() { put(middle, get(other)) }, "INVALID: has been moved from its original location"},
		{"signature altered", func() { put(middle, object{original.body, forged}) }, "INVALID: signature verification failed"},
	} {
		c.tamper()
		ours = runValidateLogs(t, ts, args...)
		stock = runAWSValidateLogs(t, ts, args...)
		for name, v := range map[string]validation{"validate-logs": ours, "aws cloudtrail validate-logs": stock} {
			if want := "s3://signed-logs/" + middle + "\t" + c.want; v.code != 1 || !strings.Contains(v.stderr, want) {
				t.Errorf("%s, %s: exit %d, want 1 and %q:\n%s\n%s", c.name, name, v.code, want, v.stdout, v.stderr)
			}
		}
		if ours.stderr != stock.stderr {
			t.Errorf("%s: validators disagree:\nours:\n%s\naws:\n%s", c.name, ours.stderr, stock.stderr)
		}
		put(middle, original)
	}
}

// deniedWithoutKey checks that a caller of another account, whom the
// bucket's policy lets read its objects but the key's policy does not let
// decrypt, gets AccessDenied for the encrypted log file logKey, and reads
// an unencrypted digest of the same bucket.
func deniedWithoutKey(t *testing.T, ts *testServer, bucket, logKey string) {
	t.Helper()
	ctx := context.Background()
	const other = "210987654321"
	key := rootKey(other, opentrail.NewAccessKeyID(), opentrail.NewSecretKey())
	if err := ts.m.db.Update(ctx, func(tx *journal.Tx) error {
		if err := tx.CreateAccount(other, time.Now()); err != nil {
			return err
		}
		return tx.PutAccessKey(key, time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	policy := strings.TrimSuffix(trailBucketPolicy(bucket, ts.Account), "]}") +
		fmt.Sprintf(`,{"Sid":"OtherAccountReads","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::%s","arn:aws:s3:::%s/*"]}]}`, other, bucket, bucket)
	if _, err := ts.s3("us-east-1").PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	oc := s3.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(key.ID, key.Secret, "")},
		func(o *s3.Options) { o.BaseEndpoint = aws.String(ts.URL); o.UsePathStyle = true })
	_, err := oc.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(logKey)})
	if code := errorCode(err); code != "AccessDenied" || !strings.Contains(err.Error(), "kms:Decrypt") {
		t.Errorf("GetObject of an encrypted log file by an account the key does not trust: %v, want AccessDenied", err)
	}
	digests, err := oc.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("AWSLogs/" + ts.Account + "/CloudTrail-Digest/")})
	if err != nil || len(digests.Contents) == 0 {
		t.Fatalf("the other account lists the digests: %v", err)
	}
	d, err := oc.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: digests.Contents[0].Key})
	if err != nil {
		t.Fatalf("the other account reads a digest (not encrypted): %v", err)
	}
	d.Body.Close()
}
