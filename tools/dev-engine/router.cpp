#include "router.hpp"

#include <algorithm>

namespace wazo::engine {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_param(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

}  // namespace

std::string percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += (plus_is_space && c == '+') ? ' ' : c;
  }
  return out;
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    if (end > start) out.push_back(percent_decode(path.substr(start, end - start)));
    start = end + 1;
  }
  return out;
}

std::string Call::param(std::string_view name) const {
  auto it = params.find(name);
  return it == params.end() ? std::string() : it->second;
}

std::optional<std::string> Call::query_value(std::string_view name) const {
  for (const auto& [k, v] : query) {
    if (k == name) return v;
  }
  return std::nullopt;
}

std::string Call::header(std::string_view name) const {
  auto it = request.find(boost::beast::string_view(name.data(), name.size()));
  if (it == request.end()) return {};
  return std::string(it->value());
}

std::optional<Json> Call::json() const {
  if (request.body().empty()) return Json::object();
  Json j = Json::parse(request.body(), nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

Reply json_reply(int status, const Json& body) {
  return Reply{.status = status, .body = body.dump(), .content_type = "application/json"};
}

Reply empty_reply(int status) { return Reply{.status = status, .body = {}, .content_type = {}}; }

void Router::add(http::verb method, std::string pattern, Handler handler) {
  std::vector<std::string> segments;
  std::size_t start = 0;
  while (start <= pattern.size()) {
    const std::size_t end = std::min(pattern.find('/', start), pattern.size());
    if (end > start) segments.push_back(pattern.substr(start, end - start));
    start = end + 1;
  }
  routes_.push_back(Route{method, std::move(pattern), std::move(segments), std::move(handler)});
}

const Router::Route* Router::match(http::verb method, const std::vector<std::string>& segments,
                                   bool& path_known) const {
  const Route* best = nullptr;
  std::vector<bool> best_literals;
  for (const auto& route : routes_) {
    if (route.segments.size() != segments.size()) continue;
    std::vector<bool> literals;
    bool ok = true;
    for (std::size_t i = 0; i < segments.size() && ok; ++i) {
      const bool param = is_param(route.segments[i]);
      ok = param ? !segments[i].empty() : route.segments[i] == segments[i];
      literals.push_back(!param);
    }
    if (!ok) continue;
    path_known = true;
    if (route.method != method) continue;
    // The most specific route wins: a literal segment beats a parameter at the first difference.
    if (best == nullptr || literals > best_literals) {
      best = &route;
      best_literals = std::move(literals);
    }
  }
  return best;
}

Reply Router::dispatch(const HttpRequest& request, const std::string& remote) {
  const std::string_view target(request.target().data(), request.target().size());
  const std::size_t qpos = target.find('?');
  const std::string_view raw_path = target.substr(0, qpos);
  Call call{
      .request = request, .path = percent_decode(raw_path), .query = {}, .params = {}, .route = {}, .remote = remote};
  if (qpos != std::string_view::npos) {
    std::string_view q = target.substr(qpos + 1);
    while (!q.empty()) {
      const std::size_t amp = q.find('&');
      const std::string_view pair = q.substr(0, amp);
      const std::size_t eq = pair.find('=');
      if (!pair.empty()) {
        call.query.emplace_back(
            percent_decode(pair.substr(0, eq), true),
            eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1), true));
      }
      if (amp == std::string_view::npos) break;
      q.remove_prefix(amp + 1);
    }
  }
  const std::vector<std::string> segments = split_path(raw_path);
  bool path_known = false;
  const bool head = request.method() == http::verb::head;
  const Route* route = match(request.method(), segments, path_known);
  if (route == nullptr && head) route = match(http::verb::get, segments, path_known);
  if (route == nullptr) {
    Reply reply = path_known ? json_reply(405, api_error_body("Method not allowed", "method-not-allowed"))
                             : json_reply(404, api_error_body("Not found", "not-found", Json::object(), "path"));
    reply.route = "(no route)";
    return reply;
  }
  call.route = route->pattern;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (is_param(route->segments[i])) {
      call.params[route->segments[i].substr(1, route->segments[i].size() - 2)] = segments[i];
    }
  }
  {
    std::lock_guard lock(mutex_);
    ++served_[std::string(http::to_string(request.method())) + " " + route->pattern];
  }
  Reply reply = route->handler(call);
  reply.route = route->pattern;
  for (const auto& hook : after_) hook(call, reply);
  if (head) reply.body.clear();
  return reply;
}

Json Router::metrics() const {
  std::lock_guard lock(mutex_);
  Json requests = Json::object();
  for (const auto& [k, v] : served_) requests[k] = v;
  return Json{{"requests", requests}};
}

}  // namespace wazo::engine
