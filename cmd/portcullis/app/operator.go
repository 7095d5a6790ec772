package app

import (
	"context"
	"os"
	"time"

	"go.uber.org/fx"

	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/config"
	"github.com/portcullis-auth/portcullis/ports"
)

// Operator is what an operator command works with: the configuration and the administration
// use cases, which the commands call acting as application.Operator (never a store directly),
// and the clock. Operate fills it.
type Operator struct {
	Config config.Config
	Admin  *application.Admin
	// Locks sees and lifts the login limits of accounts; nil when the limits live in each
	// server's memory (the sql and memory session stores), where no command can reach them.
	Locks *application.Locks
	Trail *application.AuditTrail
	// SigningKeys lists and rotates the token-signing keys.
	SigningKeys *application.SigningKeys
	Clock       ports.Clock
	// Outbox lists and retries outbox mail, for `portcullis mail`.
	Outbox *application.Outbox
}

// operatorTimeout bounds the start and the stop of the operator's graph.
const operatorTimeout = 30 * time.Second

// Operate loads the configuration from the environment, starts the core graph (no HTTP
// server) so that the stores open and migrate as `serve` would, runs fn, and stops the graph.
// Logs go to stderr at warn level (error if so configured), so that stdout carries only what
// the command prints.
func Operate(ctx context.Context, fn func(ctx context.Context, op *Operator) error) error {
	cfg, err := LoadConfig()
	if err != nil {
		return err
	}
	level := "warn"
	if cfg.LogLevel == "error" {
		level = "error"
	}
	logCfg := cfg
	logCfg.LogLevel = level
	log := NewLogger(logCfg, os.Stderr)
	routeStandardLog(log) // the standard log package's writers too (see Serve)
	op := &Operator{Config: cfg}
	targets := []any{&op.Admin, &op.Trail, &op.SigningKeys, &op.Clock, &op.Outbox}
	if sharedLimits(cfg) {
		// Otherwise the graph's limiter is this process's own, new and empty: it would report
		// every account unlocked and "unlock" none.
		targets = append(targets, &op.Locks)
	}
	app := fx.New(
		Core(cfg, log),
		fx.Populate(targets...),
		fx.StartTimeout(operatorTimeout), fx.StopTimeout(operatorTimeout),
	)
	if err := app.Err(); err != nil {
		return startError(cfg, err)
	}
	startCtx, cancel := context.WithTimeout(ctx, operatorTimeout)
	defer cancel()
	if err := app.Start(startCtx); err != nil {
		return startError(cfg, err)
	}
	runErr := fn(ctx, op)
	stopCtx, cancelStop := context.WithTimeout(context.WithoutCancel(ctx), operatorTimeout)
	defer cancelStop()
	if err := app.Stop(stopCtx); err != nil && runErr == nil {
		return err
	}
	return runErr
}
