#pragma once

// KvService: hourglass.v1.KeyValueService, the Redis TTL primitives, over the store's KV space.
//
// A thin adapter. Each RPC validates its request (every message names the field and the limit,
// shared/API.md), converts it to the store's plain types, runs one store operation — atomic on
// its key — and converts the result back. The Redis semantics (conditions, KEEPTTL, GETEX,
// INCRBY) live in storage::Store. Batch runs every op through the very function its stand-alone
// RPC uses, so an op behaves the same in a batch and alone.
//
// Keys live in storage::Space::kKv without affinity.
//
// Thread-safety: thread-safe; holds no state besides references to the store (thread-safe) and
// the immutable limits. Handlers never block.

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "hourglass/v1/kv.grpc.pb.h"
#include "server/limits.h"
#include "storage/store.h"

namespace hourglass::server {

class KvService final : public hourglass::v1::KeyValueService::CallbackService {
 public:
  // `store` must outlive the service.
  KvService(storage::Store& store, const Limits& limits);

  grpc::ServerUnaryReactor* Set(grpc::CallbackServerContext* context,
                                const hourglass::v1::SetRequest* request,
                                hourglass::v1::SetResponse* response) override;
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* context,
                                const hourglass::v1::GetRequest* request,
                                hourglass::v1::GetResponse* response) override;
  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* context,
                                   const hourglass::v1::DeleteRequest* request,
                                   hourglass::v1::DeleteResponse* response) override;
  grpc::ServerUnaryReactor* Expire(grpc::CallbackServerContext* context,
                                   const hourglass::v1::ExpireRequest* request,
                                   hourglass::v1::ExpireResponse* response) override;
  grpc::ServerUnaryReactor* Persist(grpc::CallbackServerContext* context,
                                    const hourglass::v1::PersistRequest* request,
                                    hourglass::v1::PersistResponse* response) override;
  grpc::ServerUnaryReactor* GetTtl(grpc::CallbackServerContext* context,
                                   const hourglass::v1::GetTtlRequest* request,
                                   hourglass::v1::GetTtlResponse* response) override;
  grpc::ServerUnaryReactor* Increment(grpc::CallbackServerContext* context,
                                      const hourglass::v1::IncrementRequest* request,
                                      hourglass::v1::IncrementResponse* response) override;
  grpc::ServerUnaryReactor* Batch(grpc::CallbackServerContext* context,
                                  const hourglass::v1::BatchRequest* request,
                                  hourglass::v1::BatchResponse* response) override;

 private:
  // One function per operation, shared by its RPC and by Batch. Each validates, runs one store
  // operation and fills `response` only on success.
  absl::Status DoSet(const hourglass::v1::SetRequest& request,
                     hourglass::v1::SetResponse& response);
  absl::Status DoGet(const hourglass::v1::GetRequest& request,
                     hourglass::v1::GetResponse& response);
  absl::Status DoDelete(const hourglass::v1::DeleteRequest& request,
                        hourglass::v1::DeleteResponse& response);
  absl::Status DoExpire(const hourglass::v1::ExpireRequest& request,
                        hourglass::v1::ExpireResponse& response);
  absl::Status DoPersist(const hourglass::v1::PersistRequest& request,
                         hourglass::v1::PersistResponse& response);
  absl::Status DoGetTtl(const hourglass::v1::GetTtlRequest& request,
                        hourglass::v1::GetTtlResponse& response);
  absl::Status DoIncrement(const hourglass::v1::IncrementRequest& request,
                           hourglass::v1::IncrementResponse& response);
  absl::Status DoBatch(const grpc::CallbackServerContext& context,
                       const hourglass::v1::BatchRequest& request,
                       hourglass::v1::BatchResponse& response);
  // Runs one batch op into `result` (its response, or an OpError).
  void RunBatchOp(const hourglass::v1::BatchOp& op, hourglass::v1::BatchResult& result);

  storage::Store& store_;
  const Limits limits_;
};

}  // namespace hourglass::server
