// SessionService over real gRPC against the real server: every RPC, every error status, the
// sliding and absolute deadlines on the real clock (short timeouts), and the WatchEvents key of
// a session (user + id hash, never the id).

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "hourglass/v1/admin.grpc.pb.h"
#include "hourglass/v1/session.grpc.pb.h"
#include "server/domain/digest.h"
#include "tests/integration/test_server.h"

namespace hourglass::testing {
namespace {

namespace v1 = ::hourglass::v1;
using Stub = v1::SessionService::Stub;
using std::chrono::milliseconds;

google::protobuf::Duration Ms(int64_t ms) {
  google::protobuf::Duration d;
  d.set_seconds(ms / 1000);
  d.set_nanos(static_cast<int32_t>(ms % 1000) * 1'000'000);
  return d;
}

int64_t ToMs(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1000 + ts.nanos() / 1'000'000;
}

int64_t WallNowMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

server::ServerConfig SmallLimits() {
  server::ServerConfig config = TestConfig();
  config.limits.max_key_bytes = 64;
  config.limits.max_value_bytes = 1024;
  config.limits.max_ttl_ms = 3'600'000;
  return config;
}

class SessionServiceTest : public ::testing::Test {
 protected:
  SessionServiceTest()
      : server_(SmallLimits()), stub_(v1::SessionService::NewStub(server_.channel())) {}

  template <typename Request, typename Response>
  grpc::Status Call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                    const Request& request, Response* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return (stub_.get()->*method)(&context, request, response);
  }
  template <typename Request, typename Response>
  Response Ok(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
              const Request& request) {
    Response response;
    grpc::Status status = Call(method, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
    return response;
  }
  // The call fails with `code` and a message containing `part`.
  template <typename Request, typename Response>
  void Fails(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
             const Request& request, grpc::StatusCode code, const std::string& part) {
    Response response;
    grpc::Status status = Call(method, request, &response);
    EXPECT_EQ(status.error_code(), code) << status.error_message();
    EXPECT_NE(status.error_message().find(part), std::string::npos) << status.error_message();
  }

  v1::Session Create(const std::string& user, int64_t idle_ms, int64_t absolute_ms = 0,
                     uint32_t max_sessions = 0) {
    v1::CreateSessionRequest request;
    request.set_user_id(user);
    *request.mutable_idle_timeout() = Ms(idle_ms);
    if (absolute_ms > 0) *request.mutable_absolute_timeout() = Ms(absolute_ms);
    if (max_sessions > 0) request.set_max_sessions_per_user(max_sessions);
    return Ok(&Stub::CreateSession, request).session();
  }
  v1::GetSessionResponse Get(const std::string& id, bool touch = false) {
    v1::GetSessionRequest request;
    request.set_session_id(id);
    request.set_touch(touch);
    return Ok(&Stub::GetSession, request);
  }
  std::vector<std::string> ListIds(const std::string& user) {
    v1::ListUserSessionsRequest request;
    request.set_user_id(user);
    std::vector<std::string> ids;
    const v1::ListUserSessionsResponse response = Ok(&Stub::ListUserSessions, request);
    for (const v1::Session& s : response.sessions()) {
      ids.push_back(s.session_id());
    }
    return ids;
  }

  TestServer server_;
  std::unique_ptr<Stub> stub_;
};

TEST_F(SessionServiceTest, CreateAndGetRoundTripEverything) {
  const int64_t before = WallNowMs();
  v1::CreateSessionRequest request;
  request.set_user_id("u42");
  (*request.mutable_data())["cart"] = std::string("\0\xff", 2);
  (*request.mutable_labels())["device"] = "ios";
  *request.mutable_idle_timeout() = Ms(1'800'000);
  *request.mutable_absolute_timeout() = Ms(3'000'000);
  const v1::Session created = Ok(&Stub::CreateSession, request).session();
  EXPECT_EQ(created.session_id().size(), 47u);
  EXPECT_EQ(created.user_id(), "u42");
  EXPECT_GE(ToMs(created.create_time()), before);
  EXPECT_LE(ToMs(created.create_time()), WallNowMs());
  EXPECT_NEAR(ToMs(created.expire_time()) - ToMs(created.create_time()), 1'800'000, 2);
  EXPECT_EQ(ToMs(created.absolute_expire_time()) - ToMs(created.create_time()), 3'000'000);

  const v1::GetSessionResponse got = Get(created.session_id());
  ASSERT_TRUE(got.found());
  EXPECT_EQ(got.session().session_id(), created.session_id());
  EXPECT_EQ(got.session().data().at("cart"), std::string("\0\xff", 2));
  EXPECT_EQ(got.session().labels().at("device"), "ios");
  EXPECT_EQ(ToMs(got.session().create_time()), ToMs(created.create_time()));
  EXPECT_NEAR(ToMs(got.session().expire_time()), ToMs(created.expire_time()), 2);

  EXPECT_FALSE(Create("u", 1000).has_absolute_expire_time());
}

TEST_F(SessionServiceTest, TouchSlidesAndIdleExpiryEndsTheSession) {
  // Margins of 300+ ms keep this stable on a loaded machine.
  const v1::Session s = Create("u", 1000);
  std::this_thread::sleep_for(milliseconds(500));
  const v1::GetSessionResponse touched = Get(s.session_id(), /*touch=*/true);
  ASSERT_TRUE(touched.found());
  EXPECT_GE(ToMs(touched.session().expire_time()), ToMs(s.expire_time()) + 450);
  std::this_thread::sleep_for(milliseconds(700));  // past the first deadline, not the slid one
  EXPECT_TRUE(Get(s.session_id()).found());
  std::this_thread::sleep_for(milliseconds(700));
  EXPECT_FALSE(Get(s.session_id()).found());
  EXPECT_FALSE(Get(s.session_id(), true).found());
  EXPECT_FALSE(Get(s.session_id(), true).has_session());
}

TEST_F(SessionServiceTest, TouchNeverPassesTheAbsoluteDeadline) {
  const v1::Session s = Create("u", 10'000, 300);
  EXPECT_EQ(ToMs(s.expire_time()), ToMs(s.absolute_expire_time()));
  const v1::GetSessionResponse touched = Get(s.session_id(), true);
  ASSERT_TRUE(touched.found());
  EXPECT_EQ(ToMs(touched.session().expire_time()), ToMs(s.absolute_expire_time()));
  std::this_thread::sleep_for(milliseconds(350));
  EXPECT_FALSE(Get(s.session_id(), true).found());
}

TEST_F(SessionServiceTest, UpdateMergesRemovesAndChangesTheIdleTimeout) {
  v1::CreateSessionRequest create;
  create.set_user_id("u");
  (*create.mutable_data())["a"] = "1";
  (*create.mutable_data())["b"] = "2";
  *create.mutable_idle_timeout() = Ms(60'000);
  const v1::Session s = Ok(&Stub::CreateSession, create).session();

  v1::UpdateSessionRequest update;
  update.set_session_id(s.session_id());
  (*update.mutable_data())["b"] = "20";
  (*update.mutable_data())["c"] = "3";
  update.add_remove_keys("a");
  update.add_remove_keys("b");
  *update.mutable_idle_timeout() = Ms(120'000);
  const v1::Session updated = Ok(&Stub::UpdateSession, update).session();
  EXPECT_EQ(updated.data().size(), 2u);
  EXPECT_EQ(updated.data().at("b"), "20");
  EXPECT_EQ(updated.data().at("c"), "3");
  EXPECT_GE(ToMs(updated.expire_time()), ToMs(s.expire_time()) + 59'000);
  EXPECT_EQ(Get(s.session_id()).session().data().size(), 2u);

  update.set_session_id("no-such-session");
  Fails(&Stub::UpdateSession, update, grpc::StatusCode::NOT_FOUND, "session_id");
  update.set_session_id("");
  Fails(&Stub::UpdateSession, update, grpc::StatusCode::INVALID_ARGUMENT, "session_id");
  update.set_session_id(s.session_id());
  *update.mutable_idle_timeout() = Ms(0);
  Fails(&Stub::UpdateSession, update, grpc::StatusCode::INVALID_ARGUMENT, "idle_timeout");
  update.clear_idle_timeout();
  (*update.mutable_data())["big"] = std::string(2000, 'x');
  Fails(&Stub::UpdateSession, update, grpc::StatusCode::INVALID_ARGUMENT, "exceeds max 1024");
}

TEST_F(SessionServiceTest, RotateKillsTheOldIdAtOnce) {
  const v1::Session s = Create("u", 60'000);
  v1::RotateSessionRequest request;
  request.set_session_id(s.session_id());
  const v1::Session rotated = Ok(&Stub::RotateSession, request).session();
  EXPECT_NE(rotated.session_id(), s.session_id());
  EXPECT_EQ(rotated.user_id(), "u");
  EXPECT_EQ(ToMs(rotated.create_time()), ToMs(s.create_time()));
  EXPECT_FALSE(Get(s.session_id()).found());
  EXPECT_TRUE(Get(rotated.session_id()).found());
  EXPECT_EQ(ListIds("u"), std::vector<std::string>{rotated.session_id()});
  Fails(&Stub::RotateSession, request, grpc::StatusCode::NOT_FOUND, "session_id");
  request.set_session_id("");
  Fails(&Stub::RotateSession, request, grpc::StatusCode::INVALID_ARGUMENT, "session_id");
}

TEST_F(SessionServiceTest, DeleteListAndDeleteAll) {
  const v1::Session a = Create("u", 60'000);
  const v1::Session b = Create("u", 60'000);
  const v1::Session c = Create("u", 60'000);
  Create("v", 60'000);
  EXPECT_EQ(ListIds("u"),
            (std::vector<std::string>{c.session_id(), b.session_id(), a.session_id()}));
  v1::DeleteSessionRequest del;
  del.set_session_id(a.session_id());
  EXPECT_TRUE(Ok(&Stub::DeleteSession, del).deleted());
  EXPECT_FALSE(Ok(&Stub::DeleteSession, del).deleted());
  del.set_session_id("");
  Fails(&Stub::DeleteSession, del, grpc::StatusCode::INVALID_ARGUMENT, "session_id");

  v1::DeleteUserSessionsRequest all;
  all.set_user_id("u");
  all.set_except_session_id(c.session_id());
  EXPECT_EQ(Ok(&Stub::DeleteUserSessions, all).deleted(), 1);
  EXPECT_EQ(ListIds("u"), std::vector<std::string>{c.session_id()});
  all.clear_except_session_id();
  EXPECT_EQ(Ok(&Stub::DeleteUserSessions, all).deleted(), 1);
  EXPECT_TRUE(ListIds("u").empty());
  EXPECT_EQ(ListIds("v").size(), 1u);
  all.set_user_id("");
  Fails(&Stub::DeleteUserSessions, all, grpc::StatusCode::INVALID_ARGUMENT, "user_id");
  all.set_user_id("u");
  all.set_except_session_id(std::string(65, 'x'));
  Fails(&Stub::DeleteUserSessions, all, grpc::StatusCode::INVALID_ARGUMENT,
        "except_session_id: 65 bytes exceeds max 64");
  v1::ListUserSessionsRequest list;
  Fails(&Stub::ListUserSessions, list, grpc::StatusCode::INVALID_ARGUMENT, "user_id");
}

TEST_F(SessionServiceTest, MaxSessionsPerUserRemovesTheOldest) {
  const v1::Session a = Create("u", 60'000, 0, 2);
  const v1::Session b = Create("u", 60'000, 0, 2);
  const v1::Session c = Create("u", 60'000, 0, 2);
  EXPECT_FALSE(Get(a.session_id()).found());
  EXPECT_EQ(ListIds("u"), (std::vector<std::string>{c.session_id(), b.session_id()}));
}

TEST_F(SessionServiceTest, CreateRejectsBadInputNamingTheField) {
  using grpc::StatusCode;
  v1::CreateSessionRequest request;
  request.set_user_id("u");
  Fails(&Stub::CreateSession, request, StatusCode::INVALID_ARGUMENT, "idle_timeout: required");
  *request.mutable_idle_timeout() = Ms(0);
  Fails(&Stub::CreateSession, request, StatusCode::INVALID_ARGUMENT, "idle_timeout");
  request.mutable_idle_timeout()->set_seconds(-1);
  Fails(&Stub::CreateSession, request, StatusCode::INVALID_ARGUMENT, "idle_timeout");
  *request.mutable_idle_timeout() = Ms(3'600'001);
  Fails(&Stub::CreateSession, request, StatusCode::INVALID_ARGUMENT, "idle_timeout");
  *request.mutable_idle_timeout() = Ms(1000);
  *request.mutable_absolute_timeout() = Ms(0);
  Fails(&Stub::CreateSession, request, StatusCode::INVALID_ARGUMENT, "absolute_timeout");
  *request.mutable_absolute_timeout() = Ms(7'200'000);
  Fails(&Stub::CreateSession, request, StatusCode::INVALID_ARGUMENT, "absolute_timeout");
  request.clear_absolute_timeout();
  request.set_max_sessions_per_user(0);
  Fails(&Stub::CreateSession, request, StatusCode::INVALID_ARGUMENT, "max_sessions_per_user");
  request.clear_max_sessions_per_user();
  request.set_user_id("");
  Fails(&Stub::CreateSession, request, StatusCode::INVALID_ARGUMENT, "user_id: required");
  request.set_user_id(std::string(65, 'u'));
  Fails(&Stub::CreateSession, request, StatusCode::INVALID_ARGUMENT,
        "user_id: 65 bytes exceeds max 64");
  request.set_user_id("u");
  (*request.mutable_data())["d"] = std::string(600, 'x');
  (*request.mutable_labels())["l"] = std::string(600, 'y');
  Fails(&Stub::CreateSession, request, StatusCode::INVALID_ARGUMENT,
        "data + labels: 1210 bytes exceeds max 1024");
}

TEST_F(SessionServiceTest, GetRejectsEmptyAndOversizedIdsAndMissesMalformedOnes) {
  v1::GetSessionRequest request;
  Fails(&Stub::GetSession, request, grpc::StatusCode::INVALID_ARGUMENT, "session_id: required");
  request.set_session_id(std::string(65, 'x'));
  Fails(&Stub::GetSession, request, grpc::StatusCode::INVALID_ARGUMENT,
        "session_id: 65 bytes exceeds max 64");
  EXPECT_FALSE(Get("not-a-session").found());
  EXPECT_FALSE(Get(std::string(47, 'A'), true).found());
  EXPECT_FALSE(Get(std::string("a\0b", 3)).found());
}

TEST_F(SessionServiceTest, WatchEventsShowUserAndIdHashNeverTheId) {
  auto admin = v1::AdminService::NewStub(server_.channel());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::WatchEventsRequest watch;
  watch.add_spaces(v1::SPACE_SESSION);
  auto reader = admin->WatchEvents(&context, watch);
  reader->WaitForInitialMetadata();

  const v1::Session s = Create("u42", 60'000);
  v1::DeleteSessionRequest del;
  del.set_session_id(s.session_id());
  ASSERT_TRUE(Ok(&Stub::DeleteSession, del).deleted());
  v1::WatchEventsResponse event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.event().space(), v1::SPACE_SESSION);
  EXPECT_EQ(event.event().kind(), v1::EVENT_KIND_DELETED);
  EXPECT_EQ(event.event().key(), "u42:" + domain::HexPrefix(domain::Sha256(s.session_id()), 16));
  context.TryCancel();
}

// At the memory cap under noeviction a create is refused whole (no session, no index entry) and
// reads go on. (Under an evicting policy see eviction_test.cc.)
TEST(SessionCapTest, CreateAtTheCapIsResourceExhaustedAndChangesNothing) {
  server::ServerConfig config = SmallLimits();
  config.maxmemory_bytes = 256 << 10;
  config.eviction_policy = storage::EvictionPolicy::kNoEviction;
  TestServer server(config);
  auto stub = v1::SessionService::NewStub(server.channel());
  v1::CreateSessionRequest request;
  request.set_user_id("u");
  (*request.mutable_data())["blob"] = std::string(900, 'x');
  *request.mutable_idle_timeout() = Ms(60'000);
  int created = 0;
  grpc::Status status;
  std::string first_id;
  for (int i = 0; i < 2000 && status.ok(); ++i) {
    grpc::ClientContext context;
    v1::CreateSessionResponse response;
    status = stub->CreateSession(&context, request, &response);
    if (status.ok()) {
      if (created++ == 0) first_id = response.session().session_id();
    }
  }
  ASSERT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  ASSERT_GT(created, 0);
  grpc::ClientContext get_context;
  v1::GetSessionRequest get;
  get.set_session_id(first_id);
  get.set_touch(true);
  v1::GetSessionResponse got;
  ASSERT_TRUE(stub->GetSession(&get_context, get, &got).ok());
  EXPECT_TRUE(got.found());
  grpc::ClientContext list_context;
  v1::ListUserSessionsRequest list;
  list.set_user_id("u");
  v1::ListUserSessionsResponse listed;
  ASSERT_TRUE(stub->ListUserSessions(&list_context, list, &listed).ok());
  EXPECT_EQ(listed.sessions_size(), created);
  // Deleting frees room for a new one.
  grpc::ClientContext delete_context;
  v1::DeleteSessionRequest del;
  del.set_session_id(first_id);
  v1::DeleteSessionResponse deleted;
  ASSERT_TRUE(stub->DeleteSession(&delete_context, del, &deleted).ok());
  grpc::ClientContext create_context;
  v1::CreateSessionResponse again;
  EXPECT_TRUE(stub->CreateSession(&create_context, request, &again).ok());
}

}  // namespace
}  // namespace hourglass::testing
