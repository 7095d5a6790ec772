// Command portcullis is the Portcullis authentication service and its operator tools.
//
//	portcullis [serve]                 run the HTTP service (the default)
//	portcullis version                 the module version, commit and Go version (also --version)
//	portcullis config [check]          every setting's value beside its default; check validates
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
	"strings"

	"github.com/spf13/cobra"

	"github.com/portcullis-auth/portcullis/adapters/httpapi"
	"github.com/portcullis-auth/portcullis/cmd/portcullis/app"
	"github.com/portcullis-auth/portcullis/config"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		// One line, whatever the error: a configuration's problems are joined on it.
		fmt.Fprintln(os.Stderr, "portcullis:", strings.Join(strings.Split(strings.TrimSpace(err.Error()), "\n"), "; "))
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP service",
		Long: "Run the HTTP service. Every setting comes from a PORTCULLIS_* environment variable;\n" +
			"`portcullis config` lists them with their values and defaults, `portcullis config check` validates them.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return app.Serve(cmd.Context()) },
	}
	version := app.BuildVersion().String()
	root := &cobra.Command{
		Use:           "portcullis",
		Short:         "Portcullis: an authentication service",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE:          serve.RunE,
		Version:       version,
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.AddCommand(serve,
		&cobra.Command{
			Use:   "version",
			Short: "Print the module version, commit and Go version",
			Args:  cobra.NoArgs,
			Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), version) },
		},
		newConfigCommand(),
		newMigrateCommand(),
		newUsersCommand(), newSessionsCommand(), newKeysCommand(), newAuditCommand(), newMailCommand(),
		newHealthcheckCommand(),
		newOpenAPICommand(),
	)
	return root
}

// newConfigCommand shows the settings (`portcullis config`) and validates them (`portcullis
// config check`). Both exit non-zero on any problem, which check prints one a line.
func newConfigCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "config",
		Short: "Show every setting's effective value (secrets masked) beside its default",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(app.Parsers)
			fmt.Fprint(cmd.OutOrStdout(), app.ConfigTable(cfg))
			if err != nil {
				return fmt.Errorf("the configuration has problems; `portcullis config check` lists them")
			}
			return nil
		},
	}
	c.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Validate every setting; exit non-zero naming each variable with a problem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := config.Load(app.Parsers)
			if err == nil {
				fmt.Fprintln(cmd.OutOrStdout(), "configuration ok")
				return nil
			}
			problems := strings.Split(err.Error(), "\n")
			for _, p := range problems {
				fmt.Fprintln(cmd.ErrOrStderr(), p)
			}
			return fmt.Errorf("%d configuration problem(s)", len(problems))
		},
	})
	return c
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
