package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtraildata"
)

const (
	testAccount = "123456789012"
	testKeyID   = "AKIAOPENTRAILTEST001"
	testSecret  = "opentrail/test/secret/key/0123456789abcdef"
)

// testServer is a real opentrail server running in the test process.
type testServer struct {
	m       *Main
	URL     string
	DataDir string
	Account string
	KeyID   string
	Secret  string
}

// mustRunMain starts `opentrail serve` in-process on a free port with a
// fresh data directory (unless the options set one) and the test root key.
func mustRunMain(tb testing.TB, opts ...func(*Main)) *testServer {
	tb.Helper()
	m := NewMain(io.Discard, testLogWriter{tb})
	if err := m.ParseFlags([]string{"--listen", "127.0.0.1:0", "--data-dir", tb.TempDir(), "--account-id", testAccount,
		"--synchronous", "NORMAL", "--log-level", "warn"}); err != nil {
		tb.Fatal(err)
	}
	env := map[string]string{"OPENTRAIL_ROOT_ACCESS_KEY_ID": testKeyID, "OPENTRAIL_ROOT_SECRET_ACCESS_KEY": testSecret}
	m.getenv = func(k string) string { return env[k] }
	for _, o := range opts {
		o(m)
	}
	if err := m.Run(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := m.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return &testServer{m: m, URL: m.URL(), DataDir: m.DataDir, Account: m.Account, KeyID: testKeyID, Secret: testSecret}
}

func (ts *testServer) awsConfig(region string) aws.Config {
	return aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider(ts.KeyID, ts.Secret, ""),
	}
}

// cloudtrail returns a real SDK CloudTrail client for the server.
func (ts *testServer) cloudtrail(region string) *cloudtrail.Client {
	return cloudtrail.NewFromConfig(ts.awsConfig(region), func(o *cloudtrail.Options) {
		o.BaseEndpoint = aws.String(ts.URL)
	})
}

// cloudtraildata returns a real SDK CloudTrail Data client for the server.
func (ts *testServer) cloudtraildata(region string) *cloudtraildata.Client {
	return cloudtraildata.NewFromConfig(ts.awsConfig(region), func(o *cloudtraildata.Options) {
		o.BaseEndpoint = aws.String(ts.URL)
	})
}

// awsCLI runs the real AWS CLI against the server and decodes its JSON
// output into out (when not nil). It fails the test on a non-zero exit
// unless wantErr, in which case it returns stderr.
func (ts *testServer) awsCLI(tb testing.TB, region string, out any, wantErr bool, args ...string) string {
	tb.Helper()
	if _, err := exec.LookPath("aws"); err != nil {
		tb.Skip("the aws CLI is not installed")
	}
	cmd := exec.Command("aws", append([]string{"--endpoint-url", ts.URL, "--output", "json"}, args...)...)
	cmd.Env = append(os.Environ(),
		"AWS_ACCESS_KEY_ID="+ts.KeyID, "AWS_SECRET_ACCESS_KEY="+ts.Secret, "AWS_DEFAULT_REGION="+region,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=", "AWS_MAX_ATTEMPTS=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if wantErr {
		if err == nil {
			tb.Fatalf("aws %s succeeded, want an error; output %s", strings.Join(args, " "), stdout.String())
		}
		return stderr.String()
	}
	if err != nil {
		tb.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	if out != nil {
		if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
			tb.Fatalf("aws %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, stdout.String())
		}
	}
	return stdout.String()
}

// binary builds the opentrail binary once per test run, for tests that
// spawn it as a separate process.
var binary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "opentrail-bin")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "opentrail")
	out, err := exec.Command("go", "build", "-o", path, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return path, nil
})

func mustBinary(tb testing.TB) string {
	tb.Helper()
	path, err := binary()
	if err != nil {
		tb.Fatal(err)
	}
	return path
}

// spawned is an `opentrail serve` process.
type spawned struct {
	cmd    *exec.Cmd
	URL    string
	stderr *bytes.Buffer
}

// spawn starts the binary on dataDir at a free port and waits until it answers.
func spawn(tb testing.TB, dataDir string, extra ...string) *spawned {
	tb.Helper()
	port := freePort(tb)
	args := append([]string{"serve", "--data-dir", dataDir, "--listen", "127.0.0.1:" + port, "--account-id", testAccount}, extra...)
	cmd := exec.Command(mustBinary(tb), args...)
	cmd.Env = append(os.Environ(), "OPENTRAIL_ROOT_ACCESS_KEY_ID="+testKeyID, "OPENTRAIL_ROOT_SECRET_ACCESS_KEY="+testSecret)
	if addr := os.Getenv("OPENTRAIL_BENCH_PPROF"); addr != "" {
		cmd.Env = append(cmd.Env, "OPENTRAIL_PPROF_LISTEN="+addr) // profile the server while a benchmark runs
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	s := &spawned{cmd: cmd, URL: "http://127.0.0.1:" + port, stderr: &stderr}
	tb.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := httpGet(s.URL + "/healthz"); err == nil && resp == "ok\n" {
			return s
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Fatalf("opentrail did not start: %s", stderr.String())
	return nil
}

// kill ends the process with SIGKILL, as a crash would.
func (s *spawned) kill(tb testing.TB) {
	tb.Helper()
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

// stop ends the process with SIGTERM and waits for a clean exit.
func (s *spawned) stop(tb testing.TB) {
	tb.Helper()
	s.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			tb.Errorf("opentrail exited with %v: %s", err, s.stderr.String())
		}
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		tb.Fatalf("opentrail did not stop on SIGINT")
	}
}

func (s *spawned) server() *testServer {
	return &testServer{URL: s.URL, Account: testAccount, KeyID: testKeyID, Secret: testSecret}
}

func freePort(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

func httpGet(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// testLogWriter sends the server's logs to the test log.
type testLogWriter struct{ tb testing.TB }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
