#pragma once

// Reading the text exposition format in tests: every sample line as "name{labels}" -> value.

#include <prometheus/collectable.h>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "server/metrics.h"

namespace hourglass::server::testing {

// Samples of a rendered scrape, keyed by the series exactly as printed (labels in the order
// the exposition lists them).
inline std::map<std::string, double> ParseSamples(const std::string& text) {
  std::map<std::string, double> samples;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    if (space == std::string::npos) continue;
    samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return samples;
}

inline std::map<std::string, double> Scrape(
    const std::vector<std::shared_ptr<prometheus::Collectable>>& collectables) {
  return ParseSamples(RenderMetrics(collectables));
}

}  // namespace hourglass::server::testing
