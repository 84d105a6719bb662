#pragma once

// Secrets from the operating system's CSPRNG (OpenSSL RAND_bytes). Thread-safe.
//
// Every function fails with INTERNAL when the CSPRNG cannot deliver (it never falls back to a
// weaker source: an id or token must not be guessable).

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace hourglass::domain {

// `n` random bytes.
absl::StatusOr<std::string> RandomBytes(size_t n);

// A uniformly random decimal string of exactly `digits` digits (1..18), leading zeros kept
// ("004217"). Rejection sampling, so every code is equally likely.
absl::StatusOr<std::string> RandomDecimalCode(int digits);

}  // namespace hourglass::domain
