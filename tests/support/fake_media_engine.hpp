// FakeMediaEngine: a stand-in for the GStreamer engine in phone tests that exercise signalling only (tests that
// use it say so in their name). Each call's FakeCallMedia wraps a FakeMediaSession (plain RTP/AVP audio SDP, no
// packets): hold is the SDP direction, the negotiated direction is read back from the SDP exchanged, mute and
// camera are flags, RFC 4733 is never "negotiated" (so DTMF goes as SIP INFO) and statistics are empty.
// Header-only, like fake_media_session.hpp: it needs the SDK's internal media header (src/ on the include path).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fake_media_session.hpp"
#include "media/media_engine.hpp"

namespace wazo::test {

class FakeCallMedia final : public wazo::media::CallMedia {
 public:
  using Direction = wazo::media::Direction;
  FakeCallMedia(std::string name, bool video) : session_(std::move(name)), video_wanted_(video) {}

  void create_offer(SdpCallback done) override { session_.create_offer(std::move(done)); }
  void create_answer(std::string remote_offer, SdpCallback done) override {
    const Direction peer = direction_in(remote_offer);
    session_.create_answer(std::move(remote_offer), [this, peer, done = std::move(done)](wazo::Result<std::string> r) {
      if (r) set_negotiated(intersect(local_direction(), flip(peer)));
      done(std::move(r));
    });
  }
  wazo::Result<void> set_remote_answer(std::string sdp) override {
    const Direction peer = direction_in(sdp);
    auto r = session_.set_remote_answer(std::move(sdp));
    if (r) set_negotiated(intersect(local_direction(), flip(peer)));
    return r;
  }
  void close() override {
    set_bridge(nullptr);
    session_.close();
  }

  void set_local_direction(Direction d) override {
    {
      std::lock_guard lock(mutex_);
      local_ = d;
    }
    session_.set_direction(wazo::media::to_string(d));
  }
  [[nodiscard]] Direction local_direction() const override {
    std::lock_guard lock(mutex_);
    return local_;
  }
  [[nodiscard]] Direction negotiated_direction() const override {
    std::lock_guard lock(mutex_);
    return negotiated_;
  }
  void set_audio_muted(bool muted) override { muted_ = muted; }
  [[nodiscard]] bool audio_muted() const override { return muted_; }
  void set_camera_enabled(bool enabled) override { camera_ = enabled; }
  [[nodiscard]] bool camera_enabled() const override { return camera_; }
  void set_video_wanted(bool wanted) override { video_wanted_ = wanted; }
  [[nodiscard]] bool has_video() const override { return false; }  // the fake SDP is audio only
  wazo::Result<void> send_dtmf(char, std::chrono::milliseconds) override {
    return wazo::Error(wazo::ErrorCategory::media, "fake media: no RTP");
  }
  [[nodiscard]] bool dtmf_supported() const override { return false; }
  void request_ice_restart() override { ++ice_restarts_; }
  std::optional<std::uint64_t> packets_received() const override { return std::nullopt; }  // no media path
  wazo::Result<void> set_audio_source(wazo::media::AudioSource) override { return {}; }
  wazo::Result<void> set_video_source(wazo::media::VideoSource) override { return {}; }
  wazo::Result<void> set_audio_sink(wazo::media::AudioSink) override { return {}; }
  void set_output_volume(double v) override { volume_ = v; }
  [[nodiscard]] wazo::media::CallStats stats() const override { return {}; }
  void set_bridge(std::shared_ptr<wazo::media::AudioBridge> bridge) override {
    std::lock_guard lock(mutex_);
    bridge_ = std::move(bridge);
  }
  [[nodiscard]] bool bridged() const override {
    std::lock_guard lock(mutex_);
    return bridge_ != nullptr;
  }
  [[nodiscard]] std::shared_ptr<wazo::media::AudioBridge> bridge() const {
    std::lock_guard lock(mutex_);
    return bridge_;
  }

  [[nodiscard]] FakeMediaSession& session() { return session_; }
  [[nodiscard]] bool video_wanted() const { return video_wanted_; }
  [[nodiscard]] int ice_restarts() const { return ice_restarts_; }

 protected:
  wazo::Emitter& emitter() override { return emitter_; }

 private:
  static Direction direction_in(const std::string& sdp) {
    if (sdp.find("a=sendonly") != std::string::npos) return Direction::sendonly;
    if (sdp.find("a=recvonly") != std::string::npos) return Direction::recvonly;
    if (sdp.find("a=inactive") != std::string::npos) return Direction::inactive;
    return Direction::sendrecv;
  }
  static Direction flip(Direction d) {
    if (d == Direction::sendonly) return Direction::recvonly;
    if (d == Direction::recvonly) return Direction::sendonly;
    return d;
  }
  static Direction intersect(Direction a, Direction b) {
    const bool send = (a == Direction::sendrecv || a == Direction::sendonly) &&
                      (b == Direction::sendrecv || b == Direction::sendonly);
    const bool recv = (a == Direction::sendrecv || a == Direction::recvonly) &&
                      (b == Direction::sendrecv || b == Direction::recvonly);
    if (send && recv) return Direction::sendrecv;
    if (send) return Direction::sendonly;
    if (recv) return Direction::recvonly;
    return Direction::inactive;
  }
  void set_negotiated(Direction d) {
    std::lock_guard lock(mutex_);
    negotiated_ = d;
  }

  FakeMediaSession session_;
  mutable std::mutex mutex_;
  Direction local_ = Direction::sendrecv;
  Direction negotiated_ = Direction::sendrecv;
  std::atomic<bool> muted_{false};
  std::atomic<bool> camera_{true};
  std::atomic<bool> video_wanted_;
  std::atomic<int> ice_restarts_{0};
  std::atomic<double> volume_{1.0};
  std::shared_ptr<wazo::media::AudioBridge> bridge_;
  wazo::Emitter emitter_;
};

class FakeMediaEngine final : public wazo::media::MediaEngine {
 public:
  explicit FakeMediaEngine(std::string name = "fake") : name_(std::move(name)) {}
  wazo::Result<std::shared_ptr<wazo::media::CallMedia>> create_call(const wazo::media::MediaOptions&,
                                                                    bool video) override {
    std::lock_guard lock(mutex_);
    auto m = std::make_shared<FakeCallMedia>(name_ + std::to_string(calls_.size()), video);
    calls_.push_back(m);
    return std::shared_ptr<wazo::media::CallMedia>(m);
  }
  [[nodiscard]] std::vector<std::shared_ptr<FakeCallMedia>> calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }

 private:
  std::string name_;
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<FakeCallMedia>> calls_;
};

}  // namespace wazo::test
