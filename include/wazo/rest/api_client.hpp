// ApiClient: the REST core shared by every Wazo service client (the seed's ApiRequester + BaseApiClient).
//
// Requests go to {scheme}://{server}/api/{path}. Defaults: X-Auth-Token, Accept and Content-Type
// application/json, Wazo-Tenant when a tenant is set, Wazo-Session-Type: mobile when mobile. Caller headers
// are merged over the defaults (same name replaces, an empty Wazo-Tenant removes the tenant) and never drop
// the token. Query strings keep 0 and false.
//
// Tokens: on a 401, or a 404 whose reason is "No such token", the client refreshes the token once with the
// refresh token and replays the call once. Refreshes are single-flight: any number of concurrent calls share
// one refresh, calls started while it runs wait for it, and a call whose token was already replaced replays
// without a new refresh. on_refresh_token fires after each successful refresh; on_refresh_token_error fires
// once per run of failures (until a refresh succeeds or another refresh token is set).
//
// Thread-safety: every method may be called from any thread. Handlers and Async continuations run on the
// runtime's I/O thread. An ApiClient is a handle: copies share one state.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "wazo/core/async.hpp"
#include "wazo/core/connection.hpp"
#include "wazo/core/runtime.hpp"
#include "wazo/core/subscription.hpp"
#include "wazo/rest/session.hpp"

namespace wazo::rest {

using Json = nlohmann::json;
using Headers = std::vector<std::pair<std::string, std::string>>;
using Query = std::vector<std::pair<std::string, std::string>>;

enum class Method : std::uint8_t { get, post, put, patch, del, head, options };
std::string_view to_string(Method m) noexcept;
std::optional<Method> method_from_string(std::string_view s) noexcept;

// Builds query parameters from a JSON object: numbers and booleans are kept (0, false), strings as they are,
// arrays joined with commas, null values skipped.
Query query_from_json(const Json& object);
// "a=1&b=x%20y" with keys and values percent-encoded (RFC 3986 unreserved characters kept).
std::string encode_query(const Query& query);
std::string percent_encode(std::string_view s);

struct Request {
  Method method = Method::get;
  std::string path;  // relative to /api/: "auth/0.1/token" ("/api/auth/0.1/token" also works)
  Query query;
  std::optional<Json> json;             // JSON body (Content-Type: application/json)
  std::optional<std::string> raw_body;  // non-JSON body, sent with `content_type`
  std::string content_type;
  Headers headers;                                   // merged over the defaults
  std::optional<std::chrono::milliseconds> timeout;  // default: the client's request timeout
  bool authenticated = true;                         // send X-Auth-Token
  bool refresh_on_401 = true;                        // refresh-and-replay-once on 401 / 404 "No such token"
  std::vector<int> accept_statuses;                  // statuses >= 400 that still count as a response (not an Error)
  std::vector<int> quiet_statuses;                   // statuses >= 400 not logged as API errors (e.g. an expected 404)
};

struct Response {
  int status = 0;
  Headers headers;  // names in lower case
  std::string body;

  [[nodiscard]] const std::string* header(std::string_view name) const;
  // The body as JSON: an empty body (204) is null; a malformed one is an ErrorCategory::parse error.
  [[nodiscard]] Result<Json> json() const;
};

struct ClientOptions {
  std::string server;     // "host[:port]" (https), or with a scheme: "https://host:port", "http://127.0.0.1:8080"
  std::string client_id;  // needed to get (and use) a refresh token
  std::string refresh_token;
  bool is_mobile = false;
  ConnectionOptions connection;
};

// Emitted on the I/O thread after a successful refresh (also available through on_refresh_token).
struct TokenRefreshed {
  std::string token;
  Session session;
};
// Emitted once per failure run (also available through on_refresh_token_error).
struct TokenRefreshFailed {
  Error error;
};

class AuthApi;
class ChatdApi;
class ConfdApi;

class ApiClient {
 public:
  ApiClient(Runtime& runtime, ClientOptions options);
  ~ApiClient();
  ApiClient(const ApiClient&) = default;
  ApiClient& operator=(const ApiClient&) = default;
  ApiClient(ApiClient&&) noexcept = default;
  ApiClient& operator=(ApiClient&&) noexcept = default;

  // --- the generic requester ---
  // Resolves to the response for statuses < 400 (and accept_statuses); otherwise to an Error:
  // 401 → auth, other 4xx → http, 5xx → server, with Wazo's error_id/message/details when the body has them.
  Async<Response> send(Request request);
  // JSON in, JSON out: the parsed body (null for an empty body).
  Async<Json> call(Method method, std::string path, Json body = nullptr, Headers headers = {});

  // --- token state ---
  void set_token(std::string token);
  [[nodiscard]] std::string token() const;
  void set_refresh_token(std::string refresh_token);
  [[nodiscard]] std::string refresh_token() const;
  void set_refresh_expiration(int seconds);           // expiration asked for refreshed tokens (default 3600)
  void set_refresh_backend(std::string backend);      // default "wazo_user"
  void set_refresh_tenant_id(std::string tenant_id);  // deprecated by Wazo; prefer the domain name
  void set_refresh_domain_name(std::string domain_name);
  void set_client_id(std::string client_id);
  [[nodiscard]] std::string client_id() const;
  void set_tenant(std::string tenant_uuid);  // empty: no Wazo-Tenant header
  [[nodiscard]] std::string tenant() const;
  void set_request_timeout(std::chrono::milliseconds timeout);
  void set_is_mobile(bool mobile);
  [[nodiscard]] bool is_mobile() const;

  Subscription on_refresh_token(std::function<void(const std::string& token, const Session& session)> handler);
  Subscription on_refresh_token_error(std::function<void(const Error& error)> handler);
  template <class Event>
  Subscription on(std::function<void(const Event&)> handler) {
    return emitter().on<Event>(std::move(handler));
  }

  // Refreshes now (joins a refresh already under way).
  Async<Session> force_refresh_token();

  [[nodiscard]] std::string server() const;
  [[nodiscard]] std::string base_url() const;  // "https://host:port/api/"
  // The connection options this client was made with (TLS, proxy, timeouts): the WebSocket clients reuse them.
  [[nodiscard]] const ConnectionOptions& connection_options() const;
  [[nodiscard]] Runtime& runtime() const;

  // --- service clients ---
  [[nodiscard]] AuthApi auth() const;  // a light handle sharing this client
  [[nodiscard]] ChatdApi chatd() const;
  [[nodiscard]] ConfdApi confd() const;

 private:
  Emitter& emitter();
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace wazo::rest
