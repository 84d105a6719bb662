#!/usr/bin/env bash
# RSS and used_memory per key of a private Redis holding N keys of 16 B + 64 B with a TTL, the
# shape of hg_storage_bench's memory figure. Starts redis-server on a free loopback port with no
# persistence, loads via redis-cli --pipe, reads INFO memory, stops it by PID.
#   bench/storage/redis_memory.sh [keys]
set -euo pipefail
N=${1:-1000000}
command -v redis-server >/dev/null || { echo "redis-server not installed"; exit 0; }
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DIR=$(mktemp -d)
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$DIR" \
  --daemonize no --logfile "$DIR/redis.log" &
PID=$!
trap 'kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
mem() { redis-cli -p "$PORT" info memory | tr -d '\r' | awk -F: -v k="$1" '$1==k {print $2}'; }
RSS0=$(mem used_memory_rss); USED0=$(mem used_memory)
# SET key:%012d <64 x v> PX 3600000, in RESP.
python3 - "$N" > "$DIR/load.resp" <<'PY'
import sys
n = int(sys.argv[1]); v = "v" * 64; out = sys.stdout
for i in range(n):
    k = "key:%012d" % i
    out.write("*5\r\n$3\r\nSET\r\n$16\r\n%s\r\n$64\r\n%s\r\n$2\r\nPX\r\n$7\r\n3600000\r\n" % (k, v))
PY
redis-cli -p "$PORT" --pipe < "$DIR/load.resp" >/dev/null
RSS1=$(mem used_memory_rss); USED1=$(mem used_memory)
KEYS=$(redis-cli -p "$PORT" dbsize | tr -d '\r')
python3 - "$N" "$KEYS" "$RSS0" "$RSS1" "$USED0" "$USED1" <<'PY'
import sys
n, keys, r0, r1, u0, u1 = map(int, sys.argv[1:])
print("redis   keys=%d  rss=%.1f B/key  used_memory=%.1f B/key" % (keys, (r1 - r0) / n, (u1 - u0) / n))
print('{"figure":"redis_rss_bytes_per_key","keys":%d,"value":%.1f,"used_memory":%.1f}' % (keys, (r1 - r0) / n, (u1 - u0) / n))
PY
