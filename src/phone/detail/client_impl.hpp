// The WebRTCClient's shared state. Not API: tests include it to build a client on another media engine
// (tests/support/fake_media_engine.hpp) with make_client().
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "media/media_engine.hpp"
#include "wazo/phone/webrtc_client.hpp"

namespace wazo::phone {

namespace detail {

// One call of the client.
struct CallState {
  sip::Session session;
  std::shared_ptr<media::CallMedia> media;             // incoming: made by answer()
  std::vector<Subscription> subs;                      // session and media events
  std::vector<std::shared_ptr<Subscription>> op_subs;  // per-operation (transfers): reset when the call ends
  bool incoming = false;
  bool held = false;         // by us
  bool remote_held = false;  // by the peer
  bool video = false;
  bool reinvite_in = false;  // the peer's re-INVITE is being answered
  bool screensharing = false;
  bool transferred = false;
  bool transfer_pending = false;  // our REFER was accepted: a BYE from the peer now means the transfer is done
  bool ended = false;
  bool ice_down = false;
  bool merged = false;  // in the ad hoc conference (Impl::conference)
  int ice_attempts = 0;
  std::optional<media::VideoSource> video_before_share;
  std::unique_ptr<boost::asio::steady_timer> stats_timer;
  std::unique_ptr<boost::asio::steady_timer> ice_timer;
  // The media path watchdog (WebRtcConfig::media_timeout): packets seen at the last tick, when they last grew,
  // whether the path is taken for down, and when that was last reported.
  std::unique_ptr<boost::asio::steady_timer> path_timer;
  std::uint64_t path_packets = 0;
  std::chrono::steady_clock::time_point path_alive_at;
  std::chrono::steady_clock::time_point path_reported_at;
  bool path_down = false;
};

}  // namespace detail

struct WebRTCClient::Impl : std::enable_shared_from_this<WebRTCClient::Impl> {
  // `engine` null: the GStreamer engine, made on the first call.
  Impl(Runtime& runtime, WebRtcConfig config, std::shared_ptr<media::MediaEngine> engine);
  ~Impl();
  void wire();  // subscribes to the agent (needs shared_from_this)

  Runtime& rt;
  WebRtcConfig config;
  std::shared_ptr<media::MediaEngine> engine;
  std::unique_ptr<sip::UserAgent> ua;
  Emitter emitter;
  std::vector<Subscription> ua_subs;
  // Answer a peer's re-offer that adds video with video (a Phone without allow_video turns it off).
  std::atomic<bool> accept_video_upgrades{true};

  mutable std::mutex mutex;           // guards everything below and CallState flags
  media::MediaOptions media_options;  // config.media with the ICE settings and device changes applied
  std::vector<std::shared_ptr<detail::CallState>> calls;
  bool started = false;
  std::vector<Promise<void>> register_waiters;
  std::shared_ptr<media::AudioBridge> conference;  // the merged calls' mixer, while there are some

  std::unique_ptr<boost::asio::steady_timer> heartbeat_timer;
  bool heartbeat_on = false;
  int heartbeat_missed = 0;
  std::uint64_t heartbeat_generation = 0;

  Result<std::shared_ptr<media::MediaEngine>> media_engine();
  Result<std::shared_ptr<media::CallMedia>> make_media(bool video);
  std::shared_ptr<detail::CallState> find(const sip::Session& s) const;
  std::shared_ptr<detail::CallState> add_call(sip::Session s, std::shared_ptr<media::CallMedia> m, bool incoming);
  void watch_session(const std::shared_ptr<detail::CallState>& c);
  void watch_media(const std::shared_ptr<detail::CallState>& c);
  void after_answer(const std::weak_ptr<detail::CallState>& c);
  void on_ice_state(const std::shared_ptr<detail::CallState>& c, const std::string& state);
  void schedule_stats(const std::shared_ptr<detail::CallState>& c);
  void watch_path(const std::shared_ptr<detail::CallState>& c);
  void follow_refer(const std::shared_ptr<detail::CallState>& c, const std::shared_ptr<sip::Referral>& referral);
  Result<sip::Session> invite(std::string target, CallOptions options, sip::InviteOptions invite_options,
                              std::optional<sip::Session> transferred_from);
  Async<void> set_hold(const sip::Session& s, bool hold);
  Async<void> renegotiate(const std::shared_ptr<detail::CallState>& c);
  void heartbeat_tick(std::uint64_t generation);
  Async<void> ping();

  template <class Event>
  void emit_later(Event e) {
    rt.post([weak = weak_from_this(), e = std::move(e)] {
      if (auto self = weak.lock()) self->emitter.emit(e);
    });
  }
  [[nodiscard]] Promise<void> promise() const { return Promise<void>(rt.executor()); }
};

namespace detail {
// A client on `engine` (tests: a fake engine; null: GStreamer).
WebRTCClient make_client(Runtime& runtime, WebRtcConfig config, std::shared_ptr<media::MediaEngine> engine);
// The SIP WebSocket URL the config names ("" when it names none).
std::string websocket_url(const WebRtcConfig& config);
// Resolves once every part has: with the first error, else success.
Async<void> when_all(Runtime& runtime, std::vector<Async<void>> parts);
// Whether an SDP has a video m-line with a non-zero port.
bool sdp_has_video(std::string_view sdp);
// "Signal=5\r\nDuration=160" → '5' (0 when there is none).
char parse_dtmf_relay(std::string_view body);
}  // namespace detail

}  // namespace wazo::phone
