#include "storage/entry.h"

#include <cstdlib>
#include <new>

#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"

namespace hourglass::storage::internal {

Entry* Entry::Create(Space space, std::string_view key, std::string_view value,
                     uint64_t deadline_rel) {
  const size_t size = kHeaderBytes + key.size() + value.size();
  // malloc, not operator new: the process allocator (glibc or mimalloc in the server binary)
  // sees the exact size, and the 16-byte alignment keeps the low bits of the pointer free.
  char* p = static_cast<char*>(std::malloc(size));
  if (p == nullptr) throw std::bad_alloc();
  const uint64_t word = deadline_rel & kDeadlineMask;
  const uint32_t vlen = static_cast<uint32_t>(value.size());
  const uint16_t klen = static_cast<uint16_t>(key.size());
  std::memcpy(p, &word, 8);
  std::memcpy(p + 8, &vlen, 4);
  std::memcpy(p + 12, &klen, 2);
  p[14] = static_cast<char>(static_cast<uint8_t>(space) & 7u);
  if (!key.empty()) std::memcpy(p + kHeaderBytes, key.data(), key.size());
  if (!value.empty()) std::memcpy(p + kHeaderBytes + key.size(), value.data(), value.size());
  return reinterpret_cast<Entry*>(p);
}

void Entry::Destroy(Entry* e) { std::free(reinterpret_cast<char*>(e)); }

// absl::string_view, not std::string_view: Debian's abseil is built without
// ABSL_USES_STD_STRING_VIEW, so absl::Hash<std::string_view> would fall back to std::hash
// (MurmurHash with a fixed seed, multicollisions known) instead of absl's seeded string hash.
uint64_t KeyHash(std::string_view key) {
  return absl::Hash<absl::string_view>{}(absl::string_view(key.data(), key.size()));
}

}  // namespace hourglass::storage::internal
