// Package clitest runs the AWS CLI in tests against an opentrail endpoint,
// isolated from the AWS configuration of whoever runs the tests.
package clitest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Env is the process environment without any AWS_ variable, plus the
// credentials and region given, an empty configuration in dir, no
// instance metadata and no pager.
func Env(dir, keyID, secret, region string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return append(env,
		"AWS_ACCESS_KEY_ID="+keyID, "AWS_SECRET_ACCESS_KEY="+secret, "AWS_DEFAULT_REGION="+region,
		"AWS_CONFIG_FILE="+filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=")
}

// JSON runs `aws --endpoint-url endpoint --output json args...` with Env,
// fails the test if it fails, decodes its output into out (when not nil)
// and returns it.
func JSON(tb testing.TB, endpoint, keyID, secret, region string, out any, args ...string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "aws", append([]string{"--endpoint-url", endpoint, "--output", "json"}, args...)...)
	cmd.Env = Env(tb.TempDir(), keyID, secret, region)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	if out != nil {
		if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
			tb.Fatalf("aws %s: %v: %s", strings.Join(args, " "), err, stdout.String())
		}
	}
	return stdout.String()
}
