package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portcullis-auth/portcullis/cmd/portcullis/app"
	"github.com/portcullis-auth/portcullis/domain"
)

// operate runs fn on the operator's graph (app.Operate) and turns its error into the one line
// that main prints.
func operate(cmd *cobra.Command, fn func(ctx context.Context, op *app.Operator) error) error {
	return describe(app.Operate(cmd.Context(), fn))
}

// describe makes err one line for the operator: invalid input names each field and its problem;
// other errors keep their message with line breaks folded.
func describe(err error) error {
	if err == nil {
		return nil
	}
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		parts := make([]string, len(ve.Fields))
		for i, f := range ve.Fields {
			parts[i] = fmt.Sprintf("%s %s (%s)", f.Field, f.Message, f.Code)
		}
		return fmt.Errorf("invalid input: %s", strings.Join(parts, "; "))
	}
	switch {
	case errors.Is(err, domain.ErrLastAdmin):
		return errors.New("refused: the last admin cannot be demoted, disabled or deleted")
	case errors.Is(err, domain.ErrConflict):
		return errors.New("conflict: the email or username is already taken")
	}
	return errors.New(strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " "))
}

func parseRoles(in []string) ([]domain.Role, error) {
	roles := make([]domain.Role, 0, len(in))
	for _, s := range in {
		r := domain.Role(strings.ToLower(strings.TrimSpace(s)))
		if !r.Valid() {
			return nil, fmt.Errorf("unknown role %q: use admin, moderator or user", s)
		}
		roles = append(roles, r)
	}
	return roles, nil
}

func roleStrings(roles []domain.Role) []string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return s
}

func joinRoles(roles []domain.Role) string { return strings.Join(roleStrings(roles), ",") }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
