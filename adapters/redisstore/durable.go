package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis replicates asynchronously: a master acknowledges a write before any replica has it, so
// a master that dies right after can take an acknowledged login, rotation or logout with it
// when its replica is promoted. WAIT closes that gap for the writes a session's safety rests
// on: after the write, on the same connection (WAIT counts the replicas that have everything
// that connection wrote), the store waits until enough replicas have it, and answers
// unavailable (503) when they do not acknowledge in time. The write may then still exist on the
// master alone: a 503 says "not known to be durable", never "not done".
//
// WAIT needs the very connection that wrote, which rules out the cluster client's own routing
// (a keyless WAIT goes to any node), MULTI (WAIT does not block inside a transaction) and Lua
// (WAIT is not allowed in scripts). So the store takes the master of the key's slot
// (ClusterClient.MasterForKey; the client itself for standalone and Sentinel) and sends the
// write and WAIT there as one pipeline, which go-redis writes on one connection.

// SessionOption configures NewSessions.
type SessionOption func(*Sessions)

// WaitForReplicas makes every session write that must survive the loss of a master — Create,
// Rotate, Delete, DeleteByUser and SetRoles — wait until n replicas of the master that took it
// acknowledge it (Redis WAIT, bounded by timeout, which must be positive with n > 0: WAIT 0
// waits for ever; cmd/portcullis passes PORTCULLIS_REDIS_WAIT_TIMEOUT). A write not acknowledged
// in time is domain.ErrUnavailable. n = 0 leaves writes asynchronous (the default). Every
// master needs at least n replicas, or every such write fails.
func WaitForReplicas(n int, timeout time.Duration) SessionOption {
	return func(st *Sessions) {
		st.waitReplicas, st.waitTimeout = n, timeout
	}
}

// errNotReplicated is wrapped (with domain.ErrUnavailable) when WAIT times out.
var errNotReplicated = errors.New("write not acknowledged by enough replicas in time")

// eval runs script on key: as Script.Run does on the client, or, when replicas are required,
// followed by WAIT on the same connection to the key's master. The returned command carries
// the script's reply, or the error that made the write not count (the script's, the
// connection's, or too few acknowledging replicas).
func (st *Sessions) eval(ctx context.Context, script *redis.Script, key string, args ...any) *redis.Cmd {
	if st.waitReplicas <= 0 {
		return script.Run(ctx, st.client, []string{key}, args...)
	}
	var cmd *redis.Cmd
	err := st.durably(ctx, []string{key}, func(p redis.Pipeliner, _ int) {
		cmd = script.EvalSha(ctx, p, []string{key}, args...)
	})
	// A pipeline cannot fall back on NOSCRIPT as Script.Run does; the script did not run, so send
	// it whole (a promoted replica, for one, has an empty script cache).
	if cmd != nil && redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		err = st.durably(ctx, []string{key}, func(p redis.Pipeliner, _ int) {
			cmd = script.Eval(ctx, p, []string{key}, args...)
		})
	}
	if cmd == nil {
		cmd = redis.NewCmd(ctx)
	}
	if err != nil && (cmd.Err() == nil || errors.Is(cmd.Err(), redis.Nil)) {
		cmd.SetErr(err)
	}
	return cmd
}

// pipeline sends add(p, i) for every keys[i] as pipelines: through the client as one, or, when
// replicas are required, one per master of the keys' slots, each closed by WAIT. It reports the
// first failure (a command's error other than redis.Nil, or too few replicas).
func (st *Sessions) pipeline(ctx context.Context, keys []string, add func(p redis.Pipeliner, i int)) error {
	if st.waitReplicas <= 0 {
		_, err := st.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := range keys {
				add(p, i)
			}
			return nil
		})
		if errors.Is(err, redis.Nil) {
			return nil
		}
		return err
	}
	return st.durably(ctx, keys, add)
}

// durably groups keys by the master of their slot and sends, to each master on one
// connection, add(p, i) for its keys followed by WAIT. It fails when a command fails (other
// than with redis.Nil) or when fewer than the required replicas acknowledge. After a failure
// that may mean the client's view of the cluster is stale (a dead master, MOVED after a
// failover), it asks the cluster client to reload the slot map, so that later calls reach the
// promoted replica.
func (st *Sessions) durably(ctx context.Context, keys []string, add func(p redis.Pipeliner, i int)) error {
	type group struct {
		node    redis.Cmdable
		indexes []int
	}
	var groups []*group
	cc, isCluster := st.client.(*redis.ClusterClient)
	if !isCluster {
		groups = []*group{{node: st.client}}
		for i := range keys {
			groups[0].indexes = append(groups[0].indexes, i)
		}
	} else {
		byNode := map[*redis.Client]*group{}
		for i, k := range keys {
			node, err := cc.MasterForKey(ctx, k)
			if err != nil {
				cc.ReloadState(ctx)
				return err
			}
			g := byNode[node]
			if g == nil {
				g = &group{node: node}
				byNode[node] = g
				groups = append(groups, g)
			}
			g.indexes = append(g.indexes, i)
		}
	}
	for _, g := range groups {
		var wait *redis.Cmd
		cmds, _ := g.node.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, i := range g.indexes {
				add(p, i)
			}
			// Pipeliner has no Wait method; the reply is the number of replicas that acknowledged.
			wait = p.Do(ctx, "wait", st.waitReplicas, st.waitTimeout.Milliseconds())
			return nil
		})
		var failed error
		for _, c := range cmds {
			if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
				failed = err
				break
			}
		}
		if failed == nil {
			if acked, err := wait.Int64(); err != nil || acked < int64(st.waitReplicas) {
				failed = fmt.Errorf("%w: %d of %d replicas within %s", errNotReplicated, acked, st.waitReplicas, st.waitTimeout)
			}
		}
		if failed != nil {
			if isCluster && !errors.Is(failed, errNotReplicated) {
				cc.ReloadState(ctx)
			}
			return failed
		}
	}
	return nil
}
