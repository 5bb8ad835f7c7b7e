// Typed events with RAII subscriptions: `auto sub = emitter.on<TokenRefreshed>(handler);` — the handler is
// removed when `sub` is destroyed or reset. No virtual observer bases, no single replaceable slot.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <typeindex>
#include <unordered_map>
#include <utility>
#include <vector>

namespace wazo {

class Subscription {
 public:
  Subscription() = default;
  explicit Subscription(std::function<void()> cancel) : cancel_(std::move(cancel)) {}
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  Subscription(Subscription&& other) noexcept : cancel_(std::exchange(other.cancel_, nullptr)) {}
  Subscription& operator=(Subscription&& other) noexcept {
    if (this != &other) {
      reset();
      cancel_ = std::exchange(other.cancel_, nullptr);
    }
    return *this;
  }
  ~Subscription() { reset(); }

  // Removes the handler now. A handler already running on another thread finishes.
  void reset() {
    if (auto c = std::exchange(cancel_, nullptr)) c();
  }
  [[nodiscard]] bool active() const noexcept { return static_cast<bool>(cancel_); }

 private:
  std::function<void()> cancel_;
};

// A set of typed handler lists. Thread-safe. emit() calls handlers without holding any lock, so a handler may
// subscribe, unsubscribe, or destroy the object that owns the emitter (the state is shared).
class Emitter {
 public:
  Emitter() : state_(std::make_shared<State>()) {}

  template <class Event>
  Subscription on(std::function<void(const Event&)> handler) {
    auto entry = std::make_shared<Entry>();
    entry->fn = [h = std::move(handler)](const void* e) { h(*static_cast<const Event*>(e)); };
    std::uint64_t id = 0;
    {
      std::lock_guard lock(state_->mutex);
      id = ++state_->next_id;
      entry->id = id;
      state_->handlers[std::type_index(typeid(Event))].push_back(entry);
    }
    return Subscription([weak = std::weak_ptr<State>(state_), type = std::type_index(typeid(Event)), entry] {
      entry->alive = false;
      if (auto s = weak.lock()) {
        std::lock_guard lock(s->mutex);
        auto& list = s->handlers[type];
        std::erase_if(list, [&](const auto& e) { return e == entry; });
      }
    });
  }

  template <class Event>
  void emit(const Event& event) const {
    std::vector<std::shared_ptr<Entry>> snapshot;
    {
      std::lock_guard lock(state_->mutex);
      auto it = state_->handlers.find(std::type_index(typeid(Event)));
      if (it == state_->handlers.end()) return;
      snapshot = it->second;
    }
    auto keep = state_;  // a handler may destroy our owner
    for (const auto& entry : snapshot) {
      if (entry->alive) entry->fn(&event);
    }
  }

  template <class Event>
  [[nodiscard]] std::size_t count() const {
    std::lock_guard lock(state_->mutex);
    auto it = state_->handlers.find(std::type_index(typeid(Event)));
    return it == state_->handlers.end() ? 0 : it->second.size();
  }

 private:
  struct Entry {
    std::uint64_t id = 0;
    std::function<void(const void*)> fn;
    std::atomic<bool> alive{true};
  };
  struct State {
    std::mutex mutex;
    std::uint64_t next_id = 0;
    std::unordered_map<std::type_index, std::vector<std::shared_ptr<Entry>>> handlers;
  };
  std::shared_ptr<State> state_;
};

}  // namespace wazo
