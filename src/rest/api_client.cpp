#include "wazo/rest/api_client.hpp"

#include <algorithm>
#include <cctype>
#include <mutex>

#include "http/transport.hpp"
#include "rest/detail/errors.hpp"
#include "wazo/rest/auth.hpp"
#include "wazo/rest/chatd.hpp"
#include "wazo/rest/confd.hpp"

namespace wazo::rest {

std::string_view to_string(Method m) noexcept {
  switch (m) {
    case Method::get:
      return "GET";
    case Method::post:
      return "POST";
    case Method::put:
      return "PUT";
    case Method::patch:
      return "PATCH";
    case Method::del:
      return "DELETE";
    case Method::head:
      return "HEAD";
    case Method::options:
      return "OPTIONS";
  }
  return "GET";
}

std::optional<Method> method_from_string(std::string_view s) noexcept {
  std::string up(s);
  std::transform(up.begin(), up.end(), up.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  for (Method m : {Method::get, Method::post, Method::put, Method::patch, Method::del, Method::head, Method::options}) {
    if (to_string(m) == up) return m;
  }
  return std::nullopt;
}

std::string percent_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4U]);
      out.push_back(hex[c & 15U]);
    }
  }
  return out;
}

namespace {
std::string scalar_to_string(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  if (v.is_number_unsigned()) return std::to_string(v.get<unsigned long long>());
  return v.dump();
}
}  // namespace

Query query_from_json(const Json& object) {
  Query q;
  if (!object.is_object()) return q;
  for (const auto& [k, v] : object.items()) {
    if (v.is_null()) continue;
    if (v.is_array()) {
      std::string joined;
      for (const auto& item : v) {
        if (!joined.empty()) joined += ',';
        joined += scalar_to_string(item);
      }
      q.emplace_back(k, joined);
    } else {
      q.emplace_back(k, scalar_to_string(v));
    }
  }
  return q;
}

std::string encode_query(const Query& query) {
  std::string out;
  for (const auto& [k, v] : query) {
    if (!out.empty()) out += '&';
    out += percent_encode(k);
    out += '=';
    out += percent_encode(v);
  }
  return out;
}

const std::string* Response::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        })) {
      return &v;
    }
  }
  return nullptr;
}

Result<Json> Response::json() const {
  if (body.empty()) return Json(nullptr);
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return Error(ErrorCategory::parse, "malformed JSON in HTTP " + std::to_string(status) + " response");
  }
  return j;
}

// ---------------------------------------------------------------------------------------------------------------

struct ApiClient::Impl : std::enable_shared_from_this<Impl> {
  Impl(Runtime& rt, ClientOptions o) : runtime(rt), transport(rt, o.connection), opts(std::move(o)) {
    std::string s = opts.server;
    while (!s.empty() && s.back() == '/') s.pop_back();
    if (s.starts_with("http://") || s.starts_with("https://")) {
      base = s + "/api/";
      server = s.substr(s.find("://") + 3);
    } else {
      base = "https://" + s + "/api/";
      server = s;
    }
    refresh_token_value = opts.refresh_token;
    client_id = opts.client_id;
    mobile = opts.is_mobile;
    request_timeout = opts.connection.request_timeout;
  }

  Runtime& runtime;
  http::Transport transport;
  ClientOptions opts;
  std::string base;
  std::string server;
  Emitter emitter;

  // Token state: guarded by `mutex` (setters may come from any thread).
  mutable std::mutex mutex;
  std::string token;
  std::uint64_t token_generation = 0;  // bumped whenever the token changes
  std::string refresh_token_value;
  std::uint64_t refresh_epoch = 0;  // bumped whenever the refresh token changes
  std::string client_id;
  std::string tenant;
  std::string refresh_backend = "wazo_user";
  std::string refresh_tenant_id;
  std::string refresh_domain_name;
  int refresh_expiration = 3600;
  bool mobile = false;
  std::chrono::milliseconds request_timeout;

  // Refresh state: I/O thread only.
  bool refreshing = false;
  std::vector<std::function<void(const Result<Session>&)>> refresh_waiters;
  bool failure_reported = false;  // on_refresh_token_error already fired for this failure run
  // The server rejected this refresh token (epoch): don't ask again until another one is set.
  std::optional<std::uint64_t> rejected_epoch;
  Error rejected_error;

  struct Attempt {
    Attempt(Request r, Promise<Response> p) : req(std::move(r)), promise(std::move(p)) {}
    Request req;
    Promise<Response> promise;
    bool first = true;
    std::uint64_t generation = 0;
    std::string token_used;
    Async<http::Response> inflight;
  };

  std::string url_for(const Request& req) const {
    std::string_view p = req.path;
    if (p.starts_with("/api/")) p.remove_prefix(5);
    while (p.starts_with('/')) p.remove_prefix(1);
    std::string url = base;
    url.append(p);
    if (!req.query.empty()) {
      url += (p.find('?') == std::string_view::npos) ? '?' : '&';
      url += encode_query(req.query);
    }
    return url;
  }

  static bool same_name(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
  }

  // Default headers, then the caller's merged over them (same name replaces; empty Wazo-Tenant removes).
  http::Headers headers_for(const Request& req, const std::string& tok) const {
    http::Headers h;
    {
      std::lock_guard lock(mutex);
      if (req.authenticated && !tok.empty()) h.emplace_back("X-Auth-Token", tok);
      h.emplace_back("Accept", "application/json");
      if (!tenant.empty()) h.emplace_back("Wazo-Tenant", tenant);
      if (mobile) h.emplace_back("Wazo-Session-Type", "mobile");
    }
    if (req.raw_body) {
      h.emplace_back("Content-Type", req.content_type.empty() ? "application/octet-stream" : req.content_type);
    } else {
      h.emplace_back("Content-Type", "application/json");
    }
    for (const auto& [k, v] : req.headers) {
      auto it = std::find_if(h.begin(), h.end(), [&](const auto& e) { return same_name(e.first, k); });
      const bool removes = v.empty() && same_name(k, "Wazo-Tenant");
      if (it != h.end()) {
        if (removes) {
          h.erase(it);
        } else {
          it->second = v;
        }
      } else if (!removes) {
        h.emplace_back(k, v);
      }
    }
    return h;
  }

  void start(const std::shared_ptr<Attempt>& a) {
    if (a->promise.done()) return;  // cancelled
    if (refreshing && a->req.authenticated) {
      // A refresh is under way: wait for it instead of sending a token we know is being replaced.
      refresh_waiters.push_back([self = shared_from_this(), a](const Result<Session>& s) {
        if (!s) a->first = false;  // the refresh failed: do not start another one for this call
        self->send_now(a);
      });
      return;
    }
    send_now(a);
  }

  void send_now(const std::shared_ptr<Attempt>& a) {
    if (a->promise.done()) return;
    {
      std::lock_guard lock(mutex);
      a->generation = token_generation;
      a->token_used = token;
    }
    http::Request hr;
    hr.method = std::string(to_string(a->req.method));
    hr.url = url_for(a->req);
    hr.headers = headers_for(a->req, a->token_used);
    if (a->req.raw_body) {
      hr.body = *a->req.raw_body;
    } else if (a->req.json && !a->req.json->is_null()) {
      hr.body = a->req.json->dump();
    }
    {
      std::lock_guard lock(mutex);
      hr.timeout = a->req.timeout.value_or(request_timeout);
    }
    a->inflight = transport.send(std::move(hr));
    a->inflight.then([self = shared_from_this(), a](Result<http::Response> r) { self->on_response(a, std::move(r)); });
  }

  static bool is_no_such_token(const http::Response& r) {
    if (r.status != 404 || r.body.empty()) return false;
    Json j = Json::parse(r.body, nullptr, false);
    if (!j.is_object()) return false;
    auto it = j.find("reason");
    return it != j.end() && it->is_array() && !it->empty() && (*it)[0] == "No such token";
  }

  void on_response(const std::shared_ptr<Attempt>& a, Result<http::Response> r) {
    if (a->promise.done()) return;
    if (!r) {
      const auto& e = r.error();
      if (e.category != ErrorCategory::cancelled) {
        runtime.logger().warn("rest", std::string(to_string(a->req.method)) + " " +
                                          detail::redact_path(a->req.path, a->token_used) + ": " + e.describe());
      }
      a->promise.set(std::move(r).error());
      return;
    }
    http::Response hr = std::move(r).value();
    const bool token_problem = hr.status == 401 || is_no_such_token(hr);
    if (token_problem && a->req.authenticated && a->req.refresh_on_401 && a->first) {
      a->first = false;
      std::uint64_t current = 0;
      bool can_refresh = false;
      {
        std::lock_guard lock(mutex);
        current = token_generation;
        can_refresh = !refresh_token_value.empty();
      }
      if (current != a->generation) {  // someone already renewed the token: replay with it
        replay(a);
        return;
      }
      if (can_refresh || refreshing) {
        refresh_waiters.push_back([self = shared_from_this(), a, hr](const Result<Session>& s) mutable {
          if (s) {
            self->replay(a);
          } else {
            Error e = detail::error_from_response(hr.status, hr.body);
            e.category = ErrorCategory::auth;
            e.message += " (token refresh failed: " + s.error().describe() + ")";
            a->promise.set(std::move(e));
          }
        });
        start_refresh();
        return;
      }
    }
    Response out{hr.status, std::move(hr.headers), std::move(hr.body)};
    const auto& acc = a->req.accept_statuses;
    if (out.status < 400 || std::find(acc.begin(), acc.end(), out.status) != acc.end()) {
      a->promise.set(std::move(out));
      return;
    }
    Error e = detail::error_from_response(out.status, out.body);
    const auto& quiet = a->req.quiet_statuses;
    if (std::find(quiet.begin(), quiet.end(), out.status) == quiet.end()) {
      runtime.logger().warn("rest", "API error: " + std::string(to_string(a->req.method)) + " " +
                                        detail::redact_path(a->req.path, a->token_used) + " → " + e.describe());
    }
    a->promise.set(std::move(e));
  }

  void replay(const std::shared_ptr<Attempt>& a) {
    std::string fresh;
    {
      std::lock_guard lock(mutex);
      fresh = token;
    }
    // Calls about a token (GET/HEAD /token/{token}) name it in the path: name the new one.
    if (!a->token_used.empty() && a->req.path.ends_with("/" + a->token_used)) {
      a->req.path.replace(a->req.path.size() - a->token_used.size(), a->token_used.size(), fresh);
    }
    start(a);
  }

  void start_refresh() {
    if (refreshing) return;
    std::string rt;
    Json body = Json::object();
    std::uint64_t epoch = 0;
    bool is_mobile = false;
    {
      std::lock_guard lock(mutex);
      rt = refresh_token_value;
      epoch = refresh_epoch;
      is_mobile = mobile;
      body["backend"] = refresh_backend;
      body["expiration"] = refresh_expiration;
      body["refresh_token"] = rt;
      body["client_id"] = client_id;
      // wazo-auth refuses both at once; the domain name is the current form, the tenant id the deprecated one.
      if (!refresh_domain_name.empty()) {
        body["domain_name"] = refresh_domain_name;
      } else if (!refresh_tenant_id.empty()) {
        body["tenant_id"] = refresh_tenant_id;
      }
    }
    if (rt.empty()) {
      Error e(ErrorCategory::auth, "no refresh token to renew the session with");
      e.error_id = "no_refresh_token";
      finish_refresh(std::move(e), epoch);
      return;
    }
    if (rejected_epoch == epoch) {
      finish_refresh(rejected_error, epoch);
      return;
    }
    refreshing = true;
    runtime.logger().info("auth", "refreshing the token");
    http::Request hr;
    hr.method = "POST";
    hr.url = base + "auth/0.1/token";
    hr.headers = {{"Accept", "application/json"}, {"Content-Type", "application/json"}};
    if (is_mobile) hr.headers.emplace_back("Wazo-Session-Type", "mobile");
    hr.body = body.dump();
    {
      std::lock_guard lock(mutex);
      hr.timeout = request_timeout;
    }
    transport.send(std::move(hr)).then([self = shared_from_this(), epoch](Result<http::Response> r) {
      if (!r) {
        self->finish_refresh(std::move(r).error(), epoch);
        return;
      }
      if (r->status >= 400) {
        Error e = detail::error_from_response(r->status, r->body);
        if (r->status < 500) e.category = ErrorCategory::auth;
        self->finish_refresh(std::move(e), epoch);
        return;
      }
      Json j = Json::parse(r->body, nullptr, false);
      if (j.is_discarded()) {
        self->finish_refresh(Error(ErrorCategory::parse, "malformed JSON in the token refresh response"), epoch);
        return;
      }
      self->finish_refresh(Session::from_json(j), epoch);
    });
  }

  void finish_refresh(Result<Session> result, std::uint64_t epoch) {
    refreshing = false;
    bool stale = false;
    {
      std::lock_guard lock(mutex);
      stale = epoch != refresh_epoch;
      if (result && !stale) {
        token = result->token;
        ++token_generation;
        if (result->refresh_token.empty()) result.value().refresh_token = refresh_token_value;
      }
    }
    if (result && !stale) {
      failure_reported = false;
      runtime.logger().info("auth", "token refreshed");
      emitter.emit(TokenRefreshed{result->token, *result});
    } else if (!result && !stale) {
      if (result.error().category == ErrorCategory::auth) {
        rejected_epoch = epoch;
        rejected_error = result.error();
      }
      runtime.logger().warn("auth", "token refresh failed: " + result.error().describe());
      if (!failure_reported) {
        failure_reported = true;
        emitter.emit(TokenRefreshFailed{result.error()});
      }
    }
    auto waiters = std::exchange(refresh_waiters, {});
    for (auto& w : waiters) w(result);
  }
};

ApiClient::ApiClient(Runtime& runtime, ClientOptions options)
    : impl_(std::make_shared<Impl>(runtime, std::move(options))) {}

ApiClient::~ApiClient() = default;

Async<Response> ApiClient::send(Request request) {
  auto a = std::make_shared<Impl::Attempt>(std::move(request), Promise<Response>(impl_->runtime.executor()));
  auto result = a->promise.async();
  std::weak_ptr<Impl::Attempt> weak = a;
  a->promise.on_cancel([weak, ex = impl_->runtime.executor()] {
    boost::asio::post(ex, [weak] {
      if (auto at = weak.lock(); at && at->inflight.valid()) at->inflight.cancel();
    });
  });
  boost::asio::post(impl_->runtime.executor(), [impl = impl_, a] { impl->start(a); });
  return result;
}

Async<Json> ApiClient::call(Method method, std::string path, Json body, Headers headers) {
  Request req;
  req.method = method;
  req.path = std::move(path);
  req.headers = std::move(headers);
  if (method == Method::get || method == Method::head) {
    if (body.is_object()) req.query = query_from_json(body);
  } else if (!body.is_null()) {
    req.json = std::move(body);
  }
  Promise<Json> p(impl_->runtime.executor());
  auto out = p.async();
  auto inner = send(std::move(req));
  p.on_cancel([inner]() mutable { inner.cancel(); });
  inner.then([p](Result<Response> r) {
    if (!r) {
      p.set(std::move(r).error());
      return;
    }
    p.set(r->json());
  });
  return out;
}

void ApiClient::set_token(std::string token) {
  std::lock_guard lock(impl_->mutex);
  if (impl_->token != token) {
    impl_->token = std::move(token);
    ++impl_->token_generation;
  }
}
std::string ApiClient::token() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->token;
}
void ApiClient::set_refresh_token(std::string refresh_token) {
  std::lock_guard lock(impl_->mutex);
  if (impl_->refresh_token_value != refresh_token) {
    impl_->refresh_token_value = std::move(refresh_token);
    ++impl_->refresh_epoch;
    // A new refresh token starts a new failure run.
    boost::asio::post(impl_->runtime.executor(), [impl = impl_] { impl->failure_reported = false; });
  }
}
std::string ApiClient::refresh_token() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->refresh_token_value;
}
void ApiClient::set_refresh_expiration(int seconds) {
  std::lock_guard lock(impl_->mutex);
  impl_->refresh_expiration = seconds;
}
void ApiClient::set_refresh_backend(std::string backend) {
  std::lock_guard lock(impl_->mutex);
  impl_->refresh_backend = std::move(backend);
}
void ApiClient::set_refresh_tenant_id(std::string tenant_id) {
  std::lock_guard lock(impl_->mutex);
  impl_->refresh_tenant_id = std::move(tenant_id);
}
void ApiClient::set_refresh_domain_name(std::string domain_name) {
  std::lock_guard lock(impl_->mutex);
  impl_->refresh_domain_name = std::move(domain_name);
}
void ApiClient::set_client_id(std::string client_id) {
  std::lock_guard lock(impl_->mutex);
  impl_->client_id = std::move(client_id);
}
std::string ApiClient::client_id() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->client_id;
}
void ApiClient::set_tenant(std::string tenant_uuid) {
  std::lock_guard lock(impl_->mutex);
  impl_->tenant = std::move(tenant_uuid);
}
std::string ApiClient::tenant() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->tenant;
}
void ApiClient::set_request_timeout(std::chrono::milliseconds timeout) {
  std::lock_guard lock(impl_->mutex);
  impl_->request_timeout = timeout;
}
void ApiClient::set_is_mobile(bool mobile) {
  std::lock_guard lock(impl_->mutex);
  impl_->mobile = mobile;
}
bool ApiClient::is_mobile() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->mobile;
}

Subscription ApiClient::on_refresh_token(std::function<void(const std::string&, const Session&)> handler) {
  return impl_->emitter.on<TokenRefreshed>(
      [h = std::move(handler)](const TokenRefreshed& e) { h(e.token, e.session); });
}
Subscription ApiClient::on_refresh_token_error(std::function<void(const Error&)> handler) {
  return impl_->emitter.on<TokenRefreshFailed>([h = std::move(handler)](const TokenRefreshFailed& e) { h(e.error); });
}

Async<Session> ApiClient::force_refresh_token() {
  Promise<Session> p(impl_->runtime.executor());
  auto out = p.async();
  boost::asio::post(impl_->runtime.executor(), [impl = impl_, p] {
    impl->refresh_waiters.push_back([p](const Result<Session>& r) { p.set(r); });
    impl->start_refresh();
  });
  return out;
}

std::string ApiClient::server() const { return impl_->server; }
std::string ApiClient::base_url() const { return impl_->base; }
const ConnectionOptions& ApiClient::connection_options() const { return impl_->opts.connection; }
Runtime& ApiClient::runtime() const { return impl_->runtime; }
Emitter& ApiClient::emitter() { return impl_->emitter; }
AuthApi ApiClient::auth() const { return AuthApi(*this); }
ChatdApi ApiClient::chatd() const { return ChatdApi(*this); }
ConfdApi ApiClient::confd() const { return ConfdApi(*this); }

}  // namespace wazo::rest
