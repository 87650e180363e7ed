package integrity

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"
)

// oneObject is a Bucket holding a single log file.
type oneObject []byte

func (o oneObject) List(context.Context, string, string, string, func(string) bool) error { return nil }
func (o oneObject) Open(context.Context, string, string) (io.ReadCloser, map[string]string, error) {
	return io.NopCloser(bytes.NewReader(o)), nil, nil
}

// checkBoth runs checkLog on body with the whole-buffer path and with the
// streaming path only, and fails unless both classify it the same.
func checkBoth(t *testing.T, body []byte, hash string) Result {
	t.Helper()
	f := logEntry{bucket: "b", key: "k", hash: hash}
	streamOnly = true
	want, werr := checkLog(context.Background(), oneObject(body), f)
	streamOnly = false
	got, gerr := checkLog(context.Background(), oneObject(body), f)
	if (werr == nil) != (gerr == nil) || got != want {
		t.Fatalf("whole-buffer path %+v (%v), streaming path %+v (%v)", got, gerr, want, werr)
	}
	return got
}

func gz(t testing.TB, data []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	zw.Close()
	return b.Bytes()
}

func hashOf(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestCheckLogPathsAgree(t *testing.T) {
	if !fastGunzipAvailable() {
		t.Log("libdeflate is not installed: only the streaming path is in use")
	}
	raw := bytes.Repeat([]byte(`{"Records":[{"eventVersion":"1.08","eventName":"GetObject"}]}`), 2000)
	good := gz(t, raw)
	corruptCRC := bytes.Clone(good)
	corruptCRC[len(corruptCRC)-6] ^= 0xff
	corruptData := bytes.Clone(good)
	corruptData[len(corruptData)/2] ^= 0x55
	wrongSize := bytes.Clone(good)
	wrongSize[len(wrongSize)-1] ^= 0x01
	for _, c := range []struct {
		name, problem string
		body          []byte
		hash          string
	}{
		{"valid", "", good, hashOf(raw)},
		{"hash mismatch", problemHash, good, hashOf([]byte("other"))},
		{"trailing bytes", problemTrailing, append(bytes.Clone(good), "junk!"...), hashOf(raw)},
		{"second member", problemTrailing, append(bytes.Clone(good), gz(t, []byte("more"))...), hashOf(raw)},
		{"trailing bytes, wrong hash", problemHash, append(bytes.Clone(good), 1, 2, 3, 4), hashOf(nil)},
		{"truncated", problemHash, good[:len(good)/2], hashOf(raw)},
		{"bad crc", problemFormat, corruptCRC, hashOf(raw)},
		{"bad size", problemFormat, wrongSize, hashOf(raw)},
		{"not gzip", problemFormat, []byte("plain text, not a gzip file at all"), hashOf(raw)},
		{"empty file", problemHash, nil, hashOf(raw)},
		{"empty member", "", gz(t, nil), hashOf(nil)},
		{"corrupt deflate data", "?", corruptData, hashOf(raw)},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := checkBoth(t, c.body, c.hash)
			if c.problem == "?" {
				return
			}
			if r.Problem != c.problem {
				t.Fatalf("problem %q, want %q", r.Problem, c.problem)
			}
			if r.Bytes != int64(len(c.body)) && c.problem != problemFormat {
				t.Fatalf("Bytes %d, want %d", r.Bytes, len(c.body))
			}
		})
	}
	if fastGunzipAvailable() {
		out := make([]byte, len(raw))
		if n, used, ok := fastGunzip(good, out); !ok || n != len(raw) || used != len(good) || !bytes.Equal(out, raw) {
			t.Fatalf("libdeflate: n=%d used=%d ok=%v", n, used, ok)
		}
	}
}

// FuzzCheckLogPaths: on any bytes, the whole-buffer and streaming paths
// agree, with the hash of the valid member and with another.
func FuzzCheckLogPaths(f *testing.F) {
	raw := []byte(`{"Records":[{"eventName":"PutObject"}]}`)
	good := gz(f, raw)
	f.Add(good)
	f.Add(append(bytes.Clone(good), 0, 0, 0, 0))
	f.Add(append(bytes.Clone(good), good...))
	f.Add(good[:20])
	f.Fuzz(func(t *testing.T, body []byte) {
		checkBoth(t, body, hashOf(raw))
		if zr, err := gzip.NewReader(bytes.NewReader(body)); err == nil {
			zr.Multistream(false)
			if b, err := io.ReadAll(zr); err == nil {
				checkBoth(t, body, hashOf(b))
			}
		}
	})
}
