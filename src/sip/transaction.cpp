#include "sip/detail/transaction.hpp"

#include <boost/asio/post.hpp>

#include "sip/detail/ua_auth.hpp"

namespace wazo::sip::detail {

namespace asio = boost::asio;

Message make_response(const Message& request, int status, std::string reason) {
  Message r = Message::response(status, std::move(reason));
  for (const auto& h : request.headers()) {
    if (h.name == "Via" || h.name == "From" || h.name == "To" || h.name == "Call-ID" || h.name == "CSeq") {
      r.add_header(h.name, h.value);
    }
  }
  return r;
}

std::string new_branch() { return "z9hG4bK" + random_token(16); }

struct TransactionLayer::Client {
  explicit Client(asio::io_context& io) : timer(io) {}
  Message request;
  bool invite = false;
  bool provisional = false;
  ResponseHandler handler;
  asio::steady_timer timer;
};

struct TransactionLayer::Server {
  explicit Server(asio::io_context& io) : timer(io) {}
  Message request;
  std::string last_response;
  bool final_sent = false;
  asio::steady_timer timer;
};

TransactionLayer::TransactionLayer(asio::io_context& io, Config config, SendFn send)
    : io_(io), config_(std::move(config)), send_(std::move(send)) {}

TransactionLayer::~TransactionLayer() {
  *alive_ = false;
  for (auto& [k, c] : clients_) c->timer.cancel();
  for (auto& [k, s] : servers_) s->timer.cancel();
}

std::string TransactionLayer::key(std::string_view branch, std::string_view method) {
  std::string k(branch);
  k += '|';
  k += method == "ACK" ? std::string_view("INVITE") : method;
  return k;
}

std::string TransactionLayer::send_request(Message request, ResponseHandler handler) {
  const std::string branch = new_branch();
  Via via;
  via.transport = config_.via_transport();
  via.host = config_.via_host;
  via.params.set("branch", branch);
  request.push_header("Via", via.str());
  auto c = std::make_shared<Client>(io_);
  c->invite = request.method() == "INVITE";
  c->handler = std::move(handler);
  const std::string k = key(branch, request.method());
  std::string wire = request.serialize();
  c->request = std::move(request);
  clients_[k] = c;
  if (!send_(std::move(wire))) {
    asio::post(io_, [this, alive = alive_, k] {
      if (*alive) finish_client(k, Error(ErrorCategory::transport, "not connected to the SIP server"));
    });
    return branch;
  }
  c->timer.expires_after(config_.timers.transaction_timeout());
  c->timer.async_wait([this, alive = alive_, k, invite = c->invite](boost::system::error_code ec) {
    if (ec || !*alive) return;
    finish_client(k, Error(ErrorCategory::timeout,
                           std::string(invite ? "timer B" : "timer F") + ": no final response within 64*T1", 408));
  });
  return branch;
}

bool TransactionLayer::send_stateless(Message request) {
  Via via;
  via.transport = config_.via_transport();
  via.host = config_.via_host;
  via.params.set("branch", new_branch());
  request.push_header("Via", via.str());
  return send_(request.serialize());
}

std::optional<std::string> TransactionLayer::send_cancel(const std::string& invite_branch,
                                                         std::vector<Header> extra_headers, ResponseHandler handler) {
  auto it = clients_.find(key(invite_branch, "INVITE"));
  if (it == clients_.end()) return std::nullopt;
  const Message& inv = it->second->request;
  Message cancel = Message::request("CANCEL", inv.request_uri());
  // §9.1: same Request-URI, Call-ID, To, From, CSeq number and top Via (same branch); Route kept.
  for (const auto& h : inv.headers()) {
    if (h.name == "Call-ID" || h.name == "From" || h.name == "To" || h.name == "Route" || h.name == "Max-Forwards") {
      cancel.add_header(h.name, h.value);
    }
  }
  if (auto cs = inv.cseq()) cancel.add_header("CSeq", std::to_string(cs->number) + " CANCEL");
  for (auto& h : extra_headers) cancel.add_header(h.name, std::move(h.value));
  if (auto v = inv.header("Via")) cancel.push_header("Via", std::string(*v));
  auto c = std::make_shared<Client>(io_);
  c->handler = std::move(handler);
  const std::string k = key(invite_branch, "CANCEL");
  std::string wire = cancel.serialize();
  c->request = std::move(cancel);
  clients_[k] = c;
  if (!send_(std::move(wire))) {
    asio::post(io_, [this, alive = alive_, k] {
      if (*alive) finish_client(k, Error(ErrorCategory::transport, "not connected to the SIP server"));
    });
    return invite_branch;
  }
  c->timer.expires_after(config_.timers.transaction_timeout());
  c->timer.async_wait([this, alive = alive_, k](boost::system::error_code ec) {
    if (ec || !*alive) return;
    finish_client(k, Error(ErrorCategory::timeout, "timer F: no response to CANCEL within 64*T1", 408));
  });
  return invite_branch;
}

const Message* TransactionLayer::client_request(const std::string& branch, std::string_view method) const {
  auto it = clients_.find(key(branch, method));
  return it == clients_.end() ? nullptr : &it->second->request;
}

void TransactionLayer::abandon(const std::string& branch, std::string_view method) {
  auto it = clients_.find(key(branch, method));
  if (it == clients_.end()) return;
  it->second->timer.cancel();
  clients_.erase(it);
}

void TransactionLayer::finish_client(const std::string& k, Result<Message> result) {
  auto it = clients_.find(k);
  if (it == clients_.end()) return;
  auto c = it->second;
  clients_.erase(it);
  c->timer.cancel();
  if (c->handler) c->handler(std::move(result));
}

bool TransactionLayer::on_response(const Message& response) {
  auto via = response.top_via();
  auto cseq = response.cseq();
  if (!via || !cseq) return false;
  const std::string k = key(via->branch(), cseq->method);
  auto it = clients_.find(k);
  if (it == clients_.end()) return false;
  auto c = it->second;
  const int status = response.status();
  if (status < 200) {
    if (c->invite && !c->provisional) {
      c->provisional = true;
      c->timer.cancel();  // timer B only runs in the Calling state (a proxy's timer C bounds Proceeding)
    }
    if (c->handler) c->handler(response);
    return true;
  }
  if (c->invite && status >= 300) {
    // §17.1.1.3: the ACK of a non-2xx is part of the transaction (same branch, To from the response).
    Message ack = Message::request("ACK", c->request.request_uri());
    if (auto v = c->request.header("Via")) ack.add_header("Via", std::string(*v));
    for (const auto& h : c->request.headers()) {
      if (h.name == "Call-ID" || h.name == "From" || h.name == "Route" || h.name == "Max-Forwards") {
        ack.add_header(h.name, h.value);
      }
    }
    if (auto to = response.header("To")) ack.add_header("To", std::string(*to));
    ack.add_header("CSeq", std::to_string(cseq->number) + " ACK");
    send_(ack.serialize());
  }
  finish_client(k, response);
  return true;
}

void TransactionLayer::fail_all(const Error& error) {
  auto all = std::move(clients_);
  clients_.clear();
  for (auto& [k, c] : all) {
    c->timer.cancel();
    if (c->handler) c->handler(error);
  }
}

TransactionLayer::IncomingResult TransactionLayer::on_request(const Message& request) {
  IncomingResult out;
  auto via = request.top_via();
  const std::string branch = via ? std::string(via->branch()) : std::string();
  const std::string& method = request.method();
  if (method == "ACK") {
    auto it = servers_.find(key(branch, "INVITE"));
    if (it != servers_.end() && it->second->final_sent) {
      // The ACK of a non-2xx final response ends the INVITE server transaction (timer I = 0 when reliable).
      const bool non2xx = it->second->last_response.compare(0, 9, "SIP/2.0 2") != 0;
      if (non2xx) {
        it->second->timer.cancel();
        servers_.erase(it);
        out.kind = Incoming::ack_absorbed;
        return out;
      }
    }
    out.kind = Incoming::ack;
    return out;
  }
  if (method == "CANCEL") {
    out.kind = Incoming::cancel;
    auto it = servers_.find(key(branch, "INVITE"));
    if (it != servers_.end()) {
      out.invite = it->second->request;
      out.cancel_matched = !it->second->final_sent;
    }
    // The CANCEL's own transaction is not kept: it is answered once, at once.
    return out;
  }
  const std::string k = key(branch, method);
  if (auto it = servers_.find(k); it != servers_.end() && !branch.empty()) {
    if (!it->second->last_response.empty()) send_(it->second->last_response);
    out.kind = Incoming::retransmission;
    return out;
  }
  auto s = std::make_shared<Server>(io_);
  s->request = request;
  if (!branch.empty()) servers_[k] = s;
  if (method == "INVITE") {
    Message trying = make_response(request, 100, "Trying");
    s->last_response = trying.serialize();
    send_(s->last_response);
  }
  out.kind = Incoming::fresh;
  return out;
}

bool TransactionLayer::respond(const Message& request, const Message& response) {
  auto via = request.top_via();
  const std::string branch = via ? std::string(via->branch()) : std::string();
  std::string wire = response.serialize();
  const std::string k = key(branch, request.method());
  auto it = servers_.find(k);
  if (it != servers_.end()) {
    auto s = it->second;
    if (s->final_sent) return false;  // one final response per transaction
    s->last_response = wire;
    if (response.status() >= 200) {
      s->final_sent = true;
      if (request.method() == "INVITE") {
        // Kept until the ACK (non-2xx) or timer H; after a 2xx, kept 64*T1 too (RFC 6026 "Accepted") so that a
        // retransmitted INVITE gets the 2xx again instead of starting a second call. The 2xx's ACK is the core's.
        erase_server_later(k, config_.timers.transaction_timeout());
      } else {
        erase_server_later(k, std::chrono::milliseconds(0));  // timer J = 0 on a reliable transport
      }
    }
  }
  return send_(std::move(wire));
}

bool TransactionLayer::server_pending(const Message& invite) const {
  auto via = invite.top_via();
  if (!via) return false;
  auto it = servers_.find(key(via->branch(), "INVITE"));
  return it != servers_.end() && !it->second->final_sent;
}

void TransactionLayer::erase_server_later(const std::string& k, std::chrono::milliseconds after) {
  auto it = servers_.find(k);
  if (it == servers_.end()) return;
  if (after.count() == 0) {
    it->second->timer.cancel();
    servers_.erase(it);
    return;
  }
  it->second->timer.expires_after(after);
  it->second->timer.async_wait([this, alive = alive_, k](boost::system::error_code ec) {
    if (ec || !*alive) return;
    servers_.erase(k);
  });
}

}  // namespace wazo::sip::detail
