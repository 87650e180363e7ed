package ctapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api/ctapi"
)

var update = flag.Bool("update", false, "rewrite testdata/requests from the live AWS CLI and SDK")

func ptr[T any](v T) *T { return &v }

// call is one request the fake service received.
type call struct {
	Target string
	Op     string
	Body   []byte
	In     any   // the decoded *<Op>Request
	Err    error // what Decode returned
}

// fakeCloudTrail is a minimal API front on ctapi: it parses X-Amz-Target,
// decodes the body into the operation's request struct, and answers with
// the reply set for the operation (a response struct or an error), or
// with the decode error.
type fakeCloudTrail struct {
	mu      sync.Mutex
	replies map[string]any
	calls   []call
}

func newFake(tb testing.TB, replies map[string]any) (*fakeCloudTrail, *httptest.Server) {
	tb.Helper()
	f := &fakeCloudTrail{replies: replies}
	srv := httptest.NewServer(f)
	tb.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeCloudTrail) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c := call{Target: r.Header.Get("X-Amz-Target"), Body: body}
	defer func() {
		f.mu.Lock()
		f.calls = append(f.calls, c)
		f.mu.Unlock()
	}()
	if r.Method != http.MethodPost || r.URL.Path != "/" || r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		writeError(w, opentrail.Errorf("InvalidAction", "bad request line or content type: %s %s %s", r.Method, r.URL.Path, r.Header.Get("Content-Type")))
		return
	}
	op, err := ctapi.Operation(c.Target)
	if err != nil {
		c.Err = err
		writeError(w, err)
		return
	}
	c.Op = op
	c.In = ctapi.NewInput(op)
	if err := ctapi.Decode(op, body, c.In); err != nil {
		c.Err = err
		writeError(w, err)
		return
	}
	f.mu.Lock()
	reply, ok := f.replies[op]
	f.mu.Unlock()
	if !ok {
		writeError(w, opentrail.Errorf(opentrail.CodeUnsupportedOp, "no reply set for %s", op))
		return
	}
	if err, ok := reply.(error); ok {
		writeError(w, err)
		return
	}
	out, err := json.Marshal(reply)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
	w.Write(out)
}

// writeError renders err as awsJson1_1 does.
func writeError(w http.ResponseWriter, err error) {
	code := opentrail.ErrorCode(err)
	body, _ := json.Marshal(map[string]string{"__type": code, "message": opentrail.ErrorMessage(err)})
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
	w.WriteHeader(ctapi.ErrorStatus(code))
	w.Write(body)
}

// last returns the last call the fake received.
func (f *fakeCloudTrail) last(tb testing.TB) call {
	tb.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		tb.Fatal("the fake service received no request")
	}
	return f.calls[len(f.calls)-1]
}

// jsonDiff compares two JSON texts as values.
func jsonDiff(tb testing.TB, got, want []byte) string {
	tb.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		tb.Fatalf("got invalid JSON %s: %v", got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		tb.Fatalf("want invalid JSON %s: %v", want, err)
	}
	return cmp.Diff(w, g)
}

// A captured request in testdata/requests: the X-Amz-Target header, a
// blank line, and the body exactly as the client sent it.
func readCaptured(tb testing.TB, path string) (target string, body []byte) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	head, body, ok := bytes.Cut(b, []byte("\n\n"))
	if !ok || !bytes.HasPrefix(head, []byte("X-Amz-Target: ")) {
		tb.Fatalf("%s: not a captured request", path)
	}
	return strings.TrimPrefix(string(head), "X-Amz-Target: "), body
}

func writeCaptured(tb testing.TB, name, target string, body []byte) {
	tb.Helper()
	path := filepath.Join("testdata", "requests", name+".http")
	if err := os.WriteFile(path, fmt.Appendf(nil, "X-Amz-Target: %s\n\n%s", target, body), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// capturedRequests returns every captured request by file name.
func capturedRequests(tb testing.TB) map[string]call {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "requests", "*.http"))
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no captured requests in testdata/requests: %v", err)
	}
	m := map[string]call{}
	for _, p := range paths {
		target, body := readCaptured(tb, p)
		op, err := ctapi.Operation(target)
		if err != nil {
			tb.Fatalf("%s: %v", p, err)
		}
		m[filepath.Base(p)] = call{Target: target, Op: op, Body: body}
	}
	return m
}

func errCode(err error) string {
	var e *opentrail.Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err != nil {
		return "not an *opentrail.Error: " + err.Error()
	}
	return ""
}
