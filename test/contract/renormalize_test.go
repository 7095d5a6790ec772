package contract

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/adapters/identity"
	"github.com/portcullis-auth/portcullis/adapters/memstore"
	"github.com/portcullis-auth/portcullis/adapters/sqlstore"
	"github.com/portcullis-auth/portcullis/adapters/system"
	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// Existing rows keep working when identities start being normalised: on each SQL engine, a
// database as the previous binary left it (every migration before renormalize_identities
// applied, rows stored under their old spellings) is migrated; the migration rewrites the rows
// that fold to a free identity, reports the two rows that fold to one (left as they are) and
// the rows the rule now refuses, and records itself only once it has run. Afterwards each row
// is found by an e-mail address as a login finds it.
func TestIdentity_MigrationRenormalizesAndReportsCollisions(t *testing.T) {
	eachSQLEngine(t, func(t *testing.T, e sqlEngine) {
		ctx := context.Background()
		url := e.url(t)
		var reports []application.RenormalizeReport
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		step := func(ctx context.Context, users ports.UserStore, dir ports.UserDirectory) error {
			rep, err := application.RenormalizeIdentities(ctx, dir, users, identity.New(), system.NewClock(), log, false)
			reports = append(reports, rep)
			return err
		}
		db, err := sqlstore.Open(ctx, url, sqlstore.Options{Renormalize: step})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		v, _ := strconv.ParseInt(sqlstore.RenormalizeVersion, 10, 64)
		if err := db.MigrateTo(ctx, strconv.FormatInt(v-1, 10)); err != nil {
			t.Fatalf("migrate to before %s: %v", sqlstore.RenormalizeVersion, err)
		}
		users := sqlstore.NewUsers(db)
		now := time.Now().UTC().Truncate(time.Millisecond)
		for i, r := range []struct{ id, email, username string }{
			{"plain", "plain@example.com", "plain"},
			{"wide", "ｗｉｄｅ@example.com", "ｗｉｄｅ"},
			{"idn", "idn@xn--bcher-kva.de", ""},
			{"taken", "taken@example.com", ""},
			{"twin", "ｔａｋｅｎ@example.com", ""},
			{"hidden", "hid\u200bden@example.com", ""},
			{"mixed", "p\u0430ypal@example.com", ""},
		} {
			at := now.Add(time.Duration(i) * time.Millisecond)
			if err := users.Create(ctx, domain.User{ID: r.id, Email: r.email, Username: r.username,
				Roles: []domain.Role{domain.RoleUser}, PasswordHash: "$argon2id$x", CreatedAt: at, UpdatedAt: at}); err != nil {
				t.Fatalf("store %s: %v", r.id, err)
			}
		}
		if err := db.CheckSchema(ctx); !errors.Is(err, sqlstore.ErrSchemaPending) {
			t.Fatalf("CheckSchema before the renormalisation = %v, want ErrSchemaPending", err)
		}

		// A process without the normaliser cannot run the step: it fails and records nothing.
		bare, err := sqlstore.Open(ctx, url, sqlstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = bare.Close() })
		if err := bare.Migrate(ctx); !errors.Is(err, sqlstore.ErrRenormalizeNeeded) {
			t.Fatalf("migrate without the normaliser = %v, want ErrRenormalizeNeeded", err)
		}
		if err := db.CheckSchema(ctx); !errors.Is(err, sqlstore.ErrSchemaPending) {
			t.Fatalf("CheckSchema after a failed step = %v, want ErrSchemaPending", err)
		}

		for range 2 { // the second run finds nothing pending
			if err := db.Migrate(ctx); err != nil {
				t.Fatalf("migrate: %v", err)
			}
		}
		if err := db.CheckSchema(ctx); err != nil {
			t.Fatalf("CheckSchema: %v", err)
		}
		if len(reports) != 1 {
			t.Fatalf("the step ran %d times, want once", len(reports))
		}
		rep := reports[0]
		t.Logf("%s: %d scanned, changed %+v, collisions %+v, refused %+v", e.name, rep.Scanned, rep.Changed, rep.Collisions, rep.Refused)
		if rep.Scanned != 7 || len(rep.Changed) != 3 || len(rep.Collisions) != 1 || len(rep.Refused) != 2 {
			t.Fatalf("report: %d scanned, %d changed, %d collisions, %d refused; want 7, 3, 1, 2",
				rep.Scanned, len(rep.Changed), len(rep.Collisions), len(rep.Refused))
		}
		if c := rep.Collisions[0]; c.Identity != "taken@example.com" || !slices.Equal(c.UserIDs, []string{"taken", "twin"}) {
			t.Errorf("collision %+v", c)
		}
		for id, want := range map[string][2]string{
			"plain": {"plain@example.com", "plain"}, "wide": {"wide@example.com", "wide"}, "idn": {"idn@bücher.de", ""},
			"taken": {"taken@example.com", ""}, "twin": {"ｔａｋｅｎ@example.com", ""},
			"hidden": {"hid\u200bden@example.com", ""}, "mixed": {"p\u0430ypal@example.com", ""},
		} {
			u, err := users.ByID(ctx, id)
			if err != nil || u.Email != want[0] || u.Username != want[1] {
				t.Errorf("%s stored as %q/%q (%v), want %q/%q", id, u.Email, u.Username, err, want[0], want[1])
			}
		}

		// Each row is found as a login finds it: by any spelling of its normal form, or, left
		// as it was, by its stored spelling.
		// (Register is only the accounts the admin shares; lookups hash nothing, so no hasher.)
		register := application.NewRegister(users, identity.New(), nil, system.NewClock(), system.NewIDs(), nil, nil, log)
		admin := application.NewAdmin(users, sqlstore.NewDirectory(db), memstore.NewSessions(), register, nil, system.NewClock(), nil, log)
		for typed, id := range map[string]string{
			"WIDE@example.com": "wide", "ｗｉｄｅ@ｅｘａｍｐｌｅ.com": "wide", "idn@BÜCHER.de": "idn", "idn@xn--bcher-kva.de": "idn",
			"Taken@Example.com": "taken", "ｔａｋｅｎ@example.com": "twin", "hid\u200bden@example.com": "hidden",
			"P\u0430ypal@example.com": "mixed",
		} {
			out, err := admin.ByEmail(ctx, application.Operator, typed)
			if err != nil || out.User.ID != id {
				t.Errorf("look up %q: %v (%s), want %s", typed, err, out.User.ID, id)
			}
		}
		if _, err := admin.ByEmail(ctx, application.Operator, "vic\u200btim@example.com"); err == nil {
			t.Error("an address the rule refuses, held by nobody, was found")
		}
	})
}
