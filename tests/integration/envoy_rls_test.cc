// Envoy's ShouldRateLimit over real gRPC against the real server, with limits from a YAML file
// (--ratelimit_config): the reference service's semantics, reload keeping counters, a bad file
// refused at start-up and on reload (shared/HOSTILE_INPUTS.md row 35), UNAVAILABLE on failure.

#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "envoy/service/ratelimit/v3/rls.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "server/server.h"
#include "tests/integration/test_server.h"

namespace hourglass::testing {
namespace {

namespace rls = ::envoy::service::ratelimit::v3;
using Code = rls::RateLimitResponse::Code;
using Unit = rls::RateLimitResponse::RateLimit::Unit;

constexpr char kConfig[] = R"(domain: edge
descriptors:
  - key: remote_address
    rate_limit: {unit: hour, requests_per_unit: 3}
  - key: path
    value: /login
    rate_limit: {unit: hour, requests_per_unit: 1, name: login}
  - key: generic
    value: unl
    rate_limit: {unlimited: true}
  - key: shadow
    shadow_mode: true
    rate_limit: {unit: hour, requests_per_unit: 0}
  - key: clock
    rate_limit: {unit: second, requests_per_unit: 1000}
)";

// A directory of its own per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("hg_envoy_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string Write(const std::string& name, const std::string& content) const {
    const std::filesystem::path file = path_ / name;
    std::ofstream(file) << content;
    return file.string();
  }

 private:
  std::filesystem::path path_;
};

// Hour windows are aligned to wall-clock hours: stay clear of a boundary so a test's calls all
// fall in one window (sleeps at most 10 s, once in 360 runs).
void StayClearOfHourBoundary() {
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  const int64_t to_boundary = 3'600'000 - now_ms % 3'600'000;
  if (to_boundary < 10'000)
    std::this_thread::sleep_for(std::chrono::milliseconds(to_boundary + 50));
}

server::ServerConfig ConfigWith(const std::string& path) {
  server::ServerConfig config = TestConfig();
  config.ratelimit_config = path;
  return config;
}

rls::RateLimitRequest Request(const std::string& text) {
  rls::RateLimitRequest request;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &request)) << text;
  return request;
}

grpc::Status Call(TestServer& server, const std::string& text, rls::RateLimitResponse* response) {
  auto stub = rls::RateLimitService::NewStub(server.channel());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return stub->ShouldRateLimit(&context, Request(text), response);
}

rls::RateLimitResponse Must(TestServer& server, const std::string& text) {
  rls::RateLimitResponse response;
  grpc::Status status = Call(server, text, &response);
  EXPECT_TRUE(status.ok()) << text << ": " << status.error_message();
  return response;
}

std::string Descriptor(const std::string& key, const std::string& value,
                       const std::string& extra = "") {
  return "descriptors { entries { key: '" + key + "' value: '" + value + "' } " + extra + " } ";
}

class EnvoyRlsTest : public ::testing::Test {
 protected:
  EnvoyRlsTest()
      : config_path_((StayClearOfHourBoundary(), dir_.Write("limits.yaml", kConfig))),
        server_(ConfigWith(config_path_)) {}

  TempDir dir_;
  std::string config_path_;
  TestServer server_;
};

TEST_F(EnvoyRlsTest, EveryDescriptorGetsItsStatusInOrder) {
  const std::string request = "domain: 'edge' " + Descriptor("remote_address", "10.0.0.1") +
                              Descriptor("path", "/login") + Descriptor("nothing", "here") +
                              Descriptor("generic", "unl") + Descriptor("shadow", "s");
  rls::RateLimitResponse first = Must(server_, request);
  EXPECT_EQ(first.overall_code(), rls::RateLimitResponse::OK);
  ASSERT_EQ(first.statuses_size(), 5);
  const auto& ip = first.statuses(0);
  EXPECT_EQ(ip.code(), rls::RateLimitResponse::OK);
  EXPECT_EQ(ip.current_limit().requests_per_unit(), 3u);
  EXPECT_EQ(ip.current_limit().unit(), rls::RateLimitResponse::RateLimit::HOUR);
  EXPECT_EQ(ip.limit_remaining(), 2u);
  EXPECT_GT(ip.duration_until_reset().seconds(), 0);
  EXPECT_LE(ip.duration_until_reset().seconds(), 3600);
  EXPECT_EQ(first.statuses(1).current_limit().name(), "login");
  EXPECT_EQ(first.statuses(1).limit_remaining(), 0u);
  // Unmatched: OK, no limit.
  EXPECT_EQ(first.statuses(2).code(), rls::RateLimitResponse::OK);
  EXPECT_FALSE(first.statuses(2).has_current_limit());
  EXPECT_FALSE(first.statuses(2).has_duration_until_reset());
  // Unlimited: OK with the largest remaining.
  EXPECT_EQ(first.statuses(3).code(), rls::RateLimitResponse::OK);
  EXPECT_EQ(first.statuses(3).limit_remaining(), 4294967295u);
  // Shadow mode: over its limit of 0, reported OK, and not counted in the overall code.
  EXPECT_EQ(first.statuses(4).code(), rls::RateLimitResponse::OK);
  EXPECT_EQ(first.statuses(4).limit_remaining(), 0u);

  rls::RateLimitResponse second = Must(server_, request);
  EXPECT_EQ(second.overall_code(), rls::RateLimitResponse::OVER_LIMIT);
  EXPECT_EQ(second.statuses(0).code(), rls::RateLimitResponse::OK);
  EXPECT_EQ(second.statuses(0).limit_remaining(), 1u);
  EXPECT_EQ(second.statuses(1).code(), rls::RateLimitResponse::OVER_LIMIT);
  EXPECT_EQ(second.statuses(1).limit_remaining(), 0u);
}

TEST_F(EnvoyRlsTest, SecondWindowsAlignToTheWallClock) {
  rls::RateLimitResponse response = Must(server_, "domain: 'edge' " + Descriptor("clock", "c"));
  const auto& reset = response.statuses(0).duration_until_reset();
  const int64_t ms = reset.seconds() * 1000 + reset.nanos() / 1'000'000;
  EXPECT_GT(ms, 0);
  EXPECT_LE(ms, 1000);
}

TEST_F(EnvoyRlsTest, UnknownDomainIsOkForEveryDescriptor) {
  rls::RateLimitResponse response =
      Must(server_, "domain: 'other' " + Descriptor("remote_address", "10.0.0.1") +
                        Descriptor("x", "y", "limit { requests_per_unit: 0 unit: HOUR }"));
  EXPECT_EQ(response.overall_code(), rls::RateLimitResponse::OK);
  ASSERT_EQ(response.statuses_size(), 2);
  for (const auto& status : response.statuses()) {
    EXPECT_EQ(status.code(), rls::RateLimitResponse::OK);
    EXPECT_FALSE(status.has_current_limit());
  }
}

TEST_F(EnvoyRlsTest, HitsAddendAndOverrides) {
  // The request's hits_addend applies to every descriptor without its own.
  rls::RateLimitResponse three =
      Must(server_, "domain: 'edge' hits_addend: 3 " + Descriptor("remote_address", "10.9.9.9"));
  EXPECT_EQ(three.statuses(0).limit_remaining(), 0u);
  // A descriptor's hits_addend of 0 only checks.
  rls::RateLimitResponse check = Must(
      server_, "domain: 'edge' " + Descriptor("remote_address", "10.9.9.9", "hits_addend { }"));
  EXPECT_EQ(check.overall_code(), rls::RateLimitResponse::OK);
  EXPECT_EQ(
      Must(server_, "domain: 'edge' " + Descriptor("remote_address", "10.9.9.9")).overall_code(),
      rls::RateLimitResponse::OVER_LIMIT);
  // A per-request limit also applies where the config has no match (the domain is known).
  const std::string custom =
      "domain: 'edge' " + Descriptor("custom", "k", "limit { requests_per_unit: 1 unit: HOUR }");
  rls::RateLimitResponse first = Must(server_, custom);
  EXPECT_EQ(first.overall_code(), rls::RateLimitResponse::OK);
  EXPECT_EQ(first.statuses(0).current_limit().requests_per_unit(), 1u);
  EXPECT_EQ(Must(server_, custom).overall_code(), rls::RateLimitResponse::OVER_LIMIT);
}

TEST_F(EnvoyRlsTest, MalformedRequestsAreInvalidArgument) {
  rls::RateLimitResponse response;
  grpc::Status empty_domain = Call(server_, Descriptor("a", "b"), &response);
  EXPECT_EQ(empty_domain.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(empty_domain.error_message(), "domain: required");
  grpc::Status no_descriptors = Call(server_, "domain: 'edge'", &response);
  EXPECT_EQ(no_descriptors.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  grpc::Status bad_unit =
      Call(server_, "domain: 'edge' " + Descriptor("a", "b", "limit { requests_per_unit: 1 }"),
           &response);
  EXPECT_EQ(bad_unit.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(bad_unit.error_message().rfind("descriptors[0].limit.unit: ", 0), 0u);
  grpc::Status long_value =
      Call(server_, "domain: 'edge' " + Descriptor("a", std::string(1025, 'v')), &response);
  EXPECT_EQ(long_value.error_message(),
            "descriptors[0].entries[0].value: 1025 bytes exceeds max 1024");

  auto health = grpc::health::v1::Health::NewStub(server_.channel());
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("envoy.service.ratelimit.v3.RateLimitService");
  grpc::health::v1::HealthCheckResponse serving;
  ASSERT_TRUE(health->Check(&context, request, &serving).ok());
  EXPECT_EQ(serving.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(EnvoyRlsTest, ReloadKeepsCountersAndABadFileKeepsTheOldConfig) {
  const std::string ip = "domain: 'edge' " + Descriptor("remote_address", "10.1.1.1");
  EXPECT_EQ(Must(server_, ip).statuses(0).limit_remaining(), 2u);
  EXPECT_EQ(Must(server_, ip).statuses(0).limit_remaining(), 1u);

  // Same descriptor, a higher limit: the count (2) carries over.
  dir_.Write("limits.yaml",
             "domain: edge\ndescriptors:\n"
             "  - key: remote_address\n    rate_limit: {unit: hour, requests_per_unit: 10}\n");
  absl::StatusOr<size_t> reloaded = server_.server().ReloadRateLimitConfig();
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ(*reloaded, 1u);
  rls::RateLimitResponse after = Must(server_, ip);
  EXPECT_EQ(after.statuses(0).current_limit().requests_per_unit(), 10u);
  EXPECT_EQ(after.statuses(0).limit_remaining(), 7u);

  // A broken file: refused with file and line, the previous config stays in force.
  dir_.Write("limits.yaml",
             "domain: edge\ndescriptors:\n"
             "  - key: remote_address\n    rate_limit: {unit: fortnight, requests_per_unit: 1}\n");
  absl::StatusOr<size_t> refused = server_.server().ReloadRateLimitConfig();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.status().message().rfind(config_path_ + ":4: ", 0), 0u) << refused.status();
  EXPECT_EQ(Must(server_, ip).statuses(0).limit_remaining(), 6u);
}

TEST(EnvoyRlsStartTest, BadConfigStopsStartUpNamingFileAndLine) {
  TempDir dir;
  const std::string path = dir.Write("bad.yaml",
                                     "domain: edge\n"
                                     "descriptors:\n"
                                     "  - key: k\n"
                                     "    rate_limit:\n"
                                     "      unit: second\n"
                                     "      requests_per_unit: -1\n");
  storage::SystemClock clock;
  auto server = server::HourglassServer::Start(ConfigWith(path), clock);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(server.status().message().rfind(path + ":6: ", 0), 0u) << server.status();

  auto missing = server::HourglassServer::Start(ConfigWith(path + ".nope"), clock);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("bad.yaml.nope"), std::string_view::npos);
}

TEST(EnvoyRlsStartTest, StoreFailureIsUnavailableNeverUnknown) {
  StayClearOfHourBoundary();
  TempDir dir;
  server::ServerConfig config = ConfigWith(dir.Write("limits.yaml", kConfig));
  config.maxmemory_bytes = 1;  // no counter fits
  TestServer server(config);
  rls::RateLimitResponse response;
  grpc::Status status =
      Call(server, "domain: 'edge' " + Descriptor("remote_address", "10.0.0.1"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  // Nothing to count (unmatched, unlimited): still answered.
  EXPECT_TRUE(Call(server, "domain: 'edge' " + Descriptor("generic", "unl"), &response).ok());
}

}  // namespace
}  // namespace hourglass::testing
