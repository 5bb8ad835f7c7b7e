#include "state.hpp"

#include <algorithm>
#include <stdexcept>

namespace wazo::engine {

namespace {

std::string str(const Json& o, const char* key, std::string fallback = {}) {
  auto it = o.find(key);
  return (it != o.end() && it->is_string()) ? it->get<std::string>() : fallback;
}

std::vector<std::string> strings(const Json& o, const char* key) {
  std::vector<std::string> out;
  auto it = o.find(key);
  if (it == o.end()) return out;
  if (!it->is_array()) throw std::runtime_error(std::string("seed: '") + key + "' must be an array of strings");
  for (const auto& v : *it) {
    if (!v.is_string()) throw std::runtime_error(std::string("seed: '") + key + "' must be an array of strings");
    out.push_back(v.get<std::string>());
  }
  return out;
}

const Json& array_of(const Json& seed, const char* key) {
  static const Json empty = Json::array();
  auto it = seed.find(key);
  if (it == seed.end()) return empty;
  if (!it->is_array()) throw std::runtime_error(std::string("seed: '") + key + "' must be an array");
  return *it;
}

}  // namespace

void State::load_seed(const Json& seed) {
  if (!seed.is_object()) throw std::runtime_error("seed: expected a JSON object");
  engine_uuid = str(seed, "engine_uuid", new_uuid());
  mobile_sender_id = str(seed, "mobile_sender_id", mobile_sender_id);
  default_user_acl = strings(seed, "default_user_acl");

  for (const auto& t : array_of(seed, "tenants")) {
    Tenant tenant;
    tenant.uuid = str(t, "uuid", new_uuid());
    tenant.name = str(t, "name");
    if (tenant.name.empty()) throw std::runtime_error("seed: a tenant needs a name");
    tenant.slug = str(t, "slug", slugify(tenant.name));
    tenant.parent_uuid = str(t, "parent_uuid");
    tenant.domain_names = strings(t, "domain_names");
    add_tenant(std::move(tenant));
  }
  if (tenants.empty()) throw std::runtime_error("seed: at least one tenant is needed");
  const std::string first_tenant = tenants.begin()->first;

  for (const auto& p : array_of(seed, "policies")) {
    Policy policy;
    policy.uuid = str(p, "uuid", new_uuid());
    policy.name = str(p, "name");
    if (policy.name.empty()) throw std::runtime_error("seed: a policy needs a name");
    policy.slug = str(p, "slug", slugify(policy.name));
    policy.description = str(p, "description");
    policy.tenant_uuid = str(p, "tenant_uuid", first_tenant);
    policy.acl = strings(p, "acl");
    policies[policy.uuid] = std::move(policy);
  }

  for (const auto& u : array_of(seed, "users")) {
    User user;
    user.uuid = str(u, "uuid", new_uuid());
    user.username = str(u, "username");
    user.password = str(u, "password");
    if (user.username.empty() || user.password.empty())
      throw std::runtime_error("seed: a user needs a username and a password");
    if (user_by_login(user.username) != nullptr) throw std::runtime_error("seed: duplicate user " + user.username);
    user.firstname = str(u, "firstname");
    user.lastname = str(u, "lastname");
    user.tenant_uuid = str(u, "tenant_uuid", first_tenant);
    if (tenant(user.tenant_uuid) == nullptr) throw std::runtime_error("seed: unknown tenant for " + user.username);
    if (auto email = str(u, "email"); !email.empty()) user.emails.push_back({new_uuid(), email, true, true});
    for (const auto& name : strings(u, "policies")) {
      auto found = policy_by_name(name, user.tenant_uuid);
      if (!found) throw std::runtime_error("seed: unknown policy " + name + " for " + user.username);
      user.policies.insert(*found);
    }
    if (auto it = u.find("confd_id"); it != u.end()) {
      if (!it->is_number_integer() || it->get<long long>() < 1 || it->get<long long>() > 1000000000)
        throw std::runtime_error("seed: confd_id must be a positive integer for " + user.username);
      user.confd_id = it->get<int>();
      for (const auto& [uuid, other] : users) {
        if (other.confd_id == user.confd_id) throw std::runtime_error("seed: duplicate confd_id for " + user.username);
      }
    }
    if (auto it = u.find("line"); it != u.end() && !it->is_null()) {
      user.line = line_from_json(*it);
      for (const auto& [uuid, other] : users) {
        if (!other.line) continue;
        if (other.line->id == user.line->id || lower(other.line->username) == lower(user.line->username) ||
            other.line->exten == user.line->exten)
          throw std::runtime_error("seed: the line of " + user.username +
                                   " repeats another line's id, username or exten");
      }
    }
    users[user.uuid] = std::move(user);
  }
  for (auto& [uuid, u] : users) {  // users without a confd id get the next ones
    if (u.confd_id == 0) u.confd_id = next_confd_id();
  }
}

Json line_to_json(const Line& line) {
  return Json{{"id", line.id},
              {"name", line.name},
              {"sip_uuid", line.sip_uuid},
              {"username", line.username},
              {"password", line.password},
              {"exten", line.exten},
              {"context", line.context},
              {"extension_id", line.extension_id}};
}

Line line_from_json(const Json& j) {
  if (!j.is_object()) throw std::runtime_error("seed: a line must be an object");
  Line line;
  auto it = j.find("id");
  if (it == j.end() || !it->is_number_integer() || it->get<long long>() < 1 || it->get<long long>() > 1000000000)
    throw std::runtime_error("seed: a line needs a positive integer id");
  line.id = it->get<int>();
  line.username = str(j, "username");
  line.password = str(j, "password");
  line.exten = str(j, "exten");
  if (line.username.empty() || line.password.empty() || line.exten.empty())
    throw std::runtime_error("seed: a line needs a username, a password and an exten");
  if (line.username.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
          std::string::npos ||
      line.username.size() > 64)
    throw std::runtime_error("seed: a line username is up to 64 letters, digits, '-', '_' or '.'");
  if (line.exten.find_first_not_of("0123456789") != std::string::npos || line.exten.size() > 16)
    throw std::runtime_error("seed: a line exten is up to 16 digits");
  line.name = str(j, "name", line.username);
  line.sip_uuid = str(j, "sip_uuid", new_uuid());
  line.context = str(j, "context", "default");
  if (auto e = j.find("extension_id"); e != j.end() && e->is_number_integer()) line.extension_id = e->get<int>();
  if (line.extension_id == 0) line.extension_id = line.id;
  return line;
}

User* State::user_by_sip(const std::string& user_part) {
  if (user_part.empty()) return nullptr;
  const std::string wanted = lower(user_part);
  for (auto& [uuid, u] : users) {
    if (u.line && (lower(u.line->username) == wanted || u.line->exten == user_part)) return &u;
  }
  return nullptr;
}

int State::next_confd_id() const {
  int top = 0;
  for (const auto& [uuid, u] : users) top = std::max(top, u.confd_id);
  return top + 1;
}

bool State::has_session(const std::string& user_uuid) const {
  const auto now = Clock::now();
  return std::any_of(tokens.begin(), tokens.end(),
                     [&](const auto& kv) { return kv.second.user_uuid == user_uuid && kv.second.expires_at > now; });
}

bool State::has_mobile(const std::string& user_uuid) const {
  const auto now = Clock::now();
  const bool session = std::any_of(tokens.begin(), tokens.end(), [&](const auto& kv) {
    return kv.second.user_uuid == user_uuid && kv.second.mobile && kv.second.expires_at > now;
  });
  return session || std::any_of(refresh_tokens.begin(), refresh_tokens.end(),
                                [&](const auto& kv) { return kv.second.user_uuid == user_uuid && kv.second.mobile; });
}

Tenant& State::add_tenant(Tenant t) {
  const std::string uuid = t.uuid;
  Tenant& stored = tenants[uuid] = std::move(t);
  Policy p;
  p.uuid = new_uuid();
  p.name = default_user_policy_name;
  p.slug = default_user_policy_name;
  p.description = "Default Wazo policy for users";
  p.tenant_uuid = uuid;
  p.acl = default_user_acl;
  p.read_only = true;
  policies[p.uuid] = std::move(p);
  return stored;
}

std::optional<std::string> State::policy_by_name(const std::string& name, const std::string& tenant_uuid) const {
  for (const auto& [uuid, p] : policies) {
    if ((p.name == name || p.slug == name) && tenant_within(tenant_uuid, p.tenant_uuid)) return uuid;
  }
  return std::nullopt;
}

User* State::user(const std::string& uuid) {
  auto it = users.find(uuid);
  return it == users.end() ? nullptr : &it->second;
}

User* State::user_by_login(const std::string& login) {
  const std::string wanted = lower(login);
  for (auto& [uuid, u] : users) {
    if (lower(u.username) == wanted) return &u;
  }
  for (auto& [uuid, u] : users) {
    for (const auto& e : u.emails) {
      if (e.confirmed && lower(e.address) == wanted) return &u;
    }
  }
  return nullptr;
}

Tenant* State::tenant(const std::string& uuid) {
  auto it = tenants.find(uuid);
  return it == tenants.end() ? nullptr : &it->second;
}

Policy* State::policy(const std::string& uuid) {
  auto it = policies.find(uuid);
  return it == policies.end() ? nullptr : &it->second;
}

Group* State::group(const std::string& uuid) {
  auto it = groups.find(uuid);
  return it == groups.end() ? nullptr : &it->second;
}

const Token* State::live_token(const std::string& token) {
  auto it = tokens.find(token);
  if (it == tokens.end()) return nullptr;
  if (it->second.expires_at <= Clock::now()) {
    erase_token(it);
    return nullptr;
  }
  return &it->second;
}

void State::erase_token(std::map<std::string, Token>::iterator it) {
  SessionRecord record{it->second.session_uuid, it->second.user_uuid, it->second.tenant_uuid, it->second.token,
                       it->second.mobile};
  if (auto s = sessions.find(it->second.session_uuid); s != sessions.end()) record = s->second;
  sessions.erase(it->second.session_uuid);
  tokens.erase(it);
  if (on_session_deleted) on_session_deleted(record);
}

bool State::tenant_within(const std::string& tenant_uuid, const std::string& ancestor) const {
  std::string current = tenant_uuid;
  for (int depth = 0; depth < 64 && !current.empty(); ++depth) {  // bounded: a cycle cannot hang us
    if (current == ancestor) return true;
    auto it = tenants.find(current);
    if (it == tenants.end()) return false;
    current = it->second.parent_uuid;
  }
  return false;
}

std::vector<std::string> State::tenants_below(const std::string& root) const {
  std::vector<std::string> out;
  for (const auto& [uuid, t] : tenants) {
    if (tenant_within(uuid, root)) out.push_back(uuid);
  }
  return out;
}

std::vector<std::string> State::acl_for(const User& u) const {
  std::vector<std::string> acl;
  std::set<std::string> policy_uuids = u.policies;
  if (u.purpose == "user") {
    for (const auto& [uuid, p] : policies) {
      if (p.name == default_user_policy_name && p.tenant_uuid == u.tenant_uuid) policy_uuids.insert(uuid);
    }
  }
  for (const auto& [uuid, g] : groups) {
    if (g.users.count(u.uuid) != 0) policy_uuids.insert(g.policies.begin(), g.policies.end());
  }
  for (const auto& uuid : policy_uuids) {
    auto it = policies.find(uuid);
    if (it == policies.end()) continue;
    for (const auto& a : it->second.acl) {
      if (std::find(acl.begin(), acl.end(), a) == acl.end()) acl.push_back(a);
    }
  }
  return acl;
}

Token& State::create_token(const User& u, int expiration_seconds, bool mobile, const std::string& remote,
                           const std::string& user_agent) {
  purge_expired();
  Token t;
  t.token = new_uuid();
  t.session_uuid = new_uuid();
  t.user_uuid = u.uuid;
  t.tenant_uuid = u.tenant_uuid;
  t.auth_id = u.uuid;
  t.remote_addr = remote;
  t.user_agent = user_agent;
  t.acl = acl_for(u);
  t.issued_at = Clock::now();
  t.expires_at = t.issued_at + std::chrono::seconds(expiration_seconds);
  t.mobile = mobile;
  const SessionRecord record{t.session_uuid, u.uuid, u.tenant_uuid, t.token, mobile};
  sessions[t.session_uuid] = record;
  const std::string key = t.token;
  Token& stored = tokens[key] = std::move(t);
  if (on_session_created) on_session_created(record);
  return stored;
}

void State::revoke_token(const std::string& token) {
  auto it = tokens.find(token);
  if (it != tokens.end()) erase_token(it);
}

bool State::delete_session(const std::string& session_uuid) {
  auto it = sessions.find(session_uuid);
  if (it == sessions.end()) return false;
  if (auto t = tokens.find(it->second.token); t != tokens.end()) {
    erase_token(t);
  } else {
    sessions.erase(it);
  }
  return true;
}

void State::purge_expired() {
  const auto now = Clock::now();
  std::vector<std::string> expired;
  for (const auto& [key, t] : tokens) {
    if (t.expires_at <= now) expired.push_back(key);
  }
  for (const auto& key : expired) {
    if (auto it = tokens.find(key); it != tokens.end()) erase_token(it);
  }
}

RefreshToken& State::create_refresh_token(const User& u, const std::string& client_id, bool mobile) {
  delete_refresh_token(u.uuid, client_id);
  RefreshToken r{random_token(32), client_id, u.uuid, u.tenant_uuid, Clock::now(), mobile};
  const std::string key = r.token;
  return refresh_tokens[key] = std::move(r);
}

RefreshToken* State::refresh_token(const std::string& token, const std::string& client_id) {
  auto it = refresh_tokens.find(token);
  if (it == refresh_tokens.end() || it->second.client_id != client_id) return nullptr;
  return &it->second;
}

bool State::delete_refresh_token(const std::string& user_uuid, const std::string& client_id) {
  for (auto it = refresh_tokens.begin(); it != refresh_tokens.end(); ++it) {
    if (it->second.user_uuid == user_uuid && it->second.client_id == client_id) {
      refresh_tokens.erase(it);
      return true;
    }
  }
  return false;
}

void State::delete_user(const std::string& uuid) {
  users.erase(uuid);
  std::vector<std::string> doomed;
  for (const auto& [key, t] : tokens) {
    if (t.user_uuid == uuid) doomed.push_back(key);
  }
  for (const auto& key : doomed) {
    if (auto it = tokens.find(key); it != tokens.end()) erase_token(it);
  }
  for (auto it = sessions.begin(); it != sessions.end();) {
    it = it->second.user_uuid == uuid ? sessions.erase(it) : std::next(it);
  }
  for (auto it = refresh_tokens.begin(); it != refresh_tokens.end();) {
    it = it->second.user_uuid == uuid ? refresh_tokens.erase(it) : std::next(it);
  }
  for (auto& [g, group] : groups) group.users.erase(uuid);
}

void State::delete_tenant(const std::string& uuid) {
  const std::vector<std::string> doomed = tenants_below(uuid);
  for (const auto& t : doomed) {
    std::vector<std::string> user_uuids;
    for (const auto& [u, usr] : users) {
      if (usr.tenant_uuid == t) user_uuids.push_back(u);
    }
    for (const auto& u : user_uuids) delete_user(u);
    for (auto it = policies.begin(); it != policies.end();) {
      it = it->second.tenant_uuid == t ? policies.erase(it) : std::next(it);
    }
    for (auto it = groups.begin(); it != groups.end();) {
      it = it->second.tenant_uuid == t ? groups.erase(it) : std::next(it);
    }
  }
  for (const auto& t : doomed) tenants.erase(t);
}

void State::delete_policy(const std::string& uuid) {
  policies.erase(uuid);
  for (auto& [u, usr] : users) usr.policies.erase(uuid);
  for (auto& [g, grp] : groups) grp.policies.erase(uuid);
}

void State::delete_group(const std::string& uuid) { groups.erase(uuid); }

Json State::to_json(const User& u) const {
  Json emails = Json::array();
  for (const auto& e : u.emails) {
    emails.push_back({{"uuid", e.uuid}, {"address", e.address}, {"main", e.main}, {"confirmed", e.confirmed}});
  }
  return Json{{"uuid", u.uuid},         {"username", u.username}, {"firstname", u.firstname},
              {"lastname", u.lastname}, {"purpose", u.purpose},   {"tenant_uuid", u.tenant_uuid},
              {"enabled", u.enabled},   {"emails", emails},       {"authentication_method", "default"}};
}

Json State::to_json(const Tenant& t) const {
  Json domains = Json::array();
  for (const auto& d : t.domain_names) domains.push_back(d);
  return Json{{"uuid", t.uuid},
              {"name", t.name},
              {"slug", t.slug},
              {"parent_uuid", t.parent_uuid.empty() ? Json(nullptr) : Json(t.parent_uuid)},
              {"contact", t.contact.empty() ? Json(nullptr) : Json(t.contact)},
              {"phone", t.phone.empty() ? Json(nullptr) : Json(t.phone)},
              {"address", t.address},
              {"domain_names", domains},
              {"default_authentication_method", "native"}};
}

Json State::to_json(const Policy& p, const std::string& viewer_tenant) const {
  return Json{{"uuid", p.uuid},     {"name", p.name},
              {"slug", p.slug},     {"description", p.description},
              {"acl", p.acl},       {"tenant_uuid", p.tenant_uuid},
              {"shared", p.shared}, {"read_only", p.read_only || (p.shared && p.tenant_uuid != viewer_tenant)}};
}

Json State::to_json(const Group& g) const {
  return Json{{"uuid", g.uuid},           {"name", g.name},
              {"slug", g.slug},           {"tenant_uuid", g.tenant_uuid},
              {"read_only", g.read_only}, {"system_managed", g.read_only}};
}

Json State::to_json(const SessionRecord& s) const {
  return Json{{"uuid", s.uuid}, {"user_uuid", s.user_uuid}, {"tenant_uuid", s.tenant_uuid}, {"mobile", s.mobile}};
}

Json State::to_json(const RefreshToken& r) const {
  return Json{{"client_id", r.client_id},     {"created_at", iso_time_utc(r.created_at)},
              {"mobile", r.mobile},           {"user_uuid", r.user_uuid},
              {"tenant_uuid", r.tenant_uuid}, {"metadata", Json::object()}};
}

Json State::to_json(const Token& t, const std::string& refresh_token) const {
  const auto it = users.find(t.user_uuid);
  Json metadata = {{"uuid", t.user_uuid},
                   {"tenant_uuid", t.tenant_uuid},
                   {"auth_id", t.auth_id},
                   {"pbx_user_uuid", t.user_uuid},
                   {"xivo_uuid", engine_uuid},
                   {"purpose", it != users.end() ? it->second.purpose : "user"},
                   {"admin", false}};
  if (it != users.end()) metadata["username"] = it->second.username;
  Json data = {{"token", t.token},
               {"session_uuid", t.session_uuid},
               {"acl", t.acl},
               {"metadata", metadata},
               {"auth_id", t.auth_id},
               {"xivo_user_uuid", t.user_uuid},
               {"xivo_uuid", engine_uuid},
               {"issued_at", iso_time(t.issued_at)},
               {"expires_at", iso_time(t.expires_at)},
               {"utc_issued_at", iso_time_utc(t.issued_at)},
               {"utc_expires_at", iso_time_utc(t.expires_at)},
               {"remote_addr", t.remote_addr},
               {"user_agent", t.user_agent}};
  if (!refresh_token.empty()) data["refresh_token"] = refresh_token;
  return data;
}

}  // namespace wazo::engine
