#pragma once

// The snapshot file format, version 1: what SnapshotWriter writes and ReadSnapshot reads.
//
//   header   magic "\x89HGSNAP\n" (8 bytes; the high byte and the newline catch files mangled
//            as text), version u32, flags u32 (bit 0: clean, written after the drain at a
//            graceful shutdown; other bits must be 0), id (16 random bytes, named by the clean
//            marker, snapshot.h), wall_ms i64 and mono_ms i64 (both clocks read at the start of
//            the write; their difference carries monotonic instants inside values over to the
//            next process). Integers are little-endian.
//   records  0x01 entry: space u8 (storage::Space), key (varint length + bytes, <= 65535),
//            value (varint length + bytes), deadline i64: absolute wall-clock ms, or INT64_MAX
//            for none.
//            0xFF end: varint number of entry records. Nothing may follow it but the trailer.
//   trailer  SHA-256 of every byte before it (32 bytes).
//
// Reading validates everything it reads (lengths against what is left of the file before
// allocating, spaces, record kinds, the count, the checksum) and never reads out of bounds.
// Content errors are DATA_LOSS with a message saying what is wrong and where; I/O errors are
// INTERNAL. Neither crashes.
//
// Thread-safety: a SnapshotWriter is used by one thread; ReadSnapshot is reentrant.

#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/store.h"

namespace hourglass::server::snapshot {

inline constexpr std::string_view kMagic{"\x89HGSNAP\n", 8};
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr uint32_t kFlagClean = 1;
inline constexpr size_t kHeaderBytes = 8 + 4 + 4 + 16 + 8 + 8;
inline constexpr size_t kDigestBytes = 32;
inline constexpr uint8_t kEntryRecord = 0x01;
inline constexpr uint8_t kEndRecord = 0xFF;

using SnapshotId = std::array<uint8_t, 16>;
using Digest = std::array<uint8_t, kDigestBytes>;

struct Header {
  uint32_t version = kFormatVersion;
  bool clean = false;
  SnapshotId id{};
  int64_t wall_ms = 0;
  int64_t mono_ms = 0;
};

// One entry as stored: the deadline is absolute wall-clock ms, storage::kNoDeadline for none.
struct Record {
  storage::Space space = storage::Space::kKv;
  std::string_view key;
  std::string_view value;
  int64_t deadline_wall_ms = storage::kNoDeadline;
};

// SHA-256, incrementally (OpenSSL EVP).
class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t size);
  Digest Finish();

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
};

// Streams a snapshot into an open file descriptor (which it does not own, sync or close).
class SnapshotWriter {
 public:
  // Buffers the header; nothing is written before the first flush.
  SnapshotWriter(int fd, const Header& header);

  absl::Status Add(const Record& record);
  // Writes the end record and the trailer, and flushes. The writer is spent afterwards.
  absl::Status Finish();

  uint64_t records() const { return records_; }
  uint64_t bytes() const { return bytes_written_ + buffer_.size(); }
  const Digest& digest() const { return digest_; }

 private:
  absl::Status Flush(bool hash);

  const int fd_;
  std::string buffer_;
  Sha256 sha_;
  uint64_t records_ = 0;
  uint64_t bytes_written_ = 0;
  Digest digest_{};
};

struct FileSummary {
  Header header;
  uint64_t records = 0;
  uint64_t bytes = 0;
  Digest digest{};
};

// Reads the whole snapshot open at `fd` from offset 0 and verifies it; with `fn`, calls it for
// every entry in file order (views valid during the call) and stops at its first error. Run it
// once without `fn` to verify a file before acting on any of it.
absl::StatusOr<FileSummary> ReadSnapshot(
    int fd, absl::FunctionRef<absl::Status(const Record&)>* fn = nullptr);

// The header's encoding (for tests that craft files).
std::string EncodeHeader(const Header& header);

}  // namespace hourglass::server::snapshot
