package journal

import (
	"bytes"
	"fmt"

	"github.com/klauspost/compress/zstd"
)

// Bodies are stored as plain JSON (first byte '{') or as a zstd frame (its
// magic number first), so either can be read whatever the writer chose.

var (
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
	zenc, _   = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	zdec, _   = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(64<<20))
)

// compressMin is the size below which compression is not worth its time.
const compressMin = 256

func encodeBody(b []byte) []byte {
	if len(b) < compressMin {
		return b
	}
	return zenc.EncodeAll(b, make([]byte, 0, len(b)/2))
}

func decodeBody(b []byte) ([]byte, error) {
	if !bytes.HasPrefix(b, zstdMagic) {
		return b, nil
	}
	out, err := zdec.DecodeAll(b, nil)
	if err != nil {
		return nil, fmt.Errorf("decompress body: %w", err)
	}
	return out, nil
}
