// wazo-chatd (/api/chatd/1.0) as the dev engine serves it: presences, rooms and room messages, with their bus events
// (chatd_presence_updated, chatd_user_room_created, chatd_user_room_message_created). Follows wazo-chatd.json.
// A user is `connected` while they have a live session (as chatd tracks wazo-auth sessions); they have no lines,
// so `line_state` is "unavailable".
#pragma once

#include "bus.hpp"
#include "router.hpp"
#include "state.hpp"

namespace wazo::engine {

void add_chatd_routes(Router& router, State& state, Bus& bus);

// The Presence schema of a user.
Json presence_json(const State& state, const User& user);
// Publishes chatd_presence_updated for the user (after a change of presence, DND or connection).
void publish_presence(const State& state, Bus& bus, const User& user);

}  // namespace wazo::engine
