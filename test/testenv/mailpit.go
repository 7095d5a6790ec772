package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// MailpitVar names the Mailpit binary when it is not on PATH or in $(go env GOPATH)/bin.
const MailpitVar = "PORTCULLIS_TEST_MAILPIT"

// Mailpit is a real SMTP server (github.com/axllent/mailpit) started for one test on free
// loopback ports, with its HTTP API to read what it received.
type Mailpit struct {
	// SMTPAddr is host:port of its SMTP listener.
	SMTPAddr string
	// API is the base URL of its HTTP API.
	API string
	// CAFile, with MailpitOptions.TLS, is the PEM CA its certificate is signed by.
	CAFile string

	cmd  *exec.Cmd
	args []string
	logs *Buffer
	t    testing.TB
}

// MailpitOptions configures a Mailpit.
type MailpitOptions struct {
	// TLS offers STARTTLS with a certificate for 127.0.0.1 and requires it.
	TLS bool
	// User and Password, when set, are the only SMTP login accepted (authentication required).
	User, Password string
}

// mailpitBinary finds Mailpit or skips (fails under PORTCULLIS_TEST_REQUIRE_SERVICES=1).
func mailpitBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(MailpitVar); p != "" {
		return p
	}
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "mailpit")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := "mailpit is not installed: go install github.com/axllent/mailpit@v1.27.11 (or set " + MailpitVar + ")"
	if os.Getenv(RequireServicesVar) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// StartMailpit starts Mailpit for t on free loopback ports and stops it when t ends.
func StartMailpit(t testing.TB, o MailpitOptions) *Mailpit {
	t.Helper()
	bin := mailpitBinary(t)
	dir := t.TempDir()
	m := &Mailpit{SMTPAddr: RestartableAddr(t), t: t} // Start may be called again after Stop
	apiAddr := RestartableAddr(t)
	m.API = "http://" + apiAddr
	m.args = []string{"--smtp", m.SMTPAddr, "--listen", apiAddr, "--database", filepath.Join(dir, "mailpit.db"),
		"--disable-version-check", "--smtp-disable-rdns", "--quiet"}
	if o.TLS {
		ca, cert, key := writeServerCert(t, dir)
		m.CAFile = ca
		m.args = append(m.args, "--smtp-tls-cert", cert, "--smtp-tls-key", key, "--smtp-require-starttls")
	}
	if o.User != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(o.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		auth := filepath.Join(dir, "smtp-auth")
		if err := os.WriteFile(auth, []byte(o.User+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		m.args = append(m.args, "--smtp-auth-file", auth)
		if !o.TLS {
			m.args = append(m.args, "--smtp-auth-allow-insecure")
		}
	}
	m.args = append([]string{bin}, m.args...)
	m.Start()
	t.Cleanup(m.Stop)
	return m
}

// Start (re)starts a stopped Mailpit on the same ports and database, and waits until its SMTP
// port and API answer (at most 30 s).
func (m *Mailpit) Start() {
	m.t.Helper()
	m.logs = &Buffer{}
	m.cmd = exec.Command(m.args[0], m.args[1:]...)
	m.cmd.Stdout, m.cmd.Stderr = m.logs, m.logs
	if err := m.cmd.Start(); err != nil {
		m.t.Fatalf("start mailpit: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", m.SMTPAddr, time.Second); err == nil {
			c.Close()
			if resp, err := http.Get(m.API + "/api/v1/info"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	m.Stop()
	m.t.Fatalf("mailpit did not start within 30s:\n%s", m.logs)
}

// Stop kills Mailpit (the SMTP server goes away at once, like a crash) and waits for it.
func (m *Mailpit) Stop() {
	if m.cmd == nil || m.cmd.Process == nil || m.cmd.ProcessState != nil {
		return
	}
	_ = m.cmd.Process.Kill()
	_ = m.cmd.Wait()
}

// MailpitMessage is one received message as the API gives it.
type MailpitMessage struct {
	ID        string
	MessageID string
	Subject   string
	To        []struct{ Address string }
	From      struct{ Name, Address string }
	ReplyTo   []struct{ Address string }
	Text      string
	HTML      string
}

// Messages returns every message received so far whose recipient is to ("" for all), with
// their bodies, oldest first.
func (m *Mailpit) Messages(to string) []MailpitMessage {
	m.t.Helper()
	var list struct {
		Messages []struct {
			ID string
			To []struct{ Address string }
		}
	}
	path := "/api/v1/messages?limit=1000"
	if to != "" {
		path = "/api/v1/search?limit=1000&query=" + url.QueryEscape("to:"+to)
	}
	m.getJSON(path, &list)
	out := make([]MailpitMessage, 0, len(list.Messages))
	for i := len(list.Messages) - 1; i >= 0; i-- { // the API lists newest first
		var msg MailpitMessage
		m.getJSON("/api/v1/message/"+list.Messages[i].ID, &msg)
		if to == "" || (len(msg.To) > 0 && strings.EqualFold(msg.To[0].Address, to)) {
			out = append(out, msg)
		}
	}
	return out
}

// WaitMessages waits (at most timeout) until at least n messages to to have arrived and
// returns them all.
func (m *Mailpit) WaitMessages(to string, n int, timeout time.Duration) []MailpitMessage {
	m.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := m.Messages(to)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("mailpit: %d message(s) to %q after %s, want %d", len(got), to, timeout, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (m *Mailpit) getJSON(path string, into any) {
	m.t.Helper()
	resp, err := http.Get(m.API + path)
	if err != nil {
		m.t.Fatalf("mailpit API %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		m.t.Fatalf("mailpit API %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		m.t.Fatalf("mailpit API %s: %v", path, err)
	}
}

// writeServerCert writes a fresh CA and a server certificate for 127.0.0.1 and localhost
// signed by it into dir, returning the paths of the CA, certificate and key (PEM).
func writeServerCert(t testing.TB, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "portcullis test mail CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("cert.pem", "CERTIFICATE", der), write("key.pem", "PRIVATE KEY", keyDER)
}

// String says where it listens, for messages.
func (m *Mailpit) String() string { return fmt.Sprintf("mailpit smtp=%s api=%s", m.SMTPAddr, m.API) }
