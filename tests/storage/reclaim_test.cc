// Active expiry: the reclaimer frees expired entries without any access to them.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "storage/shard.h"
#include "tests/storage/test_util.h"

namespace hourglass::storage::testing {
namespace {

std::string Key(int i) { return "key:" + std::to_string(i); }

TEST(Reclaim, NearDeadlinesAreFreedWithoutAccess) {
  TestStore s;
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(s->Set(Kv(Key(i)), "v", WithTtl(50 + i % 7)).ok());
  ASSERT_TRUE(s->Set(Kv("persistent"), "v").ok());
  s.clock.AdvanceMs(49);
  EXPECT_EQ(s->RunReclaimStep(), 0u);
  EXPECT_EQ(s->GetStats().spaces[0].keys, 1001u);
  s.clock.AdvanceMs(1);
  uint64_t total = s->RunReclaimStep();
  s.clock.AdvanceMs(10);
  total += s->RunReclaimStep();
  EXPECT_EQ(total, 1000u);
  auto st = s->GetStats();
  EXPECT_EQ(st.spaces[0].keys, 1u);
  EXPECT_EQ(st.spaces[0].keys_with_expiry, 0u);
  EXPECT_EQ(st.expired, 1000u);
  EXPECT_EQ(st.lateness.total, 1000u);
  // Reclaimed at the step right after each deadline: lateness <= 10 ms.
  uint64_t within_10ms = 0;
  for (size_t b = 0; b < 4; ++b) within_10ms += st.lateness.counts[b];
  EXPECT_EQ(within_10ms, 1000u);
}

TEST(Reclaim, LongTtlsAreHintedByTheFarScanAndFreedOnTime) {
  TestStore s;
  for (int i = 0; i < 500; ++i) {
    ASSERT_TRUE(s->Set(Kv(Key(i)), "v", WithTtl(10'000 + i)).ok());  // beyond the wheel's horizon
  }
  // Steps every 10 ms, as the reclaimer thread would.
  uint64_t reclaimed = 0;
  for (int t = 0; t < 1060; ++t) {
    s.clock.AdvanceMs(10);
    reclaimed += s->RunReclaimStep();
  }
  EXPECT_EQ(reclaimed, 500u);
  auto st = s->GetStats();
  EXPECT_EQ(st.spaces[0].keys, 0u);
  uint64_t within_10ms = 0;
  for (size_t b = 0; b < 4; ++b) within_10ms += st.lateness.counts[b];
  EXPECT_EQ(within_10ms, 500u);
}

TEST(Reclaim, AfterALongPauseOneStepSweepsEverything) {
  TestStore s;
  for (int i = 0; i < 2000; ++i) {
    ASSERT_TRUE(s->Set(Kv(Key(i)), "v", WithTtl(3'600'000 + i)).ok());
  }
  s.clock.AdvanceMs(4'000'000);
  EXPECT_EQ(s->RunReclaimStep(), 2000u);  // a full far-scan pass
  EXPECT_EQ(s->GetStats().used_bytes, 0u);
}

TEST(Reclaim, ChangedDeadlinesAreRespected) {
  TestStore s;
  ASSERT_TRUE(s->Set(Kv("extended"), "v", WithTtl(100)).ok());
  ASSERT_TRUE(s->Set(Kv("persisted"), "v", WithTtl(100)).ok());
  ASSERT_TRUE(s->Set(Kv("shortened"), "v", WithTtl(100'000)).ok());
  ASSERT_TRUE(*s->Expire(Kv("extended"), Expiry::Ttl(300), ExpireCondition::kAlways));
  ASSERT_TRUE(s->Persist(Kv("persisted")));
  ASSERT_TRUE(*s->Expire(Kv("shortened"), Expiry::Ttl(50), ExpireCondition::kAlways));
  s.clock.AdvanceMs(50);
  EXPECT_EQ(s->RunReclaimStep(), 1u);  // shortened
  s.clock.AdvanceMs(50);
  EXPECT_EQ(s->RunReclaimStep(), 0u);  // the stale hints of extended/persisted find nothing
  s.clock.AdvanceMs(200);
  EXPECT_EQ(s->RunReclaimStep(), 1u);  // extended
  s.clock.AdvanceMs(10'000'000);
  EXPECT_EQ(s->RunReclaimStep(), 0u);
  EXPECT_EQ(ValueOf(*s.store, Kv("persisted")), "v");
}

TEST(Reclaim, ABurstSharingOneDeadlineIsWorkedThroughInBoundedSteps) {
  Store::Options o;
  o.shards = 4;
  TestStore s(o);
  constexpr int kKeys = 60'000;
  SetOptions at;
  at.expiry = Expiry::At(s.now() + 1000);
  for (int i = 0; i < kKeys; ++i) ASSERT_TRUE(s->Set(Kv(Key(i)), "value", at).ok());
  s.clock.AdvanceMs(1000);
  uint64_t total = 0;
  int steps = 0;
  while (total < kKeys && steps < 100) {
    const uint64_t n = s->RunReclaimStep();
    EXPECT_LE(n, o.shards * (internal::kMaxHintsPerStep + internal::kMaxScanSlotsPerStep));
    total += n;
    ++steps;
    s.clock.AdvanceMs(1);
  }
  EXPECT_EQ(total, static_cast<uint64_t>(kKeys));
  EXPECT_GE(steps, 3);  // bounded: 15 k per shard needs several steps of 4096
  EXPECT_EQ(s->GetStats().used_bytes, 0u);
}

TEST(Reclaim, BackgroundThreadReclaimsWithTheRealClock) {
  SystemClock clock;
  Store::Options o;
  o.clock = &clock;
  o.reclaim_interval_ms = 5;
  auto store = Store::Create(o);
  ASSERT_TRUE(store.ok());
  // Setting a hook while the reclaimer thread already runs is safe.
  std::atomic<int> hooked{0};
  (*store)->SetRemovalHook(
      Space::kKv, [&](std::string_view, std::string_view, ShardEditor&) { hooked.fetch_add(1); });
  for (int i = 0; i < 100; ++i) ASSERT_TRUE((*store)->Set(Kv(Key(i)), "v", WithTtl(20)).ok());
  // Bounded wait: at most 5 s, normally ~30 ms.
  for (int i = 0; i < 500 && (*store)->GetStats().used_bytes != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ((*store)->GetStats().used_bytes, 0u);
  EXPECT_EQ((*store)->GetStats().expired, 100u);
  EXPECT_EQ(hooked.load(), 100);
}

TEST(Reclaim, HooksThatExpireAndInsertMoreKeysDuringReclamation) {
  Store::Options o;
  o.shards = 1;  // every key on the shard whose lock the hooks hold
  TestStore s(o);
  int calls = 0;
  int depth = 0;
  int max_depth = 0;
  s->SetRemovalHook(
      Space::kSession, [&](std::string_view key, std::string_view value, ShardEditor& shard) {
        ++calls;
        max_depth = std::max(max_depth, ++depth);
        // Read the next session (expired too: removed by this lookup, its hook queued, not nested)
        // and insert a new key per call, so the table grows (rebuilds) under the reclaimer.
        const std::string next = "s" + std::to_string(std::stoi(std::string(key.substr(1))) + 1);
        EXPECT_TRUE(shard
                        .Update({Space::kSession, next},
                                [](Cursor& c) {
                                  EXPECT_FALSE(c.found());
                                  return absl::OkStatus();
                                })
                        .ok());
        const std::string log = "log-" + std::string(key);
        EXPECT_TRUE(shard
                        .Update(Kv(log),
                                [&](Cursor& c) {
                                  c.Put(value, kNoDeadline);
                                  return absl::OkStatus();
                                })
                        .ok());
        --depth;
      });
  constexpr int kSessions = 300;
  for (int i = 0; i < kSessions; ++i) {
    ASSERT_TRUE(s->Set({Space::kSession, "s" + std::to_string(i)}, "v", WithTtl(100)).ok());
  }
  s.clock.AdvanceMs(100);
  uint64_t reclaimed = 0;
  for (int i = 0; i < 5; ++i) reclaimed += s->RunReclaimStep();
  // The reclaimer removed some, the hooks' lookups (lazy expiry) the others: all are gone.
  EXPECT_LE(reclaimed, static_cast<uint64_t>(kSessions));
  EXPECT_EQ(calls, kSessions);
  EXPECT_EQ(max_depth, 1);  // hooks never nest
  auto st = s->GetStats();
  EXPECT_EQ(st.spaces[static_cast<int>(Space::kSession)].keys, 0u);
  EXPECT_EQ(st.spaces[static_cast<int>(Space::kKv)].keys, static_cast<uint64_t>(kSessions));
  EXPECT_EQ(st.expired, static_cast<uint64_t>(kSessions));
  EXPECT_EQ(ValueOf(*s.store, Kv("log-s7")), "v");
}

TEST(Reclaim, BurstWithTheRealReclaimerAndItsHelper) {
  SystemClock clock;
  Store::Options o;
  o.clock = &clock;
  o.shards = 8;
  o.reclaim_interval_ms = 5;
  std::atomic<int> events{0};
  o.listener = [&](const Event& e) {
    if (e.kind == EventKind::kExpired) events.fetch_add(1);
  };
  auto store = Store::Create(o);
  ASSERT_TRUE(store.ok());
  constexpr int kKeys = 40'000;  // > 8 shards x kMaxHintsPerStep: a backlog, so the helper runs
  SetOptions at;
  at.expiry = Expiry::At(clock.MonotonicMs() + 2000);  // after loading, even under TSan
  for (int i = 0; i < kKeys; ++i) ASSERT_TRUE((*store)->Set(Kv(Key(i)), "v", at).ok());
  for (int i = 0; i < 1500 && events.load() < kKeys; ++i) {  // bounded: 15 s
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(events.load(), kKeys);
  EXPECT_EQ((*store)->GetStats().used_bytes, 0u);
}

}  // namespace
}  // namespace hourglass::storage::testing
