package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis-auth/portcullis/adapters/jwxtoken"
	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/cmd/portcullis/app"
	"github.com/portcullis-auth/portcullis/domain"
)

// newKeysCommand is `portcullis keys list|rotate`: the token-signing keys kept in the database
// and shared by every instance.
func newKeysCommand() *cobra.Command {
	keys := &cobra.Command{
		Use:   "keys",
		Short: "List or rotate the token-signing keys",
		Args:  cobra.NoArgs,
	}
	keys.AddCommand(
		&cobra.Command{
			Use:   "list",
			Short: "List the signing keys: which signs, which are retired, how long each stays published",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return operate(cmd, func(ctx context.Context, op *app.Operator) error {
					if staticKeys(op) {
						fmt.Fprintln(cmd.OutOrStdout(), "signing keys are static (PORTCULLIS_JWT_KEY_FILE or PORTCULLIS_JWT_SECRET); none are kept in the database")
						return nil
					}
					ks, err := op.SigningKeys.List(ctx, application.Operator)
					if err != nil {
						return err
					}
					now := op.Clock.Now()
					tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "KID\tALG\tCREATED\tSTATE\tPUBLISHED UNTIL")
					for _, k := range ks {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Algorithm, stamp(k.CreatedAt), keyState(op, k, now), publishedUntil(op, k))
					}
					return tw.Flush()
				})
			},
		},
		&cobra.Command{
			Use:   "rotate",
			Short: "Add a new signing key; it signs once every instance has loaded it, and the old key stays published",
			Long: "Add a new signing key and retire the one that signs now. The new key is published at once\n" +
				"and starts signing after twice PORTCULLIS_KEY_RELOAD_INTERVAL, by when every instance has\n" +
				"loaded it; the old key signs until then and stays published (it verifies) for one access\n" +
				"TTL plus leeway more, so no token in flight is refused.",
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return operate(cmd, func(ctx context.Context, op *app.Operator) error {
					rot, err := op.SigningKeys.Rotate(ctx, application.Operator)
					if errors.Is(err, domain.ErrStaticKeys) {
						return errors.New("signing keys are static (PORTCULLIS_JWT_KEY_FILE or PORTCULLIS_JWT_SECRET): rotate them outside Portcullis")
					}
					if err != nil {
						return err
					}
					out := cmd.OutOrStdout()
					fmt.Fprintf(out, "rotated: new key %s (%s) is published now and signs from %s\n", rot.ID, op.Config.JWTAlg, stamp(rot.SignsFrom))
					for _, k := range rot.Retired {
						fmt.Fprintf(out, "retired: key %s signs until then and stays published until %s\n", k.ID,
							stamp(rot.SignsFrom.Add(op.Config.AccessTTL+op.Config.Leeway)))
					}
					return nil
				})
			},
		},
	)
	return keys
}

func staticKeys(op *app.Operator) bool {
	return op.Config.JWTKeyFile != "" || op.Config.JWTAlg == jwxtoken.HS256
}

// keyState says what a key does at now.
func keyState(op *app.Operator, k application.SigningKeyView, now time.Time) string {
	switch {
	case k.Algorithm != op.Config.JWTAlg:
		return "unused (not PORTCULLIS_JWT_ALG)"
	case now.Before(k.CreatedAt):
		return "next: signs from " + stamp(k.CreatedAt)
	case k.RetiredAt.IsZero():
		return "active"
	case now.Before(k.RetiredAt):
		return "active until " + stamp(k.RetiredAt)
	}
	return "retired"
}

// publishedUntil is when a retired key leaves the JWKS: it verifies tokens it signed until
// they expire.
func publishedUntil(op *app.Operator, k application.SigningKeyView) string {
	if k.RetiredAt.IsZero() {
		return "-"
	}
	return stamp(k.RetiredAt.Add(op.Config.AccessTTL + op.Config.Leeway))
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
