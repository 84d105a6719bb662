#include "server/config.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"

namespace hourglass::server {

// Flag value types with their own parsers, so a bad value is reported by absl naming the flag
// and the accepted form, before the server starts.
struct ByteSizeFlag {
  uint64_t bytes = 0;
};
struct MemoryFlag {
  uint64_t bytes = 0;
  double percent = 0;  // > 0 when given as "N%"
};
struct PolicyFlag {
  storage::EvictionPolicy policy = storage::EvictionPolicy::kVolatileLru;
};

bool AbslParseFlag(absl::string_view text, ByteSizeFlag* flag, std::string* error) {
  auto bytes = ParseByteSize(std::string_view(text.data(), text.size()));
  if (!bytes || *bytes == 0) {
    *error = "expected a size > 0 such as 1048576, 64kb, 256mb or 2gb";
    return false;
  }
  flag->bytes = *bytes;
  return true;
}
std::string AbslUnparseFlag(const ByteSizeFlag& flag) { return absl::StrCat(flag.bytes); }

bool AbslParseFlag(absl::string_view text, MemoryFlag* flag, std::string* error) {
  if (absl::EndsWith(text, "%")) {
    double percent = 0;
    if (!absl::SimpleAtod(text.substr(0, text.size() - 1), &percent) || percent <= 0 ||
        percent > 100) {
      *error = "expected a size (256mb, 2gb) or a percentage in (0, 100] such as 80%";
      return false;
    }
    *flag = {0, percent};
    return true;
  }
  ByteSizeFlag size;
  if (!AbslParseFlag(text, &size, error)) {
    *error = "expected a size > 0 such as 268435456, 256mb, 2gb, or a percentage such as 80%";
    return false;
  }
  *flag = {size.bytes, 0};
  return true;
}
std::string AbslUnparseFlag(const MemoryFlag& flag) {
  return flag.percent > 0 ? absl::StrCat(flag.percent, "%") : absl::StrCat(flag.bytes);
}

bool AbslParseFlag(absl::string_view text, PolicyFlag* flag, std::string* error) {
  auto policy = ParseEvictionPolicy(std::string_view(text.data(), text.size()));
  if (!policy) {
    *error =
        "expected one of noeviction, allkeys-lru, volatile-lru, allkeys-lfu, volatile-lfu, "
        "allkeys-random, volatile-random, volatile-ttl, allkeys-tinylfu";
    return false;
  }
  flag->policy = *policy;
  return true;
}
std::string AbslUnparseFlag(const PolicyFlag& flag) {
  return std::string(EvictionPolicyName(flag.policy));
}

}  // namespace hourglass::server

using hourglass::server::ByteSizeFlag;
using hourglass::server::MemoryFlag;
using hourglass::server::PolicyFlag;

ABSL_FLAG(std::string, listen, "127.0.0.1:50051", "gRPC listen address (host:port)");
ABSL_FLAG(std::string, metrics_listen, "127.0.0.1:9464", "Prometheus /metrics address");
ABSL_FLAG(MemoryFlag, maxmemory, (MemoryFlag{256ull << 20, 0}),
          "byte cap of the store: 1048576, 64kb, 256mb, 2gb, or 80% of the cgroup limit");
ABSL_FLAG(PolicyFlag, eviction_policy, PolicyFlag{},
          "noeviction, allkeys-lru, volatile-lru, allkeys-lfu, volatile-lfu, allkeys-random, "
          "volatile-random, volatile-ttl, allkeys-tinylfu");
ABSL_FLAG(uint32_t, shards, 0,
          "shard count, a power of two (0 = smallest power of two >= 4 x cores)");
ABSL_FLAG(ByteSizeFlag, max_key_bytes, ByteSizeFlag{1024},
          "longest key, id, purpose, subject, tag");
ABSL_FLAG(ByteSizeFlag, max_value_bytes, ByteSizeFlag{1 << 20}, "longest value or payload");
ABSL_FLAG(absl::Duration, max_ttl, absl::Hours(87600), "longest TTL or furthest expire_time");
ABSL_FLAG(uint32_t, max_batch_items, 1000,
          "most items in Batch, CheckRateLimits, Delete, Invalidate");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10), "drain time on SIGTERM");
ABSL_FLAG(absl::Duration, handshake_timeout, absl::Seconds(10),
          "connections that never finish HTTP/2 set-up are closed after this");
ABSL_FLAG(std::string, ratelimit_config, "", "Envoy descriptor YAML file or directory");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error or off");
ABSL_FLAG(std::string, log_format, "text", "text or json");
ABSL_FLAG(std::string, snapshot_path, "",
          "snapshot file: loaded at start, written after the drain on SIGTERM (empty = off)");
ABSL_FLAG(absl::Duration, snapshot_interval, absl::ZeroDuration(),
          "also write a snapshot this often, e.g. 5m (0 = only at shutdown and on SaveSnapshot)");
ABSL_FLAG(std::string, snapshot_on_corrupt, "refuse",
          "a snapshot that cannot be used at start: refuse (do not start) or empty (move it "
          "aside as <path>.corrupt and start empty)");

namespace hourglass::server {
namespace {

// Our flags, in --help order; also the names HOURGLASS_<NAME> environment variables map to.
constexpr const char* kFlagNames[] = {
    "listen",
    "metrics_listen",
    "maxmemory",
    "eviction_policy",
    "shards",
    "max_key_bytes",
    "max_value_bytes",
    "max_ttl",
    "max_batch_items",
    "shutdown_grace",
    "handshake_timeout",
    "ratelimit_config",
    "log_level",
    "log_format",
    "snapshot_path",
    "snapshot_interval",
    "snapshot_on_corrupt",
};

bool GivenOnCommandLine(int argc, char** argv, absl::string_view name) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;
    for (absl::string_view prefix : {"--", "-"}) {
      if (!absl::StartsWith(arg, prefix)) continue;
      absl::string_view rest = arg.substr(prefix.size());
      if (rest == name || absl::StartsWith(rest, absl::StrCat(name, "="))) return true;
    }
  }
  return false;
}

absl::Status Invalid(absl::string_view flag, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", what));
}

int64_t ToMs(absl::Duration d) { return absl::ToInt64Milliseconds(d); }

}  // namespace

std::optional<uint64_t> ParseByteSize(std::string_view text) {
  std::string s = absl::AsciiStrToLower(
      absl::StripAsciiWhitespace(absl::string_view(text.data(), text.size())));
  uint64_t multiplier = 1;
  if (absl::EndsWith(s, "b")) s.pop_back();
  if (!s.empty()) {
    switch (s.back()) {
      case 'k':
        multiplier = 1ull << 10;
        break;
      case 'm':
        multiplier = 1ull << 20;
        break;
      case 'g':
        multiplier = 1ull << 30;
        break;
      default:
        break;
    }
    if (multiplier != 1) s.pop_back();
  }
  if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  uint64_t n = 0;
  if (!absl::SimpleAtoi(s, &n) || n > UINT64_MAX / multiplier) return std::nullopt;
  return n * multiplier;
}

namespace {
constexpr std::pair<std::string_view, storage::EvictionPolicy> kPolicies[] = {
    {"noeviction", storage::EvictionPolicy::kNoEviction},
    {"allkeys-lru", storage::EvictionPolicy::kAllKeysLru},
    {"volatile-lru", storage::EvictionPolicy::kVolatileLru},
    {"allkeys-lfu", storage::EvictionPolicy::kAllKeysLfu},
    {"volatile-lfu", storage::EvictionPolicy::kVolatileLfu},
    {"allkeys-random", storage::EvictionPolicy::kAllKeysRandom},
    {"volatile-random", storage::EvictionPolicy::kVolatileRandom},
    {"volatile-ttl", storage::EvictionPolicy::kVolatileTtl},
    {"allkeys-tinylfu", storage::EvictionPolicy::kAllKeysTinyLfu},
};
}  // namespace

std::optional<storage::EvictionPolicy> ParseEvictionPolicy(std::string_view text) {
  std::string normal = absl::StrReplaceAll(
      absl::AsciiStrToLower(absl::string_view(text.data(), text.size())), {{"_", "-"}});
  for (const auto& [name, policy] : kPolicies) {
    if (normal == name) return policy;
  }
  return std::nullopt;
}

std::string_view EvictionPolicyName(storage::EvictionPolicy policy) {
  for (const auto& [name, p] : kPolicies) {
    if (p == policy) return name;
  }
  return "unknown";
}

uint64_t AvailableMemoryBytes() {
  // cgroup v2, then v1; "max" or an absurd v1 value means no limit.
  for (const char* path :
       {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    std::ifstream in(path);
    std::string text;
    uint64_t limit = 0;
    if (in >> text && absl::SimpleAtoi(text, &limit) && limit > 0 && limit < (1ull << 60)) {
      return limit;
    }
  }
  return static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) *
         static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

size_t DefaultShardCount() {
  const size_t want = 4 * std::max(1u, std::thread::hardware_concurrency());
  size_t shards = 1;
  while (shards < want) shards <<= 1;
  return shards;
}

absl::StatusOr<ServerConfig> ParseServerConfig(int argc, char** argv) {
  absl::FlagsUsageConfig usage;
  usage.contains_helpshort_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "server/config.cc");
  };
  usage.contains_help_flags = usage.contains_helpshort_flags;
  usage.version_string = [] { return std::string("hourglass 0.1.0\n"); };
  absl::SetFlagsUsageConfig(usage);
  absl::SetProgramUsageMessage(
      "expiring data as typed gRPC services.\n"
      "Every flag can also be set as HOURGLASS_<FLAG IN UPPER CASE>; the command line wins.\n"
      "Usage: hourglass [--flag=value]...");

  // Environment values go first so that command-line occurrences override them.
  std::vector<std::string> env_args;
  for (const char* name : kFlagNames) {
    const std::string var = absl::StrCat("HOURGLASS_", absl::AsciiStrToUpper(name));
    const char* value = std::getenv(var.c_str());
    if (value != nullptr && !GivenOnCommandLine(argc, argv, name)) {
      env_args.push_back(absl::StrCat("--", name, "=", value));
    }
  }
  std::vector<char*> args;
  args.push_back(argv[0]);
  for (auto& arg : env_args) args.push_back(arg.data());
  for (int i = 1; i < argc; ++i) args.push_back(argv[i]);
  std::vector<char*> positional =
      absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  if (positional.size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", positional[1],
                                                   "' (flags take the form --name=value)"));
  }

  ServerConfig config;
  config.listen = absl::GetFlag(FLAGS_listen);
  config.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  const MemoryFlag memory = absl::GetFlag(FLAGS_maxmemory);
  config.maxmemory_bytes =
      memory.percent > 0 ? static_cast<uint64_t>(AvailableMemoryBytes() * memory.percent / 100)
                         : memory.bytes;
  config.eviction_policy = absl::GetFlag(FLAGS_eviction_policy).policy;
  const uint32_t shards = absl::GetFlag(FLAGS_shards);
  if (shards != 0 && ((shards & (shards - 1)) != 0 || shards > 65536)) {
    return Invalid("shards",
                   absl::StrCat(shards, " is not a power of two in 1..65536 (or 0 = auto)"));
  }
  config.shards = shards == 0 ? DefaultShardCount() : shards;
  config.limits.max_key_bytes = absl::GetFlag(FLAGS_max_key_bytes).bytes;
  if (config.limits.max_key_bytes > 65535) {
    return Invalid("max_key_bytes", "must be at most 64kb - 1 (65535)");
  }
  config.limits.max_value_bytes = absl::GetFlag(FLAGS_max_value_bytes).bytes;
  if (config.limits.max_value_bytes > (64ull << 20)) {
    return Invalid("max_value_bytes", "must be at most 64mb");
  }
  const absl::Duration max_ttl = absl::GetFlag(FLAGS_max_ttl);
  // The store keeps deadlines in 40 bits of milliseconds and accepts a max_ttl up to 2^39 ms.
  if (max_ttl < absl::Milliseconds(1) || max_ttl > absl::Milliseconds(int64_t{1} << 39)) {
    return Invalid("max_ttl", "must be a duration between 1ms and 152709h (17 years), e.g. 87600h");
  }
  config.limits.max_ttl_ms = ToMs(max_ttl);
  config.limits.max_batch_items = absl::GetFlag(FLAGS_max_batch_items);
  if (config.limits.max_batch_items == 0) return Invalid("max_batch_items", "must be > 0");
  const absl::Duration grace = absl::GetFlag(FLAGS_shutdown_grace);
  if (grace < absl::ZeroDuration()) return Invalid("shutdown_grace", "must be >= 0, e.g. 10s");
  config.shutdown_grace_ms = ToMs(grace);
  const absl::Duration handshake = absl::GetFlag(FLAGS_handshake_timeout);
  if (handshake < absl::Milliseconds(1)) {
    return Invalid("handshake_timeout", "must be a duration > 0, e.g. 10s");
  }
  config.handshake_timeout_ms = ToMs(handshake);
  config.ratelimit_config = absl::GetFlag(FLAGS_ratelimit_config);
  config.log_level = absl::AsciiStrToLower(absl::GetFlag(FLAGS_log_level));
  static constexpr std::string_view kLevels[] = {"trace", "debug", "info", "warn", "error", "off"};
  if (std::find(std::begin(kLevels), std::end(kLevels), config.log_level) == std::end(kLevels)) {
    return Invalid("log_level", "expected trace, debug, info, warn, error or off");
  }
  const std::string format = absl::AsciiStrToLower(absl::GetFlag(FLAGS_log_format));
  if (format == "text") {
    config.log_format = LogFormat::kText;
  } else if (format == "json") {
    config.log_format = LogFormat::kJson;
  } else {
    return Invalid("log_format", "expected text or json");
  }
  if (config.listen.empty()) return Invalid("listen", "expected host:port, e.g. 127.0.0.1:50051");
  config.snapshot_path = absl::GetFlag(FLAGS_snapshot_path);
  const absl::Duration interval = absl::GetFlag(FLAGS_snapshot_interval);
  if (interval < absl::ZeroDuration()) {
    return Invalid("snapshot_interval", "must be >= 0, e.g. 5m (0 = off)");
  }
  config.snapshot_interval_ms = ToMs(interval);
  if (interval > absl::ZeroDuration() && config.snapshot_interval_ms == 0) {
    return Invalid("snapshot_interval", "must be at least 1ms (0 = off)");
  }
  if (config.snapshot_interval_ms > 0 && config.snapshot_path.empty()) {
    return Invalid("snapshot_interval", "needs --snapshot_path");
  }
  const std::string on_corrupt = absl::AsciiStrToLower(absl::GetFlag(FLAGS_snapshot_on_corrupt));
  if (on_corrupt == "refuse") {
    config.snapshot_on_corrupt = SnapshotOnCorrupt::kRefuse;
  } else if (on_corrupt == "empty") {
    config.snapshot_on_corrupt = SnapshotOnCorrupt::kEmpty;
  } else {
    return Invalid("snapshot_on_corrupt", "expected refuse or empty");
  }
  return config;
}

}  // namespace hourglass::server
