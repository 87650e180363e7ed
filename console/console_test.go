package console_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api"
	"github.com/opentrail/opentrail/console"
	"github.com/opentrail/opentrail/history"
	"github.com/opentrail/opentrail/journal"
)

const (
	account = "123456789012"
	keyID   = "AKIACONSOLETEST00001"
	secret  = "console/test/secret/0123456789abcdef"
)

// env is a real API front with the console in front of it, on httptest.
type env struct {
	db    *journal.DB
	srv   *httptest.Server
	clock *clock
}

// clock is a settable clock for session expiry.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func mustEnv(tb testing.TB) *env {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	db, err := journal.Open(ctx, filepath.Join(dir, "opentrail.db"), journal.Options{Synchronous: "NORMAL"})
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	err = db.Update(ctx, func(tx *journal.Tx) error {
		if err := tx.CreateAccount(account, now); err != nil {
			return err
		}
		return tx.PutAccessKey(&opentrail.AccessKey{ID: keyID, Secret: secret, Active: true, Principal: opentrail.Principal{
			Type: opentrail.PrincipalRoot, AccountID: account, PrincipalID: account, AccessKeyID: keyID}}, now)
	})
	if err != nil {
		tb.Fatal(err)
	}
	hx, err := history.Open(ctx, db, history.Options{Dir: filepath.Join(dir, "history"), CacheMiB: 8})
	if err != nil {
		tb.Fatal(err)
	}
	bg, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		hx.Run(bg)
	}()
	e := &env{db: db, clock: &clock{now: now}}
	var con *console.Console
	front := api.New(api.Config{DB: db, History: hx, Regions: []string{"us-east-1", "eu-west-1"},
		Unauthenticated: func(w http.ResponseWriter, r *http.Request) bool { return con.ServeUnauthenticated(w, r) }})
	con = console.New(console.Config{API: front, Account: account, Regions: front.Regions(), Now: e.clock.Now,
		SessionTTL: 12 * time.Hour, IdleTimeout: time.Hour})
	e.srv = httptest.NewServer(front)
	tb.Cleanup(func() {
		e.srv.Close()
		cancel()
		<-done
		hx.Close()
		db.Close()
	})
	return e
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so that tests see them.
type browser struct {
	tb  testing.TB
	c   *http.Client
	url string
}

func (e *env) browser(tb testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{tb: tb, url: e.srv.URL, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func (b *browser) do(method, path string, form url.Values, header ...string) (*http.Response, string) {
	b.tb.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.url+path, body)
	if err != nil {
		b.tb.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.tb.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	return resp, string(text)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(tb testing.TB, page string) string {
	tb.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		tb.Fatalf("no CSRF token in the page:\n%s", page)
	}
	return m[1]
}

// signIn signs in and returns the CSRF token of the session's pages.
func (b *browser) signIn(key, sec string) *http.Response {
	b.tb.Helper()
	_, page := b.do("GET", "/console/signin", nil)
	resp, _ := b.do("POST", "/console/signin", url.Values{"csrf": {csrfOf(b.tb, page)}, "access_key_id": {key},
		"secret_access_key": {sec}, "region": {"us-east-1"}})
	return resp
}

func (b *browser) mustSignIn() string {
	b.tb.Helper()
	resp := b.signIn(keyID, secret)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/events" {
		b.tb.Fatalf("sign-in: %s to %q, want 303 to /console/events", resp.Status, resp.Header.Get("Location"))
	}
	_, page := b.do("GET", "/console/trails", nil)
	return csrfOf(b.tb, page)
}

func TestSignInCookieAndHeaders(t *testing.T) {
	e := mustEnv(t)
	b := e.browser(t)
	resp, page := b.do("GET", "/console/events", nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/console/signin?next=") {
		t.Fatalf("GET /console/events signed out = %s to %q, want a redirect to the sign-in page", resp.Status, resp.Header.Get("Location"))
	}
	resp, page = b.do("GET", "/console/signin", nil)
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "default-src 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") {
		t.Errorf("Content-Security-Policy %q allows inline code", csp)
	}
	if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
	}
	if strings.Contains(page, "<script>") || regexp.MustCompile(`<script[^>]*>[^<]`).MatchString(page) {
		t.Errorf("the sign-in page has an inline script:\n%s", page)
	}

	resp = b.signIn(keyID, secret)
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "opentrail_console" && c.Value != "" {
			session = c
		}
	}
	if session == nil {
		t.Fatalf("sign-in set no session cookie: %v", resp.Header["Set-Cookie"])
	}
	if !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != "/console/" {
		t.Errorf("session cookie = %+v, want HttpOnly, SameSite=Lax, Path=/console/", session)
	}
	if strings.Contains(session.Value, secret) || strings.Contains(strings.Join(resp.Header["Set-Cookie"], ";"), secret) {
		t.Errorf("the secret key is in a cookie")
	}
	_, page = b.do("GET", "/console/events", nil)
	if strings.Contains(page, secret) {
		t.Errorf("the secret key is rendered in the page")
	}
	if !strings.Contains(page, "arn:aws:iam::"+account+":root") {
		t.Errorf("the events page does not show who is signed in")
	}
}

func TestRootRedirectsBrowsers(t *testing.T) {
	e := mustEnv(t)
	b := e.browser(t)
	resp, _ := b.do("GET", "/", nil)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/console/" {
		t.Errorf("GET / from a browser = %s to %q, want 302 to /console/", resp.Status, resp.Header.Get("Location"))
	}
}

func TestSignInFailures(t *testing.T) {
	e := mustEnv(t)
	b := e.browser(t)
	for _, tc := range []struct{ key, secret string }{{keyID, "wrong"}, {"AKIAUNKNOWNKEY000001", secret}} {
		resp := b.signIn(tc.key, tc.secret)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("sign-in with %s/%s = %s, want 401", tc.key, tc.secret, resp.Status)
		}
	}
	// The sign-in form is protected too: a post without its token fails.
	resp, _ := b.do("POST", "/console/signin", url.Values{"access_key_id": {keyID}, "secret_access_key": {secret}, "region": {"us-east-1"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in without the form's token = %s, want 403", resp.Status)
	}
	// Both failures and then a success are recorded as console sign-ins.
	b.mustSignIn()
	resp, body := b.do("GET", "/console/events/download?format=json&attr=EventName&value=ConsoleLogin", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("download: %s\n%s", resp.Status, body)
	}
	var recs []opentrail.Event
	if err := json.Unmarshal([]byte(body), &recs); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		var re struct{ ConsoleLogin string }
		json.Unmarshal(r.ResponseElements, &re)
		got = append(got, r.EventType+" "+re.ConsoleLogin+" "+r.UserIdentity.UserName+" "+r.UserIdentity.AccessKeyID+" "+r.ErrorMessage)
	}
	want := []string{
		"AwsConsoleSignIn Success  " + keyID + " ",
		"AwsConsoleSignIn Failure HIDDEN_DUE_TO_SECURITY_REASONS  Failed authentication",
		"AwsConsoleSignIn Failure  " + keyID + " Failed authentication",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("ConsoleLogin records:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCSRF(t *testing.T) {
	e := mustEnv(t)
	b := e.browser(t)
	token := b.mustSignIn()
	for _, tc := range []struct {
		name   string
		form   url.Values
		header []string
	}{
		{"no token", url.Values{"region": {"eu-west-1"}}, nil},
		{"wrong token", url.Values{"region": {"eu-west-1"}, "csrf": {"x" + token}}, nil},
		{"other origin", url.Values{"region": {"eu-west-1"}, "csrf": {token}}, []string{"Origin", "https://evil.example"}},
	} {
		resp, _ := b.do("POST", "/console/region", tc.form, tc.header...)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: POST /console/region = %s, want 403", tc.name, resp.Status)
		}
	}
	resp, _ := b.do("POST", "/console/trails/new", url.Values{"name": {"csrf-trail"}, "bucket": {"b-csrf"}, "bucket_mode": {"new"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("create trail without a token = %s, want 403", resp.Status)
	}
	_, page := b.do("GET", "/console/trails", nil)
	if strings.Contains(page, "csrf-trail") {
		t.Errorf("a trail was created without a CSRF token")
	}
	// With the token the same post works.
	resp, _ = b.do("POST", "/console/region", url.Values{"region": {"eu-west-1"}, "csrf": {token}}, "Origin", b.url)
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("POST /console/region with its token = %s, want 303", resp.Status)
	}
	// Sign-out ends the session; its cookie no longer opens pages.
	resp, _ = b.do("POST", "/console/signout", url.Values{"csrf": {token}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out = %s", resp.Status)
	}
	if resp, _ := b.do("GET", "/console/events", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after sign-out GET /console/events = %s, want a redirect to sign in", resp.Status)
	}
}

func TestSessionExpiry(t *testing.T) {
	e := mustEnv(t)
	b := e.browser(t)
	b.mustSignIn()
	e.clock.advance(59 * time.Minute)
	if resp, _ := b.do("GET", "/console/trails", nil); resp.StatusCode != 200 {
		t.Fatalf("after 59 idle minutes: %s, want 200", resp.Status)
	}
	e.clock.advance(61 * time.Minute)
	if resp, _ := b.do("GET", "/console/trails", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after 61 idle minutes: %s, want a redirect to sign in", resp.Status)
	}
	// A session in use still ends 12 hours after sign-in.
	b.mustSignIn()
	for range 12 {
		e.clock.advance(55 * time.Minute)
		b.do("GET", "/console/trails", nil)
	}
	if resp, _ := b.do("GET", "/console/trails", nil); resp.StatusCode != 200 {
		t.Fatalf("after 11 busy hours: %s, want 200", resp.Status)
	}
	e.clock.advance(61 * time.Minute)
	if resp, _ := b.do("GET", "/console/trails", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("12 hours after sign-in: %s, want a redirect to sign in", resp.Status)
	}
}

func TestNextIsLocal(t *testing.T) {
	e := mustEnv(t)
	for _, next := range []string{"https://evil.example/", "//evil.example/console/", "/elsewhere", "javascript:alert(1)", "/console/\\evil"} {
		b := e.browser(t)
		_, page := b.do("GET", "/console/signin?next="+url.QueryEscape(next), nil)
		resp, _ := b.do("POST", "/console/signin", url.Values{"csrf": {csrfOf(t, page)}, "access_key_id": {keyID},
			"secret_access_key": {secret}, "region": {"us-east-1"}, "next": {next}})
		if loc := resp.Header.Get("Location"); loc != "/console/events" {
			t.Errorf("sign-in with next=%q redirects to %q, want /console/events", next, loc)
		}
	}
}

// hostile is a record whose every free-text field carries markup.
const hostile = `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::123456789012:user/x","accountId":"123456789012","userName":"<img src=x onerror=alert(1)>"},
"eventTime":"%s","eventSource":"evil.amazonaws.com","eventName":"<script>alert(2)</script>","awsRegion":"us-east-1","sourceIPAddress":"\"><svg onload=alert(3)>",
"userAgent":"<script>alert('ua')</script>","errorCode":"Bad","errorMessage":"</pre><script>alert(4)</script>","requestParameters":{"url":"javascript:alert(5)","x":"' onmouseover='alert(6)"},
"responseElements":null,"requestID":"r1","eventID":"%s","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"123456789012",
"resources":[{"ARN":"javascript:alert(7)","accountId":"123456789012","type":"AWS::S3::Bucket"}],"eventCategory":"Management"}`

func TestHostileEventEscaped(t *testing.T) {
	e := mustEnv(t)
	id := "0badc0de-0000-4000-8000-000000000001"
	body := []byte(strings.Replace(strings.Replace(hostile, "%s", opentrail.FormatTime(time.Now()), 1), "%s", id, 1))
	sum, err := opentrail.Summarize(body)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.db.Append(context.Background(), journal.Entry{Account: account, Region: "us-east-1", Time: sum.Time,
		Category: opentrail.CategoryManagement, Origin: journal.OriginIngest, History: true, Body: body, Summary: &sum})
	if err != nil {
		t.Fatal(err)
	}
	b := e.browser(t)
	b.mustSignIn()
	var list string
	for deadline := time.Now().Add(10 * time.Second); ; {
		_, list = b.do("GET", "/console/events", nil)
		if strings.Contains(list, id) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, detail := b.do("GET", "/console/events/detail?id="+id, nil)
	_, live := b.do("GET", "/console/events/live?since="+url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)), nil)
	for name, page := range map[string]string{"list": list, "detail": detail} {
		if !strings.Contains(page, id) {
			t.Fatalf("%s page does not show the event:\n%s", name, page)
		}
		for _, bad := range []string{"<script>alert", "<img src=x", "<svg onload", "href=\"javascript:", "onmouseover='"} {
			if strings.Contains(page, bad) {
				t.Errorf("%s page contains %q unescaped", name, bad)
			}
		}
	}
	for _, want := range []string{"&lt;script&gt;alert(2)&lt;/script&gt;", "&lt;img src=x onerror=alert(1)&gt;"} {
		if !strings.Contains(detail, want) {
			t.Errorf("detail page lacks the escaped text %q", want)
		}
	}
	if strings.Contains(live, "<script>") {
		t.Errorf("live JSON has raw markup (it must be escaped for safety in any context): %s", live)
	}
}
