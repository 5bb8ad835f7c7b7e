#include <utility>  // before Asio's awaitable (it uses std::exchange)

#include "wazo/events/websocket_client.hpp"

#include <algorithm>
#include <deque>
#include <mutex>
#include <random>

#include "events/decoder.hpp"
#include "events/dispatcher.hpp"
#include "net/websocket.hpp"
#include "wazo/rest/api_client.hpp"

namespace wazo::events {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using detail::Op;
using net::Endpoint;

std::string_view to_string(ConnectionState state) noexcept {
  switch (state) {
    case ConnectionState::idle:
      return "idle";
    case ConnectionState::connecting:
      return "connecting";
    case ConnectionState::open:
      return "open";
    case ConnectionState::reconnecting:
      return "reconnecting";
    case ConnectionState::closed:
      return "closed";
  }
  return "unknown";
}

Result<Json> RawEvent::payload() const {
  Json j = Json::parse(payload_json, nullptr, false);
  if (j.is_discarded()) return Error(ErrorCategory::parse, std::string(name) + ": the payload is not valid JSON");
  return j;
}

Result<Json> RawEvent::message() const {
  Json j = Json::parse(frame_json, nullptr, false);
  if (j.is_discarded()) return Error(ErrorCategory::parse, std::string(name) + ": the frame is not valid JSON");
  if (version < 2) return j;
  if (!j.is_object() || !j.contains("data") || !j["data"].is_object())
    return Error(ErrorCategory::parse, std::string(name) + ": no bus message in the frame");
  return std::move(j["data"]);
}

namespace {

constexpr int kAuthFailed = 4002;
constexpr int kAuthExpired = 4003;
constexpr std::size_t kReadChunk = 64 * 1024;

Result<Endpoint> parse_host(std::string_view h) {
  Endpoint e;
  for (const auto& [prefix, tls] :
       {std::pair<std::string_view, bool>{"https://", true}, {"wss://", true}, {"http://", false}, {"ws://", false}}) {
    if (h.substr(0, prefix.size()) == prefix) {
      e.tls = tls;
      h.remove_prefix(prefix.size());
      break;
    }
  }
  h = h.substr(0, h.find('/'));
  if (h.empty()) return Error(ErrorCategory::invalid_argument, "websocket: no host");
  std::string_view port;
  if (h.front() == '[') {  // [v6]:port
    const auto close = h.find(']');
    if (close == std::string_view::npos) return Error(ErrorCategory::invalid_argument, "websocket: bad host");
    e.host = std::string(h.substr(1, close - 1));
    if (close + 1 < h.size() && h[close + 1] == ':') port = h.substr(close + 2);
  } else if (const auto colon = h.rfind(':'); colon != std::string_view::npos) {
    e.host = std::string(h.substr(0, colon));
    port = h.substr(colon + 1);
  } else {
    e.host = std::string(h);
  }
  e.port = port.empty() ? (e.tls ? "443" : "80") : std::string(port);
  return e;
}

// What ended a connection.
struct Outcome {
  bool opened = false;
  int close_code = 0;
  std::string reason;
  std::optional<Error> error;
};

// One live connection, shared by its reader (the session coroutine), its writer and its heartbeat.
struct Link : net::Link {
  using net::Link::Link;
  bool opened = false;
  int missed = 0;
  std::uint64_t pong_seq = 0;
};

}  // namespace

struct WebSocketClient::Impl : std::enable_shared_from_this<Impl> {
  Impl(Runtime& runtime, WebSocketOptions o)
      : rt(runtime), opts(std::move(o)), dispatcher(typed, &runtime.logger()), wake(runtime.context()) {
    token = opts.token;
    heartbeat_on = opts.heartbeat.enabled;
    std::vector<std::string> names;
    for (const auto& n : opts.events) {
      if (n == "*") {
        names = {"*"};
        break;
      }
      if (!n.empty() && std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
    }
    if (names.empty()) names = {"*"};
    subscriptions = std::move(names);
  }

  Runtime& rt;
  WebSocketOptions opts;
  std::optional<rest::ApiClient> api;
  Emitter typed;
  detail::Dispatcher dispatcher;
  std::vector<std::string> subscriptions;

  // Shared with other threads, under `mutex`.
  mutable std::mutex mutex;
  std::string token;
  std::string session_uuid;  // ours, when known (from a refresh): auth_session_expire_soon for others is ignored
  ConnectionState state = ConnectionState::idle;
  bool running = false;  // the connection loop is active
  bool closing = false;
  bool heartbeat_on = true;
  std::vector<Promise<void>> open_waiters;

  // I/O thread only.
  asio::steady_timer wake;                      // backoff waits; cancelled to go on at once
  std::function<void(std::string)> send_frame;  // set while a connection is up
  std::function<void(std::string)> abort_connection;
  detail::Decoder decoder;
  std::string frame;  // the frame being decoded (padded for simdjson)
  Subscription refresh_sub;
  std::mt19937 rng{std::random_device{}()};

  const Logger& log() const { return rt.logger(); }

  // ------------------------------------------------------------------ state
  void set_state(ConnectionState s, int code = 0, std::string reason = {}, std::optional<Error> error = {}) {
    std::vector<Promise<void>> waiters;
    {
      std::lock_guard lock(mutex);
      if (state == s && s != ConnectionState::reconnecting) return;
      state = s;
      if (s == ConnectionState::open || s == ConnectionState::closed) waiters.swap(open_waiters);
    }
    log().debug("events",
                std::string("websocket ") + std::string(to_string(s)) + (reason.empty() ? "" : ": " + reason));
    for (auto& w : waiters) {
      if (s == ConnectionState::open) {
        w.set(Result<void>());
      } else {
        w.set(error ? *error : Error(ErrorCategory::cancelled, "the event connection was closed"));
      }
    }
    auto self = shared_from_this();  // a handler may destroy the client
    typed.emit(StateChanged{s, code, std::move(reason), std::move(error)});
  }

  std::string current_token() const {
    std::lock_guard lock(mutex);
    return token;
  }

  // ------------------------------------------------------------------ control (any thread → I/O thread)
  void start() {
    {
      std::lock_guard lock(mutex);
      if (running) return;
      running = true;
      closing = false;
    }
    asio::co_spawn(rt.context(), run(shared_from_this()), asio::detached);
  }

  void stop() {
    {
      std::lock_guard lock(mutex);
      closing = true;
    }
    asio::post(rt.context(), [self = shared_from_this()] {
      self->wake.cancel();
      if (self->abort_connection) self->abort_connection("closed by the application");
      bool was_running = false;
      {
        std::lock_guard lock(self->mutex);
        was_running = self->running;
      }
      if (!was_running) self->set_state(ConnectionState::closed, 1000, "closed by the application");
    });
  }

  void token_changed(std::string t) {
    {
      std::lock_guard lock(mutex);
      token = std::move(t);
    }
    asio::post(rt.context(), [self = shared_from_this()] {
      const std::string tok = self->current_token();
      bool open = false;
      {
        std::lock_guard lock(self->mutex);
        open = self->state == ConnectionState::open;
      }
      if (open && self->send_frame && self->opts.version >= 2) {
        self->send_frame(Json{{"op", "token"}, {"data", {{"token", tok}}}}.dump());
      } else {
        self->wake.cancel();  // waiting to reconnect: go now, with the new token
      }
    });
  }

  // ------------------------------------------------------------------ the connection loop
  static asio::awaitable<void> run(std::shared_ptr<Impl> self) {
    int attempt = 0;
    bool ever_open = false;
    bool auth_stuck = false;  // no token can be had: wait for update_token()
    for (;;) {
      if (self->is_closing()) break;
      self->set_state(ever_open || attempt > 0 ? ConnectionState::reconnecting : ConnectionState::connecting);
      Outcome out = co_await self->connect_once();
      self->send_frame = nullptr;
      self->abort_connection = nullptr;
      if (self->is_closing()) break;
      if (out.opened) {
        ever_open = true;
        attempt = 0;
      }
      std::string why = out.reason;
      if (out.error) why = out.error->describe();
      self->log().info("events", "websocket lost (" + std::to_string(out.close_code) + "): " + why);

      if (out.close_code == kAuthFailed || out.close_code == kAuthExpired) {
        auth_stuck = !(co_await self->renew_token(out.close_code));
      }
      if (!self->opts.reconnect.enabled ||
          (self->opts.reconnect.max_attempts > 0 && attempt >= self->opts.reconnect.max_attempts)) {
        self->set_state(ConnectionState::closed, out.close_code, "no more reconnection attempts", out.error);
        std::lock_guard lock(self->mutex);
        self->running = false;
        co_return;
      }
      self->set_state(ConnectionState::reconnecting, out.close_code, why, out.error);
      // Wait: the backoff delay, or until update_token()/reconnect()/close() wakes us.
      auto delay = auth_stuck ? std::chrono::milliseconds(std::chrono::hours(24)) : self->backoff(attempt++);
      self->wake.expires_after(delay);
      beast::error_code ec;
      co_await self->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      auth_stuck = false;
    }
    {
      std::lock_guard lock(self->mutex);
      self->running = false;
    }
    self->set_state(ConnectionState::closed, 1000, "closed by the application");
  }

  bool is_closing() const {
    std::lock_guard lock(mutex);
    return closing;
  }

  std::chrono::milliseconds backoff(int attempt) {
    const auto& r = opts.reconnect;
    double d = static_cast<double>(r.initial_delay.count());
    for (int i = 0; i < attempt && d < static_cast<double>(r.max_delay.count()); ++i) d *= r.multiplier;
    d = std::min(d, static_cast<double>(r.max_delay.count()));
    // Equal jitter: half fixed, half random, so many clients do not come back in step.
    std::uniform_real_distribution<double> jitter(0.5, 1.0);
    return std::chrono::milliseconds(static_cast<long long>(d * jitter(rng)));
  }

  // Close 4002/4003: a fresh token through the ApiClient's single-flight refresh. True when one was got.
  asio::awaitable<bool> renew_token(int code) {
    auto self = shared_from_this();
    if (!api) {
      typed.emit(AuthFailed{code, false, Error(ErrorCategory::auth, "the event server refused the token")});
      co_return false;  // nothing to do until update_token()
    }
    auto refreshed = co_await await_async(api->force_refresh_token());
    if (refreshed) {
      {
        std::lock_guard lock(mutex);
        token = refreshed->token;
        if (!refreshed->session_uuid.empty()) session_uuid = refreshed->session_uuid;
      }
      typed.emit(AuthFailed{code, true, std::nullopt});
      co_return true;
    }
    log().warn("events",
               "token refresh after close " + std::to_string(code) + " failed: " + refreshed.error().describe());
    const bool final = refreshed.error().category == ErrorCategory::auth;
    typed.emit(AuthFailed{code, false, refreshed.error()});
    co_return !final;  // a transient failure (server down): try again after the backoff
  }

  // Waits for an Async<T> inside an Asio coroutine.
  template <class T>
  asio::awaitable<Result<T>> await_async(Async<T> a) {
    auto timer = std::make_shared<asio::steady_timer>(rt.context(), asio::steady_timer::time_point::max());
    auto slot = std::make_shared<std::optional<Result<T>>>();
    a.then([timer, slot](Result<T> r) {
      *slot = std::move(r);
      timer->cancel();
    });
    beast::error_code ec;
    while (!slot->has_value()) co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    co_return std::move(**slot);
  }

  asio::awaitable<Outcome> connect_once() {
    auto self = shared_from_this();
    auto ep = parse_host(opts.host);
    if (!ep) co_return Outcome{.error = ep.error()};
    co_return co_await net::connect<Outcome>(rt.context(), *ep, opts.connection,
                                             [&](auto& ws) { return session(ws, *ep); });
  }

  // One connection: the WebSocket handshake, the v2 set-up, then frames until it ends.
  template <class Stream>
  asio::awaitable<Outcome> session(websocket::stream<Stream>& ws, const Endpoint& ep) {
    auto self = shared_from_this();
    beast::error_code ec;
    const std::string tok = current_token();
    std::string target = "/api/websocketd/?version=" + std::to_string(opts.version);
    if (opts.token_in_query) target += "&token=" + tok;
    ws.set_option(websocket::stream_base::decorator([this, tok](websocket::request_type& req) {
      req.set(beast::http::field::user_agent, opts.connection.user_agent);
      if (!opts.token_in_query) req.set("X-Auth-Token", tok);
    }));
    ws.read_message_max(0);  // bounded by hand below: an oversize frame is read through, not buffered
    ws.auto_fragment(false);
    beast::get_lowest_layer(ws).expires_after(opts.connection.connect_timeout);
    websocket::response_type res;
    co_await ws.async_handshake(res, net::host_header(ep), target, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      const int status = static_cast<int>(res.result_int());
      if (status == 401 || status == 403)
        co_return Outcome{.close_code = kAuthFailed, .reason = "HTTP " + std::to_string(status)};
      co_return Outcome{.error = Error(ErrorCategory::transport, "websocket handshake failed: " + ec.message())};
    }
    beast::get_lowest_layer(ws).expires_never();

    auto link = std::make_shared<Link>(rt.context());
    net::start_writer(rt.context(), link, ws);  // one write at a time, as Beast requires
    send_frame = [link](std::string text) { link->send(std::move(text)); };
    abort_connection = [link](std::string reason) { link->abort(std::move(reason)); };

    asio::co_spawn(rt.context(), heartbeat(self, link), asio::detached);

    // The set-up deadline: init and start must come within the connect timeout (plus a margin).
    auto setup_timer = std::make_shared<asio::steady_timer>(rt.context());
    setup_timer->expires_after(opts.connection.connect_timeout + std::chrono::seconds(5));
    setup_timer->async_wait([weak = std::weak_ptr<Impl>(self), link](beast::error_code e) {
      if (e) return;
      auto s = weak.lock();
      if (s && !link->done) link->abort("no init/start from the server in time");
    });

    bool init_seen = false;
    beast::flat_buffer buffer;
    Outcome out;
    for (;;) {
      const auto m = co_await net::read_message(ws, buffer, opts.max_message_bytes, kReadChunk);
      if (m.error) {
        ec = m.error;
        break;
      }
      if (m.oversize || !ws.got_text()) {
        const std::string why =
            m.oversize ? "frame larger than " + std::to_string(opts.max_message_bytes) + " bytes" : "binary frame";
        log().warn("events", "dropped a " + std::to_string(m.bytes) + "-byte frame: " + why);
        typed.emit(DroppedFrame{why, m.bytes});
      } else {
        frame.clear();
        frame.reserve(buffer.size() + detail::Decoder::padding());
        const auto data = buffer.cdata();  // a flat_buffer is contiguous
        frame.append(static_cast<const char*>(data.data()), data.size());
        handle_frame(*link, init_seen, *setup_timer);
      }
    }

    // Why it ended.
    out.opened = link->opened;
    if (ec == websocket::error::closed) {
      out.close_code = ws.reason().code;
      out.reason = std::string(ws.reason().reason.c_str());
      if (out.reason.empty()) out.reason = "closed by the server";
    } else if (!link->abort_reason.empty()) {
      out.reason = link->abort_reason;
      out.error = Error(ErrorCategory::transport, link->abort_reason);
    } else {
      out.error = Error(ErrorCategory::transport, "connection lost: " + ec.message());
    }
    setup_timer->cancel();
    send_frame = nullptr;
    abort_connection = nullptr;
    co_await net::finish(*link, ws);  // the writer refers to the stream: it leaves first
    co_return out;
  }

  // Pings every `delay` while open; `max_misses` pongs missing in a row drop the connection.
  static asio::awaitable<void> heartbeat(std::shared_ptr<Impl> self, std::shared_ptr<Link> link) {
    const HeartbeatOptions hb = self->opts.heartbeat;
    beast::error_code ec;
    std::uint64_t seq = 0;
    while (!link->done) {
      link->ticker.expires_after(hb.delay);
      co_await link->ticker.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (link->done) break;
      bool on = false;
      {
        std::lock_guard lock(self->mutex);
        on = self->heartbeat_on;
      }
      if (!on || !link->opened || self->opts.version < 2) continue;
      const std::uint64_t before = link->pong_seq;
      link->send(Json{{"op", "ping"}, {"data", {{"payload", "wazo-sdk-" + std::to_string(++seq)}}}}.dump());
      link->ticker.expires_after(hb.timeout);
      co_await link->ticker.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (link->done) break;
      if (link->pong_seq != before) continue;
      ++link->missed;
      self->log().info("events",
                       "no pong (" + std::to_string(link->missed) + " of " + std::to_string(hb.max_misses) + ")");
      if (link->missed >= hb.max_misses) {
        self->typed.emit(HeartbeatTimeout{link->missed});
        link->abort("heartbeat timeout: " + std::to_string(link->missed) + " pings unanswered");
        break;
      }
    }
  }

  void handle_frame(Link& link, bool& init_seen, asio::steady_timer& setup) {
    const bool opened = link.opened;
    const int version = (opened && opts.version < 2) ? 1 : 2;
    auto decoded = decoder.decode(frame, version);
    if (!decoded) {
      log().warn("events", "dropped a " + std::to_string(frame.size()) + "-byte frame: " + decoded.error().message);
      typed.emit(DroppedFrame{decoded.error().message, frame.size()});
      return;
    }
    const detail::Frame& f = *decoded;
    switch (f.op) {
      case Op::event:
        if (opened) dispatch(f);
        return;
      case Op::init:
        if (init_seen) return;
        init_seen = true;
        for (const auto& name : subscriptions) {
          link.send(Json{{"op", "subscribe"}, {"data", {{"event_name", name}}}}.dump());
        }
        link.send(R"({"op":"start"})");
        return;
      case Op::start:
        if (opened) return;
        link.opened = true;
        setup.cancel();
        link.missed = 0;
        set_state(ConnectionState::open);
        return;
      case Op::pong:
        link.missed = 0;
        ++link.pong_seq;
        typed.emit(Pong{std::string(f.text)});
        return;
      case Op::subscribe:
      case Op::token:
        if (f.code != 0)
          log().warn("events", std::string(to_string(f.op)) + " refused, code " + std::to_string(f.code));
        return;
      case Op::ping:
      case Op::other:
        break;
    }
    log().debug("events", "ignored a frame with op " + std::string(to_string(f.op)));
  }

  void dispatch(const detail::Frame& f) {
    auto self = shared_from_this();  // a handler may destroy the client
    if (!dispatcher.dispatch(f)) return;
    if (f.name == AuthSessionExpireSoon::event_name && api) on_expire_soon(f);
  }

  void on_expire_soon(const detail::Frame& f) {
    Json payload = Json::parse(f.payload, nullptr, false);
    const std::string uuid = payload.is_object() ? payload.value("uuid", "") : "";
    {
      std::lock_guard lock(mutex);
      if (!session_uuid.empty() && !uuid.empty() && uuid != session_uuid) return;  // another session of ours
    }
    log().info("events", "session expires soon: renewing the token");
    // On success the refresh handler sends op: token; a failure is reported by the ApiClient.
    api->force_refresh_token().then([](const Result<rest::Session>&) {});
  }
};

// ------------------------------------------------------------------ public

WebSocketClient::WebSocketClient(Runtime& runtime, WebSocketOptions options)
    : impl_(std::make_shared<Impl>(runtime, std::move(options))) {}

WebSocketClient::WebSocketClient(const rest::ApiClient& client, WebSocketOptions options) {
  if (options.host.empty()) options.host = client.base_url();  // with its scheme: "http://…/api/"
  options.connection = client.connection_options();
  options.token = client.token();
  impl_ = std::make_shared<Impl>(client.runtime(), std::move(options));
  impl_->api = client;
  std::weak_ptr<Impl> weak = impl_;
  impl_->refresh_sub = impl_->api->on_refresh_token([weak](const std::string& token, const rest::Session& session) {
    if (auto self = weak.lock()) {
      {
        std::lock_guard lock(self->mutex);
        if (!session.session_uuid.empty()) self->session_uuid = session.session_uuid;
      }
      self->token_changed(token);
    }
  });
}

WebSocketClient::~WebSocketClient() {
  impl_->refresh_sub.reset();
  impl_->stop();
}

void WebSocketClient::connect() { impl_->start(); }
void WebSocketClient::close() { impl_->stop(); }

void WebSocketClient::reconnect(std::string reason) {
  if (reason.empty()) reason = "reconnect asked by the application";
  asio::post(impl_->rt.context(), [self = impl_, reason = std::move(reason)] {
    if (self->abort_connection) self->abort_connection(reason);
    self->wake.cancel();
  });
}

void WebSocketClient::update_token(std::string token) { impl_->token_changed(std::move(token)); }

ConnectionState WebSocketClient::state() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->state;
}

Async<void> WebSocketClient::when_open() {
  Promise<void> p(impl_->rt.executor());
  auto out = p.async();
  std::lock_guard lock(impl_->mutex);
  if (impl_->state == ConnectionState::open) {
    p.set(Result<void>());
  } else if (impl_->state == ConnectionState::closed) {
    p.set(Error(ErrorCategory::cancelled, "the event connection is closed"));
  } else {
    impl_->open_waiters.push_back(p);
  }
  return out;
}

void WebSocketClient::start_heartbeat() {
  std::lock_guard lock(impl_->mutex);
  impl_->heartbeat_on = true;
}

void WebSocketClient::stop_heartbeat() {
  std::lock_guard lock(impl_->mutex);
  impl_->heartbeat_on = false;
}

bool WebSocketClient::has_heartbeat() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->heartbeat_on;
}

Subscription WebSocketClient::on(std::string name, std::function<void(const RawEvent&)> handler) {
  return impl_->dispatcher.on(std::move(name), std::move(handler));
}

Emitter& WebSocketClient::typed_emitter() { return impl_->typed; }

}  // namespace wazo::events
