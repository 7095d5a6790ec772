package httpapi

import (
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/portcullis-auth/portcullis/application"
)

// Cookie paths. The refresh token is only ever sent to the auth routes.
const (
	accessCookiePath  = "/"
	refreshCookiePath = "/api/auth"
)

// cookieNames are the names of our three cookies. With Secure cookies they carry the
// __Host- prefix (Secure, Path=/, no Domain) or, for the refresh token whose Path is narrower,
// the __Secure- prefix (SECURITY E38).
type cookieNames struct {
	access, refresh, loggedIn string
	secure                    bool
}

func newCookieNames(secure bool) cookieNames {
	if secure {
		return cookieNames{access: "__Host-access_token", refresh: "__Secure-refresh_token", loggedIn: "__Host-logged_in", secure: true}
	}
	return cookieNames{access: "access_token", refresh: "refresh_token", loggedIn: "logged_in"}
}

func (n cookieNames) all() []string { return []string{n.access, n.refresh, n.loggedIn} }

// refreshCookie returns the value of the refresh cookie ("" when there is none), or
// errTwoRefreshCookies when the request carries more than one. Ours is host-only, so a second
// one of its name was set by another site of the parent domain (Domain=, and a longer Path so
// that the browser sends it first): the __Secure- prefix, unlike __Host-, does not stop that.
// Taking the first would rotate that site's token into this browser (the visitor signed in to
// someone else's session, theirs replaced); neither can be told to be ours, so both are refused.
func (s *Server) refreshCookie(c *fiber.Ctx) (string, error) {
	var (
		value string
		n     int
	)
	c.Request().Header.VisitAllCookie(func(k, v []byte) {
		if string(k) == s.cookies.refresh {
			value = string(v)
			n++
		}
	})
	if n > 1 {
		return "", errTwoRefreshCookies
	}
	return value, nil
}

// setCookie appends one Set-Cookie header. net/http's Cookie renders the attributes exactly
// (including Max-Age=0 and an Expires in the past when clearing) and sanitises the value.
func setCookie(c *fiber.Ctx, ck *http.Cookie) {
	c.Response().Header.Add(fiber.HeaderSetCookie, ck.String())
}

// setSessionCookies sets the access, refresh and logged_in cookies for out. Lifetimes are
// counted from the moment the tokens were issued (out.IssuedAt, by the application's clock).
func (s *Server) setSessionCookies(c *fiber.Ctx, out application.TokensOutput) {
	accessAge := max(int(out.AccessExpiresAt.Sub(out.IssuedAt)/time.Second), 1)
	sessionAge := max(int(out.RefreshExpiresAt.Sub(out.IssuedAt)/time.Second), 1)
	setCookie(c, &http.Cookie{Name: s.cookies.access, Value: out.AccessToken, Path: accessCookiePath,
		MaxAge: accessAge, HttpOnly: true, Secure: s.cookies.secure, SameSite: http.SameSiteLaxMode})
	setCookie(c, &http.Cookie{Name: s.cookies.refresh, Value: out.RefreshToken, Path: refreshCookiePath,
		MaxAge: sessionAge, HttpOnly: true, Secure: s.cookies.secure, SameSite: http.SameSiteStrictMode})
	// Not HttpOnly: it tells the page's scripts that a session exists, and holds no secret.
	setCookie(c, &http.Cookie{Name: s.cookies.loggedIn, Value: "true", Path: accessCookiePath,
		MaxAge: sessionAge, Secure: s.cookies.secure, SameSite: http.SameSiteLaxMode})
}

// clearSessionCookies expires our three cookies with the same attributes they were set with
// (a browser ignores a clearing cookie whose prefix rules it breaks) and asks the browser to
// drop every cookie of this origin (SECURITY E43).
func (s *Server) clearSessionCookies(c *fiber.Ctx) {
	past := time.Unix(0, 0)
	for _, ck := range []*http.Cookie{
		{Name: s.cookies.access, Path: accessCookiePath, HttpOnly: true, SameSite: http.SameSiteLaxMode},
		{Name: s.cookies.refresh, Path: refreshCookiePath, HttpOnly: true, SameSite: http.SameSiteStrictMode},
		{Name: s.cookies.loggedIn, Path: accessCookiePath, SameSite: http.SameSiteLaxMode},
	} {
		ck.MaxAge, ck.Expires, ck.Secure = -1, past, s.cookies.secure
		setCookie(c, ck)
	}
	c.Set("Clear-Site-Data", `"cookies"`)
}
