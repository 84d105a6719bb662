#include "server/domain/cache_codec.h"

#include <algorithm>
#include <limits>

#include "server/domain/byte_codec.h"

namespace hourglass::domain::cache_codec {
namespace {

// Leading byte of each layout; bump it when a layout changes (snapshots keep old records).
constexpr uint8_t kRecordVersion = 1;
constexpr uint8_t kTagIndexVersion = 1;

// Record flag bits.
constexpr uint8_t kHasValue = 1;
constexpr uint8_t kHasLease = 2;

// Varints throughout: an instant (~2^40 ms) takes 6 bytes and a span or length 1-4, so a
// record's overhead is ~20 bytes plus its tags and lease (~60 with fixed-width fields).
// Monotonic instants are non-negative (steady_clock since boot; FakeClock from 10^6).
uint64_t Unsigned(int64_t instant) { return static_cast<uint64_t>(std::max<int64_t>(instant, 0)); }

bool GetInstant(ByteReader& in, int64_t* out) {
  uint64_t v = 0;
  if (!in.GetVarint(&v) || v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return false;
  }
  *out = static_cast<int64_t>(v);
  return true;
}

}  // namespace

bool Record::CarriesTag(std::string_view tag) const {
  return std::find(tags.begin(), tags.end(), tag) != tags.end();
}

// Layout: version, flags, fill_ms, fresh span, stale span, [lease_until, lease_seq, lease_id],
// tag count, tags, [value].
std::string EncodeRecord(const Record& record) {
  ByteWriter out;
  out.Reserve(32 + record.value.size() + record.lease_id.size() + 8 * record.tags.size());
  out.PutByte(kRecordVersion);
  out.PutByte((record.has_value ? kHasValue : 0) | (record.has_lease() ? kHasLease : 0));
  out.PutVarint(Unsigned(record.fill_ms));
  out.PutVarint(Unsigned(record.fresh_until_ms - record.fill_ms));
  out.PutVarint(Unsigned(record.stale_until_ms - record.fresh_until_ms));
  if (record.has_lease()) {
    out.PutVarint(Unsigned(record.lease_until_ms));
    out.PutVarint(record.lease_seq);
    out.PutBytes(record.lease_id);
  }
  out.PutVarint(record.tags.size());
  for (std::string_view tag : record.tags) out.PutBytes(tag);
  if (record.has_value) out.PutBytes(record.value);
  return out.Take();
}

std::optional<Record> DecodeRecord(std::string_view bytes) {
  ByteReader in(bytes);
  uint8_t version = 0;
  uint8_t flags = 0;
  if (!in.GetByte(&version) || version != kRecordVersion || !in.GetByte(&flags) ||
      (flags & ~(kHasValue | kHasLease)) != 0) {
    return std::nullopt;
  }
  Record record;
  record.has_value = (flags & kHasValue) != 0;
  int64_t fresh_span = 0;
  int64_t stale_span = 0;
  if (!GetInstant(in, &record.fill_ms) || !GetInstant(in, &fresh_span) ||
      !GetInstant(in, &stale_span) ||
      // Spans are stored relative: a corrupt one must not overflow the sum.
      __builtin_add_overflow(record.fill_ms, fresh_span, &record.fresh_until_ms) ||
      __builtin_add_overflow(record.fresh_until_ms, stale_span, &record.stale_until_ms)) {
    return std::nullopt;
  }
  if ((flags & kHasLease) != 0) {
    if (!GetInstant(in, &record.lease_until_ms) || !in.GetVarint(&record.lease_seq) ||
        !in.GetBytes(&record.lease_id) || record.lease_id.empty()) {
      return std::nullopt;
    }
  }
  uint64_t tag_count = 0;
  // Each tag takes at least one byte: a larger count is corrupt (and must not drive reserve()).
  if (!in.GetVarint(&tag_count) || tag_count > bytes.size()) return std::nullopt;
  record.tags.resize(tag_count);
  for (std::string_view& tag : record.tags) {
    if (!in.GetBytes(&tag)) return std::nullopt;
  }
  if (record.has_value && !in.GetBytes(&record.value)) return std::nullopt;
  if (!in.at_end()) return std::nullopt;
  return record;
}

// Layout: version, then (key, deadline) pairs to the end.
std::string EncodeTagIndex(absl::Span<const TagMember> members) {
  size_t size = 1;
  for (const TagMember& m : members) {
    size += BytesSize(m.key.size()) + VarintSize(Unsigned(m.deadline_ms));
  }
  ByteWriter out;
  out.Reserve(size);
  out.PutByte(kTagIndexVersion);
  for (const TagMember& m : members) {
    out.PutBytes(m.key);
    out.PutVarint(Unsigned(m.deadline_ms));
  }
  return out.Take();
}

std::optional<std::vector<TagMember>> DecodeTagIndex(std::string_view bytes) {
  ByteReader in(bytes);
  uint8_t version = 0;
  if (!in.GetByte(&version) || version != kTagIndexVersion) return std::nullopt;
  std::vector<TagMember> members;
  while (!in.at_end()) {
    TagMember m;
    if (!in.GetBytes(&m.key) || !GetInstant(in, &m.deadline_ms)) return std::nullopt;
    members.push_back(m);
  }
  return members;
}

}  // namespace hourglass::domain::cache_codec
