// The dev engine's HTTP(S) server: Boost.Beast on one I/O thread, loopback by default, bounded input.
#pragma once

#include <utility>  // before Asio's awaitable (it uses std::exchange)

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include "router.hpp"

namespace wazo::engine {

class WebsocketHub;
class SipHub;

struct ServerOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;                    // 0: a free port
  boost::asio::ssl::context* tls = nullptr;  // HTTPS when set
  std::size_t body_limit = 1024 * 1024;      // 413 above
  std::size_t header_limit = 16 * 1024;      // 431 above
  std::chrono::seconds idle_timeout{60};     // a silent keep-alive connection is closed after this
  bool verbose = false;                      // one line per request on stderr (route templates, no secrets)
  WebsocketHub* websockets = nullptr;        // serves GET /api/websocketd/ upgrades when set
  SipHub* sip = nullptr;                     // serves GET /api/asterisk/ws upgrades (subprotocol sip) when set
};

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, ServerOptions options, Router& router);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts accepting; throws boost::system::system_error when the address cannot be bound.
  void start();
  void stop();
  [[nodiscard]] std::uint16_t port() const;
  [[nodiscard]] std::string url() const;  // "http://127.0.0.1:PORT" or "https://…"

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace wazo::engine
