#include "tests/integration/test_server.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

namespace hourglass::testing {

server::ServerConfig TestConfig() {
  server::ServerConfig config;
  config.listen = "127.0.0.1:0";
  config.metrics_listen = "127.0.0.1:0";
  config.shards = 4;
  config.maxmemory_bytes = 64ull << 20;
  config.shutdown_grace_ms = 2000;
  return config;
}

TestServer::TestServer(server::ServerConfig config,
                       std::function<void(grpc::ServerBuilder&)> customize) {
  auto started = server::HourglassServer::Start(config, clock_, customize);
  if (!started.ok()) {
    ADD_FAILURE() << "server did not start: " << started.status();
    std::abort();
  }
  server_ = std::move(*started);
  channel_ = NewChannel();
}

TestServer::~TestServer() { server_->Shutdown(0); }

std::string TestServer::address() const { return absl::StrCat("127.0.0.1:", server_->port()); }

std::shared_ptr<grpc::Channel> TestServer::NewChannel() const {
  // A private channel per call site: no subchannel sharing between tests.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address(), grpc::InsecureChannelCredentials(), args);
}

}  // namespace hourglass::testing
