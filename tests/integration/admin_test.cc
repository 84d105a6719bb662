// AdminService over real gRPC against the real server: stats, live config, SaveSnapshot
// without --snapshot_path, and the WatchEvents stream (DELETED and EXPIRED events, filtering, a
// slow consumer's `dropped` counts with exact totals, cancels that leave nothing behind, and the
// drain ending every stream with UNAVAILABLE).

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "hourglass/v1/admin.grpc.pb.h"
#include "hourglass/v1/kv.grpc.pb.h"
#include "tests/integration/test_server.h"

namespace hourglass::testing {
namespace {

namespace v1 = ::hourglass::v1;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::system_clock;

class AdminTest : public ::testing::Test {
 protected:
  AdminTest()
      : admin_(v1::AdminService::NewStub(server_.channel())),
        kv_(v1::KeyValueService::NewStub(server_.channel())) {}

  void Set(const std::string& key, const std::string& value, int64_t ttl_ms = 0) {
    v1::SetRequest request;
    request.set_key(key);
    request.set_value(value);
    if (ttl_ms > 0) {
      request.mutable_ttl()->set_seconds(ttl_ms / 1000);
      request.mutable_ttl()->set_nanos(static_cast<int32_t>(ttl_ms % 1000) * 1'000'000);
    }
    grpc::ClientContext context;
    v1::SetResponse response;
    ASSERT_TRUE(kv_->Set(&context, request, &response).ok());
  }

  void Delete(const std::vector<std::string>& keys) {
    v1::DeleteRequest request;
    for (const std::string& key : keys) request.add_keys(key);
    grpc::ClientContext context;
    v1::DeleteResponse response;
    ASSERT_TRUE(kv_->Delete(&context, request, &response).ok());
  }

  grpc::Status UpdateConfig(const v1::UpdateConfigRequest& request,
                            v1::UpdateConfigResponse* response) {
    grpc::ClientContext context;
    return admin_->UpdateConfig(&context, request, response);
  }

  v1::GetStatsResponse GetStats() {
    grpc::ClientContext context;
    v1::GetStatsResponse stats;
    EXPECT_TRUE(admin_->GetStats(&context, {}, &stats).ok());
    return stats;
  }

  TestServer server_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
  std::unique_ptr<v1::KeyValueService::Stub> kv_;
};

// A WatchEvents stream whose subscription is live once constructed (the server sends the
// headers after subscribing).
class Watch {
 public:
  Watch(v1::AdminService::Stub& admin, std::vector<v1::Space> spaces,
        milliseconds timeout = milliseconds(20'000)) {
    context_.set_deadline(system_clock::now() + timeout);
    v1::WatchEventsRequest request;
    for (v1::Space space : spaces) request.add_spaces(space);
    reader_ = admin.WatchEvents(&context_, request);
    reader_->WaitForInitialMetadata();
  }

  bool Read(v1::WatchEventsResponse* response) { return reader_->Read(response); }
  grpc::Status Finish() { return reader_->Finish(); }
  grpc::ClientContext& context() { return context_; }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::WatchEventsResponse>> reader_;
};

TEST_F(AdminTest, GetStatsCountsKeysPerSpace) {
  Set("a", "1", 60'000);
  Set("b", "2");
  v1::GetStatsResponse stats = GetStats();
  ASSERT_EQ(stats.spaces_size(), 5);
  EXPECT_EQ(stats.spaces(0).space(), v1::SPACE_KV);
  EXPECT_EQ(stats.spaces(0).keys(), 2);
  EXPECT_EQ(stats.spaces(0).keys_with_expiry(), 1);
  EXPECT_GT(stats.spaces(0).bytes(), 0);
  EXPECT_GE(stats.used_memory_bytes(), stats.spaces(0).bytes());
  EXPECT_EQ(stats.maxmemory_bytes(), 64 << 20);
  EXPECT_EQ(stats.shard_keys_size(), 4);
  int64_t shard_total = 0;
  for (int64_t keys : stats.shard_keys()) shard_total += keys;
  EXPECT_EQ(shard_total, 2);
  EXPECT_TRUE(stats.has_uptime());
}

TEST_F(AdminTest, UpdateConfigIsLiveInGetConfigAndGetStats) {
  grpc::ClientContext context;
  v1::GetConfigResponse config;
  ASSERT_TRUE(admin_->GetConfig(&context, {}, &config).ok());
  EXPECT_EQ(config.maxmemory_bytes(), 64 << 20);
  EXPECT_EQ(config.eviction_policy(), v1::EVICTION_POLICY_VOLATILE_LRU);

  v1::UpdateConfigRequest request;
  request.set_maxmemory_bytes(32 << 20);
  request.set_eviction_policy(v1::EVICTION_POLICY_ALLKEYS_LRU);
  v1::UpdateConfigResponse updated;
  ASSERT_TRUE(UpdateConfig(request, &updated).ok());
  EXPECT_EQ(updated.maxmemory_bytes(), 32 << 20);
  EXPECT_EQ(updated.eviction_policy(), v1::EVICTION_POLICY_ALLKEYS_LRU);
  grpc::ClientContext context2;
  ASSERT_TRUE(admin_->GetConfig(&context2, {}, &config).ok());
  EXPECT_EQ(config.maxmemory_bytes(), 32 << 20);
  EXPECT_EQ(config.eviction_policy(), v1::EVICTION_POLICY_ALLKEYS_LRU);
  EXPECT_EQ(GetStats().maxmemory_bytes(), 32 << 20);

  request.Clear();
  request.set_maxmemory_bytes(0);
  EXPECT_EQ(UpdateConfig(request, &updated).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  request.Clear();
  request.set_eviction_policy(v1::EVICTION_POLICY_UNSPECIFIED);
  EXPECT_EQ(UpdateConfig(request, &updated).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  request.set_eviction_policy(static_cast<v1::EvictionPolicy>(77));
  EXPECT_EQ(UpdateConfig(request, &updated).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(GetStats().maxmemory_bytes(), 32 << 20);
}

TEST_F(AdminTest, ShrinkingMaxmemoryUnderNoevictionRefusesWritesAndKeepsReads) {
  Set("kept", std::string(1000, 'v'));
  v1::UpdateConfigRequest request;
  request.set_eviction_policy(v1::EVICTION_POLICY_NOEVICTION);
  request.set_maxmemory_bytes(GetStats().used_memory_bytes());
  v1::UpdateConfigResponse updated;
  ASSERT_TRUE(UpdateConfig(request, &updated).ok());

  v1::SetRequest set;
  set.set_key("more");
  set.set_value(std::string(1000, 'v'));
  grpc::ClientContext context;
  v1::SetResponse set_response;
  EXPECT_EQ(kv_->Set(&context, set, &set_response).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  v1::GetRequest get;
  get.set_key("kept");
  grpc::ClientContext context2;
  v1::GetResponse got;
  ASSERT_TRUE(kv_->Get(&context2, get, &got).ok());
  EXPECT_TRUE(got.found());
  v1::GetStatsResponse stats = GetStats();
  EXPECT_GE(stats.rejected_writes(), 1);
  EXPECT_LE(stats.used_memory_bytes(), stats.maxmemory_bytes());

  request.Clear();
  request.set_maxmemory_bytes(64 << 20);  // room again
  ASSERT_TRUE(UpdateConfig(request, &updated).ok());
  grpc::ClientContext context3;
  EXPECT_TRUE(kv_->Set(&context3, set, &set_response).ok());
}

TEST_F(AdminTest, SaveSnapshotNeedsASnapshotPath) {
  // The fixture's server has no --snapshot_path (tests/integration/snapshot_test.cc has one).
  grpc::ClientContext context;
  v1::SaveSnapshotResponse response;
  grpc::Status status = admin_->SaveSnapshot(&context, {}, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(status.error_message().find("--snapshot_path"), std::string::npos);
}

TEST_F(AdminTest, WatchEventsRefusesUnknownOrUnspecifiedSpaces) {
  for (int space : {0, 6, 42}) {
    grpc::ClientContext context;
    v1::WatchEventsRequest request;
    request.add_spaces(v1::SPACE_KV);
    request.add_spaces(static_cast<v1::Space>(space));
    auto reader = admin_->WatchEvents(&context, request);
    v1::WatchEventsResponse response;
    EXPECT_FALSE(reader->Read(&response));
    grpc::Status status = reader->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << space;
    EXPECT_NE(status.error_message().find("spaces[1]: "), std::string::npos)
        << status.error_message();
  }
}

TEST_F(AdminTest, WatchEventsSeesDeletionsInOrder) {
  Watch watch(*admin_, {v1::SPACE_KV});
  const int64_t before_ms =
      std::chrono::duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  Set("by-delete", "1");
  Set("by-getdel", "1");
  Set("by-expire-0", "1");
  Set("by-past-set", "1");
  Delete({"by-delete", "never-existed"});
  {
    v1::GetRequest request;
    request.set_key("by-getdel");
    request.set_delete_(true);
    grpc::ClientContext context;
    v1::GetResponse response;
    ASSERT_TRUE(kv_->Get(&context, request, &response).ok());
  }
  {
    v1::ExpireRequest request;
    request.set_key("by-expire-0");
    request.mutable_ttl();  // 0: delete
    grpc::ClientContext context;
    v1::ExpireResponse response;
    ASSERT_TRUE(kv_->Expire(&context, request, &response).ok());
  }
  {
    v1::SetRequest request;
    request.set_key("by-past-set");
    request.mutable_expire_time()->set_seconds(1);
    grpc::ClientContext context;
    v1::SetResponse response;
    ASSERT_TRUE(kv_->Set(&context, request, &response).ok());
  }
  Set("by-past-set", "overwrite is not a deletion");
  Set("by-past-set", "again");
  Delete({"by-past-set"});
  for (const char* key : {"by-delete", "by-getdel", "by-expire-0", "by-past-set", "by-past-set"}) {
    v1::WatchEventsResponse response;
    ASSERT_TRUE(watch.Read(&response)) << key;
    EXPECT_EQ(response.event().space(), v1::SPACE_KV);
    EXPECT_EQ(response.event().kind(), v1::EVENT_KIND_DELETED);
    EXPECT_EQ(response.event().key(), key);
    EXPECT_EQ(response.dropped(), 0);
    const int64_t event_ms =
        response.event().time().seconds() * 1000 + response.event().time().nanos() / 1'000'000;
    EXPECT_GE(event_ms, before_ms - 50);
    EXPECT_LE(event_ms, before_ms + 10'000);
  }
  watch.context().TryCancel();
  EXPECT_EQ(watch.Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(AdminTest, WatchEventsSeesExpiryFromTheReclaimer) {
  Watch watch(*admin_, {});  // all spaces
  Set("short", "1", /*ttl_ms=*/50);
  Set("long", "1", /*ttl_ms=*/600'000);
  v1::WatchEventsResponse response;
  ASSERT_TRUE(watch.Read(&response));  // nobody reads "short": only the reclaimer removes it
  EXPECT_EQ(response.event().kind(), v1::EVENT_KIND_EXPIRED);
  EXPECT_EQ(response.event().key(), "short");
  watch.context().TryCancel();
  watch.Finish();
}

TEST_F(AdminTest, WatchEventsFiltersBySpaceAndTheDrainEndsEveryStream) {
  Watch kv(*admin_, {v1::SPACE_KV});
  Watch all(*admin_, {});
  Watch others(*admin_,
               {v1::SPACE_CACHE, v1::SPACE_SESSION, v1::SPACE_TOKEN, v1::SPACE_RATE_LIMIT});
  Set("k", "1");
  Delete({"k"});
  v1::WatchEventsResponse response;
  ASSERT_TRUE(kv.Read(&response));
  EXPECT_EQ(response.event().key(), "k");
  ASSERT_TRUE(all.Read(&response));
  EXPECT_EQ(response.event().key(), "k");

  const auto start = std::chrono::steady_clock::now();
  server_.server().Shutdown(/*grace_ms=*/10'000);
  // The streams were closed before the drain, so it did not wait for the grace period.
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(5));
  EXPECT_FALSE(others.Read(&response));  // it never saw the KV event
  for (Watch* watch : {&kv, &all, &others}) {
    EXPECT_FALSE(watch->Read(&response));
    EXPECT_EQ(watch->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  }
}

// HOSTILE_INPUTS row 29: 1 000 cancelled streams leave no subscription behind.
TEST_F(AdminTest, CancelledStreamsLeaveNoSubscription) {
  for (int i = 0; i < 1000; ++i) {
    Watch watch(*admin_, {});
    watch.context().TryCancel();
    EXPECT_EQ(watch.Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  // The server learns of each cancel asynchronously: wait for the last ones to be freed.
  const auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while (server_.server().events().subscription_count() > 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(server_.server().events().subscription_count(), 0u);
}

// A consumer that stops reading while 30 000 keys are deleted: its buffer overflows, the deletes
// still complete, and every event is either delivered or counted in `dropped`.
TEST_F(AdminTest, SlowConsumerGetsDroppedCountsAndNeverSlowsTheStore) {
  // A small HTTP/2 window without BDP growth, so the transport cannot absorb the burst.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 16 << 10);
  auto channel =
      grpc::CreateCustomChannel(server_.address(), grpc::InsecureChannelCredentials(), args);
  auto watcher_stub = v1::AdminService::NewStub(channel);
  Watch watch(*watcher_stub, {v1::SPACE_KV}, milliseconds(60'000));

  constexpr int kBatches = 30;
  constexpr int kPerBatch = 1000;
  const std::string pad(80, 'p');
  for (int b = 0; b < kBatches; ++b) {
    v1::BatchRequest batch;
    v1::DeleteRequest del;
    for (int i = 0; i < kPerBatch; ++i) {
      const std::string key = pad + std::to_string(b * kPerBatch + i);
      batch.add_ops()->mutable_set()->set_key(key);
      del.add_keys(key);
    }
    grpc::ClientContext set_context;
    v1::BatchResponse batch_response;
    ASSERT_TRUE(kv_->Batch(&set_context, batch, &batch_response).ok());
    grpc::ClientContext delete_context;
    delete_context.set_deadline(system_clock::now() + seconds(10));
    v1::DeleteResponse deleted;
    ASSERT_TRUE(kv_->Delete(&delete_context, del, &deleted).ok());
    ASSERT_EQ(deleted.deleted(), kPerBatch);
  }

  // Now read everything. Once the stream has gone quiet, a sentinel deletion reports what was
  // lost after the last delivered event (a sentinel that arrives while the buffer is still full
  // is itself dropped, hence the retry).
  std::atomic<int64_t> delivered{0};
  std::atomic<int64_t> dropped{0};
  std::atomic<int> sentinels_seen{0};
  std::thread reader([&] {
    v1::WatchEventsResponse response;
    while (watch.Read(&response)) {
      delivered.fetch_add(1);
      dropped.fetch_add(response.dropped());
      if (response.event().key().rfind("sentinel", 0) == 0) {
        sentinels_seen.fetch_add(1);
        return;
      }
    }
  });
  int sentinels_sent = 0;
  for (;;) {
    int64_t last = -1;
    while (delivered.load() != last) {  // wait for a quiet stream
      last = delivered.load();
      std::this_thread::sleep_for(milliseconds(300));
    }
    if (sentinels_seen.load() > 0 || sentinels_sent == 20) break;
    const std::string sentinel = "sentinel" + std::to_string(sentinels_sent++);
    Set(sentinel, "1");
    Delete({sentinel});
  }
  reader.join();
  ASSERT_EQ(sentinels_seen.load(), 1);
  EXPECT_GT(dropped.load(), 0);
  EXPECT_EQ(delivered.load() + dropped.load(), kBatches * kPerBatch + sentinels_sent);
  EXPECT_EQ(static_cast<int64_t>(server_.server().events().dropped_total()), dropped.load());
  watch.context().TryCancel();
  watch.Finish();
}

}  // namespace
}  // namespace hourglass::testing
