// Async<T>: the handle every asynchronous SDK call returns. The operation starts at once; consume its result
// exactly once, in whichever style suits the caller:
//   client.auth().log_in(p).then([](Result<Session> r) { ... });   // callback, on the runtime's I/O thread
//   Result<Session> r = client.auth().log_in(p).get();             // blocking (never on the I/O thread)
//   std::future<Result<Session>> f = client.auth().log_in(p).future();
//   Result<Session> r = co_await client.auth().log_in(p);          // in any C++20 coroutine
// cancel() completes the operation with ErrorCategory::cancelled unless it has already completed.
#pragma once

#include <chrono>
#include <condition_variable>
#include <coroutine>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "wazo/core/result.hpp"

namespace wazo {

namespace detail {

template <class T>
struct AsyncState {
  explicit AsyncState(boost::asio::io_context::executor_type e) : ex(e) {}
  boost::asio::io_context::executor_type ex;
  std::mutex mutex;
  std::condition_variable cv;
  std::optional<Result<T>> result;
  std::function<void(Result<T>)> continuation;
  std::function<void()> canceller;
  bool consumed = false;
};

}  // namespace detail

template <class T>
class Async;

// The producing side. set() may be called from any thread; the first call wins.
template <class T>
class Promise {
 public:
  explicit Promise(boost::asio::io_context::executor_type ex) : state_(std::make_shared<detail::AsyncState<T>>(ex)) {}

  [[nodiscard]] Async<T> async() const { return Async<T>(state_); }
  explicit Promise(std::shared_ptr<detail::AsyncState<T>> state) : state_(std::move(state)) {}

  bool set(Result<T> result) const {
    std::function<void(Result<T>)> cont;
    {
      std::lock_guard lock(state_->mutex);
      if (state_->result) return false;
      state_->canceller = nullptr;
      if (state_->continuation) {
        cont = std::move(state_->continuation);
        state_->consumed = true;
        boost::asio::post(state_->ex,
                          [cont = std::move(cont), r = std::move(result)]() mutable { cont(std::move(r)); });
        state_->result.emplace(Error(ErrorCategory::invalid_argument, "result already consumed"));
        return true;
      }
      state_->result.emplace(std::move(result));
    }
    state_->cv.notify_all();
    return true;
  }

  // What cancel() should do to stop the work (called at most once, outside any lock of ours).
  void on_cancel(std::function<void()> canceller) const {
    std::lock_guard lock(state_->mutex);
    if (!state_->result) state_->canceller = std::move(canceller);
  }

  // True once a result was set (including by cancel()).
  [[nodiscard]] bool done() const {
    std::lock_guard lock(state_->mutex);
    return state_->result.has_value();
  }

 private:
  std::shared_ptr<detail::AsyncState<T>> state_;
};

template <class T>
class [[nodiscard]] Async {
 public:
  Async() = default;
  explicit Async(std::shared_ptr<detail::AsyncState<T>> state) : state_(std::move(state)) {}

  [[nodiscard]] bool valid() const noexcept { return static_cast<bool>(state_); }

  [[nodiscard]] bool ready() const {
    std::lock_guard lock(state_->mutex);
    return state_->result.has_value();
  }

  // Runs handler(result) on the runtime's I/O thread once the operation completes.
  void then(std::function<void(Result<T>)> handler) {
    std::unique_lock lock(state_->mutex);
    if (state_->consumed) return;
    state_->consumed = true;
    if (state_->result) {
      auto r = std::move(*state_->result);
      lock.unlock();
      boost::asio::post(state_->ex, [h = std::move(handler), r = std::move(r)]() mutable { h(std::move(r)); });
      return;
    }
    state_->continuation = std::move(handler);
  }

  // Blocks until the operation completes. On the I/O thread it would deadlock, so it refuses.
  Result<T> get() {
    if (state_->ex.running_in_this_thread() && !ready())
      return Error(ErrorCategory::invalid_argument, "Async::get() called on the I/O thread; use then() or co_await");
    std::unique_lock lock(state_->mutex);
    state_->cv.wait(lock, [&] { return state_->result.has_value(); });
    state_->consumed = true;
    return std::move(*state_->result);
  }

  // Like get(), but gives up waiting after `limit` (the operation itself goes on; cancel() stops it).
  std::optional<Result<T>> get_for(std::chrono::milliseconds limit) {
    std::unique_lock lock(state_->mutex);
    if (!state_->cv.wait_for(lock, limit, [&] { return state_->result.has_value(); })) return std::nullopt;
    state_->consumed = true;
    return std::move(*state_->result);
  }

  std::future<Result<T>> future() {
    auto p = std::make_shared<std::promise<Result<T>>>();
    auto f = p->get_future();
    then([p](Result<T> r) { p->set_value(std::move(r)); });
    return f;
  }

  void cancel() {
    std::function<void()> stop;
    {
      std::lock_guard lock(state_->mutex);
      if (state_->result) return;
      stop = std::exchange(state_->canceller, nullptr);
    }
    // The cancelled result first, so that it wins over whatever the stopped operation reports on its way out
    // (a combined call whose parts complete as they are cancelled, say); then stop the work.
    Promise<T>(state_).set(Error(ErrorCategory::cancelled, "cancelled"));
    if (stop) stop();  // must be thread-safe
  }

  // Awaitable: resumes on the I/O thread.
  bool await_ready() const { return ready(); }
  void await_suspend(std::coroutine_handle<> h) {
    then([this, h](Result<T> r) {
      awaited_.emplace(std::move(r));
      h.resume();
    });
  }
  Result<T> await_resume() {
    if (awaited_) return std::move(*awaited_);
    std::lock_guard lock(state_->mutex);
    state_->consumed = true;
    return std::move(*state_->result);
  }

 private:
  friend class Promise<T>;
  std::shared_ptr<detail::AsyncState<T>> state_;
  std::optional<Result<T>> awaited_;
};

// An already-completed operation.
template <class T>
Async<T> make_ready(boost::asio::io_context::executor_type ex, Result<T> result) {
  Promise<T> p(ex);
  p.set(std::move(result));
  return p.async();
}

}  // namespace wazo
