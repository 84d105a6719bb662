#include "server/domain/secure_random.h"

#include <openssl/rand.h>

#include <cstdint>
#include <cstring>

namespace hourglass::domain {

absl::StatusOr<std::string> RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return absl::InternalError("CSPRNG failure (RAND_bytes)");
  }
  return out;
}

absl::StatusOr<std::string> RandomDecimalCode(int digits) {
  if (digits < 1 || digits > 18) return absl::InvalidArgumentError("digits: must be 1..18");
  uint64_t modulus = 1;
  for (int i = 0; i < digits; ++i) modulus *= 10;
  // Values at or above the largest multiple of `modulus` would bias the low codes; draw again
  // (probability < modulus / 2^64, i.e. never in practice for <= 18 digits).
  const uint64_t limit = UINT64_MAX - UINT64_MAX % modulus;
  uint64_t value = 0;
  do {
    absl::StatusOr<std::string> bytes = RandomBytes(sizeof(value));
    if (!bytes.ok()) return bytes.status();
    std::memcpy(&value, bytes->data(), sizeof(value));
  } while (value >= limit);
  value %= modulus;
  std::string code(static_cast<size_t>(digits), '0');
  for (int i = digits - 1; i >= 0 && value > 0; --i) {
    code[static_cast<size_t>(i)] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return code;
}

}  // namespace hourglass::domain
