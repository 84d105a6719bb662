#include "server/domain/envoy_rate_limiter.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "server/domain/byte_codec.h"
#include "server/domain/rate_limit_math.h"
#include "server/domain/rate_limit_state.h"

namespace hourglass::domain {
namespace {

// What the reference reports as limit_remaining for an unlimited descriptor.
constexpr uint32_t kUnlimitedRemaining = std::numeric_limits<uint32_t>::max();

// 'E', then length-prefixed domain, entry count and entries, unit and window index: every part
// is delimited, so two different descriptors never share a counter.
std::string CounterKey(std::string_view domain, absl::Span<const EnvoyEntry> entries,
                       EnvoyUnit unit, int64_t window_index) {
  ByteWriter writer;
  writer.PutByte(static_cast<uint8_t>(kEnvoyCounterTag));
  writer.PutBytes(domain);
  writer.PutVarint(entries.size());
  for (const EnvoyEntry& entry : entries) {
    writer.PutBytes(entry.key);
    writer.PutBytes(entry.value);
  }
  writer.PutVarint(static_cast<uint64_t>(unit));
  writer.PutVarint(static_cast<uint64_t>(window_index));
  return writer.Take();
}

}  // namespace

EnvoyRateLimiter::EnvoyRateLimiter(storage::Store& store, Options options)
    : store_(store), options_(options), config_(std::make_shared<EnvoyLimitsConfig>()) {}

void EnvoyRateLimiter::SetConfig(std::shared_ptr<const EnvoyLimitsConfig> config) {
  if (config == nullptr) config = std::make_shared<EnvoyLimitsConfig>();
  {
    storage::MutexLock lock(&mu_);
    config_.swap(config);
  }
  // `config` now holds the old tree: it is freed here, outside the lock (or later, by the last
  // request still using it).
}

std::shared_ptr<const EnvoyLimitsConfig> EnvoyRateLimiter::config() const {
  storage::MutexLock lock(&mu_);
  return config_;
}

absl::StatusOr<EnvoyResponse> EnvoyRateLimiter::ShouldRateLimit(
    std::string_view domain, absl::Span<const EnvoyDescriptor> descriptors) {
  const std::shared_ptr<const EnvoyLimitsConfig> config = this->config();
  EnvoyResponse response;
  response.statuses.resize(descriptors.size());
  if (!config->HasDomain(domain)) return response;  // unknown domain: OK for every descriptor

  // The limit of each descriptor: the request's override, else the config's match.
  std::vector<EnvoyLimit> overrides(descriptors.size());
  std::vector<const EnvoyLimit*> limits(descriptors.size(), nullptr);
  for (size_t i = 0; i < descriptors.size(); ++i) {
    const EnvoyDescriptor& descriptor = descriptors[i];
    if (descriptor.limit_override.has_value()) {
      overrides[i].requests_per_unit = descriptor.limit_override->requests_per_unit;
      overrides[i].unit = descriptor.limit_override->unit;
      limits[i] = &overrides[i];
    } else {
      limits[i] = config->Match(domain, descriptor.entries);
    }
  }
  // A matched limit that another matched limit replaces is not evaluated.
  absl::flat_hash_set<std::string> replaced;
  for (const EnvoyLimit* limit : limits) {
    if (limit != nullptr) replaced.insert(limit->replaces.begin(), limit->replaces.end());
  }
  if (!replaced.empty()) {
    for (const EnvoyLimit*& limit : limits) {
      if (limit != nullptr && !limit->name.empty() && replaced.contains(limit->name)) {
        limit = nullptr;
      }
    }
  }

  // One reading of each clock per request: every window and deadline of it agrees.
  const int64_t now_wall = store_.clock().WallMs();
  const int64_t now_mono = store_.clock().MonotonicMs();
  for (size_t i = 0; i < descriptors.size(); ++i) {
    EnvoyDescriptorStatus& status = response.statuses[i];
    const EnvoyLimit* limit = limits[i];
    if (limit == nullptr) continue;
    if (limit->unlimited) {
      status.limit_remaining = kUnlimitedRemaining;
      continue;
    }
    absl::Status counted = Count(domain, descriptors[i], *limit, now_wall, now_mono, status);
    if (!counted.ok()) return counted;
    if (status.code == EnvoyCode::kOverLimit) response.overall_code = EnvoyCode::kOverLimit;
  }
  return response;
}

absl::Status EnvoyRateLimiter::Count(std::string_view domain, const EnvoyDescriptor& descriptor,
                                     const EnvoyLimit& limit, int64_t now_wall_ms,
                                     int64_t now_mono_ms, EnvoyDescriptorStatus& status) {
  const int64_t unit_ms = EnvoyUnitSeconds(limit.unit) * 1000;
  if (unit_ms <= 0) return absl::InternalError("rate limit without a unit");
  const int64_t window = static_cast<int64_t>(rate_math::FloorDiv(now_wall_ms, unit_ms));
  const int64_t until_reset = (window + 1) * unit_ms - now_wall_ms;
  const int64_t deadline = now_mono_ms + std::min(until_reset, options_.max_ttl_ms);
  const std::string key = CounterKey(domain, descriptor.entries, limit.unit, window);

  uint64_t count = 0;
  absl::Status status_of_update =
      store_.Update(storage::KeyRef{storage::Space::kRateLimit, key}, [&](storage::Cursor& cursor) {
        if (cursor.found()) {
          ByteReader reader(cursor.value());
          // A malformed counter (never written by this code) restarts from 0.
          if (!reader.GetVarint(&count) || !reader.at_end()) count = 0;
        }
        if (descriptor.hits == 0) return absl::OkStatus();
        // Saturating: a counter that reached 2^64 - 1 stays over any uint32 limit.
        count = count > std::numeric_limits<uint64_t>::max() - descriptor.hits
                    ? std::numeric_limits<uint64_t>::max()
                    : count + descriptor.hits;
        ByteWriter writer;
        writer.PutVarint(count);
        cursor.Put(writer.Take(), deadline);
        return absl::OkStatus();
      });
  if (!status_of_update.ok()) return status_of_update;

  status.current_limit = EnvoyCurrentLimit{limit.requests_per_unit, limit.unit, limit.name};
  status.duration_until_reset_ms = until_reset;
  if (count > limit.requests_per_unit) {
    status.limit_remaining = 0;
    if (limit.shadow_mode) {
      status.shadow_over = true;
    } else {
      status.code = EnvoyCode::kOverLimit;
    }
  } else {
    status.limit_remaining = static_cast<uint32_t>(limit.requests_per_unit - count);
  }
  return absl::OkStatus();
}

}  // namespace hourglass::domain
