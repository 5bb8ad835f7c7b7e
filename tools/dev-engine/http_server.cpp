#include "http_server.hpp"

#include <array>
#include <iostream>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "sip_websocket.hpp"
#include "websocket.hpp"

namespace wazo::engine {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

struct HttpServer::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& io_context, ServerOptions opts, Router& r)
      : io(io_context), options(std::move(opts)), router(r), acceptor(io_context) {}

  asio::io_context& io;
  ServerOptions options;
  Router& router;
  tcp::acceptor acceptor;
  std::uint16_t bound_port = 0;

  asio::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    for (;;) {
      beast::error_code ec;
      tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      if (ec) continue;  // e.g. too many open files: keep serving the others
      // Small request/response messages (HTTP, events, SIP over WS): Nagle would hold them for a delayed ACK.
      socket.set_option(tcp::no_delay(true), ec);
      asio::co_spawn(io, serve_connection(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> serve_connection(tcp::socket socket) {
    auto self = shared_from_this();
    beast::error_code ec;
    const tcp::endpoint peer = socket.remote_endpoint(ec);
    const std::string remote = ec ? std::string("unknown") : peer.address().to_string();
    if (options.tls != nullptr) {
      beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *options.tls);
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
      co_await stream.async_handshake(asio::ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;  // e.g. a client that refuses our certificate
      std::optional<HttpRequest> upgrade = co_await serve_requests(stream, remote);
      if (upgrade) {
        if (is_sip(*upgrade)) {
          co_await options.sip->serve(std::move(stream), std::move(*upgrade));
        } else {
          co_await options.websockets->serve(std::move(stream), std::move(*upgrade));
        }
        co_return;
      }
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
      co_await stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
    } else {
      beast::tcp_stream stream(std::move(socket));
      std::optional<HttpRequest> upgrade = co_await serve_requests(stream, remote);
      if (upgrade) {
        if (is_sip(*upgrade)) {
          co_await options.sip->serve(std::move(stream), std::move(*upgrade));
        } else {
          co_await options.websockets->serve(std::move(stream), std::move(*upgrade));
        }
        co_return;
      }
      stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    }
  }

  bool is_sip(const HttpRequest& request) const {
    return options.sip != nullptr &&
           SipHub::handles(std::string_view(request.target().data(), request.target().size()));
  }

  // Serves requests until the connection ends; returns the request when it is a websocketd or SIP upgrade, for the
  // caller to hand the stream over.
  template <class Stream>
  asio::awaitable<std::optional<HttpRequest>> serve_requests(Stream& stream, const std::string& remote) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(options.body_limit);
      parser.header_limit(static_cast<std::uint32_t>(options.header_limit));
      beast::get_lowest_layer(stream).expires_after(options.idle_timeout);
      beast::error_code ec;
      // The header first: an announced body over the limit is refused before it is sent (a client waiting for
      // "100 Continue" then sends nothing), and a client that does wait for it gets it.
      co_await http::async_read_header(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      if (!ec) {
        const auto length = parser.content_length();
        if (length && *length > options.body_limit) {
          ec = http::error::body_limit;
        } else if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
          http::response<http::empty_body> go_on{http::status::continue_, 11};
          co_await http::async_write(stream, go_on, asio::redirect_error(asio::use_awaitable, ec));
        }
      }
      if (!ec && !parser.is_done()) {
        co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      }
      if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::eof ||
          ec == asio::error::connection_reset || ec == asio::error::operation_aborted) {
        co_return std::nullopt;
      }
      if (ec) {
        // Bounded input: an oversize body or header, or a malformed request, gets an answer and the door.
        int status = 400;
        std::string message = "Bad request: " + ec.message();
        if (ec == http::error::body_limit) {
          status = 413;
          message = "Request body too large";
        } else if (ec == http::error::header_limit) {
          status = 431;
          message = "Request header fields too large";
        }
        HttpResponse res{static_cast<http::status>(status), 11};
        res.set(http::field::content_type, "application/json");
        res.set(http::field::connection, "close");
        res.body() = api_error_body(message, "invalid-request").dump();
        res.prepare_payload();
        co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
        // A lingering close: read (and drop) what the client is still sending for a moment, so that it reads our
        // answer instead of a connection reset.
        beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_send, ec);
        beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
        std::array<char, 16384> sink{};
        for (std::size_t drained = 0; drained < 64U * 1024U * 1024U;) {
          const std::size_t n = co_await beast::get_lowest_layer(stream).async_read_some(
              asio::buffer(sink), asio::redirect_error(asio::use_awaitable, ec));
          if (ec) break;
          drained += n;
        }
        co_return std::nullopt;
      }
      HttpRequest request = parser.release();
      const std::string_view target(request.target().data(), request.target().size());
      if (beast::websocket::is_upgrade(request) && is_sip(request)) {
        if (SipHub::offers_sip(request)) {
          if (options.verbose) std::cerr << "wazo-dev-engine: GET /api/asterisk/ws -> upgrade" << std::endl;
          co_return std::optional<HttpRequest>(std::move(request));
        }
        // RFC 7118 §4: a SIP WebSocket server speaks only the "sip" subprotocol.
        HttpResponse res{http::status::bad_request, request.version()};
        res.set(http::field::server, "wazo-dev-engine");
        res.set(http::field::content_type, "application/json");
        res.set(http::field::connection, "close");
        res.body() = api_error_body("Sec-WebSocket-Protocol: sip is required", "invalid-request").dump();
        res.prepare_payload();
        if (options.verbose)
          std::cerr << "wazo-dev-engine: GET /api/asterisk/ws -> 400 (no sip subprotocol)" << std::endl;
        co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
        co_return std::nullopt;
      }
      if (options.websockets != nullptr && beast::websocket::is_upgrade(request) && WebsocketHub::handles(target)) {
        if (options.verbose) std::cerr << "wazo-dev-engine: GET /api/websocketd/ -> upgrade" << std::endl;
        co_return std::optional<HttpRequest>(std::move(request));
      }
      const bool keep_alive = request.keep_alive();
      HttpResponse res = respond(request, remote);
      res.keep_alive(keep_alive);
      co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || !keep_alive) co_return std::nullopt;
    }
  }

  HttpResponse respond(const HttpRequest& request, const std::string& remote) {
    Reply reply;
    try {
      reply = router.dispatch(request, remote);
    } catch (const std::exception& e) {
      reply = json_reply(500, api_error_body(std::string("Internal error: ") + e.what(), "internal-error"));
    }
    HttpResponse res{static_cast<http::status>(reply.status), request.version()};
    res.set(http::field::server, "wazo-dev-engine");
    if (!reply.content_type.empty()) res.set(http::field::content_type, reply.content_type);
    for (const auto& [name, value] : reply.headers) res.set(name, value);
    res.body() = std::move(reply.body);
    if (request.method() == http::verb::head) {
      res.content_length(0);
    } else if (reply.status != 204 && reply.status != 304) {
      res.prepare_payload();
    }
    if (options.verbose) {  // the route template, never the path: a path may carry a token
      std::cerr << "wazo-dev-engine: " << request.method_string() << ' ' << reply.route << " -> " << reply.status
                << std::endl;
    }
    return res;
  }
};

HttpServer::HttpServer(asio::io_context& io, ServerOptions options, Router& router)
    : impl_(std::make_shared<Impl>(io, std::move(options), router)) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
  const tcp::endpoint endpoint(asio::ip::make_address(impl_->options.address), impl_->options.port);
  impl_->acceptor.open(endpoint.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(endpoint);
  impl_->acceptor.listen(asio::socket_base::max_listen_connections);
  impl_->bound_port = impl_->acceptor.local_endpoint().port();
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
}

void HttpServer::stop() {
  beast::error_code ec;
  impl_->acceptor.close(ec);
}

std::uint16_t HttpServer::port() const { return impl_->bound_port; }

std::string HttpServer::url() const {
  std::string host = impl_->options.address;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return std::string(impl_->options.tls != nullptr ? "https://" : "http://") + host + ":" + std::to_string(port());
}

}  // namespace wazo::engine
