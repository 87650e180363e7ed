package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/opentrail/opentrail/lakeresults"
)

const querySynopsis = `Usage: opentrail query download --query-id ID [flags]

Downloads the saved results of a CloudTrail Lake query, verifies them and
writes them as one CSV file with a single header row.

A query saves its results when it is started with a DeliveryS3Uri
(aws cloudtrail start-query --delivery-s3-uri s3://BUCKET/PREFIX): gzipped
CSV files (result_1.csv.gz, result_2.csv.gz, ...) and result_sign.json,
which lists every file with its SHA-256 and is signed with the region's
CloudTrail key. The command finds them with DescribeQuery (the query's
DeliveryS3Uri and creation time), reads them from the S3-compatible
endpoint, checks the signature with the key ListPublicKeys returns and each
file's SHA-256, and only then writes the file's rows. Anything that does
not verify stops the download with exit status 1 and says what failed; with
--output FILE nothing is left at FILE then.

--s3-uri s3://BUCKET/.../QUERY_ID/ reads results copied elsewhere (the
folder that holds result_sign.json) without asking DescribeQuery.

Credentials come from the AWS SDK's usual chain (environment, profile), or
else DATA_DIR/credentials. Exit status: 0 done, 1 failed, 2 bad flags.`

type queryFlags struct {
	queryID, store, output, s3URI               string
	endpoint, s3Endpoint, region, profile, data string
	quiet                                       bool
}

// queryMain runs `opentrail query` and returns the exit status.
func queryMain(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 || args[0] != "download" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fmt.Fprintln(stdout, querySynopsis)
			return 0
		}
		fmt.Fprintln(stderr, querySynopsis)
		return 2
	}
	var f queryFlags
	fs := newFlagSet("query download", querySynopsis, stderr)
	fs.lookup = func(k string) (string, bool) { v := getenv(k); return v, v != "" }
	fs.String(&f.queryID, "query-id", "", "", "ID of the query whose saved results to download (required)")
	fs.String(&f.store, "event-data-store", "", "", "ARN or ID of an event data store the query read (optional, as for DescribeQuery)")
	fs.String(&f.output, "output", "", "-", "file to write the CSV to, or - for standard output")
	fs.String(&f.s3URI, "s3-uri", "", "", "read the results from this folder (s3://BUCKET/.../QUERY_ID/) instead of where DescribeQuery says")
	fs.String(&f.endpoint, "endpoint-url", "OPENTRAIL_ENDPOINT_URL", "http://"+DefaultListen, "opentrail server URL")
	fs.String(&f.s3Endpoint, "s3-endpoint-url", "AWS_ENDPOINT_URL_S3", "", "S3-compatible endpoint of the bucket (default: --endpoint-url)")
	fs.String(&f.region, "region", "AWS_REGION", "", "region of the query (default: the AWS config's, else us-east-1)")
	fs.String(&f.profile, "profile", "AWS_PROFILE", "", "AWS CLI profile with opentrail credentials")
	fs.String(&f.data, "data-dir", "OPENTRAIL_DATA_DIR", "./opentrail-data", "data directory whose credentials file is used when no other credentials are set")
	fs.Bool(&f.quiet, "quiet", "", false, "no progress line")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "opentrail query download: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if f.queryID == "" && f.s3URI == "" {
		fmt.Fprintln(stderr, "opentrail query download: --query-id is required")
		return 2
	}
	if err := queryDownload(ctx, f, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "opentrail query download:", err)
		return 1
	}
	return 0
}

func queryDownload(ctx context.Context, f queryFlags, stdout, stderr io.Writer) error {
	cfg, err := loadAWSConfig(ctx, eventsFlags{region: f.region, profile: f.profile, dataDir: f.data})
	if err != nil {
		return err
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	ct := cloudtrail.NewFromConfig(cfg, func(o *cloudtrail.Options) { o.BaseEndpoint = aws.String(f.endpoint) })
	s3URL := f.s3Endpoint
	if s3URL == "" {
		s3URL = f.endpoint
	}
	objects := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(strings.TrimRight(s3URL, "/"))
		o.UsePathStyle = true
		o.DisableLogOutputChecksumValidationSkipped = true
	})

	var bucket, dir string
	if f.s3URI != "" {
		b, key, err := lakeresults.SplitURI(f.s3URI)
		if err != nil {
			return fmt.Errorf("--s3-uri: %w", err)
		}
		bucket, dir = b, strings.TrimSuffix(key, "/")+"/"
		if dir == "/" {
			dir = ""
		}
	} else if bucket, dir, err = savedLocation(ctx, f, ct, objects); err != nil {
		return err
	}

	prog := newProgress(stderr, f.quiet)
	prog.last = time.Now() // no line for a download that ends at once
	var files int
	var read int64
	get := func(ctx context.Context, bucket, key string) (io.ReadCloser, error) {
		out, err := objects.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			return nil, err
		}
		if strings.HasSuffix(key, ".csv.gz") {
			files++
		}
		return readCounter{out.Body, func(n int) {
			read += int64(n)
			prog.update("downloading results: %d files, %s", files, mib(read))
		}}, nil
	}
	key := func(ctx context.Context, region, fingerprint string) ([]byte, error) {
		out, err := ct.ListPublicKeys(ctx, &cloudtrail.ListPublicKeysInput{StartTime: aws.Time(time.Unix(0, 0)), EndTime: aws.Time(time.Now())},
			func(o *cloudtrail.Options) { o.Region = region })
		if err != nil {
			return nil, err
		}
		for _, k := range out.PublicKeyList {
			if strings.EqualFold(aws.ToString(k.Fingerprint), fingerprint) {
				return k.Value, nil
			}
		}
		return nil, fmt.Errorf("ListPublicKeys of %s has no key with that fingerprint", region)
	}

	w, commit, abort, err := openOutput(f.output, stdout)
	if err != nil {
		return err
	}
	err = lakeresults.Download(ctx, get, key, bucket, dir, w)
	prog.done()
	if err != nil {
		abort()
		return err
	}
	return commit()
}

// savedLocation asks DescribeQuery where the query's results were saved.
func savedLocation(ctx context.Context, f queryFlags, ct *cloudtrail.Client, objects *s3.Client) (bucket, dir string, err error) {
	in := &cloudtrail.DescribeQueryInput{QueryId: aws.String(f.queryID)}
	if f.store != "" {
		in.EventDataStore = aws.String(f.store)
	}
	d, err := ct.DescribeQuery(ctx, in)
	if err != nil {
		return "", "", fmt.Errorf("describe query %s: %w", f.queryID, err)
	}
	uri := aws.ToString(d.DeliveryS3Uri)
	switch {
	case uri == "":
		return "", "", fmt.Errorf("query %s has no saved results: it was started without DeliveryS3Uri", f.queryID)
	case d.DeliveryStatus != types.DeliveryStatusSuccess:
		return "", "", fmt.Errorf("query %s has no saved results yet: query status %s, delivery status %s", f.queryID, d.QueryStatus, d.DeliveryStatus)
	case d.QueryStatistics == nil || d.QueryStatistics.CreationTime == nil:
		return "", "", fmt.Errorf("query %s: DescribeQuery gives no creation time", f.queryID)
	}
	created := aws.ToTime(d.QueryStatistics.CreationTime)
	account, err := queryAccount(ctx, f, ct, objects, uri, created)
	if err != nil {
		return "", "", err
	}
	return lakeresults.Location(uri, account, f.queryID, created)
}

// queryAccount finds the account whose folder holds the query's results:
// the account of the event data store ARN given, else of the caller's
// stores, else the one under the DeliveryS3Uri's AWSLogs/ that has them.
func queryAccount(ctx context.Context, f queryFlags, ct *cloudtrail.Client, objects *s3.Client, uri string, created time.Time) (string, error) {
	if parts := strings.Split(f.store, ":"); len(parts) >= 6 && parts[4] != "" {
		return parts[4], nil
	}
	if out, err := ct.ListEventDataStores(ctx, &cloudtrail.ListEventDataStoresInput{}); err == nil {
		for _, s := range out.EventDataStores {
			if parts := strings.Split(aws.ToString(s.EventDataStoreArn), ":"); len(parts) >= 6 && parts[4] != "" {
				return parts[4], nil
			}
		}
	}
	bucket, prefix, err := lakeresults.SplitURI(uri)
	if err != nil {
		return "", err
	}
	logs := "AWSLogs/"
	if p := strings.Trim(prefix, "/"); p != "" {
		logs = p + "/" + logs
	}
	list, err := objects.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(logs), Delimiter: aws.String("/")})
	if err != nil {
		return "", fmt.Errorf("find the query's account under s3://%s/%s: %w", bucket, logs, err)
	}
	for _, cp := range list.CommonPrefixes {
		account := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), logs), "/")
		_, dir, err := lakeresults.Location(uri, account, f.queryID, created)
		if err != nil {
			continue
		}
		if _, err := objects.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(dir + lakeresults.SignFileName)}); err == nil {
			return account, nil
		}
	}
	return "", fmt.Errorf("no saved results of query %s under s3://%s/%s", f.queryID, bucket, logs)
}

// openOutput opens --output: standard output, or a temporary file beside
// FILE that commit renames to FILE and abort removes.
func openOutput(name string, stdout io.Writer) (w io.Writer, commit func() error, abort func(), err error) {
	if name == "-" || name == "" {
		return stdout, func() error { return nil }, func() {}, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".partial-*")
	if err != nil {
		return nil, nil, nil, err
	}
	commit = func() error {
		if err := tmp.Close(); err != nil {
			os.Remove(tmp.Name())
			return err
		}
		if err := os.Rename(tmp.Name(), name); err != nil {
			os.Remove(tmp.Name())
			return err
		}
		return nil
	}
	abort = func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}
	return tmp, commit, abort, nil
}

// readCounter reports the bytes read through it.
type readCounter struct {
	io.ReadCloser
	add func(int)
}

func (r readCounter) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.add(n)
	return n, err
}
