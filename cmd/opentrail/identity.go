package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/journal"
)

const (
	settingDefaultAccount = "default_account"
	credentialsProfile    = "opentrail"
)

var accessKeyIDPattern = regexp.MustCompile(`^[A-Z0-9]{16,128}$`)

// setupIdentity makes sure the default account and its root key exist:
// from flags and environment when given, else from the data directory, else
// newly created (and then written to DATA_DIR/credentials).
func (m *Main) setupIdentity(ctx context.Context) error {
	account := m.AccountID
	if account == "" {
		v, ok, err := m.db.Setting(ctx, settingDefaultAccount)
		if err != nil {
			return err
		}
		if ok {
			account = v
		} else {
			account = opentrail.NewAccountID()
		}
	}
	keyID, secret := m.getenv("OPENTRAIL_ROOT_ACCESS_KEY_ID"), m.getenv("OPENTRAIL_ROOT_SECRET_ACCESS_KEY")
	if (keyID == "") != (secret == "") {
		return fmt.Errorf("set both OPENTRAIL_ROOT_ACCESS_KEY_ID and OPENTRAIL_ROOT_SECRET_ACCESS_KEY, or neither")
	}
	if keyID != "" && !accessKeyIDPattern.MatchString(keyID) {
		return fmt.Errorf("OPENTRAIL_ROOT_ACCESS_KEY_ID must be 16 to 128 upper-case letters and digits")
	}
	var key *opentrail.AccessKey
	created := false
	if keyID != "" {
		existing, err := m.db.AccessKey(ctx, keyID)
		if err != nil {
			return err
		}
		if existing != nil && existing.Principal.AccountID != account {
			return fmt.Errorf("access key %s belongs to account %s, not %s", keyID, existing.Principal.AccountID, account)
		}
		key = rootKey(account, keyID, secret)
	} else {
		keys, err := m.db.RootAccessKeys(ctx, account)
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			key = keys[0]
		} else {
			key = rootKey(account, opentrail.NewAccessKeyID(), opentrail.NewSecretKey())
			created = true
		}
	}
	now := time.Now()
	err := m.db.Update(ctx, func(tx *journal.Tx) error {
		if err := tx.CreateAccount(account, now); err != nil {
			return err
		}
		if err := tx.SetSetting(settingDefaultAccount, account); err != nil {
			return err
		}
		return tx.PutAccessKey(key, now)
	})
	if err != nil {
		return err
	}
	m.Account, m.RootKey = account, key
	if created {
		path := filepath.Join(m.DataDir, "credentials")
		content := fmt.Sprintf("# opentrail root credentials of account %s. Keep this file secret.\n[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
			account, credentialsProfile, key.ID, key.Secret)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		m.printWelcome = true
	}
	return nil
}

func rootKey(account, id, secret string) *opentrail.AccessKey {
	return &opentrail.AccessKey{ID: id, Secret: secret, Active: true, Principal: opentrail.Principal{
		Type: opentrail.PrincipalRoot, AccountID: account, PrincipalID: account, AccessKeyID: id}}
}

// welcome tells a first-time user how to reach the server.
func (m *Main) welcome() {
	path := filepath.Join(m.DataDir, "credentials")
	fmt.Fprintf(m.stdout, `opentrail created account %s and its root access key:
  AWS Access Key ID:     %s
  AWS Secret Access Key: %s
They are saved in %s (profile %q). To use them with the AWS CLI:
  export AWS_SHARED_CREDENTIALS_FILE=%s AWS_PROFILE=%s AWS_DEFAULT_REGION=us-east-1
  aws --endpoint-url %s cloudtrail lookup-events
`, m.Account, m.RootKey.ID, m.RootKey.Secret, path, credentialsProfile, path, credentialsProfile, m.URL())
}
