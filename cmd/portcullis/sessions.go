package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/cmd/portcullis/app"
)

// newSessionsCommand is `portcullis sessions revoke --user EMAIL_OR_ID`.
func newSessionsCommand() *cobra.Command {
	sessions := &cobra.Command{
		Use:   "sessions",
		Short: "End users' sessions",
		Args:  cobra.NoArgs,
	}
	var user string
	revoke := &cobra.Command{
		Use:   "revoke --user EMAIL_OR_ID",
		Short: "End every session of a user (their refresh tokens stop working at once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return operate(cmd, func(ctx context.Context, op *app.Operator) error {
				u, err := findUser(ctx, op, user, strings.Contains(user, "@"))
				if err != nil {
					return err
				}
				n, err := op.Admin.RevokeSessions(ctx, application.Operator, u.ID)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "revoked %d session(s) of %s (%s)\n", n, u.Email, u.ID)
				return nil
			})
		},
	}
	revoke.Flags().StringVar(&user, "user", "", "the user's email or id (required)")
	_ = revoke.MarkFlagRequired("user")
	sessions.AddCommand(revoke)
	return sessions
}
