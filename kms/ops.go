package kms

import (
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/iam"
	"github.com/opentrail/opentrail/journal"
)

// Limits of KMS's model and service.
const (
	maxDescription = 8192
	maxPolicy      = 32768
	maxPlaintext   = 4096
	defaultLimit   = 100
	maxLimit       = 1000
	minWindow      = 7
	maxWindow      = 30
	defaultWindow  = 30
)

const symmetricDefault = "SYMMETRIC_DEFAULT"

var (
	keyUsages  = []string{"SIGN_VERIFY", "ENCRYPT_DECRYPT", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT"}
	keySpecs   = []string{"RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1", "SYMMETRIC_DEFAULT", "HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512", "SM2", "ML_DSA_44", "ML_DSA_65", "ML_DSA_87", "ECC_NIST_EDWARDS25519"}
	cmkSpecs   = []string{"RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1", "SYMMETRIC_DEFAULT", "HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512", "SM2"}
	origins    = []string{"AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"}
	algorithms = []string{"SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "SM2PKE"}
	dataKeys   = []string{"AES_256", "AES_128"}

	aliasPattern = regexp.MustCompile(`^[a-zA-Z0-9:/_-]+$`)
)

// checkEnum validates an optional enum parameter.
func checkEnum(field, v string, set []string) error {
	if v == "" {
		return nil
	}
	for _, x := range set {
		if v == x {
			return nil
		}
	}
	return validation("Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: [%s]",
		truncate(v, 100), field, strings.Join(set, ", "))
}

func missing(field string) error {
	return validation("Value null at '%s' failed to satisfy constraint: Member must not be null", field)
}

type tag struct {
	TagKey   string `json:"TagKey"`
	TagValue string `json:"TagValue"`
}

// keyMetadata is KMS's KeyMetadata.
type keyMetadata struct {
	AWSAccountId                string
	KeyId                       string
	Arn                         string
	CreationDate                epoch
	Enabled                     bool
	Description                 string
	KeyUsage                    string
	KeyState                    string
	DeletionDate                *epoch `json:",omitempty"`
	PendingDeletionWindowInDays int    `json:",omitempty"`
	Origin                      string
	KeyManager                  string
	CustomerMasterKeySpec       string
	KeySpec                     string
	EncryptionAlgorithms        []string
	MultiRegion                 bool
}

func metadataOf(k *keyRow) keyMetadata {
	m := keyMetadata{
		AWSAccountId: k.account, KeyId: k.id, Arn: k.arn, CreationDate: epoch(time.UnixMilli(k.created)),
		Enabled: k.state == StateEnabled, Description: k.description, KeyUsage: "ENCRYPT_DECRYPT", KeyState: k.state,
		Origin: "AWS_KMS", KeyManager: k.manager, CustomerMasterKeySpec: symmetricDefault, KeySpec: symmetricDefault,
		EncryptionAlgorithms: []string{symmetricDefault},
	}
	if k.state == StatePendingDeletion {
		d := epoch(time.UnixMilli(k.deletion))
		m.DeletionDate = &d
		if k.manager == "CUSTOMER" {
			m.PendingDeletionWindowInDays = k.pendingDays
		}
	}
	return m
}

// recordMetadata is KeyMetadata as CloudTrail records it.
func recordMetadata(k *keyRow) map[string]any {
	m := map[string]any{
		"aWSAccountId": k.account, "keyId": k.id, "arn": k.arn, "creationDate": recordDate(time.UnixMilli(k.created)),
		"enabled": k.state == StateEnabled, "description": k.description, "keyUsage": "ENCRYPT_DECRYPT",
		"keyState": k.state, "origin": "AWS_KMS", "keyManager": k.manager, "customerMasterKeySpec": symmetricDefault,
		"keySpec": symmetricDefault, "encryptionAlgorithms": []string{symmetricDefault}, "multiRegion": false,
	}
	return m
}

// key resolves the KeyId-style parameter field of the request.
func (s *Service) key(c *call, field, keyRef string, create bool) (*keyRow, error) {
	if keyRef == "" {
		return nil, missing(field)
	}
	if len(keyRef) > 2048 {
		return nil, validation("Value at '%s' failed to satisfy constraint: Member must have length less than or equal to 2048", field)
	}
	r, err := parseRef(keyRef, c.Principal.AccountID, c.Region)
	if err != nil {
		return nil, err
	}
	k, err := s.lookup(c.ctx, s.reader(c.ctx), r, create)
	if err != nil {
		return nil, err
	}
	c.rec.Resources = append(c.rec.Resources, keyResource(k.arn, k.account))
	return k, nil
}

// authz asks whether the caller may perform the call's operation on k.
func (s *Service) authz(c *call, k *keyRow, encCtx map[string]string) error {
	return s.authorizeKey(c.ctx, c.Principal, c.Authorize, k, "kms:"+c.op, "", encCtx)
}

// authzAccount asks the authorization point about an operation that acts
// on no key (CreateKey, ListKeys, ListAliases).
func (c *call) authzAccount(resource string) error {
	err := c.Authorize(c.ctx, "kms:"+c.op, resource)
	if err != nil && opentrail.ErrorCode(err) == opentrail.CodeAccessDenied {
		return kmsError(opentrail.CodeAccessDenied, "User: %s is not authorized to perform: kms:%s on resource: %s because no identity-based policy allows the kms:%s action",
			c.Principal.ARN(), c.op, resource, c.op)
	}
	return err
}

// reread reads k again inside a transaction, as it is now.
func (s *Service) reread(c *call, tx *journal.Tx, k *keyRow) (*keyRow, error) {
	return s.lookup(c.ctx, tx, ref{account: k.account, region: k.region, keyID: k.id}, false)
}

func checkPolicy(doc string) error {
	if len(doc) > maxPolicy {
		return kmsError("LimitExceededException", "The key policy is %d bytes long, more than the limit of %d", len(doc), maxPolicy)
	}
	if err := iam.ParsePolicy(doc); err != nil {
		return kmsError(codeMalformedPolicy, "The key policy is not valid: %v", err)
	}
	return nil
}

const lockoutMessage = "The new key policy will not allow you to update the key policy in the future."

func (s *Service) createKey(c *call) (any, error) {
	var in struct {
		Policy                         *string
		Description                    *string
		KeyUsage                       string
		CustomerMasterKeySpec          string
		KeySpec                        string
		Origin                         string
		CustomKeyStoreId               string
		BypassPolicyLockoutSafetyCheck bool
		Tags                           []tag
		MultiRegion                    *bool
		XksKeyId                       string
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	p := &c.params
	if in.Policy != nil {
		p.add("policy", *in.Policy)
	}
	if in.Description != nil {
		p.add("description", *in.Description)
	}
	p.addNonEmpty("keyUsage", in.KeyUsage)
	p.addNonEmpty("customerMasterKeySpec", in.CustomerMasterKeySpec)
	p.addNonEmpty("keySpec", in.KeySpec)
	p.addNonEmpty("origin", in.Origin)
	p.addNonEmpty("customKeyStoreId", in.CustomKeyStoreId)
	p.add("bypassPolicyLockoutSafetyCheck", in.BypassPolicyLockoutSafetyCheck)
	if in.Tags != nil {
		p.add("tags", in.Tags)
	}
	p.addNonEmpty("multiRegion", in.MultiRegion)

	for _, e := range []error{
		checkEnum("keyUsage", in.KeyUsage, keyUsages),
		checkEnum("customerMasterKeySpec", in.CustomerMasterKeySpec, cmkSpecs),
		checkEnum("keySpec", in.KeySpec, keySpecs),
		checkEnum("origin", in.Origin, origins),
	} {
		if e != nil {
			return nil, e
		}
	}
	desc := ""
	if in.Description != nil {
		desc = *in.Description
	}
	if len(desc) > maxDescription {
		return nil, validation("Value at 'description' failed to satisfy constraint: Member must have length less than or equal to %d", maxDescription)
	}
	if in.KeySpec != "" && in.CustomerMasterKeySpec != "" {
		return nil, kmsError(codeValidation, "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.")
	}
	spec := in.KeySpec + in.CustomerMasterKeySpec
	switch {
	case spec != "" && spec != symmetricDefault:
		return nil, kmsError(codeUnsupported, "opentrail supports only symmetric encryption keys (KeySpec SYMMETRIC_DEFAULT), not KeySpec %s", spec)
	case in.KeyUsage != "" && in.KeyUsage != "ENCRYPT_DECRYPT":
		return nil, kmsError(codeUnsupported, "opentrail supports only KeyUsage ENCRYPT_DECRYPT, not %s", in.KeyUsage)
	case in.Origin != "" && in.Origin != "AWS_KMS":
		return nil, kmsError(codeUnsupported, "opentrail supports only keys with Origin AWS_KMS (key material it generates), not %s", in.Origin)
	case in.CustomKeyStoreId != "" || in.XksKeyId != "":
		return nil, kmsError(codeUnsupported, "opentrail does not implement custom key stores")
	case in.MultiRegion != nil && *in.MultiRegion:
		return nil, kmsError(codeUnsupported, "opentrail does not implement multi-Region keys")
	}
	seen := map[string]bool{}
	for _, t := range in.Tags {
		switch {
		case len(t.TagKey) < 1 || len(t.TagKey) > 128:
			return nil, validation("Value '%s' at 'tags.member.tagKey' failed to satisfy constraint: Member must have length between 1 and 128", truncate(t.TagKey, 200))
		case len(t.TagValue) > 256:
			return nil, validation("Value at 'tags.member.tagValue' failed to satisfy constraint: Member must have length less than or equal to 256")
		case strings.HasPrefix(strings.ToLower(t.TagKey), "aws:"):
			return nil, kmsError(codeTag, "Tag keys prefixed with 'aws:' are reserved")
		case seen[t.TagKey]:
			return nil, kmsError(codeTag, "Duplicate tag keys")
		}
		seen[t.TagKey] = true
	}
	if len(in.Tags) > 50 {
		return nil, kmsError(codeTag, "Too many tags: at most 50 per key")
	}
	if err := c.authzAccount("*"); err != nil {
		return nil, err
	}
	account := c.Principal.AccountID
	policy := DefaultPolicy(account)
	if in.Policy != nil {
		if err := checkPolicy(*in.Policy); err != nil {
			return nil, err
		}
		policy = *in.Policy
	}
	tags, _ := json.Marshal(orEmptyTags(in.Tags))
	k := s.newKeyRow(account, c.Region, desc, "CUSTOMER", policy, string(tags))
	if in.Policy != nil && !in.BypassPolicyLockoutSafetyCheck && !lockoutSafe(policy, c.Principal, k.arn) {
		return nil, kmsError(codeMalformedPolicy, lockoutMessage)
	}
	c.rec.Resources = []opentrail.Resource{keyResource(k.arn, account)}
	err := c.commit(func(tx *journal.Tx) error {
		if err := insertKey(tx, k); err != nil {
			return err
		}
		c.rec.ResponseElements = mustJSON(map[string]any{"keyMetadata": recordMetadata(k)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"KeyMetadata": metadataOf(k)}, nil
}

func orEmptyTags(t []tag) []tag {
	if t == nil {
		return []tag{}
	}
	return t
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps of strings, numbers and bools
	}
	return b
}

type keyIDInput struct {
	KeyId       string
	GrantTokens []string
}

func (s *Service) describeKey(c *call) (any, error) {
	var in keyIDInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	c.params.addNonEmpty("keyId", in.KeyId)
	if err := noGrants(in.GrantTokens); err != nil {
		return nil, err
	}
	k, err := s.key(c, "keyId", in.KeyId, true)
	if err != nil {
		return nil, err
	}
	if err := s.authz(c, k, nil); err != nil {
		return nil, err
	}
	return map[string]any{"KeyMetadata": metadataOf(k)}, nil
}

// noGrants refuses grant tokens: opentrail has no grants.
func noGrants(tokens []string) error {
	if len(tokens) > 0 {
		return kmsError("InvalidGrantTokenException", "opentrail does not implement grants; GrantTokens cannot be used")
	}
	return nil
}

// pageParams parses Limit and Marker.
func pageParams(c *call, limit *int, marker string) (int, string, error) {
	n := defaultLimit
	if limit != nil {
		c.params.add("limit", *limit)
		if *limit < 1 || *limit > maxLimit {
			return 0, "", validation("Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and %d", *limit, maxLimit)
		}
		n = *limit
	}
	after := ""
	if marker != "" {
		c.params.add("marker", marker)
		b, err := base64.RawURLEncoding.DecodeString(marker)
		if err != nil || !strings.HasPrefix(string(b), "kms:") {
			return 0, "", kmsError(codeMarker, "Invalid marker")
		}
		after = string(b[4:])
	}
	return n, after, nil
}

func marker(v string) string { return base64.RawURLEncoding.EncodeToString([]byte("kms:" + v)) }

func (s *Service) listKeys(c *call) (any, error) {
	var in struct {
		Limit  *int
		Marker string
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	limit, after, err := pageParams(c, in.Limit, in.Marker)
	if err != nil {
		return nil, err
	}
	var afterSeq int64
	if after != "" {
		if afterSeq, err = strconv.ParseInt(after, 10, 64); err != nil || afterSeq < 0 {
			return nil, kmsError(codeMarker, "Invalid marker")
		}
	}
	if err := c.authzAccount("*"); err != nil {
		return nil, err
	}
	rows, err := s.db.Reader().QueryContext(c.ctx, `SELECT seq, id, arn FROM kms_keys WHERE account = ? AND region = ? AND seq > ?
		AND NOT (state = ? AND deletion > 0 AND deletion <= ?) ORDER BY seq LIMIT ?`,
		c.Principal.AccountID, c.Region, afterSeq, StatePendingDeletion, s.now().UnixMilli(), limit+1)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type entry struct{ KeyId, KeyArn string }
	out := struct {
		Keys       []entry
		NextMarker string `json:",omitempty"`
		Truncated  bool
	}{Keys: []entry{}}
	var last int64
	for rows.Next() {
		var e entry
		var seq int64
		if err := rows.Scan(&seq, &e.KeyId, &e.KeyArn); err != nil {
			return nil, err
		}
		if len(out.Keys) == limit {
			out.Truncated, out.NextMarker = true, marker(strconv.FormatInt(last, 10))
			break
		}
		out.Keys = append(out.Keys, e)
		last = seq
	}
	return out, rows.Err()
}

func (s *Service) enableKey(c *call) (any, error) {
	return s.setState(c, func(k *keyRow) (string, error) {
		if k.state == StatePendingDeletion {
			return "", kmsError(codeInvalidState, "%s is pending deletion.", k.arn)
		}
		return StateEnabled, nil
	})
}

func (s *Service) disableKey(c *call) (any, error) {
	return s.setState(c, func(k *keyRow) (string, error) {
		if k.state == StatePendingDeletion {
			return "", kmsError(codeInvalidState, "%s is pending deletion.", k.arn)
		}
		return StateDisabled, nil
	})
}

// authorizedKey decodes a request that names one existing key by KeyId,
// records it, and authorizes the call on that key.
func (s *Service) authorizedKey(c *call) (*keyRow, error) {
	var in keyIDInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	c.params.addNonEmpty("keyId", in.KeyId)
	k, err := s.key(c, "keyId", in.KeyId, false)
	if err != nil {
		return nil, err
	}
	if err := s.authz(c, k, nil); err != nil {
		return nil, err
	}
	return k, nil
}

// setState serves EnableKey and DisableKey.
func (s *Service) setState(c *call, next func(*keyRow) (string, error)) (any, error) {
	k, err := s.authorizedKey(c)
	if err != nil {
		return nil, err
	}
	err = c.commit(func(tx *journal.Tx) error {
		k, err := s.reread(c, tx, k)
		if err != nil {
			return err
		}
		state, err := next(k)
		if err != nil {
			return err
		}
		_, err = tx.Exec("UPDATE kms_keys SET state = ? WHERE id = ?", state, k.id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (s *Service) scheduleKeyDeletion(c *call) (any, error) {
	var in struct {
		KeyId               string
		PendingWindowInDays *int
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	c.params.addNonEmpty("keyId", in.KeyId)
	c.params.addNonEmpty("pendingWindowInDays", in.PendingWindowInDays)
	days := defaultWindow
	if in.PendingWindowInDays != nil {
		days = *in.PendingWindowInDays
		if days < minWindow {
			return nil, validation("Value '%d' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value greater than or equal to %d", days, minWindow)
		}
		if days > maxWindow {
			return nil, validation("Value '%d' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value less than or equal to %d", days, maxWindow)
		}
	}
	k, err := s.key(c, "keyId", in.KeyId, false)
	if err != nil {
		return nil, err
	}
	if err := s.authz(c, k, nil); err != nil {
		return nil, err
	}
	deletion := s.now().Add(time.Duration(days) * 24 * time.Hour).UnixMilli()
	err = c.commit(func(tx *journal.Tx) error {
		k, err := s.reread(c, tx, k)
		if err != nil {
			return err
		}
		if k.state == StatePendingDeletion {
			return kmsError(codeInvalidState, "%s is pending deletion.", k.arn)
		}
		if _, err := tx.Exec("UPDATE kms_keys SET state = ?, deletion = ?, pending_days = ? WHERE id = ?",
			StatePendingDeletion, deletion, days, k.id); err != nil {
			return err
		}
		c.rec.ResponseElements = mustJSON(map[string]any{"keyId": k.arn, "deletionDate": recordDate(time.UnixMilli(deletion)),
			"keyState": StatePendingDeletion, "pendingWindowInDays": days})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return struct {
		KeyId               string
		DeletionDate        epoch
		KeyState            string
		PendingWindowInDays int
	}{k.arn, epoch(time.UnixMilli(deletion)), StatePendingDeletion, days}, nil
}

func (s *Service) cancelKeyDeletion(c *call) (any, error) {
	k, err := s.authorizedKey(c)
	if err != nil {
		return nil, err
	}
	err = c.commit(func(tx *journal.Tx) error {
		k, err := s.reread(c, tx, k)
		if err != nil {
			return err
		}
		if k.state != StatePendingDeletion {
			return kmsError(codeInvalidState, "%s is not pending deletion.", k.arn)
		}
		// A key whose deletion is cancelled is disabled, as in KMS.
		if _, err := tx.Exec("UPDATE kms_keys SET state = ?, deletion = 0, pending_days = 0 WHERE id = ?", StateDisabled, k.id); err != nil {
			return err
		}
		c.rec.ResponseElements = mustJSON(map[string]any{"keyId": k.arn})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return map[string]string{"KeyId": k.arn}, nil
}

// checkAliasName validates an alias name as CreateAlias and DeleteAlias
// take it.
func checkAliasName(name string) error {
	switch {
	case name == "":
		return missing("aliasName")
	case len(name) > 256:
		return validation("Value '%s' at 'aliasName' failed to satisfy constraint: Member must have length less than or equal to 256", truncate(name, 300))
	case !aliasPattern.MatchString(name):
		return validation("Value '%s' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$", name)
	case !strings.HasPrefix(name, "alias/") || name == "alias/":
		return kmsError(codeAliasName, "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html")
	case strings.HasPrefix(name, "alias/aws/"):
		return kmsError(codeAliasName, "Alias names that begin with 'alias/aws/' are reserved for AWS managed keys")
	}
	return nil
}

func (s *Service) createAlias(c *call) (any, error) {
	var in struct {
		AliasName   string
		TargetKeyId string
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	c.params.addNonEmpty("aliasName", in.AliasName)
	c.params.addNonEmpty("targetKeyId", in.TargetKeyId)
	if err := checkAliasName(in.AliasName); err != nil {
		return nil, err
	}
	if strings.HasPrefix(in.TargetKeyId, "alias/") || strings.Contains(in.TargetKeyId, ":alias/") {
		return nil, kmsError(codeValidation, "TargetKeyId must be a key ID or key ARN, not an alias")
	}
	account := c.Principal.AccountID
	arn := aliasARN(c.Region, account, in.AliasName)
	c.rec.Resources = []opentrail.Resource{keyResource(arn, account)}
	if err := c.authzAccount(arn); err != nil {
		return nil, err
	}
	k, err := s.key(c, "targetKeyId", in.TargetKeyId, false)
	if err != nil {
		return nil, err
	}
	if k.account != account || k.region != c.Region {
		return nil, notFound("Key '%s' does not exist", k.arn)
	}
	if err := s.authz(c, k, nil); err != nil {
		return nil, err
	}
	now := s.now().UnixMilli()
	err = c.commit(func(tx *journal.Tx) error {
		k, err := s.reread(c, tx, k)
		if err != nil {
			return err
		}
		if k.state == StatePendingDeletion {
			return kmsError(codeInvalidState, "%s is pending deletion.", k.arn)
		}
		var n int
		if err := tx.QueryRow("SELECT count(*) FROM kms_aliases WHERE account = ? AND region = ? AND name = ?", account, c.Region, in.AliasName).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return kmsError(codeAlreadyExists, "An alias with the name %s already exists", arn)
		}
		_, err = tx.Exec("INSERT INTO kms_aliases (account, region, name, key_id, created, updated) VALUES (?, ?, ?, ?, ?, ?)",
			account, c.Region, in.AliasName, k.id, now, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (s *Service) listAliases(c *call) (any, error) {
	var in struct {
		KeyId  string
		Limit  *int
		Marker string
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	c.params.addNonEmpty("keyId", in.KeyId)
	limit, after, err := pageParams(c, in.Limit, in.Marker)
	if err != nil {
		return nil, err
	}
	keyID := ""
	if in.KeyId != "" {
		if strings.HasPrefix(in.KeyId, "alias/") || strings.Contains(in.KeyId, ":alias/") {
			return nil, kmsError(codeInvalidArn, "Invalid arn %s: ListAliases takes a key ID or key ARN", in.KeyId)
		}
		k, err := s.key(c, "keyId", in.KeyId, false)
		if err != nil {
			return nil, err
		}
		keyID = k.id
	}
	if err := c.authzAccount("*"); err != nil {
		return nil, err
	}
	rows, err := s.db.Reader().QueryContext(c.ctx, `SELECT a.name, a.key_id, a.created, a.updated FROM kms_aliases a
		JOIN kms_keys k ON k.id = a.key_id
		WHERE a.account = ? AND a.region = ? AND a.name > ? AND (? = '' OR a.key_id = ?)
		AND NOT (k.state = ? AND k.deletion > 0 AND k.deletion <= ?)
		ORDER BY a.name LIMIT ?`,
		c.Principal.AccountID, c.Region, after, keyID, keyID, StatePendingDeletion, s.now().UnixMilli(), limit+1)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type entry struct {
		AliasName       string
		AliasArn        string
		TargetKeyId     string
		CreationDate    epoch
		LastUpdatedDate epoch
	}
	out := struct {
		Aliases    []entry
		NextMarker string `json:",omitempty"`
		Truncated  bool
	}{Aliases: []entry{}}
	for rows.Next() {
		var e entry
		var created, updated int64
		if err := rows.Scan(&e.AliasName, &e.TargetKeyId, &created, &updated); err != nil {
			return nil, err
		}
		if len(out.Aliases) == limit {
			out.Truncated, out.NextMarker = true, marker(out.Aliases[len(out.Aliases)-1].AliasName)
			break
		}
		e.AliasArn = aliasARN(c.Region, c.Principal.AccountID, e.AliasName)
		e.CreationDate, e.LastUpdatedDate = epoch(time.UnixMilli(created)), epoch(time.UnixMilli(updated))
		out.Aliases = append(out.Aliases, e)
	}
	return out, rows.Err()
}

func (s *Service) deleteAlias(c *call) (any, error) {
	var in struct{ AliasName string }
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	c.params.addNonEmpty("aliasName", in.AliasName)
	if in.AliasName == "" {
		return nil, missing("aliasName")
	}
	account := c.Principal.AccountID
	arn := aliasARN(c.Region, account, in.AliasName)
	if !strings.HasPrefix(in.AliasName, "alias/") {
		return nil, notFound("Alias '%s' is not found.", arn)
	}
	c.rec.Resources = []opentrail.Resource{keyResource(arn, account)}
	if err := c.authzAccount(arn); err != nil {
		return nil, err
	}
	r := ref{account: account, region: c.Region, alias: in.AliasName}
	k, err := s.lookup(c.ctx, s.reader(c.ctx), r, false)
	if err != nil {
		return nil, err
	}
	c.rec.Resources = append(c.rec.Resources, keyResource(k.arn, k.account))
	if k.manager == "AWS" {
		return nil, kmsError(codeAliasName, "Aliases of AWS managed keys cannot be deleted")
	}
	if err := s.authz(c, k, nil); err != nil {
		return nil, err
	}
	err = c.commit(func(tx *journal.Tx) error {
		res, err := tx.Exec("DELETE FROM kms_aliases WHERE account = ? AND region = ? AND name = ?", account, c.Region, in.AliasName)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("Alias '%s' is not found.", arn)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// checkAlgorithm validates EncryptionAlgorithm for a symmetric key.
func checkAlgorithm(alg string) error {
	if err := checkEnum("encryptionAlgorithm", alg, algorithms); err != nil {
		return err
	}
	if alg != "" && alg != symmetricDefault {
		return kmsError(codeKeyUsage, "The encryption algorithm %s is not supported by symmetric keys; use SYMMETRIC_DEFAULT", alg)
	}
	return nil
}

func dryRun(v *bool) error {
	if v != nil && *v {
		return kmsError(codeDryRun, "The request would have succeeded, but the DryRun option is set.")
	}
	return nil
}

func (s *Service) encrypt(c *call) (any, error) {
	var in struct {
		KeyId               string
		Plaintext           []byte
		EncryptionContext   map[string]string
		GrantTokens         []string
		EncryptionAlgorithm string
		DryRun              *bool
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	c.params.addNonEmpty("keyId", in.KeyId)
	c.params.add("encryptionAlgorithm", orDefault(in.EncryptionAlgorithm))
	c.params.addNonEmpty("encryptionContext", in.EncryptionContext)
	c.params.addNonEmpty("dryRun", in.DryRun)
	switch {
	case in.Plaintext == nil:
		return nil, missing("plaintext")
	case len(in.Plaintext) == 0:
		return nil, validation("Value at 'plaintext' failed to satisfy constraint: Member must have length greater than or equal to 1")
	case len(in.Plaintext) > maxPlaintext:
		return nil, validation("Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to %d", maxPlaintext)
	}
	if err := checkAlgorithm(in.EncryptionAlgorithm); err != nil {
		return nil, err
	}
	if err := noGrants(in.GrantTokens); err != nil {
		return nil, err
	}
	k, err := s.key(c, "keyId", in.KeyId, true)
	if err != nil {
		return nil, err
	}
	if err := s.authz(c, k, in.EncryptionContext); err != nil {
		return nil, err
	}
	if err := usable(k); err != nil {
		return nil, err
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	blob, err := s.sealWith(k, in.Plaintext, in.EncryptionContext)
	if err != nil {
		return nil, err
	}
	return struct {
		CiphertextBlob      []byte
		KeyId               string
		EncryptionAlgorithm string
	}{blob, k.arn, symmetricDefault}, nil
}

func orDefault(alg string) string {
	if alg == "" {
		return symmetricDefault
	}
	return alg
}

// errInvalidCiphertext is what clients see of a blob that does not
// decrypt: KMS tells nothing more.
func errInvalidCiphertext() error {
	return wrap(ErrInvalidCiphertext, &opentrail.Error{Code: codeInvalidCipher})
}

func (s *Service) decrypt(c *call) (any, error) {
	var in struct {
		CiphertextBlob      []byte
		EncryptionContext   map[string]string
		GrantTokens         []string
		KeyId               string
		EncryptionAlgorithm string
		Recipient           json.RawMessage
		DryRun              *bool
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	c.params.addNonEmpty("keyId", in.KeyId)
	c.params.add("encryptionAlgorithm", orDefault(in.EncryptionAlgorithm))
	c.params.addNonEmpty("encryptionContext", in.EncryptionContext)
	c.params.addNonEmpty("dryRun", in.DryRun)
	switch {
	case in.CiphertextBlob == nil:
		return nil, missing("ciphertextBlob")
	case len(in.CiphertextBlob) == 0:
		return nil, validation("Value at 'ciphertextBlob' failed to satisfy constraint: Member must have length greater than or equal to 1")
	case len(in.CiphertextBlob) > maxBlob:
		return nil, validation("Value at 'ciphertextBlob' failed to satisfy constraint: Member must have length less than or equal to %d", maxBlob)
	case len(in.Recipient) > 0 && string(in.Recipient) != "null":
		return nil, kmsError(codeUnsupported, "opentrail does not implement Recipient (Nitro Enclaves attestation)")
	}
	if err := checkAlgorithm(in.EncryptionAlgorithm); err != nil {
		return nil, err
	}
	if err := noGrants(in.GrantTokens); err != nil {
		return nil, err
	}
	id, header, nonce, sealed, err := parseBlob(in.CiphertextBlob)
	if err != nil {
		return nil, errInvalidCiphertext()
	}
	var named *keyRow
	if in.KeyId != "" {
		if named, err = s.key(c, "keyId", in.KeyId, false); err != nil {
			return nil, err
		}
		if named.id != id {
			return nil, kmsError(codeIncorrectKey, "The key ID in the request does not identify a CMK that can perform this operation.")
		}
	}
	k, err := scanKey(s.reader(c.ctx).QueryRow("SELECT "+keyColumns+" FROM kms_keys WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) || err == nil && k.region != c.Region {
		return nil, errInvalidCiphertext()
	}
	if err != nil {
		return nil, err
	}
	if k, err = s.lookup(c.ctx, s.reader(c.ctx), ref{account: k.account, region: k.region, keyID: k.id}, false); err != nil {
		return nil, err
	}
	if named == nil {
		c.rec.Resources = append(c.rec.Resources, keyResource(k.arn, k.account))
	}
	if err := s.authz(c, k, in.EncryptionContext); err != nil {
		return nil, err
	}
	if err := usable(k); err != nil {
		return nil, err
	}
	a, err := s.keyAEAD(k)
	if err != nil {
		return nil, err
	}
	plain, err := openBlob(a, header, nonce, sealed, in.EncryptionContext)
	if err != nil {
		return nil, errInvalidCiphertext()
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	return struct {
		KeyId               string
		Plaintext           []byte
		EncryptionAlgorithm string
	}{k.arn, plain, symmetricDefault}, nil
}

func (s *Service) generateDataKey(c *call) (any, error) {
	var in struct {
		KeyId             string
		EncryptionContext map[string]string
		NumberOfBytes     *int
		KeySpec           string
		GrantTokens       []string
		Recipient         json.RawMessage
		DryRun            *bool
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	c.params.addNonEmpty("keyId", in.KeyId)
	c.params.addNonEmpty("keySpec", in.KeySpec)
	c.params.addNonEmpty("numberOfBytes", in.NumberOfBytes)
	c.params.addNonEmpty("encryptionContext", in.EncryptionContext)
	c.params.addNonEmpty("dryRun", in.DryRun)
	if err := checkEnum("keySpec", in.KeySpec, dataKeys); err != nil {
		return nil, err
	}
	n := 0
	switch {
	case (in.KeySpec == "") == (in.NumberOfBytes == nil):
		return nil, kmsError(codeValidation, "Please specify either number of bytes or key spec.")
	case in.KeySpec == "AES_256":
		n = 32
	case in.KeySpec == "AES_128":
		n = 16
	default:
		n = *in.NumberOfBytes
		if n < 1 || n > 1024 {
			return nil, validation("Value '%d' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and 1024", n)
		}
	}
	if len(in.Recipient) > 0 && string(in.Recipient) != "null" {
		return nil, kmsError(codeUnsupported, "opentrail does not implement Recipient (Nitro Enclaves attestation)")
	}
	if err := noGrants(in.GrantTokens); err != nil {
		return nil, err
	}
	k, err := s.key(c, "keyId", in.KeyId, true)
	if err != nil {
		return nil, err
	}
	if err := s.authz(c, k, in.EncryptionContext); err != nil {
		return nil, err
	}
	if err := usable(k); err != nil {
		return nil, err
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	plain, blob, err := s.dataKey(k, n, in.EncryptionContext)
	if err != nil {
		return nil, err
	}
	return struct {
		CiphertextBlob []byte
		Plaintext      []byte
		KeyId          string
	}{blob, plain, k.arn}, nil
}

func (s *Service) policyName(c *call, name *string) error {
	if name == nil {
		return nil
	}
	c.params.add("policyName", *name)
	if *name != "default" {
		return notFound("No such policy exists: %s. The only key policy name is default.", truncate(*name, 128))
	}
	return nil
}

func (s *Service) getKeyPolicy(c *call) (any, error) {
	var in struct {
		KeyId      string
		PolicyName *string
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	c.params.addNonEmpty("keyId", in.KeyId)
	if err := s.policyName(c, in.PolicyName); err != nil {
		return nil, err
	}
	k, err := s.key(c, "keyId", in.KeyId, false)
	if err != nil {
		return nil, err
	}
	if err := s.authz(c, k, nil); err != nil {
		return nil, err
	}
	return map[string]string{"Policy": k.policy, "PolicyName": "default"}, nil
}

func (s *Service) putKeyPolicy(c *call) (any, error) {
	var in struct {
		KeyId                          string
		PolicyName                     *string
		Policy                         *string
		BypassPolicyLockoutSafetyCheck bool
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	c.params.addNonEmpty("keyId", in.KeyId)
	if in.Policy != nil {
		c.params.add("policy", *in.Policy)
	}
	c.params.add("bypassPolicyLockoutSafetyCheck", in.BypassPolicyLockoutSafetyCheck)
	if err := s.policyName(c, in.PolicyName); err != nil {
		return nil, err
	}
	if in.Policy == nil {
		return nil, missing("policy")
	}
	k, err := s.key(c, "keyId", in.KeyId, false)
	if err != nil {
		return nil, err
	}
	if err := s.authz(c, k, nil); err != nil {
		return nil, err
	}
	if err := checkPolicy(*in.Policy); err != nil {
		return nil, err
	}
	if !in.BypassPolicyLockoutSafetyCheck && !lockoutSafe(*in.Policy, c.Principal, k.arn) {
		return nil, kmsError(codeMalformedPolicy, lockoutMessage)
	}
	err = c.commit(func(tx *journal.Tx) error {
		k, err := s.reread(c, tx, k)
		if err != nil {
			return err
		}
		_, err = tx.Exec("UPDATE kms_keys SET policy = ? WHERE id = ?", *in.Policy, k.id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}
