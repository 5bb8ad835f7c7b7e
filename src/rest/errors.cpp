#include "rest/detail/errors.hpp"

#include <nlohmann/json.hpp>

#include "wazo/core/log.hpp"

namespace wazo::rest::detail {

namespace {
std::string first_string(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array() && !v.empty() && v[0].is_string()) return v[0].get<std::string>();
  return {};
}
}  // namespace

Error error_from_response(int status, std::string_view body) {
  const ErrorCategory cat = status >= 500   ? ErrorCategory::server
                            : status == 401 ? ErrorCategory::auth
                                            : ErrorCategory::http;
  Error e(cat, "", status);
  e.retryable = status >= 500 || status == 429;
  const auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object()) {
    if (auto it = j.find("message"); it != j.end()) e.message = first_string(*it);
    if (auto it = j.find("error_id"); it != j.end() && it->is_string()) e.error_id = it->get<std::string>();
    if (auto it = j.find("details"); it != j.end()) e.details = *it;
    if (auto it = j.find("timestamp"); it != j.end()) {
      if (auto t = first_string(*it); !t.empty()) {
        e.timestamp = t;
      } else if (it->is_number()) {
        e.timestamp = it->dump();
      } else if (it->is_array() && !it->empty() && (*it)[0].is_number()) {
        e.timestamp = (*it)[0].dump();
      }
    }
    if (e.message.empty()) {
      if (auto it = j.find("reason"); it != j.end()) e.message = first_string(*it);
    }
    if (e.details.is_null()) e.details = j;
  } else if (j.is_array()) {
    for (const auto& item : j) {
      if (!item.is_string()) continue;
      if (!e.message.empty()) e.message += "; ";
      e.message += item.get<std::string>();
    }
    e.details = j;
  } else if (!body.empty()) {
    e.message = std::string(body.substr(0, 200));
  }
  if (e.message.empty()) e.message = "HTTP " + std::to_string(status);
  return e;
}

std::string redact_path(std::string path, const std::string& secret) {
  if (secret.size() >= 8) {
    for (auto pos = path.find(secret); pos != std::string::npos; pos = path.find(secret, pos)) {
      const auto masked = obfuscate(secret);
      path.replace(pos, secret.size(), masked);
      pos += masked.size();
    }
  }
  // wazo-auth's /token/{token}: whichever token it is (checked, revoked, scoped), it is a secret.
  static constexpr std::string_view marker = "/token/";
  for (auto pos = path.find(marker); pos != std::string::npos; pos = path.find(marker, pos)) {
    pos += marker.size();
    const auto end = std::min(path.find_first_of("/?", pos), path.size());
    const std::string masked = obfuscate(path.substr(pos, end - pos));
    path.replace(pos, end - pos, masked);
    pos += masked.size();
  }
  return path;
}

}  // namespace wazo::rest::detail
