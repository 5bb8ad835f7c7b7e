// Phone: the JavaScript SDK's WebRTCPhone (study §2.6) — calls as CallSessions, and the seed's phone events as
// typed events, each carrying a CallSession snapshot taken after the change it reports.
//
//   wazo::phone::Phone phone(client);                   // a WebRTCClient (see webrtc_client.hpp)
//   auto a = phone.on<wazo::phone::CallAccepted>([](const wazo::phone::CallAccepted& e) { … e.call … });
//   auto e = phone.on<wazo::phone::CallEnded>([](const wazo::phone::CallEnded& e) { … e.cause, e.sip_status … });
//   phone.register_ua().get();
//   auto call = phone.make_call("1002");                 // Result<CallSession>; CallOutgoing fires
//   phone.hold(*call).get();  phone.resume(*call).get();
//   phone.send_key(*call, "123#").get();
//   phone.hangup(*call).get();
//
// Methods that act on a call take its CallSession (or any copy of it; the SIP Call-ID names the call) and fail
// with ErrorCategory::invalid_argument when the phone has no such live call.
//
// Threads: every method may be called from any thread; events and Async continuations run on the runtime's I/O
// thread. A handler may destroy the phone. A Phone is a handle: copies share it.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "wazo/core/async.hpp"
#include "wazo/core/result.hpp"
#include "wazo/core/subscription.hpp"
#include "wazo/media/media.hpp"
#include "wazo/phone/call_session.hpp"
#include "wazo/phone/webrtc_client.hpp"

namespace wazo::events {
class WebSocketClient;
}

namespace wazo::phone {

// The seed's `new WebRTCPhone(client, audioDeviceOutput, allowVideo, audioDeviceRing)`.
struct PhoneOptions {
  std::string audio_output_device;  // device id; empty: the client's media.audio_sink
  bool allow_video = false;         // false: video offers are answered audio only, make_call({.video}) refused
  std::string audio_ring_device;    // where the app should ring (the SDK plays no ring tone itself)
};

struct MakeCallOptions {
  bool video = false;
  std::vector<sip::Header> extra_headers;
  std::chrono::seconds no_answer_timeout{0};
};

struct AcceptOptions {
  bool video = false;  // the seed's cameraEnabled
};

// ------------------------------------------------------------------------------------------------ events

struct CallIncoming {  // the seed's onCallIncoming: ringing, waiting for accept() / reject()
  CallSession call;
  bool has_video = false;
  std::optional<std::string> replaces;  // sip_call_id of the call it replaces (attended transfer target side)
};
struct CallOutgoing {  // INVITE sent
  CallSession call;
  std::optional<std::string> transferred_from;  // sip_call_id of the call whose peer transferred us here
};
struct CallProgress {  // 1xx for an outgoing call (call.ringing after 180/183)
  CallSession call;
  int status = 0;
  std::string reason;
};
struct CallAccepted {  // the call is up, either direction (the seed's onCallAccepted / onCallAnswered)
  CallSession call;
  bool has_video = false;
};
enum class EndCause : std::uint8_t {
  hangup,         // we hung up an established call
  remote_hangup,  // the peer hung up
  cancelled,      // we hung up before the answer
  remote_cancel,  // the caller gave up before we answered
  rejected,       // refused: by the peer (outgoing; see sip_status) or by us (incoming)
  transferred,    // a transfer moved the call elsewhere
  replaced,       // an INVITE with Replaces took it over
  timeout,        // no answer / no ACK / session timer
  transport,      // the connection was lost
  error,          // see `error`
};
[[nodiscard]] const char* to_string(EndCause cause) noexcept;
struct CallEnded {  // exactly once per call; the last event of the call
  CallSession call;
  EndCause cause = EndCause::error;
  int sip_status = 0;  // the final response's status, when there was one
  std::string reason;
  std::optional<Error> error;
  std::optional<media::CallStats> stats;  // the call's media figures as it ended: bytes, packets, loss, MOS…
};
struct CallFailed {  // an outgoing call that did not get answered (before its CallEnded): rejected, timeout, error
  CallSession call;
  Error error;  // category sip with the status for a rejection
};
struct CallHeld {  // `remote`: the peer put us on hold (its re-INVITE), else our hold() went through
  CallSession call;
  bool remote = false;
};
struct CallResumed {
  CallSession call;
  bool remote = false;
};
struct CallMuted {
  CallSession call;
};
struct CallUnmuted {
  CallSession call;
};
struct CameraDisabled {
  CallSession call;
};
struct CameraResumed {
  CallSession call;
};
struct VideoChanged {  // a re-INVITE (ours or the peer's) added or removed video (the seed's reinvite / upgrade)
  CallSession call;
  bool has_video = false;
};
struct ScreenShareStarted {
  CallSession call;
};
struct ScreenShareEnded {
  CallSession call;
};
struct TrackAdded {  // the first media of a remote track (the seed's onTrack / onAudioStream / onVideoStream)
  CallSession call;
  media::Kind kind = media::Kind::audio;
};
struct MediaConnected {  // the seed's onMediaConnected
  CallSession call;
};
struct IceDisconnected {
  CallSession call;
};
struct IceReconnecting {
  CallSession call;
  int attempt = 0;
};
struct IceReconnected {
  CallSession call;
};
struct NetworkStats {  // every WebRtcConfig::network_stats_interval during an established call
  CallSession call;
  media::CallStats stats;
};
struct DtmfReceived {
  CallSession call;
  char tone = 0;
  bool via_info = false;
};
struct MessageReceived {  // a SIP MESSAGE: in a call (`call` set) or outside any (the seed's onMessage)
  std::optional<CallSession> call;
  std::string from;
  std::string content_type;
  std::string body;
};
struct TransferCompleted {  // our transfer (blind or attended) of `call` went through; CallEnded follows
  CallSession call;
  std::string target;
};
// Registration and transport: the client's Connected, Disconnected, Registered, Unregistered, RegistrationFailed,
// HeartbeatTimeout (webrtc_client.hpp) are re-emitted by the phone as they are.

// ------------------------------------------------------------------------------------------------ phone

class Phone {
 public:
  explicit Phone(WebRTCClient client, PhoneOptions options = {});
  ~Phone();
  Phone(const Phone&) = default;
  Phone& operator=(const Phone&) = default;
  Phone(Phone&&) noexcept = default;
  Phone& operator=(Phone&&) noexcept = default;

  // ---- calls
  Result<CallSession> make_call(std::string number, MakeCallOptions options = {});
  Async<void> accept(const CallSession& call, AcceptOptions options = {});  // resolves once the call is up
  Result<void> reject(const CallSession& call);                             // 486 Busy Here
  Result<void> ignore(const CallSession& call);  // keep it ringing, flag it ignored (the app stops ringing)
  Async<void> hangup(const CallSession& call);   // resolves once ended
  Async<void> end_current_call();
  Async<void> hold(const CallSession& call, bool with_event = true);
  Async<void> resume(const CallSession& call);
  Result<void> mute(const CallSession& call, bool with_event = true);
  Result<void> unmute(const CallSession& call);
  Result<void> turn_camera_off(const CallSession& call);
  Result<void> turn_camera_on(const CallSession& call);
  Async<void> upgrade_to_video(const CallSession& call);
  Async<void> send_key(const CallSession& call, std::string tones, DtmfMethod method = DtmfMethod::automatic);
  // Blind: the peer is sent to `target`; our call ends once it went through (TransferCompleted, CallEnded).
  Async<void> transfer(const CallSession& call, std::string target);
  // Attended, with the consultation call already placed (make_call to the target, talk, then this): the peer of
  // `source` is connected to the peer of `destination`; both our calls end.
  Async<void> indirect_transfer(const CallSession& source, const CallSession& destination);
  // Attended, the seed client's atxfer (init holds `call` and calls the target; complete / cancel).
  AttendedTransfer atxfer(const CallSession& call);
  Async<void> start_screen_sharing(const CallSession& call,
                                   media::VideoSource screen = {.type = media::VideoSource::Type::screen});
  Async<void> stop_screen_sharing(const CallSession& call);
  Async<sip::Message> send_message(const CallSession& call, std::string body, std::string content_type = "text/plain");
  // Out of any call: a SIP MESSAGE to a user, number or URI.
  Async<sip::Message> send_message(std::string destination, std::string body, std::string content_type = "text/plain");
  [[nodiscard]] Result<media::CallStats> stats(const CallSession& call) const;
  // Sets Wazo's call id of a call (the seed's setCallSessionCallId, from a calld event).
  Result<void> set_call_id(const std::string& sip_call_id, std::string call_id);
  // Keeps the CallSessions up to date from calld's events on wazo-websocketd (`ws` must be subscribed to
  // call_created, call_answered and call_updated): Wazo's call id, matched by SIP Call-ID, for calls whose INVITE
  // had no X-Wazo-Call-ID (the caller's side, and engines older than 26.08, as the seed does). An event that comes
  // before its INVITE is kept for it (the last 64). Until the Subscription goes.
  [[nodiscard]] Subscription follow_call_events(events::WebSocketClient& ws);

  // ---- ad hoc conference, mixed by this phone (WebRTCClient::merge): every call in it hears us and the others.
  // Calls in it have CallSession::conference set. A call that ends leaves it.
  Async<void> start_conference(const std::vector<CallSession>& calls);  // resumes the held ones
  Async<void> add_to_conference(const CallSession& call);
  Async<void> hold_conference(const std::vector<CallSession>& calls);  // they stay in the conference, held
  Async<void> resume_conference(const std::vector<CallSession>& calls);
  Result<void> mute_conference(const std::vector<CallSession>& calls);  // our voice only: the others still talk
  Result<void> unmute_conference(const std::vector<CallSession>& calls);
  Async<void> remove_from_conference(const std::vector<CallSession>& calls);  // they leave it, held
  Async<void> hangup_conference(const std::vector<CallSession>& calls);
  [[nodiscard]] std::vector<CallSession> conference_calls() const;  // oldest first

  // ---- state
  [[nodiscard]] bool has_an_active_call() const;  // an established call, or an outgoing one not yet answered
  [[nodiscard]] bool has_incoming_call() const;   // an incoming call ringing
  [[nodiscard]] std::size_t call_count() const;   // live calls
  [[nodiscard]] std::optional<CallSession> current_call() const;  // the newest established unheld call, else newest
  [[nodiscard]] std::vector<CallSession> calls() const;           // live calls, oldest first
  [[nodiscard]] std::optional<CallSession> find(const std::string& id) const;  // by sip_call_id or call_id

  // ---- line
  Async<void> register_ua();  // `register` is a C++ keyword
  Async<void> unregister_ua();
  [[nodiscard]] bool is_registered() const;
  Async<void> stop();  // hangs up, unregisters, disconnects
  void start_heartbeat();
  void stop_heartbeat();

  // ---- devices
  Result<void> change_audio_device(std::string device_id);  // output (speaker)
  Result<void> change_ring_device(std::string device_id);   // remembered for the app (ring_device())
  Result<void> change_audio_input_device(std::string device_id);
  Result<void> change_video_input_device(std::string device_id);
  void change_audio_volume(double volume);  // 0..1, live calls and next ones
  void change_ring_volume(double volume);   // 0..1, remembered for the app (ring_volume())
  [[nodiscard]] std::string ring_device() const;
  [[nodiscard]] double ring_volume() const;

  [[nodiscard]] WebRTCClient& client();
  [[nodiscard]] const PhoneOptions& options() const;

  template <class Event>
  Subscription on(std::function<void(const Event&)> handler) {
    return emitter().on<Event>(std::move(handler));
  }

  struct Impl;

 private:
  Emitter& emitter();
  std::shared_ptr<Impl> impl_;
};

}  // namespace wazo::phone
