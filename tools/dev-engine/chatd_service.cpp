#include "chatd_service.hpp"

#include <algorithm>
#include <set>

#include "access.hpp"
#include "events.hpp"
#include "service_util.hpp"

namespace wazo::engine {

namespace {

using http::verb;

constexpr const char* base = "/api/chatd/1.0";
constexpr std::size_t max_room_users = 100;
constexpr std::size_t max_alias = 256;
constexpr std::size_t max_content = 64 * 1024;

Json null_if_empty(const std::string& s) { return s.empty() ? Json(nullptr) : Json(s); }

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    const std::size_t comma = std::min(s.find(',', start), s.size());
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

Json room_json(const Room& r) {
  Json users = Json::array();
  for (const auto& u : r.users) {
    users.push_back({{"uuid", u.uuid}, {"tenant_uuid", u.tenant_uuid}, {"wazo_uuid", u.wazo_uuid}});
  }
  return Json{{"uuid", r.uuid}, {"tenant_uuid", r.tenant_uuid}, {"name", null_if_empty(r.name)}, {"users", users}};
}

Json message_json(const ChatMessage& m) {
  return Json{{"uuid", m.uuid},
              {"content", m.content},
              {"alias", null_if_empty(m.alias)},
              {"user_uuid", m.user_uuid},
              {"tenant_uuid", m.tenant_uuid},
              {"wazo_uuid", m.wazo_uuid},
              {"created_at", iso_time_utc(m.created_at)},
              {"room", {{"uuid", m.room_uuid}}},
              {"delivery", {{"type", "internal"}, {"backend", nullptr}, {"recipients", Json::array()}}}};
}

bool member_of(const Room& r, const std::string& user_uuid) {
  return std::any_of(r.users.begin(), r.users.end(), [&](const RoomUser& u) { return u.uuid == user_uuid; });
}

class ChatdService {
 public:
  ChatdService(Router& router, State& state, Bus& bus) : r_(router), s_(state), bus_(bus) {}

  void add_routes() {
    guarded(verb::get, "/users/presences", "chatd.users.presences.read",
            [this](Call& c, const Access& a) { return list_presences(c, a); });
    guarded(verb::get, "/users/{user_uuid}/presences", "chatd.users.{user_uuid}.presences.read",
            [this](Call& c, const Access& a) {
              const User* u = visible_user(a, c.param("user_uuid"));
              if (u == nullptr) return not_found("user", c.param("user_uuid"));
              return json_reply(200, presence_json(s_, *u));
            });
    guarded(verb::put, "/users/{user_uuid}/presences", "chatd.users.{user_uuid}.presences.update",
            [this](Call& c, const Access& a) { return update_presence(c, a); });
    guarded(verb::post, "/users/me/rooms", "chatd.users.me.rooms.create",
            [this](Call& c, const Access& a) { return create_room(c, a); });
    guarded(verb::get, "/users/me/rooms", "chatd.users.me.rooms.read",
            [this](Call& c, const Access& a) { return list_rooms(c, a); });
    guarded(verb::post, "/users/me/rooms/{room_uuid}/messages", "chatd.users.me.rooms.{room_uuid}.messages.create",
            [this](Call& c, const Access& a) { return create_message(c, a); });
    guarded(verb::get, "/users/me/rooms/{room_uuid}/messages", "chatd.users.me.rooms.{room_uuid}.messages.read",
            [this](Call& c, const Access& a) {
              const Room* room = my_room(a, c.param("room_uuid"));
              if (room == nullptr) return not_found("room", c.param("room_uuid"));
              std::vector<const ChatMessage*> all;
              for (const auto& m : s_.messages) {
                if (m.room_uuid == room->uuid) all.push_back(&m);
              }
              return list_messages(c, std::move(all), false);
            });
    guarded(verb::get, "/users/me/rooms/messages", "chatd.users.me.rooms.messages.read",
            [this](Call& c, const Access& a) {
              std::vector<const ChatMessage*> all;
              for (const auto& m : s_.messages) {
                auto room = s_.rooms.find(m.room_uuid);
                if (room != s_.rooms.end() && member_of(room->second, a.token.user_uuid)) all.push_back(&m);
              }
              return list_messages(c, std::move(all), true);
            });
  }

 private:
  void guarded(verb method, const char* path, std::string acl, Protected handler) {
    r_.add(method, std::string(base) + path, protect(s_, std::move(acl), std::move(handler)));
  }

  // A user of the acting tenant or below it.
  const User* visible_user(const Access& a, const std::string& uuid) {
    const User* u = s_.user(uuid);
    return (u != nullptr && s_.tenant_within(u->tenant_uuid, a.tenant)) ? u : nullptr;
  }

  const Room* my_room(const Access& a, const std::string& uuid) {
    auto it = s_.rooms.find(uuid);
    return (it != s_.rooms.end() && member_of(it->second, a.token.user_uuid)) ? &it->second : nullptr;
  }

  Reply list_presences(Call& c, const Access& a) {
    const bool recurse = c.query_value("recurse") == "true";
    std::vector<Json> items;
    std::size_t total = 0;
    const auto wanted = split_commas(c.query_value("user_uuid").value_or(""));
    for (const auto& [uuid, u] : s_.users) {
      const bool in_scope = recurse ? s_.tenant_within(u.tenant_uuid, a.tenant) : u.tenant_uuid == a.tenant;
      if (!in_scope) continue;
      ++total;
      if (wanted.empty() || std::find(wanted.begin(), wanted.end(), uuid) != wanted.end())
        items.push_back(presence_json(s_, u));
    }
    if (!wanted.empty() && items.size() != std::set<std::string>(wanted.begin(), wanted.end()).size()) {
      return json_reply(404, api_error_body("No such user", "unknown-users", Json{{"uuids", wanted}}, "users"));
    }
    return json_reply(200, Json{{"items", items}, {"filtered", items.size()}, {"total", total}});
  }

  Reply update_presence(Call& c, const Access& a) {
    User* u = s_.user(c.param("user_uuid"));
    if (u == nullptr || !s_.tenant_within(u->tenant_uuid, a.tenant)) return not_found("user", c.param("user_uuid"));
    auto body = c.json();
    if (!body || !body->is_object()) return bad_request("Invalid JSON body: an object is expected");
    auto state = body->find("state");
    static const std::set<std::string, std::less<>> states = {"available", "away", "unavailable", "invisible"};
    if (state == body->end() || !state->is_string() || states.count(state->get<std::string>()) == 0) {
      return bad_request("Sent data is invalid",
                         Json{{"state",
                               {{"constraint_id", "one_of"},
                                {"message", "Must be one of: available, away, unavailable, invisible."}}}});
    }
    std::string status = u->presence.status;
    if (auto it = body->find("status"); it != body->end()) {
      if (!it->is_string() && !it->is_null())
        return bad_request("Sent data is invalid", Json{{"status", {{"message", "Not a valid string."}}}});
      status = it->is_string() ? it->get<std::string>() : std::string();
      if (status.size() > 1024) return bad_request("Sent data is invalid", Json{{"status", "too long"}});
    }
    u->presence.state = state->get<std::string>();
    u->presence.status = status;
    u->presence.last_activity = Clock::now();
    publish_presence(s_, bus_, *u);
    return empty_reply(204);
  }

  Reply create_room(Call& c, const Access& a) {
    auto body = c.json();
    if (!body || !body->is_object()) return bad_request("Invalid JSON body: an object is expected");
    Room room;
    if (auto it = body->find("name"); it != body->end() && !it->is_null()) {
      if (!it->is_string()) return bad_request("Sent data is invalid", Json{{"name", "Not a valid string."}});
      room.name = it->get<std::string>();
    }
    auto users = body->find("users");
    if (users == body->end() || !users->is_array() || users->size() > max_room_users)
      return bad_request("Sent data is invalid", Json{{"users", "a list of at most 100 users is required"}});
    const std::string me = a.token.user_uuid;
    std::set<std::string> seen;
    for (const auto& entry : *users) {
      if (!entry.is_object() || !entry.contains("uuid") || !entry["uuid"].is_string())
        return bad_request("Sent data is invalid", Json{{"users", "each user needs a uuid"}});
      RoomUser member{entry["uuid"].get<std::string>(), str(entry, "tenant_uuid"), str(entry, "wazo_uuid")};
      if (member.tenant_uuid.empty()) member.tenant_uuid = a.token.tenant_uuid;
      if (member.wazo_uuid.empty()) member.wazo_uuid = s_.engine_uuid;
      if (seen.insert(member.uuid).second) room.users.push_back(std::move(member));
    }
    if (seen.insert(me).second) room.users.push_back({me, a.token.tenant_uuid, s_.engine_uuid});
    // >= 22.16: a room with the same participants is returned instead of a new one.
    for (const auto& [uuid, existing] : s_.rooms) {
      std::set<std::string> members;
      for (const auto& m : existing.users) members.insert(m.uuid);
      if (members == seen) return json_reply(201, room_json(existing));
    }
    room.uuid = new_uuid();
    room.tenant_uuid = a.token.tenant_uuid;
    const Room& stored = s_.rooms[room.uuid] = std::move(room);
    const Json payload = room_json(stored);
    for (const auto& m : stored.users) bus_.publish(events::user_room_created(payload, stored.tenant_uuid, m.uuid));
    return json_reply(201, payload);
  }

  Reply list_rooms(Call& c, const Access& a) {
    const auto wanted = split_commas(c.query_value("user_uuid").value_or(""));
    std::vector<Json> items;
    std::size_t total = 0;
    for (const auto& [uuid, room] : s_.rooms) {
      if (!member_of(room, a.token.user_uuid)) continue;
      ++total;
      if (std::all_of(wanted.begin(), wanted.end(), [&](const std::string& w) { return member_of(room, w); }))
        items.push_back(room_json(room));
    }
    return json_reply(200, Json{{"items", items}, {"filtered", items.size()}, {"total", total}});
  }

  Reply create_message(Call& c, const Access& a) {
    const Room* room = my_room(a, c.param("room_uuid"));
    if (room == nullptr) return not_found("room", c.param("room_uuid"));
    auto body = c.json();
    if (!body || !body->is_object()) return bad_request("Invalid JSON body: an object is expected");
    auto content = body->find("content");
    if (content == body->end() || !content->is_string() || content->get<std::string>().size() > max_content)
      return bad_request("Sent data is invalid", Json{{"content", "a string is required"}});
    std::string alias;
    if (auto it = body->find("alias"); it != body->end() && !it->is_null()) {
      if (!it->is_string() || it->get<std::string>().size() > max_alias)
        return bad_request("Sent data is invalid", Json{{"alias", "a string of at most 256 characters"}});
      alias = it->get<std::string>();
    }
    ChatMessage m{new_uuid(),     room->uuid,        content->get<std::string>(),
                  alias,          a.token.user_uuid, a.token.tenant_uuid,
                  s_.engine_uuid, Clock::now()};
    // Two messages in the same microsecond would sort ambiguously; keep creation order.
    if (!s_.messages.empty() && m.created_at <= s_.messages.back().created_at)
      m.created_at = s_.messages.back().created_at + std::chrono::microseconds(1);
    s_.messages.push_back(m);
    const Json payload = message_json(m);
    for (const auto& member : room->users)
      bus_.publish(events::user_room_message_created(payload, room->uuid, room->tenant_uuid, member.uuid));
    return json_reply(201, payload);
  }

  // GET …/messages: from_date, search, direction (desc), order (created_at), limit, offset; `distinct=room_uuid`
  // keeps each room's latest message (the all-rooms list needs `search` or `distinct`).
  Reply list_messages(Call& c, std::vector<const ChatMessage*> all, bool all_rooms) {
    const std::size_t total = all.size();
    const std::string direction = c.query_value("direction").value_or("desc");
    if (direction != "asc" && direction != "desc")
      return bad_request("Sent data is invalid", Json{{"direction", "Must be one of: asc, desc."}});
    const std::string order = c.query_value("order").value_or("created_at");
    static const std::set<std::string, std::less<>> orders = {"created_at", "content", "alias", "user_uuid"};
    if (orders.count(order) == 0) return bad_request("Sent data is invalid", Json{{"order", "Unknown field."}});
    std::optional<std::size_t> limit, offset;
    for (auto [name, target] : {std::pair{"limit", &limit}, std::pair{"offset", &offset}}) {
      auto v = count_param(c, name);
      if (auto* err = std::get_if<std::string>(&v)) return bad_request("Sent data is invalid", Json{{name, *err}});
      *target = std::get<std::optional<std::size_t>>(v);
    }
    const auto search = c.query_value("search");
    const auto distinct = c.query_value("distinct");
    if (all_rooms) {
      if (!search && !distinct)
        return bad_request("Sent data is invalid", Json{{"_schema", "search or distinct is required"}});
      if (distinct && *distinct != "room_uuid")
        return bad_request("Sent data is invalid", Json{{"distinct", "Must be one of: room_uuid."}});
    }
    if (auto from = c.query_value("from_date"); from && !all_rooms) {
      auto since = parse_iso_time(*from);
      if (!since) return bad_request("Sent data is invalid", Json{{"from_date", "Not a valid datetime."}});
      std::erase_if(all, [&](const ChatMessage* m) { return m->created_at < *since; });
    }
    if (search && !search->empty()) {
      const std::string needle = lower(*search);
      std::erase_if(all, [&](const ChatMessage* m) { return lower(m->content).find(needle) == std::string::npos; });
    }
    if (distinct) {  // the latest message of each room
      std::map<std::string, const ChatMessage*> latest;
      for (const ChatMessage* m : all) {
        auto& slot = latest[m->room_uuid];
        if (slot == nullptr || slot->created_at < m->created_at) slot = m;
      }
      all.clear();
      for (const auto& [room, m] : latest) all.push_back(m);
    }
    auto key = [&](const ChatMessage* m) -> Json {
      if (order == "content") return m->content;
      if (order == "alias") return m->alias;
      if (order == "user_uuid") return m->user_uuid;
      return std::chrono::duration_cast<std::chrono::microseconds>(m->created_at.time_since_epoch()).count();
    };
    std::stable_sort(all.begin(), all.end(), [&](const ChatMessage* x, const ChatMessage* y) {
      return direction == "desc" ? key(y) < key(x) : key(x) < key(y);
    });
    const std::size_t filtered = all.size();
    const std::size_t first = std::min(offset.value_or(0), all.size());
    const std::size_t last = limit ? std::min(all.size(), first + *limit) : all.size();
    Json items = Json::array();
    for (std::size_t i = first; i < last; ++i) items.push_back(message_json(*all[i]));
    return json_reply(200, Json{{"items", items}, {"filtered", filtered}, {"total", total}});
  }

  Router& r_;
  State& s_;
  Bus& bus_;
};

}  // namespace

Json presence_json(const State& state, const User& user) {
  return Json{
      {"uuid", user.uuid},
      {"tenant_uuid", user.tenant_uuid},
      {"state", user.presence.state},
      {"status", null_if_empty(user.presence.status)},
      {"last_activity", user.presence.last_activity ? Json(iso_time_utc(*user.presence.last_activity)) : Json(nullptr)},
      {"line_state", "unavailable"},
      {"mobile", state.has_mobile(user.uuid)},
      {"do_not_disturb", user.dnd},
      {"connected", state.has_session(user.uuid)},
      {"lines", Json::array()}};
}

void publish_presence(const State& state, Bus& bus, const User& user) {
  bus.publish(events::presence_updated(presence_json(state, user)));
}

void add_chatd_routes(Router& router, State& state, Bus& bus) {
  auto service = std::make_shared<ChatdService>(router, state, bus);
  service->add_routes();
  router.own(std::move(service));
}

}  // namespace wazo::engine
