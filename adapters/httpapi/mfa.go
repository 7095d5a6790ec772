package httpapi

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/domain"
)

// Second factors: completing a login with a code, and a user's own TOTP authenticator and
// recovery codes. The rules (skew, replay, throttling) are the use cases'.

// sendLogin answers a login: tokens and cookies, or, for a user with a second factor, the
// mfa_token and no cookie.
func (s *Server) sendLogin(c *fiber.Ctx, out application.TokensOutput) error {
	if out.MFA == nil {
		return s.sendTokens(c, out)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderPragma, "no-cache")
	return c.JSON(mfaRequiredResponse{
		MFARequired: true, MFAToken: out.MFA.Token, Methods: out.MFA.Methods,
		ExpiresIn: int64(out.MFA.ExpiresAt.Sub(out.MFA.IssuedAt) / time.Second),
	})
}

// mfaVerify: POST /api/auth/mfa/verify {mfa_token, code | recovery_code} → 200 tokens + cookies.
func (s *Server) mfaVerify(c *fiber.Ctx) error {
	var in mfaVerifyRequest
	if err := decodeJSON(c.Request().Body(), &in); err != nil {
		return err
	}
	v := &domain.ValidationError{}
	if in.MFAToken == "" {
		v.Add("mfa_token", "required", "is required")
	}
	given := 0
	for _, set := range []bool{in.Code != "", in.RecoveryCode != "", len(in.Passkey) > 0} {
		if set {
			given++
		}
	}
	if given != 1 {
		v.Add("code", "required", "give exactly one of code, recovery_code and passkey")
	}
	if len(in.Passkey) > 0 && in.Passkey.Kind() != '{' {
		v.Add("passkey", "invalid", "must be the PublicKeyCredential as a JSON object")
	}
	if err := v.Err(); err != nil {
		return err
	}
	if len(in.MFAToken) > maxTokenLength || len(in.Code) > 64 || len(in.RecoveryCode) > 64 || len(in.Passkey) > maxCredentialJSON {
		return application.ErrInvalidCode
	}
	out, err := s.deps.MFAVerify.Handle(c.UserContext(), application.MFAVerifyInput{
		MFAToken: in.MFAToken, Code: in.Code, RecoveryCode: in.RecoveryCode, Passkey: in.Passkey,
	})
	if err != nil {
		return err
	}
	return s.sendTokens(c, out)
}

// mfaStatus: GET /api/users/me/mfa → 200 {totp, recovery_codes_left, methods}.
func (s *Server) mfaStatus(c *fiber.Ctx) error {
	p, _ := principal(c)
	out, err := s.deps.TOTP.Status(c.UserContext(), p.UserID)
	if err != nil {
		return err
	}
	return c.JSON(mfaStatusResponse{TOTP: out.TOTP, RecoveryCodes: out.RecoveryCodes, Methods: nonNil(out.Methods)})
}

// totpEnrol: POST /api/users/me/mfa/totp {password} → 200 {secret, otpauth_uri, qr_png};
// pending until confirmed.
func (s *Server) totpEnrol(c *fiber.Ctx) error {
	var in passwordRequest
	if err := decodeJSON(c.Request().Body(), &in); err != nil {
		return err
	}
	p, _ := principal(c)
	out, err := s.deps.TOTP.Enrol(c.UserContext(), p, in.Password)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(totpEnrolResponse{Secret: out.Secret, OTPAuthURI: out.URI, QRPNG: out.QRPNG})
}

// totpConfirm: POST /api/users/me/mfa/totp/confirm {code} → 200 {recovery_codes}, shown once.
func (s *Server) totpConfirm(c *fiber.Ctx) error {
	var in codeRequest
	if err := decodeJSON(c.Request().Body(), &in); err != nil {
		return err
	}
	if in.Code == "" {
		return missingField("code")
	}
	p, _ := principal(c)
	codes, err := s.deps.TOTP.Confirm(c.UserContext(), p, in.Code)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(recoveryCodesResponse{RecoveryCodes: codes})
}

// totpDisable: DELETE /api/users/me/mfa/totp {password, code} → 204.
func (s *Server) totpDisable(c *fiber.Ctx) error {
	var in passwordCodeRequest
	if err := decodeJSON(c.Request().Body(), &in); err != nil {
		return err
	}
	v := &domain.ValidationError{}
	if in.Password == "" {
		v.Add("password", "required", "is required")
	}
	if in.Code == "" {
		v.Add("code", "required", "is required")
	}
	if err := v.Err(); err != nil {
		return err
	}
	p, _ := principal(c)
	if err := s.deps.TOTP.Disable(c.UserContext(), p.UserID, p.SessionID, in.Password, in.Code); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// recoveryCodes: POST /api/users/me/mfa/recovery-codes {password} → 200 {recovery_codes},
// replacing the old ones.
func (s *Server) recoveryCodes(c *fiber.Ctx) error {
	var in passwordRequest
	if err := decodeJSON(c.Request().Body(), &in); err != nil {
		return err
	}
	p, _ := principal(c)
	codes, err := s.deps.TOTP.RegenerateRecoveryCodes(c.UserContext(), p, in.Password)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(recoveryCodesResponse{RecoveryCodes: codes})
}

// resetFactors: DELETE /api/users/{id}/mfa (admin) → 204; removes every second factor.
func (s *Server) resetFactors(c *fiber.Ctx) error {
	p, _ := principal(c)
	if err := s.deps.TOTP.Reset(c.UserContext(), p, c.Params("id")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func missingField(name string) error {
	v := &domain.ValidationError{}
	v.Add(name, "required", "is required")
	return v
}
