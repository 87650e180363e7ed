package kms

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"slices"

	"github.com/google/uuid"
)

// A ciphertext blob, as Encrypt and GenerateDataKey return it and Decrypt
// takes it:
//
//	version   1 byte, blobVersion
//	key ID    16 bytes, the key's UUID
//	nonce     12 bytes, random
//	sealed    AES-256-GCM of the plaintext under the key's material, with
//	          its 16-byte tag
//
// The additional authenticated data is the first 17 bytes followed by the
// encryption context in canonical form (see contextAAD), so the key ID
// cannot be swapped and the context must be given again, exactly, to
// decrypt.
const (
	blobVersion  = 1
	blobHeader   = 1 + 16
	blobNonce    = 12
	blobTag      = 16
	blobOverhead = blobHeader + blobNonce + blobTag
	// maxBlob is the longest ciphertext KMS's model accepts.
	maxBlob = 6144
)

var errBlob = errors.New("not a ciphertext blob of this service")

// parseBlob splits a ciphertext blob. It checks the layout only; the
// key's cipher checks the rest.
func parseBlob(b []byte) (keyID string, header, nonce, sealed []byte, err error) {
	if len(b) < blobOverhead || len(b) > maxBlob || b[0] != blobVersion {
		return "", nil, nil, nil, errBlob
	}
	id, err := uuid.FromBytes(b[1:blobHeader])
	if err != nil {
		return "", nil, nil, nil, errBlob
	}
	return id.String(), b[:blobHeader], b[blobHeader : blobHeader+blobNonce], b[blobHeader+blobNonce:], nil
}

// sealBlob encrypts plain for the key with ID keyID.
func sealBlob(a cipher.AEAD, keyID string, plain []byte, encCtx map[string]string) ([]byte, error) {
	id, err := uuid.Parse(keyID)
	if err != nil {
		return nil, err
	}
	b := make([]byte, blobHeader+blobNonce, blobOverhead+len(plain))
	b[0] = blobVersion
	copy(b[1:], id[:])
	if _, err := rand.Read(b[blobHeader:]); err != nil {
		return nil, err
	}
	return a.Seal(b, b[blobHeader:], plain, contextAAD(b[:blobHeader], encCtx)), nil
}

// openBlob decrypts the parts of a blob.
func openBlob(a cipher.AEAD, header, nonce, sealed []byte, encCtx map[string]string) ([]byte, error) {
	return a.Open(nil, nonce, sealed, contextAAD(header, encCtx))
}

// contextAAD is header followed by the encryption context: the pairs
// sorted by key, each key and value prefixed with its length (4 bytes big
// endian), so that no two contexts give the same bytes.
func contextAAD(header []byte, encCtx map[string]string) []byte {
	keys := make([]string, 0, len(encCtx))
	n := len(header)
	for k, v := range encCtx {
		keys = append(keys, k)
		n += 8 + len(k) + len(v)
	}
	slices.Sort(keys)
	out := make([]byte, 0, n)
	out = append(out, header...)
	for _, k := range keys {
		out = binary.BigEndian.AppendUint32(out, uint32(len(k)))
		out = append(out, k...)
		v := encCtx[k]
		out = binary.BigEndian.AppendUint32(out, uint32(len(v)))
		out = append(out, v...)
	}
	return out
}
