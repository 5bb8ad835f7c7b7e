// Log sink interface. The SDK never logs secrets: tokens, passwords and digest responses go through obfuscate().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace wazo {

enum class LogLevel : std::uint8_t { trace, debug, info, warn, error, off };

std::string_view to_string(LogLevel level) noexcept;

struct LogRecord {
  LogLevel level;
  std::string_view category;  // "http", "rest", "auth", ...
  std::string_view message;
  std::chrono::system_clock::time_point time;
};

// Called on whichever thread logged; must be thread-safe and must not call back into the SDK.
using LogSink = std::function<void(const LogRecord&)>;

// A sink that writes "LEVEL category: message" lines to stderr.
LogSink stderr_log_sink();

// Keeps the first 4 characters of a secret and masks the rest: "8a3f…". Empty stays empty.
std::string obfuscate(std::string_view secret);

// Thread-safe front for a sink with a minimum level. Cheap to copy (shared state).
class Logger {
 public:
  Logger();
  explicit Logger(LogSink sink, LogLevel min_level = LogLevel::info);

  void set_sink(LogSink sink);
  void set_level(LogLevel level);
  [[nodiscard]] LogLevel level() const noexcept;
  [[nodiscard]] bool enabled(LogLevel level) const noexcept { return level >= this->level() && level != LogLevel::off; }

  void log(LogLevel level, std::string_view category, std::string_view message) const;
  void debug(std::string_view category, std::string_view message) const { log(LogLevel::debug, category, message); }
  void info(std::string_view category, std::string_view message) const { log(LogLevel::info, category, message); }
  void warn(std::string_view category, std::string_view message) const { log(LogLevel::warn, category, message); }
  void error(std::string_view category, std::string_view message) const { log(LogLevel::error, category, message); }

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace wazo
