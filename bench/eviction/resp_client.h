#pragma once

// A minimal blocking RESP2 client for the benchmark's Redis side: commands are appended to an
// output buffer and sent in one write (`Flush`), so a batch is one pipelined round trip; replies
// are then read one by one, in order. Every protocol problem, socket error, or unexpected reply
// type aborts the process with a message: a benchmark figure from a broken exchange would be
// worse than none.
//
// Thread-safety: none; one client per thread.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace hourglass::bench {

struct RespReply {
  enum class Type : uint8_t { kSimple, kError, kInteger, kBulk, kNil, kArray };
  Type type = Type::kNil;
  std::string str;                  // kSimple, kError, kBulk
  int64_t integer = 0;              // kInteger; element count for kArray
  std::vector<RespReply> elements;  // kArray
};

class RespClient {
 public:
  // Connects to 127.0.0.1:`port` (TCP_NODELAY). Aborts when it cannot.
  explicit RespClient(int port);
  ~RespClient();
  RespClient(const RespClient&) = delete;
  RespClient& operator=(const RespClient&) = delete;

  // Appends one command (an array of bulk strings) to the output buffer.
  void Append(std::initializer_list<std::string_view> args);
  // Sends everything appended so far.
  void Flush();

  // Reads the next reply. An error reply aborts (use ReadAny for commands that may fail).
  RespReply Read();
  // Reads the next reply, error replies included.
  RespReply ReadAny();

  // Typed reads for the hot paths; each aborts on any other reply type.
  // A bulk string (returns true, sets *value) or nil (returns false).
  bool ReadBulkOrNil(std::string* value);
  // A simple string equal to `expected` ("OK").
  void ExpectSimple(std::string_view expected);
  int64_t ReadInteger();

  // Append + Flush + Read, for the occasional command (CONFIG SET, INFO, DBSIZE, FLUSHALL).
  RespReply Command(std::initializer_list<std::string_view> args);

 private:
  // Ensures at least one unread byte is buffered (blocking recv); aborts on EOF/error.
  void Fill();
  // Reads a line up to CRLF (excluded).
  std::string_view ReadLine();
  // Reads exactly n bytes followed by CRLF into *out.
  void ReadExact(size_t n, std::string* out);
  int64_t ParseInt(std::string_view s);

  int fd_ = -1;
  std::string out_;
  std::vector<char> in_;
  size_t in_begin_ = 0;
  size_t in_end_ = 0;
  std::string line_;  // scratch for lines spanning two recv()s
};

}  // namespace hourglass::bench
