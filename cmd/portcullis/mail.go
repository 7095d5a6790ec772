package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/cmd/portcullis/app"
	"github.com/portcullis-auth/portcullis/domain"
)

// newMailCommand is `portcullis mail`: the operator's view of the mail outbox.
func newMailCommand() *cobra.Command {
	m := &cobra.Command{
		Use:   "mail",
		Short: "List the mail outbox and send failed mail again",
		Args:  cobra.NoArgs,
	}
	m.AddCommand(newMailListCommand(), newMailRetryCommand())
	return m
}

func newMailListCommand() *cobra.Command {
	var (
		failed bool
		status string
		limit  int
	)
	c := &cobra.Command{
		Use:   "list [--failed | --status pending|sent|failed|dropped] [--limit N]",
		Short: "List outbox messages, newest first (never their links)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if failed {
				status = string(domain.MailFailed)
			}
			switch domain.MailStatus(status) {
			case "", domain.MailPending, domain.MailSent, domain.MailFailed, domain.MailDropped:
			default:
				return fmt.Errorf("--status must be pending, sent, failed or dropped, got %q", status)
			}
			return operate(cmd, func(ctx context.Context, op *app.Operator) error {
				list, err := op.Outbox.List(ctx, application.Operator, domain.MailStatus(status), limit)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "ID\tSTATUS\tKIND\tTO\tATTEMPTS\tCREATED\tUPDATED\tLAST ERROR")
				for _, m := range list {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", m.ID, m.Status, m.Kind, m.To, m.Attempts,
						m.CreatedAt.Format(time.RFC3339), m.UpdatedAt.Format(time.RFC3339), m.LastError)
				}
				return w.Flush()
			})
		},
	}
	c.Flags().BoolVar(&failed, "failed", false, "only messages that failed for good")
	c.Flags().StringVar(&status, "status", "", "only messages in this state")
	c.Flags().IntVar(&limit, "limit", 100, "at most this many")
	return c
}

func newMailRetryCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "retry ID...",
		Short: "Send failed messages again (a running instance delivers them)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, ids []string) error {
			return operate(cmd, func(ctx context.Context, op *app.Operator) error {
				for _, id := range ids {
					err := op.Outbox.Retry(ctx, application.Operator, id)
					if errors.Is(err, domain.ErrNotFound) {
						return fmt.Errorf("no failed message with id %q", id)
					}
					if err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "queued %s again\n", id)
				}
				return nil
			})
		},
	}
}
