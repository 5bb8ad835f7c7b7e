#include "wazo/sip/user_agent.hpp"

#include <algorithm>

#include <boost/asio/post.hpp>

#include "sip/detail/core.hpp"

namespace wazo::sip {

namespace asio = boost::asio;
using detail::Outgoing;

std::string_view to_string(TransportState s) noexcept {
  switch (s) {
    case TransportState::idle:
      return "idle";
    case TransportState::connecting:
      return "connecting";
    case TransportState::connected:
      return "connected";
    case TransportState::reconnecting:
      return "reconnecting";
    case TransportState::closed:
      return "closed";
  }
  return "unknown";
}

std::string_view to_string(RegistrationState s) noexcept {
  switch (s) {
    case RegistrationState::unregistered:
      return "unregistered";
    case RegistrationState::registering:
      return "registering";
    case RegistrationState::registered:
      return "registered";
    case RegistrationState::unregistering:
      return "unregistering";
    case RegistrationState::failed:
      return "failed";
  }
  return "unknown";
}

std::string_view to_string(SessionState s) noexcept {
  switch (s) {
    case SessionState::initial:
      return "initial";
    case SessionState::early:
      return "early";
    case SessionState::confirmed:
      return "confirmed";
    case SessionState::terminated:
      return "terminated";
  }
  return "unknown";
}

// ------------------------------------------------------------------------------------------------ helpers

namespace detail {

std::vector<std::string_view> split_list(std::string_view v) {
  std::vector<std::string_view> out;
  bool quoted = false;
  int angle = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= v.size(); ++i) {
    const char ch = i < v.size() ? v[i] : ',';
    if (quoted) {
      if (ch == '\\') {
        ++i;
      } else if (ch == '"') {
        quoted = false;
      }
      continue;
    }
    if (ch == '"') quoted = true;
    if (ch == '<') ++angle;
    if (ch == '>' && angle > 0) --angle;
    if (ch == ',' && angle == 0) {
      std::string_view item = v.substr(start, i - start);
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
      if (!item.empty()) out.push_back(item);
      start = i + 1;
      if (out.size() >= 32) break;
    }
  }
  return out;
}

Identity identity_of(const NameAddr& a) {
  Identity id;
  id.display_name = a.display_name;
  id.uri = a.uri;
  id.number = a.uri.user.empty() && a.uri.scheme == "tel" ? a.uri.host : a.uri.user;
  return id;
}

std::string percent_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    const bool plain = (std::isalnum(u) != 0) || c == '-' || c == '_' || c == '.' || c == '!' || c == '~' || c == '*' ||
                       c == '\'' || c == '(' || c == ')';
    if (plain) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4U]);
      out.push_back(kHex[u & 0xFU]);
    }
  }
  return out;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const int a = hex(s[i + 1]);
      const int b = hex(s[i + 2]);
      if (a >= 0 && b >= 0) {
        out.push_back(static_cast<char>(a * 16 + b));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

}  // namespace detail

std::string Replaces::str() const {
  std::string s = call_id + ";to-tag=" + to_tag + ";from-tag=" + from_tag;
  if (early_only) s += ";early-only";
  return s;
}

Result<Replaces> Replaces::parse(std::string_view value) {
  Replaces r;
  const auto semi = value.find(';');
  r.call_id = std::string(value.substr(0, semi));
  while (!r.call_id.empty() && r.call_id.back() == ' ') r.call_id.pop_back();
  if (r.call_id.empty()) return Error(ErrorCategory::parse, "Replaces without a Call-ID");
  std::string_view rest = semi == std::string_view::npos ? std::string_view{} : value.substr(semi + 1);
  int count = 0;
  while (!rest.empty()) {
    if (++count > 16) return Error(ErrorCategory::parse, "too many Replaces parameters");
    const auto next = rest.find(';');
    std::string_view p = rest.substr(0, next);
    while (!p.empty() && p.front() == ' ') p.remove_prefix(1);
    const auto eq = p.find('=');
    const std::string_view name = p.substr(0, eq);
    const std::string_view val = eq == std::string_view::npos ? std::string_view{} : p.substr(eq + 1);
    if (detail::iequals(name, "to-tag")) r.to_tag = std::string(val);
    if (detail::iequals(name, "from-tag")) r.from_tag = std::string(val);
    if (detail::iequals(name, "early-only")) r.early_only = true;
    if (next == std::string_view::npos) break;
    rest.remove_prefix(next + 1);
  }
  if (r.to_tag.empty() || r.from_tag.empty()) return Error(ErrorCategory::parse, "Replaces without to-tag/from-tag");
  return r;
}

// ------------------------------------------------------------------------------------------------ Impl

UserAgent::Impl::Impl(Runtime& runtime, UserAgentOptions options, std::shared_ptr<detail::Transport> t)
    : rt(runtime),
      opts(std::move(options)),
      transport(std::move(t)),
      refresh_timer(runtime.context()),
      heartbeat_timer(runtime.context()) {
  if (opts.auth_user.empty()) opts.auth_user = opts.user;
  contact_user = detail::random_token(8);
  via_host = detail::random_token(12) + ".invalid";
  instance_id = opts.instance_id;
  if (instance_id.empty()) {
    // A random (version 4 shaped) UUID from hex digits (RFC 5626 §4.1).
    const std::string hex = detail::digest_hash(detail::DigestAlgorithm::md5, detail::random_token(32));
    instance_id = "urn:uuid:" + hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-4" + hex.substr(13, 3) + "-a" +
                  hex.substr(17, 3) + "-" + hex.substr(20, 12);
  }
  reg_call_id = detail::random_token(22);
  reg_from_tag = detail::random_token(10);
}

void UserAgent::Impl::init() {
  detail::TransactionLayer::Config cfg;
  cfg.timers = opts.timers;
  cfg.via_host = via_host;
  std::weak_ptr<detail::Transport> wt = transport;
  cfg.via_transport = [wt] {
    auto t = wt.lock();
    return t ? t->via_transport() : std::string("WS");
  };
  tx = std::make_unique<detail::TransactionLayer>(rt.context(), cfg, [wt, this](std::string wire) {
    auto t = wt.lock();
    if (!t) return false;
    if (log().enabled(LogLevel::trace)) {
      // Never the credentials: the summary has no headers.
      if (auto m = Message::parse(wire, opts.limits)) log().log(LogLevel::trace, "sip", "send " + m->summary());
    }
    return t->send(std::move(wire));
  });
  std::weak_ptr<Impl> weak = shared_from_this();
  transport->set_callbacks({
      .on_state =
          [weak](TransportState s, std::string reason, std::optional<Error> e) {
            if (auto self = weak.lock()) self->on_transport_state(s, std::move(reason), std::move(e));
          },
      .on_message =
          [weak](std::string data) {
            if (auto self = weak.lock()) self->on_message(std::move(data));
          },
  });
}

Uri UserAgent::Impl::aor() const {
  Uri u;
  u.user = opts.user;
  u.host = opts.domain;
  return u;
}

NameAddr UserAgent::Impl::local_name_addr() const {
  NameAddr a;
  a.display_name = opts.display_name;
  a.uri = aor();
  return a;
}

std::string UserAgent::Impl::contact(bool with_instance) const {
  std::string c = "<sip:" + contact_user + "@" + via_host + ";transport=ws;ob>";
  if (with_instance) c += ";+sip.instance=\"<" + instance_id + ">\";reg-id=1";
  return c;
}

std::string UserAgent::Impl::allow() const {
  return "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, MESSAGE, REFER, NOTIFY, UPDATE";
}

Result<Uri> UserAgent::Impl::target_uri(const std::string& target) const {
  std::string t = target;
  if (t.empty()) {
    t = "sip:" + opts.domain;
  } else if (t.rfind("sip:", 0) != 0 && t.rfind("sips:", 0) != 0 && t.rfind("tel:", 0) != 0) {
    t = "sip:" + t;
    if (target.find('@') == std::string::npos) t += "@" + opts.domain;
  }
  auto u = Uri::parse(t, opts.limits);
  if (!u) return Error(ErrorCategory::invalid_argument, "not a usable SIP target: " + target);
  return u;
}

Message UserAgent::Impl::new_request(const std::string& method, const Uri& target, const std::string& call_id) {
  Message m = Message::request(method, target);
  m.add_header("Max-Forwards", "70");
  NameAddr to;
  to.uri = target;
  to.uri.params = {};
  to.uri.headers.clear();
  m.add_header("To", to.str());
  NameAddr from = local_name_addr();
  from.params.set("tag", detail::random_token(10));
  m.add_header("From", from.str());
  m.add_header("Call-ID", call_id.empty() ? detail::random_token(22) : call_id);
  m.add_header("CSeq", "1 " + method);
  if (!opts.user_agent.empty()) m.add_header("User-Agent", opts.user_agent);
  return m;
}

void UserAgent::Impl::send(std::shared_ptr<Outgoing> out) {
  std::weak_ptr<Impl> weak = shared_from_this();
  out->branch = tx->send_request(out->request, [weak, out](Result<Message> r) {
    if (auto self = weak.lock()) self->on_outgoing_response(out, std::move(r));
  });
}

void UserAgent::Impl::on_outgoing_response(const std::shared_ptr<Outgoing>& out, Result<Message> r) {
  if (out->done) return;
  if (r && (r->status() == 401 || r->status() == 407)) {
    const bool proxy = r->status() == 407;
    // The strongest challenge offered (RFC 8760 §2.4: SHA-256 before MD5).
    std::vector<std::string_view> values;
    for (const auto& h : r->headers()) {
      if (h.name == (proxy ? "Proxy-Authenticate" : "WWW-Authenticate")) values.push_back(h.value);
    }
    auto best = detail::select_digest_challenge(values);
    if (!best) {
      out->done = true;
      Error e(ErrorCategory::auth,
              out->request.method() + ": " + std::to_string(r->status()) + " without a usable Digest challenge",
              r->status());
      if (out->on_response) out->on_response(e);
      return;
    }
    if (!out->retry.admit(*best)) {
      out->done = true;
      log().warn("sip", out->request.method() + " refused by " + std::to_string(r->status()) +
                            " after authenticating as " + opts.auth_user + ": wrong credentials?");
      Error e(ErrorCategory::auth,
              "authentication refused (" + std::to_string(r->status()) + " " + r->reason() + ") for user " +
                  opts.auth_user + ": check the SIP credentials",
              r->status());
      if (out->on_response) out->on_response(e);
      return;
    }
    auto value =
        digest.authorize(*best, opts.auth_user, opts.password, out->request.method(), out->request.request_uri().str());
    if (!value) {
      out->done = true;
      Error e = value.error();
      e.category = ErrorCategory::auth;
      e.status = r->status();
      if (out->on_response) out->on_response(e);
      return;
    }
    auto cseq = out->request.cseq();
    const std::uint32_t n = out->next_cseq ? out->next_cseq() : (cseq ? cseq->number + 1 : 1);
    out->request.set_header("CSeq", std::to_string(n) + " " + out->request.method());
    out->request.remove_header("Authorization");
    out->request.remove_header("Proxy-Authorization");
    out->request.add_header(proxy ? "Proxy-Authorization" : "Authorization", std::move(*value));
    out->answered = *best;
    out->answered_proxy = proxy;
    log().debug("sip", out->request.method() + ": answering a " + std::to_string(r->status()) + " challenge (" +
                           std::string(detail::to_string(best->algorithm)) + ", realm " + best->realm + ")");
    send(out);
    return;
  }
  if (!r || r->status() >= 200) out->done = true;
  if (out->on_response) out->on_response(std::move(r));
}

Async<Message> UserAgent::Impl::request_out(std::string method, std::string target, std::string body,
                                            std::string content_type) {
  Promise<Message> p(rt.executor());
  auto a = p.async();
  asio::post(rt.context(), [self = shared_from_this(), p, method = std::move(method), target = std::move(target),
                            body = std::move(body), content_type = std::move(content_type)]() mutable {
    if (self->closed) {
      p.set(Error(ErrorCategory::cancelled, "the user agent is closed"));
      return;
    }
    auto uri = self->target_uri(target);
    if (!uri) {
      p.set(uri.error());
      return;
    }
    auto out = std::make_shared<Outgoing>();
    out->request = self->new_request(method, *uri);
    if (method == "OPTIONS") out->request.add_header("Accept", "application/sdp");
    if (!body.empty()) out->request.set_body(std::move(body), std::move(content_type));
    out->on_response = [p, method](Result<Message> r) {
      if (!r) {
        p.set(std::move(r).error());
        return;
      }
      if (r->status() < 200) return;
      if (r->status() >= 300) {
        Error e(ErrorCategory::sip, method + " failed: " + std::to_string(r->status()) + " " + r->reason(),
                r->status());
        p.set(std::move(e));
        return;
      }
      p.set(std::move(r));
    };
    self->send(out);
  });
  return a;
}

// ------------------------------------------------------------------------------------------------ incoming

bool UserAgent::Impl::reply(const Message& request, int status, std::string reason, std::vector<Header> extra,
                            std::string body, std::string content_type) {
  Message r = detail::make_response(request, status, std::move(reason));
  if (status > 100) {
    auto to = r.to();
    if (to && !to->tag()) {
      NameAddr t = *to;
      t.params.set("tag", detail::random_token(10));
      r.set_header("To", t.str());
    }
  }
  for (auto& h : extra) r.add_header(h.name, std::move(h.value));
  if (!opts.user_agent.empty()) r.add_header("Server", opts.user_agent);
  if (!body.empty()) r.set_body(std::move(body), std::move(content_type));
  return tx->respond(request, r);
}

void UserAgent::Impl::on_message(std::string data) {
  if (data.find_first_not_of("\r\n \t") == std::string::npos) return;  // CRLF keep-alive / pong
  auto m = Message::parse(data, opts.limits);
  if (!m) {
    log().warn("sip",
               "dropped an unparsable message (" + std::to_string(data.size()) + " bytes): " + m.error().message);
    return;
  }
  if (log().enabled(LogLevel::trace)) log().log(LogLevel::trace, "sip", "recv " + m->summary());
  if (m->is_response()) {
    if (!tx->on_response(*m)) on_stray_response(*m);
    return;
  }
  on_request(*m);
}

void UserAgent::Impl::on_stray_response(const Message& m) {
  auto cseq = m.cseq();
  if (!cseq || cseq->method != "INVITE" || m.status() < 200 || m.status() >= 300) return;
  auto from = m.from();
  if (!from) return;
  if (auto s = find_session(m.call_id(), from->tag().value_or(""))) s->on_stray_2xx(m);
}

std::shared_ptr<Session::Impl> UserAgent::Impl::find_session(std::string_view call_id,
                                                             std::string_view local_tag) const {
  auto it = sessions.find(std::string(call_id) + "|" + std::string(local_tag));
  return it == sessions.end() ? nullptr : it->second;
}

void UserAgent::Impl::on_request(const Message& m) {
  if (m.call_id().empty() || !m.cseq() || !m.from() || !m.to() || !m.top_via()) {
    log().warn("sip", "dropped a request without the mandatory headers: " + m.summary());
    if (m.method() != "ACK" && m.top_via() && m.cseq()) reply(m, 400, "Missing Mandatory Header");
    return;
  }
  const auto res = tx->on_request(m);
  using K = detail::TransactionLayer::Incoming;
  if (res.kind == K::retransmission || res.kind == K::ack_absorbed) return;
  const auto to = m.to();
  const std::string to_tag(to->tag().value_or(""));
  if (res.kind == K::ack) {
    if (auto s = find_session(m.call_id(), to_tag)) s->on_ack(m);
    return;
  }
  if (res.kind == K::cancel) {
    if (!res.invite || !res.cancel_matched) {
      reply(m, 481, "Call/Transaction Does Not Exist");
      return;
    }
    reply(m, 200, "OK");
    for (const auto& [k, s] : sessions) {
      if (s->direction == Direction::incoming && s->invite_in.call_id() == res.invite->call_id() &&
          s->invite_in.top_via() && res.invite->top_via() &&
          s->invite_in.top_via()->branch() == res.invite->top_via()->branch()) {
        auto keep = s;
        keep->on_remote_cancel(*res.invite);
        break;
      }
    }
    return;
  }
  if (!to_tag.empty()) {
    auto s = find_session(m.call_id(), to_tag);
    if (!s) {
      reply(m, 481, "Call/Transaction Does Not Exist");
      return;
    }
    s->on_request(m);
    return;
  }
  const std::string& method = m.method();
  if (method == "INVITE") {
    std::shared_ptr<Session::Impl> replaced;
    if (auto rv = m.header("Replaces")) {
      auto r = Replaces::parse(*rv);
      if (!r) {
        reply(m, 400, "Bad Replaces");
        return;
      }
      replaced = find_session(r->call_id, r->to_tag);
      if (!replaced || replaced->remote_tag != r->from_tag || replaced->get_state() == SessionState::terminated) {
        reply(m, 481, "Call/Transaction Does Not Exist");
        return;
      }
      if (r->early_only && replaced->get_state() == SessionState::confirmed) {
        reply(m, 486, "Busy Here");
        return;
      }
    }
    auto s = std::make_shared<Session::Impl>(shared_from_this(), Direction::incoming, nullptr);
    s->replaces_target = replaced;
    s->on_incoming_invite(m);
    return;
  }
  if (method == "MESSAGE") {
    reply(m, 200, "OK");
    IncomingMessage e;
    e.from = *m.from();
    e.to = *to;
    e.content_type = std::string(m.content_type());
    e.body = m.body();
    emitter.emit(e);
    return;
  }
  if (method == "OPTIONS") {
    reply(m, 200, "OK",
          {{"Allow", allow()},
           {"Accept", "application/sdp, application/dtmf-relay, message/sipfrag, text/plain"},
           {"Supported", "outbound, replaces, timer"}});
    return;
  }
  if (method == "BYE" || method == "INFO" || method == "NOTIFY" || method == "REFER" || method == "UPDATE" ||
      method == "PRACK") {
    reply(m, 481, "Call/Transaction Does Not Exist");
    return;
  }
  reply(m, 405, "Method Not Allowed", {{"Allow", allow()}});
}

// ------------------------------------------------------------------------------------------------ transport

void UserAgent::Impl::on_transport_state(TransportState s, std::string reason, std::optional<Error> error) {
  {
    std::lock_guard lock(mutex);
    tstate = s;
  }
  auto self = shared_from_this();
  emitter.emit(TransportStateChanged{s, reason, error});
  if (s == TransportState::connected) {
    heartbeat_missed = 0;
    start_heartbeat();
    if (want_registered) {
      do_register(static_cast<std::uint32_t>(opts.register_expires.count()));
    } else if (start_promise) {
      start_promise->set(Result<void>());
      start_promise.reset();
    }
    return;
  }
  if (s == TransportState::reconnecting || s == TransportState::closed) {
    ++heartbeat_generation;
    heartbeat_timer.cancel();
    const Error e = error ? *error : Error(ErrorCategory::transport, reason.empty() ? "connection lost" : reason);
    // In-dialog routing goes through this connection (the proxy's alias): the calls cannot survive it.
    auto live = sessions;
    for (auto& [k, sess] : live) {
      Terminated t;
      t.cause = Terminated::Cause::transport;
      t.reason = "connection to the SIP server lost";
      t.error = e;
      sess->terminate(t);
    }
    tx->fail_all(e);
    refresh_timer.cancel();
    reg_in_flight = false;
    if (reg_state == RegistrationState::registered || reg_state == RegistrationState::registering) {
      set_reg_state(RegistrationState::unregistered, e);
    }
    if (start_promise) {
      start_promise->set(e);
      start_promise.reset();
    }
    if (s == TransportState::closed) {
      settle_register(e);
      settle_unregister(Result<void>());
      if (stop_promise) {
        stop_promise->set(Result<void>());
        stop_promise.reset();
      }
    }
  }
}

// ------------------------------------------------------------------------------------------------ registration

void UserAgent::Impl::set_reg_state(RegistrationState s, std::optional<Error> error) {
  {
    std::lock_guard lock(mutex);
    if (reg_state == s && !error) return;
    reg_state = s;
  }
  auto self = shared_from_this();
  emitter.emit(RegistrationStateChanged{s, std::move(error),
                                        s == RegistrationState::registered ? granted : std::chrono::seconds(0)});
}

void UserAgent::Impl::settle_register(const Result<void>& r) {
  auto waiters = std::move(register_waiters);
  register_waiters.clear();
  for (auto& w : waiters) w.set(r);
  if (start_promise) {
    start_promise->set(r);
    start_promise.reset();
  }
}

void UserAgent::Impl::settle_unregister(const Result<void>& r) {
  auto waiters = std::move(unregister_waiters);
  unregister_waiters.clear();
  for (auto& w : waiters) w.set(r);
}

void UserAgent::Impl::do_register(std::uint32_t expires) {
  if (!transport->connected()) return;  // on connect
  if (reg_in_flight) {
    if (reg_in_flight_expires == expires) return;
  }
  refresh_timer.cancel();
  reg_in_flight = true;
  reg_in_flight_expires = expires;
  if (expires > 0 && min_expires > expires) expires = min_expires;
  set_reg_state(expires > 0 ? RegistrationState::registering : RegistrationState::unregistering);
  Uri registrar;
  registrar.host = opts.domain;
  auto out = std::make_shared<Outgoing>();
  Message m = Message::request("REGISTER", registrar);
  m.add_header("Max-Forwards", "70");
  NameAddr to = local_name_addr();
  m.add_header("To", to.str());
  NameAddr from = to;
  from.params.set("tag", reg_from_tag);
  m.add_header("From", from.str());
  m.add_header("Call-ID", reg_call_id);
  m.add_header("CSeq", std::to_string(++reg_cseq) + " REGISTER");
  m.add_header("Contact", contact(true) + ";expires=" + std::to_string(expires));
  m.add_header("Expires", std::to_string(expires));
  m.add_header("Allow", allow());
  m.add_header("Supported", "path, outbound, replaces, timer");
  if (!opts.user_agent.empty()) m.add_header("User-Agent", opts.user_agent);
  if (reg_challenge) {
    // Reuse the last nonce (one round trip for a refresh); a stale or refused one is challenged again.
    if (auto v = digest.authorize(*reg_challenge, opts.auth_user, opts.password, "REGISTER", registrar.str())) {
      m.add_header(reg_challenge_proxy ? "Proxy-Authorization" : "Authorization", std::move(*v));
    }
  }
  out->request = std::move(m);
  out->next_cseq = [weak = weak_from_this()]() -> std::uint32_t {
    auto self = weak.lock();
    return self ? ++self->reg_cseq : 1;
  };
  std::weak_ptr<Impl> weak = shared_from_this();
  std::weak_ptr<Outgoing> wout = out;
  out->on_response = [weak, expires, wout](Result<Message> r) {
    auto self = weak.lock();
    auto o = wout.lock();
    if (self && o) self->on_register_response(expires, std::move(r), o);
  };
  send(out);
}

void UserAgent::Impl::on_register_response(std::uint32_t expires, Result<Message> r,
                                           const std::shared_ptr<Outgoing>& out) {
  if (r && r->status() < 200) return;
  reg_in_flight = false;
  if (!r) {
    Error e = std::move(r).error();
    if (e.category == ErrorCategory::auth) {
      want_registered = false;
      reg_challenge.reset();
    }
    if (expires == 0) {
      set_reg_state(RegistrationState::unregistered);
      settle_unregister(e);
      return;
    }
    set_reg_state(RegistrationState::failed, e);
    settle_register(e);
    if (want_registered && e.category != ErrorCategory::transport) schedule_retry();
    return;
  }
  const Message& resp = *r;
  if (resp.status() == 423 && expires > 0) {
    if (auto me = resp.header("Min-Expires")) {
      std::uint32_t v = 0;
      for (char ch : *me) {
        if (ch < '0' || ch > '9' || v > 100'000'000U) break;
        v = v * 10U + static_cast<std::uint32_t>(ch - '0');
      }
      if (v > expires && min_expires == 0) {
        min_expires = v;
        do_register(v);
        return;
      }
    }
  }
  if (resp.status() >= 300) {
    Error e(ErrorCategory::sip, "REGISTER failed: " + std::to_string(resp.status()) + " " + resp.reason(),
            resp.status());
    if (resp.status() == 403) e.category = ErrorCategory::auth;
    if (expires == 0) {
      set_reg_state(RegistrationState::unregistered);
      settle_unregister(e);
      return;
    }
    set_reg_state(RegistrationState::failed, e);
    settle_register(e);
    if (want_registered && e.category != ErrorCategory::auth) schedule_retry();
    return;
  }
  if (out->answered) {
    reg_challenge = out->answered;
    reg_challenge_proxy = out->answered_proxy;
  }
  reg_failures = 0;
  if (expires == 0) {
    granted = std::chrono::seconds(0);
    set_reg_state(RegistrationState::unregistered);
    settle_unregister(Result<void>());
    return;
  }
  // What the registrar granted: our Contact's expires, else Expires, else what we asked.
  std::uint32_t got = expires;
  if (auto e = resp.expires()) got = *e;
  if (auto cs = resp.contacts()) {
    for (const auto& c : *cs) {
      if (c.uri.user == contact_user) {
        if (auto pe = c.params.get("expires")) {
          std::uint32_t v = 0;
          bool ok = !pe->empty();
          for (char ch : *pe) {
            if (ch < '0' || ch > '9' || v > 100'000'000U) {
              ok = false;
              break;
            }
            v = v * 10U + static_cast<std::uint32_t>(ch - '0');
          }
          if (ok) got = v;
        }
        break;
      }
    }
  }
  if (got == 0) got = expires;
  granted = std::chrono::seconds(got);
  set_reg_state(RegistrationState::registered);
  settle_register(Result<void>());
  if (want_registered) schedule_refresh(granted);
}

void UserAgent::Impl::schedule_refresh(std::chrono::seconds expires) {
  // The earlier of expires-5 s and 90 % of it (short registrations refresh at half).
  using namespace std::chrono;
  milliseconds at = duration_cast<milliseconds>(expires) * 9 / 10;
  if (expires > seconds(10)) {
    at = std::min(at, duration_cast<milliseconds>(expires - seconds(5)));
  } else {
    at = duration_cast<milliseconds>(expires) / 2;
  }
  at = std::max(at, milliseconds(500));
  refresh_timer.expires_after(at);
  refresh_timer.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (ec) return;
    auto self = weak.lock();
    if (self && self->want_registered) {
      self->do_register(static_cast<std::uint32_t>(self->opts.register_expires.count()));
    }
  });
}

void UserAgent::Impl::schedule_retry() {
  ++reg_failures;
  const auto& r = opts.reconnect;
  double d = static_cast<double>(r.initial_delay.count()) * 4;
  for (int i = 1; i < reg_failures && d < static_cast<double>(r.max_delay.count()); ++i) d *= r.multiplier;
  d = std::min(d, static_cast<double>(r.max_delay.count()));
  refresh_timer.expires_after(std::chrono::milliseconds(static_cast<long long>(d)));
  refresh_timer.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (ec) return;
    auto self = weak.lock();
    if (self && self->want_registered) {
      self->do_register(static_cast<std::uint32_t>(self->opts.register_expires.count()));
    }
  });
}

// ------------------------------------------------------------------------------------------------ heartbeat

void UserAgent::Impl::start_heartbeat() {
  const bool options_keepalive = opts.keep_alive.mode == KeepAliveOptions::Mode::options;
  if (!opts.heartbeat.enabled && !options_keepalive) return;
  const std::uint64_t gen = ++heartbeat_generation;
  const auto delay = opts.heartbeat.enabled ? opts.heartbeat.delay : opts.keep_alive.interval;
  heartbeat_timer.expires_after(delay);
  heartbeat_timer.async_wait([weak = weak_from_this(), gen](boost::system::error_code ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->heartbeat_tick(gen);
  });
}

void UserAgent::Impl::heartbeat_tick(std::uint64_t generation) {
  if (generation != heartbeat_generation || closed || !transport->connected()) return;
  const bool hb = opts.heartbeat.enabled;
  const auto timeout = hb ? opts.heartbeat.timeout : opts.keep_alive.timeout;
  const int max_tries = hb ? std::max(1, opts.heartbeat.max_tries) : 1;
  auto answered = std::make_shared<bool>(false);
  auto target = hb && !opts.heartbeat.target.empty() ? opts.heartbeat.target : std::string();
  auto weak = weak_from_this();
  request_out("OPTIONS", target, {}, {}).then([answered, weak](Result<Message> r) {
    // Any response (even an error status) proves the path is alive; a timeout or a transport error does not.
    if (r || (r.error().category == ErrorCategory::sip)) *answered = true;
    (void)weak;
  });
  auto t = std::make_shared<asio::steady_timer>(rt.context());
  t->expires_after(timeout);
  t->async_wait([weak, t, answered, generation, max_tries](boost::system::error_code ec) {
    if (ec) return;
    auto self = weak.lock();
    if (!self || generation != self->heartbeat_generation) return;
    if (*answered) {
      self->heartbeat_missed = 0;
    } else if (++self->heartbeat_missed >= max_tries) {
      const int missed = self->heartbeat_missed;
      self->heartbeat_missed = 0;
      self->log().warn("sip", "heartbeat: " + std::to_string(missed) + " OPTIONS unanswered; reconnecting");
      self->emitter.emit(HeartbeatTimeout{missed});
      self->transport->drop("heartbeat timeout");
      return;
    }
    self->start_heartbeat();
  });
}

void UserAgent::Impl::close_now(const std::string& reason) {
  if (closed) return;
  closed = true;
  want_registered = false;
  refresh_timer.cancel();
  heartbeat_timer.cancel();
  ++heartbeat_generation;
  auto live = sessions;
  for (auto& [k, s] : live) {
    Terminated t;
    t.cause = Terminated::Cause::transport;
    t.reason = reason;
    s->terminate(t);
  }
  transport->close();
}

// ------------------------------------------------------------------------------------------------ UserAgent

UserAgent::UserAgent(Runtime& runtime, UserAgentOptions options) {
  auto t = detail::make_ws_transport(runtime, options);
  impl_ = std::make_shared<Impl>(runtime, std::move(options), std::move(t));
  impl_->init();
}

UserAgent::~UserAgent() { close(); }

Async<void> UserAgent::start() {
  Promise<void> p(impl_->rt.executor());
  auto a = p.async();
  asio::post(impl_->rt.context(), [self = impl_, p] {
    if (self->closed) {
      p.set(Error(ErrorCategory::cancelled, "the user agent is closed"));
      return;
    }
    if (self->start_promise) self->start_promise->set(Error(ErrorCategory::cancelled, "start() called again"));
    self->start_promise = p;
    self->want_registered = self->opts.register_on_start;
    if (self->transport->connected()) {
      if (self->want_registered) {
        self->do_register(static_cast<std::uint32_t>(self->opts.register_expires.count()));
      } else {
        p.set(Result<void>());
        self->start_promise.reset();
      }
      return;
    }
    self->transport->start();
  });
  return a;
}

Async<void> UserAgent::stop() {
  Promise<void> p(impl_->rt.executor());
  auto a = p.async();
  asio::post(impl_->rt.context(), [self = impl_, p] {
    if (self->closed) {
      p.set(Result<void>());
      return;
    }
    const bool registered = self->reg_state == RegistrationState::registered && self->transport->connected();
    // Hang up the calls first (BYE / CANCEL), then unregister, then close.
    auto live = self->sessions;
    for (auto& [k, s] : live) {
      auto st = s->get_state();
      if (st == SessionState::confirmed) {
        s->do_bye({}, std::nullopt, Terminated::Cause::local_bye);
      } else if (s->direction == Direction::outgoing) {
        s->cancel_requested = true;
        s->send_cancel();
      } else {
        Terminated t;
        t.cause = Terminated::Cause::rejected;
        t.status = 480;
        s->terminate(t);
      }
    }
    self->want_registered = false;
    self->refresh_timer.cancel();
    if (!registered) {
      self->stop_promise = p;
      self->close_now("stopped");
      return;
    }
    Promise<void> unreg(self->rt.executor());
    self->unregister_waiters.push_back(unreg);
    self->stop_promise = p;
    unreg.async().then([self](Result<void>) { self->close_now("stopped"); });
    self->do_register(0);
  });
  return a;
}

void UserAgent::close() {
  asio::post(impl_->rt.context(), [self = impl_] { self->close_now("closed"); });
}

void UserAgent::reconnect(std::string reason) {
  asio::post(impl_->rt.context(), [self = impl_, reason = std::move(reason)]() mutable {
    if (!self->closed && self->transport) self->transport->drop(std::move(reason));
  });
}

Async<void> UserAgent::register_line() {
  Promise<void> p(impl_->rt.executor());
  auto a = p.async();
  asio::post(impl_->rt.context(), [self = impl_, p] {
    if (self->closed) {
      p.set(Error(ErrorCategory::cancelled, "the user agent is closed"));
      return;
    }
    self->want_registered = true;
    self->register_waiters.push_back(p);
    if (!self->transport->connected()) {
      self->transport->start();
      return;
    }
    self->do_register(static_cast<std::uint32_t>(self->opts.register_expires.count()));
  });
  return a;
}

Async<void> UserAgent::unregister() {
  Promise<void> p(impl_->rt.executor());
  auto a = p.async();
  asio::post(impl_->rt.context(), [self = impl_, p] {
    self->want_registered = false;
    self->refresh_timer.cancel();
    if (!self->transport->connected()) {
      self->set_reg_state(RegistrationState::unregistered);
      p.set(Result<void>());
      return;
    }
    self->unregister_waiters.push_back(p);
    self->do_register(0);
  });
  return a;
}

bool UserAgent::is_registered() const { return registration_state() == RegistrationState::registered; }

RegistrationState UserAgent::registration_state() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->reg_state;
}

TransportState UserAgent::transport_state() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->tstate;
}

const UserAgentOptions& UserAgent::options() const { return impl_->opts; }

Uri UserAgent::aor() const { return impl_->aor(); }

Async<Message> UserAgent::options(std::string target) {
  return impl_->request_out("OPTIONS", std::move(target), {}, {});
}

Async<Message> UserAgent::send_message(std::string target, std::string body, std::string content_type) {
  return impl_->request_out("MESSAGE", std::move(target), std::move(body), std::move(content_type));
}

Result<Session> UserAgent::invite(std::string target, std::shared_ptr<MediaSession> media, InviteOptions options) {
  if (!media) return Error(ErrorCategory::invalid_argument, "invite: no MediaSession");
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->tstate == TransportState::closed) return Error(ErrorCategory::cancelled, "the user agent is closed");
  }
  auto uri = impl_->target_uri(target);
  if (!uri) return uri.error();
  auto s = std::make_shared<Session::Impl>(impl_, Direction::outgoing, std::move(media));
  {
    // The Call-ID is known as soon as invite() returns: callers key their calls by it.
    std::lock_guard lock(s->mutex);
    s->call_id = detail::random_token(22);
  }
  asio::post(impl_->rt.context(), [s, u = uri->str(), options = std::move(options)]() mutable {
    s->start_invite(std::move(u), std::move(options));
  });
  return Session(s);
}

std::vector<Session> UserAgent::sessions() const {
  // Read on the I/O thread's map: copy under the runtime's serialisation when called from elsewhere.
  std::vector<Session> out;
  if (impl_->rt.in_io_thread()) {
    for (const auto& [k, s] : impl_->sessions) out.emplace_back(s);
    return out;
  }
  auto p = std::make_shared<std::promise<std::vector<Session>>>();
  auto f = p->get_future();
  asio::post(impl_->rt.context(), [self = impl_, p] {
    std::vector<Session> v;
    for (const auto& [k, s] : self->sessions) v.emplace_back(s);
    p->set_value(std::move(v));
  });
  if (f.wait_for(std::chrono::seconds(5)) != std::future_status::ready) return out;
  return f.get();
}

Emitter& UserAgent::emitter() { return impl_->emitter; }

}  // namespace wazo::sip
