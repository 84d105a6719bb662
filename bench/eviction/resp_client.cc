#include "bench/eviction/resp_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "bench/eviction/bench_common.h"

namespace hourglass::bench {
namespace {

constexpr size_t kInBuffer = 1 << 16;
constexpr int64_t kMaxBulk = 64 << 20;  // INFO replies are a few KiB; more means a desync

}  // namespace

RespClient::RespClient(int port) : in_(kInBuffer) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0) Die("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    Die(std::string("connect to 127.0.0.1:") + std::to_string(port) + ": " + std::strerror(errno));
  }
  // Each batch is one write; without this, Nagle would hold the second write of a batch.
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

RespClient::~RespClient() {
  if (fd_ >= 0) ::close(fd_);
}

void RespClient::Append(std::initializer_list<std::string_view> args) {
  out_ += '*';
  out_ += std::to_string(args.size());
  out_ += "\r\n";
  for (std::string_view a : args) {
    out_ += '$';
    out_ += std::to_string(a.size());
    out_ += "\r\n";
    out_.append(a.data(), a.size());
    out_ += "\r\n";
  }
}

void RespClient::Flush() {
  size_t done = 0;
  while (done < out_.size()) {
    const ssize_t n = ::send(fd_, out_.data() + done, out_.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) Die(std::string("send: ") + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  out_.clear();
}

void RespClient::Fill() {
  if (in_begin_ < in_end_) return;
  in_begin_ = in_end_ = 0;
  for (;;) {
    const ssize_t n = ::recv(fd_, in_.data(), in_.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) Die("connection closed by the server");
    if (n < 0) Die(std::string("recv: ") + std::strerror(errno));
    in_end_ = static_cast<size_t>(n);
    return;
  }
}

std::string_view RespClient::ReadLine() {
  line_.clear();
  for (;;) {
    Fill();
    const char* begin = in_.data() + in_begin_;
    const size_t avail = in_end_ - in_begin_;
    const void* nl = std::memchr(begin, '\n', avail);
    if (nl == nullptr) {
      line_.append(begin, avail);
      in_begin_ = in_end_;
      if (line_.size() > kMaxBulk) Die("reply line too long");
      continue;
    }
    const size_t len = static_cast<size_t>(static_cast<const char*>(nl) - begin);
    line_.append(begin, len);
    in_begin_ += len + 1;
    if (line_.empty() || line_.back() != '\r') Die("reply line not terminated by CRLF");
    line_.pop_back();
    return line_;
  }
}

void RespClient::ReadExact(size_t n, std::string* out) {
  out->clear();
  size_t need = n + 2;  // + CRLF
  while (need > 0) {
    Fill();
    const size_t take = std::min(need, in_end_ - in_begin_);
    out->append(in_.data() + in_begin_, take);
    in_begin_ += take;
    need -= take;
  }
  if ((*out)[n] != '\r' || (*out)[n + 1] != '\n') Die("bulk string not terminated by CRLF");
  out->resize(n);
}

int64_t RespClient::ParseInt(std::string_view s) {
  if (s.empty() || s.size() > 20) Die("bad integer in reply");
  bool neg = s[0] == '-';
  size_t i = neg ? 1 : 0;
  if (i == s.size()) Die("bad integer in reply");
  int64_t v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') Die("bad integer in reply");
    v = v * 10 + (s[i] - '0');
  }
  return neg ? -v : v;
}

RespReply RespClient::ReadAny() {
  const std::string_view line = ReadLine();
  if (line.empty()) Die("empty reply line");
  RespReply r;
  const std::string_view rest = line.substr(1);
  switch (line[0]) {
    case '+':
      r.type = RespReply::Type::kSimple;
      r.str = std::string(rest);
      break;
    case '-':
      r.type = RespReply::Type::kError;
      r.str = std::string(rest);
      break;
    case ':':
      r.type = RespReply::Type::kInteger;
      r.integer = ParseInt(rest);
      break;
    case '$': {
      const int64_t n = ParseInt(rest);
      if (n == -1) {
        r.type = RespReply::Type::kNil;
        break;
      }
      if (n < 0 || n > kMaxBulk) Die("bad bulk length");
      r.type = RespReply::Type::kBulk;
      ReadExact(static_cast<size_t>(n), &r.str);
      break;
    }
    case '*': {
      const int64_t n = ParseInt(rest);
      if (n == -1) {
        r.type = RespReply::Type::kNil;
        break;
      }
      if (n < 0 || n > 1'000'000) Die("bad array length");
      r.type = RespReply::Type::kArray;
      r.integer = n;
      for (int64_t i = 0; i < n; ++i) r.elements.push_back(ReadAny());
      break;
    }
    default:
      Die("unknown reply type '" + std::string(1, line[0]) + "'");
  }
  return r;
}

RespReply RespClient::Read() {
  RespReply r = ReadAny();
  if (r.type == RespReply::Type::kError) Die("error reply: " + r.str);
  return r;
}

bool RespClient::ReadBulkOrNil(std::string* value) {
  const std::string_view line = ReadLine();
  if (line.size() < 2 || line[0] != '$') Die("expected a bulk string, got: " + std::string(line));
  const int64_t n = ParseInt(line.substr(1));
  if (n == -1) return false;
  if (n < 0 || n > kMaxBulk) Die("bad bulk length");
  ReadExact(static_cast<size_t>(n), value);
  return true;
}

void RespClient::ExpectSimple(std::string_view expected) {
  const std::string_view line = ReadLine();
  if (line.empty() || line[0] != '+' || line.substr(1) != expected) {
    Die("expected +" + std::string(expected) + ", got: " + std::string(line));
  }
}

int64_t RespClient::ReadInteger() {
  const std::string_view line = ReadLine();
  if (line.size() < 2 || line[0] != ':') Die("expected an integer, got: " + std::string(line));
  return ParseInt(line.substr(1));
}

RespReply RespClient::Command(std::initializer_list<std::string_view> args) {
  Append(args);
  Flush();
  return Read();
}

}  // namespace hourglass::bench
