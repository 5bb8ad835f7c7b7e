// wazo-dev-engine's websocketd, bus events, chatd and confd, over real loopback sockets, with a raw Boost.Beast
// WebSocket client (not the SDK's): the protocol as wazo-websocketd speaks it, close codes, limits, dev hooks,
// and --state persistence across kill -9.
#include <utility>  // before Asio's awaitable (it uses std::exchange)

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <sys/wait.h>

#include <gtest/gtest.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <nlohmann/json.hpp>

#include "engine_process.hpp"

namespace wazo {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* alice_uuid = "a11ce000-0000-4000-8000-000000000001";
constexpr const char* bob_uuid = "b0b00000-0000-4000-8000-000000000002";
constexpr const char* tenant_uuid = "7e4a4700-0000-4000-8000-000000000001";

struct HttpResult {
  int status = 0;
  std::string body;
  [[nodiscard]] json json_body() const { return json::parse(body, nullptr, false); }
};

// One plain HTTP/1.1 request on a fresh connection.
HttpResult http_request(int port, beast::http::verb method, const std::string& target, const std::string& body = {},
                        const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  beast::error_code ec;
  stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)), ec);
  if (ec) return {};
  beast::http::request<beast::http::string_body> req{method, target, 11};
  req.set(beast::http::field::host, "127.0.0.1");
  req.set(beast::http::field::content_type, "application/json");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  beast::http::write(stream, req, ec);
  if (ec) return {};
  beast::flat_buffer buffer;
  beast::http::response<beast::http::string_body> res;
  beast::http::read(stream, buffer, res, ec);
  if (ec) return {};
  return {static_cast<int>(res.result_int()), res.body()};
}

// A WebSocket client whose reads run on its own thread; messages and the close code are collected for the test.
class WsClient {
 public:
  struct Options {
    std::string target = "/api/websocketd/?version=2";
    std::string token_header;  // sent as X-Auth-Token when set
    std::size_t read_message_max = 16 * 1024 * 1024;
  };

  WsClient(int port, Options options) : ws_(ioc_) {
    beast::error_code ec;
    beast::get_lowest_layer(ws_).connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)), ec);
    if (!ec) {
      ws_.read_message_max(options.read_message_max);
      const std::string header = options.token_header;
      ws_.set_option(websocket::stream_base::decorator([header](websocket::request_type& req) {
        if (!header.empty()) req.set("X-Auth-Token", header);
      }));
      ws_.handshake("127.0.0.1", options.target, ec);
    }
    if (ec) {
      error_ = ec.message();
      return;
    }
    connected_ = true;
    read_more();
    thread_ = std::thread([this] { ioc_.run(); });
  }

  ~WsClient() {
    asio::post(ioc_, [this] {
      beast::error_code ec;
      beast::get_lowest_layer(ws_).socket().close(ec);
    });
    if (thread_.joinable()) thread_.join();
  }

  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  [[nodiscard]] bool connected() const { return connected_; }
  [[nodiscard]] const std::string& error() const { return error_; }

  bool send(std::string data, bool binary = false) {
    auto payload = std::make_shared<std::string>(std::move(data));
    auto done = std::make_shared<std::promise<beast::error_code>>();
    auto result = done->get_future();
    asio::post(ioc_, [this, payload, done, binary] {
      ws_.binary(binary);
      ws_.async_write(asio::buffer(*payload),
                      [payload, done](beast::error_code ec, std::size_t) { done->set_value(ec); });
    });
    if (result.wait_for(5s) != std::future_status::ready) return false;
    return !result.get();
  }
  bool send_json(const json& j) { return send(j.dump()); }

  // The next message, or nullopt after the timeout or once closed.
  std::optional<std::string> next(std::chrono::milliseconds timeout = 3s) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, timeout, [&] { return !messages_.empty() || closed_; });
    if (messages_.empty()) return std::nullopt;
    std::string m = std::move(messages_.front());
    messages_.pop_front();
    return m;
  }
  json next_json(std::chrono::milliseconds timeout = 3s) {
    auto m = next(timeout);
    return m ? json::parse(*m, nullptr, false) : json();
  }
  // The next message that is not a chatd_presence_updated or auth_session_* event (logins elsewhere send those).
  json next_relevant(std::chrono::milliseconds timeout = 3s) {
    for (;;) {
      json m = next_json(timeout);
      if (!m.is_object()) return m;
      const std::string name = m.value("/data/name"_json_pointer, m.value("name", ""));
      if (name != "chatd_presence_updated" && name.rfind("auth_session_", 0) != 0) return m;
    }
  }
  // Messages until one matches, at most `timeout` in all; the match is the last element.
  std::vector<json> until(const std::function<bool(const json&)>& match, std::chrono::milliseconds timeout = 3s) {
    std::vector<json> seen;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto m = next(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
      if (!m) break;
      seen.push_back(json::parse(*m, nullptr, false));
      if (match(seen.back())) break;
    }
    return seen;
  }

  // The close code the server sent (-1 when the connection ended without one, 0 when still open at the timeout).
  int close_code(std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, timeout, [&] { return closed_; });
    return closed_ ? close_code_ : 0;
  }

  // v2 handshake: init, subscriptions, start.
  void start(const std::vector<std::string>& events) {
    json init = next_json();
    ASSERT_EQ(init["op"], "init") << init;
    for (const auto& e : events) {
      ASSERT_TRUE(send_json({{"op", "subscribe"}, {"data", {{"event_name", e}}}}));
      json r = next_json();
      ASSERT_EQ(r, json({{"op", "subscribe"}, {"code", 0}, {"data", nullptr}}));
    }
    ASSERT_TRUE(send_json({{"op", "start"}}));
    json r = next_json();
    ASSERT_EQ(r, json({{"op", "start"}, {"code", 0}, {"data", nullptr}}));
  }

  // Round trip: everything the engine queued before the pong arrives before it.
  std::vector<json> sync(const std::string& payload = "sync") {
    EXPECT_TRUE(send_json({{"op", "ping"}, {"data", {{"payload", payload}}}}));
    return until([&](const json& m) { return m.value("op", "") == "pong" && m["data"]["payload"] == payload; });
  }

 private:
  void read_more() {
    ws_.async_read(buffer_, [this](beast::error_code ec, std::size_t) {
      std::lock_guard lock(mutex_);
      if (ec) {
        closed_ = true;
        close_code_ = ec == websocket::error::closed ? static_cast<int>(ws_.reason().code) : -1;
        cv_.notify_all();
        return;
      }
      messages_.push_back(beast::buffers_to_string(buffer_.data()));
      buffer_.consume(buffer_.size());
      cv_.notify_all();
      read_more();
    });
  }

  asio::io_context ioc_;
  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::string> messages_;
  bool closed_ = false;
  int close_code_ = 0;
  bool connected_ = false;
  std::string error_;
};

class EngineEvents : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(engine.running()) << engine.error(); }

  HttpResult call(beast::http::verb method, const std::string& target, const std::string& token = {},
                  const json& body = nullptr) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!token.empty()) headers.emplace_back("X-Auth-Token", token);
    return http_request(engine.port(), method, target, body.is_null() ? std::string() : body.dump(), headers);
  }
  // A token for alice, bob or carol (password "secret").
  json login(const std::string& user, int expiration = 600) {
    const std::string basic = user == "alice" ? "YWxpY2U6c2VjcmV0"
                              : user == "bob" ? "Ym9iOnNlY3JldA=="
                                              : "Y2Fyb2w6c2VjcmV0";
    auto r = http_request(engine.port(), beast::http::verb::post, "/api/auth/0.1/token",
                          json{{"expiration", expiration}}.dump(), {{"Authorization", "Basic " + basic}});
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json_body()["data"];
  }
  std::string token(const std::string& user, int expiration = 600) {
    return login(user, expiration).value("token", "");
  }
  std::unique_ptr<WsClient> connect(const std::string& token, int version = 2) {
    auto c = std::make_unique<WsClient>(
        engine.port(),
        WsClient::Options{.target = "/api/websocketd/?token=" + token + "&version=" + std::to_string(version)});
    EXPECT_TRUE(c->connected()) << c->error();
    return c;
  }
  HttpResult dev(const std::string& path, const json& body) {
    return http_request(engine.port(), beast::http::verb::post, path, body.dump());
  }
  static bool named(const json& m, const std::string& name) {
    return m.value("op", "") == "event" && m["data"]["name"] == name;
  }

  test::EngineProcess engine;
};

using EngineWebsocket = EngineEvents;
using EngineChatd = EngineEvents;
using EngineConfd = EngineEvents;

// ---------------------------------------------------------------- websocketd protocol

TEST_F(EngineWebsocket, V2InitSubscribeStartPingAndEventEnvelope) {
  const std::string alice = token("alice");
  auto ws = connect(alice);
  json init = ws->next_json();
  EXPECT_EQ(init, json({{"op", "init"}, {"code", 0}, {"data", {{"version", 2}}}}));
  ASSERT_TRUE(ws->send_json({{"op", "subscribe"}, {"data", {{"event_name", "chatd_presence_updated"}}}}));
  EXPECT_EQ(ws->next_json(), json({{"op", "subscribe"}, {"code", 0}, {"data", nullptr}}));
  ASSERT_TRUE(ws->send_json({{"op", "start"}}));
  EXPECT_EQ(ws->next_json(), json({{"op", "start"}, {"code", 0}, {"data", nullptr}}));
  ASSERT_TRUE(ws->send_json({{"op", "ping"}, {"data", {{"payload", "hello"}}}}));
  EXPECT_EQ(ws->next_json(), json({{"op", "pong"}, {"code", 0}, {"data", {{"payload", "hello"}}}}));

  auto r =
      call(beast::http::verb::put, "/api/chatd/1.0/users/me/presences", alice, {{"state", "away"}, {"status", "out"}});
  ASSERT_EQ(r.status, 204) << r.body;
  const auto seen = ws->sync();
  int presences = 0;
  for (const auto& m : seen) {
    if (!named(m, "chatd_presence_updated")) continue;
    ++presences;
    const json& msg = m["data"];
    EXPECT_EQ(m["code"], 0);
    EXPECT_EQ(msg["origin_uuid"], "e1a9e000-0000-4000-8000-000000000001");
    EXPECT_EQ(msg["required_acl"], std::string("events.chatd.users.") + alice_uuid + ".presences.updated");
    EXPECT_EQ(msg["required_access"], "event.chatd_presence_updated");
    EXPECT_EQ(msg["tenant_uuid"], tenant_uuid);
    EXPECT_EQ(msg["user_uuid:*"], true);
    EXPECT_TRUE(msg["timestamp"].is_string());
    EXPECT_EQ(msg["data"]["uuid"], alice_uuid);
    EXPECT_EQ(msg["data"]["state"], "away");
    EXPECT_EQ(msg["data"]["status"], "out");
    EXPECT_EQ(msg["data"]["connected"], true);
    for (const char* key : {"tenant_uuid", "last_activity", "line_state", "mobile", "do_not_disturb", "lines"})
      EXPECT_TRUE(msg["data"].contains(key)) << key;
  }
  EXPECT_EQ(presences, 1);
}

TEST_F(EngineWebsocket, V1SendsRawEventsAndNoRepliesAfterStart) {
  const std::string alice = token("alice");
  auto ws = connect(alice, 1);
  EXPECT_EQ(ws->next_json(), json({{"op", "init"}, {"code", 0}, {"data", {{"version", 1}}}}));
  ASSERT_TRUE(ws->send_json({{"op", "subscribe"}, {"data", {{"event_name", "dev_marker"}}}}));
  EXPECT_EQ(ws->next_json()["op"], "subscribe");
  ASSERT_TRUE(ws->send_json({{"op", "start"}}));
  EXPECT_EQ(ws->next_json()["op"], "start");
  ASSERT_TRUE(ws->send_json({{"op", "ping"}, {"data", {{"payload", "x"}}}}));              // ignored in v1
  ASSERT_TRUE(ws->send_json({{"op", "subscribe"}, {"data", {{"event_name", "other"}}}}));  // no reply after start
  ASSERT_EQ(dev("/_dev/events", {{"name", "dev_marker"}, {"required_acl", "events.dev.marker"}, {"data", {{"n", 1}}}})
                .json_body()["delivered"],
            1);
  json event = ws->next_json();
  EXPECT_EQ(event["name"], "dev_marker") << event;  // the bus message itself, no envelope
  EXPECT_EQ(event["data"]["n"], 1);
  EXPECT_FALSE(ws->next(200ms));
}

TEST_F(EngineWebsocket, MissingTokenCloses4001) {
  WsClient ws(engine.port(), {.target = "/api/websocketd/?version=2"});
  ASSERT_TRUE(ws.connected()) << ws.error();
  EXPECT_EQ(ws.close_code(), 4001);
}

TEST_F(EngineWebsocket, UnknownTokenOrNoWebsocketdAclCloses4002) {
  WsClient unknown(engine.port(), {.target = "/api/websocketd/?version=2&token=00000000-0000-4000-8000-000000000000"});
  EXPECT_EQ(unknown.close_code(), 4002);
  // The header works as well as the query.
  WsClient header(engine.port(), {.target = "/api/websocketd/?version=2", .token_header = token("bob")});
  EXPECT_EQ(header.next_json()["op"], "init");
}

TEST_F(EngineWebsocket, ProtocolErrorsClose4004) {
  const std::string alice = token("alice");
  const std::vector<std::string> bad = {
      "{not json",
      "[1, 2]",
      R"({"data": {}})",
      R"({"op": 3})",
      R"({"op": "dance"})",
      R"({"op": "subscribe"})",
      R"({"op": "subscribe", "data": {"event_name": 1}})",
      R"({"op": "token", "data": {}})",
      R"({"op": "ping", "data": {"payload": null}})",
  };
  for (const auto& frame : bad) {
    auto ws = connect(alice);
    ASSERT_EQ(ws->next_json()["op"], "init");
    ASSERT_TRUE(ws->send(frame));
    EXPECT_EQ(ws->close_code(), 4004) << frame;
  }
  auto binary = connect(alice);
  ASSERT_EQ(binary->next_json()["op"], "init");
  ASSERT_TRUE(binary->send(R"({"op": "start"})", true));
  EXPECT_EQ(binary->close_code(), 4004);

  WsClient version(engine.port(), {.target = "/api/websocketd/?version=3&token=" + alice});
  EXPECT_EQ(version.close_code(), 4004);
  WsClient not_a_number(engine.port(), {.target = "/api/websocketd/?version=two&token=" + alice});
  EXPECT_EQ(not_a_number.close_code(), 1011);
}

TEST_F(EngineWebsocket, ExpiredTokenCloses4003) {
  auto ws = connect(token("alice", 2));
  ASSERT_EQ(ws->next_json()["op"], "init");
  EXPECT_EQ(ws->close_code(6s), 4003);
}

TEST_F(EngineWebsocket, RevokedTokenCloses4003) {
  const std::string alice = token("alice");
  auto ws = connect(alice);
  ASSERT_EQ(ws->next_json()["op"], "init");
  EXPECT_EQ(call(beast::http::verb::delete_, "/api/auth/0.1/token/" + alice).status, 200);
  EXPECT_EQ(ws->close_code(), 4003);
}

TEST_F(EngineWebsocket, TokenOpReplacesTheToken) {
  const std::string first = token("alice");
  auto ws = connect(first);
  ws->start({"*"});
  ASSERT_TRUE(ws->send_json({{"op", "token"}, {"data", {{"token", token("alice")}}}}));
  EXPECT_EQ(ws->next_relevant(), json({{"op", "token"}, {"code", 0}, {"data", nullptr}}));
  EXPECT_EQ(call(beast::http::verb::delete_, "/api/auth/0.1/token/" + first).status, 200);
  EXPECT_FALSE(ws->sync().empty());  // still open: the revoked token is no longer the connection's
  EXPECT_EQ(ws->close_code(200ms), 0);

  ASSERT_TRUE(ws->send_json({{"op", "token"}, {"data", {{"token", "not-a-token"}}}}));
  EXPECT_EQ(ws->close_code(), 4002);
}

TEST_F(EngineWebsocket, EventsBeforeStartAreDropped) {
  auto ws = connect(token("alice"));
  ASSERT_EQ(ws->next_json()["op"], "init");
  ASSERT_TRUE(ws->send_json({{"op", "subscribe"}, {"data", {{"event_name", "dev_marker"}}}}));
  ASSERT_EQ(ws->next_json()["op"], "subscribe");
  const json early = {{"name", "dev_marker"}, {"required_acl", "events.dev.marker"}, {"data", {{"n", "early"}}}};
  EXPECT_EQ(dev("/_dev/events", early).json_body()["delivered"], 0);
  ASSERT_TRUE(ws->send_json({{"op", "start"}}));
  ASSERT_EQ(ws->next_json()["op"], "start");
  const json late = {{"name", "dev_marker"}, {"required_acl", "events.dev.marker"}, {"data", {{"n", "late"}}}};
  EXPECT_EQ(dev("/_dev/events", late).json_body()["delivered"], 1);
  json event = ws->next_json();
  EXPECT_EQ(event["data"]["data"]["n"], "late") << event;
  // No required_acl: dropped, as wazo-websocketd does.
  EXPECT_EQ(dev("/_dev/events", {{"name", "dev_marker"}}).json_body()["delivered"], 0);
  // An ACL the token lacks: dropped.
  EXPECT_EQ(dev("/_dev/events", {{"name", "dev_marker"}, {"required_acl", "nobody.has.this"}}).json_body()["delivered"],
            0);
}

TEST_F(EngineWebsocket, UserEventsReachOnlyTheirUserTenantEventsEveryone) {
  const std::string alice = token("alice");
  auto alice_ws = connect(alice);
  alice_ws->start({"*"});
  auto bob_ws = connect(token("bob"));
  bob_ws->start({"*"});

  ASSERT_EQ(call(beast::http::verb::put, "/api/chatd/1.0/users/me/presences", alice, {{"state", "away"}}).status, 204);
  ASSERT_EQ(call(beast::http::verb::put, std::string("/api/confd/1.1/users/") + alice_uuid + "/services/dnd", alice,
                 {{"enabled", true}})
                .status,
            204);
  const auto bob_saw = bob_ws->sync();
  bool alice_presence = false;
  for (const auto& m : bob_saw) {
    EXPECT_FALSE(named(m, "users_services_dnd_updated")) << "a UserEvent for alice reached bob: " << m;
    if (named(m, "chatd_presence_updated") && m["data"]["data"]["uuid"] == alice_uuid) alice_presence = true;
  }
  EXPECT_TRUE(alice_presence);

  const auto alice_saw = alice_ws->sync();
  int dnd = 0;
  for (const auto& m : alice_saw) {
    if (!named(m, "users_services_dnd_updated")) continue;
    ++dnd;
    EXPECT_EQ(m["data"]["data"],
              json({{"user_id", 1}, {"user_uuid", alice_uuid}, {"tenant_uuid", tenant_uuid}, {"enabled", true}}));
    EXPECT_EQ(m["data"][std::string("user_uuid:") + alice_uuid], true);
    EXPECT_EQ(m["data"]["required_acl"], std::string("events.config.users.") + alice_uuid + ".services.dnd.updated");
  }
  EXPECT_EQ(dnd, 1);
}

TEST_F(EngineWebsocket, ExpireSoonIsPublishedForAShortToken) {
  auto ws = connect(token("alice"));
  ws->start({"auth_session_expire_soon"});
  const json short_lived = login("alice", 30);  // under --expire-soon's 60 s: published at once
  const auto seen = ws->until([](const json& m) { return named(m, "auth_session_expire_soon"); });
  ASSERT_FALSE(seen.empty());
  const json& event = seen.back();
  ASSERT_TRUE(named(event, "auth_session_expire_soon")) << event;
  EXPECT_EQ(event["data"]["data"],
            json({{"uuid", short_lived["session_uuid"]}, {"user_uuid", alice_uuid}, {"tenant_uuid", tenant_uuid}}));
  EXPECT_EQ(event["data"]["required_acl"], std::string("events.auth.users.") + alice_uuid + ".sessions." +
                                               short_lived["session_uuid"].get<std::string>() + ".expire_soon");
  const auto later = ws->sync();  // once per token
  for (const auto& m : later) EXPECT_FALSE(named(m, "auth_session_expire_soon")) << m;
}

TEST_F(EngineWebsocket, OversizeClientFrameCloses1009) {
  auto ws = connect(token("alice"));
  ASSERT_EQ(ws->next_json()["op"], "init");
  ws->send(std::string(2 * 1024 * 1024, 'x'));  // may fail midway: the engine stops reading
  EXPECT_EQ(ws->close_code(), 1009);
  EXPECT_EQ(http_request(engine.port(), beast::http::verb::get, "/api/auth/0.1/backends").status, 200);
}

TEST_F(EngineWebsocket, DevHooksSendStallAndClose) {
  WsClient ws(engine.port(),
              {.target = "/api/websocketd/?version=2&token=" + token("alice"), .read_message_max = 32 * 1024 * 1024});
  ASSERT_EQ(ws.next_json()["op"], "init");

  const auto big = dev("/_dev/websocket/send", {{"text", "0123456789"}, {"repeat", 2 * 1000 * 1000}});
  ASSERT_EQ(big.status, 200) << big.body;
  EXPECT_EQ(big.json_body()["connections"], 1);
  auto frame = ws.next(10s);
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->size(), 20U * 1000 * 1000);
  EXPECT_EQ(frame->substr(0, 20), "01234567890123456789");

  ASSERT_EQ(dev("/_dev/websocket/stall", {{"seconds", 1.5}}).status, 200);
  ASSERT_TRUE(ws.send_json({{"op", "ping"}, {"data", {{"payload", "stalled"}}}}));
  EXPECT_FALSE(ws.next(300ms)) << "the engine answered during a stall";
  EXPECT_EQ(ws.next_json(5s), json({{"op", "pong"}, {"code", 0}, {"data", {{"payload", "stalled"}}}}));

  const auto metrics = http_request(engine.port(), beast::http::verb::get, "/_dev/metrics").json_body();
  EXPECT_EQ(metrics["websockets"], 1);

  ASSERT_EQ(dev("/_dev/websocket/close", {{"code", 1012}, {"reason", "restart"}}).json_body()["connections"], 1);
  EXPECT_EQ(ws.close_code(), 1012);
}

TEST_F(EngineWebsocket, ASlowConsumerIsClosedNotBuffered) {
  auto ws = connect(token("alice"));
  ASSERT_EQ(ws->next_json()["op"], "init");
  ASSERT_EQ(dev("/_dev/websocket/stall", {{"seconds", 1}}).status, 200);
  for (int i = 0; i < 3; ++i)  // 3 × 25 MB queued: beyond the 64 MiB bound
    ASSERT_EQ(dev("/_dev/websocket/send", {{"text", "x"}, {"repeat", 25 * 1000 * 1000}}).status, 200);
  EXPECT_EQ(ws->close_code(8s), 1011);
  const auto metrics = http_request(engine.port(), beast::http::verb::get, "/_dev/metrics").json_body();
  EXPECT_EQ(metrics["websocket"]["queue_overflows"], 1);
}

TEST(EngineWebsocketState, AKilledEngineRestartsWithItsTokens) {
  test::TempDir dir;
  const std::string state_file = dir.file("state.json");
  auto engine = std::make_unique<test::EngineProcess>(std::vector<std::string>{"--state", state_file});
  ASSERT_TRUE(engine->running()) << engine->error();
  const int port = engine->port();
  auto r = http_request(port, beast::http::verb::post, "/api/auth/0.1/token", R"({"expiration": 600})",
                        {{"Authorization", "Basic YWxpY2U6c2VjcmV0"}});
  ASSERT_EQ(r.status, 200);
  const std::string alice = r.json_body()["data"]["token"];
  ASSERT_EQ(http_request(port, beast::http::verb::put, "/api/chatd/1.0/users/me/presences", R"({"state": "away"})",
                         {{"X-Auth-Token", alice}})
                .status,
            204);

  ::kill(engine->pid(), SIGKILL);
  engine->stop();  // reaps it
  engine = std::make_unique<test::EngineProcess>(
      std::vector<std::string>{"--listen", "127.0.0.1:" + std::to_string(port), "--state", state_file});
  ASSERT_TRUE(engine->running()) << engine->error();
  EXPECT_EQ(engine->port(), port);
  EXPECT_EQ(http_request(port, beast::http::verb::get, "/api/auth/0.1/token/" + alice).status, 200);
  auto presence =
      http_request(port, beast::http::verb::get, "/api/chatd/1.0/users/me/presences", {}, {{"X-Auth-Token", alice}});
  EXPECT_EQ(presence.json_body()["state"], "away") << presence.body;
  WsClient ws(port, {.target = "/api/websocketd/?version=2&token=" + alice});
  EXPECT_EQ(ws.next_json()["op"], "init");
}

TEST(EngineWebsocketTls, WssSpeaksTheSameProtocol) {
  test::TempDir dir;
  const std::string ca = dir.file("ca.pem");
  test::EngineProcess engine({"--tls", "--tls-ca-out", ca});
  ASSERT_TRUE(engine.running()) << engine.error();
  asio::io_context ioc;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.load_verify_file(ca);
  ctx.set_verify_mode(asio::ssl::verify_peer);
  ctx.set_verify_callback(asio::ssl::host_name_verification("127.0.0.1"));
  const tcp::endpoint at(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(engine.port()));

  beast::ssl_stream<beast::tcp_stream> https(ioc, ctx);
  beast::get_lowest_layer(https).connect(at);
  https.handshake(asio::ssl::stream_base::client);
  beast::http::request<beast::http::string_body> login{beast::http::verb::post, "/api/auth/0.1/token", 11};
  login.set(beast::http::field::host, "127.0.0.1");
  login.set(beast::http::field::authorization, "Basic Ym9iOnNlY3JldA==");
  login.set(beast::http::field::content_type, "application/json");
  login.body() = "{}";
  login.prepare_payload();
  beast::http::write(https, login);
  beast::flat_buffer buffer;
  beast::http::response<beast::http::string_body> res;
  beast::http::read(https, buffer, res);
  ASSERT_EQ(res.result_int(), 200U) << res.body();
  const std::string bob = json::parse(res.body())["data"]["token"];

  websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws(ioc, ctx);
  beast::get_lowest_layer(ws).connect(at);
  ws.next_layer().handshake(asio::ssl::stream_base::client);
  ws.handshake("127.0.0.1", "/api/websocketd/?version=2&token=" + bob);
  auto read = [&] {
    beast::flat_buffer b;
    ws.read(b);
    return json::parse(beast::buffers_to_string(b.data()));
  };
  EXPECT_EQ(read(), json({{"op", "init"}, {"code", 0}, {"data", {{"version", 2}}}}));
  ws.write(asio::buffer(std::string(R"({"op": "ping", "data": {"payload": "tls"}})")));
  EXPECT_EQ(read(), json({{"op", "pong"}, {"code", 0}, {"data", {{"payload", "tls"}}}}));
  ws.close(websocket::close_code::normal);
}

// ---------------------------------------------------------------- chatd

TEST_F(EngineChatd, PresencesFollowTheSpec) {
  const std::string alice = token("alice");
  const std::string bob = token("bob");
  auto r = call(beast::http::verb::get, std::string("/api/chatd/1.0/users/") + bob_uuid + "/presences", alice);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json_body()["state"], "available");
  EXPECT_EQ(r.json_body()["connected"], true);  // bob has a live session
  r = call(beast::http::verb::get,
           std::string("/api/chatd/1.0/users/presences?user_uuid=") + alice_uuid + "," + bob_uuid, bob);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json_body()["items"].size(), 2U);
  EXPECT_EQ(call(beast::http::verb::put, std::string("/api/chatd/1.0/users/") + alice_uuid + "/presences", bob,
                 {{"state", "away"}})
                .status,
            403);  // only their own
  EXPECT_EQ(call(beast::http::verb::put, "/api/chatd/1.0/users/me/presences", bob, {{"state", "asleep"}}).status, 400);
  EXPECT_EQ(
      call(beast::http::verb::get, "/api/chatd/1.0/users/00000000-0000-4000-8000-000000000000/presences", alice).status,
      404);
}

TEST_F(EngineChatd, RoomsAndMessagesReachEachMember) {
  const std::string alice = token("alice");
  const std::string bob = token("bob");
  auto bob_ws = connect(bob);
  bob_ws->start({"chatd_user_room_created", "chatd_user_room_message_created"});

  auto r = call(beast::http::verb::post, "/api/chatd/1.0/users/me/rooms", alice,
                {{"name", "lunch"}, {"users", {{{"uuid", bob_uuid}}}}});
  ASSERT_EQ(r.status, 201) << r.body;
  const json room = r.json_body();
  EXPECT_EQ(room["users"].size(), 2U);  // the creator is added
  json event = bob_ws->next_json();
  ASSERT_TRUE(named(event, "chatd_user_room_created")) << event;
  EXPECT_EQ(event["data"]["data"]["uuid"], room["uuid"]);
  EXPECT_EQ(event["data"][std::string("user_uuid:") + bob_uuid], true);

  const std::string messages = "/api/chatd/1.0/users/me/rooms/" + room["uuid"].get<std::string>() + "/messages";
  r = call(beast::http::verb::post, messages, alice, {{"content", "noon?"}, {"alias", "Al"}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.json_body()["room"]["uuid"], room["uuid"]);
  event = bob_ws->next_json();
  ASSERT_TRUE(named(event, "chatd_user_room_message_created")) << event;
  EXPECT_EQ(event["data"]["data"]["content"], "noon?");
  EXPECT_EQ(event["data"]["required_acl"], std::string("events.chatd.users.") + bob_uuid + ".rooms." +
                                               room["uuid"].get<std::string>() + ".messages.created");

  r = call(beast::http::verb::post, messages, bob, {{"content", "yes"}});
  ASSERT_EQ(r.status, 201);
  r = call(beast::http::verb::get, messages + "?limit=1", alice);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json_body()["total"], 2);
  ASSERT_EQ(r.json_body()["items"].size(), 1U);
  EXPECT_EQ(r.json_body()["items"][0]["content"], "yes");  // newest first by default
  r = call(beast::http::verb::get, "/api/chatd/1.0/users/me/rooms/messages?search=noon", bob);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json_body()["items"].size(), 1U);
  EXPECT_EQ(call(beast::http::verb::get, "/api/chatd/1.0/users/me/rooms/messages", bob).status, 400);
  EXPECT_EQ(call(beast::http::verb::get, messages, token("carol")).status, 404);  // not a member
  r = call(beast::http::verb::get, "/api/chatd/1.0/users/me/rooms", bob);
  EXPECT_EQ(r.json_body()["items"].size(), 1U);
}

// ---------------------------------------------------------------- confd

TEST_F(EngineConfd, UsersServicesAndForwards) {
  const std::string alice = token("alice");
  const std::string bob = token("bob");
  auto r = call(beast::http::verb::get, std::string("/api/confd/1.1/users/") + bob_uuid, bob);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json_body()["id"], 2);
  EXPECT_EQ(r.json_body()["uuid"], bob_uuid);
  EXPECT_EQ(r.json_body()["lines"][0]["extensions"][0]["exten"], "1002");  // every seeded user has one line
  EXPECT_EQ(call(beast::http::verb::get, "/api/confd/1.1/users/2", alice).json_body()["uuid"], bob_uuid);
  EXPECT_EQ(call(beast::http::verb::get, "/api/confd/1.1/users/99", alice).status, 404);
  EXPECT_EQ(call(beast::http::verb::get, "/api/confd/1.1/infos", bob).json_body()["uuid"],
            "e1a9e000-0000-4000-8000-000000000001");

  auto ws = connect(bob);
  ws->start({"users_forwards_busy_updated", "users_services_incallfilter_updated"});
  const std::string user = std::string("/api/confd/1.1/users/") + bob_uuid;
  r = call(beast::http::verb::put, user + "/forwards/busy", bob, {{"enabled", true}, {"destination", "1234"}});
  ASSERT_EQ(r.status, 204) << r.body;
  json event = ws->next_json();
  ASSERT_TRUE(named(event, "users_forwards_busy_updated")) << event;
  EXPECT_EQ(event["data"]["data"], json({{"user_id", 2},
                                         {"user_uuid", bob_uuid},
                                         {"tenant_uuid", tenant_uuid},
                                         {"enabled", true},
                                         {"destination", "1234"}}));
  EXPECT_EQ(call(beast::http::verb::get, user + "/forwards", bob).json_body()["busy"],
            json({{"enabled", true}, {"destination", "1234"}}));
  r = call(beast::http::verb::put, user + "/services/incallfilter", bob, {{"enabled", "yes"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(r.json_body().is_array()) << r.body;  // confd's error shape
  ASSERT_EQ(call(beast::http::verb::put, user + "/services", bob, {{"incallfilter", {{"enabled", true}}}}).status, 204);
  event = ws->next_json();
  ASSERT_TRUE(named(event, "users_services_incallfilter_updated")) << event;
  EXPECT_EQ(call(beast::http::verb::get, user + "/services", bob).json_body()["incallfilter"]["enabled"], true);
  EXPECT_EQ(call(beast::http::verb::put, std::string("/api/confd/1.1/users/") + alice_uuid + "/services/dnd", bob,
                 {{"enabled", true}})
                .status,
            403);
}

}  // namespace
}  // namespace wazo
