// Unauthenticated dev-only hooks under /_dev/ for fault tests: publish any event, push raw frames, stall or close
// every websocket, and the engine's metrics. Loopback use only (the engine warns when listening elsewhere).
#pragma once

#include "bus.hpp"
#include "router.hpp"
#include "state.hpp"
#include "websocket.hpp"

namespace wazo::engine {

void add_dev_routes(Router& router, State& state, Bus& bus, WebsocketHub& hub);

}  // namespace wazo::engine
