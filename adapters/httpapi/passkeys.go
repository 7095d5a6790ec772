package httpapi

import (
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/gofiber/fiber/v2"

	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/domain"
)

// Passkeys (WebAuthn): a user's own passkeys, a login by passkey alone, and the options of a
// passkey used as the second factor of a password login (completed at /api/auth/mfa/verify).
// The checks (origin, relying-party id, single-use challenge, signature counter) are the use
// cases' and the WebAuthn adapter's.

// maxCredentialJSON bounds a PublicKeyCredential's JSON (attestation objects carry certificate
// chains; a few KiB in practice).
const maxCredentialJSON = 64 << 10

type passkeyDTO struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	CreatedAt  string  `json:"created_at"`
	LastUsedAt *string `json:"last_used_at"` // null until first used
}

func toPasskeyDTO(p domain.Passkey) passkeyDTO {
	d := passkeyDTO{ID: p.ID, Name: p.Name, CreatedAt: formatTime(p.CreatedAt)}
	if !p.LastUsedAt.IsZero() {
		t := formatTime(p.LastUsedAt)
		d.LastUsedAt = &t
	}
	return d
}

type passkeyResponse struct {
	Passkey passkeyDTO `json:"passkey"`
}

type passkeysResponse struct {
	Passkeys []passkeyDTO `json:"passkeys"`
}

// ceremonyResponse starts a ceremony: options for navigator.credentials.create or .get (their
// publicKey member), and the ceremony's single-use name for the finishing request.
type ceremonyResponse struct {
	Ceremony  string         `json:"ceremony,omitempty"`
	ExpiresIn int64          `json:"expires_in,omitempty"`
	Options   jsontext.Value `json:"options"`
}

type passkeyFinishRequest struct {
	Ceremony   string         `json:"ceremony"`
	Credential jsontext.Value `json:"credential"`
	Name       string         `json:"name"`
}

type passkeyLoginFinishRequest struct {
	Ceremony   string         `json:"ceremony"`
	Credential jsontext.Value `json:"credential"`
}

type passkeyLoginBeginRequest struct {
	MFAToken string `json:"mfa_token"`
}

type passkeyRenameRequest struct {
	Name *string `json:"name"`
}

// checkFinish validates a finishing request's ceremony and credential.
func checkFinish(ceremony string, credential jsontext.Value) error {
	v := &domain.ValidationError{}
	if ceremony == "" {
		v.Add("ceremony", "required", "is required")
	}
	if len(credential) == 0 || credential.Kind() != '{' {
		v.Add("credential", "required", "must be the PublicKeyCredential as a JSON object")
	}
	if err := v.Err(); err != nil {
		return err
	}
	if len(ceremony) > maxTokenLength || len(credential) > maxCredentialJSON {
		return application.ErrInvalidCeremony
	}
	return nil
}

func (s *Server) sendCeremony(c *fiber.Ctx, out application.Ceremony) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(ceremonyResponse{Ceremony: out.Token, ExpiresIn: int64(out.ExpiresAt.Sub(out.IssuedAt) / time.Second),
		Options: out.Options})
}

// passkeyRegisterBegin: POST /api/users/me/passkeys/begin {password} → 200 {ceremony,
// expires_in, options}.
func (s *Server) passkeyRegisterBegin(c *fiber.Ctx) error {
	var in passwordRequest
	if err := decodeJSON(c.Request().Body(), &in); err != nil {
		return err
	}
	p, _ := principal(c)
	out, err := s.deps.Passkeys.BeginRegistration(c.UserContext(), p, in.Password)
	if err != nil {
		return err
	}
	return s.sendCeremony(c, out)
}

// passkeyRegisterFinish: POST /api/users/me/passkeys/finish {ceremony, credential, name?} →
// 201 {passkey}.
func (s *Server) passkeyRegisterFinish(c *fiber.Ctx) error {
	var in passkeyFinishRequest
	if err := decodeJSON(c.Request().Body(), &in); err != nil {
		return err
	}
	if err := checkFinish(in.Ceremony, in.Credential); err != nil {
		return err
	}
	p, _ := principal(c)
	pk, err := s.deps.Passkeys.FinishRegistration(c.UserContext(), p, in.Ceremony, in.Name, in.Credential)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(passkeyResponse{Passkey: toPasskeyDTO(pk)})
}

// passkeyList: GET /api/users/me/passkeys → 200 {passkeys}.
func (s *Server) passkeyList(c *fiber.Ctx) error {
	p, _ := principal(c)
	list, err := s.deps.Passkeys.List(c.UserContext(), p.UserID)
	if err != nil {
		return err
	}
	out := passkeysResponse{Passkeys: make([]passkeyDTO, len(list))}
	for i, pk := range list {
		out.Passkeys[i] = toPasskeyDTO(pk)
	}
	return c.JSON(out)
}

// passkeyRename: PATCH /api/users/me/passkeys/{id} {name} → 200 {passkey}.
func (s *Server) passkeyRename(c *fiber.Ctx) error {
	var in passkeyRenameRequest
	if err := decodeJSON(c.Request().Body(), &in); err != nil {
		return err
	}
	if in.Name == nil {
		return missingField("name")
	}
	p, _ := principal(c)
	pk, err := s.deps.Passkeys.Rename(c.UserContext(), p.UserID, c.Params("id"), *in.Name)
	if err != nil {
		return err
	}
	return c.JSON(passkeyResponse{Passkey: toPasskeyDTO(pk)})
}

// passkeyDelete: DELETE /api/users/me/passkeys/{id} → 204; ends the user's other sessions.
func (s *Server) passkeyDelete(c *fiber.Ctx) error {
	p, _ := principal(c)
	if err := s.deps.Passkeys.Delete(c.UserContext(), p, c.Params("id")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// passkeyLoginBegin: POST /api/auth/passkey/begin → 200 {ceremony, expires_in, options} for a
// login by passkey alone; with {mfa_token}, 200 {options} for the second factor of that
// password login (the answer goes to /api/auth/mfa/verify as passkey).
func (s *Server) passkeyLoginBegin(c *fiber.Ctx) error {
	var in passkeyLoginBeginRequest
	if len(c.Request().Body()) > 0 {
		if err := decodeJSON(c.Request().Body(), &in); err != nil {
			return err
		}
	}
	if in.MFAToken != "" {
		if len(in.MFAToken) > maxTokenLength {
			return application.ErrInvalidMFAToken
		}
		options, err := s.deps.Passkeys.BeginSecondFactor(c.UserContext(), in.MFAToken)
		if err != nil {
			return err
		}
		c.Set(fiber.HeaderCacheControl, "no-store")
		return c.JSON(ceremonyResponse{Options: options})
	}
	out, err := s.deps.Passkeys.BeginLogin(c.UserContext())
	if err != nil {
		return err
	}
	return s.sendCeremony(c, out)
}

// passkeyLoginFinish: POST /api/auth/passkey/finish {ceremony, credential} → 200 tokens +
// cookies.
func (s *Server) passkeyLoginFinish(c *fiber.Ctx) error {
	var in passkeyLoginFinishRequest
	if err := decodeJSON(c.Request().Body(), &in); err != nil {
		return err
	}
	if err := checkFinish(in.Ceremony, in.Credential); err != nil {
		return err
	}
	out, err := s.deps.Passkeys.FinishLogin(c.UserContext(), in.Ceremony, in.Credential)
	if err != nil {
		return err
	}
	return s.sendTokens(c, out)
}
