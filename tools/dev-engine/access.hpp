// Access control as Wazo does it (xivo auth_verifier): ACL patterns and the token/tenant checks of a request.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "router.hpp"
#include "state.hpp"

namespace wazo::engine {

// Does one ACL entry grant `required`? Words are dot-separated; `*` matches one word, `#` any number,
// `me` the token's user uuid, `my_session` its session uuid; `edit` is an alias of `update`.
bool acl_entry_matches(std::string_view entry, std::string_view required, const std::string& user_uuid,
                       const std::string& session_uuid);
// Is `required` granted by the ACL? A leading `!` negates an entry (and wins).
bool acl_grants(const std::vector<std::string>& acl, std::string_view required, const std::string& user_uuid,
                const std::string& session_uuid);

// Who is calling, once the checks passed.
struct Access {
  Token token;         // a copy: handlers may revoke the token they came with
  std::string tenant;  // the tenant the request acts on: Wazo-Tenant, or the token's own
};

// Checks X-Auth-Token (401 when missing, unknown or expired), Wazo-Tenant (401 unauthorized-tenant when it is
// not the token's tenant or below it) and the ACL (403). `acl` may hold {param} placeholders; a `me` user_uuid
// parameter is replaced by the token's user before the check and in call.params.
using Protected = std::function<Reply(Call&, const Access&)>;
Handler protect(State& state, std::string acl, Protected handler);

// Common replies.
Reply not_found(std::string_view resource, std::string_view what = {});
Reply bad_request(std::string_view message, Json details = Json::object());
Reply conflict(std::string_view message, std::string_view resource);

}  // namespace wazo::engine
