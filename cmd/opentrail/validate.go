package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/opentrail/opentrail/blob"
	"github.com/opentrail/opentrail/integrity"
)

const validateSynopsis = `Usage: opentrail validate-logs --trail-arn ARN --start-time TIME [flags]

Validates a trail's log files with its digest files, as
"aws cloudtrail validate-logs" does, with the same flags, checks, output and
exit status (0: everything checked is valid; 1: something is INVALID or the
check could not run; 2: bad flags). Log files are downloaded, decompressed
and hashed in parallel.

The trail's bucket and prefix come from DescribeTrails unless --s3-bucket is
given, and the public keys from ListPublicKeys, both from the opentrail
server at --endpoint-url. Files are read from the S3-compatible endpoint
--s3-endpoint-url (default: the server's own), or from --local-dir.

--local-dir DIR validates a local copy of the bucket (DIR/KEY is the object
KEY, as "aws s3 sync s3://BUCKET DIR" makes it), which the AWS CLI cannot.
A copy has no S3 metadata, so each digest's signature is taken from the
next digest of its chain, which records it; the newest digest of each chain
needs its metadata in a sidecar file, made with:

  aws s3api head-object --bucket BUCKET --key KEY --query Metadata > DIR/KEY.metadata.json

Credentials come from the AWS SDK's usual chain (environment, profile), or
else DATA_DIR/credentials. Times are UTC: 2026-01-02T15:04:05Z.`

type validateFlags struct {
	trailARN, start, end, bucket, prefix, accountID, orgID string
	verbose, quiet                                         bool
	endpoint, s3Endpoint, region, profile, dataDir         string
	localDir                                               string
	workers                                                int
}

// trailAPI is what validate-logs asks of opentrail's CloudTrail API;
// *cloudtrail.Client has it.
type trailAPI interface {
	DescribeTrails(ctx context.Context, in *cloudtrail.DescribeTrailsInput, optFns ...func(*cloudtrail.Options)) (*cloudtrail.DescribeTrailsOutput, error)
	ListPublicKeys(ctx context.Context, in *cloudtrail.ListPublicKeysInput, optFns ...func(*cloudtrail.Options)) (*cloudtrail.ListPublicKeysOutput, error)
}

// validateLogsMain runs `opentrail validate-logs` and returns the exit
// status.
func validateLogsMain(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	var f validateFlags
	fs := newFlagSet("validate-logs", validateSynopsis, stderr)
	fs.lookup = func(k string) (string, bool) { v := getenv(k); return v, v != "" }
	fs.String(&f.trailARN, "trail-arn", "", "", "ARN of the trail to validate (required)")
	fs.String(&f.start, "start-time", "", "", "validate log files delivered on or after this UTC time (required)")
	fs.String(&f.end, "end-time", "", "", "validate log files delivered on or before this UTC time (default: now)")
	fs.String(&f.bucket, "s3-bucket", "", "", "bucket of the digest files (default: the trail's, from DescribeTrails)")
	fs.String(&f.prefix, "s3-prefix", "", "", "key prefix of the digest files (default: the trail's, from DescribeTrails)")
	fs.String(&f.accountID, "account-id", "", "", "account whose log files to validate (default: the ARN's; required for organization trails)")
	fs.String(&f.orgID, "organization-id", "", "", "organization ID (o-...) of an organization trail")
	fs.Bool(&f.verbose, "verbose", "", false, "print every valid file too")
	fs.String(&f.endpoint, "endpoint-url", "OPENTRAIL_ENDPOINT_URL", "http://"+DefaultListen, "opentrail server URL")
	fs.String(&f.s3Endpoint, "s3-endpoint-url", "AWS_ENDPOINT_URL_S3", "", "S3-compatible endpoint of the bucket (default: --endpoint-url)")
	fs.String(&f.region, "region", "AWS_REGION", "", "region whose digests to validate (default: the AWS config's, else the trail's home region)")
	fs.String(&f.profile, "profile", "AWS_PROFILE", "", "AWS CLI profile with opentrail credentials")
	fs.String(&f.dataDir, "data-dir", "OPENTRAIL_DATA_DIR", "./opentrail-data", "data directory whose credentials file is used when no other credentials are set")
	fs.String(&f.localDir, "local-dir", "", "", "validate this local copy of the bucket instead of the bucket")
	fs.IntVar(&f.workers, "workers", 16, "log files downloaded and hashed at once")
	fs.Bool(&f.quiet, "quiet", "", false, "no progress line")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "opentrail validate-logs: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if f.trailARN == "" || f.start == "" {
		fmt.Fprintln(stderr, "opentrail validate-logs: --trail-arn and --start-time are required")
		return 2
	}
	if f.localDir != "" {
		if st, err := os.Stat(f.localDir); err != nil || !st.IsDir() {
			fmt.Fprintf(stderr, "opentrail validate-logs: --local-dir %s is not a directory\n", f.localDir)
			return 2
		}
	}
	cfg, err := loadAWSConfig(ctx, eventsFlags{region: f.region, profile: f.profile, dataDir: f.dataDir})
	if err != nil {
		fmt.Fprintln(stderr, "opentrail validate-logs:", err)
		return 1
	}
	if cfg.Region == "" {
		if parts := strings.Split(f.trailARN, ":"); len(parts) > 3 {
			cfg.Region = parts[3]
		}
	}
	api := cloudtrail.NewFromConfig(cfg, func(o *cloudtrail.Options) { o.BaseEndpoint = aws.String(f.endpoint) })
	var objects integrity.Bucket
	if f.localDir != "" {
		objects = integrity.LocalDir(f.localDir)
	} else {
		s3URL := f.s3Endpoint
		if s3URL == "" {
			s3URL = f.endpoint
		}
		client := s3.NewFromConfig(cfg, func(o *s3.Options) {
			o.BaseEndpoint = aws.String(strings.TrimRight(s3URL, "/"))
			o.UsePathStyle = true
			o.DisableLogOutputChecksumValidationSkipped = true // not a problem worth a line on stderr
		})
		objects = integrity.BlobBucket(blob.NewS3(client, cfg.Region))
	}
	return validateLogs(ctx, f, cfg.Region, api, objects, stdout, stderr)
}

// validateLogs is validate-logs after flags and clients are set up.
func validateLogs(ctx context.Context, f validateFlags, region string, api trailAPI, objects integrity.Bucket, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintln(stderr, "opentrail validate-logs:", err)
		return 1
	}
	start, err := parseValidateTime(f.start)
	if err != nil {
		return fail(fmt.Errorf("--start-time: %w", err))
	}
	end := time.Now().UTC()
	if f.end != "" {
		if end, err = parseValidateTime(f.end); err != nil {
			return fail(fmt.Errorf("--end-time: %w", err))
		}
	}
	if start.After(end) {
		return fail(errors.New("Invalid time range specified: start-time must occur before end-time"))
	}
	if !regexp.MustCompile(`^arn:.+:cloudtrail:.+:\d{12}:trail/.+`).MatchString(f.trailARN) {
		return fail(fmt.Errorf("Invalid trail ARN provided: %s", f.trailARN))
	}
	bucket, prefix := f.bucket, f.prefix
	if bucket == "" {
		out, err := api.DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{})
		if err != nil {
			return fail(fmt.Errorf("describe trails: %w", err))
		}
		found := false
		for _, t := range out.TrailList {
			if aws.ToString(t.TrailARN) != f.trailARN {
				continue
			}
			found = true
			bucket, prefix = aws.ToString(t.S3BucketName), aws.ToString(t.S3KeyPrefix)
			if aws.ToBool(t.IsOrganizationTrail) {
				if f.accountID == "" {
					return fail(errors.New("Missing required parameter for organization trail: '--account-id'"))
				}
				if f.orgID == "" {
					return fail(errors.New("organization trail: give its organization ID with --organization-id o-..."))
				}
			}
			break
		}
		if !found {
			return fail(fmt.Errorf("A trail could not be found for %s", f.trailARN))
		}
	}
	fmt.Fprintf(stdout, "Validating log files for trail %s between %s and %s\n\n", f.trailARN, start.Format(integrity.TimeFormat), end.Format(integrity.TimeFormat))

	prog := newProgress(stderr, f.quiet)
	if !prog.terminal {
		prog.off = true
	}
	out := &validateOutput{stdout: stdout, stderr: stderr, verbose: f.verbose, start: start, end: end, doubleSpace: true, prog: prog}
	err = integrity.Validate(ctx, integrity.Options{
		TrailARN: f.trailARN, Start: start, End: end, Bucket: bucket, Prefix: prefix,
		AccountID: f.accountID, OrganizationID: f.orgID, Region: region, Objects: objects, Workers: f.workers,
		SignatureFromChain: f.localDir != "",
		PublicKeys: func(ctx context.Context, s, e time.Time) ([]integrity.PublicKey, error) {
			var keys []integrity.PublicKey
			in := &cloudtrail.ListPublicKeysInput{StartTime: aws.Time(s), EndTime: aws.Time(e)}
			for {
				res, err := api.ListPublicKeys(ctx, in)
				if err != nil {
					return nil, err
				}
				for _, k := range res.PublicKeyList {
					keys = append(keys, integrity.PublicKey{Value: k.Value, Fingerprint: aws.ToString(k.Fingerprint),
						ValidityStart: aws.ToTime(k.ValidityStartTime), ValidityEnd: aws.ToTime(k.ValidityEndTime)})
				}
				if aws.ToString(res.NextToken) == "" {
					return keys, nil
				}
				in.NextToken = res.NextToken
			}
		},
	}, out.add)
	prog.done()
	if err != nil {
		return fail(err)
	}
	out.summary()
	if out.invalidDigests+out.invalidBackfill+out.invalidLogs > 0 {
		return 1
	}
	return 0
}

// validateOutput prints results and the summary in the AWS CLI's words
// and layout.
type validateOutput struct {
	stdout, stderr io.Writer
	verbose        bool
	start, end     time.Time
	doubleSpace    bool // the last thing written ended with a blank line
	prog           *progress

	validDigests, invalidDigests   int
	validBackfill, invalidBackfill int
	validLogs, invalidLogs         int
	bytes                          int64
	foundStart, foundEnd           time.Time
}

func (o *validateOutput) add(r integrity.Result) {
	switch {
	case r.Kind == integrity.LogResult && r.Valid():
		o.validLogs++
	case r.Kind == integrity.LogResult:
		o.invalidLogs++
	case r.Kind == integrity.DigestResult && r.Valid():
		if r.Backfill {
			o.validBackfill++
		} else {
			o.validDigests++
		}
		s, e := maxTime(r.Start, o.start), minTime(r.End, o.end)
		if o.foundStart.IsZero() || s.Before(o.foundStart) {
			o.foundStart = s
		}
		if o.foundEnd.IsZero() || e.After(o.foundEnd) {
			o.foundEnd = e
		}
	case r.Kind == integrity.DigestResult:
		if r.Backfill {
			o.invalidBackfill++
		} else {
			o.invalidDigests++
		}
	}
	o.bytes += r.Bytes
	if !r.Valid() {
		o.prog.done()
		if o.doubleSpace {
			fmt.Fprintf(o.stderr, "%s\n\n", r)
		} else {
			fmt.Fprintf(o.stderr, "\n%s\n\n", r)
		}
		o.doubleSpace = true
	} else if o.verbose {
		o.prog.done()
		o.doubleSpace = false
		fmt.Fprintf(o.stdout, "%s\n", r)
	}
	o.prog.update("validated %d digest files, %d log files (%s)", o.validDigests+o.invalidDigests+o.validBackfill+o.invalidBackfill,
		o.validLogs+o.invalidLogs, mib(o.bytes))
}

func (o *validateOutput) summary() {
	w := o.stdout
	if !o.doubleSpace {
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "Results requested for %s to %s\n", o.start.Format(integrity.TimeFormat), o.end.Format(integrity.TimeFormat))
	if o.validDigests+o.validBackfill+o.invalidDigests+o.invalidBackfill == 0 {
		fmt.Fprintln(w, "No digests found")
		return
	}
	if o.foundStart.IsZero() || o.foundEnd.IsZero() {
		fmt.Fprintln(w, "No valid digests found in range")
	} else {
		fmt.Fprintf(w, "Results found for %s to %s:\n", o.foundStart.UTC().Format(integrity.TimeFormat), o.foundEnd.UTC().Format(integrity.TimeFormat))
	}
	ratio := func(valid, invalid int, name string) {
		total := valid + invalid
		if total == 0 {
			return
		}
		fmt.Fprintf(w, "\n%d/%d %s files valid", valid, total, name)
		if invalid > 0 {
			fmt.Fprintf(w, ", %d/%d %s files INVALID", invalid, total, name)
		}
	}
	ratio(o.validDigests, o.invalidDigests, "digest")
	ratio(o.validBackfill, o.invalidBackfill, "backfill digest")
	ratio(o.validLogs, o.invalidLogs, "log")
	fmt.Fprintln(w)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// parseValidateTime reads --start-time and --end-time: RFC 3339, or the
// same without zone (UTC), with a space for T, without seconds, or a date.
func parseValidateTime(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04:05Z07:00", "2006-01-02 15:04:05Z07:00",
		"2006-01-02T15:04Z07:00", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02", "20060102T150405Z"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("Unable to parse date value: %s (use a UTC time like 2026-01-02T15:04:05Z)", v)
}
