#pragma once

// base64url (RFC 4648 §5) without padding: the alphabet of session ids and opaque tokens.
// Pure functions; thread-safe.

#include <string>
#include <string_view>

namespace hourglass::domain {

// Encodes `bytes` as base64url without '=' padding (4 characters per 3 bytes, rounded up).
std::string Base64UrlEncode(std::string_view bytes);

// The number of characters Base64UrlEncode produces for `n` bytes.
constexpr size_t Base64UrlLength(size_t n) { return (n * 4 + 2) / 3; }

// Whether every character of `text` is in the base64url alphabet [A-Za-z0-9_-].
bool IsBase64Url(std::string_view text);

}  // namespace hourglass::domain
