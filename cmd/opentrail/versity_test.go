package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

const (
	versityKey    = "VERSITYTESTKEY"
	versitySecret = "versity-test-secret"
)

// versity is a real S3-compatible server (versitygw) for the tests.
type versity struct {
	URL  string
	dir  string
	port string
	cmd  *exec.Cmd
}

func versityBinary(tb testing.TB) string {
	tb.Helper()
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	gopath, _ := exec.Command("go", "env", "GOPATH").Output()
	p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "versitygw")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		tb.Fatalf("versitygw is not installed (scripts/test.sh installs it)")
	}
	tb.Skip("versitygw is not installed: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0")
	return ""
}

// startVersity runs versitygw on a fresh directory.
func startVersity(tb testing.TB) *versity {
	v := &versity{dir: tb.TempDir(), port: freePort(tb)}
	v.URL = "http://127.0.0.1:" + v.port
	v.start(tb)
	tb.Cleanup(v.stop)
	return v
}

func (v *versity) start(tb testing.TB) {
	tb.Helper()
	v.cmd = exec.Command(versityBinary(tb), "--port", "127.0.0.1:"+v.port, "posix", v.dir)
	v.cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+versityKey, "ROOT_SECRET_KEY="+versitySecret)
	if err := v.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := v.client().ListBuckets(context.Background(), &s3.ListBucketsInput{}); err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("versitygw did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (v *versity) stop() {
	if v.cmd != nil && v.cmd.Process != nil {
		v.cmd.Process.Kill()
		v.cmd.Wait()
		v.cmd = nil
	}
}

func (v *versity) client() *s3.Client {
	return s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(v.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(versityKey, versitySecret, ""),
		Retryer:     aws.NopRetryer{}})
}

// mustVersityBucket creates a bucket on versitygw for CloudTrail.
func (v *versity) mustBucket(tb testing.TB, bucket string) {
	tb.Helper()
	ctx := context.Background()
	c := v.client()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		tb.Fatal(err)
	}
	// versitygw may not take a service principal; CreateTrail skips the
	// policy check when it cannot read a policy.
	c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(trailBucketPolicy(bucket, testAccount))})
}

func withVersityBackend(v *versity) func(*Main) {
	return func(m *Main) {
		m.BucketBackend, m.S3Endpoint, m.DeliveryInterval = "s3", v.URL, time.Second
		env := map[string]string{"OPENTRAIL_ROOT_ACCESS_KEY_ID": testKeyID, "OPENTRAIL_ROOT_SECRET_ACCESS_KEY": testSecret,
			"OPENTRAIL_S3_ACCESS_KEY_ID": versityKey, "OPENTRAIL_S3_SECRET_ACCESS_KEY": versitySecret}
		m.getenv = func(k string) string { return env[k] }
	}
}

// Trails deliver to a real S3-compatible server configured as the bucket
// backend.
func TestTrailToVersity(t *testing.T) {
	v := startVersity(t)
	v.mustBucket(t, "versity-logs")
	ts := mustRunMain(t, withVersityBackend(v))
	ctx := context.Background()
	ct := ts.cloudtrail("us-east-1")
	if _, err := ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String("to-versity"), S3BucketName: aws.String("versity-logs"),
		S3KeyPrefix: aws.String("audit")}); err != nil {
		t.Fatal(err)
	}
	if _, err := ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String("missing"), S3BucketName: aws.String("no-such-versity-bucket")}); errorCode(err) != "S3BucketDoesNotExistException" {
		t.Errorf("CreateTrail with a bucket versitygw lacks: %v", err)
	}
	if _, err := ct.StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: aws.String("to-versity")}); err != nil {
		t.Fatal(err)
	}
	channel := mustCreateHistoryChannel(t, ct, "versity-channel")
	var recs map[string]map[string]any
	waitUntil(t, 20*time.Second, "delivery to versitygw", func() bool {
		recs = byID(t, readLogFiles(t, v.client(), "versity-logs", "audit/AWSLogs/", testAccount))
		for _, r := range recs {
			if r["eventName"] == "CreateChannel" && strings.Contains(fmt.Sprint(r["responseElements"]), channel) {
				return true
			}
		}
		return false
	})
	if eventNames(recs)["cloudtrail.amazonaws.com StartLogging"] != 1 {
		t.Errorf("StartLogging not delivered: %v", eventNames(recs))
	}
}

// A bucket backend that is down is retried, GetTrailStatus reports the
// failure meanwhile, and kill -9 during the outage loses nothing: after
// recovery every event the trail recorded is in exactly one file.
func TestTrailOutageAndCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns the binary")
	}
	v := startVersity(t)
	v.mustBucket(t, "outage-logs")
	t.Setenv("OPENTRAIL_S3_ACCESS_KEY_ID", versityKey)
	t.Setenv("OPENTRAIL_S3_SECRET_ACCESS_KEY", versitySecret)
	dir := t.TempDir()
	args := []string{"--bucket-backend", "s3", "--s3-endpoint", v.URL, "--delivery-interval", "1s"}
	srv := spawn(t, dir, args...)
	ctx := context.Background()
	ct := srv.server().cloudtrail("us-east-1")
	if _, err := ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String("outage"), S3BucketName: aws.String("outage-logs")}); err != nil {
		t.Fatal(err)
	}
	if _, err := ct.StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: aws.String("outage")}); err != nil {
		t.Fatal(err)
	}
	// Events from the next second on are all recorded while logging.
	start := time.Now().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(start))
	for i := range 5 {
		mustCreateHistoryChannel(t, ct, fmt.Sprint("before-", i))
	}
	waitUntil(t, 20*time.Second, "the first delivery", func() bool {
		return len(readLogFiles(t, v.client(), "outage-logs", "AWSLogs/", testAccount)) > 0
	})

	v.stop() // the bucket backend goes down
	for i := range 5 {
		mustCreateHistoryChannel(t, ct, fmt.Sprint("during-", i))
	}
	waitUntil(t, 20*time.Second, "GetTrailStatus to report the failure", func() bool {
		st, err := ct.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String("outage")})
		return err == nil && st.LatestDeliveryError != nil
	})
	srv.kill(t) // and opentrail crashes during the outage
	v.start(t)
	srv = spawn(t, dir, args...)
	ct = srv.server().cloudtrail("us-east-1")
	for i := range 5 {
		mustCreateHistoryChannel(t, ct, fmt.Sprint("after-", i))
	}
	end := time.Now().Truncate(time.Second)
	time.Sleep(time.Until(end.Add(time.Second + 10*time.Millisecond)))

	// What the trail recorded, from event history: everything from the
	// trail's StartLogging to the end of the workload.
	want := map[string]bool{}
	for _, e := range lookupAll(t, ct, &cloudtrail.LookupEventsInput{StartTime: aws.Time(start), EndTime: aws.Time(end)}) {
		want[aws.ToString(e.EventId)] = true
	}
	var got map[string]map[string]any
	waitUntil(t, 30*time.Second, "every recorded event to be delivered", func() bool {
		got = byID(t, readLogFiles(t, v.client(), "outage-logs", "AWSLogs/", testAccount))
		for id := range want {
			if got[id] == nil {
				return false
			}
		}
		return true
	})
	creates := 0
	for _, r := range got {
		if r["eventName"] == "CreateChannel" {
			creates++
		}
	}
	if creates != 15 {
		t.Errorf("%d CreateChannel events delivered, want 15", creates)
	}
	st, err := ct.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String("outage")})
	if err != nil || st.LatestDeliveryError != nil {
		t.Errorf("GetTrailStatus after recovery: %+v %v", st, err)
	}
	srv.stop(t)
}
