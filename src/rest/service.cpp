#include "rest/detail/service.hpp"

namespace wazo::rest::detail {

std::string expand(std::string_view tmpl, std::initializer_list<std::string_view> args) {
  std::string out;
  out.reserve(tmpl.size() + 48);
  auto arg = args.begin();
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] == '{') {
      const auto close = tmpl.find('}', i);
      if (close != std::string_view::npos && arg != args.end()) {
        out += percent_encode(*arg++);
        i = close;
        continue;
      }
    }
    out += tmpl[i];
  }
  return out;
}

Async<bool> fetch_ok(ApiClient& client, Request req) {
  Promise<bool> p(client.runtime().executor());
  auto out = p.async();
  auto inner = client.send(std::move(req));
  p.on_cancel([inner]() mutable { inner.cancel(); });
  inner.then([p](Result<Response> r) {
    if (!r) {
      p.set(std::move(r).error());
      return;
    }
    p.set(r->status == 200 || r->status == 201 || r->status == 204);
  });
  return out;
}

}  // namespace wazo::rest::detail
