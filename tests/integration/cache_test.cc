// CacheService over real gRPC against the real server: the revalidation flow, one revalidator
// among 50 concurrent callers, tag invalidation cancelling leases, and every INVALID_ARGUMENT.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "hourglass/v1/cache.grpc.pb.h"
#include "tests/integration/test_server.h"

namespace hourglass::testing {
namespace {

namespace v1 = ::hourglass::v1;

google::protobuf::Duration Ms(int64_t ms) {
  google::protobuf::Duration d;
  d.set_seconds(ms / 1000);
  d.set_nanos(static_cast<int32_t>(ms % 1000) * 1'000'000);
  return d;
}

int64_t ToMs(const google::protobuf::Duration& d) {
  return d.seconds() * 1000 + d.nanos() / 1'000'000;
}

class CacheServiceTest : public ::testing::Test {
 protected:
  static server::ServerConfig Config() {
    server::ServerConfig config = TestConfig();
    config.limits.max_value_bytes = 4096;  // keeps the oversized-value request small
    return config;
  }

  CacheServiceTest() : server_(Config()), stub_(v1::CacheService::NewStub(server_.channel())) {}

  static std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return context;
  }

  v1::LookupResponse Lookup(const std::string& key, int64_t lease_ttl_ms = 0) {
    v1::LookupRequest request;
    request.set_key(key);
    if (lease_ttl_ms > 0) *request.mutable_lease_ttl() = Ms(lease_ttl_ms);
    v1::LookupResponse response;
    const grpc::Status status = stub_->Lookup(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  grpc::Status Fill(const v1::FillRequest& request, v1::FillResponse* response) {
    return stub_->Fill(Context().get(), request, response);
  }

  bool Fill(const std::string& key, const std::string& value, int64_t fresh_ms, int64_t stale_ms,
            std::vector<std::string> tags = {}, const std::string& lease_id = "") {
    v1::FillRequest request;
    request.set_key(key);
    request.set_value(value);
    *request.mutable_fresh_for() = Ms(fresh_ms);
    if (stale_ms > 0) *request.mutable_stale_for() = Ms(stale_ms);
    for (const std::string& tag : tags) request.add_tags(tag);
    request.set_lease_id(lease_id);
    v1::FillResponse response;
    const grpc::Status status = Fill(request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.applied();
  }

  int64_t Invalidate(std::vector<std::string> keys, std::vector<std::string> tags) {
    v1::InvalidateRequest request;
    for (const std::string& key : keys) request.add_keys(key);
    for (const std::string& tag : tags) request.add_tags(tag);
    v1::InvalidateResponse response;
    const grpc::Status status = stub_->Invalidate(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.invalidated();
  }

  TestServer server_;
  std::unique_ptr<v1::CacheService::Stub> stub_;
};

TEST_F(CacheServiceTest, MissLeaseFillThenFresh) {
  const v1::LookupResponse miss = Lookup("page:/home");
  EXPECT_EQ(miss.state(), v1::CACHE_STATE_MISS);
  EXPECT_TRUE(miss.revalidate());
  EXPECT_FALSE(miss.lease_id().empty());
  EXPECT_FALSE(miss.has_age());

  const v1::LookupResponse waiting = Lookup("page:/home");
  EXPECT_EQ(waiting.state(), v1::CACHE_STATE_MISS);
  EXPECT_FALSE(waiting.revalidate());
  EXPECT_TRUE(waiting.lease_id().empty());

  EXPECT_TRUE(Fill("page:/home", "<html>", 60'000, 300'000, {"pages"}, miss.lease_id()));
  EXPECT_FALSE(Fill("page:/home", "<again>", 60'000, 0, {}, miss.lease_id()));  // used
  const v1::LookupResponse hit = Lookup("page:/home");
  EXPECT_EQ(hit.state(), v1::CACHE_STATE_FRESH);
  EXPECT_EQ(hit.value(), "<html>");
  EXPECT_TRUE(hit.has_age());
  EXPECT_LT(ToMs(hit.age()), 5000);
  EXPECT_FALSE(hit.revalidate());
  EXPECT_TRUE(hit.lease_id().empty());
}

TEST_F(CacheServiceTest, StaleIsServedAndOneCallerRevalidates) {
  ASSERT_TRUE(Fill("k", "old", 1, 60'000));
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const v1::LookupResponse first = Lookup("k");
  EXPECT_EQ(first.state(), v1::CACHE_STATE_STALE);
  EXPECT_EQ(first.value(), "old");
  EXPECT_GE(ToMs(first.age()), 1);
  EXPECT_TRUE(first.revalidate());
  const v1::LookupResponse second = Lookup("k");
  EXPECT_EQ(second.state(), v1::CACHE_STATE_STALE);
  EXPECT_EQ(second.value(), "old");
  EXPECT_FALSE(second.revalidate());
  EXPECT_TRUE(Fill("k", "new", 60'000, 0, {}, first.lease_id()));
  EXPECT_EQ(Lookup("k").value(), "new");
}

// 50 callers at once, each on its own thread and channel, through the real server.
TEST_F(CacheServiceTest, FiftyConcurrentLookupsYieldExactlyOneRevalidator) {
  constexpr int kCallers = 50;
  ASSERT_TRUE(Fill("stale-key", "old", 1, 60'000));
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  for (const std::string key : {"miss-key", "stale-key"}) {
    std::atomic<int> revalidators{0};
    std::atomic<int> ok_calls{0};
    std::atomic<int> stale_values{0};
    std::latch start(kCallers);
    std::vector<std::thread> threads;
    for (int i = 0; i < kCallers; ++i) {
      threads.emplace_back([&, i] {
        // Channels are created before the latch so the calls overlap.
        auto stub =
            v1::CacheService::NewStub(i % 2 == 0 ? server_.channel() : server_.NewChannel());
        v1::LookupRequest request;
        request.set_key(key);
        v1::LookupResponse response;
        start.arrive_and_wait();
        const grpc::Status status = stub->Lookup(Context().get(), request, &response);
        if (!status.ok()) return;
        ++ok_calls;
        if (response.revalidate()) ++revalidators;
        if (response.state() == v1::CACHE_STATE_STALE && response.value() == "old") ++stale_values;
      });
    }
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(ok_calls.load(), kCallers) << key;
    EXPECT_EQ(revalidators.load(), 1) << key;
    EXPECT_EQ(stale_values.load(), key == "stale-key" ? kCallers : 0) << key;
  }
}

TEST_F(CacheServiceTest, InvalidateByKeysAndTagsCountsAndCancelsLeases) {
  ASSERT_TRUE(Fill("a", "1", 60'000, 0, {"user:42", "pages"}));
  ASSERT_TRUE(Fill("b", "2", 60'000, 0, {"pages"}));
  ASSERT_TRUE(Fill("c", "3", 60'000, 0));
  const v1::LookupResponse lease = Lookup("feed:42");
  ASSERT_TRUE(lease.revalidate());
  EXPECT_EQ(Invalidate({"c", "c", "absent"}, {"pages", "user:42"}), 3);
  EXPECT_EQ(Lookup("a").state(), v1::CACHE_STATE_MISS);
  // The lease was granted before user:42 was invalidated: its fill would be stale data.
  EXPECT_FALSE(Fill("feed:42", "computed earlier", 60'000, 0, {"user:42"}, lease.lease_id()));
  EXPECT_EQ(Invalidate({}, {"pages"}), 0);
}

TEST_F(CacheServiceTest, UnknownLeaseIsNotAppliedAndNotAnError) {
  EXPECT_FALSE(Fill("k", "v", 60'000, 0, {}, "no-such-lease"));
  EXPECT_EQ(Lookup("k").state(), v1::CACHE_STATE_MISS);
}

void ExpectInvalid(const grpc::Status& status, const std::string& message_part) {
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_NE(status.error_message().find(message_part), std::string::npos)
      << status.error_message() << " lacks " << message_part;
}

TEST_F(CacheServiceTest, FillRejectsBadRequests) {
  auto fill = [&](auto edit) {
    v1::FillRequest request;
    request.set_key("k");
    request.set_value("v");
    *request.mutable_fresh_for() = Ms(1000);
    edit(request);
    v1::FillResponse response;
    return Fill(request, &response);
  };
  ExpectInvalid(fill([](v1::FillRequest& r) { r.clear_key(); }), "key: required");
  ExpectInvalid(fill([](v1::FillRequest& r) { r.set_key(std::string(1025, 'k')); }),
                "key: 1025 bytes exceeds max 1024");
  ExpectInvalid(fill([](v1::FillRequest& r) { r.set_value(std::string(4097, 'v')); }),
                "value: 4097 bytes exceeds max 4096");
  ExpectInvalid(fill([](v1::FillRequest& r) { r.clear_fresh_for(); }), "fresh_for: required");
  ExpectInvalid(fill([](v1::FillRequest& r) { *r.mutable_fresh_for() = Ms(0); }),
                "fresh_for: must be > 0");
  ExpectInvalid(fill([](v1::FillRequest& r) { r.mutable_stale_for()->set_seconds(-1); }),
                "stale_for: must not be negative");
  ExpectInvalid(fill([](v1::FillRequest& r) {
                  r.mutable_fresh_for()->set_seconds(87600LL * 3600 - 1);
                  r.mutable_stale_for()->set_seconds(2);
                }),
                "fresh_for + stale_for: ");
  ExpectInvalid(fill([](v1::FillRequest& r) {
                  r.add_tags("ok");
                  r.add_tags("");
                }),
                "tags[1]: required");
  ExpectInvalid(fill([](v1::FillRequest& r) { r.add_tags(std::string(1025, 't')); }),
                "tags[0]: 1025 bytes exceeds max 1024");
  ExpectInvalid(fill([](v1::FillRequest& r) {
                  for (int i = 0; i < 1001; ++i) r.add_tags("t" + std::to_string(i));
                }),
                "tags: 1001 items exceeds max 1000");
  ExpectInvalid(fill([](v1::FillRequest& r) { r.set_lease_id(std::string(1025, 'l')); }),
                "lease_id: 1025 bytes exceeds max 1024");
  EXPECT_EQ(Lookup("k").state(), v1::CACHE_STATE_MISS);  // nothing stored by any of them
}

TEST_F(CacheServiceTest, LookupAndInvalidateRejectBadRequests) {
  v1::LookupResponse lookup_response;
  v1::LookupRequest lookup;
  ExpectInvalid(stub_->Lookup(Context().get(), lookup, &lookup_response), "key: required");
  lookup.set_key("k");
  *lookup.mutable_lease_ttl() = Ms(0);
  ExpectInvalid(stub_->Lookup(Context().get(), lookup, &lookup_response), "lease_ttl: must be > 0");
  lookup.mutable_lease_ttl()->set_seconds(87600LL * 3600 + 1);
  ExpectInvalid(stub_->Lookup(Context().get(), lookup, &lookup_response), "lease_ttl: ");

  v1::InvalidateResponse invalidate_response;
  v1::InvalidateRequest invalidate;
  ExpectInvalid(stub_->Invalidate(Context().get(), invalidate, &invalidate_response),
                "keys, tags: at least one");
  for (int i = 0; i < 600; ++i) invalidate.add_keys("k" + std::to_string(i));
  for (int i = 0; i < 401; ++i) invalidate.add_tags("t" + std::to_string(i));
  ExpectInvalid(stub_->Invalidate(Context().get(), invalidate, &invalidate_response),
                "keys + tags: 1001 items exceeds max 1000");
  invalidate.Clear();
  invalidate.add_keys("k");
  invalidate.add_tags("");
  ExpectInvalid(stub_->Invalidate(Context().get(), invalidate, &invalidate_response),
                "tags[0]: required");
}

TEST_F(CacheServiceTest, BinaryValuesAndUnicodeKeysRoundTrip) {
  const std::string key("k\0\xc3\xa9", 4);
  const std::string value("\0\xff\x80 bytes", 9);
  ASSERT_TRUE(Fill(key, value, 60'000, 0, {"t\xc3\xa9"}));
  const v1::LookupResponse hit = Lookup(key);
  EXPECT_EQ(hit.state(), v1::CACHE_STATE_FRESH);
  EXPECT_EQ(hit.value(), value);
  EXPECT_EQ(Invalidate({}, {"t\xc3\xa9"}), 1);
}

}  // namespace
}  // namespace hourglass::testing
