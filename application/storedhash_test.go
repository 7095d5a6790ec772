package application_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/adapters/identity"
	"github.com/portcullis-auth/portcullis/adapters/system"
	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/domain"
)

// TestUnusableStoredHashIsLoggedOnce: a stored password hash the hasher cannot read answers as
// a wrong password (SECURITY B9: nothing tells the client), and is logged once, with the user
// and the hasher's cause, so an operator can find the broken account.
func TestUnusableStoredHashIsLoggedOnce(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	out, err := w.register.Handle(ctx, application.RegisterInput{Email: "broken@example.com", Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	u, err := w.users.ByID(ctx, out.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	u.PasswordHash = "$argon2id$v=19$m=19456,t=2,p=1$not-base64!$truncated"
	if _, err := w.users.Update(ctx, u); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	login := application.NewLogin(w.users, identity.New(), w.sessions, w.hasher, w.issuer, w.clock, system.NewIDs(), w.settings, nil, nil, log)
	_, err = login.Handle(ctx, application.LoginInput{Identifier: "broken@example.com", Password: goodPassword, By: application.ByEmail})
	if !errors.Is(err, domain.ErrInvalidCredentials) {
		t.Fatalf("login with an unusable stored hash = %v, want domain.ErrInvalidCredentials", err)
	}
	lines := strings.Count(logs.String(), "stored password hash unusable")
	if lines != 1 || !strings.Contains(logs.String(), "user_id="+u.ID) || !strings.Contains(logs.String(), "error=") {
		t.Fatalf("want one log line naming the user and the cause, got %d in:\n%s", lines, logs.String())
	}
}
