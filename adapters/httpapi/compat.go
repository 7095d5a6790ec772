package httpapi

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/domain"
)

// CompatSeed is the Config.Compat value that serves, besides the API, the routes and JSON
// shapes of the seed tutorials' back-ends, so that their published front-ends work unchanged:
//
//	POST /api/auth/signup   {username, email, password, roles?} → 200 {message}
//	POST /api/auth/signin   {username, password} → 200 {id, username, email, roles: ["ROLE_USER", …], accessToken, refreshToken, tokenType}
//	                        (a user with a second factor: /api/auth/login's {mfa_required, mfa_token, methods}, no cookie)
//	POST /api/auth/signout  → 200 {message}
//	GET  /api/auth/refresh  (refresh cookie, same-origin only) → 200 {status: "success", access_token}
//	GET  /api/test/{all,user,mod,admin} answer the seed's plain-text bodies
//
// Compatibility changes shapes, never security: the same use cases run (argon2id, short-lived
// revocable tokens, requested roles ignored), signin sets the same cookies as login, and error
// bodies stay problem+json with the seed's `message` member added. The one state change on GET,
// the cookie tutorials' refresh, is accepted from the same origin only.
const CompatSeed = "seed"

// The seed's plain-text bodies of /api/test/*, and its messages.
const (
	seedSignedUp  = "User was registered successfully!"
	seedSignedOut = "You've been signed out!"
)

// compatRoutes installs the seed tutorials' routes (CompatSeed).
func (s *Server) compatRoutes() {
	a := s.app
	a.Post("/api/auth/signup", seedMarked, s.seedSignup)
	a.Post("/api/auth/signin", seedMarked, s.seedSignin)
	a.Post("/api/auth/signout", seedMarked, s.seedSignout)
	a.Get("/api/auth/refresh", seedMarked, s.seedRefresh)
}

func (s *Server) seedMode() bool { return s.cfg.Compat == CompatSeed }

// seedMarked marks a request as one of the seed routes, so that its error body carries the
// seed's `message` member too.
func seedMarked(c *fiber.Ctx) error {
	c.Locals(ctxSeed, true)
	return c.Next()
}

type seedSignupRequest struct {
	Username string   `json:"username"`
	Email    string   `json:"email"`
	Password string   `json:"password"`
	Roles    []string `json:"roles"` // accepted, never granted: registration gives "user" only
}

type seedSigninRequest struct {
	Username *string `json:"username"`
	Password *string `json:"password"`
}

type seedSigninResponse struct {
	ID           string   `json:"id"`
	Username     string   `json:"username"`
	Email        string   `json:"email"`
	Roles        []string `json:"roles"`
	AccessToken  string   `json:"accessToken"`
	RefreshToken string   `json:"refreshToken"`
	TokenType    string   `json:"tokenType"`
}

type seedRefreshResponse struct {
	Status      string `json:"status"`
	AccessToken string `json:"access_token"`
}

// seedSignup: POST /api/auth/signup, the register use case under the seed's shape.
func (s *Server) seedSignup(c *fiber.Ctx) error {
	var in seedSignupRequest
	if err := decodeJSON(c.Request().Body(), &in); err != nil {
		return err
	}
	if _, err := s.deps.Register.Handle(c.UserContext(), application.RegisterInput{
		Email: in.Email, Password: in.Password, Username: in.Username,
	}); err != nil {
		return err
	}
	return c.JSON(messageResponse{Message: seedSignedUp})
}

// seedSignin: POST /api/auth/signin {username, password}, the login use case by username; it
// sets the same cookies as /api/auth/login, and like it answers a user with a second factor
// with the mfa_token and no cookie.
func (s *Server) seedSignin(c *fiber.Ctx) error {
	var in seedSigninRequest
	if err := decodeJSON(c.Request().Body(), &in); err != nil {
		return err
	}
	v := &domain.ValidationError{}
	if in.Username == nil || *in.Username == "" {
		v.Add("username", "required", "is required")
	}
	if in.Password == nil || *in.Password == "" {
		v.Add("password", "required", "is required")
	}
	if err := v.Err(); err != nil {
		return err
	}
	out, err := s.deps.Login.Handle(c.UserContext(), application.LoginInput{
		Identifier: *in.Username, Password: *in.Password, By: application.ByUsername,
	})
	if err != nil {
		return err
	}
	if out.MFA != nil {
		// No tokens yet: the seed has no shape for this, so it is /api/auth/login's answer, the
		// mfa_token for /api/auth/mfa/verify, and no cookie (empty ones would end the browser's
		// session cookies and pass for a signed-in answer).
		return s.sendLogin(c, out)
	}
	body := seedSigninResponse{AccessToken: out.AccessToken, RefreshToken: out.RefreshToken, TokenType: "Bearer"}
	if out.User != nil {
		body.ID, body.Username, body.Email = out.User.ID, out.User.Username, out.User.Email
		body.Roles = seedRoles(out.User.Roles)
	}
	s.setSessionCookies(c, out)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(body)
}

// seedSignout: POST /api/auth/signout, /api/auth/logout answering the seed's 200 {message}.
func (s *Server) seedSignout(c *fiber.Ctx) error {
	if err := s.endSession(c); err != nil {
		return err
	}
	return c.JSON(messageResponse{Message: seedSignedOut})
}

// seedRefresh: GET /api/auth/refresh, the cookie tutorials' refresh: it rotates the refresh
// cookie like POST /api/auth/refresh and answers {status, access_token}. A GET that changes
// state is refused unless it comes from Portcullis's own origin (sameOriginOnly), so that no
// other site can spend a visitor's refresh token with a link, an image or a script.
func (s *Server) seedRefresh(c *fiber.Ctx) error {
	if err := s.sameOriginOnly(c); err != nil {
		return err
	}
	token, err := s.refreshCookie(c)
	if err != nil {
		return err
	}
	out, err := s.rotate(c, token)
	if err != nil {
		return err
	}
	s.setSessionCookies(c, out)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(seedRefreshResponse{Status: "success", AccessToken: out.AccessToken})
}

// sameOriginOnly lets a request through when the browser says it comes from this origin
// (Sec-Fetch-Site: same-origin) or, from a client that sends no fetch metadata, when Origin
// names the public URL's origin. Anything else — another site or origin, a navigation typed or
// followed from elsewhere, or no evidence at all — is 403 cross_site_request.
func (s *Server) sameOriginOnly(c *fiber.Ctx) error {
	switch site := strings.ToLower(c.Get("Sec-Fetch-Site")); site {
	case "same-origin":
		return nil
	case "":
		if o := c.Get(fiber.HeaderOrigin); o != "" && originOf(o) == originOf(s.cfg.PublicURL) {
			return nil
		}
	}
	return errNotSameOrigin
}

// errNotSameOrigin refuses the compat GET refresh from anywhere but Portcullis's own origin.
var errNotSameOrigin = &apiError{status: fiber.StatusForbidden, code: "cross_site_request", title: "Cross-site request refused",
	detail: "GET /api/auth/refresh changes state and is accepted from this origin only; elsewhere use POST /api/auth/refresh"}

// seedRoles writes roles the seed's way: "user" is "ROLE_USER".
func seedRoles(roles []domain.Role) []string {
	out := make([]string, len(roles))
	for i, r := range roles {
		out[i] = "ROLE_" + strings.ToUpper(string(r))
	}
	return out
}
