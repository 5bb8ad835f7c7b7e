#include "commands.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <csignal>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

#include "session_file.hpp"
#include "wazo/events/websocket_client.hpp"
#include "wazo/rest/api_client.hpp"
#include "wazo/rest/auth.hpp"
#include "wazo/rest/chatd.hpp"
#include "wazo/rest/confd.hpp"

namespace wazo::cli {

namespace {

using Json = nlohmann::json;

constexpr const char* kClientId = "wazo-cli";
constexpr std::string_view kLoginUsage = "wazo [--host URL] login USER PASSWORD [--expiration SECONDS]";
constexpr std::string_view kWhoamiUsage = "wazo whoami";
constexpr std::string_view kLogoutUsage = "wazo logout";
constexpr std::string_view kApiUsage = "wazo api METHOD PATH [JSON]";
constexpr std::string_view kNotLoggedIn = "not logged in (run: wazo --host URL login USER PASSWORD)";

// Never throws, even on invalid UTF-8 in a string.
std::string dump(const Json& j, bool compact) {
  return j.dump(compact ? -1 : 2, ' ', false, Json::error_handler_t::replace);
}

// Where to connect, and how: the global options, over what the session saved at login.
struct Endpoint {
  std::string host;
  bool insecure = false;
  std::string ca_file;
};

bool same_host(std::string_view a, std::string_view b) {
  while (a.ends_with('/')) a.remove_suffix(1);
  while (b.ends_with('/')) b.remove_suffix(1);
  return a == b;
}

Endpoint endpoint_for(const GlobalOptions& o, const SavedSession* saved) {
  if (saved == nullptr || (!o.host.empty() && !same_host(o.host, saved->host))) return {o.host, o.insecure, o.ca_file};
  return {saved->host, o.insecure || saved->insecure, o.ca_file.empty() ? saved->ca_file : o.ca_file};
}

rest::ApiClient make_client(Context& ctx, const Endpoint& ep, std::string client_id, std::string refresh_token) {
  ConnectionOptions conn;
  conn.tls = TlsOptions{.ca_file = ep.ca_file, .insecure = ep.insecure};
  conn.request_timeout = ctx.options.timeout;
  conn.connect_timeout = std::min(conn.connect_timeout, ctx.options.timeout);
  conn.user_agent = "wazo-cli/" WAZO_VERSION;
  return rest::ApiClient(ctx.runtime, rest::ClientOptions{.server = ep.host,
                                                          .client_id = std::move(client_id),
                                                          .refresh_token = std::move(refresh_token),
                                                          .connection = std::move(conn)});
}

// The session file's path, or a failure when there is no place for it.
std::optional<std::string> session_path(Context& ctx, int& code) {
  auto path = session_file_path();
  if (path.empty()) {
    code = fail(ctx, "no place for the session file: set WAZO_SESSION_FILE, XDG_CONFIG_HOME or HOME");
    return std::nullopt;
  }
  return path;
}

// The saved session; on failure (none, unreadable, for another server than --host) prints the error, sets `code`
// and returns nullopt. The token is never sent to a server other than the one that issued it.
std::optional<SavedSession> require_session(Context& ctx, const std::string& path, int& code,
                                            std::string_view not_logged_in = kNotLoggedIn) {
  auto loaded = load_session(path);
  if (!loaded) {
    code = fail(ctx, loaded.error().message);
    return std::nullopt;
  }
  if (!*loaded) {
    code = fail(ctx, not_logged_in);
    return std::nullopt;
  }
  if (const auto& host = (*loaded)->host; !ctx.options.host.empty() && !same_host(ctx.options.host, host)) {
    code =
        fail(ctx, "logged in to " + host + ", not " + ctx.options.host + " (run: wazo --host URL login USER PASSWORD)");
    return std::nullopt;
  }
  ctx.secrets.add((*loaded)->token);
  ctx.secrets.add((*loaded)->refresh_token);
  return std::move(*loaded);
}

// The saved session shared with the client's refresh handler (which runs on the I/O thread): a refreshed
// token is written to the file at once, so it is kept even if the command then fails.
class SessionStore {
 public:
  SessionStore(std::string path, SavedSession session, Secrets& secrets)
      : path_(std::move(path)), session_(std::move(session)), secrets_(secrets) {}

  void on_refreshed(const std::string& token, const rest::Session& fresh) {
    secrets_.add(token);
    secrets_.add(fresh.refresh_token);
    update([&](SavedSession& s) {
      s.token = token;
      if (!fresh.refresh_token.empty()) s.refresh_token = fresh.refresh_token;
      if (!fresh.expires_at.empty()) s.expires_at = fresh.expires_at;
    });
  }

  // Applies `change` and saves the session when it changed anything.
  void update(const std::function<void(SavedSession&)>& change) {
    std::lock_guard lock(mutex_);
    const Json before = session_.to_json();
    change(session_);
    if (session_.to_json() == before) return;
    auto saved = save_session(path_, session_);
    if (!saved) save_error_ = saved.error().message;
  }

  [[nodiscard]] std::string save_error() const {
    std::lock_guard lock(mutex_);
    return save_error_;
  }

 private:
  mutable std::mutex mutex_;
  std::string path_;
  SavedSession session_;
  std::string save_error_;
  Secrets& secrets_;
};

// Connects a client to the saved session, saving refreshed tokens; the subscription lives as long as the client.
struct SessionClient {
  std::shared_ptr<SessionStore> store;
  rest::ApiClient client;
  Subscription refreshed;
};

SessionClient session_client(Context& ctx, const std::string& path, const SavedSession& saved) {
  auto store = std::make_shared<SessionStore>(path, saved, ctx.secrets);
  rest::ApiClient client =
      make_client(ctx, endpoint_for(ctx.options, &saved),
                  saved.client_id.empty() ? std::string(kClientId) : saved.client_id, saved.refresh_token);
  client.set_token(saved.token);
  auto sub = client.on_refresh_token(
      [store](const std::string& token, const rest::Session& fresh) { store->on_refreshed(token, fresh); });
  return SessionClient{std::move(store), std::move(client), std::move(sub)};
}

void warn_unsaved(Context& ctx, const SessionStore& store) {
  if (auto e = store.save_error(); !e.empty()) {
    ctx.err << "wazo: warning: the refreshed token was not saved: " << one_line(ctx.secrets.redact(e)) << '\n';
  }
}

std::optional<int> parse_positive_int(std::string_view s) {
  int v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || v <= 0) return std::nullopt;
  return v;
}

}  // namespace

std::string one_line(std::string s) {
  std::replace_if(
      s.begin(), s.end(), [](char c) { return c == '\n' || c == '\r' || c == '\t'; }, ' ');
  return s;
}

int fail(Context& ctx, std::string_view message) {
  ctx.err << "wazo: error: " << one_line(ctx.secrets.redact(message)) << '\n';
  return kExitFailure;
}

int fail(Context& ctx, const Error& e) { return fail(ctx, describe_failure(e)); }

int with_session(Context& ctx, const std::function<int(rest::ApiClient&, const SavedSession&)>& body,
                 std::string_view not_logged_in) {
  int code = kExitOk;
  auto path = session_path(ctx, code);
  if (!path) return code;
  auto saved = require_session(ctx, *path, code, not_logged_in.empty() ? kNotLoggedIn : not_logged_in);
  if (!saved) return code;
  auto sc = session_client(ctx, *path, *saved);
  const int result = body(sc.client, *saved);
  warn_unsaved(ctx, *sc.store);
  return result;
}

SessionTls session_tls(const GlobalOptions& options, const SavedSession& saved) {
  const Endpoint ep = endpoint_for(options, &saved);
  return SessionTls{.insecure = ep.insecure, .ca_file = ep.ca_file};
}

void Secrets::add(std::string secret) {
  if (secret.size() < 4) return;  // too short to mask without mangling ordinary text
  std::lock_guard lock(mutex_);
  if (std::find(secrets_.begin(), secrets_.end(), secret) != secrets_.end()) return;
  secrets_.push_back(std::move(secret));
  // Longest first, so that a secret containing another is masked whole.
  std::sort(secrets_.begin(), secrets_.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
}

std::string Secrets::redact(std::string_view text) const {
  std::string out(text);
  std::lock_guard lock(mutex_);
  for (const auto& secret : secrets_) {
    for (auto pos = out.find(secret); pos != std::string::npos; pos = out.find(secret, pos + 4)) {
      out.replace(pos, secret.size(), "****");
    }
  }
  return out;
}

std::string describe_failure(const Error& e) {
  std::string s;
  if (e.status != 0) {
    const std::string& reason = e.message.empty() ? e.error_id : e.message;
    s = std::to_string(e.status);
    if (!reason.empty()) s += " " + reason;
    if (!e.error_id.empty() && e.error_id != reason) s += " (" + e.error_id + ")";
  } else {
    s = std::string(to_string(e.category));
    if (!e.message.empty()) s += ": " + e.message;
  }
  return one_line(std::move(s));
}

int usage_error(std::ostream& err, std::string_view message, std::string_view usage) {
  err << "wazo: error: " << message << '\n';
  if (!usage.empty()) err << "usage: " << usage << '\n';
  return kExitUsage;
}

int run_login(Context& ctx, const std::vector<std::string>& args) {
  std::vector<std::string> positional;
  int expiration = 3600;
  bool options_done = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (options_done || !a.starts_with("--")) {
      positional.push_back(a);
    } else if (a == "--") {
      options_done = true;
    } else if (a == "--expiration" || a.starts_with("--expiration=")) {
      std::string value;
      if (a == "--expiration") {
        if (i + 1 >= args.size()) return usage_error(ctx.err, "--expiration needs a value", kLoginUsage);
        value = args[++i];
      } else {
        value = a.substr(a.find('=') + 1);
      }
      auto v = parse_positive_int(value);
      if (!v) return usage_error(ctx.err, "--expiration: not a positive number of seconds: " + value, kLoginUsage);
      expiration = *v;
    } else {
      return usage_error(ctx.err, "login: unknown option " + a, kLoginUsage);
    }
  }
  if (positional.size() != 2) return usage_error(ctx.err, "login needs USER and PASSWORD", kLoginUsage);
  const std::string& username = positional[0];
  std::string password = positional[1];
  if (password == "-") {  // read from stdin, to keep it out of the process list and the shell history
    if (!std::getline(std::cin, password)) return fail(ctx, "login: no password on standard input");
    if (!password.empty() && password.back() == '\r') password.pop_back();
  }
  ctx.secrets.add(password);

  int code = kExitOk;
  auto path = session_path(ctx, code);
  if (!path) return code;
  // Logging in again may reuse the host (and TLS settings) saved by the previous login.
  std::optional<SavedSession> previous;
  if (auto loaded = load_session(*path); loaded && *loaded) previous = std::move(*loaded);
  const Endpoint ep = endpoint_for(ctx.options, previous ? &*previous : nullptr);
  if (ep.host.empty()) return usage_error(ctx.err, "no server: give --host URL", kLoginUsage);

  rest::ApiClient client = make_client(ctx, ep, kClientId, {});
  auto session =
      client.auth().log_in({.username = username, .password = std::move(password), .expiration = expiration}).get();
  if (!session) return fail(ctx, session.error());
  ctx.secrets.add(session->token);
  ctx.secrets.add(session->refresh_token);

  SavedSession saved{.host = ep.host,
                     .token = session->token,
                     .refresh_token = session->refresh_token,
                     .client_id = kClientId,
                     .uuid = session->uuid,
                     .username = session->username.empty() ? username : session->username,
                     .tenant_uuid = session->tenant_uuid,
                     .expires_at = session->expires_at,
                     .insecure = ep.insecure,
                     .ca_file = ep.ca_file};
  if (auto r = save_session(*path, saved); !r) {
    (void)client.auth().log_out(session->token).get();  // don't leave a token nobody knows about
    return fail(ctx, r.error().message);
  }

  if (ctx.options.json) {
    ctx.out << dump(Json{{"host", saved.host},
                         {"username", saved.username},
                         {"uuid", saved.uuid},
                         {"tenant_uuid", saved.tenant_uuid},
                         {"session_uuid", session->session_uuid},
                         {"expires_at", saved.expires_at}},
                    true)
            << '\n';
  } else {
    ctx.out << "logged in as " << saved.username << " (uuid " << saved.uuid << ", tenant " << saved.tenant_uuid
            << ")\n";
  }
  return kExitOk;
}

int run_whoami(Context& ctx, const std::vector<std::string>& args) {
  if (!args.empty()) return usage_error(ctx.err, "whoami takes no arguments", kWhoamiUsage);
  int code = kExitOk;
  auto path = session_path(ctx, code);
  if (!path) return code;
  auto saved = require_session(ctx, *path, code);
  if (!saved) return code;

  auto sc = session_client(ctx, *path, *saved);
  // An authenticated call first: on an expired token the client refreshes it (and the store saves it).
  auto user = sc.client.auth().get_user(saved->uuid).get();
  if (!user) return fail(ctx, user.error());
  auto session = sc.client.auth().authenticate(sc.client.token()).get();
  if (!session) return fail(ctx, session.error());

  const std::string username = !user->username.empty() ? user->username : saved->username;
  const std::string tenant = !session->tenant_uuid.empty() ? session->tenant_uuid : user->tenant_uuid;
  sc.store->update([&](SavedSession& s) {
    s.username = username;
    if (!tenant.empty()) s.tenant_uuid = tenant;
    if (!session->expires_at.empty()) s.expires_at = session->expires_at;
  });

  if (ctx.options.json) {
    ctx.out << dump(Json{{"username", username},
                         {"uuid", user->uuid},
                         {"tenant_uuid", tenant},
                         {"expires_at", session->expires_at}},
                    true)
            << '\n';
  } else {
    ctx.out << username << " (uuid " << user->uuid << ", tenant " << tenant << ")\n";
  }
  warn_unsaved(ctx, *sc.store);
  return kExitOk;
}

int run_logout(Context& ctx, const std::vector<std::string>& args) {
  if (!args.empty()) return usage_error(ctx.err, "logout takes no arguments", kLogoutUsage);
  int code = kExitOk;
  auto path = session_path(ctx, code);
  if (!path) return code;
  auto saved = require_session(ctx, *path, code);
  if (!saved) return code;

  auto sc = session_client(ctx, *path, *saved);
  // The refresh token first (an authenticated call, which may itself refresh an expired token); wazo-auth keeps
  // one per user and client id. Its failure does not stop the logout.
  (void)sc.client.auth().delete_refresh_token(sc.client.client_id()).get();
  const std::string token = sc.client.token();
  auto out = sc.client.auth().log_out(token).get();
  // A 4xx means the token is already invalid: logged out all the same. No answer, or a 5xx: keep the session.
  if (!out && (out.error().status == 0 || out.error().status >= 500)) return fail(ctx, out.error());
  if (token != saved->token) (void)sc.client.auth().log_out(saved->token).get();

  sc.refreshed.reset();
  if (auto r = remove_session(*path); !r) return fail(ctx, r.error().message);
  ctx.out << "logged out\n";
  return kExitOk;
}

int run_api(Context& ctx, const std::vector<std::string>& args) {
  if (args.size() < 2 || args.size() > 3) return usage_error(ctx.err, "api needs METHOD and PATH", kApiUsage);
  auto method = rest::method_from_string(args[0]);
  if (!method) return usage_error(ctx.err, "api: unknown method " + args[0], kApiUsage);
  const std::string& target = args[1];
  if (target.empty()) return usage_error(ctx.err, "api: empty PATH", kApiUsage);
  std::optional<Json> body;
  if (args.size() == 3) {
    body = Json::parse(args[2], nullptr, /*allow_exceptions=*/false);
    if (body->is_discarded()) return usage_error(ctx.err, "api: the body is not valid JSON", kApiUsage);
  }

  int code = kExitOk;
  auto path = session_path(ctx, code);
  if (!path) return code;
  rest::Request request{.method = *method, .path = target, .json = std::move(body)};

  Result<rest::Response> response = Error();
  std::shared_ptr<SessionStore> store;
  auto loaded = load_session(*path);
  if (!loaded) return fail(ctx, loaded.error().message);
  if (!*loaded && !ctx.options.host.empty()) {  // no session: an anonymous request to the given host
    request.authenticated = false;
    rest::ApiClient client = make_client(ctx, endpoint_for(ctx.options, nullptr), kClientId, {});
    response = client.send(std::move(request)).get();
  } else {
    auto saved = require_session(ctx, *path, code);
    if (!saved) return code;
    auto sc = session_client(ctx, *path, *saved);
    store = sc.store;
    response = sc.client.send(std::move(request)).get();
  }
  if (!response) return fail(ctx, response.error());

  const std::string& text = response->body;
  if (!text.empty()) {
    const Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!j.is_discarded()) {
      ctx.out << dump(j, ctx.options.json) << '\n';
    } else {
      ctx.out << text;
      if (text.back() != '\n') ctx.out << '\n';
    }
  }
  if (store) warn_unsaved(ctx, *store);
  return kExitOk;
}

namespace {

constexpr std::string_view kEventsUsage = "wazo events [--count N] [NAME...]";
constexpr std::string_view kPresenceUsage = "wazo presence set available|away|unavailable|invisible [STATUS]";
constexpr std::string_view kDndUsage = "wazo dnd on|off";
constexpr std::string_view kChatUsage = "wazo chat send USER TEXT";

std::atomic<bool> g_interrupted{false};
extern "C" void on_interrupt(int /*signal*/) { g_interrupted = true; }

bool looks_like_uuid(std::string_view s) {
  return s.size() == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-';
}

}  // namespace

int run_events(Context& ctx, const std::vector<std::string>& args) {
  std::optional<int> count;
  std::vector<std::string> names;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--count") {
      if (i + 1 >= args.size()) return usage_error(ctx.err, "--count needs a number", kEventsUsage);
      count = parse_positive_int(args[++i]);
      if (!count) return usage_error(ctx.err, "--count needs a positive number", kEventsUsage);
    } else if (!args[i].empty() && args[i][0] == '-') {
      return usage_error(ctx.err, "events: unknown option " + args[i], kEventsUsage);
    } else {
      names.push_back(args[i]);
    }
  }
  if (names.empty()) names = {"*"};
  return with_session(ctx, [&](rest::ApiClient& client, const SavedSession&) {
    std::mutex m;
    std::condition_variable cv;
    int seen = 0;
    std::optional<Error> fatal;
    events::WebSocketClient ws(client, {.events = names});
    auto printer = ws.on_any([&](const events::RawEvent& e) {
      std::lock_guard lock(m);
      if (count && seen >= *count) return;
      auto payload = e.payload();
      const Json data = payload ? *payload : Json(nullptr);
      if (ctx.options.json) {
        ctx.out << dump(Json{{"name", e.name}, {"data", data}}, true) << std::endl;
      } else {
        ctx.out << e.name << ' ' << dump(data, true) << std::endl;
      }
      ++seen;
      cv.notify_all();
    });
    auto states = ws.on<events::StateChanged>([&](const events::StateChanged& s) {
      if (ctx.options.verbose) ctx.err << "wazo: events: " << events::to_string(s.state) << '\n';
      if (s.state == events::ConnectionState::closed && s.error) {
        std::lock_guard lock(m);
        fatal = *s.error;
        cv.notify_all();
      }
    });
    auto auth = ws.on<events::AuthFailed>([&](const events::AuthFailed& a) {
      if (a.recovered || !a.error || a.error->category != ErrorCategory::auth) return;
      std::lock_guard lock(m);
      fatal = *a.error;  // the session cannot be renewed: log in again
      cv.notify_all();
    });
    std::signal(SIGINT, on_interrupt);
    std::signal(SIGTERM, on_interrupt);
    ws.connect();
    auto open = ws.when_open().get_for(ctx.options.timeout);
    if (!open) return fail(ctx, "events: no connection to the event server within the timeout");
    if (!*open) return fail(ctx, open->error());
    ctx.err << "wazo: listening for events" << (count ? "" : " (Ctrl-C to stop)") << std::endl;
    std::unique_lock lock(m);
    while (!g_interrupted && !fatal && !(count && seen >= *count)) cv.wait_for(lock, std::chrono::milliseconds(100));
    lock.unlock();
    ws.close();
    if (fatal) return fail(ctx, *fatal);
    return kExitOk;
  });
}

int run_presence(Context& ctx, const std::vector<std::string>& args) {
  if (args.size() < 2 || args.size() > 3 || args[0] != "set")
    return usage_error(ctx.err, "presence set needs a STATE", kPresenceUsage);
  const std::string& state = args[1];
  if (state != "available" && state != "away" && state != "unavailable" && state != "invisible")
    return usage_error(ctx.err, "presence: unknown state " + state, kPresenceUsage);
  return with_session(ctx, [&](rest::ApiClient& client, const SavedSession& saved) {
    auto r = args.size() == 3 ? client.chatd().update_status(saved.uuid, state, args[2]).get()
                              : client.chatd().update_state(saved.uuid, state).get();
    if (!r) return fail(ctx, r.error());
    if (ctx.options.json) {
      ctx.out << dump(Json{{"state", state}, {"status", args.size() == 3 ? args[2] : ""}}, true) << '\n';
    } else {
      ctx.out << "presence: " << state << (args.size() == 3 ? " (" + args[2] + ")" : "") << '\n';
    }
    return kExitOk;
  });
}

int run_dnd(Context& ctx, const std::vector<std::string>& args) {
  if (args.size() != 1 || (args[0] != "on" && args[0] != "off"))
    return usage_error(ctx.err, "dnd needs on or off", kDndUsage);
  const bool enabled = args[0] == "on";
  return with_session(ctx, [&](rest::ApiClient& client, const SavedSession& saved) {
    auto r = client.confd().update_do_not_disturb(saved.uuid, enabled).get();
    if (!r) return fail(ctx, r.error());
    if (ctx.options.json) {
      ctx.out << dump(Json{{"dnd", enabled}}, true) << '\n';
    } else {
      ctx.out << "do not disturb: " << (enabled ? "on" : "off") << '\n';
    }
    return kExitOk;
  });
}

int run_chat(Context& ctx, const std::vector<std::string>& args) {
  if (args.size() != 3 || args[0] != "send") return usage_error(ctx.err, "chat send needs USER and TEXT", kChatUsage);
  const std::string& who = args[1];
  const std::string& text = args[2];
  if (text.empty()) return usage_error(ctx.err, "chat: empty TEXT", kChatUsage);
  return with_session(ctx, [&](rest::ApiClient& client, const SavedSession& saved) {
    // The peer: a uuid as it is, else a username looked up in wazo-auth (needs the right to list users).
    std::string peer = who;
    if (!looks_like_uuid(who)) {
      rest::Request find{.method = rest::Method::get, .path = "auth/0.1/users", .query = {{"search", who}}};
      auto res = client.send(find).get();
      if (!res)
        return fail(ctx, "chat: cannot look up " + who + " (" + describe_failure(res.error()) + "); give the uuid");
      auto j = res->json();
      peer.clear();
      if (j && j->is_object() && (*j)["items"].is_array()) {
        for (const auto& u : (*j)["items"]) {
          if (u.value("username", "") == who) peer = u.value("uuid", "");
        }
      }
      if (peer.empty()) return fail(ctx, "chat: no user named " + who);
    }
    // The two-person room with that user, or a new one.
    auto rooms = client.chatd().get_user_rooms().get();
    if (!rooms) return fail(ctx, rooms.error());
    std::string room_uuid;
    for (const auto& room : *rooms) {
      const bool pair =
          room.users.size() == 2 &&
          std::any_of(room.users.begin(), room.users.end(), [&](const auto& u) { return u.uuid == peer; }) &&
          std::any_of(room.users.begin(), room.users.end(), [&](const auto& u) { return u.uuid == saved.uuid; });
      if (pair) room_uuid = room.uuid;
    }
    if (room_uuid.empty()) {
      auto room = client.chatd().create_room("", {rest::ChatUser{.uuid = peer}}).get();
      if (!room) return fail(ctx, room.error());
      room_uuid = room->uuid;
    }
    auto sent = client.chatd().send_room_message(room_uuid, {.content = text}).get();
    if (!sent) return fail(ctx, sent.error());
    if (ctx.options.json) {
      ctx.out << dump(Json{{"room_uuid", room_uuid}, {"message_uuid", sent->uuid}}, true) << '\n';
    } else {
      ctx.out << "sent to " << who << " (room " << room_uuid << ")\n";
    }
    return kExitOk;
  });
}

}  // namespace wazo::cli
