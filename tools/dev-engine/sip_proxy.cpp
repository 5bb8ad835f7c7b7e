#include "sip_proxy.hpp"

#include <algorithm>
#include <charconv>
#include <iostream>

#include "events.hpp"
#include "sip/detail/digest.hpp"

namespace wazo::engine {

namespace {

using sip::Header;
using sip::Message;
using sip::NameAddr;
using sip::Uri;
using sip::detail::DigestAlgorithm;
using sip::detail::DigestServer;
using steady = std::chrono::steady_clock;

constexpr std::string_view branch_magic = "z9hG4bK";
constexpr std::string_view our_route_param = "wde";  // marks the engine's Record-Route
constexpr std::size_t max_contacts_per_request = 16;
constexpr std::size_t max_transactions = 100000;
constexpr std::size_t max_contact_map = 100000;

std::string contact_key(const Uri& uri) { return lower(uri.user) + "@" + lower(uri.host_port()); }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::optional<std::uint32_t> to_u32(std::string_view s) {
  std::uint32_t v = 0;
  const auto [end, err] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (err != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// Methods whose initial request creates a dialog (so the engine stays on its path).
bool creates_dialog(std::string_view method) {
  return method == "INVITE" || method == "SUBSCRIBE" || method == "REFER";
}

// A header value safe for a Warning: printable ASCII without quotes or backslashes, bounded.
std::string warning_text(std::string_view s) {
  std::string out;
  for (const char c : s.substr(0, 100)) {
    out += (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? c : ' ';
  }
  return out;
}

// Rewrites the Via fields of `m` without the first Via value (a field may hold several values).
void pop_via(Message& m) {
  std::vector<std::string> rest;
  bool first = true;
  for (const auto v : m.header_values("Via")) {
    if (first) {
      first = false;
      continue;
    }
    rest.emplace_back(v);
  }
  m.remove_header("Via");
  for (auto it = rest.rbegin(); it != rest.rend(); ++it) m.push_header("Via", *it);
}

}  // namespace

SipProxy::SipProxy(State& state, Bus& bus, SipOptions options)
    : state_(state), bus_(bus), options_(std::move(options)), tag_seed_(random_token(6)), calls_(bus) {
  const std::string secret = random_token(32);
  sha256_ = std::make_unique<DigestServer>(DigestServer::Options{.realm = options_.realm,
                                                                 .secret = secret,
                                                                 .nonce_lifetime = std::chrono::seconds(300),
                                                                 .algorithm = DigestAlgorithm::sha256,
                                                                 .qop_auth = true});
  md5_ = std::make_unique<DigestServer>(DigestServer::Options{.realm = options_.realm,
                                                              .secret = secret,
                                                              .nonce_lifetime = std::chrono::seconds(300),
                                                              .algorithm = DigestAlgorithm::md5,
                                                              .qop_auth = true});
}

SipProxy::~SipProxy() = default;

void SipProxy::set_local(std::string host, std::uint16_t port, bool secure) {
  host_ = std::move(host);
  if (host_.find(':') != std::string::npos && host_.front() != '[') host_ = "[" + host_ + "]";
  port_ = port;
  transport_ = secure ? "WSS" : "WS";
}

void SipProxy::attach(Peer& p) { peers_[p.id] = &p; }

void SipProxy::detach(Peer& p) {
  for (const auto& sip_call_id : calls_.calls_on_peer(p.id)) {
    if (RelayedCall* call = calls_.find(sip_call_id); call != nullptr) end_call(*call, p.id);
    calls_.end(sip_call_id);
  }
  peers_.erase(p.id);
  for (auto it = contacts_.begin(); it != contacts_.end();) {
    it = it->second == p.id ? contacts_.erase(it) : std::next(it);
  }
  for (auto& [aor, list] : bindings_) {
    const bool had = !list.empty();
    std::erase_if(list, [&](const Binding& b) { return b.peer == p.id; });
    if (had && list.empty()) {
      if (User* u = state_.user_by_sip(aor); u != nullptr) line_status(*u, true);
    }
  }
  std::erase_if(bindings_, [](const auto& kv) { return kv.second.empty(); });
  for (auto it = transactions_.begin(); it != transactions_.end();) {
    if (it->second.upstream == p.id || it->second.downstream == p.id) {
      by_upstream_.erase(it->second.upstream_key);
      it = transactions_.erase(it);
    } else {
      ++it;
    }
  }
}

SipProxy::Peer* SipProxy::peer(std::uint64_t id) const {
  auto it = peers_.find(id);
  return it == peers_.end() ? nullptr : it->second;
}

std::size_t SipProxy::registrations() const {
  std::size_t n = 0;
  for (const auto& [aor, list] : bindings_) n += list.size();
  return n;
}

Json SipProxy::metrics() const {
  return Json{{"connections", peers_.size()},    {"registrations", registrations()},
              {"aors", bindings_.size()},        {"transactions", transactions_.size()},
              {"requests", requests_},           {"responses", responses_},
              {"forwarded", forwarded_},         {"rejected", rejected_},
              {"parse_errors", parse_errors_},   {"registers_ok", registers_ok_},
              {"auth_failures", auth_failures_}, {"calls", calls_.size()}};
}

void SipProxy::log(const Peer& p, const char* direction, const Message& m) const {
  if (options_.verbose)
    std::cerr << "wazo-dev-engine: sip " << direction << ' ' << p.remote << ' ' << m.summary() << '\n';
}

void SipProxy::send(Peer& p, const Message& m) {
  log(p, "->", m);
  p.send(m.serialize());
}

// --- receiving ---------------------------------------------------------------------------------------------------

void SipProxy::receive(Peer& p, std::string_view data) {
  // A CRLF keep-alive (RFC 5626 §3.5.1 style): a double CRLF ping gets a CRLF pong.
  if (data.find_first_not_of("\r\n") == std::string_view::npos) {
    if (data.size() >= 4) p.send("\r\n");
    return;
  }
  auto parsed = Message::parse(data);
  if (!parsed) {
    ++parse_errors_;
    if (options_.verbose) std::cerr << "wazo-dev-engine: sip <- " << p.remote << " unparsable message\n";
    reply_raw_400(p, data, parsed.error().message);
    return;
  }
  Message& m = *parsed;
  log(p, "<-", m);
  try {
    if (m.is_response()) {
      ++responses_;
      on_response(p, m);
    } else {
      ++requests_;
      on_request(p, m);
    }
  } catch (const std::exception& e) {  // a bug must not take the engine down
    std::cerr << "wazo-dev-engine: sip: " << e.what() << '\n';
    if (m.is_request() && m.method() != "ACK") reply(p, m, 500);
  }
}

void SipProxy::learn_contacts(const Peer& p, const Message& m) {
  if (!m.has_header("Contact")) return;
  auto contacts = m.contacts();
  if (!contacts) return;
  for (const auto& c : *contacts) {
    if (c.wildcard || c.uri.host.empty()) continue;
    if (contacts_.size() >= max_contact_map && contacts_.count(contact_key(c.uri)) == 0) return;
    contacts_[contact_key(c.uri)] = p.id;
  }
}

bool SipProxy::is_ours(const Uri& uri) const {
  if (uri.params.has(our_route_param)) return true;
  return iequals(uri.host, host_) && (uri.port == port_ || uri.port == 0);
}

bool SipProxy::pop_our_routes(Message& m) {
  if (!m.has_header("Route")) return true;
  auto routes = m.routes();
  if (!routes) return false;
  std::size_t popped = 0;
  while (popped < routes->size() && is_ours((*routes)[popped].uri)) ++popped;
  if (popped == 0) return true;
  m.remove_header("Route");
  for (std::size_t i = popped; i < routes->size(); ++i) m.add_header("Route", (*routes)[i].str());
  return true;
}

void SipProxy::on_request(Peer& p, Message& m) {
  if (m.method() != "REGISTER") learn_contacts(p, m);
  if (auto mf = m.max_forwards(); mf && *mf == 0) {
    if (m.method() != "ACK") reply(p, m, 483);
    return;
  }
  if (m.method() == "ACK") return on_ack(p, m);
  if (m.method() == "CANCEL") return on_cancel(p, m);
  if (!m.top_via() || m.call_id().empty() || !m.cseq() || !m.from() || !m.to()) {
    reply_raw_400(p, m.serialize(), "missing or malformed Via, From, To, Call-ID or CSeq");
    return;
  }
  if (!pop_our_routes(m)) {
    reply(p, m, 400, "Bad Route");
    return;
  }
  const bool in_dialog = m.to()->tag().has_value();
  if (in_dialog) {
    track_in_dialog(m);
    return route_in_dialog(p, m);
  }
  if (m.method() == "REGISTER") return on_register(p, m);
  const Uri& ruri = m.request_uri();
  if (ruri.user.empty()) {
    if (m.method() == "OPTIONS") {
      reply(p, m, 200, "Keepalive",
            {{"Allow",
              "INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, REFER, NOTIFY, SUBSCRIBE, INFO, UPDATE, PRACK, REGISTER"}});
    } else {
      reply(p, m, 484);
    }
    return;
  }
  User* target = state_.user_by_sip(ruri.user);
  if (target == nullptr) {
    ++rejected_;
    reply(p, m, 404);
    return;
  }
  route_to_user(p, m, *target, false);
}

void SipProxy::route_to_user(Peer& p, Message& m, User& target, bool authenticated_already) {
  User* caller = nullptr;
  if (!authenticated_already) {
    caller = authenticate(p, m, true);
    if (caller == nullptr) return;
    // A local From must be the authenticated line.
    if (User* from_user = state_.user_by_sip(std::string(m.from()->uri.user));
        from_user != nullptr && from_user != caller) {
      ++rejected_;
      reply(p, m, 403, "From does not match the credentials");
      return;
    }
    m.remove_header("Proxy-Authorization");  // consumed
  }
  std::vector<Binding>* list = bindings_of(target);
  if (list == nullptr || list->empty()) {
    ++rejected_;
    reply(p, m, 480);
    return;
  }
  const Binding& newest = *std::max_element(
      list->begin(), list->end(), [](const Binding& a, const Binding& b) { return a.registered_at < b.registered_at; });
  Peer* downstream = peer(newest.peer);
  if (downstream == nullptr) {
    reply(p, m, 480);
    return;
  }
  m.set_request_uri(newest.uri);
  const bool record_route = creates_dialog(m.method());
  RelayedCall* call = nullptr;
  std::string upstream_key;
  if (caller != nullptr && m.method() == "INVITE" && calls_.find(m.call_id()) == nullptr) {
    call = &calls_.create(m, *caller, target, p.id, downstream->id);
    m.set_header("X-Wazo-Call-ID", call->callee.call_id);
    if (auto via = m.top_via()) upstream_key = std::to_string(p.id) + "|" + std::string(via->branch()) + "|INVITE";
  }
  forward(p, std::move(m), *downstream, record_route);
  if (call != nullptr) {
    if (auto it = by_upstream_.find(upstream_key); it != by_upstream_.end()) call->invite_branch = it->second;
  }
}

void SipProxy::track_in_dialog(const Message& m) {
  RelayedCall* call = calls_.find(m.call_id());
  if (call == nullptr) return;
  auto from = m.from();
  const bool from_caller = from && from->tag().value_or("") == call->caller_tag;
  if (auto cseq = m.cseq()) {
    std::uint32_t& highest = from_caller ? call->caller_cseq : call->callee_cseq;
    highest = std::max(highest, cseq->number);
  }
  if (m.method() == "BYE") {
    calls_.end(m.call_id());
  } else if (m.method() == "INVITE" && call->answered && m.content_type() == "application/sdp") {
    calls_.reoffer(*call, from_caller, m.body());
  }
}

void SipProxy::route_in_dialog(Peer& p, Message& m) {
  // Loose routing: the next hop is the first remaining Route, else the request URI (the peer's Contact).
  Uri next = m.request_uri();
  if (m.has_header("Route")) {
    auto routes = m.routes();
    if (routes && !routes->empty()) next = routes->front().uri;
  }
  if (auto it = contacts_.find(contact_key(next)); it != contacts_.end()) {
    if (Peer* downstream = peer(it->second); downstream != nullptr) {
      forward(p, std::move(m), *downstream, false);
      return;
    }
  }
  // A request URI naming a user (sip:1002@domain) rather than a Contact: the user's newest binding.
  if (User* target = state_.user_by_sip(next.user); target != nullptr && !m.has_header("Route")) {
    route_to_user(p, m, *target, true);
    return;
  }
  ++rejected_;
  if (m.method() != "ACK") reply(p, m, 404, "Not here");
}

void SipProxy::forward(Peer& upstream, Message m, Peer& downstream, bool record_route, std::string branch) {
  const auto mf = m.max_forwards();
  m.set_header("Max-Forwards", std::to_string(mf ? std::min<std::uint32_t>(*mf, 71) - 1 : 70));
  if (record_route) {
    std::string rr = "<sip:" + host_ + (port_ != 0 ? ":" + std::to_string(port_) : std::string()) +
                     ";transport=" + lower(transport_) + ";lr;" + std::string(our_route_param) + ">";
    m.push_header("Record-Route", std::move(rr));
  }
  const bool fresh = branch.empty();
  if (fresh) branch = std::string(branch_magic) + "-wde-" + random_token(12);
  sip::Via via;
  via.transport = transport_;
  via.host = host_;
  via.port = port_;
  via.params.set("branch", branch);
  m.push_header("Via", via.str());
  ++forwarded_;
  if (m.method() != "ACK" && fresh && transactions_.size() < max_transactions) {
    Transaction tx;
    tx.upstream = upstream.id;
    tx.downstream = downstream.id;
    tx.method = m.method();
    tx.created = steady::now();
    auto up_via = m.vias();
    const std::string up_branch = (up_via && up_via->size() > 1) ? std::string((*up_via)[1].branch()) : std::string();
    tx.upstream_key = std::to_string(upstream.id) + "|" + up_branch + "|" + m.method();
    if (m.method() == "INVITE") tx.forwarded = m;
    by_upstream_[tx.upstream_key] = branch;
    transactions_[branch] = std::move(tx);
  }
  if (m.method() == "INVITE" && fresh) {
    // 100 Trying upstream (RFC 3261 §16.2): built from the request as received, without our Via.
    Message received = m;
    pop_via(received);
    reply(upstream, received, 100);
  }
  send(downstream, m);
}

void SipProxy::on_response(Peer& p, Message& m) {
  auto via = m.top_via();
  if (!via) return;
  auto it = transactions_.find(std::string(via->branch()));
  if (it == transactions_.end()) return;  // not ours, or its transaction is gone: drop
  Transaction& tx = it->second;
  learn_contacts(p, m);
  auto cseq = m.cseq();
  if (cseq && cseq->method == "CANCEL") return;  // the answer to a CANCEL the engine sent: absorbed
  if (m.status() >= 200 && tx.final_status == 0) {
    tx.final_status = m.status();
    tx.completed = steady::now();
  }
  if (RelayedCall* call = calls_.find(m.call_id()); call != nullptr && !call->answered && cseq &&
                                                    cseq->method == "INVITE" && cseq->number == call->invite_cseq &&
                                                    m.from() && m.from()->tag().value_or("") == call->caller_tag) {
    if (m.status() >= 200 && m.status() < 300) {
      calls_.answer(*call, m);
    } else if (m.status() >= 300) {
      calls_.end(m.call_id());
    }
  }
  Peer* upstream = peer(tx.upstream);
  if (upstream == nullptr) return;
  pop_via(m);
  send(*upstream, m);
}

void SipProxy::on_cancel(Peer& p, Message& m) {
  auto via = m.top_via();
  if (!via) return reply_raw_400(p, m.serialize(), "missing Via");
  auto up = by_upstream_.find(std::to_string(p.id) + "|" + std::string(via->branch()) + "|INVITE");
  if (up == by_upstream_.end()) return reply(p, m, 481);
  auto tx = transactions_.find(up->second);
  if (tx == transactions_.end()) return reply(p, m, 481);
  reply(p, m, 200);
  if (tx->second.final_status != 0) return;  // too late: the final answer is on its way
  calls_.end(m.call_id());
  auto reason = m.header("Reason");
  cancel_downstream(tx->second, reason);
}

void SipProxy::cancel_downstream(const Transaction& tx, std::optional<std::string_view> reason) {
  Peer* downstream = peer(tx.downstream);
  if (downstream == nullptr) return;
  const Message& invite = tx.forwarded;
  Message cancel = Message::request("CANCEL", invite.request_uri());
  for (const auto& h : invite.headers()) {
    if (h.name == "Via") {  // only ours, the first
      cancel.add_header("Via", std::string(invite.header_values("Via").front()));
      break;
    }
  }
  cancel.add_header("Max-Forwards", "70");
  for (const auto& h : invite.headers()) {
    if (h.name == "From" || h.name == "To" || h.name == "Call-ID" || h.name == "Route")
      cancel.add_header(h.name, h.value);
  }
  cancel.add_header("CSeq", std::to_string(invite.cseq() ? invite.cseq()->number : 1) + " CANCEL");
  if (reason) cancel.add_header("Reason", std::string(*reason));
  send(*downstream, cancel);
}

SipProxy::HangUp SipProxy::hang_up(const std::string& call_id, const std::string& user_uuid) {
  RelayedCall* call = calls_.find_by_leg(call_id);
  if (call == nullptr) return HangUp::unknown;
  const CallLeg& leg = call->caller.call_id == call_id ? call->caller : call->callee;
  if (leg.user_uuid != user_uuid) return HangUp::not_owner;
  const std::string sip_call_id = call->sip_call_id;
  end_call(*call);
  calls_.end(sip_call_id);
  return HangUp::done;
}

void SipProxy::end_call(RelayedCall& call, std::uint64_t gone) {
  if (call.answered) {
    if (call.callee_peer != gone) {
      send_bye(call.callee_peer, call.callee_contact, call.from, call.to, call.sip_call_id, ++call.caller_cseq);
    }
    if (call.caller_peer != gone) {
      send_bye(call.caller_peer, call.caller_contact, call.to, call.from, call.sip_call_id, ++call.callee_cseq);
    }
    return;
  }
  auto tx = transactions_.find(call.invite_branch);
  if (tx == transactions_.end() || tx->second.final_status != 0) return;
  if (call.callee_peer != gone) {
    // Its 487 goes back to the caller through the INVITE transaction.
    cancel_downstream(tx->second, "Q.850;cause=16;text=\"Normal Clearing\"");
    return;
  }
  Peer* upstream = peer(tx->second.upstream);
  if (upstream == nullptr || upstream->id == gone) return;
  tx->second.final_status = 480;
  tx->second.completed = steady::now();
  Message received = tx->second.forwarded;
  pop_via(received);
  reply(*upstream, received, 480);
}

// A BYE from the proxy on behalf of the other end of the dialog (calld's hang-up, a lost connection). Its response
// has no transaction here: on_response drops it.
void SipProxy::send_bye(std::uint64_t peer_id, const sip::Uri& target, const std::string& from, const std::string& to,
                        const std::string& call_id, std::uint32_t cseq) {
  Peer* p = peer(peer_id);
  if (p == nullptr) return;
  Message bye = Message::request("BYE", target);
  sip::Via via;
  via.transport = transport_;
  via.host = host_;
  via.port = port_;
  via.params.set("branch", std::string(branch_magic) + "-wde-" + random_token(12));
  bye.add_header("Via", via.str());
  bye.add_header("Max-Forwards", "70");
  bye.add_header("From", from);
  bye.add_header("To", to);
  bye.add_header("Call-ID", call_id);
  bye.add_header("CSeq", std::to_string(cseq) + " BYE");
  bye.add_header("Reason", "Q.850;cause=16;text=\"Normal Clearing\"");
  send(*p, bye);
}

void SipProxy::on_ack(Peer& p, Message& m) {
  auto via = m.top_via();
  if (!via) return;
  // An ACK for a non-2xx final answer belongs to the INVITE transaction: same branch downstream.
  auto up = by_upstream_.find(std::to_string(p.id) + "|" + std::string(via->branch()) + "|INVITE");
  if (up != by_upstream_.end()) {
    auto tx = transactions_.find(up->second);
    if (tx != transactions_.end() && tx->second.final_status >= 300) {
      Peer* downstream = peer(tx->second.downstream);
      if (downstream == nullptr) return;
      m.set_request_uri(tx->second.forwarded.request_uri());
      m.remove_header("Route");
      forward(p, std::move(m), *downstream, false, up->second);
      return;
    }
  }
  // An ACK for a 2xx is an in-dialog request of its own (end to end).
  if (!pop_our_routes(m)) return;
  route_in_dialog(p, m);
}

// --- registrar ---------------------------------------------------------------------------------------------------

std::vector<SipProxy::Binding>* SipProxy::bindings_of(const User& u) {
  if (!u.line) return nullptr;
  auto it = bindings_.find(lower(u.line->username));
  if (it == bindings_.end()) return nullptr;
  const auto now = Clock::now();
  std::erase_if(it->second, [&](const Binding& b) { return b.expires_at <= now; });
  return &it->second;
}

void SipProxy::on_register(Peer& p, Message& m) {
  auto to = m.to();
  User* owner = state_.user_by_sip(std::string(to->uri.user));
  if (owner == nullptr || !owner->line || lower(owner->line->username) != lower(to->uri.user)) {
    ++rejected_;
    return reply(p, m, 404);
  }
  User* authenticated = authenticate(p, m, false);
  if (authenticated == nullptr) return;
  if (authenticated != owner) {
    ++rejected_;
    return reply(p, m, 403, "Not the owner of this address of record");
  }
  std::vector<NameAddr> no_contacts;
  auto parsed_contacts = m.contacts();
  if (m.has_header("Contact") && !parsed_contacts) return reply(p, m, 400, "Bad Contact");
  std::vector<NameAddr>* contacts = m.has_header("Contact") ? &*parsed_contacts : &no_contacts;
  if (contacts->size() > max_contacts_per_request) return reply(p, m, 400, "Too many contacts");
  const auto header_expires = m.expires();
  const std::string aor = lower(owner->line->username);
  auto& list = bindings_[aor];
  const auto now = Clock::now();
  std::erase_if(list, [&](const Binding& b) { return b.expires_at <= now; });
  const bool was_registered = !list.empty();
  const std::string call_id(m.call_id());
  const std::uint32_t cseq = m.cseq() ? m.cseq()->number : 0;

  const bool wildcard = std::any_of(contacts->begin(), contacts->end(), [](const NameAddr& c) { return c.wildcard; });
  if (wildcard) {
    if (contacts->size() != 1 || !header_expires || *header_expires != 0) return reply(p, m, 400, "Bad wildcard");
    list.clear();
  }
  bool outbound = false;
  for (const auto& c : *contacts) {
    if (c.wildcard) continue;
    std::uint32_t expires = header_expires.value_or(options_.default_expires);
    if (auto e = c.params.get("expires")) {
      if (auto v = to_u32(*e)) expires = *v;
    }
    if (expires != 0 && expires < options_.min_expires) {
      return reply(p, m, 423, {}, {{"Min-Expires", std::to_string(options_.min_expires)}});
    }
    expires = std::min(expires, options_.max_expires);
    std::string key = c.uri.str();
    const auto instance = c.params.get("+sip.instance");
    const auto reg_id = c.params.get("reg-id");
    if (instance) key = std::string(*instance) + ";" + std::string(reg_id.value_or(""));
    if (instance && reg_id) outbound = true;
    auto existing = std::find_if(list.begin(), list.end(), [&](const Binding& b) { return b.key == key; });
    if (expires == 0) {
      if (existing != list.end()) list.erase(existing);
      continue;
    }
    NameAddr stored = c;
    stored.params.remove("expires");
    Binding b{key, stored.str(), c.uri, now + std::chrono::seconds(expires), p.id, call_id, cseq, Clock::now()};
    if (existing != list.end()) {
      b.registered_at = existing->registered_at;
      *existing = std::move(b);
    } else {
      list.push_back(std::move(b));
    }
    contacts_[contact_key(c.uri)] = p.id;
  }
  while (list.size() > options_.max_bindings_per_aor) {  // the oldest go
    list.erase(std::min_element(list.begin(), list.end(),
                                [](const Binding& a, const Binding& b) { return a.registered_at < b.registered_at; }));
  }
  std::vector<Header> extra;
  for (const auto& b : list) {
    const auto left = std::chrono::duration_cast<std::chrono::seconds>(b.expires_at - now).count();
    extra.push_back({"Contact", b.contact + ";expires=" + std::to_string(std::max<long long>(left, 0))});
  }
  if (outbound && m.header_lists("Supported", "outbound")) extra.push_back({"Require", "outbound"});
  ++registers_ok_;
  const bool registered = !list.empty();
  if (list.empty()) bindings_.erase(aor);
  reply(p, m, 200, {}, std::move(extra));
  if (registered != was_registered) line_status(*owner, was_registered);
}

void SipProxy::line_status(const User& u, bool was_registered) {
  if (!u.line) return;
  const bool registered = !was_registered;
  Event e;
  e.name = "line_status_updated";
  e.data = Json{{"id", u.line->id},
                {"technology", "sip"},
                {"name", u.line->name},
                {"registered", registered},
                {"current_call_count", 0}};
  e.required_acl = "events.lines." + std::to_string(u.line->id) + ".status.updated";
  e.tenant_uuid = u.tenant_uuid;
  e.audience = Audience::tenant;
  bus_.publish(e);
  if (options_.verbose) {
    std::cerr << "wazo-dev-engine: sip line " << u.line->name << (registered ? " registered" : " unregistered") << '\n';
  }
}

void SipProxy::sweep() {
  const auto now = Clock::now();
  for (auto it = bindings_.begin(); it != bindings_.end();) {
    const bool had = !it->second.empty();
    std::erase_if(it->second, [&](const Binding& b) { return b.expires_at <= now; });
    if (it->second.empty()) {
      if (User* u = had ? state_.user_by_sip(it->first) : nullptr; u != nullptr) line_status(*u, true);
      it = bindings_.erase(it);
    } else {
      ++it;
    }
  }
  const auto t = steady::now();
  for (auto it = transactions_.begin(); it != transactions_.end();) {
    const Transaction& tx = it->second;
    const bool done = tx.final_status != 0 && t - tx.completed > std::chrono::seconds(32);
    const bool ancient = t - tx.created > std::chrono::minutes(5);
    if (done || ancient) {
      by_upstream_.erase(tx.upstream_key);
      it = transactions_.erase(it);
    } else {
      ++it;
    }
  }
}

// --- authentication ----------------------------------------------------------------------------------------------

User* SipProxy::authenticate(Peer& p, const Message& m, bool proxy) {
  const char* header = proxy ? "Proxy-Authorization" : "Authorization";
  std::optional<sip::detail::DigestCredentials> credentials;
  for (const auto& h : m.headers()) {
    if (h.name != header) continue;
    auto c = sip::detail::parse_digest_credentials(h.value);
    if (c && c->realm == options_.realm) {
      credentials = std::move(*c);
      break;
    }
  }
  if (!credentials) {
    challenge(p, m, proxy, false);
    return nullptr;
  }
  User* u = state_.user_by_sip(credentials->username);
  if (u == nullptr || !u->line || lower(u->line->username) != lower(credentials->username)) {
    ++auth_failures_;
    reply(p, m, 403, "Unknown user");
    return nullptr;
  }
  const DigestServer& server = credentials->algorithm == DigestAlgorithm::sha256 ? *sha256_ : *md5_;
  switch (server.verify(*credentials, u->line->password, m.method())) {
    case DigestServer::Verdict::ok:
      return u;
    case DigestServer::Verdict::stale_nonce:
      challenge(p, m, proxy, true);
      return nullptr;
    case DigestServer::Verdict::wrong_response:
      ++auth_failures_;
      reply(p, m, 403, "Wrong password");  // a clear failure, not another challenge to loop on
      return nullptr;
    case DigestServer::Verdict::invalid_nonce:
    case DigestServer::Verdict::wrong_realm:
    case DigestServer::Verdict::unsupported:
      ++auth_failures_;
      challenge(p, m, proxy, false);
      return nullptr;
  }
  return nullptr;
}

void SipProxy::challenge(Peer& p, const Message& m, bool proxy, bool stale) {
  const char* header = proxy ? "Proxy-Authenticate" : "WWW-Authenticate";
  // RFC 8760 §2.4: in order of preference, SHA-256 first.
  reply(p, m, proxy ? 407 : 401, {}, {{header, sha256_->challenge(stale)}, {header, md5_->challenge(stale)}});
}

// --- replies -----------------------------------------------------------------------------------------------------

void SipProxy::reply(Peer& p, const Message& request, int status, std::string_view reason, std::vector<Header> extra) {
  Message r = Message::response(status, std::string(reason));
  for (const auto& h : request.headers()) {
    if (h.name == "Via" || h.name == "From" || h.name == "Call-ID" || h.name == "CSeq") {
      r.add_header(h.name, h.value);
    } else if (h.name == "To") {
      auto to = request.to();
      std::string value = h.value;
      if (status > 100 && to && !to->tag())
        value += ";tag=" + tag_seed_ + std::to_string(std::hash<std::string_view>{}(request.call_id()) % 1000000);
      r.add_header("To", std::move(value));
    }
  }
  for (auto& h : extra) r.add_header(h.name, std::move(h.value));
  r.add_header("Server", "wazo-dev-engine");
  send(p, r);
}

// A request that does not parse: answered 400 with its Via, From, To, Call-ID and CSeq lines as they are, when it
// has a Via to answer to. Responses and unrecognisable data are dropped.
void SipProxy::reply_raw_400(Peer& p, std::string_view data, const std::string& why) {
  if (data.rfind("SIP/", 0) == 0) return;
  const std::size_t end_of_headers = std::min(data.find("\r\n\r\n"), data.size());
  std::string_view head = data.substr(0, std::min<std::size_t>(end_of_headers, 16 * 1024));
  std::string copied;
  bool has_via = false;
  std::size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos < head.size()) {
    pos += 2;
    const std::size_t eol = std::min(head.find("\r\n", pos), head.size());
    const std::string_view line = head.substr(pos, eol - pos);
    const std::size_t colon = line.find(':');
    if (colon != std::string_view::npos && line.size() <= 2048) {
      std::string_view name = line.substr(0, colon);
      while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
      const std::string canonical = sip::canonical_header_name(name);
      if (canonical == "Via" || canonical == "From" || canonical == "To" || canonical == "Call-ID" ||
          canonical == "CSeq") {
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
        copied += canonical + ": " + std::string(value) + "\r\n";
        has_via = has_via || canonical == "Via";
      }
    }
    pos = eol;
  }
  if (!has_via) return;
  ++rejected_;
  std::string out = "SIP/2.0 400 Bad Request\r\n" + copied + "Warning: 399 wazo-dev-engine \"" + warning_text(why) +
                    "\"\r\nServer: wazo-dev-engine\r\nContent-Length: 0\r\n\r\n";
  if (options_.verbose) std::cerr << "wazo-dev-engine: sip -> " << p.remote << " 400 Bad Request\n";
  p.send(std::move(out));
}

}  // namespace wazo::engine
