// CallSession: a snapshot of one call as the phone sees it (the JavaScript SDK's CallSession, study §2.7) — who,
// in which state, since when. A plain copyable value: the Phone hands out copies in its events and answers, and
// takes one back (or its id) to name the call an action is for. Copies do not update; ask the Phone again
// (Phone::find / Phone::calls) or read the snapshot carried by the next event.
//
//   auto sub = phone.on<wazo::phone::CallIncoming>([&](const wazo::phone::CallIncoming& e) {
//     std::cout << e.call.display_name << " <" << e.call.number << "> calls\n";
//     phone.accept(e.call);
//   });
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wazo::phone {

// A party's identity from a SIP header (P-Asserted-Identity, Diversion).
struct PartyIdentity {
  std::string display_name;
  std::string number;  // user part of the URI, or the tel: number
  std::string uri;     // the whole URI ("sip:1002@wazo.example")
};

struct CallDiversion {  // one Diversion entry (RFC 5806): who diverted the call, and why
  PartyIdentity identity;
  std::string reason;  // "unconditional", "user-busy", "no-answer", ... ("" when absent)
  int counter = 0;
};

struct CallSession {
  using Clock = std::chrono::system_clock;

  // ---- identity
  std::string call_id;           // Wazo's call id: X-Wazo-Call-ID when the engine sent it (else empty until known)
  std::string sip_call_id;       // the SIP Call-ID of the dialog: the key the Phone uses
  std::string number;            // the other party's number (callee when outgoing, caller when incoming)
  std::string caller_number;     // the caller's number (ours when outgoing)
  std::string display_name;      // the other party's display name (or its number when it has none)
  std::string dialed_extension;  // outgoing: what make_call was given; incoming: the Request-URI user part
  bool is_caller = false;        // we placed the call
  std::optional<PartyIdentity> asserted_identity;  // P-Asserted-Identity of the other party
  std::vector<CallDiversion> diversion;

  // ---- state
  bool answered = false;
  bool ringing = false;         // incoming not yet answered / outgoing that got a 180 or 183
  bool paused = false;          // held by us
  bool remotely_held = false;   // the peer put us on hold (its last offer was sendonly/inactive)
  bool muted = false;           // our microphone
  bool video_muted = false;     // our camera stopped (camera_enabled == false during a video call)
  bool camera_enabled = false;  // the call has video and our camera sends
  bool video = false;           // the negotiated session has video
  bool screensharing = false;
  bool conference = false;
  bool auto_answer = false;  // the INVITE asked for it (Alert-Info / Call-Info answer-after)
  bool ignored = false;      // Phone::ignore(): the app chose not to ring for it
  bool terminated = false;
  int sip_status = 0;  // the last SIP final (or provisional) status seen for the INVITE

  // ---- timing (system clock, for display; elapsed times use the same clock)
  Clock::time_point creation_time{};            // INVITE sent or received
  std::optional<Clock::time_point> start_time;  // the call was answered (same as answer_time; the seed has both)
  std::optional<Clock::time_point> answer_time;
  std::optional<Clock::time_point> end_time;

  // ---- predicates (the seed's)
  [[nodiscard]] bool is(const CallSession& other) const noexcept {
    return is_id(other.sip_call_id) || (!call_id.empty() && call_id == other.call_id);
  }
  // Matches either id.
  [[nodiscard]] bool is_id(std::string_view id) const noexcept {
    return !id.empty() && (id == sip_call_id || id == call_id);
  }
  [[nodiscard]] bool is_incoming() const noexcept { return !is_caller; }
  [[nodiscard]] bool is_outgoing() const noexcept { return is_caller; }
  [[nodiscard]] bool is_ringing() const noexcept { return ringing && !answered && !terminated; }
  [[nodiscard]] bool is_answered() const noexcept { return answered; }
  // Established and not held by either side.
  [[nodiscard]] bool is_active() const noexcept { return answered && !terminated && !paused && !remotely_held; }
  [[nodiscard]] bool is_established() const noexcept { return answered && !terminated; }
  [[nodiscard]] bool is_terminated() const noexcept { return terminated; }
  [[nodiscard]] bool is_on_hold() const noexcept { return paused; }
  [[nodiscard]] bool is_remotely_held() const noexcept { return remotely_held; }
  [[nodiscard]] bool is_muted() const noexcept { return muted; }
  [[nodiscard]] bool is_video_muted() const noexcept { return video_muted; }
  [[nodiscard]] bool is_camera_enabled() const noexcept { return camera_enabled; }
  [[nodiscard]] bool is_screensharing() const noexcept { return screensharing; }
  [[nodiscard]] bool is_conference() const noexcept { return conference; }
  [[nodiscard]] bool is_ignored() const noexcept { return ignored; }
  [[nodiscard]] bool has_video() const noexcept { return video; }
  [[nodiscard]] const std::string& id() const noexcept { return call_id.empty() ? sip_call_id : call_id; }

  // Seconds since the answer (until the end when it ended); 0 before the answer.
  [[nodiscard]] std::int64_t elapsed_seconds(Clock::time_point now = Clock::now()) const noexcept {
    if (!answer_time) return 0;
    const auto until = end_time ? *end_time : now;
    return std::chrono::duration_cast<std::chrono::seconds>(until - *answer_time).count();
  }
};

}  // namespace wazo::phone
