#include "media/audio_bridge.hpp"

#include <algorithm>
#include <limits>

namespace wazo::media {

AudioBridge::MemberId AudioBridge::join() {
  std::lock_guard lock(mutex_);
  const MemberId id = next_++;
  auto& mine = queues_[id];
  for (auto& [listener, sources] : queues_) {
    if (listener == id) continue;
    sources[id];     // the new member will speak to every listener
    mine[listener];  // and hear every member
  }
  return id;
}

void AudioBridge::leave(MemberId member) {
  std::lock_guard lock(mutex_);
  queues_.erase(member);
  for (auto& [listener, sources] : queues_) sources.erase(member);
}

void AudioBridge::push(MemberId from, std::span<const std::int16_t> samples) {
  std::lock_guard lock(mutex_);
  if (!queues_.contains(from)) return;
  for (auto& [listener, sources] : queues_) {
    if (listener == from) continue;
    auto& q = sources[from];
    q.insert(q.end(), samples.begin(), samples.end());
    if (q.size() > kMaxQueued) q.erase(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(q.size() - kTrimTo));
  }
}

std::size_t AudioBridge::mix_into(MemberId to, std::span<std::int16_t> samples) {
  std::lock_guard lock(mutex_);
  auto it = queues_.find(to);
  if (it == queues_.end()) return 0;
  std::size_t contributors = 0;
  for (auto& [source, q] : it->second) {
    const std::size_t n = std::min(q.size(), samples.size());
    if (n == 0) continue;
    ++contributors;
    for (std::size_t i = 0; i < n; ++i) {
      const int sum = int{samples[i]} + int{q[i]};
      samples[i] = static_cast<std::int16_t>(std::clamp(sum, int{std::numeric_limits<std::int16_t>::min()},
                                                        int{std::numeric_limits<std::int16_t>::max()}));
    }
    q.erase(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(n));
  }
  return contributors;
}

std::size_t AudioBridge::members() const {
  std::lock_guard lock(mutex_);
  return queues_.size();
}

std::size_t AudioBridge::queued(MemberId from, MemberId to) const {
  std::lock_guard lock(mutex_);
  auto it = queues_.find(to);
  if (it == queues_.end()) return 0;
  auto q = it->second.find(from);
  return q == it->second.end() ? 0 : q->second.size();
}

}  // namespace wazo::media
