#include "sip_websocket.hpp"

#include <deque>
#include <iostream>
#include <memory>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

namespace wazo::engine {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using steady = std::chrono::steady_clock;

// One SIP WebSocket connection over Stream (plain TCP or TLS).
template <class Stream>
class SipSession final : public SipProxy::Peer, public std::enable_shared_from_this<SipSession<Stream>> {
 public:
  SipSession(SipHub& hub, Stream stream) : hub_(hub), ws_(std::move(stream)), wake_(ws_.get_executor()) {}

  asio::awaitable<void> run(HttpRequest request, std::string peer_address) {
    auto self = this->shared_from_this();
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = std::chrono::seconds(10);
    timeouts.idle_timeout = hub_.options_.idle_timeout;
    timeouts.keep_alive_pings = true;
    ws_.set_option(timeouts);
    ws_.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
      res.set(beast::http::field::server, "wazo-dev-engine");
      res.set(beast::http::field::sec_websocket_protocol, "sip");
    }));
    ws_.read_message_max(0);  // read_loop() counts instead
    ws_.auto_fragment(false);
    beast::error_code ec;
    co_await ws_.async_accept(request, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;

    id = hub_.next_id_++;
    remote = std::move(peer_address);
    ++hub_.open_;
    ++hub_.opened_;
    hub_.proxy_.attach(*this);
    asio::co_spawn(ws_.get_executor(), writer(self), asio::detached);
    co_await read_loop();
    finished_ = true;
    queue_.clear();
    wake_.cancel();
    hub_.proxy_.detach(*this);
    --hub_.open_;
  }

  void send(std::string message) override {
    if (finished_ || closing_) return;
    if (queue_.size() >= hub_.options_.queue_max_messages ||
        queued_bytes_ + message.size() > hub_.options_.queue_max_bytes) {
      queue_.clear();
      queued_bytes_ = 0;
      ++hub_.overflows_;
      closing_ = true;
      close_requested_ = true;
      wake_.cancel();
      return;
    }
    queued_bytes_ += message.size();
    queue_.push_back(std::move(message));
    wake_.cancel();
  }

 private:
  // Reads each message in bounded chunks: one over max_frame is dropped whole (the connection stays up).
  asio::awaitable<void> read_loop() {
    beast::flat_buffer buffer;
    bool discarding = false;
    for (;;) {
      beast::error_code ec;
      co_await ws_.async_read_some(buffer, 16 * 1024, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      if (buffer.size() > hub_.options_.max_frame) {
        if (!discarding) ++hub_.oversize_;
        discarding = true;
        buffer.consume(buffer.size());
      }
      if (!ws_.is_message_done()) continue;
      if (discarding) {
        discarding = false;
        buffer.consume(buffer.size());
        std::cerr << "wazo-dev-engine: sip: dropped a frame over " << hub_.options_.max_frame << " bytes from "
                  << remote << '\n';
        continue;
      }
      ++hub_.frames_in_;
      const std::string data = beast::buffers_to_string(buffer.data());
      buffer.consume(buffer.size());
      hub_.proxy_.receive(*this, data);
    }
  }

  asio::awaitable<void> writer(std::shared_ptr<SipSession> /*keep_alive*/) {
    beast::error_code ec;
    while (!finished_) {
      if (close_requested_) {
        close_requested_ = false;
        co_await ws_.async_close(websocket::close_reason(websocket::close_code::internal_error, "queue full"),
                                 asio::redirect_error(asio::use_awaitable, ec));
        drop();
        co_return;
      }
      if (queue_.empty()) {
        wake_.expires_at(steady::time_point::max());
        co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      std::string item = std::move(queue_.front());
      queue_.pop_front();
      queued_bytes_ -= item.size();
      ws_.text(true);
      co_await ws_.async_write(asio::buffer(item), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        drop();
        co_return;
      }
      ++hub_.frames_out_;
    }
  }

  void drop() {
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().close(ec);
  }

  SipHub& hub_;
  websocket::stream<Stream> ws_;
  asio::steady_timer wake_;
  std::deque<std::string> queue_;
  std::size_t queued_bytes_ = 0;
  bool finished_ = false, closing_ = false, close_requested_ = false;
};

SipHub::SipHub(asio::io_context& io, SipProxy& proxy, SipWebsocketOptions options)
    : proxy_(proxy), options_(options), sweep_timer_(io) {
  asio::co_spawn(
      io,
      [this]() -> asio::awaitable<void> {
        for (;;) {
          sweep_timer_.expires_after(std::chrono::seconds(1));
          beast::error_code ec;
          co_await sweep_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
          if (ec) co_return;
          proxy_.sweep();
        }
      },
      asio::detached);
}

SipHub::~SipHub() { stop(); }

void SipHub::stop() { sweep_timer_.cancel(); }

bool SipHub::handles(std::string_view target) {
  const std::string_view path = target.substr(0, target.find('?'));
  return path == "/api/asterisk/ws" || path == "/api/asterisk/ws/";
}

bool SipHub::offers_sip(const HttpRequest& request) {
  for (const auto& field : request) {
    if (field.name() != beast::http::field::sec_websocket_protocol) continue;
    std::string_view list(field.value().data(), field.value().size());
    while (!list.empty()) {
      const std::size_t comma = list.find(',');
      std::string_view item = list.substr(0, comma);
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
      if (beast::iequals(item, "sip")) return true;
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  return false;
}

template <class Stream>
asio::awaitable<void> SipHub::serve_stream(Stream stream, HttpRequest request) {
  beast::error_code ec;
  const auto endpoint = beast::get_lowest_layer(stream).socket().remote_endpoint(ec);
  std::string address =
      ec ? std::string("unknown") : endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  auto session = std::make_shared<SipSession<Stream>>(*this, std::move(stream));
  co_await session->run(std::move(request), std::move(address));
}

asio::awaitable<void> SipHub::serve(beast::tcp_stream stream, HttpRequest request) {
  return serve_stream(std::move(stream), std::move(request));
}

asio::awaitable<void> SipHub::serve(beast::ssl_stream<beast::tcp_stream> stream, HttpRequest request) {
  return serve_stream(std::move(stream), std::move(request));
}

Json SipHub::metrics() const {
  return Json{{"open", open_},           {"opened", opened_},
              {"frames_in", frames_in_}, {"frames_out", frames_out_},
              {"oversize", oversize_},   {"queue_overflows", overflows_}};
}

}  // namespace wazo::engine
