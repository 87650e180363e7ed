// Package lakeresults writes and reads CloudTrail Lake saved query results:
// the objects StartQuery with a DeliveryS3Uri leaves in a bucket.
//
// A query's results live under
//
//	[<prefix>/]AWSLogs/<account>/CloudTrail-Lake/Query/<YYYY>/<MM>/<DD>/<queryID>/
//
// (the date is the query's creation time, UTC) as result_1.csv.gz,
// result_2.csv.gz, ... (gzipped CSV, each with the header row, each holding
// at most a bounded number of CSV bytes) and result_sign.json, which lists
// every file with the SHA-256 of its compressed bytes and signs those
// hashes with the region's CloudTrail signing key (SHA256withRSA over the
// hex hashes joined by single spaces, in the listed order).
//
// Writer produces the files (the server, as a query finishes); Download
// verifies them and joins them into one CSV (the `opentrail query
// download` command and the console).
package lakeresults

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// SignFileName is the name of the sign file in a query's results.
const SignFileName = "result_sign.json"

// FileName is the name of the n-th (from 1) result file.
func FileName(n int) string { return fmt.Sprintf("result_%d.csv.gz", n) }

// Dir is the key prefix (ending in "/") of a query's saved results in its
// bucket; prefix is the DeliveryS3Uri's key prefix without slashes at
// either end ("" for none).
func Dir(prefix, account, queryID string, created time.Time) string {
	p := "AWSLogs/" + account + "/CloudTrail-Lake/Query/" + created.UTC().Format("2006/01/02") + "/" + queryID + "/"
	if prefix != "" {
		p = prefix + "/" + p
	}
	return p
}

// s3URI is the DeliveryS3Uri pattern of the CloudTrail model.
var s3URI = regexp.MustCompile(`^s3://([a-z0-9][.\-a-z0-9]{1,61}[a-z0-9])(/.*)?$`)

// SplitURI splits s3://<bucket>[/<key>] into the bucket and the key (without
// its leading slash).
func SplitURI(uri string) (bucket, key string, err error) {
	m := s3URI.FindStringSubmatch(uri)
	if m == nil {
		return "", "", fmt.Errorf("%q is not an S3 URI (s3://<bucket>[/<prefix>])", uri)
	}
	return m[1], strings.TrimPrefix(m[2], "/"), nil
}

// Location returns where a query's results were saved: the bucket and the
// key prefix (ending in "/") from its DeliveryS3Uri, account, query ID and
// creation time.
func Location(deliveryS3URI, account, queryID string, created time.Time) (bucket, dir string, err error) {
	bucket, key, err := SplitURI(deliveryS3URI)
	if err != nil {
		return "", "", fmt.Errorf("DeliveryS3Uri: %w", err)
	}
	if queryID == "" || strings.ContainsAny(queryID, "/") {
		return "", "", fmt.Errorf("%q is not a query ID", queryID)
	}
	return bucket, Dir(strings.Trim(key, "/"), account, queryID, created), nil
}
