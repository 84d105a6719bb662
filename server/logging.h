#pragma once

#include "server/config.h"

namespace hourglass::server {

// Configures spdlog's default logger from --log_level and --log_format (text, or one JSON object
// per line), and routes libprotobuf's own log through a rate limit: a parser error per hostile
// request would otherwise flood the log (shared/HOSTILE_INPUTS.md row 6).
// Call once, early in main, before other threads log.
void InitLogging(const ServerConfig& config);

}  // namespace hourglass::server
