package redisstore

import "github.com/redis/go-redis/v9"

// The Lua scripts. Each touches exactly one key (KEYS[1]), so it runs atomically in one slot
// of a cluster; the field names are those of keys.go. Times are Unix milliseconds; Lua numbers
// are doubles, exact for integers up to 2^53, and are written back with %.0f so they never
// turn into exponent notation.

// createScript writes a new session HASH unless the key exists.
//
//	KEYS[1] session key; ARGV[1] PEXPIREAT (ms); ARGV[2..] field, value, ...
//	returns 1 when written, 0 when the session already exists.
var createScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 1
`)

// indexScript adds a session to its user's index and makes the index live at least as long
// as the session can.
//
//	KEYS[1] user index key; ARGV[1] score (CreatedAt ms); ARGV[2] sid;
//	ARGV[3] the session's absolute limit (ms); ARGV[4] the caller's now (ms).
var indexScript = redis.NewScript(`
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
local want = tonumber(ARGV[3]) - tonumber(ARGV[4])
local ttl = redis.call('PTTL', KEYS[1])
if want > 0 and ttl < want then redis.call('PEXPIREAT', KEYS[1], ARGV[3]) end
return 1
`)

// rotateScript is the whole refresh-token rotation, atomic against every other caller: the rule
// of domain.Session.Rotate, which a script must repeat because it runs inside Redis. The
// session contract suite (test/contract/rotation.go) runs one table of cases through both, so
// the two cannot drift apart. The presented hash is classified against the hashes the session issued: current ('rh'), the
// predecessor ('ph') and the ring of older retired ones ('ret', concatenated hashes of ARGV[8]
// bytes, newest first, cut to ARGV[7] bytes).
//
//	KEYS[1] session key; ARGV[1] presented hash; ARGV[2] new hash; ARGV[3] sealed successor;
//	ARGV[4] now (ms); ARGV[5] grace (ms); ARGV[6] idle TTL (ms); ARGV[7] ring size in bytes;
//	ARGV[8] hash size in bytes.
//	returns {0}               missing, or dead at now
//	        {1, fields}       rotated; fields are the session before the rotation
//	        {2, fields}       grace replay of the immediate predecessor (nothing changed)
//	        {3, uid}          a retired token of this session: the session was deleted (reuse)
//	        {4}               a hash the session never issued (or retired beyond the ring):
//	                          nothing changed
//
// fields are the values of rotateFields, in that order (nil for a field the hash lacks): the
// caller rebuilds the rotated session from them with domain.Session.Rotate, which is cheaper
// for Redis than an HGETALL of the session after the rotation. For the same reason the
// rotation writes every field, the generation too, in one HSET: each redis.call costs the
// script a few microseconds of Redis's one thread beyond the command itself.
var rotateScript = redis.NewScript(`
local s = redis.call('HMGET', KEYS[1], 'rh', 'ph', 'ra', 'ie', 'ae', 'uid', 'ret',
  'roles', 'succ', 'gen', 'ca', 'lu', 'ip', 'ua', 'amr')
if not s[1] or not s[4] or not s[5] then return {0} end
local now = tonumber(ARGV[4])
local ae = tonumber(s[5])
if now >= tonumber(s[4]) or now >= ae then return {0} end
local p = ARGV[1]
local ph = s[2] or ''
local ret = s[7] or ''
if s[1] ~= '' and s[1] == p then
  local idle = now + tonumber(ARGV[6])
  if idle > ae then idle = ae end
  idle = string.format('%.0f', idle)
  local ring = string.sub(ph .. ret, 1, tonumber(ARGV[7]))
  local gen = string.format('%.0f', tonumber(s[10] or '0') + 1)
  redis.call('HSET', KEYS[1], 'ret', ring, 'ph', s[1], 'rh', ARGV[2], 'succ', ARGV[3], 'ra', ARGV[4], 'lu', ARGV[4], 'ie', idle, 'gen', gen)
  redis.call('PEXPIREAT', KEYS[1], idle)
  return {1, s}
end
local issued = ph ~= '' and ph == p
if issued and now <= tonumber(s[3] or '0') + tonumber(ARGV[5]) then
  return {2, s}
end
local size = tonumber(ARGV[8])
if not issued and #p == size then
  for i = 1, #ret - size + 1, size do
    if string.sub(ret, i, i + size - 1) == p then
      issued = true
      break
    end
  end
end
if not issued then return {4} end
redis.call('DEL', KEYS[1])
return {3, s[6] or ''}
`)

// rotateFields are the fields rotateScript reads and returns, in its order.
var rotateFields = []string{fieldRefresh, fieldPrev, fieldRotatedAt, fieldIdle, fieldAbsolute, fieldUserID,
	fieldRetired, fieldRoles, fieldSuccessor, fieldGeneration, fieldCreatedAt, fieldLastUsedAt, fieldIP,
	fieldUserAgent, fieldAMR}

// deleteScript deletes a session and returns its user id (nil when there was none), so the
// caller can drop the index entry.
//
//	KEYS[1] session key.
var deleteScript = redis.NewScript(`
local uid = redis.call('HGET', KEYS[1], 'uid')
if not uid then return false end
redis.call('DEL', KEYS[1])
return uid
`)

// setRolesScript replaces the roles of a session that exists and belongs to the user; it never
// creates a key (a plain HSET would resurrect a deleted session as a hash without TTL).
//
//	KEYS[1] session key; ARGV[1] uid; ARGV[2] roles. returns 1 when set, 0 when gone.
var setRolesScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'uid') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'roles', ARGV[2])
return 1
`)
