// Snapshots through the real server (in-process, real gRPC): a graceful restart keeps every
// service's state (sessions, deleted sessions, used tokens, rate-limit counts, cache entries,
// KV TTLs); after an unclean stop only KV comes back; SaveSnapshot's answer and errors;
// unusable files at start-up; the path lock; periodic saves and their metrics.
//
// A restart is the old server destroyed (its Shutdown writes the clean snapshot) and a new one
// started on the same --snapshot_path. An unclean stop is played with the files a crash leaves:
// the snapshot SaveSnapshot wrote, put back after the server stopped, without a clean marker.

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "hourglass/v1/admin.grpc.pb.h"
#include "hourglass/v1/cache.grpc.pb.h"
#include "hourglass/v1/kv.grpc.pb.h"
#include "hourglass/v1/ratelimit.grpc.pb.h"
#include "hourglass/v1/session.grpc.pb.h"
#include "hourglass/v1/token.grpc.pb.h"
#include "server/metrics.h"
#include "tests/integration/test_server.h"
#include "tests/server/metrics_test_util.h"

namespace hourglass::testing {
namespace {

namespace v1 = ::hourglass::v1;
namespace fs = std::filesystem;

google::protobuf::Duration Ms(int64_t ms) {
  google::protobuf::Duration d;
  d.set_seconds(ms / 1000);
  d.set_nanos(static_cast<int32_t>(ms % 1000) * 1'000'000);
  return d;
}

int64_t WallNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Stubs of every service on one channel, with the calls the tests make.
struct Clients {
  explicit Clients(const std::shared_ptr<grpc::Channel>& channel)
      : kv(v1::KeyValueService::NewStub(channel)),
        sessions(v1::SessionService::NewStub(channel)),
        tokens(v1::TokenService::NewStub(channel)),
        limits(v1::RateLimitService::NewStub(channel)),
        cache(v1::CacheService::NewStub(channel)),
        admin(v1::AdminService::NewStub(channel)) {}

  void Set(const std::string& key, const std::string& value, int64_t ttl_ms = 0) {
    v1::SetRequest request;
    request.set_key(key);
    request.set_value(value);
    if (ttl_ms > 0) *request.mutable_ttl() = Ms(ttl_ms);
    grpc::ClientContext context;
    v1::SetResponse response;
    ASSERT_TRUE(kv->Set(&context, request, &response).ok());
  }
  v1::GetResponse Get(const std::string& key) {
    v1::GetRequest request;
    request.set_key(key);
    grpc::ClientContext context;
    v1::GetResponse response;
    EXPECT_TRUE(kv->Get(&context, request, &response).ok());
    return response;
  }
  std::string CreateSession(const std::string& user) {
    v1::CreateSessionRequest request;
    request.set_user_id(user);
    *request.mutable_idle_timeout() = Ms(600'000);
    grpc::ClientContext context;
    v1::CreateSessionResponse response;
    EXPECT_TRUE(sessions->CreateSession(&context, request, &response).ok());
    return response.session().session_id();
  }
  bool SessionFound(const std::string& id) {
    v1::GetSessionRequest request;
    request.set_session_id(id);
    grpc::ClientContext context;
    v1::GetSessionResponse response;
    EXPECT_TRUE(sessions->GetSession(&context, request, &response).ok());
    return response.found();
  }
  void DeleteSession(const std::string& id) {
    v1::DeleteSessionRequest request;
    request.set_session_id(id);
    grpc::ClientContext context;
    v1::DeleteSessionResponse response;
    EXPECT_TRUE(sessions->DeleteSession(&context, request, &response).ok());
  }
  std::string RotateSession(const std::string& id) {
    v1::RotateSessionRequest request;
    request.set_session_id(id);
    grpc::ClientContext context;
    v1::RotateSessionResponse response;
    EXPECT_TRUE(sessions->RotateSession(&context, request, &response).ok());
    return response.session().session_id();
  }
  int ListSessions(const std::string& user) {
    v1::ListUserSessionsRequest request;
    request.set_user_id(user);
    grpc::ClientContext context;
    v1::ListUserSessionsResponse response;
    EXPECT_TRUE(sessions->ListUserSessions(&context, request, &response).ok());
    return response.sessions_size();
  }
  std::string IssueToken(const std::string& purpose, const std::string& subject) {
    v1::IssueTokenRequest request;
    request.set_purpose(purpose);
    request.set_subject(subject);
    *request.mutable_ttl() = Ms(600'000);
    grpc::ClientContext context;
    v1::IssueTokenResponse response;
    EXPECT_TRUE(tokens->IssueToken(&context, request, &response).ok());
    return response.token();
  }
  v1::TokenReason Consume(const std::string& purpose, const std::string& token) {
    v1::ConsumeTokenRequest request;
    request.set_purpose(purpose);
    request.set_token(token);
    grpc::ClientContext context;
    v1::ConsumeTokenResponse response;
    EXPECT_TRUE(tokens->ConsumeToken(&context, request, &response).ok());
    return response.reason();
  }
  v1::TokenReason Verify(const std::string& purpose, const std::string& token) {
    v1::VerifyTokenRequest request;
    request.set_purpose(purpose);
    request.set_token(token);
    grpc::ClientContext context;
    v1::VerifyTokenResponse response;
    EXPECT_TRUE(tokens->VerifyToken(&context, request, &response).ok());
    return response.reason();
  }
  bool Allowed(const std::string& key) {
    v1::CheckRateLimitRequest request;
    request.set_key(key);
    request.set_limit(2);
    *request.mutable_period() = Ms(600'000);
    grpc::ClientContext context;
    v1::CheckRateLimitResponse response;
    EXPECT_TRUE(limits->CheckRateLimit(&context, request, &response).ok());
    return response.allowed();
  }
  void Fill(const std::string& key, const std::string& value, const std::string& tag) {
    v1::FillRequest request;
    request.set_key(key);
    request.set_value(value);
    *request.mutable_fresh_for() = Ms(600'000);
    request.add_tags(tag);
    grpc::ClientContext context;
    v1::FillResponse response;
    EXPECT_TRUE(cache->Fill(&context, request, &response).ok());
  }
  v1::CacheState Lookup(const std::string& key) {
    v1::LookupRequest request;
    request.set_key(key);
    grpc::ClientContext context;
    v1::LookupResponse response;
    EXPECT_TRUE(cache->Lookup(&context, request, &response).ok());
    return response.state();
  }
  int64_t InvalidateTag(const std::string& tag) {
    v1::InvalidateRequest request;
    request.add_tags(tag);
    grpc::ClientContext context;
    v1::InvalidateResponse response;
    EXPECT_TRUE(cache->Invalidate(&context, request, &response).ok());
    return response.invalidated();
  }
  grpc::Status SaveSnapshot(v1::SaveSnapshotResponse* response) {
    grpc::ClientContext context;
    return admin->SaveSnapshot(&context, {}, response);
  }

  std::unique_ptr<v1::KeyValueService::Stub> kv;
  std::unique_ptr<v1::SessionService::Stub> sessions;
  std::unique_ptr<v1::TokenService::Stub> tokens;
  std::unique_ptr<v1::RateLimitService::Stub> limits;
  std::unique_ptr<v1::CacheService::Stub> cache;
  std::unique_ptr<v1::AdminService::Stub> admin;
};

class SnapshotTest : public ::testing::Test {
 protected:
  SnapshotTest() {
    dir_ = fs::temp_directory_path() /
           ("hg_snapshot_it_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "snapshot.bin").string();
  }
  ~SnapshotTest() override { fs::remove_all(dir_); }

  server::ServerConfig Config() const {
    server::ServerConfig config = TestConfig();
    config.snapshot_path = path_;
    return config;
  }
  std::map<std::string, double> Scrape(server::HourglassServer& server) {
    return server::testing::ParseSamples(server::RenderMetrics(server.metrics().collectables()));
  }

  fs::path dir_;
  std::string path_;
};

// What the first life of a server leaves, for the tests below to look for after a restart.
struct Written {
  std::string kept_session, deleted_session, rotated_from, rotated_to, bob_session;
  std::string used_token, live_token;
  int64_t kv_deadline_wall_ms = 0;
};

Written WriteEverything(Clients& c) {
  Written w;
  c.Set("kv", "value", /*ttl_ms=*/60'000);
  w.kv_deadline_wall_ms = WallNowMs() + 60'000;
  c.Set("persistent", "p");
  w.kept_session = c.CreateSession("alice");
  w.deleted_session = c.CreateSession("alice");
  c.DeleteSession(w.deleted_session);
  w.rotated_from = c.CreateSession("alice");
  w.rotated_to = c.RotateSession(w.rotated_from);
  w.bob_session = c.CreateSession("bob");
  w.used_token = c.IssueToken("email-verify", "alice");
  EXPECT_EQ(c.Consume("email-verify", w.used_token), v1::TOKEN_REASON_OK);
  w.live_token = c.IssueToken("reset", "alice");
  EXPECT_TRUE(c.Allowed("login:alice"));
  EXPECT_TRUE(c.Allowed("login:alice"));
  EXPECT_FALSE(c.Allowed("login:alice"));
  c.Fill("feed", "cached", "tag-a");
  return w;
}

TEST_F(SnapshotTest, AGracefulRestartKeepsEveryServicesState) {
  Written w;
  {
    TestServer first(Config());
    Clients c(first.channel());
    w = WriteEverything(c);
  }  // Shutdown: drain, then the clean snapshot
  ASSERT_TRUE(fs::exists(path_));
  ASSERT_TRUE(fs::exists(path_ + ".clean"));

  TestServer second(Config());
  EXPECT_TRUE(second.server().snapshot_loaded().clean);
  EXPECT_FALSE(fs::exists(path_ + ".clean")) << "consumed before serving";
  Clients c(second.channel());
  const v1::GetResponse kv = c.Get("kv");
  ASSERT_TRUE(kv.found());
  EXPECT_EQ(kv.value(), "value");
  // Same absolute expiry (the wall-clock instant survives the restart), to the millisecond.
  EXPECT_NEAR(kv.expire_time().seconds() * 1000 + kv.expire_time().nanos() / 1'000'000,
              w.kv_deadline_wall_ms, 2000);
  EXPECT_EQ(c.Get("persistent").value(), "p");
  EXPECT_TRUE(c.SessionFound(w.kept_session));
  EXPECT_FALSE(c.SessionFound(w.deleted_session)) << "a deleted session stays deleted";
  EXPECT_FALSE(c.SessionFound(w.rotated_from)) << "a rotated-away id stays dead";
  EXPECT_TRUE(c.SessionFound(w.rotated_to));
  EXPECT_EQ(c.ListSessions("alice"), 2);  // the user index came back consistent
  EXPECT_EQ(c.ListSessions("bob"), 1);
  EXPECT_EQ(c.Verify("email-verify", w.used_token), v1::TOKEN_REASON_USED_UP)
      << "a used token stays used";
  EXPECT_EQ(c.Verify("reset", w.live_token), v1::TOKEN_REASON_OK);
  EXPECT_FALSE(c.Allowed("login:alice")) << "the rate-limit count survives";
  EXPECT_EQ(c.Lookup("feed"), v1::CACHE_STATE_FRESH);
  EXPECT_EQ(c.InvalidateTag("tag-a"), 1) << "the tag index survives";
  // Everything still works on the restored entries.
  c.DeleteSession(w.kept_session);
  EXPECT_EQ(c.ListSessions("alice"), 1);
  EXPECT_EQ(c.Consume("reset", w.live_token), v1::TOKEN_REASON_OK);
}

TEST_F(SnapshotTest, AfterAnUncleanStopOnlyKvComesBack) {
  std::string older_snapshot;
  Written w;
  {
    TestServer first(Config());
    Clients c(first.channel());
    w = WriteEverything(c);
    v1::SaveSnapshotResponse saved;
    ASSERT_TRUE(c.SaveSnapshot(&saved).ok());
    older_snapshot = ReadAll(path_);
    EXPECT_FALSE(fs::exists(path_ + ".clean"));
    // After the periodic snapshot: a session deleted, a token used. A crash now must not
    // bring either back.
    c.DeleteSession(w.bob_session);
    EXPECT_EQ(c.Consume("reset", w.live_token), v1::TOKEN_REASON_OK);
    c.Set("after", "lost in the crash");
  }
  // What a crash would have left: the periodic snapshot, no marker.
  fs::remove(path_ + ".clean");
  std::ofstream(path_, std::ios::binary | std::ios::trunc) << older_snapshot;

  TestServer second(Config());
  const server::Snapshotter::LoadResult& loaded = second.server().snapshot_loaded();
  EXPECT_TRUE(loaded.found);
  EXPECT_FALSE(loaded.clean);
  EXPECT_EQ(loaded.restored, 2u);  // kv, persistent
  Clients c(second.channel());
  EXPECT_EQ(c.Get("kv").value(), "value");
  EXPECT_EQ(c.Get("persistent").value(), "p");
  EXPECT_FALSE(c.Get("after").found());  // written after the snapshot: lost, as documented
  EXPECT_FALSE(c.SessionFound(w.bob_session));
  EXPECT_FALSE(c.SessionFound(w.kept_session));  // sessions are not restored at all
  EXPECT_EQ(c.ListSessions("alice"), 0);
  EXPECT_EQ(c.Verify("reset", w.live_token), v1::TOKEN_REASON_NOT_FOUND);
  EXPECT_EQ(c.Verify("email-verify", w.used_token), v1::TOKEN_REASON_NOT_FOUND);
  EXPECT_TRUE(c.Allowed("login:alice"));  // counts start over
  EXPECT_EQ(c.Lookup("feed"), v1::CACHE_STATE_MISS);
}

TEST_F(SnapshotTest, SaveSnapshotAnswersWhatItWrote) {
  TestServer server(Config());
  Clients c(server.channel());
  for (int i = 0; i < 100; ++i) c.Set("k" + std::to_string(i), std::string(100, 'v'));
  v1::SaveSnapshotResponse saved;
  const grpc::Status status = c.SaveSnapshot(&saved);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(saved.path(), path_);
  EXPECT_EQ(saved.keys(), 100);
  EXPECT_EQ(saved.bytes(), static_cast<int64_t>(fs::file_size(path_)));
  const auto samples = Scrape(server.server());
  EXPECT_EQ(samples.at("hourglass_snapshot_writes_total"), 1);
  EXPECT_EQ(samples.at("hourglass_snapshot_failures_total"), 0);
  EXPECT_NEAR(samples.at("hourglass_snapshot_last_success_timestamp_seconds"), WallNowMs() / 1000.0,
              30);
  EXPECT_EQ(samples.at("hourglass_snapshot_last_keys"), 100);

  // A failed write: INTERNAL naming the file, previous file kept, counted.
  const std::string before = ReadAll(path_);
  fs::create_directories(path_ + ".tmp." + std::to_string(::getpid()));
  const grpc::Status failed = c.SaveSnapshot(&saved);
  EXPECT_EQ(failed.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_NE(failed.error_message().find(path_), std::string::npos) << failed.error_message();
  EXPECT_EQ(ReadAll(path_), before);
  EXPECT_EQ(Scrape(server.server()).at("hourglass_snapshot_failures_total"), 1);
  fs::remove(path_ + ".tmp." + std::to_string(::getpid()));
}

TEST_F(SnapshotTest, PeriodicSavesRunAndAreExposed) {
  server::ServerConfig config = Config();
  config.snapshot_interval_ms = 50;
  TestServer server(config);
  Clients c(server.channel());
  c.Set("k", "v");
  // Real time drives the period; bounded wait (10 s).
  for (int i = 0; i < 1000 && Scrape(server.server())["hourglass_snapshot_writes_total"] < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(Scrape(server.server())["hourglass_snapshot_writes_total"], 3);
  EXPECT_TRUE(fs::exists(path_));
  EXPECT_FALSE(fs::exists(path_ + ".clean")) << "periodic snapshots are never clean";
}

TEST_F(SnapshotTest, AnUnusableFileStopsTheStartOrIsSetAside) {
  std::ofstream(path_) << "GARBAGE";
  storage::SystemClock clock;
  auto refused = server::HourglassServer::Start(Config(), clock);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find(path_), std::string::npos) << refused.status();
  EXPECT_NE(refused.status().message().find("not an hourglass snapshot"), std::string::npos);

  server::ServerConfig config = Config();
  config.snapshot_on_corrupt = server::SnapshotOnCorrupt::kEmpty;
  TestServer server(config);
  EXPECT_TRUE(server.server().snapshot_loaded().moved_aside);
  EXPECT_EQ(ReadAll(path_ + ".corrupt"), "GARBAGE");
  Clients c(server.channel());
  EXPECT_FALSE(c.Get("anything").found());
}

TEST_F(SnapshotTest, OneServerPerSnapshotPath) {
  TestServer first(Config());
  storage::SystemClock clock;
  auto second = server::HourglassServer::Start(Config(), clock);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("in use by another process"), std::string::npos)
      << second.status();
}

}  // namespace
}  // namespace hourglass::testing
