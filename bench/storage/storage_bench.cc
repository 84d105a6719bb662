// hg_storage_bench: the engine's figures (issue 3), printed as a table and one JSON line each.
//
//   hg_storage_bench memory [keys]   RSS bytes per key: 16 B key + 64 B value, with a TTL
//   hg_storage_bench ops [keys]      get / set / update ops/s on preloaded keys, 1 and 2 threads
//   hg_storage_bench expiry [keys]   lateness of reclamation for keys sharing one deadline,
//                                    with the real reclaimer thread (10 ms interval)
//   hg_storage_bench all             the three, 1 M keys
//
// Run the memory figure under each allocator: as is (glibc) and with
// LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libmimalloc.so (what the server binary links).

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "storage/clock.h"
#include "storage/store.h"

namespace hourglass::storage {
namespace {

using Steady = std::chrono::steady_clock;

double CpuSeconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

uint64_t RssBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  if (std::fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
  std::fclose(f);
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

// 16-byte keys: "key:" + 12 digits.
// Digits are written by hand: snprintf's "%012llu" trips gcc's -Wformat-truncation.
void MakeKey(uint64_t i, char* out) {
  std::memcpy(out, "key:", 4);
  for (int d = 15; d >= 4; --d) {
    out[d] = static_cast<char>('0' + i % 10);
    i /= 10;
  }
  out[16] = '\0';
}

struct Rng {
  uint64_t s;
  uint64_t Next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
};

std::unique_ptr<Store> MakeStore(SystemClock* clock, int64_t reclaim_ms,
                                 EventListener listener = nullptr, size_t shards = 16) {
  Store::Options o;
  o.clock = clock;
  o.shards = shards;
  o.max_memory_bytes = uint64_t{8} << 30;
  o.reclaim_interval_ms = reclaim_ms;
  o.listener = std::move(listener);
  auto s = Store::Create(std::move(o));
  if (!s.ok()) std::abort();
  return std::move(s).value();
}

void Load(Store& store, uint64_t n, const SetOptions& opts) {
  char key[17];
  const std::string value(64, 'v');
  for (uint64_t i = 0; i < n; ++i) {
    MakeKey(i, key);
    if (!store.Set(KeyRef{Space::kKv, std::string_view(key, 16)}, value, opts).ok()) std::abort();
  }
}

void BenchMemory(uint64_t n) {
  SystemClock clock;
  const uint64_t before = RssBytes();
  auto store = MakeStore(&clock, 0);
  SetOptions ttl;
  ttl.expiry = Expiry::Ttl(3'600'000);  // 1 h: beyond the near-expiry horizon, as in Redis's test
  Load(*store, n, ttl);
  const uint64_t after = RssBytes();
  const StoreStats st = store->GetStats();
  const double per_key = static_cast<double>(after - before) / static_cast<double>(n);
  const double charged = static_cast<double>(st.used_bytes) / static_cast<double>(n);
  const char* preload = std::getenv("LD_PRELOAD");
  const char* alloc = preload == nullptr                            ? "glibc"
                      : std::strstr(preload, "mimalloc") != nullptr ? "mimalloc"
                      : std::strstr(preload, "jemalloc") != nullptr ? "jemalloc"
                                                                    : "preloaded";
  std::printf("memory  %-8s keys=%llu  rss=%.1f B/key  charged=%.1f B/key\n", alloc,
              (unsigned long long)n, per_key, charged);
  std::printf(
      "{\"figure\":\"rss_bytes_per_key\",\"allocator\":\"%s\",\"keys\":%llu,"
      "\"value\":%.1f,\"charged\":%.1f}\n",
      alloc, (unsigned long long)n, per_key, charged);
}

enum class Op { kGet, kSet, kUpdate };

double RunOps(Store& store, uint64_t n, Op op, int threads, uint64_t ops_per_thread) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> ts;
  const std::string value(64, 'w');
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      Rng rng{0x9E3779B97F4A7C15ULL * (t + 1)};
      char key[17];
      SetOptions ttl;
      ttl.expiry = Expiry::Ttl(3'600'000);
      ready.fetch_add(1);
      while (!go.load()) {
      }
      for (uint64_t i = 0; i < ops_per_thread; ++i) {
        MakeKey(rng.Next() % n, key);
        const KeyRef k{Space::kKv, std::string_view(key, 16)};
        switch (op) {
          case Op::kGet:
            if (!store.Get(k).ok()) std::abort();
            break;
          case Op::kSet:
            if (!store.Set(k, value, ttl).ok()) std::abort();
            break;
          case Op::kUpdate:
            if (!store
                     .Update(k,
                             [](Cursor& c) {
                               std::string v(c.value());
                               if (!v.empty()) ++v[0];
                               c.Put(v, c.deadline());
                               return absl::OkStatus();
                             })
                     .ok()) {
              std::abort();
            }
            break;
        }
      }
    });
  }
  while (ready.load() < threads) {
  }
  const auto start = Steady::now();
  go.store(true);
  for (auto& t : ts) t.join();
  const double secs = std::chrono::duration<double>(Steady::now() - start).count();
  return static_cast<double>(ops_per_thread * threads) / secs;
}

void BenchOps(uint64_t n) {
  SystemClock clock;
  auto store = MakeStore(&clock, 10);
  SetOptions ttl;
  ttl.expiry = Expiry::Ttl(3'600'000);
  Load(*store, n, ttl);
  const uint64_t ops = 2'000'000;
  const char* names[] = {"get", "set", "update"};
  for (Op op : {Op::kGet, Op::kSet, Op::kUpdate}) {
    for (int threads : {1, 2}) {
      const double rate = RunOps(*store, n, op, threads, ops / threads);
      std::printf("ops     %-7s threads=%d  %.0f ops/s\n", names[static_cast<int>(op)], threads,
                  rate);
      std::printf(
          "{\"figure\":\"ops_per_second\",\"op\":\"%s\",\"threads\":%d,\"keys\":%llu,"
          "\"value\":%.0f}\n",
          names[static_cast<int>(op)], threads, (unsigned long long)n, rate);
    }
  }
}

// Lateness of every EXPIRED event (ms after the shared deadline), from a listener.
void BenchExpiry(uint64_t n, bool with_listener) {
  SystemClock clock;
  constexpr int kMaxMs = 60'000;
  std::vector<std::atomic<uint64_t>> hist(kMaxMs + 1);
  std::atomic<int64_t> deadline{0};
  std::atomic<uint64_t> seen{0};
  EventListener listener;
  if (with_listener) {
    listener = [&](const Event& e) {
      if (e.kind != EventKind::kExpired) return;
      const int64_t late = std::clamp<int64_t>(e.time_ms - deadline.load(), 0, kMaxMs);
      hist[late].fetch_add(1, std::memory_order_relaxed);
      seen.fetch_add(1, std::memory_order_relaxed);
    };
  }
  auto store = MakeStore(&clock, 10, listener);
  // All keys share one deadline, far enough ahead that loading finishes first and the far scan
  // has time to see them (as a real burst: keys written over time, expiring together).
  const uint64_t rss0 = RssBytes();
  const auto load_start = Steady::now();
  const int64_t d = clock.MonotonicMs() + 6000;
  deadline.store(d);
  SetOptions at;
  at.expiry = Expiry::At(d);
  Load(*store, n, at);
  const double load_s = std::chrono::duration<double>(Steady::now() - load_start).count();
  const uint64_t rss_loaded = RssBytes();
  // Poll until everything is reclaimed (bounded: 30 s after the deadline).
  int64_t all_gone_ms = -1;
  std::vector<std::pair<int64_t, uint64_t>> remaining;  // (ms after deadline, keys left)
  double cpu0 = -1;
  while (clock.MonotonicMs() < d + 30'000) {
    const int64_t now = clock.MonotonicMs();
    if (now >= d) {
      if (cpu0 < 0) cpu0 = CpuSeconds();
      const StoreStats st = store->GetStats();
      const uint64_t left = st.spaces[0].keys;
      if (remaining.empty() || remaining.back().second != left)
        remaining.push_back({now - d, left});
      if (left == 0) {
        all_gone_ms = now - d;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  const double cpu_ns_per_key = (CpuSeconds() - cpu0) * 1e9 / static_cast<double>(n);
  const StoreStats st = store->GetStats();
  double p50 = -1, p99 = -1, max = -1;
  if (with_listener) {
    uint64_t cum = 0;
    for (int ms = 0; ms <= kMaxMs; ++ms) {
      const uint64_t c = hist[ms].load();
      if (c == 0) continue;
      cum += c;
      if (p50 < 0 && cum * 2 >= n) p50 = ms;
      if (p99 < 0 && cum * 100 >= n * 99) p99 = ms;
      max = ms;
    }
  } else {
    // From the store's lateness histogram: the upper bound of the bucket holding the quantile.
    uint64_t cum = 0;
    for (size_t b = 0; b < st.lateness.counts.size(); ++b) {
      cum += st.lateness.counts[b];
      const double bound = b < kLatenessBucketsMs.size() ? kLatenessBucketsMs[b] : 1e9;
      if (p50 < 0 && cum * 2 >= n) p50 = bound;
      if (p99 < 0 && cum * 100 >= n * 99) p99 = bound;
    }
    max = static_cast<double>(all_gone_ms);
  }
  std::printf(
      "expiry  keys=%llu listener=%d load=%.2fs  lateness p50=%.0f ms p99=%.0f ms "
      "max=%.0f ms  all reclaimed after %lld ms  (store histogram mean %.1f ms)  "
      "rss loaded %.1f B/key, after %.1f B/key; process CPU after the deadline %.0f ns/key\n",
      (unsigned long long)n, with_listener, load_s, p50, p99, max, (long long)all_gone_ms,
      st.lateness.total ? st.lateness.sum_ms / static_cast<double>(st.lateness.total) : 0.0,
      static_cast<double>(rss_loaded - rss0) / static_cast<double>(n),
      (static_cast<double>(RssBytes()) - static_cast<double>(rss0)) / static_cast<double>(n),
      cpu_ns_per_key);
  std::printf(
      "{\"figure\":\"expiry_lateness_ms\",\"keys\":%llu,\"listener\":%s,\"p50\":%.0f,"
      "\"p99\":%.0f,\"max\":%.0f}\n",
      (unsigned long long)n, with_listener ? "true" : "false", p50, p99, max);
}

}  // namespace
}  // namespace hourglass::storage

int main(int argc, char** argv) {
  using namespace hourglass::storage;
  const std::string what = argc > 1 ? argv[1] : "all";
  const uint64_t n = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1'000'000;
  std::printf("# hg_storage_bench: nproc=%ld\n", sysconf(_SC_NPROCESSORS_ONLN));
  if (what == "memory") {
    BenchMemory(n);
  } else if (what == "ops") {
    BenchOps(n);
  } else if (what == "expiry") {
    BenchExpiry(n, true);
    BenchExpiry(n, false);
  } else if (what == "all") {
    BenchMemory(n);
    BenchOps(n);
    BenchExpiry(n, true);
    BenchExpiry(n, false);
  } else {
    std::fprintf(stderr, "usage: %s memory|ops|expiry|all [keys]\n", argv[0]);
    return 2;
  }
  return 0;
}
