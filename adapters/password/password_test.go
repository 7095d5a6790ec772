package password

import (
	"context"
	"errors"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/fx"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

func newTestHasher(t testing.TB, p Params) *Hasher {
	t.Helper()
	h, err := New(p)
	if err != nil {
		t.Fatalf("New(%+v): %v", p, err)
	}
	return h
}

var phc = regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHash_PHCFormat(t *testing.T) {
	h := newTestHasher(t, Params{})
	got, err := h.Hash(context.Background(), "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !phc.MatchString(got) {
		t.Fatalf("hash %q is not a PHC argon2id string with the default parameters", got)
	}
}

func TestHash_SaltsDiffer(t *testing.T) {
	h := newTestHasher(t, Params{})
	ctx := context.Background()
	a, err := h.Hash(ctx, "same password here")
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.Hash(ctx, "same password here")
	if err != nil {
		t.Fatal(err)
	}
	if a == b || strings.Split(a, "$")[4] == strings.Split(b, "$")[4] {
		t.Fatalf("two hashes of one password share a salt: %q, %q", a, b)
	}
	for _, hash := range []string{a, b} {
		if ok, rehash, err := h.Verify(ctx, hash, "same password here"); !ok || rehash || err != nil {
			t.Fatalf("Verify = %v, %v, %v; want true, false, nil", ok, rehash, err)
		}
	}
}

func TestVerify_WrongPassword(t *testing.T) {
	h := newTestHasher(t, Params{})
	ctx := context.Background()
	hash, err := h.Hash(ctx, "Pässwörd 🔑 with spaces")
	if err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"", "Pässwörd 🔑 with space", "pässwörd 🔑 with spaces", "Pässwörd 🔑 with spaces "} {
		if ok, rehash, err := h.Verify(ctx, hash, pw); ok || rehash || err != nil {
			t.Errorf("Verify(%q) = %v, %v, %v; want false, false, nil", pw, ok, rehash, err)
		}
	}
}

func TestVerify_RehashOnRaisedParams(t *testing.T) {
	ctx := context.Background()
	old := newTestHasher(t, Params{})
	hash, err := old.Hash(ctx, "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		params Params
		rehash bool
	}{
		{"same", Params{}, false},
		{"memory", Params{Memory: 2 * MinMemory}, true},
		{"time", Params{Time: 3}, true},
		{"threads", Params{Threads: 2}, true},
		{"bcrypt configured", Params{Algorithm: Bcrypt, BcryptCost: MinBcryptCost}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHasher(t, tt.params)
			ok, rehash, err := h.Verify(ctx, hash, "a long enough password")
			if !ok || err != nil || rehash != tt.rehash {
				t.Fatalf("Verify = %v, %v, %v; want true, %v, nil", ok, rehash, err, tt.rehash)
			}
		})
	}
	// The hash written after the upgrade carries the new parameters and needs no further rehash.
	raised := newTestHasher(t, Params{Memory: 2 * MinMemory, Time: 3})
	fresh, err := raised.Hash(ctx, "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(fresh, "$argon2id$v=19$m=38912,t=3,p=1$") {
		t.Fatalf("upgraded hash %q", fresh)
	}
	if ok, rehash, err := raised.Verify(ctx, fresh, "a long enough password"); !ok || rehash || err != nil {
		t.Fatalf("Verify(upgraded) = %v, %v, %v", ok, rehash, err)
	}
}

func TestVerify_BcryptImport(t *testing.T) {
	ctx := context.Background()
	h := newTestHasher(t, Params{})
	b, err := bcrypt.GenerateFromPassword([]byte("imported password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		hash := prefix + string(b[4:])
		t.Run(prefix, func(t *testing.T) {
			ok, rehash, err := h.Verify(ctx, hash, "imported password")
			if !ok || !rehash || err != nil {
				t.Fatalf("Verify = %v, %v, %v; want true, true, nil", ok, rehash, err)
			}
			if ok, _, err := h.Verify(ctx, hash, "imported passwore"); ok || err != nil {
				t.Fatalf("Verify(wrong) = %v, %v; want false, nil", ok, err)
			}
		})
	}
	// With bcrypt configured, a hash of a lower cost is upgraded and one of the same cost is kept.
	bh := newTestHasher(t, Params{Algorithm: Bcrypt, BcryptCost: MinBcryptCost})
	if ok, rehash, _ := bh.Verify(ctx, string(b), "imported password"); !ok || !rehash {
		t.Fatalf("bcrypt cost %d under cost %d: ok=%v rehash=%v", bcrypt.MinCost, MinBcryptCost, ok, rehash)
	}
	same, err := bh.Hash(ctx, "imported password")
	if err != nil || !strings.HasPrefix(same, "$2a$10$") {
		t.Fatalf("bcrypt Hash = %q, %v", same, err)
	}
	if ok, rehash, _ := bh.Verify(ctx, same, "imported password"); !ok || rehash {
		t.Fatalf("same cost: ok=%v rehash=%v", ok, rehash)
	}
}

func TestVerify_BcryptRefusesLongPassword(t *testing.T) {
	ctx := context.Background()
	long := strings.Repeat("a", MaxBcryptPassword)
	b, err := bcrypt.GenerateFromPassword([]byte(long), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	h := newTestHasher(t, Params{})
	if ok, _, err := h.Verify(ctx, string(b), long); !ok || err != nil {
		t.Fatalf("72-byte password: ok=%v err=%v", ok, err)
	}
	// bcrypt itself would compare only the first 72 bytes and accept this.
	if ok, _, err := h.Verify(ctx, string(b), long+"b"); ok || err != nil {
		t.Fatalf("73-byte password with a matching prefix: ok=%v err=%v; want false, nil", ok, err)
	}
	bh := newTestHasher(t, Params{Algorithm: Bcrypt, BcryptCost: MinBcryptCost})
	if _, err := bh.Hash(ctx, long+"b"); !errors.Is(err, bcrypt.ErrPasswordTooLong) {
		t.Fatalf("Hash(73 bytes) with bcrypt: err=%v; want ErrPasswordTooLong", err)
	}
}

// Check refuses up front what Hash would refuse: with bcrypt a password over 72 bytes (128
// characters of the policy can be 512 bytes), with argon2id nothing.
func TestCheck_BcryptRefusesWhatHashWould(t *testing.T) {
	bh := newTestHasher(t, Params{Algorithm: Bcrypt, BcryptCost: MinBcryptCost})
	if invalid := bh.Check(strings.Repeat("a", MaxBcryptPassword)); invalid != nil {
		t.Fatalf("bcrypt, 72 bytes: %v", invalid)
	}
	for _, long := range []string{strings.Repeat("a", MaxBcryptPassword+1), strings.Repeat("é", 37)} {
		if invalid := bh.Check(long); invalid == nil || invalid.Field != "password" || invalid.Code != "password_too_long" {
			t.Fatalf("bcrypt, %d bytes: %v, want password_too_long", len(long), invalid)
		}
	}
	if invalid := newTestHasher(t, Params{}).Check(strings.Repeat("😀", 128)); invalid != nil {
		t.Fatalf("argon2id, 512 bytes: %v", invalid)
	}
}

func TestVerify_MalformedHashes(t *testing.T) {
	h := newTestHasher(t, Params{})
	good, err := h.Hash(context.Background(), "password123456")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	b, _ := bcrypt.GenerateFromPassword([]byte("x"), bcrypt.MinCost)
	tests := map[string]string{
		"empty":             "",
		"plain text":        "password123456",
		"unknown algorithm": "$argon2i$v=19$m=19456,t=2,p=1$" + parts[4] + "$" + parts[5],
		"scrypt":            "$scrypt$ln=16,r=8,p=1$aaaa$bbbb",
		"wrong version":     "$argon2id$v=16$m=19456,t=2,p=1$" + parts[4] + "$" + parts[5],
		"missing version":   "$argon2id$m=19456,t=2,p=1$" + parts[4] + "$" + parts[5],
		"too few fields":    "$argon2id$v=19$m=19456,t=2,p=1$" + parts[4],
		"too many fields":   good + "$x",
		"params reordered":  "$argon2id$v=19$t=2,m=19456,p=1$" + parts[4] + "$" + parts[5],
		"zero time":         "$argon2id$v=19$m=19456,t=0,p=1$" + parts[4] + "$" + parts[5],
		"zero threads":      "$argon2id$v=19$m=19456,t=2,p=0$" + parts[4] + "$" + parts[5],
		"negative memory":   "$argon2id$v=19$m=-1,t=2,p=1$" + parts[4] + "$" + parts[5],
		"huge memory":       "$argon2id$v=19$m=4294967295,t=2,p=1$" + parts[4] + "$" + parts[5],
		"huge time":         "$argon2id$v=19$m=19456,t=100000,p=1$" + parts[4] + "$" + parts[5],
		"leading zero":      "$argon2id$v=19$m=019456,t=2,p=1$" + parts[4] + "$" + parts[5],
		"padded salt":       "$argon2id$v=19$m=19456,t=2,p=1$" + parts[4] + "==$" + parts[5],
		"bad base64 salt":   "$argon2id$v=19$m=19456,t=2,p=1$!!!!$" + parts[5],
		"empty key":         "$argon2id$v=19$m=19456,t=2,p=1$" + parts[4] + "$",
		"short salt":        "$argon2id$v=19$m=19456,t=2,p=1$AAAA$" + parts[5],
		"bcrypt truncated":  string(b[:40]),
		"bcrypt bad cost":   "$2b$99$" + string(b[7:]),
		"bcrypt 2x":         "$2x$" + string(b[4:]),
	}
	for name, hash := range tests {
		t.Run(name, func(t *testing.T) {
			ok, rehash, err := h.Verify(context.Background(), hash, "password123456")
			if ok || rehash || !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("Verify(%q) = %v, %v, %v; want false, false, ErrMalformedHash", hash, ok, rehash, err)
			}
		})
	}
}

func TestNew_RejectsWeakParams(t *testing.T) {
	for name, p := range map[string]Params{
		"algorithm":   {Algorithm: "md5"},
		"memory":      {Memory: 1024},
		"time":        {Time: 1},
		"bcrypt cost": {BcryptCost: 4},
	} {
		if _, err := New(p); err == nil {
			t.Errorf("%s: New(%+v) accepted", name, p)
		}
	}
}

// TestSemaphore_Bounded starts slots+1 hashes and verifies, by counting, that exactly slots of
// them run while the last waits, and that it runs once a slot is free.
func TestSemaphore_Bounded(t *testing.T) {
	const slots = 2
	h, err := newHasher(Params{}, slots)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := h.Hash(context.Background(), "another password")
	if err != nil {
		t.Fatal(err)
	}
	var running, peak atomic.Int32
	entered := make(chan struct{}, slots+1)
	release := make(chan struct{})
	h.hold = func() {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		entered <- struct{}{}
		<-release
		running.Add(-1)
	}
	var wg sync.WaitGroup
	for i := range slots + 1 {
		wg.Go(func() {
			if i%2 == 0 {
				_, _ = h.Hash(context.Background(), "password-to-hash")
			} else {
				_, _, _ = h.Verify(context.Background(), hash, "password-to-hash")
			}
		})
	}
	for range slots {
		<-entered
	}
	// slots callers are inside; the last one must be blocked on the semaphore, which is full.
	if got := len(h.sem); got != slots {
		t.Fatalf("semaphore holds %d, want %d", got, slots)
	}
	select {
	case <-entered:
		t.Fatalf("caller %d entered with %d slots", slots+1, slots)
	default:
	}
	// A waiter whose context ends gives up without taking a slot.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(ctx, "password-to-hash"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Hash with a cancelled context while full: %v", err)
	}
	if _, _, err := h.Verify(ctx, hash, "password-to-hash"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Verify with a cancelled context while full: %v", err)
	}
	close(release)
	<-entered // the last caller gets a slot once one is free
	wg.Wait()
	if p := peak.Load(); p != slots {
		t.Fatalf("peak concurrency %d, want %d", p, slots)
	}
	if len(h.sem) != 0 {
		t.Fatalf("semaphore not released: %d held", len(h.sem))
	}
}

func TestModule_ProvidesHasher(t *testing.T) {
	var ph ports.PasswordHasher
	var h *Hasher
	app := fx.New(fx.NopLogger, fx.Supply(Params{}), Module, fx.Populate(&ph, &h))
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	if ph == nil || h == nil || ph.(*Hasher) != h {
		t.Fatalf("Module provided %v and %v", ph, h)
	}
}

func BenchmarkHash(b *testing.B) {
	h := newTestHasher(b, Params{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHashParallel runs the Hasher beside a bare loop of golang.org/x/crypto's argon2id
// with the same parameters, each on every core, as the load generator's login floor does. The
// loop allocates each hash's working set and leaves it to the collector; the Hasher keeps one
// per slot (see idKey). A collection marks the whole live heap, which is almost empty in a test
// binary; "Hasher+heap" keeps 2.7 MB of small pointer-holding objects live, about what a started
// server holds (2.4-2.6 MB), to show what the service's own heap would add to a login if it
// still needed a collection per hash.
func BenchmarkHashParallel(b *testing.B) {
	p := Params{}.withDefaults()
	const password = "correct horse battery staple"
	b.Run("argon2id", func(b *testing.B) {
		salt := make([]byte, saltLen)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyLen)
			}
		})
	})
	hasher := func(b *testing.B) {
		h := newTestHasher(b, Params{})
		ctx := context.Background()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := h.Hash(ctx, password); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.Run("Hasher", hasher)
	b.Run("Hasher+heap", func(b *testing.B) {
		live := make(map[string]*[]string, 16384)
		for i := range 16384 {
			live[strconv.Itoa(i)] = &[]string{strings.Repeat("x", 32+i%64)}
		}
		hasher(b)
		runtime.KeepAlive(live)
	})
}

func BenchmarkVerify(b *testing.B) {
	h := newTestHasher(b, Params{})
	ctx := context.Background()
	hash, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, _, err := h.Verify(ctx, hash, "correct horse battery staple"); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// TestRefusalsWithoutHashingStillSpendTheWork: an unparseable stored hash and an over-long
// password for a bcrypt hash are refused without a real comparison, but only after an
// argon2id computation's worth of work, so the refusal does not stand out (SECURITY B10).
// The work is observed as argon2id's memory, not as time: a new Hasher keeps no working memory
// until a computation of m KiB has run in it.
func TestRefusalsWithoutHashingStillSpendTheWork(t *testing.T) {
	bcryptHash, err := bcrypt.GenerateFromPassword([]byte("short password"), 10)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ hash, pw string }{
		"malformed hash":    {"not a hash", "correct horse battery"},
		"empty hash":        {"", "correct horse battery"},
		"bcrypt, 73+ bytes": {string(bcryptHash), strings.Repeat("x", 73)},
	} {
		h, err := New(Params{})
		if err != nil {
			t.Fatal(err)
		}
		if ok, _, _ := h.Verify(context.Background(), c.hash, c.pw); ok {
			t.Fatalf("%s: accepted", name)
		}
		if spent := h.keptMemory(); spent != int(MinMemory)*1024 {
			t.Errorf("%s: refused after a computation in %d bytes, want an argon2id computation's %d KiB", name, spent, MinMemory)
		}
	}
}

// TestQueue_Bounded fills every slot and the queue, and checks that one more caller is refused
// at once with ErrBusy (a 503 for the HTTP adapter), that the waiters still run once slots free
// up, and that the queue takes callers again afterwards.
func TestQueue_Bounded(t *testing.T) {
	const slots, queue = 1, 2
	h, err := newHasher(Params{Queue: queue}, slots)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := h.Hash(context.Background(), "another password")
	if err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{}, slots+queue)
	release := make(chan struct{})
	h.hold = func() {
		entered <- struct{}{}
		<-release
	}
	var wg sync.WaitGroup
	errs := make(chan error, slots+queue)
	for range slots + queue {
		wg.Go(func() {
			_, err := h.Hash(context.Background(), "password-to-hash")
			errs <- err
		})
	}
	<-entered // the slot is taken
	deadline := time.Now().Add(10 * time.Second)
	for h.waiting.Load() != queue {
		if time.Now().After(deadline) {
			t.Fatalf("%d callers waiting, want %d", h.waiting.Load(), queue)
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := h.Hash(context.Background(), "password-to-hash"); !errors.Is(err, ErrBusy) || !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("Hash beyond the queue: %v, want ErrBusy wrapping domain.ErrUnavailable", err)
	}
	if _, _, err := h.Verify(context.Background(), hash, "password-to-hash"); !errors.Is(err, ErrBusy) {
		t.Fatalf("Verify beyond the queue: %v, want ErrBusy", err)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a queued caller failed: %v", err)
		}
	}
	if h.waiting.Load() != 0 || len(h.sem) != 0 {
		t.Fatalf("after the burst: %d waiting, %d slots held", h.waiting.Load(), len(h.sem))
	}
	h.hold = nil
	if _, err := h.Hash(context.Background(), "password-to-hash"); err != nil {
		t.Fatalf("Hash after the burst: %v", err)
	}
}

// keptMemory reports the bytes of argon2id working memory h keeps between hashes.
func (h *Hasher) keptMemory() int {
	h.memMu.Lock()
	defer h.memMu.Unlock()
	n := 0
	for _, m := range h.mems {
		n += m.Bytes()
	}
	return n
}

// TestIdle_GivesMemoryBack: once no hash is running or waiting, the hasher drops its kept
// working memory and gives memory back (once per idle spell), and not while hashing goes on.
func TestIdle_GivesMemoryBack(t *testing.T) {
	h, err := newHasher(Params{}, 2)
	if err != nil {
		t.Fatal(err)
	}
	kept := make(chan int, 8)
	h.idle = func() { kept <- h.keptMemory() }
	ctx := context.Background()
	for range 3 {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			t.Fatal(err)
		}
		if got := h.keptMemory(); got != int(MinMemory)*1024 {
			t.Fatalf("%d bytes of working memory kept between hashes, want one working set's %d", got, MinMemory*1024)
		}
	}
	select {
	case n := <-kept:
		if n != 0 {
			t.Fatalf("%d bytes of working memory still kept when memory is given back", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("memory was not given back after hashing went idle")
	}
	// Three hashes in a row are one idle spell: at most the last release's timer fires (an
	// earlier one sees a later hash started and does nothing).
	time.Sleep(2 * idleAfter)
	if n := len(kept); n != 0 {
		t.Fatalf("memory given back %d more times for one idle spell", n)
	}
	if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
		t.Fatalf("Hash after the memory was given back: %v", err)
	}
}

// TestArgon2idMemoryIsKeptBetweenHashes: a hash or a verification computes argon2id in the
// working memory (m KiB) that an earlier one on the slot used, instead of allocating its own,
// which would take a collection to free. Observed as the bytes the call allocates. A stored
// hash with more memory than the configured parameters is computed in memory of its own, which
// is not kept.
func TestArgon2idMemoryIsKeptBetweenHashes(t *testing.T) {
	h, err := newHasher(Params{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	h.idleFor = time.Hour // the memory stays kept through the test, however slow the machine
	ctx := context.Background()
	stored, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	block := uint64(MinMemory) * 1024
	allocated := func(op func()) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		op()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	for name, op := range map[string]func(){
		"hash":                         func() { _, _ = h.Hash(ctx, "correct horse battery staple") },
		"verify":                       func() { _, _, _ = h.Verify(ctx, stored, "correct horse battery staple") },
		"verify, wrong password":       func() { _, _, _ = h.Verify(ctx, stored, "wrong password") },
		"verify, malformed (spending)": func() { _, _, _ = h.Verify(ctx, "not a hash", "wrong password") },
	} {
		if spent := allocated(op); spent > block/16 {
			t.Errorf("%s allocated %d bytes, want the kept working set used (a working set is %d)", name, spent, block)
		}
		if got := h.keptMemory(); got != int(block) {
			t.Errorf("after %s %d bytes are kept, want one working set's %d", name, got, block)
		}
	}

	dearer, err := newHasher(Params{Memory: 2 * MinMemory}, 1)
	if err != nil {
		t.Fatal(err)
	}
	dearHash, err := dearer.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	var ok bool
	if spent := allocated(func() { ok, _, _ = h.Verify(ctx, dearHash, "correct horse battery staple") }); !ok || spent < 2*block {
		t.Errorf("verifying a hash of m=%d: ok=%v after allocating %d bytes, want a match in memory of its own", 2*MinMemory, ok, spent)
	}
	if got := h.keptMemory(); got != int(block) {
		t.Errorf("after a dearer stored hash %d bytes are kept, want the configured working set's %d", got, block)
	}
}

// Two slots hashing at once keep two working sets, and no more however often they hash.
func TestArgon2idMemoryIsKeptPerSlot(t *testing.T) {
	h, err := newHasher(Params{}, 2)
	if err != nil {
		t.Fatal(err)
	}
	h.idleFor = time.Hour
	entered := make(chan struct{}, 2)
	release := make(chan struct{})
	h.hold = func() {
		entered <- struct{}{}
		<-release
	}
	for range 3 {
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() { _, _ = h.Hash(context.Background(), "password-to-hash") })
		}
		<-entered
		<-entered
		release <- struct{}{}
		release <- struct{}{}
		wg.Wait()
		if got, want := h.keptMemory(), 2*int(MinMemory)*1024; got != want {
			t.Fatalf("two slots keep %d bytes of working memory, want two working sets' %d", got, want)
		}
	}
}
