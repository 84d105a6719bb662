#pragma once

// Conversions between the store's enums and AdminService's proto enums (Space, EventKind,
// EvictionPolicy). Pure functions; thread-safe.

#include <array>
#include <optional>

#include "hourglass/v1/admin.pb.h"
#include "hourglass/v1/common.pb.h"
#include "storage/store.h"

namespace hourglass::server {

// The spaces clients see, in API order. storage::Space::kIndex is internal and never shown.
inline constexpr std::array<storage::Space, 5> kPublicSpaces = {
    storage::Space::kKv, storage::Space::kSession, storage::Space::kToken,
    storage::Space::kRateLimit, storage::Space::kCache};

// kIndex has no proto value: SPACE_UNSPECIFIED.
hourglass::v1::Space ToProto(storage::Space space);
// nullopt for SPACE_UNSPECIFIED and numbers the server does not know.
std::optional<storage::Space> FromProto(hourglass::v1::Space space);

hourglass::v1::EventKind ToProto(storage::EventKind kind);

hourglass::v1::EvictionPolicy ToProto(storage::EvictionPolicy policy);
// nullopt for EVICTION_POLICY_UNSPECIFIED and numbers the server does not know.
std::optional<storage::EvictionPolicy> FromProto(hourglass::v1::EvictionPolicy policy);

}  // namespace hourglass::server
