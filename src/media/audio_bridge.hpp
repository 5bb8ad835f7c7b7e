// AudioBridge: the local mixer of an ad hoc conference (the seed's client.merge()). Each call in the conference is a
// member. A member pushes its peer's decoded audio; when the member's encoder takes its next buffer, the other
// members' audio is added into it (mix-minus: nobody hears themselves back). The user hears every peer through each
// call's own sink, as before the merge.
//
// Audio is 48 kHz mono S16, the format both ends of a call's pipeline use. Every (source → listener) pair has its
// own queue, so listeners that run at slightly different rates never starve or flood each other. A queue holds at
// most `kMaxQueued` samples: past that (a listener that stopped taking, or a clock drifting ahead) the oldest
// samples go, down to `kTrimTo`, which bounds both memory and the added delay.
//
// Threads: every method may be called from any thread (GStreamer streaming threads push and mix).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <span>

namespace wazo::media {

class AudioBridge {
 public:
  using MemberId = std::uint64_t;
  static constexpr std::size_t kMaxQueued = 48'000 / 5;    // 200 ms
  static constexpr std::size_t kTrimTo = 48'000 * 3 / 50;  // 60 ms

  MemberId join();
  void leave(MemberId member);
  // The member's peer's decoded audio. Ignored for a member that left.
  void push(MemberId from, std::span<const std::int16_t> samples);
  // Adds the other members' queued audio into `samples`, saturating; returns how many members contributed.
  std::size_t mix_into(MemberId to, std::span<std::int16_t> samples);
  [[nodiscard]] std::size_t members() const;
  // Samples waiting from `from` for `to` (tests).
  [[nodiscard]] std::size_t queued(MemberId from, MemberId to) const;

 private:
  mutable std::mutex mutex_;
  MemberId next_ = 1;
  // listener → source → what the source said that the listener has not sent yet.
  std::map<MemberId, std::map<MemberId, std::deque<std::int16_t>>> queues_;
};

}  // namespace wazo::media
