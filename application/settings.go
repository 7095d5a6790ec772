package application

import "time"

// Settings are the policy values the use cases need, filled from configuration by the
// composition root.
type Settings struct {
	AccessTTL       time.Duration // lifetime of an access token
	SessionIdle     time.Duration // a session not refreshed for this long ends
	SessionAbsolute time.Duration // a session ends this long after login
	RefreshGrace    time.Duration // window in which the predecessor returns the same successor
	Strict          bool          // check the session on every authenticated request
	// RequireVerifiedEmail refuses login to unverified accounts and makes registration answer
	// alike for new and taken addresses.
	RequireVerifiedEmail bool
	TOTPIssuer           string        // issuer shown by authenticator apps; "" is "Portcullis"
	MFATokenTTL          time.Duration // lifetime of an mfa_token; 0 is five minutes
}

func (s Settings) mfaTokenTTL() time.Duration {
	if s.MFATokenTTL <= 0 {
		return 5 * time.Minute
	}
	return s.MFATokenTTL
}

func (s Settings) totpIssuer() string {
	if s.TOTPIssuer == "" {
		return "Portcullis"
	}
	return s.TOTPIssuer
}
