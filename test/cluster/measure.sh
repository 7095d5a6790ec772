#!/usr/bin/env bash
# measure.sh — the measurements behind docs/scaling.md, on this machine (task scale:measure).
#
# On the three-node Galera cluster named by PORTCULLIS_TEST_GALERA_URLS (or one this script
# starts with galera.sh and stops on exit), it runs the load generator's matrix mode (test/load)
# with sessions in SQL on Galera node 1, for the routes me and refresh, once with causal reads
# (the default, wsrep_sync_wait=3) and once without (wsrep_sync_wait=0), each route against its
# bare-Fiber floor measured in the same run. Around each run it reads Galera's counters of
# replicated write sets and bytes (all nodes), so each route's write sets and bytes per request
# come from the same requests. It prints one line per route and setting, then the ratios.
# Then the cost of PORTCULLIS_REDIS_WAIT_REPLICAS: sessions on a throw-away Redis master with one
# replica (free loopback ports), me, refresh and login measured with WAIT for one replica and
# without, back to back, PAIRS times (users in SQLite, so that only the session store differs);
# the median ratio of the pairs is printed with its range; then BenchmarkRotateReplicated (one
# rotation's latency, asynchronous and waiting for the replica).
#
#   DURATION=5s RUNS=1 PAIRS=3 CONNS=16 bash test/cluster/measure.sh
#   PARTS=redis bash test/cluster/measure.sh      only the Redis part (PARTS: galera, redis; both
#                                                 by default)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

DURATION=${DURATION:-5s}
RUNS=${RUNS:-1}
PAIRS=${PAIRS:-3}
CONNS=${CONNS:-16}
PARTS=" ${PARTS:-galera redis} "
part() { [[ "$PARTS" == *" $1 "* ]]; }
started_dir=""
cleanup() {
	[[ -n "$started_dir" ]] && bash test/cluster/galera.sh stop "$started_dir" >/dev/null 2>&1
	[[ -n "${bin_dir:-}" ]] && rm -rf "$bin_dir"
	return 0
}
trap cleanup EXIT
if part galera && [[ -z "${PORTCULLIS_TEST_GALERA_URLS:-}" ]]; then
	started_dir=$(mktemp -d /tmp/portcullis-galera.XXXXXX)
	eval "$(bash test/cluster/galera.sh start "$started_dir")"
fi
IFS=, read -r -a urls <<<"${PORTCULLIS_TEST_GALERA_URLS:-}"
node1=${urls[0]:-}
node1=${node1%/}
db=portcullis_measure_$RANDOM$RANDOM
dbs=()
hostport() { local h=${1#*@}; echo "${h%%/*}"; }
sql() { # sql URL STATEMENT: run on one node
	local hp
	hp=$(hostport "$1")
	mariadb --no-defaults -h "${hp%:*}" -P "${hp#*:}" -u root -N -B -e "$2"
}
counter() { # counter NAME: the status counter summed over the nodes
	local sum=0 u v
	for u in "${urls[@]}"; do
		v=$(sql "$u" "SHOW GLOBAL STATUS LIKE '$1'" | awk '{print $2}')
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}
drop_dbs() {
	local d
	for d in "${dbs[@]}"; do sql "$node1" "DROP DATABASE IF EXISTS $d" || true; done
	cleanup
}
trap drop_dbs EXIT

bin_dir=$(mktemp -d)
go build -o "$bin_dir/portcullis" ./cmd/portcullis
go build -o "$bin_dir/load" ./test/load

declare -A rps
part galera && printf '%-8s %-14s %10s %10s %8s %14s %12s\n' route sync_wait rps floor_rps ratio writesets/req bytes/req
part galera && for route in me refresh login; do
	for wait in 3 0; do
		[[ "$route" == login && "$wait" == 0 ]] && continue # argon2id-bound: the setting cannot show
		# A database of its own per run: the generator registers the same accounts each time.
		dbs+=("${db}_${route}_$wait")
		sql "$node1" "CREATE DATABASE ${db}_${route}_$wait CHARACTER SET utf8mb4"
		url="$node1/${db}_${route}_$wait"
		[[ "$wait" == 0 ]] && url="$url?wsrep_sync_wait=0"
		ws0=$(counter wsrep_replicated)
		wb0=$(counter wsrep_replicated_bytes)
		out=$("$bin_dir/load" -matrix -json -binary "$bin_dir/portcullis" -stores sqlite -routes "$route" \
			-runs "$RUNS" -duration "$DURATION" -matrix-conns "$CONNS" \
			-env "PORTCULLIS_DATABASE_URL=$url,PORTCULLIS_RATE_LIMITS=off" 2>/dev/null)
		ws=$(($(counter wsrep_replicated) - ws0))
		wb=$(($(counter wsrep_replicated_bytes) - wb0))
		read -r r f ratio n < <(jq -r '.cells[0] | "\(.rps) \(.floor_rps) \(.ratio) \(.requests)"' <<<"$out")
		rps[$route$wait]=$r
		# The counters also include the run's set-up (registrations, logins): an upper bound.
		printf '%-8s %-14s %10.0f %10.0f %8.3f %14.2f %12.0f\n' "$route" "$wait" "$r" "$f" "$ratio" \
			"$(jq -n "$ws / $n")" "$(jq -n "$wb / $n")"
	done
done

# One Redis shard on this machine: a throw-away redis-server on a free loopback port (never the
# shared ones), GET and SET throughput at 16 connections, one core for the server.
if part galera && command -v redis-benchmark >/dev/null; then
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
		--pidfile "$bin_dir/redis.pid" --logfile "$bin_dir/redis.log" >/dev/null
	for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
	redis-benchmark -p "$port" -t get,set -n 200000 -c 16 -q 2>/dev/null | tr '\r' '\n' | grep -E '^(GET|SET): [0-9]' |
		sed 's/^/one redis shard (redis-benchmark, 16 connections): /'
	redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
fi

# The cost of waiting for a replica (PORTCULLIS_REDIS_WAIT_REPLICAS=1) on a master with one
# replica, both throw-away on free loopback ports.
declare -A wsum wfloor
if part redis && command -v redis-server >/dev/null; then
	free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
	mport=$(free_port)
	rport=$(free_port)
	redis-server --port "$mport" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes --repl-diskless-sync-delay 0 \
		--pidfile "$bin_dir/master.pid" --logfile "$bin_dir/master.log" --dir "$bin_dir" >/dev/null
	redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes --replicaof 127.0.0.1 "$mport" \
		--pidfile "$bin_dir/replica.pid" --logfile "$bin_dir/replica.log" --dir "$bin_dir" >/dev/null
	stop_redis_pair() { redis-cli -p "$rport" shutdown nosave >/dev/null 2>&1 || true; redis-cli -p "$mport" shutdown nosave >/dev/null 2>&1 || true; }
	for _ in $(seq 100); do
		redis-cli -p "$mport" info replication 2>/dev/null | grep -q '^connected_slaves:1' &&
			redis-cli -p "$rport" info replication 2>/dev/null | grep -q '^master_link_status:up' && break
		sleep 0.1
	done
	# PAIRS pairs per route, each a run with WAIT and one without, back to back (the machine's
	# load drifts less within a pair than over the whole series); the median pair is reported.
	printf '%-8s %-5s %-14s %10s %10s %8s\n' route pair wait_replicas rps floor_rps ratio
	for route in me refresh login; do
		pair_ratios=() floor_ratios=()
		for k in $(seq "$PAIRS"); do
			declare -A r=() fr=()
			for w in 1 0; do
				out=$("$bin_dir/load" -matrix -json -binary "$bin_dir/portcullis" -stores redis -redis "redis://127.0.0.1:$mport/0" \
					-routes "$route" -runs 1 -duration "$DURATION" -matrix-conns "$CONNS" \
					-env "PORTCULLIS_RATE_LIMITS=off,PORTCULLIS_REDIS_WAIT_REPLICAS=$w" 2>/dev/null) || { stop_redis_pair; exit 1; }
				read -r rr f ratio < <(jq -r '.cells[0] | "\(.rps) \(.floor_rps) \(.ratio)"' <<<"$out")
				r[$w]=$rr
				fr[$w]=$ratio
				printf '%-8s %-5s %-14s %10.0f %10.0f %8.3f\n' "$route" "$k" "$w" "$rr" "$f" "$ratio"
			done
			pair_ratios+=("$(jq -n "${r[1]} / ${r[0]}")")
			floor_ratios+=("$(jq -n "${fr[1]} / ${fr[0]}")")
		done
		wsum[$route]=$(printf '%s\n' "${pair_ratios[@]}" | jq -s 'sort | "median \(.[length/2|floor]*1000|round/1000) (range \(.[0]*1000|round/1000)-\(.[-1]*1000|round/1000))"' -r)
		wfloor[$route]=$(printf '%s\n' "${floor_ratios[@]}" | jq -s 'sort | "median \(.[length/2|floor]*1000|round/1000) (range \(.[0]*1000|round/1000)-\(.[-1]*1000|round/1000))"' -r)
	done
	stop_redis_pair
	# The same price per write, in-process and on one connection: a rotation's latency asynchronous
	# and with WaitForReplicas(1), on a master and replica of the benchmark's own.
	go test -run '^$' -bench 'RotateReplicated' -benchtime 2000x -count 3 ./adapters/redisstore 2>/dev/null |
		grep -E '^BenchmarkRotateReplicated' | awk '{n = $1; sub(/^BenchmarkRotateReplicated\//, "", n); sub(/-[0-9]+$/, "", n)
			printf "rotation latency (BenchmarkRotateReplicated) %-7s %6.0f µs/op\n", n, $3 / 1000}'
fi
part galera && for route in me refresh; do
	printf 'causal reads cost on %s: throughput with / without = %.3f\n' "$route" \
		"$(jq -n "${rps[${route}3]} / ${rps[${route}0]}")"
done
for route in me refresh login; do
	[[ -n "${wsum[$route]:-}" ]] || continue
	# The second figure divides each run by its own floor first: steadier when the machine's load
	# moves within a pair, and the one that counts for login, whose rate is the hashing rate of the
	# moment.
	printf 'waiting for a Redis replica on %s: throughput with / without = %s; each to its own floor: %s\n' "$route" \
		"${wsum[$route]}" "${wfloor[$route]}"
done
