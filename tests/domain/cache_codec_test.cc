// cache_codec: round trips, and damaged bytes are refused without reading out of bounds.

#include "server/domain/cache_codec.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "server/domain/byte_codec.h"

namespace hourglass::domain::cache_codec {
namespace {

Record FullRecord() {
  Record record;
  record.has_value = true;
  record.value = std::string_view("v\0alue", 6);
  record.fill_ms = 1'000'000;
  record.fresh_until_ms = 1'030'000;
  record.stale_until_ms = 1'330'000;
  record.tags = {"user:42", std::string_view("t\0g", 3)};
  record.lease_id = "L7fAAAAAAAAAAAAAAAAAAA";
  record.lease_until_ms = 1'040'000;
  record.lease_seq = 1ull << 60;
  return record;
}

TEST(CacheCodecTest, RecordRoundTrips) {
  const Record in = FullRecord();
  const std::string bytes = EncodeRecord(in);
  const std::optional<Record> out = DecodeRecord(bytes);
  ASSERT_TRUE(out.has_value());
  EXPECT_TRUE(out->has_value);
  EXPECT_EQ(out->value, in.value);
  EXPECT_EQ(out->fill_ms, in.fill_ms);
  EXPECT_EQ(out->fresh_until_ms, in.fresh_until_ms);
  EXPECT_EQ(out->stale_until_ms, in.stale_until_ms);
  EXPECT_EQ(out->tags, in.tags);
  EXPECT_EQ(out->lease_id, in.lease_id);
  EXPECT_EQ(out->lease_until_ms, in.lease_until_ms);
  EXPECT_EQ(out->lease_seq, in.lease_seq);
  EXPECT_TRUE(out->CarriesTag("user:42"));
  EXPECT_FALSE(out->CarriesTag("user:4"));
}

TEST(CacheCodecTest, PlaceholderRoundTripsAndIsSmall) {
  Record in;
  in.lease_id = "L7fAAAAAAAAAAAAAAAAAAA";
  in.lease_until_ms = 1'010'000;
  in.lease_seq = 7;
  const std::string bytes = EncodeRecord(in);
  EXPECT_LE(bytes.size(), 40u);
  const std::optional<Record> out = DecodeRecord(bytes);
  ASSERT_TRUE(out.has_value());
  EXPECT_FALSE(out->has_value);
  EXPECT_TRUE(out->has_lease());
  EXPECT_TRUE(out->tags.empty());
}

TEST(CacheCodecTest, EveryTruncationAndTrailingByteIsRefused) {
  const std::string bytes = EncodeRecord(FullRecord());
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeRecord(bytes.substr(0, n)).has_value()) << n;
  }
  EXPECT_FALSE(DecodeRecord(bytes + "x").has_value());
  std::string wrong_version = bytes;
  wrong_version[0] = 9;
  EXPECT_FALSE(DecodeRecord(wrong_version).has_value());
}

TEST(CacheCodecTest, HugeCountsAndOverflowingSpansAreRefused) {
  ByteWriter overflow;  // version, flags (value), fill 1, fresh span 1, stale span 2^63 - 2
  overflow.PutByte(1);
  overflow.PutByte(1);
  overflow.PutVarint(1);
  overflow.PutVarint(1);
  overflow.PutVarint(static_cast<uint64_t>(INT64_MAX) - 1);
  overflow.PutVarint(0);
  overflow.PutBytes("v");
  EXPECT_FALSE(DecodeRecord(overflow.Take()).has_value());

  ByteWriter count;  // a placeholder claiming 2^35 tags with no bytes behind them
  count.PutByte(1);
  count.PutByte(0);
  count.PutVarint(1);
  count.PutVarint(0);
  count.PutVarint(0);
  count.PutVarint(1ull << 35);
  EXPECT_FALSE(DecodeRecord(count.Take()).has_value());
}

TEST(CacheCodecTest, TagIndexRoundTripsAndRefusesDamage) {
  const std::vector<TagMember> in = {{"a", 1'000'100}, {std::string_view("b\0", 2), 5}};
  const std::string bytes = EncodeTagIndex(in);
  const std::optional<std::vector<TagMember>> out = DecodeTagIndex(bytes);
  ASSERT_TRUE(out.has_value());
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[0].key, "a");
  EXPECT_EQ((*out)[0].deadline_ms, 1'000'100);
  EXPECT_EQ((*out)[1].key, std::string_view("b\0", 2));
  EXPECT_EQ((*out)[1].deadline_ms, 5);
  EXPECT_TRUE(DecodeTagIndex(EncodeTagIndex({})).value().empty());
  for (size_t n = 0; n < bytes.size(); ++n) {
    // Cutting between members yields a shorter valid list; cutting inside one is refused.
    const std::optional<std::vector<TagMember>> cut = DecodeTagIndex(bytes.substr(0, n));
    if (cut.has_value()) {
      EXPECT_LT(cut->size(), 2u) << n;
    }
  }
  EXPECT_FALSE(DecodeTagIndex("").has_value());
  EXPECT_FALSE(DecodeTagIndex(std::string("\x01\x05", 2) + "ab").has_value());  // 5 > 2 bytes
}

}  // namespace
}  // namespace hourglass::domain::cache_codec
