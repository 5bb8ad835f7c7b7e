#include "events.hpp"

namespace wazo::engine::events {

namespace {

Event user_event(std::string name, Json data, std::string acl, std::string tenant, std::string user) {
  return Event{.name = std::move(name),
               .data = std::move(data),
               .required_acl = std::move(acl),
               .tenant_uuid = std::move(tenant),
               .audience = Audience::user,
               .user_uuids = {std::move(user)}};
}

}  // namespace

Event session_created(const SessionRecord& s) {
  return user_event(
      "auth_session_created",
      {{"uuid", s.uuid}, {"tenant_uuid", s.tenant_uuid}, {"user_uuid", s.user_uuid}, {"mobile", s.mobile}},
      "events.auth.sessions." + s.uuid + ".created", s.tenant_uuid, s.user_uuid);
}

Event session_deleted(const SessionRecord& s) {
  return user_event("auth_session_deleted",
                    {{"uuid", s.uuid}, {"user_uuid", s.user_uuid}, {"tenant_uuid", s.tenant_uuid}},
                    "events.auth.sessions." + s.uuid + ".deleted", s.tenant_uuid, s.user_uuid);
}

Event session_expire_soon(const Token& t) {
  return user_event("auth_session_expire_soon",
                    {{"uuid", t.session_uuid}, {"user_uuid", t.user_uuid}, {"tenant_uuid", t.tenant_uuid}},
                    "events.auth.users." + t.user_uuid + ".sessions." + t.session_uuid + ".expire_soon", t.tenant_uuid,
                    t.user_uuid);
}

Event presence_updated(const Json& presence) {
  const std::string uuid = presence.value("uuid", "");
  return Event{.name = "chatd_presence_updated",
               .data = presence,
               .required_acl = "events.chatd.users." + uuid + ".presences.updated",
               .tenant_uuid = presence.value("tenant_uuid", ""),
               .audience = Audience::tenant,
               .user_uuids = {}};
}

Event user_room_created(const Json& room, const std::string& tenant_uuid, const std::string& member) {
  return user_event("chatd_user_room_created", room, "events.chatd.users." + member + ".rooms.created", tenant_uuid,
                    member);
}

Event user_room_message_created(const Json& message, const std::string& room_uuid, const std::string& tenant_uuid,
                                const std::string& member) {
  return user_event("chatd_user_room_message_created", message,
                    "events.chatd.users." + member + ".rooms." + room_uuid + ".messages.created", tenant_uuid, member);
}

Event user_service_updated(const User& u, const std::string& service, bool enabled) {
  return user_event(
      "users_services_" + service + "_updated",
      {{"user_id", u.confd_id}, {"user_uuid", u.uuid}, {"tenant_uuid", u.tenant_uuid}, {"enabled", enabled}},
      "events.config.users." + u.uuid + ".services." + service + ".updated", u.tenant_uuid, u.uuid);
}

Event user_forward_updated(const User& u, const std::string& forward, const Forward& f) {
  return user_event("users_forwards_" + forward + "_updated",
                    {{"user_id", u.confd_id},
                     {"user_uuid", u.uuid},
                     {"tenant_uuid", u.tenant_uuid},
                     {"enabled", f.enabled},
                     {"destination", f.destination.empty() ? Json(nullptr) : Json(f.destination)}},
                    "events.config.users." + u.uuid + ".forwards." + forward + ".updated", u.tenant_uuid, u.uuid);
}

Event call_event(const std::string& name, const Json& call, const std::string& tenant_uuid,
                 const std::string& user_uuid) {
  return user_event(name, call, "events.calls." + user_uuid, tenant_uuid, user_uuid);
}

Event call_hold_event(bool held, const std::string& call_id, const std::string& tenant_uuid,
                      const std::string& user_uuid) {
  return user_event(held ? "call_held" : "call_resumed", {{"call_id", call_id}, {"user_uuid", user_uuid}},
                    "events.calls." + user_uuid, tenant_uuid, user_uuid);
}

}  // namespace wazo::engine::events
