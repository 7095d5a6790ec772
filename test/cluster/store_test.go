package cluster

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis-auth/portcullis/adapters/sqlstore"
	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/test/testenv"
)

// openNodes opens one sqlstore.DB per URL, closed at cleanup.
func openNodes(t *testing.T, urls []string) []*sqlstore.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dbs := make([]*sqlstore.DB, len(urls))
	for i, u := range urls {
		db, err := sqlstore.Open(ctx, u, sqlstore.Options{})
		if err != nil {
			t.Fatalf("open node %d: %v", i+1, err)
		}
		t.Cleanup(func() { _ = db.Close() })
		dbs[i] = db
	}
	return dbs
}

// Three instances starting at once on three nodes migrate the database once: the migration lock
// is a replicated row, the DDL runs in total order, and every instance then sees the full schema.
// Galera needs a primary key on every table.
// Several rounds, each on a new database, since the interleavings vary.
func TestGaleraMigrationsAtOnce(t *testing.T) {
	for round := range 4 {
		t.Run(fmt.Sprint("round ", round+1), migrateAtOnce)
	}
}

func migrateAtOnce(t *testing.T) {
	dbs := openNodes(t, testenv.GaleraURLs(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, len(dbs))
	)
	for i, db := range dbs {
		wg.Go(func() {
			<-start
			errs[i] = db.Migrate(ctx)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("migrate through node %d: %v", i+1, err)
		}
	}
	for i, db := range dbs {
		if err := db.CheckSchema(ctx); err != nil {
			t.Errorf("schema seen through node %d: %v", i+1, err)
		}
	}
	var dup []string
	if err := dbs[1].Bun().NewRaw("SELECT name FROM bun_migrations GROUP BY name HAVING COUNT(*) > 1").Scan(ctx, &dup); err != nil {
		t.Fatal(err)
	}
	if len(dup) > 0 {
		t.Errorf("migrations applied more than once: %v", dup)
	}
	var tables, noPK []string
	if err := dbs[2].Bun().NewRaw("SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()").Scan(ctx, &tables); err != nil {
		t.Fatal(err)
	}
	err := dbs[2].Bun().NewRaw(`SELECT t.table_name FROM information_schema.tables t
		WHERE t.table_schema = DATABASE() AND NOT EXISTS (
			SELECT 1 FROM information_schema.table_constraints c
			WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name AND c.constraint_type = 'PRIMARY KEY')`).Scan(ctx, &noPK)
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) < 6 || len(noPK) > 0 {
		t.Errorf("tables %v; without a primary key: %v", tables, noPK)
	}
}

// Galera replicates neither LOCK TABLES nor GET_LOCK: the SQL adapter must not rely on them.
func TestNoTableOrNamedLocks(t *testing.T) {
	root := filepath.Join("..", "..", "adapters", "sqlstore")
	bad := regexp.MustCompile(`(?i)LOCK\s+TABLES?|GET_LOCK|RELEASE_LOCK|IS_FREE_LOCK`)
	n := 0
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, "_test.go") {
			return err
		}
		if !strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, ".sql") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n++
		if loc := bad.FindIndex(b); loc != nil {
			t.Errorf("%s uses %q", path, b[loc[0]:loc[1]])
		}
		return nil
	})
	if err != nil || n < 10 {
		t.Fatalf("scanned %d files: %v", n, err)
	}
}

// Every Galera connection reads causally (wsrep_sync_wait = 3) unless the URL says otherwise.
func TestGaleraCausalReads(t *testing.T) {
	urls := testenv.GaleraURLs(t)
	ctx := context.Background()
	off := urls[1] + "?wsrep_sync_wait=0"
	dbs := openNodes(t, []string{urls[0], off})
	for i, want := range []int{3, 0} {
		var got int
		if err := dbs[i].Bun().NewRaw("SELECT @@SESSION.wsrep_sync_wait").Scan(ctx, &got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("connection %d: wsrep_sync_wait = %d, want %d", i, got, want)
		}
	}
}

// Concurrent rotations of one refresh token through all three nodes: certification conflicts
// between nodes are retried inside the store, so exactly one caller rotates, every other one
// gets the grace replay, and none sees an error. Concurrent role updates of the user's sessions
// through every node all succeed.
//
// Galera itself runs an autocommit statement that failed certification once more
// (wsrep_retry_autocommit); the URLs turn that off so that the store's own retry is what passes.
func TestGaleraConcurrentRotationRetriesConflicts(t *testing.T) {
	urls := testenv.GaleraURLs(t)
	for i := range urls {
		urls[i] += "?wsrep_retry_autocommit=0"
	}
	dbs := openNodes(t, urls)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := dbs[0].Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	stores := make([]*sqlstore.Sessions, len(dbs))
	for i, db := range dbs {
		stores[i] = sqlstore.NewSessions(db)
	}
	certFailures := func() (n int64) {
		for _, db := range dbs {
			var name string
			var v int64
			_ = db.Bun().QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'wsrep_local_cert_failures'").Scan(&name, &v)
			n += v
		}
		return n
	}
	before := certFailures()
	defer func() { t.Logf("certification failures retried meanwhile: %d", certFailures()-before) }()
	for round := range 3 {
		now := time.Now().UTC()
		sess := domain.Session{
			ID: uuid.NewString(), UserID: uuid.NewString(), Roles: []domain.Role{domain.RoleUser},
			RefreshHash: random(32), CreatedAt: now, LastUsedAt: now,
			IdleExpiresAt: now.Add(time.Hour), AbsExpiresAt: now.Add(24 * time.Hour),
		}
		if err := stores[round%3].Create(ctx, sess, now); err != nil {
			t.Fatal(err)
		}
		const callers = 30
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			outcomes = map[domain.RotateOutcome]int{}
			failures []error
			start    = make(chan struct{})
		)
		for i := range callers {
			wg.Go(func() {
				<-start
				out, _, err := stores[i%3].Rotate(ctx, domain.Rotation{
					SessionID: sess.ID, PresentedHash: sess.RefreshHash, NewHash: random(32),
					Successor: random(64), Now: time.Now().UTC(), Grace: time.Minute, IdleTTL: time.Hour,
				})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failures = append(failures, err)
					return
				}
				outcomes[out]++
			})
		}
		close(start)
		wg.Wait()
		if len(failures) > 0 {
			t.Fatalf("round %d: %d of %d rotations failed, first: %v", round, len(failures), callers, failures[0])
		}
		if outcomes[domain.Rotated] != 1 || outcomes[domain.GraceReplay] != callers-1 {
			t.Fatalf("round %d: outcomes %v, want 1 rotated and %d grace replays", round, outcomes, callers-1)
		}
		var rerr []error
		for i := range stores {
			wg.Go(func() {
				err := stores[i].SetRoles(ctx, sess.UserID, []domain.Role{domain.RoleUser, domain.Role("moderator")})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					rerr = append(rerr, err)
				}
			})
		}
		wg.Wait()
		if len(rerr) > 0 {
			t.Fatalf("round %d: concurrent role updates: %v", round, errors.Join(rerr...))
		}
	}
}

// Admins disabling, demoting or deleting themselves at once through all three nodes: row locks
// are local to a node, so only the admin guard row, written by every such change, makes them
// lose certification to one another; exactly one enabled admin stays each round, and the other
// changes are done (README "Administration": the last admin stays).
func TestGaleraLastAdminStays(t *testing.T) {
	dbs := openNodes(t, testenv.GaleraURLs(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := dbs[0].Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	stores := make([]*sqlstore.Users, len(dbs))
	for i, db := range dbs {
		stores[i] = sqlstore.NewUsers(db)
	}
	const admins = 6
	var survivor string
	for round := range 6 {
		ids := make([]string, admins)
		for i := range ids {
			now := time.Now().UTC()
			u := domain.User{ID: uuid.NewString(), Email: uuid.NewString() + "@example.com", Roles: []domain.Role{domain.RoleUser, domain.RoleAdmin},
				PasswordHash: "x", CreatedAt: now, UpdatedAt: now}
			if err := stores[i%3].Create(ctx, u); err != nil {
				t.Fatal(err)
			}
			ids[i] = u.ID
		}
		if survivor != "" {
			if err := stores[0].Delete(ctx, survivor); err != nil {
				t.Fatal(err)
			}
		}
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			errs  = make([]error, admins)
		)
		for i, id := range ids {
			wg.Go(func() {
				st := stores[i%3]
				u, err := st.ByID(ctx, id)
				if err != nil {
					errs[i] = err
					return
				}
				<-start
				switch round % 3 {
				case 0:
					u.Disabled = true
					_, errs[i] = st.UpdateUnlessLastAdmin(ctx, u)
				case 1:
					u.Roles = []domain.Role{domain.RoleUser}
					_, errs[i] = st.UpdateUnlessLastAdmin(ctx, u)
				default:
					errs[i] = st.Delete(ctx, id)
				}
			})
		}
		close(start)
		wg.Wait()
		refused := 0
		for _, err := range errs {
			switch {
			case errors.Is(err, domain.ErrLastAdmin):
				refused++
			case err != nil:
				t.Errorf("round %d: %v, want nil or domain.ErrLastAdmin", round+1, err)
			}
		}
		var left []string
		for _, id := range ids {
			u, err := stores[0].ByID(ctx, id)
			if err == nil && u.ActiveAdmin() {
				left = append(left, id)
			} else if err != nil && !errors.Is(err, domain.ErrNotFound) {
				t.Fatal(err)
			}
		}
		if len(left) != 1 || refused != 1 {
			t.Fatalf("round %d: %d enabled admins left and %d changes refused, want 1 and 1 (errors %v)", round+1, len(left), refused, errs)
		}
		survivor = left[0]
	}
}

func random(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
