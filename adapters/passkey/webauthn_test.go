package passkey_test

import (
	"errors"
	"testing"

	"github.com/portcullis-auth/portcullis/adapters/passkey"
	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
	"github.com/portcullis-auth/portcullis/test/testenv"
)

const origin = "https://auth.example.com"

func newRP(t *testing.T) *passkey.RelyingParty {
	t.Helper()
	rp, err := passkey.New(passkey.Config{RPID: "auth.example.com", Origins: []string{origin}})
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

var alice = ports.PasskeyUser{ID: "0b5c4e0e-0000-4000-8000-000000000001", Name: "alice@example.com", DisplayName: "Alice"}

// register makes a passkey of alice with the soft authenticator.
func register(t *testing.T, rp *passkey.RelyingParty) (domain.Passkey, *testenv.SoftCredential) {
	t.Helper()
	options, state, err := rp.BeginRegistration(alice, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, cred, err := testenv.SoftCreate(options, origin)
	if err != nil {
		t.Fatal(err)
	}
	p, err := rp.FinishRegistration(alice, state, resp)
	if err != nil {
		t.Fatalf("FinishRegistration: %v", err)
	}
	p.ID, p.UserID = "pk1", alice.ID
	return p, cred
}

func TestRegisterAndLogin(t *testing.T) {
	rp := newRP(t)
	p, cred := register(t, rp)
	if string(p.CredentialID) != string(cred.ID) || p.SignCount != 0 {
		t.Fatalf("registered %+v", p)
	}
	for _, second := range []bool{false, true} {
		var who *ports.PasskeyUser
		if second {
			who = &alice
		}
		options, state, err := rp.BeginLogin(who, []domain.Passkey{p})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := cred.Assert(options, testenv.AssertOptions{Origin: origin})
		if err != nil {
			t.Fatal(err)
		}
		id, handle, err := rp.AssertionCredential(resp)
		if err != nil || string(id) != string(p.CredentialID) || handle != alice.ID {
			t.Fatalf("AssertionCredential = %x, %q, %v", id, handle, err)
		}
		a, err := rp.FinishLogin(alice, p, state, resp)
		if err != nil {
			t.Fatalf("FinishLogin (second factor %v): %v", second, err)
		}
		if a.SignCount != cred.SignCount || !a.UserVerified {
			t.Fatalf("assertion %+v, want count %d, user verified", a, cred.SignCount)
		}
		p.SignCount, p.Credential = a.SignCount, a.Credential
	}
}

// TestI65_OtherOriginRefused: an assertion made on a page of another origin (a phishing site
// relaying the challenge) does not check.
func TestI65_OtherOriginRefused(t *testing.T) {
	rp := newRP(t)
	p, cred := register(t, rp)
	options, state, err := rp.BeginLogin(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := cred.Assert(options, testenv.AssertOptions{Origin: "https://auth.example.com.evil.test"})
	if _, err := rp.FinishLogin(alice, p, state, resp); !errors.Is(err, domain.ErrInvalidCredentials) {
		t.Fatalf("assertion from another origin = %v, want ErrInvalidCredentials", err)
	}
	// Registration too.
	options, state, _ = rp.BeginRegistration(alice, nil)
	resp, _, _ = testenv.SoftCreate(options, "https://evil.test")
	if _, err := rp.FinishRegistration(alice, state, resp); !errors.Is(err, domain.ErrInvalidCredentials) {
		t.Fatalf("registration from another origin = %v, want ErrInvalidCredentials", err)
	}
}

// TestI65_OtherRPIDRefused: an assertion signed for another relying-party id does not check.
func TestI65_OtherRPIDRefused(t *testing.T) {
	rp := newRP(t)
	p, cred := register(t, rp)
	options, state, err := rp.BeginLogin(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := cred.Assert(options, testenv.AssertOptions{Origin: origin, RPID: "example.org"})
	if _, err := rp.FinishLogin(alice, p, state, resp); !errors.Is(err, domain.ErrInvalidCredentials) {
		t.Fatalf("assertion for another RP id = %v, want ErrInvalidCredentials", err)
	}
}

// An assertion answering one ceremony's challenge does not check against another's state.
func TestOtherChallengeRefused(t *testing.T) {
	rp := newRP(t)
	p, cred := register(t, rp)
	first, _, _ := rp.BeginLogin(nil, nil)
	_, state, _ := rp.BeginLogin(nil, nil)
	resp, _ := cred.Assert(first, testenv.AssertOptions{Origin: origin})
	if _, err := rp.FinishLogin(alice, p, state, resp); !errors.Is(err, domain.ErrInvalidCredentials) {
		t.Fatalf("assertion of another challenge = %v, want ErrInvalidCredentials", err)
	}
}

func TestConfigRefused(t *testing.T) {
	for _, c := range []passkey.Config{
		{RPID: "", Origins: []string{origin}},
		{RPID: "https://auth.example.com", Origins: []string{origin}},
		{RPID: "auth.example.com/x", Origins: []string{origin}},
		{RPID: "auth.example.com"},
		{RPID: "auth.example.com", Origins: []string{"auth.example.com"}},
		{RPID: "auth.example.com", Origins: []string{"https://auth.example.com/login"}},
		{RPID: "auth.example.com", Origins: []string{"https://auth.example.com?x=1"}},
		{RPID: "auth.example.com", Origins: []string{"https://user@auth.example.com"}},
		// WebAuthn's rule: the id is each origin's host or a registrable domain it is under.
		{RPID: "evil.com", Origins: []string{origin}},
		{RPID: "example.com", Origins: []string{origin, "https://app.example.org"}},
		{RPID: "app.example.com", Origins: []string{origin}},
		{RPID: "ample.com", Origins: []string{"https://example.com"}},
		{RPID: "Auth.Example.com", Origins: []string{origin}},
		{RPID: "com", Origins: []string{origin}},
		{RPID: "co.uk", Origins: []string{"https://auth.example.co.uk"}},
		{RPID: "github.io", Origins: []string{"https://portcullis.github.io"}},
		{RPID: "example.com", Origins: []string{"http://10.0.0.5:8080"}},
	} {
		if _, err := passkey.New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}

func TestConfigAccepted(t *testing.T) {
	for _, c := range []passkey.Config{
		{RPID: "auth.example.com", Origins: []string{origin, "https://AUTH.example.com:8443/"}},
		{RPID: "example.com", Origins: []string{origin, "https://app.example.com", "https://example.com"}},
		{RPID: "example.co.uk", Origins: []string{"https://auth.example.co.uk"}},
		{RPID: "localhost", Origins: []string{"http://localhost:8080"}},
	} {
		if _, err := passkey.New(c); err != nil {
			t.Errorf("New(%+v): %v", c, err)
		}
	}
}

// A service reached by IP address has no domain to bind passkeys to: it starts with passkeys
// off, and every ceremony says so.
func TestIPAddressTurnsPasskeysOff(t *testing.T) {
	for _, id := range []string{"127.0.0.1", "10.1.2.3", "[::1]", "::1"} {
		rp, err := passkey.New(passkey.Config{RPID: id, Origins: []string{"http://127.0.0.1:8080"}})
		if err != nil {
			t.Fatalf("New(%s): %v", id, err)
		}
		if !rp.Off() {
			t.Fatalf("New(%s) is not off", id)
		}
		if _, _, err := rp.BeginRegistration(alice, nil); !errors.Is(err, ports.ErrPasskeysOff) {
			t.Fatalf("BeginRegistration with passkeys off = %v", err)
		}
		if _, _, err := rp.BeginLogin(nil, nil); !errors.Is(err, ports.ErrPasskeysOff) {
			t.Fatalf("BeginLogin with passkeys off = %v", err)
		}
	}
	if newRP(t).Off() {
		t.Fatal("a domain's relying party is off")
	}
}
