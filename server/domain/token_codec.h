#pragma once

// The stored form of a token (the value of its storage::Space::kToken entry; the entry's
// deadline is the token's expiry). The plaintext token is never stored: the key of an OPAQUE
// token is derived from its SHA-256, and a NUMERIC record keeps SHA-256(key || code).
//
// Layout (byte_codec.h primitives), version 1:
//   byte    version (1)
//   byte    format (TokenFormat)
//   bytes   purpose
//   bytes   subject
//   varint  remaining_uses       0 = spent: a tombstone (payload and code hash dropped)
//   varint  max_attempts         NUMERIC; 0 for OPAQUE
//   varint  attempts             NUMERIC wrong guesses so far
//   bytes   code_hash            NUMERIC; empty otherwise
//   fixed64 expire_wall_ms       Unix ms of the expiry as promised at issue (the entry's
//                                monotonic deadline is what expires it; this is what clients
//                                are shown, the same on every call)
//   bytes   payload
//
// Pure functions; thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hourglass::domain {

enum class TokenFormat : uint8_t { kOpaque = 1, kNumeric = 2 };

struct TokenRecord {
  TokenFormat format = TokenFormat::kOpaque;
  std::string purpose;
  std::string subject;
  uint32_t remaining_uses = 0;
  uint32_t max_attempts = 0;
  uint32_t attempts = 0;
  std::string code_hash;
  int64_t expire_wall_ms = 0;
  std::string payload;

  bool spent() const { return remaining_uses == 0; }
  bool locked() const { return format == TokenFormat::kNumeric && attempts >= max_attempts; }
  // Still usable by the right token or code.
  bool live() const { return !spent() && !locked(); }
};

std::string EncodeTokenRecord(const TokenRecord& record);

// nullopt when `value` is not a well-formed version-1 record.
std::optional<TokenRecord> DecodeTokenRecord(std::string_view value);

// The identifying fields only (views into `value`), without copying the payload: for removal
// hooks and event keys.
struct TokenHeader {
  TokenFormat format = TokenFormat::kOpaque;
  std::string_view purpose;
  std::string_view subject;
};
std::optional<TokenHeader> DecodeTokenHeader(std::string_view value);

// The record of a spent token: what is needed to answer USED_UP and to keep the subject index
// right, nothing more.
TokenRecord Tombstone(const TokenRecord& record);

}  // namespace hourglass::domain
