// The dev engine's in-memory state: tenants, users, policies, groups, tokens, sessions, refresh tokens, and the
// chatd (presences, rooms, messages) and confd (user ids, services, forwards) data. Seeded from JSON (the default
// seed is seed.json, embedded at build time), or loaded from a --state file. Used on the I/O thread only.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "util.hpp"

namespace wazo::engine {

struct Tenant {
  std::string uuid, name, slug, parent_uuid, contact, phone;
  Json address = Json::object();
  std::vector<std::string> domain_names;
};

struct Email {
  std::string uuid, address;
  bool main = false;
  bool confirmed = false;
};

// chatd's explicit presence of a user (the rest of a Presence is computed).
struct Presence {
  std::string state = "available";  // available | away | unavailable | invisible
  std::string status;
  std::optional<Clock::time_point> last_activity;  // set when the user changes it explicitly
};

// confd's call forward.
struct Forward {
  bool enabled = false;
  std::string destination;  // "" is shown as null
};

// confd's line of a user: one WebRTC SIP line (a PJSIP endpoint with its auth, AOR and an internal extension).
struct Line {
  int id = 0;                      // confd line id
  std::string name;                // line / endpoint name (the PJSIP section name)
  std::string sip_uuid;            // the endpoint's uuid
  std::string username, password;  // auth_section_options: the SIP digest credentials
  std::string exten, context = "default";
  int extension_id = 0;
};

struct User {
  std::string uuid, username, password, firstname, lastname, tenant_uuid;
  int confd_id = 0;  // confd's integer id
  Presence presence;
  bool dnd = false;
  bool incallfilter = false;
  std::map<std::string, Forward, std::less<>> forwards;  // busy, noanswer, unconditional
  std::string purpose = "user";
  bool enabled = true;
  std::vector<Email> emails;
  std::set<std::string> policies;                     // explicit policies (uuids)
  std::optional<Json> mobile;                         // the mobile push tokens (external auth "mobile")
  std::map<std::string, Json, std::less<>> external;  // other external auths: "google", "microsoft"
  std::optional<Line> line;                           // confd: the user's WebRTC SIP line, when it has one
};

struct Policy {
  std::string uuid, name, slug, description, tenant_uuid;
  std::vector<std::string> acl;
  bool shared = false;
  bool read_only = false;
};

struct Group {
  std::string uuid, name, slug, tenant_uuid;
  std::set<std::string> users, policies;
  bool read_only = false;
};

struct Token {
  std::string token, session_uuid, user_uuid, tenant_uuid, auth_id, remote_addr, user_agent;
  std::vector<std::string> acl;
  Clock::time_point issued_at, expires_at;
  bool mobile = false;
  bool expire_soon_sent = false;  // auth_session_expire_soon is published once per token
};

struct SessionRecord {
  std::string uuid, user_uuid, tenant_uuid, token;
  bool mobile = false;
};

struct RefreshToken {
  std::string token, client_id, user_uuid, tenant_uuid;
  Clock::time_point created_at;
  bool mobile = false;
};

struct RoomUser {
  std::string uuid, tenant_uuid, wazo_uuid;
};

struct Room {
  std::string uuid, name, tenant_uuid;  // name: "" is shown as null
  std::vector<RoomUser> users;
};

struct ChatMessage {
  std::string uuid, room_uuid, content, alias, user_uuid, tenant_uuid, wazo_uuid;
  Clock::time_point created_at;
};

// A line as stored (seed and --state files): {id, name, sip_uuid, username, password, exten, context,
// extension_id}. line_from_json throws std::runtime_error when malformed.
Json line_to_json(const Line& line);
Line line_from_json(const Json& j);

class State {
 public:
  // Throws std::runtime_error with a clear message for a malformed seed.
  void load_seed(const Json& seed);

  // --- lookups (nullptr when absent) ---
  User* user(const std::string& uuid);
  User* user_by_login(const std::string& login);  // username, or a confirmed email address
  Tenant* tenant(const std::string& uuid);
  Policy* policy(const std::string& uuid);
  Group* group(const std::string& uuid);
  // A live token; expired tokens are removed (with their sessions) on the way.
  const Token* live_token(const std::string& token);

  // True when `tenant` is `ancestor` or below it.
  [[nodiscard]] bool tenant_within(const std::string& tenant, const std::string& ancestor) const;
  // `root` and every tenant below it.
  [[nodiscard]] std::vector<std::string> tenants_below(const std::string& root) const;
  // The user's ACL: the tenant's default user policy, explicit policies, and their groups' policies.
  [[nodiscard]] std::vector<std::string> acl_for(const User& u) const;

  // --- tokens and sessions ---
  Token& create_token(const User& u, int expiration_seconds, bool mobile, const std::string& remote,
                      const std::string& user_agent);
  void revoke_token(const std::string& token);
  bool delete_session(const std::string& session_uuid);
  void purge_expired();
  // A new refresh token for (user, client id) replaces the previous one.
  RefreshToken& create_refresh_token(const User& u, const std::string& client_id, bool mobile);
  RefreshToken* refresh_token(const std::string& token, const std::string& client_id);
  bool delete_refresh_token(const std::string& user_uuid, const std::string& client_id);

  // The user and line whose SIP username or extension is `user_part` (nullptr when none).
  User* user_by_sip(const std::string& user_part);

  // The next free confd user id (1, 2, …).
  [[nodiscard]] int next_confd_id() const;
  // Does the user have a live session (chatd's `connected`), a mobile session or mobile refresh token (`mobile`)?
  [[nodiscard]] bool has_session(const std::string& user_uuid) const;
  [[nodiscard]] bool has_mobile(const std::string& user_uuid) const;

  // The whole state as JSON (for --state) and back. load_snapshot throws std::runtime_error when malformed.
  [[nodiscard]] Json snapshot() const;
  void load_snapshot(const Json& j);

  // Creates a tenant with its read-only default user policy.
  Tenant& add_tenant(Tenant t);

  // --- removal with cascades ---
  void delete_user(const std::string& uuid);
  void delete_tenant(const std::string& uuid);  // and everything in it and below it
  void delete_policy(const std::string& uuid);
  void delete_group(const std::string& uuid);

  // --- JSON views (the wazo-auth response shapes) ---
  [[nodiscard]] Json to_json(const User& u) const;
  [[nodiscard]] Json to_json(const Tenant& t) const;
  [[nodiscard]] Json to_json(const Policy& p, const std::string& viewer_tenant) const;
  [[nodiscard]] Json to_json(const Group& g) const;
  [[nodiscard]] Json to_json(const SessionRecord& s) const;
  [[nodiscard]] Json to_json(const RefreshToken& r) const;
  [[nodiscard]] Json to_json(const Token& t, const std::string& refresh_token = {}) const;

  std::map<std::string, Tenant> tenants;
  std::map<std::string, User> users;
  std::map<std::string, Policy> policies;
  std::map<std::string, Group> groups;
  std::map<std::string, Token> tokens;                 // by token
  std::map<std::string, SessionRecord> sessions;       // by session uuid
  std::map<std::string, RefreshToken> refresh_tokens;  // by refresh token
  std::string default_user_policy_name = "wazo_default_user_policy";
  std::vector<std::string> default_user_acl;  // the ACL of each tenant's default user policy
  std::string mobile_sender_id = "wazo-dev-engine";
  std::string engine_uuid;  // "xivo_uuid"
  std::string wazo_version = "25.17";
  std::map<std::string, Room> rooms;  // by uuid
  std::vector<ChatMessage> messages;  // in creation order

  // Called after a session (token) is created or removed (revoked, deleted, expired, its user deleted).
  std::function<void(const SessionRecord&)> on_session_created, on_session_deleted;

 private:
  std::optional<std::string> policy_by_name(const std::string& name, const std::string& tenant) const;
  void erase_token(std::map<std::string, Token>::iterator it);
};

}  // namespace wazo::engine
