#include "wazo/rest/chatd.hpp"

#include <memory>
#include <mutex>
#include <optional>

#include "rest/detail/json.hpp"
#include "rest/detail/service.hpp"

namespace wazo::rest {

namespace {

using detail::fetch;
using detail::fetch_ok;
using detail::flag;
using detail::gather;
using detail::integer;
using detail::items_from_json;
using detail::make_request;
using detail::not_object;
using detail::Route;
using detail::str;
using nlohmann::json;

// The wazo-chatd routes the client uses, as data.
namespace routes {
constexpr Route presence_get{Method::get, "chatd/1.0/users/{user_uuid}/presences"};
constexpr Route presence_put{Method::put, "chatd/1.0/users/{user_uuid}/presences"};
constexpr Route presences{Method::get, "chatd/1.0/users/presences"};
constexpr Route rooms{Method::get, "chatd/1.0/users/me/rooms"};
constexpr Route room_create{Method::post, "chatd/1.0/users/me/rooms"};
constexpr Route room_messages{Method::get, "chatd/1.0/users/me/rooms/{room_uuid}/messages"};
constexpr Route room_message_create{Method::post, "chatd/1.0/users/me/rooms/{room_uuid}/messages"};
constexpr Route messages{Method::get, "chatd/1.0/users/me/rooms/messages"};
constexpr Route identities{Method::get, "chatd/1.0/users/me/identities"};
}  // namespace routes

Result<std::vector<Presence>> parse_presence_items(const json& j) {
  return items_from_json<Presence>(j, presence_from_json);
}

Async<std::vector<Presence>> fetch_presences(ApiClient& client, const std::vector<std::string>& user_uuids) {
  Request r = make_request(routes::presences);
  if (!user_uuids.empty()) {
    std::string joined;
    for (const auto& uuid : user_uuids) {
      if (!joined.empty()) joined += ',';
      joined += uuid;
    }
    r.query.emplace_back("user_uuid", std::move(joined));
  }
  return fetch<std::vector<Presence>>(client, std::move(r), parse_presence_items);
}

}  // namespace

// --- models -----------------------------------------------------------------------------------------------------

Result<Presence> presence_from_json(const json& j) {
  if (!j.is_object()) return not_object("presence");
  Presence p;
  p.uuid = str(j, "uuid");
  if (p.uuid.empty()) p.uuid = str(j, "user_uuid");  // older chatd
  p.tenant_uuid = str(j, "tenant_uuid");
  p.state = str(j, "state");
  p.status = str(j, "status");
  p.last_activity = str(j, "last_activity");
  p.line_state = str(j, "line_state");
  p.mobile = flag(j, "mobile");
  p.do_not_disturb = flag(j, "do_not_disturb");
  p.connected = flag(j, "connected");
  if (auto it = j.find("lines"); it != j.end() && it->is_array()) {
    for (const auto& line : *it) {
      if (line.is_object()) p.lines.push_back(PresenceLine{integer(line, "id"), str(line, "state")});
    }
  }
  p.raw = j;
  return p;
}

Result<ChatRoom> chat_room_from_json(const json& j) {
  if (!j.is_object()) return not_object("room");
  ChatRoom room;
  room.uuid = str(j, "uuid");
  room.name = str(j, "name");
  if (auto it = j.find("users"); it != j.end() && it->is_array()) {
    for (const auto& u : *it) {
      if (u.is_object())
        room.users.push_back(ChatUser{str(u, "uuid"), str(u, "tenant_uuid"), str(u, "wazo_uuid"), str(u, "identity")});
    }
  }
  room.raw = j;
  return room;
}

Result<ChatMessage> chat_message_from_json(const json& j) {
  if (!j.is_object()) return not_object("message");
  ChatMessage m;
  m.uuid = str(j, "uuid");
  m.content = str(j, "content");
  m.alias = str(j, "alias");
  m.user_uuid = str(j, "user_uuid");
  m.tenant_uuid = str(j, "tenant_uuid");
  m.wazo_uuid = str(j, "wazo_uuid");
  m.created_at = str(j, "created_at");
  if (auto it = j.find("room"); it != j.end() && it->is_object()) m.room_uuid = str(*it, "uuid");
  m.raw = j;
  return m;
}

Result<UserIdentity> user_identity_from_json(const json& j) {
  if (!j.is_object()) return not_object("identity");
  return UserIdentity{str(j, "uuid"), str(j, "backend"), str(j, "type"), str(j, "identity"), j};
}

json to_json(const ChatUser& user) {
  json j = {{"uuid", user.uuid}};
  if (!user.tenant_uuid.empty()) j["tenant_uuid"] = user.tenant_uuid;
  if (!user.wazo_uuid.empty()) j["wazo_uuid"] = user.wazo_uuid;
  if (!user.identity.empty()) j["identity"] = user.identity;
  return j;
}

std::string lines_state(const std::vector<PresenceLine>& lines) {
  std::string result = "unavailable";
  for (const auto& line : lines) {
    if (line.state == "ringing" || line.state == "talking") return line.state;
    if (line.state == "available") result = "available";
  }
  return result;
}

Query messages_query(const GetMessagesOptions& o) {
  Query q;
  if (!o.direction.empty()) q.emplace_back("direction", o.direction);
  if (o.limit) q.emplace_back("limit", std::to_string(*o.limit));
  if (!o.order.empty()) q.emplace_back("order", o.order);
  if (o.offset) q.emplace_back("offset", std::to_string(*o.offset));
  if (!o.search.empty()) q.emplace_back("search", o.search);
  if (!o.from_date.empty()) q.emplace_back("from_date", o.from_date);
  if (!o.distinct.empty()) q.emplace_back("distinct", o.distinct);
  return q;
}

// --- the client ---------------------------------------------------------------------------------------------------

Async<bool> ChatdApi::update_state(const std::string& user_uuid, const std::string& state) {
  Request r = make_request(routes::presence_put, {user_uuid});
  r.json = json{{"state", state}};
  return fetch_ok(client_, std::move(r));
}

Async<bool> ChatdApi::update_status(const std::string& user_uuid, const std::string& state, const std::string& status) {
  Request r = make_request(routes::presence_put, {user_uuid});
  r.json = json{{"state", state}, {"status", status}};
  return fetch_ok(client_, std::move(r));
}

Async<std::string> ChatdApi::get_state(const std::string& user_uuid) {
  return fetch<std::string>(client_, make_request(routes::presence_get, {user_uuid}), [](const json& j) {
    return presence_from_json(j).map([](Presence p) { return p.state; });
  });
}

Async<Presence> ChatdApi::get_contact_status_info(const std::string& user_uuid) {
  return fetch<Presence>(client_, make_request(routes::presence_get, {user_uuid}), presence_from_json);
}

Async<std::string> ChatdApi::get_line_state(const std::string& user_uuid) {
  return fetch<std::string>(client_, make_request(routes::presence_get, {user_uuid}), [](const json& j) {
    return presence_from_json(j).map([](Presence p) { return lines_state(p.lines); });
  });
}

Async<std::vector<Presence>> ChatdApi::get_multiple_line_state(const std::vector<std::string>& user_uuids) {
  if (user_uuids.size() <= kMaxPresencesPerRequest) return fetch_presences(client_, user_uuids);
  std::vector<Async<std::vector<Presence>>> parts;
  for (std::size_t i = 0; i < user_uuids.size(); i += kMaxPresencesPerRequest) {
    const auto end =
        user_uuids.begin() + static_cast<std::ptrdiff_t>(std::min(user_uuids.size(), i + kMaxPresencesPerRequest));
    parts.push_back(
        fetch_presences(client_, std::vector<std::string>(user_uuids.begin() + static_cast<std::ptrdiff_t>(i), end)));
  }
  Promise<std::vector<Presence>> p(client_.runtime().executor());
  auto out = p.async();
  auto all = gather(client_, std::move(parts));
  p.on_cancel([all]() mutable { all.cancel(); });
  all.then([p](Result<std::vector<Result<std::vector<Presence>>>> results) {
    if (!results) {
      p.set(std::move(results).error());
      return;
    }
    std::vector<Presence> flat;
    for (auto& chunk : *results) {
      if (!chunk) {
        p.set(std::move(chunk).error());
        return;
      }
      for (auto& presence : *chunk) flat.push_back(std::move(presence));
    }
    p.set(std::move(flat));
  });
  return out;
}

Async<std::vector<ChatRoom>> ChatdApi::get_user_rooms() {
  return fetch<std::vector<ChatRoom>>(client_, make_request(routes::rooms),
                                      [](const json& j) { return items_from_json<ChatRoom>(j, chat_room_from_json); });
}

Async<ChatRoom> ChatdApi::create_room(const std::string& name, const std::vector<ChatUser>& users) {
  Request r = make_request(routes::room_create);
  json body = {{"users", json::array()}};
  if (!name.empty()) body["name"] = name;
  for (const auto& u : users) body["users"].push_back(to_json(u));
  r.json = std::move(body);
  return fetch<ChatRoom>(client_, std::move(r), chat_room_from_json);
}

Async<std::vector<ChatMessage>> ChatdApi::get_room_messages(const std::string& room_uuid,
                                                            const GetMessagesOptions& options) {
  Request r = make_request(routes::room_messages, {room_uuid});
  r.query = messages_query(options);
  return fetch<std::vector<ChatMessage>>(
      client_, std::move(r), [](const json& j) { return items_from_json<ChatMessage>(j, chat_message_from_json); });
}

Async<ChatMessage> ChatdApi::send_room_message(const std::string& room_uuid, const ChatMessageDraft& message,
                                               const std::string& sender_identity_uuid) {
  Request r = make_request(routes::room_message_create, {room_uuid});
  json body = {{"content", message.content}};
  if (!message.alias.empty()) body["alias"] = message.alias;
  if (!sender_identity_uuid.empty()) body["sender_identity_uuid"] = sender_identity_uuid;
  r.json = std::move(body);
  return fetch<ChatMessage>(client_, std::move(r), chat_message_from_json);
}

Async<List<ChatMessage>> ChatdApi::get_messages(const GetMessagesOptions& options) {
  Request r = make_request(routes::messages);
  r.query = messages_query(options);
  return fetch<List<ChatMessage>>(client_, std::move(r),
                                  [](const json& j) { return list_from_json<ChatMessage>(j, chat_message_from_json); });
}

Async<std::vector<UserIdentity>> ChatdApi::get_identities(const std::string& room_uuid) {
  Request r = make_request(routes::identities);
  if (!room_uuid.empty()) r.query.emplace_back("room_uuid", room_uuid);
  return fetch<std::vector<UserIdentity>>(
      client_, std::move(r), [](const json& j) { return items_from_json<UserIdentity>(j, user_identity_from_json); });
}

}  // namespace wazo::rest
