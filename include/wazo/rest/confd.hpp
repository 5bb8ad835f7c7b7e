// The wazo-confd client: the 30 methods of the seed's `client.confd` (base /api/confd/1.1).
// Obtain it with `client.confd()`; it is a light handle sharing the ApiClient's state.
//
// Return types follow the seed: where it returns an array, a std::vector; where it returns the list response,
// a List<T> (total, filtered, items); where it returns the seed's boolean success, Async<bool>.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "wazo/rest/api_client.hpp"
#include "wazo/rest/confd_models.hpp"

namespace wazo::rest {

class ConfdApi {
 public:
  explicit ConfdApi(ApiClient client) : client_(std::move(client)) {}

  // Users, forwards, services.
  Async<List<ConfdUser>> list_users();                      // GET /users
  Async<ConfdUser> get_user(const std::string& user_uuid);  // GET /users/{uuid}
  // PUT /users/{uuid} with the profile's firstname, lastname, email (null when empty) and mobile_phone_number.
  Async<bool> update_user(const std::string& user_uuid, const ConfdUser& profile);
  Async<bool> update_forward_option(const std::string& user_uuid, ForwardName key, const std::string& destination,
                                    bool enabled);  // PUT /users/{uuid}/forwards/{key}
  Async<bool> update_forward_options(const std::string& user_uuid,
                                     const ForwardsUpdate& options);              // PUT /users/{uuid}/forwards
  Async<bool> update_do_not_disturb(const std::string& user_uuid, bool enabled);  // PUT /users/{uuid}/services/dnd

  // SIP lines. GET /users/{uuid}/lines/{line_id}/associated/endpoints/sip?view=merged.
  Async<SipLine> get_user_line_sip(const std::string& user_uuid, std::int64_t line_id);
  // One request per line, sent together; a line whose request fails (e.g. 404 for an SCCP or custom line) is
  // nullopt instead of failing the whole call (the seed's #680).
  Async<std::vector<std::optional<SipLine>>> get_user_lines_sip(const std::string& user_uuid,
                                                                const std::vector<std::int64_t>& line_ids);
  // get_user, then get_user_lines_sip over the user's lines (in order; lines known to be SCCP or custom are
  // nullopt without a request). Fails only when get_user fails.
  Async<std::vector<std::optional<SipLine>>> get_user_line_sip_from_token(const std::string& user_uuid);

  // Engine.
  Async<List<Application>> list_applications();  // GET /applications
  Async<Infos> get_infos();                      // GET /infos

  // External apps.
  Async<std::vector<ExternalApp>> get_external_apps(const std::string& user_uuid);  // GET /users/{uuid}/external/apps
  // GET /users/{uuid}/external/apps/{name}?view=fallback; nullopt when the app does not exist (404).
  Async<std::optional<ExternalApp>> get_external_app(const std::string& user_uuid, const std::string& name);

  // Meetings.
  Async<std::vector<Meeting>> get_my_meetings();                   // GET /users/me/meetings
  Async<Meeting> create_my_meeting(const MeetingCreate& meeting);  // POST /users/me/meetings
  Async<bool> update_my_meeting(const std::string& meeting_uuid,
                                const MeetingUpdate& meeting);     // PUT /users/me/meetings/{uuid}
  Async<bool> delete_my_meeting(const std::string& meeting_uuid);  // DELETE /users/me/meetings/{uuid}
  Async<Meeting> get_meeting(const std::string& meeting_uuid);     // GET /meetings/{uuid}
  Async<std::vector<MeetingAuthorization>> meeting_authorizations(
      const std::string& meeting_uuid);  // GET /users/me/meetings/{uuid}/authorizations
  Async<bool> meeting_authorization_reject(const std::string& meeting_uuid,
                                           const std::string& authorization_uuid);  // PUT …/{auth_uuid}/reject
  Async<bool> meeting_authorization_accept(const std::string& meeting_uuid,
                                           const std::string& authorization_uuid);  // PUT …/{auth_uuid}/accept
  Async<Meeting> guest_get_meeting(const std::string& meeting_uuid);                // GET /guests/me/meetings/{uuid}
  Async<MeetingAuthorization> guest_authorization_request(
      const std::string& guest_uuid, const std::string& meeting_uuid,
      const std::string& username);  // POST /guests/{guest_uuid}/meetings/{uuid}/authorizations
  Async<MeetingAuthorization> guest_authorization_check(
      const std::string& guest_uuid, const std::string& meeting_uuid,
      const std::string& authorization_uuid);  // GET /guests/{guest_uuid}/meetings/{uuid}/authorizations/{auth}

  // Caller ids and blocklist.
  Async<std::vector<CallerId>> get_outgoing_caller_ids(const std::string& user_uuid);  // GET …/callerids/outgoing
  Async<List<BlockNumber>> get_block_numbers(const BlockNumbersQuery& query = {});  // GET /users/me/blocklist/numbers
  Async<BlockNumber> get_block_number(const std::string& uuid);                     // GET …/numbers/{uuid}
  Async<BlockNumber> create_block_number(const BlockNumberBody& body);              // POST …/numbers
  Async<bool> update_block_number(const std::string& uuid, const BlockNumberBody& body);  // PUT …/numbers/{uuid}
  Async<bool> delete_block_number(const std::string& uuid);                               // DELETE …/numbers/{uuid}

  [[nodiscard]] ApiClient& client() noexcept { return client_; }

 private:
  ApiClient client_;
};

}  // namespace wazo::rest
