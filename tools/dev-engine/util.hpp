// Small helpers of the dev engine: ids, times, base64, Wazo error bodies.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace wazo::engine {

using Json = nlohmann::json;
using Clock = std::chrono::system_clock;

std::string new_uuid();                            // a random (version 4) UUID
std::string random_token(std::size_t bytes = 24);  // URL-safe random string
std::string iso_time(Clock::time_point t);         // "2026-11-26T10:00:00.123456" (UTC, no offset: wazo-auth's style)
std::string iso_time_utc(Clock::time_point t);     // "2026-11-26T10:00:00.123456+00:00"
std::optional<std::string> base64_decode(std::string_view in);
std::string slugify(std::string_view name);  // "Branch Office" → "branch-office"
std::string lower(std::string_view s);

// Error bodies: wazo-auth's token endpoints use {"reason": [..], "timestamp": [..], "status_code": n};
// the other endpoints use the common {"message", "error_id", "details", "timestamp", "resource"?}.
Json token_error_body(int status, std::string_view reason);
Json api_error_body(std::string_view message, std::string_view error_id, Json details = Json::object(),
                    std::string_view resource = {});

}  // namespace wazo::engine
