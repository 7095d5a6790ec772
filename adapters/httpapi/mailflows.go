package httpapi

import (
	"github.com/gofiber/fiber/v2"

	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/domain"
)

// The e-mail flows' JSON routes: verification, password reset and e-mail change. The link
// pages that call the same use cases are in pages.go.

type tokenRequest struct {
	Token *string `json:"token"`
}

type emailRequest struct {
	Email *string `json:"email"`
}

type resetPasswordRequest struct {
	Token       *string `json:"token"`
	NewPassword *string `json:"new_password"`
}

type changeEmailRequest struct {
	NewEmail *string `json:"new_email"`
	Password *string `json:"password"`
}

// acceptedMail is the one body of every 202 that queued mail, or would have: it must not tell
// whether an account has the address.
var acceptedMail = messageResponse{Message: "If the address can receive it, a message is on its way."}

// requiredField is one field a request must carry, not empty.
type requiredField struct {
	name string
	v    *string
}

// required checks that each field is present and not empty.
func required(fields ...requiredField) error {
	v := &domain.ValidationError{}
	for _, f := range fields {
		if f.v == nil || *f.v == "" {
			v.Add(f.name, "required", "is required")
		}
	}
	return v.Err()
}

// verifyEmail: POST /api/auth/verify-email {token} → 204.
func (s *Server) verifyEmail(c *fiber.Ctx) error {
	var in tokenRequest
	if err := decodeJSON(c.Request().Body(), &in); err != nil {
		return err
	}
	if err := required(requiredField{"token", in.Token}); err != nil {
		return err
	}
	if err := s.deps.VerifyEmail.Handle(c.UserContext(), *in.Token); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// resendVerification: POST /api/auth/verify-email/resend {email} → 202, whoever owns it.
func (s *Server) resendVerification(c *fiber.Ctx) error {
	var in emailRequest
	if err := decodeJSON(c.Request().Body(), &in); err != nil {
		return err
	}
	if err := required(requiredField{"email", in.Email}); err != nil {
		return err
	}
	if err := s.deps.VerifyEmail.Resend(c.UserContext(), *in.Email); err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(acceptedMail)
}

// forgotPassword: POST /api/auth/password/forgot {email} → 202, whoever owns it.
func (s *Server) forgotPassword(c *fiber.Ctx) error {
	var in emailRequest
	if err := decodeJSON(c.Request().Body(), &in); err != nil {
		return err
	}
	if err := required(requiredField{"email", in.Email}); err != nil {
		return err
	}
	if err := s.deps.PasswordReset.Forgot(c.UserContext(), *in.Email); err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(acceptedMail)
}

// resetPassword: POST /api/auth/password/reset {token, new_password} → 204. No session is
// opened: the client logs in with the new password.
func (s *Server) resetPassword(c *fiber.Ctx) error {
	var in resetPasswordRequest
	if err := decodeJSON(c.Request().Body(), &in); err != nil {
		return err
	}
	if err := required(requiredField{"token", in.Token}, requiredField{"new_password", in.NewPassword}); err != nil {
		return err
	}
	if err := s.deps.PasswordReset.Reset(c.UserContext(), *in.Token, *in.NewPassword); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// changeEmail: POST /api/users/me/email {new_email, password} → 202.
func (s *Server) changeEmail(c *fiber.Ctx) error {
	var in changeEmailRequest
	if err := decodeJSON(c.Request().Body(), &in); err != nil {
		return err
	}
	if err := required(requiredField{"new_email", in.NewEmail}, requiredField{"password", in.Password}); err != nil {
		return err
	}
	p, _ := principal(c)
	err := s.deps.ChangeEmail.Request(c.UserContext(), application.ChangeEmailInput{
		UserID: p.UserID, NewEmail: *in.NewEmail, Password: *in.Password})
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(acceptedMail)
}

// confirmEmail: POST /api/auth/email/confirm {token} → 204.
func (s *Server) confirmEmail(c *fiber.Ctx) error {
	var in tokenRequest
	if err := decodeJSON(c.Request().Body(), &in); err != nil {
		return err
	}
	if err := required(requiredField{"token", in.Token}); err != nil {
		return err
	}
	if err := s.deps.ChangeEmail.Confirm(c.UserContext(), *in.Token); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// resendUserVerification: POST /api/users/{id}/verification-email → 202 (admins).
func (s *Server) resendUserVerification(c *fiber.Ctx) error {
	p, _ := principal(c)
	if err := s.deps.Admin.ResendVerification(c.UserContext(), p, c.Params("id")); err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(messageResponse{Message: "A new verification message is on its way."})
}
