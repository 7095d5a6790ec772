package httpapi

import (
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/portcullis-auth/portcullis/application"
)

// The JSON shapes of requests and responses. Requests are decoded strictly (decode.go);
// responses never carry a password hash. Times are RFC 3339 in UTC with second precision.
// An unset username or name is the empty string, never null, so a client needs no null checks
// and "" means "not set" both ways (PATCH /api/users/me with "username": "" removes it).

type registerRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
	Username string `json:"username"`
}

type loginRequest struct {
	Email    *string `json:"email"`
	Username *string `json:"username"`
	Password *string `json:"password"`
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

type logoutRequest struct {
	RefreshToken string `json:"refresh_token"`
}

type updateProfileRequest struct {
	Name     *string `json:"name"`
	Username *string `json:"username"`
}

type changePasswordRequest struct {
	CurrentPassword *string `json:"current_password"`
	NewPassword     *string `json:"new_password"`
}

// userDTO is the public view of a user.
type userDTO struct {
	ID            string   `json:"id"`
	Email         string   `json:"email"`
	EmailVerified bool     `json:"email_verified"`
	Username      string   `json:"username"`
	Name          string   `json:"name"`
	Roles         []string `json:"roles"`
	CreatedAt     string   `json:"created_at"`
	UpdatedAt     string   `json:"updated_at"`
}

type userResponse struct {
	User userDTO `json:"user"`
}

// tokensResponse answers a login (with user) or a refresh (without).
type tokensResponse struct {
	AccessToken      string   `json:"access_token"`
	TokenType        string   `json:"token_type"`
	ExpiresIn        int64    `json:"expires_in"`
	RefreshToken     string   `json:"refresh_token"`
	RefreshExpiresIn int64    `json:"refresh_expires_in"`
	User             *userDTO `json:"user,omitempty"`
}

type sessionDTO struct {
	ID         string `json:"id"`
	CreatedAt  string `json:"created_at"`
	LastUsedAt string `json:"last_used_at"`
	ExpiresAt  string `json:"expires_at"`
	IP         string `json:"ip"`
	UserAgent  string `json:"user_agent"`
	Current    bool   `json:"current"`
	// AMR lists how the session was authenticated: "pwd", "otp" (TOTP or recovery code), "hwk"
	// (passkey), "user" (the authenticator verified its user).
	AMR []string `json:"amr"`
}

type sessionsResponse struct {
	Sessions []sessionDTO `json:"sessions"`
}

type messageResponse struct {
	Message string `json:"message"`
}

type statusResponse struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks,omitempty"`
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func toUserDTO(u application.UserView) userDTO {
	roles := make([]string, len(u.Roles))
	for i, r := range u.Roles {
		roles[i] = string(r)
	}
	return userDTO{
		ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, Username: u.Username, Name: u.Name,
		Roles: roles, CreatedAt: formatTime(u.CreatedAt), UpdatedAt: formatTime(u.UpdatedAt),
	}
}

func toSessionDTOs(list []application.SessionView) []sessionDTO {
	out := make([]sessionDTO, len(list))
	for i, s := range list {
		out[i] = sessionDTO{
			ID: s.ID, CreatedAt: formatTime(s.CreatedAt), LastUsedAt: formatTime(s.LastUsedAt),
			ExpiresAt: formatTime(s.ExpiresAt), IP: s.IP, UserAgent: s.UserAgent, Current: s.Current,
			AMR: nonNil(s.AMR),
		}
	}
	return out
}

// nonNil makes a nil list an empty one, so JSON has [] rather than null.
func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// mfaRequiredResponse answers a password login of a user with a second factor: no tokens, no
// cookies, an mfa_token for POST /api/auth/mfa/verify.
type mfaRequiredResponse struct {
	MFARequired bool     `json:"mfa_required"`
	MFAToken    string   `json:"mfa_token"`
	Methods     []string `json:"methods"`
	ExpiresIn   int64    `json:"expires_in"`
}

type mfaVerifyRequest struct {
	MFAToken     string         `json:"mfa_token"`
	Code         string         `json:"code"`
	RecoveryCode string         `json:"recovery_code"`
	Passkey      jsontext.Value `json:"passkey"` // a PublicKeyCredential (assertion) as JSON
}

type totpEnrolResponse struct {
	Secret     string `json:"secret"`
	OTPAuthURI string `json:"otpauth_uri"`
	QRPNG      []byte `json:"qr_png"` // base64 (standard, padded) PNG
}

type codeRequest struct {
	Code string `json:"code"`
}

type passwordCodeRequest struct {
	Password string `json:"password"`
	Code     string `json:"code"`
}

type passwordRequest struct {
	Password string `json:"password"`
}

type recoveryCodesResponse struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

type mfaStatusResponse struct {
	TOTP          string   `json:"totp"` // none, pending or enabled
	RecoveryCodes int      `json:"recovery_codes_left"`
	Methods       []string `json:"methods"`
}
