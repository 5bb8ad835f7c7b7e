#include "websocket.hpp"

#include <algorithm>
#include <charconv>
#include <deque>
#include <iostream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "access.hpp"

namespace wazo::engine {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using steady = std::chrono::steady_clock;

namespace {

constexpr std::uint16_t no_token = 4001;
constexpr std::uint16_t auth_failed = 4002;
constexpr std::uint16_t auth_expired = 4003;
constexpr std::uint16_t protocol_error = 4004;
constexpr std::uint16_t internal_error = 1011;
constexpr std::uint16_t message_too_big = 1009;

std::shared_ptr<const std::string> reply(const char* op, Json data = nullptr) {
  return std::make_shared<const std::string>(Json{{"op", op}, {"code", 0}, {"data", std::move(data)}}.dump());
}

// The decoded query parameters of a request target.
std::vector<std::pair<std::string, std::string>> query_of(std::string_view target) {
  std::vector<std::pair<std::string, std::string>> out;
  const std::size_t q = target.find('?');
  if (q == std::string_view::npos) return out;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const std::size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    const std::size_t eq = pair.find('=');
    if (!pair.empty()) {
      out.emplace_back(percent_decode(pair.substr(0, eq), true),
                       eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1), true));
    }
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return out;
}

std::optional<std::string> query_value(const std::vector<std::pair<std::string, std::string>>& query,
                                       std::string_view name) {
  for (const auto& [k, v] : query) {
    if (k == name) return v;
  }
  return std::nullopt;
}

}  // namespace

namespace detail {

// One WebSocket connection over Stream (plain TCP or TLS).
template <class Stream>
class WebsocketSession final : public WebsocketHub::Connection,
                               public std::enable_shared_from_this<WebsocketSession<Stream>> {
 public:
  WebsocketSession(WebsocketHub& hub, Stream stream)
      : hub_(hub),
        ws_(std::move(stream)),
        wake_(ws_.get_executor()),
        ping_timer_(ws_.get_executor()),
        expiry_timer_(ws_.get_executor()),
        close_timer_(ws_.get_executor()) {}

  asio::awaitable<void> run(HttpRequest request) {
    auto self = this->shared_from_this();
    beast::get_lowest_layer(ws_).expires_never();  // the websocket's own timeouts take over
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = std::chrono::seconds(10);
    timeouts.idle_timeout = hub_.options_.ping_interval * 3;  // a peer that answers none of our pings
    timeouts.keep_alive_pings = false;
    ws_.set_option(timeouts);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(beast::http::field::server, "wazo-dev-engine"); }));
    ws_.read_message_max(0);   // read_loop() counts instead
    ws_.auto_fragment(false);  // a message goes out as one frame, as wazo-websocketd sends it
    beast::error_code ec;
    co_await ws_.async_accept(request, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;

    hub_.connections_.insert(this);
    ++hub_.opened_;
    asio::co_spawn(ws_.get_executor(), writer(self), asio::detached);
    // Like wazo-websocketd, the checks come after the upgrade, so that failures are close codes.
    authenticate(request);
    if (!closing) {
      asio::co_spawn(ws_.get_executor(), pinger(self), asio::detached);
      asio::co_spawn(ws_.get_executor(), expiry_watch(self), asio::detached);
    }
    co_await read_loop();

    finished_ = true;
    queue_.clear();
    queued_bytes_ = 0;
    wake_.cancel();
    ping_timer_.cancel();
    expiry_timer_.cancel();
    close_timer_.cancel();
    hub_.connections_.erase(this);
  }

  void push_text(std::shared_ptr<const std::string> text) override { push({Kind::text, std::move(text)}); }
  void push_binary(std::shared_ptr<const std::string> data) override { push({Kind::binary, std::move(data)}); }

  void close(std::uint16_t code, const std::string& reason) override {
    if (closing || finished_) return;
    closing = true;
    ++hub_.close_codes_[code];
    enqueue({Kind::close, std::make_shared<const std::string>(reason.substr(0, 120)), code});
    asio::co_spawn(ws_.get_executor(), close_deadline(this->shared_from_this()), asio::detached);
  }

 private:
  enum class Kind { text, binary, ping, close };
  struct Outgoing {
    Kind kind;
    std::shared_ptr<const std::string> data;
    std::uint16_t code = 0;
  };

  void push(Outgoing item) {
    if (closing || finished_) return;
    const std::size_t size = item.data ? item.data->size() : 0;
    if (queue_.size() >= hub_.options_.queue_max_messages || queued_bytes_ + size > hub_.options_.queue_max_bytes) {
      // A consumer this slow must not eat the engine's memory: drop what is queued and close.
      queue_.clear();
      queued_bytes_ = 0;
      ++hub_.overflows_;
      close(internal_error, "outgoing queue full");
      return;
    }
    enqueue(std::move(item));
  }

  void enqueue(Outgoing item) {
    queued_bytes_ += item.data ? item.data->size() : 0;
    queue_.push_back(std::move(item));
    wake_.cancel();
  }

  void authenticate(const HttpRequest& request) {
    const std::string_view target(request.target().data(), request.target().size());
    const auto query = query_of(target);
    if (auto v = query_value(query, "version")) {
      int parsed = 0;
      const auto [end, err] = std::from_chars(v->data(), v->data() + v->size(), parsed);
      if (err != std::errc() || end != v->data() + v->size()) {
        close(internal_error, "");  // wazo-websocketd fails on int(): an unexpected error
        return;
      }
      if (parsed != 1 && parsed != 2) {
        close(protocol_error, "unsupported protocol version");
        return;
      }
      version = parsed;
    }
    std::string presented = query_value(query, "token").value_or("");
    if (presented.empty()) {
      if (auto it = request.find("X-Auth-Token"); it != request.end()) presented = std::string(it->value());
    }
    if (presented.empty()) {
      close(no_token, "no token");
      return;
    }
    if (!adopt(presented)) {
      close(auth_failed, "authentication failed");
      return;
    }
    authenticated = true;
    push_text(reply("init", Json{{"version", version}}));
  }

  // Takes a token for the ACL and expiry checks; false when it is unknown, expired or lacks `websocketd`.
  bool adopt(const std::string& presented) {
    const Token* t = hub_.state_.live_token(presented);
    if (t == nullptr || !acl_grants(t->acl, "websocketd", t->user_uuid, t->session_uuid)) return false;
    token = t->token;
    user_uuid = t->user_uuid;
    session_uuid = t->session_uuid;
    tenant_uuid = t->tenant_uuid;
    acl = t->acl;
    expires_at = t->expires_at;
    const User* u = hub_.state_.user(t->user_uuid);
    admin = u != nullptr && (u->purpose == "internal" || u->purpose == "external_api");
    return true;
  }

  // Reads in bounded chunks and counts the message size itself: over the limit, the engine closes with 1009 through
  // the writer and drains the rest, so that the peer sees the close frame (Beast's own limit tears the socket down
  // with unread data, which a peer may see as a reset instead).
  asio::awaitable<void> read_loop() {
    beast::flat_buffer buffer;
    for (;;) {
      beast::error_code ec;
      co_await ws_.async_read_some(buffer, 64 * 1024, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;  // closed, timed out, reset
      if (closing) {      // draining until the peer answers our close
        buffer.consume(buffer.size());
        continue;
      }
      if (buffer.size() > hub_.options_.read_message_max) {
        buffer.consume(buffer.size());
        close(message_too_big, "message too big");
        continue;
      }
      if (!ws_.is_message_done()) continue;
      if (!ws_.got_text()) {
        buffer.consume(buffer.size());
        close(protocol_error, "expected a text frame");
        continue;
      }
      try {
        handle(beast::buffers_to_string(buffer.data()));
      } catch (const std::exception& e) {
        std::cerr << "wazo-dev-engine: websocket: " << e.what() << std::endl;
        close(internal_error, "");
      }
      buffer.consume(buffer.size());
    }
  }

  // The value of data.<key> as a string, or nullopt after closing with a protocol error.
  std::optional<std::string> data_string(const Json& message, const char* key) {
    auto data = message.find("data");
    if (data == message.end() || !data->is_object()) {
      close(protocol_error, "missing data object");
      return std::nullopt;
    }
    auto value = data->find(key);
    if (value == data->end() || !value->is_string()) {
      close(protocol_error, std::string("missing or non-string data.") + key);
      return std::nullopt;
    }
    return value->get<std::string>();
  }

  void handle(const std::string& text) {
    const Json message = Json::parse(text, nullptr, false);
    if (message.is_discarded()) return close(protocol_error, "not a valid json document");
    if (!message.is_object()) return close(protocol_error, "json document root is not an object");
    auto op_it = message.find("op");
    if (op_it == message.end() || !op_it->is_string()) return close(protocol_error, "missing or non-string op");
    const std::string op = op_it->get<std::string>();
    if (op == "subscribe") {
      auto name = data_string(message, "event_name");
      if (!name) return;
      if (subscriptions.size() < 10000) subscriptions.insert(*name);
      if (!started || version == 2) push_text(reply("subscribe"));
    } else if (op == "start") {
      started = true;
      push_text(reply("start"));
    } else if (op == "token") {
      auto presented = data_string(message, "token");
      if (!presented) return;
      if (!adopt(*presented)) return close(auth_failed, "authentication failed");
      expiry_timer_.cancel();  // re-armed for the new expiry
      if (!started || version == 2) push_text(reply("token"));
    } else if (op == "ping") {
      auto payload = data_string(message, "payload");
      if (!payload) return;
      if (version == 2) push_text(reply("pong", Json{{"payload", *payload}}));
    } else {
      close(protocol_error, "unknown operation");
    }
  }

  // One writer: every frame (text, binary, ping, close) goes out in order, one at a time.
  asio::awaitable<void> writer(std::shared_ptr<WebsocketSession> /*keep_alive*/) {
    beast::error_code ec;
    while (!finished_) {
      if (queue_.empty()) {
        wake_.expires_at(steady::time_point::max());
        co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      if (hub_.stalled_until_ > steady::now()) {  // a simulated stalled network
        wake_.expires_at(hub_.stalled_until_);
        co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      Outgoing item = std::move(queue_.front());
      queue_.pop_front();
      queued_bytes_ -= item.data ? item.data->size() : 0;
      ec = {};
      switch (item.kind) {
        case Kind::text:
        case Kind::binary:
          ws_.text(item.kind == Kind::text);
          co_await ws_.async_write(asio::buffer(*item.data), asio::redirect_error(asio::use_awaitable, ec));
          if (!ec) ++hub_.frames_sent_;
          break;
        case Kind::ping:
          co_await ws_.async_ping({}, asio::redirect_error(asio::use_awaitable, ec));
          break;
        case Kind::close:
          co_await ws_.async_close(websocket::close_reason(static_cast<websocket::close_code>(item.code), *item.data),
                                   asio::redirect_error(asio::use_awaitable, ec));
          if (ec) drop();
          co_return;
      }
      if (ec) {
        drop();
        co_return;
      }
    }
  }

  asio::awaitable<void> pinger(std::shared_ptr<WebsocketSession> /*keep_alive*/) {
    beast::error_code ec;
    while (!finished_ && !closing) {
      ping_timer_.expires_after(hub_.options_.ping_interval);
      co_await ping_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (finished_ || closing) break;
      if (!ec) push({Kind::ping, nullptr});
    }
  }

  // Closes with 4003 when the token expires (re-armed by a token op).
  asio::awaitable<void> expiry_watch(std::shared_ptr<WebsocketSession> /*keep_alive*/) {
    beast::error_code ec;
    while (!finished_ && !closing) {
      const auto remaining = std::max(Clock::duration::zero(), expires_at - Clock::now());
      expiry_timer_.expires_after(std::chrono::duration_cast<steady::duration>(remaining) +
                                  std::chrono::milliseconds(5));
      co_await expiry_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (finished_ || closing) break;
      if (ec == asio::error::operation_aborted) continue;
      if (Clock::now() >= expires_at) close(auth_expired, "authentication expired");
    }
  }

  // A close handshake that does not finish in time (a peer that reads nothing) ends with the socket.
  asio::awaitable<void> close_deadline(std::shared_ptr<WebsocketSession> /*keep_alive*/) {
    beast::error_code ec;
    close_timer_.expires_after(hub_.options_.close_timeout);
    co_await close_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!finished_ && !ec) drop();
  }

  void drop() {
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().close(ec);
  }

  WebsocketHub& hub_;
  websocket::stream<Stream> ws_;
  asio::steady_timer wake_, ping_timer_, expiry_timer_, close_timer_;
  std::deque<Outgoing> queue_;
  std::size_t queued_bytes_ = 0;
  bool finished_ = false;
};

}  // namespace detail

WebsocketHub::WebsocketHub(State& state, WebsocketOptions options) : state_(state), options_(options) {}

WebsocketHub::~WebsocketHub() = default;

bool WebsocketHub::handles(std::string_view target) {
  const std::string_view path = target.substr(0, target.find('?'));
  return path == "/api/websocketd/" || path == "/api/websocketd";
}

template <class Stream>
asio::awaitable<void> WebsocketHub::serve_stream(Stream stream, HttpRequest request) {
  auto session = std::make_shared<detail::WebsocketSession<Stream>>(*this, std::move(stream));
  co_await session->run(std::move(request));
}

asio::awaitable<void> WebsocketHub::serve(beast::tcp_stream stream, HttpRequest request) {
  return serve_stream(std::move(stream), std::move(request));
}

asio::awaitable<void> WebsocketHub::serve(beast::ssl_stream<beast::tcp_stream> stream, HttpRequest request) {
  return serve_stream(std::move(stream), std::move(request));
}

std::size_t WebsocketHub::deliver(const BusMessage& message) {
  const Event& e = message.event;
  std::size_t delivered = 0;
  const std::vector<Connection*> targets(connections_.begin(), connections_.end());
  for (Connection* c : targets) {
    if (!c->authenticated || !c->started || c->closing) continue;
    if (c->subscriptions.count(e.name) == 0 && c->subscriptions.count("*") == 0) continue;
    if (c->admin) {  // bound by name only: everything of its tenant tree
      if (!state_.tenant_within(e.tenant_uuid, c->tenant_uuid)) continue;
    } else if (e.audience == Audience::tenant) {
      if (e.tenant_uuid != c->tenant_uuid) continue;
    } else if (std::find(e.user_uuids.begin(), e.user_uuids.end(), c->user_uuid) == e.user_uuids.end()) {
      continue;
    }
    if (!acl_grants(c->acl, e.required_acl, c->user_uuid, c->session_uuid)) continue;
    c->push_text(c->version == 1 ? message.body : message.envelope);
    ++delivered;
  }
  events_delivered_ += delivered;
  return delivered;
}

void WebsocketHub::check_tokens() {
  const auto now = Clock::now();
  const std::vector<Connection*> all(connections_.begin(), connections_.end());
  for (Connection* c : all) {
    if (!c->authenticated || c->closing) continue;
    auto it = state_.tokens.find(c->token);
    if (it == state_.tokens.end() || it->second.expires_at <= now) c->close(auth_expired, "authentication expired");
  }
}

std::size_t WebsocketHub::send_raw(std::shared_ptr<const std::string> data, bool binary) {
  const std::vector<Connection*> all(connections_.begin(), connections_.end());
  for (Connection* c : all) binary ? c->push_binary(data) : c->push_text(data);
  return all.size();
}

void WebsocketHub::stall(std::chrono::milliseconds duration) { stalled_until_ = steady::now() + duration; }

std::size_t WebsocketHub::close_all(std::uint16_t code, const std::string& reason) {
  const std::vector<Connection*> all(connections_.begin(), connections_.end());
  for (Connection* c : all) c->close(code, reason);
  return all.size();
}

Json WebsocketHub::metrics() const {
  Json closes = Json::object();
  for (const auto& [code, n] : close_codes_) closes[std::to_string(code)] = n;
  return Json{{"open", connections_.size()},
              {"opened", opened_},
              {"events_delivered", events_delivered_},
              {"frames_sent", frames_sent_},
              {"queue_overflows", overflows_},
              {"closes", closes},
              {"stalled", stalled_until_ > steady::now()}};
}

}  // namespace wazo::engine
