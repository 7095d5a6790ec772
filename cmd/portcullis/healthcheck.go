package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis-auth/portcullis/cmd/portcullis/app"
	"github.com/portcullis-auth/portcullis/config"
)

// newHealthcheckCommand is `portcullis healthcheck`: GET /readyz of the service on this host
// (the port of PORTCULLIS_ADDR, over loopback) and exit 0 when it answers 200, 1 otherwise. It
// is the container health check, since a distroless image has no curl or shell.
func newHealthcheckCommand() *cobra.Command {
	var (
		target  string
		timeout time.Duration
	)
	c := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 if the local service is ready (GET /readyz answers 200), else 1",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if target == "" {
				cfg, err := config.Load(app.Parsers)
				if err != nil {
					return fmt.Errorf("configuration:\n%w", err)
				}
				if target, err = readyzURL(cfg.Addr); err != nil {
					return err
				}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
			if err != nil {
				return err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("not ready: %w", err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("not ready: %s answered %s", target, resp.Status)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "ready")
			return nil
		},
	}
	c.Flags().StringVar(&target, "url", "", "readiness URL to check (default: http://127.0.0.1:<port of PORTCULLIS_ADDR>/readyz)")
	c.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	return c
}

// readyzURL is the loopback /readyz URL of a server listening on addr (":8080",
// "0.0.0.0:8080", "[::]:8080" or "10.0.0.5:8080").
func readyzURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("PORTCULLIS_ADDR: %w", err)
	}
	if ip := net.ParseIP(host); host == "" || host == "localhost" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
}
