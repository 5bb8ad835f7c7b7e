// Contract test: every request the wazo-chatd client (ChatdApi, 12 methods) sends must exist in the official
// wazo-chatd spec (../shared/wazo-api/wazo-chatd.json): path and method, path and query parameters, Wazo-* headers
// and the top-level fields of the JSON body, checked with the shared SpecIndex (tests/support/spec_contract.hpp) on
// what a real ApiClient sent to a loopback RecordingServer. Then the client's own logic: presences in chunks of
// 30, the messages query, and the parsing of spec-shaped bodies.
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
#include "wazo/rest/chatd.hpp"

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

// Documented differences between what wazo-chatd accepts and what its spec declares: none so far.
const std::vector<SpecAllowance> kAllowances = {};

const SpecIndex* chatd_spec(std::string& error) {
  static std::string load_error;
  static const std::optional<SpecIndex> spec =
      SpecIndex::load(specs_dir() / "wazo-chatd.json", load_error, kAllowances);
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
  std::function<bool(ChatdApi&)> call;  // true once the call has settled
};

const std::string kUser = "6f1c1f5e-0000-4000-8000-000000000001";
const std::string kOther = "6f1c1f5e-0000-4000-8000-000000000002";
const std::string kRoom = "6f1c1f5e-0000-4000-8000-0000000000aa";

const std::vector<Row>& rows() {
  static const std::vector<Row> table = {
      // Presences.
      {"update_state", [](ChatdApi& c) { return settle(c.update_state(kUser, "away")); }},
      {"update_status", [](ChatdApi& c) { return settle(c.update_status(kUser, "available", "In a meeting")); }},
      {"get_state", [](ChatdApi& c) { return settle(c.get_state(kUser)); }},
      {"get_contact_status_info", [](ChatdApi& c) { return settle(c.get_contact_status_info(kUser)); }},
      {"get_line_state", [](ChatdApi& c) { return settle(c.get_line_state(kUser)); }},
      {"get_multiple_line_state",
       [](ChatdApi& c) {
         return settle(c.get_multiple_line_state({kUser, kOther}));
       }},
      // Rooms and messages.
      {"get_user_rooms", [](ChatdApi& c) { return settle(c.get_user_rooms()); }},
      {"create_room",
       [](ChatdApi& c) {
         return settle(c.create_room("Team", {{.uuid = kUser},
                                              {.uuid = kOther, .tenant_uuid = "t-1", .wazo_uuid = "w-1"},
                                              {.uuid = "external", .identity = "+15555550100"}}));
       }},
      {"get_room_messages",
       [](ChatdApi& c) {
         return settle(c.get_room_messages(kRoom, {.limit = 20,
                                                   .offset = 0,
                                                   .direction = "desc",
                                                   .order = "created_at",
                                                   .search = "hello",
                                                   .from_date = "2024-01-01T00:00:00+00:00"}));
       }},
      {"send_room_message",
       [](ChatdApi& c) { return settle(c.send_room_message(kRoom, {.content = "hi", .alias = "Alice"}, kOther)); }},
      {"get_messages",
       [](ChatdApi& c) {
         return settle(c.get_messages({.limit = 10,
                                       .offset = 5,
                                       .direction = "asc",
                                       .order = "created_at",
                                       .search = "x",
                                       .distinct = "room_uuid"}));
       }},
      {"get_identities", [](ChatdApi& c) { return settle(c.get_identities(kRoom)); }},
  };
  return table;
}

// A body every parser accepts: a presence, a room, a message and a list at once.
std::string generic_body() {
  return R"({"items":[],"total":0,"filtered":0,"uuid":"u","state":"available","lines":[],"users":[],)"
         R"("content":"c","name":"n"})";
}

std::vector<std::string> declared_methods() {
  return declared_async_methods(std::filesystem::path(__FILE__).parent_path() / ".." / ".." / "include" / "wazo" /
                                "rest" / "chatd.hpp");
}

class ChatdContract : public ::testing::Test {
 protected:
  void SetUp() override {
    server.set_handler([](const RecordedRequest&) { return Reply{.body = generic_body()}; });
  }

  void require_spec() {
    std::string error;
    spec = chatd_spec(error);
    if (spec != nullptr) return;
    if (on_ci()) FAIL() << "wazo-chatd spec unavailable on CI (CI=true): " << error;
    GTEST_SKIP() << "wazo-chatd spec unavailable (set WAZO_API_SPECS to the wazo-api folder): " << error;
  }

  std::vector<RecordedRequest> run(const Row& row) {
    server.clear();
    ChatdApi api = client.chatd();
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

TEST_F(ChatdContract, TableCoversEveryMethodOnceAndEachRowSendsOneRequest) {
  const auto& table = rows();
  EXPECT_EQ(table.size(), 12U);
  std::set<std::string> names;
  for (const auto& row : table) EXPECT_TRUE(names.insert(row.name).second) << "duplicate row " << row.name;

  const auto declared = declared_methods();
  ASSERT_FALSE(declared.empty()) << "cannot read include/wazo/rest/chatd.hpp";
  const std::set<std::string> in_header(declared.begin(), declared.end());
  EXPECT_EQ(in_header.size(), declared.size()) << "a ChatdApi method is overloaded; give each overload a row";
  for (const auto& name : in_header) EXPECT_TRUE(names.count(name) != 0) << "ChatdApi::" << name << " has no row";
  for (const auto& name : names) EXPECT_TRUE(in_header.count(name) != 0) << name << " is not a ChatdApi method";

  for (const auto& row : table) {
    const auto requests = run(row);
    EXPECT_EQ(requests.size(), 1U) << row.name << " sent " << requests.size() << " requests";
  }
}

TEST_F(ChatdContract, EveryRequestIsInTheSpec) {
  require_spec();
  if (spec == nullptr) return;
  ASSERT_EQ(spec->base_path(), "/api/chatd/1.0");
  std::set<std::string> operations;
  for (const auto& row : rows()) {
    SCOPED_TRACE(row.name);
    const auto requests = run(row);
    ASSERT_FALSE(requests.empty()) << row.name << " sent no request";
    for (const auto& request : requests) {
      for (const auto& problem : spec->check(request)) ADD_FAILURE() << "ChatdApi::" << row.name << ": " << problem;
      operations.insert(spec->operation_key(request));
    }
  }
  // 12 methods on 9 operations: update_state/update_status share PUT …/presences, and get_state,
  // get_contact_status_info and get_line_state share GET …/presences.
  operations.erase("");
  EXPECT_EQ(operations.size(), 9U);
}

TEST_F(ChatdContract, SpecCatchesWhatTheClientMustNotSend) {
  require_spec();
  if (spec == nullptr) return;
  using test::make_recorded;
  using test::mentions;
  // A presence state outside the enum, a message without content, a room user without uuid, an unknown filter.
  EXPECT_TRUE(mentions(spec->check(make_recorded("PUT", "/api/chatd/1.0/users/u/presences", R"({"state":"busy"})")),
                       "not one of"));
  EXPECT_TRUE(
      mentions(spec->check(make_recorded("POST", "/api/chatd/1.0/users/me/rooms/r/messages", R"({"alias":"a"})")),
               "'content' is missing"));
  EXPECT_TRUE(mentions(spec->check(make_recorded("GET", "/api/chatd/1.0/users/me/rooms/messages?distinct=user")),
                       "not one of"));
  EXPECT_TRUE(mentions(spec->check(make_recorded("GET", "/api/chatd/1.0/users/me/rooms/r/messages?distinct=room_uuid")),
                       "'distinct'"));
  EXPECT_TRUE(mentions(
      spec->check(make_recorded("POST", "/api/chatd/1.0/users/me/rooms", R"({"name":"x","kind":"y"})")), "'kind'"));
  // Literal segments win: /users/me/rooms/messages is not /users/me/rooms/{room_uuid}/messages.
  EXPECT_EQ(spec->find("GET", "/users/me/rooms/messages").path_template, "/users/me/rooms/messages");
}

// --- the client's own logic ---------------------------------------------------------------------------------------

TEST_F(ChatdContract, MultipleLineStateIsFetchedInChunksOf30AndCombinedInOrder) {
  // Each chunk answers with one presence per uuid it was asked for, so the combined order can be checked.
  server.set_handler([](const RecordedRequest& r) {
    nlohmann::json items = nlohmann::json::array();
    const auto at = r.query.find("user_uuid=");
    std::string list = at == std::string::npos ? std::string() : r.query.substr(at + 10);
    list = list.substr(0, list.find('&'));
    std::size_t pos = 0;
    while (!list.empty() && pos <= list.size()) {
      std::size_t comma = list.find("%2C", pos);
      if (comma == std::string::npos) comma = list.size();
      items.push_back({{"uuid", list.substr(pos, comma - pos)}, {"state", "available"}});
      pos = comma + 3;
    }
    return Reply{.body = nlohmann::json{{"items", items}, {"total", items.size()}}.dump()};
  });
  std::vector<std::string> uuids;
  for (int i = 0; i < 61; ++i) uuids.push_back("user-" + std::to_string(i));
  auto all = client.chatd().get_multiple_line_state(uuids).get();
  ASSERT_TRUE(all) << all.error();
  ASSERT_EQ(all->size(), 61U);
  for (int i = 0; i < 61; ++i) EXPECT_EQ((*all)[static_cast<std::size_t>(i)].uuid, "user-" + std::to_string(i));

  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3U);  // 30 + 30 + 1
  std::multiset<std::size_t> sizes;
  for (const auto& r : requests) {
    EXPECT_EQ(r.path, "/api/chatd/1.0/users/presences");
    std::size_t commas = 0;
    for (std::size_t p = r.query.find("%2C"); p != std::string::npos; p = r.query.find("%2C", p + 1)) ++commas;
    sizes.insert(commas + 1);
  }
  EXPECT_EQ(sizes, (std::multiset<std::size_t>{1, 30, 30}));

  // Exactly 30: one request. None: one request without a filter (every presence the token may see).
  server.clear();
  uuids.resize(30);
  ASSERT_TRUE(client.chatd().get_multiple_line_state(uuids).get());
  EXPECT_EQ(server.count(), 1U);
  server.clear();
  auto none = client.chatd().get_multiple_line_state({}).get();
  ASSERT_TRUE(none);
  ASSERT_EQ(server.count(), 1U);
  EXPECT_EQ(server.requests()[0].query, "");
}

TEST_F(ChatdContract, AFailedChunkFailsTheWholeCall) {
  server.set_handler([](const RecordedRequest& r) {
    if (r.query.find("user-40") != std::string::npos)
      return Reply{.status = 503, .body = R"({"message":"down","error_id":"unavailable"})"};
    return Reply{.body = R"({"items":[],"total":0})"};
  });
  std::vector<std::string> uuids;
  for (int i = 0; i < 45; ++i) uuids.push_back("user-" + std::to_string(i));
  auto all = client.chatd().get_multiple_line_state(uuids).get();
  ASSERT_FALSE(all);
  EXPECT_EQ(all.error().status, 503);
}

TEST(ChatdQuery, OnlyTheSetOptionsAreSentAndZeroIsKept) {
  EXPECT_TRUE(messages_query({}).empty());
  const Query q = messages_query({.limit = 0, .offset = 0, .direction = "asc"});
  EXPECT_EQ(q, (Query{{"direction", "asc"}, {"limit", "0"}, {"offset", "0"}}));
  const Query all = messages_query({.limit = 5,
                                    .offset = 10,
                                    .direction = "desc",
                                    .order = "created_at",
                                    .search = "a b",
                                    .from_date = "2024-01-01",
                                    .distinct = "room_uuid"});
  EXPECT_EQ(all.size(), 7U);
  EXPECT_EQ(encode_query(all),
            "direction=desc&limit=5&order=created_at&offset=10&search=a%20b&from_date=2024-01-01&distinct=room_uuid");
}

TEST_F(ChatdContract, RoomMessagesQueryCrossesTheSocket) {
  server.set_handler([](const RecordedRequest&) { return Reply{.body = R"({"items":[],"total":0})"}; });
  ASSERT_TRUE(client.chatd().get_room_messages(kRoom).get());
  ASSERT_TRUE(client.chatd().get_room_messages(kRoom, {.limit = 3, .search = "hi there"}).get());
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2U);
  EXPECT_EQ(requests[0].target, "/api/chatd/1.0/users/me/rooms/" + kRoom + "/messages");
  EXPECT_EQ(requests[1].query, "limit=3&search=hi%20there");
}

TEST(ChatdModels, PresenceFromASpecShapedBody) {
  const auto j = nlohmann::json::parse(R"({
    "uuid": "a11ce000-0000-4000-8000-000000000001", "tenant_uuid": "t", "state": "away", "status": "lunch",
    "do_not_disturb": true, "last_activity": "2024-05-01T10:00:00+00:00", "line_state": "ringing",
    "mobile": true, "connected": true,
    "lines": [{"id": 1, "state": "available"}, {"id": 2, "state": "ringing"}]})");
  auto p = presence_from_json(j);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->uuid, "a11ce000-0000-4000-8000-000000000001");
  EXPECT_EQ(p->tenant_uuid, "t");
  EXPECT_EQ(p->state, "away");
  EXPECT_EQ(p->status, "lunch");
  EXPECT_TRUE(p->do_not_disturb);
  EXPECT_TRUE(p->mobile);
  EXPECT_TRUE(p->connected);
  EXPECT_EQ(p->last_activity, "2024-05-01T10:00:00+00:00");
  EXPECT_EQ(p->line_state, "ringing");
  ASSERT_EQ(p->lines.size(), 2U);
  EXPECT_EQ(p->lines[1].id, 2);
  EXPECT_EQ(p->raw, j);

  // Tolerant: missing and mistyped fields keep their defaults; only a non-object is an error.
  auto sparse = presence_from_json(nlohmann::json::parse(R"({"state": 3, "lines": "x", "last_activity": null})"));
  ASSERT_TRUE(sparse);
  EXPECT_EQ(sparse->state, "");
  EXPECT_TRUE(sparse->lines.empty());
  EXPECT_FALSE(presence_from_json(nlohmann::json::array()));
}

TEST(ChatdModels, LinesStateFollowsTheSeed) {
  EXPECT_EQ(lines_state({}), "unavailable");
  EXPECT_EQ(lines_state({{1, "unavailable"}, {2, "holding"}}), "unavailable");
  EXPECT_EQ(lines_state({{1, "holding"}, {2, "available"}}), "available");
  EXPECT_EQ(lines_state({{1, "available"}, {2, "talking"}, {3, "ringing"}}), "talking");
  EXPECT_EQ(lines_state({{1, "ringing"}, {2, "talking"}}), "ringing");
}

TEST(ChatdModels, RoomAndMessageFromSpecShapedBodies) {
  auto room = chat_room_from_json(nlohmann::json::parse(R"({
    "uuid": "r1", "name": "Team",
    "users": [{"uuid": "u1", "tenant_uuid": "t1", "wazo_uuid": "w1"}, {"uuid": "u2", "identity": "+1555"}, 4]})"));
  ASSERT_TRUE(room);
  EXPECT_EQ(room->uuid, "r1");
  EXPECT_EQ(room->name, "Team");
  ASSERT_EQ(room->users.size(), 2U);
  EXPECT_EQ(room->users[0].tenant_uuid, "t1");
  EXPECT_EQ(room->users[0].wazo_uuid, "w1");
  EXPECT_EQ(room->users[1].identity, "+1555");

  auto m = chat_message_from_json(nlohmann::json::parse(R"({
    "uuid": "m1", "content": "hello", "alias": "Alice", "user_uuid": "u1", "tenant_uuid": "t1", "wazo_uuid": "w1",
    "created_at": "2024-05-01T10:00:00+00:00", "room": {"uuid": "r1"},
    "delivery": {"type": "internal", "backend": null, "recipients": []}})"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->uuid, "m1");
  EXPECT_EQ(m->content, "hello");
  EXPECT_EQ(m->alias, "Alice");
  EXPECT_EQ(m->user_uuid, "u1");
  EXPECT_EQ(m->tenant_uuid, "t1");
  EXPECT_EQ(m->wazo_uuid, "w1");
  EXPECT_EQ(m->created_at, "2024-05-01T10:00:00+00:00");
  EXPECT_EQ(m->room_uuid, "r1");
  EXPECT_EQ(m->raw["delivery"]["type"], "internal");

  auto id = user_identity_from_json(nlohmann::json::parse(R"({"uuid":"i","backend":"twilio","type":"sms",
                                                             "identity":"+15555550100"})"));
  ASSERT_TRUE(id);
  EXPECT_EQ(id->backend, "twilio");
  EXPECT_EQ(id->identity, "+15555550100");
}

TEST_F(ChatdContract, ResultsAreParsedFromTheResponses) {
  server.set_handler([](const RecordedRequest& r) {
    if (r.path.find("/presences") != std::string::npos)
      return Reply{.body = R"({"uuid":"u","state":"away","lines":[{"id":1,"state":"talking"}]})"};
    if (r.method == "POST" && r.path.ends_with("/messages"))
      return Reply{.status = 201, .body = R"({"uuid":"m","content":"hi","room":{"uuid":"r"}})"};
    if (r.path.ends_with("/rooms/messages"))
      return Reply{.body = R"({"items":[{"uuid":"m1"},{"uuid":"m2"}],"total":9,"filtered":2})"};
    return Reply{.body = R"({"items":[{"uuid":"r","name":"n","users":[{"uuid":"u"}]}],"total":1})"};
  });
  auto c = client.chatd();
  EXPECT_EQ(c.get_state("u").get().value_or(""), "away");
  EXPECT_EQ(c.get_line_state("u").get().value_or(""), "talking");
  auto rooms = c.get_user_rooms().get();
  ASSERT_TRUE(rooms);
  ASSERT_EQ(rooms->size(), 1U);
  EXPECT_EQ((*rooms)[0].users[0].uuid, "u");
  auto sent = c.send_room_message("r", {.content = "hi"}).get();
  ASSERT_TRUE(sent);
  EXPECT_EQ(sent->room_uuid, "r");
  auto list = c.get_messages({.distinct = "room_uuid"}).get();
  ASSERT_TRUE(list);
  EXPECT_EQ(list->total, 9);
  EXPECT_EQ(list->filtered, 2);
  EXPECT_EQ(list->items.size(), 2U);
  EXPECT_TRUE(*c.update_state("u", "available").get());
}

}  // namespace
}  // namespace wazo::rest
