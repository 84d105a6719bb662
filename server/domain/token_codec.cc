#include "server/domain/token_codec.h"

#include <limits>

#include "server/domain/byte_codec.h"

namespace hourglass::domain {
namespace {

constexpr uint8_t kTokenVersion = 1;

bool GetU32(ByteReader& reader, uint32_t* out) {
  uint64_t v = 0;
  if (!reader.GetVarint(&v) || v > std::numeric_limits<uint32_t>::max()) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

// Reads version, format, purpose and subject; leaves `reader` at remaining_uses.
bool GetHeader(ByteReader& reader, TokenHeader* header) {
  uint8_t version = 0;
  uint8_t format = 0;
  if (!reader.GetByte(&version) || version != kTokenVersion || !reader.GetByte(&format) ||
      (format != static_cast<uint8_t>(TokenFormat::kOpaque) &&
       format != static_cast<uint8_t>(TokenFormat::kNumeric)) ||
      !reader.GetBytes(&header->purpose) || !reader.GetBytes(&header->subject)) {
    return false;
  }
  header->format = static_cast<TokenFormat>(format);
  return true;
}

}  // namespace

std::string EncodeTokenRecord(const TokenRecord& record) {
  ByteWriter writer;
  // version + format + purpose + subject + 3 varints (<= 5 each) + hash + expiry + payload.
  writer.Reserve(2 + BytesSize(record.purpose.size()) + BytesSize(record.subject.size()) + 15 +
                 BytesSize(record.code_hash.size()) + 8 + BytesSize(record.payload.size()));
  writer.PutByte(kTokenVersion);
  writer.PutByte(static_cast<uint8_t>(record.format));
  writer.PutBytes(record.purpose);
  writer.PutBytes(record.subject);
  writer.PutVarint(record.remaining_uses);
  writer.PutVarint(record.max_attempts);
  writer.PutVarint(record.attempts);
  writer.PutBytes(record.code_hash);
  writer.PutFixed64(static_cast<uint64_t>(record.expire_wall_ms));
  writer.PutBytes(record.payload);
  return writer.Take();
}

std::optional<TokenRecord> DecodeTokenRecord(std::string_view value) {
  ByteReader reader(value);
  TokenHeader header;
  TokenRecord record;
  std::string_view code_hash, payload;
  uint64_t expire_wall_ms = 0;
  if (!GetHeader(reader, &header) || !GetU32(reader, &record.remaining_uses) ||
      !GetU32(reader, &record.max_attempts) || !GetU32(reader, &record.attempts) ||
      !reader.GetBytes(&code_hash) || !reader.GetFixed64(&expire_wall_ms) ||
      !reader.GetBytes(&payload) || !reader.at_end()) {
    return std::nullopt;
  }
  record.expire_wall_ms = static_cast<int64_t>(expire_wall_ms);
  record.format = header.format;
  record.purpose = std::string(header.purpose);
  record.subject = std::string(header.subject);
  record.code_hash = std::string(code_hash);
  record.payload = std::string(payload);
  return record;
}

std::optional<TokenHeader> DecodeTokenHeader(std::string_view value) {
  ByteReader reader(value);
  TokenHeader header;
  if (!GetHeader(reader, &header)) return std::nullopt;
  return header;
}

TokenRecord Tombstone(const TokenRecord& record) {
  TokenRecord tombstone;
  tombstone.format = record.format;
  tombstone.purpose = record.purpose;
  tombstone.subject = record.subject;
  tombstone.remaining_uses = 0;
  tombstone.max_attempts = record.max_attempts;
  tombstone.attempts = record.attempts;
  tombstone.expire_wall_ms = record.expire_wall_ms;
  return tombstone;
}

}  // namespace hourglass::domain
