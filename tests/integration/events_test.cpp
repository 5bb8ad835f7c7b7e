// The SDK's WebSocketClient against a real wazo-dev-engine (websocketd v2) over loopback: events caused by REST
// calls arrive exactly once; token renewal, engine crash and restart, garbage, oversize frames, unknown events,
// a stalled network and auth failures are all survived.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "engine_process.hpp"
#include "http/transport.hpp"
#include "wazo/events/websocket_client.hpp"
#include "wazo/rest/api_client.hpp"
#include "wazo/rest/auth.hpp"

namespace wazo::events {
namespace {

using namespace std::chrono_literals;
using rest::ApiClient;
using rest::Method;

// Collects what a client sees, thread-safely, with waits.
struct Recorder {
  std::recursive_mutex m;  // predicates given to wait() may call count() and opens()
  std::condition_variable_any cv;
  std::vector<std::string> names;
  std::vector<ConnectionState> states;
  std::vector<std::string> dropped;
  int expire_soon = 0;
  int heartbeat_timeouts = 0;
  std::vector<AuthFailed> auth_failures;
  std::vector<Unknown> unknown;

  void add(std::function<void()> f) {
    {
      std::lock_guard lock(m);
      f();
    }
    cv.notify_all();
  }
  bool wait(const std::function<bool()>& pred, std::chrono::milliseconds limit = 10s) {
    std::unique_lock lock(m);
    return cv.wait_for(lock, limit, pred);
  }
  int count(const std::string& name) {
    std::lock_guard lock(m);
    return static_cast<int>(std::count(names.begin(), names.end(), name));
  }
  int opens() {
    std::lock_guard lock(m);
    return static_cast<int>(std::count(states.begin(), states.end(), ConnectionState::open));
  }
};

class Events : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(engine->running()) << engine->error(); }

  std::unique_ptr<ApiClient> login(const std::string& user, int expiration = 3600) {
    auto c =
        std::make_unique<ApiClient>(rt, rest::ClientOptions{.server = engine->url(), .client_id = "events-" + user});
    auto s = c->auth().log_in({.username = user, .password = "secret", .expiration = expiration}).get();
    EXPECT_TRUE(s) << s.error();
    if (s) uuids[user] = s->uuid;
    return c;
  }

  // A client that records everything; fast heartbeat and reconnection for the tests.
  std::unique_ptr<WebSocketClient> listen(ApiClient& api, Recorder& rec, WebSocketOptions o = {}) {
    o.reconnect.initial_delay = 100ms;
    o.reconnect.max_delay = 400ms;
    auto ws = std::make_unique<WebSocketClient>(api, std::move(o));
    subs.push_back(ws->on_any([&rec](const RawEvent& e) { rec.add([&] { rec.names.emplace_back(e.name); }); }));
    subs.push_back(
        ws->on<StateChanged>([&rec](const StateChanged& s) { rec.add([&] { rec.states.push_back(s.state); }); }));
    subs.push_back(
        ws->on<DroppedFrame>([&rec](const DroppedFrame& d) { rec.add([&] { rec.dropped.push_back(d.reason); }); }));
    subs.push_back(
        ws->on<AuthSessionExpireSoon>([&rec](const AuthSessionExpireSoon&) { rec.add([&] { ++rec.expire_soon; }); }));
    subs.push_back(
        ws->on<HeartbeatTimeout>([&rec](const HeartbeatTimeout&) { rec.add([&] { ++rec.heartbeat_timeouts; }); }));
    subs.push_back(
        ws->on<AuthFailed>([&rec](const AuthFailed& f) { rec.add([&] { rec.auth_failures.push_back(f); }); }));
    subs.push_back(ws->on<Unknown>([&rec](const Unknown& u) { rec.add([&] { rec.unknown.push_back(u); }); }));
    ws->connect();
    auto open = ws->when_open().get_for(10s);
    EXPECT_TRUE(open && *open) << "the event connection did not open";
    return ws;
  }

  // The engine's dev-only hooks live outside /api/: a plain HTTP request.
  nlohmann::json dev(const std::string& path, const nlohmann::json& body) {
    http::Transport t(rt, {});
    auto res = t.send({.method = "POST",
                       .url = engine->url() + path,
                       .headers = {{"Content-Type", "application/json"}},
                       .body = body.dump()})
                   .get();
    EXPECT_TRUE(res && res->status == 200) << path << ": " << (res ? res->body : res.error().describe());
    return res ? nlohmann::json::parse(res->body, nullptr, false) : nlohmann::json();
  }
  bool set_presence(ApiClient& c, const std::string& state) {
    return static_cast<bool>(c.call(Method::put, "chatd/1.0/users/me/presences", {{"state", state}}).get());
  }

  // WAZO_TEST_LOG=1 shows the SDK's debug log.
  Runtime rt{std::getenv("WAZO_TEST_LOG") != nullptr
                 ? RuntimeOptions{.log_sink = stderr_log_sink(), .log_level = LogLevel::debug}
                 : RuntimeOptions{.log_sink = [](const LogRecord&) {}, .log_level = LogLevel::off}};
  test::TempDir dir;
  std::unique_ptr<test::EngineProcess> engine = std::make_unique<test::EngineProcess>(
      std::vector<std::string>{"--state", dir.file("state.json"), "--expire-soon", "2"});
  std::map<std::string, std::string> uuids;
  Recorder a, b;                   // outlive the subscriptions that feed them
  std::vector<Subscription> subs;  // reset first, when the fixture goes
};

TEST_F(Events, RestActionsCauseTheirEventsExactlyOnce) {
  auto alice = login("alice");
  auto bob = login("bob");
  auto wa = listen(*alice, a);
  auto wb = listen(*bob, b);
  std::atomic<int> typed{0};
  std::string state;
  auto sub = wa->on<ChatdPresenceUpdated>([&](const ChatdPresenceUpdated& p) {
    if (p.uuid == uuids["alice"]) {
      a.add([&] { state = p.state; });
      ++typed;
    }
  });

  ASSERT_TRUE(set_presence(*alice, "away"));
  ASSERT_TRUE(a.wait([&] { return state == "away"; }));
  ASSERT_TRUE(b.wait([&] { return std::count(b.names.begin(), b.names.end(), "chatd_presence_updated") >= 1; }));

  std::this_thread::sleep_for(300ms);  // anything doubled would have arrived by now
  EXPECT_EQ(a.count("chatd_presence_updated"), 1);
  EXPECT_EQ(typed.load(), 1);
  EXPECT_EQ(b.count("chatd_presence_updated"), 1);  // a tenant event reaches bob

  // DND is a user event (chatd also republishes the presence, which now shows do_not_disturb).
  ASSERT_TRUE(
      alice->call(Method::put, "confd/1.1/users/" + uuids["alice"] + "/services/dnd", {{"enabled", true}}).get());
  ASSERT_TRUE(a.wait([&] { return std::count(a.names.begin(), a.names.end(), "users_services_dnd_updated") >= 1; }));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(a.count("users_services_dnd_updated"), 1);
  EXPECT_EQ(b.count("users_services_dnd_updated"), 0);  // a user event does not
}

TEST_F(Events, SubscribingToOneNameGetsOnlyThatName) {
  auto alice = login("alice");
  auto wa = listen(*alice, a, {.events = {"users_services_dnd_updated"}});
  ASSERT_TRUE(set_presence(*alice, "away"));
  ASSERT_TRUE(
      alice->call(Method::put, "confd/1.1/users/" + uuids["alice"] + "/services/dnd", {{"enabled", true}}).get());
  ASSERT_TRUE(a.wait([&] { return std::count(a.names.begin(), a.names.end(), "users_services_dnd_updated") >= 1; }));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(a.count("chatd_presence_updated"), 0);
}

TEST_F(Events, ATokenThatExpiresIsRenewedWithoutLosingTheConnection) {
  auto alice = login("alice", 4);  // the engine warns 2 s before expiry
  auto wa = listen(*alice, a);
  const std::string first = alice->token();
  ASSERT_TRUE(a.wait([&] { return a.expire_soon >= 1; }, 6s));
  ASSERT_TRUE(a.wait([&] { return alice->token() != first; }, 5s)) << "no refresh after auth_session_expire_soon";
  std::this_thread::sleep_for(3s);  // past the first token's expiry
  ASSERT_TRUE(set_presence(*alice, "away"));
  ASSERT_TRUE(a.wait([&] { return std::count(a.names.begin(), a.names.end(), "chatd_presence_updated") >= 1; }));
  EXPECT_EQ(a.opens(), 1) << "the connection was dropped";
  EXPECT_TRUE(a.auth_failures.empty());
}

TEST_F(Events, EngineKilledAndRestartedMidStream) {
  auto alice = login("alice");
  auto wa = listen(*alice, a);
  ASSERT_TRUE(set_presence(*alice, "away"));
  ASSERT_TRUE(a.wait([&] { return a.count("chatd_presence_updated") == 1; }));

  const int port = engine->port();
  engine->kill_now();
  ASSERT_TRUE(a.wait([&] { return !a.states.empty() && a.states.back() == ConnectionState::reconnecting; }));
  engine = std::make_unique<test::EngineProcess>(
      std::vector<std::string>{"--state", dir.file("state.json"), "--listen", "127.0.0.1:" + std::to_string(port)});
  ASSERT_TRUE(engine->running()) << engine->error();
  ASSERT_TRUE(a.wait([&] { return a.opens() == 2; }, 15s)) << "did not reconnect";

  ASSERT_TRUE(set_presence(*alice, "available"));
  ASSERT_TRUE(a.wait([&] { return a.count("chatd_presence_updated") == 2; }));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(a.count("chatd_presence_updated"), 2);  // one before, one after: none twice
}

TEST_F(Events, GarbageOversizeFramesAndUnknownEventsAreSurvived) {
  auto alice = login("alice");
  auto wa = listen(*alice, a, {.max_message_bytes = 1024 * 1024});
  dev("/_dev/websocket/send", {{"text", "this is not json"}});
  dev("/_dev/websocket/send", {{"text", R"({"op":"event","code":0,"data":{"no_name":1}})"}});
  dev("/_dev/websocket/send", {{"text", "x"}, {"repeat", 20 * 1024 * 1024}});  // a 20 MB frame
  dev("/_dev/events", {{"name", "brand_new_event"},
                       {"data", {{"x", 1}}},
                       {"required_acl", "events.brand_new"},
                       {"user_uuids", {uuids["alice"]}}});
  ASSERT_TRUE(a.wait([&] { return a.dropped.size() >= 3 && !a.unknown.empty(); }, 20s))
      << "dropped " << a.dropped.size() << ", unknown " << a.unknown.size();
  EXPECT_EQ(a.unknown[0].name, "brand_new_event");
  EXPECT_EQ(a.unknown[0].payload["x"], 1);
  EXPECT_EQ(wa->state(), ConnectionState::open);
  ASSERT_TRUE(set_presence(*alice, "away"));  // and events still flow on the same connection
  ASSERT_TRUE(a.wait([&] { return a.count("chatd_presence_updated") == 1; }));
  EXPECT_EQ(a.opens(), 1);
}

TEST_F(Events, AStalledNetworkTimesTheHeartbeatOutAndReconnects) {
  auto alice = login("alice");
  auto wa = listen(*alice, a, {.heartbeat = {.delay = 200ms, .timeout = 200ms, .max_misses = 2}});
  dev("/_dev/websocket/stall", {{"seconds", 2}});
  ASSERT_TRUE(a.wait([&] { return a.heartbeat_timeouts >= 1; }, 10s));
  ASSERT_TRUE(a.wait([&] { return a.opens() >= 2; }, 15s));
  ASSERT_TRUE(set_presence(*alice, "away"));
  ASSERT_TRUE(a.wait([&] { return a.count("chatd_presence_updated") == 1; }));
}

TEST_F(Events, AuthFailureCloseGetsAFreshTokenAndCarriesOn) {
  auto alice = login("alice");
  auto wa = listen(*alice, a);
  const std::string first = alice->token();
  dev("/_dev/websocket/close", {{"code", 4002}, {"reason", "authentication failed"}});
  ASSERT_TRUE(a.wait([&] { return !a.auth_failures.empty(); }));
  EXPECT_TRUE(a.auth_failures[0].recovered);
  EXPECT_EQ(a.auth_failures[0].close_code, 4002);
  ASSERT_TRUE(a.wait([&] { return a.opens() == 2; }));
  EXPECT_NE(alice->token(), first);  // the REST client got the same fresh token
  ASSERT_TRUE(set_presence(*alice, "away"));
  ASSERT_TRUE(a.wait([&] { return a.count("chatd_presence_updated") == 1; }));
}

TEST_F(Events, WithoutAnApiClientABadTokenIsReportedAndWaitsForANewOne) {
  auto alice = login("alice");
  WebSocketClient ws(rt, {.host = engine->url(), .token = "not-a-token", .reconnect = {.initial_delay = 100ms}});
  subs.push_back(ws.on<AuthFailed>([&](const AuthFailed& f) { a.add([&] { a.auth_failures.push_back(f); }); }));
  subs.push_back(ws.on<StateChanged>([&](const StateChanged& s) { a.add([&] { a.states.push_back(s.state); }); }));
  ws.connect();
  ASSERT_TRUE(a.wait([&] { return !a.auth_failures.empty(); }));
  EXPECT_FALSE(a.auth_failures[0].recovered);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(a.auth_failures.size(), 1U) << "it must not hammer the server with a bad token";
  ws.update_token(alice->token());
  ASSERT_TRUE(a.wait([&] { return a.opens() == 1; }));
}

TEST_F(Events, CloseStopsForGood) {
  auto alice = login("alice");
  auto wa = listen(*alice, a);
  wa->close();
  ASSERT_TRUE(a.wait([&] { return !a.states.empty() && a.states.back() == ConnectionState::closed; }));
  ASSERT_TRUE(set_presence(*alice, "away"));
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(a.count("chatd_presence_updated"), 0);
  EXPECT_EQ(a.opens(), 1);
  EXPECT_EQ(wa->state(), ConnectionState::closed);
}

TEST_F(Events, TlsWithTheEnginesCa) {
  auto tls_engine =
      std::make_unique<test::EngineProcess>(std::vector<std::string>{"--tls", "--tls-ca-out", dir.file("ca.pem")});
  ASSERT_TRUE(tls_engine->running()) << tls_engine->error();
  ApiClient c(
      rt, rest::ClientOptions{
              .server = tls_engine->url(), .client_id = "tls", .connection = {.tls = {.ca_file = dir.file("ca.pem")}}});
  ASSERT_TRUE(c.auth().log_in({.username = "alice", .password = "secret"}).get());
  auto ws = listen(c, a);
  ASSERT_TRUE(set_presence(c, "away"));
  ASSERT_TRUE(a.wait([&] { return a.count("chatd_presence_updated") == 1; }));

  // Without the CA, verification refuses the engine's certificate.
  WebSocketClient refused(rt, {.host = tls_engine->url(), .token = c.token(), .reconnect = {.enabled = false}});
  refused.connect();
  auto r = refused.when_open().get_for(10s);
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r);
}

}  // namespace
}  // namespace wazo::events
