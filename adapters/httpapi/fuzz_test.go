package httpapi

import (
	"errors"
	"testing"
)

// FuzzDecodeJSON checks that the strict decoder never panics and that every failure is one of
// our 400 problems, never a raw library error that would become a 500 (SECURITY F47).
func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []string{
		``, `null`, `[]`, `{}`, `{"email":"a@b.co","password":"x"}`, `{"email":"a","email":"b"}`,
		`{"email":1}`, `{"roles":["admin"]}`, `{"email":"a"} x`, "{\"email\":\"\xff\"}", `{"name":null}`,
		`{"username":"` + string(make([]byte, 100)) + `"}`, `{"a":{"b":[1,2,{"c":"d"}]}}`, `{"email":"\ud800"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, dst := range []any{&registerRequest{}, &loginRequest{}, &updateProfileRequest{}, &changePasswordRequest{}} {
			err := decodeJSON(body, dst)
			if err == nil {
				continue
			}
			var ae *apiError
			if !errors.As(err, &ae) || ae.status != 400 {
				t.Fatalf("decodeJSON(%q) = %v, want a 400 apiError", body, err)
			}
			if m := mapError(err); m.problem.Status != 400 || len(m.problem.Detail) > 200 {
				t.Fatalf("mapped to %+v", m.problem)
			}
		}
	})
}
