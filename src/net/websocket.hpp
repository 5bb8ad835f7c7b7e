// What the SDK's two WebSocket clients (SIP over WebSocket and wazo-websocketd events) share: connecting (TCP,
// then TLS with verification and SNI), a connection's outgoing side (one write at a time, as Beast requires, and an
// abort that closes the socket so that the reader ends), reading messages within a size bound, and the end of a
// connection (the writer leaves before the stream goes away). Internal, header-only: both layers instantiate it
// with their own stream handling.
#pragma once

#include <utility>  // before Asio's awaitable (it uses std::exchange)

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>

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

#include "wazo/core/connection.hpp"
#include "wazo/core/error.hpp"

namespace wazo::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

struct Endpoint {
  bool tls = true;
  std::string host;
  std::string port;
  std::string target = "/";
};

// The Host header: "host:port", with brackets around an IPv6 literal.
inline std::string host_header(const Endpoint& ep) {
  return (ep.host.find(':') != std::string::npos ? "[" + ep.host + "]" : ep.host) + ":" + ep.port;
}

// Connects to `ep` and runs `session(ws)` on the connected stream, a websocket::stream over beast::tcp_stream or
// over beast::ssl_stream<beast::tcp_stream> (the WebSocket handshake is the session's: each client sends its own
// headers). A failure before the session is `Outcome{.error = …}`. TLS verifies the peer against the system's CAs
// or `conn.tls.ca_file` and the host name, unless `conn.tls.insecure`.
template <class Outcome, class Session>
asio::awaitable<Outcome> connect(asio::io_context& io, const Endpoint& ep, const ConnectionOptions& conn,
                                 Session session) {
  using tcp = asio::ip::tcp;
  auto fail = [](std::string message) {
    Outcome out;
    out.error = Error(ErrorCategory::transport, std::move(message));
    return out;
  };
  tcp::resolver resolver(io);
  beast::error_code ec;
  auto results = co_await resolver.async_resolve(ep.host, ep.port, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return fail("cannot resolve " + ep.host + ": " + ec.message());
  beast::tcp_stream tcp_stream(io);
  tcp_stream.expires_after(conn.connect_timeout);
  co_await tcp_stream.async_connect(results, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return fail("cannot connect to " + ep.host + ":" + ep.port + ": " + ec.message());
  // Small messages sent back to back (an ACK then a re-sent INVITE, a subscribe then start): Nagle would hold the
  // second one until the peer's delayed ACK (~40 ms).
  tcp_stream.socket().set_option(tcp::no_delay(true), ec);
  if (!ep.tls) {
    websocket::stream<beast::tcp_stream> ws(std::move(tcp_stream));
    co_return co_await session(ws);
  }
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                  asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  if (conn.tls.insecure) {
    ctx.set_verify_mode(asio::ssl::verify_none);
  } else {
    if (conn.tls.ca_file.empty()) {
      ctx.set_default_verify_paths(ec);
    } else {
      ctx.load_verify_file(conn.tls.ca_file, ec);
    }
    if (ec) co_return fail("TLS: cannot load the CAs: " + ec.message());
    ctx.set_verify_mode(asio::ssl::verify_peer);
    ctx.set_verify_callback(asio::ssl::host_name_verification(ep.host));
  }
  websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws(std::move(tcp_stream), ctx);
  beast::error_code addr_ec;
  asio::ip::make_address(ep.host, addr_ec);
  if (addr_ec) {  // SNI, for names only (SSL_set_tlsext_host_name is a macro with a C cast)
    SSL_ctrl(ws.next_layer().native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(ep.host.c_str()));
  }
  beast::get_lowest_layer(ws).expires_after(conn.connect_timeout);
  co_await ws.next_layer().async_handshake(asio::ssl::stream_base::client,
                                           asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return fail("TLS handshake failed: " + ec.message());
  co_return co_await session(ws);
}

// One live connection's outgoing side, shared by its reader, its writer and its timers. Clients derive from it
// to add their own per-connection state.
struct Link {
  explicit Link(asio::io_context& io)
      : signal(io, asio::steady_timer::time_point::max()),
        ticker(io),
        writer_exit(io, asio::steady_timer::time_point::max()) {}

  // Queues a text frame for the writer (dropped once the connection is done).
  void send(std::string text) {
    if (done) return;
    queue.push_back(std::move(text));
    signal.cancel();
  }

  std::deque<std::string> queue;
  asio::steady_timer signal;               // wakes the writer
  asio::steady_timer ticker;               // the client's keep-alive or heartbeat waits
  asio::steady_timer writer_exit;          // cancelled when the writer has left
  std::function<void(std::string)> abort;  // drops the connection (the reader then ends); set by start_writer
  bool done = false;
  bool writer_finished = false;
  std::string abort_reason;
};

// Arms `link->abort` for `ws` and starts the writer: queued frames are written one at a time until the
// connection is done.
template <class LinkT, class Ws>
void start_writer(asio::io_context& io, const std::shared_ptr<LinkT>& link, Ws& ws) {
  link->abort = [weak = std::weak_ptr<LinkT>(link), &ws](std::string reason) {
    auto l = weak.lock();
    if (!l || l->done) return;
    l->abort_reason = std::move(reason);
    l->done = true;
    l->signal.cancel();
    l->ticker.cancel();
    beast::error_code ignored;
    beast::get_lowest_layer(ws).socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(ws).socket().close(ignored);
  };
  asio::co_spawn(
      io,
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
        link->writer_exit.cancel();
      },
      asio::detached);
}

// Ends the connection: no more writes or ticks, the socket closed, and the writer gone (it refers to the stream,
// which the caller is about to destroy).
template <class Ws>
asio::awaitable<void> finish(Link& link, Ws& ws) {
  link.done = true;
  link.signal.cancel();
  link.ticker.cancel();
  beast::error_code ignored;
  beast::get_lowest_layer(ws).socket().close(ignored);
  while (!link.writer_finished) {
    link.writer_exit.expires_at(asio::steady_timer::time_point::max());
    co_await link.writer_exit.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
}

// One received message, read in chunks of `chunk` bytes into `buffer`. A message larger than `max_bytes` is read
// through (the connection stays usable) but not kept: `oversize` is set and `buffer` holds nothing of it.
struct ReadMessage {
  beast::error_code error;
  std::size_t bytes = 0;
  bool oversize = false;
};

template <class Ws>
asio::awaitable<ReadMessage> read_message(Ws& ws, beast::flat_buffer& buffer, std::size_t max_bytes,
                                          std::size_t chunk) {
  ReadMessage m;
  buffer.consume(buffer.size());
  for (;;) {
    const std::size_t n =
        co_await ws.async_read_some(buffer, chunk, asio::redirect_error(asio::use_awaitable, m.error));
    if (m.error) co_return m;
    m.bytes += n;
    if (m.bytes > max_bytes) m.oversize = true;
    if (m.oversize) buffer.consume(buffer.size());
    if (ws.is_message_done()) co_return m;
  }
}

}  // namespace wazo::net
