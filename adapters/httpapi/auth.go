package httpapi

import (
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/domain"
)

// maxTokenLength bounds an access token before any parsing: a real one is well under 2 KiB.
const maxTokenLength = 8 << 10

// accessToken returns the access token of a request, from (in order) `Authorization: Bearer`,
// `x-access-token` or the access cookie. Query parameters and bodies are never read (SECURITY
// D37). A Bearer credential that is bad is an invalid token, never a reason to look elsewhere;
// an Authorization header of another scheme (Basic, sent by a browser to a staging site behind
// a password, or a gateway's own) is not for this service and is passed over.
func (s *Server) accessToken(c *fiber.Ctx) (string, error) {
	var token string
	if scheme, cred, _ := strings.Cut(c.Get(fiber.HeaderAuthorization), " "); strings.EqualFold(scheme, "Bearer") {
		token = strings.TrimSpace(cred)
	} else if h := c.Get("X-Access-Token"); h != "" {
		token = strings.TrimSpace(h)
	} else if ck := c.Cookies(s.cookies.access); ck != "" {
		token = ck
	} else {
		return "", errNoToken
	}
	if token == "" || len(token) > maxTokenLength {
		return "", errInvalidToken
	}
	return token, nil
}

// requireAuth authenticates the request and keeps the Principal in c.Locals.
func (s *Server) requireAuth(c *fiber.Ctx) error {
	c.Locals(ctxProtected, true)
	token, err := s.accessToken(c)
	if err != nil {
		return err
	}
	p, err := s.deps.Authenticate.Handle(c.UserContext(), token)
	if err != nil {
		return err
	}
	c.Locals(ctxPrincipal, p)
	return c.Next()
}

// requireRoles lets the request through when the caller holds at least one of roles and, when
// needMFA, signed in with a second factor: no principal is 401, a missing role 403
// insufficient_role, a session without a second factor 403 mfa_required. It runs after
// requireAuth.
func requireRoles(needMFA bool, roles ...domain.Role) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p, ok := principal(c)
		switch {
		case !ok:
			return errNoToken
		case !slices.ContainsFunc(roles, p.HasRole):
			return errInsufficientRole
		case needMFA && !p.MultiFactor():
			return application.ErrMFARequired
		}
		return c.Next()
	}
}
