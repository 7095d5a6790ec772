package app

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/portcullis-auth/portcullis/adapters/sqlstore"
)

// Migrate runs `portcullis migrate up|down|status` against the configured database.
func Migrate(ctx context.Context, action string, out io.Writer) error {
	cfg, err := LoadConfig()
	if err != nil {
		return err
	}
	sc := sqlConfig(cfg, nil)
	sc.Options.Renormalize = renormalizeStep(NewLogger(cfg, os.Stderr), out) // the report goes to the operator too
	db, err := sqlstore.Open(ctx, sc.URL, sc.Options)
	if err != nil {
		return fmt.Errorf("%s: %w", sc.Setting, err)
	}
	defer db.Close()
	switch action {
	case "up":
		if err := db.Migrate(ctx); err != nil {
			return err
		}
		fmt.Fprintln(out, "migrated: the schema is up to date")
		return printStatus(ctx, db, out)
	case "down":
		undone, err := db.MigrateDown(ctx)
		if err != nil {
			return err
		}
		if len(undone) == 0 {
			fmt.Fprintln(out, "nothing to roll back")
		}
		for _, m := range undone {
			fmt.Fprintf(out, "rolled back %s_%s\n", m.ID, m.Comment)
		}
		return nil
	case "status":
		return printStatus(ctx, db, out)
	}
	return fmt.Errorf("unknown migrate action %q", action)
}

func printStatus(ctx context.Context, db *sqlstore.DB, out io.Writer) error {
	states, err := db.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "VERSION\tNAME\tSTATE\tAPPLIED AT")
	for _, m := range states {
		state, at := "pending", ""
		switch {
		case m.Unknown:
			state, at = "unknown to this binary", m.MigratedAt.Format("2006-01-02 15:04:05Z07:00")
		case m.Applied:
			state, at = "applied", m.MigratedAt.Format("2006-01-02 15:04:05Z07:00")
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", m.ID, m.Comment, state, at)
	}
	return w.Flush()
}
