package sns

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/opentrail/opentrail"
)

// defaultPolicy is the policy SNS gives a new topic: any principal of the
// owner account may manage and use it. Fields are in SNS's order.
func defaultPolicy(topicARN, account string) string {
	type statement struct {
		Sid       string
		Effect    string
		Principal map[string]string
		Action    []string
		Resource  string
		Condition map[string]map[string]string
	}
	return string(mustJSON(struct {
		Version   string
		ID        string `json:"Id"`
		Statement []statement
	}{
		Version: "2008-10-17",
		ID:      "__default_policy_ID",
		Statement: []statement{{
			Sid:       "__default_statement_ID",
			Effect:    "Allow",
			Principal: map[string]string{"AWS": "*"},
			Action: []string{
				"SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission",
				"SNS:RemovePermission", "SNS:DeleteTopic", "SNS:Subscribe",
				"SNS:ListSubscriptionsByTopic", "SNS:Publish",
			},
			Resource:  topicARN,
			Condition: map[string]map[string]string{"StringEquals": {"AWS:SourceOwner": account}},
		}},
	}))
}

// policy is a topic policy as opentrail evaluates it.
type policy struct {
	Statement []statement
}

type statement struct {
	Effect    string
	Principal principal
	Action    stringList
	Resource  stringList
	Condition map[string]map[string]stringList
	// unsupported is set when the statement uses an element opentrail
	// does not evaluate (NotPrincipal, NotAction, NotResource): such an
	// Allow never applies and such a Deny always does.
	unsupported bool
}

// principal is a statement's Principal: "*" or a map of kinds ("AWS",
// "Service", ...) to values.
type principal struct {
	any   bool
	kinds map[string]stringList
}

// stringList is a JSON string or array of strings; numbers and booleans are
// kept as their literal text.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var raw []json.RawMessage
		if err := json.Unmarshal(b, &raw); err != nil {
			return err
		}
		out := make([]string, 0, len(raw))
		for _, r := range raw {
			v, err := scalar(r)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		*l = out
		return nil
	}
	v, err := scalar(b)
	if err != nil {
		return err
	}
	*l = []string{v}
	return nil
}

func scalar(b json.RawMessage) (string, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "", errors.New("empty value")
	}
	switch b[0] {
	case '"':
		var s string
		err := json.Unmarshal(b, &s)
		return s, err
	case '{', '[':
		return "", errors.New("a value must be a string")
	case 'n':
		return "", errors.New("a value must not be null")
	}
	return string(b), nil
}

func (p *principal) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s != "*" {
			return fmt.Errorf("Principal must be \"*\" or an object, not %q", s)
		}
		p.any = true
		return nil
	}
	return json.Unmarshal(b, &p.kinds)
}

func (s *statement) UnmarshalJSON(b []byte) error {
	var raw struct {
		Effect       string
		Principal    *principal
		Action       stringList
		Resource     stringList
		Condition    map[string]map[string]stringList
		NotPrincipal json.RawMessage
		NotAction    json.RawMessage
		NotResource  json.RawMessage
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if raw.Effect != "Allow" && raw.Effect != "Deny" {
		return fmt.Errorf("Effect must be Allow or Deny, not %q", raw.Effect)
	}
	if raw.Principal == nil && raw.NotPrincipal == nil {
		return errors.New("a statement of a topic policy needs a Principal")
	}
	if len(raw.Action) == 0 && raw.NotAction == nil {
		return errors.New("a statement needs an Action")
	}
	*s = statement{Effect: raw.Effect, Action: raw.Action, Resource: raw.Resource, Condition: raw.Condition}
	if raw.Principal != nil {
		s.Principal = *raw.Principal
	}
	s.unsupported = raw.NotPrincipal != nil || raw.NotAction != nil || raw.NotResource != nil
	return nil
}

// parsePolicy parses a topic policy document. Its error message is safe to
// show to clients.
func parsePolicy(doc string) (*policy, error) {
	var raw struct {
		Statement json.RawMessage
	}
	if err := json.Unmarshal([]byte(doc), &raw); err != nil {
		return nil, fmt.Errorf("the policy is not a JSON object: %w", err)
	}
	st := bytes.TrimSpace(raw.Statement)
	if len(st) == 0 || string(st) == "null" {
		return nil, errors.New("the policy has no Statement")
	}
	var p policy
	if st[0] == '{' {
		var one statement
		if err := json.Unmarshal(st, &one); err != nil {
			return nil, err
		}
		p.Statement = []statement{one}
	} else if err := json.Unmarshal(st, &p.Statement); err != nil {
		return nil, err
	}
	if len(p.Statement) == 0 {
		return nil, errors.New("the policy has no Statement")
	}
	return &p, nil
}

// request is what a policy is asked: may this principal do action on
// resource, in this context?
type request struct {
	// Exactly one of principalARN (an IAM principal) and service (a
	// service principal such as cloudtrail.amazonaws.com) is set.
	principalARN     string
	principalAccount string
	service          string
	action           string // "SNS:Publish"
	resource         string
	keys             map[string]string // condition keys, lower case
}

// evaluate reports whether some statement allows req and whether some
// statement denies it.
func (p *policy) evaluate(req request) (allow, deny bool) {
	for i := range p.Statement {
		st := &p.Statement[i]
		if st.Effect == "Deny" {
			if st.unsupported || st.matches(req, true) {
				deny = true
			}
			continue
		}
		if !st.unsupported && st.matches(req, false) {
			allow = true
		}
	}
	return allow, deny
}

// matches reports whether st applies to req. unknownMatches says how a
// condition operator opentrail does not know counts.
func (st *statement) matches(req request, unknownMatches bool) bool {
	if !st.Principal.matches(req) {
		return false
	}
	if !anyMatch(st.Action, req.action, true) {
		return false
	}
	if len(st.Resource) > 0 && !anyMatch(st.Resource, req.resource, false) {
		return false
	}
	for op, kv := range st.Condition {
		for key, values := range kv {
			v, ok := req.keys[strings.ToLower(key)]
			if !condition(op, v, ok, values, unknownMatches) {
				return false
			}
		}
	}
	return true
}

func (p principal) matches(req request) bool {
	if p.any {
		return true
	}
	if req.service != "" {
		return anyMatch(p.kinds["Service"], req.service, true)
	}
	for _, v := range p.kinds["AWS"] {
		switch {
		case v == "*":
			return true
		case v == req.principalAccount || v == opentrail.RootARN(req.principalAccount):
			return true
		case strings.EqualFold(v, req.principalARN):
			return true
		}
	}
	return false
}

// condition evaluates one condition operator on one key. The operators
// opentrail knows are the String and Arn families (Equals, NotEquals,
// Like, NotLike, StringEqualsIgnoreCase), each optionally IfExists.
func condition(op, v string, present bool, values []string, unknownMatches bool) bool {
	ifExists := strings.HasSuffix(op, "IfExists")
	op = strings.TrimSuffix(op, "IfExists")
	if !present {
		if ifExists {
			return true
		}
		switch op {
		case "StringNotEquals", "StringNotLike", "ArnNotEquals", "ArnNotLike", "StringNotEqualsIgnoreCase":
			return true
		case "StringEquals", "StringLike", "ArnEquals", "ArnLike", "StringEqualsIgnoreCase":
			return false
		}
		return unknownMatches
	}
	switch op {
	case "StringEquals", "ArnEquals":
		return anyOf(values, func(x string) bool { return x == v })
	case "StringNotEquals", "ArnNotEquals":
		return !anyOf(values, func(x string) bool { return x == v })
	case "StringEqualsIgnoreCase":
		return anyOf(values, func(x string) bool { return strings.EqualFold(x, v) })
	case "StringNotEqualsIgnoreCase":
		return !anyOf(values, func(x string) bool { return strings.EqualFold(x, v) })
	case "StringLike", "ArnLike":
		return anyMatch(values, v, false)
	case "StringNotLike", "ArnNotLike":
		return !anyMatch(values, v, false)
	}
	return unknownMatches
}

func anyOf(values []string, f func(string) bool) bool {
	for _, x := range values {
		if f(x) {
			return true
		}
	}
	return false
}

// anyMatch reports whether s matches one of the patterns, where * matches
// any run of characters and ? any one character.
func anyMatch(patterns []string, s string, fold bool) bool {
	if fold {
		s = strings.ToLower(s)
	}
	for _, p := range patterns {
		if fold {
			p = strings.ToLower(p)
		}
		if glob(p, s) {
			return true
		}
	}
	return false
}

// glob matches s against p (with * and ?) in linear time.
func glob(p, s string) bool {
	px, sx := 0, 0
	star, mark := -1, 0
	for sx < len(s) {
		switch {
		case px < len(p) && (p[px] == '?' || p[px] == s[sx]):
			px++
			sx++
		case px < len(p) && p[px] == '*':
			star, mark = px, sx
			px++
		case star >= 0:
			px = star + 1
			mark++
			sx = mark
		default:
			return false
		}
	}
	for px < len(p) && p[px] == '*' {
		px++
	}
	return px == len(p)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
