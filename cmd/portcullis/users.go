package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/cmd/portcullis/app"
	"github.com/portcullis-auth/portcullis/domain"
)

// newUsersCommand is `portcullis users ...`: accounts managed by the operator, who acts as an
// admin with no user behind it (application.Operator). Passwords are read from a file, from
// stdin or from a prompt without echo, never from a flag that would land in shell history.
func newUsersCommand() *cobra.Command {
	users := &cobra.Command{
		Use:   "users",
		Short: "Create, list, change and delete user accounts",
		Args:  cobra.NoArgs,
	}
	users.AddCommand(newUsersCreateCommand(), newUsersListCommand(), newUsersSetRolesCommand(),
		newUsersStateCommand("disable", true), newUsersStateCommand("enable", false), newUsersDeleteCommand(), newUsersUnlockCommand(),
		newUsersVerifyCommand(), newUsersResendVerificationCommand(), newUsersRenormalizeCommand())
	return users
}

func newUsersCreateCommand() *cobra.Command {
	var in application.CreateUserInput
	var roles []string
	var passwordFile string
	var passwordStdin bool
	c := &cobra.Command{
		Use:   "create --email EMAIL [--role admin|moderator|user]... [--password-file FILE | --password-stdin]",
		Short: "Create a user (the password is prompted for without echo unless given by file or stdin)",
		Long: "Create a user with the given roles (every user also holds the user role).\n\n" +
			"The password comes from --password-file, from --password-stdin (one line), or else from a\n" +
			"prompt without echo, asked twice, when stdin is a terminal (one line of stdin otherwise).\n" +
			"There is deliberately no --password flag: it would be kept in shell history.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if passwordFile != "" && passwordStdin {
				return errors.New("give either --password-file or --password-stdin, not both")
			}
			var err error
			if in.Roles, err = parseRoles(roles); err != nil {
				return err
			}
			if in.Password, err = readPassword(cmd, passwordFile, passwordStdin); err != nil {
				return err
			}
			return operate(cmd, func(ctx context.Context, op *app.Operator) error {
				out, err := op.Admin.Create(ctx, application.Operator, in)
				if err != nil {
					return err
				}
				u := out.User
				fmt.Fprintf(cmd.OutOrStdout(), "created user %s (%s) with roles %s\n", u.Email, u.ID, joinRoles(u.Roles))
				return nil
			})
		},
	}
	f := c.Flags()
	f.StringVar(&in.Email, "email", "", "email address (required)")
	f.StringSliceVar(&roles, "role", nil, "role to grant: admin, moderator or user (repeatable)")
	f.StringVar(&in.Name, "name", "", "display name")
	f.StringVar(&in.Username, "username", "", "username (3 to 32 of a-z, 0-9, _ . -)")
	f.StringVar(&passwordFile, "password-file", "", "read the password from the first line of this file")
	f.BoolVar(&passwordStdin, "password-stdin", false, "read the password from one line of stdin")
	_ = c.MarkFlagRequired("email")
	return c
}

// userJSON is a user as `users list --json` prints it: never the password hash.
type userJSON struct {
	ID            string    `json:"id"`
	Email         string    `json:"email"`
	Username      string    `json:"username,omitempty"`
	Name          string    `json:"name,omitempty"`
	Roles         []string  `json:"roles"`
	EmailVerified bool      `json:"email_verified"`
	Disabled      bool      `json:"disabled"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

func newUsersListCommand() *cobra.Command {
	var in application.ListUsersInput
	var disabled, asJSON bool
	var limit int
	c := &cobra.Command{
		Use:   "list [--q TEXT] [--role ROLE] [--disabled[=false]] [--limit N] [--json]",
		Short: "List users in creation order (every user unless --limit)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 0 {
				return errors.New("--limit must not be negative")
			}
			if cmd.Flags().Changed("disabled") {
				in.Disabled = &disabled
			}
			return operate(cmd, func(ctx context.Context, op *app.Operator) error {
				var all []application.UserView
				for {
					in.Limit = application.MaxPageSize
					if limit > 0 {
						in.Limit = min(limit-len(all), application.MaxPageSize)
					}
					page, err := op.Admin.List(ctx, application.Operator, in)
					if err != nil {
						return err
					}
					all = append(all, page.Users...)
					if page.NextCursor == "" || (limit > 0 && len(all) >= limit) {
						break
					}
					in.Cursor = page.NextCursor
				}
				if asJSON {
					return printUsersJSON(cmd.OutOrStdout(), all)
				}
				return printUsersTable(cmd.OutOrStdout(), all)
			})
		},
	}
	f := c.Flags()
	f.StringVar(&in.Q, "q", "", "keep users whose email, username or name contains this text")
	f.StringVar(&in.Role, "role", "", "keep users holding this role")
	f.BoolVar(&disabled, "disabled", false, "keep disabled users only (--disabled=false: enabled users only)")
	f.IntVar(&limit, "limit", 0, "print at most this many users (default: all)")
	f.BoolVar(&asJSON, "json", false, "print a JSON array instead of a table")
	return c
}

func printUsersJSON(w io.Writer, users []application.UserView) error {
	out := make([]userJSON, len(users))
	for i, u := range users {
		out[i] = userJSON{ID: u.ID, Email: u.Email, Username: u.Username, Name: u.Name, Roles: roleStrings(u.Roles),
			EmailVerified: u.EmailVerified, Disabled: u.Disabled, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func printUsersTable(w io.Writer, users []application.UserView) error {
	if len(users) == 0 {
		_, err := fmt.Fprintln(w, "no users")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEMAIL\tUSERNAME\tROLES\tDISABLED\tCREATED")
	for _, u := range users {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\t%s\n", u.ID, u.Email, orDash(u.Username), joinRoles(u.Roles), u.Disabled,
			u.CreatedAt.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

func newUsersSetRolesCommand() *cobra.Command {
	var (
		roles  []string
		parsed []domain.Role
	)
	c := userCommand(&cobra.Command{
		Use:   "set-roles --email EMAIL|--id ID --role ROLE...",
		Short: "Replace a user's roles (they reach the user's live sessions at once)",
		// The roles are checked before anything is opened.
		PreRunE: func(*cobra.Command, []string) (err error) {
			parsed, err = parseRoles(roles)
			return err
		},
	}, func(ctx context.Context, cmd *cobra.Command, op *app.Operator, u application.UserView) error {
		out, err := op.Admin.Update(ctx, application.Operator, u.ID, application.AdminUpdateInput{Roles: &parsed})
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "roles of %s (%s): %s (were %s)\n", u.Email, u.ID, joinRoles(out.User.Roles), joinRoles(u.Roles))
		return nil
	})
	c.Flags().StringSliceVar(&roles, "role", nil, "role to hold: admin, moderator or user (repeatable; user is always kept)")
	_ = c.MarkFlagRequired("role")
	return c
}

// newUsersStateCommand is `users disable` (disable true) or `users enable`.
func newUsersStateCommand(verb string, disable bool) *cobra.Command {
	short := "Enable a disabled user"
	if disable {
		short = "Disable a user and end all of their sessions"
	}
	return userCommand(&cobra.Command{Use: verb + " --email EMAIL|--id ID", Short: short},
		func(ctx context.Context, cmd *cobra.Command, op *app.Operator, u application.UserView) error {
			if u.Disabled == disable {
				fmt.Fprintf(cmd.OutOrStdout(), "%s (%s) is already %sd\n", u.Email, u.ID, verb)
				return nil
			}
			if _, err := op.Admin.Update(ctx, application.Operator, u.ID, application.AdminUpdateInput{Disabled: &disable}); err != nil {
				return err
			}
			suffix := ""
			if disable {
				suffix = "; their sessions have ended"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%sd %s (%s)%s\n", verb, u.Email, u.ID, suffix)
			return nil
		})
}

// newUsersVerifyCommand marks a user's address verified, as PATCH /api/users/{id}
// {"email_verified": true} does.
func newUsersVerifyCommand() *cobra.Command {
	return userCommand(&cobra.Command{Use: "verify --email EMAIL|--id ID", Short: "Mark a user's e-mail address verified"},
		func(ctx context.Context, cmd *cobra.Command, op *app.Operator, u application.UserView) error {
			if u.EmailVerified {
				fmt.Fprintf(cmd.OutOrStdout(), "%s (%s) is already verified\n", u.Email, u.ID)
				return nil
			}
			verified := true
			if _, err := op.Admin.Update(ctx, application.Operator, u.ID, application.AdminUpdateInput{EmailVerified: &verified}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "verified %s (%s)\n", u.Email, u.ID)
			return nil
		})
}

// newUsersResendVerificationCommand queues a new verification mail, as POST
// /api/users/{id}/verification-email does; a running instance delivers it.
func newUsersResendVerificationCommand() *cobra.Command {
	return userCommand(&cobra.Command{
		Use:   "resend-verification --email EMAIL|--id ID",
		Short: "Send a user a new e-mail verification link (a running instance delivers it)",
	}, func(ctx context.Context, cmd *cobra.Command, op *app.Operator, u application.UserView) error {
		if err := op.Admin.ResendVerification(ctx, application.Operator, u.ID); err != nil {
			if errors.Is(err, application.ErrAlreadyVerified) {
				return fmt.Errorf("%s (%s) is already verified", u.Email, u.ID)
			}
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "queued a verification mail to %s (%s)\n", u.Email, u.ID)
		return nil
	})
}

func newUsersDeleteCommand() *cobra.Command {
	var yes bool
	c := userCommand(&cobra.Command{
		Use:   "delete --email EMAIL|--id ID [--yes]",
		Short: "Delete a user and end their sessions (asks first unless --yes)",
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			if !yes && !stdinIsTerminal(cmd) {
				return errors.New("stdin is not a terminal: confirm the deletion with --yes")
			}
			return nil
		},
	}, func(ctx context.Context, cmd *cobra.Command, op *app.Operator, u application.UserView) error {
		if !yes {
			ok, err := confirm(cmd, fmt.Sprintf("Delete %s (%s) for good? [y/N] ", u.Email, u.ID))
			if err != nil {
				return err
			}
			if !ok {
				fmt.Fprintln(cmd.OutOrStdout(), "not deleted")
				return nil
			}
		}
		if err := op.Admin.Delete(ctx, application.Operator, u.ID); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "deleted %s (%s); their sessions have ended\n", u.Email, u.ID)
		return nil
	})
	c.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation (required when stdin is not a terminal)")
	return c
}

func newUsersRenormalizeCommand() *cobra.Command {
	var dryRun bool
	c := &cobra.Command{
		Use:   "renormalize [--dry-run]",
		Short: "Rewrite stored e-mail addresses and usernames to their normalised form; report collisions",
		Long: "Rewrite every stored e-mail address and username to the form the service compares (case,\n" +
			"fullwidth and other compatibility forms folded, the domain in one IDNA form). Accounts whose\n" +
			"identities normalise to the same one are reported and left as they are, never merged, and so\n" +
			"are identities the service now refuses (invisible characters, mixed scripts): each still logs\n" +
			"in by its stored spelling until you change or delete it. The database migration\n" +
			"renormalize_identities runs this once; run it again (safe at any time) to list what is left.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return operate(cmd, func(ctx context.Context, op *app.Operator) error {
				rep, err := op.Admin.RenormalizeIdentities(ctx, application.Operator, dryRun)
				if err != nil {
					return err
				}
				app.PrintRenormalizeReport(cmd.OutOrStdout(), rep, dryRun)
				return nil
			})
		},
	}
	c.Flags().BoolVar(&dryRun, "dry-run", false, "report only; change nothing")
	return c
}

func newUsersUnlockCommand() *cobra.Command {
	var statusOnly bool
	c := userCommand(&cobra.Command{
		Use:   "unlock --email EMAIL|--id ID [--status]",
		Short: "Show and lift the login throttling (soft lock, growing delay) of a user",
		Long: "Lift the soft lock that failed logins put on an account, and forget its failed logins, so\n" +
			"the owner can log in at once. --status only shows the state. The limits live in Redis when\n" +
			"the session store is Redis; with the sql or memory session store each server process counts\n" +
			"alone in its memory, which this command cannot reach: it refuses, and POST\n" +
			"/api/users/{id}/unlock on each server (or a restart) lifts the lock there.",
	}, func(ctx context.Context, cmd *cobra.Command, op *app.Operator, u application.UserView) error {
		if op.Locks == nil {
			return fmt.Errorf("the login limits live in each server's memory with the sql and memory session stores, "+
				"out of this command's reach: use POST /api/users/%s/unlock on each server (or restart the servers)", u.ID)
		}
		st, err := op.Locks.Status(ctx, application.Operator, u.ID)
		if err != nil {
			return err
		}
		state := "not locked"
		switch {
		case st.Locked:
			state = fmt.Sprintf("locked for another %s", st.RetryAfter.Round(time.Second))
		case st.Delayed:
			state = fmt.Sprintf("delayed: next login allowed in %s", st.RetryAfter.Round(time.Second))
		}
		if statusOnly {
			fmt.Fprintf(cmd.OutOrStdout(), "%s (%s): %s\n", u.Email, u.ID, state)
			return nil
		}
		if _, err := op.Locks.Unlock(ctx, application.Operator, u.ID); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "unlocked %s (%s); it was %s\n", u.Email, u.ID, state)
		return nil
	})
	c.Flags().BoolVar(&statusOnly, "status", false, "only show whether the user is locked")
	return c
}
