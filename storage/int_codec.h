#pragma once

// Decimal int64 values, as Redis reads and writes them (INCR/INCRBY). Internal to storage/.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hourglass::storage::internal {

// Redis's string2ll: an optional '-', then digits, no leading zeros ("0" alone is fine, "-0" and
// "01" are not), no '+', no spaces, not empty, within int64. nullopt when not such a number.
std::optional<int64_t> ParseInt64(std::string_view s);

// Appends the decimal form of v; returns the length written. `buf` must hold 20 chars.
size_t FormatInt64(int64_t v, char* buf);

}  // namespace hourglass::storage::internal
