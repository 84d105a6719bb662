#include "server/admin_convert.h"

namespace hourglass::server {

namespace v1 = ::hourglass::v1;

// Explicit switches rather than arithmetic on the enum numbers: the proto and storage enums are
// numbered independently (the proto reserves 0 for UNSPECIFIED, storage has kIndex).

v1::Space ToProto(storage::Space space) {
  switch (space) {
    case storage::Space::kKv:
      return v1::SPACE_KV;
    case storage::Space::kSession:
      return v1::SPACE_SESSION;
    case storage::Space::kToken:
      return v1::SPACE_TOKEN;
    case storage::Space::kRateLimit:
      return v1::SPACE_RATE_LIMIT;
    case storage::Space::kCache:
      return v1::SPACE_CACHE;
    case storage::Space::kIndex:
      break;
  }
  return v1::SPACE_UNSPECIFIED;
}

std::optional<storage::Space> FromProto(v1::Space space) {
  switch (space) {
    case v1::SPACE_KV:
      return storage::Space::kKv;
    case v1::SPACE_SESSION:
      return storage::Space::kSession;
    case v1::SPACE_TOKEN:
      return storage::Space::kToken;
    case v1::SPACE_RATE_LIMIT:
      return storage::Space::kRateLimit;
    case v1::SPACE_CACHE:
      return storage::Space::kCache;
    default:
      return std::nullopt;
  }
}

v1::EventKind ToProto(storage::EventKind kind) {
  switch (kind) {
    case storage::EventKind::kExpired:
      return v1::EVENT_KIND_EXPIRED;
    case storage::EventKind::kEvicted:
      return v1::EVENT_KIND_EVICTED;
    case storage::EventKind::kDeleted:
      return v1::EVENT_KIND_DELETED;
  }
  return v1::EVENT_KIND_UNSPECIFIED;
}

v1::EvictionPolicy ToProto(storage::EvictionPolicy policy) {
  switch (policy) {
    case storage::EvictionPolicy::kNoEviction:
      return v1::EVICTION_POLICY_NOEVICTION;
    case storage::EvictionPolicy::kAllKeysLru:
      return v1::EVICTION_POLICY_ALLKEYS_LRU;
    case storage::EvictionPolicy::kVolatileLru:
      return v1::EVICTION_POLICY_VOLATILE_LRU;
    case storage::EvictionPolicy::kAllKeysLfu:
      return v1::EVICTION_POLICY_ALLKEYS_LFU;
    case storage::EvictionPolicy::kVolatileLfu:
      return v1::EVICTION_POLICY_VOLATILE_LFU;
    case storage::EvictionPolicy::kAllKeysRandom:
      return v1::EVICTION_POLICY_ALLKEYS_RANDOM;
    case storage::EvictionPolicy::kVolatileRandom:
      return v1::EVICTION_POLICY_VOLATILE_RANDOM;
    case storage::EvictionPolicy::kVolatileTtl:
      return v1::EVICTION_POLICY_VOLATILE_TTL;
    case storage::EvictionPolicy::kAllKeysTinyLfu:
      return v1::EVICTION_POLICY_ALLKEYS_TINYLFU;
  }
  return v1::EVICTION_POLICY_UNSPECIFIED;
}

std::optional<storage::EvictionPolicy> FromProto(v1::EvictionPolicy policy) {
  switch (policy) {
    case v1::EVICTION_POLICY_NOEVICTION:
      return storage::EvictionPolicy::kNoEviction;
    case v1::EVICTION_POLICY_ALLKEYS_LRU:
      return storage::EvictionPolicy::kAllKeysLru;
    case v1::EVICTION_POLICY_VOLATILE_LRU:
      return storage::EvictionPolicy::kVolatileLru;
    case v1::EVICTION_POLICY_ALLKEYS_LFU:
      return storage::EvictionPolicy::kAllKeysLfu;
    case v1::EVICTION_POLICY_VOLATILE_LFU:
      return storage::EvictionPolicy::kVolatileLfu;
    case v1::EVICTION_POLICY_ALLKEYS_RANDOM:
      return storage::EvictionPolicy::kAllKeysRandom;
    case v1::EVICTION_POLICY_VOLATILE_RANDOM:
      return storage::EvictionPolicy::kVolatileRandom;
    case v1::EVICTION_POLICY_VOLATILE_TTL:
      return storage::EvictionPolicy::kVolatileTtl;
    case v1::EVICTION_POLICY_ALLKEYS_TINYLFU:
      return storage::EvictionPolicy::kAllKeysTinyLfu;
    default:
      return std::nullopt;
  }
}

}  // namespace hourglass::server
