// Package iam is opentrail's authorization decision point: every request,
// after authentication, asks Authorize whether its principal may perform its
// action on its resource. Today an account's root may do everything in its
// own account and nothing in any other; IAM users, roles and policies plug in
// here.
package iam

import (
	"context"

	"github.com/opentrail/opentrail"
)

// Request is one authorization question.
type Request struct {
	Principal *opentrail.Principal
	// Action is the IAM action, for example "cloudtrail:LookupEvents".
	Action string
	// Resource is the ARN acted on, or "*" for actions without a resource.
	Resource string
	// Context holds request context keys (aws:SourceIp, aws:RequestedRegion, ...).
	Context map[string]string
}

// Authorizer decides requests. The zero value is ready to use.
type Authorizer struct{}

// Authorize returns nil when the request is allowed and an
// AccessDeniedException in AWS's words otherwise.
func (a *Authorizer) Authorize(ctx context.Context, req Request) error {
	p := req.Principal
	if p == nil {
		return deny(req)
	}
	owner := ""
	if arn, ok := opentrail.ParseARN(req.Resource); ok {
		owner = arn.AccountID
	}
	switch p.Type {
	case opentrail.PrincipalRoot:
		if owner == "" || owner == p.AccountID {
			return nil
		}
	case opentrail.PrincipalIAMUser:
		// Users without policies may do nothing until IAM policies exist.
	}
	return deny(req)
}

func deny(req Request) error {
	who := "anonymous"
	if req.Principal != nil {
		who = req.Principal.ARN()
	}
	return opentrail.Errorf(opentrail.CodeAccessDenied, "User: %s is not authorized to perform: %s on resource: %s", who, req.Action, req.Resource)
}
