// --ratelimit_config loading: the reference service's YAML format, and errors that name the file
// and the line (shared/HOSTILE_INPUTS.md row 35).

#include "server/ratelimit_config.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/domain/envoy_limits.h"

namespace hourglass::server {
namespace {

using domain::EnvoyEntry;
using domain::EnvoyLimitsConfig;
using domain::EnvoyUnit;

constexpr char kExample[] = R"(domain: edge
descriptors:
  - key: remote_address
    rate_limit:
      unit: Second
      requests_per_unit: 3
  - key: path
    value: /login
    rate_limit: {unit: minute, requests_per_unit: 2, name: login}
    shadow_mode: true
  - key: path
    value: "/api/*"
    detailed_metric: true
    rate_limit:
      unit: hour
      requests_per_unit: 0
  - key: tier
    value: free
    descriptors:
      - key: user
        rate_limit:
          unit: week
          requests_per_unit: 4294967295
          replaces:
            - name: login
  - key: generic
    rate_limit:
      unlimited: true
)";

absl::Status Parse(std::string_view content, EnvoyLimitsConfig& config) {
  return ParseRateLimitYaml("limits.yaml", content, config);
}

std::string ErrorOf(std::string_view content) {
  EnvoyLimitsConfig config;
  absl::Status status = Parse(content, config);
  EXPECT_FALSE(status.ok()) << content;
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  return std::string(status.message());
}

TEST(RateLimitConfigTest, ParsesTheReferenceFormat) {
  EnvoyLimitsConfig config;
  ASSERT_TRUE(Parse(kExample, config).ok()) << Parse(kExample, config);
  ASSERT_TRUE(config.HasDomain("edge"));
  const std::vector<EnvoyEntry> ip = {{"remote_address", "1.2.3.4"}};
  const domain::EnvoyLimit* limit = config.Match("edge", ip);
  ASSERT_NE(limit, nullptr);
  EXPECT_EQ(limit->unit, EnvoyUnit::kSecond);
  EXPECT_EQ(limit->requests_per_unit, 3u);
  EXPECT_FALSE(limit->shadow_mode);

  const std::vector<EnvoyEntry> login = {{"path", "/login"}};
  limit = config.Match("edge", login);
  ASSERT_NE(limit, nullptr);
  EXPECT_EQ(limit->name, "login");
  EXPECT_TRUE(limit->shadow_mode);

  const std::vector<EnvoyEntry> api = {{"path", "/api/v2"}};
  limit = config.Match("edge", api);
  ASSERT_NE(limit, nullptr);
  EXPECT_EQ(limit->requests_per_unit, 0u);
  EXPECT_EQ(limit->unit, EnvoyUnit::kHour);

  const std::vector<EnvoyEntry> user = {{"tier", "free"}, {"user", "u"}};
  limit = config.Match("edge", user);
  ASSERT_NE(limit, nullptr);
  EXPECT_EQ(limit->unit, EnvoyUnit::kWeek);
  EXPECT_EQ(limit->requests_per_unit, 4294967295u);
  EXPECT_EQ(limit->replaces, std::vector<std::string>{"login"});

  const std::vector<EnvoyEntry> generic = {{"generic", "x"}};
  limit = config.Match("edge", generic);
  ASSERT_NE(limit, nullptr);
  EXPECT_TRUE(limit->unlimited);
}

TEST(RateLimitConfigTest, DomainWithoutDescriptorsIsValid) {
  EnvoyLimitsConfig config;
  EXPECT_TRUE(Parse("domain: empty\n", config).ok());
  EXPECT_TRUE(Parse("domain: empty2\ndescriptors:\n", config).ok());
  EXPECT_TRUE(config.HasDomain("empty2"));
}

TEST(RateLimitConfigTest, ErrorsNameFileLineAndField) {
  // Syntax error.
  EXPECT_EQ(ErrorOf("domain: a\ndescriptors:\n  - key: k\n    rate_limit: {unit: second\n")
                .rfind("limits.yaml:", 0),
            0u);
  EXPECT_NE(ErrorOf("domain: a\ndescriptors:\n  - key: [\n").find("invalid YAML"),
            std::string::npos);
  // Negative limit.
  EXPECT_EQ(ErrorOf("domain: a\n"
                    "descriptors:\n"
                    "  - key: k\n"
                    "    rate_limit:\n"
                    "      unit: second\n"
                    "      requests_per_unit: -5\n"),
            "limits.yaml:6: descriptors[0].rate_limit.requests_per_unit: must be a whole number "
            "from 0 to 4294967295, got '-5'");
  // Unknown unit.
  EXPECT_EQ(ErrorOf("domain: a\n"
                    "descriptors:\n"
                    "  - key: k\n"
                    "    descriptors:\n"
                    "      - key: j\n"
                    "        rate_limit: {unit: fortnight, requests_per_unit: 1}\n"),
            "limits.yaml:6: descriptors[0].descriptors[0].rate_limit.unit: unknown unit "
            "'fortnight' (expected second, minute, hour, day, week, month or year)");
}

TEST(RateLimitConfigTest, RefusesWhatTheReferenceWouldMisread) {
  struct Case {
    std::string yaml;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"", "limits.yaml:1: domain: required (the file is empty)"},
      {"- a\n- b\n", "limits.yaml:1: the document must be a map with `domain`"},
      {"descriptors: []\n", "limits.yaml:1: domain: required"},
      {"domain: ''\n", "limits.yaml:1: domain: must not be empty"},
      {"domain: a\nextra: 1\n",
       "limits.yaml:2: extra: unknown key (expected one of: domain, "
       "descriptors)"},
      {"domain: a\ndomain: b\n", "limits.yaml:2: domain: duplicate key"},
      {"domain: a\n---\ndomain: b\n",
       "limits.yaml:3: one YAML document per file (one domain per document)"},
      {"domain: a\ndescriptors: {key: k}\n",
       "limits.yaml:2: descriptors: must be a list of descriptors"},
      {"domain: a\ndescriptors:\n  - value: v\n", "limits.yaml:3: descriptors[0].key: required"},
      {"domain: a\ndescriptors:\n  - key: ''\n",
       "limits.yaml:3: descriptors[0].key: must not be empty"},
      {"domain: a\ndescriptors:\n  - key: k\n    unit: second\n",
       "limits.yaml:4: descriptors[0].unit: unknown key (expected one of: key, value, rate_limit, "
       "descriptors, shadow_mode, detailed_metric)"},
      {"domain: a\ndescriptors:\n  - key: k\n  - key: k\n",
       "limits.yaml:4: descriptors[1]: duplicate descriptor: key 'k' without a value"},
      {"domain: a\ndescriptors:\n  - {key: k, value: v}\n  - {key: k, value: v}\n",
       "limits.yaml:4: descriptors[1]: duplicate descriptor: key 'k' value 'v'"},
      {"domain: a\ndescriptors:\n  - key: k\n    rate_limit: {requests_per_unit: 1}\n",
       "limits.yaml:4: descriptors[0].rate_limit.unit: required"},
      {"domain: a\ndescriptors:\n  - key: k\n    rate_limit: {unit: second}\n",
       "limits.yaml:4: descriptors[0].rate_limit.requests_per_unit: required"},
      {"domain: a\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, "
       "requests_per_unit: 1.5}\n",
       "limits.yaml:4: descriptors[0].rate_limit.requests_per_unit: must be a whole number from 0 "
       "to 4294967295, got '1.5'"},
      {"domain: a\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, "
       "requests_per_unit: 4294967296}\n",
       "limits.yaml:4: descriptors[0].rate_limit.requests_per_unit: must be a whole number from 0 "
       "to 4294967295, got '4294967296'"},
      {"domain: a\ndescriptors:\n  - key: k\n    rate_limit: {unlimited: true, unit: second}\n",
       "limits.yaml:4: descriptors[0].rate_limit: an unlimited rate_limit takes no unit or "
       "requests_per_unit"},
      {"domain: a\ndescriptors:\n  - key: k\n    shadow_mode: maybe\n",
       "limits.yaml:4: descriptors[0].shadow_mode: must be true or false"},
      {"domain: a\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: 1, "
       "name: n, replaces: [{name: n}]}\n",
       "limits.yaml:4: descriptors[0].rate_limit.replaces[0].name: a limit cannot replace itself"},
  };
  for (const Case& c : cases) EXPECT_EQ(ErrorOf(c.yaml), c.error) << c.yaml;
}

class RateLimitConfigFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("hg_rlconfig_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& content) {
    const std::filesystem::path path = dir_ / name;
    std::ofstream(path) << content;
    return path.string();
  }

  std::filesystem::path dir_;
};

TEST_F(RateLimitConfigFilesTest, LoadsAFile) {
  const std::string path = Write("one.yaml", kExample);
  auto config = LoadRateLimitConfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ((*config)->domain_count(), 1u);
}

TEST_F(RateLimitConfigFilesTest, LoadsADirectoryOfYamlFilesOnly) {
  Write("a.yaml", "domain: a\n");
  Write("b.yml", "domain: b\n");
  Write("c.txt", "not: yaml: at: all: [\n");
  Write(".hidden.yaml", "garbage: [\n");
  std::filesystem::create_directories(dir_ / "sub");
  Write("sub/d.yaml", "domain: d\n");
  auto config = LoadRateLimitConfig(dir_.string());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ((*config)->domain_count(), 2u);
  EXPECT_TRUE((*config)->HasDomain("a"));
  EXPECT_TRUE((*config)->HasDomain("b"));
}

TEST_F(RateLimitConfigFilesTest, ErrorsNameTheFile) {
  Write("a.yaml", "domain: same\n");
  const std::string second = Write("b.yaml", "\ndomain: same\n");
  auto duplicate = LoadRateLimitConfig(dir_.string());
  ASSERT_FALSE(duplicate.ok());
  EXPECT_EQ(duplicate.status().message(),
            second + ":2: domain: 'same' is already defined in " + (dir_ / "a.yaml").string());

  std::filesystem::remove(second);
  const std::string bad = Write("c.yaml",
                                "domain: c\ndescriptors:\n  - key: k\n    rate_limit: "
                                "{unit: lightyear, requests_per_unit: 1}\n");
  auto invalid = LoadRateLimitConfig(dir_.string());
  ASSERT_FALSE(invalid.ok());
  EXPECT_EQ(invalid.status().message().rfind(bad + ":4: ", 0), 0u) << invalid.status();

  auto missing = LoadRateLimitConfig((dir_ / "nope.yaml").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("nope.yaml"), std::string_view::npos);
}

}  // namespace
}  // namespace hourglass::server
