#include "server/domain/token_keys.h"

#include <algorithm>

#include "server/domain/base64url.h"
#include "server/domain/byte_codec.h"
#include "server/domain/digest.h"
#include "server/domain/routing.h"

namespace hourglass::domain {
namespace {

// Key kinds, after the tag.
constexpr char kOpaqueKind = 'o';
constexpr char kNumericKind = 'n';
constexpr char kUnmatchableKind = 'x';  // never written

// Index keys of subjects' token lists in Space::kIndex ("s:" is the user session index).
constexpr std::string_view kIndexPrefix = "t:";

TokenKey MakeKey(std::string_view tag, char kind, std::string_view digest) {
  TokenKey key;
  key.key.reserve(tag.size() + 1 + digest.size());
  key.key.append(tag);
  key.key.push_back(kind);
  key.key.append(digest);
  return key;
}

}  // namespace

storage::KeyRef TokenKey::ref() const {
  return storage::KeyRef{storage::Space::kToken, key, TokenKeyAffinity(key)};
}

std::string_view TokenKeyAffinity(std::string_view key) {
  return key.substr(0, std::min(key.size(), kRoutingTagChars));
}

TokenKey OpaqueTokenKey(std::string_view token) {
  return MakeKey(TagOfRoutedSecret(token), kOpaqueKind, Sha256(token));
}

TokenKey NumericTokenKey(std::string_view purpose, std::string_view subject) {
  // Length-prefixing the purpose keeps ("ab", "c") and ("a", "bc") apart.
  ByteWriter writer;
  writer.PutBytes(purpose);
  std::string material = writer.Take();
  material.append(subject);
  return MakeKey(RoutingTag(subject), kNumericKind, Sha256(material));
}

TokenKey UnmatchableTokenKey(std::string_view token) {
  const std::string digest = Sha256(token);
  // The tag spreads these lookups over the shards like real ones.
  const std::string tag = Base64UrlEncode(std::string_view(digest).substr(0, 3));
  return MakeKey(tag, kUnmatchableKind, digest);
}

std::string NumericCodeHash(const TokenKey& key, std::string_view code) {
  std::string material;
  material.reserve(key.key.size() + code.size());
  material.append(key.key);
  material.append(code);
  return Sha256(material);
}

bool IsNumericCode(std::string_view token) {
  return !token.empty() &&
         std::all_of(token.begin(), token.end(), [](char c) { return c >= '0' && c <= '9'; });
}

SubjectIndex::SubjectIndex(std::string_view subject)
    : key(std::string(kIndexPrefix).append(subject)), tag(RoutingTag(subject)) {}

}  // namespace hourglass::domain
