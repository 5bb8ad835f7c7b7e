// wazo-confd (/api/confd/1.1) as the dev engine serves it: /infos, users (by id or uuid), their services (dnd,
// incallfilter) and call forwards (busy, noanswer, unconditional), with the users_services_*_updated and
// users_forwards_*_updated events; each seeded user's WebRTC SIP line (GET /users/{id}/lines, /lines, /lines/{id},
// /users/{uuid}/lines/{id|main}/associated/endpoints/sip[?view=merged], /endpoints/sip/{uuid}: the SIP credentials
// in auth_section_options, webrtc=yes and the codecs in the endpoint options, merged from the "webrtc" template).
// Follows wazo-confd.json (PUTs answer 204; validation errors are a list of strings).
#pragma once

#include "bus.hpp"
#include "router.hpp"
#include "state.hpp"

namespace wazo::engine {

void add_confd_routes(Router& router, State& state, Bus& bus);

}  // namespace wazo::engine
