// What every REST service client shares (internal): routes as data, path expansion, and the three ways a
// response becomes a value (a model, raw JSON, or the seed's boolean "success" parser).
#pragma once

#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

// Runs every part at once and resolves, once all are done, to their results in the order given.
template <class T>
Async<std::vector<Result<T>>> gather(ApiClient& client, std::vector<Async<T>> parts) {
  Promise<std::vector<Result<T>>> p(client.runtime().executor());
  auto out = p.async();
  if (parts.empty()) {
    p.set(std::vector<Result<T>>{});
    return out;
  }
  struct State {
    std::mutex mutex;
    std::vector<std::optional<Result<T>>> results;
    std::size_t left = 0;
  };
  auto state = std::make_shared<State>();
  state->results.resize(parts.size());
  state->left = parts.size();
  p.on_cancel([parts]() mutable {
    for (auto& part : parts) part.cancel();
  });
  for (std::size_t i = 0; i < parts.size(); ++i) {
    parts[i].then([p, state, i](Result<T> r) {
      bool last = false;
      {
        std::lock_guard lock(state->mutex);
        state->results[i].emplace(std::move(r));
        last = --state->left == 0;
      }
      if (!last) return;
      std::vector<Result<T>> all;
      all.reserve(state->results.size());
      for (auto& result : state->results) all.push_back(std::move(*result));
      p.set(std::move(all));
    });
  }
  return out;
}

}  // namespace wazo::rest::detail
