// Errors are values: every fallible call of the SDK yields an Error inside a Result.
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace wazo {

enum class ErrorCategory : std::uint8_t {
  transport,         // connection refused, reset, DNS, TLS handshake or verification
  timeout,           // the operation's deadline passed
  http,              // the server answered 4xx (the seed's BadResponse)
  server,            // the server answered 5xx (the seed's ServerError)
  auth,              // credentials or tokens rejected and not recoverable by a refresh
  parse,             // a body or message that could not be decoded
  sip,               // SIP-level failure
  media,             // media engine failure
  cancelled,         // cancelled by the caller or by shutdown
  invalid_argument,  // the caller passed something unusable
};

std::string_view to_string(ErrorCategory category) noexcept;

struct Error {
  ErrorCategory category = ErrorCategory::transport;
  int status = 0;          // HTTP or SIP status, 0 when there was no response
  std::string error_id;    // Wazo's `error_id` when the server sent one
  std::string message;     // human-readable, never contains secrets
  nlohmann::json details;  // Wazo's `details` (or the whole body when it has no known shape)
  std::string timestamp;   // server timestamp when given, else when the error was made (ISO 8601 UTC)
  bool retryable = false;  // whether the same call may succeed if simply tried again

  Error() = default;
  Error(ErrorCategory c, std::string msg, int st = 0);

  // "http 404 (not-found): No such user"
  [[nodiscard]] std::string describe() const;
};

std::ostream& operator<<(std::ostream& os, const Error& e);

namespace detail {
std::string utc_now_iso8601();
}

}  // namespace wazo
