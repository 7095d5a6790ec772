package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/portcullis-auth/portcullis/adapters/identity"
	"github.com/portcullis-auth/portcullis/adapters/sqlstore"
	"github.com/portcullis-auth/portcullis/adapters/system"
	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/ports"
)

// renormalizeStep is the data step of the migration renormalize_identities:
// application.RenormalizeIdentities with the identity adapter. Its findings are logged (user
// ids and counts only); out, when not nil, also gets the report with the identities, for the
// operator who ran `portcullis migrate up`. A nil log is slog.Default().
func renormalizeStep(log *slog.Logger, out io.Writer) sqlstore.RenormalizeFunc {
	if log == nil {
		log = slog.Default()
	}
	return func(ctx context.Context, users ports.UserStore, dir ports.UserDirectory) error {
		rep, err := application.RenormalizeIdentities(ctx, dir, users, identity.New(), system.NewClock(), log, false)
		if err != nil {
			return fmt.Errorf("renormalise identities: %w", err)
		}
		if out != nil {
			PrintRenormalizeReport(out, rep, false)
		}
		return nil
	}
}

// PrintRenormalizeReport writes what RenormalizeIdentities found for an operator: counts, then
// each rewrite (dry run: each rewrite it would make), collision and refusal.
func PrintRenormalizeReport(out io.Writer, rep application.RenormalizeReport, dryRun bool) {
	verb := "renormalised"
	if dryRun {
		verb = "would renormalise"
	}
	fmt.Fprintf(out, "identities: %d users scanned, %d identities %s, %d collisions, %d refused\n",
		rep.Scanned, len(rep.Changed), verb, len(rep.Collisions), len(rep.Refused))
	for _, c := range rep.Changed {
		fmt.Fprintf(out, "  %s user %s %s: %q -> %q\n", verb, c.UserID, c.Field, c.From, c.To)
	}
	for _, c := range rep.Collisions {
		fmt.Fprintf(out, "  collision: %s %q is the normal form of users %s; left as they are (each logs in by its stored spelling): change or delete all but one\n",
			c.Field, c.Identity, strings.Join(c.UserIDs, ", "))
	}
	for _, r := range rep.Refused {
		fmt.Fprintf(out, "  refused: user %s %s is no longer accepted (%s); left as it is (logs in by its stored spelling)\n", r.UserID, r.Field, r.Code)
	}
}
