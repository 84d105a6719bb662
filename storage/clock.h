#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace hourglass::storage {

// A source of time. Every time-dependent class takes a `Clock&` so tests can drive time with
// `FakeClock` and never sleep.
//
// Two readings, both in milliseconds:
//   MonotonicMs(): never goes backwards; all TTLs and deadlines in the store use it.
//   WallMs():      Unix epoch milliseconds; used only at the edge to convert absolute instants
//                  (Timestamp) to and from monotonic deadlines, once per request.
//
// Thread-safety: implementations are safe to call from any thread.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t MonotonicMs() const = 0;
  virtual int64_t WallMs() const = 0;

  // Converts a monotonic deadline to Unix epoch milliseconds at the current instant.
  int64_t ToWallMs(int64_t monotonic_ms) const { return WallMs() + (monotonic_ms - MonotonicMs()); }
  // Converts Unix epoch milliseconds to a monotonic deadline at the current instant.
  int64_t FromWallMs(int64_t wall_ms) const { return MonotonicMs() + (wall_ms - WallMs()); }
};

// The real clocks: std::chrono::steady_clock and std::chrono::system_clock.
class SystemClock final : public Clock {
 public:
  int64_t MonotonicMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  int64_t WallMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// A clock that moves only when told. Starts at monotonic 1'000'000 ms (so "0" never looks like
// a real instant) and wall 2026-01-01T00:00:00Z. Thread-safe: readings are atomic.
class FakeClock final : public Clock {
 public:
  static constexpr int64_t kStartMonotonicMs = 1'000'000;
  static constexpr int64_t kStartWallMs = 1'767'225'600'000;

  int64_t MonotonicMs() const override { return monotonic_ms_.load(std::memory_order_acquire); }
  int64_t WallMs() const override { return wall_ms_.load(std::memory_order_acquire); }

  // Moves both readings forward by `ms` (>= 0).
  void AdvanceMs(int64_t ms) {
    monotonic_ms_.fetch_add(ms, std::memory_order_acq_rel);
    wall_ms_.fetch_add(ms, std::memory_order_acq_rel);
  }
  // Moves only the wall clock (an NTP step); monotonic time is unaffected.
  void JumpWallMs(int64_t ms) { wall_ms_.fetch_add(ms, std::memory_order_acq_rel); }

 private:
  std::atomic<int64_t> monotonic_ms_{kStartMonotonicMs};
  std::atomic<int64_t> wall_ms_{kStartWallMs};
};

}  // namespace hourglass::storage
