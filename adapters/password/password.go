package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/fx"
	"golang.org/x/crypto/bcrypt"

	"github.com/portcullis-auth/portcullis/adapters/password/internal/argon2"
	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// Algorithm names accepted in Params.Algorithm.
const (
	Argon2id = "argon2id"
	Bcrypt   = "bcrypt"
)

// Floors (OWASP Password Storage Cheat Sheet; docs/security.md, "Parameters"): the least New
// accepts for new hashes, and what a zero Params field takes. The service's defaults are the
// configuration's (config.Config); they may sit above these floors, never below.
const (
	MinMemory  uint32 = 19456 // KiB
	MinTime    uint32 = 2
	MinThreads uint8  = 1

	// MinBcryptCost is the lowest cost New accepts for new bcrypt hashes.
	MinBcryptCost = 10
	// MaxBcryptPassword is the longest password bcrypt can hash without truncating it.
	MaxBcryptPassword = 72

	saltLen = 16
	keyLen  = 32
)

// Bounds on the parameters of a stored argon2id hash, so that a corrupted or hostile hash
// cannot make Verify allocate gigabytes or spin for minutes.
const (
	maxStoredMemory  = 1 << 20 // KiB = 1 GiB
	maxStoredTime    = 64
	minStoredSaltLen = 8
	maxStoredSaltLen = 64
	minStoredKeyLen  = 16
	maxStoredKeyLen  = 128
)

// DefaultQueuePerSlot is how many waiters per hashing slot Params.Queue 0 allows: on 2 cores 64
// logins wait, under a second of argon2id work at the default parameters. It is sized so that a
// burst as large as a typical client pool (32 connections, or 20 concurrent sign-ups of one
// address) queues instead of being refused, while a flood beyond it still gets a quick 503.
const DefaultQueuePerSlot = 32

// ErrBusy is returned by Hash and Verify when every slot is busy and the queue is full. It wraps
// domain.ErrUnavailable, so the HTTP adapter answers 503 with Retry-After: better than letting
// a burst of logins queue until their requests time out, holding memory and connections.
var ErrBusy = fmt.Errorf("password hashing is at capacity: %w", domain.ErrUnavailable)

// ErrMalformedHash is wrapped by Verify for a stored hash it cannot parse or whose algorithm it
// does not know.
var ErrMalformedHash = errors.New("malformed or unknown password hash")

// Params chooses the algorithm and cost of new hashes. Zero fields take the floors (argon2id,
// m=19456 KiB, t=2, p=1; bcrypt cost 10); the service always passes its configured values.
type Params struct {
	// Algorithm is Argon2id ("argon2id") or Bcrypt ("bcrypt").
	Algorithm string
	// Memory is the argon2id memory in KiB (at least 19456).
	Memory uint32
	// Time is the argon2id number of passes (at least 2).
	Time uint32
	// Threads is the argon2id parallelism (at least 1).
	Threads uint8
	// BcryptCost is the bcrypt cost used when Algorithm is bcrypt (10 to 31).
	BcryptCost int
	// Queue is how many callers may wait for a hashing slot while every slot is busy; one more
	// gets ErrBusy at once instead of waiting (0 takes DefaultQueuePerSlot per slot; negative:
	// no bound, callers wait until their context ends).
	Queue int
}

func (p Params) withDefaults() Params {
	if p.Algorithm == "" {
		p.Algorithm = Argon2id
	}
	if p.Memory == 0 {
		p.Memory = MinMemory
	}
	if p.Time == 0 {
		p.Time = MinTime
	}
	if p.Threads == 0 {
		p.Threads = MinThreads
	}
	if p.BcryptCost == 0 {
		p.BcryptCost = MinBcryptCost
	}
	return p
}

// CheckAlgorithm, CheckMemory, CheckTime, CheckThreads and CheckBcryptCost are the one rule
// for each parameter of new hashes: New refuses by them, and config checks
// PORTCULLIS_PASSWORD_HASH, ARGON2_MEMORY_KIB, ARGON2_TIME, ARGON2_THREADS and BCRYPT_COST with
// them (passed in by cmd/portcullis/app), so their errors are written to follow a name.
func CheckAlgorithm(alg string) error {
	if alg != Argon2id && alg != Bcrypt {
		return fmt.Errorf("must be %s or %s, got %q", Argon2id, Bcrypt, alg)
	}
	return nil
}

// CheckMemory: see CheckAlgorithm.
func CheckMemory(kib uint32) error {
	if kib < MinMemory || kib > maxStoredMemory {
		return fmt.Errorf("must be between %d and %d KiB, got %d", MinMemory, maxStoredMemory, kib)
	}
	return nil
}

// CheckTime: see CheckAlgorithm.
func CheckTime(passes uint32) error {
	if passes < MinTime || passes > maxStoredTime {
		return fmt.Errorf("must be between %d and %d, got %d", MinTime, maxStoredTime, passes)
	}
	return nil
}

// CheckThreads: see CheckAlgorithm.
func CheckThreads(threads uint8) error {
	if threads < MinThreads {
		return fmt.Errorf("must be at least %d", MinThreads)
	}
	return nil
}

// CheckBcryptCost: see CheckAlgorithm.
func CheckBcryptCost(cost int) error {
	if cost < MinBcryptCost || cost > bcrypt.MaxCost {
		return fmt.Errorf("must be between %d and %d, got %d", MinBcryptCost, bcrypt.MaxCost, cost)
	}
	return nil
}

func (p Params) validate() error {
	var errs []error
	for _, c := range []struct {
		what string
		err  error
	}{
		{"algorithm", CheckAlgorithm(p.Algorithm)},
		{"argon2id memory", CheckMemory(p.Memory)},
		{"argon2id time", CheckTime(p.Time)},
		{"argon2id threads", CheckThreads(p.Threads)},
		{"bcrypt cost", CheckBcryptCost(p.BcryptCost)},
	} {
		if c.err != nil {
			errs = append(errs, fmt.Errorf("%s %w", c.what, c.err))
		}
	}
	return errors.Join(errs...)
}

// Hasher hashes and verifies passwords. It is safe for concurrent use; at most as many hashes
// as the machine has cores run at once, and further callers wait (or give up when their
// context ends) in a bounded queue; beyond it they get ErrBusy at once.
type Hasher struct {
	params  Params
	sem     chan struct{}
	queue   int64        // most waiters; < 0: no bound
	waiting atomic.Int64 // callers blocked in acquire
	// timings, when set, is told each operation's wait for a slot and its work (SetTimings).
	timings Timings

	// hold, when set by tests, runs while a semaphore slot is held.
	hold func()

	// argon2id's working memory, kept between hashes (see idKey): at most one per slot, taken
	// by a hash and put back after it.
	memMu sync.Mutex
	mems  []*argon2.Memory

	// Giving argon2id's memory back (see release): busy counts the slots held, started counts
	// every acquisition; once hashing has been idle for idleFor (idleAfter outside tests) the
	// kept memory is dropped and idle is called.
	busy    atomic.Int64
	started atomic.Uint64
	idleFor time.Duration
	idle    func()
}

// idleAfter is how long hashing must have been idle before its memory is given back.
const idleAfter = 250 * time.Millisecond

var _ ports.PasswordHasher = (*Hasher)(nil)

// New returns a Hasher for p, with a semaphore of runtime.NumCPU() slots and a queue of
// p.Queue waiters (see Params.Queue).
func New(p Params) (*Hasher, error) {
	return newHasher(p, runtime.NumCPU())
}

func newHasher(p Params, slots int) (*Hasher, error) {
	p = p.withDefaults()
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("password params: %w", err)
	}
	if slots < 1 {
		slots = 1
	}
	queue := int64(p.Queue)
	if p.Queue == 0 {
		queue = int64(DefaultQueuePerSlot * slots)
	}
	return &Hasher{params: p, sem: make(chan struct{}, slots), queue: queue, idleFor: idleAfter, idle: debug.FreeOSMemory}, nil
}

// Params returns the parameters new hashes are made with, defaults filled in.
func (h *Hasher) Params() Params { return h.params }

func (h *Hasher) acquire(ctx context.Context) error {
	// Prefer an immediate slot, but never take one once ctx is done.
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case h.sem <- struct{}{}:
		h.acquired()
		return nil
	default:
	}
	// Every slot is busy: wait in the bounded queue, or refuse at once when it is full.
	if n := h.waiting.Add(1); h.queue >= 0 && n > h.queue {
		h.waiting.Add(-1)
		return ErrBusy
	}
	defer h.waiting.Add(-1)
	select {
	case h.sem <- struct{}{}:
		h.acquired()
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) acquired() {
	h.started.Add(1)
	h.busy.Add(1)
}

// release frees the slot. When it was the last one busy, hashing memory is given back to the
// operating system once no hash has started for idleAfter: the kept argon2id working sets
// (ARGON2_MEMORY_KIB each, 19 MiB by default, one per slot that hashed) are dropped and
// collected, and idle (debug.FreeOSMemory) returns them at once. The runtime, which returns
// freed memory to the system only gradually, would otherwise keep the resident set of a burst
// of logins for minutes while the process serves cheap requests (measured: about 65 MB above a
// 43 MB process under /api/users/me load after 32 logins). One forced collection after a burst
// costs far less than that memory.
func (h *Hasher) release() {
	n := h.started.Load()
	<-h.sem
	if h.busy.Add(-1) == 0 {
		time.AfterFunc(h.idleFor, func() {
			if h.busy.Load() == 0 && h.started.Load() == n {
				h.dropMemory()
				if h.idle != nil {
					h.idle()
				}
			}
		})
	}
}

// takeMemory returns a kept argon2id working memory, or a new empty one when none is free.
func (h *Hasher) takeMemory() *argon2.Memory {
	h.memMu.Lock()
	defer h.memMu.Unlock()
	if n := len(h.mems); n > 0 {
		m := h.mems[n-1]
		h.mems = h.mems[:n-1]
		return m
	}
	return new(argon2.Memory)
}

// putMemory keeps m for the next hash. A hash holds a slot while it holds a memory, so no more
// are kept than there are slots.
func (h *Hasher) putMemory(m *argon2.Memory) {
	h.memMu.Lock()
	defer h.memMu.Unlock()
	h.mems = append(h.mems, m)
}

// dropMemory lets the collector have the kept working memory.
func (h *Hasher) dropMemory() {
	h.memMu.Lock()
	defer h.memMu.Unlock()
	clear(h.mems)
	h.mems = h.mems[:0]
}

// Timings is told, after each hash or verification that got a slot, how long it waited for the
// slot and how long the hashing took. op is "hash" or "verify".
type Timings func(op string, wait, work time.Duration)

// SetTimings installs f (nil: none). Call it before the hasher is used; metrics wiring does.
func (h *Hasher) SetTimings(f Timings) { h.timings = f }

// timed reports op's wait (from start to acquired) and work (from acquired to now) to the
// installed Timings, if any.
func (h *Hasher) timed(op string, start, acquired time.Time) {
	if h.timings != nil {
		h.timings(op, acquired.Sub(start), time.Since(acquired))
	}
}

// Hash returns a new hash of password with the configured algorithm: a PHC string
// `$argon2id$v=19$m=…,t=…,p=…$salt$hash` or a bcrypt `$2a$` hash. With bcrypt, a password over
// 72 bytes is an error (wrapping bcrypt.ErrPasswordTooLong), never truncated.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	start := time.Now()
	if err := h.acquire(ctx); err != nil {
		return "", fmt.Errorf("hash password: wait for a slot: %w", err)
	}
	defer h.timed("hash", start, time.Now())
	defer h.release()
	if h.hold != nil {
		h.hold()
	}
	return h.hash(password)
}

// Check is ports.PasswordHasher's Check: with bcrypt, a password over 72 bytes (which Hash
// refuses, since bcrypt would hash only a prefix) is password_too_long; argon2id takes any.
func (h *Hasher) Check(password string) *domain.FieldError {
	if h.params.Algorithm == Bcrypt && len(password) > MaxBcryptPassword {
		return &domain.FieldError{Field: "password", Code: "password_too_long",
			Message: fmt.Sprintf("must be at most %d bytes with this server's password hash", MaxBcryptPassword)}
	}
	return nil
}

func (h *Hasher) hash(password string) (string, error) {
	if h.params.Algorithm == Bcrypt {
		if len(password) > MaxBcryptPassword {
			return "", fmt.Errorf("hash password: %w", bcrypt.ErrPasswordTooLong)
		}
		b, err := bcrypt.GenerateFromPassword([]byte(password), h.params.BcryptCost)
		if err != nil {
			return "", fmt.Errorf("hash password: %w", err)
		}
		return string(b), nil
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: salt: %w", err)
	}
	p := h.params
	key := h.idKey(password, salt, p.Time, p.Memory, p.Threads, keyLen)
	return encodePHC(argonHash{memory: p.Memory, time: p.Time, threads: p.Threads, salt: salt, key: key}), nil
}

// Verify reports whether password matches hash, and whether hash should be replaced by a new
// Hash of the same password: when its algorithm is not the configured one, or its cost is
// below the configured cost. A wrong password is (false, false, nil). A bcrypt hash with a
// password over 72 bytes is (false, false, nil): bcrypt would compare only a prefix, so such a
// password never matches. A hash Verify cannot parse is (false, false, err) with err wrapping
// ErrMalformedHash. Waiting for a slot ends with ctx.
func (h *Hasher) Verify(ctx context.Context, hash, password string) (ok, rehash bool, err error) {
	kind, parsed, err := parse(hash)
	if err != nil {
		h.spend(ctx, password)
		return false, false, fmt.Errorf("verify password: %w", err)
	}
	if kind == Bcrypt && len(password) > MaxBcryptPassword {
		h.spend(ctx, password)
		return false, false, nil
	}
	start := time.Now()
	if err := h.acquire(ctx); err != nil {
		return false, false, fmt.Errorf("verify password: wait for a slot: %w", err)
	}
	defer h.timed("verify", start, time.Now())
	defer h.release()
	if h.hold != nil {
		h.hold()
	}
	switch kind {
	case Bcrypt:
		err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
		switch {
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
			return false, false, nil
		case err != nil:
			return false, false, fmt.Errorf("verify password: %w: %w", ErrMalformedHash, err)
		}
		return true, h.bcryptNeedsRehash(hash), nil
	default:
		key := h.idKey(password, parsed.salt, parsed.time, parsed.memory, parsed.threads, uint32(len(parsed.key)))
		if subtle.ConstantTimeCompare(key, parsed.key) != 1 {
			return false, false, nil
		}
		return true, h.argonNeedsRehash(parsed), nil
	}
}

// spend does the work of one argon2id verification and throws it away, so that a refusal
// decided without hashing (an unparseable hash, an over-long password for bcrypt) takes as long
// as a real check and does not tell an attacker which case it hit (SECURITY B10).
func (h *Hasher) spend(ctx context.Context, password string) {
	if err := h.acquire(ctx); err != nil {
		return
	}
	defer h.release()
	p := h.params
	_ = h.idKey(password, spendSalt[:], p.Time, p.Memory, p.Threads, keyLen)
}

// idKey computes argon2id in a working memory kept from the last hash (memory KiB, 19 MiB by
// default). golang.org/x/crypto/argon2 allocates that memory on every call and drops it when it
// returns; a stream of logins then needed a collection per hash to free it before the next, and
// that collection, which marks the whole service's heap, cost a login a tenth to a fifth of a
// hash's time on two cores (docs/performance.md, "Login"). The package here is a copy of
// x/crypto's that takes the memory from the caller (internal/argon2/README.md).
//
// A stored hash whose memory is above the configured parameters' (the configuration was
// lowered) is computed in memory of its own, which is not kept.
func (h *Hasher) idKey(password string, salt []byte, passes, memory uint32, threads uint8, keyLen uint32) []byte {
	if memory > h.params.Memory {
		return argon2.IDKey([]byte(password), salt, passes, memory, threads, keyLen)
	}
	m := h.takeMemory()
	defer h.putMemory(m)
	return argon2.IDKeyWith(m, []byte(password), salt, passes, memory, threads, keyLen)
}

// spendSalt is the fixed salt of spend's throw-away hash.
var spendSalt = [saltLen]byte{'p', 'o', 'r', 't', 'c', 'u', 'l', 'l', 'i', 's'}

func (h *Hasher) bcryptNeedsRehash(hash string) bool {
	if h.params.Algorithm != Bcrypt {
		return true
	}
	cost, err := bcrypt.Cost([]byte(hash))
	return err != nil || cost < h.params.BcryptCost
}

func (h *Hasher) argonNeedsRehash(a argonHash) bool {
	p := h.params
	return p.Algorithm != Argon2id ||
		a.memory < p.Memory || a.time < p.Time || a.threads < p.Threads ||
		len(a.salt) < saltLen || len(a.key) < keyLen
}

// argonHash is a parsed PHC argon2id string.
type argonHash struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

func encodePHC(a argonHash) string {
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, a.memory, a.time, a.threads, enc.EncodeToString(a.salt), enc.EncodeToString(a.key))
}

// parse recognises the hash's algorithm and, for argon2id, decodes it.
func parse(hash string) (string, argonHash, error) {
	switch {
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		// bcrypt's own parser checks the rest; Cost parses the header without hashing.
		if _, err := bcrypt.Cost([]byte(hash)); err != nil || len(hash) != 60 {
			return "", argonHash{}, fmt.Errorf("%w: bcrypt", ErrMalformedHash)
		}
		return Bcrypt, argonHash{}, nil
	case strings.HasPrefix(hash, "$argon2id$"):
		a, err := parseArgon2id(hash)
		if err != nil {
			return "", argonHash{}, fmt.Errorf("%w: argon2id: %s", ErrMalformedHash, err)
		}
		return Argon2id, a, nil
	}
	return "", argonHash{}, ErrMalformedHash
}

// parseArgon2id decodes `$argon2id$v=19$m=M,t=T,p=P$salt$key` as the reference implementation
// writes it: unpadded standard base64, parameters in that order.
func parseArgon2id(hash string) (argonHash, error) {
	var a argonHash
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return a, errors.New("want 5 fields")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return a, errors.New("unsupported version")
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return a, errors.New("want m, t and p")
	}
	m, err := param(params[0], "m=", maxStoredMemory)
	if err != nil {
		return a, err
	}
	t, err := param(params[1], "t=", maxStoredTime)
	if err != nil {
		return a, err
	}
	p, err := param(params[2], "p=", 255)
	if err != nil {
		return a, err
	}
	// argon2 requires at least 8 KiB of memory per lane.
	if m < 8*p {
		return a, errors.New("memory below 8 KiB per thread")
	}
	enc := base64.RawStdEncoding.Strict()
	salt, err := enc.DecodeString(parts[4])
	if err != nil || len(salt) < minStoredSaltLen || len(salt) > maxStoredSaltLen {
		return a, errors.New("bad salt")
	}
	key, err := enc.DecodeString(parts[5])
	if err != nil || len(key) < minStoredKeyLen || len(key) > maxStoredKeyLen {
		return a, errors.New("bad key")
	}
	return argonHash{memory: uint32(m), time: uint32(t), threads: uint8(p), salt: salt, key: key}, nil
}

func param(s, prefix string, maxValue uint64) (uint64, error) {
	v, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return 0, fmt.Errorf("want %s", prefix)
	}
	// Digits only, no sign, no leading zero: one canonical spelling per value.
	if v == "" || len(v) > 10 || (len(v) > 1 && v[0] == '0') || strings.TrimLeft(v, "0123456789") != "" {
		return 0, fmt.Errorf("bad %s", prefix)
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n < 1 || n > maxValue {
		return 0, fmt.Errorf("bad %s", prefix)
	}
	return n, nil
}

// Module provides *Hasher and binds it to ports.PasswordHasher. The graph must provide Params.
var Module = fx.Module("password",
	fx.Provide(fx.Annotate(New, fx.As(fx.Self()), fx.As(new(ports.PasswordHasher)))),
)
