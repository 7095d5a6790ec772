package redisstore

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// Every Redis key Portcullis writes is built here, so the layout can be read in one place.
//
//	<prefix>sess:{<sid>}              HASH  one session (fields below); PEXPIREAT = min(idle, absolute)
//	<prefix>chal:{<purpose>:<hash>}   STRING one challenge (challenges.go), hash in hex; PEXPIREAT = its expiry
//	<prefix>user:{<uid>}:sessions     ZSET  member <sid>, score = CreatedAt in Unix ms; PEXPIREAT =
//	                                        the latest absolute limit of its sessions
//
// Each key has its own hash tag, so in a cluster a session and its user's index usually live in
// different slots. Nothing ever touches both in one command or script: every script is
// single-key, the index is updated by separate commands, and the session hash is the only
// source of truth (an index entry whose session is gone is dropped when it is next read).
const (
	sessionKeyPart = "sess:"
	userKeyPart    = "user:"
	userSessions   = ":sessions"
	challengePart  = "chal:"
)

// Fields of the session HASH. Times are Unix milliseconds in decimal (0 for the zero time),
// hashes and the sealed successor are raw bytes, roles are joined by commas.
const (
	fieldUserID     = "uid"
	fieldRoles      = "roles"
	fieldRefresh    = "rh"
	fieldPrev       = "ph"
	fieldRetired    = "ret" // older retired hashes, concatenated, newest first (domain.Session.Retired)
	fieldSuccessor  = "succ"
	fieldRotatedAt  = "ra"
	fieldGeneration = "gen"
	fieldCreatedAt  = "ca"
	fieldLastUsedAt = "lu"
	fieldIdle       = "ie"
	fieldAbsolute   = "ae"
	fieldIP         = "ip"
	fieldUserAgent  = "ua"
	fieldAMR        = "amr" // authentication methods, joined by commas (domain.Session.AMR)
)

// keys builds key names under one prefix.
type keys struct{ prefix string }

func newKeys(prefix string) (keys, error) {
	if strings.ContainsAny(prefix, "{}") {
		return keys{}, fmt.Errorf("redisstore: key prefix %q must not contain '{' or '}' (they would move the hash tag)", prefix)
	}
	return keys{prefix: prefix}, nil
}

// session is the HASH of session sid, hash-tagged by sid.
func (k keys) session(sid string) string {
	return k.prefix + sessionKeyPart + "{" + sid + "}"
}

// sessions is session(id) for each of ids, in order.
func (k keys) sessions(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = k.session(id)
	}
	return out
}

// userSessions is the ZSET indexing the sessions of user uid, hash-tagged by uid.
func (k keys) userSessions(uid string) string {
	return k.prefix + userKeyPart + "{" + uid + "}" + userSessions
}

// challenge is the STRING holding one challenge, found by purpose and hash: a challenge of one
// purpose is never found under another.
func (k keys) challenge(purpose string, hash []byte) string {
	return k.prefix + challengePart + "{" + purpose + ":" + hex.EncodeToString(hash) + "}"
}
