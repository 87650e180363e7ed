package kms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/iam"
)

// decision is what a key policy says of a caller.
type decision struct {
	direct  bool // an Allow names the caller itself (or everyone)
	account bool // an Allow names the caller's account: IAM decides
	denied  bool // a Deny applies
}

// splitPolicy returns a policy's Allow statements and its Deny statements
// turned into Allows, as two documents, so that iam.PolicyAllows can tell
// "no Allow" from "a Deny".
func splitPolicy(doc string) (allows, denies string, err error) {
	var p map[string]json.RawMessage
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return "", "", err
	}
	var list []map[string]any
	raw := p["Statement"]
	if len(raw) > 0 && raw[0] == '{' {
		var one map[string]any
		if err := json.Unmarshal(raw, &one); err != nil {
			return "", "", err
		}
		list = []map[string]any{one}
	} else if err := json.Unmarshal(raw, &list); err != nil {
		return "", "", err
	}
	var a, d []map[string]any
	for _, st := range list {
		switch st["Effect"] {
		case "Allow":
			a = append(a, st)
		case "Deny":
			c := make(map[string]any, len(st))
			for k, v := range st {
				c[k] = v
			}
			c["Effect"] = "Allow"
			d = append(d, c)
		}
	}
	ab, _ := json.Marshal(map[string]any{"Statement": orEmpty(a)})
	db, _ := json.Marshal(map[string]any{"Statement": orEmpty(d)})
	return string(ab), string(db), nil
}

func orEmpty(l []map[string]any) []map[string]any {
	if l == nil {
		return []map[string]any{}
	}
	return l
}

// evaluate asks a key policy about a caller performing action on the key.
func evaluate(doc string, p *opentrail.Principal, action, keyARN string, keys map[string]string) (decision, error) {
	allows, denies, err := splitPolicy(doc)
	if err != nil {
		return decision{}, fmt.Errorf("parse key policy of %s: %w", keyARN, err)
	}
	callerARN := p.ARN()
	ask := func(doc, principal string) bool {
		ok, _ := iam.PolicyAllows(doc, iam.PolicyRequest{Principal: principal, Action: action, Resource: keyARN, Context: keys})
		return ok
	}
	return decision{
		direct:  ask(allows, callerARN),
		account: ask(allows, p.AccountID),
		denied:  ask(denies, callerARN) || ask(denies, p.AccountID),
	}, nil
}

// conditionKeys are the request context keys a key policy sees.
func conditionKeys(p *opentrail.Principal, viaService string, encCtx map[string]string) map[string]string {
	keys := map[string]string{
		"kms:CallerAccount":    p.AccountID,
		"aws:PrincipalAccount": p.AccountID,
		"aws:PrincipalArn":     p.ARN(),
	}
	if viaService != "" {
		keys["kms:ViaService"] = viaService
	}
	for k, v := range encCtx {
		keys["kms:EncryptionContext:"+k] = v
	}
	return keys
}

// authorizeKey decides whether the caller may perform action ("kms:Op")
// on k: the key policy must allow it, directly or by delegating to the
// caller's account, in which case (and for callers of other accounts
// always) the authorization point must allow it too.
func (s *Service) authorizeKey(ctx context.Context, p *opentrail.Principal, authorize func(context.Context, string, string) error,
	k *keyRow, action, viaService string, encCtx map[string]string) error {
	if p == nil || authorize == nil {
		return kmsError(opentrail.CodeAccessDenied, "The request has no caller")
	}
	iamErr := authorize(ctx, action, k.arn)
	if iamErr != nil && opentrail.ErrorCode(iamErr) != opentrail.CodeAccessDenied {
		return iamErr
	}
	d, err := evaluate(k.policy, p, action, k.arn, conditionKeys(p, viaService, encCtx))
	if err != nil {
		return err
	}
	allowed := false
	switch {
	case d.denied:
	case p.AccountID == k.account:
		allowed = d.direct || d.account && iamErr == nil
	default:
		allowed = (d.direct || d.account) && iamErr == nil
	}
	if allowed {
		return nil
	}
	why := "no resource-based policy allows the " + action + " action"
	switch {
	case d.denied:
		why = "of an explicit deny in a resource-based policy"
	case iamErr != nil && (d.account || d.direct):
		why = "no identity-based policy allows the " + action + " action"
	}
	return wrap(errAccessDenied, kmsError(opentrail.CodeAccessDenied, "User: %s is not authorized to perform: %s on resource: %s because %s",
		p.ARN(), action, k.arn, why))
}

// errAccessDenied marks refusals of AuthorizeUse.
var errAccessDenied = errors.New("kms: access denied")

// AllowsService reports whether the key policy of keyARN lets the service
// principal (for example cloudtrail.amazonaws.com) perform action (for
// example kms:GenerateDataKey) for sourceARN (the trail ARN). The policy
// sees aws:SourceArn, aws:SourceAccount and
// kms:EncryptionContext:aws:cloudtrail:arn set from sourceARN. A missing
// key fails with ErrNotFound.
func (s *Service) AllowsService(ctx context.Context, keyARN, servicePrincipal, action, sourceARN string) (bool, error) {
	k, err := s.keyByRef(ctx, keyARN)
	if err != nil {
		return false, err
	}
	keys := map[string]string{"aws:SourceArn": sourceARN}
	if a, ok := opentrail.ParseARN(sourceARN); ok {
		keys["aws:SourceAccount"] = a.AccountID
		if a.Service == "cloudtrail" {
			keys["kms:EncryptionContext:aws:cloudtrail:arn"] = sourceARN
		}
	}
	return iam.PolicyAllows(k.policy, iam.PolicyRequest{Service: servicePrincipal, Action: action, Resource: k.arn, Context: keys})
}

// AuthorizeUse decides whether principal may perform action (kms:Decrypt,
// kms:GenerateDataKey, ...) with the key keyRef names (a key ID or alias
// name in the principal's account and region, or an ARN) through another
// service, viaService (for example "s3.us-east-1.amazonaws.com", the
// policy's kms:ViaService). authorize is the caller's authorization point
// (svc.Call.Authorize). It returns the key's ARN. Errors carry KMS's code in
// an *opentrail.Error (NotFoundException, DisabledException,
// KMSInvalidStateException, AccessDeniedException) and wrap ErrNotFound,
// ErrDisabled or ErrPendingDeletion where they apply.
func (s *Service) AuthorizeUse(ctx context.Context, p *opentrail.Principal, authorize func(context.Context, string, string) error,
	keyRef, region, action, viaService string) (string, error) {
	if p == nil {
		return "", kmsError(opentrail.CodeAccessDenied, "The request has no caller")
	}
	r, err := parseRef(keyRef, p.AccountID, region)
	if err != nil {
		return "", wrap(ErrNotFound, err)
	}
	k, err := s.lookup(ctx, s.reader(ctx), r, true)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(action, "kms:") {
		action = "kms:" + action
	}
	if err := s.authorizeKey(ctx, p, authorize, k, action, viaService, nil); err != nil {
		return "", err
	}
	if err := usable(k); err != nil {
		return k.arn, err
	}
	return k.arn, nil
}

// lockoutSafe reports whether a new policy still lets the caller change
// the policy, KMS's policy lockout safety check.
func lockoutSafe(doc string, p *opentrail.Principal, keyARN string) bool {
	d, err := evaluate(doc, p, "kms:PutKeyPolicy", keyARN, conditionKeys(p, "", nil))
	return err == nil && !d.denied && (d.direct || d.account)
}
