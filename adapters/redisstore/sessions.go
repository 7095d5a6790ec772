package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/domain"
)

// staleMargin is how old (by CreatedAt) an index entry must be before a reader that finds its
// session gone may drop it. Create writes the index entry first and the session just after;
// without the margin a reader between the two would unlink a session that is being born,
// leaving it out of reach of DeleteByUser.
const staleMargin = time.Minute

// Sessions is a ports.SessionStore on Redis (standalone, Sentinel or Cluster through
// redis.UniversalClient). The session HASH is the source of truth and expires by itself
// (PEXPIREAT at the earlier of its idle and absolute limits); the per-user ZSET is an index
// kept beside it. See keys.go for the layout and how cluster slots are respected.
//
// Get is one HGETALL; Rotate is one Lua script, pipelined with concurrent rotations (rotator).
// Errors other than a missing session wrap domain.ErrUnavailable. Safe for concurrent use.
// With WaitForReplicas, the writes wait for replicas to acknowledge them (durable.go).
type Sessions struct {
	client redis.UniversalClient
	keys   keys

	// rotator, on a standalone or Sentinel client without replica waits, is go-redis's
	// automatic pipeliner (its deferred face, so that a caller waits no longer than its
	// context): the rotations of concurrent requests leave in one write and come back in one
	// read instead of a round trip each. Each script is still atomic on its own key, so
	// batching changes no outcome. Otherwise (Cluster, WaitForReplicas) it is nil and Rotate
	// uses eval.
	rotator *redis.AutoPipeliner

	waitReplicas int           // 0: asynchronous replication, as Redis does by default
	waitTimeout  time.Duration // bound of each WAIT
}

// NewSessions returns a session store on client whose keys all start with prefix (which must
// not contain '{' or '}'). Tests give each run its own prefix; production uses "" or a
// deployment name ending in ':'. Like every ports.SessionStore it keeps no clock: methods judge
// liveness at the time their caller passes (the keys themselves expire by the server's clock).
func NewSessions(client redis.UniversalClient, prefix string) (*Sessions, error) {
	return NewSessionsWith(client, prefix)
}

// NewSessionsWith is NewSessions with options (WaitForReplicas).
func NewSessionsWith(client redis.UniversalClient, prefix string, opts ...SessionOption) (*Sessions, error) {
	k, err := newKeys(prefix)
	if err != nil {
		return nil, err
	}
	st := &Sessions{client: client, keys: k}
	for _, o := range opts {
		o(st)
	}
	if st.waitReplicas < 0 {
		return nil, fmt.Errorf("redisstore: replicas to wait for must not be negative (got %d)", st.waitReplicas)
	}
	if st.waitReplicas > 0 && st.waitTimeout <= 0 {
		return nil, fmt.Errorf("redisstore: waiting for replicas needs a positive timeout (got %s)", st.waitTimeout)
	}
	if c, ok := client.(*redis.Client); ok && st.waitReplicas == 0 {
		// Shared by every store on c and closed with it.
		ap, err := c.AsyncAutoPipeline()
		if err != nil {
			return nil, fmt.Errorf("redisstore: automatic pipeliner: %w", err)
		}
		st.rotator = ap
	}
	return st, nil
}

// Create stores s. The user index is written first, so a session never exists without its
// index entry (DeleteByUser must find it); a session ID that is already live is
// domain.ErrConflict. A session already dead at now is not stored.
func (st *Sessions) Create(ctx context.Context, s domain.Session, now time.Time) error {
	if !s.Live(now) {
		return ctx.Err()
	}
	expireAt := s.ExpiresAt().UnixMilli()
	err := st.eval(ctx, indexScript, st.keys.userSessions(s.UserID),
		s.CreatedAt.UnixMilli(), s.ID, s.AbsExpiresAt.UnixMilli(), now.UnixMilli()).Err()
	if err != nil {
		return unavailable("create session: index", err)
	}
	args := append([]any{expireAt}, encodeSession(s)...)
	created, err := st.eval(ctx, createScript, st.keys.session(s.ID), args...).Int()
	if err != nil {
		return unavailable("create session", err)
	}
	if created == 0 {
		return fmt.Errorf("create session %s: %w", s.ID, domain.ErrConflict)
	}
	return nil
}

// Get returns session id in one round trip (HGETALL). A missing session, or one past its
// limits at now, is domain.ErrNotFound.
func (st *Sessions) Get(ctx context.Context, id string, now time.Time) (domain.Session, error) {
	m, err := st.client.HGetAll(ctx, st.keys.session(id)).Result()
	if err != nil {
		return domain.Session{}, unavailable("get session", err)
	}
	s, ok, err := decodeSession(id, m)
	if err != nil {
		return domain.Session{}, fmt.Errorf("get session %s: %w", id, err)
	}
	if !ok || !s.Live(now) {
		return domain.Session{}, fmt.Errorf("get session %s: %w", id, domain.ErrNotFound)
	}
	return s, nil
}

// Rotate runs the rotation as one Lua script on the session key, atomic against any number of
// callers on any number of instances; see ports.SessionStore for the outcomes (a hash the
// session never issued is domain.ErrNotFound and the script changes nothing). Expiry is
// judged at r.Now. On reuse the session is deleted by the script and its index entry dropped
// just after (best effort: a leftover entry is harmless and dropped by later reads).
func (st *Sessions) Rotate(ctx context.Context, r domain.Rotation) (domain.RotateOutcome, domain.Session, error) {
	key := st.keys.session(r.SessionID)
	args := []any{r.PresentedHash, r.NewHash, r.Successor,
		r.Now.UnixMilli(), r.Grace.Milliseconds(), r.IdleTTL.Milliseconds(),
		domain.RetiredRing * domain.HashSize, domain.HashSize}
	var cmd *redis.Cmd
	if st.rotator != nil {
		cmd = st.evalPipelined(ctx, rotateScript, key, args...)
	} else {
		cmd = st.eval(ctx, rotateScript, key, args...)
	}
	res, err := cmd.Slice()
	if err != nil {
		return 0, domain.Session{}, unavailable("rotate session", err)
	}
	code, _ := res[0].(int64)
	switch code {
	case 1, 2:
		if len(res) < 2 {
			return 0, domain.Session{}, fmt.Errorf("rotate session %s: short script reply", r.SessionID)
		}
		s, ok, err := decodeSession(r.SessionID, fieldsToMap(rotateFields, res[1]))
		if err != nil {
			return 0, domain.Session{}, fmt.Errorf("rotate session %s: %w", r.SessionID, err)
		}
		if !ok {
			return 0, domain.Session{}, fmt.Errorf("rotate session %s: %w", r.SessionID, domain.ErrNotFound)
		}
		if code == 2 {
			return domain.GraceReplay, s, nil
		}
		// s is the session before the rotation the script made: the domain's rule, at the
		// millisecond the script was given, makes the session it wrote.
		r.Now = decodeTime(r.Now.UnixMilli())
		o, next, err := s.Rotate(r)
		if err != nil || o != domain.Rotated {
			return 0, domain.Session{}, fmt.Errorf("rotate session %s: the script rotated what the domain rule does not (%v, %v)",
				r.SessionID, o, err)
		}
		return domain.Rotated, next, nil
	case 3:
		revoked := domain.Session{ID: r.SessionID}
		if len(res) > 1 {
			if uid, _ := res[1].(string); uid != "" {
				revoked.UserID = uid
				// Best effort: the session is already gone, which is what matters.
				_ = st.client.ZRem(context.WithoutCancel(ctx), st.keys.userSessions(uid), r.SessionID).Err()
			}
		}
		return 0, revoked, fmt.Errorf("rotate session %s: %w", r.SessionID, domain.ErrRefreshReuse)
	case 4:
		// Not a token of this session (forged with a known session id, or retired beyond the
		// ring): refused, and the script left the session alone.
		return 0, domain.Session{}, fmt.Errorf("rotate session %s: unknown refresh token: %w", r.SessionID, domain.ErrNotFound)
	default:
		return 0, domain.Session{}, fmt.Errorf("rotate session %s: %w", r.SessionID, domain.ErrNotFound)
	}
}

// evalPipelined runs script on key through the pipeliner and waits for its reply, or until
// ctx ends. A script the server does not hold (NOSCRIPT: a restarted or failed-over Redis) is
// loaded on the plain client and run once more.
func (st *Sessions) evalPipelined(ctx context.Context, script *redis.Script, key string, args ...any) *redis.Cmd {
	run := func() *redis.Cmd {
		// The pipeliner sends a queued command whatever becomes of its caller, so a caller
		// that has already given up queues none.
		if err := ctx.Err(); err != nil {
			return failed(ctx, err)
		}
		cmd := redis.NewCmd(ctx, append([]any{"evalsha", script.Hash(), 1, key}, args...)...)
		if err := st.rotator.Submit(ctx, cmd).WaitContext(ctx); ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			// cmd may still be completed by its batch: answer with a command of our own.
			return failed(ctx, err)
		}
		return cmd
	}
	cmd := run()
	if !redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		return cmd
	}
	if err := script.Load(ctx, st.client).Err(); err != nil {
		return failed(ctx, err)
	}
	return run()
}

// failed is a command that failed with err without being sent.
func failed(ctx context.Context, err error) *redis.Cmd {
	cmd := redis.NewCmd(ctx)
	cmd.SetErr(err)
	return cmd
}

// ListByUser returns the sessions of userID live at now, newest first: one ZREVRANGE of the
// index and one pipeline of HGETALLs (split per node by the cluster client). Index entries
// whose session is gone are dropped.
func (st *Sessions) ListByUser(ctx context.Context, userID string, now time.Time) ([]domain.Session, error) {
	index := st.keys.userSessions(userID)
	ids, err := st.client.ZRevRange(ctx, index, 0, -1).Result()
	if err != nil {
		return nil, unavailable("list sessions", err)
	}
	out := make([]domain.Session, 0, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err = st.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, st.keys.session(id))
		}
		return nil
	})
	if err != nil {
		return nil, unavailable("list sessions", err)
	}
	var gone []string
	for i, cmd := range cmds {
		s, ok, err := decodeSession(ids[i], cmd.Val())
		switch {
		case err != nil:
			return nil, fmt.Errorf("list sessions of %s: %w", userID, err)
		case !ok:
			gone = append(gone, ids[i])
		case s.UserID == userID && s.Live(now):
			out = append(out, s)
		}
	}
	st.dropStale(ctx, index, gone, now)
	slices.SortFunc(out, func(a, b domain.Session) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	return out, nil
}

// dropStale removes from index those of ids (whose sessions were found gone) that are older
// than staleMargin at now. Best effort: errors are ignored, a later read retries.
func (st *Sessions) dropStale(ctx context.Context, index string, ids []string, now time.Time) {
	if len(ids) == 0 {
		return
	}
	scores, err := st.client.ZMScore(ctx, index, ids...).Result()
	if err != nil {
		return
	}
	cutoff := float64(now.Add(-staleMargin).UnixMilli())
	var old []any
	for i, score := range scores {
		if score != 0 && score < cutoff {
			old = append(old, ids[i])
		}
	}
	if len(old) > 0 {
		_ = st.client.ZRem(ctx, index, old...).Err()
	}
}

// Delete removes session id and its index entry; a missing session is not an error.
func (st *Sessions) Delete(ctx context.Context, id string) error {
	uid, err := st.eval(ctx, deleteScript, st.keys.session(id)).Text()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return unavailable("delete session", err)
	}
	// Best effort: the session is gone, which is what matters; a leftover index entry is
	// dropped by a later read.
	_ = st.client.ZRem(ctx, st.keys.userSessions(uid), id).Err()
	return nil
}

// DeleteByUser deletes every session in userID's index (one DEL each, pipelined) and returns
// how many existed. Only the entries of sessions it deleted are removed from the index.
// A session key outlives its limits only by the skew between now and the server's clock.
func (st *Sessions) DeleteByUser(ctx context.Context, userID string, _ time.Time) (int, error) {
	index := st.keys.userSessions(userID)
	ids, err := st.client.ZRange(ctx, index, 0, -1).Result()
	if err != nil {
		return 0, unavailable("delete sessions", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	cmds := make([]*redis.IntCmd, len(ids))
	keys := st.keys.sessions(ids)
	err = st.pipeline(ctx, keys, func(p redis.Pipeliner, i int) { cmds[i] = p.Del(ctx, keys[i]) })
	if err != nil {
		return 0, unavailable("delete sessions", err)
	}
	var deleted []any
	for i, cmd := range cmds {
		if cmd.Val() > 0 {
			deleted = append(deleted, ids[i])
		}
	}
	if len(deleted) > 0 {
		if err := st.client.ZRem(ctx, index, deleted...).Err(); err != nil {
			return len(deleted), unavailable("delete sessions: index", err)
		}
	}
	return len(deleted), nil
}

// SetRoles replaces the roles of every live session of userID, one single-key script per
// session, pipelined. A session deleted meanwhile is not recreated.
func (st *Sessions) SetRoles(ctx context.Context, userID string, roles []domain.Role) error {
	ids, err := st.client.ZRange(ctx, st.keys.userSessions(userID), 0, -1).Result()
	if err != nil {
		return unavailable("set session roles", err)
	}
	if len(ids) == 0 {
		return nil
	}
	encoded := encodeRoles(roles)
	keys := st.keys.sessions(ids)
	err = st.pipeline(ctx, keys, func(p redis.Pipeliner, i int) {
		// EVAL, not EVALSHA: a pipeline cannot fall back on NOSCRIPT, and this is no hot path.
		setRolesScript.Eval(ctx, p, []string{keys[i]}, userID, encoded)
	})
	if err != nil {
		return unavailable("set session roles", err)
	}
	return nil
}

// unavailable wraps a Redis or network error with domain.ErrUnavailable, keeping the cause
// (context.Canceled, a net.Error ...) reachable through errors.Is and errors.As.
func unavailable(op string, err error) error {
	return fmt.Errorf("%s: %w: %w", op, domain.ErrUnavailable, err)
}

// encodeSession lists the HASH fields of s as field, value pairs for HSET.
func encodeSession(s domain.Session) []any {
	return []any{
		fieldUserID, s.UserID,
		fieldRoles, encodeRoles(s.Roles),
		fieldRefresh, s.RefreshHash,
		fieldPrev, s.PrevHash,
		fieldRetired, s.Retired,
		fieldSuccessor, s.Successor,
		fieldRotatedAt, encodeTime(s.RotatedAt),
		fieldGeneration, s.Generation,
		fieldCreatedAt, encodeTime(s.CreatedAt),
		fieldLastUsedAt, encodeTime(s.LastUsedAt),
		fieldIdle, encodeTime(s.IdleExpiresAt),
		fieldAbsolute, encodeTime(s.AbsExpiresAt),
		fieldIP, s.IP,
		fieldUserAgent, s.UserAgent,
		fieldAMR, strings.Join(s.AMR, ","),
	}
}

// decodeSession rebuilds session id from its HASH fields. ok is false when the hash is empty
// or lacks its owner (a session that does not exist).
func decodeSession(id string, m map[string]string) (s domain.Session, ok bool, err error) {
	uid, ok := m[fieldUserID]
	if !ok || len(m) == 0 {
		return domain.Session{}, false, nil
	}
	s = domain.Session{
		ID:          id,
		UserID:      uid,
		Roles:       decodeRoles(m[fieldRoles]),
		RefreshHash: decodeBytes(m[fieldRefresh]),
		PrevHash:    decodeBytes(m[fieldPrev]),
		Retired:     decodeBytes(m[fieldRetired]),
		Successor:   decodeBytes(m[fieldSuccessor]),
		IP:          m[fieldIP],
		UserAgent:   m[fieldUserAgent],
	}
	if amr := m[fieldAMR]; amr != "" {
		s.AMR = strings.Split(amr, ",")
	}
	var errs []error
	num := func(field string) int64 {
		v, err := strconv.ParseInt(m[field], 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("field %s: %w", field, err))
		}
		return v
	}
	s.Generation = int(num(fieldGeneration))
	s.RotatedAt = decodeTime(num(fieldRotatedAt))
	s.CreatedAt = decodeTime(num(fieldCreatedAt))
	s.LastUsedAt = decodeTime(num(fieldLastUsedAt))
	s.IdleExpiresAt = decodeTime(num(fieldIdle))
	s.AbsExpiresAt = decodeTime(num(fieldAbsolute))
	if len(errs) > 0 {
		return domain.Session{}, false, fmt.Errorf("corrupt session hash: %w", errors.Join(errs...))
	}
	return s, true, nil
}

// fieldsToMap pairs the values of an HMGET reply from a script with their fields; a missing
// field (nil) is left out.
func fieldsToMap(fields []string, v any) map[string]string {
	list, _ := v.([]any)
	m := make(map[string]string, len(fields))
	for i, val := range list {
		if s, ok := val.(string); ok && i < len(fields) {
			m[fields[i]] = s
		}
	}
	return m
}

func encodeRoles(roles []domain.Role) string {
	parts := make([]string, len(roles))
	for i, r := range roles {
		parts[i] = string(r)
	}
	return strings.Join(parts, ",")
}

func decodeRoles(s string) []domain.Role {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	roles := make([]domain.Role, len(parts))
	for i, p := range parts {
		roles[i] = domain.Role(p)
	}
	return roles
}

func decodeBytes(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

// encodeTime is Unix milliseconds, 0 for the zero time.
func encodeTime(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func decodeTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
