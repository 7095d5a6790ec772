package telemetry

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/portcullis-auth/portcullis/adapters/memstore"
	"github.com/portcullis-auth/portcullis/domain"
)

// The second-factor metrics move with the audit records the use cases append — enrolments,
// verifications by step and outcome, removals — and no label carries user data.
func TestMFAMetricsMove(t *testing.T) {
	m := NewMetrics(Build{}, nil)
	log := ObserveAudit(memstore.NewAuditLog(), m, Off())
	const uid, pid = "0193a1b2-user-id", "0193a1b2-passkey-id"
	id := 0
	for _, r := range []domain.AuditRecord{
		{Event: domain.EventMFAEnrol, Outcome: "pending", Detail: "method=totp"},
		{Event: domain.EventMFAFailure, Outcome: "bad_code", Detail: "method=totp confirm"},
		{Event: domain.EventMFAEnrol, Outcome: "ok", Detail: "method=totp"},
		{Event: domain.EventMFASuccess, Outcome: "ok", Detail: "method=totp"},
		{Event: domain.EventMFAFailure, Outcome: "bad_code", Detail: "method=totp"},
		{Event: domain.EventMFAFailure, Outcome: "bad_code", Detail: "method=totp"},
		{Event: domain.EventMFASuccess, Outcome: "ok", Detail: "method=recovery_code"},
		{Event: domain.EventRecoveryCodes, Outcome: "ok", Detail: "sessions_revoked=2"},
		{Event: domain.EventMFAFailure, Outcome: "bad_code", Detail: "method=totp disable"},
		{Event: domain.EventMFARemove, Outcome: "ok", Detail: "method=totp sessions_revoked=1"},
		{Event: domain.EventMFAEnrol, Outcome: "ok", Detail: "method=passkey passkey=" + pid},
		{Event: domain.EventMFASuccess, Outcome: "ok", Detail: "method=passkey passkey=" + pid},
		{Event: domain.EventMFAFailure, Outcome: "Counter Went Back " + uid, Detail: "method=passkey"},
		{Event: domain.EventMFARemove, Outcome: "ok", Detail: "method=passkey passkey=" + pid},
		{Event: domain.EventMFAReset, Outcome: "ok"},
		{Event: domain.EventMFAEnrol, Outcome: "ok", Detail: "method=" + uid},
	} {
		id++
		r.ID, r.SubjectID, r.ActorID = fmt.Sprint(id), uid, uid
		if err := log.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"enrolments totp pending", testutil.ToFloat64(m.mfa.enrolments.WithLabelValues("totp", "pending")), 1},
		{"enrolments totp ok", testutil.ToFloat64(m.mfa.enrolments.WithLabelValues("totp", "ok")), 1},
		{"enrolments passkey ok", testutil.ToFloat64(m.mfa.enrolments.WithLabelValues("passkey", "ok")), 1},
		{"enrolments recovery_code ok", testutil.ToFloat64(m.mfa.enrolments.WithLabelValues("recovery_code", "ok")), 1},
		{"enrolments of an unknown method", testutil.ToFloat64(m.mfa.enrolments.WithLabelValues("other", "ok")), 1},
		{"verifications totp login ok", testutil.ToFloat64(m.mfa.verifications.WithLabelValues("totp", "login", "ok")), 1},
		{"verifications totp login bad_code", testutil.ToFloat64(m.mfa.verifications.WithLabelValues("totp", "login", "bad_code")), 2},
		{"verifications totp confirm bad_code", testutil.ToFloat64(m.mfa.verifications.WithLabelValues("totp", "confirm", "bad_code")), 1},
		{"verifications totp disable bad_code", testutil.ToFloat64(m.mfa.verifications.WithLabelValues("totp", "disable", "bad_code")), 1},
		{"verifications recovery_code login ok", testutil.ToFloat64(m.mfa.verifications.WithLabelValues("recovery_code", "login", "ok")), 1},
		{"verifications passkey login ok", testutil.ToFloat64(m.mfa.verifications.WithLabelValues("passkey", "login", "ok")), 1},
		{"verifications passkey login other", testutil.ToFloat64(m.mfa.verifications.WithLabelValues("passkey", "login", "other")), 1},
		{"removals totp user", testutil.ToFloat64(m.mfa.removals.WithLabelValues("totp", "user")), 1},
		{"removals passkey user", testutil.ToFloat64(m.mfa.removals.WithLabelValues("passkey", "user")), 1},
		{"removals all admin", testutil.ToFloat64(m.mfa.removals.WithLabelValues("all", "admin")), 1},
		{"logins untouched", testutil.ToFloat64(m.logins.WithLabelValues(LoginOK)), 0},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "portcullis_mfa_") {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if v := l.GetValue(); strings.Contains(v, "0193a1b2") || strings.Contains(v, " ") {
					t.Errorf("%s has user data in label %s=%q", f.GetName(), l.GetName(), v)
				}
			}
		}
	}
}
