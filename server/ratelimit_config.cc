#include "server/ratelimit_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace hourglass::server {
namespace {

namespace fs = std::filesystem;
using domain::EnvoyDescriptorLevel;
using domain::EnvoyLimit;
using domain::EnvoyUnit;

absl::string_view View(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Where each domain was defined, to name both files when one is defined twice.
using DomainFiles = absl::flat_hash_map<std::string, std::string>;

// Walks one parsed document. Every error is "<file>:<line>: <path>: <what>", the line being the
// 1-based line of the offending node (of the enclosing map for a missing key).
class DocumentLoader {
 public:
  explicit DocumentLoader(std::string_view file) : file_(file) {}

  absl::Status LoadRoot(const YAML::Node& root, domain::EnvoyLimitsConfig& config,
                        DomainFiles* domain_files) {
    if (!root.IsMap()) return Error(root, "", "the document must be a map with `domain`");
    if (auto keys = CheckKeys(root, "", {"domain", "descriptors"}); !keys.ok()) return keys;
    const YAML::Node domain_node = root["domain"];
    if (!domain_node.IsDefined() || domain_node.IsNull()) return Error(root, "domain", "required");
    std::string domain;
    if (auto s = GetString(domain_node, "domain", domain); !s.ok()) return s;
    if (domain.empty()) return Error(domain_node, "domain", "must not be empty");
    EnvoyDescriptorLevel* level = config.AddDomain(domain);
    if (level == nullptr) {
      std::string where = "another file";
      if (domain_files != nullptr) {
        if (auto it = domain_files->find(domain); it != domain_files->end()) where = it->second;
      }
      return Error(domain_node, "domain",
                   absl::StrCat("'", domain, "' is already defined in ", where));
    }
    if (domain_files != nullptr) domain_files->emplace(domain, file_);
    return LoadDescriptors(root["descriptors"], "descriptors", *level);
  }

 private:
  absl::Status Error(const YAML::Node& node, std::string_view path, std::string_view what) const {
    const YAML::Mark mark = node.Mark();
    const std::string line = mark.is_null() ? "" : absl::StrCat(":", mark.line + 1);
    return absl::InvalidArgumentError(
        absl::StrCat(View(file_), line, ": ", View(path), path.empty() ? "" : ": ", View(what)));
  }

  // Every key of `map` is a scalar, appears once, and is one of `allowed`.
  absl::Status CheckKeys(const YAML::Node& map, std::string_view path,
                         std::initializer_list<std::string_view> allowed) const {
    absl::flat_hash_set<std::string> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      const YAML::Node key = it->first;
      if (!key.IsScalar()) return Error(key, path, "keys must be plain strings");
      const std::string& name = key.Scalar();
      const std::string field = path.empty() ? name : absl::StrCat(View(path), ".", name);
      if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
        std::vector<std::string> names(allowed.begin(), allowed.end());
        return Error(
            key, field,
            absl::StrCat("unknown key (expected one of: ", absl::StrJoin(names, ", "), ")"));
      }
      if (!seen.insert(name).second) return Error(key, field, "duplicate key");
    }
    return absl::OkStatus();
  }

  absl::Status GetString(const YAML::Node& node, std::string_view path, std::string& out) const {
    if (node.IsNull()) {
      out.clear();
      return absl::OkStatus();
    }
    if (!node.IsScalar()) return Error(node, path, "must be a string");
    out = node.Scalar();
    return absl::OkStatus();
  }

  absl::Status GetBool(const YAML::Node& node, std::string_view path, bool& out) const {
    if (!node.IsScalar() || !YAML::convert<bool>::decode(node, out)) {
      return Error(node, path, "must be true or false");
    }
    return absl::OkStatus();
  }

  absl::Status GetUint32(const YAML::Node& node, std::string_view path, uint32_t& out) const {
    const std::string text = node.IsScalar() ? node.Scalar() : "";
    uint64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size() ||
        value > std::numeric_limits<uint32_t>::max()) {
      return Error(node, path,
                   absl::StrCat("must be a whole number from 0 to 4294967295, got '", text, "'"));
    }
    out = static_cast<uint32_t>(value);
    return absl::OkStatus();
  }

  absl::Status LoadDescriptors(const YAML::Node& list, const std::string& path,
                               EnvoyDescriptorLevel& level) {
    if (!list.IsDefined() || list.IsNull()) return absl::OkStatus();
    if (!list.IsSequence()) return Error(list, path, "must be a list of descriptors");
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string item_path = absl::StrCat(path, "[", i, "]");
      if (auto s = LoadDescriptor(list[i], item_path, level); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::Status LoadDescriptor(const YAML::Node& node, const std::string& path,
                              EnvoyDescriptorLevel& level) {
    if (!node.IsMap()) return Error(node, path, "must be a map with `key`");
    if (auto s = CheckKeys(
            node, path,
            {"key", "value", "rate_limit", "descriptors", "shadow_mode", "detailed_metric"});
        !s.ok()) {
      return s;
    }
    std::string key;
    std::string value;
    const YAML::Node key_node = node["key"];
    if (!key_node.IsDefined()) return Error(node, absl::StrCat(path, ".key"), "required");
    if (auto s = GetString(key_node, path + ".key", key); !s.ok()) return s;
    if (key.empty()) return Error(key_node, path + ".key", "must not be empty");
    if (const YAML::Node value_node = node["value"]; value_node.IsDefined()) {
      if (auto s = GetString(value_node, path + ".value", value); !s.ok()) return s;
    }
    bool shadow_mode = false;
    if (const YAML::Node shadow = node["shadow_mode"]; shadow.IsDefined()) {
      if (auto s = GetBool(shadow, path + ".shadow_mode", shadow_mode); !s.ok()) return s;
    }
    if (const YAML::Node detailed = node["detailed_metric"]; detailed.IsDefined()) {
      bool ignored = false;
      if (auto s = GetBool(detailed, path + ".detailed_metric", ignored); !s.ok()) return s;
    }

    domain::EnvoyDescriptorNode* added = level.Add(key, value);
    if (added == nullptr) {
      return Error(node, path,
                   value.empty()
                       ? absl::StrCat("duplicate descriptor: key '", key, "' without a value")
                       : absl::StrCat("duplicate descriptor: key '", key, "' value '", value, "'"));
    }
    if (const YAML::Node rate_limit = node["rate_limit"];
        rate_limit.IsDefined() && !rate_limit.IsNull()) {
      EnvoyLimit limit;
      limit.shadow_mode = shadow_mode;
      if (auto s = LoadRateLimit(rate_limit, path + ".rate_limit", limit); !s.ok()) return s;
      added->limit = std::move(limit);
    }
    const YAML::Node children = node["descriptors"];
    if (children.IsDefined() && !children.IsNull()) {
      added->children = std::make_unique<EnvoyDescriptorLevel>();
      if (auto s = LoadDescriptors(children, path + ".descriptors", *added->children); !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  }

  absl::Status LoadRateLimit(const YAML::Node& node, const std::string& path, EnvoyLimit& limit) {
    if (!node.IsMap()) return Error(node, path, "must be a map");
    if (auto s =
            CheckKeys(node, path, {"unit", "requests_per_unit", "name", "unlimited", "replaces"});
        !s.ok()) {
      return s;
    }
    if (const YAML::Node unlimited = node["unlimited"]; unlimited.IsDefined()) {
      if (auto s = GetBool(unlimited, path + ".unlimited", limit.unlimited); !s.ok()) return s;
    }
    if (const YAML::Node name = node["name"]; name.IsDefined()) {
      if (auto s = GetString(name, path + ".name", limit.name); !s.ok()) return s;
    }
    const YAML::Node unit = node["unit"];
    const YAML::Node requests = node["requests_per_unit"];
    if (limit.unlimited) {
      if (unit.IsDefined() || requests.IsDefined()) {
        return Error(unit.IsDefined() ? unit : requests, path,
                     "an unlimited rate_limit takes no unit or requests_per_unit");
      }
    } else {
      if (!unit.IsDefined()) return Error(node, path + ".unit", "required");
      std::string unit_name;
      if (auto s = GetString(unit, path + ".unit", unit_name); !s.ok()) return s;
      limit.unit = ParseUnit(unit_name);
      if (limit.unit == EnvoyUnit::kUnknown) {
        return Error(unit, path + ".unit",
                     absl::StrCat("unknown unit '", unit_name,
                                  "' (expected second, minute, hour, day, week, month or year)"));
      }
      if (!requests.IsDefined()) return Error(node, path + ".requests_per_unit", "required");
      if (auto s = GetUint32(requests, path + ".requests_per_unit", limit.requests_per_unit);
          !s.ok()) {
        return s;
      }
    }
    if (const YAML::Node replaces = node["replaces"]; replaces.IsDefined() && !replaces.IsNull()) {
      if (!replaces.IsSequence()) return Error(replaces, path + ".replaces", "must be a list");
      for (size_t i = 0; i < replaces.size(); ++i) {
        const std::string item = absl::StrCat(path, ".replaces[", i, "]");
        const YAML::Node entry = replaces[i];
        if (!entry.IsMap()) return Error(entry, item, "must be a map with `name`");
        if (auto s = CheckKeys(entry, item, {"name"}); !s.ok()) return s;
        std::string name;
        if (entry["name"].IsDefined()) {
          if (auto s = GetString(entry["name"], item + ".name", name); !s.ok()) return s;
        }
        if (name.empty()) return Error(entry, item + ".name", "required");
        if (name == limit.name)
          return Error(entry, item + ".name", "a limit cannot replace itself");
        limit.replaces.push_back(std::move(name));
      }
    }
    return absl::OkStatus();
  }

  static EnvoyUnit ParseUnit(std::string name) {
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    for (EnvoyUnit unit :
         {EnvoyUnit::kSecond, EnvoyUnit::kMinute, EnvoyUnit::kHour, EnvoyUnit::kDay,
          EnvoyUnit::kWeek, EnvoyUnit::kMonth, EnvoyUnit::kYear}) {
      if (domain::EnvoyUnitName(unit) == name) return unit;
    }
    return EnvoyUnit::kUnknown;
  }

  const std::string file_;
};

absl::Status ParseDocument(std::string_view file_name, std::string_view content,
                           domain::EnvoyLimitsConfig& config, DomainFiles* domain_files) {
  // yaml-cpp reports errors by exception; they stop here, at the library boundary.
  try {
    const std::vector<YAML::Node> documents = YAML::LoadAll(std::string(content));
    if (documents.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(View(file_name), ":1: domain: required (the file is empty)"));
    }
    if (documents.size() > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(View(file_name), ":", documents[1].Mark().line + 1,
                       ": one YAML document per file (one domain per document)"));
    }
    return DocumentLoader(file_name).LoadRoot(documents[0], config, domain_files);
  } catch (const YAML::Exception& e) {
    const std::string line = e.mark.is_null() ? "" : absl::StrCat(":", e.mark.line + 1);
    return absl::InvalidArgumentError(
        absl::StrCat(View(file_name), line, ": invalid YAML: ", e.msg));
  }
}

absl::Status ParseFile(const fs::path& path, domain::EnvoyLimitsConfig& config,
                       DomainFiles& domain_files) {
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": cannot open the file"));
  }
  std::stringstream content;
  content << in.rdbuf();
  if (in.bad()) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": cannot read the file"));
  }
  return ParseDocument(path.string(), content.str(), config, &domain_files);
}

bool IsConfigFile(const fs::directory_entry& entry) {
  const std::string name = entry.path().filename().string();
  const std::string extension = entry.path().extension().string();
  std::error_code error;
  return !name.empty() && name[0] != '.' && (extension == ".yaml" || extension == ".yml") &&
         entry.is_regular_file(error);
}

}  // namespace

absl::Status ParseRateLimitYaml(std::string_view file_name, std::string_view content,
                                domain::EnvoyLimitsConfig& config) {
  return ParseDocument(file_name, content, config, nullptr);
}

absl::StatusOr<std::shared_ptr<const domain::EnvoyLimitsConfig>> LoadRateLimitConfig(
    const std::string& path) {
  auto config = std::make_shared<domain::EnvoyLimitsConfig>();
  DomainFiles domain_files;
  std::error_code error;
  const fs::file_status status = fs::status(path, error);
  if (error) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", error.message()));
  }
  if (fs::is_directory(status)) {
    std::vector<fs::path> files;
    for (fs::directory_iterator it(path, error), end; !error && it != end; it.increment(error)) {
      if (IsConfigFile(*it)) files.push_back(it->path());
    }
    if (error) return absl::InvalidArgumentError(absl::StrCat(path, ": ", error.message()));
    std::sort(files.begin(), files.end());
    for (const fs::path& file : files) {
      if (auto s = ParseFile(file, *config, domain_files); !s.ok()) return s;
    }
  } else {
    if (auto s = ParseFile(path, *config, domain_files); !s.ok()) return s;
  }
  return std::shared_ptr<const domain::EnvoyLimitsConfig>(std::move(config));
}

}  // namespace hourglass::server
