// The bus events the dev engine publishes, built as wazo-bus builds them (events/events-catalog.json): name,
// audience, required ACL and payload keys.
#pragma once

#include <string>

#include "bus.hpp"
#include "state.hpp"

namespace wazo::engine::events {

Event session_created(const SessionRecord& s);  // auth_session_created
Event session_deleted(const SessionRecord& s);  // auth_session_deleted
Event session_expire_soon(const Token& t);      // auth_session_expire_soon
Event presence_updated(const Json& presence);   // chatd_presence_updated (the Presence schema)
// chatd_user_room_created / chatd_user_room_message_created, for one member of the room.
Event user_room_created(const Json& room, const std::string& tenant_uuid, const std::string& member);
Event user_room_message_created(const Json& message, const std::string& room_uuid, const std::string& tenant_uuid,
                                const std::string& member);
// users_services_{service}_updated / users_forwards_{forward}_updated.
Event user_service_updated(const User& u, const std::string& service, bool enabled);
Event user_forward_updated(const User& u, const std::string& forward, const Forward& f);
// calld's call_created / call_answered / call_updated / call_ended: `call` is the Call model of the user's leg.
Event call_event(const std::string& name, const Json& call, const std::string& tenant_uuid,
                 const std::string& user_uuid);
// calld's call_held / call_resumed of one leg.
Event call_hold_event(bool held, const std::string& call_id, const std::string& tenant_uuid,
                      const std::string& user_uuid);

}  // namespace wazo::engine::events
