#pragma once

// The limits of Envoy's rate limit service (`--ratelimit_config`), as a plain tree, and how a
// request descriptor finds its limit in it. The format and the matching are those of Envoy's
// reference service (envoyproxy/ratelimit): a domain holds descriptors, each a `key` with an
// optional `value`, an optional limit, and nested descriptors for the next entry of a
// multi-entry request descriptor.
//
// Matching a request descriptor [(k1, v1), (k2, v2), ...] walks the tree one entry per level.
// At each level an entry matches, in this order: the descriptor with the same key and value;
// else a descriptor whose value ends in '*' and is a prefix of the entry's value (first in
// config order); else the descriptor with the key and no value (any value). The walk stops at
// the first entry that matches nothing, or at a descriptor without nested descriptors. The
// limit is that of the descriptor matched by the LAST entry; none otherwise (a request with
// more entries than the config has levels, or fewer, has no limit).
//
// Built once by a loader (server/ratelimit_config.h), then immutable: safe to share between
// threads (RateLimit configs are swapped whole, never edited in place).

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/node_hash_map.h"
#include "absl/types/span.h"

namespace hourglass::domain {

// Units of a limit; the numbers are those of envoy RateLimitResponse.RateLimit.Unit.
enum class EnvoyUnit : int {
  kUnknown = 0,
  kSecond = 1,
  kMinute = 2,
  kHour = 3,
  kDay = 4,
  kMonth = 5,
  kYear = 6,
  kWeek = 7,
};

// Seconds in one unit, as in the reference service: a week is 7 days, a month 30, a year 365.
// 0 for kUnknown.
int64_t EnvoyUnitSeconds(EnvoyUnit unit);

// "second", "minute"... (the config spelling); "unknown" for kUnknown.
std::string_view EnvoyUnitName(EnvoyUnit unit);

// A configured limit.
struct EnvoyLimit {
  uint32_t requests_per_unit = 0;  // 0 refuses everything
  EnvoyUnit unit = EnvoyUnit::kUnknown;
  std::string name;          // optional; reported in current_limit
  bool unlimited = false;    // always OK, never counted
  bool shadow_mode = false;  // counted and evaluated, but always reported OK
  // Names of limits this one replaces: when a request matches both, the replaced one is not
  // evaluated.
  std::vector<std::string> replaces;
};

// One request descriptor entry.
struct EnvoyEntry {
  std::string_view key;
  std::string_view value;
};

struct EnvoyDescriptorLevel;

// One configured descriptor.
struct EnvoyDescriptorNode {
  std::optional<EnvoyLimit> limit;
  std::unique_ptr<EnvoyDescriptorLevel> children;  // null when it has no nested descriptors
};

// The descriptors of one level (a domain's top level, or the nested descriptors of one node).
struct EnvoyDescriptorLevel {
  // Adds a descriptor; `value` empty means "any value"; a value ending in '*' matches values
  // that start with what precedes the '*'. Returns null when the level already has a
  // descriptor with this key and value.
  EnvoyDescriptorNode* Add(std::string_view key, std::string_view value);

  // The descriptor an entry matches here (see the header comment), or null.
  const EnvoyDescriptorNode* Find(const EnvoyEntry& entry) const;

  bool empty() const { return exact.empty() && prefixed.empty() && any_value.empty(); }

  // Node-based containers: a node's address is stable while its siblings are added.
  absl::node_hash_map<std::pair<std::string, std::string>, EnvoyDescriptorNode> exact;
  // Per key: (value prefix without the '*', node) in config order.
  absl::node_hash_map<std::string, std::deque<std::pair<std::string, EnvoyDescriptorNode>>>
      prefixed;
  absl::node_hash_map<std::string, EnvoyDescriptorNode> any_value;
};

// Every domain's descriptors.
class EnvoyLimitsConfig {
 public:
  // Adds a domain; null when it already exists.
  EnvoyDescriptorLevel* AddDomain(std::string_view domain);

  bool HasDomain(std::string_view domain) const;
  size_t domain_count() const { return domains_.size(); }

  // The limit of a request descriptor in `domain`, or null (unknown domain, no match).
  const EnvoyLimit* Match(std::string_view domain, absl::Span<const EnvoyEntry> entries) const;

 private:
  absl::node_hash_map<std::string, EnvoyDescriptorLevel> domains_;
};

}  // namespace hourglass::domain
