package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/history"
	"github.com/opentrail/opentrail/journal"
)

// benchEvents is the size of the history BenchmarkLookupEvents searches:
// OPENTRAIL_BENCH_EVENTS (default 200000; the target is measured at
// 10000000). OPENTRAIL_BENCH_DIR keeps the generated data directory between
// runs (it takes minutes to build at 10 million).
func benchEvents() int {
	if v, err := strconv.Atoi(os.Getenv("OPENTRAIL_BENCH_EVENTS")); err == nil && v > 0 {
		return v
	}
	return 200000
}

// synthRecord builds the i-th synthetic record: 1000 users, 200 event
// names over 20 services, a third of them writes with a resource, spread
// over the last 89 days.
func synthRecord(i int, now time.Time, span time.Duration) (opentrail.Event, time.Time) {
	r := rand.New(rand.NewPCG(uint64(i), 7))
	t := now.Add(-span + time.Duration(float64(span)*float64(i)/float64(benchEvents()))).Truncate(time.Second)
	user := fmt.Sprintf("user%03d", r.IntN(1000))
	svc := fmt.Sprintf("service%02d", r.IntN(20))
	name := fmt.Sprintf("%sAction%03d", []string{"Describe", "Get", "List", "Create", "Update", "Delete"}[r.IntN(6)], r.IntN(34))
	ro := strings.HasPrefix(name, "Describe") || strings.HasPrefix(name, "Get") || strings.HasPrefix(name, "List")
	ev := opentrail.Event{
		EventVersion: "1.11",
		UserIdentity: &opentrail.UserIdentity{Type: "IAMUser", PrincipalID: "AIDA" + user, ARN: "arn:aws:iam::" + testAccount + ":user/" + user,
			AccountID: testAccount, AccessKeyID: "AKIA" + strings.ToUpper(user) + "0000000", UserName: user},
		EventTime:          opentrail.FormatTime(t),
		EventSource:        svc + ".amazonaws.com",
		EventName:          name,
		AWSRegion:          "us-east-1",
		SourceIPAddress:    fmt.Sprintf("198.51.100.%d", r.IntN(250)),
		UserAgent:          "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0 exe/x86_64.ubuntu.22",
		RequestParameters:  json.RawMessage(fmt.Sprintf(`{"resourceName":"res-%d","maxResults":50}`, r.IntN(100000))),
		ResponseElements:   opentrail.Null,
		RequestID:          fmt.Sprintf("req-%d", i),
		EventID:            fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i),
		ReadOnly:           opentrail.Bool(ro),
		EventType:          "AwsApiCall",
		ManagementEvent:    opentrail.Bool(true),
		RecipientAccountID: testAccount,
		EventCategory:      "Management",
	}
	if !ro {
		ev.Resources = []opentrail.Resource{{AccountID: testAccount, Type: "AWS::" + svc + "::Thing", ARN: fmt.Sprintf("arn:aws:%s:us-east-1:%s:thing/t%d", svc, testAccount, r.IntN(5000))}}
	}
	return ev, t
}

// mustBenchDataDir builds (or reuses) a data directory with n synthetic
// events in the default account's us-east-1 history, fully indexed.
func mustBenchDataDir(b *testing.B, n int) string {
	dir := os.Getenv("OPENTRAIL_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	dir = filepath.Join(dir, fmt.Sprintf("lookup-%d", n))
	if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
		return dir
	}
	os.RemoveAll(dir)
	ctx := context.Background()
	db, err := journal.Open(ctx, filepath.Join(dir, "opentrail.db"), journal.Options{Synchronous: "NORMAL"})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	now := time.Now()
	const batch = 5000
	for lo := 0; lo < n; lo += batch {
		entries := make([]journal.Entry, 0, batch)
		for i := lo; i < min(lo+batch, n); i++ {
			ev, t := synthRecord(i, now, 89*24*time.Hour)
			body, _ := json.Marshal(ev)
			sum, err := opentrail.Summarize(body)
			if err != nil {
				b.Fatal(err)
			}
			entries = append(entries, journal.Entry{Account: testAccount, Region: "us-east-1", Time: t, Category: "Management",
				Origin: journal.OriginAPI, History: true, Trails: true, Body: body, Summary: &sum})
		}
		if _, err := db.Append(ctx, entries...); err != nil {
			b.Fatal(err)
		}
		if lo%1_000_000 == 0 && lo > 0 {
			b.Logf("generated %d events in %s", lo, time.Since(start).Round(time.Second))
		}
	}
	gen := time.Since(start)
	x, err := history.Open(ctx, db, history.Options{Dir: filepath.Join(dir, "history")})
	if err != nil {
		b.Fatal(err)
	}
	istart := time.Now()
	if err := x.CatchUp(ctx, nil); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d events: journal appended in %s (%.0f events/s), indexed in %s (%.0f events/s)", n,
		gen.Round(time.Millisecond), float64(n)/gen.Seconds(), time.Since(istart).Round(time.Millisecond), float64(n)/time.Since(istart).Seconds())
	x.Close()
	db.Close()
	os.WriteFile(filepath.Join(dir, "ready"), nil, 0o600)
	return dir
}

// BenchmarkLookupEvents measures LookupEvents against a spawned server
// whose history holds benchEvents() events: latency percentiles and
// requests per second with 4 concurrent clients (OPENTRAIL_BENCH_WORKERS) over loopback, over a mix
// of lookups (no filter, by user, by event name, by resource name, by event
// ID, with a time range). The clients replay requests signed in advance
// (a SigV4 signature stays valid for 15 minutes) and read the responses
// without decoding them, so that the 2-core machine's time goes to the
// server; the real SDK client checks the answers first. It also reports
// the server's resident memory and start-up time. One b.N is one request.
//
//	OPENTRAIL_BENCH_EVENTS=10000000 OPENTRAIL_BENCH_DIR=/var/tmp/otbench \
//	  go test -run='^$' -bench=LookupEvents -benchtime=40000x -timeout=3h ./cmd/opentrail/
func BenchmarkLookupEvents(b *testing.B) {
	n := benchEvents()
	dir := mustBenchDataDir(b, n)
	// Start-up on the existing data directory.
	t0 := time.Now()
	srv := spawn(b, dir, "--synchronous", "NORMAL", "--log-level", "error")
	startup := time.Since(t0)
	ts := srv.server()
	ctx := context.Background()
	now := time.Now()
	queries := []func(r *rand.Rand) *cloudtrail.LookupEventsInput{
		func(r *rand.Rand) *cloudtrail.LookupEventsInput { return &cloudtrail.LookupEventsInput{} },
		func(r *rand.Rand) *cloudtrail.LookupEventsInput {
			return &cloudtrail.LookupEventsInput{LookupAttributes: attr(types.LookupAttributeKeyUsername, fmt.Sprintf("user%03d", r.IntN(1000)))}
		},
		func(r *rand.Rand) *cloudtrail.LookupEventsInput {
			return &cloudtrail.LookupEventsInput{LookupAttributes: attr(types.LookupAttributeKeyEventName, fmt.Sprintf("CreateAction%03d", r.IntN(34)))}
		},
		func(r *rand.Rand) *cloudtrail.LookupEventsInput {
			return &cloudtrail.LookupEventsInput{LookupAttributes: attr(types.LookupAttributeKeyResourceName,
				fmt.Sprintf("arn:aws:service%02d:us-east-1:%s:thing/t%d", r.IntN(20), testAccount, r.IntN(5000)))}
		},
		func(r *rand.Rand) *cloudtrail.LookupEventsInput {
			i := r.IntN(n)
			return &cloudtrail.LookupEventsInput{LookupAttributes: attr(types.LookupAttributeKeyEventId, fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i))}
		},
		func(r *rand.Rand) *cloudtrail.LookupEventsInput {
			end := now.Add(-time.Duration(r.IntN(80*24)) * time.Hour)
			return &cloudtrail.LookupEventsInput{StartTime: aws.Time(end.Add(-6 * time.Hour)), EndTime: aws.Time(end),
				LookupAttributes: attr(types.LookupAttributeKeyReadOnly, "false")}
		},
	}
	// The SDK checks that each kind of query finds events.
	ct := ts.cloudtrail("us-east-1")
	r := rand.New(rand.NewPCG(9, 9))
	for i, q := range queries {
		out, err := ct.LookupEvents(ctx, q(r))
		if err != nil || len(out.Events) == 0 {
			b.Fatalf("query %d: %d events, %v", i, len(out.Events), err)
		}
	}
	// Requests signed in advance, replayed by light clients.
	reqs := make([]signedRequest, 4096)
	for i := range reqs {
		body, _ := json.Marshal(lookupBody(queries[r.IntN(len(queries))](r)))
		reqs[i] = signLookup(b, ts, body)
	}
	workers := 4
	if v, err := strconv.Atoi(os.Getenv("OPENTRAIL_BENCH_WORKERS")); err == nil && v > 0 {
		workers = v
	}
	transport := &http.Transport{MaxIdleConnsPerHost: workers}
	client := &http.Client{Transport: transport}
	lat := make([][]time.Duration, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64<<10)
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				sr := reqs[i%int64(len(reqs))]
				req, _ := http.NewRequest(http.MethodPost, ts.URL+"/", bytes.NewReader(sr.body))
				req.Header = sr.header.Clone()
				t := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				for {
					if _, err := resp.Body.Read(buf); err != nil {
						break
					}
				}
				resp.Body.Close()
				lat[w] = append(lat[w], time.Since(t))
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "req/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(rssBytes(srv.cmd.Process.Pid))/(1<<20), "rss-MiB")
	b.ReportMetric(float64(startup.Milliseconds()), "startup-ms")
	srv.stop(b)
}

// lookupBody is the awsJson body of a LookupEvents input.
func lookupBody(in *cloudtrail.LookupEventsInput) map[string]any {
	m := map[string]any{}
	if len(in.LookupAttributes) > 0 {
		a := in.LookupAttributes[0]
		m["LookupAttributes"] = []map[string]string{{"AttributeKey": string(a.AttributeKey), "AttributeValue": aws.ToString(a.AttributeValue)}}
	}
	if in.StartTime != nil {
		m["StartTime"] = in.StartTime.Unix()
	}
	if in.EndTime != nil {
		m["EndTime"] = in.EndTime.Unix()
	}
	return m
}

type signedRequest struct {
	body   []byte
	header http.Header
}

func signLookup(tb testing.TB, ts *testServer, body []byte) signedRequest {
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "CloudTrail_20131101.LookupEvents")
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: ts.KeyID, SecretAccessKey: ts.Secret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "cloudtrail", "us-east-1", time.Now()); err != nil {
		tb.Fatal(err)
	}
	return signedRequest{body: body, header: req.Header}
}

// rssBytes reads a process's resident set size from /proc.
func rssBytes(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
