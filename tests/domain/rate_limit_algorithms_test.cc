// The three algorithms as value types, at fixed instants (no store, no clock): every window
// boundary, the exactness of remaining / reset_after / retry_after, and the stored encoding.

#include <cstdint>
#include <random>
#include <string>
#include <type_traits>

#include "gtest/gtest.h"
#include "server/domain/fixed_window.h"
#include "server/domain/rate_limit_types.h"
#include "server/domain/sliding_window.h"
#include "server/domain/token_bucket.h"

namespace hourglass::domain {
namespace {

constexpr int64_t kT0 = 1'000'000;  // any instant

LimitParams Params(int64_t limit, int64_t period_ms, int64_t burst = 0) {
  return LimitParams{limit, period_ms, burst == 0 ? limit : burst};
}

// Compares the fields of a decision in one readable assertion.
void ExpectDecision(const RateLimitDecision& d, bool allowed, int64_t remaining, int64_t reset,
                    int64_t retry) {
  EXPECT_EQ(d.allowed, allowed);
  EXPECT_EQ(d.remaining, remaining);
  EXPECT_EQ(d.reset_after_ms, reset);
  EXPECT_EQ(d.retry_after_ms, retry);
}

// ---- FIXED_WINDOW ----

TEST(FixedWindowTest, CountsWithinTheWindowThatStartsAtTheFirstHit) {
  FixedWindow w;
  const LimitParams p = Params(3, 1000);
  ExpectDecision(w.Check(p, 1, kT0 + 17), true, 2, 1000, 0);
  ExpectDecision(w.Check(p, 1, kT0 + 500), true, 1, 517, 0);
  ExpectDecision(w.Check(p, 1, kT0 + 1016), true, 0, 1, 0);
  // Full: denied until the window's last millisecond has passed.
  ExpectDecision(w.Check(p, 1, kT0 + 1016), false, 0, 1, 1);
  // The window is [17, 1017): at 1017 a new one starts at that hit.
  ExpectDecision(w.Check(p, 1, kT0 + 1017), true, 2, 1000, 0);
  EXPECT_EQ(w.Deadline(p), kT0 + 2017);
}

TEST(FixedWindowTest, DeniedTakesNothingAndHitsOverLimitCanNeverPass) {
  FixedWindow w;
  const LimitParams p = Params(5, 1000);
  ExpectDecision(w.Check(p, 4, kT0), true, 1, 1000, 0);
  ExpectDecision(w.Check(p, 2, kT0 + 100), false, 1, 900, 900);
  ExpectDecision(w.Check(p, 1, kT0 + 100), true, 0, 900, 0);  // the denied 2 took nothing
  // More than the limit: denied, retry_after = reset_after (it can never pass).
  ExpectDecision(w.Check(p, 6, kT0 + 200), false, 0, 800, 800);
  FixedWindow empty;
  ExpectDecision(empty.Check(p, 6, kT0), false, 5, 0, 0);
}

TEST(FixedWindowTest, PeekReportsWithoutTaking) {
  FixedWindow w;
  const LimitParams p = Params(2, 1000);
  ExpectDecision(w.Check(p, 0, kT0), true, 2, 0, 0);  // nothing counts yet
  ExpectDecision(w.Check(p, 2, kT0), true, 0, 1000, 0);
  ExpectDecision(w.Check(p, 0, kT0 + 10), false, 0, 990, 990);
  ExpectDecision(w.Check(p, 0, kT0 + 1000), true, 2, 0, 0);
}

TEST(FixedWindowTest, ChangedLimitOrPeriodAppliesToTheWindowAsItStands) {
  FixedWindow w;
  ASSERT_TRUE(w.Check(Params(10, 1000), 6, kT0).allowed);
  // Lowered under the count: nothing remains, never negative.
  ExpectDecision(w.Check(Params(4, 1000), 1, kT0 + 100), false, 0, 900, 900);
  // Raised: the same window continues with the same count.
  ExpectDecision(w.Check(Params(20, 1000), 1, kT0 + 200), true, 13, 800, 0);
  // A longer period extends the current window, a shorter one ends it sooner.
  ExpectDecision(w.Check(Params(20, 5000), 0, kT0 + 2000), true, 13, 3000, 0);
  ExpectDecision(w.Check(Params(20, 500), 0, kT0 + 600), true, 20, 0, 0);
}

TEST(FixedWindowTest, EncodingIsRelativeToTheDeadline) {
  FixedWindow w;
  const LimitParams p = Params(10, 1000);
  ASSERT_TRUE(w.Check(p, 3, kT0).allowed);
  const std::string value = w.Encode(w.Deadline(p));
  EXPECT_LE(value.size(), 3u);  // a few bytes of state
  auto same = FixedWindow::Decode(value, kT0 + 1000);
  ASSERT_TRUE(same.has_value());
  ExpectDecision(same->Check(p, 0, kT0 + 400), true, 7, 600, 0);
  // Carried to another clock (a restore): the same state relative to its deadline.
  auto moved = FixedWindow::Decode(value, 5'000'000 + 1000);
  ASSERT_TRUE(moved.has_value());
  ExpectDecision(moved->Check(p, 0, 5'000'400), true, 7, 600, 0);
  EXPECT_FALSE(FixedWindow::Decode("", kT0).has_value());
  EXPECT_FALSE(FixedWindow::Decode(std::string("\x03\x80", 2), kT0).has_value());
  EXPECT_FALSE(FixedWindow::Decode(value + "x", kT0 + 1000).has_value());
}

// ---- SLIDING_WINDOW ----

TEST(SlidingWindowTest, PreviousWindowWeighsByItsOverlap) {
  SlidingWindow w;
  const LimitParams p = Params(10, 1000);
  ExpectDecision(w.Check(p, 10, kT0), true, 0, 2000, 0);
  // Next window, e = 0: the previous 10 weigh fully. One hit passes once 10 x (1000 - e) / 1000
  // <= 9, i.e. at e = 100.
  ExpectDecision(w.Check(p, 1, kT0 + 1000), false, 0, 1000, 100);
  ExpectDecision(w.Check(p, 1, kT0 + 1099), false, 0, 901, 1);
  ExpectDecision(w.Check(p, 1, kT0 + 1100), true, 0, 1900, 0);
  // Half-way through: previous weighs 5, current 1 -> 4 remain.
  ExpectDecision(w.Check(p, 0, kT0 + 1500), true, 4, 1500, 0);
  // 10 more need both the previous and the current hit gone: the window after next.
  ExpectDecision(w.Check(p, 10, kT0 + 1500), false, 4, 1500, 1500);
  // Two windows on, nothing counts.
  ExpectDecision(w.Check(p, 0, kT0 + 3000), true, 10, 0, 0);
}

TEST(SlidingWindowTest, RetryInTheNextWindowWhenTheCurrentHitsAloneAreTooMany) {
  SlidingWindow w;
  const LimitParams p = Params(10, 1000);
  ASSERT_TRUE(w.Check(p, 8, kT0).allowed);
  // 3 more exceed 10 within this window whatever the (empty) previous window weighs. In the
  // next window the 8 weigh 8 x (1000 - e) / 1000; 3 pass when that is <= 7: e >= 125.
  ExpectDecision(w.Check(p, 3, kT0 + 200), false, 2, 1800, 800 + 125);
  ExpectDecision(w.Check(p, 3, kT0 + 1124), false, 2, 876, 1);
  ExpectDecision(w.Check(p, 3, kT0 + 1125), true, 0, 1875, 0);
  // More than the limit: never.
  ExpectDecision(w.Check(p, 11, kT0 + 1125), false, 0, 1875, 1875);
}

TEST(SlidingWindowTest, ChangedLimitAndPeriod) {
  SlidingWindow w;
  ASSERT_TRUE(w.Check(Params(10, 1000), 6, kT0).allowed);
  // Lowered to 5: one more hit passes in the next window once 6 x (1000 - e) / 1000 <= 4.
  ExpectDecision(w.Check(Params(5, 1000), 1, kT0 + 10), false, 0, 1990, 990 + 334);
  ExpectDecision(w.Check(Params(20, 1000), 0, kT0 + 10), true, 14, 1990, 0);
  // A period of 4 s re-cuts the windows from the same start: still the first window.
  ExpectDecision(w.Check(Params(20, 4000), 0, kT0 + 2500), true, 14, 5500, 0);
}

TEST(SlidingWindowTest, EncodingIsRelativeToTheDeadline) {
  SlidingWindow w;
  const LimitParams p = Params(100, 1000);
  ASSERT_TRUE(w.Check(p, 40, kT0).allowed);
  ASSERT_TRUE(w.Check(p, 30, kT0 + 1200).allowed);  // previous 40, current 30, start kT0+1000
  const int64_t deadline = w.Deadline(p);
  EXPECT_EQ(deadline, kT0 + 3000);
  const std::string value = w.Encode(deadline);
  EXPECT_LE(value.size(), 4u);
  auto same = SlidingWindow::Decode(value, deadline);
  ASSERT_TRUE(same.has_value());
  // At e = 500: 40 x 0.5 + 30 = 50.
  ExpectDecision(same->Check(p, 0, kT0 + 1500), true, 50, 1500, 0);
  EXPECT_FALSE(SlidingWindow::Decode("\x01\x01", deadline).has_value());
}

// ---- TOKEN_BUCKET (GCRA) ----

TEST(TokenBucketTest, RefillsOneHitPerEmissionInterval) {
  TokenBucket b;
  const LimitParams p = Params(10, 1000);  // T = 100 ms
  ExpectDecision(b.Check(p, 10, kT0), true, 0, 1000, 0);
  ExpectDecision(b.Check(p, 1, kT0), false, 0, 1000, 100);
  ExpectDecision(b.Check(p, 1, kT0 + 99), false, 0, 901, 1);
  ExpectDecision(b.Check(p, 1, kT0 + 100), true, 0, 1000, 0);
  ExpectDecision(b.Check(p, 0, kT0 + 650), true, 5, 450, 0);
  ExpectDecision(b.Check(p, 0, kT0 + 1100), true, 10, 0, 0);
  EXPECT_EQ(b.Deadline(p), kT0 + 1100);
}

TEST(TokenBucketTest, FractionalIntervalIsExact) {
  TokenBucket b;
  const LimitParams p = Params(3, 1000);  // T = 333.33... ms
  ExpectDecision(b.Check(p, 3, kT0), true, 0, 1000, 0);
  ExpectDecision(b.Check(p, 1, kT0), false, 0, 1000, 334);
  ExpectDecision(b.Check(p, 1, kT0 + 333), false, 0, 667, 1);
  ExpectDecision(b.Check(p, 1, kT0 + 334), true, 0, 1000, 0);  // TAT = 1333.33
  // No drift: once empty, the i-th next hit is due at exactly i x 333.33 ms, over 1000 s.
  TokenBucket steady;
  ASSERT_TRUE(steady.Check(p, 3, kT0).allowed);
  for (int64_t i = 1; i <= 3000; ++i) {
    const int64_t due = kT0 + (i * 1000 + 2) / 3;  // ceil(i x 333.33)
    ASSERT_FALSE(steady.Check(p, 1, due - 1).allowed) << i;
    ASSERT_TRUE(steady.Check(p, 1, due).allowed) << i;
  }
}

TEST(TokenBucketTest, BurstIsTheCapacity) {
  TokenBucket b;
  const LimitParams p = Params(1, 1000, 5);
  ExpectDecision(b.Check(p, 5, kT0), true, 0, 5000, 0);
  EXPECT_EQ(b.Check(p, 1, kT0).limit, 5);
  ExpectDecision(b.Check(p, 2, kT0 + 1000), false, 1, 4000, 1000);
  ExpectDecision(b.Check(p, 6, kT0 + 1000), false, 1, 4000, 4000);  // > burst: never
  TokenBucket empty;
  ExpectDecision(empty.Check(p, 6, kT0), false, 5, 0, 0);
}

TEST(TokenBucketTest, ChangedLimitRescalesTheArrivalTime) {
  TokenBucket b;
  ASSERT_TRUE(b.Check(Params(3, 1000), 2, kT0).allowed);  // TAT = 666.67
  const std::string value = b.Encode(b.Deadline(Params(3, 1000)));
  auto loaded = TokenBucket::Decode(value, kT0 + 667);
  ASSERT_TRUE(loaded.has_value());
  // Now 10 per second, burst 10: TAT 666.67 rounds toward later in tenths of ms -> 666.7 ms
  // of debt = 6.667 hits: 3 remain.
  ExpectDecision(loaded->Check(Params(10, 1000), 0, kT0), true, 3, 667, 0);
  EXPECT_FALSE(TokenBucket::Decode(std::string("\x00\x00", 2), kT0).has_value());
}

// ---- Exactness of every reported duration, over random sequences ----

// The algorithm-independent facts a decision promises, checked by replaying copies of the state:
//   remaining: `remaining` hits pass now and `remaining + 1` do not (when below the capacity);
//   retry_after: the same check passes at now + retry_after and not 1 ms before;
//   reset_after: at now + reset_after everything is available, 1 ms before not yet.
template <typename State>
void CheckPromises(const State& state, const LimitParams& p, int64_t hits, int64_t now,
                   const RateLimitDecision& d) {
  const int64_t capacity = p.burst;
  ASSERT_GE(d.remaining, 0);
  ASSERT_LE(d.remaining, capacity);
  if (d.remaining > 0) {
    State copy = state;
    EXPECT_TRUE(copy.Check(p, d.remaining, now).allowed);
  }
  if (d.remaining < capacity) {
    State copy = state;
    EXPECT_FALSE(copy.Check(p, d.remaining + 1, now).allowed);
  }
  {
    State copy = state;
    EXPECT_EQ(copy.Check(p, 0, now + d.reset_after_ms).remaining, capacity);
  }
  if (d.reset_after_ms > 0) {
    State copy = state;
    EXPECT_LT(copy.Check(p, 0, now + d.reset_after_ms - 1).remaining, capacity);
  }
  if (!d.allowed && hits <= capacity) {
    ASSERT_GT(d.retry_after_ms, 0);
    State later = state;
    EXPECT_TRUE(later.Check(p, hits, now + d.retry_after_ms).allowed);
    State earlier = state;
    EXPECT_FALSE(earlier.Check(p, hits, now + d.retry_after_ms - 1).allowed);
  }
}

template <typename State>
void RandomizedPromises(uint32_t seed) {
  std::mt19937 rng(seed);
  for (int round = 0; round < 200; ++round) {
    const int64_t limit = std::uniform_int_distribution<int64_t>(1, 12)(rng);
    const int64_t period = std::uniform_int_distribution<int64_t>(1, 3000)(rng);
    const int64_t burst = std::is_same_v<State, TokenBucket>
                              ? std::uniform_int_distribution<int64_t>(1, 15)(rng)
                              : limit;
    const LimitParams p{limit, period, burst};
    State state;
    int64_t now = kT0;
    for (int step = 0; step < 40; ++step) {
      now += std::uniform_int_distribution<int64_t>(0, period / 2 + 1)(rng);
      const int64_t hits = std::uniform_int_distribution<int64_t>(0, burst + 1)(rng);
      const State before = state;
      const RateLimitDecision d = state.Check(p, hits, now);
      SCOPED_TRACE(::testing::Message()
                   << "seed " << seed << " round " << round << " step " << step << " limit "
                   << limit << " period " << period << " burst " << burst << " hits " << hits);
      // Promises about the state after the check, as reported (a peek reports the same).
      CheckPromises(state, p, d.allowed ? 0 : hits, now, d);
      if (!d.allowed) {
        // A denied check took nothing: the state answers exactly as before.
        State copy = before;
        const RateLimitDecision again = copy.Check(p, hits, now);
        EXPECT_EQ(again.remaining, d.remaining);
        EXPECT_EQ(again.retry_after_ms, d.retry_after_ms);
      }
      if (::testing::Test::HasFailure()) return;
    }
  }
}

TEST(RateLimitPromisesTest, FixedWindow) { RandomizedPromises<FixedWindow>(1); }
TEST(RateLimitPromisesTest, SlidingWindow) { RandomizedPromises<SlidingWindow>(2); }
TEST(RateLimitPromisesTest, TokenBucket) { RandomizedPromises<TokenBucket>(3); }

}  // namespace
}  // namespace hourglass::domain
