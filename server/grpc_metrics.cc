#include "server/grpc_metrics.h"

#include <google/protobuf/descriptor.h>

#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"

namespace hourglass::server {
namespace {

constexpr std::array<std::string_view, kNumGrpcCodes> kGrpcCodeNames = {
    "OK",       "Canceled",        "Unknown",          "InvalidArgument",   "DeadlineExceeded",
    "NotFound", "AlreadyExists",   "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
    "Aborted",  "OutOfRange",      "Unimplemented",    "Internal",          "Unavailable",
    "DataLoss", "Unauthenticated",
};

// Bucket bounds in integer nanoseconds: the per-call search compares integers.
constexpr std::array<int64_t, kHandlingBucketsSeconds.size()> BoundsNs() {
  std::array<int64_t, kHandlingBucketsSeconds.size()> ns{};
  for (size_t i = 0; i < ns.size(); ++i) {
    ns[i] = static_cast<int64_t>(kHandlingBucketsSeconds[i] * 1e9 + 0.5);
  }
  return ns;
}
constexpr std::array<int64_t, kHandlingBucketsSeconds.size()> kBoundsNs = BoundsNs();

GrpcType TypeOf(const google::protobuf::MethodDescriptor& method) {
  if (method.client_streaming()) {
    return method.server_streaming() ? GrpcType::BIDI_STREAMING : GrpcType::CLIENT_STREAMING;
  }
  return method.server_streaming() ? GrpcType::SERVER_STREAMING : GrpcType::UNARY;
}

prometheus::ClientMetric WithLabels(const MethodStats& stats) {
  prometheus::ClientMetric metric;
  metric.label = {{"grpc_method", stats.method()},
                  {"grpc_service", stats.service()},
                  {"grpc_type", std::string(GrpcTypeName(stats.type()))}};
  return metric;
}

prometheus::MetricFamily Family(std::string name, std::string help, prometheus::MetricType type) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

}  // namespace

std::string_view GrpcCodeName(grpc::StatusCode code) {
  const int index = static_cast<int>(code);
  // A code outside 0..16 cannot come from gRPC; go-grpc-prometheus would print the number, and
  // API.md fixes the values: such a call counts as Unknown.
  if (index < 0 || index >= kNumGrpcCodes) return kGrpcCodeNames[grpc::StatusCode::UNKNOWN];
  return kGrpcCodeNames[index];
}

std::string_view GrpcTypeName(GrpcType type) {
  switch (type) {
    case GrpcType::UNARY:
      return "unary";
    case GrpcType::CLIENT_STREAMING:
      return "client_stream";
    case GrpcType::SERVER_STREAMING:
      return "server_stream";
    case GrpcType::BIDI_STREAMING:
      return "bidi_stream";
  }
  return "unary";
}

MethodStats::MethodStats(std::string service, std::string method, GrpcType type)
    : service_(std::move(service)), method_(std::move(method)), type_(type) {}

void MethodStats::Handled(grpc::StatusCode code, int64_t elapsed_ns) {
  int index = static_cast<int>(code);
  if (index < 0 || index >= kNumGrpcCodes) index = grpc::StatusCode::UNKNOWN;
  handled_[index].fetch_add(1, std::memory_order_relaxed);
  if (elapsed_ns < 0) elapsed_ns = 0;
  // Linear: 14 bounds, and most calls stop in the first three.
  size_t bucket = 0;
  while (bucket < kBoundsNs.size() && elapsed_ns > kBoundsNs[bucket]) ++bucket;
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(elapsed_ns), std::memory_order_relaxed);
}

uint64_t MethodStats::handled(grpc::StatusCode code) const {
  const int index = static_cast<int>(code);
  if (index < 0 || index >= kNumGrpcCodes) return 0;
  return handled_[index].load(std::memory_order_relaxed);
}

std::array<uint64_t, kHandlingBucketsSeconds.size() + 1> MethodStats::buckets() const {
  std::array<uint64_t, kHandlingBucketsSeconds.size() + 1> counts{};
  for (size_t i = 0; i < counts.size(); ++i) {
    counts[i] = buckets_[i].load(std::memory_order_relaxed);
  }
  return counts;
}

double MethodStats::sum_seconds() const {
  return static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
}

GrpcMetrics::GrpcMetrics(const std::vector<Method>& methods) {
  stats_.reserve(methods.size());
  for (const Method& m : methods) {
    std::string path = absl::StrCat("/", m.service, "/", m.method);
    if (by_path_.contains(path)) continue;
    stats_.push_back(std::make_unique<MethodStats>(m.service, m.method, m.type));
    by_path_.emplace(std::move(path), stats_.back().get());
  }
}

std::vector<GrpcMetrics::Method> GrpcMetrics::MethodsOf(
    const std::vector<std::string>& service_names) {
  std::vector<Method> methods;
  const google::protobuf::DescriptorPool* pool = google::protobuf::DescriptorPool::generated_pool();
  for (const std::string& name : service_names) {
    const google::protobuf::ServiceDescriptor* service = pool->FindServiceByName(name);
    if (service == nullptr) continue;
    for (int i = 0; i < service->method_count(); ++i) {
      const google::protobuf::MethodDescriptor* method = service->method(i);
      methods.push_back(Method{name, method->name(), TypeOf(*method)});
    }
  }
  // gRPC's own services: the default health service is built on upb (no protobuf descriptor),
  // and reflection's descriptor is only linked into the reflection library; both are fixed.
  methods.push_back(Method{"grpc.health.v1.Health", "Check", GrpcType::UNARY});
  methods.push_back(Method{"grpc.health.v1.Health", "Watch", GrpcType::SERVER_STREAMING});
  methods.push_back(Method{"grpc.reflection.v1alpha.ServerReflection", "ServerReflectionInfo",
                           GrpcType::BIDI_STREAMING});
  return methods;
}

MethodStats* GrpcMetrics::Find(std::string_view full_method) const {
  auto it = by_path_.find(absl::string_view(full_method.data(), full_method.size()));
  return it == by_path_.end() ? nullptr : it->second;
}

std::vector<prometheus::MetricFamily> GrpcMetrics::Collect() const {
  using prometheus::MetricType;
  prometheus::MetricFamily started =
      Family("grpc_server_started_total", "Total number of RPCs started on the server.",
             MetricType::Counter);
  prometheus::MetricFamily handled =
      Family("grpc_server_handled_total",
             "Total number of RPCs completed on the server, regardless of success or failure.",
             MetricType::Counter);
  prometheus::MetricFamily received =
      Family("grpc_server_msg_received_total",
             "Total number of RPC stream messages received on the server.", MetricType::Counter);
  prometheus::MetricFamily sent =
      Family("grpc_server_msg_sent_total",
             "Total number of gRPC stream messages sent by the server.", MetricType::Counter);
  prometheus::MetricFamily seconds = Family(
      "grpc_server_handling_seconds",
      "Histogram of response latency (seconds) of gRPC that had been application-level handled "
      "by the server.",
      MetricType::Histogram);

  for (const std::unique_ptr<MethodStats>& stats : stats_) {
    const prometheus::ClientMetric base = WithLabels(*stats);
    prometheus::ClientMetric metric = base;
    metric.counter.value = static_cast<double>(stats->started());
    started.metric.push_back(metric);
    metric.counter.value = static_cast<double>(stats->received());
    received.metric.push_back(metric);
    metric.counter.value = static_cast<double>(stats->sent());
    sent.metric.push_back(metric);
    for (int code = 0; code < kNumGrpcCodes; ++code) {
      prometheus::ClientMetric by_code = base;
      // Labels sorted by name, as prometheus-cpp's own families emit them.
      by_code.label.insert(by_code.label.begin(), {"grpc_code", std::string(kGrpcCodeNames[code])});
      by_code.counter.value =
          static_cast<double>(stats->handled(static_cast<grpc::StatusCode>(code)));
      handled.metric.push_back(std::move(by_code));
    }
    // _count is the sum of the buckets read here, so it always equals the +Inf bucket.
    prometheus::ClientMetric histogram = base;
    const auto counts = stats->buckets();
    uint64_t cumulative = 0;
    for (size_t i = 0; i < kHandlingBucketsSeconds.size(); ++i) {
      cumulative += counts[i];
      histogram.histogram.bucket.push_back({cumulative, kHandlingBucketsSeconds[i]});
    }
    cumulative += counts.back();
    histogram.histogram.bucket.push_back({cumulative, std::numeric_limits<double>::infinity()});
    histogram.histogram.sample_count = cumulative;
    histogram.histogram.sample_sum = stats->sum_seconds();
    seconds.metric.push_back(std::move(histogram));
  }
  std::vector<prometheus::MetricFamily> families;
  families.reserve(5);
  families.push_back(std::move(started));
  families.push_back(std::move(handled));
  families.push_back(std::move(received));
  families.push_back(std::move(sent));
  families.push_back(std::move(seconds));
  return families;
}

}  // namespace hourglass::server
