#pragma once

#include <cstdint>

namespace hourglass::server {

// Input limits every adapter enforces (API.md "Server flags"). Immutable after start-up.
struct Limits {
  uint64_t max_key_bytes = 1024;
  uint64_t max_value_bytes = 1 << 20;
  int64_t max_ttl_ms = 87600LL * 3600 * 1000;
  uint64_t max_batch_items = 1000;
};

}  // namespace hourglass::server
