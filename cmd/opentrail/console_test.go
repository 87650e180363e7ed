package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
	"github.com/opentrail/opentrail/api"
)

// The console, end to end, in a real headless Chromium against a real
// server: every test here drives pages as a user would and checks what the
// API recorded and returns.

// chromium finds the browser, or skips the test (fails it under CI).
func chromium(tb testing.TB) string {
	tb.Helper()
	return browserPath(tb, "Chromium is not installed (Debian: apt-get install -y chromium)", "chromium", "chromium-browser", "google-chrome")
}

// browserPath finds a browser's executable among names; without one the
// test is skipped, or fails under CI, which must run every test.
func browserPath(tb testing.TB, missing string, names ...string) string {
	tb.Helper()
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		tb.Fatal(missing)
	}
	tb.Skip(missing)
	return ""
}

// tab is a browser tab that records JavaScript dialogs, uncaught
// exceptions and console errors (Content-Security-Policy violations
// among them) while it runs.
type tab struct {
	ctx      context.Context
	mu       sync.Mutex
	dialogs  []string
	problems []string
	shots    string
}

func mustTab(tb testing.TB) *tab {
	tb.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium(tb)), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	tb.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("start chromium: %v", err)
	}
	t := &tab{ctx: ctx, shots: os.Getenv("OPENTRAIL_SCREENSHOTS")}
	if t.shots == "" {
		t.shots = filepath.Join(os.TempDir(), "opentrail-console")
	}
	os.MkdirAll(t.shots, 0o755)
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			t.mu.Lock()
			t.dialogs = append(t.dialogs, string(ev.Type)+": "+ev.Message)
			t.mu.Unlock()
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			// Pages that answer 4xx (a failed sign-in, a form with errors)
			// are logged as failed loads: not a problem.
			if m.IsException() || m.Type == "error" && !strings.HasPrefix(m.Text, "Failed to load resource") {
				t.mu.Lock()
				t.problems = append(t.problems, m.Text)
				t.mu.Unlock()
			}
		}
	}()
	return t
}

func (t *tab) do(tb testing.TB, steps ...chromedp.Action[chromedp.Void]) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(t.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		loc, _ := chromedp.Run(t.ctx, chromedp.Location())
		html, _ := chromedp.Run(t.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		tb.Fatalf("in the browser at %s: %v\npage text:\n%.3000s", loc, err, html)
	}
}

func browse[T any](tb testing.TB, t *tab, a chromedp.Action[T]) T {
	tb.Helper()
	ctx, cancel := context.WithTimeout(t.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	for i := 0; err != nil && strings.Contains(err.Error(), "Not attached to an active page") && i < 20; i++ {
		// A navigation was finishing: ask the new page.
		time.Sleep(100 * time.Millisecond)
		v, err = chromedp.Run(ctx, a)
	}
	if err != nil {
		loc, _ := chromedp.Run(t.ctx, chromedp.Location())
		tb.Fatalf("in the browser at %s: %v", loc, err)
	}
	return v
}

func (t *tab) text(tb testing.TB, css string) string {
	tb.Helper()
	return browse(tb, t, chromedp.Evaluate[string](fmt.Sprintf("(document.querySelector(%q) || {textContent: ''}).textContent", css)))
}

// waitFor evaluates a JavaScript condition until it holds.
func (t *tab) waitFor(tb testing.TB, what, cond string, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := chromedp.Run(t.ctx, chromedp.Evaluate[bool](cond))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			loc, _ := chromedp.Run(t.ctx, chromedp.Location())
			tb.Fatalf("waited %v for %s at %s (%v)", timeout, what, loc, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// submit clicks a button that sends a form and waits for the next page.
func (t *tab) submit(tb testing.TB, css string) {
	tb.Helper()
	t.do(tb, chromedp.Evaluate[chromedp.Void](`window.__old = true`))
	t.do(tb, chromedp.Click(chromedp.CSS(css)))
	t.waitFor(tb, "the next page after "+css, `!window.__old && document.readyState === "complete"`, 20*time.Second)
}

func (t *tab) open(tb testing.TB, url string) {
	tb.Helper()
	t.do(tb, chromedp.Navigate(url))
}

// screenshot saves the page as PNG in the screenshot directory.
func (t *tab) screenshot(tb testing.TB, name string) {
	tb.Helper()
	buf := browse(tb, t, chromedp.FullScreenshot(100))
	path := filepath.Join(t.shots, name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("screenshot %s", path)
}

func (t *tab) checkClean(tb testing.TB) {
	tb.Helper()
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.dialogs) > 0 {
		tb.Errorf("JavaScript dialogs opened: %q", t.dialogs)
	}
	if len(t.problems) > 0 {
		tb.Errorf("script errors or console errors: %q", t.problems)
	}
}

// download clicks a download link and returns the file's content.
func (t *tab) download(tb testing.TB, css string) []byte {
	tb.Helper()
	dir := tb.TempDir()
	_, err := chromedp.CallBrowser(t.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: aws.Bool(true)})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.ctx, 30*time.Second)
	defer cancel()
	progress := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
	t.do(tb, chromedp.Evaluate[chromedp.Void](fmt.Sprintf("document.querySelector(%q).click()", css)))
	for ev, err := range progress {
		if err != nil {
			tb.Fatalf("download %s: %v", css, err)
		}
		switch ev.State {
		case browser.DownloadProgressStateCompleted:
			b, err := os.ReadFile(filepath.Join(dir, ev.GUID))
			if err != nil {
				tb.Fatal(err)
			}
			return b
		case browser.DownloadProgressStateCanceled:
			tb.Fatalf("download %s was canceled", css)
		}
	}
	return nil
}

// hostileRecord has markup and script in every free-text field.
const hostileRecord = `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAHOSTILE","arn":"arn:aws:iam::123456789012:user/mallory","accountId":"123456789012","userName":"<img src=x onerror=alert('user')>"},
"eventTime":"%s","eventSource":"evil.example.com","eventName":"<script>alert('name')</script>","awsRegion":"us-east-1","sourceIPAddress":"\"><img src=x onerror=alert('ip')>",
"userAgent":"<script>alert('ua')</script><img src=x onerror=alert('ua2')>","errorCode":"<b>Bad</b>","errorMessage":"</pre><script>alert('error')</script><a href=\"javascript:alert('link')\">x</a>",
"requestParameters":{"url":"javascript:alert('param')","html":"<img src=x onerror=alert('param2')>"},"responseElements":null,"requestID":"hostile-1","eventID":"0badc0de-0000-4000-8000-00000000beef",
"readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"123456789012",
"resources":[{"ARN":"javascript:alert('res')","accountId":"123456789012","type":"AWS::S3::Bucket"}],"eventCategory":"Management"}`

func TestConsoleInBrowser(t *testing.T) {
	chromium(t)
	ts := mustRunMain(t, func(m *Main) { m.DeliveryInterval = time.Second })
	ct := ts.cloudtrail("us-east-1")
	ctx := context.Background()

	// An event from outside, full of markup, in the history.
	logs := filepath.Join(t.TempDir(), "hostile.json")
	os.WriteFile(logs, []byte(`{"Records":[`+fmt.Sprintf(hostileRecord, time.Now().UTC().Format("2006-01-02T15:04:05Z"))+`]}`), 0o644)
	if err := run(ctx, []string{"ingest", "--data-dir", ts.DataDir, "--account-id", testAccount, "--quiet", logs}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatalf("ingest: %v", err)
	}

	tb := mustTab(t)
	t.Run("sign in", func(t *testing.T) {
		tb.open(t, ts.URL+"/")
		tb.waitFor(t, "the sign-in page", `location.pathname === "/console/signin"`, 10*time.Second)
		tb.do(t, chromedp.SendKeys(chromedp.ID("access_key_id"), ts.KeyID), chromedp.SendKeys(chromedp.ID("secret_access_key"), "not-the-secret"))
		tb.submit(t, "#signin")
		if got := tb.text(t, "#problem"); !strings.Contains(got, "authentication information is incorrect") {
			t.Fatalf("bad credentials: problem %q", got)
		}
		tb.screenshot(t, "signin-failed")
		tb.do(t, chromedp.SetValue(chromedp.ID("secret_access_key"), ts.Secret))
		tb.submit(t, "#signin")
		if loc := browse(t, tb, chromedp.Location()); !strings.HasSuffix(loc, "/console/events") {
			t.Fatalf("after signing in the browser is at %s", loc)
		}
		// Both attempts are recorded as AWS records console sign-ins.
		evs := lookupAll(t, ct, &cloudtrail.LookupEventsInput{LookupAttributes: attr(types.LookupAttributeKeyEventName, "ConsoleLogin")})
		var got []string
		for _, e := range evs {
			var rec struct {
				EventType, EventSource, ErrorMessage string
				UserAgent                            string `json:"userAgent"`
				ResponseElements                     struct{ ConsoleLogin string }
			}
			json.Unmarshal([]byte(aws.ToString(e.CloudTrailEvent)), &rec)
			if !strings.Contains(rec.UserAgent, "Chrome") {
				t.Errorf("sign-in record has user agent %q, want the browser's", rec.UserAgent)
			}
			got = append(got, fmt.Sprintf("%s %s %s %s %s", rec.EventSource, rec.EventType, rec.ResponseElements.ConsoleLogin, aws.ToString(e.Username), rec.ErrorMessage))
		}
		want := []string{"signin.amazonaws.com AwsConsoleSignIn Success root ", "signin.amazonaws.com AwsConsoleSignIn Failure root Failed authentication"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ConsoleLogin events (-want +got):\n%s", diff)
		}
		// The console's own calls are marked as console calls.
		evs = lookupAll(t, ct, &cloudtrail.LookupEventsInput{LookupAttributes: attr(types.LookupAttributeKeyEventName, "LookupEvents")})
		console := 0
		for _, e := range evs {
			var rec struct {
				SessionCredentialFromConsole string `json:"sessionCredentialFromConsole"`
			}
			json.Unmarshal([]byte(aws.ToString(e.CloudTrailEvent)), &rec)
			if rec.SessionCredentialFromConsole == "true" {
				console++
			}
		}
		if console == 0 {
			t.Errorf("no LookupEvents record has sessionCredentialFromConsole true")
		}
	})

	t.Run("search by user name and event name", func(t *testing.T) {
		tb.open(t, ts.URL+"/console/events")
		tb.do(t, chromedp.SetValue(chromedp.ID("attr"), "Username"), chromedp.SetValue(chromedp.ID("value"), "root"))
		tb.submit(t, "#apply")
		users := browse(t, tb, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#events tbody tr[data-id] td:nth-child(3)")].map(td => td.textContent)`))
		if len(users) == 0 {
			t.Fatal("no events for user root")
		}
		for _, u := range users {
			if u != "root" {
				t.Errorf("searching user root shows a row of user %q", u)
			}
		}
		tb.do(t, chromedp.SetValue(chromedp.ID("attr"), "EventName"), chromedp.SetValue(chromedp.ID("value"), "ConsoleLogin"))
		tb.submit(t, "#apply")
		names := browse(t, tb, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#events tbody tr[data-id] td:first-child a")].map(a => a.textContent)`))
		if diff := cmp.Diff([]string{"ConsoleLogin", "ConsoleLogin"}, names); diff != "" {
			t.Errorf("events named ConsoleLogin (-want +got):\n%s", diff)
		}
		tb.waitFor(t, "the chart", `document.getElementById("chart").complete && document.getElementById("chart").naturalWidth > 0`, 10*time.Second)
		tb.screenshot(t, "events")
	})

	t.Run("event detail", func(t *testing.T) {
		tb.submit(t, "#events tbody tr[data-id] td:first-child a")
		if got := tb.text(t, "#event-name"); got != "ConsoleLogin" {
			t.Errorf("detail page of %q", got)
		}
		record := tb.text(t, "#record")
		var rec map[string]any
		if err := json.Unmarshal([]byte(record), &rec); err != nil {
			t.Fatalf("the record shown is not JSON: %v\n%s", err, record)
		}
		if rec["eventType"] != "AwsConsoleSignIn" {
			t.Errorf("record eventType %v", rec["eventType"])
		}
		if fields := tb.text(t, "#fields"); !strings.Contains(fields, "signin.amazonaws.com") || !strings.Contains(fields, "Source IP address") {
			t.Errorf("detail fields: %s", fields)
		}
		tb.screenshot(t, "event")
	})

	t.Run("download CSV and JSON", func(t *testing.T) {
		tb.open(t, ts.URL+"/console/events?attr=EventName&value=ConsoleLogin")
		want := lookupAll(t, ct, &cloudtrail.LookupEventsInput{LookupAttributes: attr(types.LookupAttributeKeyEventName, "ConsoleLogin")})

		rows, err := csv.NewReader(bytes.NewReader(tb.download(t, "#download-csv"))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 0 || !cmp.Equal(rows[0], api.CSVHeader) {
			t.Fatalf("CSV header %q", rows)
		}
		if len(rows)-1 != len(want) {
			t.Fatalf("CSV has %d events, LookupEvents %d", len(rows)-1, len(want))
		}
		for i, e := range want {
			row := rows[i+1]
			if row[0] != aws.ToString(e.EventId) || row[3] != aws.ToString(e.EventName) || row[2] != aws.ToString(e.Username) ||
				row[len(row)-1] != aws.ToString(e.CloudTrailEvent) {
				t.Errorf("CSV row %d = %q, LookupEvents has %s %s", i, row[:4], aws.ToString(e.EventId), aws.ToString(e.EventName))
			}
		}

		var recs []json.RawMessage
		body := tb.download(t, "#download-json")
		if err := json.Unmarshal(body, &recs); err != nil {
			t.Fatalf("JSON download: %v\n%s", err, body)
		}
		if len(recs) != len(want) {
			t.Fatalf("JSON has %d events, LookupEvents %d", len(recs), len(want))
		}
		for i, e := range want {
			if string(recs[i]) != aws.ToString(e.CloudTrailEvent) {
				t.Errorf("JSON record %d = %s, LookupEvents has %s", i, recs[i], aws.ToString(e.CloudTrailEvent))
			}
		}
	})

	t.Run("create a trail and see it deliver", func(t *testing.T) {
		tb.open(t, ts.URL+"/console/trails")
		tb.submit(t, "#create-trail")
		// AWS's validation messages come back into the form.
		tb.do(t, chromedp.SendKeys(chromedp.ID("name"), "ab"), chromedp.SendKeys(chromedp.ID("bucket"), "console-trail-logs"))
		tb.submit(t, "#save-trail")
		if got := tb.text(t, "#problem"); !strings.Contains(got, "InvalidTrailNameException") || !strings.Contains(got, "Trail name too short") {
			t.Errorf("a too short name: problem %q", got)
		}
		if v := browse(t, tb, chromedp.Value(chromedp.ID("name"))); v != "ab" {
			t.Errorf("the form lost the name typed: %q", v)
		}
		tb.screenshot(t, "trail-form-error")
		tb.do(t, chromedp.Click(chromedp.ID("bucket-existing")), chromedp.SetValue(chromedp.ID("name"), "console-trail"),
			chromedp.SetValue(chromedp.ID("bucket"), "no-such-bucket-here"))
		tb.submit(t, "#save-trail")
		if got := tb.text(t, "#problem"); !strings.Contains(got, "S3BucketDoesNotExistException") {
			t.Errorf("a missing bucket: problem %q", got)
		}
		tb.do(t, chromedp.SetValue(chromedp.ID("bucket"), "console-trail-logs"))
		tb.submit(t, "#save-trail")
		if got := tb.text(t, ".flash"); !strings.Contains(got, "console-trail created") || !strings.Contains(got, "Logging started") {
			t.Fatalf("after creating: flash %q problem %q", got, tb.text(t, "#problem"))
		}
		tb.screenshot(t, "trail")
		st, err := ct.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String("console-trail")})
		if err != nil || !aws.ToBool(st.IsLogging) {
			t.Fatalf("GetTrailStatus: %v logging %v", err, st != nil && aws.ToBool(st.IsLogging))
		}
		// Wait for a delivery on the trails page.
		deadline := time.Now().Add(30 * time.Second)
		for {
			tb.open(t, ts.URL+"/console/trails")
			if got := tb.text(t, "#trails tr[data-name='console-trail'] .last-delivery"); got != "" && got != "—" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the trails page shows no delivery after 30s")
			}
			time.Sleep(500 * time.Millisecond)
		}
		tb.screenshot(t, "trails")
	})

	t.Run("open a delivered log file", func(t *testing.T) {
		tb.open(t, ts.URL+"/console/buckets")
		tb.submit(t, "#buckets a")
		for range 10 { // AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/file
			if browse(t, tb, chromedp.Evaluate[bool](`!!document.getElementById("records")`)) {
				break
			}
			tb.submit(t, "#objects tbody tr td:first-child a")
		}
		count := tb.text(t, "#record-count")
		records := tb.text(t, "#records")
		if !strings.HasSuffix(count, "records") || !strings.Contains(records, `"eventVersion"`) || !strings.Contains(records, `"sessionCredentialFromConsole": "true"`) {
			t.Fatalf("the log file page shows %q:\n%.2000s", count, records)
		}
		key := tb.text(t, "h1.key")
		if !strings.HasSuffix(key, ".json.gz") || !strings.Contains(key, "AWSLogs/"+testAccount+"/CloudTrail/") {
			t.Errorf("opened %q, want a log file", key)
		}
		tb.do(t, chromedp.Evaluate[chromedp.Void](`document.querySelector("#records details").open = true`))
		tb.screenshot(t, "log-file")
		// The download is the object as stored: gzip.
		if b := tb.download(t, "#download-object"); len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
			t.Errorf("the downloaded log file is not the gzip object (%d bytes)", len(b))
		}
	})

	t.Run("hostile content is shown as text", func(t *testing.T) {
		tb.open(t, ts.URL+"/console/events?attr=EventSource&value=evil.example.com")
		name := tb.text(t, "#events tbody tr[data-id] td:first-child a")
		if name != "<script>alert('name')</script>" {
			t.Fatalf("hostile event's name shows as %q", name)
		}
		if user := tb.text(t, "#events tbody tr[data-id] td:nth-child(3)"); user != "<img src=x onerror=alert('user')>" {
			t.Errorf("hostile user name shows as %q", user)
		}
		tb.submit(t, "#events tbody tr[data-id] td:first-child a")
		fields := tb.text(t, "#fields")
		for _, want := range []string{"<script>alert('ua')</script><img src=x onerror=alert('ua2')>", "</pre><script>alert('error')</script>", `"><img src=x onerror=alert('ip')>`} {
			if !strings.Contains(fields, want) {
				t.Errorf("detail does not show %q as text:\n%s", want, fields)
			}
		}
		if rec := tb.text(t, "#record"); !strings.Contains(rec, "javascript:alert('param')") {
			t.Errorf("record does not show the request parameters as text")
		}
		tb.screenshot(t, "hostile-event")
		// Nothing the event carried became an element or a live link.
		counts := browse(t, tb, chromedp.Evaluate[[]int](`[
			document.querySelectorAll("script:not([src])").length,
			document.querySelectorAll("main img, main b, main svg").length,
			[...document.querySelectorAll("a")].filter(a => !a.href.startsWith(location.origin)).length]`))
		if diff := cmp.Diff([]int{0, 0, 0}, counts); diff != "" {
			t.Errorf("inline scripts, injected elements, foreign links (-want +got):\n%s", diff)
		}
		time.Sleep(300 * time.Millisecond) // let any onerror fire
		tb.checkClean(t)
	})

	t.Run("live mode", func(t *testing.T) {
		tb.open(t, ts.URL+"/console/events")
		tb.waitFor(t, "the live button", `!document.getElementById("live").hidden`, 10*time.Second)
		tb.do(t, chromedp.Click(chromedp.ID("live")))
		if _, err := ct.DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{}); err != nil {
			t.Fatal(err)
		}
		tb.waitFor(t, "DescribeTrails to appear live",
			`[...document.querySelectorAll("#events tbody tr.fresh td:first-child a")].some(a => a.textContent === "DescribeTrails")`, 20*time.Second)
		// The console's own polls are not shown.
		own := browse(t, tb, chromedp.Evaluate[int](`[...document.querySelectorAll("#events tbody tr.fresh td:first-child a")].filter(a => a.textContent === "LookupEvents").length`))
		if own != 0 {
			t.Errorf("live mode shows %d of its own LookupEvents calls", own)
		}
	})

	t.Run("narrow screen", func(t *testing.T) {
		tb.do(t, chromedp.EmulateViewport(390, 844))
		tb.open(t, ts.URL+"/console/events")
		width := browse(t, tb, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		if width > 400 {
			t.Errorf("the events page is %dpx wide on a 390px screen", width)
		}
		tb.screenshot(t, "events-narrow")
		tb.do(t, chromedp.EmulateViewport(1280, 900))
	})

	t.Run("sign out", func(t *testing.T) {
		tb.open(t, ts.URL+"/console/trails")
		tb.submit(t, "#signout")
		tb.open(t, ts.URL+"/console/trails")
		if loc := browse(t, tb, chromedp.Location()); !strings.Contains(loc, "/console/signin?next="+url.QueryEscape("/console/trails")) {
			t.Errorf("after signing out /console/trails goes to %s", loc)
		}
	})
	tb.checkClean(t)
}

// consoleClient is a plain HTTP client of the console: a cookie jar, and
// the CSRF token of the last page it read.
type consoleClient struct {
	tb   testing.TB
	c    *http.Client
	base string
	csrf string
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func newConsoleClient(tb testing.TB, ts *testServer) *consoleClient {
	tb.Helper()
	jar, _ := cookiejar.New(nil)
	cc := &consoleClient{tb: tb, c: &http.Client{Jar: jar}, base: ts.URL}
	cc.get("/console/signin")
	page := cc.post("/console/signin", url.Values{"access_key_id": {ts.KeyID}, "secret_access_key": {ts.Secret}, "region": {"us-east-1"}})
	if !strings.Contains(page, "Event history") || strings.Contains(page, `id="problem"`) {
		tb.Fatalf("sign-in failed:\n%s", page)
	}
	return cc
}

func (cc *consoleClient) read(resp *http.Response, err error) string {
	cc.tb.Helper()
	if err != nil {
		cc.tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if m := csrfInput.FindSubmatch(b); m != nil {
		cc.csrf = html.UnescapeString(string(m[1]))
	}
	return string(b)
}

func (cc *consoleClient) get(path string) string {
	cc.tb.Helper()
	return cc.read(cc.c.Get(cc.base + path))
}

func (cc *consoleClient) post(path string, form url.Values) string {
	cc.tb.Helper()
	form.Set("csrf", cc.csrf)
	return cc.read(cc.c.PostForm(cc.base+path, form))
}

// problemText is the error a page shows, or "".
func problemText(page string) string {
	m := regexp.MustCompile(`(?s)<div class="problem"[^>]*>(.*?)</div>`).FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return html.UnescapeString(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(m[1], ""))
}

func TestConsoleTrailLifecycle(t *testing.T) {
	ts := mustRunMain(t)
	ct := ts.cloudtrail("us-east-1")
	ctx := context.Background()
	cc := newConsoleClient(t, ts)
	cc.get("/console/trails/new")
	form := url.Values{"name": {"lifecycle"}, "bucket": {"lifecycle-logs"}, "bucket_mode": {"new"}, "multi_region": {"1"},
		"mode": {"advanced"}, "advanced": {`[{"Name": "broken"`}}
	page := cc.post("/console/trails/new", form)
	if p := problemText(page); !strings.Contains(p, "InvalidEventSelectorsException") || !strings.Contains(p, "not valid JSON") {
		t.Errorf("bad advanced selectors: problem %q", p)
	}
	form.Set("advanced", `[{"Name": "writes", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "readOnly", "Equals": ["false"]}]}]`)
	page = cc.post("/console/trails/new", form)
	if p := problemText(page); p != "" {
		t.Fatalf("create with advanced selectors: %s", p)
	}
	sel, err := ct.GetEventSelectors(ctx, &cloudtrail.GetEventSelectorsInput{TrailName: aws.String("lifecycle")})
	if err != nil {
		t.Fatal(err)
	}
	if len(sel.AdvancedEventSelectors) != 1 || aws.ToString(sel.AdvancedEventSelectors[0].Name) != "writes" || len(sel.AdvancedEventSelectors[0].FieldSelectors) != 2 {
		t.Errorf("advanced selectors after create: %+v", sel.AdvancedEventSelectors)
	}
	if !strings.Contains(page, "&#34;readOnly&#34;") && !strings.Contains(page, `"readOnly"`) {
		t.Errorf("the trail page does not show its selectors")
	}
	arn := "arn:aws:cloudtrail:us-east-1:" + testAccount + ":trail/lifecycle"

	// Edit: basic selectors with data events, a prefix.
	edit := cc.get("/console/trails/edit?arn=" + url.QueryEscape(arn))
	if !strings.Contains(edit, "writes") {
		t.Errorf("the edit form does not show the advanced selectors")
	}
	page = cc.post("/console/trails/edit", url.Values{"arn": {arn}, "name": {"lifecycle"}, "bucket": {"lifecycle-logs"},
		"prefix": {"bad//prefix"}, "multi_region": {"1"}, "mode": {"basic"}, "management": {"1"}, "read_write": {"ReadOnly"}})
	if p := problemText(page); !strings.Contains(p, "Exception") {
		t.Errorf("a prefix with an empty segment: problem %q", p)
	}
	page = cc.post("/console/trails/edit", url.Values{"arn": {arn}, "name": {"lifecycle"}, "bucket": {"lifecycle-logs"},
		"multi_region": {"1"}, "validation": {"1"}, "mode": {"basic"}, "management": {"1"}, "read_write": {"ReadOnly"},
		"data_resources": {"AWS::S3::Object arn:aws:s3:::lifecycle-logs/\nAWS::S3::Object arn:aws:s3:::other/"}})
	if p := problemText(page); p != "" {
		t.Fatalf("edit: %s", p)
	}
	sel, err = ct.GetEventSelectors(ctx, &cloudtrail.GetEventSelectorsInput{TrailName: aws.String("lifecycle")})
	if err != nil {
		t.Fatal(err)
	}
	if len(sel.EventSelectors) != 1 || sel.EventSelectors[0].ReadWriteType != types.ReadWriteTypeReadOnly ||
		len(sel.EventSelectors[0].DataResources) != 1 || len(sel.EventSelectors[0].DataResources[0].Values) != 2 {
		t.Errorf("basic selectors after edit: %+v", sel.EventSelectors)
	}
	tr, err := ct.GetTrail(ctx, &cloudtrail.GetTrailInput{Name: aws.String("lifecycle")})
	if err != nil || !aws.ToBool(tr.Trail.LogFileValidationEnabled) {
		t.Errorf("after edit: validation %v (%v)", tr != nil && aws.ToBool(tr.Trail.LogFileValidationEnabled), err)
	}

	// Stop and start logging.
	for _, step := range []struct {
		op   string
		want bool
	}{{"stop", false}, {"start", true}} {
		cc.post("/console/trails/logging", url.Values{"arn": {arn}, "logging": {step.op}})
		st, err := ct.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String(arn)})
		if err != nil || aws.ToBool(st.IsLogging) != step.want {
			t.Errorf("after %s: logging %v (%v)", step.op, st != nil && aws.ToBool(st.IsLogging), err)
		}
	}
	list := cc.get("/console/trails")
	if !strings.Contains(list, ">lifecycle</a>") || !strings.Contains(list, "Logging") {
		t.Errorf("the trails list does not show the trail logging")
	}

	// Delete, after the confirmation page.
	if confirm := cc.get("/console/trails/delete?arn=" + url.QueryEscape(arn)); !strings.Contains(confirm, "Delete trail lifecycle?") {
		t.Errorf("no confirmation page")
	}
	cc.post("/console/trails/delete", url.Values{"arn": {arn}})
	if _, err := ct.GetTrail(ctx, &cloudtrail.GetTrailInput{Name: aws.String("lifecycle")}); errorCode(err) != "TrailNotFoundException" {
		t.Errorf("after delete GetTrail: %v", err)
	}
	// Each change was a console call, recorded as such.
	evs := lookupAll(t, ct, &cloudtrail.LookupEventsInput{LookupAttributes: attr(types.LookupAttributeKeyEventName, "DeleteTrail")})
	if len(evs) != 1 || !strings.Contains(aws.ToString(evs[0].CloudTrailEvent), `"sessionCredentialFromConsole":"true"`) {
		t.Errorf("DeleteTrail records: %d, want 1 marked as from the console", len(evs))
	}
}

func TestConsolePagesKeepFilters(t *testing.T) {
	ts := mustRunMain(t)
	ct := ts.cloudtrail("us-east-1")
	for range 60 {
		if _, err := ct.ListTrails(context.Background(), &cloudtrail.ListTrailsInput{}); err != nil {
			t.Fatal(err)
		}
	}
	cc := newConsoleClient(t, ts)
	rows := regexp.MustCompile(`<tr data-id="[^"]+"`)
	older := regexp.MustCompile(`<a href="([^"]+)" id="older">`)
	page := cc.get("/console/events?attr=EventName&value=ListTrails&range=1h&readonly=true")
	if n := len(rows.FindAllString(page, -1)); n != 50 {
		t.Fatalf("first page: %d rows, want 50", n)
	}
	m := older.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no link to older events")
	}
	next := html.UnescapeString(m[1])
	u, _ := url.Parse(next)
	for k, v := range map[string]string{"attr": "EventName", "value": "ListTrails", "range": "1h", "readonly": "true", "page": "2"} {
		if got := u.Query().Get(k); got != v {
			t.Errorf("older link %s = %q, want %q", k, got, v)
		}
	}
	page = cc.get(next)
	if p := problemText(page); p != "" {
		t.Fatalf("second page: %s", p)
	}
	if n := len(rows.FindAllString(page, -1)); n != 10 {
		t.Errorf("second page: %d rows, want 10", n)
	}
	if strings.Contains(page, `id="older"`) {
		t.Errorf("the last page links to older events")
	}
	// The chart of the same filter counts the 60 calls.
	svg := cc.get("/console/events/chart.svg?attr=EventName&value=ListTrails&range=1h")
	if !strings.HasPrefix(svg, "<svg") || !strings.Contains(svg, "cloudtrail.amazonaws.com (60)") {
		t.Errorf("chart:\n%s", svg)
	}
}
