#include "wazo/rest/auth.hpp"

#include "rest/detail/service.hpp"

namespace wazo::rest {

namespace {

using detail::fetch;
using detail::fetch_json;
using detail::fetch_ok;
using detail::make_request;
using detail::Route;

// The wazo-auth routes the client uses, as data.
namespace routes {
constexpr Route token{Method::post, "auth/0.1/token"};
constexpr Route token_head{Method::head, "auth/0.1/token/{token}"};
constexpr Route token_get{Method::get, "auth/0.1/token/{token}"};
constexpr Route token_delete{Method::del, "auth/0.1/token/{token}"};
constexpr Route token_scopes{Method::post, "auth/0.1/token/{token}/scopes/check"};
constexpr Route saml_logout{Method::get, "auth/0.1/saml/logout"};
constexpr Route saml_sso{Method::post, "auth/0.1/saml/sso"};
constexpr Route my_refresh_token{Method::del, "auth/0.1/users/me/tokens/{client_id}"};
constexpr Route user_password{Method::put, "auth/0.1/users/{user_uuid}/password"};
constexpr Route password_reset_ask{Method::get, "auth/0.1/users/password/reset"};
constexpr Route password_reset{Method::post, "auth/0.1/users/password/reset"};
constexpr Route mobile_get{Method::get, "auth/0.1/users/{user_uuid}/external/mobile"};
constexpr Route mobile_post{Method::post, "auth/0.1/users/{user_uuid}/external/mobile"};
constexpr Route mobile_delete{Method::del, "auth/0.1/users/{user_uuid}/external/mobile"};
constexpr Route mobile_sender{Method::get, "auth/0.1/users/{user_uuid}/external/mobile/sender_id"};
constexpr Route external{Method::get, "auth/0.1/users/{user_uuid}/external"};
constexpr Route provider_get{Method::get, "auth/0.1/users/{user_uuid}/external/{provider}"};
constexpr Route provider_post{Method::post, "auth/0.1/users/{user_uuid}/external/{provider}"};
constexpr Route provider_delete{Method::del, "auth/0.1/users/{user_uuid}/external/{provider}"};
constexpr Route users{Method::get, "auth/0.1/users"};
constexpr Route user_create{Method::post, "auth/0.1/users"};
constexpr Route user_get{Method::get, "auth/0.1/users/{user_uuid}"};
constexpr Route user_delete{Method::del, "auth/0.1/users/{user_uuid}"};
constexpr Route user_emails{Method::put, "auth/0.1/users/{user_uuid}/emails"};
constexpr Route user_policy_put{Method::put, "auth/0.1/users/{user_uuid}/policies/{policy_uuid}"};
constexpr Route user_policy_delete{Method::del, "auth/0.1/users/{user_uuid}/policies/{policy_uuid}"};
constexpr Route user_sessions{Method::get, "auth/0.1/users/{user_uuid}/sessions"};
constexpr Route user_session_delete{Method::del, "auth/0.1/users/{user_uuid}/sessions/{session_uuid}"};
constexpr Route group_user_put{Method::put, "auth/0.1/groups/{group_uuid}/users/{user_uuid}"};
constexpr Route group_user_delete{Method::del, "auth/0.1/groups/{group_uuid}/users/{user_uuid}"};
constexpr Route group_users{Method::get, "auth/0.1/groups/{group_uuid}/users"};
constexpr Route tenants{Method::get, "auth/0.1/tenants"};
constexpr Route tenant_create{Method::post, "auth/0.1/tenants"};
constexpr Route tenant_get{Method::get, "auth/0.1/tenants/{tenant_uuid}"};
constexpr Route tenant_put{Method::put, "auth/0.1/tenants/{tenant_uuid}"};
constexpr Route tenant_delete{Method::del, "auth/0.1/tenants/{tenant_uuid}"};
constexpr Route groups{Method::get, "auth/0.1/groups"};
constexpr Route group_create{Method::post, "auth/0.1/groups"};
constexpr Route group_delete{Method::del, "auth/0.1/groups/{group_uuid}"};
constexpr Route policies{Method::get, "auth/0.1/policies"};
constexpr Route policy_create{Method::post, "auth/0.1/policies"};
constexpr Route policy_delete{Method::del, "auth/0.1/policies/{policy_uuid}"};
}  // namespace routes

std::string base64(std::string_view in) {
  static constexpr char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16U) | (static_cast<unsigned char>(in[i + 1]) << 8U) |
                       static_cast<unsigned char>(in[i + 2]);
    out += table[(v >> 18U) & 63U];
    out += table[(v >> 12U) & 63U];
    out += table[(v >> 6U) & 63U];
    out += table[v & 63U];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16U;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8U;
    out += table[(v >> 18U) & 63U];
    out += table[(v >> 12U) & 63U];
    out += (i + 1 < in.size()) ? table[(v >> 6U) & 63U] : '=';
    out += '=';
  }
  return out;
}

Result<Session> parse_session(const Json& j) { return Session::from_json(j); }
Result<User> parse_user(const Json& j) { return user_from_json(j); }
Result<Tenant> parse_tenant(const Json& j) { return tenant_from_json(j); }
Result<Group> parse_group(const Json& j) { return group_from_json(j); }
Result<Policy> parse_policy(const Json& j) { return policy_from_json(j); }
Result<List<User>> parse_users(const Json& j) { return list_from_json<User>(j, user_from_json); }

// A token request (log in, refresh, SAML): not authenticated, never refresh-and-replay.
Request token_request(Json body, bool mobile) {
  Request r = make_request(routes::token);
  r.authenticated = false;
  r.refresh_on_401 = false;
  r.json = std::move(body);
  if (mobile) r.headers.emplace_back("Wazo-Session-Type", "mobile");
  return r;
}

}  // namespace

Async<bool> AuthApi::check_token(const std::string& token) {
  Request r = make_request(routes::token_head, {token});
  r.authenticated = false;
  r.refresh_on_401 = false;
  r.accept_statuses = {404};
  r.quiet_statuses = {404};
  Promise<bool> p(client_.runtime().executor());
  auto out = p.async();
  client_.send(std::move(r)).then([p](Result<Response> res) {
    if (!res) {
      p.set(std::move(res).error());
      return;
    }
    p.set(res->status < 300);
  });
  return out;
}

Async<Session> AuthApi::authenticate(const std::string& token) {
  Request r = make_request(routes::token_get, {token});
  r.authenticated = false;
  r.refresh_on_401 = false;
  return fetch<Session>(client_, std::move(r), parse_session);
}

Async<Session> AuthApi::log_in(LoginParams params) {
  Json body = {{"backend", params.backend}, {"expiration", params.expiration}};
  const std::string client_id = client_.client_id();
  if (!client_id.empty()) {
    body["access_type"] = "offline";
    body["client_id"] = client_id;
  }
  if (!params.tenant_id.empty()) body["tenant_id"] = params.tenant_id;
  if (!params.domain_name.empty()) body["domain_name"] = params.domain_name;
  Request r = token_request(std::move(body), params.mobile || client_.is_mobile());
  r.headers.emplace_back("Authorization", "Basic " + base64(params.username + ":" + params.password));
  for (auto& h : params.headers) r.headers.push_back(std::move(h));
  ApiClient client = client_;
  Promise<Session> p(client_.runtime().executor());
  auto out = p.async();
  fetch<Session>(client_, std::move(r), parse_session).then([p, client](Result<Session> s) mutable {
    if (s) {
      client.set_token(s->token);
      if (!s->refresh_token.empty()) client.set_refresh_token(s->refresh_token);
    }
    p.set(std::move(s));
  });
  return out;
}

Async<Json> AuthApi::log_out(const std::string& token) {
  Request r = make_request(routes::token_delete, {token});
  r.refresh_on_401 = false;
  return fetch_json(client_, std::move(r));
}

Async<Session> AuthApi::saml_log_in(const std::string& saml_session_id) {
  return fetch<Session>(client_, token_request({{"saml_session_id", saml_session_id}}, client_.is_mobile()),
                        parse_session);
}

Async<Json> AuthApi::saml_log_out() { return fetch_json(client_, make_request(routes::saml_logout)); }

Async<Json> AuthApi::initiate_idp_authentication(const std::string& domain, const std::string& redirect_url) {
  Request r = make_request(routes::saml_sso);
  r.authenticated = false;
  r.json = Json{{"domain", domain}, {"redirect_url", redirect_url}};
  return fetch_json(client_, std::move(r));
}

Async<Session> AuthApi::refresh_token(const std::string& refresh_token, const std::string& backend, int expiration,
                                      bool mobile, const std::string& tenant_id, const std::string& domain_name) {
  Json body = {{"backend", backend},
               {"expiration", expiration},
               {"refresh_token", refresh_token},
               {"client_id", client_.client_id()}};
  if (!tenant_id.empty()) body["tenant_id"] = tenant_id;
  if (!domain_name.empty()) body["domain_name"] = domain_name;
  return fetch<Session>(client_, token_request(std::move(body), mobile), parse_session);
}

Async<bool> AuthApi::delete_refresh_token(const std::string& client_id) {
  return fetch_ok(client_, make_request(routes::my_refresh_token, {client_id}));
}

Async<Json> AuthApi::get_restriction_policies(const std::vector<std::string>& scopes) {
  Request r = make_request(routes::token_scopes, {client_.token()});
  r.json = Json{{"scopes", scopes}};
  return fetch_json(client_, std::move(r));
}

Async<bool> AuthApi::update_password(const std::string& user_uuid, const std::string& old_password,
                                     const std::string& new_password) {
  Request r = make_request(routes::user_password, {user_uuid});
  r.json = Json{{"old_password", old_password}, {"new_password", new_password}};
  return fetch_ok(client_, std::move(r));
}

Async<bool> AuthApi::send_reset_password_email(const ResetPasswordEmail& who) {
  Request r = make_request(routes::password_reset_ask);
  r.authenticated = false;
  if (!who.username.empty()) r.query.emplace_back("username", who.username);
  if (!who.email.empty()) r.query.emplace_back("email", who.email);
  return fetch_ok(client_, std::move(r));
}

Async<bool> AuthApi::reset_password(const std::string& user_uuid, const std::string& password) {
  Request r = make_request(routes::password_reset);
  r.query.emplace_back("user_uuid", user_uuid);
  r.json = Json{{"password", password}};
  return fetch_ok(client_, std::move(r));
}

Async<DeviceToken> AuthApi::get_device_token(const std::string& user_uuid) {
  return fetch<DeviceToken>(client_, make_request(routes::mobile_get, {user_uuid}), device_token_from_json);
}

Async<Json> AuthApi::send_device_token(const std::string& user_uuid, const std::string& device_token,
                                       const std::string& apns_voip_token, const std::string& apns_notification_token) {
  Request r = make_request(routes::mobile_post, {user_uuid});
  Json body = {{"token", device_token}};
  if (!apns_voip_token.empty()) body["apns_voip_token"] = apns_voip_token;
  if (!apns_notification_token.empty()) body["apns_notification_token"] = apns_notification_token;
  r.json = std::move(body);
  return fetch_json(client_, std::move(r));
}

Async<std::string> AuthApi::get_push_notification_sender_id(const std::string& user_uuid) {
  return fetch<std::string>(client_, make_request(routes::mobile_sender, {user_uuid}),
                            [](const Json& j) -> Result<std::string> {
                              if (j.is_object() && j.contains("sender_id") && j["sender_id"].is_string())
                                return j["sender_id"].get<std::string>();
                              return Error(ErrorCategory::parse, "no sender_id in response");
                            });
}

Async<bool> AuthApi::remove_device_token(const std::string& user_uuid) {
  return fetch_ok(client_, make_request(routes::mobile_delete, {user_uuid}));
}

Async<Json> AuthApi::get_providers(const std::string& user_uuid) {
  return fetch_json(client_, make_request(routes::external, {user_uuid}));
}

Async<Json> AuthApi::get_provider_token(const std::string& user_uuid, const std::string& provider) {
  Request r = make_request(routes::provider_get, {user_uuid, provider});
  r.accept_statuses = {404};
  r.quiet_statuses = {404};
  return fetch<Json>(client_, std::move(r), [](const Json& j) -> Result<Json> { return j; });
}

Async<Json> AuthApi::get_provider_auth_url(const std::string& user_uuid, const std::string& provider) {
  Request r = make_request(routes::provider_post, {user_uuid, provider});
  r.json = Json::object();
  return fetch_json(client_, std::move(r));
}

Async<bool> AuthApi::delete_provider_token(const std::string& user_uuid, const std::string& provider) {
  return fetch_ok(client_, make_request(routes::provider_delete, {user_uuid, provider}));
}

Async<User> AuthApi::create_user(const std::string& username, const std::string& password, const std::string& firstname,
                                 const std::string& lastname) {
  Request r = make_request(routes::user_create);
  r.json = Json{{"username", username}, {"password", password}, {"firstname", firstname}, {"lastname", lastname}};
  return fetch<User>(client_, std::move(r), parse_user);
}

Async<User> AuthApi::get_user(const std::string& user_uuid) {
  return fetch<User>(client_, make_request(routes::user_get, {user_uuid}), parse_user);
}

Async<List<User>> AuthApi::list_users() { return fetch<List<User>>(client_, make_request(routes::users), parse_users); }

Async<bool> AuthApi::delete_user(const std::string& user_uuid) {
  return fetch_ok(client_, make_request(routes::user_delete, {user_uuid}));
}

Async<bool> AuthApi::add_user_email(const std::string& user_uuid, const std::string& email, bool main) {
  Request r = make_request(routes::user_emails, {user_uuid});
  r.json = Json{{"emails", Json::array({Json{{"address", email}, {"main", main}}})}};
  return fetch_ok(client_, std::move(r));
}

Async<bool> AuthApi::add_user_policy(const std::string& user_uuid, const std::string& policy_uuid) {
  return fetch_ok(client_, make_request(routes::user_policy_put, {user_uuid, policy_uuid}));
}

Async<bool> AuthApi::delete_user_policy(const std::string& user_uuid, const std::string& policy_uuid) {
  return fetch_ok(client_, make_request(routes::user_policy_delete, {user_uuid, policy_uuid}));
}

Async<bool> AuthApi::add_user_group(const std::string& user_uuid, const std::string& group_uuid) {
  return fetch_ok(client_, make_request(routes::group_user_put, {group_uuid, user_uuid}));
}

Async<List<User>> AuthApi::list_users_group(const std::string& group_uuid) {
  return fetch<List<User>>(client_, make_request(routes::group_users, {group_uuid}), parse_users);
}

Async<bool> AuthApi::delete_user_group(const std::string& user_uuid, const std::string& group_uuid) {
  return fetch_ok(client_, make_request(routes::group_user_delete, {group_uuid, user_uuid}));
}

Async<List<UserSession>> AuthApi::get_user_session(const std::string& user_uuid) {
  return fetch<List<UserSession>>(client_, make_request(routes::user_sessions, {user_uuid}),
                                  [](const Json& j) { return list_from_json<UserSession>(j, user_session_from_json); });
}

Async<bool> AuthApi::delete_user_session(const std::string& user_uuid, const std::string& session_uuid) {
  return fetch_ok(client_, make_request(routes::user_session_delete, {user_uuid, session_uuid}));
}

Async<List<Tenant>> AuthApi::list_tenants() {
  return fetch<List<Tenant>>(client_, make_request(routes::tenants),
                             [](const Json& j) { return list_from_json<Tenant>(j, tenant_from_json); });
}

Async<Tenant> AuthApi::get_tenant(const std::string& tenant_uuid) {
  return fetch<Tenant>(client_, make_request(routes::tenant_get, {tenant_uuid}), parse_tenant);
}

Async<Tenant> AuthApi::create_tenant(const std::string& name) {
  Request r = make_request(routes::tenant_create);
  r.json = Json{{"name", name}};
  return fetch<Tenant>(client_, std::move(r), parse_tenant);
}

Async<Tenant> AuthApi::update_tenant(const std::string& uuid, const std::string& name, const std::string& contact,
                                     const std::string& phone, const Json& address) {
  Request r = make_request(routes::tenant_put, {uuid});
  Json body = {{"name", name}, {"phone", phone}, {"address", address.is_object() ? address : Json::object()}};
  if (!contact.empty()) body["contact"] = contact;
  r.json = std::move(body);
  return fetch<Tenant>(client_, std::move(r), parse_tenant);
}

Async<bool> AuthApi::delete_tenant(const std::string& uuid) {
  return fetch_ok(client_, make_request(routes::tenant_delete, {uuid}));
}

Async<Group> AuthApi::create_group(const std::string& name) {
  Request r = make_request(routes::group_create);
  r.json = Json{{"name", name}};
  return fetch<Group>(client_, std::move(r), parse_group);
}

Async<List<Group>> AuthApi::list_groups() {
  return fetch<List<Group>>(client_, make_request(routes::groups),
                            [](const Json& j) { return list_from_json<Group>(j, group_from_json); });
}

Async<bool> AuthApi::delete_group(const std::string& uuid) {
  return fetch_ok(client_, make_request(routes::group_delete, {uuid}));
}

Async<Policy> AuthApi::create_policy(const std::string& name, const std::string& description,
                                     const std::vector<std::string>& acl) {
  Request r = make_request(routes::policy_create);
  r.json = Json{{"name", name}, {"description", description}, {"acl", acl}};
  return fetch<Policy>(client_, std::move(r), parse_policy);
}

Async<List<Policy>> AuthApi::list_policies() {
  return fetch<List<Policy>>(client_, make_request(routes::policies),
                             [](const Json& j) { return list_from_json<Policy>(j, policy_from_json); });
}

Async<bool> AuthApi::delete_policy(const std::string& policy_uuid) {
  return fetch_ok(client_, make_request(routes::policy_delete, {policy_uuid}));
}

}  // namespace wazo::rest
