#pragma once

// Server configuration: every flag of API.md's "Server flags" table, its default, its
// HOURGLASS_<FLAG> environment form (the command line wins) and its validation.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "server/limits.h"
#include "storage/store.h"

namespace hourglass::server {

enum class LogFormat { kText, kJson };

// --snapshot_on_corrupt: what start-up does with a snapshot file it cannot use.
enum class SnapshotOnCorrupt {
  kRefuse,  // refuse to start, naming the file and what is wrong
  kEmpty,   // move the file aside as <path>.corrupt and start empty
};

struct ServerConfig {
  std::string listen = "127.0.0.1:50051";
  std::string metrics_listen = "127.0.0.1:9464";
  uint64_t maxmemory_bytes = 256ull << 20;
  storage::EvictionPolicy eviction_policy = storage::EvictionPolicy::kVolatileLru;
  size_t shards = 0;  // resolved: power of two >= 4 x cores
  Limits limits;
  int64_t shutdown_grace_ms = 10'000;
  int64_t handshake_timeout_ms = 10'000;
  std::string ratelimit_config;  // empty: none
  std::string log_level = "info";
  LogFormat log_format = LogFormat::kText;
  std::string snapshot_path;         // empty: no snapshots
  int64_t snapshot_interval_ms = 0;  // 0: no periodic snapshots
  SnapshotOnCorrupt snapshot_on_corrupt = SnapshotOnCorrupt::kRefuse;
};

// Parses argv (after applying HOURGLASS_* environment variables) into a config. Handles --help
// and flag syntax errors the absl way (prints and exits). Returns INVALID_ARGUMENT naming the flag
// and the accepted form for values that parse but are out of range.
absl::StatusOr<ServerConfig> ParseServerConfig(int argc, char** argv);

// Sizes: "1048576", "64kb", "256mb", "2gb" (k/m/g, optional b, case-insensitive; 1024-based).
std::optional<uint64_t> ParseByteSize(std::string_view text);

// Redis spelling ("allkeys-lru"), case and '-'/'_' insensitive.
std::optional<storage::EvictionPolicy> ParseEvictionPolicy(std::string_view text);
std::string_view EvictionPolicyName(storage::EvictionPolicy policy);

// --maxmemory also takes "N%": of the cgroup memory limit, or of physical memory without one.
uint64_t AvailableMemoryBytes();

// The default shard count: the smallest power of two >= 4 x hardware threads.
size_t DefaultShardCount();

}  // namespace hourglass::server
