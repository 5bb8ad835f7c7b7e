// FakeMediaSession: a stand-in for the media layer in SIP tests. It makes a valid audio SDP offer/answer (RTP/AVP,
// PCMU/PCMA/telephone-event on 127.0.0.1), honours a direction for hold (sendonly / recvonly / inactive), and
// records every SDP it was given. Callbacks complete on a separate thread when `async` is set (the contract
// allows any thread). Header-only: it needs the SDK's headers, which the test support library does not link.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "wazo/sip/user_agent.hpp"

namespace wazo::test {

class FakeMediaSession final : public wazo::sip::MediaSession {
 public:
  explicit FakeMediaSession(std::string name = "fake", bool async = true) : name_(std::move(name)), async_(async) {}

  void create_offer(SdpCallback done) override {
    std::string sdp;
    {
      std::lock_guard lock(mutex_);
      if (fail_next_) {
        fail_next_ = false;
        complete(std::move(done), wazo::Error(wazo::ErrorCategory::media, "fake media failure"));
        return;
      }
      sdp = make_sdp(direction_);
      offers_.push_back(sdp);
    }
    complete(std::move(done), std::move(sdp));
  }

  void create_answer(std::string remote_offer, SdpCallback done) override {
    std::string sdp;
    {
      std::lock_guard lock(mutex_);
      remote_offers_.push_back(remote_offer);
      std::string dir = direction_;
      if (remote_offer.find("a=sendonly") != std::string::npos) dir = "recvonly";
      if (remote_offer.find("a=inactive") != std::string::npos) dir = "inactive";
      if (remote_offer.find("a=recvonly") != std::string::npos) dir = "sendonly";
      sdp = make_sdp(dir);
      answers_.push_back(sdp);
    }
    complete(std::move(done), std::move(sdp));
  }

  wazo::Result<void> set_remote_answer(std::string sdp) override {
    std::lock_guard lock(mutex_);
    if (sdp.rfind("v=0", 0) != 0) return wazo::Error(wazo::ErrorCategory::media, "not an SDP answer");
    remote_answers_.push_back(std::move(sdp));
    return {};
  }

  void close() override { closed_ = true; }

  // "sendrecv" (default), "sendonly" (hold), "recvonly", "inactive": used by the next offer or answer.
  void set_direction(std::string d) {
    std::lock_guard lock(mutex_);
    direction_ = std::move(d);
  }
  void fail_next() {
    std::lock_guard lock(mutex_);
    fail_next_ = true;
  }

  [[nodiscard]] bool closed() const { return closed_; }
  [[nodiscard]] std::vector<std::string> offers() const { return locked(offers_); }
  [[nodiscard]] std::vector<std::string> answers() const { return locked(answers_); }
  [[nodiscard]] std::vector<std::string> remote_offers() const { return locked(remote_offers_); }
  [[nodiscard]] std::vector<std::string> remote_answers() const { return locked(remote_answers_); }

  ~FakeMediaSession() override {
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  std::vector<std::string> locked(const std::vector<std::string>& v) const {
    std::lock_guard lock(mutex_);
    return v;
  }

  void complete(SdpCallback done, wazo::Result<std::string> r) {
    if (!async_) {
      done(std::move(r));
      return;
    }
    std::lock_guard lock(threads_mutex_);
    threads_.emplace_back([done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
  }

  std::string make_sdp(const std::string& direction) {
    ++version_;
    const std::string port = std::to_string(40000 + 2 * (static_cast<int>(std::hash<std::string>{}(name_) % 1000)));
    return "v=0\r\n"
           "o=- 4242 " +
           std::to_string(version_) +
           " IN IP4 127.0.0.1\r\n"
           "s=" +
           name_ +
           "\r\n"
           "c=IN IP4 127.0.0.1\r\n"
           "t=0 0\r\n"
           "m=audio " +
           port +
           " RTP/AVP 0 8 101\r\n"
           "a=rtpmap:0 PCMU/8000\r\n"
           "a=rtpmap:8 PCMA/8000\r\n"
           "a=rtpmap:101 telephone-event/8000\r\n"
           "a=fmtp:101 0-16\r\n"
           "a=" +
           direction + "\r\n";
  }

  std::string name_;
  bool async_;
  mutable std::mutex mutex_;
  std::string direction_ = "sendrecv";
  bool fail_next_ = false;
  int version_ = 0;
  std::atomic<bool> closed_{false};
  std::vector<std::string> offers_, answers_, remote_offers_, remote_answers_;
  std::mutex threads_mutex_;
  std::vector<std::thread> threads_;
};

}  // namespace wazo::test
