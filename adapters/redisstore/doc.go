// Package redisstore keeps sessions in Redis with github.com/redis/go-redis/v9: standalone,
// over TLS, Redis Cluster, or the master of a Redis Sentinel set. It is the session store of a Portcullis deployment of many
// instances (PORTCULLIS_SESSION_STORE=redis://…), where a logout on one instance must be seen
// by all at once.
//
// # Connecting
//
// Open (and Module) take a URL:
//
//	redis://[user:password@]host:6379[/db][?dial_timeout=3s&pool_size=20...]
//	rediss://...                                          the same over TLS
//	redis+cluster://[user:password@]host1:7001,host2:7002,host3:7003[?...]
//	rediss+cluster://...                                  the same over TLS
//	redis+sentinel://[user:password@]s1:26379,s2:26379,s3:26379/master-name[/db][?...]
//	rediss+sentinel://...                                 the same over TLS
//
// The cluster forms list seed nodes separated by commas (any reachable master or replica will
// do; the client discovers the rest) and take no database number. Query options are those of
// go-redis's ParseURL / ParseClusterURL.
//
// The Sentinel forms list Sentinels separated by commas (port 26379 when none is given; one
// that answers is enough) and name the monitored master in the path, optionally followed by a
// database number. The client (go-redis's NewFailoverClient) asks the Sentinels for the
// master's address, connects to it, and follows a failover to the new master. The URL's user
// and password are the master's; sentinel_username and sentinel_password in the query are the
// Sentinels' own, for Sentinels that require AUTH. The other query options are those of
// go-redis's ParseFailoverURL, except master_name, addr and db, which the URL's path and host
// list give. Over TLS (rediss+sentinel://) every Sentinel and the master are verified under
// their own address, the master under the one the Sentinels announce. All commands go to the
// master, so keys, scripts and the Pinger work as with a standalone Redis. An error about a
// bad URL leaves its passwords out.
//
// # Layout and cluster slots
//
// keys.go holds every key. A session is a HASH under "sess:{<sid>}" and each user has a ZSET
// index "user:{<uid>}:sessions". The two carry different hash tags (Get knows only the session
// id, so the session key cannot carry the user's tag), so they may sit in different cluster
// slots, and the store never touches both in one command:
//
//   - Get is one HGETALL on the session key.
//   - Rotate is one Lua script on the session key: compare, rotate or replay or delete,
//     PEXPIREAT, all atomic. Only after a reuse is the index entry dropped, by a second command.
//   - Create writes the index entry first (one single-key script), then the session (another),
//     so a session never exists unindexed: DeleteByUser can always reach it.
//   - Delete, DeleteByUser and SetRoles read the index and then act per session key, pipelined;
//     the cluster client splits a pipeline by node.
//   - The session hash is the source of truth. An index entry whose session has gone (expired,
//     deleted, or a write that failed half-way) is harmless; ListByUser drops it once it is a
//     minute old, and the index key itself expires with the last absolute limit of its sessions.
//
// The cost of not being single-slot: a login that races with DeleteByUser or SetRoles for the
// same user may keep its session or its old roles (it is treated as having happened after).
// Redis 6.2 or later is required (ZMSCORE).
//
// # Durability
//
// Redis replicates asynchronously, so a master that dies right after a write can lose it when a
// replica is promoted. With WaitForReplicas (PORTCULLIS_REDIS_WAIT_REPLICAS) the writes a session's
// safety rests on — Create, Rotate, Delete, DeleteByUser, SetRoles — are each followed by WAIT on
// the connection that wrote them, to the master of the key's slot, and fail with
// domain.ErrUnavailable when too few replicas acknowledge in time (durable.go says why it must be
// that connection, and neither MULTI nor Lua). Reads never wait.
//
// # Errors
//
// A missing or expired session is domain.ErrNotFound; a retired refresh token is
// domain.ErrRefreshReuse; every Redis or network failure (context cancellation included) wraps
// domain.ErrUnavailable, which the HTTP adapter answers with 503. The store never fails open.
package redisstore
