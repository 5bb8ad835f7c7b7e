// Contract test: every request the wazo-auth client (AuthApi, 44 methods) can send must exist in the official
// wazo-auth spec (Swagger 2.0, ../shared/wazo-api/wazo-auth.json): the path and HTTP method, the query
// parameters, the Wazo-* headers and the top-level fields of the JSON body. The requests are the real ones: each
// method is called on a real ApiClient against a loopback RecordingServer, and what crossed the socket is checked.
//
// The spec is read from $WAZO_API_SPECS (a folder) or else from WAZO_API_SPECS_DIR (set by CMake). When it is
// missing the spec-based tests are skipped, except on CI (CI=true) where they fail.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "recording_server.hpp"
#include "wazo/rest/api_client.hpp"
#include "wazo/rest/auth.hpp"

namespace wazo::rest {
namespace {

using test::RecordedRequest;
using test::RecordingServer;
using test::Reply;

// ---------------------------------------------------------------------------------------------------------------
// Documented differences between what wazo-auth accepts and what its spec declares. Each entry silences exactly
// one (method, path template, kind, name) finding; AuthContract.AllowlistEntriesAreStillNeeded fails when the
// spec starts declaring the name (then the entry must go).
struct Allowance {
  std::string_view method;         // lower case, as in the spec
  std::string_view path_template;  // as in the spec, without the basePath
  std::string_view kind;           // "body", "query" or "header"
  std::string_view name;
  std::string_view why;
};

constexpr Allowance kAllowances[] = {
    // The SDK (like the JS seed) always sends `backend` ("wazo_user", or "ldap_user" for LDAP). wazo-auth's
    // TokenRequest schema (wazo_auth/plugins/http/tokens/schemas.py) accepts it with default "wazo_user", but the
    // body schema in tokens/api.yml does not list it (wazo-api README, section 2 "spec and code disagree").
    {"post", "/token", "body", "backend", "accepted by wazo-auth's TokenRequest schema, missing from api.yml"},
    // `tenant_id` is the older way to pick the tenant (deprecated in favour of domain_name; the two cannot be
    // combined). The server schema still accepts it; the spec dropped it (same README section).
    {"post", "/token", "body", "tenant_id", "deprecated but accepted by wazo-auth; missing from api.yml"},
};

// ---------------------------------------------------------------------------------------------------------------
// Small helpers.

// "/a/b" → {"a", "b"}; empty segments are kept ("/a//b" → {"a", "", "b"}) so that they never match "{param}".
std::vector<std::string> split_path(std::string_view path) {
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (true) {
    const std::size_t next = path.find('/', pos);
    out.emplace_back(path.substr(pos, next == std::string_view::npos ? std::string_view::npos : next - pos));
    if (next == std::string_view::npos) break;
    pos = next + 1;
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t pos = 0;
  while (pos < query.size()) {
    std::size_t amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    const std::string_view item = query.substr(pos, amp - pos);
    if (!item.empty()) {
      const std::size_t eq = item.find('=');
      out.emplace_back(percent_decode(item.substr(0, eq)),
                       eq == std::string_view::npos ? std::string() : percent_decode(item.substr(eq + 1)));
    }
    pos = amp + 1;
  }
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// ---------------------------------------------------------------------------------------------------------------
// SpecIndex: a Swagger 2.0 document and the checks a request must pass against it.
class SpecIndex {
 public:
  using Json = nlohmann::json;

  struct Found {
    std::string path_template;  // e.g. "/users/{user_uuid}"
    const Json* path_item = nullptr;
    const Json* operation = nullptr;  // null when the path exists but not with this method
  };

  explicit SpecIndex(Json spec) : spec_(std::move(spec)) {
    base_path_ = spec_.value("basePath", std::string());
    while (!base_path_.empty() && base_path_.back() == '/') base_path_.pop_back();
  }

  // Reads `file`; nullopt (and `error`) when it is missing or not JSON.
  static std::optional<SpecIndex> load(const std::filesystem::path& file, std::string& error) {
    std::ifstream in(file);
    if (!in) {
      error = "cannot open " + file.string();
      return std::nullopt;
    }
    Json j = Json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object() || !j.contains("paths")) {
      error = file.string() + " is not a Swagger document";
      return std::nullopt;
    }
    return SpecIndex(std::move(j));
  }

  [[nodiscard]] const std::string& base_path() const { return base_path_; }
  [[nodiscard]] const Json& json() const { return spec_; }

  // The operation for `method` (any case) on `path` (relative to the basePath), or null. Literal segments win
  // over `{param}` segments, and a path whose best template lacks the method falls back to a less specific
  // template that has it (as werkzeug's router does).
  [[nodiscard]] const Json* match(std::string_view method, std::string_view path) const {
    return find(method, path).operation;
  }

  [[nodiscard]] Found find(std::string_view method, std::string_view path) const {
    const std::string m = lower(std::string(method));
    const auto segments = split_path(path);
    std::vector<std::pair<int, std::string>> candidates;  // (literal segments, template)
    for (const auto& [tmpl, item] : spec_["paths"].items()) {
      const auto parts = split_path(tmpl);
      if (parts.size() != segments.size()) continue;
      int literals = 0;
      bool ok = true;
      for (std::size_t i = 0; i < parts.size() && ok; ++i) {
        const bool param = parts[i].size() > 2 && parts[i].front() == '{' && parts[i].back() == '}';
        if (param) {
          ok = !segments[i].empty();
        } else {
          ok = parts[i] == segments[i];
          ++literals;
        }
      }
      if (ok) candidates.emplace_back(literals, tmpl);
    }
    std::stable_sort(candidates.begin(), candidates.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    Found found;
    for (const auto& [literals, tmpl] : candidates) {
      const Json& item = spec_["paths"][tmpl];
      if (found.path_item == nullptr) {
        found.path_template = tmpl;
        found.path_item = &item;
      }
      if (item.contains(m) && item[m].is_object()) {
        found.path_template = tmpl;
        found.path_item = &item;
        found.operation = &item[m];
        break;
      }
    }
    return found;
  }

  // Everything about `request` (as it crossed the socket) that the spec does not allow; empty when it conforms.
  [[nodiscard]] std::vector<std::string> check(const RecordedRequest& request) const {
    std::vector<std::string> problems;
    const std::string where = request.method + " " + request.target;
    if (request.path.compare(0, base_path_.size(), base_path_) != 0 ||
        (request.path.size() > base_path_.size() && request.path[base_path_.size()] != '/')) {
      problems.push_back(where + ": path is outside the spec's basePath " + base_path_);
      return problems;
    }
    const std::string rel = request.path.substr(base_path_.size());
    const std::string method = lower(request.method);
    const Found found = find(method, rel);
    if (found.path_item == nullptr) {
      problems.push_back(where + ": no path of the spec matches " + rel);
      return problems;
    }
    if (found.operation == nullptr) {
      problems.push_back(where + ": the spec has no " + request.method + " on " + found.path_template);
      return problems;
    }
    const std::string op = request.method + " " + found.path_template;
    auto allowed = [&](std::string_view kind, const std::string& name) {
      return std::any_of(std::begin(kAllowances), std::end(kAllowances), [&](const Allowance& a) {
        return a.method == method && a.path_template == found.path_template && a.kind == kind && a.name == name;
      });
    };

    // Parameters: path-level ones, then the operation's (which override by name and location).
    std::vector<Json> params;
    auto add_params = [&](const Json& list) {
      if (!list.is_array()) return;
      for (const auto& p : list) {
        const Json& r = resolve(p);
        params.erase(std::remove_if(params.begin(), params.end(),
                                    [&](const Json& q) {
                                      return q.value("name", "") == r.value("name", "") &&
                                             q.value("in", "") == r.value("in", "");
                                    }),
                     params.end());
        params.push_back(r);
      }
    };
    add_params(member(*found.path_item, "parameters"));
    add_params(member(*found.operation, "parameters"));

    // (2) Query parameters.
    std::set<std::string> sent_query;
    for (const auto& [name, value] : parse_query(request.query)) {
      sent_query.insert(name);
      const std::string& key = name;  // (lambdas cannot capture structured bindings before C++20 in clang 14)
      const auto declared = std::find_if(params.begin(), params.end(), [&](const Json& p) {
        return p.value("in", "") == "query" && p.value("name", "") == key;
      });
      if (declared == params.end()) {
        if (!allowed("query", name))
          problems.push_back(op + ": query parameter '" + name + "' is not declared by the spec");
      } else if (auto bad = text_value_problem(*declared, value)) {
        problems.push_back(op + ": query parameter '" + name + "' " + *bad);
      }
    }
    for (const auto& p : params) {
      if (p.value("in", "") == "query" && p.value("required", false) && sent_query.count(p.value("name", "")) == 0)
        problems.push_back(op + ": required query parameter '" + p.value("name", "") + "' is missing");
    }

    // Wazo-* headers (Wazo-Tenant, Wazo-Session-Type): each one sent must be declared (in: header).
    for (const auto& [name, value] : request.headers) {
      if (name.rfind("wazo-", 0) != 0) continue;
      const std::string& key = name;
      const auto declared = std::find_if(params.begin(), params.end(), [&](const Json& p) {
        return p.value("in", "") == "header" && lower(p.value("name", "")) == key;
      });
      if (declared == params.end()) {
        if (!allowed("header", name)) problems.push_back(op + ": header '" + name + "' is not declared by the spec");
      } else if (auto bad = text_value_problem(*declared, value)) {
        problems.push_back(op + ": header '" + name + "' " + *bad);
      }
    }

    // (3) The JSON body.
    const Json* body_param = nullptr;
    for (const auto& p : params)
      if (p.value("in", "") == "body") body_param = &p;
    if (request.body.empty()) {
      if (body_param != nullptr && body_param->value("required", false))
        problems.push_back(op + ": the spec requires a body and none was sent");
      return problems;
    }
    if (body_param == nullptr) {
      problems.push_back(op + ": a body was sent but the spec declares none");
      return problems;
    }
    const Json body = Json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded()) {
      problems.push_back(op + ": the body is not JSON");
      return problems;
    }
    if (!body.is_object()) return problems;  // arrays etc.: only object bodies are checked field by field
    std::map<std::string, const Json*> properties;
    std::set<std::string> required;
    bool open = false;
    collect(member(*body_param, "schema"), properties, required, open, 0);
    if (properties.empty()) open = true;  // a free-form object
    for (const auto& [field, value] : body.items()) {
      const auto property = properties.find(field);
      if (property == properties.end()) {
        if (!open && !allowed("body", field))
          problems.push_back(op + ": body field '" + field + "' is not a property of the spec's body schema");
      } else if (auto bad = json_value_problem(*property->second, value)) {
        problems.push_back(op + ": body field '" + field + "' " + *bad);
      }
    }
    for (const auto& field : required) {
      if (!body.contains(field)) problems.push_back(op + ": required body field '" + field + "' is missing");
    }
    return problems;
  }

  // Whether the spec declares `name` (of `kind`) for the operation; used to find stale allowances.
  [[nodiscard]] std::optional<bool> declares(std::string_view method, std::string_view path_template,
                                             std::string_view kind, const std::string& name) const {
    const Json& paths = spec_["paths"];
    const std::string key(path_template);
    const std::string m(method);
    if (!paths.contains(key) || !paths[key].contains(m)) return std::nullopt;
    const Json& op = paths[key][m];
    std::vector<Json> params;
    for (const auto& p : member(paths[key], "parameters")) params.push_back(resolve(p));
    for (const auto& p : member(op, "parameters")) params.push_back(resolve(p));
    for (const auto& p : params) {
      if (kind == "body" && p.value("in", "") == "body") {
        std::map<std::string, const Json*> properties;
        std::set<std::string> required;
        bool open = false;
        collect(member(p, "schema"), properties, required, open, 0);
        if (properties.count(name) != 0) return true;
      } else if (p.value("in", "") == kind && lower(p.value("name", "")) == lower(name)) {
        return true;
      }
    }
    return false;
  }

 private:
  // j[key] by reference (so pointers into it stay valid), or an empty array when j has no such key.
  [[nodiscard]] static const Json& member(const Json& j, const char* key) {
    static const Json none = Json::array();
    if (!j.is_object()) return none;
    const auto it = j.find(key);
    return it == j.end() ? none : *it;
  }

  // Follows local `$ref`s ("#/definitions/X", "#/parameters/Y").
  [[nodiscard]] const Json& resolve(const Json& node) const {
    const Json* current = &node;
    for (int depth = 0; depth < 32 && current->is_object() && current->contains("$ref"); ++depth) {
      const std::string ref = (*current)["$ref"].get<std::string>();
      if (ref.rfind("#/", 0) != 0) break;
      const Json::json_pointer pointer(ref.substr(1));
      if (!spec_.contains(pointer)) break;
      current = &spec_.at(pointer);
    }
    return *current;
  }

  // Why a JSON value does not fit a (property) schema's `type` and `enum`; nullopt when it fits.
  [[nodiscard]] std::optional<std::string> json_value_problem(const Json& schema_node, const Json& value) const {
    const Json& schema = resolve(schema_node);
    if (!schema.is_object()) return std::nullopt;
    if (value.is_null()) return std::nullopt;  // optional fields may be sent as null; wazo-auth accepts most
    const std::string type = schema.value("type", "");
    const bool fits = type.empty() || (type == "string" && value.is_string()) ||
                      (type == "integer" && value.is_number_integer()) || (type == "number" && value.is_number()) ||
                      (type == "boolean" && value.is_boolean()) || (type == "array" && value.is_array()) ||
                      (type == "object" && value.is_object());
    if (!fits) return "is " + std::string(value.type_name()) + " but the spec says " + type;
    if (schema.contains("enum") && schema["enum"].is_array()) {
      const auto& allowed_values = schema["enum"];
      if (std::find(allowed_values.begin(), allowed_values.end(), value) == allowed_values.end())
        return "is " + value.dump() + ", not one of " + allowed_values.dump();
    }
    return std::nullopt;
  }

  // The same for a query parameter or header, whose value is text.
  [[nodiscard]] static std::optional<std::string> text_value_problem(const Json& param, const std::string& value) {
    const std::string type = param.value("type", "");
    if (type == "integer" && (value.empty() || !std::all_of(value.begin() + (value[0] == '-' ? 1 : 0), value.end(),
                                                            [](unsigned char c) { return std::isdigit(c) != 0; })))
      return "is '" + value + "' but the spec says integer";
    if (type == "boolean" && value != "true" && value != "false") return "is '" + value + "' but the spec says boolean";
    if (param.contains("enum") && param["enum"].is_array()) {
      const auto& allowed_values = param["enum"];
      const bool listed = std::any_of(allowed_values.begin(), allowed_values.end(), [&](const Json& v) {
        return (v.is_string() && v.get<std::string>() == value) || (!v.is_string() && v.dump() == value);
      });
      if (!listed) return "is '" + value + "', not one of " + allowed_values.dump();
    }
    return std::nullopt;
  }

  // Top-level properties (name → schema) and required names of a schema, through $ref and allOf.
  void collect(const Json& schema_node, std::map<std::string, const Json*>& properties, std::set<std::string>& required,
               bool& open, int depth) const {
    if (depth > 16) return;
    const Json& schema = resolve(schema_node);
    if (!schema.is_object()) return;
    if (schema.contains("properties") && schema["properties"].is_object())
      for (const auto& [name, value] : schema["properties"].items()) properties.emplace(name, &value);
    if (schema.contains("required") && schema["required"].is_array())
      for (const auto& name : schema["required"])
        if (name.is_string()) required.insert(name.get<std::string>());
    if (schema.contains("additionalProperties")) {
      const Json& extra = schema["additionalProperties"];
      if ((extra.is_boolean() && extra.get<bool>()) || extra.is_object()) open = true;
    }
    if (schema.contains("allOf") && schema["allOf"].is_array())
      for (const auto& part : schema["allOf"]) collect(part, properties, required, open, depth + 1);
  }

  Json spec_;
  std::string base_path_;
};

// ---------------------------------------------------------------------------------------------------------------
// Where the spec is, and loading it once.

std::filesystem::path specs_dir() {
  if (const char* env = std::getenv("WAZO_API_SPECS"); env != nullptr && *env != '\0') return env;
#ifdef WAZO_API_SPECS_DIR
  return WAZO_API_SPECS_DIR;
#else
  return {};
#endif
}

bool on_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && lower(ci) == "true";
}

const SpecIndex* auth_spec(std::string& error) {
  static std::string load_error;
  static const std::optional<SpecIndex> spec = SpecIndex::load(specs_dir() / "wazo-auth.json", load_error);
  error = load_error;
  return spec ? &*spec : nullptr;
}

// ---------------------------------------------------------------------------------------------------------------
// The table: one row per AuthApi method, each calling it once with sample arguments.

constexpr auto kWait = std::chrono::seconds(10);

template <class T>
bool settle(Async<T> call) {
  return call.get_for(kWait).has_value();
}

struct Row {
  std::string name;
  std::function<bool(AuthApi&)> call;  // true once the call has settled
};

const std::vector<Row>& rows() {
  static const std::string user = "6f1c1f5e-0000-4000-8000-000000000001";
  static const std::string other = "6f1c1f5e-0000-4000-8000-000000000002";
  static const std::vector<Row> table = {
      // Tokens and sessions.
      {"check_token", [](AuthApi& a) { return settle(a.check_token("tok-checked")); }},
      {"authenticate", [](AuthApi& a) { return settle(a.authenticate("tok-checked")); }},
      {"log_in",
       [](AuthApi& a) {
         LoginParams p{.username = "alice", .password = "secret"};
         p.mobile = true;
         p.domain_name = "example.com";
         return settle(a.log_in(p));
       }},
      {"log_out", [](AuthApi& a) { return settle(a.log_out("tok-old")); }},
      {"saml_log_in", [](AuthApi& a) { return settle(a.saml_log_in("saml-session")); }},
      {"saml_log_out", [](AuthApi& a) { return settle(a.saml_log_out()); }},
      {"initiate_idp_authentication",
       [](AuthApi& a) { return settle(a.initiate_idp_authentication("example.com", "https://app.example.com/")); }},
      {"refresh_token",
       [](AuthApi& a) { return settle(a.refresh_token("refresh-1", "wazo_user", 3600, true, "tenant-1")); }},
      {"delete_refresh_token", [](AuthApi& a) { return settle(a.delete_refresh_token("contract")); }},
      {"get_restriction_policies",
       [](AuthApi& a) {
         return settle(a.get_restriction_policies({"confd.users.read", "calld.calls.create"}));
       }},
      // Passwords.
      {"update_password", [](AuthApi& a) { return settle(a.update_password(user, "old-pw", "new-pw")); }},
      {"send_reset_password_email",
       [](AuthApi& a) { return settle(a.send_reset_password_email({.username = "alice", .email = "a@example.com"})); }},
      {"reset_password", [](AuthApi& a) { return settle(a.reset_password(user, "new-pw")); }},
      // Mobile push and external providers.
      {"get_device_token", [](AuthApi& a) { return settle(a.get_device_token(user)); }},
      {"send_device_token",
       [](AuthApi& a) { return settle(a.send_device_token(user, "fcm-token", "voip-token", "alert-token")); }},
      {"get_push_notification_sender_id", [](AuthApi& a) { return settle(a.get_push_notification_sender_id(user)); }},
      {"remove_device_token", [](AuthApi& a) { return settle(a.remove_device_token(user)); }},
      {"get_providers", [](AuthApi& a) { return settle(a.get_providers(user)); }},
      {"get_provider_token", [](AuthApi& a) { return settle(a.get_provider_token(user, "google")); }},
      {"get_provider_auth_url", [](AuthApi& a) { return settle(a.get_provider_auth_url(user, "microsoft")); }},
      {"delete_provider_token", [](AuthApi& a) { return settle(a.delete_provider_token(user, "google")); }},
      // Users, emails, policies, groups, sessions.
      {"create_user", [](AuthApi& a) { return settle(a.create_user("alice", "secret", "Alice", "Liddell")); }},
      {"get_user", [](AuthApi& a) { return settle(a.get_user(user)); }},
      {"list_users", [](AuthApi& a) { return settle(a.list_users()); }},
      {"delete_user", [](AuthApi& a) { return settle(a.delete_user(user)); }},
      {"add_user_email", [](AuthApi& a) { return settle(a.add_user_email(user, "a@example.com", true)); }},
      {"add_user_policy", [](AuthApi& a) { return settle(a.add_user_policy(user, other)); }},
      {"delete_user_policy", [](AuthApi& a) { return settle(a.delete_user_policy(user, other)); }},
      {"add_user_group", [](AuthApi& a) { return settle(a.add_user_group(user, other)); }},
      {"list_users_group", [](AuthApi& a) { return settle(a.list_users_group(other)); }},
      {"delete_user_group", [](AuthApi& a) { return settle(a.delete_user_group(user, other)); }},
      {"get_user_session", [](AuthApi& a) { return settle(a.get_user_session(user)); }},
      {"delete_user_session", [](AuthApi& a) { return settle(a.delete_user_session(user, other)); }},
      // Tenants.
      {"list_tenants", [](AuthApi& a) { return settle(a.list_tenants()); }},
      {"get_tenant", [](AuthApi& a) { return settle(a.get_tenant(other)); }},
      {"create_tenant", [](AuthApi& a) { return settle(a.create_tenant("Acme")); }},
      {"update_tenant",
       [](AuthApi& a) {
         return settle(a.update_tenant(other, "Acme", user, "+15555550100",
                                       {{"line_1", "1 Main St"}, {"city", "Quebec"}, {"country", "CA"}}));
       }},
      {"delete_tenant", [](AuthApi& a) { return settle(a.delete_tenant(other)); }},
      // Groups and policies.
      {"create_group", [](AuthApi& a) { return settle(a.create_group("sales")); }},
      {"list_groups", [](AuthApi& a) { return settle(a.list_groups()); }},
      {"delete_group", [](AuthApi& a) { return settle(a.delete_group(other)); }},
      {"create_policy",
       [](AuthApi& a) {
         return settle(a.create_policy("agents", "Agent ACL", {"calld.#", "confd.users.me.read"}));
       }},
      {"list_policies", [](AuthApi& a) { return settle(a.list_policies()); }},
      {"delete_policy", [](AuthApi& a) { return settle(a.delete_policy(other)); }},
  };
  return table;
}

// A body most parsers accept: a session ("data"), a list ("items"/"total") and a few common fields.
std::string generic_body() {
  return R"({"data":{"token":"tok-new","session_uuid":"s","utc_expires_at":"2030-01-01T00:00:00+00:00",)"
         R"("metadata":{"uuid":"u","tenant_uuid":"t"}},"items":[],"total":0,"filtered":0,"uuid":"u",)"
         R"("name":"n","sender_id":"42","token":"fcm","username":"alice"})";
}

// The method names AuthApi declares, read from its header (next to this file in the source tree); empty if the
// header cannot be found (e.g. the test binary was moved).
std::vector<std::string> declared_methods() {
  const std::filesystem::path header =
      std::filesystem::path(__FILE__).parent_path() / ".." / ".." / "include" / "wazo" / "rest" / "auth.hpp";
  std::ifstream in(header);
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    const std::size_t at = line.find("Async<");
    if (at == std::string::npos) continue;
    const std::size_t paren = line.find('(', at);
    if (paren == std::string::npos) continue;
    std::size_t end = paren;
    while (end > at && line[end - 1] == ' ') --end;
    std::size_t begin = end;
    while (begin > at && (std::isalnum(static_cast<unsigned char>(line[begin - 1])) != 0 || line[begin - 1] == '_'))
      --begin;
    if (begin < end) names.push_back(line.substr(begin, end - begin));
  }
  return names;
}

class AuthContract : public ::testing::Test {
 protected:
  void SetUp() override {
    server.set_handler([](const RecordedRequest&) { return Reply{.body = generic_body()}; });
  }

  // Sets `spec`; when the spec is not there, skips the test (fails it on CI) and leaves `spec` null.
  void require_spec() {
    std::string error;
    spec = auth_spec(error);
    if (spec != nullptr) return;
    if (on_ci()) FAIL() << "wazo-auth spec unavailable on CI (CI=true): " << error;
    GTEST_SKIP() << "wazo-auth spec unavailable (set WAZO_API_SPECS to the wazo-api folder): " << error;
  }

  // Runs one row and returns what the server recorded for it.
  std::vector<RecordedRequest> run(const Row& row) {
    server.clear();
    AuthApi api = client.auth();
    const bool settled = row.call(api);
    EXPECT_TRUE(settled) << row.name << " did not settle within " << kWait.count() << " s";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (server.count() == 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return server.requests();
  }

  Runtime rt{RuntimeOptions{.log_sink = [](const LogRecord&) {}, .log_level = LogLevel::off}};
  RecordingServer server;
  const SpecIndex* spec = nullptr;
  ApiClient client = [this] {
    ApiClient c(rt, ClientOptions{.server = server.url(), .client_id = "contract"});
    c.set_token("tok-contract-0001");
    return c;
  }();
};

TEST_F(AuthContract, TableCoversEveryMethodOnceAndEachRowSendsOneRequest) {
  const auto& table = rows();
  EXPECT_EQ(table.size(), 44U);
  std::set<std::string> names;
  for (const auto& row : table) EXPECT_TRUE(names.insert(row.name).second) << "duplicate row " << row.name;
  EXPECT_EQ(names.size(), 44U);

  const auto declared = declared_methods();
  if (!declared.empty()) {
    const std::set<std::string> in_header(declared.begin(), declared.end());
    EXPECT_EQ(in_header.size(), declared.size()) << "an AuthApi method is overloaded; give each overload a row";
    for (const auto& name : in_header) EXPECT_TRUE(names.count(name) != 0) << "AuthApi::" << name << " has no row";
    for (const auto& name : names) EXPECT_TRUE(in_header.count(name) != 0) << name << " is not an AuthApi method";
  }

  for (const auto& row : table) {
    const auto requests = run(row);
    EXPECT_EQ(requests.size(), 1U) << row.name << " sent " << requests.size() << " requests";
  }
}

TEST_F(AuthContract, EveryRequestIsInTheSpec) {
  require_spec();
  if (spec == nullptr) return;
  ASSERT_EQ(spec->base_path(), "/api/auth/0.1");
  std::set<std::string> operations;
  for (const auto& row : rows()) {
    SCOPED_TRACE(row.name);
    const auto requests = run(row);
    ASSERT_FALSE(requests.empty()) << row.name << " sent no request";
    for (const auto& request : requests) {
      for (const auto& problem : spec->check(request)) ADD_FAILURE() << "AuthApi::" << row.name << ": " << problem;
      const auto rel = request.path.substr(std::min(request.path.size(), spec->base_path().size()));
      const auto found = spec->find(request.method, rel);
      if (found.operation != nullptr) operations.insert(request.method + " " + found.path_template);
    }
  }
  // 44 methods, three of which (log_in, saml_log_in, refresh_token) share POST /token.
  EXPECT_EQ(operations.size(), 42U);
}

TEST_F(AuthContract, CheckerFlagsRequestsTheSpecLacks) {
  // A tiny inline spec, so the checker itself is tested even where the official specs are not available.
  const SpecIndex mini(nlohmann::json::parse(R"({
    "swagger": "2.0", "basePath": "/api/auth/0.1",
    "parameters": {"user_uuid": {"name": "user_uuid", "in": "path", "type": "string", "required": true}},
    "definitions": {
      "Base": {"type": "object", "required": ["username"], "properties": {
        "username": {"type": "string"}, "purpose": {"type": "string", "enum": ["user", "internal"]}}},
      "UserCreate": {"allOf": [{"$ref": "#/definitions/Base"}, {"properties": {"password": {"type": "string"}}}]}
    },
    "paths": {
      "/users": {
        "get": {"parameters": [{"name": "search", "in": "query", "type": "string"},
                               {"name": "limit", "in": "query", "type": "integer"}]},
        "post": {"parameters": [{"name": "body", "in": "body", "required": true,
                                 "schema": {"$ref": "#/definitions/UserCreate"}}]}
      },
      "/users/{user_uuid}": {"get": {"parameters": [{"$ref": "#/parameters/user_uuid"}]}},
      "/users/password/reset": {"post": {"parameters": [{"name": "user_uuid", "in": "query", "required": true}]}}
    }})"));
  auto req = [](std::string method, const std::string& target, std::string body = {}) {
    RecordedRequest r;
    r.method = std::move(method);
    r.target = target;
    const auto q = target.find('?');
    r.path = target.substr(0, q);
    r.query = q == std::string::npos ? std::string() : target.substr(q + 1);
    r.body = std::move(body);
    return r;
  };
  auto flags = [](const SpecIndex& index, const RecordedRequest& r, std::string_view needle) {
    const auto problems = index.check(r);
    return std::any_of(problems.begin(), problems.end(),
                       [&](const std::string& p) { return p.find(needle) != std::string::npos; });
  };

  // What conforms passes.
  EXPECT_TRUE(mini.check(req("GET", "/api/auth/0.1/users/abc")).empty());
  EXPECT_TRUE(mini.check(req("GET", "/api/auth/0.1/users?search=a%20b")).empty());
  EXPECT_TRUE(mini.check(req("POST", "/api/auth/0.1/users", R"({"username":"a","password":"p"})")).empty());
  EXPECT_NE(mini.match("get", "/users/abc"), nullptr);
  EXPECT_EQ(mini.match("get", "/users//"), nullptr);
  // Literal segments win over templates: /users/password/reset is not /users/{user_uuid}/...
  EXPECT_EQ(mini.find("POST", "/users/password/reset").path_template, "/users/password/reset");

  EXPECT_TRUE(flags(mini, req("GET", "/api/auth/0.1/users/abc/nonexistent"), "no path"));
  EXPECT_TRUE(flags(mini, req("DELETE", "/api/auth/0.1/users/abc"), "has no DELETE"));
  EXPECT_TRUE(flags(mini, req("GET", "/api/confd/1.1/users"), "basePath"));
  EXPECT_TRUE(flags(mini, req("GET", "/api/auth/0.1/users?nope=1"), "'nope'"));
  EXPECT_TRUE(flags(mini, req("POST", "/api/auth/0.1/users/password/reset"), "'user_uuid' is missing"));
  EXPECT_TRUE(flags(mini, req("POST", "/api/auth/0.1/users", R"({"username":"a","bogus":1})"), "'bogus'"));
  EXPECT_TRUE(flags(mini, req("POST", "/api/auth/0.1/users", R"({"password":"p"})"), "'username' is missing"));
  EXPECT_TRUE(flags(mini, req("POST", "/api/auth/0.1/users"), "requires a body"));
  EXPECT_TRUE(flags(mini, req("GET", "/api/auth/0.1/users", R"({"x":1})"), "declares none"));
  EXPECT_TRUE(flags(mini, req("POST", "/api/auth/0.1/users", R"({"username":1})"), "the spec says string"));
  EXPECT_TRUE(flags(mini, req("POST", "/api/auth/0.1/users", R"({"username":"a","purpose":"boss"})"), "not one of"));
  EXPECT_TRUE(mini.check(req("GET", "/api/auth/0.1/users?limit=10")).empty());
  EXPECT_TRUE(flags(mini, req("GET", "/api/auth/0.1/users?limit=ten"), "the spec says integer"));
  RecordedRequest with_header = req("GET", "/api/auth/0.1/users");
  with_header.headers["wazo-tenant"] = "t";
  EXPECT_TRUE(flags(mini, with_header, "'wazo-tenant'"));

  // The same against the official spec.
  require_spec();
  if (spec == nullptr) return;
  EXPECT_TRUE(flags(*spec, req("GET", "/api/auth/0.1/users/abc/nonexistent"), "no path"));
  EXPECT_TRUE(flags(*spec, req("POST", "/api/auth/0.1/users", R"({"username":"a","bogus":1})"), "'bogus'"));
  EXPECT_TRUE(flags(*spec, req("PATCH", "/api/auth/0.1/users"), "has no PATCH"));
  EXPECT_TRUE(flags(*spec, req("GET", "/api/auth/0.1/users?not_a_filter=1"), "'not_a_filter'"));
  EXPECT_TRUE(flags(*spec, req("POST", "/api/auth/0.1/groups", "{}"), "'name' is missing"));
  EXPECT_TRUE(
      flags(*spec, req("POST", "/api/auth/0.1/users/password/reset", R"({"password":"p"})"), "'user_uuid' is missing"));
  EXPECT_TRUE(flags(*spec, req("POST", "/api/auth/0.1/token", R"({"access_type":"sometimes"})"), "not one of"));
  EXPECT_TRUE(flags(*spec, req("POST", "/api/auth/0.1/token", R"({"expiration":"60"})"), "the spec says integer"));
  // An allowance covers one field of one operation only.
  EXPECT_TRUE(spec->check(req("POST", "/api/auth/0.1/token", R"({"backend":"wazo_user","expiration":60})")).empty());
  EXPECT_TRUE(flags(*spec, req("POST", "/api/auth/0.1/token", R"({"backend":"x","tenant":"t"})"), "'tenant'"));
  EXPECT_TRUE(flags(*spec, req("POST", "/api/auth/0.1/users", R"({"username":"a","backend":"x"})"), "'backend'"));
}

TEST_F(AuthContract, AllowlistEntriesAreStillNeeded) {
  require_spec();
  if (spec == nullptr) return;
  for (const auto& a : kAllowances) {
    const auto declared = spec->declares(a.method, a.path_template, a.kind, std::string(a.name));
    ASSERT_TRUE(declared.has_value()) << a.method << " " << a.path_template << " is not in the spec";
    EXPECT_FALSE(*declared) << "the spec now declares " << a.kind << " '" << a.name << "' on " << a.method << " "
                            << a.path_template << ": remove the allowance (" << a.why << ")";
  }
}

}  // namespace
}  // namespace wazo::rest
