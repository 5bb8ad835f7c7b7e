// What every REST service client shares (internal): routes as data, path expansion, and the three ways a
// response becomes a value (a model, raw JSON, or the seed's boolean "success" parser).
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "wazo/rest/api_client.hpp"

namespace wazo::rest::detail {

struct Route {
  Method method;
  std::string_view path;  // relative to /api/, with {name} placeholders, e.g. "auth/0.1/users/{user_uuid}"
};

// Replaces the placeholders of `tmpl`, in order, with the percent-encoded `args`.
std::string expand(std::string_view tmpl, std::initializer_list<std::string_view> args);

inline Request make_request(const Route& route, std::initializer_list<std::string_view> args = {}) {
  Request r;
  r.method = route.method;
  r.path = expand(route.path, args);
  return r;
}

// Response body → JSON → T.
template <class T, class Parse>
Async<T> fetch(ApiClient& client, Request req, Parse parse) {
  Promise<T> p(client.runtime().executor());
  auto out = p.async();
  auto inner = client.send(std::move(req));
  p.on_cancel([inner]() mutable { inner.cancel(); });
  inner.then([p, parse = std::move(parse)](Result<Response> r) {
    if (!r) {
      p.set(std::move(r).error());
      return;
    }
    auto j = r->json();
    if (!j) {
      p.set(std::move(j).error());
      return;
    }
    p.set(parse(*j));
  });
  return out;
}

inline Async<Json> fetch_json(ApiClient& client, Request req) {
  return fetch<Json>(client, std::move(req), [](const Json& j) -> Result<Json> { return j; });
}

// The seed's successResponseParser: true for 200, 201 and 204; other non-error statuses give false.
Async<bool> fetch_ok(ApiClient& client, Request req);

}  // namespace wazo::rest::detail
