// Delivers decoded event frames to handlers: by name, to "*" handlers, and as typed events (parsed only when a
// typed handler listens). Drops a bus message seen twice in a row window. Used on one thread (the I/O thread);
// handlers may be added and removed from any thread.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "events/decoder.hpp"
#include "wazo/core/log.hpp"
#include "wazo/core/subscription.hpp"
#include "wazo/events/event.hpp"

namespace wazo::events::detail {

class Dispatcher {
 public:
  explicit Dispatcher(Emitter& typed, const Logger* log = nullptr);

  Subscription on(std::string name, std::function<void(const RawEvent&)> handler);
  // Returns false when the frame was a duplicate and was dropped.
  bool dispatch(const Frame& frame);

 private:
  struct Handler {
    std::function<void(const RawEvent&)> fn;
    std::atomic<bool> alive{true};
  };
  using Map = std::map<std::string, std::vector<std::shared_ptr<Handler>>, std::less<>>;
  struct Shared {
    std::mutex mutex;
    std::shared_ptr<const Map> handlers = std::make_shared<Map>();  // copy-on-write
  };

  Emitter& typed_;
  const Logger* log_;
  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
  std::array<std::size_t, 256> recent_{};
  std::size_t recent_next_ = 0;
};

}  // namespace wazo::events::detail
