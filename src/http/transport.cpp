#include "http/transport.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <future>
#include <mutex>
#include <unordered_map>

#include <curl/curl.h>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

namespace wazo::http {

namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

Error curl_error(CURLcode code, const char* detail, bool overflow, std::size_t limit) {
  if (overflow) {
    return Error(ErrorCategory::parse, "response body larger than " + std::to_string(limit) + " bytes");
  }
  std::string msg = detail != nullptr && *detail != '\0' ? detail : curl_easy_strerror(code);
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return Error(ErrorCategory::timeout, "request timed out: " + msg);
    case CURLE_ABORTED_BY_CALLBACK:
      return Error(ErrorCategory::cancelled, "request cancelled");
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
      return Error(ErrorCategory::transport, "TLS: " + msg);
    default:
      return Error(ErrorCategory::transport, msg);
  }
}

}  // namespace

const std::string* Response::header(std::string_view name) const {
  const auto n = lower(name);
  for (const auto& [k, v] : headers) {
    if (k == n) return &v;
  }
  return nullptr;
}

class Transport::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(Runtime& rt, ConnectionOptions opts) : rt_(rt), opts_(std::move(opts)), timer_(rt.executor()) {
    global_init();
    multi_ = curl_multi_init();
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &Impl::on_socket);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &Impl::on_timer);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, 32L);
  }

  ~Impl() {
    for (CURL* e : idle_) curl_easy_cleanup(e);
    if (multi_ != nullptr) curl_multi_cleanup(multi_);
  }

  const ConnectionOptions& options() const noexcept { return opts_; }
  Runtime::executor_type executor() const noexcept { return rt_.executor(); }
  bool in_io_thread() const noexcept { return rt_.in_io_thread(); }
  bool io_stopped() const noexcept { return rt_.context().stopped(); }

  Async<Response> send(Request req) {
    Promise<Response> promise(rt_.executor());
    auto result = promise.async();
    const std::uint64_t id = next_id_.fetch_add(1) + 1;
    std::weak_ptr<Impl> weak = weak_from_this();
    promise.on_cancel([weak, id] {
      if (auto self = weak.lock()) boost::asio::post(self->rt_.executor(), [self, id] { self->cancel(id); });
    });
    boost::asio::post(rt_.executor(), [self = shared_from_this(), req = std::move(req), promise, id]() mutable {
      self->start(std::move(req), std::move(promise), id);
    });
    return result;
  }

  // Runs on the I/O thread, or after it has stopped.
  void shutdown() {
    if (shut_) return;
    shut_ = true;
    timer_.cancel();
    for (auto& [easy, t] : transfers_) {
      curl_multi_remove_handle(multi_, easy);
      t->promise.set(Error(ErrorCategory::cancelled, "HTTP transport closed"));
      release_transfer(*t);
      curl_easy_cleanup(easy);
    }
    transfers_.clear();
    by_id_.clear();
    curl_multi_cleanup(multi_);  // closes cached connections; calls on_socket(REMOVE) for each
    multi_ = nullptr;
    for (auto& [fd, s] : sockets_) forget(*s);
    sockets_.clear();
  }

 private:
  struct Socket {
    explicit Socket(Runtime::executor_type ex) : desc(ex) {}
    boost::asio::posix::stream_descriptor desc;
    curl_socket_t fd = CURL_SOCKET_BAD;
    int want = 0;
    bool reading = false;
    bool writing = false;
    bool closed = false;
  };

  struct Transfer {
    std::uint64_t id = 0;
    CURL* easy = nullptr;
    curl_slist* headers = nullptr;
    std::string body;
    Response response;
    Promise<Response> promise;
    std::size_t limit = 0;
    bool overflow = false;
    char errbuf[CURL_ERROR_SIZE] = {};
    explicit Transfer(Promise<Response> p) : promise(std::move(p)) {}
  };

  static std::size_t on_body(char* data, std::size_t size, std::size_t n, void* userp) {
    auto* t = static_cast<Transfer*>(userp);
    const std::size_t len = size * n;
    if (t->response.body.size() + len > t->limit) {
      t->overflow = true;
      return 0;  // aborts the transfer with CURLE_WRITE_ERROR
    }
    t->response.body.append(data, len);
    return len;
  }

  static std::size_t on_header(char* data, std::size_t size, std::size_t n, void* userp) {
    auto* t = static_cast<Transfer*>(userp);
    const std::size_t len = size * n;
    std::string_view line(data, len);
    if (line.starts_with("HTTP/")) {
      t->response.headers.clear();  // a new response (after 100-continue or a redirect)
      return len;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return len;
    if (t->response.headers.size() >= 256) return len;  // bounded: ignore the excess
    t->response.headers.emplace_back(lower(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1))));
    return len;
  }

  static int on_socket(CURL* /*easy*/, curl_socket_t fd, int what, void* userp, void* /*socketp*/) {
    auto* self = static_cast<Impl*>(userp);
    if (what == CURL_POLL_REMOVE) {
      auto it = self->sockets_.find(fd);
      if (it != self->sockets_.end()) {
        self->forget(*it->second);
        self->sockets_.erase(it);
      }
      return 0;
    }
    auto& s = self->sockets_[fd];
    if (!s) {
      s = std::make_shared<Socket>(self->rt_.executor());
      s->fd = fd;
      boost::system::error_code ec;
      s->desc.assign(fd, ec);
      if (ec) {
        self->rt_.logger().warn("http", "cannot watch socket: " + ec.message());
        self->sockets_.erase(fd);
        return -1;
      }
    }
    s->want = what;
    if (!self->shut_) self->arm(s);
    return 0;
  }

  static int on_timer(CURLM* /*multi*/, long timeout_ms, void* userp) {
    auto* self = static_cast<Impl*>(userp);
    self->timer_.cancel();
    if (timeout_ms < 0 || self->shut_) return 0;
    self->timer_.expires_after(std::chrono::milliseconds(timeout_ms));
    self->timer_.async_wait([weak = self->weak_from_this()](const boost::system::error_code& ec) {
      auto me = weak.lock();
      if (ec || !me || me->shut_) return;
      int running = 0;
      curl_multi_socket_action(me->multi_, CURL_SOCKET_TIMEOUT, 0, &running);
      me->drain();
    });
    return 0;
  }

  void forget(Socket& s) {
    s.closed = true;
    boost::system::error_code ec;
    if (s.desc.is_open()) {
      s.desc.cancel(ec);
      (void)s.desc.release();  // libcurl owns and closes the descriptor
    }
  }

  void arm(const std::shared_ptr<Socket>& s) {
    if ((s->want & CURL_POLL_IN) != 0 && !s->reading) {
      s->reading = true;
      s->desc.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                         [self = shared_from_this(), s](const boost::system::error_code& ec) {
                           s->reading = false;
                           self->on_ready(s, ec, CURL_CSELECT_IN);
                         });
    }
    if ((s->want & CURL_POLL_OUT) != 0 && !s->writing) {
      s->writing = true;
      s->desc.async_wait(boost::asio::posix::stream_descriptor::wait_write,
                         [self = shared_from_this(), s](const boost::system::error_code& ec) {
                           s->writing = false;
                           self->on_ready(s, ec, CURL_CSELECT_OUT);
                         });
    }
  }

  void on_ready(const std::shared_ptr<Socket>& s, const boost::system::error_code& ec, int direction) {
    if (s->closed || shut_ || ec == boost::asio::error::operation_aborted) return;
    const int mask = (direction == CURL_CSELECT_IN) ? CURL_POLL_IN : CURL_POLL_OUT;
    if ((s->want & mask) == 0) return;  // no longer wanted
    int running = 0;
    curl_multi_socket_action(multi_, s->fd, ec ? CURL_CSELECT_ERR : direction, &running);
    drain();
    if (!s->closed && !shut_) arm(s);
  }

  CURL* take_easy() {
    if (!idle_.empty()) {
      CURL* e = idle_.back();
      idle_.pop_back();
      curl_easy_reset(e);
      return e;
    }
    return curl_easy_init();
  }

  void release_transfer(Transfer& t) {
    if (t.headers != nullptr) curl_slist_free_all(t.headers);
    t.headers = nullptr;
  }

  void start(Request req, Promise<Response> promise, std::uint64_t id) {
    if (shut_) {
      promise.set(Error(ErrorCategory::cancelled, "HTTP transport closed"));
      return;
    }
    if (promise.done()) return;  // cancelled before it started
    auto t = std::make_unique<Transfer>(std::move(promise));
    t->id = id;
    t->limit = opts_.max_response_bytes;
    t->body = std::move(req.body);
    CURL* e = take_easy();
    if (e == nullptr) {
      t->promise.set(Error(ErrorCategory::transport, "cannot create a libcurl handle"));
      return;
    }
    t->easy = e;
    const auto timeout = req.timeout.value_or(opts_.request_timeout);
    curl_easy_setopt(e, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opts_.connect_timeout.count()));
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Impl::on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &Impl::on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
    curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    if (!opts_.user_agent.empty()) curl_easy_setopt(e, CURLOPT_USERAGENT, opts_.user_agent.c_str());
    if (opts_.tls.insecure) {
      curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    } else {
      curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
      curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
      if (!opts_.tls.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, opts_.tls.ca_file.c_str());
    }
    if (!opts_.proxy.empty()) {
      curl_easy_setopt(e, CURLOPT_PROXY, opts_.proxy.c_str());
    } else if (!opts_.use_environment_proxy) {
      curl_easy_setopt(e, CURLOPT_PROXY, "");  // ignore http_proxy & co. unless asked
    }

    const std::string method = req.method;
    if (method == "GET") {
      curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (method == "HEAD") {
      curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method.c_str());
    }
    if (!t->body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body.data());
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->body.size()));
    }
    t->headers = curl_slist_append(t->headers, "Expect:");
    for (const auto& [k, v] : req.headers) {
      std::string line = k;
      line += v.empty() ? ";" : ": " + v;  // "Name;" sends an empty header in libcurl
      t->headers = curl_slist_append(t->headers, line.c_str());
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);

    by_id_[id] = e;
    transfers_.emplace(e, std::move(t));
    if (CURLMcode mc = curl_multi_add_handle(multi_, e); mc != CURLM_OK) {
      finish(e, Error(ErrorCategory::transport, curl_multi_strerror(mc)));
    }
  }

  void finish(CURL* e, Result<Response> result) {
    auto it = transfers_.find(e);
    if (it == transfers_.end()) return;
    auto t = std::move(it->second);
    transfers_.erase(it);
    by_id_.erase(t->id);
    curl_multi_remove_handle(multi_, e);
    release_transfer(*t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, nullptr);
    if (idle_.size() < 16) {
      idle_.push_back(e);
    } else {
      curl_easy_cleanup(e);
    }
    t->promise.set(std::move(result));
  }

  void drain() {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* e = msg->easy_handle;
      const CURLcode code = msg->data.result;
      auto it = transfers_.find(e);
      if (it == transfers_.end()) continue;
      Transfer& t = *it->second;
      if (code == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        t.response.status = static_cast<int>(status);
        finish(e, std::move(t.response));
      } else {
        finish(e, curl_error(code, t.errbuf, t.overflow, t.limit));
      }
    }
  }

  void cancel(std::uint64_t id) {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return;
    finish(it->second, Error(ErrorCategory::cancelled, "request cancelled"));
  }

  Runtime& rt_;
  ConnectionOptions opts_;
  CURLM* multi_ = nullptr;
  boost::asio::steady_timer timer_;
  std::unordered_map<curl_socket_t, std::shared_ptr<Socket>> sockets_;
  std::unordered_map<CURL*, std::unique_ptr<Transfer>> transfers_;
  std::unordered_map<std::uint64_t, CURL*> by_id_;
  std::vector<CURL*> idle_;
  std::atomic<std::uint64_t> next_id_{0};
  bool shut_ = false;
};

Transport::Transport(Runtime& runtime, ConnectionOptions options)
    : impl_(std::make_shared<Impl>(runtime, std::move(options))) {}

Transport::~Transport() {
  // libcurl's state lives on the I/O thread: tear it down there, unless that thread is us or has stopped.
  auto impl = impl_;
  if (impl->in_io_thread() || impl->io_stopped()) {
    impl->shutdown();
    return;
  }
  auto done = std::make_shared<std::promise<void>>();
  auto fut = done->get_future();
  boost::asio::post(impl->executor(), [impl, done] {
    impl->shutdown();
    done->set_value();
  });
  while (fut.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    if (impl->io_stopped()) {
      impl->shutdown();
      return;
    }
  }
}

const ConnectionOptions& Transport::options() const noexcept { return impl_->options(); }

Async<Response> Transport::send(Request request) { return impl_->send(std::move(request)); }

}  // namespace wazo::http
