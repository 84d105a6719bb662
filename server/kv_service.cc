#include "server/kv_service.h"

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "server/op_error.h"
#include "server/status.h"
#include "server/unary.h"
#include "server/validation.h"

namespace hourglass::server {
namespace {

namespace v1 = ::hourglass::v1;

storage::KeyRef KvKey(std::string_view key) { return {storage::Space::kKv, key}; }

// Callers validate the enum first (CheckEnum); the fallbacks are unreachable.
storage::SetCondition ToStore(v1::SetCondition condition) {
  switch (condition) {
    case v1::SET_CONDITION_IF_ABSENT:
      return storage::SetCondition::kIfAbsent;
    case v1::SET_CONDITION_IF_PRESENT:
      return storage::SetCondition::kIfPresent;
    default:
      return storage::SetCondition::kAlways;
  }
}

storage::ExpireCondition ToStore(v1::ExpireCondition condition) {
  switch (condition) {
    case v1::EXPIRE_CONDITION_IF_NO_EXPIRY:
      return storage::ExpireCondition::kIfNoExpiry;
    case v1::EXPIRE_CONDITION_IF_HAS_EXPIRY:
      return storage::ExpireCondition::kIfHasExpiry;
    case v1::EXPIRE_CONDITION_IF_GREATER:
      return storage::ExpireCondition::kIfGreater;
    case v1::EXPIRE_CONDITION_IF_LESS:
      return storage::ExpireCondition::kIfLess;
    default:
      return storage::ExpireCondition::kAlways;
  }
}

// A relative `ttl` field as a store expiry.
absl::StatusOr<storage::Expiry> TtlExpiry(std::string_view field,
                                          const google::protobuf::Duration& ttl, ZeroDuration zero,
                                          const Limits& limits) {
  absl::StatusOr<int64_t> ms = DurationToMs(field, ttl, zero, limits.max_ttl_ms);
  if (!ms.ok()) return ms.status();
  return storage::Expiry::Ttl(*ms);
}

// An absolute `expire_time` field as a store expiry (a past instant yields a deadline <= now,
// which the store turns into a delete when the condition holds).
absl::StatusOr<storage::Expiry> DeadlineExpiry(std::string_view field,
                                               const google::protobuf::Timestamp& expire_time,
                                               const storage::Clock& clock, const Limits& limits) {
  absl::StatusOr<int64_t> deadline =
      TimestampToDeadline(field, expire_time, clock, limits.max_ttl_ms);
  if (!deadline.ok()) return deadline.status();
  return storage::Expiry::At(*deadline);
}

// Sets the response's `expire_time` unless the key has no expiry (the field stays unset then).
template <typename Response>
void MaybeSetExpireTime(int64_t deadline, const storage::Clock& clock, Response& response) {
  if (deadline != storage::kNoDeadline) {
    *response.mutable_expire_time() = DeadlineToTimestamp(deadline, clock);
  }
}

}  // namespace

KvService::KvService(storage::Store& store, const Limits& limits)
    : store_(store), limits_(limits) {}

// ---- RPCs: every one is its Do* function behind HandleUnary (deadline, status mapping). ----

grpc::ServerUnaryReactor* KvService::Set(grpc::CallbackServerContext* context,
                                         const v1::SetRequest* request, v1::SetResponse* response) {
  return HandleUnary(context, [&] { return DoSet(*request, *response); });
}

grpc::ServerUnaryReactor* KvService::Get(grpc::CallbackServerContext* context,
                                         const v1::GetRequest* request, v1::GetResponse* response) {
  return HandleUnary(context, [&] { return DoGet(*request, *response); });
}

grpc::ServerUnaryReactor* KvService::Delete(grpc::CallbackServerContext* context,
                                            const v1::DeleteRequest* request,
                                            v1::DeleteResponse* response) {
  return HandleUnary(context, [&] { return DoDelete(*request, *response); });
}

grpc::ServerUnaryReactor* KvService::Expire(grpc::CallbackServerContext* context,
                                            const v1::ExpireRequest* request,
                                            v1::ExpireResponse* response) {
  return HandleUnary(context, [&] { return DoExpire(*request, *response); });
}

grpc::ServerUnaryReactor* KvService::Persist(grpc::CallbackServerContext* context,
                                             const v1::PersistRequest* request,
                                             v1::PersistResponse* response) {
  return HandleUnary(context, [&] { return DoPersist(*request, *response); });
}

grpc::ServerUnaryReactor* KvService::GetTtl(grpc::CallbackServerContext* context,
                                            const v1::GetTtlRequest* request,
                                            v1::GetTtlResponse* response) {
  return HandleUnary(context, [&] { return DoGetTtl(*request, *response); });
}

grpc::ServerUnaryReactor* KvService::Increment(grpc::CallbackServerContext* context,
                                               const v1::IncrementRequest* request,
                                               v1::IncrementResponse* response) {
  return HandleUnary(context, [&] { return DoIncrement(*request, *response); });
}

grpc::ServerUnaryReactor* KvService::Batch(grpc::CallbackServerContext* context,
                                           const v1::BatchRequest* request,
                                           v1::BatchResponse* response) {
  return HandleUnary(context, [&] { return DoBatch(*context, *request, *response); });
}

// ---- Operations ----

absl::Status KvService::DoSet(const v1::SetRequest& request, v1::SetResponse& response) {
  if (absl::Status s = CheckKey("key", request.key(), limits_.max_key_bytes); !s.ok()) return s;
  if (absl::Status s = CheckSize("value", request.value(), limits_.max_value_bytes); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckEnum("condition", request.condition(), v1::SetCondition_IsValid);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<storage::Expiry> expiry = storage::Expiry::None();
  switch (request.expiry_case()) {
    case v1::SetRequest::kTtl:
      expiry = TtlExpiry("ttl", request.ttl(), ZeroDuration::kRejected, limits_);
      break;
    case v1::SetRequest::kExpireTime:
      expiry = DeadlineExpiry("expire_time", request.expire_time(), store_.clock(), limits_);
      break;
    case v1::SetRequest::kKeepTtl:
      // keep_ttl = false means "no expiry field": the TTL is cleared, as a plain SET does.
      expiry = request.keep_ttl() ? storage::Expiry::Keep() : storage::Expiry::None();
      break;
    case v1::SetRequest::EXPIRY_NOT_SET:
      break;
  }
  if (!expiry.ok()) return expiry.status();

  storage::SetOptions options;
  options.condition = ToStore(request.condition());
  options.expiry = *expiry;
  options.return_previous = request.return_previous();
  absl::StatusOr<storage::SetResult> result =
      store_.Set(KvKey(request.key()), request.value(), options);
  if (!result.ok()) return result.status();
  response.set_applied(result->applied);
  response.set_had_previous(result->had_previous);
  if (request.return_previous() && result->had_previous) {
    response.set_previous(std::move(result->previous));
  }
  return absl::OkStatus();
}

absl::Status KvService::DoGet(const v1::GetRequest& request, v1::GetResponse& response) {
  if (absl::Status s = CheckKey("key", request.key(), limits_.max_key_bytes); !s.ok()) return s;
  storage::GetOptions options;
  switch (request.touch_case()) {
    case v1::GetRequest::kTtl: {
      absl::StatusOr<int64_t> ttl_ms =
          DurationToMs("ttl", request.ttl(), ZeroDuration::kRejected, limits_.max_ttl_ms);
      if (!ttl_ms.ok()) return ttl_ms.status();
      options.touch = storage::GetOptions::Touch::kTtl;
      options.ttl_ms = *ttl_ms;
      break;
    }
    case v1::GetRequest::kPersist:
      // persist = false is documented as "the same as no touch".
      if (request.persist()) options.touch = storage::GetOptions::Touch::kPersist;
      break;
    case v1::GetRequest::TOUCH_NOT_SET:
      break;
  }
  if (request.delete_() && options.touch != storage::GetOptions::Touch::kNone) {
    return absl::InvalidArgumentError("delete: conflicts with touch");
  }
  options.delete_after = request.delete_();

  absl::StatusOr<storage::GetResult> result = store_.Get(KvKey(request.key()), options);
  if (!result.ok()) return result.status();
  response.set_found(result->found);
  if (result->found) {
    response.set_value(std::move(result->value));
    MaybeSetExpireTime(result->deadline, store_.clock(), response);
  }
  return absl::OkStatus();
}

absl::Status KvService::DoDelete(const v1::DeleteRequest& request, v1::DeleteResponse& response) {
  if (request.keys().empty()) return absl::InvalidArgumentError("keys: required");
  if (absl::Status s = CheckItemCount("keys", request.keys_size(), limits_.max_batch_items);
      !s.ok()) {
    return s;
  }
  std::vector<storage::KeyRef> keys;
  keys.reserve(request.keys_size());
  for (int i = 0; i < request.keys_size(); ++i) {
    const std::string& key = request.keys(i);
    // The indexed field name is built only for the error message.
    if (key.empty() || key.size() > limits_.max_key_bytes) {
      return CheckKey(absl::StrCat("keys[", i, "]"), key, limits_.max_key_bytes);
    }
    keys.push_back(KvKey(key));
  }
  // Duplicates count once: the second removal of a key finds nothing.
  response.set_deleted(static_cast<int64_t>(store_.Delete(keys)));
  return absl::OkStatus();
}

absl::Status KvService::DoExpire(const v1::ExpireRequest& request, v1::ExpireResponse& response) {
  if (absl::Status s = CheckKey("key", request.key(), limits_.max_key_bytes); !s.ok()) return s;
  if (absl::Status s = CheckEnum("condition", request.condition(), v1::ExpireCondition_IsValid);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<storage::Expiry> expiry;
  switch (request.expiry_case()) {
    case v1::ExpireRequest::kTtl:
      // ttl 0 deletes the key (Redis EXPIRE k 0); the store does it when the condition holds.
      expiry = TtlExpiry("ttl", request.ttl(), ZeroDuration::kAllowed, limits_);
      break;
    case v1::ExpireRequest::kExpireTime:
      expiry = DeadlineExpiry("expire_time", request.expire_time(), store_.clock(), limits_);
      break;
    case v1::ExpireRequest::EXPIRY_NOT_SET:
      return absl::InvalidArgumentError("expiry: required (ttl or expire_time)");
  }
  if (!expiry.ok()) return expiry.status();

  absl::StatusOr<bool> applied =
      store_.Expire(KvKey(request.key()), *expiry, ToStore(request.condition()));
  if (!applied.ok()) return applied.status();
  response.set_applied(*applied);
  return absl::OkStatus();
}

absl::Status KvService::DoPersist(const v1::PersistRequest& request,
                                  v1::PersistResponse& response) {
  if (absl::Status s = CheckKey("key", request.key(), limits_.max_key_bytes); !s.ok()) return s;
  response.set_applied(store_.Persist(KvKey(request.key())));
  return absl::OkStatus();
}

absl::Status KvService::DoGetTtl(const v1::GetTtlRequest& request, v1::GetTtlResponse& response) {
  if (absl::Status s = CheckKey("key", request.key(), limits_.max_key_bytes); !s.ok()) return s;
  const storage::TtlInfo info = store_.GetTtl(KvKey(request.key()));
  if (!info.found) {
    response.set_state(v1::KEY_STATE_NOT_FOUND);
  } else if (info.deadline == storage::kNoDeadline) {
    response.set_state(v1::KEY_STATE_NO_EXPIRY);
  } else {
    const storage::Clock& clock = store_.clock();
    response.set_state(v1::KEY_STATE_EXPIRING);
    // The key was live when read; by now it may be due, so never report a negative TTL.
    const int64_t ttl_ms = std::max<int64_t>(info.deadline - clock.MonotonicMs(), 0);
    *response.mutable_ttl() = MsToDuration(ttl_ms);
    *response.mutable_expire_time() = DeadlineToTimestamp(info.deadline, clock);
  }
  return absl::OkStatus();
}

absl::Status KvService::DoIncrement(const v1::IncrementRequest& request,
                                    v1::IncrementResponse& response) {
  if (absl::Status s = CheckKey("key", request.key(), limits_.max_key_bytes); !s.ok()) return s;
  std::optional<int64_t> ttl_on_create_ms;
  if (request.has_ttl_on_create()) {
    absl::StatusOr<int64_t> ms = DurationToMs("ttl_on_create", request.ttl_on_create(),
                                              ZeroDuration::kRejected, limits_.max_ttl_ms);
    if (!ms.ok()) return ms.status();
    ttl_on_create_ms = *ms;
  }
  absl::StatusOr<storage::IncrementResult> result =
      store_.Increment(KvKey(request.key()), request.delta(), ttl_on_create_ms);
  if (!result.ok()) return result.status();
  response.set_value(result->value);
  MaybeSetExpireTime(result->deadline, store_.clock(), response);
  return absl::OkStatus();
}

absl::Status KvService::DoBatch(const grpc::CallbackServerContext& context,
                                const v1::BatchRequest& request, v1::BatchResponse& response) {
  if (absl::Status s = CheckItemCount("ops", request.ops_size(), limits_.max_batch_items);
      !s.ok()) {
    return s;
  }
  response.mutable_results()->Reserve(request.ops_size());
  for (const v1::BatchOp& op : request.ops()) {
    // HandleUnary checked the deadline before the first op; checking again before each op stops
    // work nobody waits for. Ops already run stay applied; none is half-applied.
    if (absl::Status s = CheckCallDeadline(context); !s.ok()) return s;
    RunBatchOp(op, *response.add_results());
  }
  return absl::OkStatus();
}

void KvService::RunBatchOp(const v1::BatchOp& op, v1::BatchResult& result) {
  absl::Status status;
  switch (op.op_case()) {
    case v1::BatchOp::kSet:
      status = DoSet(op.set(), *result.mutable_set());
      break;
    case v1::BatchOp::kGet:
      status = DoGet(op.get(), *result.mutable_get());
      break;
    case v1::BatchOp::kDelete:
      status = DoDelete(op.delete_(), *result.mutable_delete_());
      break;
    case v1::BatchOp::kExpire:
      status = DoExpire(op.expire(), *result.mutable_expire());
      break;
    case v1::BatchOp::kPersist:
      status = DoPersist(op.persist(), *result.mutable_persist());
      break;
    case v1::BatchOp::kGetTtl:
      status = DoGetTtl(op.get_ttl(), *result.mutable_get_ttl());
      break;
    case v1::BatchOp::kIncrement:
      status = DoIncrement(op.increment(), *result.mutable_increment());
      break;
    case v1::BatchOp::OP_NOT_SET:
      // Also an op kind this server does not know (an unknown field).
      status = absl::InvalidArgumentError("op: required");
      break;
  }
  if (status.ok()) return;
  // The same code and message the stand-alone RPC returns, through the one mapping. Switching
  // the oneof to `error` discards whatever the op had started to fill.
  ToOpError(status, *result.mutable_error());
}

}  // namespace hourglass::server
