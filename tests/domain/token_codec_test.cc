// The building blocks under TokenManager: the token record codec, token keys, numeric code
// generation, SHA-256 and constant-time comparison.

#include "server/domain/token_codec.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "server/domain/digest.h"
#include "server/domain/secure_random.h"
#include "server/domain/token_keys.h"

namespace hourglass::domain {
namespace {

TokenRecord SampleRecord() {
  TokenRecord record;
  record.format = TokenFormat::kNumeric;
  record.purpose = "login-otp";
  record.subject = std::string("u\0", 2);
  record.remaining_uses = 3;
  record.max_attempts = 5;
  record.attempts = 2;
  record.code_hash = std::string(32, '\x01');
  record.expire_wall_ms = 1'767'225'600'123;
  record.payload = std::string("\x00\xff", 2);
  return record;
}

TEST(TokenCodecTest, RoundTripsEveryField) {
  const TokenRecord record = SampleRecord();
  const std::string value = EncodeTokenRecord(record);
  std::optional<TokenRecord> decoded = DecodeTokenRecord(value);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->format, record.format);
  EXPECT_EQ(decoded->purpose, record.purpose);
  EXPECT_EQ(decoded->subject, record.subject);
  EXPECT_EQ(decoded->remaining_uses, 3u);
  EXPECT_EQ(decoded->max_attempts, 5u);
  EXPECT_EQ(decoded->attempts, 2u);
  EXPECT_EQ(decoded->code_hash, record.code_hash);
  EXPECT_EQ(decoded->expire_wall_ms, record.expire_wall_ms);
  EXPECT_EQ(decoded->payload, record.payload);
  std::optional<TokenHeader> header = DecodeTokenHeader(value);  // views into `value`
  ASSERT_TRUE(header);
  EXPECT_EQ(header->purpose, "login-otp");
  EXPECT_EQ(header->subject, record.subject);
}

TEST(TokenCodecTest, RejectsDamagedValues) {
  const std::string value = EncodeTokenRecord(SampleRecord());
  for (size_t cut = 0; cut < value.size(); ++cut) {
    EXPECT_FALSE(DecodeTokenRecord(value.substr(0, cut))) << cut;
  }
  EXPECT_FALSE(DecodeTokenRecord(value + "x"));
  std::string bad_format = value;
  bad_format[1] = 7;
  EXPECT_FALSE(DecodeTokenRecord(bad_format));
  EXPECT_FALSE(DecodeTokenHeader(bad_format));
}

TEST(TokenCodecTest, StatesAndTombstone) {
  TokenRecord record = SampleRecord();
  EXPECT_TRUE(record.live());
  record.attempts = 5;
  EXPECT_TRUE(record.locked());
  EXPECT_FALSE(record.live());
  record.attempts = 0;
  record.remaining_uses = 0;
  EXPECT_TRUE(record.spent());
  const TokenRecord tombstone = Tombstone(SampleRecord());
  EXPECT_TRUE(tombstone.spent());
  EXPECT_TRUE(tombstone.payload.empty());
  EXPECT_TRUE(tombstone.code_hash.empty());
  EXPECT_EQ(tombstone.purpose, "login-otp");
  EXPECT_EQ(tombstone.expire_wall_ms, SampleRecord().expire_wall_ms);
  EXPECT_EQ(tombstone.subject, SampleRecord().subject);
  EXPECT_LT(EncodeTokenRecord(tombstone).size(), EncodeTokenRecord(SampleRecord()).size());
}

TEST(TokenKeysTest, KeysStartWithTheirTagAndHaveAFixedSize) {
  const std::string token = std::string(43, 'A') + "wxyz";
  const TokenKey opaque = OpaqueTokenKey(token);
  EXPECT_EQ(opaque.key.size(), 4u + 1 + 32);
  EXPECT_EQ(opaque.key.substr(0, 4), "wxyz");
  EXPECT_EQ(opaque.ref().affinity, "wxyz");
  EXPECT_EQ(opaque.ref().space, storage::Space::kToken);
  const TokenKey numeric = NumericTokenKey("otp", "u");
  EXPECT_EQ(numeric.key.size(), 37u);
  EXPECT_EQ(TokenKeyAffinity(numeric.key), SubjectIndex("u").tag);
  const TokenKey malformed = UnmatchableTokenKey("garbage");
  EXPECT_EQ(malformed.key.size(), 37u);
  EXPECT_NE(malformed.key[4], opaque.key[4]);
  EXPECT_NE(malformed.key[4], numeric.key[4]);
}

TEST(TokenKeysTest, NumericKeysSeparatePurposeAndSubject) {
  EXPECT_NE(NumericTokenKey("ab", "c").key, NumericTokenKey("a", "bc").key);
  EXPECT_EQ(NumericTokenKey("a", "b").key, NumericTokenKey("a", "b").key);
  EXPECT_NE(NumericCodeHash(NumericTokenKey("a", "b"), "1234"),
            NumericCodeHash(NumericTokenKey("a", "c"), "1234"));
}

TEST(TokenKeysTest, NumericShape) {
  EXPECT_TRUE(IsNumericCode("0"));
  EXPECT_TRUE(IsNumericCode("0123456789"));
  EXPECT_FALSE(IsNumericCode(""));
  EXPECT_FALSE(IsNumericCode("12a4"));
  EXPECT_FALSE(IsNumericCode("-123"));
}

TEST(SecureRandomTest, DecimalCodesAreUniformEnough) {
  // 4000 one-digit draws: each digit ~400; a biased or stuck generator fails by far.
  std::map<char, int> counts;
  for (int i = 0; i < 4000; ++i) {
    absl::StatusOr<std::string> code = RandomDecimalCode(1);
    ASSERT_TRUE(code.ok());
    ASSERT_EQ(code->size(), 1u);
    ++counts[(*code)[0]];
  }
  ASSERT_EQ(counts.size(), 10u);
  for (const auto& [digit, n] : counts) {
    EXPECT_GT(n, 250) << digit;
    EXPECT_LT(n, 550) << digit;
  }
  for (int digits : {4, 10, 18}) {
    absl::StatusOr<std::string> code = RandomDecimalCode(digits);
    ASSERT_TRUE(code.ok());
    EXPECT_EQ(code->size(), static_cast<size_t>(digits));
    EXPECT_TRUE(IsNumericCode(*code));
  }
  EXPECT_FALSE(RandomDecimalCode(0).ok());
  EXPECT_FALSE(RandomDecimalCode(19).ok());
  EXPECT_NE(*RandomBytes(32), *RandomBytes(32));
}

TEST(DigestTest, Sha256AndHexAndConstantTimeEquals) {
  EXPECT_EQ(HexPrefix(Sha256("abc"), 64),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexPrefix(Sha256(""), 16), "e3b0c44298fc1c14");
  EXPECT_EQ(HexPrefix("\x0f", 1), "0");
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

}  // namespace
}  // namespace hourglass::domain
