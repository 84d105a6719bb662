#pragma once

// Minimal binary encoding helpers for the compact values the domain layer stores (session
// records, token records, index member lists): little-endian fixed-width integers and
// LEB128 varint-prefixed byte strings.
//
// ByteReader never reads past its input: every getter returns false on truncated or malformed
// input and the reader then stays failed, so a decoder can chain getters and check once.
// Stateless apart from the objects themselves; not thread-safe per object.

#include <cstdint>
#include <string>
#include <string_view>

namespace hourglass::domain {

class ByteWriter {
 public:
  void PutByte(uint8_t b) { out_.push_back(static_cast<char>(b)); }
  void PutFixed64(uint64_t v) {
    for (int i = 0; i < 8; ++i) PutByte(static_cast<uint8_t>(v >> (8 * i)));
  }
  void PutVarint(uint64_t v) {
    while (v >= 0x80) {
      PutByte(static_cast<uint8_t>(v | 0x80));
      v >>= 7;
    }
    PutByte(static_cast<uint8_t>(v));
  }
  // A varint length followed by the bytes.
  void PutBytes(std::string_view s) {
    PutVarint(s.size());
    out_.append(s);
  }
  void Reserve(size_t n) { out_.reserve(n); }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

// The encoded size of a varint.
inline size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// The encoded size of PutBytes(s).
inline size_t BytesSize(size_t len) { return VarintSize(len) + len; }

class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}

  bool GetByte(uint8_t* b) {
    if (!ok_ || in_.empty()) return Fail();
    *b = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return true;
  }
  bool GetFixed64(uint64_t* v) {
    if (!ok_ || in_.size() < 8) return Fail();
    uint64_t r = 0;
    for (int i = 0; i < 8; ++i) r |= uint64_t{static_cast<uint8_t>(in_[i])} << (8 * i);
    in_.remove_prefix(8);
    *v = r;
    return true;
  }
  bool GetVarint(uint64_t* v) {
    uint64_t r = 0;
    // At most 10 bytes encode 64 bits; a longer run is malformed.
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b = 0;
      if (!GetByte(&b)) return false;
      r |= uint64_t{b & 0x7Fu} << shift;
      if ((b & 0x80u) == 0) {
        *v = r;
        return true;
      }
    }
    return Fail();
  }
  // A view into the input: valid as long as the input is.
  bool GetBytes(std::string_view* s) {
    uint64_t len = 0;
    if (!GetVarint(&len)) return false;
    if (len > in_.size()) return Fail();
    *s = in_.substr(0, len);
    in_.remove_prefix(len);
    return true;
  }

  bool ok() const { return ok_; }
  bool at_end() const { return in_.empty(); }

 private:
  bool Fail() {
    ok_ = false;
    return false;
  }

  std::string_view in_;
  bool ok_ = true;
};

}  // namespace hourglass::domain
