#include "server/domain/digest.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

namespace hourglass::domain {

std::string Sha256(std::string_view data) {
  std::string out(kSha256Bytes, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

std::string HexPrefix(std::string_view bytes, size_t hex_digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(hex_digits);
  for (char c : bytes) {
    if (out.size() >= hex_digits) break;
    const auto b = static_cast<unsigned char>(c);
    out.push_back(kHex[b >> 4]);
    if (out.size() >= hex_digits) break;
    out.push_back(kHex[b & 15]);
  }
  return out;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // Lengths are not secret here (hashes of fixed size); only the content comparison must not
  // exit early.
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace hourglass::domain
