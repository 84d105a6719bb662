#include "server/snapshot_format.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace hourglass::server::snapshot {
namespace {

constexpr size_t kBufferBytes = 1 << 20;

void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}
void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}
void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
uint64_t GetU64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint32_t GetU32(const unsigned char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::string Errno(absl::string_view what) { return absl::StrCat(what, ": ", std::strerror(errno)); }

// Sequential reads of the content part of a snapshot (everything before the trailer), through
// a buffer, hashing every byte read. pread: independent of the descriptor's offset.
class Reader {
 public:
  Reader(int fd, uint64_t content_size) : fd_(fd), content_size_(content_size) {}

  uint64_t offset() const { return consumed_; }
  uint64_t remaining() const { return content_size_ - consumed_; }

  // DATA_LOSS "truncated" past the content; INTERNAL on a read error.
  absl::Status Read(void* dst, size_t n) {
    char* out = static_cast<char*>(dst);
    while (n > 0) {
      if (start_ == end_) {
        if (absl::Status s = Fill(); !s.ok()) return s;
      }
      const size_t take = std::min(n, end_ - start_);
      std::memcpy(out, buffer_.data() + start_, take);
      start_ += take;
      consumed_ += take;
      out += take;
      n -= take;
    }
    return absl::OkStatus();
  }
  absl::Status ReadString(std::string* out, size_t n) {
    out->resize(n);
    return Read(out->data(), n);
  }
  absl::Status ReadByte(uint8_t* b) { return Read(b, 1); }
  absl::Status ReadVarint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b = 0;
      if (absl::Status s = ReadByte(&b); !s.ok()) return s;
      *v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) return absl::OkStatus();
    }
    return absl::DataLossError(absl::StrCat("bad varint at offset ", consumed_));
  }
  // Reads (and hashes) whatever is left of the content.
  absl::Status Drain() {
    consumed_ += end_ - start_;
    start_ = end_;
    while (file_pos_ < content_size_) {
      if (absl::Status s = Fill(); !s.ok()) return s;
      consumed_ += end_ - start_;
      start_ = end_;
    }
    return absl::OkStatus();
  }
  Digest Finish() { return sha_.Finish(); }

 private:
  absl::Status Fill() {
    if (file_pos_ >= content_size_) {
      return absl::DataLossError(absl::StrCat("truncated: the content ends at offset ",
                                              content_size_, " in the middle of a record"));
    }
    if (buffer_.empty()) {
      buffer_.resize(static_cast<size_t>(std::min<uint64_t>(kBufferBytes, content_size_)));
    }
    const size_t want =
        static_cast<size_t>(std::min<uint64_t>(kBufferBytes, content_size_ - file_pos_));
    ssize_t got;
    do {
      got = ::pread(fd_, buffer_.data(), want, static_cast<off_t>(file_pos_));
    } while (got < 0 && errno == EINTR);
    if (got < 0) return absl::InternalError(Errno("read"));
    if (got == 0) {
      return absl::DataLossError(
          absl::StrCat("the file shrank while being read (at offset ", file_pos_, ")"));
    }
    sha_.Update(buffer_.data(), static_cast<size_t>(got));
    start_ = 0;
    end_ = static_cast<size_t>(got);
    file_pos_ += static_cast<uint64_t>(got);
    return absl::OkStatus();
  }

  const int fd_;
  const uint64_t content_size_;
  std::vector<char> buffer_;
  size_t start_ = 0;
  size_t end_ = 0;
  uint64_t file_pos_ = 0;  // bytes read from the file
  uint64_t consumed_ = 0;  // bytes handed out
  Sha256 sha_;
};

// Parses the records after the header. Structural errors are DATA_LOSS naming the record.
absl::Status ParseRecords(Reader& in, absl::FunctionRef<absl::Status(const Record&)>* fn,
                          uint64_t* records) {
  std::string key;
  std::string value;
  *records = 0;
  while (true) {
    const uint64_t at = in.offset();
    auto bad = [&](absl::string_view what) {
      return absl::DataLossError(
          absl::StrCat("record ", *records + 1, " at offset ", at, ": ", what));
    };
    if (in.remaining() == 0) {
      return absl::DataLossError(
          absl::StrCat("truncated: no end record after ", *records, " records (offset ", at, ")"));
    }
    uint8_t kind = 0;
    if (absl::Status s = in.ReadByte(&kind); !s.ok()) return s;
    if (kind == kEndRecord) {
      uint64_t count = 0;
      if (absl::Status s = in.ReadVarint(&count); !s.ok()) return s;
      if (count != *records) {
        return bad(
            absl::StrCat("the end record counts ", count, " entries, the file holds ", *records));
      }
      if (in.remaining() != 0) {
        return bad(absl::StrCat(in.remaining(), " unexpected bytes after the end record"));
      }
      return absl::OkStatus();
    }
    if (kind != kEntryRecord) return bad(absl::StrFormat("unknown record kind 0x%02x", kind));
    uint8_t space = 0;
    uint64_t key_size = 0;
    uint64_t value_size = 0;
    if (absl::Status s = in.ReadByte(&space); !s.ok()) return s;
    if (space >= storage::kNumSpaces) return bad(absl::StrCat("unknown space ", space));
    if (absl::Status s = in.ReadVarint(&key_size); !s.ok()) return s;
    if (key_size > 0xFFFF || key_size > in.remaining()) {
      return bad(absl::StrCat("key length ", key_size, " out of range"));
    }
    if (absl::Status s = in.ReadString(&key, key_size); !s.ok()) return s;
    if (absl::Status s = in.ReadVarint(&value_size); !s.ok()) return s;
    if (value_size > 0xFFFFFFFFu || value_size > in.remaining()) {
      return bad(absl::StrCat("value length ", value_size, " out of range"));
    }
    if (absl::Status s = in.ReadString(&value, value_size); !s.ok()) return s;
    unsigned char deadline[8];
    if (absl::Status s = in.Read(deadline, 8); !s.ok()) return s;
    ++*records;
    if (fn != nullptr) {
      const Record record{static_cast<storage::Space>(space), key, value,
                          static_cast<int64_t>(GetU64(deadline))};
      if (absl::Status s = (*fn)(record); !s.ok()) return s;
    }
  }
}

}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
  EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr);
}
void Sha256::Update(const void* data, size_t size) { EVP_DigestUpdate(ctx_.get(), data, size); }
Digest Sha256::Finish() {
  Digest digest{};
  unsigned int size = 0;
  EVP_DigestFinal_ex(ctx_.get(), digest.data(), &size);
  return digest;
}

std::string EncodeHeader(const Header& header) {
  std::string out(kMagic);
  PutU32(out, header.version);
  PutU32(out, header.clean ? kFlagClean : 0);
  out.append(reinterpret_cast<const char*>(header.id.data()), header.id.size());
  PutU64(out, static_cast<uint64_t>(header.wall_ms));
  PutU64(out, static_cast<uint64_t>(header.mono_ms));
  return out;
}

SnapshotWriter::SnapshotWriter(int fd, const Header& header) : fd_(fd) {
  buffer_.reserve(kBufferBytes + 4096);
  buffer_ = EncodeHeader(header);
}

absl::Status SnapshotWriter::Add(const Record& record) {
  buffer_.push_back(static_cast<char>(kEntryRecord));
  buffer_.push_back(static_cast<char>(record.space));
  PutVarint(buffer_, record.key.size());
  buffer_.append(record.key);
  PutVarint(buffer_, record.value.size());
  buffer_.append(record.value);
  PutU64(buffer_, static_cast<uint64_t>(record.deadline_wall_ms));
  ++records_;
  if (buffer_.size() >= kBufferBytes) return Flush(/*hash=*/true);
  return absl::OkStatus();
}

absl::Status SnapshotWriter::Finish() {
  buffer_.push_back(static_cast<char>(kEndRecord));
  PutVarint(buffer_, records_);
  if (absl::Status s = Flush(/*hash=*/true); !s.ok()) return s;
  digest_ = sha_.Finish();
  buffer_.assign(reinterpret_cast<const char*>(digest_.data()), digest_.size());
  return Flush(/*hash=*/false);
}

absl::Status SnapshotWriter::Flush(bool hash) {
  if (hash) sha_.Update(buffer_.data(), buffer_.size());
  const char* p = buffer_.data();
  size_t left = buffer_.size();
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(Errno("write"));
    }
    p += n;
    left -= static_cast<size_t>(n);
    bytes_written_ += static_cast<uint64_t>(n);
  }
  buffer_.clear();
  return absl::OkStatus();
}

absl::StatusOr<FileSummary> ReadSnapshot(int fd,
                                         absl::FunctionRef<absl::Status(const Record&)>* fn) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return absl::InternalError(Errno("stat"));
  if (!S_ISREG(st.st_mode)) return absl::InternalError("not a regular file");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  FileSummary summary;
  summary.bytes = size;

  // The magic first, so a foreign file is called foreign whatever its size.
  unsigned char head[kHeaderBytes];
  const size_t head_size = static_cast<size_t>(std::min<uint64_t>(size, kHeaderBytes));
  ssize_t got;
  do {
    got = ::pread(fd, head, head_size, 0);
  } while (got < 0 && errno == EINTR);
  if (got < 0) return absl::InternalError(Errno("read"));
  if (static_cast<size_t>(got) != head_size) {
    return absl::DataLossError("the file shrank while being read");
  }
  const size_t magic_seen = std::min(head_size, kMagic.size());
  if (size == 0) return absl::DataLossError("empty file (0 bytes)");
  if (std::memcmp(head, kMagic.data(), magic_seen) != 0) {
    return absl::DataLossError("not an hourglass snapshot (unknown magic number)");
  }
  if (size < kHeaderBytes + kDigestBytes) {
    return absl::DataLossError(absl::StrCat("truncated: ", size,
                                            " bytes, less than a header and a checksum (",
                                            kHeaderBytes + kDigestBytes, ")"));
  }
  Header& header = summary.header;
  header.version = GetU32(head + 8);
  if (header.version != kFormatVersion) {
    return absl::DataLossError(absl::StrCat("unsupported format version ", header.version,
                                            " (this build reads version ", kFormatVersion, ")"));
  }
  const uint32_t flags = GetU32(head + 12);
  header.clean = (flags & kFlagClean) != 0;
  std::memcpy(header.id.data(), head + 16, header.id.size());
  header.wall_ms = static_cast<int64_t>(GetU64(head + 32));
  header.mono_ms = static_cast<int64_t>(GetU64(head + 40));

  Reader in(fd, size - kDigestBytes);
  unsigned char skip[kHeaderBytes];
  if (absl::Status s = in.Read(skip, kHeaderBytes); !s.ok()) return s;  // hashed, checked above
  absl::Status parsed =
      (flags & ~kFlagClean) != 0
          ? absl::DataLossError(absl::StrFormat("unknown header flags 0x%x", flags))
          : ParseRecords(in, fn, &summary.records);
  if (!parsed.ok() && !absl::IsDataLoss(parsed)) return parsed;  // I/O error, or fn's error
  // On damage, hash the rest anyway: a checksum mismatch is the more telling diagnosis
  // (truncated or corrupted) than whatever the parser tripped on first.
  if (!parsed.ok()) {
    if (absl::Status s = in.Drain(); !s.ok() && !absl::IsDataLoss(s)) return s;
  }
  summary.digest = in.Finish();
  Digest stored{};
  do {
    got = ::pread(fd, stored.data(), kDigestBytes, static_cast<off_t>(size - kDigestBytes));
  } while (got < 0 && errno == EINTR);
  if (got < 0) return absl::InternalError(Errno("read"));
  if (static_cast<size_t>(got) != kDigestBytes || stored != summary.digest) {
    return absl::DataLossError(
        absl::StrCat("checksum mismatch: the file is truncated or corrupted",
                     parsed.ok() ? "" : absl::StrCat(" (", parsed.message(), ")")));
  }
  if (!parsed.ok()) return parsed;
  return summary;
}

}  // namespace hourglass::server::snapshot
