package app

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/portcullis-auth/portcullis/adapters/sqlstore"
	"github.com/portcullis-auth/portcullis/config"
)

// keyEncryptionKey returns the key that seals signing keys in the database: the configured
// PORTCULLIS_KEY_ENCRYPTION_KEY, else the one kept in DATA_DIR (generated on first start, 0600).
func keyEncryptionKey(cfg config.Config, log *slog.Logger) ([]byte, error) {
	if cfg.KeyEncryptionKey != "" {
		return base64.StdEncoding.DecodeString(cfg.KeyEncryptionKey)
	}
	path := filepath.Join(cfg.DataDir, config.KeyEncryptionKeyFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		key, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if derr != nil || len(key) != 32 {
			return nil, fmt.Errorf("%s: not a base64 32-byte key; remove it only if the database holds no signing keys", path)
		}
		return key, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("read the key-encryption key: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("PORTCULLIS_DATA_DIR: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) { // another process won the race: use its key
		return keyEncryptionKey(cfg, log)
	}
	if err != nil {
		return nil, fmt.Errorf("write the key-encryption key: %w", err)
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("write the key-encryption key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write the key-encryption key: %w", err)
	}
	if kind, _ := sqlstore.KindOf(cfg.DatabaseURL); kind != sqlstore.SQLite {
		log.Warn("generated a key-encryption key in the data directory; instances sharing this database must share it: set PORTCULLIS_KEY_ENCRYPTION_KEY",
			"path", path)
	} else {
		log.Info("key-encryption key generated", "path", path)
	}
	return key, nil
}
