package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/helpers"

	"github.com/portcullis-auth/portcullis/adapters/httpapi"
)

// The OpenAPI document (adapters/httpapi/openapi.yaml) is the contract: every request the
// end-to-end tests send through client.try and every response they get is checked against it
// here, so a handler that drifts from the document fails the test that exercised it.
//
//   - Every response must be one the document describes for its operation (status, media
//     type, body schema); a path or method the document does not have must be answered by a
//     404 or 405 problem document.
//   - A request the server accepted (status below 400) must match the document too: its
//     parameters and body. Requests the server refused are the tests of bad input, so they
//     are not expected to match; their refusals are checked as responses.
//   - CORS preflights (OPTIONS with Access-Control-Request-Method) belong to the CORS protocol,
//     not to any operation, and HEAD has no body to check; neither is checked.

// contract is the validator built once from the embedded document.
var contract = sync.OnceValues(func() (validator.Validator, error) {
	doc, err := libopenapi.NewDocument(httpapi.OpenAPIYAML())
	if err != nil {
		return nil, fmt.Errorf("parse the OpenAPI document: %w", err)
	}
	v, errs := validator.NewValidator(doc, config.WithFormatAssertions())
	if len(errs) > 0 {
		return nil, fmt.Errorf("build the OpenAPI validator: %v", errs)
	}
	return v, nil
})

// checkContract validates one exchange of client.try against the OpenAPI document, reporting
// every mismatch to t (without stopping the test).
func checkContract(t *testing.T, req *http.Request, reqBody []byte, res *http.Response, resBody []byte) {
	t.Helper()
	if req.Method == http.MethodHead ||
		req.Method == http.MethodOptions && req.Header.Get("Access-Control-Request-Method") != "" {
		return
	}
	v, err := contract()
	if err != nil {
		t.Fatalf("contract: %v", err)
	}
	what := fmt.Sprintf("contract: %s %s → %d", req.Method, req.URL.RequestURI(), res.StatusCode)
	rebody := func() {
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
		res.Body = io.NopCloser(bytes.NewReader(resBody))
	}
	rebody()
	ok, errs := v.ValidateHttpResponse(req, res)
	if !ok && undocumentedRoute(errs) {
		// No operation for this method and path: the server must say so as a problem document.
		if res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s: the document has no such operation, yet the server answered it", what)
			return
		}
		checkProblemBody(t, what, res, resBody)
		return
	}
	report(t, what+" (response)", errs)
	if res.StatusCode < 400 {
		rebody()
		_, errs := v.ValidateHttpRequest(req)
		report(t, what+" (request)", errs)
	}
	rebody()
}

// undocumentedRoute reports whether the validator found no operation for the request.
func undocumentedRoute(errs []*verrors.ValidationError) bool {
	for _, e := range errs {
		if e.ValidationType == helpers.PathValidation || e.ValidationSubType == helpers.ValidationMissingOperation {
			return true
		}
	}
	return false
}

func report(t *testing.T, what string, errs []*verrors.ValidationError) {
	t.Helper()
	for _, e := range errs {
		msg := e.Message
		if e.Reason != "" {
			msg += ": " + e.Reason
		}
		for _, f := range e.SchemaValidationErrors {
			msg += "\n\t" + f.Error()
		}
		t.Errorf("%s: %s", what, msg)
	}
}

// checkProblemBody checks an answer of an undocumented route: application/problem+json with
// the members every problem document has.
func checkProblemBody(t *testing.T, what string, res *http.Response, body []byte) {
	t.Helper()
	mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
	if mt != "application/problem+json" {
		t.Errorf("%s: Content-Type %q, want application/problem+json", what, res.Header.Get("Content-Type"))
		return
	}
	var p struct {
		Type, Title, Code string
		Status            int
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&p); err != nil || p.Status != res.StatusCode || p.Code == "" || p.Title == "" ||
		!strings.HasPrefix(p.Type, "https://") {
		t.Errorf("%s: not a problem document: %s (%v)", what, truncate(string(body), 300), err)
	}
}
