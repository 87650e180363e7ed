package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"html"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/chromedp/chromedp"
	"github.com/opentrail/opentrail/api"
)

// The console's speed on a large event history: the server time of event
// history pages and charts, the first page as a browser renders it, and
// downloads. They run against `opentrail serve` spawned on the data
// directory BenchmarkLookupEvents builds (benchEvents() synthetic events,
// OPENTRAIL_BENCH_DIR keeps it), driven by a signed-in console session:
//
//	OPENTRAIL_BENCH_EVENTS=10000000 OPENTRAIL_BENCH_DIR=/var/tmp/otbench \
//	  go test -run='^$' -bench=Console -benchtime=50x -timeout=1h ./cmd/opentrail/
//
// The downloads cover the newest OPENTRAIL_BENCH_DOWNLOAD_ROWS events
// (default a tenth of the history).

// consoleBench is a server on the benchmark's data directory and a console
// session signed in to it.
type consoleBench struct {
	srv   *spawned
	ts    *testServer
	cc    *consoleClient
	n     int
	pprof string // the server's profiling address
}

func startConsoleBench(b *testing.B) *consoleBench {
	b.Helper()
	n := benchEvents()
	dir := mustBenchDataDir(b, n)
	addr := os.Getenv("OPENTRAIL_BENCH_PPROF")
	if addr == "" {
		addr = "127.0.0.1:" + freePort(b)
		b.Setenv("OPENTRAIL_BENCH_PPROF", addr) // to read the server's heap
	}
	srv := spawn(b, dir, "--synchronous", "NORMAL", "--log-level", "error")
	b.Cleanup(func() { srv.stop(b) })
	ts := srv.server()
	return &consoleBench{srv: srv, ts: ts, cc: newConsoleClient(b, ts), n: n, pprof: addr}
}

var (
	eventRows = regexp.MustCompile(`<tr data-id="[^"]+"`)
	olderLink = regexp.MustCompile(`<a href="([^"]+)" id="older">`)
)

// timedGet fetches a console path and returns the body and the time from
// sending the request to the body's last byte.
func (cb *consoleBench) timedGet(b *testing.B, path string) ([]byte, time.Duration) {
	b.Helper()
	t := time.Now()
	resp, err := cb.cc.c.Get(cb.ts.URL + path)
	if err != nil {
		b.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(t)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: status %d, %v\n%.2000s", path, resp.StatusCode, err, body)
	}
	return body, d
}

// reportLatency reports the median and 99th percentile of ds.
func reportLatency(b *testing.B, ds []time.Duration) {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	pct := func(p float64) float64 { return float64(ds[int(p*float64(len(ds)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// BenchmarkConsoleEvents measures the server time of event history pages
// (50 rows) and of their charts: time from request to last byte, one
// client over loopback. One b.N is one page.
func BenchmarkConsoleEvents(b *testing.B) {
	cb := startConsoleBench(b)
	user, name := "/console/events?attr=Username&value=user042", "/console/events?attr=EventName&value=CreateAction007"
	first, _ := cb.timedGet(b, "/console/events")
	m := olderLink.FindSubmatch(first)
	if m == nil {
		b.Fatal("the first page links to no older events")
	}
	next := html.UnescapeString(string(m[1]))
	pages := []struct{ name, path string }{
		{"first", "/console/events"},
		{"user", user},
		{"eventname", name},
		{"next", next},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			ds := make([]time.Duration, 0, b.N)
			for range b.N {
				body, d := cb.timedGet(b, p.path)
				ds = append(ds, d)
				if n := len(eventRows.FindAll(body, -1)); n != 50 {
					b.Fatalf("%s: %d rows, want 50", p.path, n)
				}
			}
			reportLatency(b, ds)
		})
	}
	charts := []struct{ name, path string }{
		{"chart", "/console/events/chart.svg"},
		{"chart-user", strings.Replace(user, "events?", "events/chart.svg?", 1)},
		{"chart-eventname", strings.Replace(name, "events?", "events/chart.svg?", 1)},
		{"chart-errors", "/console/events/chart.svg?split=error"},
	}
	// The first chart of each filter after start-up counts every day;
	// later ones count only the days with new events.
	cold := map[string]time.Duration{}
	for _, p := range charts {
		_, cold[p.name] = cb.timedGet(b, p.path)
		b.Logf("%s: first request %v", p.name, cold[p.name].Round(time.Millisecond))
	}
	for _, p := range charts {
		b.Run(p.name, func(b *testing.B) {
			ds := make([]time.Duration, 0, b.N)
			var body []byte
			for range b.N {
				var d time.Duration
				body, d = cb.timedGet(b, p.path)
				ds = append(ds, d)
				if !bytes.HasPrefix(body, []byte("<svg")) || !bytes.Contains(body, []byte("<rect")) {
					b.Fatalf("%s: not a chart with bars:\n%.2000s", p.path, body)
				}
			}
			reportLatency(b, ds)
			b.ReportMetric(float64(cold[p.name].Microseconds())/1000, "first-ms")
			b.ReportMetric(float64(chartTotal(body)), "events-charted")
		})
	}
	// Users no chart has counted yet (unless earlier runs did): the cost
	// of counting a filter's whole range the first time.
	fresh := rand.IntN(1000)
	b.Run("chart-new-user", func(b *testing.B) {
		ds := make([]time.Duration, 0, b.N)
		for range b.N {
			body, d := cb.timedGet(b, fmt.Sprintf("/console/events/chart.svg?attr=Username&value=user%03d", fresh%1000))
			fresh++
			ds = append(ds, d)
			if !bytes.Contains(body, []byte("<rect")) {
				b.Fatalf("not a chart with bars:\n%.2000s", body)
			}
		}
		reportLatency(b, ds)
	})
}

var legendCount = regexp.MustCompile(`>[^<>]* \((\d+)\)</text>`)

// chartTotal adds up the counts of a chart's legend.
func chartTotal(svg []byte) int {
	total := 0
	for _, m := range legendCount.FindAllSubmatch(svg, -1) {
		n, _ := strconv.Atoi(string(m[1]))
		total += n
	}
	return total
}

// BenchmarkConsoleRender measures the first page of event history fully
// rendered in headless Chromium: from navigation start to the end of the
// load event (which waits for the chart), with the table present. One b.N
// is one page load.
func BenchmarkConsoleRender(b *testing.B) {
	cb := startConsoleBench(b)
	tab := mustTab(b)
	tab.open(b, cb.ts.URL+"/console/signin")
	tab.do(b, chromedp.SendKeys(chromedp.ID("access_key_id"), cb.ts.KeyID), chromedp.SendKeys(chromedp.ID("secret_access_key"), cb.ts.Secret))
	tab.submit(b, "#signin")
	load := func(b *testing.B, path string) (loaded, page, chart time.Duration) {
		tab.open(b, cb.ts.URL+path)
		// The navigation's timings, once its load event has ended.
		var tm []float64
		deadline := time.Now().Add(30 * time.Second)
		for {
			tm = browse(b, tab, chromedp.Evaluate[[]float64](`(() => {
				const n = performance.getEntriesByType("navigation")[0];
				const img = document.getElementById("chart");
				const c = img ? performance.getEntriesByName(img.src)[0] : null;
				return [n.loadEventEnd, n.responseEnd, c ? c.responseEnd : -1,
					document.querySelectorAll("#events tbody tr[data-id]").length, img && img.complete && img.naturalWidth > 0 ? 1 : 0];
			})()`))
			if tm[0] > 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if tm[0] <= 0 || tm[3] != 50 || tm[4] != 1 {
			b.Fatalf("%s: load event end %.0f ms, %v rows, chart shown %v", path, tm[0], tm[3], tm[4] == 1)
		}
		ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
		return ms(tm[0]), ms(tm[1]), ms(tm[2])
	}
	pages := []struct{ name, path string }{
		{"first", "/console/events"},
		{"user", "/console/events?attr=Username&value=user042"},
	}
	// The first load of each after start-up: its chart counts every day.
	cold := map[string]time.Duration{}
	for _, p := range pages {
		cold[p.name], _, _ = load(b, p.path)
		b.Logf("%s: first load %v", p.name, cold[p.name].Round(time.Millisecond))
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			var loads, htmls, charts []time.Duration
			for range b.N {
				l, h, c := load(b, p.path)
				loads, htmls, charts = append(loads, l), append(htmls, h), append(charts, c)
			}
			reportLatency(b, loads)
			b.ReportMetric(median(htmls), "html-ms")
			b.ReportMetric(median(charts), "chart-ms")
			b.ReportMetric(float64(cold[p.name].Microseconds())/1000, "first-ms")
		})
	}
	tab.checkClean(b)
}

func median(ds []time.Duration) float64 {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return float64(s[len(s)/2].Microseconds()) / 1000
}

// downloadRows is how many events the download benchmark fetches:
// OPENTRAIL_BENCH_DOWNLOAD_ROWS, default a tenth of the history.
func downloadRows(n int) int {
	if v, err := strconv.Atoi(os.Getenv("OPENTRAIL_BENCH_DOWNLOAD_ROWS")); err == nil && v > 0 {
		return min(v, n)
	}
	return n / 10
}

// BenchmarkConsoleDownload measures CSV and JSON downloads of the newest
// downloadRows() synthetic events through the console (a custom time
// range), in rows per second, and how much the server's resident memory
// and Go heap grow while it streams. One b.N is one whole download.
func BenchmarkConsoleDownload(b *testing.B) {
	cb := startConsoleBench(b)
	rows := downloadRows(cb.n)
	// The newest synthetic event is the last generated; they are evenly
	// spread over 89 days.
	last := cb.n - 1
	out, err := cb.ts.cloudtrail("us-east-1").LookupEvents(context.Background(), &cloudtrail.LookupEventsInput{
		LookupAttributes: attr(types.LookupAttributeKeyEventId, fmt.Sprintf("%08x-0000-4000-8000-%012x", last, last))})
	if err != nil || len(out.Events) != 1 {
		b.Fatalf("the newest synthetic event: %v", err)
	}
	to := out.Events[0].EventTime.UTC()
	from := to.Add(-time.Duration(float64(89*24*time.Hour) * float64(rows-1) / float64(cb.n))).Truncate(time.Second)
	const layout = "2006-01-02T15:04:05"
	rng := "range=custom&from=" + from.Format(layout) + "&to=" + to.Format(layout)
	for _, format := range []string{"csv", "json"} {
		b.Run(format, func(b *testing.B) {
			for range b.N {
				got, d, rss, heap := cb.download(b, "/console/events/download?format="+format+"&"+rng, format)
				if got < rows*99/100 || got > rows*101/100 {
					b.Fatalf("%s download has %d rows, want about %d", format, got, rows)
				}
				b.ReportMetric(float64(got)/d.Seconds(), "rows/s")
				b.ReportMetric(float64(got), "rows")
				b.ReportMetric(float64(rss)/(1<<20), "rss-growth-MiB")
				b.ReportMetric(float64(heap)/(1<<20), "heap-growth-MiB")
			}
		})
	}
}

// download streams a console download, counting its rows, while sampling
// the server's resident memory and heap. It returns the rows, the time to
// the last byte, and the peak growth of RSS and heap over their values
// before the download.
func (cb *consoleBench) download(b *testing.B, path, format string) (rows int, d time.Duration, rss, heap int64) {
	b.Helper()
	pid := cb.srv.cmd.Process.Pid
	rss0, heap0 := rssBytes(pid), cb.heapInuse()
	var peakRSS, peakHeap int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			peakRSS = max(peakRSS, rssBytes(pid))
			if i%5 == 0 {
				peakHeap = max(peakHeap, cb.heapInuse())
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	t := time.Now()
	resp, err := cb.cc.c.Get(cb.ts.URL + path)
	if err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		b.Fatalf("download: status %d\n%.2000s", resp.StatusCode, body)
	}
	// Count lines; check the head of the file.
	buf := make([]byte, 256<<10)
	var head []byte
	lines := 0
	var lastByte byte
	for {
		k, err := resp.Body.Read(buf)
		if len(head) < 64<<10 {
			head = append(head, buf[:min(k, 64<<10-len(head))]...)
		}
		lines += bytes.Count(buf[:k], []byte{'\n'})
		if k > 0 {
			lastByte = buf[k-1]
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatalf("download after %d lines: %v", lines, err)
		}
	}
	resp.Body.Close()
	d = time.Since(t)
	close(stop)
	wg.Wait()
	if lastByte != '\n' {
		b.Fatalf("the download does not end with a newline")
	}
	switch format {
	case "csv":
		r := csv.NewReader(bytes.NewReader(head))
		hdr, err := r.Read()
		if err != nil || strings.Join(hdr, ",") != strings.Join(api.CSVHeader, ",") {
			b.Fatalf("CSV header %q (%v)", hdr, err)
		}
		rows = lines - 1
	default:
		if !bytes.HasPrefix(head, []byte("[\n{")) {
			b.Fatalf("JSON download starts %.200q", head)
		}
		rows = lines - 2 // "[\n", records ",\n"-separated, "\n]\n"
	}
	return rows, d, max(peakRSS-rss0, 0), max(peakHeap-heap0, 0)
}

var heapInuseLine = regexp.MustCompile(`# HeapInuse = (\d+)`)

// heapInuse reads the server's in-use heap from its profiling endpoint (0
// when unavailable).
func (cb *consoleBench) heapInuse() int64 {
	resp, err := http.Get("http://" + cb.pprof + "/debug/pprof/heap?debug=1")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := heapInuseLine.FindSubmatch(body)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return v
}
