package httpapi_test

import (
	"log/slog"
	"testing"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

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
		fx.Provide(useCases()...),
		fx.Provide(
			fx.Annotate(func() keySet { return keySet{} }, fx.As(new(httpapi.KeySet))),
			fx.Annotate(func() okPinger { return okPinger{"database"} }, fx.As(new(ports.Pinger)), fx.ResultTags(`group:"readiness"`)),
		),
	)
	if err != nil {
		t.Fatal(err)
	}
}

// TestListenerStartsAfterPrerequisites: the listener opens only after the start hooks of every
// httpapi.Prerequisite (the first admin's creation), even when the module providing it is
// listed after httpapi.Module: the order follows the graph, not the listing.
func TestListenerStartsAfterPrerequisites(t *testing.T) {
	cfg := baseConfig()
	cfg.Addr = "127.0.0.1:0"
	var listeningBefore []bool
	app := fxtest.New(t,
		fx.NopLogger,
		httpapi.Module,
		fx.Supply(cfg, slog.New(slog.DiscardHandler)),
		fx.Provide(useCases()...),
		fx.Provide(
			fx.Annotate(func() keySet { return keySet{} }, fx.As(new(httpapi.KeySet))),
		),
		// Listed after the module on purpose.
		fx.Provide(fx.Annotate(func(lc fx.Lifecycle, s *httpapi.Server) httpapi.Prerequisite {
			lc.Append(fx.StartHook(func() { listeningBefore = append(listeningBefore, s.Addr() != nil) }))
			return httpapi.Prerequisite{Name: "test"}
		}, fx.ResultTags(httpapi.PrerequisiteGroup))),
		fx.Invoke(func(*httpapi.Server) {}),
	)
	app.RequireStart()
	defer app.RequireStop()
	if len(listeningBefore) != 1 || listeningBefore[0] {
		t.Fatalf("prerequisite hook ran %d times, listener already open: %v", len(listeningBefore), listeningBefore)
	}
}

// useCases provides a zero value of every use case the server's Deps need.
func useCases() []any {
	return []any{
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
		func() *application.Passkeys { return &application.Passkeys{} },
	}
}
