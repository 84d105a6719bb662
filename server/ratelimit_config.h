#pragma once

// Loading `--ratelimit_config`: Envoy descriptor limits in the YAML format of Envoy's reference
// rate limit service (envoyproxy/ratelimit), into a domain::EnvoyLimitsConfig.
//
//   domain: edge                        # required, unique across files
//   descriptors:
//     - key: remote_address             # required
//       value: 10.0.0.1                 # optional; "prefix*" matches values starting with it
//       rate_limit:                     # optional
//         unit: minute                  # second|minute|hour|day|week|month|year (any case)
//         requests_per_unit: 10         # 0..4294967295, required unless unlimited
//         name: per_ip                  # optional, reported in current_limit
//         unlimited: false              # true: always OK (then no unit / requests_per_unit)
//         replaces: [{name: other}]     # optional: limits this one replaces
//       shadow_mode: false              # evaluated and counted, always reported OK
//       detailed_metric: false          # accepted for compatibility (metrics detail), ignored
//       descriptors: [...]              # nested: the next entry of the request descriptor
//
// Stricter than the reference where it would silently misread a file: an unknown or misplaced
// key, a duplicate key, a value of the wrong type, a negative or fractional requests_per_unit,
// an unknown unit, a duplicate descriptor (same key and value at one level) or domain, and
// more than one YAML document in a file are errors. Every error names the file and the line:
// "limits/edge.yaml:12: descriptors[1].rate_limit.unit: unknown unit 'fortnight' (...)".
//
// Thread-safety: stateless functions; safe from any thread.

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/domain/envoy_limits.h"

namespace hourglass::server {

// Parses one file's `content` and adds its domain to `config`. INVALID_ARGUMENT
// "<file_name>:<line>: <what>" on any error (then `config` may hold part of the file: callers
// build a fresh config per load and discard it on error).
absl::Status ParseRateLimitYaml(std::string_view file_name, std::string_view content,
                                domain::EnvoyLimitsConfig& config);

// Loads `path`: a YAML file, or a directory whose regular *.yaml / *.yml files (not hidden, not
// in subdirectories; symlinks followed, as in a Kubernetes ConfigMap mount) are loaded in name
// order. INVALID_ARGUMENT naming the file (and line) when any file is unreadable or invalid, or
// a domain is defined twice; nothing of a failed load is used.
absl::StatusOr<std::shared_ptr<const domain::EnvoyLimitsConfig>> LoadRateLimitConfig(
    const std::string& path);

}  // namespace hourglass::server
