// Multi-threaded stress with exact totals (run under TSan too). Bounded: a few thousand
// operations per thread.

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "storage/entry.h"
#include "storage/int_codec.h"
#include "tests/storage/test_util.h"

namespace hourglass::storage::testing {
namespace {

constexpr int kThreads = 4;

template <class F>
void RunThreads(F f) {
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) ts.emplace_back(f, t);
  for (auto& t : ts) t.join();
}

TEST(Concurrency, IncrementsSumExactly) {
  Store::Options o;
  o.shards = 4;
  TestStore s(o);
  constexpr int kOps = 4000;
  constexpr int kKeys = 8;
  RunThreads([&](int t) {
    for (int i = 0; i < kOps; ++i) {
      const std::string k = "ctr" + std::to_string((i + t) % kKeys);
      ASSERT_TRUE(s->Increment(Kv(k), 1, 60'000).ok());
    }
  });
  int64_t sum = 0;
  for (int k = 0; k < kKeys; ++k) {
    sum += *internal::ParseInt64(ValueOf(*s.store, Kv("ctr" + std::to_string(k))));
  }
  EXPECT_EQ(sum, kThreads * kOps);
}

TEST(Concurrency, UpdateManyIsAtomicAndDeadlockFree) {
  Store::Options o;
  o.shards = 8;
  TestStore s(o);
  constexpr int kKeys = 32;
  constexpr int kSteps = 1500;
  std::vector<std::string> names;
  for (int i = 0; i < kKeys; ++i) names.push_back("k" + std::to_string(i));
  std::atomic<int64_t> expected{0};
  RunThreads([&](int t) {
    std::mt19937 rng(t + 1);
    for (int i = 0; i < kSteps; ++i) {
      // A random set of 1-5 distinct keys, in random order (so shards come in any order).
      std::vector<int> pick(kKeys);
      for (int j = 0; j < kKeys; ++j) pick[j] = j;
      std::shuffle(pick.begin(), pick.end(), rng);
      const int n = 1 + static_cast<int>(rng() % 5);
      std::vector<KeyRef> keys;
      for (int j = 0; j < n; ++j) keys.push_back(Kv(names[pick[j]]));
      const bool fail = rng() % 4 == 0;  // a quarter of the steps abort: nothing applied
      absl::Status st = s->UpdateMany(keys, [&](absl::Span<Cursor* const> cs) {
        for (Cursor* c : cs) {
          const int64_t v = c->found() ? *internal::ParseInt64(c->value()) : 0;
          c->Put(std::to_string(v + 1), kNoDeadline);
        }
        return fail ? absl::AbortedError("abort") : absl::OkStatus();
      });
      if (fail) {
        ASSERT_EQ(st.code(), absl::StatusCode::kAborted);
      } else {
        ASSERT_TRUE(st.ok()) << st;
        expected.fetch_add(n);
      }
    }
  });
  int64_t sum = 0;
  for (const auto& n : names) {
    const std::string v = ValueOf(*s.store, Kv(n));
    if (v != "<absent>") sum += *internal::ParseInt64(v);
  }
  EXPECT_EQ(sum, expected.load());
}

TEST(Concurrency, CapHoldsExactlyUnderConcurrentInserts) {
  constexpr int kFit = 1000;
  Store::Options o;
  o.max_memory_bytes = kFit * internal::ChargeFor(8, 8);
  TestStore s(o);
  std::atomic<int> ok{0};
  std::atomic<int> refused{0};
  RunThreads([&](int t) {
    for (int i = 0; i < 600; ++i) {
      char key[9];
      std::snprintf(key, sizeof(key), "%c%07d", 'a' + t, i);
      auto r = s->Set(Kv(std::string_view(key, 8)), "12345678");
      if (r.ok()) {
        ok.fetch_add(1);
      } else {
        ASSERT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
        refused.fetch_add(1);
      }
    }
  });
  EXPECT_EQ(ok.load(), kFit);
  auto st = s->GetStats();
  EXPECT_EQ(st.used_bytes, st.max_bytes);
  EXPECT_EQ(st.rejected_writes, static_cast<uint64_t>(refused.load()));
  EXPECT_EQ(st.spaces[0].keys, static_cast<uint64_t>(kFit));
}

TEST(Concurrency, MixedOperationsWithReclaimAndEventsKeepExactAccounting) {
  std::atomic<int64_t> events{0};
  Store::Options o;
  o.shards = 4;
  o.listener = [&](const Event&) { events.fetch_add(1, std::memory_order_relaxed); };
  TestStore s(o);
  std::atomic<bool> done{false};
  std::thread reclaimer([&] {
    while (!done.load()) {
      s->RunReclaimStep();
      s.clock.AdvanceMs(1);
      std::this_thread::yield();
    }
  });
  RunThreads([&](int t) {
    std::mt19937 rng(100 + t);
    for (int i = 0; i < 3000; ++i) {
      const std::string k = "m" + std::to_string(rng() % 200);
      switch (rng() % 6) {
        case 0:
          ASSERT_TRUE(s->Set(Kv(k), std::string(rng() % 40, 'v'), WithTtl(1 + rng() % 30)).ok());
          break;
        case 1:
          ASSERT_TRUE(s->Set(Kv(k), "persistent").ok());
          break;
        case 2:
          ASSERT_TRUE(s->Get(Kv(k)).ok());
          break;
        case 3: {
          const KeyRef keys[] = {Kv(k)};
          s->Delete(keys);
          break;
        }
        case 4:
          ASSERT_TRUE(s->Expire(Kv(k), Expiry::Ttl(rng() % 20), ExpireCondition::kAlways).ok());
          break;
        case 5: {
          GetOptions g;
          g.touch = GetOptions::Touch::kTtl;
          g.ttl_ms = 1 + rng() % 50;
          ASSERT_TRUE(s->Get(Kv(k), g).ok());
          break;
        }
      }
    }
  });
  done.store(true);
  reclaimer.join();
  // Delete whatever is left: accounting must return to exactly zero.
  for (int i = 0; i < 200; ++i) {
    const std::string k = "m" + std::to_string(i);
    const KeyRef keys[] = {Kv(k)};
    s->Delete(keys);
  }
  auto st = s->GetStats();
  EXPECT_EQ(st.used_bytes, 0u);
  EXPECT_EQ(st.spaces[0].keys, 0u);
  EXPECT_EQ(st.spaces[0].bytes, 0u);
  EXPECT_EQ(st.spaces[0].keys_with_expiry, 0u);
  EXPECT_GT(events.load(), 0);
}

}  // namespace
}  // namespace hourglass::storage::testing
