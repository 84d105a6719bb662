#include "server/domain/session_codec.h"

#include "server/domain/byte_codec.h"

namespace hourglass::domain {
namespace {

constexpr uint8_t kSessionVersion = 1;

uint64_t MapBytes(const StringMap& map) {
  uint64_t size = VarintSize(map.size());
  for (const auto& [key, value] : map) size += BytesSize(key.size()) + BytesSize(value.size());
  return size;
}

void PutMap(ByteWriter& writer, const StringMap& map) {
  writer.PutVarint(map.size());
  for (const auto& [key, value] : map) {
    writer.PutBytes(key);
    writer.PutBytes(value);
  }
}

bool GetMap(ByteReader& reader, StringMap* map) {
  uint64_t count = 0;
  if (!reader.GetVarint(&count)) return false;
  for (uint64_t i = 0; i < count; ++i) {
    std::string_view key;
    std::string_view value;
    if (!reader.GetBytes(&key) || !reader.GetBytes(&value)) return false;
    map->emplace_hint(map->end(), key, value);
  }
  return true;
}

// Reads the fixed fields; leaves `reader` at the data map.
bool GetHeader(ByteReader& reader, SessionHeader* header) {
  uint8_t version = 0;
  uint64_t create = 0;
  uint64_t idle = 0;
  uint64_t absolute = 0;
  if (!reader.GetByte(&version) || version != kSessionVersion ||
      !reader.GetBytes(&header->user_id) || !reader.GetFixed64(&create) ||
      !reader.GetVarint(&idle) || !reader.GetFixed64(&absolute)) {
    return false;
  }
  header->create_wall_ms = static_cast<int64_t>(create);
  header->idle_timeout_ms = static_cast<int64_t>(idle);
  header->absolute_wall_ms = static_cast<int64_t>(absolute);
  return true;
}

}  // namespace

std::string EncodeSessionRecord(const SessionRecord& record) {
  ByteWriter writer;
  // version + user id + create + idle (varint, at most 10) + absolute + content.
  writer.Reserve(1 + BytesSize(record.user_id.size()) + 8 + 10 + 8 +
                 SessionContentBytes(record.data, record.labels));
  writer.PutByte(kSessionVersion);
  writer.PutBytes(record.user_id);
  writer.PutFixed64(static_cast<uint64_t>(record.create_wall_ms));
  writer.PutVarint(static_cast<uint64_t>(record.idle_timeout_ms));
  writer.PutFixed64(static_cast<uint64_t>(record.absolute_wall_ms));
  PutMap(writer, record.data);
  PutMap(writer, record.labels);
  return writer.Take();
}

std::optional<SessionRecord> DecodeSessionRecord(std::string_view value) {
  ByteReader reader(value);
  SessionHeader header;
  SessionRecord record;
  if (!GetHeader(reader, &header) || !GetMap(reader, &record.data) ||
      !GetMap(reader, &record.labels) || !reader.at_end()) {
    return std::nullopt;
  }
  record.user_id = std::string(header.user_id);
  record.create_wall_ms = header.create_wall_ms;
  record.idle_timeout_ms = header.idle_timeout_ms;
  record.absolute_wall_ms = header.absolute_wall_ms;
  return record;
}

std::optional<SessionHeader> DecodeSessionHeader(std::string_view value) {
  ByteReader reader(value);
  SessionHeader header;
  if (!GetHeader(reader, &header)) return std::nullopt;
  return header;
}

uint64_t SessionContentBytes(const StringMap& data, const StringMap& labels) {
  return MapBytes(data) + MapBytes(labels);
}

}  // namespace hourglass::domain
