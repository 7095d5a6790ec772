package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/cmd/portcullis/app"
	"github.com/portcullis-auth/portcullis/domain"
)

// followInterval is how often `audit tail --follow` asks for new records.
const followInterval = time.Second

// newAuditCommand is `portcullis audit tail`: the newest security events, oldest first, and
// with --follow the ones that come after them.
func newAuditCommand() *cobra.Command {
	audit := &cobra.Command{
		Use:   "audit",
		Short: "Read the audit trail of security events",
		Args:  cobra.NoArgs,
	}
	var user, event string
	var limit int
	var follow bool
	tail := &cobra.Command{
		Use:   "tail [--user EMAIL_OR_ID] [--event EVENT] [--limit 20] [--follow]",
		Short: "Print the newest audit events, newest last; --follow keeps printing new ones until interrupted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > application.MaxPageSize {
				return fmt.Errorf("--limit must be between 1 and %d", application.MaxPageSize)
			}
			ctx := cmd.Context()
			if follow {
				var stop context.CancelFunc
				ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
				defer stop()
			}
			return describe(app.Operate(ctx, func(ctx context.Context, op *app.Operator) error {
				in := application.AuditListInput{Limit: limit, Event: event}
				if user != "" {
					u, err := findUser(ctx, op, user, strings.Contains(user, "@"))
					if err != nil {
						return err
					}
					in.UserID = u.ID
				}
				page, err := op.Trail.List(ctx, application.Operator, in)
				if err != nil {
					return err
				}
				w := cmd.OutOrStdout()
				if len(page.Records) == 0 && !follow {
					fmt.Fprintln(w, "no audit events")
				}
				last := printRecords(w, page.Records, "")
				if !follow {
					return nil
				}
				return followTrail(ctx, op, w, in, last)
			}))
		},
	}
	f := tail.Flags()
	f.StringVar(&user, "user", "", "keep events whose actor or subject is this user (email or id)")
	f.StringVar(&event, "event", "", "keep one kind of event (e.g. login_failure, role_change, key_rotation)")
	f.IntVar(&limit, "limit", 20, "how many of the newest events to print first")
	f.BoolVar(&follow, "follow", false, "keep polling every second for new events until interrupted")
	audit.AddCommand(tail)
	return audit
}

// followTrail polls for records newer than last and prints them until ctx ends, which is how an
// interrupt stops it (not an error).
func followTrail(ctx context.Context, op *app.Operator, w io.Writer, in application.AuditListInput, last string) error {
	tick := time.NewTicker(followInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		fresh, err := newerThan(ctx, op, in, last)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		last = printRecords(w, fresh, last)
	}
}

// newerThan returns the records after the one with id last (ids are time-ordered), newest
// first, paging back until it reaches last.
func newerThan(ctx context.Context, op *app.Operator, in application.AuditListInput, last string) ([]domain.AuditRecord, error) {
	in.Limit, in.Cursor = application.MaxPageSize, ""
	var out []domain.AuditRecord
	for {
		page, err := op.Trail.List(ctx, application.Operator, in)
		if err != nil {
			return nil, err
		}
		for _, r := range page.Records {
			if last != "" && r.ID <= last {
				return out, nil
			}
			out = append(out, r)
		}
		if page.NextCursor == "" {
			return out, nil
		}
		in.Cursor = page.NextCursor
	}
}

// printRecords prints recs (newest first, as listed) oldest first, and returns the newest id
// printed, or last when there is none.
func printRecords(w io.Writer, recs []domain.AuditRecord, last string) string {
	if len(recs) == 0 {
		return last
	}
	recs = slices.Clone(recs)
	slices.Reverse(recs)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%s\tactor=%s\tsubject=%s\tip=%s\t%s\n", r.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"), r.Event, r.Outcome,
			orDash(r.ActorID), orDash(r.SubjectID), orDash(r.IP), r.Detail)
	}
	_ = tw.Flush()
	return recs[len(recs)-1].ID
}
