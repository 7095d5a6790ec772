package passkey

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"go.uber.org/fx"
	"golang.org/x/net/publicsuffix"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// Module provides the RelyingParty as the ports.WebAuthn from a Config.
var Module = fx.Module("passkey",
	fx.Provide(fx.Annotate(New, fx.As(new(ports.WebAuthn)))),
)

// Config names the relying party.
type Config struct {
	// RPID is the relying-party id: the domain passkeys are bound to (PORTCULLIS_PUBLIC_URL's
	// host unless configured). A passkey made for one id never signs for another.
	RPID string
	// Origins are the web origins allowed to run ceremonies (scheme://host[:port]); an
	// assertion made on any other page is refused.
	Origins []string
	// Name is the relying party's name as authenticators show it.
	Name string
	// Timeout is how long the browser lets the user answer; the ceremony's challenge lives as
	// long in the challenge store.
	Timeout time.Duration
}

// RelyingParty is the go-webauthn ports.WebAuthn. Safe for concurrent use.
type RelyingParty struct {
	w *webauthn.WebAuthn // nil when Off
}

// Off reports whether passkeys are off (the relying-party id is an IP address): every ceremony
// then fails with ports.ErrPasskeysOff, and the rest of the service runs.
func (rp *RelyingParty) Off() bool { return rp.w == nil }

var _ ports.WebAuthn = (*RelyingParty)(nil)

// New checks cfg (CheckOrigins, CheckRPID) and returns its relying party.
func New(cfg Config) (*RelyingParty, error) {
	if cfg.Name == "" {
		cfg.Name = "Portcullis"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Minute
	}
	if err := CheckOrigins(cfg.Origins); err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	if err := CheckRPID(cfg.RPID, cfg.Origins); err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	if isIP(cfg.RPID) {
		// Reached by address (a test rig, a bare server): no domain to bind passkeys to.
		return &RelyingParty{}, nil
	}
	timeouts := webauthn.TimeoutConfig{Timeout: cfg.Timeout, TimeoutUVD: cfg.Timeout}
	w, err := webauthn.New(&webauthn.Config{
		RPID:          cfg.RPID,
		RPDisplayName: cfg.Name,
		RPOrigins:     cfg.Origins,
		// The challenge store enforces expiry, on the application's clock.
		Timeouts: webauthn.TimeoutsConfig{Login: timeouts, Registration: timeouts},
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	return &RelyingParty{w: w}, nil
}

// CheckOrigins is the rule of the origins allowed to run ceremonies (PORTCULLIS_PASSKEY_ORIGINS,
// which config checks with it): at least one, each a web origin, http(s)://host[:port] and
// nothing more.
func CheckOrigins(origins []string) error {
	if len(origins) == 0 {
		return errors.New("no origin allowed")
	}
	for _, o := range origins {
		if _, err := originHost(o); err != nil {
			return err
		}
	}
	return nil
}

// CheckRPID is WebAuthn's rule of the relying-party id (PORTCULLIS_PASSKEY_RP_ID, which config
// checks with it): a domain that is, for every origin allowed, the origin's host or a
// registrable domain the host is under (a parent domain that is not a public suffix: example.com
// for auth.example.com, never com, co.uk or github.io). A browser refuses a ceremony for any
// other id, so passkeys could not work. An IP address is taken: passkeys are then off (New).
// Origins that are not origins are CheckOrigins's to report, and passed over here.
func CheckRPID(rpID string, origins []string) error {
	if isIP(rpID) {
		return nil
	}
	if rpID == "" || strings.ContainsAny(rpID, ":/") {
		return fmt.Errorf("relying-party id %q is not a domain", rpID)
	}
	for _, o := range origins {
		host, err := originHost(o)
		if err != nil || host == rpID {
			continue
		}
		if !strings.HasSuffix(host, "."+rpID) {
			return fmt.Errorf("relying-party id %q is neither the host of the origin %s nor a parent domain of it", rpID, o)
		}
		if _, err := publicsuffix.EffectiveTLDPlusOne(rpID); err != nil {
			return fmt.Errorf("relying-party id %q is a public suffix, which no site may bind passkeys to (origin %s)", rpID, o)
		}
	}
	return nil
}

// originHost is the host of origin o in lower case, or why o is not an origin.
func originHost(o string) (string, error) {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%q is not an origin like https://app.example.com", o)
	}
	return strings.ToLower(u.Hostname()), nil
}

// isIP reports whether a relying-party id is an IP address (bracketed or not).
func isIP(rpID string) bool { return net.ParseIP(strings.Trim(rpID, "[]")) != nil }

// user is a webauthn.User of one account and the credentials a ceremony considers.
type user struct {
	u     ports.PasskeyUser
	creds []webauthn.Credential
}

func (u user) WebAuthnID() []byte                         { return []byte(u.u.ID) }
func (u user) WebAuthnName() string                       { return u.u.Name }
func (u user) WebAuthnDisplayName() string                { return u.u.DisplayName }
func (u user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// credentials decodes the records of ps.
func credentials(ps []domain.Passkey) ([]webauthn.Credential, error) {
	out := make([]webauthn.Credential, 0, len(ps))
	for _, p := range ps {
		var c webauthn.Credential
		if err := json.Unmarshal(p.Credential, &c); err != nil {
			return nil, fmt.Errorf("decode passkey %s: %w", p.ID, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// refused wraps a failed check as domain.ErrInvalidCredentials, keeping the library's reason
// (for logs) in the message.
func refused(err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Details != "" {
		return fmt.Errorf("passkey refused: %s: %s: %w", pe.Type, pe.Details, domain.ErrInvalidCredentials)
	}
	return fmt.Errorf("passkey refused: %v: %w", err, domain.ErrInvalidCredentials)
}

// BeginRegistration asks for a discoverable credential (so it can log in alone), with user
// verification preferred, excluding the user's existing credentials.
func (rp *RelyingParty) BeginRegistration(pu ports.PasskeyUser, existing []domain.Passkey) ([]byte, []byte, error) {
	if rp.Off() {
		return nil, nil, ports.ErrPasskeysOff
	}
	creds, err := credentials(existing)
	if err != nil {
		return nil, nil, err
	}
	creation, session, err := rp.w.BeginRegistration(user{u: pu},
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification: protocol.VerificationPreferred,
		}),
		webauthn.WithExclusions(webauthn.Credentials(creds).CredentialDescriptors()))
	if err != nil {
		return nil, nil, fmt.Errorf("begin passkey registration: %w", err)
	}
	return encode(creation, session)
}

// FinishRegistration checks an attestation response.
func (rp *RelyingParty) FinishRegistration(pu ports.PasskeyUser, state, response []byte) (domain.Passkey, error) {
	if rp.Off() {
		return domain.Passkey{}, ports.ErrPasskeysOff
	}
	var session webauthn.SessionData
	if err := json.Unmarshal(state, &session); err != nil {
		return domain.Passkey{}, fmt.Errorf("decode registration state: %w", err)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return domain.Passkey{}, refused(err)
	}
	cred, err := rp.w.CreateCredential(user{u: pu}, session, parsed)
	if err != nil {
		return domain.Passkey{}, refused(err)
	}
	record, err := json.Marshal(cred)
	if err != nil {
		return domain.Passkey{}, fmt.Errorf("encode passkey: %w", err)
	}
	return domain.Passkey{CredentialID: cred.ID, SignCount: cred.Authenticator.SignCount, Credential: record}, nil
}

// BeginLogin makes request options: discoverable (user verification required) or for the
// user's passkeys (preferred).
func (rp *RelyingParty) BeginLogin(pu *ports.PasskeyUser, allowed []domain.Passkey) ([]byte, []byte, error) {
	if rp.Off() {
		return nil, nil, ports.ErrPasskeysOff
	}
	if pu == nil {
		assertion, session, err := rp.w.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
		if err != nil {
			return nil, nil, fmt.Errorf("begin passkey login: %w", err)
		}
		return encode(assertion, session)
	}
	creds, err := credentials(allowed)
	if err != nil {
		return nil, nil, err
	}
	assertion, session, err := rp.w.BeginLogin(user{u: *pu, creds: creds},
		webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, nil, fmt.Errorf("begin passkey login: %w", err)
	}
	return encode(assertion, session)
}

// AssertionCredential parses an assertion for the ids it claims.
func (rp *RelyingParty) AssertionCredential(response []byte) ([]byte, string, error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, "", refused(err)
	}
	return parsed.RawID, string(parsed.Response.UserHandle), nil
}

// FinishLogin checks an assertion by p.
func (rp *RelyingParty) FinishLogin(pu ports.PasskeyUser, p domain.Passkey, state, response []byte) (ports.PasskeyAssertion, error) {
	if rp.Off() {
		return ports.PasskeyAssertion{}, ports.ErrPasskeysOff
	}
	var session webauthn.SessionData
	if err := json.Unmarshal(state, &session); err != nil {
		return ports.PasskeyAssertion{}, fmt.Errorf("decode login state: %w", err)
	}
	creds, err := credentials([]domain.Passkey{p})
	if err != nil {
		return ports.PasskeyAssertion{}, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return ports.PasskeyAssertion{}, refused(err)
	}
	u := user{u: pu, creds: creds}
	var cred *webauthn.Credential
	if len(session.UserID) == 0 {
		cred, err = rp.w.ValidateDiscoverableLogin(func(_, handle []byte) (webauthn.User, error) {
			if string(handle) != pu.ID {
				return nil, errors.New("the user handle is another user's")
			}
			return u, nil
		}, session, parsed)
	} else {
		cred, err = rp.w.ValidateLogin(u, session, parsed)
	}
	if err != nil {
		return ports.PasskeyAssertion{}, refused(err)
	}
	// The library keeps the old count and raises CloneWarning when the count does not advance;
	// the record stores the count the authenticator sent, and the caller judges it.
	count := parsed.Response.AuthenticatorData.Counter
	cred.Authenticator.SignCount, cred.Authenticator.CloneWarning = count, false
	record, err := json.Marshal(cred)
	if err != nil {
		return ports.PasskeyAssertion{}, fmt.Errorf("encode passkey: %w", err)
	}
	return ports.PasskeyAssertion{SignCount: count, UserVerified: parsed.Response.AuthenticatorData.Flags.HasUserVerified(),
		Credential: record}, nil
}

func encode(options, session any) ([]byte, []byte, error) {
	o, err := json.Marshal(options)
	if err != nil {
		return nil, nil, fmt.Errorf("encode options: %w", err)
	}
	s, err := json.Marshal(session)
	if err != nil {
		return nil, nil, fmt.Errorf("encode ceremony state: %w", err)
	}
	return o, s, nil
}
