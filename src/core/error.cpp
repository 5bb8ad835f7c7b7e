#include "wazo/core/error.hpp"

#include <ctime>
#include <sstream>

namespace wazo {

std::string_view to_string(ErrorCategory category) noexcept {
  switch (category) {
    case ErrorCategory::transport:
      return "transport";
    case ErrorCategory::timeout:
      return "timeout";
    case ErrorCategory::http:
      return "http";
    case ErrorCategory::server:
      return "server";
    case ErrorCategory::auth:
      return "auth";
    case ErrorCategory::parse:
      return "parse";
    case ErrorCategory::sip:
      return "sip";
    case ErrorCategory::media:
      return "media";
    case ErrorCategory::cancelled:
      return "cancelled";
    case ErrorCategory::invalid_argument:
      return "invalid-argument";
  }
  return "unknown";
}

Error::Error(ErrorCategory c, std::string msg, int st)
    : category(c),
      status(st),
      message(std::move(msg)),
      timestamp(detail::utc_now_iso8601()),
      retryable(c == ErrorCategory::transport || c == ErrorCategory::timeout || c == ErrorCategory::server) {}

std::string Error::describe() const {
  std::ostringstream os;
  os << to_string(category);
  if (status != 0) os << ' ' << status;
  if (!error_id.empty()) os << " (" << error_id << ')';
  if (!message.empty()) os << ": " << message;
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Error& e) { return os << e.describe(); }

namespace detail {
std::string utc_now_iso8601() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}
}  // namespace detail

}  // namespace wazo
