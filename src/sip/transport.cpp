#include <utility>  // before Asio's awaitable (it uses std::exchange)

#include <algorithm>
#include <deque>
#include <random>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "sip/detail/transport.hpp"

namespace wazo::sip::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t kReadChunk = 16 * 1024;

struct Endpoint {
  bool tls = true;
  std::string host;
  std::string port;
  std::string target = "/";
};

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

struct Link {
  explicit Link(asio::io_context& io) : signal(io, asio::steady_timer::time_point::max()), keep(io), exit(io) {}
  void send(std::string text) {
    if (done) return;
    queue.push_back(std::move(text));
    signal.cancel();
  }
  std::deque<std::string> queue;
  asio::steady_timer signal;
  asio::steady_timer keep;
  asio::steady_timer exit;
  std::function<void(std::string)> abort;
  bool done = false;
  bool writer_finished = false;
  std::string abort_reason;
};

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
    tcp::resolver resolver(rt_.context());
    beast::error_code ec;
    auto results = co_await resolver.async_resolve(ep->host, ep->port, asio::redirect_error(asio::use_awaitable, ec));
    if (ec)
      co_return Outcome{.error = Error(ErrorCategory::transport, "cannot resolve " + ep->host + ": " + ec.message())};
    beast::tcp_stream tcp_stream(rt_.context());
    tcp_stream.expires_after(conn_.connect_timeout);
    co_await tcp_stream.async_connect(results, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      co_return Outcome{.error = Error(ErrorCategory::transport,
                                       "cannot connect to " + ep->host + ":" + ep->port + ": " + ec.message())};
    }
    // Signalling is small messages sent back to back (ACK then a re-sent INVITE): Nagle would hold the second one
    // until the peer's delayed ACK (~40 ms).
    tcp_stream.socket().set_option(asio::ip::tcp::no_delay(true), ec);
    if (!ep->tls) {
      websocket::stream<beast::tcp_stream> ws(std::move(tcp_stream));
      co_return co_await session(ws, *ep);
    }
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    if (conn_.tls.insecure) {
      ctx.set_verify_mode(asio::ssl::verify_none);
    } else {
      if (conn_.tls.ca_file.empty()) {
        ctx.set_default_verify_paths(ec);
      } else {
        ctx.load_verify_file(conn_.tls.ca_file, ec);
      }
      if (ec) co_return Outcome{.error = Error(ErrorCategory::transport, "TLS: cannot load the CAs: " + ec.message())};
      ctx.set_verify_mode(asio::ssl::verify_peer);
      ctx.set_verify_callback(asio::ssl::host_name_verification(ep->host));
    }
    websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws(std::move(tcp_stream), ctx);
    beast::error_code addr_ec;
    asio::ip::make_address(ep->host, addr_ec);
    if (addr_ec) {  // SNI, for names only (SSL_set_tlsext_host_name is a macro with a C cast)
      SSL_ctrl(ws.next_layer().native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(ep->host.c_str()));
    }
    beast::get_lowest_layer(ws).expires_after(conn_.connect_timeout);
    co_await ws.next_layer().async_handshake(asio::ssl::stream_base::client,
                                             asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return Outcome{.error = Error(ErrorCategory::transport, "TLS handshake failed: " + ec.message())};
    co_return co_await session(ws, *ep);
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
    const std::string host_header =
        (ep.host.find(':') != std::string::npos ? "[" + ep.host + "]" : ep.host) + ":" + ep.port;
    co_await ws.async_handshake(res, host_header, ep.target, asio::redirect_error(asio::use_awaitable, ec));
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
    link->abort = [weak = std::weak_ptr<Link>(link), &ws](std::string reason) {
      auto l = weak.lock();
      if (!l || l->done) return;
      l->abort_reason = std::move(reason);
      l->done = true;
      l->signal.cancel();
      l->keep.cancel();
      beast::error_code ignored;
      beast::get_lowest_layer(ws).socket().shutdown(tcp::socket::shutdown_both, ignored);
      beast::get_lowest_layer(ws).socket().close(ignored);
    };
    link_ = link;
    asio::co_spawn(
        rt_.context(),
        [&ws, link]() -> asio::awaitable<void> {
          beast::error_code wec;
          while (!link->done) {
            if (link->queue.empty()) {
              link->signal.expires_at(asio::steady_timer::time_point::max());
              co_await link->signal.async_wait(asio::redirect_error(asio::use_awaitable, wec));
              continue;
            }
            std::string text = std::move(link->queue.front());
            link->queue.pop_front();
            ws.text(true);
            co_await ws.async_write(asio::buffer(text), asio::redirect_error(asio::use_awaitable, wec));
            if (wec) break;
          }
          link->writer_finished = true;
          link->exit.cancel();
        },
        asio::detached);
    if (keep_.mode == KeepAliveOptions::Mode::crlf) {
      asio::co_spawn(
          rt_.context(),
          [link, interval = keep_.interval]() -> asio::awaitable<void> {
            beast::error_code kec;
            while (!link->done) {
              link->keep.expires_after(interval);
              co_await link->keep.async_wait(asio::redirect_error(asio::use_awaitable, kec));
              if (!link->done) link->send("\r\n\r\n");
            }
          },
          asio::detached);
    }
    set_state(TransportState::connected, {}, std::nullopt);

    beast::flat_buffer buffer;
    std::size_t bytes = 0;
    bool discarding = false;
    for (;;) {
      const std::size_t n =
          co_await ws.async_read_some(buffer, kReadChunk, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      bytes += n;
      if (!discarding && bytes > max_frame_) discarding = true;
      if (discarding) buffer.consume(buffer.size());
      if (!ws.is_message_done()) continue;
      if (discarding) {
        rt_.logger().warn("sip", "dropped a " + std::to_string(bytes) + "-byte frame (larger than " +
                                     std::to_string(max_frame_) + " bytes)");
      } else {
        const auto data = buffer.cdata();
        std::string frame(static_cast<const char*>(data.data()), data.size());
        if (cb_.on_message) cb_.on_message(std::move(frame));
      }
      buffer.consume(buffer.size());
      bytes = 0;
      discarding = false;
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
    link->done = true;
    link->signal.cancel();
    link->keep.cancel();
    connected_ = false;
    beast::error_code ignored;
    beast::get_lowest_layer(ws).socket().close(ignored);
    while (!link->writer_finished) {
      link->exit.expires_at(asio::steady_timer::time_point::max());
      co_await link->exit.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
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
