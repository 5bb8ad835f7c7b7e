// The event decoder, dispatcher and typed catalogue, on frames shaped like wazo-websocketd's.
#include <gtest/gtest.h>

#include "events/decoder.hpp"
#include "events/dispatcher.hpp"
#include "wazo/events/catalog.hpp"

namespace wazo::events {
namespace {

using detail::Decoder;
using detail::Dispatcher;
using detail::Op;

const std::string kPresence =
    R"({"op":"event","code":0,"data":{"name":"chatd_presence_updated","origin_uuid":"o","timestamp":"2026-11-25T09:00:01.322+00:00","required_acl":"events.chatd.users.u1.presences.updated","tenant_uuid":"t","user_uuid:*":true,"data":{"uuid":"u1","tenant_uuid":"t","state":"away","status":"lunch \"soon\"","last_activity":"2026-11-25T08:00:00+00:00","line_state":"available","mobile":false,"do_not_disturb":true,"connected":true,"lines":[{"id":1,"state":"available"}]}}})";

TEST(EventDecoder, V2EventGivesNamePayloadAndTimestamp) {
  Decoder d;
  std::string buf = kPresence;
  auto f = d.decode(buf);
  ASSERT_TRUE(f) << f.error();
  EXPECT_EQ(f->op, Op::event);
  EXPECT_EQ(f->code, 0);
  EXPECT_EQ(f->name, "chatd_presence_updated");
  EXPECT_EQ(f->timestamp, "2026-11-25T09:00:01.322+00:00");
  auto payload = nlohmann::json::parse(f->payload);
  EXPECT_EQ(payload["state"], "away");
  EXPECT_EQ(payload["status"], "lunch \"soon\"");
  EXPECT_EQ(f->frame, kPresence);
}

TEST(EventDecoder, DataBeforeOpIsReadToo) {
  Decoder d;
  std::string buf = R"({"data":{"name":"call_held","data":{"call_id":"c1","user_uuid":"u"}},"code":0,"op":"event"})";
  auto f = d.decode(buf);
  ASSERT_TRUE(f) << f.error();
  EXPECT_EQ(f->name, "call_held");
  EXPECT_EQ(nlohmann::json::parse(f->payload)["call_id"], "c1");
}

TEST(EventDecoder, ControlOps) {
  Decoder d;
  std::string init = R"({"op":"init","code":0,"data":{"version":2}})";
  auto f = d.decode(init);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->op, Op::init);
  std::string start = R"({"op":"start","code":0,"data":null})";
  EXPECT_EQ(d.decode(start)->op, Op::start);
  std::string pong = R"({"op":"pong","code":0,"data":{"payload":"wazo-sdk-7"}})";
  f = d.decode(pong);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->op, Op::pong);
  EXPECT_EQ(f->text, "wazo-sdk-7");
  std::string refused = R"({"op":"subscribe","code":1,"data":null})";
  EXPECT_EQ(d.decode(refused)->code, 1);
  std::string odd = R"({"op":"shiny-new-op","code":0,"data":{}})";
  EXPECT_EQ(d.decode(odd)->op, Op::other);  // unknown ops are not errors
}

TEST(EventDecoder, V1FramesAreBareBusMessages) {
  Decoder d;
  std::string buf =
      R"({"name":"favorite_added","origin_uuid":"o","data":{"source":"personal","source_entry_id":"42"}})";
  auto f = d.decode(buf, 1);
  ASSERT_TRUE(f) << f.error();
  EXPECT_EQ(f->name, "favorite_added");
  EXPECT_EQ(nlohmann::json::parse(f->payload)["source_entry_id"], "42");
}

TEST(EventDecoder, MalformedFramesAreParseErrors) {
  Decoder d;
  for (std::string bad :
       {std::string("not json"), std::string("[1,2]"), std::string(R"({"code":0})"), std::string(R"({"op":5})"),
        std::string(R"({"op":"event","data":{"data":{}}})"), std::string(R"({"op":"event","code":0})"),
        std::string(R"({"op":"event","data":{"name":)"), std::string("")}) {
    auto f = d.decode(bad);
    ASSERT_FALSE(f) << bad;
    EXPECT_EQ(f.error().category, ErrorCategory::parse) << bad;
  }
  std::string good = kPresence;  // and the decoder still works afterwards
  EXPECT_TRUE(d.decode(good));
}

TEST(EventDispatcher, ByNameStarAndTypedAndUnknown) {
  Emitter typed;
  Dispatcher dispatcher(typed);
  Decoder d;
  int by_name = 0, star = 0, typed_count = 0, unknown = 0;
  std::string state;
  auto a = dispatcher.on("chatd_presence_updated", [&](const RawEvent& e) {
    ++by_name;
    EXPECT_EQ(e.payload()->value("uuid", ""), "u1");
    EXPECT_EQ((*e.message())["required_acl"], "events.chatd.users.u1.presences.updated");
  });
  auto b = dispatcher.on("*", [&](const RawEvent&) { ++star; });
  bool dnd = false;
  bool connected = false;
  std::size_t lines = 0;
  auto c = typed.on<ChatdPresenceUpdated>([&](const ChatdPresenceUpdated& p) {
    if (++typed_count > 1) return;
    state = p.state;
    dnd = p.do_not_disturb;
    connected = p.connected;
    lines = p.lines.size();
  });
  auto u = typed.on<Unknown>([&](const Unknown& e) {
    ++unknown;
    EXPECT_EQ(e.name, "brand_new_event");
    EXPECT_EQ(e.payload["x"], 1);
  });
  std::string buf = kPresence;
  ASSERT_TRUE(dispatcher.dispatch(*d.decode(buf)));
  std::string other = R"({"op":"event","code":0,"data":{"name":"brand_new_event","timestamp":"t1","data":{"x":1}}})";
  ASSERT_TRUE(dispatcher.dispatch(*d.decode(other)));
  EXPECT_EQ(by_name, 1);
  EXPECT_EQ(star, 2);
  EXPECT_EQ(typed_count, 1);
  EXPECT_EQ(state, "away");
  EXPECT_TRUE(dnd);
  EXPECT_TRUE(connected);
  EXPECT_EQ(lines, 1U);
  EXPECT_EQ(unknown, 1);

  a.reset();  // unsubscribed handlers are not called
  std::string again =
      R"({"op":"event","code":0,"data":{"name":"chatd_presence_updated","timestamp":"t2","data":{"uuid":"u1"}}})";
  dispatcher.dispatch(*d.decode(again));
  EXPECT_EQ(by_name, 1);
  EXPECT_EQ(star, 3);
  EXPECT_EQ(typed_count, 2);
}

TEST(EventDispatcher, TheSameBusMessageTwiceIsDeliveredOnce) {
  Emitter typed;
  Dispatcher dispatcher(typed);
  Decoder d;
  int seen = 0;
  auto s = dispatcher.on("*", [&](const RawEvent&) { ++seen; });
  std::string one = kPresence;
  EXPECT_TRUE(dispatcher.dispatch(*d.decode(one)));
  std::string twice = kPresence;
  EXPECT_FALSE(dispatcher.dispatch(*d.decode(twice)));
  EXPECT_EQ(seen, 1);
  // Same name and payload, another timestamp: a new event.
  std::string later = kPresence;
  later.replace(later.find("09:00:01.322"), 12, "09:00:02.000");
  EXPECT_TRUE(dispatcher.dispatch(*d.decode(later)));
  EXPECT_EQ(seen, 2);
}

TEST(EventDispatcher, ATypedPayloadOfTheWrongShapeDoesNotStopOtherHandlers) {
  Emitter typed;
  Dispatcher dispatcher(typed);
  Decoder d;
  int raw = 0, typed_count = 0;
  auto a = dispatcher.on("call_held", [&](const RawEvent&) { ++raw; });
  auto b = typed.on<CallHeld>([&](const CallHeld&) { ++typed_count; });
  std::string buf = R"({"op":"event","code":0,"data":{"name":"call_held","timestamp":"t","data":"not an object"}})";
  EXPECT_TRUE(dispatcher.dispatch(*d.decode(buf)));
  EXPECT_EQ(raw, 1);
  EXPECT_EQ(typed_count, 0);
}

TEST(EventCatalog, EveryNameOfTheSeedHasAType) {
  EXPECT_EQ(detail::known_count(), 74U);
  for (const auto* name : {"chatd_presence_updated", "chatd_user_room_message_created", "chatd_user_room_created",
                           "users_services_dnd_updated", "users_forwards_busy_updated", "call_created", "call_updated",
                           "call_ended", "call_held", "call_resumed", "user_voicemail_message_created",
                           "user_voicemail_message_deleted", "conference_user_participant_joined",
                           "conference_user_participant_talk_started", "meeting_user_participant_joined",
                           "agent_status_update", "auth_session_expire_soon", "user_agent_queue_logged_in"}) {
    EXPECT_TRUE(detail::is_known(name)) << name;
  }
  EXPECT_FALSE(detail::is_known("brand_new_event"));
}

TEST(EventCatalog, TolerantFieldsAndRaw) {
  auto dnd = UsersServicesDndUpdated::from_json(
      {{"user_uuid", "u"}, {"user_id", "12"}, {"enabled", true}, {"tenant_uuid", "t"}, {"extra", 1}});
  ASSERT_TRUE(dnd);
  EXPECT_EQ(dnd->user_id, 12);  // a number sent as a string still reads
  EXPECT_TRUE(dnd->enabled);
  EXPECT_EQ(dnd->raw["extra"], 1);
  auto call = CallUpdated::from_json({{"call_id", "c"}, {"line_id", 10}, {"talking_to", {{"a", "b"}}}});
  ASSERT_TRUE(call);
  EXPECT_EQ(call->line_id, 10);
  EXPECT_EQ(call->talking_to["a"], "b");
  EXPECT_FALSE(call->is_video);
  auto cdr = CallLogUserCreated::from_json({{"call_direction", "inbound"}});
  ASSERT_TRUE(cdr);
  EXPECT_EQ(cdr->call_direction, "inbound");  // the wire name, not the catalogue's misspelling
  EXPECT_FALSE(ChatdUserRoomCreated::from_json(nlohmann::json::array()));
}

}  // namespace
}  // namespace wazo::events
