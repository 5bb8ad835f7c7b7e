// WebSocketClient: the wazo-websocketd event client (protocol v2), the C++ counterpart of the seed's
// WebSocketClient / Wazo.Websocket.
//
//   wazo::events::WebSocketClient ws(api_client, {.events = {"chatd_presence_updated", "call_created"}});
//   auto a = ws.on<wazo::events::ChatdPresenceUpdated>([](const auto& e) { ... });   // typed
//   auto b = ws.on("call_created", [](const wazo::events::RawEvent& e) { ... });      // by name, zero-copy
//   ws.connect();
//
// Protocol: connects to {wss|ws}://host/api/websocketd/?version=2 (token in the X-Auth-Token header, or in the
// query with `token_in_query`), waits for `init`, sends one `subscribe` per event name (or "*"), then `start`;
// dispatches `event` frames. `update_token()` sends an `op: token` while connected and is used on the next
// connection. A heartbeat sends `ping` every `delay`; `max_misses` unanswered pings drop the connection.
//
// Reconnection: jittered exponential backoff with a cap; every reconnection subscribes and starts again. Only
// one connection is ever open, so no event is delivered twice by this client; a bus message received twice
// (same name and timestamp, same payload size and ending, within the last 256 events) is dropped too. close()
// stops reconnection for good.
//
// Tokens: built from an ApiClient, the client shares its token source: on close 4002/4003 or
// `auth_session_expire_soon` for our session it asks the ApiClient for a refresh (single-flight with REST
// calls) and goes on with the new token; every refresh of the ApiClient is forwarded with `op: token`.
//
// Bounds: a frame larger than `max_message_bytes` is read through and discarded without buffering it (the
// connection survives); malformed frames and unknown ops are logged and dropped.
//
// Threads: handlers run on the runtime's I/O thread; any method may be called from any thread. A handler may
// destroy the client.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "wazo/core/async.hpp"
#include "wazo/core/connection.hpp"
#include "wazo/core/runtime.hpp"
#include "wazo/core/subscription.hpp"
#include "wazo/events/catalog.hpp"
#include "wazo/events/event.hpp"

namespace wazo::rest {
class ApiClient;
}

namespace wazo::events {

struct HeartbeatOptions {
  bool enabled = true;
  std::chrono::milliseconds delay{20'000};   // between pings
  std::chrono::milliseconds timeout{5'000};  // for each pong
  int max_misses = 3;                        // unanswered pings in a row before the connection is dropped
};

struct ReconnectOptions {
  bool enabled = true;
  std::chrono::milliseconds initial_delay{500};
  std::chrono::milliseconds max_delay{30'000};
  double multiplier = 2.0;
  int max_attempts = 0;  // 0: forever
};

struct WebSocketOptions {
  std::string host;  // "host[:port]" (wss), or "https://…" / "wss://…" / "http://…" / "ws://…"; from the ApiClient
  std::string token;                     // the initial token; from the ApiClient when built from one
  std::vector<std::string> events{"*"};  // names to subscribe to; "*" is everything
  int version = 2;                       // 1 is accepted for old engines (no ping, raw events)
  ConnectionOptions connection;          // TLS, timeouts; from the ApiClient when built from one
  HeartbeatOptions heartbeat;
  ReconnectOptions reconnect;
  std::size_t max_message_bytes = 8U * 1024U * 1024U;
  bool token_in_query = false;  // the seed's form (?token=); the header keeps the token out of access logs
};

class WebSocketClient {
 public:
  WebSocketClient(Runtime& runtime, WebSocketOptions options);
  // Host, TLS options and token from the client, and token renewal through it.
  explicit WebSocketClient(const rest::ApiClient& client, WebSocketOptions options = {});
  ~WebSocketClient();  // closes
  WebSocketClient(const WebSocketClient&) = delete;
  WebSocketClient& operator=(const WebSocketClient&) = delete;

  void connect();                           // starts (idempotent); reconnects on its own from then on
  void close();                             // closes for good (no reconnection); state becomes closed
  void reconnect(std::string reason = {});  // drops the current connection and connects again now
  void update_token(std::string token);     // op: token when open; used by every later connection
  [[nodiscard]] ConnectionState state() const;
  [[nodiscard]] bool is_connected() const { return state() == ConnectionState::open; }
  // Resolves when the client is next open (at once if it is), or with an error if it closes first.
  Async<void> when_open();

  void start_heartbeat();
  void stop_heartbeat();
  [[nodiscard]] bool has_heartbeat() const;

  // Events by name ("*": every event), zero-copy.
  Subscription on(std::string name, std::function<void(const RawEvent&)> handler);
  Subscription on_any(std::function<void(const RawEvent&)> handler) { return on("*", std::move(handler)); }
  // Typed events (catalog.hpp), Unknown, and the connection events of event.hpp.
  template <class Event>
  Subscription on(std::function<void(const Event&)> handler) {
    return typed_emitter().on<Event>(std::move(handler));
  }

 private:
  Emitter& typed_emitter();
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace wazo::events
