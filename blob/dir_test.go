package blob_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/opentrail/opentrail/blob"
	"github.com/opentrail/opentrail/blob/blobtest"
)

// mustDir returns a directory store in a fresh directory, and the
// directory.
func mustDir(tb testing.TB) (blob.Store, string) {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "buckets")
	s, err := blob.NewDir(dir)
	if err != nil {
		tb.Fatalf("NewDir: %v", err)
	}
	return s, dir
}

func mustBucket(tb testing.TB, s blob.Store, name string) {
	tb.Helper()
	if err := s.CreateBucket(context.Background(), name, "111122223333", "us-east-1"); err != nil {
		tb.Fatalf("CreateBucket(%s): %v", name, err)
	}
}

func TestDir(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s, _ := mustDir(t)
		return s
	}, blobtest.Options{ReportsOwner: true})
}

// hostileKeys are keys a file-system store could get wrong: dot segments,
// encodings of them, empty segments, names the store uses itself, names
// too long for one path element.
var hostileKeys = []string{
	"../../etc/passwd", "..", ".", "../x", "a/../../b", "a/./b", "./a", "a/..", "a/.",
	"%2e%2e/%2e%2e/x", "%2E%2E", "%", "%+", "a%2Fb", "a%+/b", "%00",
	"/leading", "//", "a//b", "trailing/", "a/", "a",
	"a/b", "a/b/c", "back\\slash", "ctrl\x01\x1f\x7f", "nul\x00byte",
	".tmp/x", ".trash", "bucket.json", "objects", "../bucket.json",
	strings.Repeat("L", 300), strings.Repeat("L", 300) + "/x", strings.Repeat("é", 200) + "/" + strings.Repeat("%", 250),
	strings.Repeat("a/", 300) + "deep", strings.Repeat("/", 200),
}

func TestDirHostileKeys(t *testing.T) {
	s, root := mustDir(t)
	parent := filepath.Dir(root)
	before := snapshot(t, parent)
	ctx := context.Background()
	mustBucket(t, s, "hostile")
	for _, key := range hostileKeys {
		if _, err := s.PutObject(ctx, "hostile", key, strings.NewReader("data of "+key), blob.PutOptions{}); err != nil {
			t.Errorf("PutObject(%q): %v", key, err)
		}
	}
	for _, key := range hostileKeys {
		rc, _, err := s.GetObject(ctx, "hostile", key, 0, -1)
		if err != nil {
			t.Errorf("GetObject(%q): %v", key, err)
			continue
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if string(b) != "data of "+key {
			t.Errorf("GetObject(%q) = %q, want its own data", key, b)
		}
	}
	res, err := s.ListObjects(ctx, "hostile", blob.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(hostileKeys)
	slices.Sort(want)
	var got []string
	for _, o := range res.Objects {
		got = append(got, o.Key)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListObjects mismatch (-want +got):\n%s", diff)
	}
	// Nothing outside the store's directory changed, and every file in it
	// is the store's.
	if diff := cmp.Diff(before, snapshot(t, parent), cmpopts.IgnoreMapEntries(func(k string, _ int64) bool {
		return k == "buckets" || strings.HasPrefix(k, "buckets"+string(filepath.Separator))
	})); diff != "" {
		t.Errorf("files outside the store changed (-before +after):\n%s", diff)
	}
	for p := range snapshot(t, root) {
		top := strings.Split(p, string(filepath.Separator))[0]
		if top != ".tmp" && top != ".trash" && top != "hostile" {
			t.Errorf("file %s outside the store's layout", p)
		}
	}
	for _, key := range hostileKeys {
		if err := s.DeleteObject(ctx, "hostile", key); err != nil {
			t.Errorf("DeleteObject(%q): %v", key, err)
		}
	}
	// Deleting every object leaves no directory behind.
	objects := filepath.Join(root, "hostile", "objects")
	if left := snapshot(t, objects); len(left) != 0 {
		t.Errorf("files left under objects/ after deleting every key: %v", left)
	}
	if err := s.DeleteBucket(ctx, "hostile"); err != nil {
		t.Errorf("DeleteBucket: %v", err)
	}
}

// TestDirDeepKey: a key of 1,024 slashes is 1,024 nested directories, a
// path longer than the system's PATH_MAX.
func TestDirDeepKey(t *testing.T) {
	s, _ := mustDir(t)
	ctx := context.Background()
	mustBucket(t, s, "deep")
	key := strings.Repeat("/", blob.MaxKeyLength)
	if _, err := s.PutObject(ctx, "deep", key, strings.NewReader("deep"), blob.PutOptions{}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	res, err := s.ListObjects(ctx, "deep", blob.ListOptions{})
	if err != nil || len(res.Objects) != 1 || res.Objects[0].Key != key {
		t.Fatalf("ListObjects = %+v, %v", res, err)
	}
	if err := s.DeleteObject(ctx, "deep", key); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBucket(ctx, "deep"); err != nil {
		t.Errorf("DeleteBucket after deleting the deep key: %v", err)
	}

	// Deep keys list like any others.
	mustBucket(t, s, "deep2")
	d := func(n int) string { return strings.Repeat("d/", n) }
	for _, k := range []string{d(60) + "x", d(60) + "y/z", d(50) + "w", d(70)} {
		if _, err := s.PutObject(ctx, "deep2", k, strings.NewReader(k), blob.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		opts     blob.ListOptions
		keys     []string
		prefixes []string
	}{
		{blob.ListOptions{Prefix: d(55), Delimiter: "/"}, nil, []string{d(56)}},
		{blob.ListOptions{Prefix: d(60), Delimiter: "/"}, []string{d(60) + "x"}, []string{d(61), d(60) + "y/"}},
		{blob.ListOptions{Prefix: d(49)}, []string{d(70), d(60) + "x", d(60) + "y/z", d(50) + "w"}, nil},
		{blob.ListOptions{Prefix: d(49), StartAfter: d(60) + "y"}, []string{d(60) + "y/z", d(50) + "w"}, nil},
		{blob.ListOptions{Delimiter: "/w"}, []string{d(70), d(60) + "x", d(60) + "y/z"}, []string{d(50) + "w"}},
	}
	for _, tt := range tests {
		res, err := s.ListObjects(ctx, "deep2", tt.opts)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, o := range res.Objects {
			keys = append(keys, o.Key)
		}
		if diff := cmp.Diff([][]string{tt.keys, tt.prefixes}, [][]string{keys, res.CommonPrefixes}, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("ListObjects(%+v) mismatch (-want +got):\n%s", tt.opts, diff)
		}
	}
}

// snapshot maps each path under dir to its size (-1 for directories).
func snapshot(tb testing.TB, dir string) map[string]int64 {
	tb.Helper()
	m := map[string]int64{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		m[rel] = -1
		if !d.IsDir() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			m[rel] = fi.Size()
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// TestDirFileAndDirectory: S3 lets "a" and "a/b" both exist; a file-system
// store must not let one shadow the other.
func TestDirFileAndDirectory(t *testing.T) {
	s, _ := mustDir(t)
	ctx := context.Background()
	mustBucket(t, s, "both")
	for _, k := range []string{"a", "a/", "a/b", "a/b/", "a/b/c"} {
		if _, err := s.PutObject(ctx, "both", k, strings.NewReader(k), blob.PutOptions{}); err != nil {
			t.Fatalf("PutObject(%q): %v", k, err)
		}
	}
	tests := []struct {
		opts     blob.ListOptions
		keys     []string
		prefixes []string
	}{
		{blob.ListOptions{}, []string{"a", "a/", "a/b", "a/b/", "a/b/c"}, nil},
		{blob.ListOptions{Delimiter: "/"}, []string{"a"}, []string{"a/"}},
		{blob.ListOptions{Prefix: "a/", Delimiter: "/"}, []string{"a/", "a/b"}, []string{"a/b/"}},
		{blob.ListOptions{Prefix: "a/b/", Delimiter: "/"}, []string{"a/b/", "a/b/c"}, nil},
	}
	for _, tt := range tests {
		res, err := s.ListObjects(ctx, "both", tt.opts)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, o := range res.Objects {
			keys = append(keys, o.Key)
		}
		if diff := cmp.Diff([][]string{tt.keys, tt.prefixes}, [][]string{keys, res.CommonPrefixes}, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("ListObjects(%+v) mismatch (-want +got):\n%s", tt.opts, diff)
		}
	}
}

// TestDirLongSegments: fragments longer than a file name can be are cut
// into continuation directories, and still list in byte order next to
// their neighbours.
func TestDirLongSegments(t *testing.T) {
	s, _ := mustDir(t)
	ctx := context.Background()
	mustBucket(t, s, "long")
	long := strings.Repeat("x", 400)
	keys := []string{long, long + "-", long + ".", long + "/", long + "/y", long + "0", long[:200], long[:199] + "/z", "w", "y"}
	for _, k := range keys {
		if _, err := s.PutObject(ctx, "long", k, strings.NewReader(k), blob.PutOptions{}); err != nil {
			t.Fatalf("PutObject(%d-byte key): %v", len(k), err)
		}
	}
	slices.Sort(keys)
	for _, delim := range []string{"", "/", "-"} {
		for _, size := range []int{1, 3, 100} {
			opts := blob.ListOptions{Delimiter: delim, MaxKeys: size}
			var got []string
			for {
				res, err := s.ListObjects(ctx, "long", opts)
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range res.Objects {
					got = append(got, o.Key)
				}
				got = append(got, res.CommonPrefixes...)
				if !res.Truncated {
					break
				}
				opts.StartAfter = res.NextStartAfter
			}
			var want []string
			seen := map[string]bool{}
			for _, k := range keys {
				if i := strings.Index(k, delim); delim != "" && i >= 0 {
					k = k[:i+len(delim)]
				}
				if !seen[k] {
					seen[k] = true
					want = append(want, k)
				}
			}
			slices.Sort(got)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("listing with delimiter %q in pages of %d mismatch (-want +got):\n%s", delim, size, diff)
			}
		}
	}
}

// TestDirConcurrentPutDelete: deletes remove directories left empty while
// puts create them; neither may fail for it.
func TestDirConcurrentPutDelete(t *testing.T) {
	s, _ := mustDir(t)
	ctx := context.Background()
	mustBucket(t, s, "race")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 4 {
		wg.Go(func() {
			key := fmt.Sprintf("shared/dir/k%d", i)
			for range 50 {
				if _, err := s.PutObject(ctx, "race", key, strings.NewReader(key), blob.PutOptions{}); err != nil {
					errs <- err
					return
				}
				if err := s.DeleteObject(ctx, "race", key); err != nil {
					errs <- err
					return
				}
			}
			if _, err := s.PutObject(ctx, "race", key, strings.NewReader(key), blob.PutOptions{}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	res, err := s.ListObjects(ctx, "race", blob.ListOptions{})
	if err != nil || len(res.Objects) != 4 {
		t.Errorf("ListObjects = %+v, %v; want the 4 keys", res, err)
	}

	// One key put and deleted at once, listed meanwhile.
	errs = make(chan error, 8)
	for i := range 5 {
		wg.Go(func() {
			for range 40 {
				var err error
				switch i {
				case 0, 1:
					_, err = s.PutObject(ctx, "race", "one/deep/key", strings.NewReader("v"), blob.PutOptions{})
				case 2, 3:
					err = s.DeleteObject(ctx, "race", "one/deep/key")
				default:
					_, err = s.ListObjects(ctx, "race", blob.ListOptions{Prefix: "one/", Delimiter: "/"})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestDirNoPartialObject: a put whose body fails leaves no file anywhere,
// not even in the temporary directory.
func TestDirNoPartialObject(t *testing.T) {
	s, root := mustDir(t)
	ctx := context.Background()
	mustBucket(t, s, "partial")
	errBody := errors.New("signature mismatch at EOF")
	_, err := s.PutObject(ctx, "partial", "dir/obj", io.MultiReader(strings.NewReader(strings.Repeat("x", 1<<20)), errReader{errBody}), blob.PutOptions{})
	if !errors.Is(err, errBody) {
		t.Fatalf("PutObject = %v, want the body's error", err)
	}
	for p, size := range snapshot(t, root) {
		if size >= 0 && !strings.HasSuffix(p, "bucket.json") {
			t.Errorf("file %s (%d bytes) left by a failed put", p, size)
		}
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// TestDirReopen: what one store wrote, another on the same directory
// reads; NewDir clears leftovers of a crash.
func TestDirReopen(t *testing.T) {
	s, root := mustDir(t)
	ctx := context.Background()
	mustBucket(t, s, "persist")
	if err := s.PutBucketPolicy(ctx, "persist", `{"Statement":[]}`); err != nil {
		t.Fatal(err)
	}
	put, err := s.PutObject(ctx, "persist", "k/v", strings.NewReader("value"), blob.PutOptions{ContentType: "text/plain", Metadata: map[string]string{"a": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	// Leftovers: an old temporary file, a fresh one (an upload in
	// progress elsewhere) and a bucket half deleted.
	old := filepath.Join(root, ".tmp", "o-old")
	fresh := filepath.Join(root, ".tmp", "o-fresh")
	for _, p := range []string{old, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Chtimes(old, time.Now().Add(-48*time.Hour), time.Now().Add(-48*time.Hour))
	if err := os.MkdirAll(filepath.Join(root, ".trash", "gone.x", "objects"), 0o755); err != nil {
		t.Fatal(err)
	}

	s2, err := blob.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	head, err := s2.HeadObject(ctx, "persist", "k/v")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(put, head); diff != "" {
		t.Errorf("HeadObject after reopening mismatch (-put +head):\n%s", diff)
	}
	if p, err := s2.BucketPolicy(ctx, "persist"); err != nil || p != `{"Statement":[]}` {
		t.Errorf("BucketPolicy after reopening = %q, %v", p, err)
	}
	for p, want := range map[string]bool{old: false, fresh: true, filepath.Join(root, ".trash", "gone.x"): false} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("after NewDir, %s exists = %v, want %v", p, err == nil, want)
		}
	}
}

// TestDirForeignFiles: files the store did not write are not listed.
func TestDirForeignFiles(t *testing.T) {
	s, root := mustDir(t)
	ctx := context.Background()
	mustBucket(t, s, "foreign")
	if _, err := s.PutObject(ctx, "foreign", "real", strings.NewReader("x"), blob.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	objects := filepath.Join(root, "foreign", "objects")
	for _, name := range []string{"%zz", "a%2Fb", "%2E%2F"} {
		os.WriteFile(filepath.Join(objects, name), []byte("junk"), 0o644)
	}
	res, err := s.ListObjects(ctx, "foreign", blob.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) != 1 || res.Objects[0].Key != "real" {
		t.Errorf("ListObjects = %+v, want only the store's object", res.Objects)
	}
	// A file with the name of an object but not the store's format is an
	// error, not data.
	os.WriteFile(filepath.Join(objects, "fake"), []byte("no trailer"), 0o644)
	if _, err := s.HeadObject(ctx, "foreign", "fake"); err == nil || errors.Is(err, blob.ErrNoSuchKey) {
		t.Errorf("HeadObject(foreign file) = %v, want a format error", err)
	}
}

func FuzzDirKey(f *testing.F) {
	for _, k := range hostileKeys {
		f.Add(k)
	}
	f.Add("AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/02/111122223333_CloudTrail_us-east-1_20240102T0000Z_abc.json.gz")
	s, root := mustDir(f)
	parent := filepath.Dir(root)
	before := snapshot(f, parent)
	mustBucket(f, s, "fuzz")
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, key string) {
		data := []byte("v:" + key)
		_, err := s.PutObject(ctx, "fuzz", key, bytes.NewReader(data), blob.PutOptions{})
		if err != nil {
			if !errors.Is(err, blob.ErrInvalidKey) {
				t.Fatalf("PutObject(%q): %v", key, err)
			}
			return
		}
		rc, _, err := s.GetObject(ctx, "fuzz", key, 0, -1)
		if err != nil {
			t.Fatalf("GetObject(%q): %v", key, err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, data) {
			t.Fatalf("GetObject(%q) = %q, want %q", key, got, data)
		}
		res, err := s.ListObjects(ctx, "fuzz", blob.ListOptions{Prefix: key, MaxKeys: 1})
		if err != nil || len(res.Objects) != 1 || res.Objects[0].Key != key {
			t.Fatalf("ListObjects(prefix %q) = %+v, %v; want the key", key, res, err)
		}
		if err := s.DeleteObject(ctx, "fuzz", key); err != nil {
			t.Fatalf("DeleteObject(%q): %v", key, err)
		}
		if left := snapshot(t, filepath.Join(root, "fuzz", "objects")); len(left) != 0 {
			t.Fatalf("after deleting %q, left %v", key, left)
		}
		after := snapshot(t, parent)
		for p := range after {
			if p != "buckets" && !strings.HasPrefix(p, "buckets"+string(filepath.Separator)) {
				if _, ok := before[p]; !ok {
					t.Fatalf("key %q created %s outside the store", key, p)
				}
			}
		}
	})
}
