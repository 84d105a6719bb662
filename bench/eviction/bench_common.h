#pragma once

// Small helpers shared by the hourglass and Redis halves of the eviction benchmark.
//
// Thread-safety: pure functions (CpuSeconds reads this process's own counters).

#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace hourglass::bench {

// Hit ratio and flood runs abort with a message on any correctness problem: a figure from a
// broken run would be worse than none.
[[noreturn]] inline void Die(std::string_view what) {
  std::fprintf(stderr, "eviction bench: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

inline double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// User + system CPU seconds of this process (every thread).
inline double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Requests are replayed in batches of this many: the Redis side pipelines a batch in one write.
inline constexpr int kBatch = 100;

// Key ids of the write floods start here, far above any trace id (the trace has 1 M keys).
inline constexpr uint64_t kFloodIdBase = 1'000'000'000;

}  // namespace hourglass::bench
