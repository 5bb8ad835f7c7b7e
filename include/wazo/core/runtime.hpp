// The Runtime owns the SDK's I/O thread (or runs on an application's io_context) and the logger.
// Everything the SDK does hangs off a Runtime: no globals, and two runtimes can live side by side.
// A Runtime must outlive every client created on it.
#pragma once

#include <memory>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "wazo/core/log.hpp"

namespace wazo {

struct RuntimeOptions {
  LogSink log_sink;  // default: warnings and errors to stderr
  LogLevel log_level = LogLevel::warn;
};

class Runtime {
 public:
  using executor_type = boost::asio::io_context::executor_type;
  using Options = RuntimeOptions;

  // Starts one I/O thread.
  Runtime();
  explicit Runtime(Options options);
  // Uses the application's io_context; the application runs it (on one thread: the SDK relies on that).
  explicit Runtime(boost::asio::io_context& context, Options options = {});
  ~Runtime();

  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  [[nodiscard]] executor_type executor() const noexcept;
  [[nodiscard]] boost::asio::io_context& context() noexcept;
  [[nodiscard]] const Logger& logger() const noexcept;
  Logger& logger() noexcept;

  // True when called from the thread that runs the I/O context.
  [[nodiscard]] bool in_io_thread() const noexcept;

  // Stops the owned I/O thread (idempotent); pending operations are abandoned. Called by the destructor.
  void stop();

  template <class F>
  void post(F&& f) {
    boost::asio::post(executor(), std::forward<F>(f));
  }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wazo
