// wazo-auth (/api/auth/0.1) as the dev engine serves it: tokens, refresh tokens, sessions, users, tenants,
// groups, policies, passwords, external auth (mobile push, Google, Microsoft). Follows wazo-auth.json.
#pragma once

#include "router.hpp"
#include "state.hpp"

namespace wazo::engine {

void add_auth_routes(Router& router, State& state);

}  // namespace wazo::engine
