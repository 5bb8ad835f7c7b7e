#include "access.hpp"

#include <array>

namespace wazo::engine {

namespace {

constexpr std::size_t max_words = 64;

std::size_t split_words(std::string_view s, std::array<std::string_view, max_words>& out) {
  std::size_t n = 0;
  std::size_t start = 0;
  while (n < max_words) {
    const std::size_t dot = s.find('.', start);
    out[n++] = s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (dot == std::string_view::npos) return n;
    start = dot + 1;
  }
  return max_words + 1;  // too long: never matches
}

bool word_matches(std::string_view pattern, std::string_view word, const std::string& user_uuid,
                  const std::string& session_uuid) {
  if (pattern == "*") return true;
  if (pattern == word) return true;
  if (pattern == "me") return word == user_uuid;
  if (pattern == "my_session") return word == session_uuid;
  if ((pattern == "edit" && word == "update") || (pattern == "update" && word == "edit")) return true;
  return false;
}

// `#` is the only backtracking form; with at most 64 words on each side this stays small.
bool match_words(const std::string_view* p, std::size_t np, const std::string_view* w, std::size_t nw,
                 const std::string& user_uuid, const std::string& session_uuid) {
  if (np == 0) return nw == 0;
  if (p[0] == "#") {
    for (std::size_t k = 0; k <= nw; ++k) {
      if (match_words(p + 1, np - 1, w + k, nw - k, user_uuid, session_uuid)) return true;
    }
    return false;
  }
  if (nw == 0 || !word_matches(p[0], w[0], user_uuid, session_uuid)) return false;
  return match_words(p + 1, np - 1, w + 1, nw - 1, user_uuid, session_uuid);
}

Reply unauthorized(std::string_view reason) {
  return json_reply(401, api_error_body("Unauthorized", "unauthorized", Json{{"reason", std::string(reason)}}));
}

std::string expand(const std::string& acl, const Call& call) {
  std::string out;
  std::size_t i = 0;
  while (i < acl.size()) {
    if (acl[i] == '{') {
      const std::size_t close = acl.find('}', i);
      if (close != std::string::npos) {
        const std::string_view name = std::string_view(acl).substr(i + 1, close - i - 1);
        out += call.params.count(name) != 0 ? call.param(name) : call.query_value(name).value_or("");
        i = close + 1;
        continue;
      }
    }
    out += acl[i++];
  }
  return out;
}

}  // namespace

bool acl_entry_matches(std::string_view entry, std::string_view required, const std::string& user_uuid,
                       const std::string& session_uuid) {
  std::array<std::string_view, max_words> p{};
  std::array<std::string_view, max_words> w{};
  const std::size_t np = split_words(entry, p);
  const std::size_t nw = split_words(required, w);
  if (np > max_words || nw > max_words) return false;
  return match_words(p.data(), np, w.data(), nw, user_uuid, session_uuid);
}

bool acl_grants(const std::vector<std::string>& acl, std::string_view required, const std::string& user_uuid,
                const std::string& session_uuid) {
  bool granted = false;
  for (const auto& entry : acl) {
    const bool negated = !entry.empty() && entry[0] == '!';
    const std::string_view pattern = negated ? std::string_view(entry).substr(1) : std::string_view(entry);
    if (!acl_entry_matches(pattern, required, user_uuid, session_uuid)) continue;
    if (negated) return false;
    granted = true;
  }
  return granted;
}

Handler protect(State& state, std::string acl, Protected handler) {
  return [&state, acl = std::move(acl), handler = std::move(handler)](Call& call) -> Reply {
    const std::string presented = call.header("X-Auth-Token");
    if (presented.empty()) return unauthorized("missing_token");
    const Token* token = state.live_token(presented);
    if (token == nullptr) return unauthorized("not_found_or_expired");
    Access access{*token, token->tenant_uuid};
    if (auto it = call.params.find("user_uuid"); it != call.params.end() && it->second == "me") {
      it->second = token->user_uuid;
    }
    if (auto it = call.params.find("user_uuid_or_me"); it != call.params.end() && it->second == "me") {
      it->second = token->user_uuid;
    }
    const std::string tenant = call.header("Wazo-Tenant");
    if (!tenant.empty()) {
      if (!state.tenant_within(tenant, token->tenant_uuid)) {
        return json_reply(401,
                          api_error_body("Unauthorized tenant", "unauthorized-tenant", Json{{"tenant_uuid", tenant}}));
      }
      access.tenant = tenant;
    }
    if (!acl.empty()) {
      const std::string required = expand(acl, call);
      if (!acl_grants(token->acl, required, token->user_uuid, token->session_uuid)) {
        return json_reply(403, api_error_body("Forbidden: missing permission", "missing-permission",
                                              Json{{"required_access", required}}));
      }
    }
    return handler(call, access);
  };
}

Reply not_found(std::string_view resource, std::string_view what) {
  std::string message = "No such " + std::string(resource);
  if (!what.empty()) message += ": \"" + std::string(what) + "\"";
  return json_reply(404, api_error_body(message, "unknown-" + std::string(resource), Json::object(), resource));
}

Reply bad_request(std::string_view message, Json details) {
  return json_reply(400, api_error_body(message, "invalid-data", std::move(details)));
}

Reply conflict(std::string_view message, std::string_view resource) {
  return json_reply(409, api_error_body(message, "conflict", Json::object(), resource));
}

}  // namespace wazo::engine
