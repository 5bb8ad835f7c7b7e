// Turning Wazo error bodies into Error values (internal).
#pragma once

#include <string>
#include <string_view>

#include "wazo/core/error.hpp"

namespace wazo::rest::detail {

// Understands the shapes Wazo services answer errors with:
//   {"message", "error_id", "details", "timestamp"}          most services
//   {"reason": [msg], "timestamp": [t], "status_code": n}    wazo-auth token endpoints
//   ["msg", ...]                                             confd validation errors
// and falls back to the text (truncated) for anything else. 401 → auth, 4xx → http, 5xx → server.
Error error_from_response(int status, std::string_view body);

// The path with any occurrence of `secret` obfuscated, for logs.
std::string redact_path(std::string path, const std::string& secret);

}  // namespace wazo::rest::detail
