package telemetry

import (
	"regexp"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portcullis-auth/portcullis/domain"
)

// Second-factor metrics, counted from the audit records the use cases append (as logins are):
//
//	portcullis_mfa_enrolments_total{method, outcome}          a factor added (pending, ok, refused,
//	                                                          duplicate), recovery codes (re)generated
//	portcullis_mfa_verifications_total{method, step, outcome} a code or passkey checked: at login,
//	                                                          to confirm an enrolment or to remove it
//	portcullis_mfa_removals_total{method, by}                 a factor removed by its user, or all of a
//	                                                          user's by an administrator (method "all")
//
// Labels hold only words the code writes (methods, steps, outcomes), never a user id, address,
// passkey id or anything a client sent: an unknown word is "other".
type mfaMetrics struct {
	enrolments    *prometheus.CounterVec
	verifications *prometheus.CounterVec
	removals      *prometheus.CounterVec
}

func newMFAMetrics() *mfaMetrics {
	m := &mfaMetrics{
		enrolments: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "mfa", Name: "enrolments_total",
			Help: "Second factors added, by method (totp, passkey, recovery_code: codes generated again) and outcome (pending, ok, refused, duplicate)."},
			[]string{"method", "outcome"}),
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "mfa", Name: "verifications_total",
			Help: "Second-factor checks, by method, step (login, confirm, disable) and outcome (ok, bad_code, or the passkey's reason)."},
			[]string{"method", "step", "outcome"}),
		removals: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "mfa", Name: "removals_total",
			Help: "Second factors removed, by method (all: an administrator's reset) and by whom (user, admin)."},
			[]string{"method", "by"}),
	}
	// Series that exist from the start read 0 instead of missing until their first event.
	m.enrolments.WithLabelValues("totp", "ok")
	for _, o := range []string{"ok", "bad_code"} {
		m.verifications.WithLabelValues("totp", "login", o)
		m.verifications.WithLabelValues("recovery_code", "login", o)
	}
	m.removals.WithLabelValues("totp", "user")
	m.removals.WithLabelValues("all", "admin")
	return m
}

func (m *mfaMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.enrolments, m.verifications, m.removals}
}

// observe counts r if it is a second-factor event.
func (m *mfaMetrics) observe(r domain.AuditRecord) {
	method, step := mfaDetail(r.Detail)
	switch r.Event {
	case domain.EventMFAEnrol:
		m.enrolments.WithLabelValues(method, word(r.Outcome)).Inc()
	case domain.EventRecoveryCodes:
		m.enrolments.WithLabelValues("recovery_code", word(r.Outcome)).Inc()
	case domain.EventMFASuccess, domain.EventMFAFailure:
		m.verifications.WithLabelValues(method, step, word(r.Outcome)).Inc()
	case domain.EventMFARemove:
		m.removals.WithLabelValues(method, "user").Inc()
	case domain.EventMFAReset:
		m.removals.WithLabelValues("all", "admin").Inc()
	}
}

// mfaDetail reads the method and step from an audit detail such as "method=totp disable" or
// "method=passkey passkey=<id>": the step is the word after the method when it is one of the
// known steps, else login.
func mfaDetail(detail string) (method, step string) {
	method, step = "other", "login"
	fields := strings.Fields(detail)
	if len(fields) > 0 {
		if m, ok := strings.CutPrefix(fields[0], "method="); ok {
			switch m {
			case "totp", "recovery_code", "passkey":
				method = m
			}
		}
	}
	if len(fields) > 1 {
		switch fields[1] {
		case "confirm", "disable":
			step = fields[1]
		}
	}
	return method, step
}

var wordPattern = regexp.MustCompile(`^[a-z_]{1,32}$`)

// word is s when it is a short lower-case word (an outcome the code wrote), else "other".
func word(s string) string {
	if wordPattern.MatchString(s) {
		return s
	}
	return "other"
}
