// Command portcullis is the Portcullis authentication service and its operator tools.
//
//	portcullis [serve]                 run the HTTP service (the default)
//	portcullis config                  list every setting with its default
//	portcullis migrate up|down|status  manage the database schema
//	portcullis users create|list|set-roles|disable|enable|delete
//	portcullis sessions revoke --user EMAIL_OR_ID
//	portcullis keys list|rotate        signing keys
//	portcullis audit tail              the security audit trail
//	portcullis healthcheck             probe /readyz (for container health checks)
//	portcullis openapi [--json]        print the OpenAPI document of the HTTP API
//
// Configuration comes from PORTCULLIS_* environment variables only; see `portcullis config`.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/portcullis-auth/portcullis/adapters/httpapi"
	"github.com/portcullis-auth/portcullis/cmd/portcullis/app"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "portcullis:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP service",
		Long:  "Run the HTTP service. Every setting comes from a PORTCULLIS_* variable:\n\n" + app.SettingsTable(),
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return app.Serve(cmd.Context()) },
	}
	root := &cobra.Command{
		Use:           "portcullis",
		Short:         "Portcullis: an authentication service",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE:          serve.RunE,
	}
	root.AddCommand(serve,
		&cobra.Command{
			Use:   "config",
			Short: "List every setting with its default and purpose",
			Args:  cobra.NoArgs,
			Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprint(cmd.OutOrStdout(), app.SettingsTable()) },
		},
		newMigrateCommand(),
		newUsersCommand(), newSessionsCommand(), newKeysCommand(), newAuditCommand(), newMailCommand(),
		newHealthcheckCommand(),
		newOpenAPICommand(),
	)
	return root
}

// newOpenAPICommand prints the embedded OpenAPI document, the one served at /openapi.yaml.
func newOpenAPICommand() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "openapi",
		Short: "Print the OpenAPI 3.1 document of the HTTP API (YAML; --json for JSON)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			doc := httpapi.OpenAPIYAML()
			if asJSON {
				doc = httpapi.OpenAPIJSON()
			}
			_, err := cmd.OutOrStdout().Write(doc)
			return err
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of YAML")
	return c
}

func newMigrateCommand() *cobra.Command {
	m := &cobra.Command{
		Use:   "migrate",
		Short: "Apply, roll back or show database migrations",
		Args:  cobra.NoArgs,
	}
	for _, sub := range []struct{ use, short string }{
		{"up", "Apply every pending migration"},
		{"down", "Roll back the last applied group of migrations"},
		{"status", "Show applied and pending migrations"},
	} {
		m.AddCommand(&cobra.Command{
			Use:   sub.use,
			Short: sub.short,
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return app.Migrate(cmd.Context(), sub.use, cmd.OutOrStdout())
			},
		})
	}
	return m
}
