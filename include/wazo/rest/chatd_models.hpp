// Plain models of wazo-chatd (presences, rooms, messages, identities). Parsers are tolerant: a missing or
// mistyped field keeps its default, and each model keeps the whole object in `raw`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "wazo/core/result.hpp"
#include "wazo/rest/models.hpp"

namespace wazo::rest {

struct PresenceLine {  // an entry of Presence::lines
  std::int64_t id = 0;
  std::string state;  // available, holding, ringing, progressing, talking, unavailable
};

struct Presence {    // GET /users/{uuid}/presences
  std::string uuid;  // the user
  std::string tenant_uuid;
  std::string state;   // available, away, unavailable, invisible
  std::string status;  // free text
  std::string last_activity;
  std::string line_state;  // the highest-priority state of the lines
  bool mobile = false;
  bool do_not_disturb = false;
  bool connected = false;
  std::vector<PresenceLine> lines;
  nlohmann::json raw;
};

struct ChatUser {  // a room participant
  std::string uuid;
  std::string tenant_uuid;  // empty: the token owner's tenant
  std::string wazo_uuid;    // empty: the token owner's engine
  std::string identity;     // external identity (e.g. a phone number for SMS); empty for Wazo users
};

struct ChatRoom {
  std::string uuid;
  std::string name;
  std::vector<ChatUser> users;
  nlohmann::json raw;
};

struct ChatMessage {
  std::string uuid;
  std::string content;
  std::string alias;
  std::string user_uuid;  // the sender
  std::string tenant_uuid;
  std::string wazo_uuid;
  std::string created_at;
  std::string room_uuid;  // room.uuid
  nlohmann::json raw;
};

// What send_room_message posts.
struct ChatMessageDraft {
  std::string content;
  std::string alias;  // empty: not sent
};

struct UserIdentity {  // GET /users/me/identities
  std::string uuid;
  std::string backend;
  std::string type;
  std::string identity;
  nlohmann::json raw;
};

// Query of get_room_messages / get_messages. Unset fields are not sent; a set 0 is.
struct GetMessagesOptions {
  std::optional<int> limit;
  std::optional<int> offset;
  std::string direction;  // "asc" | "desc"
  std::string order;      // field name, e.g. "created_at"
  std::string search;
  std::string from_date;  // ISO 8601 (room messages)
  std::string distinct;   // "room_uuid" (get_messages)
};

Result<Presence> presence_from_json(const nlohmann::json& j);
Result<ChatRoom> chat_room_from_json(const nlohmann::json& j);
Result<ChatMessage> chat_message_from_json(const nlohmann::json& j);
Result<UserIdentity> user_identity_from_json(const nlohmann::json& j);
nlohmann::json to_json(const ChatUser& user);

// The seed's Profile.getLinesState: "ringing" or "talking" as soon as a line is, else "available" when one is,
// else "unavailable".
std::string lines_state(const std::vector<PresenceLine>& lines);

}  // namespace wazo::rest
