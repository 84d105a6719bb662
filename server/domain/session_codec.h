#pragma once

// The stored form of a session (the value of its storage::Space::kSession entry; the key is the
// session id and the entry's deadline is the idle deadline).
//
// Layout (byte_codec.h primitives), version 1:
//   byte     version (1)
//   bytes    user_id
//   fixed64  create_wall_ms          Unix ms, for create_time
//   varint   idle_timeout_ms
//   fixed64  absolute_wall_ms        Unix ms; INT64_MAX = no absolute deadline
//   varint   data count, then (bytes key, bytes value) sorted by key
//   varint   labels count, then (bytes key, bytes value) sorted by key
//
// The absolute deadline is kept in wall-clock time (it is an instant the client sees, and it
// survives a restart from a snapshot, where monotonic readings start over); it is converted to
// a monotonic instant whenever it caps the idle deadline.
//
// Pure functions; thread-safe.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace hourglass::domain {

// Session data and labels: ordered, with heterogeneous lookup.
using StringMap = std::map<std::string, std::string, std::less<>>;

inline constexpr int64_t kNoAbsoluteDeadline = INT64_MAX;

struct SessionRecord {
  std::string user_id;
  int64_t create_wall_ms = 0;
  int64_t idle_timeout_ms = 0;
  int64_t absolute_wall_ms = kNoAbsoluteDeadline;
  StringMap data;
  StringMap labels;
};

std::string EncodeSessionRecord(const SessionRecord& record);

// nullopt when `value` is not a well-formed version-1 record.
std::optional<SessionRecord> DecodeSessionRecord(std::string_view value);

// The fixed fields only (the user id is a view into `value`), without decoding data and labels:
// for removal hooks, event keys and liveness checks over many sessions.
struct SessionHeader {
  std::string_view user_id;
  int64_t create_wall_ms = 0;
  int64_t idle_timeout_ms = 0;
  int64_t absolute_wall_ms = kNoAbsoluteDeadline;
};
std::optional<SessionHeader> DecodeSessionHeader(std::string_view value);

// The encoded size of `data` plus `labels`: what --max_value_bytes bounds ("session content").
uint64_t SessionContentBytes(const StringMap& data, const StringMap& labels);

}  // namespace hourglass::domain
