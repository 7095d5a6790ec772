package telemetry

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// probe times the calls of one store into Metrics and, when tracing is on, wraps each in a
// client span named "<store>.<op>". Span attributes name the store and operation only, never
// an argument: arguments are emails, hashes and tokens.
type probe struct {
	store  string
	m      *Metrics
	tracer trace.Tracer // nil: tracing is off
}

func newProbe(store string, m *Metrics, t *Tracing) probe {
	return probe{store: store, m: m, tracer: t.tracer()}
}

// observed is the state of every store decorator: the port it decorates and its probe. Each
// decorator embeds it and writes only its methods.
type observed[T any] struct {
	next T
	p    probe
}

// observe is the observed state of next, probed as store.
func observe[T any](next T, store string, m *Metrics, t *Tracing) observed[T] {
	return observed[T]{next: next, p: newProbe(store, m, t)}
}

// call runs f as operation op of the store.
func call[T any](p probe, ctx context.Context, op string, f func(context.Context) (T, error)) (T, error) {
	start := time.Now()
	var span trace.Span
	if p.tracer != nil {
		ctx, span = p.tracer.Start(ctx, p.store+"."+op, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("portcullis.store", p.store), attribute.String("portcullis.op", op)))
	}
	v, err := f(ctx)
	p.m.observeStore(p.store, op, time.Since(start), err)
	if span != nil {
		if err != nil && !isAnswer(err) {
			span.SetStatus(codes.Error, errorKind(err))
		}
		span.End()
	}
	return v, err
}

// call0 is call for an operation that returns only an error.
func call0(p probe, ctx context.Context, op string, f func(context.Context) error) error {
	_, err := call(p, ctx, op, func(ctx context.Context) (struct{}, error) { return struct{}{}, f(ctx) })
	return err
}

// errorKind describes a failure for a span status without its message, which may quote a
// query or an address.
func errorKind(err error) string {
	switch {
	case errors.Is(err, domain.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline exceeded"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "error"
}

// users decorates ports.UserStore.
type users struct{ observed[ports.UserStore] }

// ObserveUsers decorates a user store with metrics and spans.
func ObserveUsers(next ports.UserStore, m *Metrics, t *Tracing) ports.UserStore {
	return &users{observe(next, "users", m, t)}
}

func (s *users) Create(ctx context.Context, u domain.User) error {
	return call0(s.p, ctx, "create", func(ctx context.Context) error { return s.next.Create(ctx, u) })
}

func (s *users) ByID(ctx context.Context, id string) (domain.User, error) {
	return call(s.p, ctx, "by_id", func(ctx context.Context) (domain.User, error) { return s.next.ByID(ctx, id) })
}

func (s *users) ByEmail(ctx context.Context, email string) (domain.User, error) {
	return call(s.p, ctx, "by_email", func(ctx context.Context) (domain.User, error) { return s.next.ByEmail(ctx, email) })
}

func (s *users) ByUsername(ctx context.Context, name string) (domain.User, error) {
	return call(s.p, ctx, "by_username", func(ctx context.Context) (domain.User, error) { return s.next.ByUsername(ctx, name) })
}

func (s *users) Update(ctx context.Context, u domain.User) (domain.User, error) {
	return call(s.p, ctx, "update", func(ctx context.Context) (domain.User, error) { return s.next.Update(ctx, u) })
}

func (s *users) Delete(ctx context.Context, id string) error {
	return call0(s.p, ctx, "delete", func(ctx context.Context) error { return s.next.Delete(ctx, id) })
}

func (s *users) UpdateUnlessLastAdmin(ctx context.Context, u domain.User) (domain.User, error) {
	return call(s.p, ctx, "update_unless_last_admin", func(ctx context.Context) (domain.User, error) { return s.next.UpdateUnlessLastAdmin(ctx, u) })
}

// directory decorates ports.UserDirectory.
type directory struct{ observed[ports.UserDirectory] }

// ObserveDirectory decorates a user directory with metrics and spans.
func ObserveDirectory(next ports.UserDirectory, m *Metrics, t *Tracing) ports.UserDirectory {
	return &directory{observe(next, "directory", m, t)}
}

func (s *directory) List(ctx context.Context, q domain.UserQuery) ([]domain.User, error) {
	return call(s.p, ctx, "list", func(ctx context.Context) ([]domain.User, error) { return s.next.List(ctx, q) })
}

func (s *directory) CountActiveAdmins(ctx context.Context) (int, error) {
	return call(s.p, ctx, "count_active_admins", s.next.CountActiveAdmins)
}

// sessions decorates ports.SessionStore, and counts sessions created and revoked and refresh
// outcomes: every rotation goes through Rotate.
type sessions struct{ observed[ports.SessionStore] }

// ObserveSessions decorates a session store with metrics and spans.
func ObserveSessions(next ports.SessionStore, m *Metrics, t *Tracing) ports.SessionStore {
	return &sessions{observe(next, "sessions", m, t)}
}

func (s *sessions) Create(ctx context.Context, sess domain.Session, now time.Time) error {
	err := call0(s.p, ctx, "create", func(ctx context.Context) error { return s.next.Create(ctx, sess, now) })
	if err == nil {
		s.p.m.sessionsCreated.Inc()
	}
	return err
}

func (s *sessions) Get(ctx context.Context, id string, now time.Time) (domain.Session, error) {
	return call(s.p, ctx, "get", func(ctx context.Context) (domain.Session, error) { return s.next.Get(ctx, id, now) })
}

func (s *sessions) Rotate(ctx context.Context, r domain.Rotation) (domain.RotateOutcome, domain.Session, error) {
	var outcome domain.RotateOutcome
	sess, err := call(s.p, ctx, "rotate", func(ctx context.Context) (domain.Session, error) {
		o, sess, err := s.next.Rotate(ctx, r)
		outcome = o
		return sess, err
	})
	switch {
	case err == nil && outcome == domain.GraceReplay:
		s.p.m.refreshes.WithLabelValues(RefreshGrace).Inc()
	case err == nil:
		s.p.m.refreshes.WithLabelValues(RefreshRotated).Inc()
	case errors.Is(err, domain.ErrRefreshReuse):
		s.p.m.refreshes.WithLabelValues(RefreshReuseRevoked).Inc()
		s.p.m.sessionsRevoked.Inc()
	case errors.Is(err, domain.ErrNotFound):
		s.p.m.refreshes.WithLabelValues(RefreshInvalid).Inc()
	}
	return outcome, sess, err
}

func (s *sessions) ListByUser(ctx context.Context, userID string, now time.Time) ([]domain.Session, error) {
	return call(s.p, ctx, "list_by_user", func(ctx context.Context) ([]domain.Session, error) {
		return s.next.ListByUser(ctx, userID, now)
	})
}

func (s *sessions) Delete(ctx context.Context, id string) error {
	err := call0(s.p, ctx, "delete", func(ctx context.Context) error { return s.next.Delete(ctx, id) })
	if err == nil {
		s.p.m.sessionsRevoked.Inc()
	}
	return err
}

func (s *sessions) DeleteByUser(ctx context.Context, userID string, now time.Time) (int, error) {
	n, err := call(s.p, ctx, "delete_by_user", func(ctx context.Context) (int, error) { return s.next.DeleteByUser(ctx, userID, now) })
	if n > 0 {
		s.p.m.sessionsRevoked.Add(float64(n))
	}
	return n, err
}

func (s *sessions) SetRoles(ctx context.Context, userID string, roles []domain.Role) error {
	return call0(s.p, ctx, "set_roles", func(ctx context.Context) error { return s.next.SetRoles(ctx, userID, roles) })
}

// oneTime decorates ports.OneTimeTokens.
type oneTime struct{ observed[ports.OneTimeTokens] }

// ObserveOneTimeTokens decorates a one-time-token store with metrics and spans.
func ObserveOneTimeTokens(next ports.OneTimeTokens, m *Metrics, t *Tracing) ports.OneTimeTokens {
	return &oneTime{observe(next, "onetime", m, t)}
}

func (s *oneTime) Create(ctx context.Context, tok domain.OneTimeToken) error {
	return call0(s.p, ctx, "create", func(ctx context.Context) error { return s.next.Create(ctx, tok) })
}

func (s *oneTime) Consume(ctx context.Context, hash []byte, purpose domain.TokenPurpose, now time.Time) (domain.OneTimeToken, error) {
	return call(s.p, ctx, "consume", func(ctx context.Context) (domain.OneTimeToken, error) {
		return s.next.Consume(ctx, hash, purpose, now)
	})
}

func (s *oneTime) DeleteByUser(ctx context.Context, userID string) error {
	return call0(s.p, ctx, "delete_by_user", func(ctx context.Context) error { return s.next.DeleteByUser(ctx, userID) })
}

func (s *oneTime) DeleteByUserPurpose(ctx context.Context, userID string, purpose domain.TokenPurpose) error {
	return call0(s.p, ctx, "delete_by_user_purpose", func(ctx context.Context) error {
		return s.next.DeleteByUserPurpose(ctx, userID, purpose)
	})
}

// audit decorates ports.AuditLog, and counts logins by outcome from the records the login use
// case appends (one per attempt), and second-factor events (see mfa.go).
type audit struct{ observed[ports.AuditLog] }

// ObserveAudit decorates an audit log with metrics and spans.
func ObserveAudit(next ports.AuditLog, m *Metrics, t *Tracing) ports.AuditLog {
	return &audit{observe(next, "audit", m, t)}
}

func (s *audit) Append(ctx context.Context, r domain.AuditRecord) error {
	switch r.Event {
	case domain.EventLoginSuccess:
		s.p.m.logins.WithLabelValues(LoginOK).Inc()
	case domain.EventLoginFailure:
		s.p.m.logins.WithLabelValues(loginOutcome(r.Outcome)).Inc()
	default:
		s.p.m.mfa.observe(r)
	}
	return call0(s.p, ctx, "append", func(ctx context.Context) error { return s.next.Append(ctx, r) })
}

func (s *audit) List(ctx context.Context, q domain.AuditQuery) ([]domain.AuditRecord, error) {
	return call(s.p, ctx, "list", func(ctx context.Context) ([]domain.AuditRecord, error) { return s.next.List(ctx, q) })
}

// keys decorates ports.KeyStore.
type keys struct{ observed[ports.KeyStore] }

// ObserveKeys decorates a signing-key store with metrics and spans.
func ObserveKeys(next ports.KeyStore, m *Metrics, t *Tracing) ports.KeyStore {
	return &keys{observe(next, "keys", m, t)}
}

func (s *keys) Keys(ctx context.Context) ([]domain.SigningKey, error) {
	return call(s.p, ctx, "keys", s.next.Keys)
}

func (s *keys) Add(ctx context.Context, k domain.SigningKey) error {
	return call0(s.p, ctx, "add", func(ctx context.Context) error { return s.next.Add(ctx, k) })
}

func (s *keys) Retire(ctx context.Context, id string, at time.Time) error {
	return call0(s.p, ctx, "retire", func(ctx context.Context) error { return s.next.Retire(ctx, id, at) })
}

func (s *keys) Delete(ctx context.Context, id string) error {
	return call0(s.p, ctx, "delete", func(ctx context.Context) error { return s.next.Delete(ctx, id) })
}

// limiter decorates ports.RateLimiter.
type limiter struct{ observed[ports.RateLimiter] }

// ObserveRateLimiter decorates a rate limiter with metrics and spans.
func ObserveRateLimiter(next ports.RateLimiter, m *Metrics, t *Tracing) ports.RateLimiter {
	return &limiter{observe(next, "ratelimit", m, t)}
}

func (s *limiter) Allow(ctx context.Context, key string, limit ports.RateLimit, n int) (ports.RateResult, error) {
	return call(s.p, ctx, "allow", func(ctx context.Context) (ports.RateResult, error) { return s.next.Allow(ctx, key, limit, n) })
}

func (s *limiter) Reset(ctx context.Context, key string) error {
	return call0(s.p, ctx, "reset", func(ctx context.Context) error { return s.next.Reset(ctx, key) })
}

// hasher decorates ports.PasswordHasher with a span per hash or verification (its timings go to
// Metrics through the password adapter's own hook, which sees the wait for a slot).
type hasher struct {
	next   ports.PasswordHasher
	tracer trace.Tracer
}

// TraceHasher decorates a password hasher with spans; with tracing off it returns next.
func TraceHasher(next ports.PasswordHasher, t *Tracing) ports.PasswordHasher {
	tr := t.tracer()
	if tr == nil {
		return next
	}
	return &hasher{next: next, tracer: tr}
}

func (h *hasher) Hash(ctx context.Context, password string) (string, error) {
	ctx, span := h.tracer.Start(ctx, "password.hash")
	defer span.End()
	return h.next.Hash(ctx, password)
}

func (h *hasher) Check(password string) *domain.FieldError { return h.next.Check(password) }

func (h *hasher) Verify(ctx context.Context, hash, password string) (bool, bool, error) {
	ctx, span := h.tracer.Start(ctx, "password.verify")
	defer span.End()
	return h.next.Verify(ctx, hash, password)
}
