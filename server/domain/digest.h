#pragma once

// SHA-256 and constant-time comparison (OpenSSL). Pure functions; thread-safe.

#include <string>
#include <string_view>

namespace hourglass::domain {

inline constexpr size_t kSha256Bytes = 32;

// The raw 32-byte SHA-256 of `data`.
std::string Sha256(std::string_view data);

// Lower-case hex of the first `hex_digits` hex digits of `bytes` (all of them when shorter).
std::string HexPrefix(std::string_view bytes, size_t hex_digits);

// Whether `a` and `b` are equal, in time that depends only on their lengths (CRYPTO_memcmp), so
// a comparison against a secret leaks nothing about where the first difference is.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace hourglass::domain
