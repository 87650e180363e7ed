package sigv4_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"

	"github.com/opentrail/opentrail/sigv4"
)

// chunkAuth is the Auth of an aws-chunked upload whose seed signature is seed.
func chunkAuth(mode, seed string) *sigv4.Auth {
	return &sigv4.Auth{
		AccessKeyID: testCreds.AccessKeyID,
		Date:        testTime.Format("20060102"),
		Region:      "us-east-1",
		Service:     "s3",
		SigningTime: testTime,
		SignedHeaders: []string{"content-encoding", "host", "x-amz-content-sha256", "x-amz-date",
			"x-amz-decoded-content-length"},
		Signature:   seed,
		PayloadHash: mode,
	}
}

const testSeed = "5a1f2f0a7c1b6d9e8f00112233445566778899aabbccddeeff00112233445566"

// chunkRequest is an upload request carrying body, as a server receives it.
func chunkRequest(body []byte, headers ...string) *http.Request {
	r, _ := http.NewRequest("PUT", "http://127.0.0.1:9000/bucket/key", bytes.NewReader(body))
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	return r
}

func hmacHex(key []byte, s string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))
}

func hmacRaw(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// encodeSigned writes data as a signed aws-chunked body in chunks of the
// given sizes (the rest in one more chunk), following the S3 documentation
// with nothing from the package under test. Trailer lines, if any, are
// signed after the final chunk.
func encodeSigned(a *sigv4.Auth, secret string, data []byte, sizes []int, trailer []string) []byte {
	key := hmacRaw([]byte("AWS4"+secret), a.Date)
	key = hmacRaw(key, a.Region)
	key = hmacRaw(key, a.Service)
	key = hmacRaw(key, "aws4_request")
	scope := a.Date + "/" + a.Region + "/" + a.Service + "/aws4_request"
	ts := a.SigningTime.Format("20060102T150405Z")
	prev := a.Signature
	var b bytes.Buffer
	chunk := func(p []byte) {
		sts := "AWS4-HMAC-SHA256-PAYLOAD\n" + ts + "\n" + scope + "\n" + prev + "\n" + sha256Hex(nil) + "\n" + sha256Hex(p)
		prev = hmacHex(key, sts)
		fmt.Fprintf(&b, "%x;chunk-signature=%s\r\n", len(p), prev)
		if len(p) > 0 {
			b.Write(p)
			b.WriteString("\r\n")
		}
	}
	for _, n := range sizes {
		n = min(n, len(data))
		chunk(data[:n])
		data = data[n:]
	}
	if len(data) > 0 {
		chunk(data)
	}
	chunk(nil)
	if trailer != nil {
		var canon strings.Builder
		for _, line := range trailer {
			b.WriteString(line + "\r\n")
			canon.WriteString(line + "\n")
		}
		sts := "AWS4-HMAC-SHA256-TRAILER\n" + ts + "\n" + scope + "\n" + prev + "\n" + sha256Hex([]byte(canon.String()))
		b.WriteString("x-amz-trailer-signature:" + hmacHex(key, sts) + "\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// encodeUnsigned writes data as an unsigned aws-chunked body.
func encodeUnsigned(data []byte, size int, trailer []string) []byte {
	var b bytes.Buffer
	for len(data) > 0 {
		n := min(size, len(data))
		fmt.Fprintf(&b, "%x\r\n", n)
		b.Write(data[:n])
		b.WriteString("\r\n")
		data = data[n:]
	}
	b.WriteString("0\r\n")
	for _, line := range trailer {
		b.WriteString(line + "\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

func mustChunkedReader(tb testing.TB, r *http.Request, a *sigv4.Auth, secret string) *sigv4.ChunkedReader {
	tb.Helper()
	cr, err := sigv4.NewChunkedReader(r, a, secret)
	if err != nil {
		tb.Fatalf("NewChunkedReader() = %v", err)
	}
	return cr
}

func testData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestChunkedSigned(t *testing.T) {
	data := testData(200_000)
	for _, tc := range []struct {
		name    string
		sizes   []int
		readers map[string]func(io.Reader) io.Reader
	}{
		{name: "64 KiB chunks", sizes: []int{65536, 65536, 65536}},
		{name: "one chunk", sizes: nil},
		{name: "odd chunks", sizes: []int{8192, 1, 100_000, 3}},
	} {
		for mode, trailer := range map[string][]string{
			sigv4.StreamingPayload:        nil,
			sigv4.StreamingPayloadTrailer: {"x-amz-checksum-crc32:" + crc32Base64(data)},
		} {
			for rname, wrap := range map[string]func(io.Reader) io.Reader{
				"whole":    func(r io.Reader) io.Reader { return r },
				"one byte": iotest.OneByteReader,
				"half":     iotest.HalfReader,
			} {
				t.Run(tc.name+"/"+mode+"/"+rname, func(t *testing.T) {
					a := chunkAuth(mode, testSeed)
					body := encodeSigned(a, testCreds.SecretAccessKey, data, tc.sizes, trailer)
					r := chunkRequest(nil, "X-Amz-Decoded-Content-Length", strconv.Itoa(len(data)), "X-Amz-Trailer", "x-amz-checksum-crc32")
					r.Body = io.NopCloser(wrap(bytes.NewReader(body)))
					cr := mustChunkedReader(t, r, a, testCreds.SecretAccessKey)
					if cr.Trailer() != nil {
						t.Error("Trailer() before EOF is not nil")
					}
					got, err := io.ReadAll(iotest.OneByteReader(cr))
					if err != nil {
						t.Fatalf("read: %v", err)
					}
					if !bytes.Equal(got, data) {
						t.Errorf("decoded %d bytes that differ from the %d sent", len(got), len(data))
					}
					var want http.Header
					if trailer != nil {
						want = http.Header{"X-Amz-Checksum-Crc32": {crc32Base64(data)}}
					} else {
						want = http.Header{}
					}
					if diff := cmp.Diff(want, cr.Trailer()); diff != "" {
						t.Errorf("Trailer() mismatch (-want +got):\n%s", diff)
					}
				})
			}
		}
	}
}

func crc32Base64(b []byte) string {
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.ChecksumIEEE(b))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// TestChunkedAWSTrailerVector checks the trailer signature against the
// vector of the AWS Common Runtime's chunked signing tests: the published
// chunks followed by three trailing headers.
func TestChunkedAWSTrailerVector(t *testing.T) {
	trailer := []string{"first:1st", "second:2nd", "third:3rd",
		"x-amz-trailer-signature:df5735bd9f3295cd9386572292562fefc93ba94e80a0a1ddcbd652c4e0a75e6c"}
	r := awsExampleRequest(t, sigv4.StreamingPayloadTrailer, awsExampleBody(t, trailer))
	a := mustParse(t, r)
	cr := mustChunkedReader(t, r, a, awsExampleSecret)
	got, err := io.ReadAll(cr)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if len(got) != 66560 {
		t.Errorf("decoded %d bytes, want 66560", len(got))
	}
	want := http.Header{"First": {"1st"}, "Second": {"2nd"}, "Third": {"3rd"}}
	if diff := cmp.Diff(want, cr.Trailer()); diff != "" {
		t.Errorf("Trailer() mismatch (-want +got):\n%s", diff)
	}

	trailer[1] = "second:2nd!"
	r = awsExampleRequest(t, sigv4.StreamingPayloadTrailer, awsExampleBody(t, trailer))
	_, err = io.ReadAll(mustChunkedReader(t, r, mustParse(t, r), awsExampleSecret))
	if errorKind(err) != sigv4.KindSignatureMismatch {
		t.Errorf("read with a changed trailer = %v, want KindSignatureMismatch", err)
	}
}

// TestChunkedAWSExampleTampered changes one byte of the second chunk of the
// published example: the first chunk is delivered, nothing of the second.
func TestChunkedAWSExampleTampered(t *testing.T) {
	body := awsExampleBody(t, nil)
	i := bytes.Index(body, []byte("400;chunk-signature="))
	body[i+100] = 'b'
	r := awsExampleRequest(t, sigv4.StreamingPayload, body)
	cr := mustChunkedReader(t, r, mustParse(t, r), awsExampleSecret)
	got, err := io.ReadAll(cr)
	want := &sigv4.Error{Kind: sigv4.KindSignatureMismatch, Message: "The chunk signature we calculated does not match the signature you provided."}
	if diff := cmp.Diff(want, err); diff != "" {
		t.Errorf("read error mismatch (-want +got):\n%s", diff)
	}
	if len(got) != 65536 {
		t.Errorf("read %d bytes before the error, want the 65536 of the first chunk", len(got))
	}
	if _, err := cr.Read(make([]byte, 10)); errorKind(err) != sigv4.KindSignatureMismatch {
		t.Errorf("Read after the error = %v, want the same error again", err)
	}
}

func TestChunkedUnsignedChecksums(t *testing.T) {
	data := []byte("123456789")
	be := func(n uint64, size int) string {
		b := binary.BigEndian.AppendUint64(nil, n)
		return base64.StdEncoding.EncodeToString(b[8-size:])
	}
	sha1Sum := sha1.Sum(data)
	sha256Sum := sha256.Sum256(data)
	for _, tc := range []struct {
		name, value string
	}{
		// Check values of the CRC catalogue for "123456789".
		{"x-amz-checksum-crc32", be(0xCBF43926, 4)},
		{"x-amz-checksum-crc32c", be(0xE3069283, 4)},
		{"x-amz-checksum-crc64nvme", be(0xAE8B14860A799888, 8)},
		{"x-amz-checksum-sha1", base64.StdEncoding.EncodeToString(sha1Sum[:])},
		{"x-amz-checksum-sha256", base64.StdEncoding.EncodeToString(sha256Sum[:])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := chunkAuth(sigv4.StreamingUnsignedPayloadTrailer, testSeed)
			read := func(value string) ([]byte, *sigv4.ChunkedReader, error) {
				body := encodeUnsigned(data, 4, []string{tc.name + ":" + value})
				r := chunkRequest(body, "X-Amz-Trailer", tc.name, "X-Amz-Decoded-Content-Length", "9")
				cr := mustChunkedReader(t, r, a, "")
				got, err := io.ReadAll(cr)
				return got, cr, err
			}
			got, cr, err := read(tc.value)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read = %q, %v; want %q, nil", got, err, data)
			}
			if v := cr.Trailer().Get(tc.name); v != tc.value {
				t.Errorf("Trailer().Get(%q) = %q, want %q", tc.name, v, tc.value)
			}
			wrong := []byte(tc.value)
			wrong[0] ^= 1
			if _, _, err := read(string(wrong)); errorKind(err) != sigv4.KindPayloadMismatch {
				t.Errorf("read with a wrong checksum = %v, want KindPayloadMismatch", err)
			}
		})
	}
}

// TestChunkedBotocoreTampered changes the body of botocore's aws-chunked
// upload: the CRC32 trailer no longer matches.
func TestChunkedBotocoreTampered(t *testing.T) {
	var c goldenCase
	for _, g := range mustGoldenCases(t) {
		if g.Name == "s3-put-object-aws-chunked-trailer" {
			c = g
		}
	}
	r := c.request(t)
	a := mustParse(t, r)
	body := mustBody(t, r)
	body[len(body)/2] ^= 1
	r.Body = io.NopCloser(bytes.NewReader(body))
	_, err := io.ReadAll(mustChunkedReader(t, r, a, c.Secret))
	want := &sigv4.Error{Kind: sigv4.KindPayloadMismatch, Message: "The CRC32 you specified did not match the calculated checksum."}
	if diff := cmp.Diff(want, err); diff != "" {
		t.Errorf("read error mismatch (-want +got):\n%s", diff)
	}
}

func TestChunkedMalformed(t *testing.T) {
	data := testData(5000)
	signed := chunkAuth(sigv4.StreamingPayload, testSeed)
	good := encodeSigned(signed, testCreds.SecretAccessKey, data, []int{4096}, nil)
	sig := strings.Repeat("a", 64)
	for _, tc := range []struct {
		name    string
		mode    string
		body    []byte
		headers []string
		want    sigv4.Kind
	}{
		{name: "truncated", mode: sigv4.StreamingPayload, body: good[:len(good)/2], want: sigv4.KindMalformedBody},
		{name: "empty", mode: sigv4.StreamingPayload, body: nil, want: sigv4.KindMalformedBody},
		{name: "chunk over the limit", mode: sigv4.StreamingPayload,
			body: []byte(fmt.Sprintf("%x;chunk-signature=%s\r\n", sigv4.MaxChunkSize+1, sig)), want: sigv4.KindMalformedBody},
		{name: "size not hex", mode: sigv4.StreamingPayload, body: []byte("zz;chunk-signature=" + sig + "\r\n"), want: sigv4.KindMalformedBody},
		{name: "size with sign", mode: sigv4.StreamingUnsignedPayloadTrailer, body: []byte("+5\r\nhello\r\n0\r\n\r\n"), want: sigv4.KindMalformedBody},
		{name: "no signature", mode: sigv4.StreamingPayload, body: []byte("5\r\nhello\r\n"), want: sigv4.KindMalformedBody},
		{name: "short signature", mode: sigv4.StreamingPayload, body: []byte("5;chunk-signature=abc\r\nhello\r\n"), want: sigv4.KindMalformedBody},
		{name: "bare LF", mode: sigv4.StreamingUnsignedPayloadTrailer, body: []byte("5\nhello\r\n0\r\n\r\n"), want: sigv4.KindMalformedBody},
		{name: "data without CRLF", mode: sigv4.StreamingUnsignedPayloadTrailer, body: []byte("5\r\nhelloXX0\r\n\r\n"), want: sigv4.KindMalformedBody},
		{name: "line too long", mode: sigv4.StreamingUnsignedPayloadTrailer, body: []byte(strings.Repeat("0", 5000) + "5\r\nhello\r\n"), want: sigv4.KindMalformedBody},
		{name: "trailer without colon", mode: sigv4.StreamingUnsignedPayloadTrailer, body: encodeUnsigned([]byte("hi"), 8, []string{"nocolon"}), want: sigv4.KindMalformedBody},
		{name: "trailers too long", mode: sigv4.StreamingUnsignedPayloadTrailer,
			body: encodeUnsigned([]byte("hi"), 8, strings.Split(strings.Repeat("x-a:"+strings.Repeat("v", 1000)+"\n", 20), "\n")[:20]), want: sigv4.KindMalformedBody},
		{name: "trailer where none is allowed", mode: sigv4.StreamingPayload,
			body: append(bytes.TrimSuffix(bytes.Clone(good), []byte("\r\n")), "x-amz-checksum-crc32:AAAAAA==\r\n\r\n"...), want: sigv4.KindMalformedBody},
		{name: "declared checksum missing", mode: sigv4.StreamingUnsignedPayloadTrailer, body: encodeUnsigned([]byte("hi"), 8, nil),
			headers: []string{"X-Amz-Trailer", "x-amz-checksum-crc32"}, want: sigv4.KindMalformedBody},
		{name: "longer than decoded length", mode: sigv4.StreamingUnsignedPayloadTrailer, body: encodeUnsigned([]byte("hello"), 8, nil),
			headers: []string{"X-Amz-Decoded-Content-Length", "4"}, want: sigv4.KindMalformedBody},
		{name: "shorter than decoded length", mode: sigv4.StreamingPayload, body: good,
			headers: []string{"X-Amz-Decoded-Content-Length", "5001"}, want: sigv4.KindMalformedBody},
		{name: "signed trailer missing its signature", mode: sigv4.StreamingPayloadTrailer,
			body: bytes.Replace(encodeSigned(chunkAuth(sigv4.StreamingPayloadTrailer, testSeed), testCreds.SecretAccessKey, data, nil, []string{"x-a:1"}),
				[]byte("x-amz-trailer-signature:"), []byte("x-amz-other-header-name:"), 1), want: sigv4.KindMalformedBody},
		{name: "wrong secret", mode: sigv4.StreamingPayload, body: encodeSigned(signed, "other", data, nil, nil), want: sigv4.KindSignatureMismatch},
		{name: "chunks reordered", mode: sigv4.StreamingPayload, body: swapChunks(t, good), want: sigv4.KindSignatureMismatch},
		{name: "good", mode: sigv4.StreamingPayload, body: good, headers: []string{"X-Amz-Decoded-Content-Length", "5000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := chunkAuth(tc.mode, testSeed)
			cr := mustChunkedReader(t, chunkRequest(tc.body, tc.headers...), a, testCreds.SecretAccessKey)
			_, err := io.ReadAll(cr)
			if got := errorKind(err); got != tc.want || (err != nil && got == 0) {
				t.Errorf("read = %v, want Kind %v", err, tc.want)
			}
		})
	}
}

// swapChunks exchanges the two data chunks of a body made of chunks of 4096
// and 904 bytes.
func swapChunks(tb testing.TB, body []byte) []byte {
	tb.Helper()
	first := bytes.Index(body, []byte("\r\n388;"))
	if first < 0 {
		tb.Fatal("second chunk not found")
	}
	a := body[:first+2]
	rest := body[first+2:]
	end := bytes.Index(rest, []byte("\r\n0;"))
	b := rest[:end+2]
	return append(append(append([]byte{}, b...), a...), rest[end+2:]...)
}

var errBroken = errors.New("connection reset")

type brokenReader struct{ r io.Reader }

func (b brokenReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		return n, errBroken
	}
	return n, err
}

func TestChunkedLimit(t *testing.T) {
	body := fmt.Sprintf("%x;chunk-signature=%s\r\n", sigv4.MaxChunkSize+1, strings.Repeat("a", 64)) + strings.Repeat("x", 1000)
	cr := mustChunkedReader(t, chunkRequest([]byte(body)), chunkAuth(sigv4.StreamingPayload, testSeed), testCreds.SecretAccessKey)
	_, err := io.ReadAll(cr)
	want := &sigv4.Error{Kind: sigv4.KindMalformedBody, Message: "Chunk of 16777217 bytes is larger than the limit of 16777216."}
	if diff := cmp.Diff(want, err); diff != "" {
		t.Errorf("read error mismatch (-want +got):\n%s", diff)
	}
}

func TestChunkedReaderError(t *testing.T) {
	a := chunkAuth(sigv4.StreamingPayload, testSeed)
	body := encodeSigned(a, testCreds.SecretAccessKey, testData(3000), nil, nil)
	r := chunkRequest(nil)
	r.Body = io.NopCloser(brokenReader{bytes.NewReader(body[:1000])})
	_, err := io.ReadAll(mustChunkedReader(t, r, a, testCreds.SecretAccessKey))
	if !errors.Is(err, errBroken) {
		t.Errorf("read = %v, want it to wrap %v", err, errBroken)
	}
}

func TestNewChunkedReaderErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mode    string
		headers []string
		want    *sigv4.Error
	}{
		{
			name: "not chunked", mode: sigv4.UnsignedPayload,
			want: &sigv4.Error{Kind: sigv4.KindIncomplete, Message: "x-amz-content-sha256 'UNSIGNED-PAYLOAD' is not an aws-chunked encoding this server decodes."},
		},
		{
			name: "event stream", mode: "STREAMING-AWS4-HMAC-SHA256-EVENTS",
			want: &sigv4.Error{Kind: sigv4.KindIncomplete, Message: "x-amz-content-sha256 'STREAMING-AWS4-HMAC-SHA256-EVENTS' is not an aws-chunked encoding this server decodes."},
		},
		{
			name: "bad decoded length", mode: sigv4.StreamingPayload, headers: []string{"X-Amz-Decoded-Content-Length", "-1"},
			want: &sigv4.Error{Kind: sigv4.KindMalformedBody, Message: "x-amz-decoded-content-length must be a non-negative integer, got '-1'."},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sigv4.NewChunkedReader(chunkRequest(nil, tc.headers...), chunkAuth(tc.mode, testSeed), "")
			if diff := cmp.Diff(tc.want, err); diff != "" {
				t.Errorf("NewChunkedReader() error mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestChunkedAllocation checks that a chunk header claiming the largest size
// allowed costs memory only for the bytes that actually arrive.
func TestChunkedAllocation(t *testing.T) {
	body := []byte(fmt.Sprintf("%x;chunk-signature=%s\r\nonly a few bytes", sigv4.MaxChunkSize, strings.Repeat("0", 64)))
	a := chunkAuth(sigv4.StreamingPayload, testSeed)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cr := mustChunkedReader(t, chunkRequest(body), a, testCreds.SecretAccessKey)
	_, err := io.ReadAll(cr)
	runtime.ReadMemStats(&after)
	if errorKind(err) != sigv4.KindMalformedBody {
		t.Errorf("read = %v, want KindMalformedBody", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 256<<10 {
		t.Errorf("decoding %d bytes allocated %d bytes", len(body), n)
	}
}
