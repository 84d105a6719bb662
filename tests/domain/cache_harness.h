#pragma once

// A FakeClock store whose events reach a Cache, wired the way server.cc wires them, plus
// shorthands for the cache tests. Not thread-safe itself; the Cache and Store it holds are.

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/domain/cache.h"
#include "server/domain/cache_codec.h"
#include "storage/clock.h"
#include "storage/store.h"

namespace hourglass::domain::testing {

// A CacheFill from positional arguments (GCC warns on designated initializers that skip fields).
inline CacheFill MakeFill(std::string_view key, std::string_view value, int64_t fresh_for_ms,
                          int64_t stale_for_ms = 0, absl::Span<const std::string_view> tags = {},
                          std::string_view lease_id = {}) {
  CacheFill fill;
  fill.key = key;
  fill.value = value;
  fill.fresh_for_ms = fresh_for_ms;
  fill.stale_for_ms = stale_for_ms;
  fill.tags = tags;
  fill.lease_id = lease_id;
  return fill;
}

class CacheHarness {
  // First member: it must outlive the store, whose listener reads it.
  std::atomic<Cache*> target_{nullptr};

 public:
  explicit CacheHarness(storage::EvictionPolicy policy = storage::EvictionPolicy::kNoEviction) {
    storage::Store::Options options;
    options.clock = &clock;
    options.shards = 8;
    options.max_memory_bytes = 64u << 20;
    options.eviction_policy = policy;
    options.reclaim_interval_ms = 0;
    // Set before the store is shared; reset before the cache dies.
    options.listener = [this](const storage::Event& event) {
      if (Cache* cache = target_.load()) cache->OnStoreEvent(event);
    };
    store = std::move(storage::Store::Create(std::move(options))).value();
    cache = std::make_unique<Cache>(*store);
    target_.store(cache.get());
  }
  ~CacheHarness() { target_.store(nullptr); }

  CacheLookup Lookup(std::string_view key, int64_t lease_ttl_ms = Cache::kDefaultLeaseTtlMs) {
    absl::StatusOr<CacheLookup> result = cache->Lookup(key, lease_ttl_ms);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *std::move(result) : CacheLookup{};
  }

  bool Fill(std::string_view key, std::string_view value, int64_t fresh_for_ms,
            int64_t stale_for_ms, std::vector<std::string_view> tags = {},
            std::string_view lease_id = {}) {
    absl::StatusOr<bool> applied =
        cache->Fill(MakeFill(key, value, fresh_for_ms, stale_for_ms, tags, lease_id));
    EXPECT_TRUE(applied.ok()) << applied.status();
    return applied.ok() && *applied;
  }

  int64_t Invalidate(std::vector<std::string_view> keys, std::vector<std::string_view> tags) {
    absl::StatusOr<int64_t> removed = cache->Invalidate(keys, tags);
    EXPECT_TRUE(removed.ok()) << removed.status();
    return removed.ok() ? *removed : -1;
  }

  // The members listed (live or not) in a tag's index; nullopt when the index does not exist.
  std::optional<std::vector<std::string>> TagMembers(std::string_view tag) {
    const std::string key = "ct:" + std::string(tag);
    absl::StatusOr<storage::GetResult> got =
        store->Get(storage::KeyRef{storage::Space::kIndex, key});
    EXPECT_TRUE(got.ok()) << got.status();
    if (!got.ok() || !got->found) return std::nullopt;
    std::optional<std::vector<cache_codec::TagMember>> members =
        cache_codec::DecodeTagIndex(got->value);
    EXPECT_TRUE(members.has_value()) << "unreadable index of " << tag;
    std::vector<std::string> keys;
    if (members.has_value()) {
      for (const cache_codec::TagMember& m : *members) keys.emplace_back(m.key);
    }
    return keys;
  }

  uint64_t Keys(storage::Space space) {
    return store->GetStats().spaces[static_cast<size_t>(space)].keys;
  }

  storage::FakeClock clock;
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<Cache> cache;
};

}  // namespace hourglass::domain::testing
