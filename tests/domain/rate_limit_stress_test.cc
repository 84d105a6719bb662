// Concurrency: bounded multi-threaded runs with exact totals. The fake clock stands still while
// threads run, so every admission is decided by the limit alone and the totals are exact.
// TSan-clean (no gRPC).

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "server/domain/rate_limiter.h"
#include "storage/clock.h"
#include "storage/store.h"

namespace hourglass::domain {
namespace {

constexpr int kThreads = 8;

class RateLimitStressTest : public ::testing::TestWithParam<RateLimitAlgorithm> {
 protected:
  RateLimitStressTest() {
    storage::Store::Options options;
    options.clock = &clock_;
    options.shards = 16;
    options.reclaim_interval_ms = 0;
    store_ = std::move(storage::Store::Create(std::move(options))).value();
    limiter_ = std::make_unique<RateLimiter>(*store_, RateLimiter::Options{});
  }

  // Runs `body(thread_index)` on kThreads threads released together.
  template <typename Body>
  static void RunThreads(Body body) {
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
        body(t);
      });
    }
    go.store(true, std::memory_order_release);
    for (std::thread& thread : threads) thread.join();
  }

  storage::FakeClock clock_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<RateLimiter> limiter_;
};

TEST_P(RateLimitStressTest, OneKeyAdmitsExactlyTheLimitPerWindow) {
  constexpr int64_t kLimit = 300;
  constexpr int kChecksPerThread = 100;  // 800 attempts per window
  const RateLimitCheck check{"hot", GetParam(), kLimit, 1000, 1, {}};
  for (int window = 0; window < 3; ++window) {
    std::atomic<int64_t> admitted{0};
    std::atomic<int64_t> errors{0};
    RunThreads([&](int) {
      for (int i = 0; i < kChecksPerThread; ++i) {
        auto decision = limiter_->Check(check);
        if (!decision.ok()) {
          errors.fetch_add(1);
        } else if (decision->allowed) {
          admitted.fetch_add(1);
        }
      }
    });
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(admitted.load(), kLimit) << "window " << window;
    // Every algorithm is fully available again two periods later.
    clock_.AdvanceMs(2000);
  }
}

// Random all-or-nothing batches over keys spread across shards. Each thread records the hits
// its allowed batches took per key; afterwards each key's state must show exactly that many
// hits used (no batch over-admitted, no refused batch leaked a hit).
TEST_P(RateLimitStressTest, AllOrNothingAcrossShardsNeverOverAdmitsNorLeaks) {
  constexpr int kKeys = 12;
  constexpr int64_t kLimit = 60;
  constexpr int kBatchesPerThread = 150;
  std::vector<std::string> keys;
  for (int k = 0; k < kKeys; ++k) keys.push_back("acct:" + std::to_string(k));
  std::array<std::array<int64_t, kKeys>, kThreads> taken{};
  std::atomic<int64_t> errors{0};
  std::atomic<int64_t> allowed_batches{0};
  RunThreads([&](int t) {
    std::mt19937 rng(1000 + t);
    for (int b = 0; b < kBatchesPerThread; ++b) {
      // 2-4 checks, repeated keys allowed (they count cumulatively), 1-3 hits each.
      const int size = std::uniform_int_distribution<int>(2, 4)(rng);
      std::vector<RateLimitCheck> checks;
      std::vector<int> key_index;
      for (int c = 0; c < size; ++c) {
        const int k = std::uniform_int_distribution<int>(0, kKeys - 1)(rng);
        const int64_t hits = std::uniform_int_distribution<int64_t>(1, 3)(rng);
        checks.push_back(RateLimitCheck{keys[k], GetParam(), kLimit, 1000, hits, {}});
        key_index.push_back(k);
      }
      auto results = limiter_->CheckMany(checks, /*all_or_nothing=*/true);
      if (!results.ok()) {
        errors.fetch_add(1);
        continue;
      }
      bool all = true;
      bool any = false;
      for (const RateLimitDecision& d : *results) {
        all = all && d.allowed;
        any = any || d.allowed;
      }
      ASSERT_EQ(all, any) << "a batch was split";
      if (!all) continue;
      allowed_batches.fetch_add(1);
      for (size_t c = 0; c < checks.size(); ++c) taken[t][key_index[c]] += checks[c].hits;
    }
  });
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(allowed_batches.load(), 0);
  int64_t total_taken = 0;
  for (int k = 0; k < kKeys; ++k) {
    int64_t key_taken = 0;
    for (int t = 0; t < kThreads; ++t) key_taken += taken[t][k];
    total_taken += key_taken;
    EXPECT_LE(key_taken, kLimit) << keys[k];
    auto peek = limiter_->Check(RateLimitCheck{keys[k], GetParam(), kLimit, 1000, 0, {}});
    ASSERT_TRUE(peek.ok());
    EXPECT_EQ(kLimit - peek->remaining, key_taken) << keys[k];
  }
  // 8 x 150 batches of ~2 hits x 3 want far more than 12 x 60: the limits were reached.
  EXPECT_GT(total_taken, kKeys * kLimit / 2);
}

// Independent checks in batches: every allowed check's hits are accounted exactly.
TEST_P(RateLimitStressTest, IndependentBatchesAccountEveryHit) {
  constexpr int kKeys = 5;
  constexpr int64_t kLimit = 100;
  std::vector<std::string> keys;
  for (int k = 0; k < kKeys; ++k) keys.push_back("ind:" + std::to_string(k));
  std::array<std::atomic<int64_t>, kKeys> taken{};
  RunThreads([&](int t) {
    std::mt19937 rng(2000 + t);
    for (int b = 0; b < 100; ++b) {
      std::vector<RateLimitCheck> checks;
      std::vector<int> key_index;
      for (int c = 0; c < 3; ++c) {
        const int k = std::uniform_int_distribution<int>(0, kKeys - 1)(rng);
        checks.push_back(RateLimitCheck{keys[k],
                                        GetParam(),
                                        kLimit,
                                        1000,
                                        std::uniform_int_distribution<int64_t>(1, 2)(rng),
                                        {}});
        key_index.push_back(k);
      }
      auto results = limiter_->CheckMany(checks, /*all_or_nothing=*/false);
      ASSERT_TRUE(results.ok());
      for (size_t c = 0; c < checks.size(); ++c) {
        if ((*results)[c].allowed) taken[key_index[c]].fetch_add(checks[c].hits);
      }
    }
  });
  for (int k = 0; k < kKeys; ++k) {
    auto peek = limiter_->Check(RateLimitCheck{keys[k], GetParam(), kLimit, 1000, 0, {}});
    ASSERT_TRUE(peek.ok());
    EXPECT_LE(taken[k].load(), kLimit);
    EXPECT_EQ(kLimit - peek->remaining, taken[k].load()) << keys[k];
  }
}

INSTANTIATE_TEST_SUITE_P(Algorithms, RateLimitStressTest,
                         ::testing::Values(RateLimitAlgorithm::kFixedWindow,
                                           RateLimitAlgorithm::kSlidingWindow,
                                           RateLimitAlgorithm::kTokenBucket),
                         [](const ::testing::TestParamInfo<RateLimitAlgorithm>& info) {
                           switch (info.param) {
                             case RateLimitAlgorithm::kFixedWindow:
                               return "FixedWindow";
                             case RateLimitAlgorithm::kSlidingWindow:
                               return "SlidingWindow";
                             case RateLimitAlgorithm::kTokenBucket:
                               return "TokenBucket";
                           }
                           return "Unknown";
                         });

}  // namespace
}  // namespace hourglass::domain
