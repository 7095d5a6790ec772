package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"go.uber.org/fx"

	"github.com/portcullis-auth/portcullis/adapters/httpapi"
	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/config"
	"github.com/portcullis-auth/portcullis/domain"
)

// Bootstrap creates the first admin at start when PORTCULLIS_BOOTSTRAP_ADMIN_EMAIL and
// PORTCULLIS_BOOTSTRAP_ADMIN_PASSWORD_FILE are set and no enabled admin exists. It is an
// httpapi.Prerequisite, so the HTTP module starts its listener only after the admin exists,
// wherever the modules are listed; and it depends on the use case, hence on the stores, whose
// start hooks (open, migrate) therefore run before its own.
var Bootstrap = fx.Module("bootstrap",
	fx.Provide(fx.Annotate(bootstrapHook, fx.ResultTags(httpapi.PrerequisiteGroup))))

func bootstrapHook(lc fx.Lifecycle, cfg config.Config, admin *application.Admin, log *slog.Logger) httpapi.Prerequisite {
	if cfg.BootstrapAdminEmail != "" {
		lc.Append(fx.Hook{OnStart: func(ctx context.Context) error {
			return bootstrapAdmin(ctx, cfg, admin, log)
		}})
	}
	return httpapi.Prerequisite{Name: "bootstrap admin"}
}

// bootstrapAdmin creates the configured admin unless an enabled admin exists. It is idempotent:
// a second start, or a second instance racing the first, finds the admin (or the taken email)
// and does nothing.
func bootstrapAdmin(ctx context.Context, cfg config.Config, admin *application.Admin, log *slog.Logger) error {
	has, err := admin.HasAdmin(ctx)
	if err != nil {
		return fmt.Errorf("bootstrap admin: %w", err)
	}
	if has {
		log.DebugContext(ctx, "bootstrap admin skipped: an admin exists")
		return nil
	}
	b, err := os.ReadFile(cfg.BootstrapAdminPasswordFile)
	if err != nil {
		return fmt.Errorf("PORTCULLIS_BOOTSTRAP_ADMIN_PASSWORD_FILE: %w", err)
	}
	password := strings.TrimRight(string(b), "\r\n")
	out, err := admin.Create(ctx, application.Operator, application.CreateUserInput{
		Email: cfg.BootstrapAdminEmail, Password: password, Roles: []domain.Role{domain.RoleAdmin},
	})
	switch {
	case errors.Is(err, domain.ErrConflict):
		if has, _ := admin.HasAdmin(ctx); has {
			return nil // another instance starting at the same time created it
		}
		// The account exists without the admin role: never promote an existing account from the
		// environment.
		log.WarnContext(ctx, "bootstrap admin not created: the email is taken; promote it with `portcullis users set-roles`",
			"email", cfg.BootstrapAdminEmail)
		return nil
	case err != nil:
		var ve *domain.ValidationError
		if errors.As(err, &ve) {
			return fmt.Errorf("PORTCULLIS_BOOTSTRAP_ADMIN_EMAIL / _PASSWORD_FILE: %w", err)
		}
		return fmt.Errorf("bootstrap admin: %w", err)
	}
	log.InfoContext(ctx, "bootstrap admin created", "user_id", out.User.ID, "email", out.User.Email)
	return nil
}
