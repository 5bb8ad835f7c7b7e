// The dev engine's SIP registrar and proxy for its users' WebRTC lines (RFC 3261 §10, §16; RFC 7118 clients with
// `*.invalid` contacts). Transport-agnostic: each WebSocket connection is a Peer; receive() takes one message (one
// frame). Used on the I/O thread only.
//
//   REGISTER    digest (401, SHA-256 and MD5 offered, qop=auth; a wrong password gets 403), bindings per AOR (the
//               line's SIP username) keyed by +sip.instance/reg-id or by the Contact URI, expires within
//               [min_expires, max_expires] (423 below), 0 or `*` removes; a binding lives on its connection.
//   initial requests to sip:USER@… or sip:EXTEN@… (INVITE, MESSAGE, OPTIONS, REFER, SUBSCRIBE, …): digest (407),
//               404 unknown user, 480 no binding, 483 on Max-Forwards 0; forwarded to the newest binding with our
//               Via pushed, Max-Forwards decremented and, for dialog-creating requests, our Record-Route.
//   responses   our Via popped, back to the connection of the request (by branch); 2xx/1xx to INVITE pass as is.
//   CANCEL      answered 200 and sent to the same branch; ACK for a non-2xx follows the INVITE's branch.
//   in-dialog   (To tag) our Route popped, then routed by the request URI (a Contact seen on a connection).
//   OPTIONS     to the engine itself (no user part): 200 (heartbeat), no authentication.
//   calls       an initial INVITE between two users' lines is a call for calld (calls.hpp): two legs and their
//               events, X-Wazo-Call-ID (the callee's leg) added to the forwarded INVITE; its 2xx answers it,
//               re-INVITEs hold and resume it, BYE / CANCEL / a final error / a lost connection end it.
//               hang_up() ends one from the engine (BYE to both ends, or CANCEL before the answer).
// Bodies (SDP) pass through untouched. Passwords and digest responses are never logged.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bus.hpp"
#include "calls.hpp"
#include "state.hpp"
#include "wazo/sip/message.hpp"

namespace wazo::sip::detail {
class DigestServer;
}  // namespace wazo::sip::detail

namespace wazo::engine {

struct SipOptions {
  std::string realm = "wazo.local";
  std::uint32_t min_expires = 5;        // 423 Interval Too Brief below (except 0)
  std::uint32_t max_expires = 3600;     // longer requests are shortened
  std::uint32_t default_expires = 600;  // when neither the Contact nor the Expires header says
  std::size_t max_bindings_per_aor = 10;
  bool verbose = false;  // one line per message on stderr (summaries: no credentials)
};

class SipProxy {
 public:
  // One connection (a WebSocket). send() queues one message (one frame).
  struct Peer {
    virtual ~Peer() = default;
    virtual void send(std::string message) = 0;
    std::uint64_t id = 0;
    std::string remote;  // "ip:port", for logs
  };

  SipProxy(State& state, Bus& bus, SipOptions options = {});
  ~SipProxy();
  SipProxy(const SipProxy&) = delete;
  SipProxy& operator=(const SipProxy&) = delete;

  // Where the engine is, for its Via and Record-Route: "sip:HOST:PORT;transport=ws|wss;lr".
  void set_local(std::string host, std::uint16_t port, bool secure);

  void attach(Peer& peer);
  void detach(Peer& peer);  // its bindings, contacts and pending transactions go with it
  // One message (a frame). Bounded by the parser's limits; a malformed request gets a 400 when it can be answered.
  void receive(Peer& peer, std::string_view data);
  // Drops expired bindings (publishing line_status_updated) and finished transactions. Called every second.
  void sweep();

  [[nodiscard]] std::size_t registrations() const;
  [[nodiscard]] std::size_t connections() const { return peers_.size(); }
  [[nodiscard]] Json metrics() const;

  // calld: the user's live call legs (the Call model), and a hang-up of one of them.
  [[nodiscard]] Json calls_of(const std::string& user_uuid) const { return calls_.calls_of(user_uuid); }
  enum class HangUp : std::uint8_t { done, unknown, not_owner };
  HangUp hang_up(const std::string& call_id, const std::string& user_uuid);

 private:
  struct Binding {
    std::string key;      // +sip.instance;reg-id, or the contact URI
    std::string contact;  // the Contact as registered (name-addr, without expires)
    sip::Uri uri;
    Clock::time_point expires_at;
    std::uint64_t peer = 0;
    std::string call_id;
    std::uint32_t cseq = 0;
    Clock::time_point registered_at;
  };
  struct Transaction {
    std::uint64_t upstream = 0, downstream = 0;
    std::string upstream_key;  // in by_upstream_
    std::string method;
    sip::Message forwarded;  // as sent downstream (INVITE: to build the CANCEL)
    int final_status = 0;
    std::chrono::steady_clock::time_point created, completed;
  };

  void on_request(Peer& peer, sip::Message& m);
  void on_response(Peer& peer, sip::Message& m);
  void on_register(Peer& peer, sip::Message& m);
  void on_cancel(Peer& peer, sip::Message& m);
  void on_ack(Peer& peer, sip::Message& m);
  void route_in_dialog(Peer& peer, sip::Message& m);
  // An in-dialog request of a relayed call: BYE ends it, a re-INVITE's offer may hold or resume it.
  void track_in_dialog(const sip::Message& m);
  // Ends a relayed call from the proxy itself: BYE to both ends once answered, else CANCEL towards the callee
  // (or, the callee gone, 480 to the caller). `gone`: a connection that is closing (nothing is sent to it).
  void end_call(RelayedCall& call, std::uint64_t gone = 0);
  void send_bye(std::uint64_t peer_id, const sip::Uri& target, const std::string& from, const std::string& to,
                const std::string& call_id, std::uint32_t cseq);
  void cancel_downstream(const Transaction& tx, std::optional<std::string_view> reason);
  void route_to_user(Peer& peer, sip::Message& m, User& target, bool authenticated_already);
  // Sends `m` to `downstream` with our Via (a new branch, or `branch`); stateful unless it is an ACK.
  void forward(Peer& upstream, sip::Message m, Peer& downstream, bool record_route, std::string branch = {});

  // Checks the (Proxy-)Authorization of `m` for a line; answers 401/407/403 and returns nullptr when it fails.
  User* authenticate(Peer& peer, const sip::Message& m, bool proxy);
  void challenge(Peer& peer, const sip::Message& m, bool proxy, bool stale);

  void reply(Peer& peer, const sip::Message& request, int status, std::string_view reason = {},
             std::vector<sip::Header> extra = {});
  void reply_raw_400(Peer& peer, std::string_view data, const std::string& why);
  void send(Peer& peer, const sip::Message& m);
  void learn_contacts(const Peer& peer, const sip::Message& m);
  bool pop_our_routes(sip::Message& m);  // false when a Route header is malformed
  [[nodiscard]] bool is_ours(const sip::Uri& uri) const;
  [[nodiscard]] Peer* peer(std::uint64_t id) const;
  [[nodiscard]] std::vector<Binding>* bindings_of(const User& u);
  void line_status(const User& u, bool was_registered);
  void log(const Peer& peer, const char* direction, const sip::Message& m) const;

  State& state_;
  Bus& bus_;
  SipOptions options_;
  std::unique_ptr<sip::detail::DigestServer> sha256_, md5_;
  std::string host_ = "127.0.0.1";
  std::uint16_t port_ = 0;
  std::string transport_ = "WS";
  std::string tag_seed_;
  CallRegistry calls_;

  std::map<std::uint64_t, Peer*> peers_;
  std::map<std::string, std::vector<Binding>> bindings_;  // by AOR user (the line username, lower case)
  std::map<std::string, std::uint64_t> contacts_;         // lower "user@host:port" of a Contact → its connection
  std::map<std::string, Transaction> transactions_;       // by our branch
  std::map<std::string, std::string> by_upstream_;        // "peer|branch|INVITE" → our branch

  std::uint64_t requests_ = 0, responses_ = 0, forwarded_ = 0, rejected_ = 0, parse_errors_ = 0;
  std::uint64_t registers_ok_ = 0, auth_failures_ = 0;
};

}  // namespace wazo::engine
