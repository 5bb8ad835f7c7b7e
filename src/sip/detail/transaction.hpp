// SIP transactions (RFC 3261 §17) on a reliable transport (WebSocket): nothing is retransmitted; timers B and F
// (64*T1) end a client transaction with a timeout error; D, J and K are zero; an INVITE server transaction lives
// until its ACK or timer H. The INVITE client transaction ACKs a non-2xx final response itself; a 2xx is passed
// up and ACKed by the core (§13.2.2.4). Server transactions answer INVITE with 100 Trying at once and absorb
// retransmitted requests (the last response is sent again). CANCEL is matched to its INVITE by branch (§9.2).
// Everything runs on one thread (the runtime's I/O thread).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "wazo/core/result.hpp"
#include "wazo/sip/message.hpp"
#include "wazo/sip/user_agent.hpp"

namespace wazo::sip::detail {

// A response to `request` (§8.2.6): Via(s), From, To, Call-ID and CSeq copied; the To tag is the caller's.
Message make_response(const Message& request, int status, std::string reason = {});
// "z9hG4bK" + random.
std::string new_branch();

class TransactionLayer {
 public:
  using SendFn = std::function<bool(std::string wire)>;
  // Every response of a client transaction, provisional ones included; an Error is final (timeout: timer B/F;
  // transport: the message could not be sent or the connection was lost).
  using ResponseHandler = std::function<void(Result<Message>)>;

  struct Config {
    Timers timers;
    std::string via_host = "invalid.invalid";
    std::function<std::string()> via_transport = [] { return std::string("WS"); };
  };

  TransactionLayer(boost::asio::io_context& io, Config config, SendFn send);
  ~TransactionLayer();
  TransactionLayer(const TransactionLayer&) = delete;
  TransactionLayer& operator=(const TransactionLayer&) = delete;

  // ------------------------------------------------------------------ client side
  // Adds a top Via with a new branch and sends in a new client transaction; returns the branch. A send failure
  // is reported through `handler` (posted, never re-entrantly).
  std::string send_request(Message request, ResponseHandler handler);
  // Outside any transaction (the ACK for a 2xx): a top Via with a new branch.
  bool send_stateless(Message request);
  // The CANCEL of the INVITE client transaction `invite_branch` (§9.1), in a transaction of its own. Empty when
  // that transaction is gone (it already has its final response).
  std::optional<std::string> send_cancel(const std::string& invite_branch, std::vector<Header> extra_headers,
                                         ResponseHandler handler);
  // The request (with its Via) of a live client transaction.
  [[nodiscard]] const Message* client_request(const std::string& branch, std::string_view method) const;
  // Drops a client transaction without telling its handler.
  void abandon(const std::string& branch, std::string_view method);
  // A response from the network: true when a client transaction took it. Others are strays (a 2xx
  // retransmission, a forked 2xx): the core decides.
  bool on_response(const Message& response);
  // Fails every client transaction (transport lost).
  void fail_all(const Error& error);
  [[nodiscard]] std::size_t client_count() const { return clients_.size(); }

  // ------------------------------------------------------------------ server side
  enum class Incoming {
    fresh,           // a new request for the core (an INVITE got its 100 Trying)
    retransmission,  // absorbed (the last response was sent again)
    ack_absorbed,    // the ACK of a non-2xx final response: absorbed
    ack,             // an ACK for a 2xx (no transaction): for the core's dialog
    cancel,          // a CANCEL: `cancelled` says whether it matched a pending INVITE server transaction
  };
  struct IncomingResult {
    Incoming kind = Incoming::fresh;
    bool cancel_matched = false;    // cancel: an INVITE server transaction without a final response matched
    std::optional<Message> invite;  // cancel: that INVITE
  };
  IncomingResult on_request(const Message& request);
  // Sends a response in the server transaction of `request` (remembering it to answer retransmissions).
  bool respond(const Message& request, const Message& response);
  // Whether the INVITE server transaction of `invite` is still waiting for its final response.
  [[nodiscard]] bool server_pending(const Message& invite) const;
  [[nodiscard]] std::size_t server_count() const { return servers_.size(); }

 private:
  struct Client;
  struct Server;
  static std::string key(std::string_view branch, std::string_view method);
  void finish_client(const std::string& key, Result<Message> result);
  void erase_server_later(const std::string& key, std::chrono::milliseconds after);

  boost::asio::io_context& io_;
  Config config_;
  SendFn send_;
  std::map<std::string, std::shared_ptr<Client>> clients_;
  std::map<std::string, std::shared_ptr<Server>> servers_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace wazo::sip::detail
