#include "wazo/rest/confd.hpp"

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>

#include "rest/detail/json.hpp"
#include "rest/detail/service.hpp"

namespace wazo::rest {

namespace {

using detail::fetch;
using detail::fetch_ok;
using detail::flag;
using detail::gather;
using detail::integer;
using detail::items_from_json;
using detail::make_request;
using detail::not_object;
using detail::Route;
using nlohmann::json;

// The wazo-confd routes the client uses, as data.
namespace routes {
constexpr Route users{Method::get, "confd/1.1/users"};
constexpr Route user_get{Method::get, "confd/1.1/users/{user_uuid}"};
constexpr Route user_put{Method::put, "confd/1.1/users/{user_uuid}"};
constexpr Route forward_put{Method::put, "confd/1.1/users/{user_uuid}/forwards/{forward_name}"};
constexpr Route forwards_put{Method::put, "confd/1.1/users/{user_uuid}/forwards"};
constexpr Route dnd_put{Method::put, "confd/1.1/users/{user_uuid}/services/dnd"};
constexpr Route line_sip{Method::get, "confd/1.1/users/{user_uuid}/lines/{line_id}/associated/endpoints/sip"};
constexpr Route applications{Method::get, "confd/1.1/applications"};
constexpr Route infos{Method::get, "confd/1.1/infos"};
constexpr Route external_apps{Method::get, "confd/1.1/users/{user_uuid}/external/apps"};
constexpr Route external_app{Method::get, "confd/1.1/users/{user_uuid}/external/apps/{app_name}"};
constexpr Route my_meetings{Method::get, "confd/1.1/users/me/meetings"};
constexpr Route my_meeting_create{Method::post, "confd/1.1/users/me/meetings"};
constexpr Route my_meeting_put{Method::put, "confd/1.1/users/me/meetings/{meeting_uuid}"};
constexpr Route my_meeting_delete{Method::del, "confd/1.1/users/me/meetings/{meeting_uuid}"};
constexpr Route meeting_get{Method::get, "confd/1.1/meetings/{meeting_uuid}"};
constexpr Route my_meeting_authorizations{Method::get, "confd/1.1/users/me/meetings/{meeting_uuid}/authorizations"};
constexpr Route my_meeting_authorization_reject{
    Method::put, "confd/1.1/users/me/meetings/{meeting_uuid}/authorizations/{authorization_uuid}/reject"};
constexpr Route my_meeting_authorization_accept{
    Method::put, "confd/1.1/users/me/meetings/{meeting_uuid}/authorizations/{authorization_uuid}/accept"};
constexpr Route guest_meeting{Method::get, "confd/1.1/guests/me/meetings/{meeting_uuid}"};
constexpr Route guest_authorization_create{Method::post,
                                           "confd/1.1/guests/{guest_uuid}/meetings/{meeting_uuid}/authorizations"};
constexpr Route guest_authorization_get{
    Method::get, "confd/1.1/guests/{guest_uuid}/meetings/{meeting_uuid}/authorizations/{authorization_uuid}"};
constexpr Route callerids_outgoing{Method::get, "confd/1.1/users/{user_uuid}/callerids/outgoing"};
constexpr Route block_numbers{Method::get, "confd/1.1/users/me/blocklist/numbers"};
constexpr Route block_number_create{Method::post, "confd/1.1/users/me/blocklist/numbers"};
constexpr Route block_number_get{Method::get, "confd/1.1/users/me/blocklist/numbers/{uuid}"};
constexpr Route block_number_put{Method::put, "confd/1.1/users/me/blocklist/numbers/{uuid}"};
constexpr Route block_number_delete{Method::del, "confd/1.1/users/me/blocklist/numbers/{uuid}"};
}  // namespace routes

// confd sends some string-like fields as numbers (a meeting's port): read those as text too.
std::string str(const json& o, const char* key) {
  auto it = o.find(key);
  if (it != o.end() && it->is_number_integer()) return std::to_string(it->get<std::int64_t>());
  return detail::str(o, key);
}
std::optional<int> optional_int(const json& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int>();
}
json member(const json& o, const char* key) {
  auto it = o.find(key);
  return it == o.end() ? json() : *it;
}
KeyValueOptions key_values(const json& o, const char* key) {
  KeyValueOptions out;
  auto it = o.find(key);
  if (it == o.end() || !it->is_array()) return out;
  for (const auto& pair : *it) {
    if (pair.is_array() && pair.size() >= 2 && pair[0].is_string() && pair[1].is_string())
      out.emplace_back(pair[0].get<std::string>(), pair[1].get<std::string>());
  }
  return out;
}

std::optional<std::string> find_option(const KeyValueOptions& options, std::string_view key) {
  for (const auto& [k, v] : options)
    if (k == key) return v;
  return std::nullopt;
}

Forward forward_from_json(const json& j) {
  if (!j.is_object()) return {};
  return Forward{flag(j, "enabled"), str(j, "destination")};
}

json to_json(const Forward& f) { return json{{"enabled", f.enabled}, {"destination", f.destination}}; }

std::optional<std::string> base64_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (const char c : in) {
    if (c == '=') break;
    const int v = value(c);
    if (v < 0) return std::nullopt;
    buffer = (buffer << 6U) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> static_cast<unsigned>(bits)) & 0xFFU);
    }
  }
  return out;
}

using SipLines = std::vector<std::optional<SipLine>>;

// Each line's SipLine, or nullopt where its request failed (`skip[i]`: nullopt without a request).
Async<SipLines> lines_sip(ConfdApi& api, const std::string& user_uuid, const std::vector<std::int64_t>& line_ids,
                          const std::vector<bool>& skip) {
  std::vector<Async<SipLine>> parts;
  std::vector<std::size_t> where;  // index in line_ids of each part
  for (std::size_t i = 0; i < line_ids.size(); ++i) {
    if (i < skip.size() && skip[i]) continue;
    parts.push_back(api.get_user_line_sip(user_uuid, line_ids[i]));
    where.push_back(i);
  }
  Promise<SipLines> p(api.client().runtime().executor());
  auto out = p.async();
  auto all = gather(api.client(), std::move(parts));
  p.on_cancel([all]() mutable { all.cancel(); });
  all.then([p, where = std::move(where), count = line_ids.size()](Result<std::vector<Result<SipLine>>> results) {
    if (!results) {
      p.set(std::move(results).error());
      return;
    }
    SipLines lines(count);
    for (std::size_t k = 0; k < results->size(); ++k) {
      if ((*results)[k]) lines[where[k]] = std::move((*results)[k]).value();
    }
    p.set(std::move(lines));
  });
  return out;
}

}  // namespace

// --- models -----------------------------------------------------------------------------------------------------

std::string_view to_string(ForwardName name) noexcept {
  switch (name) {
    case ForwardName::busy:
      return "busy";
    case ForwardName::noanswer:
      return "noanswer";
    case ForwardName::unconditional:
      return "unconditional";
  }
  return "unconditional";
}

Result<ConfdUser> confd_user_from_json(const json& j) {
  if (!j.is_object()) return not_object("user");
  ConfdUser u;
  u.id = integer(j, "id");
  u.uuid = str(j, "uuid");
  u.tenant_uuid = str(j, "tenant_uuid");
  u.firstname = str(j, "firstname");
  u.lastname = str(j, "lastname");
  u.email = str(j, "email");
  u.username = str(j, "username");
  u.mobile_phone_number = str(j, "mobile_phone_number");
  u.subscription_type = optional_int(j, "subscription_type");
  u.ring_seconds = optional_int(j, "ring_seconds");
  u.online_call_record_enabled = flag(j, "online_call_record_enabled");
  if (auto it = j.find("lines"); it != j.end() && it->is_array()) {
    for (const auto& l : *it) {
      if (!l.is_object()) continue;
      UserLine line;
      line.id = integer(l, "id");
      line.name = str(l, "name");
      if (auto ex = l.find("extensions"); ex != l.end() && ex->is_array()) {
        for (const auto& e : *ex) {
          if (e.is_object())
            line.extensions.push_back(LineExtension{integer(e, "id"), str(e, "exten"), str(e, "context")});
        }
      }
      for (const char* kind : {"sip", "sccp", "custom"}) {
        const std::string key = std::string("endpoint_") + kind;
        if (auto ep = l.find(key); ep != l.end() && ep->is_object()) {
          line.endpoint = kind;
          break;
        }
      }
      line.endpoint_sip = member(l, "endpoint_sip");
      line.raw = l;
      u.lines.push_back(std::move(line));
    }
  }
  if (auto it = j.find("forwards"); it != j.end() && it->is_object()) {
    u.forwards.busy = forward_from_json(member(*it, "busy"));
    u.forwards.noanswer = forward_from_json(member(*it, "noanswer"));
    u.forwards.unconditional = forward_from_json(member(*it, "unconditional"));
  }
  if (auto it = j.find("services"); it != j.end() && it->is_object()) {
    const json dnd = member(*it, "dnd");
    const json incallfilter = member(*it, "incallfilter");
    u.services.dnd = dnd.is_object() && flag(dnd, "enabled");
    u.services.incallfilter = incallfilter.is_object() && flag(incallfilter, "enabled");
  }
  if (auto it = j.find("voicemail"); it != j.end() && it->is_object())
    u.voicemail = VoicemailRef{integer(*it, "id"), str(*it, "name")};
  if (auto it = j.find("switchboards"); it != j.end() && it->is_array()) {
    for (const auto& s : *it) {
      if (s.is_object()) u.switchboards.push_back(SwitchboardRef{str(s, "uuid"), str(s, "name")});
    }
  }
  u.agent = member(j, "agent");
  u.incalls = member(j, "incalls");
  u.call_pickup_target_users = member(j, "call_pickup_target_users");
  u.raw = j;
  return u;
}

Result<SipLine> sip_line_from_json(const json& j) {
  if (!j.is_object()) return not_object("sip line");
  SipLine s;
  s.id = integer(j, "id");
  s.uuid = str(j, "uuid");
  s.tenant_uuid = str(j, "tenant_uuid");
  s.name = str(j, "name");
  s.label = str(j, "label");
  s.auth_section_options = key_values(j, "auth_section_options");
  s.endpoint_section_options = key_values(j, "endpoint_section_options");
  s.aor_section_options = key_values(j, "aor_section_options");
  if (j.contains("auth_section_options")) {
    // The merged view: credentials in the auth section, the media address in the endpoint section.
    s.username = find_option(s.auth_section_options, "username").value_or("");
    s.secret = find_option(s.auth_section_options, "password").value_or("");
    s.host = find_option(s.endpoint_section_options, "media_address").value_or("");
  } else {
    s.username = str(j, "username");
    s.secret = str(j, "secret");
    s.host = str(j, "host");
  }
  s.line = member(j, "line");
  s.trunk = member(j, "trunk");
  s.raw = j;
  return s;
}

std::optional<std::string> SipLine::endpoint_option(std::string_view key) const {
  return find_option(endpoint_section_options, key);
}

bool SipLine::is_webrtc() const { return endpoint_option("webrtc").value_or("") == "yes"; }

bool SipLine::has_video() const {
  const auto allow = endpoint_option("allow");
  if (!allow) return false;
  std::size_t pos = 0;
  while (pos <= allow->size()) {
    const std::size_t comma = std::min(allow->find(',', pos), allow->size());
    const std::string codec = allow->substr(pos, comma - pos);
    if (codec == "vp8" || codec == "vp9" || codec == "h264") return true;
    pos = comma + 1;
  }
  return false;
}

bool SipLine::has_video_conference() const {
  auto number = [this](std::string_view key) {
    const auto v = endpoint_option(key);
    if (!v || v->empty() || !std::all_of(v->begin(), v->end(), [](unsigned char c) { return std::isdigit(c) != 0; }))
      return 0L;
    return std::stol(*v);
  };
  return number("max_audio_streams") > 0 && number("max_video_streams") > 1;
}

Result<Meeting> meeting_from_json(const json& j) {
  if (!j.is_object()) return not_object("meeting");
  Meeting m;
  m.uuid = str(j, "uuid");
  m.name = str(j, "name");
  if (auto it = j.find("owner_uuids"); it != j.end() && it->is_array()) {
    for (const auto& o : *it)
      if (o.is_string()) m.owner_uuids.push_back(o.get<std::string>());
  }
  m.uri = str(j, "ingress_http_uri");
  m.guest_sip_authorization = str(j, "guest_sip_authorization");
  m.port = str(j, "port");
  m.exten = str(j, "exten");
  m.creation_time = str(j, "creation_time");
  m.persistent = flag(j, "persistent");
  m.require_authorization = flag(j, "require_authorization");
  m.raw = j;
  return m;
}

std::optional<std::pair<std::string, std::string>> Meeting::guest_sip_credentials() const {
  if (guest_sip_authorization.empty()) return std::nullopt;
  const auto decoded = base64_decode(guest_sip_authorization);
  if (!decoded) return std::nullopt;
  const auto colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  return std::make_pair(decoded->substr(0, colon), decoded->substr(colon + 1));
}

Result<MeetingAuthorization> meeting_authorization_from_json(const json& j) {
  if (!j.is_object()) return not_object("meeting authorization");
  MeetingAuthorization a;
  a.uuid = str(j, "uuid");
  a.meeting_uuid = str(j, "meeting_uuid");
  a.guest_uuid = str(j, "guest_uuid");
  a.guest_name = str(j, "guest_name");
  a.status = str(j, "status");
  a.creation_time = str(j, "creation_time");
  a.sip_authorization = str(j, "sip_authorization");
  a.raw = j;
  return a;
}

Result<BlockNumber> block_number_from_json(const json& j) {
  if (!j.is_object()) return not_object("blocklist number");
  return BlockNumber{str(j, "uuid"), str(j, "number"), str(j, "label"), j};
}

Result<CallerId> caller_id_from_json(const json& j) {
  if (!j.is_object()) return not_object("caller id");
  return CallerId{str(j, "number"), str(j, "type"), str(j, "caller_id_name"), j};
}

Result<ExternalApp> external_app_from_json(const json& j) {
  if (!j.is_object()) return not_object("external app");
  return ExternalApp{str(j, "name"), str(j, "label"), member(j, "configuration"), j};
}

Result<Application> application_from_json(const json& j) {
  if (!j.is_object()) return not_object("application");
  return Application{str(j, "uuid"),
                     str(j, "name"),
                     str(j, "tenant_uuid"),
                     str(j, "destination"),
                     member(j, "destination_options"),
                     j};
}

Result<Infos> infos_from_json(const json& j) {
  if (!j.is_object()) return not_object("infos");
  return Infos{str(j, "uuid"), str(j, "wazo_version"), j};
}

// --- the client ---------------------------------------------------------------------------------------------------

Async<List<ConfdUser>> ConfdApi::list_users() {
  return fetch<List<ConfdUser>>(client_, make_request(routes::users),
                                [](const json& j) { return list_from_json<ConfdUser>(j, confd_user_from_json); });
}

Async<ConfdUser> ConfdApi::get_user(const std::string& user_uuid) {
  return fetch<ConfdUser>(client_, make_request(routes::user_get, {user_uuid}), confd_user_from_json);
}

Async<bool> ConfdApi::update_user(const std::string& user_uuid, const ConfdUser& profile) {
  Request r = make_request(routes::user_put, {user_uuid});
  r.json = json{{"firstname", profile.firstname},
                {"lastname", profile.lastname},
                {"email", profile.email.empty() ? json() : json(profile.email)},
                {"mobile_phone_number", profile.mobile_phone_number}};
  return fetch_ok(client_, std::move(r));
}

Async<bool> ConfdApi::update_forward_option(const std::string& user_uuid, ForwardName key,
                                            const std::string& destination, bool enabled) {
  Request r = make_request(routes::forward_put, {user_uuid, to_string(key)});
  r.json = to_json(Forward{enabled, destination});
  return fetch_ok(client_, std::move(r));
}

Async<bool> ConfdApi::update_forward_options(const std::string& user_uuid, const ForwardsUpdate& options) {
  Request r = make_request(routes::forwards_put, {user_uuid});
  json body = json::object();
  if (options.busy) body["busy"] = to_json(*options.busy);
  if (options.noanswer) body["noanswer"] = to_json(*options.noanswer);
  if (options.unconditional) body["unconditional"] = to_json(*options.unconditional);
  r.json = std::move(body);
  return fetch_ok(client_, std::move(r));
}

Async<bool> ConfdApi::update_do_not_disturb(const std::string& user_uuid, bool enabled) {
  Request r = make_request(routes::dnd_put, {user_uuid});
  r.json = json{{"enabled", enabled}};
  return fetch_ok(client_, std::move(r));
}

Async<SipLine> ConfdApi::get_user_line_sip(const std::string& user_uuid, std::int64_t line_id) {
  Request r = make_request(routes::line_sip, {user_uuid, std::to_string(line_id)});
  r.query.emplace_back("view", "merged");
  return fetch<SipLine>(client_, std::move(r), sip_line_from_json);
}

Async<std::vector<std::optional<SipLine>>> ConfdApi::get_user_lines_sip(const std::string& user_uuid,
                                                                        const std::vector<std::int64_t>& line_ids) {
  return lines_sip(*this, user_uuid, line_ids, {});
}

Async<std::vector<std::optional<SipLine>>> ConfdApi::get_user_line_sip_from_token(const std::string& user_uuid) {
  Promise<SipLines> p(client_.runtime().executor());
  auto out = p.async();
  auto user = get_user(user_uuid);
  p.on_cancel([user]() mutable { user.cancel(); });
  ConfdApi api = *this;
  user.then([p, api, user_uuid](Result<ConfdUser> u) mutable {
    if (!u) {
      p.set(std::move(u).error());
      return;
    }
    std::vector<std::int64_t> ids;
    std::vector<bool> skip;
    for (const auto& line : u->lines) {
      ids.push_back(line.id);
      skip.push_back(line.endpoint == "sccp" || line.endpoint == "custom");
    }
    auto lines = lines_sip(api, user_uuid, ids, skip);
    p.on_cancel([lines]() mutable { lines.cancel(); });
    lines.then([p](Result<SipLines> r) { p.set(std::move(r)); });
  });
  return out;
}

Async<List<Application>> ConfdApi::list_applications() {
  return fetch<List<Application>>(client_, make_request(routes::applications),
                                  [](const json& j) { return list_from_json<Application>(j, application_from_json); });
}

Async<Infos> ConfdApi::get_infos() { return fetch<Infos>(client_, make_request(routes::infos), infos_from_json); }

Async<std::vector<ExternalApp>> ConfdApi::get_external_apps(const std::string& user_uuid) {
  return fetch<std::vector<ExternalApp>>(client_, make_request(routes::external_apps, {user_uuid}), [](const json& j) {
    return items_from_json<ExternalApp>(j, external_app_from_json);
  });
}

Async<std::optional<ExternalApp>> ConfdApi::get_external_app(const std::string& user_uuid, const std::string& name) {
  Request r = make_request(routes::external_app, {user_uuid, name});
  r.query.emplace_back("view", "fallback");
  r.accept_statuses = {404};
  r.quiet_statuses = {404};
  Promise<std::optional<ExternalApp>> p(client_.runtime().executor());
  auto out = p.async();
  auto inner = client_.send(std::move(r));
  p.on_cancel([inner]() mutable { inner.cancel(); });
  inner.then([p](Result<Response> res) {
    if (!res) {
      p.set(std::move(res).error());
      return;
    }
    if (res->status == 404) {
      p.set(std::optional<ExternalApp>());
      return;
    }
    auto j = res->json();
    if (!j) {
      p.set(std::move(j).error());
      return;
    }
    auto app = external_app_from_json(*j);
    if (!app) {
      p.set(std::move(app).error());
      return;
    }
    p.set(std::optional<ExternalApp>(std::move(app).value()));
  });
  return out;
}

Async<std::vector<Meeting>> ConfdApi::get_my_meetings() {
  return fetch<std::vector<Meeting>>(client_, make_request(routes::my_meetings),
                                     [](const json& j) { return items_from_json<Meeting>(j, meeting_from_json); });
}

Async<Meeting> ConfdApi::create_my_meeting(const MeetingCreate& meeting) {
  Request r = make_request(routes::my_meeting_create);
  r.json = json{{"name", meeting.name},
                {"persistent", meeting.persistent},
                {"require_authorization", meeting.require_authorization}};
  return fetch<Meeting>(client_, std::move(r), meeting_from_json);
}

Async<bool> ConfdApi::update_my_meeting(const std::string& meeting_uuid, const MeetingUpdate& meeting) {
  Request r = make_request(routes::my_meeting_put, {meeting_uuid});
  json body = json::object();
  if (meeting.name) body["name"] = *meeting.name;
  if (meeting.persistent) body["persistent"] = *meeting.persistent;
  if (meeting.require_authorization) body["require_authorization"] = *meeting.require_authorization;
  if (meeting.owner_uuids) body["owner_uuids"] = *meeting.owner_uuids;
  r.json = std::move(body);
  return fetch_ok(client_, std::move(r));
}

Async<bool> ConfdApi::delete_my_meeting(const std::string& meeting_uuid) {
  return fetch_ok(client_, make_request(routes::my_meeting_delete, {meeting_uuid}));
}

Async<Meeting> ConfdApi::get_meeting(const std::string& meeting_uuid) {
  return fetch<Meeting>(client_, make_request(routes::meeting_get, {meeting_uuid}), meeting_from_json);
}

Async<std::vector<MeetingAuthorization>> ConfdApi::meeting_authorizations(const std::string& meeting_uuid) {
  return fetch<std::vector<MeetingAuthorization>>(
      client_, make_request(routes::my_meeting_authorizations, {meeting_uuid}),
      [](const json& j) { return items_from_json<MeetingAuthorization>(j, meeting_authorization_from_json); });
}

// The seed sends `{}` with these two PUTs; the spec declares no body, so none is sent.
Async<bool> ConfdApi::meeting_authorization_reject(const std::string& meeting_uuid,
                                                   const std::string& authorization_uuid) {
  return fetch_ok(client_, make_request(routes::my_meeting_authorization_reject, {meeting_uuid, authorization_uuid}));
}

Async<bool> ConfdApi::meeting_authorization_accept(const std::string& meeting_uuid,
                                                   const std::string& authorization_uuid) {
  return fetch_ok(client_, make_request(routes::my_meeting_authorization_accept, {meeting_uuid, authorization_uuid}));
}

Async<Meeting> ConfdApi::guest_get_meeting(const std::string& meeting_uuid) {
  return fetch<Meeting>(client_, make_request(routes::guest_meeting, {meeting_uuid}), meeting_from_json);
}

Async<MeetingAuthorization> ConfdApi::guest_authorization_request(const std::string& guest_uuid,
                                                                  const std::string& meeting_uuid,
                                                                  const std::string& username) {
  Request r = make_request(routes::guest_authorization_create, {guest_uuid, meeting_uuid});
  r.json = json{{"guest_name", username}};
  return fetch<MeetingAuthorization>(client_, std::move(r), meeting_authorization_from_json);
}

Async<MeetingAuthorization> ConfdApi::guest_authorization_check(const std::string& guest_uuid,
                                                                const std::string& meeting_uuid,
                                                                const std::string& authorization_uuid) {
  return fetch<MeetingAuthorization>(
      client_, make_request(routes::guest_authorization_get, {guest_uuid, meeting_uuid, authorization_uuid}),
      meeting_authorization_from_json);
}

Async<std::vector<CallerId>> ConfdApi::get_outgoing_caller_ids(const std::string& user_uuid) {
  return fetch<std::vector<CallerId>>(client_, make_request(routes::callerids_outgoing, {user_uuid}),
                                      [](const json& j) { return items_from_json<CallerId>(j, caller_id_from_json); });
}

Async<List<BlockNumber>> ConfdApi::get_block_numbers(const BlockNumbersQuery& query) {
  Request r = make_request(routes::block_numbers);
  if (!query.number.empty()) r.query.emplace_back("number", query.number);
  if (!query.label.empty()) r.query.emplace_back("label", query.label);
  if (!query.search.empty()) r.query.emplace_back("search", query.search);
  if (!query.order.empty()) r.query.emplace_back("order", query.order);
  if (!query.direction.empty()) r.query.emplace_back("direction", query.direction);
  if (query.limit) r.query.emplace_back("limit", std::to_string(*query.limit));
  if (query.offset) r.query.emplace_back("offset", std::to_string(*query.offset));
  return fetch<List<BlockNumber>>(client_, std::move(r),
                                  [](const json& j) { return list_from_json<BlockNumber>(j, block_number_from_json); });
}

Async<BlockNumber> ConfdApi::get_block_number(const std::string& uuid) {
  return fetch<BlockNumber>(client_, make_request(routes::block_number_get, {uuid}), block_number_from_json);
}

Async<BlockNumber> ConfdApi::create_block_number(const BlockNumberBody& body) {
  Request r = make_request(routes::block_number_create);
  json j = {{"number", body.number}};
  if (!body.label.empty()) j["label"] = body.label;
  r.json = std::move(j);
  return fetch<BlockNumber>(client_, std::move(r), block_number_from_json);
}

Async<bool> ConfdApi::update_block_number(const std::string& uuid, const BlockNumberBody& body) {
  Request r = make_request(routes::block_number_put, {uuid});
  json j = {{"number", body.number}};
  if (!body.label.empty()) j["label"] = body.label;
  r.json = std::move(j);
  return fetch_ok(client_, std::move(r));
}

Async<bool> ConfdApi::delete_block_number(const std::string& uuid) {
  return fetch_ok(client_, make_request(routes::block_number_delete, {uuid}));
}

}  // namespace wazo::rest
