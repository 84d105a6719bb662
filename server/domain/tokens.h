#pragma once

// TokenManager: one-time (or N-time) tokens and numeric codes bound to a purpose (API.md
// "TokenService"), over the store's atomic steps.
//
// Storage (storage::Space::kToken; the plaintext is never stored)
//   - OPAQUE: the token is 256 random bits (43 base64url characters) followed by a routing tag
//     (routing.h: the subject's, or a random one without a subject). Its key is tag + 'o' +
//     SHA-256(token); the record keeps the purpose, so another purpose is detected
//     (PURPOSE_MISMATCH).
//   - NUMERIC: 4-10 decimal digits keyed by purpose + subject: key = tag(subject) + 'n' +
//     SHA-256(purpose, subject); the record keeps SHA-256(key || code), compared in constant
//     time. Issuing again replaces the code. Wrong guesses (Verify, Consume and Revoke alike)
//     count; at max_attempts the code is dead (TOO_MANY_ATTEMPTS) until it expires.
//   - A token whose uses are spent becomes a tombstone (no payload, no code hash) until its
//     original expiry: USED_UP, then NOT_FOUND.
//   - Tokens with a subject are listed in the subject's index, storage::Space::kIndex entry
//     "t:" + subject, on the same shard (same tag): RevokeSubject uses it; removals by expiry or
//     eviction unlist from the kToken RemovalHook that the constructor registers.
//   - Every key starts with its 4-character routing tag, which is its KeyRef::affinity.
//
// Every check is one Update (or UpdateMany with the index) on the token's shard: of N
// concurrent consumers of a single-use token exactly one wins. Unknown, expired, spent and
// malformed tokens all cost a SHA-256 and one store lookup, so their answers take the same time.
//
// Thread-safety: thread-safe (all state is in the store). Construct before the store is shared
// between threads (the constructor registers the kToken removal hook); at most one per store.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/domain/token_codec.h"
#include "storage/store.h"

namespace hourglass::domain {

inline constexpr int kMinCodeDigits = 4;
inline constexpr int kMaxCodeDigits = 10;
inline constexpr int kDefaultCodeDigits = 6;
inline constexpr uint32_t kDefaultMaxAttempts = 5;
inline constexpr uint32_t kDefaultMaxUses = 1;

enum class TokenReason : uint8_t {
  kOk,
  kNotFound,
  kPurposeMismatch,
  kUsedUp,
  kTooManyAttempts,
  kWrongCode,
};

struct NewToken {
  std::string purpose;  // required
  std::string subject;  // required for NUMERIC
  std::string payload;
  int64_t ttl_ms = 0;                   // > 0
  uint32_t max_uses = kDefaultMaxUses;  // > 0
  TokenFormat format = TokenFormat::kOpaque;
  int digits = kDefaultCodeDigits;              // NUMERIC: kMinCodeDigits..kMaxCodeDigits
  uint32_t max_attempts = kDefaultMaxAttempts;  // NUMERIC: > 0
};

struct IssuedToken {
  std::string token;           // the plaintext, returned once
  int64_t deadline_ms = 0;     // monotonic
  int64_t expire_wall_ms = 0;  // Unix ms: the expiry clients are shown
};

// What a client presents. The views must outlive the call.
struct TokenQuery {
  std::string_view purpose;  // required
  std::string_view token;    // required; all decimal digits = a NUMERIC code
  std::string_view subject;  // required for a NUMERIC code, ignored otherwise
};

struct TokenCheck {
  TokenReason reason = TokenReason::kNotFound;
  bool valid() const { return reason == TokenReason::kOk; }
  // Filled only when valid.
  std::string subject;
  std::string payload;
  uint32_t remaining_uses = 0;  // after this call
  int64_t deadline_ms = 0;      // monotonic
  int64_t expire_wall_ms = 0;   // Unix ms, as reported at issue
};

class TokenManager {
 public:
  // Registers the kToken removal hook on `store`, which must outlive this object.
  explicit TokenManager(storage::Store& store);
  TokenManager(const TokenManager&) = delete;
  TokenManager& operator=(const TokenManager&) = delete;

  // INVALID_ARGUMENT (empty purpose, NUMERIC without subject, ttl <= 0, max_uses 0, digits out
  // of range, max_attempts 0), RESOURCE_EXHAUSTED, INTERNAL (CSPRNG).
  absl::StatusOr<IssuedToken> Issue(const NewToken& spec);

  // Checks without using; a wrong NUMERIC code still counts an attempt.
  // INVALID_ARGUMENT only for an empty purpose or token, or a NUMERIC code without subject.
  absl::StatusOr<TokenCheck> Verify(const TokenQuery& query);

  // Checks and atomically takes one use.
  absl::StatusOr<TokenCheck> Consume(const TokenQuery& query);

  // Removes a live token (no tombstone). False when nothing live matched (unknown, other
  // purpose, spent, locked, wrong code — which counts an attempt). Errors as Verify.
  absl::StatusOr<bool> Revoke(const TokenQuery& query);

  // Removes the subject's live tokens and codes (of `purpose` only, unless empty) and returns
  // how many. Tombstones and locked codes stay until they expire: they hold no secret and keep
  // answering USED_UP / TOO_MANY_ATTEMPTS. INVALID_ARGUMENT for an empty subject.
  absl::StatusOr<int64_t> RevokeSubject(std::string_view subject, std::string_view purpose);

 private:
  absl::StatusOr<TokenCheck> Check(const TokenQuery& query, bool consume);

  storage::Store& store_;
};

// The public WatchEvents key of a removed token (API.md "AdminService"): purpose + ":" +
// subject. Never the token or its hash. nullopt for a value that is not a token record. Pure;
// thread-safe. For EventHub::SetKeyFormatter(Space::kToken, ...).
std::optional<std::string> TokenEventKey(std::string_view key, std::string_view value);

}  // namespace hourglass::domain
