// Package identity is the adapter of ports.IdentityNormalizer: it folds email addresses,
// usernames and display names into the one form Portcullis stores and compares, with the
// Unicode tables of golang.org/x/text and golang.org/x/net/idna, and refuses what would let one
// person's identity be spelt as a second, look-alike account.
//
// An email address is folded part by part:
//   - the whole input is trimmed, and refused (forbidden_characters) if it holds a control,
//     format, bidi, separator, private-use or other invisible character;
//   - it is put in NFKC, so compatibility forms (fullwidth "ｖｉｃｔｉｍ＠…", ligatures,
//     superscripts) become the characters they stand for;
//   - the local part goes through the PRECIS UsernameCaseMapped profile (RFC 8265: width
//     folding, lower case, NFC, the bidi rule);
//   - the domain goes through IDNA (UTS 46 mapping for lookup, then the registration checks on
//     its A-label) and is stored as its U-label, so "bücher.de", "BÜCHER.de" and
//     "xn--bcher-kva.de" are one domain;
//   - the local part and each domain label must not mix scripts (mixed_scripts): "pаypal"
//     with a Cyrillic "а" is refused, while a wholly Cyrillic or Greek part is fine;
//   - nor be a whole-script look-alike of a Latin spelling (looks_latin): a part wholly in one
//     other script whose UTS #39 confusable skeleton is plain ASCII, such as a Cyrillic
//     "аррӏе" for "apple", is refused; "иван" or "δοκιμή", which do not pass for Latin, are fine;
//   - the result passes the domain's syntactic check (domain.NormalizeEmail).
//
// A username goes the same way (UsernameCaseMapped, then domain.NormalizeUsername's alphabet),
// so a fullwidth "ａｌｉｃｅ" is "alice". A display name goes through the PRECIS Nickname
// profile (RFC 8266: NFKC, spaces mapped, trimmed and collapsed, case kept), after dropping
// the emoji presentation selectors U+FE0E and U+FE0F.
package identity

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"go.uber.org/fx"
	"golang.org/x/net/idna"
	"golang.org/x/text/secure/precis"
	"golang.org/x/text/unicode/norm"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// Normalizer implements ports.IdentityNormalizer. It holds no state; safe for concurrent use.
type Normalizer struct{}

var _ ports.IdentityNormalizer = Normalizer{}

// New returns the normaliser.
func New() Normalizer { return Normalizer{} }

// Module provides ports.IdentityNormalizer.
var Module = fx.Module("identity", fx.Provide(fx.Annotate(New, fx.As(new(ports.IdentityNormalizer)))))

// maxInput bounds the work done on one input, far above any acceptable identity (an email is
// at most domain.MaxEmailLength bytes once folded, a name domain.MaxNameLength characters).
const maxInput = 1024

// lookup maps a domain as a resolver would (UTS 46: case, width, NFC; the ideographic full stop
// is a dot), checks hyphens, joiners, the bidi rule and DNS lengths, and keeps ß and ς
// (non-transitional, IDNA 2008).
var lookup = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.VerifyDNSLength(true), idna.Transitional(false))

func invalidEmail() *domain.FieldError {
	_, invalid := domain.NormalizeEmail("")
	return invalid
}

// Email normalises an email address (see the package comment).
func (Normalizer) Email(raw string) (string, *domain.FieldError) {
	if !utf8.ValidString(raw) || len(raw) > maxInput {
		return "", invalidEmail()
	}
	s := strings.TrimSpace(raw)
	if hasForbidden(s) {
		return "", domain.ForbiddenCharacters("email")
	}
	s = norm.NFKC.String(s)
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return "", invalidEmail()
	}
	local, err := precis.UsernameCaseMapped.String(s[:at])
	if err != nil {
		return "", invalidEmail()
	}
	host, ok := Domain(s[at+1:])
	if !ok {
		return "", invalidEmail()
	}
	for _, part := range append([]string{local}, strings.Split(host, ".")...) {
		if mixedScripts(part) {
			return "", domain.MixedScripts("email")
		}
		if looksLatin(part) {
			return "", domain.LooksLatin("email")
		}
	}
	return domain.NormalizeEmail(local + "@" + host)
}

// Domain returns the canonical form of a domain name, its U-label: mapped for lookup (UTS 46),
// turned into its A-label (which checks lengths, hyphens, joiners and the bidi rule) and back
// through the registration profile (which refuses what a registry would). ok is false for a
// name that is not a valid IDN.
func Domain(host string) (string, bool) {
	ascii, err := lookup.ToASCII(host)
	if err != nil || ascii == "" || strings.HasSuffix(ascii, ".") {
		return "", false
	}
	u, err := idna.Registration.ToUnicode(ascii)
	if err != nil {
		return "", false
	}
	return u, true
}

// Username normalises a username (see the package comment).
func (Normalizer) Username(raw string) (string, *domain.FieldError) {
	if !utf8.ValidString(raw) || len(raw) > maxInput {
		_, invalid := domain.NormalizeUsername("")
		return "", invalid
	}
	s := strings.TrimSpace(raw)
	if hasForbidden(s) {
		return "", domain.ForbiddenCharacters("username")
	}
	s = norm.NFKC.String(s)
	if mixedScripts(s) {
		return "", domain.MixedScripts("username")
	}
	if looksLatin(s) {
		return "", domain.LooksLatin("username")
	}
	folded, err := precis.UsernameCaseMapped.String(s)
	if err != nil {
		// Anything PRECIS refuses (a space, a symbol, a right-to-left letter) is outside the
		// username alphabet too: the domain names the rule.
		folded = s
	}
	u, invalid := domain.NormalizeUsername(folded)
	if invalid != nil {
		return "", invalid
	}
	return u, nil
}

// Name normalises a display name (see the package comment). An empty or all-space name is "".
func (Normalizer) Name(raw string) (string, *domain.FieldError) {
	if !utf8.ValidString(raw) || len(raw) > maxInput {
		return "", domain.ValidateName("\x00")
	}
	// The emoji and text presentation selectors only pick a glyph's style (a phone adds
	// U+FE0F after many emoji): a name drops them rather than being refused.
	raw = strings.Map(func(r rune) rune {
		if r == '\ufe0e' || r == '\ufe0f' {
			return -1
		}
		return r
	}, raw)
	if hasForbidden(raw) {
		return "", domain.ForbiddenCharacters("name")
	}
	if strings.TrimSpace(norm.NFKC.String(raw)) == "" {
		return "", nil
	}
	n, err := precis.Nickname.String(raw)
	if err != nil {
		return "", domain.ValidateName("\x00")
	}
	if invalid := domain.ValidateName(n); invalid != nil {
		return "", invalid
	}
	return n, nil
}

// hasForbidden reports whether s holds a character that hides or disguises what is shown:
// controls (C0, DEL, C1 such as U+0085), format characters (zero-width space and joiners,
// U+FEFF, soft hyphen, the bidi marks, embeddings, overrides and isolates), line and paragraph
// separators, private-use and surrogate code points, variation selectors and the other
// default-ignorable code points (Hangul fillers, U+034F), which render as nothing.
func hasForbidden(s string) bool {
	for _, r := range s {
		if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Co, unicode.Cs,
			unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point) {
			return true
		}
	}
	return false
}
