package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestREADMEQuickStart runs the shell blocks of the README's quick start,
// unchanged but for the port, with the real binary and the real AWS CLI,
// and checks what they leave behind: the README must stay true.
func TestREADMEQuickStart(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the aws CLI is not installed")
		}
		t.Skip("the aws CLI is not installed")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	start := strings.Index(section, "## Quick start with the AWS CLI")
	end := strings.Index(section, "## Configuration")
	if start < 0 || end < start {
		t.Fatal("README: no quick start section")
	}
	section = section[start:end]
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(section, -1)
	if len(blocks) < 2 {
		t.Fatalf("README: %d shell blocks in the quick start, want at least 2", len(blocks))
	}
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	for _, b := range blocks {
		for _, line := range strings.Split(b[1], "\n") {
			script.WriteString(line + "\n")
			switch {
			case strings.HasPrefix(line, "opentrail serve &"):
				// A person waits for the server to say it is ready.
				script.WriteString("SERVER=$!; trap 'kill $SERVER' EXIT\n" +
					"for i in $(seq 100); do [ -f ./opentrail-data/credentials ] && (echo > /dev/tcp/127.0.0.1/" + port + ") 2>/dev/null && break; sleep 0.1; done\n")
			case strings.HasPrefix(line, "# ... a delivery interval later"):
				script.WriteString("sleep 3\n")
			}
		}
	}
	text := strings.ReplaceAll(script.String(), "127.0.0.1:8077", "127.0.0.1:"+port)
	dir := t.TempDir()
	// The quick start loads "a trail's bucket": give it real logs.
	if err := os.MkdirAll(filepath.Join(dir, "my-trail-logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	logs, _ := filepath.Glob("../../testdata/cloudtrail/*.json")
	if len(logs) == 0 {
		logs, _ = filepath.Glob("/work/shared/testdata/cloudtrail/invictus-ir_aws_dataset/CloudTrail/*.json")
	}
	for _, l := range logs[:min(2, len(logs))] {
		b, err := os.ReadFile(l)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "my-trail-logs", filepath.Base(l)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("bash", "-c", text)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"),
		"OPENTRAIL_LISTEN=127.0.0.1:"+port, "OPENTRAIL_ENDPOINT_URL=http://127.0.0.1:"+port, "OPENTRAIL_DELIVERY_INTERVAL=1s", "OPENTRAIL_DIGEST_INTERVAL=1s", "OPENTRAIL_SYNCHRONOUS=NORMAL",
		"AWS_CONFIG_FILE=/dev/null", "AWS_PAGER=", "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_ENDPOINT_URL=", "AWS_ENDPOINT_URL_S3=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("the quick start did not finish in 3 minutes:\n%s", out.String())
	}
	if err != nil {
		t.Fatalf("the quick start failed: %v\n%s", err, out.String())
	}
	transcript := out.String()
	// What a reader is told to expect.
	for _, want := range []string{"CreateChannel", "alice", "Login", "AWSLogs/", "IsLogging", "digest files valid", ":key/", "FINISHED", "CreateEventDataStore", "\"COMPLETED\""} {
		if !strings.Contains(transcript, want) {
			t.Errorf("the quick start's output lacks %q:\n%s", want, transcript)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "history.csv")); err != nil {
		t.Errorf("events download wrote no history.csv: %v", err)
	}
	// The copied log files hold the calls of the quick start.
	var names []string
	filepath.Walk(filepath.Join(dir, "logs"), func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.HasSuffix(path, ".json.gz") {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			return nil
		}
		raw, _ := io.ReadAll(zr)
		var file struct{ Records []struct{ EventName string } }
		if err := json.Unmarshal(raw, &file); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		for _, r := range file.Records {
			names = append(names, r.EventName)
		}
		return nil
	})
	joined := strings.Join(names, " ")
	for _, want := range []string{"StartLogging"} {
		if !strings.Contains(joined, want) {
			t.Errorf("the delivered log files lack %s; they hold %v\n%s", want, names, transcript)
		}
	}
}
