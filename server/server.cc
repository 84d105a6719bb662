#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "envoy/service/ratelimit/v3/rls.grpc.pb.h"
#include "hourglass/v1/admin.grpc.pb.h"
#include "hourglass/v1/cache.grpc.pb.h"
#include "hourglass/v1/kv.grpc.pb.h"
#include "hourglass/v1/ratelimit.grpc.pb.h"
#include "hourglass/v1/session.grpc.pb.h"
#include "hourglass/v1/token.grpc.pb.h"
#include "server/admin_service.h"
#include "server/cache_service.h"
#include "server/envoy_rls_service.h"
#include "server/event_hub.h"
#include "server/grpc_metrics_interceptor.h"
#include "server/kv_service.h"
#include "server/ratelimit_config.h"
#include "server/ratelimit_service.h"
#include "server/session_service.h"
#include "server/token_service.h"

namespace hourglass::server {
namespace {

// gRPC channel arguments that bound what one client can make the server hold
// (shared/HOSTILE_INPUTS.md rows 5, 31, 33).
void ApplyTransportLimits(const ServerConfig& config, grpc::ServerBuilder& builder) {
  // Metadata over 8 KiB is refused with RESOURCE_EXHAUSTED by gRPC itself.
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, 8 * 1024);
  // Requests up to one max value plus room for keys and framing; larger: RESOURCE_EXHAUSTED.
  const uint64_t max_message = config.limits.max_value_bytes + (1u << 20);
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<uint64_t>(max_message, INT32_MAX)));
  // Connections that never complete the HTTP/2 preface are closed after this.
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                             static_cast<int>(config.handshake_timeout_ms));
  // Keepalive ping floods get GOAWAY too_many_pings: pings closer than 10 s without data are
  // strikes (gRPC's default minimum is 5 min; 10 s accepts common client keepalive settings).
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10'000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
}

}  // namespace

absl::StatusOr<std::unique_ptr<HourglassServer>> HourglassServer::Start(
    const ServerConfig& config, storage::Clock& clock,
    const std::function<void(grpc::ServerBuilder&)>& customize) {
  std::unique_ptr<HourglassServer> self(new HourglassServer());
  self->service_names_ = {
      hourglass::v1::KeyValueService::service_full_name(),
      hourglass::v1::SessionService::service_full_name(),
      hourglass::v1::TokenService::service_full_name(),
      hourglass::v1::RateLimitService::service_full_name(),
      envoy::service::ratelimit::v3::RateLimitService::service_full_name(),
      hourglass::v1::CacheService::service_full_name(),
      hourglass::v1::AdminService::service_full_name(),
  };
  // Every series exists from here on; the services below count into it.
  self->metrics_ = std::make_unique<Metrics>(self->service_names_);
  DomainMetrics* const metrics = &self->metrics_->domain();

  storage::Store::Options store_options;
  store_options.clock = &clock;
  store_options.shards = config.shards;
  store_options.max_memory_bytes = config.maxmemory_bytes;
  store_options.eviction_policy = config.eviction_policy;
  store_options.max_ttl_ms = config.limits.max_ttl_ms;
  // Removal events feed AdminService.WatchEvents; the hub never blocks the store.
  self->event_hub_ = std::make_unique<EventHub>(clock);
  // They also keep the cache's tag indexes in step. The cache needs the store, which needs its
  // listener first: the listener shares a slot filled right after the store is built (before
  // any entry exists, so before any event), and keeps the cache alive as long as the store.
  auto cache = std::make_shared<std::shared_ptr<domain::Cache>>();
  store_options.listener = [hub = self->event_hub_.get(), cache,
                            metrics](const storage::Event& event) {
    hub->Publish(event);
    if (*cache) (*cache)->OnStoreEvent(event);
    metrics->OnStoreEvent(event);
  };
  auto store = storage::Store::Create(std::move(store_options));
  if (!store.ok()) return store.status();
  self->store_ = std::move(*store);
  *cache = std::make_shared<domain::Cache>(*self->store_);
  self->event_hub_->SetKeyFormatter(storage::Space::kCache, CacheService::WatchedKey);

  self->services_.push_back(std::make_unique<KvService>(*self->store_, config.limits));
  self->services_.push_back(
      std::make_unique<SessionService>(*self->store_, config.limits, metrics));
  self->event_hub_->SetKeyFormatter(storage::Space::kSession, domain::SessionEventKey);
  self->services_.push_back(std::make_unique<TokenService>(*self->store_, config.limits, metrics));
  self->event_hub_->SetKeyFormatter(storage::Space::kToken, domain::TokenEventKey);
  self->services_.push_back(
      std::make_unique<RateLimitService>(*self->store_, config.limits, metrics));
  self->event_hub_->SetKeyFormatter(storage::Space::kRateLimit, RateLimitService::WatchedKey);
  {
    // Envoy's ShouldRateLimit, with limits from --ratelimit_config: a bad file stops start-up
    // (the error names the file and line).
    auto envoy_rls = std::make_unique<EnvoyRlsService>(*self->store_, config.limits, metrics);
    if (!config.ratelimit_config.empty()) {
      auto limits = LoadRateLimitConfig(config.ratelimit_config);
      if (!limits.ok()) return limits.status();
      envoy_rls->SetConfig(*std::move(limits));
    }
    self->ratelimit_config_path_ = config.ratelimit_config;
    self->envoy_rls_ = envoy_rls.get();
    self->services_.push_back(std::move(envoy_rls));
  }
  self->services_.push_back(std::make_unique<CacheService>(*cache, config.limits, metrics));
  // Snapshots: the path is locked (one process per file) before anything else uses it.
  self->snapshot_metrics_ = std::make_unique<SnapshotMetrics>(self->metrics_->registry());
  if (!config.snapshot_path.empty()) {
    auto snapshotter = Snapshotter::Open(
        {config.snapshot_path, config.snapshot_on_corrupt, config.snapshot_interval_ms},
        *self->store_, *self->snapshot_metrics_);
    if (!snapshotter.ok()) return snapshotter.status();
    self->snapshotter_ = *std::move(snapshotter);
  }
  self->services_.push_back(
      std::make_unique<AdminService>(*self->store_, *self->event_hub_, self->snapshotter_.get()));

  // /metrics before gRPC: a --metrics_listen that cannot be bound stops start-up like --listen.
  if (!config.metrics_listen.empty()) {
    auto endpoint = MetricsEndpoint::Start(config.metrics_listen, *self->metrics_, *self->store_);
    if (!endpoint.ok()) return endpoint.status();
    self->metrics_endpoint_ = *std::move(endpoint);
  }

  // Restore before serving (the services' removal hooks are registered by now).
  if (self->snapshotter_ != nullptr) {
    auto loaded = self->snapshotter_->Load();
    if (!loaded.ok()) return loaded.status();
    self->snapshot_loaded_ = *loaded;
    // Before serving, so SaveSnapshot works from the first call.
    self->snapshotter_->Start();
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen, grpc::InsecureServerCredentials(), &self->port_);
  ApplyTransportLimits(config, builder);
  for (auto& service : self->services_) builder.RegisterService(service.get());
  {
    // gRPC server metrics for every call, unary and streaming (grpc_metrics_interceptor.h).
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
    creators.push_back(NewMetricsInterceptorFactory(self->metrics_->grpc()));
    builder.experimental().SetInterceptorCreators(std::move(creators));
  }
  if (customize) customize(builder);
  self->server_ = builder.BuildAndStart();
  if (self->server_ == nullptr || self->port_ == 0) {
    // Nothing was served: the store is still what a clean snapshot held, and its marker was
    // consumed by the load. Write it back as clean, so this failed start costs nothing.
    if (self->snapshot_loaded_.clean) {
      self->snapshotter_->Stop();  // no periodic save may follow it
      (void)self->snapshotter_->Save(/*clean=*/true);
    }
    return absl::UnavailableError(absl::StrCat("--listen: cannot listen on ", config.listen,
                                               " (address in use or not local?)"));
  }
  grpc::HealthCheckServiceInterface* health = self->server_->GetHealthCheckService();
  health->SetServingStatus(true);
  for (const std::string& name : self->service_names_) health->SetServingStatus(name, true);
  return self;
}

HourglassServer::~HourglassServer() { Shutdown(0); }

absl::StatusOr<size_t> HourglassServer::ReloadRateLimitConfig() {
  if (ratelimit_config_path_.empty()) {
    return absl::FailedPreconditionError("no --ratelimit_config to reload");
  }
  // Parsed in full before it replaces anything: a bad file leaves the old config in force.
  auto limits = LoadRateLimitConfig(ratelimit_config_path_);
  if (!limits.ok()) return limits.status();
  const size_t domains = (*limits)->domain_count();
  envoy_rls_->SetConfig(*std::move(limits));
  return domains;
}

void HourglassServer::Shutdown(int64_t grace_ms) {
  if (shut_down_ || server_ == nullptr) return;
  shut_down_ = true;
  // Probes see NOT_SERVING first; Shutdown() then refuses new calls and waits for the calls in
  // flight up to the deadline, cancelling what is left.
  server_->GetHealthCheckService()->SetServingStatus(false);
  // Event streams never end on their own: close them first (UNAVAILABLE) so they do not hold
  // the drain open until the grace deadline.
  event_hub_->Close();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(grace_ms));
  server_->Wait();
  if (snapshotter_ != nullptr) {
    // Nothing can change the store any more (the reclaimer only removes what expired): this
    // snapshot is clean, and the next start restores every space from it. Failures are logged
    // and counted by Save.
    snapshotter_->Stop();
    (void)snapshotter_->Save(/*clean=*/true);
  }
}

}  // namespace hourglass::server
