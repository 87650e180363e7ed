package blob_test

import (
	"context"
	"errors"
	"fmt"
	"go/build"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/opentrail/opentrail/blob"
	"github.com/opentrail/opentrail/blob/blobtest"
)

const versitygwInstall = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// findVersityGW looks for the versitygw binary on PATH and in GOPATH/bin.
func findVersityGW() string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	for _, dir := range filepath.SplitList(build.Default.GOPATH) {
		p := filepath.Join(dir, "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// mustStartVersityGW starts a versitygw serving a fresh directory and
// returns a client of it. Without the binary the test is skipped, unless
// CI is set: then it fails.
func mustStartVersityGW(tb testing.TB) *s3.Client {
	tb.Helper()
	bin := findVersityGW()
	if bin == "" {
		if os.Getenv("CI") != "" {
			tb.Fatalf("versitygw not found on PATH or in GOPATH/bin; CI must install it: %s", versitygwInstall)
		}
		tb.Skipf("versitygw not found on PATH or in GOPATH/bin; install it to run the S3 half: %s", versitygwInstall)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	const access, secret = "versitytestaccess", "versitytestsecretkey"
	cmd := exec.Command(bin, "--port", addr, "posix", tb.TempDir())
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+access, "ROOT_SECRET_KEY="+secret)
	out, err := os.CreateTemp(tb.TempDir(), "versitygw-log")
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start versitygw: %v", err)
	}
	tb.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if tb.Failed() {
			if b, err := os.ReadFile(out.Name()); err == nil {
				tb.Logf("versitygw output:\n%s", b)
			}
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("versitygw did not listen on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://" + addr),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(access, secret, ""),
	})
}

func TestS3(t *testing.T) {
	client := mustStartVersityGW(t)
	store := blob.NewS3(client, "us-east-1")
	blobtest.Run(t, func(t *testing.T) blob.Store { return store }, blobtest.Options{IgnoresSSE: true, SeparateAttributes: true})
}

// TestS3Errors checks the mapping of service errors that the suite cannot
// reach through the store's own checks.
func TestS3Errors(t *testing.T) {
	client := mustStartVersityGW(t)
	store := blob.NewS3(client, "us-east-1")
	ctx := context.Background()
	if err := store.CreateBucket(ctx, "errs", "", "us-east-1"); err != nil {
		t.Fatal(err)
	}
	// The service's own answer to a missing key, with the original error
	// still in the chain.
	_, _, err := store.GetObject(ctx, "errs", "missing", 0, -1)
	if !errors.Is(err, blob.ErrNoSuchKey) {
		t.Fatalf("GetObject(missing) = %v, want ErrNoSuchKey", err)
	}
	if msg := fmt.Sprint(err); msg == blob.ErrNoSuchKey.Error() {
		t.Errorf("GetObject(missing) error %q lost the service's error", msg)
	}
}
