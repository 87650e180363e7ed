// Package console is opentrail's web console: server-rendered pages under
// /console/ for event history, trails, Lake and buckets, on the same
// listener as the API.
//
// The console holds no data and takes no shortcuts: a signed-in user's
// every action is an API call made in-process with that user's own access
// key (see client.go), so it is authenticated, authorized and recorded
// exactly like a call from the CLI, and marked as made from the console.
// The key's secret stays in server memory; the browser holds only a random
// session ID in an HttpOnly cookie.
//
// Each area of the console (events.go, trails.go, lake.go, buckets.go) is
// one file of handlers and its templates; a new area is a new such file and
// a line in areas.
package console

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/smithy-go"
	"github.com/opentrail/opentrail"
)

//go:embed templates/*.html templates/*.svg static
var assets embed.FS

// Prefix is the path the console is served under.
const Prefix = "/console/"

// API is opentrail's API front as the console uses it (package api's
// Server).
type API interface {
	http.Handler
	// ConsoleSignIn checks an access key pair and records the attempt as
	// a console sign-in; it returns an *opentrail.Error for a bad pair.
	// r is the browser's request; account receives the record of an
	// attempt with an unknown key.
	ConsoleSignIn(r *http.Request, keyID, secret, region, account string) (*opentrail.Principal, error)
	// ConsoleContext marks ctx so that calls served with it are recorded
	// as made from the console.
	ConsoleContext(ctx context.Context) context.Context
}

// Config is what a Console needs.
type Config struct {
	API API
	// Account is the server's default account: sign-in attempts with
	// unknown keys are recorded in its history.
	Account string
	// Regions are the regions the server answers for; the first is the
	// default.
	Regions []string
	Logger  *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// SessionTTL bounds a session's life from sign-in (default 12h, as
	// AWS's console); IdleTimeout ends a session unused that long
	// (default 1h).
	SessionTTL  time.Duration
	IdleTimeout time.Duration
}

// Console serves the web console. Its zero value is not usable; see New.
type Console struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	mux      *http.ServeMux
	pages    map[string]*template.Template
	sessions *sessions
	nav      []area
}

// area is one section of the console, listed in the navigation.
type area struct {
	Name   string
	Path   string
	routes func(c *Console, mux *http.ServeMux)
}

// areas are the console's sections, in navigation order.
var areas = []area{
	{"Event history", Prefix + "events", (*Console).eventRoutes},
	{"Trails", Prefix + "trails", (*Console).trailRoutes},
	{"Lake", Prefix + "lake", (*Console).lakeRoutes},
	{"Buckets", Prefix + "buckets", (*Console).bucketRoutes},
}

// New returns a Console.
func New(cfg Config) *Console {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = time.Hour
	}
	if len(cfg.Regions) == 0 {
		cfg.Regions = opentrail.DefaultRegions
	}
	c := &Console{cfg: cfg, log: cfg.Logger.With(slog.String("component", "console")), now: cfg.Now,
		mux: http.NewServeMux(), sessions: newSessions()}
	c.pages = mustParsePages()
	static, _ := fs.Sub(assets, "static")
	c.mux.Handle("GET "+Prefix+"static/", http.StripPrefix(Prefix+"static/", staticHandler(http.FileServerFS(static))))
	c.mux.HandleFunc("GET "+Prefix+"{$}", c.handleHome)
	c.mux.HandleFunc("GET "+Prefix+"signin", c.handleSignInForm)
	c.mux.HandleFunc("POST "+Prefix+"signin", c.handleSignIn)
	c.mux.HandleFunc("POST "+Prefix+"signout", c.post(c.handleSignOut))
	c.mux.HandleFunc("POST "+Prefix+"region", c.post(c.handleRegion))
	c.nav = areas
	for _, a := range c.nav {
		a.routes(c, c.mux)
	}
	return c
}

// ServeHTTP implements http.Handler for paths under Prefix.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	}
	if _, pattern := c.mux.Handler(r); pattern == "" {
		c.renderError(w, r, http.StatusNotFound, "NotFound", "There is no console page at this address.")
		return
	}
	c.mux.ServeHTTP(w, r) // which sets the path's wildcards
}

// ServeUnauthenticated serves the requests of browsers that reach the
// API's listener: the console's pages, and a redirect to them from the
// root for a browser that asks for HTML. It reports whether it served r.
func (c *Console) ServeUnauthenticated(w http.ResponseWriter, r *http.Request) bool {
	switch {
	case r.URL.Path == strings.TrimSuffix(Prefix, "/"):
		http.Redirect(w, r, Prefix, http.StatusFound)
	case strings.HasPrefix(r.URL.Path, Prefix):
		c.ServeHTTP(w, r)
	case r.URL.Path == "/" && r.Method == http.MethodGet && r.URL.RawQuery == "" &&
		strings.Contains(r.Header.Get("Accept"), "text/html"):
		http.Redirect(w, r, Prefix, http.StatusFound)
	default:
		return false
	}
	return true
}

// contentSecurityPolicy allows the console's own scripts, styles and
// images and nothing inline: whatever an event field smuggles into a page
// cannot run.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

func staticHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		h.ServeHTTP(w, r)
	})
}

func (c *Console) handleHome(w http.ResponseWriter, r *http.Request) {
	if c.session(r) == nil {
		http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, Prefix+"events", http.StatusSeeOther)
}

// mustParsePages parses every page template with the layout.
func mustParsePages() map[string]*template.Template {
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimPrefix(n, "templates/")
		if base == "layout.html" {
			continue
		}
		pages[base] = template.Must(template.New(base).Funcs(funcs).ParseFS(assets, "templates/layout.html", n))
	}
	pages["chart.svg"] = template.Must(template.New("chart.svg").Funcs(funcs).ParseFS(assets, "templates/chart.svg"))
	return pages
}

var funcs = template.FuncMap{
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"bytes": humanBytes,
}

// view is what every page template gets.
type view struct {
	Title   string
	Area    string // the Path of the current area
	Areas   []area
	User    string // the signed-in principal's ARN; "" on the sign-in page
	Account string
	Region  string
	Regions []string
	CSRF    string
	Flash   string
	Error   *problem
	Data    any
}

// problem is an error shown on a page: an API error's code and message,
// which AWS means to be shown to users, or a console message.
type problem struct {
	Code    string
	Message string
}

// render executes a page into a buffer and sends it, so that a template
// error never leaves half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	v.Areas = c.nav
	if s := c.session(r); s != nil {
		v.User, v.Account, v.Region, v.Regions, v.CSRF = s.principal.ARN(), s.principal.AccountID, s.region(), c.cfg.Regions, s.csrf
		if v.Flash == "" {
			v.Flash = s.takeFlash()
		}
	}
	var buf bytes.Buffer
	if err := c.pages[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		c.log.Error("render page", slog.String("page", name), slog.String("err", err.Error()))
		http.Error(w, "The page could not be rendered.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (c *Console) renderError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	c.render(w, r, status, "error.html", &view{Title: code, Error: &problem{Code: code, Message: message}})
}

// problemOf turns an error from an API call into what a page shows: AWS's
// code and message for an API error; for anything else, a note that the
// details are in the server log.
func (c *Console) problemOf(r *http.Request, err error) *problem {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return &problem{Code: ae.ErrorCode(), Message: ae.ErrorMessage()}
	}
	var oe *opentrail.Error
	if errors.As(err, &oe) {
		return &problem{Code: oe.Code, Message: oe.Message}
	}
	if errors.Is(err, context.Canceled) {
		return &problem{Code: "Canceled", Message: "The request was canceled."}
	}
	c.log.ErrorContext(r.Context(), "console call", slog.String("path", r.URL.Path), slog.String("err", err.Error()))
	return &problem{Code: opentrail.CodeInternalFailure, Message: "opentrail could not complete the request; the server log has the details."}
}

// fail renders an API error as a page of its own.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	p := c.problemOf(r, err)
	status := http.StatusBadGateway
	switch {
	case p.Code == opentrail.CodeAccessDenied || p.Code == "AccessDenied":
		status = http.StatusForbidden
	case strings.HasSuffix(p.Code, "NotFoundException") || strings.HasPrefix(p.Code, "NoSuch"):
		status = http.StatusNotFound
	case p.Code != opentrail.CodeInternalFailure:
		status = http.StatusBadRequest
	}
	c.renderError(w, r, status, p.Code, p.Message)
}

// localPath returns next if it is a console path, else the console's
// home: a sign-in must not redirect anywhere else.
func localPath(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, Prefix) ||
		strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return Prefix + "events"
	}
	return u.RequestURI()
}

func humanBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	f, unit := float64(n)/1024, 0
	for f >= 1024 && unit < 4 {
		f /= 1024
		unit++
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGTP"[unit])
}
