#!/bin/sh
# redis-sentinel.sh start|stop|status — a throw-away Redis master watched by Redis Sentinels on
# loopback, for the Sentinel run of the contract suites (PORTCULLIS_TEST_REDIS_SENTINEL_URL).
#
#   MASTER_PORT     port of the master                                (default: 7200)
#   SENTINEL_PORTS  space- or comma-separated Sentinel ports, 1 or more (default: 7221 7222 7223)
#   DIR             directory for configs, logs and pid files        (default: /tmp/rs)
#   HOST            address to bind and announce                     (default: 127.0.0.1)
#   MASTER_NAME     the name the Sentinels monitor the master under  (default: portcullis)
#
# Ports and directory may also be given as arguments:
#   redis-sentinel.sh start 7200 7221,7222,7223 /tmp/rs
# start is idempotent: a master or Sentinel already answering on its port is kept (and a
# Sentinel is told to monitor the master if it does not yet). stop shuts every node down without
# saving and removes DIR's config and pid files. start prints the value for
# PORTCULLIS_TEST_REDIS_SENTINEL_URL on its last line, e.g.
#   redis+sentinel://127.0.0.1:7221,127.0.0.1:7222,127.0.0.1:7223/portcullis
set -eu

cmd=${1:-}
MASTER_PORT=${2:-${MASTER_PORT:-7200}}
SENTINEL_PORTS=${3:-${SENTINEL_PORTS:-7221 7222 7223}}
DIR=${4:-${DIR:-/tmp/rs}}
HOST=${HOST:-127.0.0.1}
MASTER_NAME=${MASTER_NAME:-portcullis}
SENTINEL_PORTS=$(echo "$SENTINEL_PORTS" | tr ',' ' ')

count=0
for p in $SENTINEL_PORTS; do count=$((count + 1)); done
# A majority of the Sentinels must agree the master is down (no failover happens in tests).
QUORUM=$((count / 2 + 1))

url() {
	sep=""
	printf 'redis+sentinel://'
	for p in $SENTINEL_PORTS; do printf '%s%s:%s' "$sep" "$HOST" "$p"; sep=","; done
	printf '/%s\n' "$MASTER_NAME"
}

up() { redis-cli -h "$HOST" -p "$1" ping >/dev/null 2>&1; }

# monitors PORT: the Sentinel on PORT names this master at HOST:MASTER_PORT.
monitors() {
	[ "$(redis-cli -h "$HOST" -p "$1" sentinel get-master-addr-by-name "$MASTER_NAME" 2>/dev/null | tr '\n' ' ')" = "$HOST $MASTER_PORT " ]
}

is_master() { redis-cli -h "$HOST" -p "$MASTER_PORT" role 2>/dev/null | head -n 1 | grep -qx master; }

wait_until() { # wait_until WHAT TENTHS COMMAND...
	what=$1 limit=$2
	shift 2
	i=0
	until "$@"; do
		i=$((i + 1)); [ "$i" -gt "$limit" ] && { echo "$what; see $DIR" >&2; exit 1; }
		sleep 0.1
	done
}

# down-after-milliseconds is long: on a loaded test machine a short one could mark the master
# down (and with one node there is nothing to fail over to); no node here fails for real.
sentinel_conf() {
	cat <<EOF
port $1
bind $HOST
protected-mode no
daemonize yes
dir $DIR
logfile $DIR/sentinel-$1.log
pidfile $DIR/sentinel-$1.pid
sentinel announce-ip $HOST
sentinel monitor $MASTER_NAME $HOST $MASTER_PORT $QUORUM
sentinel down-after-milliseconds $MASTER_NAME 60000
sentinel failover-timeout $MASTER_NAME 180000
sentinel parallel-syncs $MASTER_NAME 1
EOF
}

start() {
	command -v redis-server >/dev/null || { echo "redis-server not found" >&2; exit 1; }
	[ "$count" -ge 1 ] || { echo "no Sentinel ports given" >&2; exit 1; }
	mkdir -p "$DIR"
	if ! up "$MASTER_PORT"; then
		redis-server --port "$MASTER_PORT" --bind "$HOST" --dir "$DIR" \
			--save "" --appendonly no --daemonize yes \
			--logfile "$DIR/redis-$MASTER_PORT.log" --pidfile "$DIR/redis-$MASTER_PORT.pid"
	fi
	wait_until "master $MASTER_PORT did not start" 50 up "$MASTER_PORT"
	is_master || { echo "the Redis on $MASTER_PORT is not a master" >&2; exit 1; }
	for p in $SENTINEL_PORTS; do
		up "$p" && continue
		# Sentinel rewrites its config file, so each gets its own, fresh one.
		sentinel_conf "$p" >"$DIR/sentinel-$p.conf"
		redis-server "$DIR/sentinel-$p.conf" --sentinel
	done
	for p in $SENTINEL_PORTS; do
		wait_until "sentinel $p did not start" 50 up "$p"
		if ! monitors "$p"; then
			redis-cli -h "$HOST" -p "$p" sentinel monitor "$MASTER_NAME" "$HOST" "$MASTER_PORT" "$QUORUM" >/dev/null 2>&1 || true
			wait_until "sentinel $p does not monitor $MASTER_NAME at $HOST:$MASTER_PORT" 50 monitors "$p"
		fi
	done
	url
}

stop() {
	for p in $SENTINEL_PORTS $MASTER_PORT; do
		up "$p" && redis-cli -h "$HOST" -p "$p" shutdown nosave >/dev/null 2>&1 || true
	done
	for p in $SENTINEL_PORTS; do
		rm -f "$DIR/sentinel-$p.conf" "$DIR/sentinel-$p.pid"
	done
	rm -f "$DIR/redis-$MASTER_PORT.pid"
}

status() {
	ok=true
	if up "$MASTER_PORT"; then echo "master $HOST:$MASTER_PORT up"; else echo "master $HOST:$MASTER_PORT down"; ok=false; fi
	for p in $SENTINEL_PORTS; do
		if monitors "$p"; then echo "sentinel $HOST:$p up, monitoring $MASTER_NAME"; else echo "sentinel $HOST:$p not ok"; ok=false; fi
	done
	if $ok; then echo "sentinel ok: $(url)"; else echo "sentinel not ok"; exit 1; fi
}

case "$cmd" in
start) start ;;
stop) stop ;;
status) status ;;
*) echo "usage: $0 start|stop|status [master-port] [sentinel-ports] [dir]" >&2; exit 2 ;;
esac
