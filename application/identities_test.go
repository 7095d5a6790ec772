package application_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/adapters/identity"
	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/domain"
)

// An e-mail address that differs from an existing one only by Unicode compatibility forms
// (fullwidth letters), case or the domain's spelling is not a second account: registering it is
// the usual conflict, and it logs in to the first account.
func TestIdentity_FullwidthEmailIsNotASecondAccount(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	first, err := w.register.Handle(ctx, application.RegisterInput{Email: "victim@bücher.de", Password: goodPassword, Username: "victim"})
	if err != nil {
		t.Fatal(err)
	}
	for _, look := range []string{"ｖｉｃｔｉｍ@bücher.de", "VICTIM＠BÜCHER．DE", "victim@xn--bcher-kva.de", " Victim@Bücher.de "} {
		_, err := w.register.Handle(ctx, application.RegisterInput{Email: look, Password: goodPassword})
		var ce *domain.ConflictError
		if !errors.As(err, &ce) || ce.Field != "email" {
			t.Errorf("register %q: %v, want an email conflict", look, err)
		}
		out, err := w.login.Handle(ctx, application.LoginInput{Identifier: look, Password: goodPassword})
		if err != nil || out.User.ID != first.User.ID {
			t.Errorf("login %q: %v, want the first account", look, err)
		}
	}
	_, err = w.register.Handle(ctx, application.RegisterInput{Email: "other@bücher.de", Password: goodPassword, Username: "ＶＩＣＴＩＭ"})
	if ce := (*domain.ConflictError)(nil); !errors.As(err, &ce) || ce.Field != "username" {
		t.Errorf("fullwidth username: %v, want a username conflict", err)
	}
	if out, err := w.login.Handle(ctx, application.LoginInput{Identifier: "ｖｉｃｔｉｍ", Password: goodPassword}); err != nil || out.User.ID != first.User.ID {
		t.Errorf("login by fullwidth username: %v", err)
	}
}

// Invisible characters (zero-width, U+0085, bidi overrides) and look-alike letters of another
// script in an e-mail address, username or name are a 422 naming the field and the reason,
// and nothing is stored.
func TestIdentity_InvisibleAndMixedScriptRefused(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		in    application.RegisterInput
		field string
	}{
		{"zero-width in email", application.RegisterInput{Email: "vic\u200btim@example.com"}, "email"},
		{"NEL in email", application.RegisterInput{Email: "victim\u0085@example.com"}, "email"},
		{"bidi override in email", application.RegisterInput{Email: "victim@exam\u202eelpm.com"}, "email"},
		{"Cyrillic a in email", application.RegisterInput{Email: "p\u0430ypal@example.com"}, "email"},
		{"Greek o in domain", application.RegisterInput{Email: "paypal@ex\u03bfample.com"}, "email"},
		{"Cyrillic a in username", application.RegisterInput{Email: "a@example.com", Username: "p\u0430ypal"}, "username"},
		{"zero-width in username", application.RegisterInput{Email: "a@example.com", Username: "pay\u200bpal"}, "username"},
		{"bidi override in name", application.RegisterInput{Email: "a@example.com", Name: "Ann\u202eie"}, "name"},
	} {
		c.in.Password = goodPassword
		_, err := w.register.Handle(ctx, c.in)
		if got := fieldCodes(err)[c.field]; got != "invalid_"+c.field {
			t.Errorf("%s: %v, want invalid_%s", c.name, err, c.field)
		}
	}
	if list, _ := w.users.List(ctx, domain.UserQuery{Limit: 10}); len(list) != 0 {
		t.Fatalf("%d users stored", len(list))
	}
	// The profile and the admin apply the same rule.
	out := w.registerAndLogin(t, "ann@example.com")
	bad := "p\u0430ypal"
	if _, err := w.profile.Update(ctx, out.User.ID, application.UpdateProfileInput{Username: &bad}); fieldCodes(err)["username"] != "invalid_username" {
		t.Errorf("profile username: %v", err)
	}
	name := "  Ｚｏë  Ødegård "
	p, err := w.profile.Update(ctx, out.User.ID, application.UpdateProfileInput{Name: &name})
	if err != nil || p.User.Name != "Zoë Ødegård" {
		t.Errorf("profile name stored as %q, %v", p.User.Name, err)
	}
}

// Rows stored before identities were normalised keep working: RenormalizeIdentities rewrites
// those that fold to a free identity, and reports (never merges) two rows that fold to one and
// rows the rule now refuses; every one of them still logs in.
func TestIdentity_RenormalizeReportsCollisions(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	hash, err := w.hasher.Hash(ctx, goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	legacy := func(id, email, username string) {
		now := w.clock.Now()
		w.clock.Advance(time.Millisecond)
		if err := w.users.Create(ctx, domain.User{ID: id, Email: email, Username: username, Roles: []domain.Role{domain.RoleUser},
			PasswordHash: hash, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	legacy("plain", "plain@example.com", "plain")    // already normal
	legacy("wide", "ｗｉｄｅ@example.com", "ｗｉｄｅ")       // folds to a free identity
	legacy("idn", "idn@xn--bcher-kva.de", "")        // the domain's other spelling
	legacy("taken", "taken@example.com", "")         // normal ...
	legacy("twin", "ｔａｋｅｎ@example.com", "")          // ... and its fullwidth twin
	legacy("hidden", "hid\u200bden@example.com", "") // now refused
	legacy("mixed", "p\u0430ypal@example.com", "")   // now refused
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	dry, err := application.RenormalizeIdentities(ctx, w.users, w.users, identity.New(), w.clock, log, true)
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := w.users.ByID(ctx, "wide"); u.Email != "ｗｉｄｅ@example.com" {
		t.Fatalf("a dry run wrote %q", u.Email)
	}
	rep, err := application.RenormalizeIdentities(ctx, w.users, w.users, identity.New(), w.clock, log, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("report: %+v", rep)
	if rep.Scanned != 7 || len(rep.Changed) != 3 || len(dry.Changed) != 3 {
		t.Errorf("scanned %d, changed %d (dry run %d); want 7, 3, 3", rep.Scanned, len(rep.Changed), len(dry.Changed))
	}
	if len(rep.Collisions) != 1 || rep.Collisions[0].Identity != "taken@example.com" || !slices.Equal(rep.Collisions[0].UserIDs, []string{"taken", "twin"}) {
		t.Errorf("collisions %+v, want taken@example.com held by taken and twin", rep.Collisions)
	}
	var refused []string
	for _, r := range rep.Refused {
		refused = append(refused, r.UserID+"/"+r.Field)
	}
	slices.Sort(refused)
	if !slices.Equal(refused, []string{"hidden/email", "mixed/email"}) {
		t.Errorf("refused %v", refused)
	}
	for id, want := range map[string][2]string{
		"wide": {"wide@example.com", "wide"}, "idn": {"idn@bücher.de", ""},
		"twin": {"ｔａｋｅｎ@example.com", ""}, "hidden": {"hid\u200bden@example.com", ""},
	} {
		if u, _ := w.users.ByID(ctx, id); u.Email != want[0] || u.Username != want[1] {
			t.Errorf("%s stored as %q/%q, want %q/%q", id, u.Email, u.Username, want[0], want[1])
		}
	}
	// Each row logs in: by its normal form, or (left as it was) by its stored spelling.
	for ident, id := range map[string]string{
		"WIDE@example.com": "wide", "ｗｉｄｅ": "wide", "idn@bücher.de": "idn", "idn@XN--BCHER-KVA.DE": "idn",
		"taken@example.com": "taken", "ｔａｋｅｎ@example.com": "twin", "hid\u200bden@example.com": "hidden",
		"p\u0430ypal@example.com": "mixed", "plain": "plain",
	} {
		out, err := w.login.Handle(ctx, application.LoginInput{Identifier: ident, Password: goodPassword})
		if err != nil || out.User.ID != id {
			t.Errorf("login %q: %v, want user %s", ident, err, id)
		}
	}
	again, err := application.RenormalizeIdentities(ctx, w.users, w.users, identity.New(), w.clock, log, false)
	if err != nil || len(again.Changed) != 0 || len(again.Collisions) != 1 || len(again.Refused) != 2 {
		t.Errorf("a second run: %+v, %v; want nothing changed and the same reports", again, err)
	}
}
