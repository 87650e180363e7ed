package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/klauspost/compress/gzip"
	"github.com/opentrail/opentrail/blob"
	"github.com/opentrail/opentrail/integrity"
)

// The bucket BenchmarkValidateLogs validates: a trail delivering a log file
// of about benchRecords records (~1 KB each) every five minutes, with an
// hourly digest.
const (
	benchLogsPerHour = 12
	benchRecords     = 15000
	benchTrail       = "bench"
	benchBucket      = "bench-logs"
	benchRegion      = "us-east-1"
)

// benchHours is how many hours of logs BenchmarkValidateLogs validates:
// OPENTRAIL_BENCH_HOURS (default 2; a day is 24).
func benchHours(b *testing.B) int {
	v := os.Getenv("OPENTRAIL_BENCH_HOURS")
	if v == "" {
		return 2
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("OPENTRAIL_BENCH_HOURS=%q: want a positive number of hours", v)
	}
	return n
}

// BenchmarkValidateLogs validates the same bucket with `opentrail
// validate-logs` (in-process, against the in-process server) and with the
// stock `aws cloudtrail validate-logs` (the AWS CLI, reading the server's
// S3 endpoint), and measures the machine's single-pass limit: one goroutine
// gunzipping and hashing the same log files from memory (the best of three
// passes). Both validators must find every file valid.
//
// Metrics: ours-s and aws-s are seconds per validation; speedup-x is
// aws-s/ours-s; single-pass-MBps and ours-MBps are uncompressed log bytes
// per second; ours-vs-limit-% is ours-MBps as a share of single-pass-MBps.
// ns/op counts all three. The log also gives each validator's CPU time.
//
//	go test -run='^$' -bench=ValidateLogs -benchtime=1x ./cmd/opentrail/
//
// A day of logs (288 files, about 4.3 million records, 600 MB gzipped and
// 5 GB raw; writing the bucket takes about a minute on two cores):
//
//	OPENTRAIL_BENCH_HOURS=24 go test -run='^$' -bench=ValidateLogs -benchtime=1x -timeout=0 ./cmd/opentrail/
func BenchmarkValidateLogs(b *testing.B) {
	if _, err := exec.LookPath("aws"); err != nil {
		b.Skip("the aws CLI is not installed")
	}
	ctx := context.Background()
	hours := benchHours(b)
	// The chain ends an hour ago; the region's signing key dates from
	// before it, so ListPublicKeys lists it for the range validated.
	start := time.Now().UTC().Truncate(time.Hour).Add(-time.Duration(hours+1) * time.Hour)
	end := start.Add(time.Duration(hours) * time.Hour)
	keyTime := start.Add(-time.Hour)
	ts := mustRunMain(b, func(m *Main) { m.keysNow = func() time.Time { return keyTime } })

	mustBucket(b, ts.s3(benchRegion), benchBucket, true)
	trail, err := ts.cloudtrail(benchRegion).CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String(benchTrail),
		S3BucketName: aws.String(benchBucket), EnableLogFileValidation: aws.Bool(true)})
	if err != nil {
		b.Fatal(err)
	}
	signer, err := ts.m.signingKeys.Signer(ctx, benchRegion)
	if err != nil {
		b.Fatal(err)
	}
	made := time.Now()
	logs := writeBenchChain(b, ts.m.buckets, signer, start, hours)
	var compressed, raw int64
	for _, l := range logs {
		compressed += int64(len(l.body))
		raw += l.raw
	}
	b.Logf("%d hours: %d log files, %d digests, %.1f MB gzipped, %.1f MB raw (%.1fx), written in %s",
		hours, len(logs), hours, float64(compressed)/1e6, float64(raw)/1e6, float64(raw)/float64(compressed), time.Since(made).Round(time.Millisecond))

	args := []string{"--trail-arn", aws.ToString(trail.TrailARN), "--start-time", start.Format(time.RFC3339),
		"--end-time", end.Add(5 * time.Minute).Format(time.RFC3339)}
	env := map[string]string{"AWS_ACCESS_KEY_ID": ts.KeyID, "AWS_SECRET_ACCESS_KEY": ts.Secret, "AWS_REGION": benchRegion,
		"AWS_DEFAULT_REGION": benchRegion, "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_PAGER": ""}
	for k, v := range env {
		b.Setenv(k, v) // the SDK's credential chain reads the process environment
	}
	wantLogs := fmt.Sprintf("%d/%d log files valid", len(logs), len(logs))
	wantDigests := fmt.Sprintf("%d/%d digest files valid", hours, hours)
	check := func(name string, v validation) {
		if v.code != 0 || strings.Contains(v.stdout+v.stderr, "INVALID") || !strings.Contains(v.stdout, wantLogs) ||
			!strings.Contains(v.stdout, wantDigests) {
			b.Fatalf("%s: exit %d, want 0 with %q and %q\nstdout:\n%s\nstderr:\n%s", name, v.code, wantDigests, wantLogs, v.stdout, v.stderr)
		}
	}

	// Each part runs under a profiler label (-cpuprofile, then pprof
	// -tagfocus=part=ours), inherited by the goroutines it starts; the
	// server's goroutines are not labelled.
	timed := func(part string, f func()) time.Duration {
		t0 := time.Now()
		pprof.Do(ctx, pprof.Labels("part", part), func(context.Context) { f() })
		return time.Since(t0)
	}
	var limit, ours, stock, oursCPU, stockCPU time.Duration
	b.ResetTimer()
	for range b.N {
		best := time.Duration(0)
		for range 3 {
			if d := timed("single-pass", func() { singlePass(b, logs) }); best == 0 || d < best {
				best = d
			}
		}
		limit += best

		var v validation
		cpu0 := processCPU()
		ours += timed("ours", func() {
			var stdout, stderr bytes.Buffer
			code := validateLogsMain(ctx, append([]string{"--endpoint-url", ts.URL}, args...), &stdout, &stderr,
				func(k string) string { return env[k] })
			v = validation{code, stdout.String(), stderr.String()}
		})
		oursCPU += processCPU() - cpu0
		check("opentrail validate-logs", v)

		var cpu time.Duration
		stock += timed("aws", func() { v, cpu = runStockValidateLogs(b, ts, args) })
		stockCPU += cpu
		check("aws cloudtrail validate-logs", v)
	}
	b.StopTimer()

	n := float64(b.N)
	// Where the time goes: CPU time (user and system) next to wall time.
	// Ours is this process's, so it includes the server's share; the AWS
	// CLI's includes its start-up, measured alone with --version.
	var startup time.Duration
	if version := exec.Command("aws", "--version"); version.Run() == nil {
		startup = version.ProcessState.UserTime() + version.ProcessState.SystemTime()
	}
	b.Logf("per run: ours %.2fs wall, %.2fs CPU; aws %.2fs wall, %.2fs CPU (start-up alone: %.2fs CPU); single pass %.2fs",
		ours.Seconds()/n, oursCPU.Seconds()/n, stock.Seconds()/n, stockCPU.Seconds()/n, startup.Seconds(), limit.Seconds()/n)

	oursS, awsS, limitS := ours.Seconds()/n, stock.Seconds()/n, limit.Seconds()/n
	limitMBps, oursMBps := float64(raw)/limitS/1e6, float64(raw)/oursS/1e6
	b.ReportMetric(oursS, "ours-s")
	b.ReportMetric(awsS, "aws-s")
	b.ReportMetric(awsS/oursS, "speedup-x")
	b.ReportMetric(limitMBps, "single-pass-MBps")
	b.ReportMetric(oursMBps, "ours-MBps")
	b.ReportMetric(100*oursMBps/limitMBps, "ours-vs-limit-%")
}

// processCPU is the CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runStockValidateLogs runs `aws cloudtrail validate-logs` against the
// server, its S3 calls going to the embedded S3 endpoint, and returns
// what it said and the CPU time it used.
func runStockValidateLogs(b *testing.B, ts *testServer, args []string) (validation, time.Duration) {
	b.Helper()
	cmd := exec.Command("aws", append([]string{"--endpoint-url", ts.URL, "cloudtrail", "validate-logs"}, args...)...)
	cmd.Env = append(os.Environ(),
		"AWS_ACCESS_KEY_ID="+ts.KeyID, "AWS_SECRET_ACCESS_KEY="+ts.Secret, "AWS_DEFAULT_REGION="+benchRegion,
		"AWS_ENDPOINT_URL_S3="+ts.URL, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		b.Fatal(err)
	}
	return validation{code, stdout.String(), stderr.String()}, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// benchLog is a log file of the benchmark's bucket.
type benchLog struct {
	key            string
	body           []byte   // gzipped, as stored
	raw            int64    // uncompressed size
	sum            [32]byte // SHA-256 of the uncompressed bytes
	oldest, newest time.Time
}

// singlePass gunzips and hashes every log file from memory on the calling
// goroutine, as the validator does for each file.
func singlePass(b *testing.B, logs []benchLog) {
	br := bufio.NewReaderSize(nil, 256<<10)
	zr := new(gzip.Reader)
	h := sha256.New()
	buf := make([]byte, 256<<10)
	var sum [32]byte
	for _, l := range logs {
		br.Reset(bytes.NewReader(l.body))
		if err := zr.Reset(br); err != nil {
			b.Fatal(err)
		}
		zr.Multistream(false)
		h.Reset()
		if _, err := io.CopyBuffer(h, zr, buf); err != nil {
			b.Fatal(err)
		}
		if h.Sum(sum[:0]); sum != l.sum {
			b.Fatalf("%s: hash mismatch", l.key)
		}
	}
}

// writeBenchChain writes hours of log files and one signed digest per
// hour, chained, into the bucket, and returns the log files.
func writeBenchChain(b *testing.B, store blob.Store, signer *integrity.Signer, start time.Time, hours int) []benchLog {
	b.Helper()
	ctx := context.Background()
	n := hours * benchLogsPerHour
	logs := make([]benchLog, n)
	// Build the files on every core; they are the slow part.
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var raw, z bytes.Buffer
			for i := range next {
				logs[i] = benchLogFile(&raw, &z, start, i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()

	var prev *integrity.SignedDigest
	for h := range hours {
		from := start.Add(time.Duration(h) * time.Hour)
		to := from.Add(time.Hour)
		d := &integrity.Digest{AccountID: testAccount, StartTime: from, EndTime: to, S3Bucket: benchBucket,
			S3Object: integrity.DigestKey("", testAccount, benchRegion, benchTrail, benchRegion, to)}
		if prev != nil {
			d.Previous = prev.Previous()
		}
		for _, l := range logs[h*benchLogsPerHour : (h+1)*benchLogsPerHour] {
			if _, err := store.PutObject(ctx, benchBucket, l.key, bytes.NewReader(l.body),
				blob.PutOptions{ContentType: "application/json", ContentEncoding: "gzip"}); err != nil {
				b.Fatal(err)
			}
			d.LogFiles = append(d.LogFiles, integrity.NewLogFile(benchBucket, l.key, l.sum, l.newest, l.oldest))
			if d.NewestEventTime.IsZero() || l.newest.After(d.NewestEventTime) {
				d.NewestEventTime = l.newest
			}
			if d.OldestEventTime.IsZero() || l.oldest.Before(d.OldestEventTime) {
				d.OldestEventTime = l.oldest
			}
		}
		sd, err := integrity.SignDigest(d, signer)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := store.PutObject(ctx, benchBucket, sd.Key, bytes.NewReader(sd.Body),
			blob.PutOptions{ContentType: "application/json", ContentEncoding: "gzip", Metadata: sd.Metadata}); err != nil {
			b.Fatal(err)
		}
		prev = sd
	}
	return logs
}

// benchLogFile makes the i-th five-minute log file after start: about
// benchRecords records, the same every run. raw and z are scratch buffers.
func benchLogFile(raw, z *bytes.Buffer, start time.Time, i int) benchLog {
	r := rand.New(rand.NewPCG(uint64(i), 42))
	from := start.Add(time.Duration(i) * 5 * time.Minute)
	records := benchRecords - 500 + r.IntN(1001)
	raw.Reset()
	z.Reset()
	raw.WriteString(`{"Records":[`)
	var l benchLog
	for j := range records {
		if j > 0 {
			raw.WriteByte(',')
		}
		t := from.Add(time.Duration(j) * 5 * time.Minute / time.Duration(records)).Truncate(time.Second)
		if j == 0 {
			l.oldest = t
		}
		l.newest = t
		benchRecord(raw, r, t)
	}
	raw.WriteString(`]}`)
	l.raw = int64(raw.Len())
	l.sum = sha256.Sum256(raw.Bytes())
	zw, _ := gzip.NewWriterLevel(z, gzip.DefaultCompression)
	zw.Write(raw.Bytes())
	zw.Close()
	l.body = bytes.Clone(z.Bytes())
	delivered := from.Add(5*time.Minute - 30*time.Second)
	l.key = fmt.Sprintf("AWSLogs/%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%s_%s.json.gz", testAccount, benchRegion,
		delivered.Format("2006/01/02"), testAccount, benchRegion, delivered.Format("20060102T1504Z"), benchToken(r, 16))
	return l
}

// benchService is an AWS service whose calls the records show.
type benchService struct {
	source        string
	reads, writes []string
}

var benchServices = []benchService{
	{"ec2.amazonaws.com", []string{"DescribeInstances", "DescribeVolumes", "DescribeSecurityGroups", "DescribeSubnets"}, []string{"CreateTags", "RunInstances", "TerminateInstances"}},
	{"s3.amazonaws.com", []string{"GetBucketAcl", "GetBucketLocation", "ListBuckets", "GetBucketPolicy"}, []string{"PutBucketPolicy", "PutBucketTagging"}},
	{"iam.amazonaws.com", []string{"GetRole", "ListRoles", "GetPolicy", "ListAttachedRolePolicies"}, []string{"AttachRolePolicy", "CreateRole"}},
	{"sts.amazonaws.com", []string{"GetCallerIdentity"}, []string{"AssumeRole"}},
	{"kms.amazonaws.com", []string{"DescribeKey", "ListAliases"}, []string{"Decrypt", "GenerateDataKey"}},
	{"lambda.amazonaws.com", []string{"ListFunctions20150331", "GetFunction20150331v2"}, []string{"UpdateFunctionCode20150331v2"}},
	{"logs.amazonaws.com", []string{"DescribeLogGroups", "DescribeLogStreams"}, []string{"CreateLogStream", "PutRetentionPolicy"}},
	{"monitoring.amazonaws.com", []string{"DescribeAlarms", "GetMetricData"}, []string{"PutMetricAlarm"}},
}

var (
	benchRoles  = []string{"ci-deployer", "platform-admin", "eks-node", "lambda-exec", "data-pipeline", "monitoring", "backup", "support-readonly"}
	benchAgents = []string{
		"aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-1016-aws exe/x86_64.amzn.2",
		"aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.2 api/ec2#1.155.1",
		"Boto3/1.34.84 Python/3.12.2 Linux/5.10.213 Botocore/1.34.84",
		"console.amazonaws.com",
		"APN/1.0 HashiCorp/1.0 Terraform/1.7.5 terraform-provider-aws/5.44.0",
	}
	benchTeams = []string{"payments", "search", "identity", "growth", "infra", "ml"}
)

// benchRecord appends a CloudTrail management event of about 1 KB: a role
// session or an IAM user calling a read or (less often) write API, some
// of them denied.
func benchRecord(w *bytes.Buffer, r *rand.Rand, t time.Time) {
	svc := benchServices[r.IntN(len(benchServices))]
	readOnly := r.IntN(10) < 8
	name := svc.reads[r.IntN(len(svc.reads))]
	if !readOnly {
		name = svc.writes[r.IntN(len(svc.writes))]
	}
	service := strings.TrimSuffix(svc.source, ".amazonaws.com")
	w.WriteString(`{"eventVersion":"1.09","userIdentity":`)
	if r.IntN(10) < 6 {
		role := r.IntN(len(benchRoles))
		session := fmt.Sprintf("i-0%015x", r.Uint64()>>4)
		fmt.Fprintf(w, `{"type":"AssumedRole","principalId":"AROA%[1]s:%[2]s","arn":"arn:aws:sts::%[3]s:assumed-role/%[4]s/%[2]s","accountId":"%[3]s","accessKeyId":"ASIA%[5]s",`+
			`"sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROA%[1]s","arn":"arn:aws:iam::%[3]s:role/%[4]s","accountId":"%[3]s","userName":"%[4]s"},`+
			`"attributes":{"creationDate":"%[6]s","mfaAuthenticated":"false"}}}`,
			fmt.Sprintf("RZ5M3Q4EXAMPLE%03d", role), session, testAccount, benchRoles[role], benchToken(r, 16),
			t.Add(-time.Duration(r.IntN(3600))*time.Second).Format(integrity.TimeFormat))
	} else {
		user := fmt.Sprintf("user%03d", r.IntN(200))
		fmt.Fprintf(w, `{"type":"IAMUser","principalId":"AIDA%s","arn":"arn:aws:iam::%s:user/%s","accountId":"%s","accessKeyId":"AKIA%s","userName":"%s"}`,
			strings.ToUpper(benchToken(r, 17)), testAccount, user, testAccount, benchToken(r, 16), user)
	}
	fmt.Fprintf(w, `,"eventTime":"%s","eventSource":"%s","eventName":"%s","awsRegion":"%s","sourceIPAddress":"%d.%d.%d.%d","userAgent":"%s"`,
		t.Format(integrity.TimeFormat), svc.source, name, benchRegion, 10+r.IntN(200), r.IntN(256), r.IntN(256), 1+r.IntN(254),
		benchAgents[r.IntN(len(benchAgents))])
	denied := r.IntN(50) == 0
	if denied {
		fmt.Fprintf(w, `,"errorCode":"AccessDenied","errorMessage":"User is not authorized to perform: %s:%s on resource: arn:aws:%s:%s:%s:*"`,
			service, name, service, benchRegion, testAccount)
	}
	team := benchTeams[r.IntN(len(benchTeams))]
	if readOnly {
		w.WriteString(`,"requestParameters":{`)
		if r.IntN(2) == 0 {
			fmt.Fprintf(w, `"filters":[{"name":"tag:team","values":["%s"]}],`, team)
		}
		fmt.Fprintf(w, `"maxResults":%d},"responseElements":null`, []int{50, 100, 1000}[r.IntN(3)])
	} else {
		fmt.Fprintf(w, `,"requestParameters":{"resourceArn":"arn:aws:%s:%s:%s:%s/%s-%x","tags":[{"key":"team","value":"%s"},{"key":"env","value":"prod"}]}`,
			service, benchRegion, testAccount, team, team, r.Uint32(), team)
		if denied {
			w.WriteString(`,"responseElements":null`)
		} else {
			fmt.Fprintf(w, `,"responseElements":{"requestId":"%s","return":true}`, benchUUID(r))
		}
	}
	fmt.Fprintf(w, `,"requestID":"%s","eventID":"%s","readOnly":%t`, benchUUID(r), benchUUID(r), readOnly)
	if !readOnly {
		fmt.Fprintf(w, `,"resources":[{"accountId":"%s","type":"AWS::%s::Resource","ARN":"arn:aws:%s:%s:%s:%s/%x"}]`,
			testAccount, strings.ToUpper(service[:1])+service[1:], service, benchRegion, testAccount, team, r.Uint32())
	}
	fmt.Fprintf(w, `,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"%s","eventCategory":"Management",`+
		`"tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"%s.%s.amazonaws.com"}}`,
		testAccount, service, benchRegion)
}

// benchUUID is a random version 4 UUID.
func benchUUID(r *rand.Rand) string {
	hi, lo := r.Uint64(), r.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", hi>>32, hi>>16&0xffff, hi&0xfff, lo>>48&0x3fff|0x8000, lo&0xffffffffffff)
}

// benchToken is n random upper-case letters and digits, as in access key
// IDs and log file names.
func benchToken(r *rand.Rand, n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}
