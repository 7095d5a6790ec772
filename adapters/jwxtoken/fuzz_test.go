package jwxtoken

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"

	"github.com/portcullis-auth/portcullis/domain"
)

// FuzzVerify checks that the token parser never panics and that every refusal wraps
// domain.ErrUnauthenticated (SECURITY F47). The seed corpus runs under plain `go test`; run
// `go test -fuzz=FuzzVerify ./adapters/jwxtoken` to explore further.
func FuzzVerify(f *testing.F) {
	fx := newFixture(f, testConfig(EdDSA))
	valid := fx.issue(f)
	p := strings.Split(valid, ".")
	k := fx.active(f)
	h := fx.ourHeader(f)
	h["crit"] = []string{"exp"}
	for _, seed := range []string{
		valid,
		fx.signOurs(f, `{"alg":"EdDSA","kid":"`+k.kid+`","typ":"at+jwt"}`, fx.payload()),
		fx.signOurs(f, h, fx.payload()),
		fx.signOurs(f, fx.ourHeader(f), `{"exp":"1","iat":1e400}`),
		craft(f, map[string]any{"alg": "none", "kid": k.kid, "typ": "at+jwt"}, fx.payload(), "", nil),
		craft(f, map[string]any{"alg": "HS256", "kid": k.kid, "typ": "at+jwt"}, fx.payload(), jwa.HS256, []byte("x")),
		p[0] + "." + p[1] + ".",
		p[0] + "." + p[1] + "." + p[2] + "." + p[1] + "." + p[2],
		`{"payload":"` + p[1] + `","protected":"` + p[0] + `","signature":"` + p[2] + `"}`,
		p[0] + "=." + p[1] + "." + p[2],
		"..", ".", "", "a.b.c", "e30.e30.e30", "eyJ9.eyJ9.AA",
		strings.Repeat(".", 1000),
	} {
		f.Add(seed)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, token string) {
		c, err := fx.tok.Verify(ctx, token)
		if err != nil {
			if !errors.Is(err, domain.ErrUnauthenticated) {
				t.Fatalf("error %v does not wrap ErrUnauthenticated", err)
			}
			return
		}
		if c.Subject == "" || c.SessionID == "" || c.ID == "" {
			t.Fatalf("accepted %q with empty claims %+v", token, c)
		}
	})
}
