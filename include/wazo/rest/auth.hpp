// The wazo-auth client: all 44 methods of the seed's `client.auth` (base /api/auth/0.1).
// Obtain it with `client.auth()`; it is a light handle sharing the ApiClient's state.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "wazo/rest/api_client.hpp"
#include "wazo/rest/models.hpp"

namespace wazo::rest {

struct LoginParams {
  std::string username;
  std::string password;
  std::string backend = "wazo_user";
  int expiration = 3600;  // seconds
  bool mobile = false;    // sends Wazo-Session-Type: mobile
  std::string tenant_id;  // deprecated by Wazo; prefer domain_name
  std::string domain_name;
  Headers headers;  // extra headers
};

struct ResetPasswordEmail {  // one of the two
  std::string username;
  std::string email;
};

class AuthApi {
 public:
  explicit AuthApi(ApiClient client) : client_(std::move(client)) {}

  // Tokens and sessions. log_in asks for a refresh token when the client has a client id, and on success
  // stores the token and refresh token in the client (so later calls and refreshes use them).
  Async<bool> check_token(const std::string& token);               // HEAD /token/{token}: false when unknown/expired
  Async<Session> authenticate(const std::string& token);           // GET /token/{token}
  Async<Session> log_in(LoginParams params);                       // POST /token (Basic auth)
  Async<Json> log_out(const std::string& token);                   // DELETE /token/{token}
  Async<Session> saml_log_in(const std::string& saml_session_id);  // POST /token
  Async<Json> saml_log_out();                                      // GET /saml/logout
  Async<Json> initiate_idp_authentication(const std::string& domain,
                                          const std::string& redirect_url);  // POST /saml/sso
  Async<Session> refresh_token(const std::string& refresh_token, const std::string& backend = "wazo_user",
                               int expiration = 3600, bool mobile = false, const std::string& tenant_id = {},
                               const std::string& domain_name = {});             // POST /token
  Async<bool> delete_refresh_token(const std::string& client_id);                // DELETE /users/me/tokens/{client_id}
  Async<Json> get_restriction_policies(const std::vector<std::string>& scopes);  // POST /token/{token}/scopes/check

  // Passwords.
  Async<bool> update_password(const std::string& user_uuid, const std::string& old_password,
                              const std::string& new_password);                           // PUT /users/{uuid}/password
  Async<bool> send_reset_password_email(const ResetPasswordEmail& who);                   // GET /users/password/reset
  Async<bool> reset_password(const std::string& user_uuid, const std::string& password);  // POST /users/password/reset

  // Mobile push and external providers.
  Async<DeviceToken> get_device_token(const std::string& user_uuid);  // GET /users/{uuid}/external/mobile
  Async<Json> send_device_token(const std::string& user_uuid, const std::string& device_token,
                                const std::string& apns_voip_token = {},
                                const std::string& apns_notification_token = {});    // POST …/external/mobile
  Async<std::string> get_push_notification_sender_id(const std::string& user_uuid);  // GET …/mobile/sender_id
  Async<bool> remove_device_token(const std::string& user_uuid);                     // DELETE …/external/mobile
  Async<Json> get_providers(const std::string& user_uuid);                           // GET /users/{uuid}/external
  // GET /users/{uuid}/external/{provider}; an unconnected provider is null, not an error.
  Async<Json> get_provider_token(const std::string& user_uuid, const std::string& provider);
  Async<Json> get_provider_auth_url(const std::string& user_uuid, const std::string& provider);  // POST
  Async<bool> delete_provider_token(const std::string& user_uuid, const std::string& provider);  // DELETE

  // Users, emails, policies, groups, sessions.
  Async<User> create_user(const std::string& username, const std::string& password, const std::string& firstname,
                          const std::string& lastname);   // POST /users
  Async<User> get_user(const std::string& user_uuid);     // GET /users/{uuid}
  Async<List<User>> list_users();                         // GET /users
  Async<bool> delete_user(const std::string& user_uuid);  // DELETE /users/{uuid}
  Async<bool> add_user_email(const std::string& user_uuid, const std::string& email,
                             bool main = false);                                                 // PUT …/emails
  Async<bool> add_user_policy(const std::string& user_uuid, const std::string& policy_uuid);     // PUT
  Async<bool> delete_user_policy(const std::string& user_uuid, const std::string& policy_uuid);  // DELETE
  Async<bool> add_user_group(const std::string& user_uuid, const std::string& group_uuid);  // PUT /groups/{g}/users/{u}
  Async<List<User>> list_users_group(const std::string& group_uuid);                        // GET /groups/{g}/users
  Async<bool> delete_user_group(const std::string& user_uuid, const std::string& group_uuid);      // DELETE
  Async<List<UserSession>> get_user_session(const std::string& user_uuid);                         // GET …/sessions
  Async<bool> delete_user_session(const std::string& user_uuid, const std::string& session_uuid);  // DELETE

  // Tenants.
  Async<List<Tenant>> list_tenants();                        // GET /tenants
  Async<Tenant> get_tenant(const std::string& tenant_uuid);  // GET /tenants/{uuid}
  Async<Tenant> create_tenant(const std::string& name);      // POST /tenants
  Async<Tenant> update_tenant(const std::string& uuid, const std::string& name, const std::string& contact,
                              const std::string& phone, const Json& address = Json::object());  // PUT /tenants/{uuid}
  Async<bool> delete_tenant(const std::string& uuid);  // DELETE /tenants/{uuid}

  // Groups and policies.
  Async<Group> create_group(const std::string& name);  // POST /groups
  Async<List<Group>> list_groups();                    // GET /groups
  Async<bool> delete_group(const std::string& uuid);   // DELETE /groups/{uuid}
  Async<Policy> create_policy(const std::string& name, const std::string& description,
                              const std::vector<std::string>& acl);  // POST /policies
  Async<List<Policy>> list_policies();                               // GET /policies
  Async<bool> delete_policy(const std::string& policy_uuid);         // DELETE /policies/{uuid}

  [[nodiscard]] ApiClient& client() noexcept { return client_; }

 private:
  ApiClient client_;
};

}  // namespace wazo::rest
