package identity

import (
	"sort"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
)

// The mixed-script rule is UTS #39's "highly restrictive" level (section 5.2): the letters of
// one identifier part come from a single script, or from one of the sets of scripts that are
// written together (Japanese, Chinese with Bopomofo, Korean), each of which may add Latin.
// Characters of the Common and Inherited scripts (digits, punctuation, combining marks) belong
// to every script.

// scriptTable is one Unicode script.
type scriptTable struct {
	name  string
	table *unicode.RangeTable
}

// scripts lists every script but Common and Inherited, Latin first (the usual case), the rest
// in name order so that a lookup is deterministic.
var scripts = func() []scriptTable {
	var out []scriptTable
	names := make([]string, 0, len(unicode.Scripts))
	for name := range unicode.Scripts {
		if name != "Common" && name != "Inherited" && name != "Latin" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	out = append(out, scriptTable{"Latin", unicode.Latin})
	for _, name := range names {
		out = append(out, scriptTable{name, unicode.Scripts[name]})
	}
	return out
}()

// scriptOf names r's script, or "" for Common and Inherited characters.
func scriptOf(r rune) string {
	if r < utf8.RuneSelf {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' {
			return "Latin"
		}
		return ""
	}
	if unicode.In(r, unicode.Common, unicode.Inherited) {
		return ""
	}
	for _, s := range scripts {
		if unicode.Is(s.table, r) {
			return s.name
		}
	}
	return "" // unassigned: refused elsewhere (PRECIS, IDNA)
}

// together are the sets of scripts one identifier may mix.
var together = []map[string]bool{
	{"Latin": true, "Han": true, "Hiragana": true, "Katakana": true},
	{"Latin": true, "Han": true, "Bopomofo": true},
	{"Latin": true, "Han": true, "Hangul": true},
}

// mixedScripts reports whether part mixes letters of scripts that are not written together,
// such as Latin and Cyrillic ("pаypal") or Latin and Greek ("exοmple").
func mixedScripts(part string) bool {
	seen := map[string]bool{}
	for _, r := range part {
		if s := scriptOf(r); s != "" {
			seen[s] = true
		}
	}
	if len(seen) < 2 {
		return false
	}
next:
	for _, set := range together {
		for s := range seen {
			if !set[s] {
				continue next
			}
		}
		return false
	}
	return true
}

// looksLatin reports whether part is a whole-script confusable of a Latin spelling (UTS #39
// section 4): its letters all come from one script other than Latin, and its confusable
// skeleton (confusables.Skeleton, from Unicode's confusables.txt as shipped by
// github.com/mtibben/confusables) is plain ASCII with at least one letter, so it can be read as
// a Latin name: a Cyrillic "аррӏе" (skeleton "appie") or "раураӏ" passes for "apple"/"paypal".
// A genuinely non-Latin part keeps some letter with no ASCII look-alike ("иван" is "ᴎʙaʜ",
// "δοκιμή" is "ẟoĸiμń̩", Han and kana map to themselves) and is accepted.
func looksLatin(part string) bool {
	script := ""
	for _, r := range part {
		s := scriptOf(r)
		if s == "" {
			continue
		}
		if s == "Latin" || script != "" && s != script {
			return false // Latin itself, or scripts written together (mixedScripts judges those)
		}
		script = s
	}
	if script == "" {
		return false
	}
	letter := false
	for _, r := range confusables.Skeleton(part) {
		if r >= utf8.RuneSelf {
			return false
		}
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' {
			letter = true
		}
	}
	return letter
}
