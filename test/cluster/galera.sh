#!/usr/bin/env bash
# galera.sh — a throw-away three-node MariaDB Galera Cluster on loopback, for the cluster tests
# (PORTCULLIS_TEST_GALERA_URLS) and for trying Portcullis on Galera by hand.
#
#   galera.sh start [DIR]        install galera-4 when absent, create DIR (default: a new
#                                /tmp/portcullis-galera.XXXXXX), bootstrap node 1 with
#                                --wsrep-new-cluster, join nodes 2 and 3 (rsync SST), wait until
#                                the cluster has three synced nodes; prints the environment to
#                                export (PORTCULLIS_TEST_GALERA_URLS, PORTCULLIS_TEST_GALERA_DIR)
#   galera.sh stop DIR           stop every node (SIGTERM, then SIGKILL after 30 s) and remove DIR
#   galera.sh status DIR         each node's wsrep state and the cluster size
#   galera.sh kill N DIR         kill -9 node N (1..3), as a crash would
#   galera.sh rejoin N DIR       start node N again; it rejoins by IST or SST. Waits until synced
#
# Ports (environment, defaults in brackets): SQL on GALERA_SQL_PORTS [4306 4307 4308]; each node's
# group port is GALERA_GROUP_BASE+10*(N-1) [4567 4577 4587], its IST port that plus 1 and its
# SST (rsync) port that plus 2. Everything binds 127.0.0.1. Never touches the MariaDB on 3306:
# each node has its own datadir, socket and pid file under DIR and reads no /etc/mysql file.
# The data directories belong to the mysql user (mariadbd runs as it), so DIR is world-readable.
# Waits are bounded (GALERA_WAIT seconds per node, default 90); on a failure the node's error log
# is printed and the command exits non-zero.
set -euo pipefail

cmd=${1:-}
read -r -a SQL_PORTS <<<"${GALERA_SQL_PORTS:-4306 4307 4308}"
GROUP_BASE=${GALERA_GROUP_BASE:-4567}
WAIT=${GALERA_WAIT:-90}
HOST=127.0.0.1
PROVIDER=${GALERA_PROVIDER:-/usr/lib/galera/libgalera_smm.so}

log() { printf '[galera %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

group_port() { echo $((GROUP_BASE + 10 * ($1 - 1))); }
sql_port() { echo "${SQL_PORTS[$(($1 - 1))]}"; }
cli() { # cli N SQL...: run SQL on node N over its socket as root
	local n=$1
	shift
	mariadb --no-defaults -S "$DIR/node$n/mysqld.sock" -u root -N -B -e "$*"
}
wsrep_status() { cli "$1" "SHOW STATUS LIKE '$2'" 2>/dev/null | awk '{print $2}'; }
synced() { [[ "$(wsrep_status "$1" wsrep_local_state_comment)" == Synced ]]; }
pid_of() { cat "$DIR/node$1/mysqld.pid" 2>/dev/null || true; }
alive() { local p; p=$(pid_of "$1"); [[ -n "$p" ]] && kill -0 "$p" 2>/dev/null; }

install_galera() {
	if [[ ! -f "$PROVIDER" ]] || ! command -v mariadbd >/dev/null || ! command -v rsync >/dev/null; then
		log "installing galera-4, mariadb-server and rsync"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq galera-4 mariadb-server rsync >/dev/null
	fi
	[[ -f "$PROVIDER" ]] || die "no Galera provider at $PROVIDER"
}

write_config() {
	local n=$1 g addrs="" i
	g=$(group_port "$n")
	for i in 1 2 3; do addrs+="$HOST:$(group_port "$i"),"; done
	cat >"$DIR/node$n/my.cnf" <<EOF
[mysqld]
user = mysql
datadir = $DIR/node$n/data
socket = $DIR/node$n/mysqld.sock
pid-file = $DIR/node$n/mysqld.pid
log-error = $DIR/node$n/error.log
port = $(sql_port "$n")
bind-address = $HOST
character-set-server = utf8mb4
collation-server = utf8mb4_general_ci
innodb_buffer_pool_size = 64M
innodb_log_file_size = 32M
innodb_flush_log_at_trx_commit = 2
performance_schema = OFF
max_connections = 300
binlog_format = ROW
default_storage_engine = InnoDB
innodb_autoinc_lock_mode = 2
wsrep_on = ON
wsrep_provider = $PROVIDER
wsrep_cluster_name = portcullis_test
wsrep_cluster_address = gcomm://${addrs%,}
wsrep_node_name = node$n
wsrep_node_address = $HOST:$g
wsrep_node_incoming_address = $HOST:$(sql_port "$n")
wsrep_sst_method = rsync
wsrep_sst_receive_address = $HOST:$((g + 2))
wsrep_provider_options = "gmcast.listen_addr=tcp://$HOST:$g;ist.recv_addr=$HOST:$((g + 1));gcache.size=64M;evs.suspect_timeout=PT3S;evs.inactive_timeout=PT6S;evs.install_timeout=PT6S"
wsrep_slave_threads = 2
EOF
}

start_node() { # start_node N [--wsrep-new-cluster]
	local n=$1
	shift
	chown -R mysql:mysql "$DIR/node$n"
	# A session of its own, no descriptor of ours: the caller's pipes close when we exit.
	setsid -f mariadbd --defaults-file="$DIR/node$n/my.cnf" "$@" </dev/null >>"$DIR/node$n/stdout.log" 2>&1
}

wait_synced() {
	local n=$1 deadline=$((SECONDS + WAIT))
	until synced "$n"; do
		if ((SECONDS >= deadline)); then
			tail -n 40 "$DIR/node$n/error.log" >&2 || true
			die "node $n is not synced within ${WAIT}s (log: $DIR/node$n/error.log)"
		fi
		sleep 0.5
	done
	log "node $n synced (cluster size $(wsrep_status "$n" wsrep_cluster_size))"
}

print_env() {
	local urls="" i
	for i in 1 2 3; do urls+="mysql://root@$HOST:$(sql_port "$i")/,"; done
	echo "export PORTCULLIS_TEST_GALERA_URLS=${urls%,}"
	echo "export PORTCULLIS_TEST_GALERA_DIR=$DIR"
}

start() {
	install_galera
	for i in 1 2 3; do
		if (echo >"/dev/tcp/$HOST/$(sql_port "$i")") 2>/dev/null; then
			die "port $(sql_port "$i") is already taken"
		fi
	done
	DIR=${1:-$(mktemp -d /tmp/portcullis-galera.XXXXXX)}
	mkdir -p "$DIR"
	chmod 755 "$DIR" # mariadbd runs as mysql and must reach its datadir
	for i in 1 2 3; do
		mkdir -p "$DIR/node$i/data"
		write_config "$i"
	done
	chown -R mysql:mysql "$DIR"/node*
	log "initialising node 1 in $DIR"
	mariadb-install-db --defaults-file="$DIR/node1/my.cnf" --auth-root-authentication-method=normal \
		--skip-test-db >"$DIR/node1/install.log" 2>&1 || { cat "$DIR/node1/install.log" >&2; die "mariadb-install-db failed"; }
	log "bootstrapping node 1 (--wsrep-new-cluster)"
	start_node 1 --wsrep-new-cluster
	wait_synced 1
	# root over TCP from 127.0.0.1, no password: a loopback-only test cluster.
	cli 1 "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;"
	# Joiners receive the whole datadir by rsync SST, one at a time (a donor serves one SST).
	for i in 2 3; do
		log "joining node $i (rsync SST)"
		start_node "$i"
		wait_synced "$i"
	done
	[[ "$(wsrep_status 1 wsrep_cluster_size)" == 3 ]] || die "cluster size is not 3"
	print_env
}

stop_node() {
	local n=$1 p deadline
	p=$(pid_of "$n")
	[[ -n "$p" ]] || return 0
	kill "$p" 2>/dev/null || return 0
	deadline=$((SECONDS + 30))
	while kill -0 "$p" 2>/dev/null; do
		if ((SECONDS >= deadline)); then
			kill -9 "$p" 2>/dev/null || true
			break
		fi
		sleep 0.2
	done
}

stop() {
	DIR=${1:?usage: galera.sh stop DIR}
	[[ -d "$DIR" ]] || return 0
	# Stop the joiners first so that node 1 leaves last, cleanly.
	for i in 3 2 1; do stop_node "$i"; done
	# SST helpers (rsync daemons) that outlived their node.
	for p in $(pgrep -f -- "$DIR/node" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$DIR"
	log "stopped and removed $DIR"
}

status() {
	DIR=${1:?usage: galera.sh status DIR}
	for i in 1 2 3; do
		if alive "$i"; then
			echo "node $i: $(wsrep_status "$i" wsrep_local_state_comment) size=$(wsrep_status "$i" wsrep_cluster_size)"
		else
			echo "node $i: down"
		fi
	done
}

case "$cmd" in
start) start "${2:-}" ;;
stop) stop "${2:-}" ;;
status) status "${2:-}" ;;
kill)
	DIR=${3:?usage: galera.sh kill N DIR}
	p=$(pid_of "$2")
	[[ -n "$p" ]] || die "node $2 has no pid file"
	kill -9 "$p"
	while kill -0 "$p" 2>/dev/null; do sleep 0.05; done
	log "node $2 (pid $p) killed"
	;;
rejoin)
	DIR=${3:?usage: galera.sh rejoin N DIR}
	alive "$2" && die "node $2 is running"
	rm -f "$DIR/node$2/mysqld.pid"
	# After a crash the node's state file says seqno -1; recover the last committed position from
	# InnoDB (what galera_recovery does under systemd) so that it rejoins by IST, from the donor's
	# write-set cache, rather than by a full SST.
	chown -R mysql:mysql "$DIR/node$2"
	lines=$(wc -l <"$DIR/node$2/error.log" 2>/dev/null || echo 0)
	pos=$(mariadbd --defaults-file="$DIR/node$2/my.cnf" --wsrep-recover --log-error="$DIR/node$2/recover.log" \
		>/dev/null 2>&1; sed -n 's/.*WSREP: Recovered position: *//p' "$DIR/node$2/recover.log" | tail -n 1)
	if [[ -n "$pos" ]]; then
		log "node $2 recovered position $pos"
		start_node "$2" --wsrep-start-position="$pos"
	else
		start_node "$2"
	fi
	wait_synced "$2"
	if tail -n +"$((lines + 1))" "$DIR/node$2/error.log" | grep -q "IST received"; then log "node $2 rejoined by IST"; else log "node $2 rejoined by SST"; fi
	;;
*)
	echo "usage: $0 start [DIR] | stop DIR | status DIR | kill N DIR | rejoin N DIR" >&2
	exit 2
	;;
esac
