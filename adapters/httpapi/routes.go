package httpapi

// The route table: the middleware in order, then every route. Fiber matches routes in the order
// they are added, so the order of the groups below matters where paths overlap.

import (
	"github.com/gofiber/fiber/v2"

	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/domain"
)

// routes installs the middleware, in order, and every route.
func (s *Server) routes() {
	s.app.Use(s.withRequestID, s.observe, s.accessLog, s.recoverPanic, s.securityHeaders, s.limitHeaders, s.checkFraming, s.cors, s.withTimeout,
		s.withRequestInfo, s.rejectControl, s.requireJSON, s.csrf)
	auth := s.requireAuth
	s.accountRoutes(auth)
	s.adminRoutes(auth)
	s.testRoutes(auth)
	s.mailRoutes(auth)
	s.serviceRoutes()
}

// accountRoutes: signing in and out, and what a signed-in user does with their own account,
// factors and sessions.
func (s *Server) accountRoutes(auth fiber.Handler) {
	a := s.app
	a.Post("/api/auth/register", s.limitRoute(application.RouteRegister), s.register)
	a.Post("/api/auth/login", s.login)
	a.Post("/api/auth/refresh", s.guardTokens, s.refresh)
	a.Post("/api/auth/logout", s.logout)
	a.Post("/api/auth/logout-all", auth, noBody, s.logoutAll)
	a.Post("/api/auth/mfa/verify", s.mfaVerify)
	a.Post("/api/auth/passkey/begin", s.limitRoute(application.RoutePasskey), s.passkeyLoginBegin)
	a.Post("/api/auth/passkey/finish", s.passkeyLoginFinish)

	a.Get("/api/users/me", auth, s.me)
	a.Patch("/api/users/me", auth, s.updateMe)
	a.Put("/api/users/me/password", auth, s.changePassword)
	a.Get("/api/users/me/mfa", auth, s.mfaStatus)
	a.Post("/api/users/me/mfa/totp", auth, s.totpEnrol)
	a.Post("/api/users/me/mfa/totp/confirm", auth, s.totpConfirm)
	a.Delete("/api/users/me/mfa/totp", auth, s.totpDisable)
	a.Post("/api/users/me/mfa/recovery-codes", auth, s.recoveryCodes)
	a.Post("/api/users/me/passkeys/begin", auth, s.passkeyRegisterBegin)
	a.Post("/api/users/me/passkeys/finish", auth, s.passkeyRegisterFinish)
	a.Get("/api/users/me/passkeys", auth, s.passkeyList)
	a.Patch("/api/users/me/passkeys/:id", auth, s.passkeyRename)
	a.Delete("/api/users/me/passkeys/:id", auth, noBody, s.passkeyDelete)

	a.Get("/api/sessions", auth, s.listSessions)
	a.Delete("/api/sessions/:id", auth, noBody, s.revokeSession)
}

// adminRoutes: the administration API, behind the roles (and, with AdminRequireMFA, a second
// factor).
func (s *Server) adminRoutes(auth fiber.Handler) {
	a := s.app
	// Fiber matches routes in the order they are added, so /api/users/me (accountRoutes, added
	// first) wins over /api/users/:id for GET and PATCH; notMe keeps any other method on "me" a
	// 405. Moderators may read users; only admins change them or read the audit trail. The use
	// cases check roles again. With AdminRequireMFA the whole administration API, reads
	// included, wants a session with a second factor.
	readers := requireRoles(s.cfg.AdminRequireMFA, domain.RoleModerator, domain.RoleAdmin)
	admins := requireRoles(s.cfg.AdminRequireMFA, domain.RoleAdmin)
	a.Get("/api/users", auth, readers, s.listUsers)
	a.Get("/api/users/:id", notMe, auth, readers, s.getUser)
	a.Patch("/api/users/:id", notMe, auth, admins, s.updateUser)
	a.Delete("/api/users/:id", notMe, auth, admins, noBody, s.deleteUser)
	if s.deps.Locks != nil {
		a.Get("/api/users/:id/lock", auth, readers, s.getLock)
		a.Post("/api/users/:id/unlock", auth, admins, noBody, s.unlockUser)
	}
	a.Get("/api/audit", auth, admins, s.listAudit)
	a.Delete("/api/users/:id/mfa", notMe, auth, admins, noBody, s.resetFactors)
	a.Post("/api/users/:id/verification-email", notMe, auth, admins, noBody, s.resendUserVerification)
}

// testRoutes: the role test routes, and in the seed compatibility mode the seed's own routes.
func (s *Server) testRoutes(auth fiber.Handler) {
	a := s.app
	// In the seed compatibility mode these answer the seed's plain text (compat.go).
	test := s.testMarker()
	a.Get("/api/test/all", test, s.testContent("Public content.", "Public Content."))
	a.Get("/api/test/user", test, auth, requireRoles(false, domain.RoleUser, domain.RoleModerator, domain.RoleAdmin), s.testContent("User content.", "User Content."))
	// The route is for moderators; an admin outranks a moderator, so admins pass too (openapi.yaml).
	a.Get("/api/test/mod", test, auth, requireRoles(false, domain.RoleModerator, domain.RoleAdmin), s.testContent("Moderator content.", "Moderator Content."))
	a.Get("/api/test/admin", test, auth, requireRoles(false, domain.RoleAdmin), s.testContent("Admin content.", "Admin Content."))
	if s.seedMode() {
		s.compatRoutes()
	}
}

// mailRoutes: the e-mail flows (verification, password reset, address change) and their link
// pages.
func (s *Server) mailRoutes(auth fiber.Handler) {
	a := s.app
	// The e-mail flows (mailflows.go) and their link pages (pages.go).
	a.Post("/api/auth/verify-email", s.guardTokens, s.verifyEmail)
	a.Post("/api/auth/verify-email/resend", s.limitRoute(application.RouteMail), s.resendVerification)
	a.Post("/api/auth/password/forgot", s.limitRoute(application.RouteMail), s.forgotPassword)
	a.Post("/api/auth/password/reset", s.guardTokens, s.resetPassword)
	a.Post("/api/auth/email/confirm", s.guardTokens, s.confirmEmail)
	a.Post("/api/users/me/email", auth, s.limitRoute(application.RouteMail), s.changeEmail)
	s.pages = s.linkPages()
	for path, p := range s.pages {
		a.Get(path, s.showLinkPage(p))
		a.Post(path, s.submitLinkPage(p))
	}
}

// serviceRoutes: the public keys, health, the API's description and the metrics.
func (s *Server) serviceRoutes() {
	a := s.app
	a.Get("/.well-known/jwks.json", s.jwks)
	a.Get("/healthz", s.healthz)
	a.Get("/readyz", s.readyz)

	// The API's own description. Every route above must be in openapi.yaml too (see openapi.go).
	a.Get("/openapi.json", s.serveOpenAPIJSON)
	a.Get("/openapi.yaml", s.serveOpenAPIYAML)
	a.Get("/docs", s.serveDocs)
	a.Get("/docs/redoc.standalone.js", s.serveRedoc)
	if s.telemetry != nil && s.telemetry.MetricsHandler() != nil {
		a.Get("/metrics", s.metricsRoute())
	}
}
