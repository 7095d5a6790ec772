package httpapi

import (
	"bytes"
	"errors"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/gofiber/fiber/v2"
)

// decodeOptions make decoding strict: unknown members are rejected; duplicate member names,
// invalid UTF-8 and trailing data are rejected by json v2's defaults, and member names match
// case-sensitively (unlike encoding/json v1, which would let "EMAIL" fill "email").
var decodeOptions = json.JoinOptions(json.RejectUnknownMembers(true))

// noBody guards a route that takes no body (logout-all, revoking a session, deleting, unlocking
// ...): a body, when one is sent, must be the empty JSON object, and anything else is refused as
// decodeJSON refuses it — 400, before anything is changed — rather than ignored (SECURITY F44).
func noBody(c *fiber.Ctx) error {
	if body := c.Request().Body(); len(bytes.TrimSpace(body)) > 0 {
		var none struct{}
		if err := decodeJSON(body, &none); err != nil {
			return err
		}
	}
	return c.Next()
}

// decodeJSON decodes body, a single JSON object, strictly into dst (a pointer to a struct).
// Every failure is a 400 problem: malformed_json for syntax (including duplicate keys and
// trailing data), invalid_body for an empty body, a non-object, an unknown field or a wrong
// type; the offending field is named in errors[].
func decodeJSON(body []byte, dst any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return errEmptyBody
	}
	if trimmed[0] != '{' {
		return &apiError{status: fiber.StatusBadRequest, code: "invalid_body", title: "Invalid request body",
			detail: "the body must be a JSON object"}
	}
	err := json.Unmarshal(trimmed, dst, decodeOptions)
	if err == nil {
		return nil
	}
	return decodeError(err)
}

// decodeError turns a json v2 error into a 400 problem without echoing the input's values.
func decodeError(err error) error {
	var (
		syn *jsontext.SyntacticError
		sem *json.SemanticError
	)
	switch {
	case errors.As(err, &syn) && errors.Is(syn.Err, jsontext.ErrDuplicateName):
		field := pointerField(syn.JSONPointer)
		return &apiError{status: fiber.StatusBadRequest, code: "malformed_json", title: "Malformed JSON",
			detail: "duplicate key " + quoteField(field),
			fields: []FieldProblem{{Field: field, Code: "duplicate_key", Message: "appears more than once"}}}
	case errors.As(err, &syn):
		return &apiError{status: fiber.StatusBadRequest, code: "malformed_json", title: "Malformed JSON",
			detail: "the body is not valid JSON"}
	case errors.As(err, &sem) && errors.Is(sem.Err, json.ErrUnknownName):
		field := pointerField(sem.JSONPointer)
		return &apiError{status: fiber.StatusBadRequest, code: "invalid_body", title: "Invalid request body",
			detail: "unknown field " + quoteField(field),
			fields: []FieldProblem{{Field: field, Code: "unknown_field", Message: "is not a known field"}}}
	case errors.As(err, &sem):
		field := pointerField(sem.JSONPointer)
		return &apiError{status: fiber.StatusBadRequest, code: "invalid_body", title: "Invalid request body",
			detail: "wrong type for field " + quoteField(field),
			fields: []FieldProblem{{Field: field, Code: "invalid_type", Message: "has the wrong JSON type"}}}
	}
	return &apiError{status: fiber.StatusBadRequest, code: "malformed_json", title: "Malformed JSON",
		detail: "the body is not valid JSON"}
}

// pointerField turns a JSON pointer ("/a/b") into a dotted field name ("a.b"), bounded in
// length so a hostile key cannot inflate the response.
func pointerField(p jsontext.Pointer) string {
	var parts []string
	for tok := range p.Tokens() {
		parts = append(parts, tok)
	}
	f := strings.Join(parts, ".")
	if len(f) > 64 {
		f = strings.ToValidUTF8(f[:64], "") + "…"
	}
	return f
}

func quoteField(f string) string {
	if f == "" {
		return "(unnamed)"
	}
	return `"` + f + `"`
}
