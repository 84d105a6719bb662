#pragma once

// Routing tags: a few base64url characters that choose a shard, so that a record and the index
// of its owner (a session and its user's index; a token and its subject's index) live on the
// same shard and change in one atomic step, and a removal hook can fix the index under the same
// shard lock.
//
// A tag is passed to the store as KeyRef::affinity. It is derived from the owner (user id,
// subject) by SHA-256, so it is stable across restarts, and it travels inside the id or token
// itself, so a request that carries only the id still finds the right shard.
//
// Pure functions; thread-safe.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace hourglass::domain {

// 4 characters = 24 bits: far more distinct tags than shards (at most 65536), while adding
// little to the id and revealing little about the owner (2^24 owners share each tag).
inline constexpr size_t kRoutingTagChars = 4;

// The tag of an owner: base64url of the first 3 bytes of SHA-256(owner).
std::string RoutingTag(std::string_view owner);

// A random tag, for records that have no owner (spreads them over every shard).
absl::StatusOr<std::string> RandomRoutingTag();

// A random base64url string with 256 bits of entropy (43 characters) followed by `tag`: the
// shape of session ids and opaque tokens.
absl::StatusOr<std::string> NewRoutedSecret(std::string_view tag);

// Length of NewRoutedSecret's output: 43 + 4 characters.
inline constexpr size_t kRoutedSecretChars = 43 + kRoutingTagChars;

// Whether `text` has the shape NewRoutedSecret produces (length and alphabet). Ids of another
// shape are simply unknown.
bool IsRoutedSecret(std::string_view text);

// The tag carried by a well-formed routed secret (its last kRoutingTagChars characters).
inline std::string_view TagOfRoutedSecret(std::string_view secret) {
  return secret.substr(secret.size() - kRoutingTagChars);
}

}  // namespace hourglass::domain
