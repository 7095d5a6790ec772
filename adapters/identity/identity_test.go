package identity_test

import (
	"testing"
	"unicode/utf8"

	"github.com/mtibben/confusables"

	"github.com/portcullis-auth/portcullis/adapters/identity"
)

// An e-mail address that differs from another only by Unicode compatibility forms (fullwidth
// letters), case, surrounding space or the domain's IDNA spelling normalises to the same
// identity, so the unique index makes it the same account; one that differs by invisible
// characters (zero-width, U+0085, bidi overrides) or by look-alike letters of another script is
// refused, so it cannot become a second account.
func TestLookAlikeIdentities(t *testing.T) {
	n := identity.New()
	const victim = "victim@example.com"
	for name, in := range map[string]string{
		"case and space":        "  Victim@EXAMPLE.com ",
		"fullwidth letters":     "ｖｉｃｔｉｍ@example.com",
		"fullwidth at sign":     "victim＠example.com",
		"all fullwidth":         "ＶＩＣＴＩＭ＠ＥＸＡＭＰＬＥ．ＣＯＭ",
		"ideographic full stop": "victim@example。com",
	} {
		got, err := n.Email(in)
		if err != nil || got != victim {
			t.Errorf("%s: Email(%q) = %q, %v; want %q", name, in, got, err, victim)
		}
	}
	if got, err := n.Email("ﬁle@example.com"); err != nil || got != "file@example.com" {
		t.Errorf("a ligature does not fold: %q, %v", got, err)
	}
	refused := map[string]struct{ in, message string }{
		"zero-width space":    {"vic\u200btim@example.com", "invisible"},
		"zero-width joiner":   {"victim\u200d@example.com", "invisible"},
		"BOM":                 {"\ufeffvictim@example.com", "invisible"},
		"NEL (U+0085)":        {"victim\u0085@example.com", "invisible"},
		"bidi override":       {"victim@exam\u202eelpm.com", "invisible"},
		"bidi isolate":        {"\u2066victim@example.com", "invisible"},
		"line separator":      {"victim\u2028@example.com", "invisible"},
		"soft hyphen":         {"vic\u00adtim@example.com", "invisible"},
		"Hangul filler":       {"victim\u3164@example.com", "invisible"},
		"variation selector":  {"victim\ufe0f@example.com", "invisible"},
		"Cyrillic a in Latin": {"p\u0430ypal@example.com", "scripts"},
		"Greek o in domain":   {"victim@ex\u03bfample.com", "scripts"},
		"Cyrillic in label":   {"victim@p\u0430ypal.com", "scripts"},
		"fullwidth Cyrillic":  {"ｐ\u0430ypal@example.com", "scripts"},
		"not an address":      {"victim", "valid email"},
		"no dot in domain":    {"victim@localhost", "valid email"},
		"bad punycode":        {"victim@xn--zz.com", "valid email"},
		"display name":        {"Victim <victim@example.com>", "valid email"},
	}
	for name, c := range refused {
		got, err := n.Email(c.in)
		if err == nil {
			t.Errorf("%s: Email(%q) = %q, want refused", name, c.in, got)
			continue
		}
		if err.Field != "email" || err.Code != "invalid_email" || !contains(err.Message, c.message) {
			t.Errorf("%s: Email(%q) refused with %+v, want invalid_email saying %q", name, c.in, err, c.message)
		}
	}
	// One script per part, whichever it is, and the scripts written together, are fine.
	for in, want := range map[string]string{
		"Пользователь@Пример.РФ":     "пользователь@пример.рф",
		"ελληνικά@example.com":       "ελληνικά@example.com",
		"José.Núñez@example.com":     "josé.núñez@example.com",
		"山田たろう@例え.jp":                "山田たろう@例え.jp",
		"ivan@xn--e1afmkfd.xn--p1ai": "ivan@пример.рф",
		"a+tag@example.com":          "a+tag@example.com",
	} {
		if got, err := n.Email(in); err != nil || got != want {
			t.Errorf("Email(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// The domain takes one form whatever spelling it arrives in: its U-label, lower case.
func TestDomainOneForm(t *testing.T) {
	n := identity.New()
	for _, in := range []string{"a@bücher.de", "a@BÜCHER.DE", "a@xn--bcher-kva.de", "a@XN--BCHER-KVA.DE", "a@ｂüｃｈｅｒ.de"} {
		if got, err := n.Email(in); err != nil || got != "a@bücher.de" {
			t.Errorf("Email(%q) = %q, %v; want a@bücher.de", in, got, err)
		}
	}
	if d, ok := identity.Domain("Example.COM"); !ok || d != "example.com" {
		t.Errorf("Domain(Example.COM) = %q, %v", d, ok)
	}
	for _, bad := range []string{"", ".", "a..b", "-a.com", "a.com.", "exa mple.com"} {
		if d, ok := identity.Domain(bad); ok {
			t.Errorf("Domain(%q) = %q, want refused", bad, d)
		}
	}
}

// A username folds width and case onto the a-z alphabet; invisible characters and mixed scripts
// are refused with their reason.
func TestUsernameLookAlikes(t *testing.T) {
	n := identity.New()
	for _, in := range []string{"Alice", "ａｌｉｃｅ", "ＡＬＩＣＥ", " alice "} {
		if got, err := n.Username(in); err != nil || got != "alice" {
			t.Errorf("Username(%q) = %q, %v; want alice", in, got, err)
		}
	}
	for in, message := range map[string]string{
		"\u0430lice":  "scripts",
		"al\u200bice": "invisible",
		"ali\u202ece": "invisible",
		"A B":         "a-z",
		"ab":          "a-z",
		"иван":        "a-z",
	} {
		got, err := n.Username(in)
		if err == nil || err.Field != "username" || err.Code != "invalid_username" || !contains(err.Message, message) {
			t.Errorf("Username(%q) = %q, %+v; want invalid_username saying %q", in, got, err, message)
		}
	}
}

// A display name keeps its case and its scripts; spaces are mapped and collapsed, compatibility
// forms fold, invisible and text-direction characters are refused.
func TestNameNormalised(t *testing.T) {
	n := identity.New()
	for in, want := range map[string]string{
		"Zoë Ødegård 🚀":          "Zoë Ødegård 🚀",
		"  Ada \u00a0 Lovelace ": "Ada Lovelace",
		"ＡＮＮ":                    "ANN",
		"Иван Smith":             "Иван Smith",
		"❤\ufe0f Ann":            "❤ Ann",
		"":                       "",
		"   ":                    "",
	} {
		if got, err := n.Name(in); err != nil || got != want {
			t.Errorf("Name(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"Ann\u202eie", "Zero\u200bWidth", "Tab\tName", "Next\u0085Line", "a\x00b"} {
		if got, err := n.Name(bad); err == nil || err.Code != "invalid_name" {
			t.Errorf("Name(%q) = %q, %+v; want invalid_name", bad, got, err)
		}
	}
	long := ""
	for range 101 {
		long += "é"
	}
	if _, err := n.Name(long); err == nil {
		t.Error("a 101-character name accepted")
	}
}

// The normaliser never panics, and what it returns is a fixed point: normalising it again gives
// it back, so a stored identity compares equal to its own normal form.
func FuzzEmail(f *testing.F) {
	for _, s := range []string{"victim@example.com", "ｖｉｃｔｉｍ＠ｅｘａｍｐｌｅ．ｃｏｍ", "p\u0430ypal@example.com",
		"a@xn--bcher-kva.de", "vic\u200btim@example.com", "\u0430\u0440\u0440\u04cf\u0435@example.com", "иван@пример.рф", "\xff@x.com", "@", "a@b@c.com", "\"a b\"@x.com"} {
		f.Add(s)
	}
	n := identity.New()
	f.Fuzz(func(t *testing.T, in string) {
		if got, err := n.Email(in); err == nil {
			if !utf8.ValidString(got) {
				t.Fatalf("Email(%q) = %q, not UTF-8", in, got)
			}
			if again, err := n.Email(got); err != nil || again != got {
				t.Fatalf("Email(%q) = %q, but Email(%q) = %q, %v", in, got, got, again, err)
			}
		}
		if got, err := n.Username(in); err == nil {
			if again, err := n.Username(got); err != nil || again != got {
				t.Fatalf("Username(%q) = %q, but again %q, %v", in, got, again, err)
			}
		}
		if got, err := n.Name(in); err == nil {
			if again, err := n.Name(got); err != nil || again != got {
				t.Fatalf("Name(%q) = %q, but again %q, %v", in, got, again, err)
			}
		}
	})
}

// A part written wholly in one other script whose every letter looks like a Latin one is a
// whole-script look-alike of a Latin spelling (a Cyrillic "аррӏе" for "apple"), refused with its
// reason wherever it stands (local part, domain label, username); genuinely non-Latin
// identities, which keep letters with no Latin look-alike in Unicode's confusables.txt, stay
// accepted. The cases are checked against the skeleton data the adapter uses.
func TestWholeScriptLookAlikes(t *testing.T) {
	n := identity.New()
	for name, in := range map[string]string{
		"Cyrillic paypal local part": "\u0440\u0430\u0443\u0440\u0430\u04cf@example.com",
		"Cyrillic apple local part":  "\u0430\u0440\u0440\u04cf\u0435@example.com",
		"Cyrillic with dot":          "\u0430\u0440\u0440\u04cf\u0435.\u0455\u0430\u04cf\u0435\u0455@example.com",
		"Cyrillic upper case":        "\u0410\u0420\u0420\u04c0\u0415@example.com",
		"Cyrillic scope":             "\u0455\u0441\u043e\u0440\u0435@example.com",
		"Greek local part":           "\u03c1\u03bf@example.com",
		"Cyrillic domain label":      "victim@\u0430\u0440\u0440\u04cf\u0435.com",
		"Cyrillic label as A-label":  "victim@xn--80ak6aa92e.com",
	} {
		got, err := n.Email(in)
		if err == nil || err.Field != "email" || err.Code != "invalid_email" || !contains(err.Message, "look like Latin") {
			t.Errorf("%s: Email(%q) = %q, %+v; want invalid_email saying it looks like Latin", name, in, got, err)
		}
	}
	for _, in := range []string{"\u0430\u0440\u0440\u04cf\u0435", "\u0455\u0441\u043e\u0440\u0435"} {
		got, err := n.Username(in)
		if err == nil || err.Code != "invalid_username" || !contains(err.Message, "look like Latin") {
			t.Errorf("Username(%q) = %q, %+v; want invalid_username saying it looks like Latin", in, got, err)
		}
	}
	for _, in := range []string{
		"иван@example.com", "δοκιμή@example.com", "山田たろう@例え.jp", "たろう@example.jp", "张伟@例子.中国",
		"пользователь@пример.рф", "ivan@пример.рф", "ελληνικά@παράδειγμα.gr", "иван.петров@почта.рф",
		"paypal@example.com", "victim2@example.com",
	} {
		if got, err := n.Email(in); err != nil {
			t.Errorf("Email(%q) = %q, %+v; want accepted", in, got, err)
		}
	}
}

// The rule's two sides hold against the data itself: the refused spellings' skeletons are the
// ASCII words they imitate, the accepted ones keep a non-ASCII character.
func TestWholeScriptSkeletons(t *testing.T) {
	for in, want := range map[string]string{
		"\u0440\u0430\u0443\u0440\u0430\u04cf": "paypai",
		"\u0430\u0440\u0440\u04cf\u0435":       "appie",
		"\u0455\u0441\u043e\u0440\u0435":       "scope",
	} {
		if got := confusables.Skeleton(in); got != want {
			t.Errorf("Skeleton(%q) = %q, want %q", in, got, want)
		}
	}
	for _, in := range []string{"иван", "δοκιμή", "山田たろう", "たろう", "张伟", "пользователь", "пример"} {
		ascii := true
		for _, r := range confusables.Skeleton(in) {
			ascii = ascii && r < 0x80
		}
		if ascii {
			t.Errorf("Skeleton(%q) = %q is ASCII: it would be refused", in, confusables.Skeleton(in))
		}
	}
}
