// The SIP user agent over WebSocket (RFC 7118): one line registered on a registrar/proxy (Kamailio, Wazo's
// Asterisk), calls (INVITE dialogs) and messages through it. The core of what SIP.js does for the browser.
//
//   wazo::sip::UserAgent ua(runtime, {.server = "wss://wazo.example/api/asterisk/ws", .domain = "wazo.example",
//                                     .user = "abcd1234", .password = secret});
//   auto in = ua.on<wazo::sip::IncomingCall>([](const wazo::sip::IncomingCall& e) {
//     auto s = e.session;
//     s.progress();                      // 180 Ringing
//     s.accept(media);                   // 200 with the MediaSession's answer; Accepted once the ACK is in
//   });
//   Result<void> r = ua.start().get();   // connected and registered, or why not
//   auto call = ua.invite("sip:1002@wazo.example", media);   // Session; Progress / Accepted / Terminated events
//
// Transport: WS or WSS (`Sec-WebSocket-Protocol: sip`, checked in the server's answer), TLS verification on by
// default (ConnectionOptions.tls), one SIP message per text frame, frames larger than `limits.max_message_bytes`
// are read through and dropped. On transport loss the agent reconnects with jittered backoff and registers again
// (RFC 5626 outbound: `;ob` Contact, `+sip.instance`, `reg-id`); requests in flight fail with a transport error.
//
// Transactions follow RFC 3261 §17 with the reliable-transport rules (no retransmissions; timers B/F = 64*T1 are
// a timeout error; D/J/K are zero). Digest authentication (MD5, SHA-256, qop=auth) answers 401/407 for every
// request; the same challenge twice (same nonce, not stale) stops with ErrorCategory::auth and the status.
//
// Threads: every method may be called from any thread; handlers and Async continuations run on the runtime's
// I/O thread. A handler may destroy the agent or a session. No password or digest response is ever logged.
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
#include "wazo/sip/message.hpp"

namespace wazo::sip {

// ------------------------------------------------------------------------------------------------ media

// What produces and consumes the session descriptions of a call. SDP is opaque here; the media layer
// implements this on GStreamer's webrtcbin. Callbacks may complete on any thread (the agent hops back to its
// I/O thread); each callback must be called exactly once.
class MediaSession {
 public:
  using SdpCallback = std::function<void(Result<std::string>)>;
  virtual ~MediaSession() = default;
  // A new offer: the first INVITE, a re-INVITE (hold/resume: the media layer knows the direction it wants), or
  // the answer to an offerless INVITE.
  virtual void create_offer(SdpCallback done) = 0;
  // The answer to the peer's offer (incoming INVITE or re-INVITE).
  virtual void create_answer(std::string remote_offer, SdpCallback done) = 0;
  // The peer's answer to our last offer (200 to INVITE / re-INVITE, or the ACK of an offerless INVITE).
  virtual Result<void> set_remote_answer(std::string sdp) = 0;
  // The call is over (idempotent).
  virtual void close() = 0;
  [[nodiscard]] virtual std::string content_type() const { return "application/sdp"; }
};

// ------------------------------------------------------------------------------------------------ options

struct KeepAliveOptions {
  enum class Mode : std::uint8_t {
    none,
    ws_ping,  // WebSocket ping frames (answered by any RFC 6455 server); a missing pong drops the connection
    crlf,     // a "\r\n\r\n" text frame (RFC 5626 §3.5.1 style, as SIP.js does)
    options,  // an OPTIONS request to the server; any response counts
  };
  Mode mode = Mode::ws_ping;
  std::chrono::milliseconds interval{25'000};
  std::chrono::milliseconds timeout{10'000};  // ws_ping/options: no answer within it drops the connection
};

// The seed's SIP heartbeat: OPTIONS to the server every `delay`; `max_tries` unanswered in a row emit
// HeartbeatTimeout and drop the connection (which then reconnects and registers again).
struct HeartbeatOptions {
  bool enabled = false;
  std::chrono::milliseconds delay{2'000};
  std::chrono::milliseconds timeout{5'000};
  int max_tries = 3;
  std::string target;  // a SIP URI; empty: `sip:<domain>`
};

struct ReconnectOptions {
  bool enabled = true;
  std::chrono::milliseconds initial_delay{500};
  std::chrono::milliseconds max_delay{30'000};
  double multiplier = 2.0;
  int max_attempts = 0;  // 0: forever
};

// RFC 3261 timers, settable so tests can shorten them. On the reliable WebSocket transport nothing is
// retransmitted; B (INVITE) and F (non-INVITE) = 64*T1 bound a transaction, H = 64*T1 bounds the wait for an ACK.
struct Timers {
  std::chrono::milliseconds t1{500};
  std::chrono::milliseconds t2{4'000};
  std::chrono::milliseconds t4{5'000};
  [[nodiscard]] std::chrono::milliseconds transaction_timeout() const { return 64 * t1; }  // B, F, H
};

struct UserAgentOptions {
  std::string server;     // "ws://host:port/path" or "wss://host:port/path"
  std::string domain;     // the SIP domain (AOR host, realm of the digest credentials)
  std::string user;       // AOR user part
  std::string auth_user;  // digest user name; empty: `user`
  std::string password;   // never logged
  std::string display_name;
  std::string user_agent = "wazo-sdk-cpp/0.1";  // User-Agent header
  ConnectionOptions connection;                 // TLS (ca_file, insecure), connect timeout
  std::chrono::seconds register_expires{600};
  bool register_on_start = true;
  bool ring_on_incoming = true;  // send 180 Ringing as soon as an INVITE is taken in (else call progress())
  KeepAliveOptions keep_alive;
  HeartbeatOptions heartbeat;
  ReconnectOptions reconnect;
  Timers timers;
  Limits limits;            // message bounds; `max_message_bytes` also bounds a WebSocket frame
  std::string instance_id;  // "urn:uuid:…" (+sip.instance); generated when empty
};

// ------------------------------------------------------------------------------------------------ state

enum class TransportState : std::uint8_t { idle, connecting, connected, reconnecting, closed };
enum class RegistrationState : std::uint8_t { unregistered, registering, registered, unregistering, failed };
enum class SessionState : std::uint8_t { initial, early, confirmed, terminated };
enum class Direction : std::uint8_t { outgoing, incoming };

std::string_view to_string(TransportState s) noexcept;
std::string_view to_string(RegistrationState s) noexcept;
std::string_view to_string(SessionState s) noexcept;

// Who a party is, from P-Asserted-Identity when present, else From (incoming) / To (outgoing).
struct Identity {
  std::string display_name;
  std::string number;  // the user part of the URI ("1002"), or the tel: number
  Uri uri;
};

// One Diversion header entry (RFC 5806): who diverted the call and why.
struct Diversion {
  Identity identity;
  std::string reason;  // "unconditional", "user-busy", "no-answer", ... ("" when absent)
  int counter = 0;
};

// The dialog a Replaces header names (RFC 3891).
struct Replaces {
  std::string call_id;
  std::string to_tag;
  std::string from_tag;
  bool early_only = false;
  [[nodiscard]] std::string str() const;  // header value: `callid;to-tag=..;from-tag=..[;early-only]`
  static Result<Replaces> parse(std::string_view value);
};

// ------------------------------------------------------------------------------------------------ session

class Session;

// Session events (Session::on<E>).
struct Progress {  // a provisional response (outgoing) / our provisional answer (incoming)
  int status = 0;
  std::string reason;
};
struct Accepted {  // 200 received and ACKed (outgoing), or ACK received (incoming)
  int status = 200;
};
struct Terminated {
  enum class Cause : std::uint8_t {
    local_bye,      // we hung up a confirmed call
    remote_bye,     // the peer hung up
    cancelled,      // we cancelled before the answer
    remote_cancel,  // the caller cancelled
    rejected,       // a final non-2xx (outgoing: the peer's; incoming: ours)
    replaced,       // a Replaces INVITE took this call over
    timeout,        // timer B, no ACK (timer H), session timer expiry
    transport,      // the connection was lost
    error,          // anything else (see `error`)
  };
  Cause cause = Cause::error;
  int status = 0;      // SIP status of the final response, when there was one
  std::string reason;  // reason phrase, or the Reason header's text (RFC 3326)
  std::optional<Error> error;
};
struct ReferNotify {  // a NOTIFY for a REFER we sent (RFC 3515); several may come, also after a "terminated" one
  int status = 0;     // from the message/sipfrag body: 100, 180, 200, 503...
  std::string reason;
  bool terminated = false;  // Subscription-State: terminated
};
struct IncomingInfo {  // already answered 200
  std::string content_type;
  std::string body;
};
struct IncomingDialogMessage {  // an in-dialog MESSAGE, already answered 200
  std::string content_type;
  std::string body;
};
struct IncomingReinvite {  // the peer's re-INVITE, answered through the MediaSession (hold/resume, codec change)
  std::string remote_sdp;
};
struct SessionRefreshed {  // a session timer refresh (RFC 4028) went through
  std::chrono::seconds interval{0};
};
class Referral;
// The peer asks us to call `refer_to` (transfer). Answer through `referral` (accept → 202 + NOTIFY 100; the REFER
// waits for it); without any IncomingRefer handler the agent answers 603 itself.
struct IncomingRefer {
  std::shared_ptr<Referral> referral;
};

struct AcceptOptions {
  std::vector<Header> extra_headers;
};

// The dialog usage of one INVITE (RFC 3261 §12-§15). A handle: copies share the same call.
class Session {
 public:
  Session() = default;  // empty handle: every call fails with invalid_argument
  [[nodiscard]] bool valid() const noexcept { return static_cast<bool>(impl_); }
  explicit operator bool() const noexcept { return valid(); }

  [[nodiscard]] std::string call_id() const;
  [[nodiscard]] std::string local_tag() const;
  [[nodiscard]] std::string remote_tag() const;  // "" before the first tagged response
  [[nodiscard]] SessionState state() const;
  [[nodiscard]] Direction direction() const;
  [[nodiscard]] Identity remote_identity() const;
  [[nodiscard]] Identity local_identity() const;
  [[nodiscard]] std::vector<Diversion> diversion() const;
  [[nodiscard]] std::string remote_sdp() const;  // the last SDP from the peer
  // The initial INVITE (incoming) or its final response (outgoing, once there is one): for custom headers.
  [[nodiscard]] std::optional<Message> initial_request() const;
  // The Replaces value naming this dialog (for an attended transfer's Refer-To).
  [[nodiscard]] Replaces replaces_id() const;

  // Incoming: a provisional response (180 Ringing by default).
  Result<void> progress(int status = 180, std::string reason = {});
  // Incoming: 200 with the answer of `media` (or its offer, when the INVITE had none); resolves once the ACK
  // has come (an ACK missing for 64*T1 → BYE and an error).
  Async<void> accept(std::shared_ptr<MediaSession> media, AcceptOptions options = {});
  // Incoming, before accept(): a final non-2xx response.
  Result<void> reject(int status = 486, std::string reason = {});
  // Outgoing, before the answer: CANCEL (with `Reason` when given). A 200 that crosses the CANCEL is ACKed and
  // BYEd. Resolves once the session is terminated.
  Async<void> cancel(std::string reason = {});
  // Confirmed: BYE with a Reason header (RFC 3326) when `reason` is given, e.g. `SIP;cause=200;text="Call completed
  // elsewhere"`. Resolves on the BYE's final response.
  Async<void> bye(std::string reason = {});
  // CANCEL (outgoing, unanswered), reject with 603 Decline (incoming, unanswered) or BYE, by state. Resolves once
  // the session is terminated.
  Async<void> hangup();
  // A re-INVITE with a new offer from the MediaSession (hold/resume); a 491 is retried after the §14.1 random
  // delay (up to 3 times). Resolves once the answer is applied and ACKed.
  Async<void> reinvite();
  // INFO (RFC 6086), e.g. `application/dtmf-relay` with "Signal=5\r\nDuration=160\r\n". Resolves with the final
  // response (2xx; a non-2xx is an Error of category sip with its status).
  Async<Message> info(std::string content_type, std::string body);
  Async<Message> message(std::string body, std::string content_type = "text/plain");  // in-dialog MESSAGE
  // REFER (RFC 3515): blind transfer to `target`; resolves with the 202. ReferNotify events follow.
  Async<Message> refer(std::string target);
  // Attended transfer: REFER to the other party of `replaces`, with Replaces (RFC 3891) in the Refer-To URI.
  Async<Message> refer(std::string target, const Session& replaces);

  template <class Event>
  Subscription on(std::function<void(const Event&)> handler) {
    return emitter().on<Event>(std::move(handler));
  }

  struct Impl;
  explicit Session(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  [[nodiscard]] const std::shared_ptr<Impl>& impl() const noexcept { return impl_; }
  friend bool operator==(const Session& a, const Session& b) noexcept { return a.impl_ == b.impl_; }

 private:
  Emitter& emitter();
  std::shared_ptr<Impl> impl_;
};

// A REFER we received: accept() (202 and a NOTIFY "100 Trying"), then notify() the outcome of the new call, or
// track() it to have the NOTIFYs sent from its events; reject() refuses it.
class Referral {
 public:
  virtual ~Referral() = default;
  [[nodiscard]] virtual const NameAddr& refer_to() const = 0;  // Replaces (if any) removed from the URI
  [[nodiscard]] virtual std::optional<Replaces> replaces() const = 0;
  [[nodiscard]] virtual std::optional<NameAddr> referred_by() const = 0;
  virtual Result<void> accept() = 0;
  virtual Result<void> reject(int status = 603, std::string reason = {}) = 0;
  // A NOTIFY with `SIP/2.0 <status> <reason>`; a final status ends the subscription (Subscription-State:
  // terminated;reason=noresource).
  virtual Result<void> notify(int status, std::string reason = {}) = 0;
  // Sends the NOTIFYs from the session's Progress / Accepted / Terminated.
  virtual void track(const Session& session) = 0;
};

// ------------------------------------------------------------------------------------------------ agent

// Agent events (UserAgent::on<E>).
struct TransportStateChanged {
  TransportState state;
  std::string reason;
  std::optional<Error> error;
};
struct RegistrationStateChanged {
  RegistrationState state;
  std::optional<Error> error;       // failed: why (auth: wrong credentials, with the SIP status)
  std::chrono::seconds expires{0};  // registered: what the registrar granted
};
// A new INVITE. Without any IncomingCall handler the agent answers 480 itself. With `ring_on_incoming` a 180 goes
// out right after the handlers ran; accept() / reject() / progress() the session, from any thread.
struct IncomingCall {
  Session session;
  // An INVITE with Replaces (RFC 3891) naming one of our dialogs: once `session` is accepted (ACKed), the
  // replaced call is ended (BYE, Terminated cause replaced; CANCEL or 480 when not answered yet).
  std::optional<Session> replaces;
};
struct IncomingMessage {  // an out-of-dialog MESSAGE (RFC 3428), already answered 200
  NameAddr from;
  NameAddr to;
  std::string content_type;
  std::string body;
};
struct HeartbeatTimeout {
  int missed = 0;
};

struct InviteOptions {
  std::vector<Header> extra_headers;          // e.g. {"X-Wazo-Ref", "..."}
  std::optional<Replaces> replaces;           // attended transfer target side (RFC 3891)
  std::optional<NameAddr> referred_by;        // when placing a call for a REFER
  std::chrono::seconds no_answer_timeout{0};  // 0: none; else CANCEL after it (Terminated: timeout)
  std::chrono::seconds session_expires{0};    // 0: no session timer requested (the peer may still ask)
};

class UserAgent {
 public:
  UserAgent(Runtime& runtime, UserAgentOptions options);
  ~UserAgent();  // closes (no unregister; use stop() for that)
  UserAgent(const UserAgent&) = delete;
  UserAgent& operator=(const UserAgent&) = delete;

  // Connects, then registers when `register_on_start`. Resolves when registered (or connected), or with the
  // first error (auth, timeout, transport after connect_timeout).
  Async<void> start();
  // Unregisters (when registered), then closes the connection for good.
  Async<void> stop();
  // Closes at once: no unregister, sessions terminated with cause transport.
  void close();
  // Drops the connection now, as if it were lost (sessions end with cause transport), then reconnects with the
  // `reconnect` options' backoff and registers again (the seed's attemptReconnection). Nothing when closed.
  void reconnect(std::string reason = "reconnection requested");

  Async<void> register_line();  // (again) REGISTER and keep refreshing
  Async<void> unregister();     // Expires: 0; stops refreshing
  [[nodiscard]] bool is_registered() const;
  [[nodiscard]] RegistrationState registration_state() const;
  [[nodiscard]] TransportState transport_state() const;
  [[nodiscard]] const UserAgentOptions& options() const;
  [[nodiscard]] Uri aor() const;  // sip:user@domain

  // OPTIONS (out of dialog): resolves with the final response. `target` empty: the server (sip:<domain>).
  Async<Message> options(std::string target = {});
  // MESSAGE (RFC 3428) out of dialog; resolves with the 2xx (a non-2xx is an Error with its status).
  Async<Message> send_message(std::string target, std::string body, std::string content_type = "text/plain");
  // INVITE. `target`: a SIP URI, or a user/number completed with the domain. Fails at once only when the agent
  // is closed or the target is unusable; call progress comes as Session events.
  Result<Session> invite(std::string target, std::shared_ptr<MediaSession> media, InviteOptions options = {});
  // The live sessions.
  [[nodiscard]] std::vector<Session> sessions() const;

  template <class Event>
  Subscription on(std::function<void(const Event&)> handler) {
    return emitter().on<Event>(std::move(handler));
  }

  struct Impl;

 private:
  Emitter& emitter();
  std::shared_ptr<Impl> impl_;
};

}  // namespace wazo::sip
