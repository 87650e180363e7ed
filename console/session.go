package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/opentrail/opentrail"
)

const (
	sessionCookie = "opentrail_console"
	signInCookie  = "opentrail_console_signin" // the sign-in form's CSRF token
)

// session is a signed-in user. The access key's secret lives only here,
// in memory: it is never rendered, logged or sent to the browser.
type session struct {
	id        string
	csrf      string
	keyID     string
	secret    string
	principal opentrail.Principal
	created   time.Time

	mu       sync.Mutex
	lastSeen time.Time
	regionV  string
	flash    string
	clients  *clients // for regionV
	// own are the request IDs of the lookups the console made for this
	// session, so that live mode does not show the console's own reads.
	own     map[string]bool
	ownList []string
}

func (s *session) region() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.regionV
}

func (s *session) setRegion(r string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r != s.regionV {
		s.regionV, s.clients = r, nil
	}
}

func (s *session) setFlash(msg string) {
	s.mu.Lock()
	s.flash = msg
	s.mu.Unlock()
}

func (s *session) takeFlash() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.flash
	s.flash = ""
	return f
}

// noteOwn remembers the request ID of a lookup the console made.
func (s *session) noteOwn(id string) {
	if id == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.own == nil {
		s.own = map[string]bool{}
	}
	s.own[id] = true
	s.ownList = append(s.ownList, id)
	if len(s.ownList) > 1024 {
		delete(s.own, s.ownList[0])
		s.ownList = s.ownList[1:]
	}
}

func (s *session) isOwn(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.own[id]
}

// sessions are the signed-in users, by session ID.
type sessions struct {
	mu sync.Mutex
	m  map[string]*session
}

func newSessions() *sessions { return &sessions{m: map[string]*session{}} }

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// session returns the request's live session, or nil. An expired session
// is removed.
func (c *Console) session(r *http.Request) *session {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return nil
	}
	c.sessions.mu.Lock()
	s := c.sessions.m[ck.Value]
	c.sessions.mu.Unlock()
	if s == nil {
		return nil
	}
	now := c.now()
	s.mu.Lock()
	expired := now.Sub(s.created) > c.cfg.SessionTTL || now.Sub(s.lastSeen) > c.cfg.IdleTimeout
	if !expired {
		s.lastSeen = now
	}
	s.mu.Unlock()
	if expired {
		c.sessions.mu.Lock()
		delete(c.sessions.m, s.id)
		c.sessions.mu.Unlock()
		return nil
	}
	return s
}

// sweep removes expired sessions.
func (c *Console) sweep() {
	now := c.now()
	c.sessions.mu.Lock()
	defer c.sessions.mu.Unlock()
	for id, s := range c.sessions.m {
		s.mu.Lock()
		expired := now.Sub(s.created) > c.cfg.SessionTTL || now.Sub(s.lastSeen) > c.cfg.IdleTimeout
		s.mu.Unlock()
		if expired {
			delete(c.sessions.m, id)
		}
	}
}

func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int, sameSite http.SameSite) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: Prefix, MaxAge: maxAge,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: sameSite})
}

// signedIn wraps a handler of pages that need a session: without one the
// browser goes to the sign-in page and comes back after.
func (c *Console) signedIn(h func(w http.ResponseWriter, r *http.Request, s *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := c.session(r)
		if s == nil {
			next := r.URL.RequestURI()
			if r.Method != http.MethodGet {
				next = Prefix + "events"
			}
			http.Redirect(w, r, Prefix+"signin?next="+url.QueryEscape(next), http.StatusSeeOther)
			return
		}
		h(w, r, s)
	}
}

// post wraps a state-changing handler: it needs a session and the
// session's CSRF token in the form, and refuses requests another site's
// page sent.
func (c *Console) post(h func(w http.ResponseWriter, r *http.Request, s *session)) http.HandlerFunc {
	return c.signedIn(func(w http.ResponseWriter, r *http.Request, s *session) {
		if !sameOrigin(r) || subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.csrf)) != 1 {
			c.renderError(w, r, http.StatusForbidden, "InvalidCSRFToken",
				"The form was not sent by this console page (its security token is missing or stale). Reload the page and try again.")
			return
		}
		h(w, r, s)
	})
}

// sameOrigin rejects a request whose Origin (sent by browsers with every
// POST) is another site.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

type signInData struct {
	KeyID  string
	Region string
	Next   string
	Token  string
}

func (c *Console) handleSignInForm(w http.ResponseWriter, r *http.Request) {
	if c.session(r) != nil {
		http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	c.renderSignIn(w, r, http.StatusOK, signInData{Region: c.cfg.Regions[0], Next: r.URL.Query().Get("next")}, nil)
}

func (c *Console) renderSignIn(w http.ResponseWriter, r *http.Request, status int, d signInData, p *problem) {
	d.Token = randomToken()
	c.setCookie(w, r, signInCookie, d.Token, 3600, http.SameSiteStrictMode)
	c.render(w, r, status, "signin.html", &view{Title: "Sign in", Regions: c.cfg.Regions, Error: p, Data: d})
}

func (c *Console) handleSignIn(w http.ResponseWriter, r *http.Request) {
	keyID := strings.TrimSpace(r.PostFormValue("access_key_id"))
	secret := r.PostFormValue("secret_access_key")
	region := r.PostFormValue("region")
	d := signInData{KeyID: keyID, Region: region, Next: r.PostFormValue("next")}
	ck, err := r.Cookie(signInCookie)
	if err != nil || !sameOrigin(r) || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		c.renderSignIn(w, r, http.StatusForbidden, d, &problem{Code: "InvalidCSRFToken",
			Message: "The sign-in form expired or was not sent by this console. Try again."})
		return
	}
	if !slices.Contains(c.cfg.Regions, region) {
		d.Region = c.cfg.Regions[0]
		c.renderSignIn(w, r, http.StatusBadRequest, d, &problem{Code: "InvalidRegion", Message: "Choose one of the regions this opentrail serves."})
		return
	}
	if keyID == "" || secret == "" {
		c.renderSignIn(w, r, http.StatusBadRequest, d, &problem{Code: "MissingCredentials", Message: "Enter an access key ID and its secret access key."})
		return
	}
	p, err := c.cfg.API.ConsoleSignIn(r, keyID, secret, region, c.cfg.Account)
	var oe *opentrail.Error
	if errors.As(err, &oe) {
		c.renderSignIn(w, r, http.StatusUnauthorized, d, &problem{Code: "AuthenticationFailed",
			Message: "Your authentication information is incorrect. Please try again."})
		return
	}
	if err != nil {
		c.renderSignIn(w, r, http.StatusInternalServerError, d, c.problemOf(r, err))
		return
	}
	c.sweep()
	if old := c.session(r); old != nil { // a new sign-in replaces the session
		c.sessions.mu.Lock()
		delete(c.sessions.m, old.id)
		c.sessions.mu.Unlock()
	}
	now := c.now()
	s := &session{id: randomToken(), csrf: randomToken(), keyID: keyID, secret: secret, principal: *p,
		created: now, lastSeen: now, regionV: region}
	c.sessions.mu.Lock()
	c.sessions.m[s.id] = s
	c.sessions.mu.Unlock()
	c.setCookie(w, r, signInCookie, "", -1, http.SameSiteStrictMode)
	c.setCookie(w, r, sessionCookie, s.id, 0, http.SameSiteLaxMode)
	http.Redirect(w, r, localPath(d.Next), http.StatusSeeOther)
}

func (c *Console) handleSignOut(w http.ResponseWriter, r *http.Request, s *session) {
	c.sessions.mu.Lock()
	delete(c.sessions.m, s.id)
	c.sessions.mu.Unlock()
	c.setCookie(w, r, sessionCookie, "", -1, http.SameSiteLaxMode)
	http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
}

func (c *Console) handleRegion(w http.ResponseWriter, r *http.Request, s *session) {
	region := r.PostFormValue("region")
	if slices.Contains(c.cfg.Regions, region) {
		s.setRegion(region)
	}
	back := r.PostFormValue("back")
	if back == "" {
		back = Prefix + "events"
	}
	http.Redirect(w, r, localPath(back), http.StatusSeeOther)
}

// clients are a session's API clients for its current region.
type clients struct {
	ct *cloudtrail.Client
	s3 *s3.Client
}
