#include "storage/int_codec.h"

#include <charconv>

namespace hourglass::storage::internal {

std::optional<int64_t> ParseInt64(std::string_view s) {
  // Redis caps the length at 20 characters (LONG_STR_SIZE - 1); longer is never an int64.
  if (s.empty() || s.size() > 20) return std::nullopt;
  if (s.size() == 1 && s[0] == '0') return 0;
  size_t i = 0;
  const bool negative = s[0] == '-';
  if (negative) ++i;
  if (i >= s.size() || s[i] < '1' || s[i] > '9') return std::nullopt;
  uint64_t v = 0;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  if (negative) {
    if (v > static_cast<uint64_t>(INT64_MAX) + 1) return std::nullopt;
    return static_cast<int64_t>(0 - v);
  }
  if (v > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
  return static_cast<int64_t>(v);
}

size_t FormatInt64(int64_t v, char* buf) {
  const auto r = std::to_chars(buf, buf + 20, v);
  return static_cast<size_t>(r.ptr - buf);
}

}  // namespace hourglass::storage::internal
