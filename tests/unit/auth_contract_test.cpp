// Contract test: every request the wazo-auth client (AuthApi, 44 methods) can send must exist in the official
// wazo-auth spec (Swagger 2.0, ../shared/wazo-api/wazo-auth.json): the path and HTTP method, the query
// parameters, the Wazo-* headers and the top-level fields of the JSON body. The requests are the real ones: each
// method is called on a real ApiClient against a loopback RecordingServer, and what crossed the socket is checked.
//
// The checker (SpecIndex) is shared with the other contract tests: tests/support/spec_contract.hpp.
//
// The spec is read from $WAZO_API_SPECS (a folder) or else from WAZO_API_SPECS_DIR (set by CMake). When it is
// missing the spec-based tests are skipped, except on CI (CI=true) where they fail.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
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
#include "spec_contract.hpp"
#include "wazo/rest/api_client.hpp"
#include "wazo/rest/auth.hpp"

namespace wazo::rest {
namespace {

using test::declared_async_methods;
using test::on_ci;
using test::RecordedRequest;
using test::RecordingServer;
using test::Reply;
using test::SpecAllowance;
using test::SpecIndex;
using test::specs_dir;

// ---------------------------------------------------------------------------------------------------------------
// Documented differences between what wazo-auth accepts and what its spec declares. Each entry silences exactly
// one (method, path template, kind, name) finding; AuthContract.AllowlistEntriesAreStillNeeded fails when the
// spec starts declaring the name (then the entry must go).
constexpr SpecAllowance kAllowances[] = {
    // The SDK (like the JS seed) always sends `backend` ("wazo_user", or "ldap_user" for LDAP). wazo-auth's
    // TokenRequest schema (wazo_auth/plugins/http/tokens/schemas.py) accepts it with default "wazo_user", but the
    // body schema in tokens/api.yml does not list it (wazo-api README, section 2 "spec and code disagree").
    {"post", "/token", "body", "backend", "accepted by wazo-auth's TokenRequest schema, missing from api.yml"},
    // `tenant_id` is the older way to pick the tenant (deprecated in favour of domain_name; the two cannot be
    // combined). The server schema still accepts it; the spec dropped it (same README section).
    {"post", "/token", "body", "tenant_id", "deprecated but accepted by wazo-auth; missing from api.yml"},
};

// ---------------------------------------------------------------------------------------------------------------
// Loading the spec once.

const SpecIndex* auth_spec(std::string& error) {
  static std::string load_error;
  static const std::optional<SpecIndex> spec =
      SpecIndex::load(specs_dir() / "wazo-auth.json", load_error, {std::begin(kAllowances), std::end(kAllowances)});
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
  return declared_async_methods(std::filesystem::path(__FILE__).parent_path() / ".." / ".." / "include" / "wazo" /
                                "rest" / "auth.hpp");
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
