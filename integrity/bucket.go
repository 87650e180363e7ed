package integrity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/opentrail/opentrail/blob"
)

// ErrNotFound is what a Bucket's Open returns (wrapped) for an object that
// does not exist: S3's NoSuchKey. The validator reports such files as
// "INVALID: not found"; any other error stops validation.
var ErrNotFound = errors.New("object not found")

// Bucket is read access to the buckets that hold digests and log files.
type Bucket interface {
	// List calls fn with each key of bucket that starts with prefix and
	// sorts after startAfter, in byte order, until fn returns false.
	List(ctx context.Context, bucket, prefix, startAfter string, fn func(key string) bool) error
	// Open opens an object and returns its user metadata (lower-case
	// names without x-amz-meta-; nil if none). The caller closes the
	// reader. A missing object is an error wrapping ErrNotFound.
	Open(ctx context.Context, bucket, key string) (io.ReadCloser, map[string]string, error)
}

// BlobBucket reads buckets of a blob.Store: the embedded store
// (blob.NewDir) or any S3-compatible service (blob.NewS3).
func BlobBucket(s blob.Store) Bucket { return blobBucket{s} }

type blobBucket struct{ s blob.Store }

func (b blobBucket) List(ctx context.Context, bucket, prefix, startAfter string, fn func(string) bool) error {
	for {
		page, err := b.s.ListObjects(ctx, bucket, blob.ListOptions{Prefix: prefix, StartAfter: startAfter, MaxKeys: 1000})
		if err != nil {
			return err
		}
		for _, o := range page.Objects {
			if !fn(o.Key) {
				return nil
			}
		}
		if !page.Truncated || page.NextStartAfter == "" {
			return nil
		}
		startAfter = page.NextStartAfter
	}
}

func (b blobBucket) Open(ctx context.Context, bucket, key string) (io.ReadCloser, map[string]string, error) {
	rc, info, err := b.s.GetObject(ctx, bucket, key, 0, -1)
	if err != nil {
		if errors.Is(err, blob.ErrNoSuchKey) {
			return nil, nil, fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		return nil, nil, err
	}
	return rc, info.Metadata, nil
}

// MetadataSuffix names the sidecar file that holds an object's user
// metadata in a local copy of a bucket (see LocalDir).
const MetadataSuffix = ".metadata.json"

// LocalDir reads a local copy of a bucket: the object with key K is the
// file DIR/K, whatever the bucket name (the copy stands for the bucket the
// digests name). A copy made with `aws s3 sync` or `aws s3 cp --recursive`
// has no S3 metadata, so a digest's signature is read from a sidecar file
// DIR/K.metadata.json holding the object's user metadata as a JSON object,
// exactly what
//
//	aws s3api head-object --bucket B --key K --query Metadata > DIR/K.metadata.json
//
// prints ({"signature": "...", "signature-algorithm": "SHA256withRSA"}).
// Sidecars are read for digest keys (containing /CloudTrail-Digest/) only.
// Only the newest digest of each chain needs one when validating with
// Options.SignatureFromChain; see there. A sidecar that is not such JSON is
// ignored. Keys cannot reach outside DIR.
func LocalDir(dir string) Bucket { return localDir{dir} }

type localDir struct{ dir string }

func (l localDir) List(ctx context.Context, bucket, prefix, startAfter string, fn func(string) bool) error {
	root, err := os.OpenRoot(l.dir)
	if err != nil {
		return fmt.Errorf("open local copy: %w", err)
	}
	defer root.Close()
	// Walk only the deepest directory the prefix names, then sort: file
	// system order is not S3's byte order ("a-b" sorts before "a/b").
	base := "."
	if i := strings.LastIndexByte(prefix, '/'); i > 0 {
		base = path.Clean(prefix[:i])
		if !fs.ValidPath(base) {
			return nil
		}
	}
	var keys []string
	err = fs.WalkDir(root.FS(), base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			if p != base && !strings.HasPrefix(p+"/", prefix) && !strings.HasPrefix(prefix, p+"/") {
				return fs.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && strings.HasPrefix(p, prefix) && p > startAfter && !strings.HasSuffix(p, MetadataSuffix) {
			keys = append(keys, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list local copy %s: %w", l.dir, err)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !fn(k) {
			return nil
		}
	}
	return nil
}

func (l localDir) Open(ctx context.Context, bucket, key string) (io.ReadCloser, map[string]string, error) {
	root, err := os.OpenRoot(l.dir)
	if err != nil {
		return nil, nil, fmt.Errorf("open local copy: %w", err)
	}
	defer root.Close()
	name := filepath.FromSlash(key)
	f, err := root.Open(name)
	if err != nil {
		// A key that names no file, or one outside the copy, is missing.
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrNotFound, key, err)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%w: %s is not a file", ErrNotFound, key)
	}
	var meta map[string]string
	if !strings.Contains(key, "/CloudTrail-Digest/") {
		// Only digests have metadata the validator reads.
		return f, nil, nil
	}
	if b, err := root.ReadFile(name + MetadataSuffix); err == nil {
		var m map[string]string
		if json.Unmarshal(b, &m) == nil && len(m) > 0 {
			meta = make(map[string]string, len(m))
			for k, v := range m {
				meta[strings.ToLower(k)] = v
			}
		}
	}
	return f, meta, nil
}
