// Store::Export and Store::Import (what snapshots are made of): every live entry visited, in
// bounded chunks with no lock held around the sink, even across table rebuilds; imports placed
// by affinity, never evicting, with deadlines dropped or clamped as documented.

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "tests/storage/test_util.h"

namespace hourglass::storage::testing {
namespace {

struct Seen {
  std::string value;
  int64_t deadline = kNoDeadline;
  int visits = 0;
};
using SeenMap = std::map<std::pair<Space, std::string>, Seen>;

SeenMap ExportAll(Store& store) {
  SeenMap seen;
  absl::Status status = store.Export([&](const ExportedEntry& e) {
    Seen& s = seen[{e.space, std::string(e.key)}];
    s.value.assign(e.value);
    s.deadline = e.deadline;
    ++s.visits;
    return absl::OkStatus();
  });
  EXPECT_TRUE(status.ok()) << status;
  return seen;
}

TEST(Export, VisitsEveryLiveEntryOnceWithItsDeadline) {
  TestStore s;
  ASSERT_TRUE(s->Set(Kv("persistent"), "p").ok());
  ASSERT_TRUE(s->Set(Kv("ttl"), "t", WithTtl(5000)).ok());
  ASSERT_TRUE(s->Set(Kv("short"), "gone", WithTtl(10)).ok());
  ASSERT_TRUE(s->Set(KeyRef{Space::kSession, "persistent"}, "other space").ok());
  ASSERT_TRUE(s->Set(KeyRef{Space::kIndex, "s:u", "tag"}, "index").ok());
  const int64_t ttl_deadline = s.now() + 5000;
  s.clock.AdvanceMs(10);  // "short" is expired but not yet reclaimed

  const SeenMap seen = ExportAll(*s.store);
  ASSERT_EQ(seen.size(), 4u);
  const Seen& p = seen.at({Space::kKv, "persistent"});
  EXPECT_EQ(p.value, "p");
  EXPECT_EQ(p.deadline, kNoDeadline);
  EXPECT_EQ(p.visits, 1);
  const Seen& t = seen.at({Space::kKv, "ttl"});
  EXPECT_EQ(t.value, "t");
  EXPECT_EQ(t.deadline, ttl_deadline);
  EXPECT_EQ(seen.at({Space::kSession, "persistent"}).value, "other space");
  EXPECT_EQ(seen.at({Space::kIndex, "s:u"}).value, "index");
  EXPECT_EQ(seen.count({Space::kKv, "short"}), 0u);
  // Export skips the expired entry without removing it (it changes nothing).
  EXPECT_EQ(s->GetStats().expired, 0u);
}

TEST(Export, CopiesLargeShardsInChunksWithoutHoldingTheLock) {
  Store::Options options;
  options.shards = 1;
  TestStore s(options);
  constexpr int kKeys = 3 * static_cast<int>(Store::kExportChunkEntries) + 17;
  for (int i = 0; i < kKeys; ++i) {
    ASSERT_TRUE(s->Set(Kv("k" + std::to_string(i)), "v" + std::to_string(i)).ok());
  }
  int visits = 0;
  absl::Status status = s->Export([&](const ExportedEntry& e) {
    // The shard's lock is not held around the sink: reading and writing the store works.
    EXPECT_EQ(ValueOf(*s.store, Kv(e.key)), e.value);
    if (visits % 1000 == 0) {
      EXPECT_TRUE(s->Set(Kv("written-during-export-" + std::to_string(visits)), "x").ok());
    }
    ++visits;
    return absl::OkStatus();
  });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_GE(visits, kKeys);
  EXPECT_LE(visits, kKeys + 100);  // the few written meanwhile may or may not be seen
}

TEST(Export, ChunksAreBoundedByBytesToo) {
  Store::Options options;
  options.shards = 1;
  TestStore s(options);
  const std::string big(256 << 10, 'b');  // 4 of these fill a chunk's byte budget
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(s->Set(Kv("big" + std::to_string(i)), big).ok());
  int visits = 0;
  ASSERT_TRUE(s->Export([&](const ExportedEntry& e) {
                 EXPECT_EQ(e.value.size(), big.size());
                 ++visits;
                 return absl::OkStatus();
               }).ok());
  EXPECT_EQ(visits, 10);
}

TEST(Export, NeverMissesAnEntryWhenTheTableIsRebuiltBetweenChunks) {
  Store::Options options;
  options.shards = 1;
  TestStore s(options);
  constexpr int kKeys = 2 * static_cast<int>(Store::kExportChunkEntries);
  for (int i = 0; i < kKeys; ++i) ASSERT_TRUE(s->Set(Kv("old" + std::to_string(i)), "o").ok());
  std::map<std::string, int> visits;
  int calls = 0;
  int added = 0;
  absl::Status status = s->Export([&](const ExportedEntry& e) {
    ++visits[std::string(e.key)];
    // After the first chunk, double the table: it grows (rebuilds) several times, moving
    // entries the export has not reached yet to slots it has already passed.
    if (++calls == static_cast<int>(Store::kExportChunkEntries)) {
      for (; added < 2 * kKeys; ++added) {
        EXPECT_TRUE(s->Set(Kv("new" + std::to_string(added)), "n").ok());
      }
    }
    return absl::OkStatus();
  });
  ASSERT_TRUE(status.ok()) << status;
  int duplicates = 0;
  for (int i = 0; i < kKeys; ++i) {
    const auto it = visits.find("old" + std::to_string(i));
    ASSERT_NE(it, visits.end()) << "old" << i << " missed";
    duplicates += it->second - 1;
  }
  // The shard started over after the rebuild: the first chunk's entries were seen again.
  EXPECT_GT(duplicates, 0);
}

TEST(Export, StopsAtTheFirstSinkError) {
  TestStore s;
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(s->Set(Kv(std::to_string(i)), "v").ok());
  int calls = 0;
  absl::Status status = s->Export([&](const ExportedEntry&) {
    return ++calls == 10 ? absl::DataLossError("disk full") : absl::OkStatus();
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(calls, 10);
}

TEST(Import, RestoresWhatExportSawIntoAnotherStore) {
  TestStore a;
  ASSERT_TRUE(a->Set(Kv("p"), "persistent").ok());
  ASSERT_TRUE(a->Set(Kv("t"), "ttl", WithTtl(60'000)).ok());
  ASSERT_TRUE(a->Set(KeyRef{Space::kCache, "c"}, std::string(1000, 'c'), WithTtl(1000)).ok());
  Store::Options options;
  options.shards = 4;  // a different shard count: placement is recomputed from the keys
  TestStore b(options);
  ASSERT_TRUE(a->Export([&](const ExportedEntry& e) -> absl::Status {
                 auto stored = b->Import(KeyRef{e.space, e.key}, e.value, e.deadline);
                 if (!stored.ok()) return stored.status();
                 EXPECT_TRUE(*stored);
                 return absl::OkStatus();
               }).ok());
  EXPECT_EQ(ValueOf(*b.store, Kv("p")), "persistent");
  EXPECT_EQ(b->GetTtl(Kv("p")).deadline, kNoDeadline);
  EXPECT_EQ(ValueOf(*b.store, Kv("t")), "ttl");
  EXPECT_EQ(b->GetTtl(Kv("t")).deadline, a->GetTtl(Kv("t")).deadline);
  // Same accounting as the writes that made them.
  const StoreStats sa = a->GetStats();
  const StoreStats sb = b->GetStats();
  EXPECT_EQ(sb.used_bytes, sa.used_bytes);
  for (int i = 0; i < kNumSpaces; ++i) {
    EXPECT_EQ(sb.spaces[i].keys, sa.spaces[i].keys);
    EXPECT_EQ(sb.spaces[i].keys_with_expiry, sa.spaces[i].keys_with_expiry);
    EXPECT_EQ(sb.spaces[i].bytes, sa.spaces[i].bytes);
  }
  // Imports are not lookups: only the two Gets above counted.
  EXPECT_EQ(sb.hits, 2u);
  EXPECT_EQ(sb.misses, 0u);
}

TEST(Import, PlacesKeysByAffinity) {
  Store::Options options;
  options.shards = 8;
  TestStore s(options);
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(
        s->Import(KeyRef{Space::kSession, "id" + std::to_string(i), "TAG1"}, "v", kNoDeadline)
            .value());
  }
  const StoreStats stats = s->GetStats();
  int used_shards = 0;
  for (uint64_t keys : stats.shard_keys) {
    if (keys == 0) continue;
    ++used_shards;
    EXPECT_EQ(keys, 100u);
  }
  EXPECT_EQ(used_shards, 1);
  // And every later access with the same affinity finds them.
  auto got = s->Get(KeyRef{Space::kSession, "id7", "TAG1"});
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->found);
}

TEST(Import, DropsExpiredEntriesAndClampsFarDeadlines) {
  Store::Options options;
  options.max_ttl_ms = 60'000;
  TestStore s(options);
  EXPECT_FALSE(s->Import(Kv("past"), "x", s.now() - 1).value());
  EXPECT_FALSE(s->Import(Kv("now"), "x", s.now()).value());
  EXPECT_EQ(ValueOf(*s.store, Kv("past")), "<absent>");
  EXPECT_EQ(ValueOf(*s.store, Kv("now")), "<absent>");
  EXPECT_TRUE(s->Import(Kv("far"), "x", s.now() + 3'600'000).value());
  EXPECT_EQ(s->GetTtl(Kv("far")).deadline, s.now() + 60'000);
  EXPECT_TRUE(s->Import(Kv("soon"), "x", s.now() + 1).value());
  s.clock.AdvanceMs(1);
  EXPECT_EQ(ValueOf(*s.store, Kv("soon")), "<absent>");
}

TEST(Import, ReplacesAnEntryAlreadyThere) {
  TestStore s;
  ASSERT_TRUE(s->Import(Kv("k"), "first", kNoDeadline).value());
  ASSERT_TRUE(s->Import(Kv("k"), "second, longer", s.now() + 1000).value());
  EXPECT_EQ(ValueOf(*s.store, Kv("k")), "second, longer");
  EXPECT_EQ(s->GetTtl(Kv("k")).deadline, s.now() + 1000);
  const StoreStats stats = s->GetStats();
  EXPECT_EQ(stats.spaces[0].keys, 1u);
  TestStore fresh;
  ASSERT_TRUE(fresh->Set(Kv("k"), "second, longer", WithTtl(1000)).ok());
  EXPECT_EQ(stats.used_bytes, fresh->GetStats().used_bytes);
}

TEST(Import, NeverEvictsAndRefusesWhatDoesNotFit) {
  Store::Options options;
  options.max_memory_bytes = 64 << 10;
  options.eviction_policy = EvictionPolicy::kAllKeysLru;
  TestStore s(options);
  const std::string value(1000, 'v');
  int stored = 0;
  absl::Status last;
  for (int i = 0; i < 200; ++i) {
    auto r = s->Import(Kv("k" + std::to_string(i)), value, kNoDeadline);
    if (!r.ok()) {
      last = r.status();
      break;
    }
    ++stored;
  }
  EXPECT_EQ(last.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_GT(stored, 10);
  const StoreStats stats = s->GetStats();
  EXPECT_EQ(stats.spaces[0].keys, static_cast<uint64_t>(stored));
  EXPECT_EQ(stats.evicted, 0u);
  EXPECT_EQ(stats.rejected_writes, 0u);
  EXPECT_LE(stats.used_bytes, stats.max_bytes);
  for (int i = 0; i < stored; ++i) EXPECT_EQ(ValueOf(*s.store, Kv("k" + std::to_string(i))), value);
}

TEST(Import, RefusesKeysTheStoreCannotHold) {
  TestStore s;
  const std::string long_key(70'000, 'k');
  EXPECT_EQ(s->Import(Kv(long_key), "v", kNoDeadline).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s->Import(KeyRef{static_cast<Space>(9), "k"}, "v", kNoDeadline).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hourglass::storage::testing

namespace hourglass::storage::testing {
namespace {

// Measurement, not a check (run with --gtest_also_run_disabled_tests): the cost of exporting
// 1 M keys (16 B keys, 64 B values) over 16 shards, i.e. what one chunk's lock hold costs
// against copying a whole ~62 k-key shard under its lock.
TEST(ExportMeasure, DISABLED_OneMillionKeys) {
  SystemClock clock;
  Store::Options options;
  options.clock = &clock;
  options.shards = 16;
  options.max_memory_bytes = 1ull << 30;
  options.reclaim_interval_ms = 0;
  auto store = Store::Create(options).value();
  const std::string value(64, 'v');
  char key[17];
  for (int i = 0; i < 1'000'000; ++i) {
    std::snprintf(key, sizeof(key), "key%013d", i);
    ASSERT_TRUE(store->Set(Kv(std::string_view(key, 16)), value).ok());
  }
  for (int round = 0; round < 3; ++round) {
    uint64_t n = 0;
    const auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE(store
                    ->Export([&](const ExportedEntry&) {
                      ++n;
                      return absl::OkStatus();
                    })
                    .ok());
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    const double per_entry_ns = ms * 1e6 / static_cast<double>(n);
    std::printf(
        "export %llu entries: %.1f ms (%.0f ns/entry): a %zu-entry chunk holds its lock ~%.2f "
        "ms, a whole 62.5 k-entry shard would hold it ~%.1f ms\n",
        static_cast<unsigned long long>(n), ms, per_entry_ns, Store::kExportChunkEntries,
        per_entry_ns * static_cast<double>(Store::kExportChunkEntries) / 1e6,
        per_entry_ns * 62'500 / 1e6);
  }
}

}  // namespace
}  // namespace hourglass::storage::testing
