package main

import (
	"bytes"
	"context"
	"encoding/base64"
	csvpkg "encoding/csv"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"golang.org/x/net/websocket"
)

// The console in Firefox: a headless Firefox driven over WebDriver BiDi
// (Firefox's built-in remote protocol; no driver binary needed).

func firefoxPath(tb testing.TB) string {
	tb.Helper()
	return browserPath(tb, "Firefox is not installed (Debian: apt-get install -y firefox-esr)", "firefox-esr", "firefox")
}

// firefox is one browsing context of a headless Firefox.
type firefox struct {
	ws      *websocket.Conn
	context string
	shots   string

	mu       sync.Mutex
	next     int
	waiting  map[int]chan bidiReply
	problems []string // JavaScript errors and dialogs
}

type bidiReply struct {
	Type    string          `json:"type"`
	ID      int             `json:"id"`
	Method  string          `json:"method"`
	Result  json.RawMessage `json:"result"`
	Params  json.RawMessage `json:"params"`
	Error   string          `json:"error"`
	Message string          `json:"message"`
}

func mustFirefox(tb testing.TB) *firefox {
	tb.Helper()
	path := firefoxPath(tb)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	var out bytes.Buffer
	cmd := exec.Command(path, "--headless", "--no-remote", "--profile", tb.TempDir(),
		"--remote-debugging-port", port, "--remote-allow-origins", "http://localhost", "about:blank")
	cmd.Env = append(os.Environ(), "MOZ_HEADLESS=1")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	var ws *websocket.Conn
	for deadline := time.Now().Add(60 * time.Second); ; {
		ws, err = websocket.Dial("ws://127.0.0.1:"+port+"/session", "", "http://localhost")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("Firefox's remote protocol did not answer in 60 s: %v\n%s", err, out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	tb.Cleanup(func() { ws.Close() })
	f := &firefox{ws: ws, waiting: map[int]chan bidiReply{}, shots: os.Getenv("OPENTRAIL_SCREENSHOTS")}
	if f.shots == "" {
		f.shots = filepath.Join(os.TempDir(), "opentrail-console")
	}
	os.MkdirAll(f.shots, 0o755)
	go f.read()
	f.call(tb, "session.new", map[string]any{"capabilities": map[string]any{}})
	f.call(tb, "session.subscribe", map[string]any{"events": []string{"log.entryAdded", "browsingContext.userPromptOpened"}})
	var tree struct {
		Contexts []struct {
			Context string `json:"context"`
		} `json:"contexts"`
	}
	f.decode(tb, f.call(tb, "browsingContext.getTree", map[string]any{}), &tree)
	if len(tree.Contexts) == 0 {
		tb.Fatal("Firefox has no browsing context")
	}
	f.context = tree.Contexts[0].Context
	f.call(tb, "browsingContext.setViewport", map[string]any{"context": f.context, "viewport": map[string]int{"width": 1280, "height": 900}})
	return f
}

// read dispatches replies to their callers and records problems that
// events report.
func (f *firefox) read() {
	for {
		var r bidiReply
		if err := websocket.JSON.Receive(f.ws, &r); err != nil {
			f.mu.Lock()
			for id, ch := range f.waiting {
				ch <- bidiReply{Type: "error", Error: "connection closed", Message: err.Error()}
				delete(f.waiting, id)
			}
			f.mu.Unlock()
			return
		}
		if r.Type == "event" {
			var p struct {
				Level   string `json:"level"`
				Text    string `json:"text"`
				Message string `json:"message"`
			}
			json.Unmarshal(r.Params, &p)
			switch {
			case r.Method == "browsingContext.userPromptOpened":
				f.note("dialog: " + p.Message)
			case r.Method == "log.entryAdded" && p.Level == "error":
				f.note("error: " + p.Text)
			}
			continue
		}
		f.mu.Lock()
		ch := f.waiting[r.ID]
		delete(f.waiting, r.ID)
		f.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	}
}

func (f *firefox) note(s string) {
	f.mu.Lock()
	f.problems = append(f.problems, s)
	f.mu.Unlock()
}

func (f *firefox) call(tb testing.TB, method string, params any) json.RawMessage {
	tb.Helper()
	f.mu.Lock()
	f.next++
	id := f.next
	ch := make(chan bidiReply, 1)
	f.waiting[id] = ch
	f.mu.Unlock()
	if err := websocket.JSON.Send(f.ws, map[string]any{"id": id, "method": method, "params": params}); err != nil {
		tb.Fatalf("%s: %v", method, err)
	}
	select {
	case r := <-ch:
		if r.Type == "error" {
			tb.Fatalf("%s: %s: %s", method, r.Error, r.Message)
		}
		return r.Result
	case <-time.After(30 * time.Second):
		tb.Fatalf("%s: no reply in 30 s", method)
	}
	return nil
}

func (f *firefox) decode(tb testing.TB, raw json.RawMessage, v any) {
	tb.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		tb.Fatalf("decode %s: %v", raw, err)
	}
}

func (f *firefox) open(tb testing.TB, url string) {
	tb.Helper()
	f.call(tb, "browsingContext.navigate", map[string]any{"context": f.context, "url": url, "wait": "complete"})
}

// eval runs a JavaScript expression in the page and returns its value as
// JSON (the expression should yield a string, number or boolean; wrap
// others in JSON.stringify).
func (f *firefox) eval(tb testing.TB, expr string) json.RawMessage {
	tb.Helper()
	var r struct {
		Type      string `json:"type"`
		Exception *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
	}
	f.decode(tb, f.call(tb, "script.evaluate", map[string]any{"expression": expr, "awaitPromise": true,
		"target": map[string]string{"context": f.context}}), &r)
	if r.Type == "exception" {
		tb.Fatalf("evaluate %s: %s", expr, r.Exception.Text)
	}
	return r.Result.Value
}

func (f *firefox) evalString(tb testing.TB, expr string) string {
	tb.Helper()
	var s string
	f.decode(tb, f.eval(tb, expr), &s)
	return s
}

func (f *firefox) waitFor(tb testing.TB, what, cond string) {
	tb.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; {
		if string(f.eval(tb, "Boolean("+cond+")")) == "true" {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("waited 20 s for %s at %s", what, f.evalString(tb, "location.href"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// submit clicks a form's button and waits for the next page.
func (f *firefox) submit(tb testing.TB, css string) {
	tb.Helper()
	f.eval(tb, fmt.Sprintf(`window.__old = true; document.querySelector(%q).click(); true`, css))
	f.waitFor(tb, "the next page after "+css, `!window.__old && document.readyState === "complete"`)
}

func (f *firefox) screenshot(tb testing.TB, name string) {
	tb.Helper()
	var r struct {
		Data string `json:"data"`
	}
	f.decode(tb, f.call(tb, "browsingContext.captureScreenshot", map[string]any{"context": f.context, "origin": "document"}), &r)
	png, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(f.shots, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("screenshot %s", path)
}

func (f *firefox) checkClean(tb testing.TB) {
	tb.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.problems) > 0 {
		tb.Errorf("JavaScript dialogs or errors in Firefox: %q", f.problems)
	}
}

// TestConsoleInFirefox runs the console's main pages in headless Firefox:
// sign-in, history search, an event full of markup, a download, Lake, and
// a narrow screen, with no script error and no dialog.
func TestConsoleInFirefox(t *testing.T) {
	ff := mustFirefox(t)
	ts := mustRunMain(t)
	ct := ts.cloudtrail("us-east-1")
	ctx := context.Background()
	logs := filepath.Join(t.TempDir(), "hostile.json")
	os.WriteFile(logs, []byte(`{"Records":[`+fmt.Sprintf(hostileRecord, time.Now().UTC().Format("2006-01-02T15:04:05Z"))+`]}`), 0o644)
	if err := run(ctx, []string{"ingest", "--data-dir", ts.DataDir, "--account-id", testAccount, "--quiet", logs}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatalf("ingest: %v", err)
	}

	ff.open(t, ts.URL+"/console/signin")
	ff.eval(t, fmt.Sprintf(`document.getElementById("access_key_id").value = %q; document.getElementById("secret_access_key").value = "wrong"; true`, ts.KeyID))
	ff.submit(t, "#signin")
	if p := ff.evalString(t, `(document.getElementById("problem") || {textContent: ""}).textContent`); !strings.Contains(p, "authentication information is incorrect") {
		t.Fatalf("bad credentials: problem %q", p)
	}
	ff.eval(t, fmt.Sprintf(`document.getElementById("secret_access_key").value = %q; true`, ts.Secret))
	ff.submit(t, "#signin")
	if loc := ff.evalString(t, "location.pathname"); loc != "/console/events" {
		t.Fatalf("after signing in Firefox is at %s", loc)
	}
	// The sign-in is recorded with Firefox's user agent.
	evs := lookupAll(t, ct, &cloudtrail.LookupEventsInput{LookupAttributes: attr(types.LookupAttributeKeyEventName, "ConsoleLogin")})
	firefoxSignIns := 0
	for _, e := range evs {
		if strings.Contains(*e.CloudTrailEvent, "Firefox/") {
			firefoxSignIns++
		}
	}
	if firefoxSignIns != 2 {
		t.Errorf("%d ConsoleLogin records with Firefox's user agent, want 2", firefoxSignIns)
	}

	// Search by event name: the rows are those LookupEvents gives.
	ff.eval(t, `document.getElementById("attr").value = "EventName"; document.getElementById("value").value = "ConsoleLogin"; true`)
	ff.submit(t, "#apply")
	var names []string
	ff.decode(t, []byte(ff.evalString(t, `JSON.stringify([...document.querySelectorAll("#events tbody tr[data-id] td:first-child a")].map(a => a.textContent))`)), &names)
	if len(names) != 2 || names[0] != "ConsoleLogin" || names[1] != "ConsoleLogin" {
		t.Errorf("events named ConsoleLogin in Firefox: %q", names)
	}
	ff.waitFor(t, "the chart", `document.getElementById("chart").complete && document.getElementById("chart").naturalWidth > 0`)
	ff.screenshot(t, "firefox-events")

	// The hostile event: shown as text, nothing runs.
	ff.open(t, ts.URL+"/console/events/detail?id=0badc0de-0000-4000-8000-00000000beef")
	if got := ff.evalString(t, `document.getElementById("event-name").textContent`); got != "<script>alert('name')</script>" {
		t.Errorf("hostile event name shown as %q", got)
	}
	if n := ff.evalString(t, `String(document.querySelectorAll("img[onerror], a[href^='javascript:']").length)`); n != "0" {
		t.Errorf("%s elements from the event's markup made it into the page", n)
	}

	// A download (same origin, with the session cookie) holds the events.
	csv := ff.evalString(t, `fetch("/console/events/download?format=csv&attr=EventName&value=ConsoleLogin").then(r => r.text())`)
	rows, err := csvpkg.NewReader(strings.NewReader(csv)).ReadAll()
	if err != nil || len(rows) != 3 || rows[0][3] != "Event name" || rows[1][3] != "ConsoleLogin" || rows[2][3] != "ConsoleLogin" {
		t.Errorf("CSV download in Firefox (%v):\n%s", err, csv)
	}

	// Lake's pages.
	ff.open(t, ts.URL+"/console/lake")
	if h := ff.evalString(t, `document.querySelector("h1").textContent`); !strings.Contains(h, "event data stores") {
		t.Errorf("Lake page heading %q", h)
	}

	// A narrow screen: the history page does not scroll sideways.
	ff.call(t, "browsingContext.setViewport", map[string]any{"context": ff.context, "viewport": map[string]int{"width": 390, "height": 844}})
	ff.open(t, ts.URL+"/console/events")
	var width struct{ Scroll, Client int }
	ff.decode(t, []byte(ff.evalString(t, `JSON.stringify({Scroll: document.documentElement.scrollWidth, Client: document.documentElement.clientWidth})`)), &width)
	if width.Client == 0 || width.Scroll > width.Client {
		t.Errorf("the history page scrolls sideways on a 390 px screen: %d px of content in %d", width.Scroll, width.Client)
	}
	ff.screenshot(t, "firefox-events-narrow")
	ff.checkClean(t)
}
