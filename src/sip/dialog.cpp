#include "sip/detail/dialog.hpp"

#include <algorithm>

namespace wazo::sip::detail {

namespace {

std::optional<Uri> first_contact(const Message& m) {
  auto cs = m.contacts();
  if (!cs || cs->empty() || cs->front().wildcard) return std::nullopt;
  return cs->front().uri;
}

}  // namespace

Result<Dialog> Dialog::as_uac(const Message& request, const Message& response) {
  Dialog d;
  auto from = request.from();
  auto to = response.to();
  auto cseq = request.cseq();
  if (!from) return from.error();
  if (!to) return to.error();
  if (!cseq) return cseq.error();
  d.call_id = std::string(request.call_id());
  d.local = *from;
  d.remote = *to;
  d.local_tag = std::string(from->tag().value_or(""));
  d.remote_tag = std::string(to->tag().value_or(""));
  d.local_cseq = cseq->number;
  d.remote_target = first_contact(response).value_or(request.request_uri());
  if (auto rr = response.record_routes()) {
    d.route_set.assign(rr->rbegin(), rr->rend());
  }
  d.early = response.status() < 200;
  return d;
}

Result<Dialog> Dialog::as_uas(const Message& request, const std::string& local_tag) {
  Dialog d;
  auto from = request.from();
  auto to = request.to();
  auto cseq = request.cseq();
  if (!from) return from.error();
  if (!to) return to.error();
  if (!cseq) return cseq.error();
  d.call_id = std::string(request.call_id());
  d.remote = *from;
  d.local = *to;
  d.local.params.set("tag", local_tag);
  d.local_tag = local_tag;
  d.remote_tag = std::string(from->tag().value_or(""));
  d.remote_cseq = cseq->number;
  d.local_cseq = 0;
  auto target = first_contact(request);
  if (!target) return Error(ErrorCategory::parse, "the request has no usable Contact");
  d.remote_target = *target;
  if (auto rr = request.record_routes()) d.route_set = *rr;
  return d;
}

void Dialog::confirm_from(const Message& m, bool uac) {
  early = false;
  if (uac) {
    if (auto rr = m.record_routes()) {
      route_set.assign(rr->rbegin(), rr->rend());
    } else {
      route_set.clear();
    }
    if (auto to = m.to()) {
      remote = *to;
      remote_tag = std::string(to->tag().value_or(""));
    }
  }
  refresh_target(m);
}

void Dialog::refresh_target(const Message& m) {
  if (auto c = first_contact(m)) remote_target = *c;
}

Message Dialog::make_request(const std::string& method, std::optional<std::uint32_t> cseq_override) {
  std::uint32_t n = 0;
  if (cseq_override) {
    n = *cseq_override;
  } else {
    n = ++local_cseq;
  }
  const bool loose = route_set.empty() || route_set.front().uri.params.has("lr");
  Message r = Message::request(method, loose ? remote_target : route_set.front().uri);
  if (loose) {
    for (const auto& rt : route_set) r.add_header("Route", rt.str());
  } else {
    // Strict routing (§12.2.1.1): the first route is the Request-URI, the remote target the last Route.
    for (std::size_t i = 1; i < route_set.size(); ++i) r.add_header("Route", route_set[i].str());
    NameAddr t;
    t.uri = remote_target;
    r.add_header("Route", t.str());
  }
  r.add_header("Max-Forwards", "70");
  r.add_header("From", local.str());
  r.add_header("To", remote.str());
  r.add_header("Call-ID", call_id);
  r.add_header("CSeq", std::to_string(n) + " " + method);
  return r;
}

bool Dialog::accept_remote_cseq(std::uint32_t cseq) {
  if (remote_cseq && cseq < *remote_cseq) return false;
  remote_cseq = cseq;
  return true;
}

}  // namespace wazo::sip::detail
