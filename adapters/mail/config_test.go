package mail_test

import (
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/adapters/mail"
)

// TestSettingsAreTheCallers: the SMTP timeout and the product name are config's
// (PORTCULLIS_MAIL_SEND_TIMEOUT, PORTCULLIS_PRODUCT_NAME, passed by cmd/portcullis); the adapter
// keeps no default of its own for them and refuses to start without them.
func TestSettingsAreTheCallers(t *testing.T) {
	smtp := mail.SMTPConfig{URL: "smtp://mail.example:587", From: "Portcullis <no-reply@example.com>"}
	if _, err := mail.NewSMTP(smtp); err == nil {
		t.Error("NewSMTP without a timeout was accepted")
	}
	smtp.Timeout = 30 * time.Second
	if _, err := mail.NewSMTP(smtp); err != nil {
		t.Errorf("NewSMTP: %v", err)
	}
	if _, err := mail.NewTemplates(mail.TemplateConfig{PublicURL: "https://auth.example.com"}); err == nil {
		t.Error("NewTemplates without a product name was accepted")
	}
	if _, err := mail.NewTemplates(mail.TemplateConfig{Product: "Portcullis", PublicURL: "https://auth.example.com"}); err != nil {
		t.Errorf("NewTemplates: %v", err)
	}
}
