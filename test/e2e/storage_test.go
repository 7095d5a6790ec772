package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// TestNoSecretsInDatabase: after a full flow, the database files hold no password, no refresh
// token (current or retired), no access token, and no signing key that parses in clear.
func TestNoSecretsInDatabase(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	api := srv.apiClient().in(t)
	a := api.register(t)
	t1 := api.login(t, a)
	var t2 tokens
	api.refresh(t1.RefreshToken).expect(http.StatusOK).decode(&t2)
	newPassword := "a different passphrase 42"
	api.do("PUT", "/api/users/me/password", map[string]string{"current_password": a.Password, "new_password": newPassword},
		bearer(t2.AccessToken)...).expect(http.StatusNoContent)

	// Read every byte the database has written: the main file and its write-ahead log.
	var raw []byte
	files, _ := filepath.Glob(srv.dbPath() + "*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, b...)
	}
	if !bytes.Contains(raw, []byte(a.Email)) || !bytes.Contains(raw, []byte("$argon2id$")) {
		t.Fatal("the database files read hold neither the user's email nor a hash: nothing was checked")
	}
	for name, secret := range map[string]string{
		"old password": a.Password, "new password": newPassword,
		"refresh token": t1.RefreshToken, "rotated refresh token": t2.RefreshToken,
		"refresh secret": t2.RefreshToken[len(t2.RefreshToken)-43:],
		"access token":   t2.AccessToken,
	} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("the database holds the %s in clear", name)
		}
	}

	db := openStore(t, srv)
	rows, err := db.QueryContext(context.Background(), "SELECT id, private FROM signing_keys")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	keys := 0
	for rows.Next() {
		var id string
		var private []byte
		if err := rows.Scan(&id, &private); err != nil {
			t.Fatal(err)
		}
		keys++
		if _, err := x509.ParsePKCS8PrivateKey(private); err == nil {
			t.Errorf("signing key %s is stored in clear", id)
		}
		if bytes.Contains(private, []byte("PRIVATE KEY")) {
			t.Errorf("signing key %s is stored as PEM", id)
		}
	}
	if keys == 0 {
		t.Fatal("no signing key in the database")
	}
}
