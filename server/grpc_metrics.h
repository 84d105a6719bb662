#pragma once

// GrpcMetrics: gRPC server metrics named and labelled exactly as go-grpc-prometheus does
// (shared/API.md, "Metrics"), so existing dashboards work:
//
//   grpc_server_started_total       {grpc_type, grpc_service, grpc_method}
//   grpc_server_handled_total       {grpc_type, grpc_service, grpc_method, grpc_code}
//   grpc_server_msg_received_total  {grpc_type, grpc_service, grpc_method}
//   grpc_server_msg_sent_total      {grpc_type, grpc_service, grpc_method}
//   grpc_server_handling_seconds    histogram {grpc_type, grpc_service, grpc_method}
//
// The method table is fixed at construction (every method of the services the server
// registers, plus grpc.health.v1.Health and server reflection), and every series exists from
// the start at 0, as go-grpc-prometheus's InitializeMetrics does. Calls to a method outside the
// table (unimplemented ones) are not counted: a client cannot add series.
//
// Recording costs a few relaxed atomic adds on the method's own cache lines: no lock, no
// allocation, no label formatting (labels are built at scrape time only). The interceptor that
// feeds it is grpc_metrics_interceptor.h.
//
// Thread-safety: thread-safe. Find() and the MethodStats recorders may be called from any
// thread at any time; Collect() (a scrape) reads the counters without stopping writers, so one
// scrape may see a call started but not yet handled.

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace hourglass::server {

// unary, client_stream, server_stream, bidi_stream.
using GrpcType = grpc::experimental::ServerRpcInfo::Type;

// grpc_code label values, indexed by grpc::StatusCode (0..16), exactly as API.md lists them.
inline constexpr int kNumGrpcCodes = 17;
std::string_view GrpcCodeName(grpc::StatusCode code);

// grpc_type label value: unary, client_stream, server_stream, bidi_stream.
std::string_view GrpcTypeName(GrpcType type);

// grpc_server_handling_seconds bucket upper bounds: 50 µs to 1 s, 1-2.5-5 steps (a cache hit
// is ~50 µs end to end; API.md's latency goal is p99 <= 200 µs, so the low buckets are dense).
inline constexpr std::array<double, 14> kHandlingBucketsSeconds = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0};

// The counters of one method. Aligned so two methods never share a cache line.
class alignas(64) MethodStats {
 public:
  MethodStats(std::string service, std::string method, GrpcType type);

  void Started() { started_.fetch_add(1, std::memory_order_relaxed); }
  void MessageReceived() { received_.fetch_add(1, std::memory_order_relaxed); }
  void MessageSent() { sent_.fetch_add(1, std::memory_order_relaxed); }
  // One handled call: its status code and how long it took (from Started()).
  void Handled(grpc::StatusCode code, int64_t elapsed_ns);

  const std::string& service() const { return service_; }
  const std::string& method() const { return method_; }
  GrpcType type() const { return type_; }

  // Reads for a scrape (and tests).
  uint64_t started() const { return started_.load(std::memory_order_relaxed); }
  uint64_t received() const { return received_.load(std::memory_order_relaxed); }
  uint64_t sent() const { return sent_.load(std::memory_order_relaxed); }
  uint64_t handled(grpc::StatusCode code) const;
  // Non-cumulative bucket counts; the last is +Inf.
  std::array<uint64_t, kHandlingBucketsSeconds.size() + 1> buckets() const;
  double sum_seconds() const;

 private:
  const std::string service_;
  const std::string method_;
  const GrpcType type_;
  std::atomic<uint64_t> started_{0};
  std::atomic<uint64_t> received_{0};
  std::atomic<uint64_t> sent_{0};
  std::array<std::atomic<uint64_t>, kNumGrpcCodes> handled_{};
  std::array<std::atomic<uint64_t>, kHandlingBucketsSeconds.size() + 1> buckets_{};
  std::atomic<uint64_t> sum_ns_{0};
};

class GrpcMetrics final : public prometheus::Collectable {
 public:
  // A method the table should hold.
  struct Method {
    std::string service;  // fully qualified: "hourglass.v1.KeyValueService"
    std::string method;   // "Get"
    GrpcType type;
  };

  explicit GrpcMetrics(const std::vector<Method>& methods);

  // Every method of `service_names` (fully qualified names of generated services, found in
  // protobuf's generated descriptor pool; unknown names are skipped), plus
  // grpc.health.v1.Health (Check, Watch) and grpc.reflection.v1alpha.ServerReflection.
  static std::vector<Method> MethodsOf(const std::vector<std::string>& service_names);

  // The stats of "/package.Service/Method" (as grpc::experimental::ServerRpcInfo::method()
  // gives it), or nullptr when the method is not in the table. Lock-free.
  MethodStats* Find(std::string_view full_method) const;

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::vector<std::unique_ptr<MethodStats>> stats_;
  // "/service/method" -> stats; built in the constructor, read-only afterwards.
  absl::flat_hash_map<std::string, MethodStats*> by_path_;
};

}  // namespace hourglass::server
