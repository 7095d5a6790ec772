package jwxtoken

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/portcullis-auth/portcullis/domain"
)

// wireClaims is the JSON payload of an access token, both ways. Verify presets the numeric
// dates to missingDate to tell a missing claim from zero.
type wireClaims struct {
	Iss   string        `json:"iss"`
	Sub   string        `json:"sub"`
	Aud   string        `json:"aud"`
	Sid   string        `json:"sid"`
	Roles []domain.Role `json:"roles"`
	Iat   int64         `json:"iat"`
	Nbf   int64         `json:"nbf"`
	Exp   int64         `json:"exp"`
	Jti   string        `json:"jti"`
	AMR   []string      `json:"amr,omitempty"` // RFC 8176 authentication methods
	ACR   string        `json:"acr,omitempty"`
}

// Issue signs c with the key active now and returns the compact JWS. iat and nbf are
// c.IssuedAt, exp is c.ExpiresAt (both truncated to seconds); a missing c.ID gets a random jti.
// Claims without subject or session, or that would outlive Config.AccessTTL, are refused.
func (t *Tokens) Issue(_ context.Context, c domain.AccessClaims) (string, error) {
	iat, exp := c.IssuedAt.Unix(), c.ExpiresAt.Unix()
	switch {
	case c.Subject == "" || c.SessionID == "":
		return "", errors.New("issue access token: subject and session are required")
	case exp <= iat:
		return "", errors.New("issue access token: it expires before it is issued")
	case exp-iat > t.ttlSecs:
		return "", fmt.Errorf("issue access token: lifetime %ds exceeds the access TTL %s", exp-iat, t.cfg.AccessTTL)
	}
	key, err := t.ring.Load().signerAt(t.clock.Now())
	if err != nil {
		return "", fmt.Errorf("issue access token: %w", err)
	}
	jti := c.ID
	if jti == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("issue access token: jti: %w", err)
		}
		jti = base64.RawURLEncoding.EncodeToString(b[:])
	}
	roles := c.Roles
	if roles == nil {
		roles = []domain.Role{}
	}
	payload, err := json.Marshal(wireClaims{
		Iss: t.cfg.Issuer, Sub: c.Subject, Aud: t.cfg.Audience, Sid: c.SessionID, Roles: roles,
		Iat: iat, Nbf: iat, Exp: exp, Jti: jti, AMR: c.AMR, ACR: c.ACR,
	})
	if err != nil {
		return "", fmt.Errorf("issue access token: encode claims: %w", err)
	}
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(key.prefix)+enc.EncodedLen(len(payload))+1+enc.EncodedLen(512))
	buf = append(buf, key.prefix...)
	buf = enc.AppendEncode(buf, payload)
	sig, err := key.signer.Sign(buf, key.priv)
	if err != nil {
		return "", fmt.Errorf("issue access token: sign: %w", err)
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}
