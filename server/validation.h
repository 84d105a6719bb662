#pragma once

// Request validation shared by every adapter. Each check returns INVALID_ARGUMENT with a message
// that names the field and the limit ("key: 2048 bytes exceeds max 1024"), as API.md requires.
// Stateless; thread-safe.

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/timestamp.pb.h>

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/clock.h"

namespace hourglass::server {

// `field` must be non-empty.
absl::Status RequireNonEmpty(std::string_view field, std::string_view value);

// Non-empty and at most `max_bytes` long.
absl::Status CheckKey(std::string_view field, std::string_view key, uint64_t max_bytes);

// At most `max_bytes` long (may be empty).
absl::Status CheckSize(std::string_view field, std::string_view value, uint64_t max_bytes);

// At most `max_items` items.
absl::Status CheckItemCount(std::string_view field, uint64_t count, uint64_t max_items);

// A known value of a proto enum (`is_valid` is the generated `<Enum>_IsValid`).
absl::Status CheckEnum(std::string_view field, int value, bool (*is_valid)(int));

enum class ZeroDuration { kRejected, kAllowed };

// A Duration as whole milliseconds, sub-millisecond parts rounded up (API.md: 1 ms resolution).
// INVALID_ARGUMENT when malformed (seconds/nanos out of range or of different signs), negative,
// zero (unless allowed), or above `max_ms`.
absl::StatusOr<int64_t> DurationToMs(std::string_view field,
                                     const google::protobuf::Duration& duration, ZeroDuration zero,
                                     int64_t max_ms);

// An absolute instant as a monotonic deadline, converted once at the request.
// INVALID_ARGUMENT when malformed (outside years 1..9999, nanos out of range) or beyond
// now + `max_ttl_ms`. An instant in the past yields a deadline <= now (the caller deletes).
absl::StatusOr<int64_t> TimestampToDeadline(std::string_view field,
                                            const google::protobuf::Timestamp& timestamp,
                                            const storage::Clock& clock, int64_t max_ttl_ms);

// A monotonic deadline as a wall-clock Timestamp.
google::protobuf::Timestamp DeadlineToTimestamp(int64_t deadline_ms, const storage::Clock& clock);

// Unix epoch milliseconds as a Timestamp (floor: nanos always in [0, 1e9)).
google::protobuf::Timestamp WallMsToTimestamp(int64_t wall_ms);

// Milliseconds as a Duration.
google::protobuf::Duration MsToDuration(int64_t ms);

// Formats milliseconds the way flags are written ("87600h", "10s", "250ms").
std::string FormatMs(int64_t ms);

}  // namespace hourglass::server
