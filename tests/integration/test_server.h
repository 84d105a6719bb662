#pragma once

// A real hourglass server in-process on 127.0.0.1:0 with a real channel to it.

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>

#include "server/config.h"
#include "server/server.h"
#include "storage/clock.h"

namespace hourglass::testing {

// Defaults for tests: loopback, an ephemeral port, 4 shards, 64 MiB.
server::ServerConfig TestConfig();

class TestServer {
 public:
  explicit TestServer(server::ServerConfig config = TestConfig(),
                      std::function<void(grpc::ServerBuilder&)> customize = nullptr);
  ~TestServer();

  server::HourglassServer& server() { return *server_; }
  storage::Clock& clock() { return clock_; }
  std::string address() const;
  std::shared_ptr<grpc::Channel> channel() { return channel_; }
  std::shared_ptr<grpc::Channel> NewChannel() const;

 private:
  storage::SystemClock clock_;
  std::unique_ptr<server::HourglassServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace hourglass::testing
