// Envoy ShouldRateLimit semantics (envoy_limits.h, envoy_rate_limiter.h) over a real store on a
// fake clock: descriptor matching, wall-clock-aligned windows, hits, shadow mode, overrides,
// unlimited, replaces, and config swaps that keep counters.

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/domain/envoy_limits.h"
#include "server/domain/envoy_rate_limiter.h"
#include "storage/clock.h"
#include "storage/store.h"

namespace hourglass::domain {
namespace {

EnvoyLimit Limit(uint32_t requests, EnvoyUnit unit, std::string name = "") {
  EnvoyLimit limit;
  limit.requests_per_unit = requests;
  limit.unit = unit;
  limit.name = std::move(name);
  return limit;
}

// domain "edge":
//   remote_address (any)             3 / second
//   path=/login                      2 / minute "login"
//   path=/api/*                      5 / minute
//   path (any)                      no limit, nested: method (any) 4 / minute
//   tier=free, nested user (any)    10 / hour (tier=free alone has no limit)
//   generic=unl                      unlimited
//   shadow (any)                     1 / second, shadow mode
//   a (any) 5 / minute "a_limit";   b (any) 100 / minute, replaces a_limit
//   long=w / long=m / long=y         1 / week, month, year
std::shared_ptr<EnvoyLimitsConfig> EdgeConfig(uint32_t login_limit = 2) {
  auto config = std::make_shared<EnvoyLimitsConfig>();
  EnvoyDescriptorLevel* edge = config->AddDomain("edge");
  edge->Add("remote_address", "")->limit = Limit(3, EnvoyUnit::kSecond);
  edge->Add("path", "/login")->limit = Limit(login_limit, EnvoyUnit::kMinute, "login");
  edge->Add("path", "/api/*")->limit = Limit(5, EnvoyUnit::kMinute);
  EnvoyDescriptorNode* any_path = edge->Add("path", "");
  any_path->children = std::make_unique<EnvoyDescriptorLevel>();
  any_path->children->Add("method", "")->limit = Limit(4, EnvoyUnit::kMinute);
  EnvoyDescriptorNode* free = edge->Add("tier", "free");
  free->children = std::make_unique<EnvoyDescriptorLevel>();
  free->children->Add("user", "")->limit = Limit(10, EnvoyUnit::kHour);
  EnvoyLimit unlimited;
  unlimited.unlimited = true;
  edge->Add("generic", "unl")->limit = unlimited;
  EnvoyLimit shadow = Limit(1, EnvoyUnit::kSecond);
  shadow.shadow_mode = true;
  edge->Add("shadow", "")->limit = shadow;
  edge->Add("a", "")->limit = Limit(5, EnvoyUnit::kMinute, "a_limit");
  EnvoyLimit replacing = Limit(100, EnvoyUnit::kMinute);
  replacing.replaces = {"a_limit"};
  edge->Add("b", "")->limit = replacing;
  edge->Add("long", "w")->limit = Limit(1, EnvoyUnit::kWeek);
  edge->Add("long", "m")->limit = Limit(1, EnvoyUnit::kMonth);
  edge->Add("long", "y")->limit = Limit(1, EnvoyUnit::kYear);
  return config;
}

EnvoyDescriptor D(std::vector<EnvoyEntry> entries, uint64_t hits = 1) {
  EnvoyDescriptor descriptor;
  descriptor.entries = std::move(entries);
  descriptor.hits = hits;
  return descriptor;
}

TEST(EnvoyLimitsConfigTest, MatchingFollowsTheReferenceService) {
  auto config = EdgeConfig();
  auto match = [&](std::vector<EnvoyEntry> entries) { return config->Match("edge", entries); };
  // Exact value first, then a '*' prefix, then any value.
  ASSERT_NE(match({{"path", "/login"}}), nullptr);
  EXPECT_EQ(match({{"path", "/login"}})->name, "login");
  ASSERT_NE(match({{"path", "/api/v1/users"}}), nullptr);
  EXPECT_EQ(match({{"path", "/api/v1/users"}})->requests_per_unit, 5u);
  EXPECT_EQ(match({{"path", "/other"}}), nullptr);  // any-value node without its own limit
  // Nested: the limit of the node the LAST entry matched.
  ASSERT_NE(match({{"path", "/other"}, {"method", "GET"}}), nullptr);
  EXPECT_EQ(match({{"path", "/other"}, {"method", "GET"}})->requests_per_unit, 4u);
  // /login has no nested descriptors: a second entry matches nothing.
  EXPECT_EQ(match({{"path", "/login"}, {"method", "GET"}}), nullptr);
  ASSERT_NE(match({{"tier", "free"}, {"user", "u1"}}), nullptr);
  EXPECT_EQ(match({{"tier", "free"}}), nullptr);
  EXPECT_EQ(match({{"tier", "paid"}, {"user", "u1"}}), nullptr);
  EXPECT_EQ(match({{"tier", "free"}, {"user", "u1"}, {"extra", "x"}}), nullptr);
  EXPECT_EQ(match({}), nullptr);
  const std::vector<EnvoyEntry> ip = {{"remote_address", "1.2.3.4"}};
  EXPECT_EQ(config->Match("other", ip), nullptr);
  EXPECT_TRUE(config->HasDomain("edge"));
  EXPECT_FALSE(config->HasDomain("Edge"));
}

TEST(EnvoyLimitsConfigTest, DuplicatesAreRefused) {
  EnvoyLimitsConfig config;
  EnvoyDescriptorLevel* level = config.AddDomain("d");
  ASSERT_NE(level, nullptr);
  EXPECT_EQ(config.AddDomain("d"), nullptr);
  EXPECT_NE(level->Add("k", "v"), nullptr);
  EXPECT_EQ(level->Add("k", "v"), nullptr);
  EXPECT_NE(level->Add("k", ""), nullptr);
  EXPECT_EQ(level->Add("k", ""), nullptr);
  EXPECT_NE(level->Add("k", "v*"), nullptr);
  EXPECT_EQ(level->Add("k", "v*"), nullptr);
}

TEST(EnvoyUnitTest, WeekMonthYearAreFixedLengths) {
  EXPECT_EQ(EnvoyUnitSeconds(EnvoyUnit::kSecond), 1);
  EXPECT_EQ(EnvoyUnitSeconds(EnvoyUnit::kWeek), 7 * 86400);
  EXPECT_EQ(EnvoyUnitSeconds(EnvoyUnit::kMonth), 30 * 86400);
  EXPECT_EQ(EnvoyUnitSeconds(EnvoyUnit::kYear), 365 * 86400);
  EXPECT_EQ(EnvoyUnitSeconds(EnvoyUnit::kUnknown), 0);
  EXPECT_EQ(EnvoyUnitName(EnvoyUnit::kMonth), "month");
}

class EnvoyRateLimiterTest : public ::testing::Test {
 protected:
  EnvoyRateLimiterTest() {
    storage::Store::Options options;
    options.clock = &clock_;
    options.reclaim_interval_ms = 0;
    store_ = std::move(storage::Store::Create(std::move(options))).value();
    limiter_ = std::make_unique<EnvoyRateLimiter>(*store_, EnvoyRateLimiter::Options{});
    limiter_->SetConfig(EdgeConfig());
  }

  EnvoyResponse Must(std::string_view domain, const std::vector<EnvoyDescriptor>& descriptors) {
    auto response = limiter_->ShouldRateLimit(domain, descriptors);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.value_or(EnvoyResponse{});
  }
  EnvoyDescriptorStatus One(const EnvoyDescriptor& descriptor) {
    EnvoyResponse response = Must("edge", {descriptor});
    EXPECT_EQ(response.statuses.size(), 1u);
    return response.statuses.empty() ? EnvoyDescriptorStatus{} : response.statuses[0];
  }
  uint64_t Counters() {
    return store_->GetStats().spaces[static_cast<int>(storage::Space::kRateLimit)].keys;
  }

  // Starts at 2026-01-01T00:00:00Z: a boundary of every unit.
  storage::FakeClock clock_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<EnvoyRateLimiter> limiter_;
};

TEST_F(EnvoyRateLimiterTest, UnknownDomainIsOkForEveryDescriptor) {
  EnvoyResponse response = Must("nope", {D({{"remote_address", "1.2.3.4"}}), D({})});
  EXPECT_EQ(response.overall_code, EnvoyCode::kOk);
  ASSERT_EQ(response.statuses.size(), 2u);
  for (const EnvoyDescriptorStatus& status : response.statuses) {
    EXPECT_EQ(status.code, EnvoyCode::kOk);
    EXPECT_FALSE(status.current_limit.has_value());
    EXPECT_EQ(status.limit_remaining, 0u);
  }
  // Even with an override: the domain must be known.
  EnvoyDescriptor with_override = D({{"x", "y"}});
  with_override.limit_override = EnvoyLimitOverride{0, EnvoyUnit::kSecond};
  EXPECT_EQ(Must("nope", {with_override}).overall_code, EnvoyCode::kOk);
  EXPECT_EQ(Counters(), 0u);
}

TEST_F(EnvoyRateLimiterTest, WindowsAlignToWallClockUnits) {
  const EnvoyDescriptor ip = D({{"remote_address", "10.0.0.1"}});
  clock_.AdvanceMs(400);  // 00:00:00.400
  EnvoyDescriptorStatus first = One(ip);
  EXPECT_EQ(first.code, EnvoyCode::kOk);
  ASSERT_TRUE(first.current_limit.has_value());
  EXPECT_EQ(first.current_limit->requests_per_unit, 3u);
  EXPECT_EQ(first.current_limit->unit, EnvoyUnit::kSecond);
  EXPECT_EQ(first.limit_remaining, 2u);
  EXPECT_EQ(first.duration_until_reset_ms, 600);
  EXPECT_EQ(One(ip).limit_remaining, 1u);
  EXPECT_EQ(One(ip).limit_remaining, 0u);
  clock_.AdvanceMs(599);  // 00:00:00.999: still the same second
  EnvoyDescriptorStatus over = One(ip);
  EXPECT_EQ(over.code, EnvoyCode::kOverLimit);
  EXPECT_EQ(over.limit_remaining, 0u);
  EXPECT_EQ(over.duration_until_reset_ms, 1);
  clock_.AdvanceMs(1);  // 00:00:01.000: a new window
  EnvoyDescriptorStatus next = One(ip);
  EXPECT_EQ(next.code, EnvoyCode::kOk);
  EXPECT_EQ(next.limit_remaining, 2u);
  EXPECT_EQ(next.duration_until_reset_ms, 1000);
  // Another address has its own counter.
  EXPECT_EQ(One(D({{"remote_address", "10.0.0.2"}})).limit_remaining, 2u);
}

TEST_F(EnvoyRateLimiterTest, CountersExpireAtTheEndOfTheirWindow) {
  One(D({{"remote_address", "10.0.0.1"}}));
  One(D({{"path", "/login"}}));
  EXPECT_EQ(Counters(), 2u);
  clock_.AdvanceMs(1000);
  store_->RunReclaimStep();
  EXPECT_EQ(Counters(), 1u);
  clock_.AdvanceMs(59'000);
  store_->RunReclaimStep();
  EXPECT_EQ(Counters(), 0u);
}

TEST_F(EnvoyRateLimiterTest, LongUnitsUseFixedLengths) {
  // 2026-01-01T00:00:00Z is 1767225600 s: a multiple of 7 days, 518400 s before a multiple of
  // 30 days, 30326400 s before a multiple of 365 days.
  EXPECT_EQ(One(D({{"long", "w"}})).duration_until_reset_ms, 604'800'000);
  EXPECT_EQ(One(D({{"long", "m"}})).duration_until_reset_ms, 518'400'000);
  EXPECT_EQ(One(D({{"long", "y"}})).duration_until_reset_ms, 30'326'400'000);
  EXPECT_EQ(One(D({{"long", "y"}})).code, EnvoyCode::kOverLimit);
}

TEST_F(EnvoyRateLimiterTest, EveryDescriptorIsEvaluatedAndHitsCountEvenWhenOver) {
  const EnvoyDescriptor login = D({{"path", "/login"}});
  const EnvoyDescriptor ip = D({{"remote_address", "1.1.1.1"}});
  EXPECT_EQ(One(login).limit_remaining, 1u);
  EXPECT_EQ(One(login).limit_remaining, 0u);
  EnvoyResponse response = Must("edge", {login, ip, D({{"nothing", "here"}})});
  EXPECT_EQ(response.overall_code, EnvoyCode::kOverLimit);
  ASSERT_EQ(response.statuses.size(), 3u);
  EXPECT_EQ(response.statuses[0].code, EnvoyCode::kOverLimit);
  EXPECT_EQ(response.statuses[0].current_limit->name, "login");
  EXPECT_EQ(response.statuses[1].code, EnvoyCode::kOk);  // still counted after the over one
  EXPECT_EQ(response.statuses[1].limit_remaining, 2u);
  EXPECT_EQ(response.statuses[2].code, EnvoyCode::kOk);  // unmatched
  EXPECT_FALSE(response.statuses[2].current_limit.has_value());
  // The over-limit hit was counted: a check-only descriptor sees 3 > 2.
  EnvoyDescriptorStatus peek = One(D({{"path", "/login"}}, /*hits=*/0));
  EXPECT_EQ(peek.code, EnvoyCode::kOverLimit);
  // With a limit raised to 3 by a reload, the count (3) is exactly at the limit: OK, 0 left.
  limiter_->SetConfig(EdgeConfig(/*login_limit=*/3));
  EnvoyDescriptorStatus at_limit = One(D({{"path", "/login"}}, 0));
  EXPECT_EQ(at_limit.code, EnvoyCode::kOk);
  EXPECT_EQ(at_limit.limit_remaining, 0u);
}

TEST_F(EnvoyRateLimiterTest, HitsAddendAndCheckOnly) {
  const EnvoyDescriptor api5 = D({{"path", "/api/x"}}, 5);
  EnvoyDescriptorStatus five = One(api5);
  EXPECT_EQ(five.code, EnvoyCode::kOk);
  EXPECT_EQ(five.limit_remaining, 0u);
  EnvoyDescriptorStatus check_only = One(D({{"path", "/api/x"}}, 0));
  EXPECT_EQ(check_only.code, EnvoyCode::kOk);
  EXPECT_EQ(check_only.limit_remaining, 0u);
  EXPECT_EQ(One(D({{"path", "/api/x"}}, 1)).code, EnvoyCode::kOverLimit);
  // A check-only descriptor on a fresh counter writes nothing.
  const uint64_t before = Counters();
  EXPECT_EQ(One(D({{"path", "/api/y"}}, 0)).limit_remaining, 5u);
  EXPECT_EQ(Counters(), before);
  // A huge addend saturates instead of wrapping.
  const EnvoyDescriptor huge = D({{"path", "/api/z"}}, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(One(huge).code, EnvoyCode::kOverLimit);
  EXPECT_EQ(One(huge).code, EnvoyCode::kOverLimit);
}

TEST_F(EnvoyRateLimiterTest, ShadowModeReportsOk) {
  const EnvoyDescriptor shadow = D({{"shadow", "s"}});
  EXPECT_FALSE(One(shadow).shadow_over);
  EnvoyResponse response = Must("edge", {shadow});
  EXPECT_EQ(response.overall_code, EnvoyCode::kOk);
  EXPECT_EQ(response.statuses[0].code, EnvoyCode::kOk);
  EXPECT_TRUE(response.statuses[0].shadow_over);
  EXPECT_EQ(response.statuses[0].limit_remaining, 0u);
  ASSERT_TRUE(response.statuses[0].current_limit.has_value());
}

TEST_F(EnvoyRateLimiterTest, UnlimitedIsOkWithMaxRemainingAndNotCounted) {
  EnvoyDescriptorStatus status = One(D({{"generic", "unl"}}, 1000));
  EXPECT_EQ(status.code, EnvoyCode::kOk);
  EXPECT_EQ(status.limit_remaining, 4294967295u);
  EXPECT_FALSE(status.current_limit.has_value());
  EXPECT_EQ(Counters(), 0u);
}

TEST_F(EnvoyRateLimiterTest, OverrideAppliesToMatchedAndUnmatchedDescriptors) {
  EnvoyDescriptor matched = D({{"path", "/login"}});
  matched.limit_override = EnvoyLimitOverride{1, EnvoyUnit::kHour};
  EnvoyDescriptorStatus first = One(matched);
  ASSERT_TRUE(first.current_limit.has_value());
  EXPECT_EQ(first.current_limit->requests_per_unit, 1u);
  EXPECT_EQ(first.current_limit->unit, EnvoyUnit::kHour);
  EXPECT_EQ(first.current_limit->name, "");
  EXPECT_EQ(first.duration_until_reset_ms, 3'600'000);
  EXPECT_EQ(One(matched).code, EnvoyCode::kOverLimit);
  EnvoyDescriptor unmatched = D({{"custom", "k"}});
  unmatched.limit_override = EnvoyLimitOverride{2, EnvoyUnit::kSecond};
  EXPECT_EQ(One(unmatched).limit_remaining, 1u);
  EXPECT_EQ(One(unmatched).limit_remaining, 0u);
  EXPECT_EQ(One(unmatched).code, EnvoyCode::kOverLimit);
  // An override never runs in shadow mode.
  EnvoyDescriptor shadow = D({{"shadow", "x"}});
  shadow.limit_override = EnvoyLimitOverride{0, EnvoyUnit::kSecond};
  EXPECT_EQ(One(shadow).code, EnvoyCode::kOverLimit);
}

TEST_F(EnvoyRateLimiterTest, ReplacedLimitIsNotEvaluated) {
  const EnvoyDescriptor a = D({{"a", "1"}}, 10);
  EXPECT_EQ(One(a).code, EnvoyCode::kOverLimit);  // alone: 10 > 5
  EnvoyResponse both = Must("edge", {a, D({{"b", "1"}})});
  EXPECT_EQ(both.overall_code, EnvoyCode::kOk);
  EXPECT_FALSE(both.statuses[0].current_limit.has_value());
  EXPECT_EQ(both.statuses[1].limit_remaining, 99u);
}

TEST_F(EnvoyRateLimiterTest, ConfigSwapKeepsCountersAndUnknownDomainsAfterRemoval) {
  const EnvoyDescriptor ip = D({{"remote_address", "9.9.9.9"}});
  One(ip);
  One(ip);
  limiter_->SetConfig(EdgeConfig());  // same descriptors, new objects
  EXPECT_EQ(One(ip).limit_remaining, 0u);
  limiter_->SetConfig(std::make_shared<EnvoyLimitsConfig>());
  EXPECT_EQ(One(ip).code, EnvoyCode::kOk);
  EXPECT_FALSE(One(ip).current_limit.has_value());
}

TEST_F(EnvoyRateLimiterTest, WallClockStepMovesWindowsNotDeadlines) {
  const EnvoyDescriptor ip = D({{"remote_address", "5.5.5.5"}});
  clock_.AdvanceMs(500);
  One(ip);
  // NTP steps the wall clock back 10 s: a different (earlier) window, its own counter.
  clock_.JumpWallMs(-10'000);
  EXPECT_EQ(One(ip).limit_remaining, 2u);
  // Both counters still expire on the monotonic clock, at most one unit from their write.
  clock_.AdvanceMs(1000);
  store_->RunReclaimStep();
  EXPECT_EQ(Counters(), 0u);
}

}  // namespace
}  // namespace hourglass::domain
