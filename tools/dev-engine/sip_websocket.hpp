// SIP over WebSocket (RFC 7118) as the dev engine serves it: GET /api/asterisk/ws (the path Wazo's SDK uses) upgraded
// with `Sec-WebSocket-Protocol: sip` (echoed back; an upgrade without it is refused with 400). One SIP message per
// frame, text or binary, at most 64 KiB: a larger frame is dropped and the connection stays up. Each connection has
// one reader, one writer and a bounded outgoing queue; the SipProxy does the rest. Used on the I/O thread only.
#pragma once

#include <utility>  // before Asio's awaitable (it uses std::exchange)

#include <chrono>
#include <cstdint>
#include <set>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "router.hpp"
#include "sip_proxy.hpp"

namespace wazo::engine {

struct SipWebsocketOptions {
  std::size_t max_frame = 64 * 1024;      // a larger message is dropped (the connection stays)
  std::size_t queue_max_messages = 1000;  // outgoing, per connection; beyond: closed with 1011
  std::size_t queue_max_bytes = 8 * 1024 * 1024;
  std::chrono::seconds idle_timeout{120};  // WebSocket pings at half of it; a silent peer is dropped after it
};

template <class Stream>
class SipSession;

class SipHub {
 public:
  SipHub(boost::asio::io_context& io, SipProxy& proxy, SipWebsocketOptions options = {});
  ~SipHub();
  SipHub(const SipHub&) = delete;
  SipHub& operator=(const SipHub&) = delete;

  // True for the SIP WebSocket path ("/api/asterisk/ws", any query).
  static bool handles(std::string_view target);
  // Whether the upgrade request offers the "sip" subprotocol.
  static bool offers_sip(const HttpRequest& request);

  boost::asio::awaitable<void> serve(boost::beast::tcp_stream stream, HttpRequest request);
  boost::asio::awaitable<void> serve(boost::beast::ssl_stream<boost::beast::tcp_stream> stream, HttpRequest request);

  void stop();  // stops the sweep timer
  [[nodiscard]] std::size_t open_count() const { return open_; }
  [[nodiscard]] Json metrics() const;

 private:
  template <class Stream>
  boost::asio::awaitable<void> serve_stream(Stream stream, HttpRequest request);
  template <class Stream>
  friend class SipSession;

  SipProxy& proxy_;
  SipWebsocketOptions options_;
  boost::asio::steady_timer sweep_timer_;
  std::uint64_t next_id_ = 1;
  std::size_t open_ = 0;
  std::uint64_t opened_ = 0, frames_in_ = 0, frames_out_ = 0, oversize_ = 0, overflows_ = 0;
};

}  // namespace wazo::engine
