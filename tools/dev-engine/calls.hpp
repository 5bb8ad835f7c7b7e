// wazo-calld's view of the calls the SIP proxy relays between the seeded users' lines: one leg (an Asterisk
// channel, with its own call_id) per user, the Call model of wazo-calld.json, and the calld events on the bus
// (call_created, call_answered, call_updated, call_held, call_resumed, call_ended; required ACL
// events.calls.{user_uuid}, a UserEvent to the leg's user). The SIP proxy feeds it; GET/DELETE
// /api/calld/1.0/users/me/calls read it. Used on the I/O thread only.
//
// With a proxy (not a B2BUA) there is one SIP dialog end to end: both legs carry the same sip_call_id.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bus.hpp"
#include "state.hpp"
#include "wazo/sip/message.hpp"

namespace wazo::engine {

// One channel of a call, as calld shows it. caller_id_* is the channel's own party (its user's name and
// extension), peer_caller_id_* the other party (Asterisk's connected line).
struct CallLeg {
  std::string call_id;  // Asterisk's unique id style: "1764190000.12"
  std::string user_uuid, tenant_uuid;
  int line_id = 0;
  std::string caller_id_name, caller_id_number, peer_caller_id_name, peer_caller_id_number;
  std::string status;  // "Ring" (the caller's, the far end ringing), "Ringing" (the callee's), "Up", "Down"
  bool is_caller = false;
  bool on_hold = false;
  Clock::time_point created;
  std::optional<Clock::time_point> answered, hung_up;
};

// A call between two lines through the proxy, with what the proxy needs to end it itself.
struct RelayedCall {
  std::string sip_call_id;
  std::string dialed_extension;  // the user part of the INVITE's To (what the caller dialed)
  std::string bridge_id;         // shared by both legs once answered
  CallLeg caller, callee;
  bool is_video = false;
  bool answered = false;
  // The dialog at the proxy: From (with the caller's tag) as sent, To (with the callee's tag) from the answer, the
  // remote targets and the highest CSeq each side used, and the connections.
  std::string from, to, caller_tag;
  sip::Uri caller_contact, callee_contact;
  std::uint32_t invite_cseq = 0, caller_cseq = 0, callee_cseq = 0;
  std::uint64_t caller_peer = 0, callee_peer = 0;
  std::string invite_branch;  // the proxy's branch of the forwarded INVITE (to CANCEL it)
};

// Does this SDP hold the call (every active m-section, or the session, sendonly or inactive; or the old
// c=0.0.0.0 form)? nullopt when the body is not an SDP with an active m-section.
std::optional<bool> sdp_holds(std::string_view sdp);
// Does this SDP have a video m-section with a non-zero port?
bool sdp_has_video(std::string_view sdp);

class CallRegistry {
 public:
  explicit CallRegistry(Bus& bus) : bus_(bus) {}

  // The initial INVITE from `caller` to `callee` (authenticated, about to be forwarded): both legs, call_created
  // to each user. The callee's leg call_id goes into the forwarded INVITE (X-Wazo-Call-ID).
  RelayedCall& create(const sip::Message& invite, const User& caller, const User& callee, std::uint64_t caller_peer,
                      std::uint64_t callee_peer);
  // nullptr when the proxy relays no call with this SIP Call-ID.
  RelayedCall* find(std::string_view sip_call_id);
  // The leg with this call_id (either side), or nullptr.
  RelayedCall* find_by_leg(std::string_view call_id);

  // The 2xx to the initial INVITE: both legs Up (call_answered + call_updated to each).
  void answer(RelayedCall& call, const sip::Message& ok);
  // An in-dialog INVITE (re-INVITE) with an SDP offer from one side: hold / resume of that side's leg, video.
  void reoffer(RelayedCall& call, bool from_caller, std::string_view sdp);
  // BYE, CANCEL, a final error to the initial INVITE, a lost connection or a hang-up through calld: both legs Down
  // (call_ended to each) and the call forgotten.
  void end(std::string_view sip_call_id);

  // The user's live legs (the Call model).
  [[nodiscard]] Json calls_of(const std::string& user_uuid) const;
  [[nodiscard]] std::vector<std::string> calls_on_peer(std::uint64_t peer) const;  // their SIP Call-IDs
  [[nodiscard]] std::size_t size() const { return calls_.size(); }

 private:
  [[nodiscard]] std::string next_call_id();
  [[nodiscard]] static Json leg_json(const RelayedCall& call, const CallLeg& leg, const CallLeg& peer);
  void publish(const std::string& name, const RelayedCall& call, const CallLeg& leg, const CallLeg& peer);
  void publish_to_both(const std::string& name, const RelayedCall& call);  // the caller's leg, then the callee's
  // Both legs to `status`, with the time of the change in `when` (answered or hung_up).
  static void set_status(RelayedCall& call, const char* status, std::optional<Clock::time_point> CallLeg::*when);
  void publish_hold(bool held, const CallLeg& leg);

  Bus& bus_;
  std::map<std::string, RelayedCall, std::less<>> calls_;  // by SIP Call-ID
  std::uint64_t sequence_ = 0;
};

}  // namespace wazo::engine
