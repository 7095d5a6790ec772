// Package otp is the TOTP adapter (RFC 6238) over github.com/pquerna/otp: it makes secrets with
// their otpauth:// URI and QR code, and checks codes for one time step. The replay and skew
// rules are the application's (one accepted code per step, ±domain.TOTPSkew steps).
package otp

import (
	"bytes"
	"fmt"
	"image/png"
	"time"

	"go.uber.org/fx"

	potp "github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// qrSize is the width and height of the QR code PNG in pixels: big enough to scan off a screen.
const qrSize = 256

// TOTP implements ports.OneTimePasswords with SHA-1, 6 digits and domain.TOTPPeriod: the
// parameters every authenticator app understands. Safe for concurrent use.
type TOTP struct{}

var _ ports.OneTimePasswords = TOTP{}

// New returns the TOTP adapter.
func New() TOTP { return TOTP{} }

// Module provides ports.OneTimePasswords.
var Module = fx.Module("otp", fx.Provide(fx.Annotate(New, fx.As(new(ports.OneTimePasswords)))))

func validateOpts() totp.ValidateOpts {
	return totp.ValidateOpts{Period: uint(domain.TOTPPeriod / time.Second), Digits: potp.DigitsSix, Algorithm: potp.AlgorithmSHA1}
}

// NewKey makes a random 160-bit secret (RFC 4226's recommendation) for account at issuer.
func (TOTP) NewKey(issuer, account string) (secret, uri string, qrPNG []byte, err error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: issuer, AccountName: account, Period: uint(domain.TOTPPeriod / time.Second),
		SecretSize: 20, Digits: potp.DigitsSix, Algorithm: potp.AlgorithmSHA1,
	})
	if err != nil {
		return "", "", nil, fmt.Errorf("generate TOTP key: %w", err)
	}
	img, err := key.Image(qrSize, qrSize)
	if err != nil {
		return "", "", nil, fmt.Errorf("TOTP QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return "", "", nil, fmt.Errorf("TOTP QR code PNG: %w", err)
	}
	return key.Secret(), key.URL(), buf.Bytes(), nil
}

// Check reports whether code is secret's code for the step at falls in. Anything but six
// digits is false; the comparison is the library's (constant time).
func (TOTP) Check(secret, code string, at time.Time) bool {
	if len(code) != domain.TOTPDigits {
		return false
	}
	ok, err := totp.ValidateCustom(code, secret, at, validateOpts())
	return err == nil && ok
}

// Code returns secret's code for the step at falls in. It is what an authenticator app shows;
// tests use it to play the user.
func Code(secret string, at time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, at, validateOpts())
}
