#pragma once

// Exact integer arithmetic for the rate-limit algorithms. Their inequalities multiply a count by
// a period (int64 x int64), so they are evaluated in 128 bits, where no product of two int64
// (plus a few more) can overflow. Pure; thread-safe.

#include <cstdint>
#include <limits>

namespace hourglass::domain::rate_math {

using Int128 = __int128;

// floor(a / b) for b > 0 (C++ division truncates toward zero).
inline Int128 FloorDiv(Int128 a, Int128 b) {
  Int128 q = a / b;
  if (a % b != 0 && a < 0) --q;
  return q;
}

// ceil(a / b) for b > 0.
inline Int128 CeilDiv(Int128 a, Int128 b) {
  Int128 q = a / b;
  if (a % b != 0 && a > 0) ++q;
  return q;
}

// `v` clamped into [lo, hi] and narrowed to int64.
inline int64_t Clamp64(Int128 v, int64_t lo = 0, int64_t hi = std::numeric_limits<int64_t>::max()) {
  if (v < lo) return lo;
  if (v > hi) return hi;
  return static_cast<int64_t>(v);
}

}  // namespace hourglass::domain::rate_math
