// Routes of the dev engine: "METHOD /api/svc/ver/path/{param}" templates mapped to handlers.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/beast/http.hpp>

#include "util.hpp"

namespace wazo::engine {

namespace http = boost::beast::http;
using HttpRequest = http::request<http::string_body>;
using HttpResponse = http::response<http::string_body>;

// One request being served, with what the router found.
struct Call {
  const HttpRequest& request;
  std::string path;                                        // decoded, without the query string
  std::vector<std::pair<std::string, std::string>> query;  // decoded
  std::map<std::string, std::string, std::less<>> params;  // from {name} segments
  std::string route;                                       // the matched template
  std::string remote;                                      // peer address

  [[nodiscard]] std::string param(std::string_view name) const;
  [[nodiscard]] std::optional<std::string> query_value(std::string_view name) const;
  [[nodiscard]] std::string header(std::string_view name) const;  // "" when absent
  // The body as a JSON value; nullopt when it is not valid JSON. An empty body is an empty object.
  [[nodiscard]] std::optional<Json> json() const;
};

struct Reply {
  int status = 200;
  std::string body;  // already serialised
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string route;  // set by the router: the template that served it (for logs)
};

Reply json_reply(int status, const Json& body);
Reply empty_reply(int status = 204);

using Handler = std::function<Reply(Call&)>;

class Router {
 public:
  // pattern: "/api/auth/0.1/users/{user_uuid}"
  void add(http::verb method, std::string pattern, Handler handler);
  // Routes a request (404 for an unknown path, 405 for a known path with another method; HEAD falls back
  // to GET without the body) and counts it under "METHOD /template".
  Reply dispatch(const HttpRequest& request, const std::string& remote);
  // Runs after each routed request (not after a 404/405): state maintenance, persistence.
  void after(std::function<void(const Call&, const Reply&)> hook) { after_.push_back(std::move(hook)); }
  // Keeps a service object alive as long as the router whose handlers refer to it.
  void own(std::shared_ptr<void> service) { owned_.push_back(std::move(service)); }
  // "METHOD /template" → requests served, for GET /_dev/metrics.
  [[nodiscard]] Json metrics() const;

 private:
  struct Route {
    http::verb method;
    std::string pattern;
    std::vector<std::string> segments;  // "{name}" for parameters
    Handler handler;
  };
  const Route* match(http::verb method, const std::vector<std::string>& segments, bool& path_known) const;

  std::vector<Route> routes_;
  std::vector<std::function<void(const Call&, const Reply&)>> after_;
  std::vector<std::shared_ptr<void>> owned_;
  mutable std::mutex mutex_;
  std::map<std::string, long> served_;
};

std::vector<std::string> split_path(std::string_view path);  // decoded segments; "" for a bad escape
std::string percent_decode(std::string_view s, bool plus_is_space = false);

}  // namespace wazo::engine
