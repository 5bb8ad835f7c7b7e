#include "auth_service.hpp"

#include <algorithm>

#include "access.hpp"

namespace wazo::engine {

namespace {

using http::verb;

constexpr const char* base = "/api/auth/0.1";
constexpr int max_expiration = 315360000;
constexpr int default_expiration = 7200;

std::string route(const char* path) { return std::string(base) + path; }

Reply auth_failed() { return json_reply(401, token_error_body(401, "Authentication Failed")); }

std::string str(const Json& o, const char* key) {
  auto it = o.find(key);
  return (it != o.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

// A JSON object body, or the 400 to send.
std::variant<Json, Reply> object_body(const Call& call) {
  auto body = call.json();
  if (!body || !body->is_object()) return bad_request("Invalid JSON body: an object is expected");
  return *std::move(body);
}

// Lists: `search` (substring of the given fields), `order`, `direction`, `limit`, `offset`; {total, filtered, items}.
Json paginate(const Call& call, std::vector<Json> items, const std::vector<const char*>& search_fields) {
  const std::size_t total = items.size();
  if (auto search = call.query_value("search"); search && !search->empty()) {
    const std::string needle = lower(*search);
    std::erase_if(items, [&](const Json& item) {
      return std::none_of(search_fields.begin(), search_fields.end(), [&](const char* field) {
        auto it = item.find(field);
        return it != item.end() && it->is_string() && lower(it->get<std::string>()).find(needle) != std::string::npos;
      });
    });
  }
  const std::size_t filtered = items.size();
  if (auto order = call.query_value("order"); order && !order->empty()) {
    const bool desc = call.query_value("direction").value_or("asc") == "desc";
    std::stable_sort(items.begin(), items.end(), [&](const Json& a, const Json& b) {
      const Json va = a.value(*order, Json());
      const Json vb = b.value(*order, Json());
      return desc ? vb < va : va < vb;
    });
  }
  auto number = [&](const char* name, std::size_t fallback) {
    auto v = call.query_value(name);
    if (!v || v->empty()) return fallback;
    try {
      return static_cast<std::size_t>(std::stoul(*v));
    } catch (const std::exception&) {
      return fallback;
    }
  };
  const std::size_t offset = std::min(number("offset", 0), items.size());
  const std::size_t limit = number("limit", items.size());
  std::vector<Json> page(items.begin() + static_cast<std::ptrdiff_t>(offset),
                         items.begin() + static_cast<std::ptrdiff_t>(std::min(items.size(), offset + limit)));
  return Json{{"total", total}, {"filtered", filtered}, {"items", page}};
}

// The tenants a request may see: the acting tenant, and those below it with ?recurse=true.
bool visible(const State& state, const Call& call, const Access& access, const std::string& tenant) {
  if (tenant == access.tenant) return true;
  return call.query_value("recurse") == "true" && state.tenant_within(tenant, access.tenant);
}
// For a resource addressed by uuid: the token's tenant tree.
bool reachable(const State& state, const Access& access, const std::string& tenant) {
  return state.tenant_within(tenant, access.token.tenant_uuid);
}

class AuthService {
 public:
  AuthService(Router& router, State& state) : r_(router), s_(state) {}

  void add_routes() {
    add_token_routes();
    add_user_routes();
    add_external_routes();
    add_admin_routes();
  }

 private:
  void open(verb method, const char* path, Handler handler) { r_.add(method, route(path), std::move(handler)); }
  void guarded(verb method, const char* path, std::string acl, Protected handler) {
    r_.add(method, route(path), protect(s_, std::move(acl), std::move(handler)));
  }

  // A user the caller may address (its tenant tree), or nullptr.
  User* reachable_user(const Access& a, const std::string& uuid) {
    User* u = s_.user(uuid);
    return (u != nullptr && reachable(s_, a, u->tenant_uuid)) ? u : nullptr;
  }

  // ---------------------------------------------------------------- tokens
  void add_token_routes() {
    open(verb::post, "/token", [this](Call& c) { return create_token(c); });
    open(verb::head, "/token/{token}", [this](Call& c) {
      const Token* t = s_.live_token(c.param("token"));
      if (t == nullptr) return json_reply(404, token_error_body(404, "No such token"));
      if (auto scope = c.query_value("scope"); scope && !acl_grants(t->acl, *scope, t->user_uuid, t->session_uuid))
        return json_reply(403, token_error_body(403, "Unauthorized"));
      return empty_reply(204);
    });
    open(verb::get, "/token/{token}", [this](Call& c) {
      const Token* t = s_.live_token(c.param("token"));
      if (t == nullptr) return json_reply(404, token_error_body(404, "No such token"));
      if (auto scope = c.query_value("scope"); scope && !acl_grants(t->acl, *scope, t->user_uuid, t->session_uuid))
        return json_reply(403, token_error_body(403, "Unauthorized"));
      if (auto tenant = c.query_value("tenant"); tenant && !s_.tenant_within(*tenant, t->tenant_uuid))
        return json_reply(403, token_error_body(403, "Unauthorized tenant"));
      return json_reply(200, Json{{"data", s_.to_json(*t)}});
    });
    open(verb::delete_, "/token/{token}", [this](Call& c) {
      s_.revoke_token(c.param("token"));
      return json_reply(200, Json{{"data", Json::object()}});
    });
    open(verb::post, "/token/{token}/scopes/check", [this](Call& c) {
      const Token* t = s_.live_token(c.param("token"));
      if (t == nullptr) return json_reply(404, token_error_body(404, "No such token"));
      auto body = object_body(c);
      if (auto* err = std::get_if<Reply>(&body)) return *err;
      const Json& j = std::get<Json>(body);
      if (!j.contains("scopes") || !j["scopes"].is_array() || j["scopes"].size() > 1000)
        return bad_request("scopes: a list of strings is required");
      if (auto tenant = str(j, "tenant_uuid"); !tenant.empty() && !s_.tenant_within(tenant, t->tenant_uuid))
        return json_reply(403, token_error_body(403, "Unauthorized tenant"));
      Json scopes = Json::object();
      for (const auto& scope : j["scopes"]) {
        if (!scope.is_string()) return bad_request("scopes: a list of strings is required");
        scopes[scope.get<std::string>()] = acl_grants(t->acl, scope.get<std::string>(), t->user_uuid, t->session_uuid);
      }
      return json_reply(200, Json{{"scopes", scopes}});
    });
    open(verb::get, "/backends", [](Call&) { return json_reply(200, Json{{"data", Json::array({"wazo_user"})}}); });
    open(verb::head, "/status", [](Call&) { return empty_reply(200); });
    open(verb::post, "/saml/sso", [](Call& c) {
      auto body = c.json();
      if (!body || !body->is_object() || !body->contains("domain") || !body->contains("redirect_url"))
        return bad_request("domain and redirect_url are required");
      return json_reply(400, api_error_body("SAML is not configured for this domain", "saml-not-configured",
                                            Json{{"domain", (*body)["domain"]}}));
    });
    guarded(verb::get, "/saml/logout", "", [](Call&, const Access&) {
      return json_reply(400, api_error_body("This session was not opened with SAML", "saml-not-configured"));
    });
  }

  Reply create_token(Call& c) {
    auto parsed = object_body(c);
    if (std::holds_alternative<Reply>(parsed)) return json_reply(400, token_error_body(400, "Invalid JSON body"));
    const Json& body = std::get<Json>(parsed);
    int expiration = default_expiration;
    if (auto it = body.find("expiration"); it != body.end() && !it->is_null()) {
      if (!it->is_number_integer() || it->get<long long>() < 1 || it->get<long long>() > max_expiration)
        return json_reply(400, token_error_body(400, "expiration: must be an integer from 1 to 315360000"));
      expiration = it->get<int>();
    }
    const std::string access_type = body.contains("access_type") ? str(body, "access_type") : "online";
    if (access_type != "online" && access_type != "offline")
      return json_reply(400, token_error_body(400, "access_type: must be online or offline"));
    const std::string client_id = str(body, "client_id");
    if (client_id.size() > 1024) return json_reply(400, token_error_body(400, "client_id: too long"));
    if (access_type == "offline" && client_id.empty())
      return json_reply(400, token_error_body(400, "client_id: required with access_type offline"));
    if (!str(body, "tenant_id").empty() && !str(body, "domain_name").empty())
      return json_reply(400, token_error_body(400, "tenant_id and domain_name cannot be used together"));
    const bool mobile = lower(c.header("Wazo-Session-Type")) == "mobile";

    User* user = nullptr;
    std::string refresh;
    if (const std::string rt = str(body, "refresh_token"); !rt.empty()) {
      if (access_type == "offline") return json_reply(400, token_error_body(400, "refresh_token with offline"));
      RefreshToken* stored = s_.refresh_token(rt, client_id);
      if (stored == nullptr) return auth_failed();
      user = s_.user(stored->user_uuid);
    } else if (body.contains("saml_session_id")) {
      return auth_failed();  // no SAML session can exist on this engine
    } else {
      const std::string authorization = c.header("Authorization");
      if (authorization.rfind("Basic ", 0) != 0) return auth_failed();
      auto decoded = base64_decode(authorization.substr(6));
      if (!decoded) return auth_failed();
      const std::size_t colon = decoded->find(':');
      if (colon == std::string::npos) return auth_failed();
      user = s_.user_by_login(decoded->substr(0, colon));
      if (user == nullptr || user->password != decoded->substr(colon + 1)) return auth_failed();
      if (const std::string domain = str(body, "domain_name"); !domain.empty()) {
        const Tenant* t = s_.tenant(user->tenant_uuid);
        if (t == nullptr || std::find(t->domain_names.begin(), t->domain_names.end(), domain) == t->domain_names.end())
          return auth_failed();
      }
      if (const std::string tenant = str(body, "tenant_id"); !tenant.empty()) {
        const Tenant* t = s_.tenant(user->tenant_uuid);
        if (t == nullptr || (t->uuid != tenant && t->slug != tenant)) return auth_failed();
      }
      if (access_type == "offline") refresh = s_.create_refresh_token(*user, client_id, mobile).token;
    }
    if (user == nullptr || !user->enabled) return auth_failed();
    const Token& token = s_.create_token(*user, expiration, mobile, c.remote, c.header("User-Agent"));
    Reply reply = json_reply(200, Json{{"data", s_.to_json(token, refresh)}});
    reply.headers.emplace_back("Wazo-Sessions-Revoked", "0");
    return reply;
  }

  // ---------------------------------------------------------------- users
  void add_user_routes() {
    guarded(verb::get, "/users", "auth.users.read", [this](Call& c, const Access& a) {
      std::vector<Json> items;
      for (const auto& [uuid, u] : s_.users) {
        if (visible(s_, c, a, u.tenant_uuid)) items.push_back(s_.to_json(u));
      }
      return json_reply(200, paginate(c, std::move(items), {"username", "firstname", "lastname", "uuid"}));
    });
    guarded(verb::post, "/users", "auth.users.create", [this](Call& c, const Access& a) {
      auto parsed = object_body(c);
      if (auto* err = std::get_if<Reply>(&parsed)) return *err;
      const Json& j = std::get<Json>(parsed);
      User u;
      u.username = str(j, "username");
      if (u.username.empty() || u.username.size() > 256) return bad_request("username: 1 to 256 characters");
      if (s_.user_by_login(u.username) != nullptr) return conflict("The username is already taken", "users");
      u.uuid = str(j, "uuid");
      if (u.uuid.empty()) u.uuid = new_uuid();
      if (s_.user(u.uuid) != nullptr) return conflict("This uuid is already used", "users");
      u.password = str(j, "password");
      u.firstname = str(j, "firstname");
      u.lastname = str(j, "lastname");
      u.tenant_uuid = a.tenant;
      if (j.contains("purpose")) {
        u.purpose = str(j, "purpose");
        if (u.purpose != "user" && u.purpose != "internal" && u.purpose != "external_api")
          return bad_request("purpose: one of user, internal, external_api");
      }
      if (auto it = j.find("enabled"); it != j.end() && it->is_boolean()) u.enabled = it->get<bool>();
      if (const std::string email = str(j, "email_address"); !email.empty()) {
        u.emails.push_back({new_uuid(), email, true, false});
      }
      u.confd_id = s_.next_confd_id();  // the confd record comes with the user
      const std::string uuid = u.uuid;
      s_.users[uuid] = std::move(u);
      return json_reply(200, s_.to_json(s_.users[uuid]));
    });
    guarded(verb::get, "/users/{user_uuid}", "auth.users.{user_uuid}.read", [this](Call& c, const Access& a) {
      User* u = reachable_user(a, c.param("user_uuid"));
      return u == nullptr ? not_found("user", c.param("user_uuid")) : json_reply(200, s_.to_json(*u));
    });
    guarded(verb::put, "/users/{user_uuid}", "auth.users.{user_uuid}.update", [this](Call& c, const Access& a) {
      User* u = reachable_user(a, c.param("user_uuid"));
      if (u == nullptr) return not_found("user", c.param("user_uuid"));
      auto parsed = object_body(c);
      if (auto* err = std::get_if<Reply>(&parsed)) return *err;
      const Json& j = std::get<Json>(parsed);
      if (const std::string name = str(j, "username"); !name.empty() && name != u->username) {
        if (s_.user_by_login(name) != nullptr) return conflict("The username is already taken", "users");
        u->username = name;
      }
      if (j.contains("firstname")) u->firstname = str(j, "firstname");
      if (j.contains("lastname")) u->lastname = str(j, "lastname");
      if (auto it = j.find("enabled"); it != j.end() && it->is_boolean()) u->enabled = it->get<bool>();
      return json_reply(200, s_.to_json(*u));
    });
    guarded(verb::delete_, "/users/{user_uuid}", "auth.users.{user_uuid}.delete", [this](Call& c, const Access& a) {
      if (reachable_user(a, c.param("user_uuid")) == nullptr) return not_found("user", c.param("user_uuid"));
      s_.delete_user(c.param("user_uuid"));
      return empty_reply(204);
    });
    guarded(verb::put, "/users/{user_uuid}/emails", "auth.users.{user_uuid}.emails.update",
            [this](Call& c, const Access& a) { return put_emails(c, a); });
    guarded(verb::put, "/users/{user_uuid}/password", "auth.users.{user_uuid}.password.edit",
            [this](Call& c, const Access& a) {
              User* u = reachable_user(a, c.param("user_uuid"));
              if (u == nullptr) return not_found("user", c.param("user_uuid"));
              auto parsed = object_body(c);
              if (auto* err = std::get_if<Reply>(&parsed)) return *err;
              const Json& j = std::get<Json>(parsed);
              const std::string fresh = str(j, "new_password");
              if (fresh.empty()) return bad_request("new_password: required");
              if (str(j, "old_password") != u->password) return auth_failed();
              u->password = fresh;
              return empty_reply(204);
            });
    // Asks for a reset e-mail; answers 204 whether or not the user exists (no account probing).
    open(verb::get, "/users/password/reset", [](Call& c) {
      if (!c.query_value("username") && !c.query_value("email") && !c.query_value("login"))
        return bad_request("username, email or login is required");
      return empty_reply(204);
    });
    // {user_uuid} in this ACL comes from the query string.
    guarded(verb::post, "/users/password/reset", "auth.users.password.reset.{user_uuid}.create",
            [this](Call& c, const Access& a) {
              User* u = reachable_user(a, c.query_value("user_uuid").value_or(""));
              if (u == nullptr) return not_found("user");
              auto parsed = object_body(c);
              if (auto* err = std::get_if<Reply>(&parsed)) return *err;
              const std::string password = str(std::get<Json>(parsed), "password");
              if (password.empty()) return bad_request("password: required");
              u->password = password;
              return empty_reply(204);
            });
    guarded(verb::get, "/users/{user_uuid}/policies", "auth.users.{user_uuid}.policies.read",
            [this](Call& c, const Access& a) {
              User* u = reachable_user(a, c.param("user_uuid"));
              if (u == nullptr) return not_found("user", c.param("user_uuid"));
              std::vector<Json> items;
              for (const auto& p : u->policies) {
                if (const Policy* policy = s_.policy(p)) items.push_back(s_.to_json(*policy, a.tenant));
              }
              return json_reply(200, paginate(c, std::move(items), {"name", "slug"}));
            });
    guarded(verb::put, "/users/{user_uuid}/policies/{policy_uuid}",
            "auth.users.{user_uuid}.policies.{policy_uuid}.create", [this](Call& c, const Access& a) {
              User* u = reachable_user(a, c.param("user_uuid"));
              if (u == nullptr) return not_found("user", c.param("user_uuid"));
              const Policy* p = s_.policy(c.param("policy_uuid"));
              if (p == nullptr || !s_.tenant_within(u->tenant_uuid, p->tenant_uuid))
                return not_found("policy", c.param("policy_uuid"));
              u->policies.insert(p->uuid);
              return empty_reply(204);
            });
    guarded(verb::delete_, "/users/{user_uuid}/policies/{policy_uuid}",
            "auth.users.{user_uuid}.policies.{policy_uuid}.delete", [this](Call& c, const Access& a) {
              User* u = reachable_user(a, c.param("user_uuid"));
              if (u == nullptr) return not_found("user", c.param("user_uuid"));
              if (u->policies.erase(c.param("policy_uuid")) == 0) return not_found("policy", c.param("policy_uuid"));
              return empty_reply(204);
            });
    guarded(verb::get, "/users/{user_uuid}/groups", "auth.users.{user_uuid}.groups.read",
            [this](Call& c, const Access& a) {
              User* u = reachable_user(a, c.param("user_uuid"));
              if (u == nullptr) return not_found("user", c.param("user_uuid"));
              std::vector<Json> items;
              for (const auto& [uuid, g] : s_.groups) {
                if (g.users.count(u->uuid) != 0) items.push_back(s_.to_json(g));
              }
              return json_reply(200, paginate(c, std::move(items), {"name", "slug"}));
            });
    guarded(verb::get, "/users/{user_uuid}/sessions", "auth.users.{user_uuid}.sessions.read",
            [this](Call& c, const Access& a) {
              if (reachable_user(a, c.param("user_uuid")) == nullptr) return not_found("user", c.param("user_uuid"));
              s_.purge_expired();
              std::vector<Json> items;
              for (const auto& [uuid, session] : s_.sessions) {
                if (session.user_uuid == c.param("user_uuid")) items.push_back(s_.to_json(session));
              }
              return json_reply(200, paginate(c, std::move(items), {}));
            });
    guarded(verb::delete_, "/users/{user_uuid}/sessions/{session_uuid}",
            "auth.users.{user_uuid}.sessions.{session_uuid}.delete", [this](Call& c, const Access&) {
              auto it = s_.sessions.find(c.param("session_uuid"));
              if (it != s_.sessions.end() && it->second.user_uuid == c.param("user_uuid"))
                s_.delete_session(c.param("session_uuid"));
              return empty_reply(204);
            });
    guarded(verb::get, "/users/{user_uuid_or_me}/tokens", "auth.users.{user_uuid_or_me}.tokens.read",
            [this](Call& c, const Access& a) {
              if (reachable_user(a, c.param("user_uuid_or_me")) == nullptr)
                return not_found("user", c.param("user_uuid_or_me"));
              std::vector<Json> items;
              for (const auto& [token, r] : s_.refresh_tokens) {
                if (r.user_uuid == c.param("user_uuid_or_me")) items.push_back(s_.to_json(r));
              }
              return json_reply(200, paginate(c, std::move(items), {"client_id"}));
            });
    guarded(verb::delete_, "/users/{user_uuid_or_me}/tokens/{client_id}",
            "auth.users.{user_uuid_or_me}.tokens.{client_id}.delete", [this](Call& c, const Access&) {
              if (!s_.delete_refresh_token(c.param("user_uuid_or_me"), c.param("client_id")))
                return not_found("token", c.param("client_id"));
              return empty_reply(204);
            });
  }

  Reply put_emails(Call& c, const Access& a) {
    User* u = reachable_user(a, c.param("user_uuid"));
    if (u == nullptr) return not_found("user", c.param("user_uuid"));
    auto parsed = object_body(c);
    if (auto* err = std::get_if<Reply>(&parsed)) return *err;
    const Json& j = std::get<Json>(parsed);
    if (!j.contains("emails") || !j["emails"].is_array() || j["emails"].size() > 100)
      return bad_request("emails: a list is required");
    std::vector<Email> emails;
    int mains = 0;
    for (const auto& e : j["emails"]) {
      if (!e.is_object() || str(e, "address").empty()) return bad_request("emails: each needs an address");
      const std::string address = str(e, "address");
      for (const auto& [uuid, other] : s_.users) {
        if (uuid == u->uuid) continue;
        for (const auto& oe : other.emails) {
          if (lower(oe.address) == lower(address)) return conflict("This email address is already used", "emails");
        }
      }
      const bool main = e.value("main", false);
      mains += main ? 1 : 0;
      bool confirmed = false;
      for (const auto& old : u->emails) {
        if (lower(old.address) == lower(address)) confirmed = old.confirmed;
      }
      emails.push_back({new_uuid(), address, main, confirmed});
    }
    if (!emails.empty() && mains != 1) return bad_request("emails: exactly one main address is required");
    u->emails = std::move(emails);
    return json_reply(200, Json{{"emails", s_.to_json(*u)["emails"]}});
  }

  // ---------------------------------------------------------------- external auth
  void add_external_routes() {
    guarded(verb::get, "/users/{user_uuid}/external", "auth.users.{user_uuid}.external.read",
            [this](Call& c, const Access& a) {
              User* u = reachable_user(a, c.param("user_uuid"));
              if (u == nullptr) return not_found("user", c.param("user_uuid"));
              std::vector<Json> items;
              items.push_back({{"type", "mobile"},
                               {"enabled", u->mobile.has_value()},
                               {"data", Json::object()},
                               {"plugin_info", Json::object()}});
              for (const char* provider : {"google", "microsoft"}) {
                items.push_back({{"type", provider},
                                 {"enabled", u->external.count(provider) != 0},
                                 {"data", Json::object()},
                                 {"plugin_info", Json::object()}});
              }
              return json_reply(200, paginate(c, std::move(items), {"type"}));
            });
    guarded(verb::get, "/users/{user_uuid}/external/mobile", "auth.users.{user_uuid}.external.mobile.read",
            [this](Call& c, const Access& a) {
              User* u = reachable_user(a, c.param("user_uuid"));
              if (u == nullptr) return not_found("user", c.param("user_uuid"));
              if (!u->mobile) return not_found("external-auth", "mobile");
              return json_reply(200, *u->mobile);
            });
    auto store_mobile = [this](Call& c, const Access& a) {
      User* u = reachable_user(a, c.param("user_uuid"));
      if (u == nullptr) return not_found("user", c.param("user_uuid"));
      auto parsed = object_body(c);
      if (auto* err = std::get_if<Reply>(&parsed)) return *err;
      const Json& j = std::get<Json>(parsed);
      Json data = Json::object();
      for (const char* field : {"token", "apns_token", "apns_voip_token", "apns_notification_token", "apns_call_topic",
                                "apns_default_topic"}) {
        if (auto it = j.find(field); it != j.end()) {
          if (!it->is_string() && !it->is_null()) return bad_request(std::string(field) + ": must be a string");
          if (it->is_string() && it->get<std::string>().size() > 512)
            return bad_request(std::string(field) + ": too long");
          data[field] = *it;
        }
      }
      u->mobile = data;
      return json_reply(200, data);
    };
    guarded(verb::post, "/users/{user_uuid}/external/mobile", "auth.users.{user_uuid}.external.mobile.create",
            store_mobile);
    guarded(verb::put, "/users/{user_uuid}/external/mobile", "auth.users.{user_uuid}.external.mobile.update",
            store_mobile);
    guarded(verb::delete_, "/users/{user_uuid}/external/mobile", "auth.users.{user_uuid}.external.mobile.delete",
            [this](Call& c, const Access& a) {
              User* u = reachable_user(a, c.param("user_uuid"));
              if (u == nullptr) return not_found("user", c.param("user_uuid"));
              u->mobile.reset();
              return empty_reply(204);
            });
    guarded(verb::get, "/users/{user_uuid}/external/mobile/sender_id",
            "auth.users.{user_uuid}.external.mobile.sender_id.read", [this](Call& c, const Access& a) {
              if (reachable_user(a, c.param("user_uuid")) == nullptr) return not_found("user", c.param("user_uuid"));
              return json_reply(200, Json{{"sender_id", s_.mobile_sender_id}});
            });
    // Google and Microsoft: the device flow is started (POST) but no provider answers here, so the
    // connection stays pending: GET is 404 until connected, DELETE drops the pending connection.
    guarded(verb::get, "/users/{user_uuid}/external/{provider}", "auth.users.{user_uuid}.external.{provider}.read",
            [this](Call& c, const Access& a) {
              User* u = reachable_user(a, c.param("user_uuid"));
              if (u == nullptr) return not_found("user", c.param("user_uuid"));
              if (!known_provider(c.param("provider"))) return not_found("external-auth", c.param("provider"));
              auto it = u->external.find(c.param("provider"));
              if (it == u->external.end() || !it->second.contains("access_token"))
                return not_found("external-auth", c.param("provider"));
              return json_reply(200, it->second);
            });
    guarded(verb::post, "/users/{user_uuid}/external/{provider}", "auth.users.{user_uuid}.external.{provider}.create",
            [this](Call& c, const Access& a) {
              User* u = reachable_user(a, c.param("user_uuid"));
              if (u == nullptr) return not_found("user", c.param("user_uuid"));
              const std::string provider = c.param("provider");
              if (!known_provider(provider)) return not_found("external-auth", provider);
              auto parsed = object_body(c);
              if (auto* err = std::get_if<Reply>(&parsed)) return *err;
              u->external[provider] = Json{{"pending", true}, {"scope", std::get<Json>(parsed).value("scope", Json())}};
              const std::string url =
                  provider == "google" ? "https://www.google.com/device" : "https://microsoft.com/devicelogin";
              return json_reply(201, Json{{"verification_url", url}, {"user_code", random_token(8)}});
            });
    guarded(verb::delete_, "/users/{user_uuid}/external/{provider}",
            "auth.users.{user_uuid}.external.{provider}.delete", [this](Call& c, const Access& a) {
              User* u = reachable_user(a, c.param("user_uuid"));
              if (u == nullptr) return not_found("user", c.param("user_uuid"));
              if (!known_provider(c.param("provider")) || u->external.erase(c.param("provider")) == 0)
                return not_found("external-auth", c.param("provider"));
              return empty_reply(204);
            });
  }
  static bool known_provider(const std::string& p) { return p == "google" || p == "microsoft"; }

  // ---------------------------------------------------------------- tenants, groups, policies, sessions
  void add_admin_routes() {
    add_tenant_routes();
    add_group_routes();
    add_policy_routes();
    guarded(verb::get, "/sessions", "auth.sessions.read", [this](Call& c, const Access& a) {
      s_.purge_expired();
      std::vector<Json> items;
      for (const auto& [uuid, session] : s_.sessions) {
        if (visible(s_, c, a, session.tenant_uuid)) items.push_back(s_.to_json(session));
      }
      return json_reply(200, paginate(c, std::move(items), {}));
    });
    guarded(verb::delete_, "/sessions/{session_uuid}", "auth.sessions.{session_uuid}.delete",
            [this](Call& c, const Access& a) {
              auto it = s_.sessions.find(c.param("session_uuid"));
              if (it != s_.sessions.end() && reachable(s_, a, it->second.tenant_uuid))
                s_.delete_session(c.param("session_uuid"));
              return empty_reply(204);
            });
  }

  void add_tenant_routes() {
    guarded(verb::get, "/tenants", "auth.tenants.read", [this](Call& c, const Access& a) {
      std::vector<Json> items;
      for (const auto& uuid : s_.tenants_below(a.tenant)) items.push_back(s_.to_json(s_.tenants.at(uuid)));
      return json_reply(200, paginate(c, std::move(items), {"name", "slug", "uuid"}));
    });
    guarded(verb::post, "/tenants", "auth.tenants.create", [this](Call& c, const Access& a) {
      auto parsed = object_body(c);
      if (auto* err = std::get_if<Reply>(&parsed)) return *err;
      const Json& j = std::get<Json>(parsed);
      Tenant t;
      t.uuid = str(j, "uuid").empty() ? new_uuid() : str(j, "uuid");
      if (s_.tenant(t.uuid) != nullptr) return conflict("This tenant uuid is already used", "tenants");
      t.name = str(j, "name");
      if (t.name.size() > 128) return bad_request("name: at most 128 characters");
      t.slug = str(j, "slug").empty() ? slugify(t.name.empty() ? t.uuid.substr(0, 8) : t.name) : str(j, "slug");
      for (const auto& [uuid, other] : s_.tenants) {
        if (other.slug == t.slug) return conflict("This slug is already used", "tenants");
      }
      t.parent_uuid = str(j, "parent_uuid").empty() ? a.tenant : str(j, "parent_uuid");
      if (!s_.tenant_within(t.parent_uuid, a.token.tenant_uuid)) return not_found("tenant", t.parent_uuid);
      t.contact = str(j, "contact_uuid");
      t.phone = str(j, "phone");
      if (auto it = j.find("address"); it != j.end() && it->is_object()) t.address = *it;
      if (auto it = j.find("domain_names"); it != j.end() && it->is_array()) {
        for (const auto& d : *it) {
          if (d.is_string()) t.domain_names.push_back(d.get<std::string>());
        }
      }
      return json_reply(200, s_.to_json(s_.add_tenant(std::move(t))));
    });
    guarded(verb::get, "/tenants/{tenant_uuid}", "auth.tenants.{tenant_uuid}.read", [this](Call& c, const Access& a) {
      Tenant* t = s_.tenant(c.param("tenant_uuid"));
      if (t == nullptr || !reachable(s_, a, t->uuid)) return not_found("tenant", c.param("tenant_uuid"));
      return json_reply(200, s_.to_json(*t));
    });
    guarded(verb::put, "/tenants/{tenant_uuid}", "auth.tenants.{tenant_uuid}.update", [this](Call& c, const Access& a) {
      Tenant* t = s_.tenant(c.param("tenant_uuid"));
      if (t == nullptr || !reachable(s_, a, t->uuid)) return not_found("tenant", c.param("tenant_uuid"));
      auto parsed = object_body(c);
      if (auto* err = std::get_if<Reply>(&parsed)) return *err;
      const Json& j = std::get<Json>(parsed);
      if (j.contains("name")) t->name = str(j, "name");
      if (j.contains("contact")) t->contact = str(j, "contact");
      if (j.contains("contact_uuid")) t->contact = str(j, "contact_uuid");
      if (j.contains("phone")) t->phone = str(j, "phone");
      if (auto it = j.find("address"); it != j.end() && it->is_object()) t->address = *it;
      if (auto it = j.find("domain_names"); it != j.end() && it->is_array()) {
        t->domain_names.clear();
        for (const auto& d : *it) {
          if (d.is_string()) t->domain_names.push_back(d.get<std::string>());
        }
      }
      return json_reply(200, s_.to_json(*t));
    });
    guarded(verb::delete_, "/tenants/{tenant_uuid}", "auth.tenants.{tenant_uuid}.delete",
            [this](Call& c, const Access& a) {
              Tenant* t = s_.tenant(c.param("tenant_uuid"));
              if (t == nullptr || !reachable(s_, a, t->uuid)) return not_found("tenant", c.param("tenant_uuid"));
              if (t->uuid == a.token.tenant_uuid)
                return json_reply(403, api_error_body("A tenant cannot delete itself", "forbidden"));
              s_.delete_tenant(t->uuid);
              return empty_reply(204);
            });
  }

  void add_group_routes() {
    guarded(verb::get, "/groups", "auth.groups.read", [this](Call& c, const Access& a) {
      std::vector<Json> items;
      for (const auto& [uuid, g] : s_.groups) {
        if (visible(s_, c, a, g.tenant_uuid)) items.push_back(s_.to_json(g));
      }
      return json_reply(200, paginate(c, std::move(items), {"name", "slug", "uuid"}));
    });
    guarded(verb::post, "/groups", "auth.groups.create", [this](Call& c, const Access& a) {
      auto parsed = object_body(c);
      if (auto* err = std::get_if<Reply>(&parsed)) return *err;
      const Json& j = std::get<Json>(parsed);
      Group g;
      g.name = str(j, "name");
      if (g.name.empty() || g.name.size() > 128) return bad_request("name: 1 to 128 characters");
      g.slug = str(j, "slug").empty() ? slugify(g.name) : str(j, "slug");
      for (const auto& [uuid, other] : s_.groups) {
        if (other.tenant_uuid == a.tenant && (other.name == g.name || other.slug == g.slug))
          return conflict("A group with this name already exists", "groups");
      }
      g.uuid = new_uuid();
      g.tenant_uuid = a.tenant;
      const std::string uuid = g.uuid;
      s_.groups[uuid] = std::move(g);
      return json_reply(200, s_.to_json(s_.groups[uuid]));
    });
    guarded(verb::get, "/groups/{group_uuid}", "auth.groups.{group_uuid}.read", [this](Call& c, const Access& a) {
      Group* g = reachable_group(a, c.param("group_uuid"));
      return g == nullptr ? not_found("group", c.param("group_uuid")) : json_reply(200, s_.to_json(*g));
    });
    guarded(verb::put, "/groups/{group_uuid}", "auth.groups.{group_uuid}.update", [this](Call& c, const Access& a) {
      Group* g = reachable_group(a, c.param("group_uuid"));
      if (g == nullptr) return not_found("group", c.param("group_uuid"));
      auto parsed = object_body(c);
      if (auto* err = std::get_if<Reply>(&parsed)) return *err;
      if (const std::string name = str(std::get<Json>(parsed), "name"); !name.empty()) g->name = name;
      return json_reply(200, s_.to_json(*g));
    });
    guarded(verb::delete_, "/groups/{group_uuid}", "auth.groups.{group_uuid}.delete", [this](Call& c, const Access& a) {
      if (reachable_group(a, c.param("group_uuid")) == nullptr) return not_found("group", c.param("group_uuid"));
      s_.delete_group(c.param("group_uuid"));
      return empty_reply(204);
    });
    guarded(verb::get, "/groups/{group_uuid}/users", "auth.groups.{group_uuid}.users.read",
            [this](Call& c, const Access& a) {
              Group* g = reachable_group(a, c.param("group_uuid"));
              if (g == nullptr) return not_found("group", c.param("group_uuid"));
              std::vector<Json> items;
              for (const auto& uuid : g->users) {
                if (const User* u = s_.user(uuid)) items.push_back(s_.to_json(*u));
              }
              return json_reply(200, paginate(c, std::move(items), {"username", "firstname", "lastname"}));
            });
    guarded(verb::put, "/groups/{group_uuid}/users/{user_uuid}", "auth.groups.{group_uuid}.users.{user_uuid}.create",
            [this](Call& c, const Access& a) {
              Group* g = reachable_group(a, c.param("group_uuid"));
              if (g == nullptr) return not_found("group", c.param("group_uuid"));
              User* u = reachable_user(a, c.param("user_uuid"));
              if (u == nullptr) return not_found("user", c.param("user_uuid"));
              g->users.insert(u->uuid);
              return empty_reply(204);
            });
    guarded(verb::delete_, "/groups/{group_uuid}/users/{user_uuid}",
            "auth.groups.{group_uuid}.users.{user_uuid}.delete", [this](Call& c, const Access& a) {
              Group* g = reachable_group(a, c.param("group_uuid"));
              if (g == nullptr) return not_found("group", c.param("group_uuid"));
              if (g->users.erase(c.param("user_uuid")) == 0) return not_found("user", c.param("user_uuid"));
              return empty_reply(204);
            });
    guarded(verb::get, "/groups/{group_uuid}/policies", "auth.groups.{group_uuid}.policies.read",
            [this](Call& c, const Access& a) {
              Group* g = reachable_group(a, c.param("group_uuid"));
              if (g == nullptr) return not_found("group", c.param("group_uuid"));
              std::vector<Json> items;
              for (const auto& uuid : g->policies) {
                if (const Policy* p = s_.policy(uuid)) items.push_back(s_.to_json(*p, a.tenant));
              }
              return json_reply(200, paginate(c, std::move(items), {"name", "slug"}));
            });
    guarded(verb::put, "/groups/{group_uuid}/policies/{policy_uuid}",
            "auth.groups.{group_uuid}.policies.{policy_uuid}.create", [this](Call& c, const Access& a) {
              Group* g = reachable_group(a, c.param("group_uuid"));
              if (g == nullptr) return not_found("group", c.param("group_uuid"));
              const Policy* p = s_.policy(c.param("policy_uuid"));
              if (p == nullptr || !s_.tenant_within(g->tenant_uuid, p->tenant_uuid))
                return not_found("policy", c.param("policy_uuid"));
              g->policies.insert(p->uuid);
              return empty_reply(204);
            });
    guarded(verb::delete_, "/groups/{group_uuid}/policies/{policy_uuid}",
            "auth.groups.{group_uuid}.policies.{policy_uuid}.delete", [this](Call& c, const Access& a) {
              Group* g = reachable_group(a, c.param("group_uuid"));
              if (g == nullptr) return not_found("group", c.param("group_uuid"));
              if (g->policies.erase(c.param("policy_uuid")) == 0) return not_found("policy", c.param("policy_uuid"));
              return empty_reply(204);
            });
  }
  Group* reachable_group(const Access& a, const std::string& uuid) {
    Group* g = s_.group(uuid);
    return (g != nullptr && reachable(s_, a, g->tenant_uuid)) ? g : nullptr;
  }

  void add_policy_routes() {
    guarded(verb::get, "/policies", "auth.policies.read", [this](Call& c, const Access& a) {
      std::vector<Json> items;
      for (const auto& [uuid, p] : s_.policies) {
        const bool inherited = p.shared && s_.tenant_within(a.tenant, p.tenant_uuid);
        if (visible(s_, c, a, p.tenant_uuid) || inherited) items.push_back(s_.to_json(p, a.tenant));
      }
      return json_reply(200, paginate(c, std::move(items), {"name", "slug", "description"}));
    });
    guarded(verb::post, "/policies", "auth.policies.create", [this](Call& c, const Access& a) {
      auto parsed = object_body(c);
      if (auto* err = std::get_if<Reply>(&parsed)) return *err;
      const Json& j = std::get<Json>(parsed);
      Policy p;
      p.name = str(j, "name");
      if (p.name.empty() || p.name.size() > 80) return bad_request("name: 1 to 80 characters");
      p.slug = str(j, "slug").empty() ? slugify(p.name) : str(j, "slug");
      for (const auto& [uuid, other] : s_.policies) {
        if (other.tenant_uuid == a.tenant && other.slug == p.slug)
          return conflict("A policy with this slug already exists", "policies");
      }
      p.description = str(j, "description");
      if (auto it = j.find("acl"); it != j.end()) {
        if (!it->is_array() || it->size() > 10000) return bad_request("acl: a list of strings");
        for (const auto& entry : *it) {
          if (!entry.is_string()) return bad_request("acl: a list of strings");
          p.acl.push_back(entry.get<std::string>());
        }
      }
      p.shared = j.value("shared", false);
      p.uuid = new_uuid();
      p.tenant_uuid = a.tenant;
      const std::string uuid = p.uuid;
      s_.policies[uuid] = std::move(p);
      return json_reply(200, s_.to_json(s_.policies[uuid], a.tenant));
    });
    guarded(verb::get, "/policies/{policy_uuid}", "auth.policies.{policy_uuid}.read", [this](Call& c, const Access& a) {
      Policy* p = s_.policy(c.param("policy_uuid"));
      if (p == nullptr || !(reachable(s_, a, p->tenant_uuid) || s_.tenant_within(a.tenant, p->tenant_uuid)))
        return not_found("policy", c.param("policy_uuid"));
      return json_reply(200, s_.to_json(*p, a.tenant));
    });
    guarded(verb::delete_, "/policies/{policy_uuid}", "auth.policies.{policy_uuid}.delete",
            [this](Call& c, const Access& a) {
              Policy* p = s_.policy(c.param("policy_uuid"));
              if (p == nullptr || !reachable(s_, a, p->tenant_uuid)) return not_found("policy", c.param("policy_uuid"));
              if (p->read_only) return json_reply(403, api_error_body("This policy is read-only", "read-only-policy"));
              s_.delete_policy(p->uuid);
              return empty_reply(204);
            });
  }

  Router& r_;
  State& s_;
};

}  // namespace

void add_auth_routes(Router& router, State& state) {
  auto service = std::make_shared<AuthService>(router, state);
  service->add_routes();
  router.own(std::move(service));  // its handlers refer to it
}

}  // namespace wazo::engine
