#include "server/domain/envoy_limits.h"

namespace hourglass::domain {

int64_t EnvoyUnitSeconds(EnvoyUnit unit) {
  constexpr int64_t kDay = 24 * 3600;
  switch (unit) {
    case EnvoyUnit::kSecond:
      return 1;
    case EnvoyUnit::kMinute:
      return 60;
    case EnvoyUnit::kHour:
      return 3600;
    case EnvoyUnit::kDay:
      return kDay;
    case EnvoyUnit::kWeek:
      return 7 * kDay;
    case EnvoyUnit::kMonth:
      return 30 * kDay;
    case EnvoyUnit::kYear:
      return 365 * kDay;
    case EnvoyUnit::kUnknown:
      break;
  }
  return 0;
}

std::string_view EnvoyUnitName(EnvoyUnit unit) {
  switch (unit) {
    case EnvoyUnit::kSecond:
      return "second";
    case EnvoyUnit::kMinute:
      return "minute";
    case EnvoyUnit::kHour:
      return "hour";
    case EnvoyUnit::kDay:
      return "day";
    case EnvoyUnit::kWeek:
      return "week";
    case EnvoyUnit::kMonth:
      return "month";
    case EnvoyUnit::kYear:
      return "year";
    case EnvoyUnit::kUnknown:
      break;
  }
  return "unknown";
}

EnvoyDescriptorNode* EnvoyDescriptorLevel::Add(std::string_view key, std::string_view value) {
  if (value.empty()) {
    auto [it, inserted] = any_value.try_emplace(std::string(key));
    return inserted ? &it->second : nullptr;
  }
  if (value.back() == '*') {
    std::deque<std::pair<std::string, EnvoyDescriptorNode>>& list = prefixed[std::string(key)];
    const std::string_view prefix = value.substr(0, value.size() - 1);
    for (const auto& [existing, node] : list) {
      if (existing == prefix) return nullptr;
    }
    list.emplace_back(std::string(prefix), EnvoyDescriptorNode());
    return &list.back().second;
  }
  auto [it, inserted] = exact.try_emplace(std::make_pair(std::string(key), std::string(value)));
  return inserted ? &it->second : nullptr;
}

const EnvoyDescriptorNode* EnvoyDescriptorLevel::Find(const EnvoyEntry& entry) const {
  // The maps are keyed by std::string; lookups build the key once per level (entries are short
  // and a request has a handful).
  const std::string key(entry.key);
  if (auto it = exact.find(std::make_pair(key, std::string(entry.value))); it != exact.end()) {
    return &it->second;
  }
  if (auto it = prefixed.find(key); it != prefixed.end()) {
    for (const auto& [prefix, node] : it->second) {
      if (entry.value.substr(0, prefix.size()) == prefix) return &node;
    }
  }
  if (auto it = any_value.find(key); it != any_value.end()) return &it->second;
  return nullptr;
}

EnvoyDescriptorLevel* EnvoyLimitsConfig::AddDomain(std::string_view domain) {
  auto [it, inserted] = domains_.try_emplace(std::string(domain));
  return inserted ? &it->second : nullptr;
}

bool EnvoyLimitsConfig::HasDomain(std::string_view domain) const {
  return domains_.contains(std::string(domain));
}

const EnvoyLimit* EnvoyLimitsConfig::Match(std::string_view domain,
                                           absl::Span<const EnvoyEntry> entries) const {
  auto it = domains_.find(std::string(domain));
  if (it == domains_.end()) return nullptr;
  const EnvoyDescriptorLevel* level = &it->second;
  for (size_t i = 0; i < entries.size(); ++i) {
    const EnvoyDescriptorNode* node = level->Find(entries[i]);
    if (node == nullptr) return nullptr;
    if (i + 1 == entries.size()) return node->limit.has_value() ? &*node->limit : nullptr;
    if (node->children == nullptr || node->children->empty()) return nullptr;
    level = node->children.get();
  }
  return nullptr;
}

}  // namespace hourglass::domain
