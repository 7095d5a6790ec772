package sqlstore

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
)

// The SQLite database and its -wal and -shm files are created 0600 (owner only), whatever the
// umask and the directory's mode: they hold password hashes and sessions.
func TestSQLiteFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
	dir := filepath.Join(t.TempDir(), "open")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "portcullis.db")
	db, err := Open(t.Context(), "sqlite://"+path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := NewUsers(db).Create(t.Context(), domain.User{ID: "u1", Email: "a@example.com", Roles: []domain.Role{domain.RoleUser},
		PasswordHash: "x", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatalf("%s: %v (WAL mode should have made it)", filepath.Base(f), err)
		}
		if m := st.Mode().Perm(); m != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(f), m)
		}
	}
}
