#include "events/dispatcher.hpp"

#include <algorithm>

#include "wazo/events/catalog.hpp"

namespace wazo::events::detail {

Dispatcher::Dispatcher(Emitter& typed, const Logger* log) : typed_(typed), log_(log) {}

Subscription Dispatcher::on(std::string name, std::function<void(const RawEvent&)> handler) {
  auto entry = std::make_shared<Handler>();
  entry->fn = std::move(handler);
  {
    std::lock_guard lock(shared_->mutex);
    auto next = std::make_shared<Map>(*shared_->handlers);
    (*next)[name].push_back(entry);
    shared_->handlers = std::move(next);
  }
  return Subscription([weak = std::weak_ptr<Shared>(shared_), name = std::move(name), entry] {
    entry->alive = false;
    if (auto s = weak.lock()) {
      std::lock_guard lock(s->mutex);
      auto next = std::make_shared<Map>(*s->handlers);
      auto it = next->find(name);
      if (it != next->end()) {
        std::erase(it->second, entry);
        if (it->second.empty()) next->erase(it);
      }
      s->handlers = std::move(next);
    }
  });
}

bool Dispatcher::dispatch(const Frame& f) {
  // The same bus message twice (a replay, a doubled subscription upstream) is delivered once. Its identity:
  // name, timestamp (microseconds), payload size and the payload's last bytes; no timestamp, no check.
  if (!f.timestamp.empty()) {
    const std::string_view tail = f.payload.substr(f.payload.size() > 48 ? f.payload.size() - 48 : 0);
    const std::hash<std::string_view> h;
    const std::size_t key = h(f.name) ^ (h(f.timestamp) * 0x9E3779B97F4A7C15ULL) ^ (h(tail) * 31U) ^ f.payload.size();
    if (std::find(recent_.begin(), recent_.end(), key) != recent_.end()) {
      if (log_ != nullptr) log_->debug("events", "dropped a duplicate " + std::string(f.name));
      return false;
    }
    recent_[recent_next_] = key;
    recent_next_ = (recent_next_ + 1) % recent_.size();
  }

  const RawEvent ev{f.name, f.payload, f.frame, f.version};
  std::shared_ptr<const Map> snapshot;
  {
    std::lock_guard lock(shared_->mutex);
    snapshot = shared_->handlers;
  }
  for (const std::string_view key_name : {f.name, std::string_view("*")}) {
    if (auto it = snapshot->find(key_name); it != snapshot->end()) {
      for (const auto& h : it->second) {
        if (h->alive) h->fn(ev);
      }
    }
  }
  std::string error;
  if (!dispatch_typed(f.name, f.payload, typed_, &error)) {
    if (typed_.count<Unknown>() > 0) {
      Json payload = Json::parse(f.payload, nullptr, false);
      typed_.emit(Unknown{std::string(f.name), payload.is_discarded() ? Json() : std::move(payload)});
    }
  } else if (!error.empty() && log_ != nullptr) {
    log_->warn("events", std::string(f.name) + ": " + error);
  }
  return true;
}

}  // namespace wazo::events::detail
