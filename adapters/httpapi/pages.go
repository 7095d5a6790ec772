package httpapi

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"mime"
	"strconv"
	"sync"

	"github.com/gofiber/fiber/v2"

	"github.com/portcullis-auth/portcullis/domain"
)

// The link pages: what the links in verification, reset and e-mail change mails open when no
// front-end takes them over (PORTCULLIS_*_PATH). Each is a small server-rendered page. A GET
// only shows a form, spending nothing — mail scanners open every link before the person does
// — and the form's POST (a plain form post, no script) calls the same use case as the JSON
// route and says what happened. The pages load nothing from anywhere (no scripts, images or
// fonts; one inline style allowed by its hash) under a strict Content-Security-Policy.
// Elements carry stable ids for browser tests: forms #verify-email-form, #reset-password-form,
// #confirm-email-form, their buttons #…-submit, the inputs #new-password and
// #new-password-confirm, an error above a form #form-error (data-code), and the outcome
// #result (data-outcome: verified, password_reset, email_changed, invalid_token, throttled,
// unavailable, email_taken, missing_token).

//go:embed pages
var pageFiles embed.FS

// pageStyle is the pages' only style; the CSP allows exactly it, by hash.
const pageStyle = `body{font-family:system-ui,sans-serif;line-height:1.5;color:#222;background:#f6f7f9;margin:0}` +
	`main{max-width:28em;margin:3em auto;padding:1.5em 2em;background:#fff;border-radius:8px;box-shadow:0 1px 4px #0002}` +
	`h1{font-size:1.4em}label{display:block;margin-top:0.8em}input[type=password]{width:100%;padding:0.5em;box-sizing:border-box}` +
	`button{margin-top:1.2em;padding:0.6em 1.2em;font-size:1em;background:#2457c5;color:#fff;border:0;border-radius:4px;cursor:pointer}` +
	`.error{color:#b00020}.ok{color:#1b6e2a}`

// pageCSP lets a page show its own style and post its form to itself, and nothing else.
var pageCSP = func() string {
	sum := sha256.Sum256([]byte(pageStyle))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
		"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
}()

// pageTemplates are the three pages, each with the layout, parsed on the first page shown rather
// than at start: only the emailed links open them.
var pageTemplates = sync.OnceValue(func() map[string]*template.Template {
	out := map[string]*template.Template{}
	for _, name := range []string{"verify", "reset", "confirm"} {
		out[name] = template.Must(template.New("").ParseFS(pageFiles, "pages/layout.html", "pages/"+name+".html"))
	}
	return out
})

// pageData is what a page template sees.
type pageData struct {
	Page, Title, Action, Token string
	Style                      template.CSS
	// Outcome is set once the action ran (or could not): a stable word, and Message for people.
	Outcome, Message string
	OK               bool
	// Error and ErrorCode explain why the form is shown again.
	Error, ErrorCode string
}

// linkPage is one kind of link page.
type linkPage struct {
	name, title string
	// run spends the token (with the form's other values) and returns the success outcome.
	run func(c *fiber.Ctx, token string) (outcome, message string, err error)
}

func (s *Server) linkPages() map[string]linkPage {
	return map[string]linkPage{
		"/verify-email": {name: "verify", title: "Verify your e-mail address",
			run: func(c *fiber.Ctx, token string) (string, string, error) {
				return "verified", "Your e-mail address is verified. You can close this page.",
					s.deps.VerifyEmail.Handle(c.UserContext(), token)
			}},
		"/reset-password": {name: "reset", title: "Choose a new password",
			run: func(c *fiber.Ctx, token string) (string, string, error) {
				pw := c.FormValue("new_password")
				if pw != c.FormValue("new_password_confirm") {
					v := &domain.ValidationError{}
					v.Add("new_password_confirm", "passwords_differ", "The two passwords differ.")
					return "", "", v
				}
				return "password_reset", "Your password has been changed and every session signed out. Sign in with the new password.",
					s.deps.PasswordReset.Reset(c.UserContext(), token, pw)
			}},
		"/confirm-email": {name: "confirm", title: "Confirm your new e-mail address",
			run: func(c *fiber.Ctx, token string) (string, string, error) {
				return "email_changed", "Your account now uses this e-mail address.",
					s.deps.ChangeEmail.Confirm(c.UserContext(), token)
			}},
	}
}

// showLinkPage: GET /verify-email?token=… (and the others) shows the page's form. It spends
// nothing.
func (s *Server) showLinkPage(p linkPage) fiber.Handler {
	return func(c *fiber.Ctx) error {
		d := s.newPageData(c, p)
		d.Token = c.Query("token")
		if d.Token == "" || len(d.Token) > maxTokenLength {
			d.Outcome, d.Message = "missing_token", "This link is incomplete. Open the whole link from the message, or ask for a new one."
			return s.renderPage(c, p, d, fiber.StatusBadRequest)
		}
		return s.renderPage(c, p, d, fiber.StatusOK)
	}
}

// submitLinkPage: POST /verify-email (and the others), a form post from the page, runs the
// action and shows its outcome.
func (s *Server) submitLinkPage(p linkPage) fiber.Handler {
	return func(c *fiber.Ctx) error {
		d := s.newPageData(c, p)
		d.Token = c.FormValue("token")
		if d.Token == "" || len(d.Token) > maxTokenLength {
			d.Outcome, d.Message = "invalid_token", "This link is invalid or has expired. Ask for a new one."
			return s.renderPage(c, p, d, fiber.StatusBadRequest)
		}
		// Token guessing is throttled here as guardTokens does for the JSON routes: this handler
		// answers its errors itself.
		ctx := c.UserContext()
		err := s.deps.Throttle.CheckGuess(ctx)
		var outcome, message string
		if err == nil {
			outcome, message, err = p.run(c, d.Token)
			if errors.Is(err, domain.ErrInvalidOneTimeToken) {
				s.deps.Throttle.GuessFailed(ctx)
			}
		}
		if err == nil {
			d.Outcome, d.Message, d.OK = outcome, message, true
			return s.renderPage(c, p, d, fiber.StatusOK)
		}
		m := mapError(err)
		var ve *domain.ValidationError
		if errors.As(err, &ve) && len(ve.Fields) > 0 {
			// Show the form again (the token was not spent) with the reason.
			d.Error, d.ErrorCode = ve.Fields[0].Message, ve.Fields[0].Code
			if d.Error != "" && d.Error[0] >= 'a' && d.Error[0] <= 'z' {
				d.Error = "The password " + d.Error + "."
			}
			return s.renderPage(c, p, d, m.problem.Status)
		}
		switch {
		case m.problem.Code == "invalid_token":
			d.Outcome, d.Message = "invalid_token", "This link is invalid, used or expired. Ask for a new one."
		case m.problem.Status == fiber.StatusTooManyRequests:
			d.Outcome, d.Message = "throttled", "Too many attempts from here. Wait a few minutes, then try again."
			if m.throttle != nil {
				setThrottleHeaders(c, m.throttle)
			}
		case m.problem.Code == "email_taken":
			d.Outcome, d.Message = "email_taken", "Another account uses this address now, so the change could not be made."
		case m.problem.Status == fiber.StatusServiceUnavailable:
			d.Outcome, d.Message = "unavailable", "The service is busy or down. Try again in a moment: the link still works."
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(retryAfterSeconds))
		default:
			return err // the error handler answers (and logs) it
		}
		if m.log {
			s.log.WarnContext(c.UserContext(), "link page failed", "request_id", requestID(c), "error", err.Error())
		}
		return s.renderPage(c, p, d, m.problem.Status)
	}
}

func (s *Server) newPageData(c *fiber.Ctx, p linkPage) pageData {
	return pageData{Page: p.name, Title: p.title, Action: c.Path(), Style: template.CSS(pageStyle)}
}

// renderPage writes page p with d and its own CSP (the API's forbids any style).
func (s *Server) renderPage(c *fiber.Ctx, p linkPage, d pageData, status int) error {
	var buf bytes.Buffer
	if err := pageTemplates()[p.name].ExecuteTemplate(&buf, "layout", d); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentSecurityPolicy, pageCSP)
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Status(status).Send(buf.Bytes())
}

// isFormPost reports a POST of an HTML form to one of the link pages, which requireJSON lets
// through.
func (s *Server) isFormPost(c *fiber.Ctx) bool {
	if _, ok := s.pages[c.Path()]; !ok || c.Method() != fiber.MethodPost {
		return false
	}
	mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	return err == nil && mt == fiber.MIMEApplicationForm
}
