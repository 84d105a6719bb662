// AdminService unary handlers called directly (grpc's DefaultReactorTestPeer) over a real store
// on a FakeClock: stats, live config and its validation, SaveSnapshot without a snapshot path.

#include "server/admin_service.h"

#include <grpcpp/test/default_reactor_test_peer.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "server/event_hub.h"
#include "storage/clock.h"
#include "storage/store.h"

namespace hourglass::server {
namespace {

namespace v1 = ::hourglass::v1;
using storage::FakeClock;

class AdminServiceTest : public ::testing::Test {
 protected:
  AdminServiceTest() : hub_(clock_) {
    storage::Store::Options options;
    options.clock = &clock_;
    options.shards = 4;
    options.max_memory_bytes = 1 << 20;
    options.eviction_policy = storage::EvictionPolicy::kVolatileLru;
    options.reclaim_interval_ms = 0;
    auto store = storage::Store::Create(std::move(options));
    EXPECT_TRUE(store.ok()) << store.status();
    store_ = std::move(store).value();
    service_ = std::make_unique<AdminService>(*store_, hub_);
  }

  template <typename Request, typename Response>
  grpc::Status Call(grpc::ServerUnaryReactor* (AdminService::*method)(grpc::CallbackServerContext*,
                                                                      const Request*, Response*),
                    const Request& request, Response* response) {
    grpc::CallbackServerContext context;
    grpc::testing::DefaultReactorTestPeer peer(&context);
    (service_.get()->*method)(&context, &request, response);
    EXPECT_TRUE(peer.test_status_set());
    return peer.test_status();
  }

  v1::GetConfigResponse GetConfig() {
    v1::GetConfigResponse response;
    EXPECT_TRUE(Call(&AdminService::GetConfig, v1::GetConfigRequest(), &response).ok());
    return response;
  }

  v1::GetStatsResponse GetStats() {
    v1::GetStatsResponse response;
    EXPECT_TRUE(Call(&AdminService::GetStats, v1::GetStatsRequest(), &response).ok());
    return response;
  }

  FakeClock clock_;
  EventHub hub_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<AdminService> service_;
};

TEST_F(AdminServiceTest, GetConfigReportsTheStore) {
  v1::GetConfigResponse config = GetConfig();
  EXPECT_EQ(config.maxmemory_bytes(), 1 << 20);
  EXPECT_EQ(config.eviction_policy(), v1::EVICTION_POLICY_VOLATILE_LRU);
}

TEST_F(AdminServiceTest, UpdateConfigAppliesSetFieldsLive) {
  v1::UpdateConfigRequest request;
  request.set_eviction_policy(v1::EVICTION_POLICY_ALLKEYS_LFU);
  v1::UpdateConfigResponse response;
  ASSERT_TRUE(Call(&AdminService::UpdateConfig, request, &response).ok());
  EXPECT_EQ(response.maxmemory_bytes(), 1 << 20);  // unset: unchanged
  EXPECT_EQ(response.eviction_policy(), v1::EVICTION_POLICY_ALLKEYS_LFU);
  EXPECT_EQ(store_->eviction_policy(), storage::EvictionPolicy::kAllKeysLfu);

  request.Clear();
  request.set_maxmemory_bytes(2 << 20);
  ASSERT_TRUE(Call(&AdminService::UpdateConfig, request, &response).ok());
  EXPECT_EQ(response.maxmemory_bytes(), 2 << 20);
  EXPECT_EQ(response.eviction_policy(), v1::EVICTION_POLICY_ALLKEYS_LFU);
  EXPECT_EQ(GetConfig().maxmemory_bytes(), 2 << 20);
  EXPECT_EQ(GetStats().maxmemory_bytes(), 2 << 20);

  request.Clear();  // nothing set: a read of the config
  ASSERT_TRUE(Call(&AdminService::UpdateConfig, request, &response).ok());
  EXPECT_EQ(response.maxmemory_bytes(), 2 << 20);
}

TEST_F(AdminServiceTest, UpdateConfigRejectsBadValuesAndChangesNothing) {
  struct Case {
    std::optional<int64_t> maxmemory;
    std::optional<int> policy;
    std::string message;
  };
  const Case cases[] = {
      {0, v1::EVICTION_POLICY_NOEVICTION, "maxmemory_bytes: must be > 0 (got 0)"},
      {-5, std::nullopt, "maxmemory_bytes: must be > 0 (got -5)"},
      {4096, v1::EVICTION_POLICY_UNSPECIFIED,
       "eviction_policy: EVICTION_POLICY_UNSPECIFIED is not a policy"},
      {4096, 99, "eviction_policy: unknown enum value 99"},
  };
  for (const Case& c : cases) {
    v1::UpdateConfigRequest request;
    if (c.maxmemory) request.set_maxmemory_bytes(*c.maxmemory);
    if (c.policy) request.set_eviction_policy(static_cast<v1::EvictionPolicy>(*c.policy));
    v1::UpdateConfigResponse response;
    grpc::Status status = Call(&AdminService::UpdateConfig, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.message;
    EXPECT_EQ(status.error_message(), c.message);
  }
  EXPECT_EQ(store_->max_memory(), 1u << 20);
  EXPECT_EQ(store_->eviction_policy(), storage::EvictionPolicy::kVolatileLru);
}

TEST_F(AdminServiceTest, GetStatsListsThePublicSpacesAndCountsTheIndexInUsedMemory) {
  storage::SetOptions with_ttl;
  with_ttl.expiry = storage::Expiry::Ttl(60'000);
  ASSERT_TRUE(store_->Set({storage::Space::kKv, "a"}, "1", with_ttl).ok());
  ASSERT_TRUE(store_->Set({storage::Space::kKv, "b"}, "2").ok());
  ASSERT_TRUE(store_->Set({storage::Space::kCache, "c"}, "3").ok());
  ASSERT_TRUE(store_->Set({storage::Space::kIndex, "idx"}, std::string(100, 'i')).ok());
  ASSERT_TRUE(store_->Get({storage::Space::kKv, "a"}).ok());        // a hit
  ASSERT_TRUE(store_->Get({storage::Space::kKv, "missing"}).ok());  // a miss
  clock_.AdvanceMs(90'500);

  v1::GetStatsResponse stats = GetStats();
  ASSERT_EQ(stats.spaces_size(), 5);
  const v1::Space expected[] = {v1::SPACE_KV, v1::SPACE_SESSION, v1::SPACE_TOKEN,
                                v1::SPACE_RATE_LIMIT, v1::SPACE_CACHE};
  int64_t space_bytes = 0;
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(stats.spaces(i).space(), expected[i]);
    space_bytes += stats.spaces(i).bytes();
  }
  // "a" has expired by now (read lazily or not): count what the store reports.
  const storage::StoreStats raw = store_->GetStats();
  EXPECT_EQ(stats.spaces(0).keys(), static_cast<int64_t>(raw.spaces[0].keys));
  EXPECT_EQ(stats.spaces(4).keys(), 1);
  EXPECT_GT(stats.used_memory_bytes(), space_bytes);  // the index's bytes count too
  EXPECT_EQ(stats.used_memory_bytes(), static_cast<int64_t>(raw.used_bytes));
  EXPECT_EQ(stats.maxmemory_bytes(), 1 << 20);
  EXPECT_GE(stats.hits(), 1);
  EXPECT_GE(stats.misses(), 1);
  EXPECT_EQ(stats.shard_keys_size(), 4);
  EXPECT_EQ(stats.uptime().seconds(), 90);
  EXPECT_EQ(stats.uptime().nanos(), 500'000'000);
}

TEST_F(AdminServiceTest, SaveSnapshotWithoutASnapshotPathIsAFailedPrecondition) {
  // Constructed without a Snapshotter; saves themselves: tests/integration/snapshot_test.cc.
  v1::SaveSnapshotResponse response;
  grpc::Status status = Call(&AdminService::SaveSnapshot, v1::SaveSnapshotRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(status.error_message().find("--snapshot_path"), std::string::npos);
}

}  // namespace
}  // namespace hourglass::server
