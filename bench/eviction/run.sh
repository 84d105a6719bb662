#!/usr/bin/env bash
# The eviction benchmark (issue 4), hourglass and Redis side by side in one run:
#   1. the seeded Zipf traces (1 M keys, alpha 0.8 and 0.99, 2 M warm-up + 6 M measured), written
#      once under bench/results/tmp/ and replayed by both systems;
#   2. hit ratio of every hourglass policy (in process, 64 MiB cap, 16 shards) and of a private
#      Redis (maxmemory 64mb, allkeys-lru / allkeys-lfu / allkeys-random), read-through in
#      batches of 100;
#      then some alpha 0.8 policies again at Redis's key count (EQUAL_KEYS);
#   3. writes when full vs uncapped, hourglass and Redis.
# Prints a table and appends one JSON line per figure, with nproc and the CPU model, to
# bench/results/$(date +%F).json. Builds nothing:
#   bench/eviction/run.sh path/to/hg_eviction_bench        (or: make bench-eviction)
# Knobs (environment): SEED=42, POLICIES_080=all, POLICIES_099=all (comma-separated names),
#   REDIS_080="allkeys-lru allkeys-lfu allkeys-random", REDIS_099="allkeys-lru allkeys-lfu",
#   RESULTS=bench/results/DATE.json, WRITES=2000000, ROUNDS_HG=3, ROUNDS_REDIS=2, SKIP_REDIS=0,
#   EQUAL_KEYS=noeviction,allkeys-lru,allkeys-lfu,allkeys-tinylfu (policies run again at alpha 0.8
#   under a cap holding as many keys as Redis held in 64 MB; EQUAL_KEYS= skips; all = every one).
set -euo pipefail

BIN=${1:?usage: bench/eviction/run.sh path/to/hg_eviction_bench}
[ -x "$BIN" ] || { echo "not an executable: $BIN" >&2; exit 2; }
BIN=$(realpath "$BIN")
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=/usr/bin/python3
SEED=${SEED:-42}
POLICIES_080=${POLICIES_080:-all}
POLICIES_099=${POLICIES_099:-all}
REDIS_080=${REDIS_080:-allkeys-lru allkeys-lfu allkeys-random}
REDIS_099=${REDIS_099:-allkeys-lru allkeys-lfu}
WRITES=${WRITES:-2000000}
ROUNDS_HG=${ROUNDS_HG:-3}
ROUNDS_REDIS=${ROUNDS_REDIS:-2}
SKIP_REDIS=${SKIP_REDIS:-0}
EQUAL_KEYS=${EQUAL_KEYS-noeviction,allkeys-lru,allkeys-lfu,allkeys-tinylfu}
if [ "$SKIP_REDIS" = 0 ] && ! command -v redis-server >/dev/null; then
  echo "redis-server not installed (apt-get install redis-server), or run with SKIP_REDIS=1" >&2
  exit 2
fi

TMP="$ROOT/bench/results/tmp"
OUT=${RESULTS:-"$ROOT/bench/results/$(date +%F).json"}
mkdir -p "$TMP"
LINES=$(mktemp "$TMP/run.XXXXXX")  # this run's JSON lines, before the metadata is added
START=$(date +%s)

# ---- a private Redis: free loopback port, no persistence, stopped by its PID ----
REDIS_PID=""
REDIS_DIR=""
stop_redis() {
  if [ -n "$REDIS_PID" ]; then
    kill "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
  fi
  [ -n "$REDIS_DIR" ] && rm -rf "$REDIS_DIR"
  REDIS_PID=""
  REDIS_DIR=""
}
cleanup() {
  stop_redis
  rm -f "$LINES"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_redis() {  # start_redis [redis-server options...]
  stop_redis
  REDIS_PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
  REDIS_DIR=$(mktemp -d)
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$REDIS_DIR" --daemonize no --logfile "$REDIS_DIR/redis.log" "$@" &
  REDIS_PID=$!
  for _ in $(seq 200); do
    redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && return 0
    sleep 0.05
  done
  echo "redis-server did not start; its log:" >&2
  cat "$REDIS_DIR/redis.log" >&2
  exit 1
}

# Runs the bench binary: human lines to the terminal, JSON lines (starting with '{') kept.
bench() {
  "$BIN" "$@" | while IFS= read -r line; do
    case "$line" in
      "{"*) printf '%s\n' "$line" >>"$LINES" ;;
      *) printf '%s\n' "$line" ;;
    esac
  done
  [ "${PIPESTATUS[0]}" = 0 ] || { echo "hg_eviction_bench $1 failed" >&2; exit 1; }
}

# ---- 1. traces (generated once per seed; the file's checksum is verified on every read) ----
trace_file() { echo "$TMP/zipf-a$1-s$SEED.trace"; }
for alpha in 0.80 0.99; do
  f=$(trace_file "$alpha")
  [ -f "$f" ] || bench gen --out "$f" --alpha "$alpha" --seed "$SEED"
done

# ---- 2. hit ratio ----
for alpha in 0.80 0.99; do
  f=$(trace_file "$alpha")
  if [ "$SKIP_REDIS" = 0 ]; then
    redis_policies=$REDIS_080
    [ "$alpha" = 0.99 ] && redis_policies=$REDIS_099
    for policy in $redis_policies; do
      start_redis --maxmemory 64mb --maxmemory-policy "$policy"
      bench redis-hit --trace "$f" --port "$REDIS_PORT" --pid "$REDIS_PID"
      stop_redis
    done
  fi
  policies=$POLICIES_080
  [ "$alpha" = 0.99 ] && policies=$POLICIES_099
  bench hit --trace "$f" --policies "$policies" --cap 67108864 --shards 16
  # The same policies at Redis's key count: a cap of (Redis's resident keys x hourglass's
  # accounted bytes per key), which separates the policy's choices from the entry size.
  if [ -n "$EQUAL_KEYS" ] && [ "$alpha" = 0.80 ] && [ "$SKIP_REDIS" = 0 ]; then
    cap=$($PY - "$LINES" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if r["figure"] == "hit_ratio" and r["alpha"] == 0.8
        and r["cap_bytes"] == 67108864]
redis = [r["resident_keys"] for r in rows if r["system"] == "redis"]
hg = [r["used_bytes"] / r["resident_keys"] for r in rows
      if r["system"] == "hourglass" and r["resident_keys"]]
print(int(max(redis) * max(hg)) if redis and hg else 0)
PY
)
    [ "$cap" -gt 0 ] && bench hit --trace "$f" --policies "$EQUAL_KEYS" --cap "$cap" --shards 16
  fi
done

# ---- 3. writes when full vs uncapped ----
bench writes --writes "$WRITES" --rounds "$ROUNDS_HG" --cap 67108864 --shards 16
if [ "$SKIP_REDIS" = 0 ]; then
  start_redis  # uncapped; the bench sets maxmemory per round with CONFIG SET
  bench redis-writes --port "$REDIS_PORT" --pid "$REDIS_PID" --writes "$WRITES" \
    --rounds "$ROUNDS_REDIS" --cap 67108864
  stop_redis
fi

# ---- table + dated JSON (one line per figure, with the machine) ----
ELAPSED=$(($(date +%s) - START))
CPU=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
REDIS_VERSION=$( (redis-server --version 2>/dev/null || true) | sed -n 's/.*v=\([0-9.]*\).*/\1/p')
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=false  # uncommitted changes under storage/: the commit alone does not name the code
[ -n "$(git -C "$ROOT" status --porcelain -- storage 2>/dev/null)" ] && DIRTY=true
$PY - "$LINES" "$OUT" "$(nproc)" "$CPU" "$REDIS_VERSION" "$COMMIT" "$DIRTY" "$ELAPSED" <<'PY'
import datetime, json, sys

lines_path, out_path, nproc, cpu, redis_version, commit, dirty, elapsed = sys.argv[1:]
meta = {
    "bench": "eviction",
    "time": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    "nproc": int(nproc),
    "cpu": cpu,
    "redis_version": redis_version,
    "commit": commit,
    "storage_dirty": dirty == "true",
    "run_seconds": int(elapsed),
}
rows = [json.loads(l) for l in open(lines_path) if l.strip()]
with open(out_path, "a") as out:
    for r in rows:
        out.write(json.dumps({**meta, **r}, separators=(",", ":")) + "\n")

# Redis's figures recorded in ../shared/BENCHMARKS.md, for comparison with this machine's.
reference = {("allkeys-lru", 0.8): 68.6, ("allkeys-lfu", 0.8): 71.5,
             ("allkeys-random", 0.8): 64.6, ("allkeys-lru", 0.99): 87.1,
             ("allkeys-lfu", 0.99): 88.2}
hits = [r for r in rows if r["figure"] == "hit_ratio"]
print()
print("Hit ratio over the 6 M measured requests (64 MiB cap; %s; %s)" % (cpu, "nproc=" + nproc))
groups = sorted({(r["alpha"], -r["cap_bytes"]) for r in hits if r["system"] == "hourglass"} |
                {(r["alpha"], -67108864) for r in hits if r["system"] == "redis"})
for alpha, neg_cap in groups:
    cap = -neg_cap
    redis = {r["policy"]: 100 * r["value"] for r in hits
             if r["system"] == "redis" and r["alpha"] == alpha}
    print()
    if cap == 67108864:
        print("alpha %.2f, cap 64 MiB (Redis: maxmemory 64mb)" % alpha)
    else:
        print("alpha %.2f, hourglass cap %d B = Redis's resident keys x hourglass's bytes/key "
              "(Redis rows: 64 MiB)" % (alpha, cap))
    head = "%-10s %-16s %8s %9s %9s %10s %12s %12s" % (
        "system", "policy", "hit %", "resident", "evicted", "refused", "vs Redis LRU",
        "vs Redis LFU")
    print(head)
    print("-" * len(head))
    for r in [r for r in hits if r["alpha"] == alpha and
              (r["system"] == "redis" or r["cap_bytes"] == cap)]:
        h = 100 * r["value"]
        vs = lambda p: ("%+.1f pt" % (h - redis[p])) if p in redis else "-"
        note = ""
        if r["system"] == "redis" and (r["policy"], alpha) in reference:
            note = "  (BENCHMARKS.md: %.1f)" % reference[(r["policy"], alpha)]
        print("%-10s %-16s %8.2f %9d %9d %10d %12s %12s%s" % (
            r["system"], r["policy"], h, r["resident_keys"], r["evicted"],
            r["rejected_writes"], vs("allkeys-lru"), vs("allkeys-lfu"), note))
best = {}
for r in hits:
    if r["system"] != "hourglass" or r["cap_bytes"] != 67108864:
        continue
    if r["alpha"] not in best or r["value"] > best[r["alpha"]]["value"]:
        best[r["alpha"]] = r
if 0.8 in best:
    print("\nbest hourglass policy at alpha 0.80: %s %.2f %% (goal >= 80 %%)" % (
        best[0.8]["policy"], 100 * best[0.8]["value"]))
writes = [r for r in rows if r["figure"] == "writes_when_full"]
if writes:
    print()
    print("Writes when full (every write evicts) vs uncapped, %d writes; ratio = median of the"
          " per-round ratios, rates = best round" % writes[0]["writes"])
    head = "%-10s %14s %14s %7s  %s" % ("system", "full ops/s", "uncapped ops/s", "ratio", "")
    print(head)
    print("-" * len(head))
    for r in writes:
        print("%-10s %14.0f %14.0f %6.2fx  %s" % (
            r["system"], r["best_full_ops_per_s"], r["best_uncapped_ops_per_s"], r["value"],
            "goal >= 0.9x" if r["system"] == "hourglass" else "BENCHMARKS.md: 0.7-0.9x")
            + ("" if r["comparable"]
               else "  NOT comparable: %d writes refused" % r["full_rejected"]))
print("\n%d JSON lines appended to %s; run took %s s" % (len(rows), out_path, elapsed))
PY
