#include "http/transport.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <future>
#include <mutex>
#include <unordered_map>

#include <curl/curl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

// How the per-request cost is kept down (the budget: within 10% of a bare libcurl request):
// - Easy handles are pooled with their fixed options already set; a request sets only what varies.
// - libcurl's zero-millisecond timeouts ("act now") run inline, after the libcurl call that asked for them
//   returns, instead of going through an Asio timer (a timerfd update and a trip round the loop each).
// - Longer timeouts are armed lazily: a timer already armed for an earlier time is left alone (it re-arms
//   itself for the real deadline when it fires), so a steady stream of requests, each asking "act in 30 s",
//   does not reprogram the timerfd twice per request.
// - The transport opens and closes the connections' sockets itself (CURLOPT_OPENSOCKETFUNCTION /
//   CURLOPT_CLOSESOCKETFUNCTION), so a connection's descriptor stays registered with Asio while it idles in
//   libcurl's cache (CURL_POLL_REMOVE only parks it) and is deregistered once, when libcurl closes it.
// - A request sent from the I/O thread starts at once instead of being posted.

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

constexpr std::size_t kMaxIdleHandles = 16;
constexpr std::size_t kMaxResponseHeaders = 256;
// Zero-millisecond timeouts run inline at most this many times in a row; then the rest goes through a post,
// so that a libcurl that keeps asking "again, now" cannot starve the loop.
constexpr int kInlineTimeouts = 8;

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
    for (auto& t : idle_) curl_easy_cleanup(t->easy);
    for (auto& t : active_) curl_easy_cleanup(t->easy);  // only when shutdown() never ran
    if (multi_ != nullptr) curl_multi_cleanup(multi_);
  }

  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

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
    // On the I/O thread, and not from inside our own libcurl processing (which never calls out to user code,
    // but a post is the safe answer if it ever did), start now: the post would only cost a trip round the loop.
    if (rt_.in_io_thread() && depth_ == 0) {
      start(std::move(req), std::move(promise), id);
      return result;
    }
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
    for (auto& t : active_) {
      curl_multi_remove_handle(multi_, t->easy);
      if (t->promise) t->promise->set(Error(ErrorCategory::cancelled, "HTTP transport closed"));
      t->promise.reset();
      free_headers(*t);
      curl_easy_cleanup(t->easy);
    }
    active_.clear();
    for (auto& t : idle_) curl_easy_cleanup(t->easy);
    idle_.clear();
    curl_multi_cleanup(multi_);  // closes cached connections (through on_close_socket)
    multi_ = nullptr;
    for (auto& [fd, s] : sockets_) forget(*s);  // what libcurl did not close: not ours to close
    sockets_.clear();
  }

 private:
  using Clock = std::chrono::steady_clock;

  // A descriptor libcurl asked us to watch.
  struct Socket {
    explicit Socket(Runtime::executor_type ex) : desc(ex) {}
    boost::asio::posix::stream_descriptor desc;
    curl_socket_t fd = CURL_SOCKET_BAD;
    int want = 0;           // CURL_POLL_IN / CURL_POLL_OUT bits libcurl currently waits for; 0 when parked
    bool owned = false;     // opened by on_open_socket: registered until on_close_socket
    bool assigned = false;  // registered with Asio
    bool reading = false;   // an async_wait(read) is pending
    bool writing = false;
    bool closed = false;
  };

  // One pooled easy handle and the state of the request it carries.
  struct Transfer {
    CURL* easy = nullptr;
    std::uint64_t id = 0;
    curl_slist* headers = nullptr;
    std::string body;  // CURLOPT_POSTFIELDS points into it
    Response response;
    std::optional<Promise<Response>> promise;
    std::size_t limit = 0;
    bool overflow = false;
    char errbuf[CURL_ERROR_SIZE] = {};
  };

  // Counts nesting of our own libcurl processing (see send()).
  struct Busy {
    explicit Busy(int& d) : depth(d) { ++depth; }
    ~Busy() { --depth; }
    Busy(const Busy&) = delete;
    Busy& operator=(const Busy&) = delete;
    int& depth;
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
    if (t->response.headers.size() >= kMaxResponseHeaders) return len;  // bounded: ignore the excess
    t->response.headers.emplace_back(lower(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1))));
    return len;
  }

  // --- sockets ---------------------------------------------------------------------------------------------

  static curl_socket_t on_open_socket(void* userp, curlsocktype purpose, curl_sockaddr* addr) {
    auto* self = static_cast<Impl*>(userp);
    if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKET_BAD;
    const int fd = ::socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
    if (fd < 0) return CURL_SOCKET_BAD;
    auto& s = self->sockets_[fd];
    if (s) self->forget(*s);  // a stale entry for a reused number (libcurl closed it without telling us)
    s = std::make_shared<Socket>(self->rt_.executor());
    s->fd = fd;
    s->owned = true;
    return fd;
  }

  static int on_close_socket(void* userp, curl_socket_t fd) {
    auto* self = static_cast<Impl*>(userp);
    auto it = self->sockets_.find(fd);
    if (it == self->sockets_.end()) return ::close(fd);
    auto s = std::move(it->second);
    self->sockets_.erase(it);
    s->closed = true;
    if (!s->assigned) return ::close(fd);
    boost::system::error_code ec;
    s->desc.close(ec);  // deregisters (no epoll_ctl: closing does that), aborts pending waits, closes
    return ec ? -1 : 0;
  }

  static int on_socket(CURL* /*easy*/, curl_socket_t fd, int what, void* userp, void* /*socketp*/) {
    auto* self = static_cast<Impl*>(userp);
    auto it = self->sockets_.find(fd);
    if (what == CURL_POLL_REMOVE) {
      if (it == self->sockets_.end()) return 0;
      if (it->second->owned) {
        // Park it: stop caring about its readiness (pending waits stay queued and are ignored when they
        // complete), keep the registration for the connection's next request.
        it->second->want = 0;
      } else {
        self->forget(*it->second);
        self->sockets_.erase(it);
      }
      return 0;
    }
    if (it == self->sockets_.end()) {
      auto s = std::make_shared<Socket>(self->rt_.executor());  // not ours: e.g. the resolver's wake-up pipe
      s->fd = fd;
      it = self->sockets_.emplace(fd, std::move(s)).first;
    }
    const auto s = it->second;
    if (!s->assigned) {
      boost::system::error_code ec;
      s->desc.assign(fd, ec);
      if (ec) {
        self->rt_.logger().warn("http", "cannot watch socket: " + ec.message());
        if (!s->owned) self->sockets_.erase(fd);
        return -1;
      }
      s->assigned = true;
    }
    s->want = what;
    if (!self->shut_) self->arm(s);
    return 0;
  }

  // Stops watching a descriptor we do not close (libcurl does, or already did).
  void forget(Socket& s) {
    s.closed = true;
    if (!s.assigned) return;
    s.assigned = false;
    boost::system::error_code ec;
    s.desc.cancel(ec);
    (void)s.desc.release();
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
    if ((s->want & mask) == 0) return;  // no longer wanted (parked, or only the other direction)
    {
      Busy busy(depth_);
      int running = 0;
      curl_multi_socket_action(multi_, s->fd, ec ? CURL_CSELECT_ERR : direction, &running);
      pump();
    }
    if (!s->closed && !shut_) arm(s);
  }

  // --- timeouts --------------------------------------------------------------------------------------------

  static int on_timer(CURLM* /*multi*/, long timeout_ms, void* userp) {
    auto* self = static_cast<Impl*>(userp);
    if (self->shut_) return 0;
    if (timeout_ms < 0) {  // none: an armed timer stays, and does nothing when it fires
      self->deadline_.reset();
      self->act_now_ = false;
      return 0;
    }
    if (timeout_ms == 0) {  // run by pump() once the libcurl call we are inside returns
      self->deadline_.reset();
      self->act_now_ = true;
      return 0;
    }
    self->act_now_ = false;
    const auto when = Clock::now() + std::chrono::milliseconds(timeout_ms);
    self->deadline_ = when;
    if (!self->timer_armed_ || when < self->timer_expiry_) self->arm_timer(when);
    return 0;
  }

  void arm_timer(Clock::time_point when) {
    timer_armed_ = true;
    timer_expiry_ = when;
    const auto generation = ++timer_generation_;
    timer_.expires_at(when);
    timer_.async_wait([weak = weak_from_this(), generation](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (!self || self->shut_ || generation != self->timer_generation_) return;  // superseded by a re-arm
      self->timer_armed_ = false;
      if (ec) return;
      self->on_timer_expired();
    });
  }

  void on_timer_expired() {
    if (!deadline_) return;
    if (Clock::now() < *deadline_) {  // armed for an earlier deadline that has since moved
      arm_timer(*deadline_);
      return;
    }
    deadline_.reset();
    Busy busy(depth_);
    int running = 0;
    curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
    pump();
  }

  // After every libcurl call of ours: hand finished transfers back, then run the zero-millisecond timeouts
  // libcurl asked for meanwhile (they may finish transfers too). Never called from inside a libcurl callback.
  void pump() {
    drain();
    for (int i = 0; act_now_ && !shut_; ++i) {
      if (i == kInlineTimeouts) {
        if (!pump_posted_) {
          pump_posted_ = true;
          boost::asio::post(rt_.executor(), [weak = weak_from_this()] {
            auto self = weak.lock();
            if (!self || self->shut_) return;
            self->pump_posted_ = false;
            Busy busy(self->depth_);
            self->pump();
          });
        }
        return;
      }
      act_now_ = false;
      int running = 0;
      curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
      drain();
    }
  }

  // --- requests --------------------------------------------------------------------------------------------

  // An easy handle with the options every request shares already set.
  std::unique_ptr<Transfer> take_transfer() {
    if (!idle_.empty()) {
      auto t = std::move(idle_.back());
      idle_.pop_back();
      return t;
    }
    CURL* e = curl_easy_init();
    if (e == nullptr) return nullptr;
    auto t = std::make_unique<Transfer>();
    t->easy = e;
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opts_.connect_timeout.count()));
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Impl::on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &Impl::on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
    curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &Impl::on_open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, this);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, &Impl::on_close_socket);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, this);
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
    return t;
  }

  static void free_headers(Transfer& t) {
    if (t.headers != nullptr) curl_slist_free_all(t.headers);
    t.headers = nullptr;
  }

  void recycle(std::unique_ptr<Transfer> t) {
    if (idle_.size() >= kMaxIdleHandles) {
      curl_easy_cleanup(t->easy);
      return;
    }
    t->response = Response{};
    if (t->body.capacity() > 64U * 1024U) {
      std::string().swap(t->body);  // do not keep a large upload's buffer around
    } else {
      t->body.clear();
    }
    idle_.push_back(std::move(t));
  }

  void start(Request req, Promise<Response> promise, std::uint64_t id) {
    if (shut_) {
      promise.set(Error(ErrorCategory::cancelled, "HTTP transport closed"));
      return;
    }
    if (promise.done()) return;  // cancelled before it started
    auto t = take_transfer();
    if (!t) {
      promise.set(Error(ErrorCategory::transport, "cannot create a libcurl handle"));
      return;
    }
    t->id = id;
    t->limit = opts_.max_response_bytes;
    t->overflow = false;
    t->errbuf[0] = '\0';
    t->body = std::move(req.body);
    t->promise.emplace(std::move(promise));
    CURL* e = t->easy;
    const auto timeout = req.timeout.value_or(opts_.request_timeout);
    curl_easy_setopt(e, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));

    // The method, whatever the handle carried last time. NOBODY=0 first: it clears a previous HEAD.
    const std::string& method = req.method;
    const bool is_get = method == "GET";
    const bool is_head = method == "HEAD";
    const bool is_post = method == "POST";
    curl_easy_setopt(e, CURLOPT_NOBODY, is_head ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, is_get || is_head || is_post ? nullptr : method.c_str());
    if (!t->body.empty() || is_post || method == "PUT" || method == "PATCH") {
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body.data());
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->body.size()));
    } else if (!is_head) {
      curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }

    t->headers = curl_slist_append(nullptr, "Expect:");
    std::string line;
    for (const auto& [k, v] : req.headers) {
      line.assign(k);
      if (v.empty()) {
        line += ';';  // "Name;" sends an empty header in libcurl
      } else {
        line += ": ";
        line += v;
      }
      t->headers = curl_slist_append(t->headers, line.c_str());
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);

    Transfer* raw = t.get();
    active_.push_back(std::move(t));
    Busy busy(depth_);
    if (CURLMcode mc = curl_multi_add_handle(multi_, e); mc != CURLM_OK) {
      finish(raw, Error(ErrorCategory::transport, curl_multi_strerror(mc)), /*in_multi=*/false);
    }
    pump();
  }

  void finish(Transfer* raw, Result<Response> result, bool in_multi = true) {
    auto it = std::find_if(active_.begin(), active_.end(), [&](const auto& p) { return p.get() == raw; });
    if (it == active_.end()) return;
    auto t = std::move(*it);
    *it = std::move(active_.back());
    active_.pop_back();
    if (in_multi) curl_multi_remove_handle(multi_, t->easy);
    free_headers(*t);
    auto promise = std::move(*t->promise);
    t->promise.reset();
    recycle(std::move(t));
    promise.set(std::move(result));
  }

  void drain() {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* e = msg->easy_handle;
      const CURLcode code = msg->data.result;
      Transfer* t = nullptr;
      curl_easy_getinfo(e, CURLINFO_PRIVATE, &t);
      if (t == nullptr) continue;
      if (code == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        t->response.status = static_cast<int>(status);
        finish(t, std::move(t->response));
      } else {
        finish(t, curl_error(code, t->errbuf, t->overflow, t->limit));
      }
    }
  }

  void cancel(std::uint64_t id) {
    auto it = std::find_if(active_.begin(), active_.end(), [&](const auto& p) { return p->id == id; });
    if (it == active_.end()) return;
    Busy busy(depth_);
    finish(it->get(), Error(ErrorCategory::cancelled, "request cancelled"));
    pump();
  }

  Runtime& rt_;
  ConnectionOptions opts_;
  CURLM* multi_ = nullptr;
  boost::asio::steady_timer timer_;
  bool timer_armed_ = false;
  Clock::time_point timer_expiry_{};
  std::uint64_t timer_generation_ = 0;
  std::optional<Clock::time_point> deadline_;  // when libcurl wants CURL_SOCKET_TIMEOUT (none: never)
  bool act_now_ = false;                       // libcurl asked for a zero-millisecond timeout
  bool pump_posted_ = false;
  int depth_ = 0;
  std::unordered_map<curl_socket_t, std::shared_ptr<Socket>> sockets_;
  std::vector<std::unique_ptr<Transfer>> active_;  // few at a time: searched linearly
  std::vector<std::unique_ptr<Transfer>> idle_;
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
