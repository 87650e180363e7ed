package lakeresults_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opentrail/opentrail/integrity"
	"github.com/opentrail/opentrail/lakeresults"
)

// bucket is an in-memory bucket store.
type bucket struct {
	mu      sync.Mutex
	objects map[string][]byte // "bucket/key"
	limit   int64             // a lower bound on fetched files, when set
}

func newBucket() *bucket { return &bucket{objects: map[string][]byte{}} }

func (b *bucket) put(_ context.Context, bucket, key string, body []byte, _ string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.objects[bucket+"/"+key] = bytes.Clone(body)
	return nil
}

func (b *bucket) get(_ context.Context, bucket, key string) (io.ReadCloser, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.objects[bucket+"/"+key]
	if !ok {
		return nil, fmt.Errorf("NoSuchKey: %s", key)
	}
	return io.NopCloser(bytes.NewReader(o)), nil
}

var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func signer() *integrity.Signer { return integrity.NewSigner(testKey()) }

// keyOf serves the test key for region us-east-1.
func keyOf(s *integrity.Signer) lakeresults.PublicKey {
	return func(_ context.Context, region, fp string) ([]byte, error) {
		if region != "us-east-1" || fp != s.Fingerprint {
			return nil, fmt.Errorf("no key %s in %s", fp, region)
		}
		return s.PublicKey().Value, nil
	}
}

const (
	bkt = "results"
	dir = "p/AWSLogs/123456789012/CloudTrail-Lake/Query/2026/01/02/q1/"
)

// save runs the Writer over csvBytes (written in chunks of random sizes)
// and signs the files.
func save(tb testing.TB, b *bucket, csvBytes []byte, max int64, seed uint64) []lakeresults.File {
	tb.Helper()
	w := lakeresults.NewWriter(context.Background(), b.put, bkt, dir, max)
	r := mrand.New(mrand.NewPCG(seed, 1))
	for p := csvBytes; len(p) > 0; {
		n := min(len(p), 1+r.IntN(300))
		if k, err := w.Write(p[:n]); err != nil || k != n {
			tb.Fatalf("Write: %d, %v", k, err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	files := w.Files()
	sf, err := lakeresults.NewSignFile("us-east-1", files, testNow, signer())
	if err != nil {
		tb.Fatal(err)
	}
	b.put(context.Background(), bkt, dir+lakeresults.SignFileName, sf.Marshal(), "")
	return files
}

// sampleCSV is CSV of rows with awkward values, as encoding/csv writes it.
func sampleCSV(rows int) ([][]string, []byte) {
	recs := [][]string{{"eventName", "user", "n"}}
	for i := range rows {
		recs = append(recs, []string{fmt.Sprintf("Event%d", i%7), fmt.Sprintf("a \"quoted\", multi\nline\r\nvalue %d é", i), ""})
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	cw.WriteAll(recs)
	return recs, buf.Bytes()
}

func gunzip(tb testing.TB, b []byte) []byte {
	tb.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		tb.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestWriteAndDownload(t *testing.T) {
	_, in := sampleCSV(500)
	// Compare records as encoding/csv reads them (it reads "\r\n" in a
	// quoted field as "\n").
	want, err := csv.NewReader(bytes.NewReader(in)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	const max = 4000
	b := newBucket()
	files := save(t, b, in, max, 1)
	if len(files) < 5 {
		t.Fatalf("%d files for %d bytes with a bound of %d", len(files), len(in), max)
	}

	// Each file: its listed hash, the header first, whole records, within
	// the bound plus one record.
	var rows [][]string
	for i, f := range files {
		if f.Name != fmt.Sprintf("result_%d.csv.gz", i+1) {
			t.Errorf("file %d is named %s", i+1, f.Name)
		}
		gz := b.objects[bkt+"/"+dir+f.Name]
		sum := sha256.Sum256(gz)
		if hex.EncodeToString(sum[:]) != f.Hash {
			t.Errorf("%s: listed hash differs", f.Name)
		}
		body := gunzip(t, gz)
		if len(body) > max+200 {
			t.Errorf("%s holds %d CSV bytes, bound %d", f.Name, len(body), max)
		}
		recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		if !equalRecs(recs[:1], want[:1]) || len(recs) < 2 {
			t.Fatalf("%s starts %q", f.Name, recs[0])
		}
		rows = append(rows, recs[1:]...)
	}
	if !equalRecs(rows, want[1:]) {
		t.Error("the files' rows are not the input's")
	}

	// The sign file, checked by hand.
	var sf struct {
		Files                                                []struct{ FileHashValue, FileName string }
		HashSignature, PublicKeyFingerprint, Region, Version string
		HashAlgorithm, SignatureAlgorithm, QueryCompleteTime string
	}
	if err := json.Unmarshal(b.objects[bkt+"/"+dir+"result_sign.json"], &sf); err != nil {
		t.Fatal(err)
	}
	var hashes []string
	for _, f := range sf.Files {
		hashes = append(hashes, f.FileHashValue)
	}
	sig, _ := hex.DecodeString(sf.HashSignature)
	digest := sha256.Sum256([]byte(strings.Join(hashes, " ")))
	if err := rsa.VerifyPKCS1v15(&testKey().PublicKey, crypto.SHA256, digest[:], sig); err != nil {
		t.Errorf("signature: %v", err)
	}
	if len(sf.Files) != len(files) || sf.Region != "us-east-1" || sf.Version != "1.0" || sf.HashAlgorithm != "SHA-256" ||
		sf.SignatureAlgorithm != "SHA256withRSA" || sf.QueryCompleteTime != "2026-01-02T03:04:05Z" || sf.PublicKeyFingerprint != signer().Fingerprint {
		t.Errorf("sign file %+v", sf)
	}

	// Download gives the input back, byte for byte, through memory or
	// temporary files.
	for _, mem := range []int64{1 << 30, 100} {
		restore := lakeresults.SetSpoolMemory(mem)
		var out bytes.Buffer
		err := lakeresults.Download(context.Background(), b.get, keyOf(signer()), bkt, dir, &out)
		restore()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), in) {
			t.Errorf("spool %d: download differs from the input (%d bytes, want %d)", mem, out.Len(), len(in))
		}
	}
}

func equalRecs(a, b [][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if strings.Join(a[i], "\x00") != strings.Join(b[i], "\x00") || len(a[i]) != len(b[i]) {
			return false
		}
	}
	return true
}

func TestSmallResults(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"header only", "a,b\n", "a,b\n"},
		{"one row", "a,b\n1,2\n", "a,b\n1,2\n"},
		{"nothing", "", ""},
	} {
		b := newBucket()
		files := save(t, b, []byte(c.in), 1, 1)
		if len(files) != max(1, strings.Count(c.in, "\n")-1) {
			t.Errorf("%s: %d files", c.name, len(files))
		}
		var out bytes.Buffer
		if err := lakeresults.Download(context.Background(), b.get, keyOf(signer()), bkt, dir, &out); err != nil || out.String() != c.want {
			t.Errorf("%s: Download = %q, %v; want %q", c.name, out.String(), err, c.want)
		}
	}
}

func TestDownloadRefuses(t *testing.T) {
	_, in := sampleCSV(200)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []struct {
		name    string
		change  func(b *bucket, files []lakeresults.File)
		key     lakeresults.PublicKey
		is      error
		message string
		written int // files written whole before the failure
	}{
		{name: "file changed", change: func(b *bucket, files []lakeresults.File) {
			k := bkt + "/" + dir + "result_2.csv.gz"
			b.objects[k] = append(b.objects[k], 0)
		}, is: lakeresults.ErrFileHash, message: "results were changed: result_2.csv.gz SHA-256 does not match result_sign.json", written: 1},
		{name: "file far too large", change: func(b *bucket, files []lakeresults.File) {
			k := bkt + "/" + dir + "result_2.csv.gz"
			// The bound sits just above the real files; this one grows past it.
			most := 0
			for _, f := range files {
				most = max(most, len(b.objects[bkt+"/"+dir+f.Name]))
			}
			b.limit = int64(most + 10)
			b.objects[k] = append(b.objects[k], make([]byte, most)...)
		}, is: lakeresults.ErrFileHash, message: "result_2.csv.gz is larger than", written: 1},
		{name: "file missing", change: func(b *bucket, files []lakeresults.File) {
			delete(b.objects, bkt+"/"+dir+"result_3.csv.gz")
		}, is: lakeresults.ErrMissingFile, message: "missing file: result_3.csv.gz is listed in result_sign.json", written: 2},
		{name: "sign file missing", change: func(b *bucket, files []lakeresults.File) {
			delete(b.objects, bkt+"/"+dir+"result_sign.json")
		}, is: lakeresults.ErrMissingSignFile, message: "missing sign file"},
		{name: "files reordered", change: func(b *bucket, files []lakeresults.File) {
			var sf lakeresults.SignFile
			json.Unmarshal(b.objects[bkt+"/"+dir+"result_sign.json"], &sf)
			sf.Files[0], sf.Files[1] = sf.Files[1], sf.Files[0]
			b.objects[bkt+"/"+dir+"result_sign.json"] = sf.Marshal()
		}, is: lakeresults.ErrSignature, message: "signature mismatch"},
		{name: "file dropped from the list", change: func(b *bucket, files []lakeresults.File) {
			var sf lakeresults.SignFile
			json.Unmarshal(b.objects[bkt+"/"+dir+"result_sign.json"], &sf)
			sf.Files = sf.Files[:len(sf.Files)-1]
			b.objects[bkt+"/"+dir+"result_sign.json"] = sf.Marshal()
		}, is: lakeresults.ErrSignature, message: "signature mismatch"},
		{name: "another key", key: func(context.Context, string, string) ([]byte, error) {
			return x509.MarshalPKCS1PublicKey(&other.PublicKey), nil
		}, is: lakeresults.ErrSignature, message: "does not verify"},
		{name: "no key", key: func(context.Context, string, string) ([]byte, error) {
			return nil, errors.New("no such key")
		}, message: "public key"},
		{name: "re-signed file with another header", change: func(b *bucket, files []lakeresults.File) {
			var zb bytes.Buffer
			zw := gzip.NewWriter(&zb)
			zw.Write([]byte("x,y,z\n1,2,3\n"))
			zw.Close()
			b.objects[bkt+"/"+dir+"result_2.csv.gz"] = zb.Bytes()
			sum := sha256.Sum256(zb.Bytes())
			files[1].Hash = hex.EncodeToString(sum[:])
			sf, _ := lakeresults.NewSignFile("us-east-1", files, time.Now(), signer())
			b.objects[bkt+"/"+dir+"result_sign.json"] = sf.Marshal()
		}, is: lakeresults.ErrMalformed, message: "result_2.csv.gz has another header row", written: 1},
	} {
		b := newBucket()
		files := save(t, b, in, 3000, 2)
		if len(files) < 3 {
			t.Fatalf("%d files", len(files))
		}
		// What the first files hold, joined.
		var prefix []byte
		for i := range c.written {
			body := gunzip(t, b.objects[bkt+"/"+dir+files[i].Name])
			if i > 0 {
				body = body[bytes.IndexByte(body, '\n')+1:]
			}
			prefix = append(prefix, body...)
		}
		if c.change != nil {
			c.change(b, files)
		}
		key := c.key
		if key == nil {
			key = keyOf(signer())
		}
		restore := func() {}
		if b.limit > 0 {
			restore = lakeresults.SetMaxResultObject(b.limit)
		}
		var out bytes.Buffer
		err := lakeresults.Download(ctx, b.get, key, bkt, dir, &out)
		restore()
		if err == nil || (c.is != nil && !errors.Is(err, c.is)) || !strings.Contains(err.Error(), c.message) {
			t.Errorf("%s: %v, want %v containing %q", c.name, err, c.is, c.message)
		}
		if !bytes.Equal(out.Bytes(), prefix) {
			t.Errorf("%s: wrote %d bytes, want the %d of the %d verified files", c.name, out.Len(), len(prefix), c.written)
		}
	}
}

func TestLocation(t *testing.T) {
	created := time.Date(2026, 3, 4, 23, 59, 0, 0, time.FixedZone("x", -3600))
	for _, c := range []struct{ uri, bucket, dir string }{
		{"s3://my-bucket", "my-bucket", "AWSLogs/123456789012/CloudTrail-Lake/Query/2026/03/05/q1/"},
		{"s3://my-bucket/", "my-bucket", "AWSLogs/123456789012/CloudTrail-Lake/Query/2026/03/05/q1/"},
		{"s3://my.bucket/a/b/", "my.bucket", "a/b/AWSLogs/123456789012/CloudTrail-Lake/Query/2026/03/05/q1/"},
	} {
		bucket, d, err := lakeresults.Location(c.uri, "123456789012", "q1", created)
		if err != nil || bucket != c.bucket || d != c.dir {
			t.Errorf("Location(%q) = %q, %q, %v", c.uri, bucket, d, err)
		}
	}
	for _, uri := range []string{"", "s3:/x", "https://bucket/x", "s3://UPPER", "s3://a"} {
		if _, _, err := lakeresults.Location(uri, "123456789012", "q1", created); err == nil {
			t.Errorf("Location(%q) accepted", uri)
		}
	}
	if _, _, err := lakeresults.Location("s3://bucket", "123456789012", "a/b", created); err == nil {
		t.Error("a query ID with a slash accepted")
	}
}

func TestParseSignFile(t *testing.T) {
	good := `{"version":"1.0","region":"us-east-1","files":[{"fileHashValue":"` + strings.Repeat("ab", 32) + `","fileName":"result_1.csv.gz"}],"hashAlgorithm":"SHA-256","signatureAlgorithm":"SHA256withRSA","queryCompleteTime":"2022-05-10T22:06:30Z","hashSignature":"0a0b","publicKeyFingerprint":"` + strings.Repeat("c", 32) + `"}`
	if sf, err := lakeresults.ParseSignFile([]byte(good)); err != nil || len(sf.Files) != 1 || sf.SigningString() != strings.Repeat("ab", 32) {
		t.Fatalf("good sign file: %+v, %v", sf, err)
	}
	for name, edit := range map[string][2]string{
		"path in name":      {"result_1.csv.gz", "../x"},
		"dot name":          {"result_1.csv.gz", ".."},
		"short hash":        {strings.Repeat("ab", 32), "abcd"},
		"upper hash":        {strings.Repeat("ab", 32), strings.Repeat("AB", 32)},
		"md5":               {"SHA-256", "MD5"},
		"algorithm":         {"SHA256withRSA", "none"},
		"odd signature":     {`"0a0b"`, `"0a0"`},
		"empty fingerprint": {strings.Repeat("c", 32), ""},
		"no files":          {`[{"fileHashValue":"` + strings.Repeat("ab", 32) + `","fileName":"result_1.csv.gz"}]`, "[]"},
		"region":            {"us-east-1", "US East"},
		"not JSON":          {"{", "["},
	} {
		if _, err := lakeresults.ParseSignFile([]byte(strings.Replace(good, edit[0], edit[1], 1))); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	twice := strings.Replace(good, `}],`, `},{"fileHashValue":"`+strings.Repeat("ab", 32)+`","fileName":"result_1.csv.gz"}],`, 1)
	if _, err := lakeresults.ParseSignFile([]byte(twice)); err == nil {
		t.Error("a file listed twice: accepted")
	}
}

// testNow is the completion time of the test queries.
var testNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
