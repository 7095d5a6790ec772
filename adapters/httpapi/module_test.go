package httpapi_test

import (
	"log/slog"
	"testing"

	"go.uber.org/fx"

	"github.com/portcullis-auth/portcullis/adapters/httpapi"
	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/ports"
)

// TestModuleWires proves that Module's graph is complete given what cmd must provide: a
// Config, the eight use cases, a KeySet, a logger and readiness pingers in their group.
func TestModuleWires(t *testing.T) {
	err := fx.ValidateApp(
		httpapi.Module,
		fx.Supply(baseConfig(), slog.New(slog.DiscardHandler)),
		fx.Provide(
			func() *application.Register { return &application.Register{} },
			func() *application.Login { return &application.Login{} },
			func() *application.Refresh { return &application.Refresh{} },
			func() *application.Logout { return &application.Logout{} },
			func() *application.Authenticate { return &application.Authenticate{} },
			func() *application.Profile { return &application.Profile{} },
			func() *application.ChangePassword { return &application.ChangePassword{} },
			func() *application.Sessions { return &application.Sessions{} },
			func() *application.Admin { return &application.Admin{} },
			func() *application.AuditTrail { return &application.AuditTrail{} },
			func() *application.VerifyEmail { return &application.VerifyEmail{} },
			func() *application.PasswordReset { return &application.PasswordReset{} },
			func() *application.ChangeEmail { return &application.ChangeEmail{} },
			func() *application.MFAVerify { return &application.MFAVerify{} },
			func() *application.TOTPSetup { return &application.TOTPSetup{} },
			fx.Annotate(func() keySet { return keySet{} }, fx.As(new(httpapi.KeySet))),
			fx.Annotate(func() okPinger { return okPinger{"database"} }, fx.As(new(ports.Pinger)), fx.ResultTags(`group:"readiness"`)),
		),
	)
	if err != nil {
		t.Fatal(err)
	}
}
