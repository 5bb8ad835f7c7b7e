// Unauthenticated dev-only hooks under /_dev/ for fault tests: publish any event, push raw frames, stall or close
// every websocket, and the engine's metrics. Loopback use only (the engine warns when listening elsewhere).
#pragma once

#include "bus.hpp"
#include "router.hpp"
#include "sip_proxy.hpp"
#include "state.hpp"
#include "websocket.hpp"

namespace wazo::engine {

// `sip`: the SIP registrar whose counts /_dev/metrics shows (sip_registrations, sip_connections, sip), when set.
void add_dev_routes(Router& router, State& state, Bus& bus, WebsocketHub& hub, const SipProxy* sip = nullptr);

}  // namespace wazo::engine
