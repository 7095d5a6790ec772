package httpapi

// Throttling at the edge: per-route limits by client address (registration, mail) and the
// token-guessing guard. Login is throttled in its use case.

import (
	"github.com/gofiber/fiber/v2"

	"github.com/portcullis-auth/portcullis/application"
)

// limitRoute counts the request against its route's per-address limit (registration, mail) and
// refuses it with 429 once the client address has used it up.
func (s *Server) limitRoute(r application.Route) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if err := s.deps.Throttle.Hit(c.UserContext(), r); err != nil {
			return err
		}
		return c.Next()
	}
}

// guardTokens throttles token guessing on a route that takes a token (refresh, e-mail tokens):
// a client address that presented too many bad tokens is refused with 429 before the token is
// looked at, and each bad token (invalid_token, invalid_refresh_token) counts against it.
func (s *Server) guardTokens(c *fiber.Ctx) error {
	ctx := c.UserContext()
	if err := s.deps.Throttle.CheckGuess(ctx); err != nil {
		return err
	}
	err := c.Next()
	if err != nil {
		if code := mapError(err).problem.Code; code == "invalid_token" || code == "invalid_refresh_token" {
			s.deps.Throttle.GuessFailed(ctx)
		}
	}
	return err
}
