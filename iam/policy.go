package iam

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
)

// A resource-based policy (bucket policy, topic policy, key policy) as far
// as opentrail evaluates it: Allow and Deny statements with Principal,
// Action/NotAction, Resource/NotResource and the string and ARN condition
// operators on the request context keys given.

// PolicyRequest is the question asked of a resource-based policy.
type PolicyRequest struct {
	// Principal is an AWS principal: an account ID or ARN; Service is a
	// service principal such as cloudtrail.amazonaws.com. One is set.
	Principal string
	Service   string
	Action    string
	Resource  string
	// Context holds condition keys (aws:SourceArn, s3:x-amz-acl, ...).
	Context map[string]string
}

type statement struct {
	Effect      string          `json:"Effect"`
	Principal   json.RawMessage `json:"Principal"`
	Action      stringList      `json:"Action"`
	NotAction   stringList      `json:"NotAction"`
	Resource    stringList      `json:"Resource"`
	NotResource stringList      `json:"NotResource"`
	Condition   map[string]map[string]stringList
}

type policy struct {
	Statement statements `json:"Statement"`
}

// stringList is a JSON string or list of strings.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*l = []string{s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("expected a string or a list of strings")
	}
	*l = list
	return nil
}

// statements is one statement or a list of them.
type statements []statement

func (s *statements) UnmarshalJSON(b []byte) error {
	var one statement
	if len(b) > 0 && b[0] == '{' {
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = []statement{one}
		return nil
	}
	var list []statement
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	*s = list
	return nil
}

// ParsePolicy checks that a policy document is one opentrail can evaluate.
func ParsePolicy(doc string) error {
	var p policy
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return fmt.Errorf("the policy is not valid JSON: %v", err)
	}
	if len(p.Statement) == 0 {
		return fmt.Errorf("the policy has no Statement")
	}
	for i, st := range p.Statement {
		if st.Effect != "Allow" && st.Effect != "Deny" {
			return fmt.Errorf("statement %d: Effect must be Allow or Deny", i+1)
		}
		if len(st.Action) == 0 && len(st.NotAction) == 0 {
			return fmt.Errorf("statement %d has no Action", i+1)
		}
	}
	return nil
}

// PolicyAllows reports whether a resource-based policy allows the request:
// some Allow statement matches and no Deny statement does. Unknown
// condition operators make a statement not match (fail closed for Allow).
func PolicyAllows(doc string, req PolicyRequest) (bool, error) {
	var p policy
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return false, fmt.Errorf("parse policy: %w", err)
	}
	allowed := false
	for _, st := range p.Statement {
		if !st.matches(req) {
			continue
		}
		if st.Effect == "Deny" {
			return false, nil
		}
		if st.Effect == "Allow" {
			allowed = true
		}
	}
	return allowed, nil
}

func (st *statement) matches(req PolicyRequest) bool {
	if !principalMatches(st.Principal, req) {
		return false
	}
	if len(st.Action) > 0 && !anyMatch(st.Action, req.Action, true) {
		return false
	}
	if len(st.NotAction) > 0 && anyMatch(st.NotAction, req.Action, true) {
		return false
	}
	if len(st.Resource) > 0 && !anyMatch(st.Resource, req.Resource, false) {
		return false
	}
	if len(st.NotResource) > 0 && anyMatch(st.NotResource, req.Resource, false) {
		return false
	}
	for op, keys := range st.Condition {
		for key, values := range keys {
			if !conditionHolds(op, key, values, req.Context) {
				return false
			}
		}
	}
	return true
}

func principalMatches(raw json.RawMessage, req PolicyRequest) bool {
	if len(raw) == 0 {
		return false
	}
	var star string
	if json.Unmarshal(raw, &star) == nil {
		return star == "*"
	}
	var p map[string]stringList
	if json.Unmarshal(raw, &p) != nil {
		return false
	}
	for _, v := range p["Service"] {
		if req.Service != "" && strings.EqualFold(v, req.Service) {
			return true
		}
	}
	for _, v := range p["AWS"] {
		if req.Principal == "" {
			continue
		}
		if v == "*" || v == req.Principal || v == "arn:aws:iam::"+req.Principal+":root" || accountOf(v) == req.Principal && strings.HasSuffix(v, ":root") {
			return true
		}
	}
	return false
}

func accountOf(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) == 6 {
		return parts[4]
	}
	return arn
}

// anyMatch matches value against IAM wildcard patterns (* and ?); action
// names compare case-insensitively.
func anyMatch(patterns []string, value string, fold bool) bool {
	for _, p := range patterns {
		if fold {
			p, value = strings.ToLower(p), strings.ToLower(value)
		}
		if wildcard(p, value) {
			return true
		}
	}
	return false
}

func wildcard(pattern, value string) bool {
	if pattern == "*" {
		return true
	}
	// path.Match treats '/' specially and knows '[': escape the latter,
	// and match '/' by matching segment-free.
	p := strings.NewReplacer("[", `\[`, "]", `\]`, `\`, `\\`).Replace(pattern)
	p = strings.ReplaceAll(p, "/", "\x00")
	ok, err := path.Match(p, strings.ReplaceAll(value, "/", "\x00"))
	return err == nil && ok
}

func conditionHolds(op, key string, values []string, ctx map[string]string) bool {
	ifExists := strings.HasSuffix(op, "IfExists")
	op = strings.TrimSuffix(op, "IfExists")
	actual, present := ctx[key]
	if !present {
		for k, v := range ctx {
			if strings.EqualFold(k, key) {
				actual, present = v, true
			}
		}
	}
	if !present {
		return ifExists || strings.HasPrefix(op, "StringNot") || strings.HasPrefix(op, "ArnNot")
	}
	switch op {
	case "StringEquals", "ArnEquals":
		return contains(values, actual, false)
	case "StringEqualsIgnoreCase":
		return contains(values, actual, true)
	case "StringNotEquals", "ArnNotEquals":
		return !contains(values, actual, false)
	case "StringLike", "ArnLike":
		return anyMatch(values, actual, false)
	case "StringNotLike", "ArnNotLike":
		return !anyMatch(values, actual, false)
	}
	return false
}

func contains(list []string, v string, fold bool) bool {
	for _, x := range list {
		if x == v || fold && strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}
