#pragma once

// Where tokens live in the store: the kToken keys derived from a token (never the token
// itself) and the subject index key. Every token key is tag(4) + kind(1) + SHA-256(32): the
// leading routing tag (routing.h) is the key's KeyRef::affinity, so anyone holding only the key
// (a snapshot loader, a removal hook) can place it. Pure; thread-safe.

#include <string>
#include <string_view>

#include "storage/store.h"

namespace hourglass::domain {

// A kToken key, owning its bytes so KeyRefs can view them.
struct TokenKey {
  std::string key;
  storage::KeyRef ref() const;
};

// The affinity of a token key: its routing tag.
std::string_view TokenKeyAffinity(std::string_view key);

// An OPAQUE token of the right shape (IsRoutedSecret): tag carried by the token + 'o' +
// SHA-256(token).
TokenKey OpaqueTokenKey(std::string_view token);

// A NUMERIC code's slot: tag(subject) + 'n' + SHA-256(len(purpose), purpose, subject).
TokenKey NumericTokenKey(std::string_view purpose, std::string_view subject);

// For a malformed token: a key that is never stored, computed at the same cost as a real one,
// so that looking it up takes as long as looking up an unknown token.
TokenKey UnmatchableTokenKey(std::string_view token);

// What a NUMERIC record stores instead of its code: SHA-256(key || code). The key acts as a
// per-slot salt, so one precomputed table does not cover every slot.
std::string NumericCodeHash(const TokenKey& key, std::string_view code);

// Whether `token` is shaped like a NUMERIC code (non-empty, ASCII digits only). TokenManager
// never issues an OPAQUE token of this shape, so the shape tells the two formats apart.
bool IsNumericCode(std::string_view token);

// A subject's index: storage::Space::kIndex entry "t:" + subject, affinity tag(subject).
struct SubjectIndex {
  explicit SubjectIndex(std::string_view subject);
  storage::KeyRef ref() const { return storage::KeyRef{storage::Space::kIndex, key, tag}; }

  std::string key;
  std::string tag;
};

}  // namespace hourglass::domain
