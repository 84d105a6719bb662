#pragma once

// The benchmark's key shape, shared by the trace replays and the write floods: 16 bytes,
// "key:" + the 12-digit zero-padded decimal key id (ids below 10^12).
//
// Thread-safety: pure functions.

#include <cstdint>
#include <string_view>

namespace hourglass::bench {

inline constexpr int kKeyBytes = 16;
inline constexpr int kValueBytes = 64;
inline constexpr int64_t kTtlMs = 3'600'000;  // 1 h: never reached during a run

// Writes the 16 key bytes of `id` to `out` (no terminator). Digits by hand: snprintf's "%012llu"
// trips gcc's -Wformat-truncation.
inline std::string_view MakeKey(uint64_t id, char (&out)[kKeyBytes]) {
  out[0] = 'k';
  out[1] = 'e';
  out[2] = 'y';
  out[3] = ':';
  for (int d = kKeyBytes - 1; d >= 4; --d) {
    out[d] = static_cast<char>('0' + id % 10);
    id /= 10;
  }
  return std::string_view(out, kKeyBytes);
}

}  // namespace hourglass::bench
