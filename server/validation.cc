#include "server/validation.h"

#include <algorithm>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace hourglass::server {
namespace {

// Protobuf's documented ranges for Duration (±10 000 years) and Timestamp (0001..9999).
constexpr int64_t kMaxDurationSeconds = 315'576'000'000;
constexpr int64_t kMinTimestampSeconds = -62'135'596'800;  // 0001-01-01T00:00:00Z
constexpr int64_t kMaxTimestampSeconds = 253'402'300'799;  // 9999-12-31T23:59:59Z
constexpr int32_t kMaxNanos = 999'999'999;

// Debian's abseil has its own string_view type, distinct from std::string_view.
absl::string_view View(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}

absl::Status Invalid(std::string_view field, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(View(field), ": ", View(what)));
}

}  // namespace

absl::Status RequireNonEmpty(std::string_view field, std::string_view value) {
  if (value.empty()) return Invalid(field, "required");
  return absl::OkStatus();
}

absl::Status CheckKey(std::string_view field, std::string_view key, uint64_t max_bytes) {
  if (key.empty()) return Invalid(field, "required");
  return CheckSize(field, key, max_bytes);
}

absl::Status CheckSize(std::string_view field, std::string_view value, uint64_t max_bytes) {
  if (value.size() > max_bytes) {
    return Invalid(field, absl::StrCat(value.size(), " bytes exceeds max ", max_bytes));
  }
  return absl::OkStatus();
}

absl::Status CheckItemCount(std::string_view field, uint64_t count, uint64_t max_items) {
  if (count > max_items) {
    return Invalid(field, absl::StrCat(count, " items exceeds max ", max_items));
  }
  return absl::OkStatus();
}

absl::Status CheckEnum(std::string_view field, int value, bool (*is_valid)(int)) {
  if (!is_valid(value)) return Invalid(field, absl::StrCat("unknown enum value ", value));
  return absl::OkStatus();
}

absl::StatusOr<int64_t> DurationToMs(std::string_view field,
                                     const google::protobuf::Duration& duration, ZeroDuration zero,
                                     int64_t max_ms) {
  const int64_t seconds = duration.seconds();
  const int32_t nanos = duration.nanos();
  if (seconds > kMaxDurationSeconds || seconds < -kMaxDurationSeconds || nanos > kMaxNanos ||
      nanos < -kMaxNanos || (seconds > 0 && nanos < 0) || (seconds < 0 && nanos > 0)) {
    return Invalid(field, "malformed duration (seconds or nanos out of range)");
  }
  if (seconds < 0 || nanos < 0) return Invalid(field, "must not be negative");
  if (seconds == 0 && nanos == 0) {
    if (zero == ZeroDuration::kAllowed) return 0;
    return Invalid(field, "must be > 0");
  }
  // Within the range checked above, seconds * 1000 cannot overflow int64.
  const int64_t ms = seconds * 1000 + (nanos + 999'999) / 1'000'000;
  if (ms > max_ms)
    return Invalid(field, absl::StrCat(FormatMs(ms), " exceeds max ", FormatMs(max_ms)));
  return ms;
}

absl::StatusOr<int64_t> TimestampToDeadline(std::string_view field,
                                            const google::protobuf::Timestamp& timestamp,
                                            const storage::Clock& clock, int64_t max_ttl_ms) {
  const int64_t seconds = timestamp.seconds();
  const int32_t nanos = timestamp.nanos();
  if (seconds < kMinTimestampSeconds || seconds > kMaxTimestampSeconds || nanos < 0 ||
      nanos > kMaxNanos) {
    return Invalid(field, "malformed timestamp (outside years 1..9999 or nanos out of range)");
  }
  const int64_t wall_ms = seconds * 1000 + (nanos + 999'999) / 1'000'000;
  const int64_t now_wall = clock.WallMs();
  if (wall_ms - now_wall > max_ttl_ms) {
    return Invalid(field, absl::StrCat("more than ", FormatMs(max_ttl_ms), " in the future"));
  }
  // In the past: clamp so the deadline stays representable and reads as "already due".
  const int64_t ahead = wall_ms - now_wall;
  return clock.MonotonicMs() + (ahead < 0 ? std::max<int64_t>(ahead, -1) : ahead);
}

google::protobuf::Timestamp DeadlineToTimestamp(int64_t deadline_ms, const storage::Clock& clock) {
  return WallMsToTimestamp(clock.ToWallMs(deadline_ms));
}

google::protobuf::Timestamp WallMsToTimestamp(int64_t wall_ms) {
  int64_t seconds = wall_ms / 1000;
  int64_t ms = wall_ms % 1000;
  if (ms < 0) {  // before 1970: nanos must stay non-negative
    --seconds;
    ms += 1000;
  }
  google::protobuf::Timestamp ts;
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>(ms) * 1'000'000);
  return ts;
}

google::protobuf::Duration MsToDuration(int64_t ms) {
  google::protobuf::Duration d;
  d.set_seconds(ms / 1000);
  d.set_nanos(static_cast<int32_t>(ms % 1000) * 1'000'000);
  return d;
}

std::string FormatMs(int64_t ms) { return absl::FormatDuration(absl::Milliseconds(ms)); }

}  // namespace hourglass::server
