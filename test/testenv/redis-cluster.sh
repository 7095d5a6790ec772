#!/bin/sh
# redis-cluster.sh start|stop|status — a throw-away Redis Cluster on loopback: masters only, for
# the cluster run of the contract suites (PORTCULLIS_TEST_REDIS_CLUSTER_ADDRS), or masters with
# replicas, for the failover test of test/cluster.
#
#   PORTS         space- or comma-separated ports, at least 3   (default: 7001 7002 7003)
#   DIR           directory for node configs and logs           (default: /tmp/rc)
#   HOST          address to bind and announce                  (default: 127.0.0.1)
#   REPLICAS      replicas per master (PORTS holds masters      (default: 0)
#                 and replicas: 3 masters and 2 replicas each
#                 need 9 ports)
#   NODE_TIMEOUT  cluster-node-timeout in ms: how long a node   (default: 60000)
#                 is silent before it is failed (and, with
#                 replicas, failed over)
#   FULL_COVERAGE cluster-require-full-coverage: with "no" the  (default: yes)
#                 other masters keep serving while a failed
#                 master's slots are uncovered
#
# Ports and directory may also be given as arguments: redis-cluster.sh start 7001,7002,7003 /tmp/rc
# start is idempotent: nodes already answering are kept, and the cluster is created only if it
# is not already healthy. stop shuts every node down without saving and removes DIR's node
# files. start prints the value for PORTCULLIS_TEST_REDIS_CLUSTER_ADDRS on its last line.
set -eu

cmd=${1:-}
PORTS=${2:-${PORTS:-7001 7002 7003}}
DIR=${3:-${DIR:-/tmp/rc}}
HOST=${HOST:-127.0.0.1}
REPLICAS=${REPLICAS:-0}
NODE_TIMEOUT=${NODE_TIMEOUT:-60000}
FULL_COVERAGE=${FULL_COVERAGE:-yes}
PORTS=$(echo "$PORTS" | tr ',' ' ')

addrs() {
	sep=""
	for p in $PORTS; do printf '%s%s:%s' "$sep" "$HOST" "$p"; sep=","; done
}

up() { redis-cli -h "$HOST" -p "$1" ping >/dev/null 2>&1; }

healthy() {
	first=$(echo "$PORTS" | awk '{print $1}')
	redis-cli -h "$HOST" -p "$first" cluster info 2>/dev/null | grep -q '^cluster_state:ok'
}

# A node that does not answer for cluster-node-timeout is marked failed and the cluster goes
# down; on a loaded test machine 5 s is too short for a cluster of masters only, none of which
# fails for real (hence 60 s). A cluster with replicas that is meant to fail over sets less.
# A restarted node (start after a kill) keeps its nodes-PORT.conf and rejoins: a failed-over
# master comes back as a replica of its successor. Replicas sync without the diskless delay.
start() {
	command -v redis-server >/dev/null || { echo "redis-server not found" >&2; exit 1; }
	mkdir -p "$DIR"
	for p in $PORTS; do
		up "$p" && continue
		redis-server --port "$p" --bind "$HOST" --dir "$DIR" \
			--cluster-enabled yes --cluster-config-file "nodes-$p.conf" --cluster-node-timeout "$NODE_TIMEOUT" \
			--cluster-require-full-coverage "$FULL_COVERAGE" --repl-diskless-sync-delay 0 \
			--save "" --appendonly no --daemonize yes --logfile "$DIR/redis-$p.log" --pidfile "$DIR/redis-$p.pid"
	done
	for p in $PORTS; do
		i=0
		until up "$p"; do
			i=$((i + 1)); [ "$i" -gt 50 ] && { echo "node $p did not start; see $DIR/redis-$p.log" >&2; exit 1; }
			sleep 0.1
		done
	done
	if ! healthy; then
		# shellcheck disable=SC2046 # one argument per node
		redis-cli --cluster create $(for p in $PORTS; do printf '%s:%s ' "$HOST" "$p"; done) \
			--cluster-replicas "$REPLICAS" --cluster-yes >"$DIR/create.log" 2>&1 ||
			{ cat "$DIR/create.log" >&2; exit 1; }
		i=0
		until healthy; do
			i=$((i + 1)); [ "$i" -gt 100 ] && { echo "cluster did not become ok" >&2; exit 1; }
			sleep 0.1
		done
	fi
	addrs; echo
}

stop() {
	for p in $PORTS; do
		up "$p" && redis-cli -h "$HOST" -p "$p" shutdown nosave >/dev/null 2>&1 || true
	done
	for p in $PORTS; do
		rm -f "$DIR/nodes-$p.conf" "$DIR/redis-$p.pid"
	done
}

status() {
	for p in $PORTS; do
		if up "$p"; then echo "$HOST:$p up"; else echo "$HOST:$p down"; fi
	done
	if healthy; then echo "cluster ok: $(addrs)"; else echo "cluster not ok"; exit 1; fi
}

case "$cmd" in
start) start ;;
stop) stop ;;
status) status ;;
*) echo "usage: $0 start|stop|status [ports] [dir]" >&2; exit 2 ;;
esac
