package main

// How a `users VERB` command names the user it acts on: --email or --id, resolved through the
// operator's use cases with a message that says what was not found.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/cmd/portcullis/app"
	"github.com/portcullis-auth/portcullis/domain"
)

// userCommand completes c as a `users VERB --email EMAIL|--id ID` command: it adds the two
// flags (one of them required), and its RunE opens the operator's graph, finds the user the
// flags name and calls run with it. c may set PreRunE for checks that need no graph.
func userCommand(c *cobra.Command, run func(ctx context.Context, cmd *cobra.Command, op *app.Operator, u application.UserView) error) *cobra.Command {
	var ref userRef
	c.Args = cobra.NoArgs
	c.RunE = func(cmd *cobra.Command, _ []string) error {
		return operate(cmd, func(ctx context.Context, op *app.Operator) error {
			u, err := ref.resolve(ctx, op)
			if err != nil {
				return err
			}
			return run(ctx, cmd, op, u)
		})
	}
	ref.flags(c)
	return c
}

// userRef names one user by --email or --id.
type userRef struct{ email, id string }

func (r *userRef) flags(c *cobra.Command) {
	c.Flags().StringVar(&r.email, "email", "", "the user's email")
	c.Flags().StringVar(&r.id, "id", "", "the user's id")
	c.MarkFlagsOneRequired("email", "id")
	c.MarkFlagsMutuallyExclusive("email", "id")
}

func (r *userRef) resolve(ctx context.Context, op *app.Operator) (application.UserView, error) {
	if r.id != "" {
		return findUser(ctx, op, r.id, false)
	}
	return findUser(ctx, op, r.email, true)
}

// findUser loads a user by email (byEmail) or id, with a message naming what was not found.
func findUser(ctx context.Context, op *app.Operator, key string, byEmail bool) (application.UserView, error) {
	if !byEmail {
		out, err := op.Admin.Get(ctx, application.Operator, key)
		if errors.Is(err, domain.ErrNotFound) {
			return application.UserView{}, fmt.Errorf("no user with id %q", key)
		}
		return out.User, err
	}
	out, err := op.Admin.ByEmail(ctx, application.Operator, key)
	var invalid *domain.FieldError
	switch {
	case errors.As(err, &invalid):
		return application.UserView{}, fmt.Errorf("%q is not a valid email address: %s", key, invalid.Message)
	case errors.Is(err, domain.ErrNotFound):
		return application.UserView{}, fmt.Errorf("no user with email %s", strings.TrimSpace(key))
	}
	return out.User, err
}
