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
	Locks  *application.Locks
	Trail  *application.AuditTrail
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
	app := fx.New(
		Core(cfg, log),
		fx.Populate(&op.Admin, &op.Locks, &op.Trail, &op.SigningKeys, &op.Clock, &op.Outbox),
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
