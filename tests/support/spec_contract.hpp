// Contract checking against the official Wazo specs (Swagger 2.0, ../shared/wazo-api/<service>.json), shared by
// the per-service contract tests (AuthContract, ChatdContract, ConfdContract).
//
// SpecIndex::check() takes a request as it crossed the socket (RecordingServer) and lists everything the spec does
// not allow: the path and HTTP method, the path parameters (type, enum), the query parameters, the Wazo-* headers,
// and the top-level fields of a JSON object body (name, type, enum, required).
//
// The specs are GPL data: tests load them at run time, the project never copies them. specs_dir() is
// $WAZO_API_SPECS, or else WAZO_API_SPECS_DIR (a compile definition of the test target).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "recording_server.hpp"

namespace wazo::test {

// A documented difference between what a service accepts and what its spec declares. Each entry silences exactly
// one (method, path template, kind, name) finding; the contract tests check that every entry is still needed.
//   kind "body", "query", "header": `name` is a body field / query parameter / header the spec leaves out.
//   kind "path": the service serves `name` (a path template relative to the basePath) for the operation the spec
//                writes as `path_template` (e.g. a typo in the spec's path).
struct SpecAllowance {
  std::string_view method;         // lower case, as in the spec
  std::string_view path_template;  // as in the spec, without the basePath
  std::string_view kind;           // "body", "query", "header" or "path"
  std::string_view name;
  std::string_view why;
};

class SpecIndex {
 public:
  using Json = nlohmann::json;

  struct Found {
    std::string path_template;  // e.g. "/users/{user_uuid}"
    const Json* path_item = nullptr;
    const Json* operation = nullptr;  // null when the path exists but not with this method
  };

  explicit SpecIndex(Json spec, std::vector<SpecAllowance> allowances = {});

  // Reads `file`; nullopt (and `error`) when it is missing or not JSON.
  static std::optional<SpecIndex> load(const std::filesystem::path& file, std::string& error,
                                       std::vector<SpecAllowance> allowances = {});

  [[nodiscard]] const std::string& base_path() const { return base_path_; }
  [[nodiscard]] const Json& json() const { return spec_; }
  [[nodiscard]] const std::vector<SpecAllowance>& allowances() const { return allowances_; }

  // The operation for `method` (any case) on `path` (relative to the basePath), or null. Literal segments win
  // over `{param}` segments, and a path whose best template lacks the method falls back to a less specific
  // template that has it (as werkzeug's router does). "path" allowances are not applied here.
  [[nodiscard]] const Json* match(std::string_view method, std::string_view path) const {
    return find(method, path).operation;
  }
  [[nodiscard]] Found find(std::string_view method, std::string_view path) const;

  // Like find(), then through the "path" allowances when the spec has no such operation.
  [[nodiscard]] Found resolve_operation(std::string_view method, std::string_view path) const;

  // Everything about `request` (as it crossed the socket) that the spec does not allow; empty when it conforms.
  [[nodiscard]] std::vector<std::string> check(const RecordedRequest& request) const;

  // Whether the spec declares `name` (of `kind`) for the operation; nullopt when the operation is not in the spec.
  // For kind "path": whether the spec has the path `name` with `method` (then the allowance is no longer needed).
  [[nodiscard]] std::optional<bool> declares(std::string_view method, std::string_view path_template,
                                             std::string_view kind, const std::string& name) const;

  // "METHOD /template" of the spec operation `request` maps to (through "path" allowances), or "" when none.
  [[nodiscard]] std::string operation_key(const RecordedRequest& request) const;

 private:
  [[nodiscard]] const Json& resolve(const Json& node) const;
  [[nodiscard]] std::optional<std::string> json_value_problem(const Json& schema_node, const Json& value) const;
  void collect(const Json& schema_node, std::map<std::string, const Json*>& properties, std::set<std::string>& required,
               bool& open, int depth) const;
  [[nodiscard]] std::vector<Json> parameters(const Json& path_item, const Json& operation) const;
  [[nodiscard]] bool allowed(std::string_view method, const std::string& path_template, std::string_view kind,
                             const std::string& name) const;

  Json spec_;
  std::string base_path_;
  std::vector<SpecAllowance> allowances_;
};

// Where the specs are: $WAZO_API_SPECS, else WAZO_API_SPECS_DIR when the including target defines it.
inline std::filesystem::path specs_dir() {
  if (const char* env = std::getenv("WAZO_API_SPECS"); env != nullptr && *env != '\0') return env;
#ifdef WAZO_API_SPECS_DIR
  return WAZO_API_SPECS_DIR;
#else
  return {};
#endif
}

// CI=true: a missing spec fails the contract tests instead of skipping them.
bool on_ci();

// The names of the methods a service header declares (`Async<…> name(` lines), so a contract table can be checked
// against the header; empty when the header cannot be read.
std::vector<std::string> declared_async_methods(const std::filesystem::path& header);

// A request as if recorded: splits `target` into path and query (for checker self-tests).
RecordedRequest make_recorded(std::string method, const std::string& target, std::string body = {});

// True when one of `problems` contains `needle`.
bool mentions(const std::vector<std::string>& problems, std::string_view needle);

}  // namespace wazo::test
