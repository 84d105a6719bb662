// hg_eviction_bench: hit ratio and writes-when-full of hourglass's eviction policies, side by side
// with Redis (issue 4, ../shared/BENCHMARKS.md). Prints a human line and a JSON line (starting
// with '{') per figure; bench/eviction/run.sh drives it. It never fails on a timing; it aborts on
// a correctness problem (a store error other than RESOURCE_EXHAUSTED, an unexpected Redis reply).
//
//   hg_eviction_bench gen --out FILE --alpha A [--seed 42] [--keys 1000000]
//                         [--warmup 2000000] [--measured 6000000]
//   hg_eviction_bench hit --trace FILE [--policies all|P1,P2,...] [--cap 67108864] [--shards 16]
//   hg_eviction_bench redis-hit --trace FILE --port P [--pid PID]
//   hg_eviction_bench writes [--writes 2000000] [--rounds 2] [--cap 67108864] [--shards 16]
//   hg_eviction_bench redis-writes --port P [--pid PID] [--writes 2000000] [--rounds 2]
//                                  [--cap 67108864]
//
// The redis-* commands need a private redis-server (run.sh starts it): redis-hit expects it empty
// and configured (maxmemory, maxmemory-policy); redis-writes FLUSHALLs and reconfigures it.

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "bench/eviction/bench_common.h"
#include "bench/eviction/redis_runs.h"
#include "bench/eviction/store_runs.h"
#include "bench/eviction/zipf_trace.h"

namespace hourglass::bench {
namespace {

using Args = std::map<std::string, std::string>;

Args ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 2; i < argc; ++i) {
    const std::string k = argv[i];
    if (k.rfind("--", 0) != 0 || i + 1 >= argc) Die("expected --name value, got " + k);
    a[k.substr(2)] = argv[++i];
  }
  return a;
}

std::string Str(const Args& a, const std::string& k, const std::string& def = "") {
  const auto it = a.find(k);
  if (it != a.end()) return it->second;
  if (def.empty()) Die("missing --" + k);
  return def;
}

uint64_t Num(const Args& a, const std::string& k, uint64_t def) {
  const auto it = a.find(k);
  if (it == a.end()) return def;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(it->second.c_str(), &end, 10);
  if (end == it->second.c_str() || *end != '\0') Die("--" + k + ": not a number");
  return v;
}

std::string TraceFields(const TraceHeader& h) {
  char buf[200];
  std::snprintf(buf, sizeof(buf),
                "\"alpha\":%.2f,\"seed\":%llu,\"keys\":%u,\"warmup\":%u,\"measured\":%u", h.alpha,
                static_cast<unsigned long long>(h.seed), h.keys, h.warmup, h.measured);
  return buf;
}

double Ratio(uint64_t a, uint64_t b) { return b ? static_cast<double>(a) / b : 0.0; }

void PrintHit(const char* system, std::string_view policy, const TraceHeader& h, uint64_t cap,
              const HitRatioResult& r, const std::string& extra) {
  std::printf(
      "hit     %-9s %-15.*s alpha=%.2f  hit=%6.2f %%  resident=%llu  evicted=%llu  "
      "rejected_writes=%llu/%llu  %.1f s\n",
      system, static_cast<int>(policy.size()), policy.data(), h.alpha,
      100.0 * Ratio(r.hits, r.measured), static_cast<unsigned long long>(r.resident_keys),
      static_cast<unsigned long long>(r.evicted),
      static_cast<unsigned long long>(r.rejected_writes), static_cast<unsigned long long>(r.writes),
      r.seconds);
  std::printf(
      "{\"figure\":\"hit_ratio\",\"system\":\"%s\",\"policy\":\"%.*s\",%s,\"cap_bytes\":%llu,"
      "\"value\":%.5f,\"hits\":%llu,\"writes\":%llu,\"rejected_writes\":%llu,"
      "\"resident_keys\":%llu,\"evicted\":%llu,\"used_bytes\":%llu,\"seconds\":%.2f%s}\n",
      system, static_cast<int>(policy.size()), policy.data(), TraceFields(h).c_str(),
      static_cast<unsigned long long>(cap), Ratio(r.hits, r.measured),
      static_cast<unsigned long long>(r.hits), static_cast<unsigned long long>(r.writes),
      static_cast<unsigned long long>(r.rejected_writes),
      static_cast<unsigned long long>(r.resident_keys), static_cast<unsigned long long>(r.evicted),
      static_cast<unsigned long long>(r.used_bytes), r.seconds, extra.c_str());
  std::fflush(stdout);
}

int Gen(const Args& a) {
  const std::string out = Str(a, "out");
  const double alpha = std::strtod(Str(a, "alpha").c_str(), nullptr);
  const double t0 = NowSeconds();
  const Trace t =
      GenerateTrace(static_cast<uint32_t>(Num(a, "keys", 1'000'000)), alpha, Num(a, "seed", 42),
                    static_cast<uint32_t>(Num(a, "warmup", 2'000'000)),
                    static_cast<uint32_t>(Num(a, "measured", 6'000'000)));
  const std::string bad = CheckZipfShares(t);
  if (!bad.empty()) Die("the trace does not follow Zipf(" + std::to_string(alpha) + "): " + bad);
  WriteTrace(t, out);
  std::printf("trace   %s  alpha=%.2f seed=%llu requests=%zu  %.1f s\n", out.c_str(), alpha,
              static_cast<unsigned long long>(t.header.seed), t.ids.size(), NowSeconds() - t0);
  std::printf("{\"figure\":\"trace\",%s,\"checksum\":\"%016llx\"}\n", TraceFields(t.header).c_str(),
              static_cast<unsigned long long>(t.header.checksum));
  return 0;
}

int Hit(const Args& a) {
  const Trace t = ReadTrace(Str(a, "trace"));
  const uint64_t cap = Num(a, "cap", 64u << 20);
  const size_t shards = Num(a, "shards", 16);
  std::vector<storage::EvictionPolicy> policies;
  const std::string list = Str(a, "policies", "all");
  if (list == "all") {
    for (int i = 0; i < storage::kNumEvictionPolicies; ++i) {
      policies.push_back(static_cast<storage::EvictionPolicy>(i));
    }
  } else {
    size_t from = 0;
    while (from <= list.size()) {
      const size_t comma = std::min(list.find(',', from), list.size());
      storage::EvictionPolicy p;
      if (!ParsePolicy(std::string_view(list).substr(from, comma - from), &p)) {
        Die("unknown policy in --policies " + list);
      }
      policies.push_back(p);
      from = comma + 1;
    }
  }
  for (const storage::EvictionPolicy p : policies) {
    const HitRatioResult r = ReplayOnStore(t, p, cap, shards);
    PrintHit("hourglass", PolicyName(p), t.header, cap, r, ",\"shards\":" + std::to_string(shards));
  }
  return 0;
}

int RedisHit(const Args& a) {
  const Trace t = ReadTrace(Str(a, "trace"));
  const RedisTarget target{static_cast<int>(Num(a, "port", 0)), static_cast<int>(Num(a, "pid", 0))};
  if (target.port == 0) Die("missing --port");
  const RedisHitRatioResult r = ReplayOnRedis(t, target);
  char extra[100];
  std::snprintf(extra, sizeof(extra), ",\"server_cpu_seconds\":%.2f", r.server_cpu_seconds);
  PrintHit("redis", r.policy, t.header, r.maxmemory, r.hit, extra);
  return 0;
}

// Rounds of capped then uncapped (A B A B). The figure is the median of the per-round ratios:
// on a shared machine the load drifts over minutes, and the two halves of one round see the
// most similar conditions. The best rate of each side is reported beside it.
template <typename Capped, typename Uncapped>
int Writes(const char* system, uint64_t writes, uint64_t rounds, uint64_t cap, Capped capped,
           Uncapped uncapped) {
  double best_capped = 0, best_uncapped = 0;
  std::vector<double> ratios;
  uint64_t refused = 0;
  for (uint64_t round = 1; round <= rounds; ++round) {
    // Distinct id ranges per round, far apart, so no round rewrites another's keys.
    const uint64_t base = kFloodIdBase + round * 100'000'000;
    const auto [c, c_cpu] = capped(base);
    const auto [u, u_cpu] = uncapped(c.resident_before, base + 50'000'000);
    refused += c.rejected;
    best_capped = std::max(best_capped, c.ops_per_second());
    best_uncapped = std::max(best_uncapped, u.ops_per_second());
    ratios.push_back(u.ops_per_second() > 0 ? c.ops_per_second() / u.ops_per_second() : 0);
    std::printf(
        "writes  %-9s round %llu  full: %.0f ops/s (resident %llu, evicted %llu, rejected %llu)"
        "  uncapped: %.0f ops/s  ratio %.2f\n",
        system, static_cast<unsigned long long>(round), c.ops_per_second(),
        static_cast<unsigned long long>(c.resident_before),
        static_cast<unsigned long long>(c.evicted), static_cast<unsigned long long>(c.rejected),
        u.ops_per_second(), ratios.back());
    std::printf(
        "{\"figure\":\"writes_when_full_round\",\"system\":\"%s\",\"round\":%llu,"
        "\"writes\":%llu,\"cap_bytes\":%llu,\"resident\":%llu,\"full_ops_per_s\":%.0f,"
        "\"uncapped_ops_per_s\":%.0f,\"full_evicted\":%llu,\"full_rejected\":%llu,"
        "\"full_cpu_us_per_op\":%.3f,\"uncapped_cpu_us_per_op\":%.3f}\n",
        system, static_cast<unsigned long long>(round), static_cast<unsigned long long>(writes),
        static_cast<unsigned long long>(cap), static_cast<unsigned long long>(c.resident_before),
        c.ops_per_second(), u.ops_per_second(), static_cast<unsigned long long>(c.evicted),
        static_cast<unsigned long long>(c.rejected), c_cpu * 1e6 / writes, u_cpu * 1e6 / writes);
    std::fflush(stdout);
  }
  std::sort(ratios.begin(), ratios.end());
  const size_t m = ratios.size();
  const double ratio = m == 0 ? 0 : (ratios[(m - 1) / 2] + ratios[m / 2]) / 2;
  // A refused write costs nothing: the figure means "writes that evict" only when none was.
  const bool comparable = refused == 0;
  std::printf(
      "writes  %-9s median ratio %.2fx  (best full %.0f ops/s, best uncapped %.0f ops/s)%s\n",
      system, ratio, best_capped, best_uncapped,
      comparable ? "" : "  (NOT comparable: the full store refused writes)");
  std::printf(
      "{\"figure\":\"writes_when_full\",\"system\":\"%s\",\"value\":%.3f,\"best_full_ops_per_s\":%."
      "0f,"
      "\"best_uncapped_ops_per_s\":%.0f,\"writes\":%llu,\"rounds\":%llu,\"cap_bytes\":%llu,"
      "\"full_rejected\":%llu,\"comparable\":%s}\n",
      system, ratio, best_capped, best_uncapped, static_cast<unsigned long long>(writes),
      static_cast<unsigned long long>(rounds), static_cast<unsigned long long>(cap),
      static_cast<unsigned long long>(refused), comparable ? "true" : "false");
  return 0;
}

int StoreWrites(const Args& a) {
  const uint64_t writes = Num(a, "writes", 2'000'000);
  const uint64_t cap = Num(a, "cap", 64u << 20);
  const size_t shards = Num(a, "shards", 16);
  return Writes(
      "hourglass", writes, Num(a, "rounds", 2), cap,
      [&](uint64_t base) {
        const FloodResult r = FloodFullStore(cap, shards, writes, base);
        return std::pair{r, r.cpu_seconds};
      },
      [&](uint64_t resident, uint64_t base) {
        const FloodResult r = FloodUncappedStore(resident, shards, writes, base);
        return std::pair{r, r.cpu_seconds};
      });
}

int RedisWrites(const Args& a) {
  const RedisTarget target{static_cast<int>(Num(a, "port", 0)), static_cast<int>(Num(a, "pid", 0))};
  if (target.port == 0) Die("missing --port");
  const uint64_t writes = Num(a, "writes", 2'000'000);
  const uint64_t cap = Num(a, "cap", 64u << 20);
  // CPU per op is the server's (the client's own is not Redis's cost).
  return Writes(
      "redis", writes, Num(a, "rounds", 2), cap,
      [&](uint64_t base) {
        const RedisFloodResult r = FloodFullRedis(target, cap, writes, base);
        return std::pair{r.flood, r.server_cpu_seconds};
      },
      [&](uint64_t resident, uint64_t base) {
        const RedisFloodResult r = FloodUncappedRedis(target, resident, writes, base);
        return std::pair{r.flood, r.server_cpu_seconds};
      });
}

}  // namespace
}  // namespace hourglass::bench

int main(int argc, char** argv) {
  using namespace hourglass::bench;
  const std::string what = argc > 1 ? argv[1] : "";
  const Args args = ParseArgs(argc, argv);
  std::printf("# hg_eviction_bench %s: nproc=%ld\n", what.c_str(), sysconf(_SC_NPROCESSORS_ONLN));
  if (what == "gen") return Gen(args);
  if (what == "hit") return Hit(args);
  if (what == "redis-hit") return RedisHit(args);
  if (what == "writes") return StoreWrites(args);
  if (what == "redis-writes") return RedisWrites(args);
  std::fprintf(stderr, "usage: %s gen|hit|redis-hit|writes|redis-writes [--name value ...]\n",
               argv[0]);
  return 2;
}
