#include "calls.hpp"

#include <algorithm>

#include "events.hpp"

namespace wazo::engine {

namespace {

// The SDP's lines, without their CR.
std::vector<std::string_view> sdp_lines(std::string_view sdp) {
  std::vector<std::string_view> out;
  while (!sdp.empty()) {
    const std::size_t eol = std::min(sdp.find('\n'), sdp.size());
    std::string_view line = sdp.substr(0, eol);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out.push_back(line);
    sdp.remove_prefix(std::min(eol + 1, sdp.size()));
  }
  return out;
}

// "m=audio 4000 RTP/AVP 0" → "audio", 4000; nullopt when malformed.
std::optional<std::pair<std::string_view, long>> media_line(std::string_view line) {
  line.remove_prefix(2);
  const std::size_t space = line.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const std::string_view kind = line.substr(0, space);
  const std::string_view rest = line.substr(space + 1);
  long port = 0;
  std::size_t i = 0;
  for (; i < rest.size() && rest[i] >= '0' && rest[i] <= '9' && port < 100000; ++i) port = port * 10 + (rest[i] - '0');
  if (i == 0) return std::nullopt;
  return std::pair{kind, port};
}

bool is_direction(std::string_view line) {
  return line == "a=sendrecv" || line == "a=sendonly" || line == "a=recvonly" || line == "a=inactive";
}

std::string display_name(const User& u) { return u.firstname + (u.lastname.empty() ? "" : " " + u.lastname); }

Json time_or_null(const std::optional<Clock::time_point>& t) { return t ? Json(iso_time_utc(*t)) : Json(nullptr); }

}  // namespace

std::optional<bool> sdp_holds(std::string_view sdp) {
  const auto lines = sdp_lines(sdp);
  if (lines.empty() || lines.front() != "v=0") return std::nullopt;
  std::string_view session_direction = "a=sendrecv";
  bool session_zero_address = false;
  bool in_media = false;
  int active = 0, held = 0;
  // One m-section at a time: its direction (or the session's) and its c= line (or the session's).
  std::string_view direction;
  bool zero_address = false, section_active = false;
  auto close_section = [&] {
    if (!in_media || !section_active) return;
    ++active;
    const std::string_view d = direction.empty() ? session_direction : direction;
    if (d == "a=sendonly" || d == "a=inactive" || zero_address) ++held;
  };
  for (const auto line : lines) {
    if (line.rfind("m=", 0) == 0) {
      close_section();
      in_media = true;
      const auto m = media_line(line);
      section_active = m && m->second != 0;
      direction = {};
      zero_address = session_zero_address;
    } else if (is_direction(line)) {
      (in_media ? direction : session_direction) = line;
    } else if (line.rfind("c=", 0) == 0) {
      const bool zero = line == "c=IN IP4 0.0.0.0";
      (in_media ? zero_address : session_zero_address) = zero;
    }
  }
  close_section();
  if (active == 0) return std::nullopt;
  return held == active;
}

bool sdp_has_video(std::string_view sdp) {
  for (const auto line : sdp_lines(sdp)) {
    if (line.rfind("m=video ", 0) != 0) continue;
    if (const auto m = media_line(line); m && m->second != 0) return true;
  }
  return false;
}

std::string CallRegistry::next_call_id() {
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count();
  return std::to_string(seconds) + "." + std::to_string(sequence_++);
}

RelayedCall& CallRegistry::create(const sip::Message& invite, const User& caller, const User& callee,
                                  std::uint64_t caller_peer, std::uint64_t callee_peer) {
  RelayedCall call;
  call.sip_call_id = std::string(invite.call_id());
  // The To URI: the proxy has already rewritten the request URI to the callee's contact.
  if (auto to = invite.to()) call.dialed_extension = to->uri.user;
  call.is_video = invite.content_type() == "application/sdp" && sdp_has_video(invite.body());
  call.from = std::string(invite.header("From").value_or(""));
  if (auto from = invite.from()) call.caller_tag = std::string(from->tag().value_or(""));
  if (auto contacts = invite.contacts(); contacts && !contacts->empty()) call.caller_contact = contacts->front().uri;
  call.invite_cseq = call.caller_cseq = invite.cseq() ? invite.cseq()->number : 0;
  call.caller_peer = caller_peer;
  call.callee_peer = callee_peer;
  const auto now = Clock::now();
  auto leg = [&](const User& own, const User& other, bool is_caller) {
    CallLeg l;
    l.call_id = next_call_id();
    l.user_uuid = own.uuid;
    l.tenant_uuid = own.tenant_uuid;
    l.line_id = own.line ? own.line->id : 0;
    l.caller_id_name = display_name(own);
    l.caller_id_number = own.line ? own.line->exten : std::string();
    l.peer_caller_id_name = display_name(other);
    l.peer_caller_id_number = other.line ? other.line->exten : std::string();
    l.status = is_caller ? "Ring" : "Ringing";
    l.is_caller = is_caller;
    l.created = now;
    return l;
  };
  call.caller = leg(caller, callee, true);
  call.callee = leg(callee, caller, false);
  auto [it, inserted] = calls_.insert_or_assign(call.sip_call_id, std::move(call));
  RelayedCall& c = it->second;
  publish_to_both("call_created", c);
  return c;
}

RelayedCall* CallRegistry::find(std::string_view sip_call_id) {
  auto it = calls_.find(sip_call_id);
  return it == calls_.end() ? nullptr : &it->second;
}

RelayedCall* CallRegistry::find_by_leg(std::string_view call_id) {
  for (auto& [key, call] : calls_) {
    if (call.caller.call_id == call_id || call.callee.call_id == call_id) return &call;
  }
  return nullptr;
}

void CallRegistry::answer(RelayedCall& call, const sip::Message& ok) {
  if (call.answered) return;
  call.answered = true;
  call.to = std::string(ok.header("To").value_or(""));
  if (auto contacts = ok.contacts(); contacts && !contacts->empty()) call.callee_contact = contacts->front().uri;
  if (ok.content_type() == "application/sdp") call.is_video = call.is_video && sdp_has_video(ok.body());
  call.bridge_id = new_uuid();
  set_status(call, "Up", &CallLeg::answered);
  publish_to_both("call_answered", call);
  publish_to_both("call_updated", call);
}

// Which leg is held: calld publishes call_held for the channel on which Asterisk raises its Hold event, and
// Asterisk raises it on the channel whose device asked for the hold (the re-INVITE with a sendonly or inactive
// offer); calld's `on_hold` is that channel's variable. So the leg of the user who put the call on hold is the held
// one (its user sees on_hold); the other party's leg does not change.
void CallRegistry::reoffer(RelayedCall& call, bool from_caller, std::string_view sdp) {
  CallLeg& leg = from_caller ? call.caller : call.callee;
  CallLeg& peer = from_caller ? call.callee : call.caller;
  const bool video = sdp_has_video(sdp);
  if (video != call.is_video) {
    call.is_video = video;
    publish_to_both("call_updated", call);
  }
  const auto holds = sdp_holds(sdp);
  if (!holds || *holds == leg.on_hold) return;
  leg.on_hold = *holds;
  publish_hold(leg.on_hold, leg);
  publish("call_updated", call, leg, peer);
}

void CallRegistry::end(std::string_view sip_call_id) {
  auto it = calls_.find(sip_call_id);
  if (it == calls_.end()) return;
  RelayedCall& call = it->second;
  set_status(call, "Down", &CallLeg::hung_up);
  publish_to_both("call_ended", call);
  calls_.erase(it);
}

Json CallRegistry::calls_of(const std::string& user_uuid) const {
  Json items = Json::array();
  for (const auto& [key, call] : calls_) {
    if (call.caller.user_uuid == user_uuid) items.push_back(leg_json(call, call.caller, call.callee));
    if (call.callee.user_uuid == user_uuid) items.push_back(leg_json(call, call.callee, call.caller));
  }
  return items;
}

std::vector<std::string> CallRegistry::calls_on_peer(std::uint64_t peer) const {
  std::vector<std::string> out;
  for (const auto& [key, call] : calls_) {
    if (call.caller_peer == peer || call.callee_peer == peer) out.push_back(key);
  }
  return out;
}

// The Call model (wazo-calld.json). conversation_id is Asterisk's linkedid: the first channel's unique id.
Json CallRegistry::leg_json(const RelayedCall& call, const CallLeg& leg, const CallLeg& peer) {
  const bool up = leg.status == "Up";
  return Json{{"bridges", up ? Json::array({call.bridge_id}) : Json::array()},
              {"call_id", leg.call_id},
              {"caller_id_name", leg.caller_id_name},
              {"caller_id_number", leg.caller_id_number},
              {"conversation_id", call.caller.call_id},
              {"peer_caller_id_name", leg.peer_caller_id_name},
              {"peer_caller_id_number", leg.peer_caller_id_number},
              {"creation_time", iso_time_utc(leg.created)},
              {"status", leg.status},
              {"on_hold", leg.on_hold},
              {"muted", false},
              {"record_state", "inactive"},
              {"talking_to", up ? Json{{peer.call_id, peer.user_uuid}} : Json::object()},
              {"user_uuid", leg.user_uuid},
              {"is_caller", leg.is_caller},
              {"is_video", call.is_video},
              {"dialed_extension", call.dialed_extension},
              {"line_id", leg.line_id},
              {"answer_time", time_or_null(leg.answered)},
              {"hangup_time", time_or_null(leg.hung_up)},
              {"direction", "internal"},
              {"parked", false},
              {"sip_call_id", call.sip_call_id}};
}

void CallRegistry::publish(const std::string& name, const RelayedCall& call, const CallLeg& leg, const CallLeg& peer) {
  bus_.publish(events::call_event(name, leg_json(call, leg, peer), leg.tenant_uuid, leg.user_uuid));
}

void CallRegistry::publish_to_both(const std::string& name, const RelayedCall& call) {
  publish(name, call, call.caller, call.callee);
  publish(name, call, call.callee, call.caller);
}

void CallRegistry::set_status(RelayedCall& call, const char* status, std::optional<Clock::time_point> CallLeg::*when) {
  const auto now = Clock::now();
  for (CallLeg* leg : {&call.caller, &call.callee}) {
    leg->status = status;
    leg->*when = now;
  }
}

void CallRegistry::publish_hold(bool held, const CallLeg& leg) {
  bus_.publish(events::call_hold_event(held, leg.call_id, leg.tenant_uuid, leg.user_uuid));
}

}  // namespace wazo::engine
