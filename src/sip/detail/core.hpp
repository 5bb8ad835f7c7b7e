// The user agent's shared state: UserAgent::Impl (transport, transactions, registration, request sending with
// digest retry, dispatch of incoming messages) and Session::Impl (one INVITE dialog usage). Internal; everything
// here runs on the runtime's I/O thread unless it says otherwise.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "sip/detail/dialog.hpp"
#include "sip/detail/transaction.hpp"
#include "sip/detail/transport.hpp"
#include "sip/detail/ua_auth.hpp"
#include "wazo/sip/user_agent.hpp"

namespace wazo::sip {

namespace detail {

// One request, sent again with credentials on 401/407 (AuthRetry rules). `on_response` sees provisional and
// final responses; a refused challenge is an Error of category auth with the status.
struct Outgoing {
  Message request;  // without Via; updated (CSeq, credentials) when re-sent
  std::function<void(Result<Message>)> on_response;
  std::function<std::uint32_t()> next_cseq;  // the CSeq of a re-sent request (default: +1)
  AuthRetry retry;
  std::string branch;                       // the current client transaction
  std::optional<DigestChallenge> answered;  // the challenge last answered
  bool answered_proxy = false;              // it came in a 407
  bool done = false;
};

std::vector<std::string_view> split_list(std::string_view value);  // commas outside quotes and <>
Identity identity_of(const NameAddr& a);
std::string percent_encode(std::string_view s);
std::string percent_decode(std::string_view s);

}  // namespace detail

struct UserAgent::Impl : std::enable_shared_from_this<UserAgent::Impl> {
  Impl(Runtime& runtime, UserAgentOptions options, std::shared_ptr<detail::Transport> transport);
  void init();  // wires the transport (needs shared_from_this)

  Runtime& rt;
  UserAgentOptions opts;
  Emitter emitter;
  std::shared_ptr<detail::Transport> transport;
  std::unique_ptr<detail::TransactionLayer> tx;
  std::string contact_user;
  std::string via_host;
  std::string instance_id;
  std::string reg_call_id;
  std::string reg_from_tag;
  std::uint32_t reg_cseq = 0;

  // Snapshot for other threads.
  mutable std::mutex mutex;
  RegistrationState reg_state = RegistrationState::unregistered;
  TransportState tstate = TransportState::idle;
  bool closed = false;

  // Registration (I/O thread).
  bool want_registered = false;
  bool reg_in_flight = false;
  std::uint32_t reg_in_flight_expires = 0;
  boost::asio::steady_timer refresh_timer;
  std::chrono::seconds granted{0};
  std::vector<Promise<void>> register_waiters;
  std::vector<Promise<void>> unregister_waiters;
  std::optional<Promise<void>> start_promise;
  std::optional<Promise<void>> stop_promise;
  std::optional<detail::DigestChallenge> reg_challenge;  // reused for refreshes (nc counts up)
  bool reg_challenge_proxy = false;
  detail::DigestClient digest;  // nonce counts
  std::uint32_t min_expires = 0;
  int reg_failures = 0;

  // Heartbeat (I/O thread).
  boost::asio::steady_timer heartbeat_timer;
  int heartbeat_missed = 0;
  std::uint64_t heartbeat_generation = 0;

  std::map<std::string, std::shared_ptr<Session::Impl>> sessions;  // call_id|local_tag

  [[nodiscard]] const Logger& log() const { return rt.logger(); }
  [[nodiscard]] Uri aor() const;
  [[nodiscard]] NameAddr local_name_addr() const;  // From without tag
  [[nodiscard]] std::string contact(bool with_instance = false) const;
  [[nodiscard]] std::string allow() const;
  Result<Uri> target_uri(const std::string& target) const;

  // A new out-of-dialog request: From (tag), To, Call-ID, CSeq 1, Max-Forwards, User-Agent.
  Message new_request(const std::string& method, const Uri& target, const std::string& call_id = {});
  void send(std::shared_ptr<detail::Outgoing> out);
  void on_outgoing_response(const std::shared_ptr<detail::Outgoing>& out, Result<Message> r);
  // Any request out of dialog; resolves with a 2xx, else an Error (sip with the status, auth, timeout, transport).
  Async<Message> request_out(std::string method, std::string target, std::string body, std::string content_type);

  // Transport and incoming messages.
  void on_transport_state(TransportState s, std::string reason, std::optional<Error> error);
  void on_message(std::string data);
  void on_request(const Message& m);
  void on_stray_response(const Message& m);
  bool reply(const Message& request, int status, std::string reason = {}, std::vector<Header> extra = {},
             std::string body = {}, std::string content_type = {});

  // Registration.
  void set_reg_state(RegistrationState s, std::optional<Error> error = std::nullopt);
  void do_register(std::uint32_t expires);
  void on_register_response(std::uint32_t expires, Result<Message> r, const std::shared_ptr<detail::Outgoing>& out);
  void schedule_refresh(std::chrono::seconds expires);
  void schedule_retry();
  void settle_register(const Result<void>& r);
  void settle_unregister(const Result<void>& r);

  void start_heartbeat();
  void heartbeat_tick(std::uint64_t generation);

  void close_now(const std::string& reason);
  std::shared_ptr<Session::Impl> find_session(std::string_view call_id, std::string_view local_tag) const;
};

struct Session::Impl : std::enable_shared_from_this<Session::Impl> {
  Impl(const std::shared_ptr<UserAgent::Impl>& ua, Direction direction, std::shared_ptr<MediaSession> media);

  std::weak_ptr<UserAgent::Impl> ua;
  Runtime& rt;
  Emitter emitter;
  std::shared_ptr<MediaSession> media;
  const Direction direction;

  // Snapshot for other threads.
  mutable std::mutex mutex;
  SessionState state = SessionState::initial;
  std::string call_id;
  std::string local_tag;
  std::string remote_tag;
  Identity remote_id;
  Identity local_id;
  std::vector<Diversion> diversions;
  std::string remote_sdp;
  std::optional<Message> initial;
  bool final_sent = false;  // incoming: a final response went out
  bool final_seen = false;  // outgoing: a final response came in

  // I/O thread.
  std::optional<detail::Dialog> dialog;
  InviteOptions invite_options;
  std::shared_ptr<detail::Outgoing> invite_out;  // outgoing INVITE
  bool got_provisional = false;
  bool cancel_requested = false;
  bool cancel_sent = false;
  std::string cancel_reason;
  Message invite_in;  // incoming INVITE
  std::optional<Promise<void>> accept_promise;
  boost::asio::steady_timer ack_timer;
  bool awaiting_ack = false;
  bool offer_in_200 = false;        // an offerless (re-)INVITE: the ACK carries the answer
  std::optional<Message> last_ack;  // sent again for a retransmitted 2xx
  std::uint32_t invite_cseq = 0;    // of the INVITE that the last ACK answered
  std::vector<Promise<void>> end_waiters;
  std::optional<Promise<void>> bye_promise;
  // re-INVITE
  bool reinvite_out_pending = false;
  bool reinvite_in_pending = false;
  std::uint32_t reinvite_in_cseq = 0;
  std::optional<Promise<void>> reinvite_promise;
  int glare_retries = 0;
  int deferrals = 0;  // re-INVITE waiting for the peer's INVITE transaction to end
  boost::asio::steady_timer glare_timer;
  // Session timer (RFC 4028)
  boost::asio::steady_timer session_timer;
  std::chrono::seconds session_interval{0};
  bool we_refresh = false;
  std::weak_ptr<Session::Impl> replaces_target;      // an INVITE with Replaces: the session it takes over
  std::vector<std::shared_ptr<Referral>> referrals;  // kept alive while their dialog lives
  bool terminated_emitted = false;

  [[nodiscard]] SessionState get_state() const {
    std::lock_guard lock(mutex);
    return state;
  }
  void set_state(SessionState s) {
    std::lock_guard lock(mutex);
    state = s;
  }
  [[nodiscard]] std::string key() const;

  // Outgoing INVITE.
  void start_invite(std::string target_uri, InviteOptions options);
  void on_invite_response(Result<Message> r);
  void send_cancel();
  void ack_and_bye(const Message& response);
  void send_ack(std::uint32_t cseq, const std::string& body = {}, const std::string& content_type = {});

  // Incoming INVITE.
  void on_incoming_invite(const Message& invite);
  Result<void> respond_provisional(int status, std::string reason);
  void do_accept(std::shared_ptr<MediaSession> m, AcceptOptions options, Promise<void> promise);
  Message invite_response(int status, std::string reason = {});
  void do_reject(int status, std::string reason);
  void send_200(const std::string& sdp, const AcceptOptions& options);
  void on_remote_cancel(const Message& invite);
  void on_ack(const Message& ack);

  // In dialog.
  void on_request(const Message& m);
  void on_reinvite(const Message& m);
  void on_stray_2xx(const Message& m);
  Async<Message> send_in_dialog(std::string method, std::string body, std::string content_type,
                                std::vector<Header> extra);
  void send_in_dialog_cb(std::string method, std::string body, std::string content_type, std::vector<Header> extra,
                         std::function<void(Result<Message>)> done);
  void do_bye(std::string reason, std::optional<Promise<void>> promise, Terminated::Cause cause);
  void do_reinvite(Promise<void> promise);
  void start_session_timer();

  void terminate(Terminated t);
  void emit_progress(int status, std::string reason);
};

}  // namespace wazo::sip
