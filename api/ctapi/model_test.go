package ctapi_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/opentrail/opentrail/api/ctapi"
)

func TestGoTypesMatchModel(t *testing.T) {
	if err := ctapi.CheckGoTypes(); err != nil {
		t.Fatal(err)
	}
}

// TestCapturedRequests decodes every request captured from the AWS CLI and
// SDK in testdata/requests.
func TestCapturedRequests(t *testing.T) {
	for name, c := range capturedRequests(t) {
		if err := ctapi.Decode(c.Op, c.Body, ctapi.NewInput(c.Op)); err != nil {
			t.Errorf("%s: Decode(%s) = %v", name, c.Op, err)
		}
		if rp := ctapi.RequestParameters(c.Op, c.Body); !json.Valid(rp) {
			t.Errorf("%s: RequestParameters = %q, not JSON", name, rp)
		}
	}
}

// modelDir is where the CloudTrail models sit when the shared folder is
// beside the repository, as the go:generate line in doc.go expects.
const modelDir = "../../../shared/aws-models"

// TestGeneratedFilesUpToDate regenerates types.go and model.go from the
// models and compares them with the committed files. It is skipped when the
// models are not there.
func TestGeneratedFilesUpToDate(t *testing.T) {
	botocore := filepath.Join(modelDir, "botocore", "cloudtrail_2013-11-01_service-2.json")
	smithy := filepath.Join(modelDir, "cloudtrail-2013-11-01.json")
	for _, p := range []string{botocore, smithy} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("model not available: %v", err)
		}
	}
	if testing.Short() {
		t.Skip("builds and runs modelgen")
	}
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		if goTool, err = exec.LookPath("go"); err != nil {
			t.Skip("go command not found")
		}
	}
	out := t.TempDir()
	cmd := exec.CommandContext(t.Context(), goTool, "run", "../../internal/cmd/modelgen", "-model", botocore, "-smithy", smithy, "-out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("modelgen: %v\n%s", err, b)
	}
	for _, name := range []string{"types.go", "model.go"} {
		want, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is out of date: run go generate in api/ctapi", name)
		}
	}
}
