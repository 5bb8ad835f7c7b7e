#include "wazo/core/log.hpp"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>

namespace wazo {

std::string_view to_string(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::trace:
      return "trace";
    case LogLevel::debug:
      return "debug";
    case LogLevel::info:
      return "info";
    case LogLevel::warn:
      return "warn";
    case LogLevel::error:
      return "error";
    case LogLevel::off:
      return "off";
  }
  return "?";
}

LogSink stderr_log_sink() {
  return [](const LogRecord& r) {
    std::string line;
    line.reserve(r.category.size() + r.message.size() + 16);
    line.append(to_string(r.level)).append(" ").append(r.category).append(": ").append(r.message).append("\n");
    std::fwrite(line.data(), 1, line.size(), stderr);
  };
}

std::string obfuscate(std::string_view secret) {
  if (secret.empty()) return {};
  if (secret.size() <= 4) return "…";
  return std::string(secret.substr(0, 4)) + "…";
}

struct Logger::State {
  std::mutex mutex;
  std::shared_ptr<const LogSink> sink;
  std::atomic<LogLevel> level{LogLevel::warn};
};

Logger::Logger() : Logger(stderr_log_sink(), LogLevel::warn) {}

Logger::Logger(LogSink sink, LogLevel min_level) : state_(std::make_shared<State>()) {
  state_->sink = std::make_shared<const LogSink>(std::move(sink));
  state_->level = min_level;
}

void Logger::set_sink(LogSink sink) {
  auto s = std::make_shared<const LogSink>(std::move(sink));
  std::lock_guard lock(state_->mutex);
  state_->sink = std::move(s);
}

void Logger::set_level(LogLevel level) { state_->level = level; }

LogLevel Logger::level() const noexcept { return state_->level.load(std::memory_order_relaxed); }

void Logger::log(LogLevel level, std::string_view category, std::string_view message) const {
  if (!enabled(level)) return;
  std::shared_ptr<const LogSink> sink;
  {
    std::lock_guard lock(state_->mutex);
    sink = state_->sink;
  }
  if (sink && *sink) (*sink)(LogRecord{level, category, message, std::chrono::system_clock::now()});
}

}  // namespace wazo
