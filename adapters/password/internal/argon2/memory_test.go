// Copyright 2026 The Portcullis Authors. Use of this source code is governed by the BSD-style
// license in this directory's LICENSE file.

package argon2

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	upstream "golang.org/x/crypto/argon2"
)

// copiedFrom is the golang.org/x/crypto release this directory was copied from, and
// upstreamArgon2Go the SHA-256 of that release's argon2/argon2.go, the one file changed here.
const (
	copiedFrom       = "v0.59.0"
	upstreamArgon2Go = "3675c69f8a2efbd5ae4d35d00f5679113b50ec32f3fe6482c669ef7b401a38d5"
)

// The copy stays upstream's: every file of golang.org/x/crypto/argon2 at the version go.mod
// requires is here byte for byte, but argon2.go, which must still be the file the copy was
// changed from. When an update of golang.org/x/crypto changes the package, this fails until the
// change is brought over (README.md).
func TestCopyIsUpstreams(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}} {{.Version}}", "golang.org/x/crypto").Output()
	if err != nil {
		t.Fatalf("go list golang.org/x/crypto: %v", err)
	}
	dir, version, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	if dir == "" {
		t.Fatalf("golang.org/x/crypto %s is not in the module cache; run go mod download", version)
	}
	changed := func(file string) string {
		return fmt.Sprintf("%s of golang.org/x/crypto %s is not what the copy here was made from (%s): "+
			"bring the change over, as README.md in this directory says", file, version, copiedFrom)
	}
	if !same(t, filepath.Join(dir, "LICENSE"), "LICENSE") {
		t.Error(changed("LICENSE"))
	}
	files, err := os.ReadDir(filepath.Join(dir, "argon2"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("golang.org/x/crypto %s has no argon2 files", version)
	}
	for _, f := range files {
		theirs := filepath.Join(dir, "argon2", f.Name())
		switch {
		case f.IsDir():
			continue
		case f.Name() == "argon2.go":
			b, err := os.ReadFile(theirs)
			if err != nil {
				t.Fatal(err)
			}
			if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != upstreamArgon2Go {
				t.Error(changed("argon2/argon2.go"))
			}
		case !same(t, theirs, f.Name()):
			t.Error(changed("argon2/" + f.Name()))
		}
	}
}

// same reports whether the files at a and b hold the same bytes; a missing b is not the same.
func same(t *testing.T, a, b string) bool {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(x, y)
}

// zero reports whether m's blocks are all zero.
func zero(m *Memory) bool {
	for i := range m.blocks {
		if m.blocks[i] != (block{}) {
			return false
		}
	}
	return true
}

// One Memory serves derivations of every shape in turn, growing and shrinking between them, and
// each gives upstream's key and leaves the memory zero.
func TestIDKeyWithIsUpstreamsIDKey(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var mem Memory
	for i, c := range []struct {
		time, memory uint32
		threads      uint8
		keyLen       uint32
	}{
		{1, 64, 1, 32}, {2, 256, 1, 32}, {3, 64, 1, 16}, // grows, then a smaller one in the larger memory
		{2, 300, 4, 64}, {1, 8, 1, 32}, {2, 1024, 2, 32}, // odd sizes are rounded, as upstream rounds them
		{2, 19456, 1, 32}, {2, 4096, 3, 48}, // the service's floor, then a smaller one in it
	} {
		password, salt := make([]byte, r.IntN(40)), make([]byte, 8+r.IntN(24))
		for _, b := range [][]byte{password, salt} {
			for j := range b {
				b[j] = byte(r.Uint32())
			}
		}
		want := upstream.IDKey(password, salt, c.time, c.memory, c.threads, c.keyLen)
		if got := IDKeyWith(&mem, password, salt, c.time, c.memory, c.threads, c.keyLen); !bytes.Equal(got, want) {
			t.Errorf("case %d %+v: IDKeyWith = %x, upstream IDKey = %x", i, c, got, want)
		}
		if !zero(&mem) {
			t.Errorf("case %d: the working memory is not zero after the derivation", i)
		}
	}
	if got, want := mem.Bytes(), 19456*1024; got != want {
		t.Errorf("Memory holds %d bytes after the largest derivation, want %d", got, want)
	}
	if got := IDKeyWith(nil, []byte("pw"), []byte("saltsalt"), 1, 64, 1, 32); !bytes.Equal(got, upstream.IDKey([]byte("pw"), []byte("saltsalt"), 1, 64, 1, 32)) {
		t.Error("IDKeyWith with a nil Memory differs from upstream")
	}
}

// A derivation that did not end (it panicked) leaves its blocks dirty; the next one clears them
// first, since the algorithm XORs into them.
func TestIDKeyWithClearsWhatAnUnfinishedDerivationLeft(t *testing.T) {
	var mem Memory
	password, salt := []byte("password"), []byte("somesalt")
	want := IDKeyWith(&mem, password, salt, 2, 64, 1, 32)
	b := mem.take(64)
	for i := range b {
		b[i][0] = 0xdeadbeef
	}
	if got := IDKeyWith(&mem, password, salt, 2, 64, 1, 32); !bytes.Equal(got, want) {
		t.Fatalf("after an unfinished derivation IDKeyWith = %x, want %x", got, want)
	}
}

// After the first derivation, derivations in a Memory allocate no working memory: a few hundred
// bytes each (the key, blake2b's state), where a derivation without one allocates its 1 MiB.
func TestIDKeyWithAllocatesItsMemoryOnce(t *testing.T) {
	password, salt := []byte("password"), []byte("somesalt")
	allocated := func(mem *Memory) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range 4 {
			IDKeyWith(mem, password, salt, 1, 1024, 1, 32)
		}
		runtime.ReadMemStats(&after)
		return (after.TotalAlloc - before.TotalAlloc) / 4
	}
	var mem Memory
	IDKeyWith(&mem, password, salt, 1, 1024, 1, 32)
	if kept, fresh := allocated(&mem), allocated(nil); kept > 64<<10 || fresh < 1<<20 {
		t.Errorf("bytes allocated per derivation: %d in a kept Memory (want under 64 KiB), %d without one (want its 1 MiB)", kept, fresh)
	}
}

// Upstream's Argon2id inputs, fuzzed: the copy in a reused Memory gives upstream's key.
func FuzzIDKeyWith(f *testing.F) {
	f.Add([]byte("password"), []byte("somesalt"), uint8(1), uint16(64), uint8(1), uint8(32))
	f.Add([]byte{}, []byte("saltsaltsalt"), uint8(3), uint16(300), uint8(4), uint8(16))
	var mem Memory
	f.Fuzz(func(t *testing.T, password, salt []byte, time uint8, memory uint16, threads, keyLen uint8) {
		tm, m, th, k := uint32(time%4)+1, uint32(memory%1024), threads%5+1, uint32(keyLen%96)+4
		want := upstream.IDKey(password, salt, tm, m, th, k)
		if got := IDKeyWith(&mem, password, salt, tm, m, th, k); !bytes.Equal(got, want) {
			t.Fatalf("IDKeyWith(t=%d, m=%d, p=%d, len=%d) = %x, upstream %x", tm, m, th, k, got, want)
		}
	})
}

func BenchmarkIDKey(b *testing.B) {
	password, salt := []byte("password"), []byte("somesalt")
	b.Run("upstream", func(b *testing.B) {
		for b.Loop() {
			upstream.IDKey(password, salt, 2, 19456, 1, 32)
		}
	})
	b.Run("kept", func(b *testing.B) {
		var mem Memory
		for b.Loop() {
			IDKeyWith(&mem, password, salt, 2, 19456, 1, 32)
		}
	})
}
