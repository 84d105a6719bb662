// The building blocks under SessionManager: the session record codec, the index member list,
// base64url, routing tags and routed secrets.

#include "server/domain/session_codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "server/domain/base64url.h"
#include "server/domain/member_index.h"
#include "server/domain/routing.h"

namespace hourglass::domain {
namespace {

TEST(SessionCodecTest, RoundTripsEveryField) {
  SessionRecord record;
  record.user_id = std::string("u\0ser", 5);
  record.create_wall_ms = 1'767'225'600'123;
  record.idle_timeout_ms = 1'800'000;
  record.absolute_wall_ms = 1'767'269'000'000;
  record.data = {{"", ""}, {"cart", std::string("\xff\x00\x01", 3)}, {"k", std::string(300, 'v')}};
  record.labels = {{"device", "ios"}, {"ip", "10.0.0.1"}};
  const std::string value = EncodeSessionRecord(record);
  std::optional<SessionRecord> decoded = DecodeSessionRecord(value);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->user_id, record.user_id);
  EXPECT_EQ(decoded->create_wall_ms, record.create_wall_ms);
  EXPECT_EQ(decoded->idle_timeout_ms, record.idle_timeout_ms);
  EXPECT_EQ(decoded->absolute_wall_ms, record.absolute_wall_ms);
  EXPECT_EQ(decoded->data, record.data);
  EXPECT_EQ(decoded->labels, record.labels);
  std::optional<SessionHeader> header = DecodeSessionHeader(value);
  ASSERT_TRUE(header);
  EXPECT_EQ(header->user_id, record.user_id);
  EXPECT_EQ(header->absolute_wall_ms, record.absolute_wall_ms);
}

TEST(SessionCodecTest, NoAbsoluteDeadlineRoundTrips) {
  SessionRecord record;
  record.user_id = "u";
  EXPECT_EQ(DecodeSessionRecord(EncodeSessionRecord(record))->absolute_wall_ms,
            kNoAbsoluteDeadline);
}

TEST(SessionCodecTest, RejectsDamagedValues) {
  SessionRecord record;
  record.user_id = "user";
  record.data = {{"k", "v"}};
  const std::string value = EncodeSessionRecord(record);
  for (size_t cut = 0; cut < value.size(); ++cut) {
    EXPECT_FALSE(DecodeSessionRecord(value.substr(0, cut))) << cut;
  }
  EXPECT_FALSE(DecodeSessionRecord(value + "x"));
  std::string wrong_version = value;
  wrong_version[0] = 9;
  EXPECT_FALSE(DecodeSessionRecord(wrong_version));
  EXPECT_FALSE(DecodeSessionHeader(wrong_version));
  EXPECT_FALSE(DecodeSessionRecord(std::string(20, '\xff')));
}

TEST(SessionCodecTest, ContentBytesIsTheEncodedSizeOfDataAndLabels) {
  EXPECT_EQ(SessionContentBytes({}, {}), 2u);  // two zero counts
  // count + (len + key) + (len + value)
  EXPECT_EQ(SessionContentBytes({{"ab", "cde"}}, {}), 1u + 3 + 4 + 1);
  EXPECT_EQ(SessionContentBytes({}, {{"k", std::string(200, 'x')}}), 1u + 1 + 2 + 2 + 200);
}

TEST(MemberIndexTest, MembersRoundTripInOrder) {
  const std::vector<std::string_view> members = {"b", "a", std::string_view("c\0d", 3), ""};
  EXPECT_EQ(DecodeMembers(EncodeMembers(members)), members);
  EXPECT_TRUE(DecodeMembers("").empty());
  EXPECT_TRUE(DecodeMembers(EncodeMembers({})).empty());
  // A damaged tail keeps what parsed before it.
  std::string value = EncodeMembers(members);
  value.push_back('\x7f');
  EXPECT_EQ(DecodeMembers(value), members);
}

TEST(Base64UrlTest, EncodesWithoutPadding) {
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff\xbf"), "-_-_");
  EXPECT_EQ(Base64UrlLength(32), 43u);
  EXPECT_TRUE(IsBase64Url("AZaz09-_"));
  EXPECT_FALSE(IsBase64Url("a+b"));
  EXPECT_FALSE(IsBase64Url("a/b"));
  EXPECT_FALSE(IsBase64Url("ab="));
}

TEST(RoutingTest, TagsAreStableShortAndOwnerSpecific) {
  EXPECT_EQ(RoutingTag("u42"), RoutingTag("u42"));
  EXPECT_EQ(RoutingTag("u42").size(), kRoutingTagChars);
  std::set<std::string> tags;
  for (int i = 0; i < 100; ++i) tags.insert(RoutingTag("user-" + std::to_string(i)));
  EXPECT_GT(tags.size(), 95u);
}

TEST(RoutingTest, RoutedSecretsCarryTheTagAndDiffer) {
  const std::string tag = RoutingTag("u");
  absl::StatusOr<std::string> a = NewRoutedSecret(tag);
  absl::StatusOr<std::string> b = NewRoutedSecret(tag);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_EQ(a->size(), kRoutedSecretChars);
  EXPECT_TRUE(IsRoutedSecret(*a));
  EXPECT_EQ(TagOfRoutedSecret(*a), tag);
  EXPECT_FALSE(IsRoutedSecret(a->substr(1)));
  EXPECT_FALSE(IsRoutedSecret(*a + "x"));
  std::string bad = *a;
  bad[3] = '.';
  EXPECT_FALSE(IsRoutedSecret(bad));
  absl::StatusOr<std::string> random_tag = RandomRoutingTag();
  ASSERT_TRUE(random_tag.ok());
  EXPECT_EQ(random_tag->size(), kRoutingTagChars);
  EXPECT_TRUE(IsBase64Url(*random_tag));
}

}  // namespace
}  // namespace hourglass::domain
