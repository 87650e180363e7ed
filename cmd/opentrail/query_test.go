package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// runQueryCommand runs `opentrail query ARGS` (as main does, in this
// process) against the server and returns its output and exit status.
func runQueryCommand(tb testing.TB, ts *testServer, args ...string) (stdout, stderr string, code int) {
	tb.Helper()
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": ts.KeyID, "AWS_SECRET_ACCESS_KEY": ts.Secret, "AWS_SESSION_TOKEN": "",
		"AWS_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_PROFILE": "",
		"AWS_ENDPOINT_URL_S3": "", "OPENTRAIL_ENDPOINT_URL": ts.URL} {
		tb.Setenv(k, v) // the SDK's configuration and the flags read the process environment
	}
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"query"}, args...), &out, &errOut)
	var ee exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.code
	default:
		tb.Fatalf("query %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// startSaved starts a query that saves its results to uri and waits for
// them to be delivered.
func startSaved(tb testing.TB, ct *cloudtrail.Client, stmt, uri string) (string, *cloudtrail.DescribeQueryOutput) {
	tb.Helper()
	out, err := ct.StartQuery(context.Background(), &cloudtrail.StartQueryInput{QueryStatement: aws.String(stmt), DeliveryS3Uri: aws.String(uri)})
	if err != nil {
		tb.Fatal(err)
	}
	id := aws.ToString(out.QueryId)
	d := waitQuery(tb, ct, id)
	if d.QueryStatus != types.QueryStatusFinished || d.DeliveryStatus != types.DeliveryStatusSuccess {
		tb.Fatalf("query %s: %s, delivery %s: %s", id, d.QueryStatus, d.DeliveryStatus, aws.ToString(d.ErrorMessage))
	}
	return id, d
}

// resultsCSV is the CSV of a query's GetQueryResults rows: a header of the
// columns, then the rows.
func resultsCSV(tb testing.TB, ct *cloudtrail.Client, id string) (string, int) {
	tb.Helper()
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	in := &cloudtrail.GetQueryResultsInput{QueryId: aws.String(id), MaxQueryResults: aws.Int32(7)}
	rows := 0
	for {
		page, err := ct.GetQueryResults(context.Background(), in)
		if err != nil {
			tb.Fatal(err)
		}
		for _, r := range page.QueryResultRows {
			var header, rec []string
			for _, cell := range r {
				for k, v := range cell {
					header, rec = append(header, k), append(rec, v)
				}
			}
			if rows == 0 {
				cw.Write(header)
			}
			cw.Write(rec)
			rows++
		}
		if page.NextToken == nil {
			break
		}
		in.NextToken = page.NextToken
	}
	cw.Flush()
	if rows == 0 {
		tb.Fatalf("query %s has no rows", id)
	}
	return buf.String(), rows
}

// verifySaved checks a query's saved results the way a client would with
// AWS: the sign file's signature with the key of ListPublicKeys, and the
// SHA-256 of every file; it returns the listed file names.
func verifySaved(tb testing.TB, ct *cloudtrail.Client, s3c *s3.Client, bucket, dir string) []string {
	tb.Helper()
	ctx := context.Background()
	get := func(key string) []byte {
		o, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(dir + key)})
		if err != nil {
			tb.Fatalf("get %s: %v", dir+key, err)
		}
		defer o.Body.Close()
		b, err := io.ReadAll(o.Body)
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	var sf struct {
		Files []struct {
			FileHashValue string `json:"fileHashValue"`
			FileName      string `json:"fileName"`
		} `json:"files"`
		HashSignature        string `json:"hashSignature"`
		PublicKeyFingerprint string `json:"publicKeyFingerprint"`
		Region               string `json:"region"`
	}
	if err := json.Unmarshal(get("result_sign.json"), &sf); err != nil {
		tb.Fatal(err)
	}
	var names, hashes []string
	var header []string
	for i, f := range sf.Files {
		if want := fmt.Sprintf("result_%d.csv.gz", i+1); f.FileName != want {
			tb.Fatalf("file %d is %s, want %s", i+1, f.FileName, want)
		}
		body := get(f.FileName)
		sum := sha256.Sum256(body)
		if hex.EncodeToString(sum[:]) != f.FileHashValue {
			tb.Fatalf("%s: SHA-256 differs from the sign file's", f.FileName)
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			tb.Fatal(err)
		}
		recs, err := csv.NewReader(zr).ReadAll()
		if err != nil || len(recs) == 0 {
			tb.Fatalf("%s: %d records, %v", f.FileName, len(recs), err)
		}
		if i == 0 {
			header = recs[0]
		} else if !slices.Equal(recs[0], header) || len(recs) < 2 {
			tb.Fatalf("%s starts %q with %d records; result_1.csv.gz starts %q", f.FileName, recs[0], len(recs), header)
		}
		names, hashes = append(names, f.FileName), append(hashes, f.FileHashValue)
	}
	// Every object of the folder is listed.
	list, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(dir)})
	if err != nil {
		tb.Fatal(err)
	}
	var keys []string
	for _, o := range list.Contents {
		keys = append(keys, strings.TrimPrefix(aws.ToString(o.Key), dir))
	}
	if want := append(slices.Clone(names), "result_sign.json"); !slices.Equal(slices.Sorted(slices.Values(keys)), slices.Sorted(slices.Values(want))) {
		tb.Fatalf("objects %v, sign file lists %v", keys, names)
	}
	// The signature: SHA256withRSA over the hashes joined by spaces.
	keysOut, err := ct.ListPublicKeys(ctx, &cloudtrail.ListPublicKeysInput{})
	if err != nil {
		tb.Fatal(err)
	}
	for _, k := range keysOut.PublicKeyList {
		if aws.ToString(k.Fingerprint) != sf.PublicKeyFingerprint {
			continue
		}
		pub, err := x509.ParsePKCS1PublicKey(k.Value)
		if err != nil {
			tb.Fatal(err)
		}
		sig, err := hex.DecodeString(sf.HashSignature)
		if err != nil {
			tb.Fatal(err)
		}
		digest := sha256.Sum256([]byte(strings.Join(hashes, " ")))
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
			tb.Fatalf("sign file signature: %v", err)
		}
		return names
	}
	tb.Fatalf("no public key has fingerprint %s", sf.PublicKeyFingerprint)
	return nil
}

func TestQueryDownload(t *testing.T) {
	ts := mustRunMain(t, func(m *Main) { m.resultFileBytes = 600 }) // several result files from a few dozen rows
	ctx := context.Background()
	ct, s3c, data := ts.cloudtrail("us-east-1"), ts.s3("us-east-1"), ts.cloudtraildata("us-east-1")
	storeARN, storeID := mustStore(t, ct, &cloudtrail.CreateEventDataStoreInput{Name: aws.String("apps"),
		AdvancedEventSelectors: []types.AdvancedEventSelector{{FieldSelectors: []types.AdvancedFieldSelector{{Field: aws.String("eventCategory"), Equals: []string{"ActivityAuditLog"}}}}}})
	ch, err := ct.CreateChannel(ctx, &cloudtrail.CreateChannelInput{Name: aws.String("app"), Source: aws.String("Custom"),
		Destinations: []types.Destination{{Type: types.DestinationTypeEventDataStore, Location: aws.String(storeID)}}})
	if err != nil {
		t.Fatal(err)
	}
	// Principals that CSV must quote: quotes, commas, a newline.
	putEvents(t, data, aws.ToString(ch.ChannelArn), 0, 60, func(i int) (string, string) {
		return fmt.Sprintf("user \"%d\", team\nops", i%4), fmt.Sprint("Op", i%3)
	})
	waitUntil(t, 15*time.Second, "the events are in the store", func() bool {
		return counts(t, ct, fmt.Sprintf(`SELECT eventData.eventName, count(*) FROM %s GROUP BY 1`, storeID))["Op0"] == 20
	})
	mustResultsBucket(t, s3c, "results")
	mustBucket(t, s3c, "copy", false)

	stmt := fmt.Sprintf(`SELECT eventID, eventData.eventName AS name, eventData.userIdentity.principalId AS who FROM %s ORDER BY eventID`, storeID)
	qid, d := startSaved(t, ct, stmt, "s3://results/saved/lake")
	want, rows := resultsCSV(t, ct, qid)
	if rows != 60 {
		t.Fatalf("%d rows", rows)
	}
	dir := fmt.Sprintf("saved/lake/AWSLogs/%s/CloudTrail-Lake/Query/%s/%s/", testAccount, d.QueryStatistics.CreationTime.UTC().Format("2006/01/02"), qid)
	files := verifySaved(t, ct, s3c, "results", dir)
	if len(files) < 3 {
		t.Fatalf("%d result files with a 600-byte bound for %d bytes of CSV", len(files), len(want))
	}

	// Without a store to name the account, it is found under AWSLogs/ (a
	// client of a region without stores).
	if account, err := queryAccount(ctx, queryFlags{queryID: qid}, ts.cloudtrail("eu-west-1"), s3c, "s3://results/saved/lake",
		aws.ToTime(d.QueryStatistics.CreationTime)); err != nil || account != testAccount {
		t.Errorf("queryAccount from the bucket: %q, %v", account, err)
	}

	// Standard output, then a file; with and without the store.
	out, errOut, code := runQueryCommand(t, ts, "download", "--query-id", qid)
	if code != 0 || out != want {
		t.Fatalf("download: exit %d, %s\ngot:\n%s\nwant:\n%s", code, errOut, out, want)
	}
	file := filepath.Join(t.TempDir(), "out.csv")
	if _, errOut, code := runQueryCommand(t, ts, "download", "--query-id", qid, "--event-data-store", storeARN, "--output", file); code != 0 {
		t.Fatalf("download to a file: exit %d, %s", code, errOut)
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != want {
		t.Errorf("the file holds %d bytes (%v), want %d", len(b), err, len(want))
	}

	// Results copied elsewhere: --s3-uri.
	for _, name := range append(files, "result_sign.json") {
		o, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("results"), Key: aws.String(dir + name)})
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(o.Body)
		o.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("copy"), Key: aws.String("elsewhere/" + qid + "/" + name), Body: bytes.NewReader(b)}); err != nil {
			t.Fatal(err)
		}
	}
	if out, errOut, code := runQueryCommand(t, ts, "download", "--s3-uri", "s3://copy/elsewhere/"+qid+"/"); code != 0 || out != want {
		t.Errorf("download --s3-uri: exit %d, %s, %d bytes", code, errOut, len(out))
	}

	// A result file changed in the bucket: refused, and no output file.
	body := []byte("eventID,name,who\nforged,Op0,mallory\n")
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write(body)
	zw.Close()
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("results"), Key: aws.String(dir + "result_2.csv.gz"), Body: bytes.NewReader(zb.Bytes())}); err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(t.TempDir(), "tampered.csv")
	_, errOut, code = runQueryCommand(t, ts, "download", "--query-id", qid, "--output", tampered)
	if code != 1 || !strings.Contains(errOut, "results were changed: result_2.csv.gz SHA-256 does not match result_sign.json") {
		t.Errorf("tampered download: exit %d, %q", code, errOut)
	}
	if _, err := os.Stat(tampered); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("tampered download left %s: %v", tampered, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(tampered))
	if len(entries) != 0 {
		t.Errorf("tampered download left %v", entries)
	}
	// To standard output, nothing of the changed file or after it.
	out, _, code = runQueryCommand(t, ts, "download", "--query-id", qid)
	if code != 1 || strings.Contains(out, "mallory") || !strings.HasPrefix(want, out) || len(out) >= len(want) {
		t.Errorf("tampered download to stdout: exit %d, wrote %d bytes of %d", code, len(out), len(want))
	}
	// The sign file removed.
	if _, err := s3c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("copy"), Key: aws.String("elsewhere/" + qid + "/result_sign.json")}); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runQueryCommand(t, ts, "download", "--s3-uri", "s3://copy/elsewhere/"+qid); code != 1 || !strings.Contains(errOut, "missing sign file") {
		t.Errorf("download without a sign file: exit %d, %q", code, errOut)
	}

	// A query started without DeliveryS3Uri has nothing to download.
	plain, err := ct.StartQuery(ctx, &cloudtrail.StartQueryInput{QueryStatement: aws.String(stmt)})
	if err != nil {
		t.Fatal(err)
	}
	waitQuery(t, ct, aws.ToString(plain.QueryId))
	_, errOut, code = runQueryCommand(t, ts, "download", "--query-id", aws.ToString(plain.QueryId))
	if want := fmt.Sprintf("query %s has no saved results: it was started without DeliveryS3Uri", aws.ToString(plain.QueryId)); code != 1 || !strings.Contains(errOut, want) {
		t.Errorf("download of a query without DeliveryS3Uri: exit %d, %q", code, errOut)
	}
	// An unknown query and bad flags.
	if _, errOut, code := runQueryCommand(t, ts, "download", "--query-id", "00000000-0000-4000-8000-000000000000"); code != 1 || !strings.Contains(errOut, "QueryIdNotFoundException") {
		t.Errorf("unknown query: exit %d, %q", code, errOut)
	}
	if _, _, code := runQueryCommand(t, ts, "download"); code != 2 {
		t.Errorf("no --query-id: exit %d", code)
	}
	if _, help, code := runQueryCommand(t, ts, "download", "--help"); code != 0 || !strings.Contains(help, "result_sign.json") || !strings.Contains(help, "--s3-uri") {
		t.Errorf("--help: exit %d, %q", code, help)
	}
}

// A small result is one file; its download is the GetQueryResults CSV.
func TestQueryDownloadOneFile(t *testing.T) {
	ts := mustRunMain(t)
	ctx := context.Background()
	ct, s3c := ts.cloudtrail("us-east-1"), ts.s3("us-east-1")
	_, id := mustStore(t, ct, &cloudtrail.CreateEventDataStoreInput{Name: aws.String("main")})
	mustResultsBucket(t, s3c, "results")
	for range 4 {
		ct.ListTrails(ctx, &cloudtrail.ListTrailsInput{})
	}
	stmt := fmt.Sprintf(`SELECT eventName, count(*) AS n FROM %s WHERE eventName = 'ListTrails' GROUP BY eventName`, id)
	waitUntil(t, 15*time.Second, "events in the store", func() bool { return counts(t, ct, stmt)["ListTrails"] == 4 })
	qid, d := startSaved(t, ct, stmt, "s3://results")
	want, _ := resultsCSV(t, ct, qid)
	if want != "eventName,n\nListTrails,4\n" {
		t.Errorf("GetQueryResults CSV %q", want)
	}
	dir := fmt.Sprintf("AWSLogs/%s/CloudTrail-Lake/Query/%s/%s/", testAccount, d.QueryStatistics.CreationTime.UTC().Format("2006/01/02"), qid)
	if files := verifySaved(t, ct, s3c, "results", dir); len(files) != 1 {
		t.Errorf("files %v", files)
	}
	out, errOut, code := runQueryCommand(t, ts, "download", "--query-id", qid, "--quiet")
	if code != 0 || out != want {
		t.Errorf("download: exit %d %s: %q", code, errOut, out)
	}
}
