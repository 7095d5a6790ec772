package identity_test

import (
	"testing"

	"github.com/portcullis-auth/portcullis/adapters/identity"
)

// BenchmarkEmail is the normaliser's cost on the login path, for a plain ASCII address and an
// internationalised one.
func BenchmarkEmail(b *testing.B) {
	n := identity.New()
	for name, in := range map[string]string{"ascii": "Victim.Name+tag@Example.com", "idn": "Пользователь@Пример.РФ"} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := n.Email(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
