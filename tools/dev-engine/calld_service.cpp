#include "calld_service.hpp"

#include "access.hpp"

namespace wazo::engine {

namespace {

using http::verb;

constexpr const char* base = "/api/calld/1.0";

}  // namespace

void add_calld_routes(Router& router, State& state, SipProxy& sip) {
  router.add(verb::get, std::string(base) + "/users/me/calls",
             protect(state, "calld.users.me.calls.read", [&sip](Call&, const Access& a) {
               return json_reply(200, Json{{"items", sip.calls_of(a.token.user_uuid)}});
             }));
  router.add(
      verb::delete_, std::string(base) + "/users/me/calls/{call_id}",
      protect(state, "calld.users.me.calls.{call_id}.delete", [&sip](Call& c, const Access& a) {
        const std::string call_id = c.param("call_id");
        switch (sip.hang_up(call_id, a.token.user_uuid)) {
          case SipProxy::HangUp::done:
            return empty_reply(204);
          case SipProxy::HangUp::not_owner:
            return json_reply(403, api_error_body("You are not allowed to hang up this call", "user-permission-denied",
                                                  Json{{"call_id", call_id}}, "calls"));
          case SipProxy::HangUp::unknown:
            break;
        }
        return json_reply(404, api_error_body("No such call", "no-such-call", Json{{"call_id", call_id}}, "calls"));
      }));
}

}  // namespace wazo::engine
