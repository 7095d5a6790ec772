package application

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// MailSettings are the policy values of the e-mail flows and their delivery, filled from
// configuration by the composition root. Zero durations and counts take the defaults below.
type MailSettings struct {
	// PublicURL is the external base URL every link starts with (never the request's Host).
	PublicURL string
	// VerifyPath, ResetPath and ConfirmPath follow PublicURL in a link, the token appended:
	// "/verify-email?token=".
	VerifyPath, ResetPath, ConfirmPath string
	// VerifyTTL, ResetTTL and ChangeTTL are the lifetimes of the tokens of each purpose.
	VerifyTTL, ResetTTL, ChangeTTL time.Duration
	// AddressInterval is the least time between two throttled mails to one address.
	AddressInterval time.Duration
	// DailyCap is how many throttled mails (see domain.MailKind.Throttled) one address may get
	// in 24 hours, besides the one per minute.
	DailyCap int
	// MaxAttempts bounds the delivery attempts of one message, after which it is failed.
	MaxAttempts int
	// RetryBase is the wait after the first failed attempt; it doubles after each one, up to
	// RetryMax.
	RetryBase, RetryMax time.Duration
	// SendTimeout bounds one delivery attempt; a message's lease lasts twice as long.
	SendTimeout time.Duration
	// PollInterval is how often an idle worker looks for due messages.
	PollInterval time.Duration
}

// The defaults of MailSettings, for a core built without configuration (tests); the service's
// values are configuration's (envDefault tags), and cmd/portcullis/app's
// TestMailDefaultsAreConfigs holds the two equal through DefaultMailSettings.
const (
	defaultVerifyTTL    = 24 * time.Hour
	defaultResetTTL     = 30 * time.Minute
	defaultChangeTTL    = time.Hour
	defaultDailyCap     = 10
	defaultMaxAttempts  = 8
	defaultRetryBase    = 10 * time.Second
	defaultRetryMax     = 10 * time.Minute
	defaultSendTimeout  = 30 * time.Second
	defaultPollInterval = 2 * time.Second
)

// DefaultMailSettings is what a zero MailSettings stands for (PublicURL aside, which has none).
func DefaultMailSettings() MailSettings { return MailSettings{}.withDefaults() }

func (s MailSettings) withDefaults() MailSettings {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&s.VerifyTTL, defaultVerifyTTL)
	def(&s.ResetTTL, defaultResetTTL)
	def(&s.ChangeTTL, defaultChangeTTL)
	def(&s.RetryBase, defaultRetryBase)
	def(&s.RetryMax, defaultRetryMax)
	def(&s.SendTimeout, defaultSendTimeout)
	def(&s.PollInterval, defaultPollInterval)
	def(&s.AddressInterval, time.Minute)
	if s.DailyCap <= 0 {
		s.DailyCap = defaultDailyCap
	}
	if s.MaxAttempts <= 0 {
		s.MaxAttempts = defaultMaxAttempts
	}
	if s.VerifyPath == "" {
		s.VerifyPath = "/verify-email?token="
	}
	if s.ResetPath == "" {
		s.ResetPath = "/reset-password?token="
	}
	if s.ConfirmPath == "" {
		s.ConfirmPath = "/confirm-email?token="
	}
	s.PublicURL = strings.TrimRight(s.PublicURL, "/")
	return s
}

// ttl is the lifetime of a token of purpose p.
func (s MailSettings) ttl(p domain.TokenPurpose) time.Duration {
	switch p {
	case domain.PurposeResetPassword:
		return s.ResetTTL
	case domain.PurposeChangeEmail:
		return s.ChangeTTL
	}
	return s.VerifyTTL
}

// link is the absolute link carrying token for purpose p.
func (s MailSettings) link(p domain.TokenPurpose, token string) string {
	path := s.VerifyPath
	switch p {
	case domain.PurposeResetPassword:
		path = s.ResetPath
	case domain.PurposeChangeEmail:
		path = s.ConfirmPath
	}
	return s.PublicURL + path + token
}

// MailQueue puts mail into the outbox for the use cases, applying the per-address caps to the
// kinds anyone can ask for: a mail over a cap is logged and not queued, and the caller answers
// as if it were (so that the answer reveals nothing). A nil *MailQueue queues nothing, for
// tests of use cases that do not look at mail.
type MailQueue struct {
	outbox   ports.MailOutbox
	limiter  ports.RateLimiter
	clock    ports.Clock
	ids      ports.IDSource
	settings MailSettings
	policy   Settings
	log      *slog.Logger
	wake     func() // tells this process's delivery worker there is mail; nil when none runs here
}

// OnQueued sets a function called after each successful queueing (the composition root
// points it at the local delivery worker's Wake, so mail leaves at once rather than at the
// next poll). Call it before the queue is used.
func (q *MailQueue) OnQueued(wake func()) { q.wake = wake }

// NewMailQueue wires the mail queue.
func NewMailQueue(outbox ports.MailOutbox, limiter ports.RateLimiter, clock ports.Clock, ids ports.IDSource,
	settings MailSettings, policy Settings, log *slog.Logger) *MailQueue {
	return &MailQueue{outbox: outbox, limiter: limiter, clock: clock, ids: ids, settings: settings.withDefaults(),
		policy: policy, log: log}
}

// requireVerified reports PORTCULLIS_REQUIRE_VERIFIED_EMAIL.
func (q *MailQueue) requireVerified() bool { return q != nil && q.policy.RequireVerifiedEmail }

// queue puts mails of one request into the outbox, together. A throttled kind over its
// address's caps is left out (logged); the others still go.
func (q *MailQueue) queue(ctx context.Context, mails ...domain.OutboxMail) error {
	return q.queueMails(ctx, true, mails...)
}

// queueMails is queue, applying the caps only when throttle is set.
func (q *MailQueue) queueMails(ctx context.Context, throttle bool, mails ...domain.OutboxMail) error {
	if q == nil {
		return nil
	}
	now := q.clock.Now()
	keep := mails[:0:0]
	for _, m := range mails {
		if throttle && m.Kind.Throttled() {
			ok, err := q.allow(ctx, m.To)
			if err != nil {
				return err
			}
			if !ok {
				q.log.InfoContext(ctx, "mail not queued: the address had its share", "kind", string(m.Kind), "user_id", m.UserID)
				continue
			}
		}
		m.ID, m.Status, m.CreatedAt, m.UpdatedAt, m.NextAttemptAt = q.ids.NewID(), domain.MailPending, now, now, now
		keep = append(keep, m)
	}
	if len(keep) == 0 {
		return nil
	}
	if err := q.outbox.Enqueue(ctx, keep...); err != nil {
		return fmt.Errorf("queue mail: %w", err)
	}
	for _, m := range keep {
		q.log.DebugContext(ctx, "mail queued", "mail_id", m.ID, "kind", string(m.Kind), "user_id", m.UserID)
	}
	if q.wake != nil {
		q.wake()
	}
	return nil
}

// notify queues a notice about something that has already happened: a failure to queue it
// cannot undo that, so it is logged rather than returned.
func (q *MailQueue) notify(ctx context.Context, mails ...domain.OutboxMail) {
	if err := q.queue(ctx, mails...); err != nil {
		q.log.ErrorContext(ctx, "mail notice not queued", "kind", string(mails[0].Kind), "user_id", mails[0].UserID, "error", err)
	}
}

// cancel drops userID's messages of kind not yet sent (ports.MailOutbox.Cancel).
func (q *MailQueue) cancel(ctx context.Context, userID string, kind domain.MailKind, reason string) error {
	if q == nil {
		return nil
	}
	n, err := q.outbox.Cancel(ctx, userID, kind, reason, q.clock.Now())
	if err != nil {
		return fmt.Errorf("cancel mail: %w", err)
	}
	if n > 0 {
		q.log.InfoContext(ctx, "mail cancelled", "kind", string(kind), "user_id", userID, "count", n, "reason", reason)
	}
	return nil
}

// allow counts one throttled mail to addr against both caps (one per AddressInterval,
// DailyCap a day) and reports whether it fits.
func (q *MailQueue) allow(ctx context.Context, addr string) (bool, error) {
	res, err := q.limiter.Allow(ctx, "mail:interval:"+addr, ports.RateLimit{Burst: 1, Period: q.settings.AddressInterval}, 1)
	if err != nil || !res.Allowed {
		return false, wrapLimiter(err)
	}
	res, err = q.limiter.Allow(ctx, "mail:day:"+addr, ports.RateLimit{Burst: q.settings.DailyCap, Period: 24 * time.Hour}, 1)
	if err != nil {
		return false, wrapLimiter(err)
	}
	return res.Allowed, nil
}

func wrapLimiter(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("rate limit: %w", err)
}

// oneTimeToken makes a token for u and purpose p: the secret (256 bits, base64url, to mail)
// and the record to store (its SHA-256, never the secret).
func newOneTimeToken(userID string, p domain.TokenPurpose, about string, now time.Time, ttl time.Duration) (string, domain.OneTimeToken, error) {
	secret, err := randomToken()
	if err != nil {
		return "", domain.OneTimeToken{}, fmt.Errorf("new one-time token: %w", err)
	}
	return secret, domain.OneTimeToken{
		Hash: hashToken(secret), UserID: userID, Purpose: p, CreatedAt: now, ExpiresAt: now.Add(ttl), NewEmail: about,
	}, nil
}
