#include "server/logging.h"

#include <google/protobuf/stubs/logging.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

namespace hourglass::server {
namespace {

// %* in a pattern: the message escaped for a JSON string.
class JsonEscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    for (char c : std::string_view(msg.payload.data(), msg.payload.size())) {
      switch (c) {
        case '"':
          dest.append(std::string_view("\\\""));
          break;
        case '\\':
          dest.append(std::string_view("\\\\"));
          break;
        case '\n':
          dest.append(std::string_view("\\n"));
          break;
        case '\r':
          dest.append(std::string_view("\\r"));
          break;
        case '\t':
          dest.append(std::string_view("\\t"));
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            static constexpr char kHex[] = "0123456789abcdef";
            const char escaped[] = {'\\', 'u', '0', '0', kHex[(c >> 4) & 0xf], kHex[c & 0xf]};
            dest.append(escaped, escaped + sizeof(escaped));
          } else {
            dest.push_back(c);
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }
};

// At most one libprotobuf message per 10 s; the rest are counted and reported with the next.
constexpr int64_t kProtobufLogIntervalMs = 10'000;
std::atomic<int64_t> last_protobuf_log_ms{0};
std::atomic<uint64_t> suppressed_protobuf_logs{0};

void RateLimitedProtobufLog(google::protobuf::LogLevel level, const char* file, int line,
                            const std::string& message) {
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  int64_t last = last_protobuf_log_ms.load();
  if (now - last < kProtobufLogIntervalMs ||
      !last_protobuf_log_ms.compare_exchange_strong(last, now)) {
    suppressed_protobuf_logs.fetch_add(1);
    return;
  }
  const uint64_t suppressed = suppressed_protobuf_logs.exchange(0);
  // The message names the field and the problem, never the payload.
  spdlog::warn("protobuf: {} ({} similar messages suppressed)", message, suppressed);
  if (level == google::protobuf::LOGLEVEL_FATAL)
    spdlog::critical("protobuf fatal at {}:{}", file, line);
}

}  // namespace

void InitLogging(const ServerConfig& config) {
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  if (config.log_format == LogFormat::kJson) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonEscapedMessage>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","msg":"%*"})");
    spdlog::set_formatter(std::move(formatter));
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %L %v", spdlog::pattern_time_type::utc);
  }
  google::protobuf::SetLogHandler(&RateLimitedProtobufLog);
}

}  // namespace hourglass::server
