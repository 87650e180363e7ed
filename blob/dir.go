package blob

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
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
	"sync"
	"time"
)

// The directory store.
//
// Layout under the root:
//
//	.tmp/                  files being written; renamed into place when whole
//	.trash/                buckets being deleted
//	<bucket>/bucket.json   owner, region, creation time and policy
//	<bucket>/objects/...   one file per object, named after its key (names.go)
//
// An object's file holds its bytes, then its attributes as JSON, then the
// JSON's length (4 bytes, big-endian) and a magic string. Bytes and
// attributes live in one file so that one rename publishes both: a reader
// never sees the bytes of one put with the ETag of another, and an open
// file keeps serving the object it opened while a put replaces it. The
// bytes come first so they can be streamed in while the MD5 is computed.
//
// Every write goes to a new file in .tmp, is fsynced, renamed into place,
// and the directories it changed are fsynced: a crash leaves the old object
// or the new one, never part of one. gocloud.dev/blob/fileblob was
// considered: it renames without fsync, writes its attribute sidecar and
// the data in two steps (so a crash or two concurrent puts can pair one
// put's bytes with another's attributes), and maps keys to paths in a way
// that breaks when both "a" and "a/b" exist.
//
// All file access goes through an os.Root, so no key, bucket name or
// symbolic link can reach outside the root, whatever the encoding misses.

const (
	objectMagic  = "otblob1\n"
	trailerLen   = 4 + len(objectMagic)
	maxMetaBytes = 1 << 20
	bucketFile   = "bucket.json"
	objectsDir   = "objects"
	tmpDir       = ".tmp"
	trashDir     = ".trash"
	copyBufSize  = 256 << 10
	// tmpMaxAge is how old a leftover temporary file must be for NewDir to
	// remove it: older than any upload in progress.
	tmpMaxAge = 24 * time.Hour
)

// dirLocks holds one lock per root directory, shared by every store opened
// on it in this process: bucket creation and deletion take it exclusively,
// object writes and policy changes shared.
var dirLocks sync.Map // absolute path -> *sync.RWMutex

type dirStore struct {
	root *os.Root
	mu   *sync.RWMutex
}

type bucketMeta struct {
	Name    string    `json:"name"`
	Owner   string    `json:"owner"`
	Region  string    `json:"region"`
	Created time.Time `json:"created"`
	Policy  string    `json:"policy,omitempty"`
}

type objectMeta struct {
	Key                string            `json:"key"`
	Size               int64             `json:"size"`
	ETag               string            `json:"etag"`
	Modified           time.Time         `json:"modified"`
	ContentType        string            `json:"contentType,omitempty"`
	ContentEncoding    string            `json:"contentEncoding,omitempty"`
	CacheControl       string            `json:"cacheControl,omitempty"`
	ContentDisposition string            `json:"contentDisposition,omitempty"`
	ContentLanguage    string            `json:"contentLanguage,omitempty"`
	Metadata           map[string]string `json:"metadata,omitempty"`
	SSE                string            `json:"sse,omitempty"`
	KMSKeyID           string            `json:"kmsKeyId,omitempty"`
}

func (m *objectMeta) info() *ObjectInfo {
	return &ObjectInfo{
		Key: m.Key, Size: m.Size, ETag: m.ETag, LastModified: m.Modified,
		ContentType: m.ContentType, ContentEncoding: m.ContentEncoding,
		CacheControl: m.CacheControl, ContentDisposition: m.ContentDisposition, ContentLanguage: m.ContentLanguage,
		Metadata: m.Metadata, ServerSideEncryption: m.SSE, KMSKeyID: m.KMSKeyID,
	}
}

// NewDir returns the store that keeps buckets in the directory root,
// creating it if needed, and removes what an earlier crash left half done
// (temporary files, buckets being deleted). Stores opened on the same
// directory in one process coordinate; two processes must not share one.
func NewDir(root string) (Store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("open bucket directory %s: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("open bucket directory: %w", err)
	}
	r, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("open bucket directory: %w", err)
	}
	for _, d := range []string{tmpDir, trashDir} {
		if err := r.Mkdir(d, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			r.Close()
			return nil, fmt.Errorf("open bucket directory: %w", err)
		}
	}
	mu, _ := dirLocks.LoadOrStore(abs, new(sync.RWMutex))
	s := &dirStore{root: r, mu: mu.(*sync.RWMutex)}
	s.cleanup()
	return s, nil
}

// cleanup removes leftovers of interrupted writes and bucket deletions.
func (s *dirStore) cleanup() {
	if entries, err := fs.ReadDir(s.root.FS(), trashDir); err == nil {
		for _, e := range entries {
			_ = s.root.RemoveAll(trashDir + "/" + e.Name())
		}
	}
	if entries, err := fs.ReadDir(s.root.FS(), tmpDir); err == nil {
		for _, e := range entries {
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > tmpMaxAge {
				_ = s.root.RemoveAll(tmpDir + "/" + e.Name())
			}
		}
	}
}

// tempName returns a fresh name in .tmp.
func tempName(prefix string) string {
	return tmpDir + "/" + prefix + rand.Text()
}

// syncDir fsyncs a directory so that entries created, renamed or removed in
// it survive a crash.
func (s *dirStore) syncDir(dir string) error {
	f, err := s.root.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeFile replaces the file rel with data, durably and atomically.
func (s *dirStore) writeFile(rel string, data []byte) error {
	tmp := tempName("f-")
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.root.Rename(tmp, rel)
	}
	if err != nil {
		_ = s.root.Remove(tmp)
		return err
	}
	return s.syncDir(path.Dir(rel))
}

// readBucket reads a bucket's metadata; ErrNoSuchBucket when there is none.
func (s *dirStore) readBucket(name string) (*bucketMeta, error) {
	if CheckBucketName(name) != nil {
		return nil, fmt.Errorf("bucket %q: %w", printable(name), ErrNoSuchBucket)
	}
	b, err := s.root.ReadFile(name + "/" + bucketFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("bucket %s: %w", name, ErrNoSuchBucket)
	}
	if err != nil {
		return nil, fmt.Errorf("read bucket %s: %w", name, err)
	}
	var m bucketMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("read bucket %s: %w", name, err)
	}
	return &m, nil
}

func (m *bucketMeta) info() *BucketInfo {
	return &BucketInfo{Name: m.Name, Owner: m.Owner, Region: m.Region, Created: m.Created}
}

func (s *dirStore) CreateBucket(ctx context.Context, name, owner, region string) error {
	if err := CheckBucketName(name); err != nil {
		return fmt.Errorf("create bucket: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, err := s.readBucket(name); err == nil {
		if m.Owner == owner {
			return fmt.Errorf("create bucket %s: %w", name, ErrBucketOwnedByYou)
		}
		return fmt.Errorf("create bucket %s: %w", name, ErrBucketExists)
	} else if !errors.Is(err, ErrNoSuchBucket) {
		return fmt.Errorf("create bucket: %w", err)
	}
	meta, err := json.Marshal(bucketMeta{Name: name, Owner: owner, Region: region, Created: time.Now().UTC().Truncate(time.Millisecond)})
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	// Build the bucket in .tmp and rename it into place: it exists whole
	// or not at all.
	tmp := tempName("b-")
	err = s.root.Mkdir(tmp, 0o755)
	if err == nil {
		err = s.root.Mkdir(tmp+"/"+objectsDir, 0o755)
	}
	if err == nil {
		err = s.writeFile(tmp+"/"+bucketFile, meta)
	}
	if err == nil {
		err = s.syncDir(tmp)
	}
	if err == nil {
		err = s.root.Rename(tmp, name)
	}
	if err == nil {
		err = s.syncDir(".")
	}
	if err != nil {
		_ = s.root.RemoveAll(tmp)
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	return nil
}

func (s *dirStore) DeleteBucket(ctx context.Context, name string) error {
	s.mu.Lock()
	if _, err := s.readBucket(name); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("delete bucket: %w", err)
	}
	has, err := hasObject(s.root, name+"/"+objectsDir)
	if err == nil && has {
		err = ErrBucketNotEmpty
	}
	trash := trashDir + "/" + name + "." + rand.Text()
	if err == nil {
		err = s.root.Rename(name, trash)
	}
	if err == nil {
		err = s.syncDir(".")
	}
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("delete bucket %s: %w", name, err)
	}
	_ = s.root.RemoveAll(trash) // NewDir retries what is left
	return nil
}

func (s *dirStore) Bucket(ctx context.Context, name string) (*BucketInfo, error) {
	m, err := s.readBucket(name)
	if err != nil {
		return nil, err
	}
	return m.info(), nil
}

func (s *dirStore) ListBuckets(ctx context.Context) ([]BucketInfo, error) {
	entries, err := fs.ReadDir(s.root.FS(), ".")
	if err != nil {
		return nil, fmt.Errorf("list buckets: %w", err)
	}
	list := []BucketInfo{}
	for _, e := range entries {
		if !e.IsDir() || CheckBucketName(e.Name()) != nil {
			continue
		}
		m, err := s.readBucket(e.Name())
		if errors.Is(err, ErrNoSuchBucket) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("list buckets: %w", err)
		}
		list = append(list, *m.info())
	}
	return list, nil
}

func (s *dirStore) BucketPolicy(ctx context.Context, name string) (string, error) {
	m, err := s.readBucket(name)
	if err != nil {
		return "", fmt.Errorf("get bucket policy: %w", err)
	}
	if m.Policy == "" {
		return "", fmt.Errorf("bucket %s: %w", name, ErrNoSuchBucketPolicy)
	}
	return m.Policy, nil
}

func (s *dirStore) PutBucketPolicy(ctx context.Context, name, policy string) error {
	return s.setPolicy(name, policy)
}

func (s *dirStore) DeleteBucketPolicy(ctx context.Context, name string) error {
	return s.setPolicy(name, "")
}

func (s *dirStore) setPolicy(name, policy string) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, err := s.readBucket(name)
	if err != nil {
		return fmt.Errorf("set bucket policy: %w", err)
	}
	if m.Policy == policy {
		return nil
	}
	m.Policy = policy
	b, err := json.Marshal(m)
	if err == nil {
		err = s.writeFile(name+"/"+bucketFile, b)
	}
	if err != nil {
		return fmt.Errorf("set bucket policy %s: %w", name, err)
	}
	return nil
}

// objectPath is the path of key's file, relative to the root.
func objectPath(bucket, key string) (string, []string) {
	elems := keyElems(key)
	return bucket + "/" + objectsDir + "/" + strings.Join(elems, "/"), elems
}

func (s *dirStore) PutObject(ctx context.Context, bucket, key string, r io.Reader, opts PutOptions) (*ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return nil, fmt.Errorf("put object: %w", err)
	}
	if _, err := s.readBucket(bucket); err != nil {
		return nil, fmt.Errorf("put object: %w", err)
	}
	tmp := tempName("o-")
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("put object %s/%s: %w", bucket, key, err)
	}
	meta, err := writeObject(ctx, f, r, key, opts)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("put object %s/%s: %w", bucket, key, cerr)
	}
	if err == nil {
		err = s.commit(bucket, key, tmp)
	}
	if err != nil {
		_ = s.root.Remove(tmp)
		return nil, err
	}
	return meta.info(), nil
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// readError marks an error of the reader a put was given.
type readError struct{ err error }

func (e *readError) Error() string { return "read object body: " + e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// copyBody copies r to w until r's EOF, checking ctx between reads. An
// error of r comes back as a *readError, so that callers tell it from
// their own.
func copyBody(ctx context.Context, w io.Writer, r io.Reader) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		m, rerr := r.Read(buf)
		if m > 0 {
			if _, err := w.Write(buf[:m]); err != nil {
				return n, err
			}
			n += int64(m)
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, &readError{rerr}
		}
	}
}

// writeObject streams r into f, then the trailer, and fsyncs.
func writeObject(ctx context.Context, f *os.File, r io.Reader, key string, opts PutOptions) (*objectMeta, error) {
	h := md5.New()
	size, err := copyBody(ctx, io.MultiWriter(f, h), r)
	if err != nil {
		return nil, fmt.Errorf("put object %s: %w", key, err)
	}
	meta := &objectMeta{
		Key: key, Size: size, ETag: etag(hex.EncodeToString(h.Sum(nil))),
		Modified:    time.Now().UTC().Truncate(time.Millisecond),
		ContentType: opts.ContentType, ContentEncoding: opts.ContentEncoding,
		CacheControl: opts.CacheControl, ContentDisposition: opts.ContentDisposition, ContentLanguage: opts.ContentLanguage,
		Metadata: normalizeMetadata(opts.Metadata), SSE: opts.ServerSideEncryption, KMSKeyID: opts.KMSKeyID,
	}
	j, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("put object %s: %w", key, err)
	}
	if len(j) > maxMetaBytes {
		return nil, fmt.Errorf("put object %s: attributes of %d bytes are more than %d", key, len(j), maxMetaBytes)
	}
	j = binary.BigEndian.AppendUint32(j, uint32(len(j)))
	j = append(j, objectMagic...)
	if _, err := f.Write(j); err != nil {
		return nil, fmt.Errorf("put object %s: %w", key, err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("put object %s: %w", key, err)
	}
	return meta, nil
}

// commit renames a written object file into place. A concurrent delete may
// remove an empty directory on the way between mkdir and rename; then it
// tries again.
func (s *dirStore) commit(bucket, key, tmp string) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, err := s.readBucket(bucket); err != nil {
		return fmt.Errorf("put object: %w", err)
	}
	final, elems := objectPath(bucket, key)
	base := bucket + "/" + objectsDir
	var (
		changed []string
		err     error
	)
	for range 100 {
		if changed, err = s.mkdirs(base, elems[:len(elems)-1]); err == nil {
			err = s.root.Rename(tmp, final)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("put object %s/%s: %w", bucket, key, err)
	}
	for _, d := range append(changed, path.Dir(final)) {
		// A directory gone by now went with a concurrent delete of the
		// object: nothing is left to make durable there.
		if err := s.syncDir(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("put object %s/%s: %w", bucket, key, err)
		}
	}
	return nil
}

// mkdirs creates the directories elems under base and returns the
// directories that gained an entry.
func (s *dirStore) mkdirs(base string, elems []string) ([]string, error) {
	var changed []string
	dir := base
	for _, e := range elems {
		sub := dir + "/" + e
		err := s.root.Mkdir(sub, 0o755)
		switch {
		case err == nil:
			changed = append(changed, dir)
		case !errors.Is(err, fs.ErrExist):
			return nil, err
		}
		dir = sub
	}
	return changed, nil
}

// openObject opens an object's file and reads its attributes.
func (s *dirStore) openObject(bucket, key string) (*os.File, *objectMeta, error) {
	if CheckBucketName(bucket) != nil {
		return nil, nil, fmt.Errorf("bucket %q: %w", printable(bucket), ErrNoSuchBucket)
	}
	if err := checkKey(key); err != nil {
		if _, berr := s.readBucket(bucket); berr != nil {
			return nil, nil, berr
		}
		return nil, nil, fmt.Errorf("object %s/%s: %w", bucket, printable(key), ErrNoSuchKey)
	}
	p, _ := objectPath(bucket, key)
	f, err := s.root.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		if _, berr := s.readBucket(bucket); berr != nil {
			return nil, nil, berr
		}
		return nil, nil, fmt.Errorf("object %s/%s: %w", bucket, key, ErrNoSuchKey)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open object %s/%s: %w", bucket, key, err)
	}
	m, err := readTrailer(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("open object %s/%s: %w", bucket, key, err)
	}
	return f, m, nil
}

// readTrailer reads the attributes at the end of an object file, in one
// read when they are short (listings read thousands).
func readTrailer(f *os.File) (*objectMeta, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	if size < int64(trailerLen) {
		return nil, errors.New("not an object file: too short")
	}
	tail := make([]byte, min(size, 2048))
	if _, err := f.ReadAt(tail, size-int64(len(tail))); err != nil {
		return nil, err
	}
	t := tail[len(tail)-trailerLen:]
	if string(t[4:]) != objectMagic {
		return nil, errors.New("not an object file: no trailer")
	}
	n := int64(binary.BigEndian.Uint32(t[:4]))
	if n > maxMetaBytes || n > size-int64(trailerLen) {
		return nil, errors.New("not an object file: bad trailer length")
	}
	var j []byte
	if n <= int64(len(tail)-trailerLen) {
		j = tail[len(tail)-trailerLen-int(n) : len(tail)-trailerLen]
	} else {
		j = make([]byte, n)
		if _, err := f.ReadAt(j, size-int64(trailerLen)-n); err != nil {
			return nil, err
		}
	}
	var m objectMeta
	if err := json.Unmarshal(j, &m); err != nil {
		return nil, fmt.Errorf("not an object file: %w", err)
	}
	if m.Size != size-int64(trailerLen)-n {
		return nil, fmt.Errorf("not an object file: %d bytes of data, trailer says %d", size-int64(trailerLen)-n, m.Size)
	}
	return &m, nil
}

type objectReader struct {
	*io.SectionReader
	f *os.File
}

func (r *objectReader) Close() error { return r.f.Close() }

func (s *dirStore) GetObject(ctx context.Context, bucket, key string, offset, length int64) (io.ReadCloser, *ObjectInfo, error) {
	f, m, err := s.openObject(bucket, key)
	if err != nil {
		return nil, nil, err
	}
	n, err := clampRange(m.Size, offset, length)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("get object %s/%s: %w", bucket, key, err)
	}
	return &objectReader{io.NewSectionReader(f, offset, n), f}, m.info(), nil
}

// clampRange checks offset and length against an object of size bytes and
// returns how many bytes to read.
func clampRange(size, offset, length int64) (int64, error) {
	if offset < 0 || offset > size || offset == size && size > 0 || length < -1 {
		return 0, fmt.Errorf("offset %d, length %d of a %d-byte object: %w", offset, length, size, ErrInvalidRange)
	}
	if length == -1 || length > size-offset {
		length = size - offset
	}
	return length, nil
}

func (s *dirStore) HeadObject(ctx context.Context, bucket, key string) (*ObjectInfo, error) {
	f, m, err := s.openObject(bucket, key)
	if err != nil {
		return nil, err
	}
	f.Close()
	return m.info(), nil
}

func (s *dirStore) DeleteObject(ctx context.Context, bucket, key string) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, err := s.readBucket(bucket); err != nil {
		return fmt.Errorf("delete object: %w", err)
	}
	if checkKey(key) != nil {
		return nil // no such object can exist
	}
	p, elems := objectPath(bucket, key)
	err := s.root.Remove(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil {
		if err = s.syncDir(path.Dir(p)); errors.Is(err, fs.ErrNotExist) {
			err = nil // removed meanwhile by another delete, left empty
		}
	}
	if err != nil {
		return fmt.Errorf("delete object %s/%s: %w", bucket, key, err)
	}
	// Remove directories left empty, so that listings with a delimiter
	// do not show their prefixes; a put racing with this tries again.
	base := bucket + "/" + objectsDir
	for i := len(elems) - 1; i > 0; i-- {
		if s.root.Remove(base+"/"+strings.Join(elems[:i], "/")) != nil {
			break
		}
	}
	return nil
}

// dirEntry is an object or directory of a bucket, with the key (or key
// prefix, ending in '/') it stands for.
type dirEntry struct {
	key  string
	kind int
	rel  string
}

// readEntries appends the objects and directories in the directory sub of
// dir, whose keys begin with keyPrefix, reading continuation directories as
// part of it. Entries' paths are relative to dir. A directory that no
// longer exists is empty.
func readEntries(dir *os.Root, sub, keyPrefix string, out []dirEntry) ([]dirEntry, error) {
	f, err := dir.Open(sub)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return out, err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil // removed between opening and reading: empty too
	}
	if err != nil {
		return out, err
	}
	for _, name := range names {
		frag, kind, ok := decodeName(name)
		if !ok {
			continue
		}
		e := dirEntry{key: keyPrefix + frag, kind: kind, rel: path.Join(sub, name)}
		if kind == kindCont {
			if out, err = readEntries(dir, e.rel, e.key, out); err != nil {
				return out, err
			}
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// hasObject reports whether any object lies under the directory sub of
// dir.
func hasObject(dir *os.Root, sub string) (bool, error) {
	entries, err := readEntries(dir, sub, "", nil)
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		if e.kind == kindObject {
			return true, nil
		}
	}
	for _, e := range entries {
		if has, err := hasObject(dir, e.rel); has || err != nil {
			return has, err
		}
	}
	return false, nil
}

func (s *dirStore) ListObjects(ctx context.Context, bucket string, opts ListOptions) (*ListResult, error) {
	if _, err := s.readBucket(bucket); err != nil {
		return nil, fmt.Errorf("list objects: %w", err)
	}
	l := &lister{s: s, ctx: ctx, opts: opts, max: opts.MaxKeys}
	if l.max <= 0 {
		l.max = DefaultMaxKeys
	}
	// Start in the deepest directory the prefix names.
	dir := dirOf(opts.Prefix)
	rel := bucket + "/" + objectsDir
	if elems := dirElems(dir); len(elems) > 0 {
		rel += "/" + strings.Join(elems, "/")
	}
	if _, err := l.walk(rel, dir); err != nil {
		return nil, fmt.Errorf("list objects %s: %w", bucket, err)
	}
	return &l.res, nil
}

// lister walks a bucket's tree in key order and fills one page.
type lister struct {
	s      *dirStore
	ctx    context.Context
	opts   ListOptions
	max    int
	res    ListResult
	n      int
	last   string // last key or prefix in the page
	lastCP string
}

// walk visits the directory rel, whose keys begin with keyPrefix. It
// returns false once the page is full.
func (l *lister) walk(rel, keyPrefix string) (bool, error) {
	if err := l.ctx.Err(); err != nil {
		return false, err
	}
	// Open the directory once: entries are then one step away.
	dir, err := l.s.root.OpenRoot(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	defer dir.Close()
	entries, err := readEntries(dir, ".", keyPrefix, nil)
	if err != nil {
		return false, err
	}
	slices.SortFunc(entries, func(a, b dirEntry) int { return strings.Compare(a.key, b.key) })
	prefix, after := l.opts.Prefix, l.opts.StartAfter
	for _, e := range entries {
		k := e.key
		if e.kind == kindObject {
			if !strings.HasPrefix(k, prefix) || k <= after {
				continue
			}
			if cp, ok := l.commonPrefix(k); ok {
				if !l.addPrefix(cp) {
					return false, nil
				}
				continue
			}
			f, err := dir.Open(e.rel)
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted since the directory was read
			}
			if err != nil {
				return false, err
			}
			m, err := readTrailer(f)
			f.Close()
			if err != nil {
				return false, fmt.Errorf("read %s: %w", k, err)
			}
			info := ObjectInfo{Key: k, Size: m.Size, ETag: m.ETag, LastModified: m.Modified, ServerSideEncryption: m.SSE}
			if !l.add(k, func() { l.res.Objects = append(l.res.Objects, info) }) {
				return false, nil
			}
			continue
		}
		// A directory: every key beneath begins with k.
		if !strings.HasPrefix(k, prefix) && !strings.HasPrefix(prefix, k) {
			continue
		}
		if k < after && !strings.HasPrefix(after, k) {
			continue // every key beneath sorts before after
		}
		if cp, ok := l.commonPrefix(k); ok {
			if cp <= after || cp == l.lastCP {
				continue
			}
			if has, err := hasObject(dir, e.rel); err != nil {
				return false, err
			} else if has && !l.addPrefix(cp) {
				return false, nil
			}
			continue
		}
		if more, err := l.walk(rel+"/"+e.rel, k); err != nil || !more {
			return more, err
		}
	}
	return true, nil
}

// commonPrefix returns the common prefix that k, a key or a directory's
// key prefix beginning with the listing's prefix, rolls up into.
func (l *lister) commonPrefix(k string) (string, bool) {
	p, d := l.opts.Prefix, l.opts.Delimiter
	if d == "" || len(k) <= len(p) {
		return "", false
	}
	i := strings.Index(k[len(p):], d)
	if i < 0 {
		return "", false
	}
	return k[:len(p)+i+len(d)], true
}

func (l *lister) addPrefix(cp string) bool {
	if cp <= l.opts.StartAfter || cp == l.lastCP {
		return true
	}
	l.lastCP = cp
	return l.add(cp, func() { l.res.CommonPrefixes = append(l.res.CommonPrefixes, cp) })
}

// add puts one item in the page, or reports a full page (false) and marks
// it truncated.
func (l *lister) add(item string, put func()) bool {
	if l.n == l.max {
		l.res.Truncated = true
		l.res.NextStartAfter = l.last
		return false
	}
	put()
	l.n++
	l.last = item
	return true
}
