package redisstore

import (
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/test/testenv"
)

// startRedis runs a throw-away redis-server on a free loopback port with args, stopped at
// cleanup, and returns its address and process. Without redis-server on PATH the test skips
// (fails when services are required).
func startRedis(t testing.TB, args ...string) (string, *os.Process) {
	t.Helper()
	return startRedisConf(t, "", args...)
}

// startRedisConf is startRedis with a configuration file, which redis-server takes before any
// option (a Sentinel needs one it can rewrite); "" is none.
func startRedisConf(t testing.TB, conf string, args ...string) (string, *os.Process) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv(testenv.RequireServicesVar) == "1" {
			t.Fatalf("redis-server is not on PATH and %s=1", testenv.RequireServicesVar)
		}
		t.Skip("redis-server is not on PATH")
	}
	addr := testenv.FreeAddr(t)
	host, port := addr[:len("127.0.0.1")], addr[len("127.0.0.1:"):]
	var argv []string
	if conf != "" {
		argv = append(argv, conf)
	}
	argv = append(argv, "--bind", host, "--port", port, "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	cmd := exec.Command(bin, append(argv, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	for i := 0; c.Ping(t.Context()).Err() != nil; i++ {
		if i > 100 {
			t.Fatalf("redis-server on %s did not answer", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return addr, cmd.Process
}

// startReplicated starts a master and one replica (startRedis) and waits until the replica is
// attached and in sync; it returns clients of both (closed at cleanup) and the replica's process.
func startReplicated(t testing.TB) (master, replica *redis.Client, replicaProc *os.Process) {
	t.Helper()
	maddr, _ := startRedis(t, "--repl-diskless-sync-delay", "0")
	raddr, replicaProc := startRedis(t, "--replicaof", "127.0.0.1", maddr[len("127.0.0.1:"):])
	master = redis.NewClient(&redis.Options{Addr: maddr})
	replica = redis.NewClient(&redis.Options{Addr: raddr})
	t.Cleanup(func() { _ = master.Close(); _ = replica.Close() })
	ctx := t.Context()
	for i := 0; ; i++ {
		info, _ := master.Info(ctx, "replication").Result()
		if containsLine(info, "connected_slaves:1") {
			if off, _ := replica.Info(ctx, "replication").Result(); containsLine(off, "master_link_status:up") {
				return master, replica, replicaProc
			}
		}
		if i > 200 {
			t.Fatalf("the replica did not attach: %s", info)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWaitForReplicas: with WaitForReplicas(1), every session write is on the replica by the
// time it returns; with the replica gone, writes are ErrUnavailable instead of acknowledged
// on the master alone.
func TestWaitForReplicas(t *testing.T) {
	mc, rc, replicaProc := startReplicated(t)
	ctx := t.Context()

	st, err := NewSessionsWith(mc, "wait:", WaitForReplicas(1, 10*time.Second)) // generous: the replica may lag on a loaded machine; the lone-master case below sets its own
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	newSession := func(uid string) domain.Session {
		return domain.Session{ID: uuid.NewString(), UserID: uid, RefreshHash: []byte("current"), Roles: []domain.Role{"user"},
			CreatedAt: now, LastUsedAt: now, IdleExpiresAt: now.Add(time.Hour), AbsExpiresAt: now.Add(3 * time.Hour)}
	}
	// onReplica reads a session key straight from the replica, right after the call returned.
	onReplica := func(id string) map[string]string {
		t.Helper()
		m, err := rc.HGetAll(ctx, st.keys.session(id)).Result()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	uid := uuid.NewString()
	s := newSession(uid)
	if err := st.Create(ctx, s, now); err != nil {
		t.Fatalf("create: %v", err)
	}
	if m := onReplica(s.ID); m[fieldUserID] != uid {
		t.Fatalf("created session not on the replica: %v", m)
	}
	if n, err := rc.ZCard(ctx, st.keys.userSessions(uid)).Result(); err != nil || n != 1 {
		t.Fatalf("index on the replica: %d, %v", n, err)
	}
	r := domain.Rotation{SessionID: s.ID, PresentedHash: s.RefreshHash, NewHash: []byte("next"), Now: now.Add(time.Second),
		IdleTTL: time.Hour, Grace: time.Second}
	if out, _, err := st.Rotate(ctx, r); err != nil || out != domain.Rotated {
		t.Fatalf("rotate: %v, %v", out, err)
	}
	if m := onReplica(s.ID); m[fieldRefresh] != "next" {
		t.Fatalf("rotation not on the replica: %v", m)
	}
	if err := st.SetRoles(ctx, uid, []domain.Role{"user", "admin"}); err != nil {
		t.Fatalf("set roles: %v", err)
	}
	if m := onReplica(s.ID); m[fieldRoles] != "user,admin" {
		t.Fatalf("roles not on the replica: %v", m)
	}
	other := newSession(uid)
	if err := st.Create(ctx, other, now); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, s.ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if m := onReplica(s.ID); len(m) != 0 {
		t.Fatalf("deleted session still on the replica: %v", m)
	}
	if err := st.Delete(ctx, s.ID); err != nil { // nothing to delete: still no error
		t.Fatalf("delete again: %v", err)
	}
	if n, err := st.DeleteByUser(ctx, uid, now); err != nil || n != 1 {
		t.Fatalf("delete by user: %d, %v", n, err)
	}
	if m := onReplica(other.ID); len(m) != 0 {
		t.Fatalf("revoked session still on the replica: %v", m)
	}

	// The replica dies: a write is no longer acknowledged, and says so.
	_ = replicaProc.Kill()
	_, _ = replicaProc.Wait()
	for i := 0; ; i++ {
		if info, _ := mc.Info(ctx, "replication").Result(); containsLine(info, "connected_slaves:0") {
			break
		}
		if i > 200 {
			t.Fatal("the master still counts its replica")
		}
		time.Sleep(50 * time.Millisecond)
	}
	st.waitTimeout = 100 * time.Millisecond
	lone := newSession(uid)
	for name, err := range map[string]error{
		"create": st.Create(ctx, lone, now),
		"delete": st.Delete(ctx, lone.ID),
	} {
		if !errors.Is(err, domain.ErrUnavailable) || !errors.Is(err, errNotReplicated) {
			t.Errorf("%s without a replica: %v, want unavailable (not replicated)", name, err)
		}
	}
	if _, _, err := st.Rotate(ctx, domain.Rotation{SessionID: lone.ID, PresentedHash: lone.RefreshHash, NewHash: []byte("x"),
		Now: now.Add(time.Second), IdleTTL: time.Hour}); !errors.Is(err, domain.ErrUnavailable) {
		t.Errorf("rotate without a replica: %v, want unavailable", err)
	}

	// Without WaitForReplicas the same writes are acknowledged by the master alone.
	async, err := NewSessions(mc, "wait:")
	if err != nil {
		t.Fatal(err)
	}
	if err := async.Create(ctx, newSession(uid), now); err != nil {
		t.Fatalf("asynchronous create: %v", err)
	}
	if _, err := NewSessionsWith(mc, "wait:", WaitForReplicas(-1, 0)); err == nil {
		t.Error("a negative replica count was accepted")
	}
}

func containsLine(text, line string) bool {
	return slices.Contains(strings.Split(strings.ReplaceAll(text, "\r", ""), "\n"), line)
}

// TestWaitForReplicasNeedsATimeout: the wait's bound is the caller's (config's
// PORTCULLIS_REDIS_WAIT_TIMEOUT, passed by cmd/portcullis); without one the store is refused
// rather than given a default of its own, or left to WAIT 0, which waits for ever.
func TestWaitForReplicasNeedsATimeout(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	defer c.Close()
	if _, err := NewSessionsWith(c, "wait:", WaitForReplicas(1, 0)); err == nil {
		t.Error("waiting for a replica without a timeout was accepted")
	}
	if _, err := NewSessionsWith(c, "wait:", WaitForReplicas(1, time.Second)); err != nil {
		t.Errorf("WaitForReplicas(1, 1s): %v", err)
	}
	if _, err := NewSessionsWith(c, "wait:", WaitForReplicas(0, 0)); err != nil {
		t.Errorf("no wait, no timeout: %v", err)
	}
}
