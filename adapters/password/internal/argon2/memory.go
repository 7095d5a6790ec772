// Copyright 2026 The Portcullis Authors. Use of this source code is governed by the BSD-style
// license in this directory's LICENSE file.

package argon2

// This file is Portcullis's addition to the copy of golang.org/x/crypto/argon2 (README.md).

// Memory is working memory that IDKeyWith keeps from one derivation to the next, so that a
// stream of derivations allocates it once instead of on every call, as IDKey does. The zero
// Memory is empty and ready to use; it grows to the largest derivation it has served and holds
// that until it is dropped. A Memory serves one derivation at a time.
//
// Between derivations its blocks are all zero: the algorithm XORs into them (version 0x13) and
// needs them zero, and a password's derived blocks are not left lying in memory that is kept.
type Memory struct {
	blocks []block
	dirty  bool // a derivation took the blocks and did not clear them (it panicked)
}

// Bytes reports how much working memory m holds.
func (m *Memory) Bytes() int { return len(m.blocks) * blockLength * 8 }

// IDKeyWith returns IDKey(password, salt, time, memory, threads, keyLen), computed in mem's
// working memory instead of memory allocated for the call. mem grows to memory KiB if it is
// smaller, and its blocks are cleared before IDKeyWith returns.
func IDKeyWith(mem *Memory, password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	if mem == nil {
		mem = new(Memory)
	}
	return deriveKeyIn(mem, argon2id, password, salt, nil, nil, time, memory, threads, keyLen)
}

// take returns n zeroed blocks: a fresh allocation for a nil m (upstream's behaviour), else
// m's own blocks, grown when they are too few.
func (m *Memory) take(n uint32) []block {
	if m == nil {
		return make([]block, n)
	}
	if uint32(len(m.blocks)) < n {
		m.blocks = make([]block, n)
	} else if m.dirty {
		clear(m.blocks)
	}
	m.dirty = true
	return m.blocks[:n]
}

// clear zeroes the blocks a derivation used, once it has its key. Upstream (a nil m) drops them.
func (m *Memory) clear(b []block) {
	if m == nil {
		return
	}
	clear(b)
	m.dirty = false
}
