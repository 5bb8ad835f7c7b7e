#include "wazo/core/runtime.hpp"

#include <optional>

#include <boost/asio/executor_work_guard.hpp>

namespace wazo {

struct Runtime::Impl {
  std::optional<boost::asio::io_context> owned;
  boost::asio::io_context* context = nullptr;
  std::optional<boost::asio::executor_work_guard<executor_type>> work;
  std::thread thread;
  Logger logger;
};

namespace {
Logger make_logger(Runtime::Options& o) {
  return Logger(o.log_sink ? std::move(o.log_sink) : stderr_log_sink(), o.log_level);
}
}  // namespace

Runtime::Runtime() : Runtime(Options{}) {}

Runtime::Runtime(Options options) : impl_(std::make_unique<Impl>()) {
  impl_->logger = make_logger(options);
  impl_->owned.emplace(1);
  impl_->context = &*impl_->owned;
  impl_->work.emplace(impl_->context->get_executor());
  impl_->thread = std::thread([ctx = impl_->context] { ctx->run(); });
}

Runtime::Runtime(boost::asio::io_context& context, Options options) : impl_(std::make_unique<Impl>()) {
  impl_->logger = make_logger(options);
  impl_->context = &context;
}

Runtime::~Runtime() { stop(); }

void Runtime::stop() {
  if (!impl_->owned) return;
  impl_->work.reset();
  impl_->context->stop();
  if (impl_->thread.joinable()) {
    if (impl_->thread.get_id() == std::this_thread::get_id()) {
      impl_->thread.detach();  // destroyed from a handler: cannot join ourselves
    } else {
      impl_->thread.join();
    }
  }
}

Runtime::executor_type Runtime::executor() const noexcept { return impl_->context->get_executor(); }
boost::asio::io_context& Runtime::context() noexcept { return *impl_->context; }
const Logger& Runtime::logger() const noexcept { return impl_->logger; }
Logger& Runtime::logger() noexcept { return impl_->logger; }
bool Runtime::in_io_thread() const noexcept { return executor().running_in_this_thread(); }

}  // namespace wazo
