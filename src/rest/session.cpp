#include "wazo/rest/session.hpp"

#include <charconv>
#include <ctime>

#include "rest/detail/json.hpp"

namespace wazo::rest {

namespace {

using detail::str;

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  const auto* b = s.data() + pos;
  auto r = std::from_chars(b, b + n, out);
  return r.ec == std::errc() && r.ptr == b + n;
}

}  // namespace

Result<std::chrono::system_clock::time_point> parse_iso8601(std::string_view t) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (t.size() < 19 || !digits(t, 0, 4, y) || t[4] != '-' || !digits(t, 5, 2, mo) || t[7] != '-' ||
      !digits(t, 8, 2, d) || (t[10] != 'T' && t[10] != ' ') || !digits(t, 11, 2, h) || t[13] != ':' ||
      !digits(t, 14, 2, mi) || t[16] != ':' || !digits(t, 17, 2, s)) {
    return Error(ErrorCategory::parse, "not an ISO 8601 time: " + std::string(t.substr(0, 40)));
  }
  std::size_t pos = 19;
  long micros = 0;
  if (pos < t.size() && t[pos] == '.') {
    ++pos;
    long scale = 100000;
    while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') {
      micros += (t[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
  }
  long offset = 0;
  if (pos < t.size()) {
    const char c = t[pos];
    if (c == 'Z' || c == 'z') {
      ++pos;
    } else if (c == '+' || c == '-') {
      int oh = 0, om = 0;
      if (!digits(t, pos + 1, 2, oh)) return Error(ErrorCategory::parse, "bad UTC offset");
      std::size_t p2 = pos + 3;
      if (p2 < t.size() && t[p2] == ':') ++p2;
      if (!digits(t, p2, 2, om)) return Error(ErrorCategory::parse, "bad UTC offset");
      offset = (oh * 3600L + om * 60L) * (c == '-' ? -1 : 1);
      pos = p2 + 2;
    }
  }
  if (pos != t.size()) return Error(ErrorCategory::parse, "trailing characters in time");
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  const std::time_t secs = timegm(&tm) - offset;
  return std::chrono::system_clock::from_time_t(secs) + std::chrono::microseconds(micros);
}

Result<Session> Session::from_json(const nlohmann::json& body) {
  const nlohmann::json* data = &body;
  if (body.is_object() && body.contains("data") && body["data"].is_object()) data = &body["data"];
  if (!data->is_object()) return Error(ErrorCategory::parse, "session: expected a JSON object");
  Session s;
  s.raw = *data;
  s.token = str(*data, "token");
  if (s.token.empty()) return Error(ErrorCategory::parse, "session: no token in response");
  s.refresh_token = str(*data, "refresh_token");
  s.session_uuid = str(*data, "session_uuid");
  s.auth_id = str(*data, "auth_id");
  s.issued_at = str(*data, "utc_issued_at");
  if (s.issued_at.empty()) s.issued_at = str(*data, "issued_at");
  s.expires_at = str(*data, "utc_expires_at");
  if (s.expires_at.empty()) s.expires_at = str(*data, "expires_at");
  if (auto it = data->find("metadata"); it != data->end() && it->is_object()) {
    s.metadata = *it;
    s.uuid = str(*it, "uuid");
    if (s.uuid.empty()) s.uuid = str(*it, "pbx_user_uuid");
    s.tenant_uuid = str(*it, "tenant_uuid");
    s.username = str(*it, "username");
  }
  if (s.uuid.empty()) s.uuid = str(*data, "xivo_user_uuid");
  if (auto it = data->find("acl"); it != data->end() && it->is_array()) {
    for (const auto& a : *it) {
      if (a.is_string()) s.acl.push_back(a.get<std::string>());
    }
  }
  if (!s.expires_at.empty()) {
    auto t = parse_iso8601(s.expires_at);
    if (!t) return std::move(t).error();
    s.expires = *t;
  }
  return s;
}

nlohmann::json Session::to_json() const {
  nlohmann::json out = raw.is_object() ? raw : nlohmann::json::object();
  out["token"] = token;
  if (!refresh_token.empty()) out["refresh_token"] = refresh_token;
  out["session_uuid"] = session_uuid;
  out["utc_expires_at"] = expires_at;
  out["metadata"] = metadata;
  if (!out["metadata"].contains("uuid")) out["metadata"]["uuid"] = uuid;
  if (!out["metadata"].contains("tenant_uuid")) out["metadata"]["tenant_uuid"] = tenant_uuid;
  out["acl"] = acl;
  return out;
}

}  // namespace wazo::rest
