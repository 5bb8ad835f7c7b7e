#include <utility>  // before Asio's awaitable (it uses std::exchange)

#include <algorithm>
#include <random>

#include "net/websocket.hpp"
#include "sip/detail/transport.hpp"

namespace wazo::sip::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using net::Endpoint;
using net::Link;

namespace {

constexpr std::size_t kReadChunk = 16 * 1024;

Result<Endpoint> parse_url(std::string_view u) {
  Endpoint e;
  if (u.substr(0, 6) == "wss://") {
    e.tls = true;
    u.remove_prefix(6);
  } else if (u.substr(0, 5) == "ws://") {
    e.tls = false;
    u.remove_prefix(5);
  } else {
    return Error(ErrorCategory::invalid_argument, "sip: the server must be a ws:// or wss:// URL");
  }
  const auto slash = u.find('/');
  if (slash != std::string_view::npos) {
    e.target = std::string(u.substr(slash));
    u = u.substr(0, slash);
  }
  if (u.empty()) return Error(ErrorCategory::invalid_argument, "sip: no host in the server URL");
  std::string_view port;
  if (u.front() == '[') {
    const auto close = u.find(']');
    if (close == std::string_view::npos) return Error(ErrorCategory::invalid_argument, "sip: bad server host");
    e.host = std::string(u.substr(1, close - 1));
    if (close + 1 < u.size() && u[close + 1] == ':') port = u.substr(close + 2);
  } else if (const auto colon = u.rfind(':'); colon != std::string_view::npos) {
    e.host = std::string(u.substr(0, colon));
    port = u.substr(colon + 1);
  } else {
    e.host = std::string(u);
  }
  e.port = port.empty() ? (e.tls ? "443" : "80") : std::string(port);
  return e;
}

class WsTransport final : public Transport, public std::enable_shared_from_this<WsTransport> {
 public:
  WsTransport(Runtime& rt, const UserAgentOptions& o)
      : rt_(rt),
        server_(o.server),
        conn_(o.connection),
        keep_(o.keep_alive),
        reconnect_(o.reconnect),
        max_frame_(o.limits.max_message_bytes),
        wake_(rt.context()) {
    auto ep = parse_url(server_);
    tls_ = ep && ep->tls;
  }

  void set_callbacks(Callbacks c) override { cb_ = std::move(c); }

  void start() override {
    if (running_) return;
    running_ = true;
    closing_ = false;
    asio::co_spawn(rt_.context(), run(shared_from_this()), asio::detached);
  }

  void close() override {
    closing_ = true;
    wake_.cancel();
    if (link_ && link_->abort) link_->abort("closed by the application");
    if (!running_) set_state(TransportState::closed, "closed by the application", std::nullopt);
  }

  void drop(std::string reason) override {
    if (link_ && link_->abort) link_->abort(std::move(reason));
  }

  bool send(std::string data) override {
    if (!connected_ || !link_ || link_->done) return false;
    link_->send(std::move(data));
    return true;
  }

  [[nodiscard]] bool connected() const override { return connected_; }
  [[nodiscard]] std::string via_transport() const override { return tls_ ? "WSS" : "WS"; }

 private:
  struct Outcome {
    bool opened = false;
    std::string reason;
    std::optional<Error> error;
  };

  void set_state(TransportState s, std::string reason, std::optional<Error> error) {
    if (s == state_ && s != TransportState::reconnecting) return;
    state_ = s;
    connected_ = s == TransportState::connected;
    rt_.logger().debug("sip", "transport " + std::string(to_string(s)) + (reason.empty() ? "" : ": " + reason));
    auto self = shared_from_this();
    if (cb_.on_state) cb_.on_state(s, std::move(reason), std::move(error));
  }

  std::chrono::milliseconds backoff(int attempt) {
    double d = static_cast<double>(reconnect_.initial_delay.count());
    for (int i = 0; i < attempt && d < static_cast<double>(reconnect_.max_delay.count()); ++i) {
      d *= reconnect_.multiplier;
    }
    d = std::min(d, static_cast<double>(reconnect_.max_delay.count()));
    std::uniform_real_distribution<double> jitter(0.5, 1.0);  // equal jitter: clients do not come back in step
    return std::chrono::milliseconds(static_cast<long long>(d * jitter(rng_)));
  }

  static asio::awaitable<void> run(std::shared_ptr<WsTransport> self) {
    int attempt = 0;
    bool ever = false;
    for (;;) {
      if (self->closing_) break;
      self->set_state(ever || attempt > 0 ? TransportState::reconnecting : TransportState::connecting, {},
                      std::nullopt);
      Outcome out = co_await self->connect_once();
      self->link_.reset();
      if (self->closing_) break;
      if (out.opened) {
        ever = true;
        attempt = 0;
      }
      const std::string why = out.error ? out.error->describe() : out.reason;
      self->rt_.logger().info("sip", "transport lost: " + why);
      if (!self->reconnect_.enabled ||
          (self->reconnect_.max_attempts > 0 && attempt >= self->reconnect_.max_attempts)) {
        self->running_ = false;
        self->set_state(TransportState::closed, "no more reconnection attempts", out.error);
        co_return;
      }
      self->set_state(TransportState::reconnecting, why,
                      out.error ? out.error : std::optional<Error>(Error(ErrorCategory::transport, why)));
      self->wake_.expires_after(self->backoff(attempt++));
      beast::error_code ec;
      co_await self->wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    self->running_ = false;
    self->set_state(TransportState::closed, "closed by the application", std::nullopt);
  }

  asio::awaitable<Outcome> connect_once() {
    auto self = shared_from_this();
    auto ep = parse_url(server_);
    if (!ep) co_return Outcome{.error = ep.error()};
    co_return co_await net::connect<Outcome>(rt_.context(), *ep, conn_, [&](auto& ws) { return session(ws, *ep); });
  }

  template <class Stream>
  asio::awaitable<Outcome> session(websocket::stream<Stream>& ws, const Endpoint& ep) {
    auto self = shared_from_this();
    beast::error_code ec;
    ws.set_option(websocket::stream_base::decorator([this](websocket::request_type& req) {
      req.set(beast::http::field::user_agent, conn_.user_agent);
      req.set(beast::http::field::sec_websocket_protocol, "sip");
    }));
    ws.read_message_max(0);  // bounded by hand: an oversize frame is read through and dropped
    ws.auto_fragment(false);
    beast::get_lowest_layer(ws).expires_after(conn_.connect_timeout);
    websocket::response_type res;
    co_await ws.async_handshake(res, net::host_header(ep), ep.target, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return Outcome{.error = Error(ErrorCategory::transport, "websocket handshake failed: " + ec.message())};
    if (res[beast::http::field::sec_websocket_protocol] != "sip") {
      co_return Outcome{.error = Error(ErrorCategory::transport,
                                       "the server did not accept the websocket subprotocol \"sip\" (RFC 7118)")};
    }
    beast::get_lowest_layer(ws).expires_never();
    if (keep_.mode == KeepAliveOptions::Mode::ws_ping) {
      websocket::stream_base::timeout t{};
      t.handshake_timeout = conn_.connect_timeout;
      t.idle_timeout = std::chrono::duration_cast<std::chrono::steady_clock::duration>(2 * keep_.interval);
      t.keep_alive_pings = true;  // a ping after half the idle time; nothing received for the whole → closed
      ws.set_option(t);
    }

    auto link = std::make_shared<Link>(rt_.context());
    link_ = link;
    net::start_writer(rt_.context(), link, ws);
    if (keep_.mode == KeepAliveOptions::Mode::crlf) {
      asio::co_spawn(
          rt_.context(),
          [link, interval = keep_.interval]() -> asio::awaitable<void> {
            beast::error_code kec;
            while (!link->done) {
              link->ticker.expires_after(interval);
              co_await link->ticker.async_wait(asio::redirect_error(asio::use_awaitable, kec));
              if (!link->done) link->send("\r\n\r\n");
            }
          },
          asio::detached);
    }
    set_state(TransportState::connected, {}, std::nullopt);

    beast::flat_buffer buffer;
    for (;;) {
      const auto m = co_await net::read_message(ws, buffer, max_frame_, kReadChunk);
      if (m.error) {
        ec = m.error;
        break;
      }
      if (m.oversize) {
        rt_.logger().warn("sip", "dropped a " + std::to_string(m.bytes) + "-byte frame (larger than " +
                                     std::to_string(max_frame_) + " bytes)");
      } else {
        const auto data = buffer.cdata();
        std::string frame(static_cast<const char*>(data.data()), data.size());
        if (cb_.on_message) cb_.on_message(std::move(frame));
      }
      if (link->done) break;
    }
    Outcome out;
    out.opened = true;
    if (ec == websocket::error::closed) {
      out.reason = "closed by the server (" + std::to_string(ws.reason().code) + ")";
    } else if (!link->abort_reason.empty()) {
      out.reason = link->abort_reason;
      if (!closing_) out.error = Error(ErrorCategory::transport, link->abort_reason);
    } else {
      out.error = Error(ErrorCategory::transport, "connection lost: " + ec.message());
    }
    connected_ = false;
    co_await net::finish(*link, ws);
    co_return out;
  }

  Runtime& rt_;
  std::string server_;
  ConnectionOptions conn_;
  KeepAliveOptions keep_;
  ReconnectOptions reconnect_;
  std::size_t max_frame_;
  asio::steady_timer wake_;
  Callbacks cb_;
  std::shared_ptr<Link> link_;
  TransportState state_ = TransportState::idle;
  bool connected_ = false;
  bool running_ = false;
  bool closing_ = false;
  bool tls_ = false;
  std::mt19937 rng_{std::random_device{}()};
};

}  // namespace

std::shared_ptr<Transport> make_ws_transport(Runtime& runtime, const UserAgentOptions& options) {
  return std::make_shared<WsTransport>(runtime, options);
}

}  // namespace wazo::sip::detail
