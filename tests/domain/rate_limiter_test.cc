// RateLimiter over a real store on a fake clock: validation, state per (key, algorithm),
// expiry, Reset, and CheckMany with and without all_or_nothing.

#include "server/domain/rate_limiter.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/domain/rate_limit_state.h"
#include "storage/clock.h"
#include "storage/store.h"

namespace hourglass::domain {
namespace {

using storage::FakeClock;
using storage::Space;

class RateLimiterTest : public ::testing::Test {
 protected:
  explicit RateLimiterTest(uint64_t max_memory = 64u << 20) {
    storage::Store::Options options;
    options.clock = &clock_;
    options.reclaim_interval_ms = 0;
    options.max_memory_bytes = max_memory;
    store_ = std::move(storage::Store::Create(std::move(options))).value();
    limiter_ = std::make_unique<RateLimiter>(*store_, RateLimiter::Options{});
  }

  RateLimitDecision MustCheck(const RateLimitCheck& check) {
    auto decision = limiter_->Check(check);
    EXPECT_TRUE(decision.ok()) << decision.status();
    return decision.value_or(RateLimitDecision{});
  }

  uint64_t RateLimitKeys() {
    return store_->GetStats().spaces[static_cast<int>(Space::kRateLimit)].keys;
  }

  FakeClock clock_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<RateLimiter> limiter_;
};

RateLimitCheck Fixed(std::string_view key, int64_t limit, int64_t period_ms, int64_t hits = 1) {
  return RateLimitCheck{key, RateLimitAlgorithm::kFixedWindow, limit, period_ms, hits, {}};
}

TEST_F(RateLimiterTest, ValidationNamesTheField) {
  struct Case {
    RateLimitCheck check;
    std::string message;
  };
  RateLimitCheck bucket_burst_zero = Fixed("k", 1, 1000);
  bucket_burst_zero.algorithm = RateLimitAlgorithm::kTokenBucket;
  bucket_burst_zero.burst = 0;
  RateLimitCheck burst_on_window = Fixed("k", 1, 1000);
  burst_on_window.burst = 3;
  RateLimitCheck slow_bucket = Fixed("k", 1, 87600LL * 3600 * 1000);
  slow_bucket.algorithm = RateLimitAlgorithm::kTokenBucket;
  slow_bucket.burst = 2;
  const std::vector<Case> cases = {
      {Fixed("", 1, 1000), "key: required"},
      {Fixed("k", 0, 1000), "limit: must be > 0"},
      {Fixed("k", -5, 1000), "limit: must be > 0"},
      {Fixed("k", 1, 0), "period: must be > 0"},
      {Fixed("k", 1, -1), "period: must be > 0"},
      {Fixed("k", 1, 87600LL * 3600 * 1000 + 1), "period: "},
      {Fixed("k", 1, 1000, -1), "hits: must not be negative"},
      {bucket_burst_zero, "burst: must be > 0"},
      {burst_on_window, "burst: only applies to TOKEN_BUCKET"},
      {slow_bucket, "burst: refill time"},
  };
  for (const Case& c : cases) {
    auto result = limiter_->Check(c.check);
    ASSERT_FALSE(result.ok()) << c.message;
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(result.status().message().find(c.message), 0u) << result.status();
  }
  EXPECT_EQ(RateLimitKeys(), 0u);
}

TEST_F(RateLimiterTest, FixedWindowOverTheStore) {
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(MustCheck(Fixed("login", 3, 60'000)).allowed);
  RateLimitDecision denied = MustCheck(Fixed("login", 3, 60'000));
  EXPECT_FALSE(denied.allowed);
  EXPECT_EQ(denied.remaining, 0);
  EXPECT_EQ(denied.retry_after_ms, 60'000);
  clock_.AdvanceMs(59'999);
  EXPECT_FALSE(MustCheck(Fixed("login", 3, 60'000)).allowed);
  clock_.AdvanceMs(1);
  RateLimitDecision fresh = MustCheck(Fixed("login", 3, 60'000));
  EXPECT_TRUE(fresh.allowed);
  EXPECT_EQ(fresh.remaining, 2);
  EXPECT_EQ(fresh.reset_after_ms, 60'000);
}

TEST_F(RateLimiterTest, StateIsPerKeyAndAlgorithm) {
  RateLimitCheck fixed = Fixed("k", 1, 1000);
  RateLimitCheck sliding = fixed;
  sliding.algorithm = RateLimitAlgorithm::kSlidingWindow;
  RateLimitCheck bucket = fixed;
  bucket.algorithm = RateLimitAlgorithm::kTokenBucket;
  EXPECT_TRUE(MustCheck(fixed).allowed);
  EXPECT_TRUE(MustCheck(sliding).allowed);
  EXPECT_TRUE(MustCheck(bucket).allowed);
  EXPECT_TRUE(MustCheck(Fixed("k2", 1, 1000)).allowed);
  EXPECT_FALSE(MustCheck(fixed).allowed);
  EXPECT_FALSE(MustCheck(sliding).allowed);
  EXPECT_FALSE(MustCheck(bucket).allowed);
  EXPECT_EQ(RateLimitKeys(), 4u);
  // The same string as a KV key is another entry.
  EXPECT_FALSE(store_->Get(storage::KeyRef{Space::kKv, "k"})->found);
}

TEST_F(RateLimiterTest, DeniedAndPeekWriteNothing) {
  EXPECT_TRUE(MustCheck(Fixed("p", 2, 1000, 0)).allowed);   // peek on nothing
  EXPECT_FALSE(MustCheck(Fixed("p", 2, 1000, 3)).allowed);  // over the limit
  EXPECT_EQ(RateLimitKeys(), 0u);
  EXPECT_TRUE(MustCheck(Fixed("p", 2, 1000, 2)).allowed);
  EXPECT_FALSE(MustCheck(Fixed("p", 2, 1000, 1)).allowed);
  RateLimitDecision peek = MustCheck(Fixed("p", 2, 1000, 0));
  EXPECT_FALSE(peek.allowed);
  EXPECT_EQ(peek.remaining, 0);
  EXPECT_EQ(peek.retry_after_ms, 1000);
}

TEST_F(RateLimiterTest, StateExpiresByItselfWhenItNoLongerMatters) {
  RateLimitCheck sliding = Fixed("s", 5, 1000);
  sliding.algorithm = RateLimitAlgorithm::kSlidingWindow;
  RateLimitCheck bucket = Fixed("b", 4, 1000);
  bucket.algorithm = RateLimitAlgorithm::kTokenBucket;
  EXPECT_TRUE(MustCheck(Fixed("f", 5, 1000)).allowed);
  EXPECT_TRUE(MustCheck(sliding).allowed);
  EXPECT_TRUE(MustCheck(bucket).allowed);  // TAT = now + 250 ms
  EXPECT_EQ(RateLimitKeys(), 3u);
  clock_.AdvanceMs(250);
  store_->RunReclaimStep();
  EXPECT_EQ(RateLimitKeys(), 2u);  // the bucket is full again
  clock_.AdvanceMs(750);
  store_->RunReclaimStep();
  EXPECT_EQ(RateLimitKeys(), 1u);  // the fixed window ended
  clock_.AdvanceMs(999);
  store_->RunReclaimStep();
  EXPECT_EQ(RateLimitKeys(), 1u);  // the sliding hit still weighs until 2 periods
  clock_.AdvanceMs(1);
  store_->RunReclaimStep();
  EXPECT_EQ(RateLimitKeys(), 0u);
}

TEST_F(RateLimiterTest, ChangedPeriodAppliesFromTheNextCheckWithoutResetting) {
  EXPECT_TRUE(MustCheck(Fixed("c", 3, 1000, 3)).allowed);
  clock_.AdvanceMs(500);
  // A longer period keeps the window (and its count) and moves its end, even though this check
  // is denied: the entry must outlive the old window's end.
  RateLimitDecision longer = MustCheck(Fixed("c", 3, 5000));
  EXPECT_FALSE(longer.allowed);
  EXPECT_EQ(longer.retry_after_ms, 4500);
  clock_.AdvanceMs(1000);
  store_->RunReclaimStep();
  RateLimitDecision still = MustCheck(Fixed("c", 3, 5000));
  EXPECT_FALSE(still.allowed);
  EXPECT_EQ(still.remaining, 0);
  EXPECT_EQ(still.reset_after_ms, 3500);
  // A shorter one ends it sooner.
  RateLimitDecision shorter = MustCheck(Fixed("c", 3, 1500));
  EXPECT_TRUE(shorter.allowed);
  EXPECT_EQ(shorter.remaining, 2);
  EXPECT_EQ(shorter.reset_after_ms, 1500);
  // A raised limit continues the same window.
  RateLimitDecision raised = MustCheck(Fixed("c", 10, 1500, 4));
  EXPECT_TRUE(raised.allowed);
  EXPECT_EQ(raised.remaining, 5);
}

TEST_F(RateLimiterTest, ResetForgetsOneAlgorithm) {
  RateLimitCheck bucket = Fixed("r", 1, 1000);
  bucket.algorithm = RateLimitAlgorithm::kTokenBucket;
  EXPECT_TRUE(MustCheck(Fixed("r", 1, 1000)).allowed);
  EXPECT_TRUE(MustCheck(bucket).allowed);
  EXPECT_TRUE(limiter_->Reset("r", RateLimitAlgorithm::kFixedWindow));
  EXPECT_FALSE(limiter_->Reset("r", RateLimitAlgorithm::kFixedWindow));
  EXPECT_FALSE(limiter_->Reset("r", RateLimitAlgorithm::kSlidingWindow));
  EXPECT_TRUE(MustCheck(Fixed("r", 1, 1000)).allowed);
  EXPECT_FALSE(MustCheck(bucket).allowed);
}

TEST_F(RateLimiterTest, CheckManyInOrderAndCumulative) {
  const std::vector<RateLimitCheck> checks = {Fixed("a", 3, 1000, 2), Fixed("b", 1, 1000),
                                              Fixed("a", 3, 1000, 2), Fixed("a", 3, 1000)};
  auto results = limiter_->CheckMany(checks, /*all_or_nothing=*/false);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 4u);
  EXPECT_TRUE((*results)[0].allowed);
  EXPECT_EQ((*results)[0].remaining, 1);
  EXPECT_TRUE((*results)[1].allowed);
  EXPECT_FALSE((*results)[2].allowed);  // 2 more do not fit after the first 2
  EXPECT_EQ((*results)[2].remaining, 1);
  EXPECT_TRUE((*results)[3].allowed);  // but 1 does
  EXPECT_EQ((*results)[3].remaining, 0);
  EXPECT_FALSE(MustCheck(Fixed("a", 3, 1000)).allowed);
  auto empty = limiter_->CheckMany({}, true);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST_F(RateLimiterTest, AllOrNothingTakesEverythingOrNothing) {
  EXPECT_TRUE(MustCheck(Fixed("org", 5, 1000, 4)).allowed);
  const std::vector<RateLimitCheck> both = {Fixed("user", 10, 1000), Fixed("org", 5, 1000)};
  auto taken = limiter_->CheckMany(both, true);
  ASSERT_TRUE(taken.ok());
  EXPECT_TRUE((*taken)[0].allowed);
  EXPECT_TRUE((*taken)[1].allowed);
  EXPECT_EQ((*taken)[0].remaining, 9);
  EXPECT_EQ((*taken)[1].remaining, 0);

  clock_.AdvanceMs(300);
  auto refused = limiter_->CheckMany(both, true);
  ASSERT_TRUE(refused.ok());
  // Every result is refused; remaining as it stands; retry_after only on the failed check.
  EXPECT_FALSE((*refused)[0].allowed);
  EXPECT_EQ((*refused)[0].remaining, 9);
  EXPECT_EQ((*refused)[0].retry_after_ms, 0);
  EXPECT_EQ((*refused)[0].reset_after_ms, 700);
  EXPECT_FALSE((*refused)[1].allowed);
  EXPECT_EQ((*refused)[1].remaining, 0);
  EXPECT_EQ((*refused)[1].retry_after_ms, 700);
  // Nothing was taken from "user".
  EXPECT_EQ(MustCheck(Fixed("user", 10, 1000, 0)).remaining, 9);
}

TEST_F(RateLimiterTest, AllOrNothingSameKeyCountsCumulatively) {
  const std::vector<RateLimitCheck> twice = {Fixed("x", 3, 1000, 2), Fixed("x", 3, 1000, 2)};
  auto refused = limiter_->CheckMany(twice, true);
  ASSERT_TRUE(refused.ok());
  EXPECT_FALSE((*refused)[0].allowed);
  EXPECT_EQ((*refused)[0].remaining, 3);  // as it stands: nothing taken
  EXPECT_EQ((*refused)[0].retry_after_ms, 0);
  EXPECT_FALSE((*refused)[1].allowed);
  EXPECT_EQ((*refused)[1].remaining, 3);
  EXPECT_EQ((*refused)[1].retry_after_ms, 1000);  // after the first 2's window
  EXPECT_EQ(RateLimitKeys(), 0u);
  const std::vector<RateLimitCheck> fits = {Fixed("x", 3, 1000, 2), Fixed("x", 3, 1000, 1)};
  auto taken = limiter_->CheckMany(fits, true);
  ASSERT_TRUE(taken.ok());
  EXPECT_TRUE((*taken)[1].allowed);
  EXPECT_EQ((*taken)[1].remaining, 0);
}

TEST_F(RateLimiterTest, BatchValidationNamesTheCheckAndTakesNothing) {
  const std::vector<RateLimitCheck> checks = {Fixed("ok", 1, 1000), Fixed("bad", 0, 1000)};
  auto result = limiter_->CheckMany(checks, false);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().message(), "checks[1].limit: must be > 0");
  EXPECT_EQ(RateLimitKeys(), 0u);
}

class TinyStoreRateLimiterTest : public RateLimiterTest {
 protected:
  TinyStoreRateLimiterTest() : RateLimiterTest(/*max_memory=*/1) {}
};

TEST_F(TinyStoreRateLimiterTest, FullStoreIsResourceExhaustedAndTakesNothing) {
  auto result = limiter_->Check(Fixed("k", 1, 1000));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kResourceExhausted);
  auto batch = limiter_->CheckMany({Fixed("k", 1, 1000), Fixed("j", 1, 1000)}, false);
  ASSERT_FALSE(batch.ok());
  EXPECT_EQ(batch.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(RateLimitStoreKeyTest, TagsSeparateAlgorithmsAndRoundTrip) {
  EXPECT_EQ(RateLimitStoreKey(RateLimitAlgorithm::kFixedWindow, "k"), "Fk");
  EXPECT_EQ(RateLimitStoreKey(RateLimitAlgorithm::kSlidingWindow, "k"), "Sk");
  EXPECT_EQ(RateLimitStoreKey(RateLimitAlgorithm::kTokenBucket, "k"), "Tk");
  EXPECT_EQ(RateLimitKeyFromStoreKey("Tk"), "k");
  EXPECT_EQ(RateLimitKeyFromStoreKey("?k"), "");
}

}  // namespace
}  // namespace hourglass::domain
