// wazo-calld (/api/calld/1.0) as the dev engine serves it: the token user's calls, from the SIP proxy's relayed
// calls (calls.hpp). GET /users/me/calls lists the user's live legs ({"items": [Call, ...]}, as wazo-calld.json
// says); DELETE /users/me/calls/{call_id} hangs one up (204; 404 unknown; 403 another user's leg).
#pragma once

#include "router.hpp"
#include "sip_proxy.hpp"
#include "state.hpp"

namespace wazo::engine {

void add_calld_routes(Router& router, State& state, SipProxy& sip);

}  // namespace wazo::engine
