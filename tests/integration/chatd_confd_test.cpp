// The wazo-chatd and wazo-confd clients against a real wazo-dev-engine process over loopback: presences, rooms and
// messages; users, do-not-disturb, forwards, infos. The expectations are the spec's (wazo-chatd.json,
// wazo-confd.json), not the engine's. Seeded users: alice (tenant admin), bob and carol (default user ACLs), all
// with the password "secret".
#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine_process.hpp"
#include "http/transport.hpp"
#include "wazo/rest/api_client.hpp"
#include "wazo/rest/auth.hpp"
#include "wazo/rest/chatd.hpp"
#include "wazo/rest/confd.hpp"

namespace wazo::rest {
namespace {

class EngineFixture : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(engine.running()) << engine.error(); }

  // A client logged in as `user`; `session` gets the session.
  ApiClient login(const std::string& user, Session* session = nullptr) {
    ApiClient c(rt, ClientOptions{.server = engine.url(), .client_id = "wazo-tests"});
    auto s = c.auth().log_in({.username = user, .password = "secret"}).get();
    EXPECT_TRUE(s) << user << ": " << s.error();
    if (s && session != nullptr) *session = *s;
    return c;
  }

  // Requests the engine served for "METHOD /route/template", from its dev-only counters.
  long served(const std::string& key) {
    http::Transport t(rt, {});
    auto res = t.send({.url = engine.url() + "/_dev/metrics"}).get();
    if (!res || res->status != 200) return -1;
    auto j = nlohmann::json::parse(res->body, nullptr, false);
    if (!j.is_object() || !j.contains("requests")) return -1;
    return j["requests"].value(key, 0L);
  }

  Runtime rt{RuntimeOptions{.log_sink = [](const LogRecord&) {}, .log_level = LogLevel::off}};
  test::EngineProcess engine;
};

bool refused(const Error& e) { return e.status == 401 || e.status == 403; }

// --- wazo-chatd -----------------------------------------------------------------------------------------------------

class ChatdIntegration : public EngineFixture {};

TEST_F(ChatdIntegration, OwnPresenceStateAndStatusRoundTrip) {
  Session alice;
  auto c = login("alice", &alice);
  auto chatd = c.chatd();

  auto updated = chatd.update_state(alice.uuid, "away").get();
  ASSERT_TRUE(updated) << updated.error();
  EXPECT_TRUE(*updated);  // 204
  auto state = chatd.get_state(alice.uuid).get();
  ASSERT_TRUE(state) << state.error();
  EXPECT_EQ(*state, "away");

  ASSERT_TRUE(chatd.update_status(alice.uuid, "available", "In a meeting").get().value_or(false));
  auto info = chatd.get_contact_status_info(alice.uuid).get();
  ASSERT_TRUE(info) << info.error();
  EXPECT_EQ(info->uuid, alice.uuid);
  EXPECT_EQ(info->tenant_uuid, alice.tenant_uuid);
  EXPECT_EQ(info->state, "available");
  EXPECT_EQ(info->status, "In a meeting");
  EXPECT_FALSE(info->last_activity.empty());  // set by an explicit state change
  EXPECT_TRUE(info->raw.contains("line_state"));
  EXPECT_TRUE(info->raw.contains("do_not_disturb"));

  // No line in any state: the seed's line state is "unavailable".
  auto line_state = chatd.get_line_state(alice.uuid).get();
  ASSERT_TRUE(line_state) << line_state.error();
  EXPECT_EQ(*line_state, lines_state(info->lines));
}

TEST_F(ChatdIntegration, AStateOutsideTheSpecEnumIsRefused) {
  Session bob;
  auto c = login("bob", &bob);
  auto r = c.chatd().update_state(bob.uuid, "busy").get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().category, ErrorCategory::http);
  EXPECT_EQ(r.error().status, 400);
  EXPECT_EQ(c.chatd().get_state(bob.uuid).get().value_or(""), "available");  // unchanged (the initial state)
}

TEST_F(ChatdIntegration, UsersReadOthersPresencesButOnlyUpdateTheirOwn) {
  Session alice, bob;
  auto a = login("alice", &alice);
  auto b = login("bob", &bob);
  ASSERT_TRUE(a.chatd().update_state(alice.uuid, "away").get().value_or(false));

  auto seen = b.chatd().get_state(alice.uuid).get();  // chatd.users.*.presences.read
  ASSERT_TRUE(seen) << seen.error();
  EXPECT_EQ(*seen, "away");

  auto denied = b.chatd().update_state(alice.uuid, "unavailable").get();
  ASSERT_FALSE(denied);
  EXPECT_TRUE(refused(denied.error())) << denied.error();
  EXPECT_EQ(a.chatd().get_state(alice.uuid).get().value_or(""), "away");

  ASSERT_TRUE(b.chatd().update_state(bob.uuid, "invisible").get().value_or(false));
  EXPECT_EQ(a.chatd().get_state(bob.uuid).get().value_or(""), "invisible");
}

TEST_F(ChatdIntegration, MultipleLineStateAsksForTheGivenUsersInChunksOf30) {
  Session alice, bob, carol;
  auto a = login("alice", &alice);
  login("bob", &bob);
  login("carol", &carol);
  ASSERT_TRUE(a.chatd().update_state(alice.uuid, "away").get().value_or(false));

  auto some = a.chatd().get_multiple_line_state({bob.uuid, alice.uuid}).get();
  ASSERT_TRUE(some) << some.error();
  std::set<std::string> uuids;
  for (const auto& p : *some) uuids.insert(p.uuid);
  EXPECT_EQ(uuids, (std::set<std::string>{alice.uuid, bob.uuid}));
  for (const auto& p : *some) {
    if (p.uuid == alice.uuid) {
      EXPECT_EQ(p.state, "away");
    }
  }

  // No filter: every user of the tenant.
  auto all = a.chatd().get_multiple_line_state({}).get();
  ASSERT_TRUE(all) << all.error();
  EXPECT_GE(all->size(), 3U);

  // 31 uuids are two requests (30 + 1); each answers with the one distinct user asked for.
  const long before = served("GET /api/chatd/1.0/users/presences");
  auto many = a.chatd().get_multiple_line_state(std::vector<std::string>(31, carol.uuid)).get();
  ASSERT_TRUE(many) << many.error();
  EXPECT_EQ(served("GET /api/chatd/1.0/users/presences") - before, 2);
  ASSERT_EQ(many->size(), 2U);
  EXPECT_EQ((*many)[0].uuid, carol.uuid);
  EXPECT_EQ((*many)[1].uuid, carol.uuid);
}

TEST_F(ChatdIntegration, RoomsAndMessages) {
  Session alice, bob, carol;
  auto a = login("alice", &alice);
  auto b = login("bob", &bob);
  auto c = login("carol", &carol);

  auto room = a.chatd().create_room("Project", {{.uuid = bob.uuid}}).get();
  ASSERT_TRUE(room) << room.error();
  EXPECT_FALSE(room->uuid.empty());
  EXPECT_EQ(room->name, "Project");
  std::set<std::string> members;
  for (const auto& u : room->users) members.insert(u.uuid);
  EXPECT_EQ(members, (std::set<std::string>{alice.uuid, bob.uuid}));  // the creator is a participant

  auto bobs_rooms = b.chatd().get_user_rooms().get();
  ASSERT_TRUE(bobs_rooms) << bobs_rooms.error();
  ASSERT_EQ(bobs_rooms->size(), 1U);
  EXPECT_EQ((*bobs_rooms)[0].uuid, room->uuid);
  auto carols_rooms = c.chatd().get_user_rooms().get();
  ASSERT_TRUE(carols_rooms);
  EXPECT_TRUE(carols_rooms->empty());

  auto first = a.chatd().send_room_message(room->uuid, {.content = "hello bob", .alias = "Alice"}).get();
  ASSERT_TRUE(first) << first.error();
  EXPECT_FALSE(first->uuid.empty());
  EXPECT_EQ(first->content, "hello bob");
  EXPECT_EQ(first->alias, "Alice");
  EXPECT_EQ(first->user_uuid, alice.uuid);
  EXPECT_EQ(first->tenant_uuid, alice.tenant_uuid);
  EXPECT_EQ(first->room_uuid, room->uuid);
  EXPECT_FALSE(first->created_at.empty());
  auto reply = b.chatd().send_room_message(room->uuid, {.content = "hi alice"}).get();
  ASSERT_TRUE(reply) << reply.error();

  auto oldest_first = b.chatd().get_room_messages(room->uuid, {.direction = "asc", .order = "created_at"}).get();
  ASSERT_TRUE(oldest_first) << oldest_first.error();
  ASSERT_EQ(oldest_first->size(), 2U);
  EXPECT_EQ((*oldest_first)[0].uuid, first->uuid);
  EXPECT_EQ((*oldest_first)[1].uuid, reply->uuid);

  auto latest = a.chatd().get_room_messages(room->uuid, {.limit = 1, .direction = "desc"}).get();
  ASSERT_TRUE(latest) << latest.error();
  ASSERT_EQ(latest->size(), 1U);
  EXPECT_EQ((*latest)[0].uuid, reply->uuid);

  auto found = a.chatd().get_room_messages(room->uuid, {.search = "bob"}).get();
  ASSERT_TRUE(found) << found.error();
  ASSERT_EQ(found->size(), 1U);
  EXPECT_EQ((*found)[0].content, "hello bob");

  auto since = a.chatd().get_room_messages(room->uuid, {.from_date = "2000-01-01T00:00:00+00:00"}).get();
  ASSERT_TRUE(since) << since.error();
  EXPECT_EQ(since->size(), 2U);

  // Across rooms: the latest message of each room, or a search.
  auto other = a.chatd().create_room("Other", {{.uuid = carol.uuid}}).get();
  ASSERT_TRUE(other) << other.error();
  ASSERT_TRUE(c.chatd().send_room_message(other->uuid, {.content = "carol here"}).get());
  auto per_room = a.chatd().get_messages({.distinct = "room_uuid"}).get();
  ASSERT_TRUE(per_room) << per_room.error();
  ASSERT_EQ(per_room->items.size(), 2U);
  std::set<std::string> latest_uuids;
  for (const auto& m : per_room->items) latest_uuids.insert(m.content);
  EXPECT_EQ(latest_uuids, (std::set<std::string>{"hi alice", "carol here"}));
  EXPECT_EQ(per_room->total, 3);
  auto searched = b.chatd().get_messages({.search = "hello"}).get();
  ASSERT_TRUE(searched) << searched.error();
  ASSERT_EQ(searched->items.size(), 1U);
  EXPECT_EQ(searched->items[0].uuid, first->uuid);

  // The spec requires search or distinct on the all-rooms list.
  auto neither = a.chatd().get_messages({}).get();
  ASSERT_FALSE(neither);
  EXPECT_EQ(neither.error().status, 400);

  // Not a participant: the room does not exist for carol.
  auto outsider = c.chatd().get_room_messages(room->uuid).get();
  ASSERT_FALSE(outsider);
  EXPECT_EQ(outsider.error().status, 404);
  auto intrude = c.chatd().send_room_message(room->uuid, {.content = "let me in"}).get();
  ASSERT_FALSE(intrude);
  EXPECT_EQ(intrude.error().status, 404);
}

TEST_F(ChatdIntegration, AMessageWithoutContentIsRefused) {
  Session alice, bob;
  auto a = login("alice", &alice);
  login("bob", &bob);
  auto room = a.chatd().create_room("", {{.uuid = bob.uuid}}).get();
  ASSERT_TRUE(room) << room.error();
  auto sent = a.chatd().send_room_message(room->uuid, {.content = ""}).get();
  ASSERT_TRUE(sent) << sent.error();  // empty content is a string: accepted
  auto raw =
      a.call(Method::post, "chatd/1.0/users/me/rooms/" + room->uuid + "/messages", nlohmann::json{{"alias", "x"}})
          .get();
  ASSERT_FALSE(raw);
  EXPECT_EQ(raw.error().status, 400);
}

// --- wazo-confd -----------------------------------------------------------------------------------------------------

class ConfdIntegration : public EngineFixture {};

TEST_F(ConfdIntegration, InfosNameTheEngine) {
  auto c = login("bob");
  auto infos = c.confd().get_infos().get();
  ASSERT_TRUE(infos) << infos.error();
  EXPECT_FALSE(infos->uuid.empty());
  EXPECT_FALSE(infos->wazo_version.empty());
}

TEST_F(ConfdIntegration, GetUserIsTheProfile) {
  Session alice;
  auto c = login("alice", &alice);
  auto user = c.confd().get_user(alice.uuid).get();
  ASSERT_TRUE(user) << user.error();
  EXPECT_EQ(user->uuid, alice.uuid);
  EXPECT_EQ(user->tenant_uuid, alice.tenant_uuid);
  EXPECT_GT(user->id, 0);
  EXPECT_EQ(user->firstname, "Alice");
  EXPECT_EQ(user->lastname, "Anderson");
  EXPECT_EQ(user->username, "alice");
  EXPECT_EQ(user->email, "alice@wazo.local");
  EXPECT_FALSE(user->services.dnd);
  EXPECT_FALSE(user->services.incallfilter);
  EXPECT_FALSE(user->forwards.busy.enabled);
  EXPECT_FALSE(user->forwards.noanswer.enabled);
  EXPECT_FALSE(user->forwards.unconditional.enabled);
  for (const char* key : {"lines", "forwards", "services", "switchboards", "voicemail"})
    EXPECT_TRUE(user->raw.contains(key)) << key;

  auto missing = c.confd().get_user("00000000-0000-4000-8000-00000000dead").get();
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().category, ErrorCategory::http);
  EXPECT_EQ(missing.error().status, 404);
}

TEST_F(ConfdIntegration, DoNotDisturbRoundTripAndShowsInThePresence) {
  Session bob;
  auto c = login("bob", &bob);
  auto on = c.confd().update_do_not_disturb(bob.uuid, true).get();
  ASSERT_TRUE(on) << on.error();
  EXPECT_TRUE(*on);
  auto user = c.confd().get_user(bob.uuid).get();
  ASSERT_TRUE(user) << user.error();
  EXPECT_TRUE(user->services.dnd);
  EXPECT_FALSE(user->services.incallfilter);
  auto presence = c.chatd().get_contact_status_info(bob.uuid).get();
  ASSERT_TRUE(presence) << presence.error();
  EXPECT_TRUE(presence->do_not_disturb);

  ASSERT_TRUE(c.confd().update_do_not_disturb(bob.uuid, false).get().value_or(false));
  auto after = c.confd().get_user(bob.uuid).get();
  ASSERT_TRUE(after);
  EXPECT_FALSE(after->services.dnd);
}

TEST_F(ConfdIntegration, ForwardsRoundTrip) {
  Session bob;
  auto c = login("bob", &bob);
  ASSERT_TRUE(c.confd().update_forward_option(bob.uuid, ForwardName::busy, "1002", true).get().value_or(false));
  auto user = c.confd().get_user(bob.uuid).get();
  ASSERT_TRUE(user) << user.error();
  EXPECT_TRUE(user->forwards.busy.enabled);
  EXPECT_EQ(user->forwards.busy.destination, "1002");
  EXPECT_FALSE(user->forwards.unconditional.enabled);

  auto both = c.confd()
                  .update_forward_options(
                      bob.uuid, {.noanswer = Forward{true, "1003"}, .unconditional = Forward{false, "+15555550100"}})
                  .get();
  ASSERT_TRUE(both) << both.error();
  EXPECT_TRUE(*both);
  user = c.confd().get_user(bob.uuid).get();
  ASSERT_TRUE(user);
  EXPECT_TRUE(user->forwards.busy.enabled);  // not in the body: unchanged
  EXPECT_EQ(user->forwards.busy.destination, "1002");
  EXPECT_TRUE(user->forwards.noanswer.enabled);
  EXPECT_EQ(user->forwards.noanswer.destination, "1003");
  EXPECT_FALSE(user->forwards.unconditional.enabled);
  EXPECT_EQ(user->forwards.unconditional.destination, "+15555550100");
}

TEST_F(ConfdIntegration, UsersChangeOnlyTheirOwnServicesAndForwards) {
  Session alice, bob;
  auto a = login("alice", &alice);
  auto b = login("bob", &bob);
  auto dnd = b.confd().update_do_not_disturb(alice.uuid, true).get();
  ASSERT_FALSE(dnd);
  EXPECT_TRUE(refused(dnd.error())) << dnd.error();
  auto fwd = b.confd().update_forward_option(alice.uuid, ForwardName::unconditional, "666", true).get();
  ASSERT_FALSE(fwd);
  EXPECT_TRUE(refused(fwd.error())) << fwd.error();
  auto user = a.confd().get_user(alice.uuid).get();
  ASSERT_TRUE(user);
  EXPECT_FALSE(user->services.dnd);
  EXPECT_FALSE(user->forwards.unconditional.enabled);

  // The tenant admin may change another user's.
  ASSERT_TRUE(a.confd().update_do_not_disturb(bob.uuid, true).get().value_or(false));
  EXPECT_TRUE(b.confd().get_user(bob.uuid).get()->services.dnd);
}

TEST_F(ConfdIntegration, SipLinesFromTokenGiveEachLinesCredentials) {
  Session carol;
  auto c = login("carol", &carol);
  auto user = c.confd().get_user(carol.uuid).get();
  ASSERT_TRUE(user) << user.error();
  auto lines = c.confd().get_user_line_sip_from_token(carol.uuid).get();
  ASSERT_TRUE(lines) << lines.error();
  ASSERT_EQ(lines->size(), user->lines.size());
  ASSERT_EQ(lines->size(), 1U);
  ASSERT_TRUE(lines->front().has_value());
  EXPECT_FALSE(lines->front()->username.empty());
  EXPECT_FALSE(lines->front()->secret.empty());
  EXPECT_TRUE(lines->front()->is_webrtc());
}

}  // namespace
}  // namespace wazo::rest
