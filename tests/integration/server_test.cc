// The server skeleton from the outside: health, reflection, drain on shutdown.

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "google/protobuf/unknown_field_set.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/integration/test_server.h"

namespace hourglass::testing {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

HealthCheckResponse::ServingStatus CheckHealth(grpc::Channel& channel, const std::string& service,
                                               grpc::Status* status = nullptr) {
  auto stub = Health::NewStub(std::shared_ptr<grpc::Channel>(&channel, [](grpc::Channel*) {}));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  HealthCheckRequest request;
  request.set_service(service);
  HealthCheckResponse response;
  grpc::Status result = stub->Check(&context, request, &response);
  if (status != nullptr) *status = result;
  return result.ok() ? response.status() : HealthCheckResponse::UNKNOWN;
}

TEST(ServerTest, HealthServingOverallAndPerService) {
  TestServer server;
  EXPECT_EQ(CheckHealth(*server.channel(), ""), HealthCheckResponse::SERVING);
  for (const char* name : {"hourglass.v1.KeyValueService", "hourglass.v1.SessionService",
                           "hourglass.v1.TokenService", "hourglass.v1.RateLimitService",
                           "hourglass.v1.CacheService", "hourglass.v1.AdminService"}) {
    const auto& names = server.server().service_names();
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
  for (const std::string& name : server.server().service_names()) {
    EXPECT_EQ(CheckHealth(*server.channel(), name), HealthCheckResponse::SERVING) << name;
  }
  grpc::Status status;
  CheckHealth(*server.channel(), "no.such.Service", &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
}

// Reflection through raw bytes: the reflection messages are compiled into libgrpc++_reflection
// and generating them again here would register the same proto file twice.
std::vector<std::string> ListServicesByReflection(grpc::Channel& channel) {
  grpc::GenericStub stub(std::shared_ptr<grpc::Channel>(&channel, [](grpc::Channel*) {}));
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto call = stub.PrepareCall(
      &context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag = nullptr;
  bool ok = false;
  auto step = [&](int expected) {
    EXPECT_TRUE(cq.Next(&tag, &ok));
    EXPECT_EQ(tag, reinterpret_cast<void*>(static_cast<intptr_t>(expected)));
    return ok;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  step(1);
  // ServerReflectionRequest { list_services (7): "" }
  const std::string request("\x3a\x00", 2);
  grpc::Slice slice(request);
  grpc::ByteBuffer buffer(&slice, 1);
  call->Write(buffer, reinterpret_cast<void*>(2));
  step(2);
  grpc::ByteBuffer reply;
  call->Read(&reply, reinterpret_cast<void*>(3));
  std::vector<std::string> names;
  if (step(3)) {
    std::vector<grpc::Slice> slices;
    EXPECT_TRUE(reply.Dump(&slices).ok());
    std::string bytes;
    for (auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    // ServerReflectionResponse { list_services_response (6) { service (1) { name (1) } } }
    google::protobuf::UnknownFieldSet response;
    EXPECT_TRUE(response.ParseFromString(bytes));
    for (int i = 0; i < response.field_count(); ++i) {
      if (response.field(i).number() != 6) continue;
      google::protobuf::UnknownFieldSet list;
      list.ParseFromString(response.field(i).length_delimited());
      for (int j = 0; j < list.field_count(); ++j) {
        google::protobuf::UnknownFieldSet service;
        service.ParseFromString(list.field(j).length_delimited());
        for (int k = 0; k < service.field_count(); ++k) {
          if (service.field(k).number() == 1) names.push_back(service.field(k).length_delimited());
        }
      }
    }
  }
  call->WritesDone(reinterpret_cast<void*>(4));
  step(4);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  step(5);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return names;
}

TEST(ServerTest, ReflectionListsEveryService) {
  TestServer server;
  std::vector<std::string> names = ListServicesByReflection(*server.channel());
  for (const std::string& name : server.server().service_names()) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
  EXPECT_NE(std::find(names.begin(), names.end(), "grpc.health.v1.Health"), names.end());
}

// A generic handler that answers after `delay`, standing in for a long RPC in flight.
class SlowService final : public grpc::CallbackGenericService {
 public:
  explicit SlowService(std::chrono::milliseconds delay) : delay_(delay) {}
  std::atomic<int> started{0};

  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext*) override {
    class Reactor final : public grpc::ServerGenericBidiReactor {
     public:
      Reactor(SlowService* service) : service_(service) { StartRead(&request_); }
      void OnReadDone(bool) override {
        service_->started.fetch_add(1);
        worker_ = std::thread([this] {
          std::unique_lock<std::mutex> lock(mu_);
          // Wakes early when the server cancels the call (shutdown grace over).
          if (cancelled_cv_.wait_for(lock, service_->delay_, [this] { return cancelled_; })) {
            Finish(grpc::Status::CANCELLED);
            return;
          }
          grpc::Slice slice(std::string("done"));
          response_ = grpc::ByteBuffer(&slice, 1);
          StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
        });
      }
      void OnCancel() override {
        std::lock_guard<std::mutex> lock(mu_);
        cancelled_ = true;
        cancelled_cv_.notify_all();
      }
      void OnDone() override {
        // gRPC may run OnDone on the worker's own thread, inline in Finish.
        if (worker_.get_id() == std::this_thread::get_id()) {
          worker_.detach();
        } else {
          worker_.join();
        }
        delete this;
      }

     private:
      SlowService* service_;
      grpc::ByteBuffer request_;
      grpc::ByteBuffer response_;
      std::thread worker_;
      std::mutex mu_;
      std::condition_variable cancelled_cv_;
      bool cancelled_ = false;
    };
    return new Reactor(this);
  }

 private:
  std::chrono::milliseconds delay_;
};

TEST(ServerTest, ShutdownDrainsAnInFlightCall) {
  SlowService slow(std::chrono::milliseconds(500));
  TestServer server(TestConfig(), [&](grpc::ServerBuilder& builder) {
    builder.RegisterCallbackGenericService(&slow);
  });
  grpc::GenericStub stub(server.channel());
  grpc::ClientContext context;
  grpc::Slice slice(std::string("x"));
  grpc::ByteBuffer request(&slice, 1), response;
  std::atomic<bool> finished{false};
  grpc::Status call_status;
  grpc::StubOptions options;
  stub.UnaryCall(&context, "/test.Slow/Call", options, &request, &response,
                 [&](grpc::Status status) {
                   call_status = status;
                   finished = true;
                 });
  while (slow.started.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));

  std::thread stopper([&] { server.server().Shutdown(5000); });
  // While draining: health reports NOT_SERVING... or refuses the call outright, as gRPC stops
  // accepting new calls once Shutdown begins. Either way it never says SERVING.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_NE(CheckHealth(*server.NewChannel(), ""), HealthCheckResponse::SERVING);
  stopper.join();
  ASSERT_TRUE(finished.load());
  EXPECT_TRUE(call_status.ok()) << call_status.error_message();
}

TEST(ServerTest, ShutdownCancelsCallsThatOutlastTheGrace) {
  SlowService slow(std::chrono::milliseconds(1500));
  TestServer server(TestConfig(), [&](grpc::ServerBuilder& builder) {
    builder.RegisterCallbackGenericService(&slow);
  });
  grpc::GenericStub stub(server.channel());
  grpc::ClientContext context;
  grpc::Slice slice(std::string("x"));
  grpc::ByteBuffer request(&slice, 1), response;
  std::atomic<bool> finished{false};
  grpc::Status call_status;
  stub.UnaryCall(&context, "/test.Slow/Call", grpc::StubOptions(), &request, &response,
                 [&](grpc::Status status) {
                   call_status = status;
                   finished = true;
                 });
  while (slow.started.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto begin = std::chrono::steady_clock::now();
  server.server().Shutdown(200);
  const auto took = std::chrono::steady_clock::now() - begin;
  EXPECT_LT(took, std::chrono::milliseconds(1400));
  for (int i = 0; i < 200 && !finished.load(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(finished.load());
  EXPECT_FALSE(call_status.ok());
}

}  // namespace
}  // namespace hourglass::testing
