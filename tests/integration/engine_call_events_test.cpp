// wazo-dev-engine's calld: the calls its SIP proxy relays between seeded users, seen through the SDK. Two real SIP
// user agents (the SDK's UserAgent, with FakeMediaSession for the SDP: no media runs) call each other through a
// real engine process on loopback; each user's websocketd client (the SDK's WebSocketClient) receives the call_*
// events, which must parse with the SDK's catalog types; GET/DELETE /api/calld/1.0/users/me/calls go through the
// SDK's ApiClient.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine_process.hpp"
#include "fake_media_session.hpp"
#include "spec_contract.hpp"
#include "wazo/core/runtime.hpp"
#include "wazo/events/catalog.hpp"
#include "wazo/events/websocket_client.hpp"
#include "wazo/rest/api_client.hpp"
#include "wazo/rest/auth.hpp"
#include "wazo/sip/user_agent.hpp"

namespace wazo {
namespace {

using namespace std::chrono_literals;
using test::FakeMediaSession;
using Json = nlohmann::json;

constexpr const char* alice_uuid = "a11ce000-0000-4000-8000-000000000001";
constexpr const char* bob_uuid = "b0b00000-0000-4000-8000-000000000002";

struct SipLine {
  std::string user, password, exten;
};
const SipLine alice_line{"alicewebrtc", "Kq7xW3ka9PzR", "1001"};
const SipLine bob_line{"bobwebrtc", "Tz4mN8qe2VcL", "1002"};

// Polls `pred` until it holds or `limit` passes (session states change on the SDK's thread, without a signal).
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit = 10s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// The user's calls as calld lists them (GET users/me/calls), or null when the request fails.
Json calls_of(rest::ApiClient& api) {
  auto listed = api.call(rest::Method::get, "calld/1.0/users/me/calls").get();
  if (!listed) {
    ADD_FAILURE() << listed.error();
    return Json();
  }
  return (*listed)["items"];
}

const std::vector<std::string> call_events = {"call_created", "call_answered", "call_updated",
                                              "call_held",    "call_resumed",  "call_ended"};

struct Received {
  std::string name;
  Json payload;
  Json message;  // the whole bus message (required_acl, user_uuid:… headers)
};

// One user's websocketd connection and every call event it got, with waits.
class EventLog {
 public:
  EventLog(rest::ApiClient& api) : ws_(api, events::WebSocketOptions{.events = call_events}) {
    sub_ = ws_.on_any([this](const events::RawEvent& e) {
      Received r{std::string(e.name), e.payload().value_or(Json()), e.message().value_or(Json())};
      {
        std::lock_guard lock(m_);
        events_.push_back(std::move(r));
      }
      cv_.notify_all();
    });
    ws_.connect();
    auto open = ws_.when_open().get_for(10s);
    EXPECT_TRUE(open && open->ok()) << "the event connection did not open";
  }

  // The first event named `name` (and matching `pred`), waiting up to `limit`.
  std::optional<Received> wait(const std::string& name, std::function<bool(const Json&)> pred = nullptr,
                               std::chrono::milliseconds limit = 5s) {
    std::unique_lock lock(m_);
    std::optional<Received> found;
    cv_.wait_for(lock, limit, [&] {
      for (const auto& e : events_) {
        if (e.name == name && (!pred || pred(e.payload))) {
          found = e;
          return true;
        }
      }
      return false;
    });
    return found;
  }
  std::vector<std::string> names() {
    std::lock_guard lock(m_);
    std::vector<std::string> out;
    for (const auto& e : events_) out.push_back(e.name);
    return out;
  }
  std::size_t count(const std::string& name) {
    std::lock_guard lock(m_);
    return static_cast<std::size_t>(
        std::count_if(events_.begin(), events_.end(), [&](const Received& e) { return e.name == name; }));
  }

 private:
  events::WebSocketClient ws_;
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<Received> events_;
  Subscription sub_;
};

// A registered SIP user agent with the incoming calls it got.
struct SipPhone {
  std::unique_ptr<sip::UserAgent> ua;
  std::mutex m;
  std::condition_variable cv;
  std::vector<sip::Session> incoming;
  std::vector<sip::Terminated> terminated;
  std::vector<Subscription> subs;

  void watch(sip::Session s) {
    subs.push_back(s.on<sip::Terminated>([this](const sip::Terminated& t) {
      {
        std::lock_guard lock(m);
        terminated.push_back(t);
      }
      cv.notify_all();
    }));
  }
  bool wait(const std::function<bool()>& pred, std::chrono::milliseconds limit = 10s) {
    std::unique_lock lock(m);
    return cv.wait_for(lock, limit, pred);
  }
};

class EngineCallEvents : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(test::EngineProcess::binary().c_str(), X_OK) != 0) GTEST_SKIP() << "no wazo-dev-engine binary";
    engine_ = std::make_unique<test::EngineProcess>();
    ASSERT_TRUE(engine_->running()) << engine_->error();
  }
  void TearDown() override {
    for (auto& p : phones_) {
      if (p->ua) (void)p->ua->stop().get_for(5s);
    }
    phones_.clear();
  }

  std::unique_ptr<rest::ApiClient> login(const std::string& user) {
    auto c = std::make_unique<rest::ApiClient>(
        rt_, rest::ClientOptions{.server = engine_->url(), .client_id = "call-events-" + user});
    auto s = c->auth().log_in({.username = user, .password = "secret", .expiration = 600}).get();
    EXPECT_TRUE(s) << s.error();
    return c;
  }

  SipPhone& phone(const SipLine& line) {
    auto p = std::make_unique<SipPhone>();
    p->ua = std::make_unique<sip::UserAgent>(
        rt_, sip::UserAgentOptions{.server = "ws://127.0.0.1:" + std::to_string(engine_->port()) + "/api/asterisk/ws",
                                   .domain = "wazo.local",
                                   .user = line.user,
                                   .password = line.password});
    SipPhone* raw = p.get();
    p->subs.push_back(p->ua->on<sip::IncomingCall>([raw](const sip::IncomingCall& e) {
      raw->watch(e.session);
      {
        std::lock_guard lock(raw->m);
        raw->incoming.push_back(e.session);
      }
      raw->cv.notify_all();
    }));
    auto r = p->ua->start().get_for(10s);
    EXPECT_TRUE(r && r->ok()) << line.user << " did not register";
    phones_.push_back(std::move(p));
    return *phones_.back();
  }

  // `from` calls `exten`; returns the caller's session and the callee's (once it has the INVITE).
  std::pair<sip::Session, sip::Session> ring(SipPhone& from, SipPhone& to, const std::string& exten,
                                             const std::shared_ptr<FakeMediaSession>& media) {
    auto s = from.ua->invite("sip:" + exten + "@wazo.local", media);
    EXPECT_TRUE(s.ok()) << (s ? "" : s.error().describe());
    if (!s) return {};
    from.watch(*s);
    sip::Session in;
    EXPECT_TRUE(to.wait([&] { return !to.incoming.empty(); })) << "no INVITE reached the callee";
    std::lock_guard lock(to.m);
    if (!to.incoming.empty()) in = to.incoming.back();
    return {*s, in};
  }

  static std::string header_of(const sip::Session& s, const char* name) {
    auto m = s.initial_request();
    if (!m) return {};
    auto v = m->header(name);
    return v ? std::string(*v) : std::string();
  }

  Runtime rt_{RuntimeOptions{.log_sink = [](const LogRecord&) {}, .log_level = LogLevel::off}};
  std::unique_ptr<test::EngineProcess> engine_;
  std::vector<std::unique_ptr<SipPhone>> phones_;
};

TEST_F(EngineCallEvents, CallLifecycleGivesEachUserItsLegEventsAndTheCalleeItsCallIdInTheInvite) {
  auto alice_api = login("alice");
  auto bob_api = login("bob");
  EventLog alice_events(*alice_api);
  EventLog bob_events(*bob_api);
  SipPhone& alice = phone(alice_line);
  SipPhone& bob = phone(bob_line);

  auto alice_media = std::make_shared<FakeMediaSession>("alice");
  auto [out, in] = ring(alice, bob, bob_line.exten, alice_media);
  ASSERT_TRUE(out && in);
  const std::string sip_call_id = out.call_id();

  // call_created to each user, for its own leg.
  auto bob_created = bob_events.wait("call_created");
  ASSERT_TRUE(bob_created);
  auto bc = events::CallCreated::from_json(bob_created->payload);
  ASSERT_TRUE(bc) << bc.error();
  EXPECT_EQ(bc->user_uuid, bob_uuid);
  EXPECT_EQ(bc->sip_call_id, sip_call_id);
  EXPECT_FALSE(bc->is_caller);
  EXPECT_FALSE(bc->is_video);
  EXPECT_EQ(bc->status, "Ringing");
  EXPECT_EQ(bc->peer_caller_id_name, "Alice Anderson");
  EXPECT_EQ(bc->peer_caller_id_number, "1001");
  EXPECT_EQ(bc->caller_id_number, "1002");
  EXPECT_EQ(bc->dialed_extension, "1002");
  EXPECT_EQ(bc->line_id, 2);
  EXPECT_EQ(bc->direction, "internal");
  EXPECT_FALSE(bc->creation_time.empty());
  EXPECT_TRUE(bc->answer_time.empty());
  EXPECT_EQ(bob_created->message.value("required_acl", ""), std::string("events.calls.") + bob_uuid);
  EXPECT_TRUE(bob_created->message.value("user_uuid:" + std::string(bob_uuid), false));
  // The callee's INVITE names its leg, as Wazo's Asterisk does.
  EXPECT_EQ(header_of(in, "X-Wazo-Call-ID"), bc->call_id);

  auto alice_created = alice_events.wait("call_created");
  ASSERT_TRUE(alice_created);
  auto ac = events::CallCreated::from_json(alice_created->payload);
  ASSERT_TRUE(ac);
  EXPECT_EQ(ac->user_uuid, alice_uuid);
  EXPECT_TRUE(ac->is_caller);
  EXPECT_EQ(ac->sip_call_id, sip_call_id);
  EXPECT_NE(ac->call_id, bc->call_id);  // one leg (channel) each
  EXPECT_EQ(ac->peer_caller_id_number, "1002");
  EXPECT_EQ(ac->peer_caller_id_name, "Bob Brown");
  EXPECT_EQ(alice_created->message.value("required_acl", ""), std::string("events.calls.") + alice_uuid);
  // Each user gets only its own leg.
  EXPECT_EQ(alice_events.count("call_created"), 1U);
  EXPECT_EQ(bob_events.count("call_created"), 1U);

  // The REST listing while it rings: the user's own leg only.
  Json listed = calls_of(*bob_api);
  ASSERT_EQ(listed.size(), 1U) << listed.dump();
  EXPECT_EQ(listed[0]["call_id"], bc->call_id);
  EXPECT_EQ(listed[0]["status"], "Ringing");

  // Answered: call_answered then call_updated, both Up, to each.
  auto acc = in.accept(std::make_shared<FakeMediaSession>("bob")).get_for(10s);
  ASSERT_TRUE(acc && acc->ok());
  ASSERT_TRUE(eventually([&] { return out.state() == sip::SessionState::confirmed; }));
  for (EventLog* log : {&alice_events, &bob_events}) {
    auto answered = log->wait("call_answered");
    ASSERT_TRUE(answered);
    auto a = events::CallAnswered::from_json(answered->payload);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->status, "Up");
    EXPECT_FALSE(a->answer_time.empty());
    EXPECT_EQ(a->sip_call_id, sip_call_id);
    EXPECT_EQ(a->talking_to.size(), 1U);
    auto updated = log->wait("call_updated");
    ASSERT_TRUE(updated);
    EXPECT_EQ(updated->payload.value("status", ""), "Up");
  }
  listed = calls_of(*alice_api);
  ASSERT_EQ(listed.size(), 1U);
  EXPECT_EQ(listed[0]["call_id"], ac->call_id);
  EXPECT_EQ(listed[0]["status"], "Up");
  EXPECT_EQ(listed[0]["talking_to"], Json({{bc->call_id, bob_uuid}}));
  // The item has exactly the Call model's fields (wazo-calld.json), with their JSON types.
  std::ifstream spec_file(test::specs_dir() / "wazo-calld.json");
  const Json spec = Json::parse(spec_file, nullptr, false);
  if (!spec.is_discarded()) {
    const Json& properties = spec["definitions"]["Call"]["properties"];
    const Json& item = listed[0];
    for (const auto& [key, schema] : properties.items()) {
      ASSERT_TRUE(item.contains(key)) << key;
      const std::string type = schema.value("type", "object");
      const Json& v = item[key];
      const bool ok = v.is_null() || (type == "string" && v.is_string()) || (type == "boolean" && v.is_boolean()) ||
                      (type == "integer" && v.is_number_integer()) || (type == "array" && v.is_array()) ||
                      (type == "object" && v.is_object());
      EXPECT_TRUE(ok) << key << " is " << v.dump() << ", the spec says " << type;
    }
    for (const auto& [key, value] : item.items()) EXPECT_TRUE(properties.contains(key)) << key << " is not in the spec";
  } else {
    ADD_FAILURE() << "cannot read wazo-calld.json in " << test::specs_dir();
  }

  // Alice holds: her leg is held (she asked for it), Bob's is not.
  alice_media->set_direction("sendonly");
  auto re = out.reinvite().get_for(10s);
  ASSERT_TRUE(re && re->ok());
  auto held = alice_events.wait("call_held");
  ASSERT_TRUE(held);
  auto h = events::CallHeld::from_json(held->payload);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->call_id, ac->call_id);
  EXPECT_EQ(h->user_uuid, alice_uuid);
  EXPECT_TRUE(alice_events.wait("call_updated", [](const Json& p) { return p.value("on_hold", false); }));
  listed = calls_of(*alice_api);
  ASSERT_EQ(listed.size(), 1U);
  EXPECT_EQ(listed[0]["on_hold"], true);

  alice_media->set_direction("sendrecv");
  re = out.reinvite().get_for(10s);
  ASSERT_TRUE(re && re->ok());
  auto resumed = alice_events.wait("call_resumed");
  ASSERT_TRUE(resumed);
  EXPECT_EQ(resumed->payload.value("call_id", ""), ac->call_id);
  EXPECT_EQ(bob_events.count("call_held"), 0U);
  EXPECT_EQ(bob_events.count("call_resumed"), 0U);
  EXPECT_EQ(alice_events.count("call_held"), 1U);

  // Bob hangs up: call_ended, Down, with the hang-up time, to each.
  auto bye = in.bye().get_for(10s);
  ASSERT_TRUE(bye && bye->ok());
  for (EventLog* log : {&alice_events, &bob_events}) {
    auto ended = log->wait("call_ended");
    ASSERT_TRUE(ended);
    auto e = events::CallEnded::from_json(ended->payload);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->status, "Down");
    EXPECT_FALSE(e->hangup_time.empty());
    EXPECT_EQ(e->sip_call_id, sip_call_id);
  }
  EXPECT_EQ(calls_of(*bob_api), Json::array());
}

TEST_F(EngineCallEvents, CallerCancelAndCalleeRejectEndTheCall) {
  auto bob_api = login("bob");
  EventLog bob_events(*bob_api);
  SipPhone& alice = phone(alice_line);
  SipPhone& bob = phone(bob_line);

  auto [out, in] = ring(alice, bob, bob_line.exten, std::make_shared<FakeMediaSession>("alice"));
  ASSERT_TRUE(out && in);
  ASSERT_TRUE(bob_events.wait("call_created"));
  (void)out.cancel().get_for(10s);
  auto ended = bob_events.wait("call_ended");
  ASSERT_TRUE(ended);
  EXPECT_TRUE(ended->payload.value("answer_time", Json()).is_null());
  EXPECT_EQ(bob_events.count("call_answered"), 0U);

  {
    std::lock_guard lock(bob.m);
    bob.incoming.clear();
  }
  auto [out2, in2] = ring(alice, bob, bob_line.exten, std::make_shared<FakeMediaSession>("alice"));
  ASSERT_TRUE(out2 && in2);
  ASSERT_TRUE(in2.reject(486).ok());
  EXPECT_TRUE(
      bob_events.wait("call_ended", [&](const Json& p) { return p.value("sip_call_id", "") == out2.call_id(); }));
  EXPECT_TRUE(eventually([&] { return out2.state() == sip::SessionState::terminated; }));
}

TEST_F(EngineCallEvents, CallToAnUnknownNumberCreatesNoCall) {
  auto alice_api = login("alice");
  EventLog alice_events(*alice_api);
  SipPhone& alice = phone(alice_line);
  auto s = alice.ua->invite("sip:4999@wazo.local", std::make_shared<FakeMediaSession>("alice"));
  ASSERT_TRUE(s.ok());
  alice.watch(*s);
  ASSERT_TRUE(alice.wait([&] { return !alice.terminated.empty(); }));
  {
    std::lock_guard lock(alice.m);
    EXPECT_EQ(alice.terminated.front().status, 404);
  }
  EXPECT_FALSE(alice_events.wait("call_created", nullptr, 500ms));
  EXPECT_TRUE(alice_events.names().empty());
  EXPECT_EQ(calls_of(*alice_api), Json::array());
}

TEST_F(EngineCallEvents, HangupThroughCalldByesBothEnds) {
  auto alice_api = login("alice");
  auto bob_api = login("bob");
  EventLog bob_events(*bob_api);
  SipPhone& alice = phone(alice_line);
  SipPhone& bob = phone(bob_line);
  auto [out, in] = ring(alice, bob, bob_line.exten, std::make_shared<FakeMediaSession>("alice"));
  ASSERT_TRUE(out && in);
  auto acc = in.accept(std::make_shared<FakeMediaSession>("bob")).get_for(10s);
  ASSERT_TRUE(acc && acc->ok());
  ASSERT_TRUE(eventually([&] { return out.state() == sip::SessionState::confirmed; }));

  Json listed = calls_of(*alice_api);
  ASSERT_EQ(listed.size(), 1U);
  const auto alice_call = listed[0]["call_id"].get<std::string>();

  // Not Bob's leg: 403; an unknown one: 404.
  auto forbidden = bob_api->call(rest::Method::del, "calld/1.0/users/me/calls/" + alice_call).get();
  ASSERT_FALSE(forbidden);
  EXPECT_EQ(forbidden.error().status, 403);
  auto unknown = alice_api->call(rest::Method::del, "calld/1.0/users/me/calls/1.2").get();
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().status, 404);

  auto hung = alice_api->call(rest::Method::del, "calld/1.0/users/me/calls/" + alice_call).get();
  ASSERT_TRUE(hung) << hung.error();
  EXPECT_TRUE(eventually([&] { return out.state() == sip::SessionState::terminated; }));
  EXPECT_TRUE(eventually([&] { return in.state() == sip::SessionState::terminated; }));
  {
    std::lock_guard lock(bob.m);
    ASSERT_FALSE(bob.terminated.empty());
    EXPECT_EQ(bob.terminated.front().cause, sip::Terminated::Cause::remote_bye);
  }
  EXPECT_TRUE(bob_events.wait("call_ended"));
  EXPECT_EQ(calls_of(*alice_api), Json::array());
}

TEST_F(EngineCallEvents, CalleeHangingUpARingingCallThroughCalldCancelsIt) {
  auto bob_api = login("bob");
  EventLog bob_events(*bob_api);
  SipPhone& alice = phone(alice_line);
  SipPhone& bob = phone(bob_line);
  auto [out, in] = ring(alice, bob, bob_line.exten, std::make_shared<FakeMediaSession>("alice"));
  ASSERT_TRUE(out && in);
  auto created = bob_events.wait("call_created");
  ASSERT_TRUE(created);
  auto hung =
      bob_api->call(rest::Method::del, "calld/1.0/users/me/calls/" + created->payload.value("call_id", "")).get();
  ASSERT_TRUE(hung) << hung.error();
  // CANCEL to Bob; his 487 reaches Alice through the proxy.
  EXPECT_TRUE(eventually([&] { return in.state() == sip::SessionState::terminated; }));
  EXPECT_TRUE(eventually([&] { return out.state() == sip::SessionState::terminated; }));
  ASSERT_TRUE(alice.wait([&] { return !alice.terminated.empty(); }));
  {
    std::lock_guard lock(alice.m);
    EXPECT_EQ(alice.terminated.front().status, 487);
  }
  EXPECT_TRUE(bob_events.wait("call_ended"));
  EXPECT_EQ(bob_events.count("call_ended"), 1U);
}

TEST_F(EngineCallEvents, LostConnectionEndsTheCallAndByesTheOtherEnd) {
  auto alice_api = login("alice");
  EventLog alice_events(*alice_api);
  SipPhone& alice = phone(alice_line);
  SipPhone& bob = phone(bob_line);
  auto [out, in] = ring(alice, bob, bob_line.exten, std::make_shared<FakeMediaSession>("alice"));
  ASSERT_TRUE(out && in);
  auto acc = in.accept(std::make_shared<FakeMediaSession>("bob")).get_for(10s);
  ASSERT_TRUE(acc && acc->ok());
  ASSERT_TRUE(eventually([&] { return out.state() == sip::SessionState::confirmed; }));
  ASSERT_TRUE(alice_events.wait("call_answered"));

  bob.ua->close();  // the WebSocket goes, no BYE from Bob
  auto ended = alice_events.wait("call_ended");
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->payload.value("sip_call_id", ""), out.call_id());
  EXPECT_TRUE(eventually([&] { return out.state() == sip::SessionState::terminated; }));
  ASSERT_TRUE(alice.wait([&] { return !alice.terminated.empty(); }));
  std::lock_guard lock(alice.m);
  EXPECT_EQ(alice.terminated.front().cause, sip::Terminated::Cause::remote_bye);
}

}  // namespace
}  // namespace wazo
