package s3api_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api/s3api"
	"github.com/opentrail/opentrail/api/svc"
	"github.com/opentrail/opentrail/blob"
)

// FuzzRequest sends arbitrary requests to a Handler over a directory
// store: it must not panic, must answer client faults with 4xx (501 for
// what it does not implement), never 5xx, must write well-formed error
// documents (none for HEAD), and must never touch a file outside the
// store's directory.
func FuzzRequest(f *testing.F) {
	seeds := []struct{ method, target, headers, body string }{
		{"GET", "/", "", ""},
		{"PUT", "/fuzz/k", "Content-Md5: 1B2M2Y8AsgTpgAmY7PhCfg==\nx-amz-meta-a: b", ""},
		{"PUT", "/fuzz/dir/obj", "x-amz-checksum-crc32: AAAAAA==\nContent-Type: text/plain", "data"},
		{"GET", "/fuzz?list-type=2&max-keys=-1&prefix=a&delimiter=/", "", ""},
		{"GET", "/fuzz?list-type=2&continuation-token=b3QxOms&encoding-type=url", "", ""},
		{"GET", "/fuzz?marker=k&max-keys=1", "", ""},
		{"PUT", "/fuzz?policy", "", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::fuzz/*"}]}`},
		{"GET", "/fuzz/k", "Range: bytes=-0", ""},
		{"GET", "/fuzz/k", "Range: bytes=1-0\nIf-None-Match: *", ""},
		{"HEAD", "/fuzz/%2e%2e/%2e%2e/outside.txt", "", ""},
		{"PUT", "/../../outside.txt", "", "overwritten"},
		{"PUT", "/fuzz/..%2F..%2F..%2Foutside.txt", "", "overwritten"},
		{"DELETE", "/fuzz/../../outside.txt", "", ""},
		{"PUT", "/.tmp/x", "", "x"},
		{"PUT", "/fuzz/k?uploads", "", ""},
		{"POST", "/fuzz?delete", "", "<Delete/>"},
		{"PUT", "/new-bucket", "", "<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>"},
		{"PUT", "/new-bucket2", "", "<CreateBucketConfiguration><LocationConstraint>"},
		{"DELETE", "/fuzz", "", ""},
		{"GET", "/k", "Host: fuzz.s3.test", ""},
		{"PATCH", "/fuzz", "", ""},
		{"GET", "/fuzz/\xff", "", ""},
		{"GET", "/?max-buckets=0&continuation-token=%%%", "", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, s.headers, []byte(s.body))
	}
	dir := f.TempDir()
	outside := filepath.Join(dir, "outside.txt")
	if err := os.WriteFile(outside, []byte("untouched"), 0o644); err != nil {
		f.Fatal(err)
	}
	store, err := blob.NewDir(filepath.Join(dir, "buckets"))
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	if err := store.CreateBucket(ctx, "fuzz", account, "us-east-1"); err != nil {
		f.Fatal(err)
	}
	h := &s3api.Handler{Store: store, MaxObjectSize: 1 << 20, Domains: []string{"s3.test"}}
	p := principals[rootKey]
	allow := func(ctx context.Context, action, resource string) error { return nil }

	f.Fuzz(func(t *testing.T, method, target, headers string, body []byte) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			u = &url.URL{Path: target}
		}
		req := (&http.Request{
			Method: method, URL: u, RequestURI: target, Header: http.Header{},
			Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
			Host: "127.0.0.1:9000", RemoteAddr: "192.0.2.1:4321", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		}).WithContext(ctx)
		for line := range strings.SplitSeq(headers, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
		}
		if host := req.Header.Get("Host"); host != "" {
			req.Host = host
		}
		w := httptest.NewRecorder()
		rec := h.Serve(w, req, svc.Call{
			Principal: p, Region: "us-east-1", RequestID: "FUZZREQUEST", Host: req.Host,
			Body: bytes.NewReader(body), ContentLength: int64(len(body)), Authorize: allow,
		})
		if w.Code >= 500 && w.Code != http.StatusNotImplemented {
			t.Fatalf("%s %q: status %d\n%s", method, target, w.Code, w.Body)
		}
		var oe *opentrail.Error
		if errors.As(rec.Err, &oe) && oe.Code == "InternalError" {
			t.Fatalf("%s %q: recorded InternalError: %s", method, target, oe.Message)
		}
		if method == http.MethodHead && w.Body.Len() > 0 {
			t.Fatalf("HEAD %q: response has a %d-byte body", target, w.Body.Len())
		}
		if w.Code >= 300 && w.Code != http.StatusNotModified && method != http.MethodHead {
			var e struct{ Code, RequestId string }
			if err := xml.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Code == "" || e.RequestId != "FUZZREQUEST" {
				t.Fatalf("%s %q: status %d with error document %q (%v)", method, target, w.Code, w.Body, err)
			}
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if !slices.Equal(names, []string{"buckets", "outside.txt"}) {
			t.Fatalf("%s %q: the store's parent directory now holds %v", method, target, names)
		}
		if b, err := os.ReadFile(outside); err != nil || string(b) != "untouched" {
			t.Fatalf("%s %q: a file outside the store changed: %q, %v", method, target, b, err)
		}
	})
}
