package application

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// LoginInput is a password login. Identifier is an email address or a username.
type LoginInput struct {
	Identifier string
	Password   string
	IP         string
	UserAgent  string
}

// TokensOutput is what a login or refresh hands the client.
type TokensOutput struct {
	AccessToken      string
	AccessExpiresAt  time.Time
	RefreshToken     string
	RefreshExpiresAt time.Time // when the session ends unless refreshed (idle) or at the latest (absolute)
	SessionID        string
	User             *domain.User // set by login, nil on refresh (refresh never reads the user table)
}

// Login checks a password and opens a session.
type Login struct {
	users    ports.UserStore
	sessions ports.SessionStore
	hasher   ports.PasswordHasher
	tokens   *tokenMinter
	clock    ports.Clock
	ids      ports.IDSource
	settings Settings
	audit    *Auditor
	log      *slog.Logger

	dummyOnce sync.Once
	dummy     string
}

// NewLogin wires the login use case.
func NewLogin(users ports.UserStore, sessions ports.SessionStore, hasher ports.PasswordHasher, issuer ports.TokenIssuer,
	clock ports.Clock, ids ports.IDSource, settings Settings, audit *Auditor, log *slog.Logger) *Login {
	return &Login{
		users: users, sessions: sessions, hasher: hasher, clock: clock, ids: ids, settings: settings, audit: audit, log: log,
		tokens: &tokenMinter{issuer: issuer, ids: ids, ttl: settings.AccessTTL},
	}
}

// Handle logs in. An unknown login, a wrong password and a disabled account all return
// domain.ErrInvalidCredentials after the same amount of hashing work.
func (l *Login) Handle(ctx context.Context, in LoginInput) (TokensOutput, error) {
	u, err := l.lookup(ctx, in.Identifier)
	if errors.Is(err, domain.ErrNotFound) {
		// Spend the time a real check would, so response time does not reveal the account.
		_, _, _ = l.hasher.Verify(ctx, l.dummyHash(ctx), in.Password)
		l.log.InfoContext(ctx, "login failed", "outcome", "unknown_account")
		l.audit.record(ctx, domain.EventLoginFailure, "", "", "unknown_account", "")
		return TokensOutput{}, domain.ErrInvalidCredentials
	}
	if err != nil {
		return TokensOutput{}, fmt.Errorf("load user: %w", err)
	}
	ok, rehash, err := l.hasher.Verify(ctx, u.PasswordHash, in.Password)
	if err != nil && ctx.Err() != nil {
		return TokensOutput{}, fmt.Errorf("verify password: %w", err)
	}
	if !ok || u.Disabled {
		outcome := "bad_password"
		if ok {
			outcome = "disabled"
		}
		l.log.InfoContext(ctx, "login failed", "user_id", u.ID, "outcome", outcome)
		l.audit.record(ctx, domain.EventLoginFailure, "", u.ID, outcome, "")
		return TokensOutput{}, domain.ErrInvalidCredentials
	}
	if rehash {
		l.upgradeHash(ctx, u, in.Password)
	}
	out, err := openSession(ctx, l.sessions, l.tokens, l.ids, l.settings, l.clock.Now(), u, in.IP, in.UserAgent)
	if err != nil {
		return TokensOutput{}, err
	}
	out.User = &u
	l.log.InfoContext(ctx, "login", "user_id", u.ID, "session_id", out.SessionID, "outcome", "ok")
	l.audit.record(ctx, domain.EventLoginSuccess, u.ID, u.ID, "ok", "session="+out.SessionID)
	return out, nil
}

func (l *Login) lookup(ctx context.Context, identifier string) (domain.User, error) {
	if strings.Contains(identifier, "@") {
		email, err := domain.NormalizeEmail(identifier)
		if err != nil {
			return domain.User{}, domain.ErrNotFound
		}
		return l.users.ByEmail(ctx, email)
	}
	username, ok := domain.NormalizeUsername(identifier)
	if !ok {
		return domain.User{}, domain.ErrNotFound
	}
	return l.users.ByUsername(ctx, username)
}

func (l *Login) dummyHash(ctx context.Context) string {
	l.dummyOnce.Do(func() {
		h, err := l.hasher.Hash(ctx, "portcullis dummy password for unknown accounts")
		if err == nil {
			l.dummy = h
		}
	})
	return l.dummy
}

// upgradeHash rewrites a hash made with weaker parameters or another algorithm. A failure is
// logged and does not fail the login: the old hash still works.
func (l *Login) upgradeHash(ctx context.Context, u domain.User, password string) {
	h, err := l.hasher.Hash(ctx, password)
	if err == nil {
		u.PasswordHash = h
		u.UpdatedAt = l.clock.Now()
		err = l.users.Update(ctx, u)
	}
	if err != nil {
		l.log.WarnContext(ctx, "password rehash failed", "user_id", u.ID, "error", err)
		return
	}
	l.log.InfoContext(ctx, "password rehashed", "user_id", u.ID)
}

// openSession starts a new session (a new refresh-token family) for u and mints its tokens.
func openSession(ctx context.Context, sessions ports.SessionStore, tokens *tokenMinter, ids ports.IDSource, s Settings,
	now time.Time, u domain.User, ip, userAgent string) (TokensOutput, error) {
	sid := ids.NewID()
	refresh, err := newRefreshToken(sid)
	if err != nil {
		return TokensOutput{}, fmt.Errorf("new refresh token: %w", err)
	}
	sess := domain.Session{
		ID:            sid,
		UserID:        u.ID,
		Roles:         u.Roles,
		RefreshHash:   hashRefreshToken(refresh),
		CreatedAt:     now,
		LastUsedAt:    now,
		IdleExpiresAt: now.Add(s.SessionIdle),
		AbsExpiresAt:  now.Add(s.SessionAbsolute),
		IP:            truncate(ip, 64),
		UserAgent:     truncate(userAgent, 512),
	}
	if sess.IdleExpiresAt.After(sess.AbsExpiresAt) {
		sess.IdleExpiresAt = sess.AbsExpiresAt
	}
	if err := sessions.Create(ctx, sess); err != nil {
		return TokensOutput{}, fmt.Errorf("create session: %w", err)
	}
	return tokens.mint(ctx, now, sess, refresh)
}

// tokenMinter issues the access token that goes with a session's refresh token.
type tokenMinter struct {
	issuer ports.TokenIssuer
	ids    ports.IDSource
	ttl    time.Duration
}

func (m *tokenMinter) mint(ctx context.Context, now time.Time, s domain.Session, refresh string) (TokensOutput, error) {
	exp := now.Add(m.ttl)
	access, err := m.issuer.Issue(ctx, domain.AccessClaims{
		Subject: s.UserID, SessionID: s.ID, Roles: s.Roles, ID: m.ids.NewID(), IssuedAt: now, ExpiresAt: exp,
	})
	if err != nil {
		return TokensOutput{}, fmt.Errorf("issue access token: %w", err)
	}
	return TokensOutput{
		AccessToken: access, AccessExpiresAt: exp,
		RefreshToken: refresh, RefreshExpiresAt: s.ExpiresAt(),
		SessionID: s.ID,
	}, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
