package lakeresults_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opentrail/opentrail/lakeresults"
)

func FuzzParseSignFile(f *testing.F) {
	h := strings.Repeat("ab", 32)
	f.Add([]byte(`{"version":"1.0","region":"us-east-1","files":[{"fileHashValue":"` + h + `","fileName":"result_1.csv.gz"}],"hashAlgorithm":"SHA-256","signatureAlgorithm":"SHA256withRSA","queryCompleteTime":"2022-05-10T22:06:30Z","hashSignature":"0a0b","publicKeyFingerprint":"0123"}`))
	f.Add([]byte(`{"files":[{"fileName":"../../x"}]}`))
	f.Add([]byte(`{"files":null,"hashSignature":"zz"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte("\x00\xff{"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sf, err := lakeresults.ParseSignFile(b)
		if err != nil {
			return
		}
		if len(sf.Files) == 0 || sf.HashAlgorithm != "SHA-256" || sf.SignatureAlgorithm != "SHA256withRSA" {
			t.Fatalf("accepted %+v", sf)
		}
		names := map[string]bool{}
		for _, fl := range sf.Files {
			if strings.ContainsAny(fl.Name, "/\\") || fl.Name == "." || fl.Name == ".." || names[fl.Name] || len(fl.Hash) != 64 {
				t.Fatalf("accepted file %+v", fl)
			}
			names[fl.Name] = true
		}
		// Verifying with a real key must fail cleanly, not panic.
		if err := sf.Verify(signer().PublicKey().Value); err == nil && sf.SigningString() == "" {
			t.Fatal("an empty signing string verified")
		}
		sf.Verify([]byte("not a key"))
	})
}

// FuzzWriteDownload: whatever CSV-like bytes the lake writes, saving and
// downloading them gives them back (with a final newline), or fails for
// an unterminated quoted field.
func FuzzWriteDownload(f *testing.F) {
	_, sample := sampleCSV(20)
	f.Add(sample, uint16(100))
	f.Add([]byte("a,b\n1,2\n3,4"), uint16(1))
	f.Add([]byte("\"a\nb\",c\n\"x\"\"\n\",y\n"), uint16(3))
	f.Add([]byte("\"open\n1\n2\n"), uint16(2))
	f.Add([]byte("\n\n\n"), uint16(0))
	f.Add([]byte(""), uint16(5))
	f.Fuzz(func(t *testing.T, data []byte, max uint16) {
		b := newBucket()
		save(t, b, data, int64(max), uint64(len(data)))
		var out bytes.Buffer
		err := lakeresults.Download(context.Background(), b.get, keyOf(signer()), bkt, dir, &out)
		if bytes.Count(data, []byte{'"'})%2 == 1 {
			if !errors.Is(err, lakeresults.ErrMalformed) {
				t.Fatalf("unterminated quote: %v", err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		want := data
		if len(data) > 0 && data[len(data)-1] != '\n' {
			want = append(bytes.Clone(data), '\n')
		}
		if !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("downloaded %q, want %q", out.Bytes(), want)
		}
	})
}

// FuzzDownloadHostile: result files of any content (not gzip, bad gzip,
// other headers, binary), correctly listed and signed, never crash
// Download; what it writes always starts with a header row.
func FuzzDownloadHostile(f *testing.F) {
	f.Add([]byte("a,b\n1,2\n"), []byte("a,b\n3,4\n"), true, true)
	f.Add([]byte("a,b\n1,2"), []byte("x\n"), true, true)
	f.Add([]byte("\x1f\x8b\x08\x00garbage"), []byte(""), false, true)
	f.Add([]byte("\"a\n"), []byte("\"\n"), true, false)
	f.Add([]byte(""), []byte("h\nr\n"), true, true)
	f.Fuzz(func(t *testing.T, a, b []byte, gzA, gzB bool) {
		bk := newBucket()
		var files []lakeresults.File
		for i, c := range []struct {
			body []byte
			gz   bool
		}{{a, gzA}, {b, gzB}} {
			body := c.body
			if c.gz {
				var zb bytes.Buffer
				zw := gzip.NewWriter(&zb)
				zw.Write(body)
				zw.Close()
				body = zb.Bytes()
			}
			name := lakeresults.FileName(i + 1)
			bk.put(context.Background(), bkt, dir+name, body, "")
			sum := sha256.Sum256(body)
			files = append(files, lakeresults.File{Hash: hex.EncodeToString(sum[:]), Name: name})
		}
		sf, err := lakeresults.NewSignFile("us-east-1", files, time.Now(), signer())
		if err != nil {
			t.Fatal(err)
		}
		bk.put(context.Background(), bkt, dir+lakeresults.SignFileName, sf.Marshal(), "")
		var out bytes.Buffer
		err = lakeresults.Download(context.Background(), bk.get, keyOf(signer()), bkt, dir, &out)
		if err != nil && !errors.Is(err, lakeresults.ErrMalformed) {
			t.Fatalf("error that is not ErrMalformed: %v", err)
		}
		if err == nil && out.Len() > 0 && !bytes.Contains(out.Bytes(), []byte{'\n'}) {
			t.Fatalf("output %q has no complete header row", out.Bytes())
		}
		if out.Len() > len(a)+len(b)+2 {
			t.Fatalf("wrote %d bytes from %d of input", out.Len(), len(a)+len(b))
		}
	})
}
