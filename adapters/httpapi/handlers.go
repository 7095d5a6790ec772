package httpapi

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/domain"
)

// register: POST /api/auth/register {email, password, name?, username?} → 201 {user}.
func (s *Server) register(c *fiber.Ctx) error {
	var in registerRequest
	if err := decodeJSON(c.Request().Body(), &in); err != nil {
		return err
	}
	out, err := s.deps.Register.Handle(c.UserContext(), application.RegisterInput{
		Email: in.Email, Password: in.Password, Name: in.Name, Username: in.Username,
	})
	if err != nil {
		return err
	}
	if s.deps.Register.Concealed() {
		// The same answer for a new and a taken address (PORTCULLIS_REQUIRE_VERIFIED_EMAIL).
		return c.Status(fiber.StatusAccepted).JSON(registeredConcealed)
	}
	return c.Status(fiber.StatusCreated).JSON(userResponse{User: toUserDTO(out.User)})
}

// registeredConcealed is the one answer to a registration when addresses must be verified.
var registeredConcealed = messageResponse{Message: "Check your inbox: the message we sent finishes the sign-up."}

// login: POST /api/auth/login {email | username, password} → 200 tokens + user + cookies.
// Exactly one of email and username is accepted.
func (s *Server) login(c *fiber.Ctx) error {
	var in loginRequest
	if err := decodeJSON(c.Request().Body(), &in); err != nil {
		return err
	}
	v := &domain.ValidationError{}
	var (
		identifier string
		by         application.IdentifierKind
	)
	switch {
	case in.Email != nil && in.Username != nil:
		v.Add("username", "mutually_exclusive", "give either email or username, not both")
	case in.Email != nil:
		identifier, by = *in.Email, application.ByEmail
	case in.Username != nil:
		identifier, by = *in.Username, application.ByUsername
	}
	if in.Email == nil && in.Username == nil || (identifier == "" && len(v.Fields) == 0) {
		v.Add("email", "required", "email or username is required")
	}
	if in.Password == nil || *in.Password == "" {
		v.Put(domain.Required("password"))
	}
	if err := v.Err(); err != nil {
		return err
	}
	// The client address and user agent reach the session through the context (withRequestInfo).
	out, err := s.deps.Login.Handle(c.UserContext(), application.LoginInput{Identifier: identifier, Password: *in.Password, By: by})
	if err != nil {
		return err
	}
	return s.sendLogin(c, out)
}

// refresh: POST /api/auth/refresh, the refresh token in {refresh_token} or the refresh cookie
// (the body wins when both are present; the body is optional with the cookie).
func (s *Server) refresh(c *fiber.Ctx) error {
	var in refreshRequest
	if len(c.Request().Body()) > 0 {
		if err := decodeJSON(c.Request().Body(), &in); err != nil {
			return err
		}
	}
	token := in.RefreshToken
	if token == "" {
		var err error
		if token, err = s.refreshCookie(c); err != nil {
			return err
		}
	}
	out, err := s.rotate(c, token)
	if err != nil {
		return err
	}
	return s.sendTokens(c, out)
}

// rotate runs the refresh use case on token ("" when the request carried none); its refusals
// become 401 invalid_refresh_token in errors.go.
func (s *Server) rotate(c *fiber.Ctx, token string) (application.TokensOutput, error) {
	if token == "" {
		return application.TokensOutput{}, errNoRefreshToken
	}
	if len(token) > maxTokenLength {
		return application.TokensOutput{}, errInvalidRefresh
	}
	out, err := s.deps.Refresh.Handle(c.UserContext(), token)
	if err != nil {
		return application.TokensOutput{}, err
	}
	out.User = nil
	return out, nil
}

// sendTokens writes a token response with its cookies. Token responses are never cached.
// Lifetimes count from the moment the use case minted the tokens (out.IssuedAt).
func (s *Server) sendTokens(c *fiber.Ctx, out application.TokensOutput) error {
	body := tokensResponse{
		AccessToken: out.AccessToken, TokenType: "Bearer",
		ExpiresIn:        int64(out.AccessExpiresAt.Sub(out.IssuedAt) / time.Second),
		RefreshToken:     out.RefreshToken,
		RefreshExpiresIn: int64(out.RefreshExpiresAt.Sub(out.IssuedAt) / time.Second),
	}
	if out.User != nil {
		u := toUserDTO(*out.User)
		body.User = &u
	}
	s.setSessionCookies(c, out)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderPragma, "no-cache")
	return c.JSON(body)
}

// logout: POST /api/auth/logout, with an access token (header or cookie) and/or a refresh
// token ({refresh_token} or cookie). It ends that session, clears the cookies and answers 204,
// also when no token or an invalid one is given (idempotent). Only an unavailable store is an
// error, since then nothing could be revoked.
func (s *Server) logout(c *fiber.Ctx) error {
	if err := s.endSession(c); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// endSession is logout without its answer: it ends the session the request's tokens name and
// clears the cookies.
func (s *Server) endSession(c *fiber.Ctx) error {
	var in logoutRequest
	if len(c.Request().Body()) > 0 {
		if err := decodeJSON(c.Request().Body(), &in); err != nil {
			return err
		}
	}
	access, _ := s.accessToken(c) // a malformed or oversized token ends nothing
	refresh := in.RefreshToken
	if refresh == "" {
		refresh, _ = s.refreshCookie(c) // of two, neither is known to be ours: end none by them
	}
	if len(refresh) > maxTokenLength {
		refresh = ""
	}
	p, err := s.deps.Logout.Handle(c.UserContext(), application.LogoutInput{AccessToken: access, RefreshToken: refresh})
	if p.UserID != "" {
		c.Locals(ctxPrincipal, p) // for the access log
	}
	if err != nil {
		return err
	}
	s.clearSessionCookies(c)
	return nil
}

// logoutAll: POST /api/auth/logout-all → 204; ends every session of the caller.
func (s *Server) logoutAll(c *fiber.Ctx) error {
	p, _ := principal(c)
	if err := s.deps.Logout.All(c.UserContext(), p.UserID); err != nil {
		return err
	}
	s.clearSessionCookies(c)
	return c.SendStatus(fiber.StatusNoContent)
}

// me: GET /api/users/me → 200 {user}.
func (s *Server) me(c *fiber.Ctx) error {
	p, _ := principal(c)
	out, err := s.deps.Profile.Get(c.UserContext(), p.UserID)
	if err != nil {
		return err
	}
	return c.JSON(userResponse{User: toUserDTO(out.User)})
}

// updateMe: PATCH /api/users/me {name?, username?} → 200 {user}. An absent or null field is
// left as it is; "username": "" removes the username.
func (s *Server) updateMe(c *fiber.Ctx) error {
	var in updateProfileRequest
	if err := decodeJSON(c.Request().Body(), &in); err != nil {
		return err
	}
	p, _ := principal(c)
	out, err := s.deps.Profile.Update(c.UserContext(), p.UserID, application.UpdateProfileInput{Name: in.Name, Username: in.Username})
	if err != nil {
		return err
	}
	return c.JSON(userResponse{User: toUserDTO(out.User)})
}

// changePassword: PUT /api/users/me/password {current_password, new_password} → 204.
func (s *Server) changePassword(c *fiber.Ctx) error {
	var in changePasswordRequest
	if err := decodeJSON(c.Request().Body(), &in); err != nil {
		return err
	}
	v := &domain.ValidationError{}
	if in.CurrentPassword == nil || *in.CurrentPassword == "" {
		v.Put(domain.Required("current_password"))
	}
	if in.NewPassword == nil {
		v.Put(domain.Required("new_password"))
	}
	if err := v.Err(); err != nil {
		return err
	}
	p, _ := principal(c)
	err := s.deps.ChangePassword.Handle(c.UserContext(), application.ChangePasswordInput{
		UserID: p.UserID, SessionID: p.SessionID, CurrentPassword: *in.CurrentPassword, NewPassword: *in.NewPassword,
	})
	if err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// listSessions: GET /api/sessions → 200 {sessions: [...]}, newest first.
func (s *Server) listSessions(c *fiber.Ctx) error {
	p, _ := principal(c)
	list, err := s.deps.Sessions.List(c.UserContext(), p.UserID, p.SessionID)
	if err != nil {
		return err
	}
	return c.JSON(sessionsResponse{Sessions: toSessionDTOs(list)})
}

// revokeSession: DELETE /api/sessions/{id} → 204; 404 when it is not one of the caller's.
// Ending the current session also clears its cookies.
func (s *Server) revokeSession(c *fiber.Ctx) error {
	p, _ := principal(c)
	id := c.Params("id")
	if err := s.deps.Sessions.Revoke(c.UserContext(), p.UserID, id); err != nil {
		return err
	}
	if id == p.SessionID {
		s.clearSessionCookies(c)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// testContent answers the role-demonstration routes under /api/test: {message} JSON, or in the
// seed compatibility mode the seed's plain text seedText.
func (s *Server) testContent(message, seedText string) fiber.Handler {
	if s.seedMode() {
		return func(c *fiber.Ctx) error {
			c.Set(fiber.HeaderContentType, fiber.MIMETextPlainCharsetUTF8)
			return c.SendString(seedText)
		}
	}
	return func(c *fiber.Ctx) error {
		return c.JSON(messageResponse{Message: message})
	}
}

// testMarker marks the /api/test routes as seed routes in the seed compatibility mode (their
// errors then carry `message`), and does nothing otherwise.
func (s *Server) testMarker() fiber.Handler {
	if s.seedMode() {
		return seedMarked
	}
	return func(c *fiber.Ctx) error { return c.Next() }
}

// jwks: GET /.well-known/jwks.json, cacheable for KeySet.JWKSMaxAge: a retired key stays
// published for at least one access TTL, and a new one is published longer than that before it
// signs, so a cached copy never misses a key in use.
func (s *Server) jwks(c *fiber.Ctx) error {
	body, err := s.deps.Keys.JWKS()
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "public, max-age="+strconv.FormatInt(int64(s.deps.Keys.JWKSMaxAge()/time.Second), 10))
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(body)
}

// healthz: GET /healthz, liveness only; it touches no store.
func (s *Server) healthz(c *fiber.Ctx) error {
	return c.JSON(statusResponse{Status: "ok"})
}

// readyz: GET /readyz pings every readiness checker at once, each bounded by pingTimeout.
// 200 {status, checks} when all answer; otherwise 503 problem+json naming the failing checks.
func (s *Server) readyz(c *fiber.Ctx) error {
	ctx := c.UserContext()
	checks := make(map[string]string, len(s.deps.Readiness))
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		failed []string
	)
	for _, p := range s.deps.Readiness {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, pingTimeout)
			defer cancel()
			err := p.Ping(pctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				checks[p.Name()] = "unavailable"
				failed = append(failed, p.Name())
				s.log.WarnContext(ctx, "readiness check failed", "request_id", requestID(c), "check", p.Name(), "error", err)
				return
			}
			checks[p.Name()] = "ok"
		})
	}
	wg.Wait()
	if len(failed) > 0 {
		sort.Strings(failed)
		return &apiError{status: fiber.StatusServiceUnavailable, code: "not_ready", title: "Not ready",
			detail: "unavailable: " + strings.Join(failed, ", "), checks: checks}
	}
	return c.JSON(statusResponse{Status: "ok", Checks: checks})
}
