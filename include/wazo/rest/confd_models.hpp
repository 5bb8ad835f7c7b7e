// Plain models of wazo-confd (users and their lines, forwards and services, SIP endpoints, meetings, blocklist,
// caller ids, external apps, applications, infos). Parsers are tolerant: a missing or mistyped field keeps its
// default, and each model keeps the whole object in `raw`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "wazo/core/result.hpp"
#include "wazo/rest/models.hpp"

namespace wazo::rest {

// --- users ------------------------------------------------------------------------------------------------------

struct LineExtension {
  std::int64_t id = 0;
  std::string exten;
  std::string context;
};

struct UserLine {  // an entry of ConfdUser::lines
  std::int64_t id = 0;
  std::string name;
  std::vector<LineExtension> extensions;
  std::string endpoint;         // "sip", "sccp", "custom", or "" (from endpoint_sip / endpoint_sccp / endpoint_custom)
  nlohmann::json endpoint_sip;  // {uuid, name, label, …} or null
  nlohmann::json raw;
};

struct Forward {
  bool enabled = false;
  std::string destination;
};

enum class ForwardName : std::uint8_t { busy, noanswer, unconditional };
std::string_view to_string(ForwardName name) noexcept;

struct Forwards {
  Forward busy;
  Forward noanswer;
  Forward unconditional;
};

struct ForwardsUpdate {  // update_forward_options: only the set forwards are sent
  std::optional<Forward> busy;
  std::optional<Forward> noanswer;
  std::optional<Forward> unconditional;
};

struct Services {
  bool dnd = false;
  bool incallfilter = false;
};

struct VoicemailRef {
  std::int64_t id = 0;
  std::string name;
};

struct SwitchboardRef {
  std::string uuid;
  std::string name;
};

struct ConfdUser {  // the seed's Profile (GET /users/{uuid})
  std::int64_t id = 0;
  std::string uuid;
  std::string tenant_uuid;
  std::string firstname;
  std::string lastname;
  std::string email;
  std::string username;
  std::string mobile_phone_number;
  std::optional<int> subscription_type;
  std::optional<int> ring_seconds;
  bool online_call_record_enabled = false;
  std::vector<UserLine> lines;
  Forwards forwards;
  Services services;
  std::optional<VoicemailRef> voicemail;
  std::vector<SwitchboardRef> switchboards;
  nlohmann::json agent;                     // {id, number, firstname, lastname} or null
  nlohmann::json incalls;                   // array (or null)
  nlohmann::json call_pickup_target_users;  // array (or null)
  nlohmann::json raw;
};
using Profile = ConfdUser;

// --- SIP lines --------------------------------------------------------------------------------------------------

using KeyValueOptions = std::vector<std::pair<std::string, std::string>>;

// GET /users/{uuid}/lines/{id}/associated/endpoints/sip?view=merged: the endpoint with its templates merged in.
struct SipLine {
  std::int64_t id = 0;  // older engines
  std::string uuid;
  std::string tenant_uuid;
  std::string name;
  std::string label;
  std::string username;  // auth_section_options "username" (or a top-level "username")
  std::string secret;    // auth_section_options "password" (or a top-level "secret")
  std::string host;      // endpoint_section_options "media_address" (or a top-level "host")
  KeyValueOptions auth_section_options;
  KeyValueOptions endpoint_section_options;
  KeyValueOptions aor_section_options;
  nlohmann::json line;   // {id, …} or null
  nlohmann::json trunk;  // or null
  nlohmann::json raw;

  // The first value of `key` in the endpoint section options (nullopt when absent).
  [[nodiscard]] std::optional<std::string> endpoint_option(std::string_view key) const;
  [[nodiscard]] bool is_webrtc() const;             // webrtc = yes
  [[nodiscard]] bool has_video() const;             // allow lists vp8, vp9 or h264
  [[nodiscard]] bool has_video_conference() const;  // max_audio_streams > 0 and max_video_streams > 1
};

// --- meetings ---------------------------------------------------------------------------------------------------

struct Meeting {
  std::string uuid;
  std::string name;
  std::vector<std::string> owner_uuids;
  std::string uri;                      // ingress_http_uri
  std::string guest_sip_authorization;  // base64("username:password"), or empty
  std::string port;
  std::string exten;
  std::string creation_time;
  bool persistent = false;
  bool require_authorization = false;
  nlohmann::json raw;

  // guest_sip_authorization decoded: {username, secret}; nullopt when absent or malformed.
  [[nodiscard]] std::optional<std::pair<std::string, std::string>> guest_sip_credentials() const;
};

struct MeetingCreate {  // create_my_meeting
  std::string name;
  bool persistent = false;
  bool require_authorization = false;
};

struct MeetingUpdate {  // update_my_meeting: only the set fields are sent
  std::optional<std::string> name;
  std::optional<bool> persistent;
  std::optional<bool> require_authorization;
  std::optional<std::vector<std::string>> owner_uuids;
};

struct MeetingAuthorization {
  std::string uuid;
  std::string meeting_uuid;
  std::string guest_uuid;
  std::string guest_name;
  std::string status;  // pending, accepted, rejected
  std::string creation_time;
  std::string sip_authorization;
  nlohmann::json raw;
};

// --- blocklist, caller ids, external apps, applications, infos --------------------------------------------------

struct BlockNumber {
  std::string uuid;
  std::string number;
  std::string label;
  nlohmann::json raw;
};

struct BlockNumberBody {  // create_block_number / update_block_number
  std::string number;
  std::string label;  // empty: not sent
};

struct BlockNumbersQuery {  // get_block_numbers: only the set fields are sent
  std::string number;
  std::string label;
  std::string search;
  std::string order;
  std::string direction;
  std::optional<int> limit;
  std::optional<int> offset;
};

struct CallerId {  // GET /users/{uuid}/callerids/outgoing
  std::string number;
  std::string type;  // main, associated, anonymous, shared
  std::string caller_id_name;
  nlohmann::json raw;
};

struct ExternalApp {
  std::string name;
  std::string label;
  nlohmann::json configuration;
  nlohmann::json raw;
};

struct Application {  // GET /applications
  std::string uuid;
  std::string name;
  std::string tenant_uuid;
  std::string destination;
  nlohmann::json destination_options;
  nlohmann::json raw;
};

struct Infos {  // GET /infos
  std::string uuid;
  std::string wazo_version;
  nlohmann::json raw;
};

Result<ConfdUser> confd_user_from_json(const nlohmann::json& j);
Result<SipLine> sip_line_from_json(const nlohmann::json& j);
Result<Meeting> meeting_from_json(const nlohmann::json& j);
Result<MeetingAuthorization> meeting_authorization_from_json(const nlohmann::json& j);
Result<BlockNumber> block_number_from_json(const nlohmann::json& j);
Result<CallerId> caller_id_from_json(const nlohmann::json& j);
Result<ExternalApp> external_app_from_json(const nlohmann::json& j);
Result<Application> application_from_json(const nlohmann::json& j);
Result<Infos> infos_from_json(const nlohmann::json& j);

}  // namespace wazo::rest
