// Package sse adds SSE-KMS to a bucket store: objects put with server-side
// encryption aws:kms are stored encrypted, as S3 stores them, and read back
// in plaintext. It wraps the embedded directory store (blob.NewDir); an
// S3-compatible service encrypts by itself and needs no wrapper.
//
// Envelope encryption: each object gets a fresh 256-bit data key from the
// KMS key the put names (GenerateDataKey, with S3's encryption context
// {"aws:s3:arn": "arn:aws:s3:::bucket/key"}); the body is sealed with
// AES-256-GCM in chunks of ChunkSize bytes, so that objects of any size
// stream through in constant memory and a range is read by decrypting only
// the chunks it touches. The data key, encrypted under the KMS key, is kept
// in the object's metadata; the bytes at rest are ciphertext.
//
// Chunk i (from 0) of an object is sealed with the nonce i (8 bytes, big
// endian) followed by 4 bytes that are 1 for the last chunk and 0 for the
// others, so that chunks cannot be reordered, dropped or cut off at the
// end without decryption failing. Each chunk adds a 16-byte tag; an empty
// object is one empty sealed chunk. The plaintext size follows from the
// stored size, which is how listings report it.
//
// Objects put without aws:kms (or aws:kms:dsse, treated alike) pass
// through untouched.
package sse

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"strconv"
	"strings"

	"github.com/opentrail/opentrail/blob"
)

// ChunkSize is the plaintext size of a sealed chunk.
const ChunkSize = 64 << 10

const tagSize = 16

// Metadata names the store keeps with an encrypted object. They are not
// reported back as user metadata.
const (
	metaDataKey = "x-opentrail-sse-data-key" // base64 of the data key's KMS ciphertext blob
	metaFormat  = "x-opentrail-sse-format"   // "1 <chunk size>"
)

// DefaultKey is the key of an aws:kms put that names none: S3's AWS
// managed key.
const DefaultKey = "alias/aws/s3"

// Keys is what the store needs of a KMS (package kms's Service provides
// it).
type Keys interface {
	// KeyARN resolves a key ID, key ARN, alias name or alias ARN, names
	// being in account and region, to the key's ARN.
	KeyARN(ctx context.Context, keyRef, account, region string) (string, error)
	// GenerateDataKey returns a new 32-byte data key in plaintext and
	// encrypted under keyARN with the encryption context.
	GenerateDataKey(ctx context.Context, keyARN string, encCtx map[string]string) (plaintext, ciphertextBlob []byte, arn string, err error)
	// Decrypt decrypts a data key.
	Decrypt(ctx context.Context, blob []byte, encCtx map[string]string) (plaintext []byte, keyARN string, err error)
}

// Store is a blob.Store that encrypts aws:kms objects. It is safe for
// concurrent use.
type Store struct {
	blob.Store
	keys Keys
}

// New wraps inner. Errors of Keys (missing or disabled keys, ...) come back
// from PutObject and GetObject as Keys returned them.
func New(inner blob.Store, keys Keys) *Store { return &Store{Store: inner, keys: keys} }

func isKMS(sse string) bool { return sse == "aws:kms" || sse == "aws:kms:dsse" }

// encryptionContext is S3's context for an object's data key.
func encryptionContext(bucket, key string) map[string]string {
	return map[string]string{"aws:s3:arn": "arn:aws:s3:::" + bucket + "/" + key}
}

// PutObject stores r encrypted when opts asks for aws:kms, under
// opts.KMSKeyID (DefaultKey when empty), resolved in the bucket owner's
// account and the bucket's region; the object records the key's ARN as
// its KMSKeyID.
func (s *Store) PutObject(ctx context.Context, bucket, key string, r io.Reader, opts blob.PutOptions) (*blob.ObjectInfo, error) {
	if !isKMS(opts.ServerSideEncryption) {
		return s.Store.PutObject(ctx, bucket, key, r, opts)
	}
	b, err := s.Store.Bucket(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("put object: %w", err)
	}
	ref := opts.KMSKeyID
	if ref == "" {
		ref = DefaultKey
	}
	arn, err := s.keys.KeyARN(ctx, ref, b.Owner, b.Region)
	if err != nil {
		return nil, err
	}
	encCtx := encryptionContext(bucket, key)
	dk, wrapped, arn, err := s.keys.GenerateDataKey(ctx, arn, encCtx)
	if err != nil {
		return nil, err
	}
	aead, err := newAEAD(dk)
	clear(dk)
	if err != nil {
		return nil, err
	}
	o := opts
	o.KMSKeyID = arn
	o.Metadata = maps.Clone(opts.Metadata)
	if o.Metadata == nil {
		o.Metadata = map[string]string{}
	}
	o.Metadata[metaDataKey] = base64.StdEncoding.EncodeToString(wrapped)
	o.Metadata[metaFormat] = "1 " + strconv.Itoa(ChunkSize)
	info, err := s.Store.PutObject(ctx, bucket, key, newSealer(r, aead, ChunkSize), o)
	if err != nil {
		return nil, err
	}
	return plainInfo(info), nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// format returns an encrypted object's chunk size, or 0 for an object
// stored as it is.
func format(info *blob.ObjectInfo) int64 {
	if !isKMS(info.ServerSideEncryption) {
		return 0
	}
	v, ok := info.Metadata[metaFormat]
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimPrefix(v, "1 "), 10, 64)
	if err != nil || !strings.HasPrefix(v, "1 ") || n <= 0 {
		return -1
	}
	return n
}

// PlainSize is the plaintext size of an object stored in stored bytes in
// chunks of chunk bytes, or -1 if no plaintext has that size.
func PlainSize(stored, chunk int64) int64 {
	full := chunk + tagSize
	n, rem := stored/full, stored%full
	switch {
	case rem == 0 && n > 0:
		return n * chunk
	case rem > tagSize:
		return n*chunk + rem - tagSize
	case rem == tagSize && n == 0:
		return 0
	}
	return -1
}

// plainInfo turns the stored object's info into the plaintext's.
func plainInfo(info *blob.ObjectInfo) *blob.ObjectInfo {
	chunk := format(info)
	if chunk == 0 {
		return info
	}
	out := *info
	out.Size = max(PlainSize(info.Size, chunk), 0)
	out.Metadata = maps.Clone(info.Metadata)
	delete(out.Metadata, metaDataKey)
	delete(out.Metadata, metaFormat)
	if len(out.Metadata) == 0 {
		out.Metadata = nil
	}
	return &out
}

// HeadObject describes the plaintext of an encrypted object.
func (s *Store) HeadObject(ctx context.Context, bucket, key string) (*blob.ObjectInfo, error) {
	info, err := s.Store.HeadObject(ctx, bucket, key)
	if err != nil {
		return nil, err
	}
	return plainInfo(info), nil
}

// ListObjects reports the plaintext sizes of encrypted objects.
func (s *Store) ListObjects(ctx context.Context, bucket string, opts blob.ListOptions) (*blob.ListResult, error) {
	res, err := s.Store.ListObjects(ctx, bucket, opts)
	if err != nil {
		return nil, err
	}
	for i := range res.Objects {
		o := &res.Objects[i]
		if isKMS(o.ServerSideEncryption) {
			if n := PlainSize(o.Size, ChunkSize); n >= 0 {
				o.Size = n
			}
		}
	}
	return res, nil
}

// ErrCorrupt is returned (wrapped) when an encrypted object's stored
// bytes or attributes do not decrypt: they were altered or damaged.
var ErrCorrupt = errors.New("sse: encrypted object is corrupt")

// GetObject opens length bytes of the plaintext from offset; for an
// encrypted object it unwraps the data key first (Keys' errors: the KMS key
// is missing, disabled, ...) and decrypts only the chunks the range
// touches. Reading a chunk that fails authentication ends the reader with
// an error wrapping ErrCorrupt.
func (s *Store) GetObject(ctx context.Context, bucket, key string, offset, length int64) (io.ReadCloser, *blob.ObjectInfo, error) {
	rc, info, err := s.Store.GetObject(ctx, bucket, key, 0, -1)
	if err != nil {
		return nil, nil, err
	}
	chunk := format(info)
	if chunk == 0 {
		if offset == 0 && length == -1 {
			return rc, info, nil
		}
		n, err := clampRange(info.Size, offset, length)
		if err != nil {
			rc.Close()
			return nil, nil, fmt.Errorf("get object %s/%s: %w", bucket, key, err)
		}
		return s.section(ctx, rc, info, bucket, key, offset, n)
	}
	if chunk < 0 {
		rc.Close()
		return nil, nil, fmt.Errorf("get object %s/%s: unknown format %q: %w", bucket, key, info.Metadata[metaFormat], ErrCorrupt)
	}
	plain := plainInfo(info)
	size := PlainSize(info.Size, chunk)
	if size < 0 {
		rc.Close()
		return nil, nil, fmt.Errorf("get object %s/%s: %d stored bytes: %w", bucket, key, info.Size, ErrCorrupt)
	}
	n, err := clampRange(size, offset, length)
	if err != nil {
		rc.Close()
		return nil, nil, fmt.Errorf("get object %s/%s: %w", bucket, key, err)
	}
	wrapped, err := base64.StdEncoding.DecodeString(info.Metadata[metaDataKey])
	if err != nil {
		rc.Close()
		return nil, nil, fmt.Errorf("get object %s/%s: data key: %w", bucket, key, ErrCorrupt)
	}
	dk, _, err := s.keys.Decrypt(ctx, wrapped, encryptionContext(bucket, key))
	if err != nil {
		rc.Close()
		return nil, nil, err
	}
	aead, err := newAEAD(dk)
	clear(dk)
	if err != nil {
		rc.Close()
		return nil, nil, err
	}
	first := offset / chunk
	chunks := max((size+chunk-1)/chunk, 1)
	src, _, err := s.section(ctx, rc, info, bucket, key, first*(chunk+tagSize), info.Size-first*(chunk+tagSize))
	if err != nil {
		return nil, nil, err
	}
	o := &opener{src: src, aead: aead, chunk: chunk, index: first, chunks: chunks,
		skip: offset - first*chunk, left: n, name: bucket + "/" + key}
	return o, plain, nil
}

// section returns n bytes of the object from stored offset at, seeking rc
// when it can, or opening the range again (checking it is the same
// object).
func (s *Store) section(ctx context.Context, rc io.ReadCloser, info *blob.ObjectInfo, bucket, key string, at, n int64) (io.ReadCloser, *blob.ObjectInfo, error) {
	if sk, ok := rc.(io.Seeker); ok {
		if _, err := sk.Seek(at, io.SeekStart); err != nil {
			rc.Close()
			return nil, nil, err
		}
		return readCloser{io.LimitReader(rc, n), rc}, info, nil
	}
	rc.Close()
	r2, info2, err := s.Store.GetObject(ctx, bucket, key, at, n)
	if err != nil {
		return nil, nil, err
	}
	if info2.ETag != info.ETag {
		r2.Close()
		return nil, nil, fmt.Errorf("get object %s/%s: replaced while opened", bucket, key)
	}
	return r2, info, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// clampRange is blob's rule for ranges: offset within the object (0 for
// an empty one), length -1 for the rest.
func clampRange(size, offset, length int64) (int64, error) {
	if offset < 0 || offset > size || offset == size && size > 0 || length < -1 {
		return 0, fmt.Errorf("offset %d, length %d of a %d-byte object: %w", offset, length, size, blob.ErrInvalidRange)
	}
	if length == -1 || length > size-offset {
		length = size - offset
	}
	return length, nil
}

// nonce is chunk i's nonce.
func nonce(dst []byte, i int64, last bool) []byte {
	binary.BigEndian.PutUint64(dst[:8], uint64(i))
	binary.BigEndian.PutUint32(dst[8:12], 0)
	if last {
		dst[11] = 1
	}
	return dst[:12]
}

// sealer encrypts a plaintext stream chunk by chunk.
type sealer struct {
	r     io.Reader
	aead  cipher.AEAD
	chunk int
	index int64
	buf   []byte // plaintext of the next chunk, then room for its tag
	carry []byte // one byte read ahead to tell the last chunk
	out   []byte // sealed bytes not yet returned
	nonce [12]byte
	done  bool
	err   error
}

func newSealer(r io.Reader, a cipher.AEAD, chunk int) *sealer {
	return &sealer{r: r, aead: a, chunk: chunk, buf: make([]byte, 0, chunk+tagSize), carry: make([]byte, 0, 1)}
}

func (s *sealer) Read(p []byte) (int, error) {
	for len(s.out) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		if s.done {
			return 0, io.EOF
		}
		if err := s.next(); err != nil {
			s.err = err
			return 0, err
		}
	}
	n := copy(p, s.out)
	s.out = s.out[n:]
	return n, nil
}

// next reads and seals one chunk.
func (s *sealer) next() error {
	buf := append(s.buf[:0], s.carry...)
	s.carry = s.carry[:0]
	n, err := io.ReadFull(s.r, buf[len(buf):s.chunk])
	buf = buf[:len(buf)+n]
	last := false
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		last = true
	case err != nil:
		return err
	default:
		// A full chunk: it is the last if nothing follows.
		var one [1]byte
		for {
			m, err := s.r.Read(one[:])
			if m == 1 {
				s.carry = append(s.carry, one[0])
				break
			}
			if err == io.EOF {
				last = true
				break
			}
			if err != nil {
				return err
			}
		}
	}
	s.out = s.aead.Seal(buf[:0], nonce(s.nonce[:], s.index, last), buf, nil)
	s.index++
	s.done = last
	return nil
}

// opener decrypts the chunks of a range.
type opener struct {
	src    io.ReadCloser
	aead   cipher.AEAD
	chunk  int64
	index  int64 // next chunk to read
	chunks int64 // chunks in the object
	skip   int64 // plaintext bytes to drop from the next chunk
	left   int64 // plaintext bytes still to return
	name   string

	buf   []byte
	out   []byte
	nonce [12]byte
	err   error
}

func (o *opener) Read(p []byte) (int, error) {
	for len(o.out) == 0 {
		if o.left == 0 {
			return 0, io.EOF
		}
		if o.err != nil {
			return 0, o.err
		}
		if err := o.next(); err != nil {
			o.err = err
			return 0, err
		}
	}
	n := copy(p, o.out)
	o.out = o.out[n:]
	return n, nil
}

func (o *opener) next() error {
	if o.index >= o.chunks {
		return fmt.Errorf("object %s ends early: %w", o.name, ErrCorrupt)
	}
	if o.buf == nil {
		o.buf = make([]byte, o.chunk+tagSize)
	}
	n, err := io.ReadFull(o.src, o.buf)
	last := o.index == o.chunks-1
	switch {
	case err == io.ErrUnexpectedEOF && last:
	case err != nil && err != io.EOF:
		return fmt.Errorf("read object %s: %w", o.name, err)
	case err == io.EOF:
		return fmt.Errorf("object %s ends early: %w", o.name, ErrCorrupt)
	}
	plain, err := o.aead.Open(o.buf[:0], nonce(o.nonce[:], o.index, last), o.buf[:n], nil)
	if err != nil {
		return fmt.Errorf("chunk %d of object %s does not decrypt: %w", o.index, o.name, ErrCorrupt)
	}
	o.index++
	if o.skip > 0 {
		plain = plain[min(o.skip, int64(len(plain))):]
		o.skip = 0
	}
	if int64(len(plain)) > o.left {
		plain = plain[:o.left]
	}
	o.left -= int64(len(plain))
	o.out = plain
	return nil
}

func (o *opener) Close() error { return o.src.Close() }
