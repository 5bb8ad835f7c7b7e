// WebRTCClient: one Wazo line (a SIP account over WebSocket) with WebRTC media for its calls — the JavaScript
// SDK's WazoWebRTCClient (study §2.5). It owns a sip::UserAgent and makes one media session per call; calls are
// named by their sip::Session. Apps that want call state, CallSessions and the seed's phone events use
// wazo::phone::Phone on top of it.
//
//   auto client = wazo::phone::WebRTCClient::from_session(api, user_uuid, {.display_name = "Kiosk"}).get();
//   auto sub = client->on<wazo::phone::Invite>([&](const wazo::phone::Invite& e) { client->answer(e.session); });
//   client->register_ua().get();
//   auto session = client->call("1002");
//
// Or with credentials, against any SIP-over-WebSocket server:
//   wazo::phone::WebRTCClient client(runtime, {.websocket_url = "ws://127.0.0.1:5066", .authorization_user = "alice",
//                                              .password = "alicepw", .domain = "wazo.test"});
//
// Hold and resume are re-INVITEs whose SDP direction the media layer writes (sendonly / sendrecv); the peer's
// re-INVITE is answered by the media layer and its direction tells when we are held. DTMF goes as RFC 4733
// telephone-events when the call negotiated them, else as SIP INFO `application/dtmf-relay` (or always as INFO
// when asked). A REFER from the peer (the peer transfers us) is accepted and followed by default: the client calls
// the target (with Replaces for an attended transfer), reports the outcome in NOTIFYs and ends the old call once
// the new one is answered. A peer's re-offer that adds video is answered with video (a Phone without allow_video
// answers it audio only).
//
// Threads: every method may be called from any thread; events and Async continuations run on the runtime's I/O
// thread. A handler may destroy the client. No password is ever logged. A client is a handle: copies share it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "wazo/core/async.hpp"
#include "wazo/core/connection.hpp"
#include "wazo/core/result.hpp"
#include "wazo/core/runtime.hpp"
#include "wazo/core/subscription.hpp"
#include "wazo/media/media.hpp"
#include "wazo/sip/user_agent.hpp"

namespace wazo::rest {
class ApiClient;
}

namespace wazo::phone {

// ------------------------------------------------------------------------------------------------ config

// The seed's WebRtcConfig. Where the SIP WebSocket is, in order: `websocket_url` when set (any server), else
// wss://`websocket_sip` (the seed's "host:port" override), else wss://`host`:`port` — the last two with the path
// /api/asterisk/ws (Wazo's Asterisk). `ws://` is used instead of `wss://` when `insecure_transport` is set.
struct WebRtcConfig {
  std::string display_name;  // the From display name
  std::string host;          // the engine's host name (also the SIP domain when `domain` is empty)
  std::uint16_t port = 443;
  std::string websocket_sip;        // "host:port", overrides host/port for the SIP WebSocket only
  std::string websocket_url;        // "ws://host:port/path" or "wss://…": wins over the three above
  bool insecure_transport = false;  // host/websocket_sip: ws:// (plain) instead of wss://

  std::string authorization_user;  // SIP user name (AOR user and digest user)
  std::string password;            // never logged
  std::string uri;                 // "sip:user@domain" identity; empty: authorization_user@domain
  std::string domain;              // SIP domain; empty: the host part of `uri`, else `host`

  media::MediaOptions media;  // sources, sinks, devices, codecs, ICE for every call of this client
  // The seed's uaConfigOverrides.peerConnectionOptions.iceServers: appended to media.ice_servers.
  std::vector<media::IceServer> ice_servers;
  // The seed's iceCheckingTimeout; when set, overrides media.ice_checking_timeout.
  std::optional<std::chrono::milliseconds> ice_checking_timeout;
  // After ICE goes `disconnected`: up to `max_ice_restarts` ICE-restart re-INVITEs, `ice_reconnect_delay` apart.
  std::chrono::milliseconds ice_reconnect_delay{500};
  int max_ice_restarts = 5;
  // No packet from the peer for this long while it should be sending: the media path is taken for down, as if
  // ICE went `disconnected` (IceDisconnected, then the restarts above). 0: off.
  std::chrono::milliseconds media_timeout{5'000};

  std::string user_agent_string = "wazo-sdk-cpp/0.1";  // User-Agent header

  // The seed's heartbeat (SIP OPTIONS to the server): start_heartbeat() uses these.
  std::chrono::milliseconds heartbeat_delay{2'000};
  std::chrono::milliseconds heartbeat_timeout{5'000};
  int max_heartbeats = 3;

  bool skip_register = false;    // register_ua() connects without REGISTER (outgoing calls only)
  ConnectionOptions connection;  // TLS: verification on by default, `tls.ca_file`, explicit `tls.insecure`

  bool follow_transfers = true;   // accept a peer's REFER and call the target (else answer it 603)
  bool dtmf_always_info = false;  // send DTMF as SIP INFO even when RFC 4733 was negotiated
  std::chrono::milliseconds dtmf_duration{100};
  std::chrono::milliseconds dtmf_gap{70};               // between the tones of a string
  std::chrono::milliseconds network_stats_interval{0};  // > 0: NetworkStats per established call at this rate
  int max_merge_sessions = 4;  // calls in one ad hoc conference (the seed's MAX_MERGE_SESSIONS)

  // Last word on the user agent (the seed's uaConfigOverrides): timers, keep-alive, register expiry, ...
  std::function<void(sip::UserAgentOptions&)> ua_overrides;
};

struct CallOptions {
  bool video = false;                         // offer video (camera or `media.video_source`)
  std::vector<sip::Header> extra_headers;     // e.g. {"X-Wazo-Ref", "…"}
  std::chrono::seconds no_answer_timeout{0};  // 0: none
};

struct AnswerOptions {
  bool video = false;  // answer with video (when offered)
};

enum class DtmfMethod : std::uint8_t {
  automatic,  // RFC 4733 when negotiated, else INFO
  rfc4733,    // telephone-event only (fails when not negotiated)
  info,       // SIP INFO application/dtmf-relay
};

// ------------------------------------------------------------------------------------------------ events

// Transport and registration.
struct Connected {};
struct Disconnected {
  std::string reason;
  std::optional<Error> error;
};
struct Registered {
  std::chrono::seconds expires{0};
};
struct Unregistered {};
struct RegistrationFailed {
  Error error;  // auth: wrong credentials (with the SIP status); transport; timeout
};
struct HeartbeatTimeout {  // `max_heartbeats` OPTIONS in a row went unanswered: the client then reconnects
  int missed = 0;
};
struct HeartbeatAnswered {  // the seed's setOnHeartbeatCallback
  std::chrono::milliseconds round_trip{0};
};

// Calls. `session` names the call; the same handle the client's methods take.
struct Invite {  // an incoming call, ringing (180 sent)
  sip::Session session;
  bool has_video = false;           // the offer has an active video m-line
  bool should_auto_answer = false;  // Alert-Info: auto answer / Call-Info answer-after
  // Set for an INVITE with Replaces naming one of our calls (we are the target of an attended transfer): the client
  // accepts it itself, and the replaced call ends once it is up.
  std::optional<sip::Session> replaces;
};
struct InviteSent {  // an outgoing call left (make_call / call / a followed transfer)
  sip::Session session;
  std::string target;                            // what was dialled
  std::optional<sip::Session> transferred_from;  // set when we call because the peer of that call referred us
};
struct SessionProgress {  // 1xx received (outgoing)
  sip::Session session;
  int status = 0;
  std::string reason;
};
struct SessionAccepted {  // 200 + ACK: the call is up
  sip::Session session;
  bool has_video = false;
};
struct SessionEnded {  // exactly once per call (also for calls that failed or were rejected)
  sip::Session session;
  sip::Terminated info;                   // cause, SIP status and reason
  bool transferred = false;               // ended because a transfer completed (ours or the peer's)
  std::optional<media::CallStats> stats;  // the media's figures as the call ended (none: the call had no media)
};
struct SessionHeld {  // a hold or resume completed; `remote`: the peer's re-INVITE, else ours
  sip::Session session;
  bool held = false;
  bool remote = false;
};
struct SessionMuted {
  sip::Session session;
  bool muted = false;
};
struct SessionCamera {
  sip::Session session;
  bool enabled = false;
};
struct SessionVideoChanged {  // a re-INVITE added or removed video
  sip::Session session;
  bool has_video = false;
};
struct TrackReceived {  // the first decoded buffer of a remote track (the seed's onTrack)
  sip::Session session;
  media::Kind kind = media::Kind::audio;
};
struct SessionMediaConnected {  // ICE and DTLS are up
  sip::Session session;
};
struct SessionIceDisconnected {
  sip::Session session;
};
struct SessionIceReconnecting {
  sip::Session session;
  int attempt = 0;
};
struct SessionIceReconnected {
  sip::Session session;
};
struct SessionDtmf {  // a key from the peer
  sip::Session session;
  char tone = 0;
  bool via_info = false;  // SIP INFO, else RFC 4733
};
struct SessionMessage {  // an in-dialog MESSAGE
  sip::Session session;
  std::string content_type;
  std::string body;
};
struct SipMessage {  // an out-of-dialog MESSAGE (the seed's `message` event)
  std::string from;  // the sender's URI
  std::string from_display_name;
  std::string content_type;
  std::string body;
};
struct SessionNetworkStats {  // every `network_stats_interval` while the call is established
  sip::Session session;
  media::CallStats stats;
};
struct SessionMerged {  // the call joined (merged) or left the ad hoc conference
  sip::Session session;
  bool merged = false;
};
struct SessionMediaError {  // a media failure (device gone, encoder error); the call goes on without that stream
  sip::Session session;
  Error error;
};

// ------------------------------------------------------------------------------------------------ client

class WebRTCClient;

// The seed's atxfer(): init() holds the call and calls the target; complete() REFERs the held party to the target
// (with Replaces) and ends both our legs once the transfer went through; cancel() hangs up the target and resumes
// the held call. A handle: copies share the transfer.
class AttendedTransfer {
 public:
  AttendedTransfer() = default;
  Result<sip::Session> init(std::string target, CallOptions options = {});
  // When the consultation call already exists (the seed's indirectTransfer(source, destination)).
  Result<void> init_with(const sip::Session& consultation);
  [[nodiscard]] sip::Session session() const;      // the call being transferred
  [[nodiscard]] sip::Session new_session() const;  // the consultation call, once init() ran
  Async<void> complete();
  Async<void> cancel();

  struct Impl;
  explicit AttendedTransfer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

 private:
  std::shared_ptr<Impl> impl_;
};

class WebRTCClient {
 public:
  // A client on the GStreamer media engine (made on the first call; a missing plugin fails that call with
  // ErrorCategory::media). Nothing is sent before register_ua().
  WebRTCClient(Runtime& runtime, WebRtcConfig config);
  // The seed's `new WazoWebRTCClient(config, session)`: fetches the user's SIP line from confd with `api`'s token
  // (GET users/{uuid}, then users/{uuid}/lines/{id}/associated/endpoints/sip?view=merged; the first SIP line with
  // credentials), fills authorization_user, password, domain (the endpoint's from_domain, else the host) and,
  // when empty, host/port/websocket_url and TLS from `api`'s server. Fails when the user has no usable SIP line.
  static Async<WebRTCClient> from_session(const rest::ApiClient& api, std::string user_uuid, WebRtcConfig config = {});
  // Only the lookup part of from_session(): `base` completed with the line's credentials.
  static Async<WebRtcConfig> fetch_line_config(const rest::ApiClient& api, std::string user_uuid,
                                               WebRtcConfig base = {});

  ~WebRTCClient();
  WebRTCClient(const WebRTCClient&) = default;
  WebRTCClient& operator=(const WebRTCClient&) = default;
  WebRTCClient(WebRTCClient&&) noexcept = default;
  WebRTCClient& operator=(WebRTCClient&&) noexcept = default;

  // ---- lifecycle and registration
  // Connects and REGISTERs (just connects with skip_register); resolves once registered, or with the error.
  Async<void> register_ua();
  Async<void> unregister_ua();      // Expires: 0; the connection stays
  Async<void> wait_for_register();  // resolves at the next (or current) registration
  [[nodiscard]] bool is_registered() const;
  [[nodiscard]] bool is_connected() const;
  // Hangs up every call, unregisters and closes the connection for good.
  Async<void> stop();
  // At once: calls end (cause transport), no unregister.
  void close();
  // Drops the connection and connects again, then registers (the seed's attemptReconnection); live calls end.
  void attempt_reconnection();

  // ---- calls
  // INVITE `number` (an extension, a user, or a SIP URI). Fails at once only when the media cannot be made or the
  // target is unusable; progress comes as events (InviteSent, SessionProgress, SessionAccepted, SessionEnded).
  Result<sip::Session> call(std::string number, CallOptions options = {});
  // Resolves once the ACK has come.
  Async<void> answer(const sip::Session& session, AnswerOptions options = {});
  Result<void> reject(const sip::Session& session, int status = 486);
  // CANCEL, 603 or BYE by state; resolves once the call has ended.
  Async<void> hangup(const sip::Session& session);
  Async<void> hold(const sip::Session& session);    // re-INVITE sendonly; outgoing media stops
  Async<void> unhold(const sip::Session& session);  // re-INVITE sendrecv
  [[nodiscard]] bool is_held(const sip::Session& session) const;
  Result<void> mute(const sip::Session& session);  // outgoing audio stops; no signalling
  Result<void> unmute(const sip::Session& session);
  [[nodiscard]] bool is_audio_muted(const sip::Session& session) const;
  Result<void> toggle_camera_off(const sip::Session& session);
  Result<void> toggle_camera_on(const sip::Session& session);
  Async<void> upgrade_to_video(const sip::Session& session);  // re-INVITE with a video m-line
  Async<void> downgrade_to_audio(const sip::Session& session);
  // Replaces the outgoing video with a screen capture (re-INVITE with video first when the call had none);
  // stop_screen_sharing() puts the camera / configured source back.
  Async<void> start_screen_sharing(const sip::Session& session,
                                   media::VideoSource screen = {.type = media::VideoSource::Type::screen});
  Async<void> stop_screen_sharing(const sip::Session& session);
  // Blind transfer: REFER to `target`; resolves when the peer reports the new call answered (NOTIFY 2xx), after
  // which our call is hung up. A failed transfer leaves the call as it was.
  Async<void> transfer(const sip::Session& session, std::string target);
  AttendedTransfer atxfer(const sip::Session& session);
  // Each character of `tones` (0-9 * # A-D), `dtmf_duration` long and `dtmf_gap` apart; resolves once all went.
  Async<void> send_dtmf(const sip::Session& session, std::string tones, DtmfMethod method = DtmfMethod::automatic);
  // In-dialog MESSAGE.
  Async<sip::Message> send_message(const sip::Session& session, std::string body,
                                   std::string content_type = "text/plain");
  // Out-of-dialog MESSAGE to a user, number or URI (the seed's client.message(destination, message)).
  Async<sip::Message> message(std::string destination, std::string body, std::string content_type = "text/plain");
  Async<void> ice_restart(const sip::Session& session);  // re-INVITE with new ICE credentials
  [[nodiscard]] Result<media::CallStats> stats(const sip::Session& session) const;
  [[nodiscard]] bool has_video(const sip::Session& session) const;
  [[nodiscard]] std::vector<sip::Session> sessions() const;  // live calls, oldest first

  // ---- ad hoc conference, mixed here (the seed's merge / addToMerge / removeFromMerge / unmerge)
  // Each merged call's peer hears us and every other merged peer (their audio is mixed into what we send it); we
  // hear them all. Merging resumes a call we held. At most `max_merge_sessions` calls; a call that ends leaves.
  // While merged, mute silences our voice only: the others still hear each other. Held, a call hears nobody.
  Async<void> merge(std::vector<sip::Session> sessions);
  Async<void> add_to_merge(const sip::Session& session);
  // Leaves the conference; `hold`: the call is then held (the seed's default).
  Async<void> remove_from_merge(const sip::Session& session, bool hold = true);
  // Every one of `sessions` leaves the conference; all but the last are held, the last stays active.
  Async<void> unmerge(std::vector<sip::Session> sessions);
  [[nodiscard]] bool is_conference(const sip::Session& session) const;
  [[nodiscard]] std::vector<sip::Session> merged_sessions() const;  // oldest first

  // ---- devices (apply to live calls and to the next ones)
  Result<void> change_audio_input_device(std::string device_id);
  Result<void> change_audio_output_device(std::string device_id);
  Result<void> change_video_input_device(std::string device_id);
  void change_audio_output_volume(double volume);  // 0..1
  [[nodiscard]] double audio_output_volume() const;
  Result<void> set_audio_source(const sip::Session& session, media::AudioSource source);
  Result<void> set_audio_sink(const sip::Session& session, media::AudioSink sink);

  // ---- heartbeat (SIP OPTIONS every heartbeat_delay; after max_heartbeats misses in a row, HeartbeatTimeout and
  // the connection is dropped and made again, as by attempt_reconnection(); the heartbeat goes on)
  void start_heartbeat();
  void stop_heartbeat();
  [[nodiscard]] bool has_heartbeat() const;
  Async<void> ping_server();  // one OPTIONS, within heartbeat_timeout

  [[nodiscard]] const WebRtcConfig& config() const;
  [[nodiscard]] sip::UserAgent& user_agent();
  [[nodiscard]] Runtime& runtime() const;

  template <class Event>
  Subscription on(std::function<void(const Event&)> handler) {
    return emitter().on<Event>(std::move(handler));
  }

  // Internal (tests inject a media engine through src/phone/detail/client_impl.hpp).
  struct Impl;
  explicit WebRTCClient(std::shared_ptr<Impl> impl);
  [[nodiscard]] const std::shared_ptr<Impl>& impl() const noexcept { return impl_; }

 private:
  Emitter& emitter();
  std::shared_ptr<Impl> impl_;
};

}  // namespace wazo::phone
