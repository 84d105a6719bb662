#include "server/domain/routing.h"

#include "server/domain/base64url.h"
#include "server/domain/digest.h"
#include "server/domain/secure_random.h"

namespace hourglass::domain {
namespace {

// 3 bytes encode to exactly kRoutingTagChars base64url characters.
constexpr size_t kTagBytes = 3;
static_assert(Base64UrlLength(kTagBytes) == kRoutingTagChars);

// 256 bits of secret, as API.md requires for ids and opaque tokens.
constexpr size_t kSecretBytes = 32;
static_assert(Base64UrlLength(kSecretBytes) + kRoutingTagChars == kRoutedSecretChars);

}  // namespace

std::string RoutingTag(std::string_view owner) {
  return Base64UrlEncode(std::string_view(Sha256(owner)).substr(0, kTagBytes));
}

absl::StatusOr<std::string> RandomRoutingTag() {
  absl::StatusOr<std::string> bytes = RandomBytes(kTagBytes);
  if (!bytes.ok()) return bytes.status();
  return Base64UrlEncode(*bytes);
}

absl::StatusOr<std::string> NewRoutedSecret(std::string_view tag) {
  absl::StatusOr<std::string> bytes = RandomBytes(kSecretBytes);
  if (!bytes.ok()) return bytes.status();
  std::string secret = Base64UrlEncode(*bytes);
  secret.append(tag);
  return secret;
}

bool IsRoutedSecret(std::string_view text) {
  return text.size() == kRoutedSecretChars && IsBase64Url(text);
}

}  // namespace hourglass::domain
