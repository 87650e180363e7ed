package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestConsoleDigestValidation opens delivered digest files in the console
// and checks the validation state it shows, on untouched files and after
// tampering with a log file, a digest's signature and the chain.
func TestConsoleDigestValidation(t *testing.T) {
	ctx := context.Background()
	ts := mustRunMain(t, func(m *Main) { m.DeliveryInterval, m.DigestInterval = time.Second, 2*time.Second })
	ct, s3c := ts.cloudtrail("us-east-1"), ts.s3("us-east-1")
	mustBucket(t, s3c, "digest-logs", true)
	if _, err := ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String("checked"), S3BucketName: aws.String("digest-logs"),
		EnableLogFileValidation: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ct.StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: aws.String("checked")}); err != nil {
		t.Fatal(err)
	}

	// Wait for a digest that lists log files and follows another one,
	// reading the digests directly from the bucket.
	type digestFile struct {
		LogFiles []struct {
			S3Object string `json:"s3Object"`
		} `json:"logFiles"`
		PreviousS3Object *string `json:"previousDigestS3Object"`
	}
	var key string
	var listed digestFile
	deadline := time.Now().Add(30 * time.Second)
	for key == "" {
		if time.Now().After(deadline) {
			t.Fatal("no digest with log files and a previous digest after 30 s")
		}
		ct.DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{}) // events for the trail to deliver
		time.Sleep(500 * time.Millisecond)
		out, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("digest-logs"),
			Prefix: aws.String("AWSLogs/" + ts.Account + "/CloudTrail-Digest/")})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.Contents {
			var d digestFile
			if err := json.Unmarshal(gunzipObject(t, s3c, "digest-logs", aws.ToString(o.Key)), &d); err != nil {
				t.Fatal(err)
			}
			if len(d.LogFiles) > 0 && d.PreviousS3Object != nil {
				key, listed = aws.ToString(o.Key), d
				break
			}
		}
	}

	cc := newConsoleClient(t, ts)
	page := "/console/buckets/b/digest-logs/object?" + url.Values{"key": {key}}.Encode()
	state := func(id, p string) string {
		m := regexp.MustCompile(`id="` + id + `" class="(\w+)">([^<]*)`).FindStringSubmatch(p)
		if m == nil {
			t.Fatalf("no %s on the digest page:\n%s", id, p)
		}
		return m[1] + ": " + strings.TrimSpace(m[2])
	}
	p := cc.get(page)
	if got := state("digest-signature", p); got != "good: valid" {
		t.Errorf("untouched digest: signature %q", got)
	}
	if got := state("digest-chain", p); !strings.HasPrefix(got, "good: ") {
		t.Errorf("untouched digest: chain %q", got)
	}
	p = cc.get(page + "&check=logs")
	n := len(listed.LogFiles)
	if want := regexp.MustCompile(`\b` + strconv.Itoa(n) + ` of ` + strconv.Itoa(n) + ` checked valid`); !want.MatchString(p) {
		t.Errorf("untouched log files: want %d of %d valid:\n%s", n, n, p)
	}

	// A log file changed: its row says so.
	changed := listed.LogFiles[0].S3Object
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write([]byte(`{"Records":[]}`))
	zw.Close()
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("digest-logs"), Key: aws.String(changed), Body: bytes.NewReader(z.Bytes())}); err != nil {
		t.Fatal(err)
	}
	p = cc.get(page + "&check=logs")
	row := regexp.MustCompile(regexp.QuoteMeta(changed) + `</a></td><td class="(\w+)">([^<]*)<`).FindStringSubmatch(p)
	if row == nil || row[1] != "bad" || !strings.Contains(row[2], "hash value doesn") {
		t.Errorf("changed log file: row %q", row)
	}
	if want := strconv.Itoa(n-1) + ` of ` + strconv.Itoa(n) + ` checked valid`; !regexp.MustCompile(want).MatchString(p) {
		t.Errorf("changed log file: want %d of %d valid", n-1, n)
	}

	// The digest's signature metadata altered: the signature is invalid.
	head, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("digest-logs"), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	meta := head.Metadata
	sig := []byte(meta["signature"])
	if sig[0] == '0' { // another hex digit
		sig[0] = '1'
	} else {
		sig[0] = '0'
	}
	meta["signature"] = string(sig)
	body := rawObject(t, s3c, "digest-logs", key)
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("digest-logs"), Key: aws.String(key), Body: bytes.NewReader(body), Metadata: meta}); err != nil {
		t.Fatal(err)
	}
	if got := state("digest-signature", cc.get(page)); got != "bad: invalid: the signature does not match the digest" {
		t.Errorf("altered signature: %q", got)
	}

	// The previous digest deleted: the chain is broken.
	if _, err := s3c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("digest-logs"), Key: listed.PreviousS3Object}); err != nil {
		t.Fatal(err)
	}
	if got := state("digest-chain", cc.get(page)); !strings.HasPrefix(got, "bad: ") || !strings.Contains(got, "not found") {
		t.Errorf("previous digest deleted: chain %q", got)
	}
}

func rawObject(tb testing.TB, c *s3.Client, bucket, key string) []byte {
	tb.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		tb.Fatal(err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func gunzipObject(tb testing.TB, c *s3.Client, bucket, key string) []byte {
	tb.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(rawObject(tb, c, bucket, key)))
	if err != nil {
		tb.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
