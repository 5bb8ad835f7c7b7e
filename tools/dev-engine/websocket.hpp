// wazo-websocketd as the dev engine serves it: GET /api/websocketd/ upgraded to a WebSocket, protocol v1 and v2
// (init, subscribe, start, token, ping; events filtered by audience, subscription and ACL; close codes 4001–4004,
// 1009, 1011). Each connection has one reader, one writer coroutine and a bounded outgoing queue.
// Used on the I/O thread only.
#pragma once

#include <utility>  // before Asio's awaitable (it uses std::exchange)

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "bus.hpp"
#include "router.hpp"
#include "state.hpp"

namespace wazo::engine {

struct WebsocketOptions {
  std::size_t read_message_max = 1024 * 1024;      // a larger client frame is closed with 1009
  std::size_t queue_max_messages = 10000;          // outgoing, per connection; beyond: 1011
  std::size_t queue_max_bytes = 64 * 1024 * 1024;  // outgoing, per connection; beyond: 1011
  std::chrono::seconds ping_interval{60};          // WebSocket-level pings (wazo-websocketd's ping_interval)
  std::chrono::seconds close_timeout{5};           // a close that does not complete by then drops the socket
};

namespace detail {
template <class Stream>
class WebsocketSession;
}  // namespace detail

class WebsocketHub {
 public:
  explicit WebsocketHub(State& state, WebsocketOptions options = {});
  ~WebsocketHub();
  WebsocketHub(const WebsocketHub&) = delete;
  WebsocketHub& operator=(const WebsocketHub&) = delete;

  // True for the websocketd path ("/api/websocketd/" or "/api/websocketd", any query).
  static bool handles(std::string_view target);

  // Serves one connection whose HTTP upgrade request was read, until it closes.
  boost::asio::awaitable<void> serve(boost::beast::tcp_stream stream, HttpRequest request);
  boost::asio::awaitable<void> serve(boost::beast::ssl_stream<boost::beast::tcp_stream> stream, HttpRequest request);

  // The bus listener: queues the event on each started connection that subscribed to it and may see it.
  std::size_t deliver(const BusMessage& message);
  // Closes with 4003 the connections whose token was revoked or has expired.
  void check_tokens();

  // Dev hooks (/_dev/websocket/*).
  std::size_t send_raw(std::shared_ptr<const std::string> data, bool binary);  // to every open connection
  void stall(std::chrono::milliseconds duration);  // nothing is sent (nor pongs) for that long
  std::size_t close_all(std::uint16_t code, const std::string& reason);

  [[nodiscard]] std::size_t open_count() const { return connections_.size(); }
  [[nodiscard]] Json metrics() const;

  // One connection, as the hub sees it (the session template implements it).
  struct Connection {
    virtual ~Connection() = default;
    virtual void push_text(std::shared_ptr<const std::string> text) = 0;
    virtual void push_binary(std::shared_ptr<const std::string> data) = 0;
    virtual void close(std::uint16_t code, const std::string& reason) = 0;

    bool authenticated = false;
    bool started = false;
    bool closing = false;
    int version = 1;
    std::string token, user_uuid, session_uuid, tenant_uuid;
    std::vector<std::string> acl;
    Clock::time_point expires_at;
    bool admin = false;  // purpose internal / external_api: receives every event of its tenant tree
    std::set<std::string, std::less<>> subscriptions;
  };

 private:
  template <class Stream>
  friend class detail::WebsocketSession;
  template <class Stream>
  boost::asio::awaitable<void> serve_stream(Stream stream, HttpRequest request);

  State& state_;
  WebsocketOptions options_;
  std::set<Connection*> connections_;
  std::chrono::steady_clock::time_point stalled_until_{};
  std::uint64_t opened_ = 0, events_delivered_ = 0, frames_sent_ = 0, overflows_ = 0;
  std::map<std::uint16_t, std::uint64_t> close_codes_;  // closes the engine initiated, by code
};

}  // namespace wazo::engine
