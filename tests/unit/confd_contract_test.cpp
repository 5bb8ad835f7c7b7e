// Contract test: every request the wazo-confd client (ConfdApi, 30 methods) sends must exist in the official
// wazo-confd spec (../shared/wazo-api/wazo-confd.json): path and method, path and query parameters, Wazo-* headers
// and the top-level fields of the JSON body, checked with the shared SpecIndex (tests/support/spec_contract.hpp) on
// what a real ApiClient sent to a loopback RecordingServer. Then the client's own logic: per-line SIP lookups
// where one failing line does not fail the call, the blocklist query, and the parsing of spec-shaped bodies.
//
// When the spec is missing the spec-based tests are skipped, except on CI (CI=true) where they fail.
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "recording_server.hpp"
#include "spec_contract.hpp"
#include "wazo/rest/api_client.hpp"
#include "wazo/rest/confd.hpp"

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

// Documented differences between what wazo-confd serves and what its spec declares. Each entry silences exactly
// one finding; ConfdContract.AllowlistEntriesAreStillNeeded fails once the spec is fixed (then the entry must go).
const std::vector<SpecAllowance> kAllowances = {
    // meeting_authorization/api.yml writes three paths with "/user/me/…"; wazo-confd registers them as
    // "/users/me/meetings/<uuid>/authorizations…" (wazo_confd/plugins/meeting_authorization/plugin.py), which is
    // what the seed calls and what the spec's own GET/DELETE …/{authorization_uuid} use.
    {"get", "/user/me/meetings/{meeting_uuid}/authorizations", "path",
     "/users/me/meetings/{meeting_uuid}/authorizations", "spec typo: /user/me instead of /users/me"},
    {"put", "/user/me/meetings/{meeting_uuid}/authorizations/{authorization_uuid}/accept", "path",
     "/users/me/meetings/{meeting_uuid}/authorizations/{authorization_uuid}/accept",
     "spec typo: /user/me instead of /users/me"},
    {"put", "/user/me/meetings/{meeting_uuid}/authorizations/{authorization_uuid}/reject", "path",
     "/users/me/meetings/{meeting_uuid}/authorizations/{authorization_uuid}/reject",
     "spec typo: /user/me instead of /users/me"},
    // The seed sends require_authorization when it creates or updates a meeting; wazo-confd's MeetingSchema
    // (wazo_confd/plugins/meeting/schema.py) loads it, but MeetingUserRequest in api.yml leaves it out.
    {"post", "/users/me/meetings", "body", "require_authorization",
     "accepted by wazo-confd's MeetingSchema, missing from MeetingUserRequest"},
    {"put", "/users/me/meetings/{meeting_uuid}", "body", "require_authorization",
     "accepted by wazo-confd's MeetingSchema, missing from MeetingUserRequest"},
};

const SpecIndex* confd_spec(std::string& error) {
  static std::string load_error;
  static const std::optional<SpecIndex> spec =
      SpecIndex::load(specs_dir() / "wazo-confd.json", load_error, kAllowances);
  error = load_error;
  return spec ? &*spec : nullptr;
}

constexpr auto kWait = std::chrono::seconds(10);

template <class T>
bool settle(Async<T> call) {
  return call.get_for(kWait).has_value();
}

struct Row {
  std::string name;
  std::function<bool(ConfdApi&)> call;  // true once the call has settled
  std::size_t requests = 1;             // how many requests the call makes against generic_body()
};

const std::string kUser = "6f1c1f5e-0000-4000-8000-000000000001";
const std::string kOther = "6f1c1f5e-0000-4000-8000-000000000002";
const std::string kMeeting = "6f1c1f5e-0000-4000-8000-0000000000aa";

ConfdUser sample_profile() {
  ConfdUser u;
  u.firstname = "Alice";
  u.lastname = "Anderson";
  u.email = "alice@example.com";
  u.mobile_phone_number = "+15555550100";
  return u;
}

const std::vector<Row>& rows() {
  static const std::vector<Row> table = {
      // Users, forwards, services.
      {"list_users", [](ConfdApi& c) { return settle(c.list_users()); }},
      {"get_user", [](ConfdApi& c) { return settle(c.get_user(kUser)); }},
      {"update_user", [](ConfdApi& c) { return settle(c.update_user(kUser, sample_profile())); }},
      {"update_forward_option",
       [](ConfdApi& c) { return settle(c.update_forward_option(kUser, ForwardName::noanswer, "1234", true)); }},
      {"update_forward_options",
       [](ConfdApi& c) {
         return settle(c.update_forward_options(kUser, {.busy = Forward{true, "1001"},
                                                        .noanswer = Forward{false, ""},
                                                        .unconditional = Forward{true, "+15555550100"}}));
       }},
      {"update_do_not_disturb", [](ConfdApi& c) { return settle(c.update_do_not_disturb(kUser, true)); }},
      // SIP lines.
      {"get_user_line_sip", [](ConfdApi& c) { return settle(c.get_user_line_sip(kUser, 7)); }},
      {"get_user_lines_sip",
       [](ConfdApi& c) {
         return settle(c.get_user_lines_sip(kUser, {7, 8}));
       },
       2},
      {"get_user_line_sip_from_token", [](ConfdApi& c) { return settle(c.get_user_line_sip_from_token(kUser)); },
       2},  // GET the user (one SIP line in generic_body), then its line
      // Engine.
      {"list_applications", [](ConfdApi& c) { return settle(c.list_applications()); }},
      {"get_infos", [](ConfdApi& c) { return settle(c.get_infos()); }},
      // External apps.
      {"get_external_apps", [](ConfdApi& c) { return settle(c.get_external_apps(kUser)); }},
      {"get_external_app", [](ConfdApi& c) { return settle(c.get_external_app(kUser, "crm")); }},
      // Meetings.
      {"get_my_meetings", [](ConfdApi& c) { return settle(c.get_my_meetings()); }},
      {"create_my_meeting",
       [](ConfdApi& c) {
         return settle(c.create_my_meeting({.name = "Standup", .persistent = true, .require_authorization = true}));
       }},
      {"update_my_meeting",
       [](ConfdApi& c) {
         return settle(c.update_my_meeting(kMeeting, {.name = "Retro",
                                                      .persistent = false,
                                                      .require_authorization = false,
                                                      .owner_uuids = std::vector<std::string>{kUser}}));
       }},
      {"delete_my_meeting", [](ConfdApi& c) { return settle(c.delete_my_meeting(kMeeting)); }},
      {"get_meeting", [](ConfdApi& c) { return settle(c.get_meeting(kMeeting)); }},
      {"meeting_authorizations", [](ConfdApi& c) { return settle(c.meeting_authorizations(kMeeting)); }},
      {"meeting_authorization_reject",
       [](ConfdApi& c) { return settle(c.meeting_authorization_reject(kMeeting, kOther)); }},
      {"meeting_authorization_accept",
       [](ConfdApi& c) { return settle(c.meeting_authorization_accept(kMeeting, kOther)); }},
      {"guest_get_meeting", [](ConfdApi& c) { return settle(c.guest_get_meeting(kMeeting)); }},
      {"guest_authorization_request",
       [](ConfdApi& c) { return settle(c.guest_authorization_request(kOther, kMeeting, "Guest")); }},
      {"guest_authorization_check",
       [](ConfdApi& c) { return settle(c.guest_authorization_check(kOther, kMeeting, kUser)); }},
      // Caller ids and blocklist.
      {"get_outgoing_caller_ids", [](ConfdApi& c) { return settle(c.get_outgoing_caller_ids(kUser)); }},
      {"get_block_numbers",
       [](ConfdApi& c) {
         return settle(c.get_block_numbers({.number = "+1555",
                                            .label = "spam",
                                            .search = "x",
                                            .order = "label",
                                            .direction = "asc",
                                            .limit = 10,
                                            .offset = 0}));
       }},
      {"get_block_number", [](ConfdApi& c) { return settle(c.get_block_number(kOther)); }},
      {"create_block_number",
       [](ConfdApi& c) { return settle(c.create_block_number({.number = "+15555550199", .label = "Spam"})); }},
      {"update_block_number",
       [](ConfdApi& c) { return settle(c.update_block_number(kOther, {.number = "+15555550199", .label = "Ok"})); }},
      {"delete_block_number", [](ConfdApi& c) { return settle(c.delete_block_number(kOther)); }},
  };
  return table;
}

// A body every parser accepts: a user with one SIP line, a list, a meeting, an infos object.
std::string generic_body() {
  return R"({"items":[],"total":0,"filtered":0,"uuid":"u","id":1,"firstname":"A","name":"n",)"
         R"("lines":[{"id":7,"name":"l7","endpoint_sip":{"uuid":"e7"}}],"wazo_version":"25.01"})";
}

std::vector<std::string> declared_methods() {
  return declared_async_methods(std::filesystem::path(__FILE__).parent_path() / ".." / ".." / "include" / "wazo" /
                                "rest" / "confd.hpp");
}

class ConfdContract : public ::testing::Test {
 protected:
  void SetUp() override {
    server.set_handler([](const RecordedRequest&) { return Reply{.body = generic_body()}; });
  }

  void require_spec() {
    std::string error;
    spec = confd_spec(error);
    if (spec != nullptr) return;
    if (on_ci()) FAIL() << "wazo-confd spec unavailable on CI (CI=true): " << error;
    GTEST_SKIP() << "wazo-confd spec unavailable (set WAZO_API_SPECS to the wazo-api folder): " << error;
  }

  std::vector<RecordedRequest> run(const Row& row) {
    server.clear();
    ConfdApi api = client.confd();
    EXPECT_TRUE(row.call(api)) << row.name << " did not settle within " << kWait.count() << " s";
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

TEST_F(ConfdContract, TableCoversEveryMethodOnce) {
  const auto& table = rows();
  EXPECT_EQ(table.size(), 30U);
  std::set<std::string> names;
  for (const auto& row : table) EXPECT_TRUE(names.insert(row.name).second) << "duplicate row " << row.name;

  const auto declared = declared_methods();
  ASSERT_FALSE(declared.empty()) << "cannot read include/wazo/rest/confd.hpp";
  const std::set<std::string> in_header(declared.begin(), declared.end());
  EXPECT_EQ(in_header.size(), declared.size()) << "a ConfdApi method is overloaded; give each overload a row";
  for (const auto& name : in_header) EXPECT_TRUE(names.count(name) != 0) << "ConfdApi::" << name << " has no row";
  for (const auto& name : names) EXPECT_TRUE(in_header.count(name) != 0) << name << " is not a ConfdApi method";

  for (const auto& row : table) {
    const auto requests = run(row);
    EXPECT_EQ(requests.size(), row.requests) << row.name << " sent " << requests.size() << " requests";
  }
}

TEST_F(ConfdContract, EveryRequestIsInTheSpec) {
  require_spec();
  if (spec == nullptr) return;
  ASSERT_EQ(spec->base_path(), "/api/confd/1.1");
  std::set<std::string> operations;
  for (const auto& row : rows()) {
    SCOPED_TRACE(row.name);
    const auto requests = run(row);
    ASSERT_FALSE(requests.empty()) << row.name << " sent no request";
    for (const auto& request : requests) {
      for (const auto& problem : spec->check(request)) ADD_FAILURE() << "ConfdApi::" << row.name << ": " << problem;
      operations.insert(spec->operation_key(request));
    }
  }
  // 30 methods on 28 operations: the three SIP-line methods share GET …/associated/endpoints/sip.
  operations.erase("");
  EXPECT_EQ(operations.size(), 28U);
}

TEST_F(ConfdContract, SpecCatchesWhatTheClientMustNotSend) {
  require_spec();
  if (spec == nullptr) return;
  using test::make_recorded;
  using test::mentions;
  // A forward name outside the enum, a non-integer line id, a service body without `enabled`, a user without
  // firstname, a blocklist number without number, a body on a body-less PUT.
  EXPECT_TRUE(mentions(spec->check(make_recorded("PUT", "/api/confd/1.1/users/u/forwards/always", R"({})")),
                       "path parameter 'forward_name'"));
  EXPECT_TRUE(mentions(
      spec->check(make_recorded("GET", "/api/confd/1.1/users/u/lines/abc/associated/endpoints/sip?view=merged")),
      "path parameter 'line_id' is 'abc' but the spec says integer"));
  EXPECT_TRUE(mentions(spec->check(make_recorded("PUT", "/api/confd/1.1/users/u/services/dnd", R"({})")),
                       "'enabled' is missing"));
  EXPECT_TRUE(mentions(spec->check(make_recorded("PUT", "/api/confd/1.1/users/u", R"({"lastname":"x"})")),
                       "'firstname' is missing"));
  EXPECT_TRUE(mentions(spec->check(make_recorded("POST", "/api/confd/1.1/users/me/blocklist/numbers", R"({})")),
                       "'number' is missing"));
  EXPECT_TRUE(
      mentions(spec->check(make_recorded("PUT", "/api/confd/1.1/users/me/meetings/m/authorizations/a/accept", R"({})")),
               "declares none"));
  EXPECT_TRUE(mentions(spec->check(make_recorded("GET",
                                                 "/api/confd/1.1/users/u/lines/1/associated/endpoints/sip?"
                                                 "view=full")),
                       "not one of"));
  // A "path" allowance maps the served path to the spec's, for that method only.
  EXPECT_TRUE(spec->check(make_recorded("GET", "/api/confd/1.1/users/me/meetings/m/authorizations")).empty());
  EXPECT_TRUE(
      mentions(spec->check(make_recorded("POST", "/api/confd/1.1/users/me/meetings/m/authorizations")), "no path"));
  // A body allowance covers one field of one operation only.
  EXPECT_TRUE(mentions(spec->check(make_recorded("POST", "/api/confd/1.1/meetings",
                                                 R"({"name":"x","require_authorization":true,"bogus":1})")),
                       "'bogus'"));
}

TEST_F(ConfdContract, AllowlistEntriesAreStillNeeded) {
  require_spec();
  if (spec == nullptr) return;
  for (const auto& a : kAllowances) {
    const auto declared = spec->declares(a.method, a.path_template, a.kind, std::string(a.name));
    ASSERT_TRUE(declared.has_value()) << a.method << " " << a.path_template << " is not in the spec";
    EXPECT_FALSE(*declared) << "the spec now declares " << a.kind << " '" << a.name << "' on " << a.method << " "
                            << a.path_template << ": remove the allowance (" << a.why << ")";
  }
}

// --- the client's own logic ---------------------------------------------------------------------------------------

std::string sip_body(int line) {
  using nlohmann::json;
  json j = {{"uuid", "endpoint-" + std::to_string(line)}, {"name", "line" + std::to_string(line)}};
  j["auth_section_options"] =
      json::array({json::array({"username", "user" + std::to_string(line)}), json::array({"password", "pw"})});
  j["endpoint_section_options"] = json::array({json::array({"webrtc", "yes"})});
  return j.dump();
}

// Answers GET …/lines/{id}/associated/endpoints/sip with a SIP endpoint, except for the ids in `missing` (404).
RecordingServer::Handler sip_handler(std::set<std::string> missing, std::string user_body = {}) {
  return [missing = std::move(missing), user_body = std::move(user_body)](const RecordedRequest& r) {
    const std::string marker = "/lines/";
    const auto at = r.path.find(marker);
    if (at == std::string::npos) return Reply{.body = user_body};
    const std::string id = r.path.substr(at + marker.size(), r.path.find('/', at + marker.size()) - at - marker.size());
    if (missing.count(id) != 0)
      return Reply{.status = 404, .body = R"({"message":"Resource Not Found","error_id":"not-found"})"};
    return Reply{.body = sip_body(std::stoi(id))};
  };
}

TEST_F(ConfdContract, OneMissingLineIsNulloptNotAFailure) {
  server.set_handler(sip_handler({"8"}));
  auto lines = client.confd().get_user_lines_sip(kUser, {7, 8, 9}).get();
  ASSERT_TRUE(lines) << lines.error();
  ASSERT_EQ(lines->size(), 3U);
  ASSERT_TRUE((*lines)[0].has_value());
  EXPECT_EQ((*lines)[0]->username, "user7");
  EXPECT_FALSE((*lines)[1].has_value());
  ASSERT_TRUE((*lines)[2].has_value());
  EXPECT_EQ((*lines)[2]->username, "user9");
  for (const auto& r : server.requests()) EXPECT_EQ(r.query, "view=merged");
  EXPECT_EQ(server.count(), 3U);

  // No line ids: no request, an empty answer. Every line missing: all nullopt, still a success.
  server.clear();
  auto none = client.confd().get_user_lines_sip(kUser, {}).get();
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(server.count(), 0U);
  server.set_handler(sip_handler({"1", "2"}));
  auto missing = client.confd().get_user_lines_sip(kUser, {1, 2}).get();
  ASSERT_TRUE(missing);
  ASSERT_EQ(missing->size(), 2U);
  EXPECT_FALSE((*missing)[0].has_value());
  EXPECT_FALSE((*missing)[1].has_value());
}

TEST_F(ConfdContract, SipLinesFromTokenFetchTheUserThenEachSipLine) {
  const std::string user = R"({"uuid":"u","lines":[
    {"id": 1, "name": "a", "endpoint_sip": {"uuid": "e1"}},
    {"id": 2, "name": "b", "endpoint_sccp": {"id": 2}},
    {"id": 3, "name": "c", "endpoint_sip": {"uuid": "e3"}},
    {"id": 4, "name": "d"}]})";
  server.set_handler(sip_handler({"3"}, user));
  auto lines = client.confd().get_user_line_sip_from_token(kUser).get();
  ASSERT_TRUE(lines) << lines.error();
  ASSERT_EQ(lines->size(), 4U);
  ASSERT_TRUE((*lines)[0].has_value());
  EXPECT_EQ((*lines)[0]->username, "user1");
  EXPECT_FALSE((*lines)[1].has_value());  // SCCP: not asked
  EXPECT_FALSE((*lines)[2].has_value());  // 404
  ASSERT_TRUE((*lines)[3].has_value());   // endpoint unknown: asked
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 4U);  // the user, then lines 1, 3 and 4
  EXPECT_EQ(requests[0].path, "/api/confd/1.1/users/" + kUser);
  std::set<std::string> asked;
  for (std::size_t i = 1; i < requests.size(); ++i) asked.insert(requests[i].path);
  EXPECT_EQ(asked.count("/api/confd/1.1/users/" + kUser + "/lines/2/associated/endpoints/sip"), 0U);

  // When get_user fails, the call fails.
  server.set_handler([](const RecordedRequest&) { return Reply{.status = 404, .body = R"({"message":"no"})"}; });
  auto failed = client.confd().get_user_line_sip_from_token(kUser).get();
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().status, 404);
}

TEST_F(ConfdContract, CancellingTheCombinedCallSettlesItAtOnce) {
  server.set_handler([](const RecordedRequest&) { return Reply{.hang = true}; });
  auto lines = client.confd().get_user_lines_sip(kUser, {1, 2, 3});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (server.count() < 3 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  lines.cancel();
  auto r = lines.get_for(std::chrono::seconds(5));
  ASSERT_TRUE(r.has_value());
  ASSERT_FALSE(*r);
  EXPECT_EQ(r->error().category, ErrorCategory::cancelled);
}

TEST_F(ConfdContract, ExternalAppNotFoundIsNullopt) {
  server.set_handler([](const RecordedRequest& r) {
    if (r.path.ends_with("/crm"))
      return Reply{.body = R"({"name":"crm","label":"CRM","configuration":{"url":"https://crm"}})"};
    if (r.path.ends_with("/gone")) return Reply{.status = 404, .body = R"({"message":"not found"})"};
    return Reply{.status = 500, .body = R"({"message":"boom"})"};
  });
  auto crm = client.confd().get_external_app(kUser, "crm").get();
  ASSERT_TRUE(crm);
  ASSERT_TRUE(crm->has_value());
  EXPECT_EQ((*crm)->label, "CRM");
  EXPECT_EQ((*crm)->configuration["url"], "https://crm");
  auto gone = client.confd().get_external_app(kUser, "gone").get();
  ASSERT_TRUE(gone);
  EXPECT_FALSE(gone->has_value());
  auto broken = client.confd().get_external_app(kUser, "broken").get();
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.error().status, 500);
  EXPECT_EQ(server.requests()[0].query, "view=fallback");
}

TEST_F(ConfdContract, BodiesAndQueriesCrossTheSocket) {
  auto c = client.confd();
  ASSERT_TRUE(c.update_user(kUser, ConfdUser{.firstname = "Bob"}).get());
  ASSERT_TRUE(c.update_forward_options(kUser, {.busy = Forward{true, "1001"}}).get());
  ASSERT_TRUE(c.get_block_numbers().get());
  ASSERT_TRUE(c.get_block_numbers({.limit = 0}).get());
  ASSERT_TRUE(c.update_my_meeting(kMeeting, {.name = "x"}).get());
  ASSERT_TRUE(c.meeting_authorization_accept(kMeeting, kOther).get());
  const auto r = server.requests();
  ASSERT_EQ(r.size(), 6U);
  EXPECT_EQ(nlohmann::json::parse(r[0].body),
            nlohmann::json::parse(R"({"firstname":"Bob","lastname":"","email":null,"mobile_phone_number":""})"));
  EXPECT_EQ(nlohmann::json::parse(r[1].body),
            nlohmann::json::parse(R"({"busy":{"enabled":true,"destination":"1001"}})"));
  EXPECT_EQ(r[2].query, "");
  EXPECT_EQ(r[3].query, "limit=0");
  EXPECT_EQ(nlohmann::json::parse(r[4].body), nlohmann::json::parse(R"({"name":"x"})"));
  EXPECT_EQ(r[5].body, "");
  EXPECT_EQ(r[5].path, "/api/confd/1.1/users/me/meetings/" + kMeeting + "/authorizations/" + kOther + "/accept");
}

TEST(ConfdModels, UserFromASpecShapedBody) {
  const auto j = nlohmann::json::parse(R"({
    "id": 12, "uuid": "a11ce", "tenant_uuid": "t", "firstname": "Alice", "lastname": "Anderson",
    "email": "alice@wazo.local", "username": "alice", "mobile_phone_number": "+15555550100",
    "subscription_type": 2, "ring_seconds": 30, "online_call_record_enabled": true,
    "lines": [{"id": 1, "name": "abcd", "endpoint_sip": {"uuid": "e1", "name": "abcd", "label": "Alice",
               "auth_section_options": [["username", "abcd"]]},
               "endpoint_sccp": null, "endpoint_custom": null,
               "extensions": [{"id": 5, "exten": "1001", "context": "default"}]},
              {"id": 2, "name": "sccp", "endpoint_sccp": {"id": 9}, "extensions": []}],
    "forwards": {"busy": {"enabled": true, "destination": "1002"},
                 "noanswer": {"enabled": false, "destination": null},
                 "unconditional": {"enabled": true, "destination": "+15555550100"}},
    "services": {"dnd": {"enabled": true}, "incallfilter": {"enabled": false}},
    "voicemail": {"id": 3, "name": "Alice VM"},
    "switchboards": [{"uuid": "sb", "name": "Reception"}],
    "agent": {"id": 4, "number": "1004", "firstname": "Alice", "lastname": "Anderson"}})");
  auto u = confd_user_from_json(j);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->id, 12);
  EXPECT_EQ(u->uuid, "a11ce");
  EXPECT_EQ(u->firstname, "Alice");
  EXPECT_EQ(u->lastname, "Anderson");
  EXPECT_EQ(u->email, "alice@wazo.local");
  EXPECT_EQ(u->username, "alice");
  EXPECT_EQ(u->mobile_phone_number, "+15555550100");
  EXPECT_EQ(u->subscription_type, 2);
  EXPECT_EQ(u->ring_seconds, 30);
  EXPECT_TRUE(u->online_call_record_enabled);
  ASSERT_EQ(u->lines.size(), 2U);
  EXPECT_EQ(u->lines[0].endpoint, "sip");
  EXPECT_EQ(u->lines[0].endpoint_sip["uuid"], "e1");
  ASSERT_EQ(u->lines[0].extensions.size(), 1U);
  EXPECT_EQ(u->lines[0].extensions[0].exten, "1001");
  EXPECT_EQ(u->lines[0].extensions[0].context, "default");
  EXPECT_EQ(u->lines[1].endpoint, "sccp");
  EXPECT_TRUE(u->forwards.busy.enabled);
  EXPECT_EQ(u->forwards.busy.destination, "1002");
  EXPECT_FALSE(u->forwards.noanswer.enabled);
  EXPECT_EQ(u->forwards.noanswer.destination, "");
  EXPECT_EQ(u->forwards.unconditional.destination, "+15555550100");
  EXPECT_TRUE(u->services.dnd);
  EXPECT_FALSE(u->services.incallfilter);
  ASSERT_TRUE(u->voicemail.has_value());
  EXPECT_EQ(u->voicemail->name, "Alice VM");
  ASSERT_EQ(u->switchboards.size(), 1U);
  EXPECT_EQ(u->switchboards[0].name, "Reception");
  EXPECT_EQ(u->agent["number"], "1004");
  EXPECT_EQ(u->raw, j);

  auto sparse = confd_user_from_json(nlohmann::json::parse(R"({"uuid":"x","forwards":null,"services":{"dnd":1}})"));
  ASSERT_TRUE(sparse);
  EXPECT_FALSE(sparse->services.dnd);
  EXPECT_FALSE(sparse->voicemail.has_value());
  EXPECT_FALSE(confd_user_from_json("text"));
}

TEST(ConfdModels, SipLineFromTheMergedView) {
  const auto j = nlohmann::json::parse(R"({
    "uuid": "e1", "tenant_uuid": "t", "name": "abcd", "label": "Alice",
    "aor_section_options": [["max_contacts", "10"]],
    "auth_section_options": [["username", "abcd"], ["password", "s3cret"]],
    "endpoint_section_options": [["webrtc", "yes"], ["allow", "!all,opus,ulaw,vp8"], ["media_address", "10.0.0.1"],
                                 ["max_audio_streams", "1"], ["max_video_streams", "25"]],
    "templates": [{"uuid": "tpl"}], "line": {"id": 1}, "trunk": null})");
  auto s = sip_line_from_json(j);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->uuid, "e1");
  EXPECT_EQ(s->name, "abcd");
  EXPECT_EQ(s->label, "Alice");
  EXPECT_EQ(s->username, "abcd");
  EXPECT_EQ(s->secret, "s3cret");
  EXPECT_EQ(s->host, "10.0.0.1");
  EXPECT_EQ(s->aor_section_options.size(), 1U);
  EXPECT_EQ(s->line["id"], 1);
  EXPECT_TRUE(s->is_webrtc());
  EXPECT_TRUE(s->has_video());
  EXPECT_TRUE(s->has_video_conference());
  EXPECT_EQ(s->endpoint_option("allow"), "!all,opus,ulaw,vp8");

  // An older engine: top-level username/secret/host, no section options.
  auto old = sip_line_from_json(nlohmann::json::parse(R"({"id": 4, "username": "u", "secret": "p", "host": "h"})"));
  ASSERT_TRUE(old);
  EXPECT_EQ(old->id, 4);
  EXPECT_EQ(old->username, "u");
  EXPECT_EQ(old->secret, "p");
  EXPECT_FALSE(old->is_webrtc());
  EXPECT_FALSE(old->has_video());
  EXPECT_FALSE(old->has_video_conference());
}

TEST(ConfdModels, MeetingsBlocklistCallerIdsAppsInfos) {
  auto m = meeting_from_json(nlohmann::json::parse(R"({
    "uuid": "m", "name": "Standup", "owner_uuids": ["a", "b"], "ingress_http_uri": "https://wazo.example.com",
    "guest_sip_authorization": "Z3Vlc3Q6c2VjcmV0", "persistent": true, "creation_time": "2024-05-01T10:00:00",
    "exten": "*8", "require_authorization": true, "port": 443})"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->owner_uuids, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(m->uri, "https://wazo.example.com");
  EXPECT_EQ(m->port, "443");
  EXPECT_TRUE(m->persistent);
  EXPECT_TRUE(m->require_authorization);
  ASSERT_TRUE(m->guest_sip_credentials().has_value());
  EXPECT_EQ(m->guest_sip_credentials()->first, "guest");
  EXPECT_EQ(m->guest_sip_credentials()->second, "secret");
  EXPECT_FALSE(Meeting{}.guest_sip_credentials().has_value());

  auto a = meeting_authorization_from_json(nlohmann::json::parse(
      R"({"uuid":"a","meeting_uuid":"m","guest_uuid":"g","guest_name":"Guest","status":"pending"})"));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->guest_name, "Guest");
  EXPECT_EQ(a->status, "pending");

  auto b = block_number_from_json(nlohmann::json::parse(R"({"uuid":"b","number":"+1555","label":"Spam"})"));
  ASSERT_TRUE(b);
  EXPECT_EQ(b->number, "+1555");
  auto c = caller_id_from_json(nlohmann::json::parse(R"({"number":"+1555","type":"main","caller_id_name":"Acme"})"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->type, "main");
  auto app = application_from_json(nlohmann::json::parse(
      R"({"uuid":"ap","name":"IVR","destination":"node","destination_options":{"type":"holding"}})"));
  ASSERT_TRUE(app);
  EXPECT_EQ(app->destination_options["type"], "holding");
  auto infos = infos_from_json(nlohmann::json::parse(R"({"uuid":"w","wazo_version":"25.01"})"));
  ASSERT_TRUE(infos);
  EXPECT_EQ(infos->wazo_version, "25.01");
}

TEST_F(ConfdContract, ListsAreParsedFromTheResponses) {
  server.set_handler([](const RecordedRequest& r) {
    if (r.path.ends_with("/callerids/outgoing"))
      return Reply{.body = R"({"items":[{"number":"1","type":"main"},{"type":"anonymous"}],"total":2})"};
    if (r.path.ends_with("/blocklist/numbers"))
      return Reply{.body = R"({"items":[{"uuid":"b","number":"+1"}],"total":5})"};
    if (r.path.ends_with("/meetings")) return Reply{.body = R"({"items":[{"uuid":"m1"},{"uuid":"m2"}],"total":2})"};
    return Reply{.body = R"({"items":[{"uuid":"u1","firstname":"A"}],"total":1,"filtered":1})"};
  });
  auto c = client.confd();
  auto ids = c.get_outgoing_caller_ids(kUser).get();
  ASSERT_TRUE(ids);
  EXPECT_EQ(ids->size(), 2U);
  auto numbers = c.get_block_numbers().get();
  ASSERT_TRUE(numbers);
  EXPECT_EQ(numbers->total, 5);
  EXPECT_EQ(numbers->items[0].number, "+1");
  auto meetings = c.get_my_meetings().get();
  ASSERT_TRUE(meetings);
  EXPECT_EQ(meetings->size(), 2U);
  auto users = c.list_users().get();
  ASSERT_TRUE(users);
  EXPECT_EQ(users->items[0].firstname, "A");
}

}  // namespace
}  // namespace wazo::rest
