#include "server/validation.h"

#include <gtest/gtest.h>

#include "server/config.h"
#include "server/status.h"

namespace hourglass::server {
namespace {

using storage::FakeClock;

TEST(ValidationTest, KeyNamesFieldAndLimit) {
  EXPECT_TRUE(CheckKey("key", "abc", 3).ok());
  absl::Status empty = CheckKey("key", "", 3);
  EXPECT_EQ(empty.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(empty.message(), "key: required");
  absl::Status big = CheckKey("key", std::string(2048, 'k'), 1024);
  EXPECT_EQ(big.message(), "key: 2048 bytes exceeds max 1024");
  EXPECT_EQ(CheckItemCount("ops", 1001, 1000).message(), "ops: 1001 items exceeds max 1000");
}

google::protobuf::Duration D(int64_t seconds, int32_t nanos) {
  google::protobuf::Duration d;
  d.set_seconds(seconds);
  d.set_nanos(nanos);
  return d;
}

TEST(ValidationTest, DurationsRoundUpToMilliseconds) {
  const int64_t max = 87600LL * 3600 * 1000;
  EXPECT_EQ(*DurationToMs("ttl", D(1, 0), ZeroDuration::kRejected, max), 1000);
  EXPECT_EQ(*DurationToMs("ttl", D(0, 1), ZeroDuration::kRejected, max), 1);
  EXPECT_EQ(*DurationToMs("ttl", D(1, 1'000'001), ZeroDuration::kRejected, max), 1002);
  EXPECT_EQ(*DurationToMs("ttl", D(0, 0), ZeroDuration::kAllowed, max), 0);
}

TEST(ValidationTest, BadDurationsAreInvalidArgument) {
  const int64_t max = 87600LL * 3600 * 1000;
  for (auto d : {D(0, 0), D(-1, 0), D(0, -5), D(1, -1), D(9223372036854775, 0), D(0, 1'000'000'000),
                 D(87600LL * 3600 + 1, 0)}) {
    auto ms = DurationToMs("ttl", d, ZeroDuration::kRejected, max);
    EXPECT_EQ(ms.status().code(), absl::StatusCode::kInvalidArgument) << d.DebugString();
    EXPECT_EQ(ms.status().message().substr(0, 5), "ttl: ");
  }
  EXPECT_EQ(
      DurationToMs("ttl", D(87601 * 3600LL, 0), ZeroDuration::kRejected, max).status().message(),
      "ttl: 87601h exceeds max 87600h");
}

TEST(ValidationTest, TimestampsConvertAtTheRequest) {
  FakeClock clock;
  const int64_t max = 3600 * 1000;
  google::protobuf::Timestamp ts;
  ts.set_seconds(FakeClock::kStartWallMs / 1000 + 10);
  EXPECT_EQ(*TimestampToDeadline("expire_time", ts, clock, max), clock.MonotonicMs() + 10'000);
  ts.set_seconds(FakeClock::kStartWallMs / 1000 - 10);  // in the past: due now
  EXPECT_LE(*TimestampToDeadline("expire_time", ts, clock, max), clock.MonotonicMs());
  ts.set_seconds(FakeClock::kStartWallMs / 1000 + 3601);
  EXPECT_EQ(TimestampToDeadline("expire_time", ts, clock, max).status().code(),
            absl::StatusCode::kInvalidArgument);
  ts.set_seconds(253'402'300'800);  // year 10000
  EXPECT_EQ(TimestampToDeadline("expire_time", ts, clock, max).status().code(),
            absl::StatusCode::kInvalidArgument);
  google::protobuf::Timestamp back = DeadlineToTimestamp(clock.MonotonicMs() + 1500, clock);
  EXPECT_EQ(back.seconds(), FakeClock::kStartWallMs / 1000 + 1);
  EXPECT_EQ(back.nanos(), 500'000'000);
}

TEST(ConfigTest, ByteSizes) {
  EXPECT_EQ(ParseByteSize("1048576"), 1048576u);
  EXPECT_EQ(ParseByteSize("64kb"), 64u << 10);
  EXPECT_EQ(ParseByteSize("256MB"), 256u << 20);
  EXPECT_EQ(ParseByteSize("2gb"), 2ull << 30);
  EXPECT_EQ(ParseByteSize("2g"), 2ull << 30);
  for (const char* bad : {"", "mb", "-1", "1.5mb", "12tb", "99999999999999999999"}) {
    EXPECT_FALSE(ParseByteSize(bad).has_value()) << bad;
  }
}

TEST(ConfigTest, PoliciesAreCaseAndSeparatorInsensitive) {
  EXPECT_EQ(ParseEvictionPolicy("allkeys-lru"), storage::EvictionPolicy::kAllKeysLru);
  EXPECT_EQ(ParseEvictionPolicy("VOLATILE_TTL"), storage::EvictionPolicy::kVolatileTtl);
  EXPECT_EQ(ParseEvictionPolicy("NoEviction"), storage::EvictionPolicy::kNoEviction);
  EXPECT_FALSE(ParseEvictionPolicy("lru").has_value());
  EXPECT_EQ(EvictionPolicyName(storage::EvictionPolicy::kVolatileLfu), "volatile-lfu");
}

TEST(ConfigTest, TinyLfuPolicyParsesInBothSpellingsAndEveryPolicyRoundTrips) {
  EXPECT_EQ(ParseEvictionPolicy("allkeys-tinylfu"), storage::EvictionPolicy::kAllKeysTinyLfu);
  EXPECT_EQ(ParseEvictionPolicy("ALLKEYS_TINYLFU"), storage::EvictionPolicy::kAllKeysTinyLfu);
  EXPECT_EQ(EvictionPolicyName(storage::EvictionPolicy::kAllKeysTinyLfu), "allkeys-tinylfu");
  EXPECT_FALSE(ParseEvictionPolicy("tinylfu").has_value());
  for (int i = 0; i < storage::kNumEvictionPolicies; ++i) {
    const auto policy = static_cast<storage::EvictionPolicy>(i);
    EXPECT_EQ(ParseEvictionPolicy(EvictionPolicyName(policy)), policy) << i;
  }
}

TEST(ConfigTest, DefaultShardsArePowerOfTwoAtLeastFourPerCore) {
  const size_t shards = DefaultShardCount();
  EXPECT_EQ(shards & (shards - 1), 0u);
  EXPECT_GE(shards, 4u);
  EXPECT_GT(AvailableMemoryBytes(), 0u);
}

TEST(StatusTest, MapsEveryCanonicalCode) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  grpc::Status s = ToGrpcStatus(absl::ResourceExhaustedError("full"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(s.error_message(), "full");
  EXPECT_EQ(ToGrpcStatus(absl::UnavailableError("x")).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ToGrpcStatus(absl::DeadlineExceededError("x")).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
}

}  // namespace
}  // namespace hourglass::server
