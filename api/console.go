package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"

	"github.com/google/uuid"
	"github.com/opentrail/opentrail"
)

// The web console (package console) acts for a signed-in user by calling
// this front in-process with the user's own access key, so that every
// console action is authenticated, authorized and recorded like any API
// call. Two things set console calls apart, as in AWS: their records carry
// sessionCredentialFromConsole "true", and sign-ins are recorded as
// ConsoleLogin events of type AwsConsoleSignIn.

type consoleKey struct{}

// ConsoleContext marks ctx as carrying a call the console makes for a
// signed-in user: a request served with it is recorded with
// sessionCredentialFromConsole "true". Only code in the process can set
// the mark; no header or parameter a client sends can.
func (s *Server) ConsoleContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, consoleKey{}, true)
}

func fromConsole(ctx context.Context) bool {
	v, _ := ctx.Value(consoleKey{}).(bool)
	return v
}

// hiddenUser is the user name AWS records for a failed sign-in by an
// unknown user: what was typed may be a secret typed into the wrong field.
const hiddenUser = "HIDDEN_DUE_TO_SECURITY_REASONS"

// ConsoleSignIn checks an access key pair typed into the console's sign-in
// form against the keys the API accepts, and records the attempt in region
// as AWS records console sign-ins (eventSource signin.amazonaws.com,
// eventName ConsoleLogin, eventType AwsConsoleSignIn, responseElements
// ConsoleLogin Success or Failure). r is the browser's request: source IP,
// user agent and TLS come from it. An attempt with an unknown key is
// recorded in account (the server's default account) without the key ID.
// It returns the key's principal, or an *opentrail.Error when the pair is
// not valid; other errors are internal.
func (s *Server) ConsoleSignIn(r *http.Request, keyID, secret, region, account string) (*opentrail.Principal, error) {
	ctx := r.Context()
	req := &request{
		id:        uuid.NewString(),
		r:         r,
		start:     s.now(),
		sourceIP:  sourceIP(r),
		userAgent: truncate(r.UserAgent(), 1024),
		tls:       tlsDetails(r),
		region:    region,
		service:   "signin",
		op:        "ConsoleLogin",
	}
	if !s.regions[region] {
		return nil, opentrail.Errorf("InvalidParameterValueException", "opentrail does not serve region %q.", region)
	}
	key, err := s.accessKey(ctx, keyID)
	if err != nil {
		return nil, err
	}
	ok := key != nil && key.Active && subtle.ConstantTimeCompare([]byte(key.Secret), []byte(secret)) == 1
	var ui *opentrail.UserIdentity
	if key != nil {
		p := key.Principal
		req.principal = &p
		ui = p.UserIdentity()
	} else {
		req.principal = &opentrail.Principal{Type: opentrail.PrincipalIAMUser, AccountID: account}
		ui = &opentrail.UserIdentity{Type: opentrail.PrincipalIAMUser, AccountID: account, UserName: hiddenUser}
	}
	result := "Success"
	if !ok {
		result = "Failure"
	}
	ev := s.event(req, outcome{})
	ev.EventSource = "signin.amazonaws.com"
	ev.EventType = opentrail.TypeAwsConsoleSignIn
	ev.UserIdentity = ui
	ev.ResponseElements, _ = json.Marshal(map[string]string{"ConsoleLogin": result})
	ev.AdditionalEventData, _ = json.Marshal(map[string]string{"LoginTo": consoleURL(r), "MobileVersion": "No", "MFAUsed": "No"})
	if !ok {
		ev.ErrorMessage = "Failed authentication"
	}
	e, err := s.entry(req, ev)
	if err != nil {
		return nil, err
	}
	seq, err := s.db.Append(context.WithoutCancel(ctx), e)
	if err != nil {
		return nil, err
	}
	s.committed(seq)
	if !ok {
		return nil, opentrail.Errorf(opentrail.CodeAccessDenied, "Failed authentication")
	}
	return req.principal, nil
}

// consoleURL is the console address a sign-in was made to (LoginTo).
func consoleURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/console/"
}
