// Session: what wazo-auth returns for a token (the seed's domain `Session`).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "wazo/core/result.hpp"

namespace wazo::rest {

struct Session {
  std::string token;
  std::string refresh_token;  // only when logged in with a client id (access_type offline)
  std::string uuid;           // the user's UUID (metadata.uuid / pbx_user_uuid)
  std::string session_uuid;
  std::string tenant_uuid;
  std::string auth_id;
  std::string username;  // metadata.username when the engine sends it
  std::vector<std::string> acl;
  std::string issued_at;                            // as sent (ISO 8601)
  std::string expires_at;                           // as sent (ISO 8601, UTC)
  std::chrono::system_clock::time_point expires{};  // parsed from utc_expires_at (or expires_at)
  nlohmann::json metadata = nlohmann::json::object();
  nlohmann::json raw = nlohmann::json::object();  // the whole `data` object, unknown fields included

  [[nodiscard]] bool has_expired(std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const {
    return expires.time_since_epoch().count() != 0 && now >= expires;
  }

  // Accepts either the POST /token response ({"data": {...}}) or the `data` object itself.
  static Result<Session> from_json(const nlohmann::json& body);
  [[nodiscard]] nlohmann::json to_json() const;
};

// Parses "2026-11-25T10:00:00.123456", with an optional "Z" or "+00:00"; naive times are taken as UTC.
Result<std::chrono::system_clock::time_point> parse_iso8601(std::string_view text);

}  // namespace wazo::rest
