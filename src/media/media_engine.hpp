// The media layer's internal interface: a MediaEngine makes one CallMedia per call. CallMedia is the
// sip::MediaSession of the call (it produces and consumes its SDP) plus the controls the phone needs: hold
// (direction), mute, camera, video, DTMF, device switching, statistics, ICE restart.
//
// The GStreamer implementation (gst_engine.cpp) runs webrtcbin in one pipeline per call. It works around
// webrtcbin 1.22 as ../shared/reference/webrtcbin-lab.md describes: SDP directions are handled here (webrtcbin always
// sees sendrecv; outgoing buffers are dropped by pad probes), encoders are linked after a remote offer with its
// payload types, cached candidates are put back into re-offers, the default candidate goes into m=/c=, no trickle.
//
// Threads: every method may be called from any thread. SdpCallbacks and events are delivered on the Runtime's
// I/O thread, never on a GStreamer thread; audio/video sink callbacks run on a media thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "media/audio_bridge.hpp"
#include "wazo/core/result.hpp"
#include "wazo/core/runtime.hpp"
#include "wazo/core/subscription.hpp"
#include "wazo/media/media.hpp"
#include "wazo/sip/user_agent.hpp"

namespace wazo::media {

// ---- CallMedia events (CallMedia::on<E>), on the Runtime's I/O thread.
struct IceStateChanged {
  std::string state;  // as CallStats::ice_state
};
struct MediaConnected {};  // ICE + DTLS up: media flows (the seed's onMediaConnected)
struct TrackAdded {        // the first decoded buffer of a remote track (the seed's onTrack / ON_*_STREAM)
  Kind kind = Kind::audio;
};
struct TrackRemoved {
  Kind kind = Kind::audio;
};
struct DtmfReceived {  // an RFC 4733 telephone-event, once per key press
  char tone = 0;
  std::chrono::milliseconds duration{0};
};
struct MediaError {  // a pipeline error (device gone, encoder failure); the call may go on without that stream
  Error error;
};

class CallMedia : public sip::MediaSession {
 public:
  // ---- sip::MediaSession (see there): create_offer, create_answer, set_remote_answer, close.

  // The direction we want for the next offer or answer (hold: sendonly; resume: sendrecv). The SDP we send
  // carries it (an answer intersects it with the peer's offer); outgoing media stops at once when it no longer
  // includes send, and incoming media is ignored when it no longer includes receive.
  virtual void set_local_direction(Direction direction) = 0;
  [[nodiscard]] virtual Direction local_direction() const = 0;
  // What the last completed negotiation gave for audio (the peer's hold shows as recvonly/inactive here).
  [[nodiscard]] virtual Direction negotiated_direction() const = 0;

  // Outgoing audio stops (no RTP, not silence) while muted; no renegotiation.
  virtual void set_audio_muted(bool muted) = 0;
  [[nodiscard]] virtual bool audio_muted() const = 0;
  // Outgoing video stops while off; no renegotiation.
  virtual void set_camera_enabled(bool enabled) = 0;
  [[nodiscard]] virtual bool camera_enabled() const = 0;

  // Whether the next offer has a video m-line (upgrade to video / downgrade to audio; takes a re-INVITE).
  virtual void set_video_wanted(bool wanted) = 0;
  [[nodiscard]] virtual bool has_video() const = 0;  // the negotiated session has an active video stream

  // RFC 4733 telephone-event, when the peer offered or accepted it (see dtmf_supported()).
  virtual Result<void> send_dtmf(char tone, std::chrono::milliseconds duration = std::chrono::milliseconds{100}) = 0;
  [[nodiscard]] virtual bool dtmf_supported() const = 0;

  // Packets received from the peer so far (media, RTCP, DTLS; not ICE checks): whether the media path is alive.
  // Reading it is cheap (an atomic). nullopt when the engine cannot tell.
  [[nodiscard]] virtual std::optional<std::uint64_t> packets_received() const = 0;

  // The next offer restarts ICE (new ufrag/pwd). An offer from the peer with new credentials is answered with new
  // ones without being asked.
  virtual void request_ice_restart() = 0;

  // Live switching (block the pad, swap the element, unblock).
  virtual Result<void> set_audio_source(AudioSource source) = 0;
  virtual Result<void> set_video_source(VideoSource source) = 0;
  virtual Result<void> set_audio_sink(AudioSink sink) = 0;
  virtual void set_output_volume(double volume) = 0;  // 0..1

  [[nodiscard]] virtual CallStats stats() const = 0;

  // Ad hoc conference (the client's merge): the call joins `bridge` — its peer's decoded audio goes in, and what it
  // sends is its own source plus the other members' audio. While bridged, mute silences our own source only (the
  // others still hear each other through us). null leaves the bridge; close() leaves it too.
  virtual void set_bridge(std::shared_ptr<AudioBridge> bridge) = 0;
  [[nodiscard]] virtual bool bridged() const = 0;

  template <class Event>
  Subscription on(std::function<void(const Event&)> handler) {
    return emitter().on<Event>(std::move(handler));
  }

 protected:
  virtual Emitter& emitter() = 0;
};

class MediaEngine {
 public:
  virtual ~MediaEngine() = default;
  // A new call's media. `video`: the first offer (or the answer) includes video. Fails with ErrorCategory::media
  // when a source or sink cannot be created (a missing device or plugin), saying which.
  virtual Result<std::shared_ptr<CallMedia>> create_call(const MediaOptions& options, bool video) = 0;
};

// The GStreamer webrtcbin engine (initialises GStreamer once per process). Fails with ErrorCategory::media when a
// required plugin is missing (webrtcbin, nice, opus, vpx, srtp, dtls), naming it.
[[nodiscard]] Result<std::shared_ptr<MediaEngine>> make_gstreamer_engine(Runtime& runtime);

}  // namespace wazo::media
