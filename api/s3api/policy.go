package s3api

import (
	"encoding/json"
	"errors"
	"net"
	"strings"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/blob"
	"github.com/opentrail/opentrail/iam"
)

// Bucket policies.
//
// PutBucketPolicy accepts a policy S3 would: JSON with a Statement, each
// with an Effect of Allow or Deny, a Principal (or NotPrincipal), an
// Action (or NotAction) of s3 actions, and a Resource (or NotResource) of
// the bucket or its objects; otherwise MalformedPolicy.
//
// The policy decides, through iam.PolicyAllows, for callers whose own
// account's permissions do not (see request.authorize): a statement
// applies when its Principal is "*", {"AWS": "*"}, the caller's account ID
// or "arn:aws:iam::<account>:root" (for the account's root user, and for
// its IAM users when the bucket belongs to another account), or the
// caller's own ARN; when its Action and Resource match with IAM wildcards;
// and when its Condition holds on the keys aws:SecureTransport,
// aws:SourceIp, aws:PrincipalAccount, aws:PrincipalArn, s3:x-amz-acl,
// s3:x-amz-server-side-encryption, s3:prefix, s3:delimiter and
// s3:max-keys, with the string and ARN operators (a condition on any other
// key or operator fails). An Allow that applies allows; a Deny that
// applies wins over an Allow for the same principal form.

// policyStatement is what validation reads of a statement.
type policyStatement struct {
	Effect       string          `json:"Effect"`
	Principal    json.RawMessage `json:"Principal"`
	NotPrincipal json.RawMessage `json:"NotPrincipal"`
	Action       stringList      `json:"Action"`
	NotAction    stringList      `json:"NotAction"`
	Resource     stringList      `json:"Resource"`
	NotResource  stringList      `json:"NotResource"`
}

type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*l = []string{s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return errors.New("expected a string or a list of strings")
	}
	*l = list
	return nil
}

// validatePolicy returns nil for a policy PutBucketPolicy accepts, and a
// MalformedPolicy error saying what is wrong otherwise.
func validatePolicy(doc []byte, bucket string) error {
	bad := func(msg string) error { return errorf("MalformedPolicy", msg) }
	var top map[string]json.RawMessage
	if err := json.Unmarshal(doc, &top); err != nil {
		return bad("This policy contains invalid Json")
	}
	if v, ok := top["Version"]; ok {
		var version string
		if json.Unmarshal(v, &version) != nil || version != "2012-10-17" && version != "2008-10-17" {
			return bad("Policy has an invalid version")
		}
	}
	raw, ok := top["Statement"]
	if !ok {
		return bad("Missing required field Statement")
	}
	var list []policyStatement
	if len(raw) > 0 && raw[0] == '{' {
		var one policyStatement
		if err := json.Unmarshal(raw, &one); err != nil {
			return bad("This policy contains invalid Json")
		}
		list = []policyStatement{one}
	} else if err := json.Unmarshal(raw, &list); err != nil {
		return bad("This policy contains invalid Json")
	}
	if len(list) == 0 {
		return bad("Could not parse the policy: Statement is empty!")
	}
	if err := iam.ParsePolicy(string(doc)); err != nil {
		return bad("Could not parse the policy: " + err.Error())
	}
	bucketARN := "arn:aws:s3:::" + bucket
	for _, st := range list {
		if len(st.Principal) == 0 && len(st.NotPrincipal) == 0 {
			return bad("Missing required field Principal")
		}
		if len(st.Resource) == 0 && len(st.NotResource) == 0 {
			return bad("Missing required field Resource")
		}
		for _, a := range append(st.Action, st.NotAction...) {
			if a != "*" && !strings.HasPrefix(strings.ToLower(a), "s3:") {
				return bad("Policy has invalid action")
			}
		}
		for _, r := range append(st.Resource, st.NotResource...) {
			rest, ok := strings.CutPrefix(r, bucketARN)
			if !ok || rest != "" && rest[0] != '/' && rest[0] != '*' {
				return bad("Policy has invalid resource")
			}
		}
	}
	return nil
}

// policyAllows reports whether the bucket's policy allows the caller the
// action on resource.
func (q *request) policyAllows(action, resource string) (bool, error) {
	doc, err := q.h.Store.BucketPolicy(q.ctx, q.bucket)
	if errors.Is(err, blob.ErrNoSuchBucketPolicy) || errors.Is(err, blob.ErrNoSuchBucket) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	p := q.c.Principal
	ctx := q.conditionKeys()
	ask := func(principal string) bool {
		ok, err := iam.PolicyAllows(doc, iam.PolicyRequest{Principal: principal, Action: action, Resource: resource, Context: ctx})
		return err == nil && ok
	}
	if p.Type == opentrail.PrincipalRoot {
		return ask(p.AccountID), nil
	}
	if ask(p.ARN()) {
		return true, nil
	}
	// A policy that names another account grants to that account, whose
	// own policies then delegate to its users.
	return q.info.Owner != p.AccountID && ask(p.AccountID), nil
}

// conditionKeys are the condition keys a bucket policy may test.
func (q *request) conditionKeys() map[string]string {
	p := q.c.Principal
	m := map[string]string{
		"aws:SecureTransport":  "false",
		"aws:PrincipalAccount": p.AccountID,
		"aws:PrincipalArn":     p.ARN(),
	}
	if q.c.TLS {
		m["aws:SecureTransport"] = "true"
	}
	if host, _, err := net.SplitHostPort(q.r.RemoteAddr); err == nil {
		m["aws:SourceIp"] = host
	}
	h := q.r.Header
	for _, k := range []string{"x-amz-acl", "x-amz-server-side-encryption"} {
		if v := h.Get(k); v != "" {
			m["s3:"+k] = v
		}
	}
	if q.op == opListObjects || q.op == opListObjectsV2 {
		for _, k := range []string{"prefix", "delimiter", "max-keys"} {
			if q.query.Has(k) {
				m["s3:"+k] = q.query.Get(k)
			}
		}
	}
	return m
}
