#include "server/grpc_metrics_interceptor.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <utility>

namespace hourglass::server {
namespace {

using grpc::experimental::InterceptionHookPoints;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit MetricsInterceptor(MethodStats& stats) : stats_(stats), start_ns_(NowNs()) {
    stats_.Started();
  }

  // A call gRPC tears down without ever sending a status (server shutdown) still ends: counted
  // as Canceled so that started - handled stays the calls in flight.
  ~MetricsInterceptor() override {
    if (!handled_) stats_.Handled(grpc::StatusCode::CANCELLED, NowNs() - start_ns_);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    // A failed read (the client's half-close, a broken stream) reports a null message.
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() != nullptr) {
      stats_.MessageReceived();
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_SEND_MESSAGE) &&
        methods->GetSendMessageStatus()) {
      stats_.MessageSent();
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS) && !handled_) {
      handled_ = true;
      const grpc::StatusCode code = methods->GetSendStatus().error_code();
      const int64_t elapsed_ns = NowNs() - start_ns_;
      stats_.Handled(code, elapsed_ns);
      // The request log: debug only, one line per call; the method and the code, never the
      // request, the status message (it may quote client input) or the peer's metadata.
      if (spdlog::should_log(spdlog::level::debug)) {
        spdlog::debug("rpc /{}/{} {} {:.3f} ms", stats_.service(), stats_.method(),
                      GrpcCodeName(code), static_cast<double>(elapsed_ns) / 1e6);
      }
    }
    methods->Proceed();
  }

 private:
  MethodStats& stats_;
  const int64_t start_ns_;
  bool handled_ = false;
};

class MetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(std::shared_ptr<GrpcMetrics> metrics)
      : metrics_(std::move(metrics)) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    // One lookup per call in a table fixed at start-up; unknown methods get no interceptor.
    MethodStats* stats = info->method() == nullptr ? nullptr : metrics_->Find(info->method());
    return stats == nullptr ? nullptr : new MetricsInterceptor(*stats);
  }

 private:
  const std::shared_ptr<GrpcMetrics> metrics_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewMetricsInterceptorFactory(
    std::shared_ptr<GrpcMetrics> metrics) {
  return std::make_unique<MetricsInterceptorFactory>(std::move(metrics));
}

}  // namespace hourglass::server
