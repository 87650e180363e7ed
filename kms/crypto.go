package kms

import (
	"context"
	"crypto/rand"
)

// sealWith encrypts plain under k.
func (s *Service) sealWith(k *keyRow, plain []byte, encCtx map[string]string) ([]byte, error) {
	a, err := s.keyAEAD(k)
	if err != nil {
		return nil, err
	}
	return sealBlob(a, k.id, plain, encCtx)
}

// dataKey makes n random bytes and their ciphertext under k.
func (s *Service) dataKey(k *keyRow, n int, encCtx map[string]string) (plain, blob []byte, err error) {
	plain = make([]byte, n)
	if _, err := rand.Read(plain); err != nil {
		return nil, nil, err
	}
	blob, err = s.sealWith(k, plain, encCtx)
	if err != nil {
		return nil, nil, err
	}
	return plain, blob, nil
}

// GenerateDataKey returns a new 256-bit data key, in plaintext and
// encrypted under the key keyRef names (a key ID, key ARN or alias ARN)
// with the encryption context encCtx, and the key's ARN. It is the
// internal call of opentrail's own services (SSE-KMS): it asks no
// authorization and records nothing. It fails with errors wrapping
// ErrNotFound, ErrDisabled or ErrPendingDeletion when the key is missing
// or not usable. The caller clears plaintext after use.
func (s *Service) GenerateDataKey(ctx context.Context, keyRef string, encCtx map[string]string) (plaintext, ciphertextBlob []byte, keyARN string, err error) {
	k, err := s.keyByRef(ctx, keyRef)
	if err != nil {
		return nil, nil, "", err
	}
	if err := usable(k); err != nil {
		return nil, nil, k.arn, err
	}
	plaintext, ciphertextBlob, err = s.dataKey(k, 32, encCtx)
	return plaintext, ciphertextBlob, k.arn, err
}

// Decrypt decrypts a ciphertext blob of Encrypt or GenerateDataKey with
// the encryption context it was made with, and returns the plaintext and
// the ARN of the key. Like GenerateDataKey it is an internal call. It fails
// with errors wrapping ErrInvalidCiphertext (not a blob of this service,
// altered, or another context), ErrNotFound (the key was deleted),
// ErrDisabled or ErrPendingDeletion.
func (s *Service) Decrypt(ctx context.Context, blob []byte, encCtx map[string]string) (plaintext []byte, keyARN string, err error) {
	id, header, nonce, sealed, err := parseBlob(blob)
	if err != nil {
		return nil, "", errInvalidCiphertext()
	}
	k, err := s.keyByRef(ctx, id)
	if err != nil {
		return nil, "", err
	}
	if err := usable(k); err != nil {
		return nil, k.arn, err
	}
	a, err := s.keyAEAD(k)
	if err != nil {
		return nil, k.arn, err
	}
	plaintext, err = openBlob(a, header, nonce, sealed, encCtx)
	if err != nil {
		return nil, k.arn, errInvalidCiphertext()
	}
	return plaintext, k.arn, nil
}
