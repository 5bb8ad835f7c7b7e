#include "sip_command.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

#include "session_file.hpp"
#include "wazo/rest/api_client.hpp"
#include "wazo/rest/confd.hpp"
#include "wazo/sip/user_agent.hpp"

namespace wazo::cli {

namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;

constexpr std::string_view kSipUsage =
    "wazo sip register [--ws URL --user USER --password PASSWORD [--domain DOMAIN] [--auth-user NAME] "
    "[--insecure | --ca-file FILE]] [--for SECONDS] [--expires SECONDS]";

std::atomic<bool> g_sip_interrupted{false};
extern "C" void on_sip_interrupt(int /*signal*/) { g_sip_interrupted = true; }

std::optional<double> parse_seconds(std::string_view text, double max) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(v) || v <= 0 || v > max) {
    return std::nullopt;
  }
  return v;
}

struct RegisterArgs {
  SipLineOptions line;
  std::optional<std::chrono::milliseconds> duration;  // --for
  std::chrono::seconds expires{600};
};

// A SIP failure in one line: "403 Forbidden", "401 Unauthorized (wrong credentials)", "timeout: ...".
std::string describe_sip_failure(const Error& e) {
  if (e.status != 0) {
    std::string s = std::to_string(e.status);
    std::string reason = e.message;
    if (reason.empty()) reason = std::string(sip::reason_phrase(e.status));
    if (!reason.empty()) s += " " + reason;
    return one_line(s);
  }
  return describe_failure(e);
}

// Prints one line per registration / connection change, from the agent's I/O thread.
class StatePrinter {
 public:
  explicit StatePrinter(Context& ctx) : ctx_(ctx) {}

  void registration(const sip::RegistrationStateChanged& e) {
    std::lock_guard lock(mutex_);
    if (e.state == last_ && e.state != sip::RegistrationState::registered) return;
    if (e.state == sip::RegistrationState::registered && last_ == e.state && e.expires == last_expires_) return;
    last_ = e.state;
    last_expires_ = e.expires;
    Json j{{"state", std::string(sip::to_string(e.state))}};
    std::string text(sip::to_string(e.state));
    if (e.state == sip::RegistrationState::registered) {
      j["expires"] = e.expires.count();
      text += " (expires " + std::to_string(e.expires.count()) + " s)";
    }
    if (e.state == sip::RegistrationState::failed) {
      const std::string why = e.error ? describe_sip_failure(*e.error) : "unknown error";
      j["error"] = why;
      text += ": " + why;
      failed_ = e.error.value_or(Error(ErrorCategory::sip, "registration failed"));
      cv_.notify_all();
    }
    print(j, text);
  }

  void transport(const sip::TransportStateChanged& e) {
    std::lock_guard lock(mutex_);
    if (e.state == sip::TransportState::connected && !connected_once_) {
      connected_once_ = true;
      return;
    }
    // The first connection is implied by the registration lines; say when it is lost and comes back.
    if (e.state == sip::TransportState::reconnecting || (e.state == sip::TransportState::connected && lost_)) {
      lost_ = e.state == sip::TransportState::reconnecting;
      Json j{{"transport", std::string(sip::to_string(e.state))}};
      std::string text = "connection " + std::string(e.state == sip::TransportState::connected ? "back"
                                                     : connected_once_                         ? "lost"
                                                                                               : "failed");
      const std::string why = e.error ? describe_failure(*e.error) : e.reason;
      if (!why.empty() && lost_) {
        j["reason"] = why;
        text += " (" + why + ")";
      }
      print(j, text);
    }
  }

  // Waits until interrupted, `deadline`, or a registration failure (then returns it).
  std::optional<Error> wait(std::optional<std::chrono::steady_clock::time_point> deadline) {
    std::unique_lock lock(mutex_);
    while (!g_sip_interrupted && !failed_ && (!deadline || std::chrono::steady_clock::now() < *deadline)) {
      cv_.wait_for(lock, 50ms);
    }
    return failed_;
  }

  std::optional<Error> failed() {
    std::lock_guard lock(mutex_);
    return failed_;
  }

  void say(const Json& j, const std::string& text) {
    std::lock_guard lock(mutex_);
    print(j, text);
  }

 private:
  void print(const Json& j, const std::string& text) {
    if (ctx_.options.json) {
      ctx_.out << j.dump(-1, ' ', false, Json::error_handler_t::replace) << std::endl;
    } else {
      ctx_.out << ctx_.secrets.redact(text) << std::endl;
    }
  }

  Context& ctx_;
  std::mutex mutex_;
  std::condition_variable cv_;
  sip::RegistrationState last_ = sip::RegistrationState::unregistered;
  std::chrono::seconds last_expires_{0};
  bool lost_ = false;
  bool connected_once_ = false;
  std::optional<Error> failed_;
};

// Fills the line's credentials and server from the saved session: take the first SIP line of the user (confd),
// and derive the WebSocket URL and domain from the engine's host.
std::optional<int> from_session(Context& ctx, SipLineOptions& a) {
  std::optional<int> failed;
  const int code = with_session(
      ctx,
      [&](rest::ApiClient& client, const SavedSession& saved) {
        auto lines = client.confd().get_user_line_sip_from_token(saved.uuid).get();
        if (!lines) return fail(ctx, "sip: cannot read your SIP line: " + describe_failure(lines.error()));
        const rest::SipLine* line = nullptr;
        for (const auto& l : *lines) {
          if (l && !l->username.empty()) {
            line = &*l;
            break;
          }
        }
        if (line == nullptr) return fail(ctx, "sip: your user has no SIP line");
        auto ws = sip_ws_url_for_host(saved.host);
        if (!ws) return fail(ctx, "sip: cannot make a WebSocket URL from the host " + saved.host);
        if (a.ws.empty()) a.ws = *ws;
        if (a.user.empty()) a.user = line->username;
        if (!a.password_given) {
          a.password = line->secret;
          a.password_given = true;
          ctx.secrets.add(a.password);
        }
        if (a.domain.empty()) a.domain = line->endpoint_option("from_domain").value_or(host_name_of(saved.host));
        if (!a.insecure && a.ca_file.empty()) {
          const SessionTls tls = session_tls(ctx.options, saved);
          a.insecure = tls.insecure;
          a.ca_file = tls.ca_file;
        }
        return kExitOk;
      },
      "not logged in (run: wazo --host URL login USER PASSWORD, or give --ws, --user, --password)");
  if (code != kExitOk) failed = code;
  return failed;
}

int run_register(Context& ctx, const std::vector<std::string>& args) {
  RegisterArgs a;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    std::string name = arg;
    std::optional<std::string> inline_value;
    if (const auto eq = arg.find('='); arg.starts_with("--") && eq != std::string::npos) {
      name = arg.substr(0, eq);
      inline_value = arg.substr(eq + 1);
    }
    auto value = [&](std::string& out) {
      if (inline_value) {
        out = *inline_value;
        return true;
      }
      if (i + 1 >= args.size()) return false;
      out = args[++i];
      return true;
    };
    std::string v;
    if (name == "--insecure" && !inline_value) {
      a.line.insecure = true;
    } else if (is_sip_line_option(name) || name == "--for" || name == "--expires") {
      if (!value(v) || v.empty()) return usage_error(ctx.err, "sip register: " + name + " needs a value", kSipUsage);
      if (is_sip_line_option(name)) {
        if (auto bad = apply_sip_line_option(a.line, name, v))
          return usage_error(ctx.err, "sip register: " + *bad, kSipUsage);
      } else if (name == "--for") {
        auto s = parse_seconds(v, 31'536'000);
        if (!s) return usage_error(ctx.err, "sip register: --for needs a positive number of seconds", kSipUsage);
        a.duration = std::chrono::milliseconds(static_cast<long long>(std::ceil(*s * 1000)));
      } else {  // --expires
        auto s = parse_seconds(v, 86'400);
        if (!s || *s < 1) return usage_error(ctx.err, "sip register: --expires needs 1 to 86400 seconds", kSipUsage);
        a.expires = std::chrono::seconds(static_cast<long long>(*s));
      }
    } else {
      return usage_error(ctx.err, "sip register: unknown argument " + arg, kSipUsage);
    }
  }
  SipLineOptions& line = a.line;
  if (line.insecure && !line.ca_file.empty())
    return usage_error(ctx.err, "sip register: --insecure and --ca-file exclude each other", kSipUsage);
  if (auto code = prepare_sip_line(ctx, line, "sip register", kSipUsage)) return *code;
  if (line.explicit_line()) {
    if (!line.insecure && line.ca_file.empty()) {  // the global TLS options apply too
      line.insecure = ctx.options.insecure;
      line.ca_file = ctx.options.ca_file;
    }
  } else if (auto code = from_session(ctx, line)) {
    return *code;
  }
  if (line.domain.empty()) return usage_error(ctx.err, "sip register: no domain: give --domain", kSipUsage);

  sip::UserAgentOptions options;
  options.server = line.ws;
  options.domain = line.domain;
  options.user = line.user;
  options.auth_user = line.auth_user;
  options.password = line.password;
  options.user_agent = "wazo-cli/" WAZO_VERSION;
  options.connection.tls = TlsOptions{.ca_file = line.ca_file, .insecure = line.insecure};
  options.connection.connect_timeout = std::min(options.connection.connect_timeout, ctx.options.timeout);
  options.register_expires = a.expires;
  options.register_on_start = true;

  StatePrinter printer(ctx);
  g_sip_interrupted = false;
  std::signal(SIGINT, on_sip_interrupt);
  std::signal(SIGTERM, on_sip_interrupt);
  sip::UserAgent ua(ctx.runtime, std::move(options));
  auto reg = ua.on<sip::RegistrationStateChanged>(
      [&printer](const sip::RegistrationStateChanged& e) { printer.registration(e); });
  auto transport =
      ua.on<sip::TransportStateChanged>([&printer](const sip::TransportStateChanged& e) { printer.transport(e); });

  const auto limit = ctx.options.timeout + 5s;
  auto started = ua.start().get_for(std::chrono::duration_cast<std::chrono::milliseconds>(limit));
  if (!started || !*started) {
    ua.close();
    reg.reset();
    transport.reset();
    std::string why = started ? describe_sip_failure(started->error()) : "no answer within the timeout";
    if (auto f = printer.failed(); f && started) why = describe_sip_failure(*f);
    return fail(ctx, "sip register: " + why);
  }

  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (a.duration) deadline = std::chrono::steady_clock::now() + *a.duration;
  const auto failure = printer.wait(deadline);
  if (failure) {
    ua.close();
    reg.reset();
    transport.reset();
    return fail(ctx, "sip register: " + describe_sip_failure(*failure));
  }
  // Unregister, then close; a registrar that does not answer does not keep us waiting forever.
  auto stopped = ua.stop().get_for(std::chrono::duration_cast<std::chrono::milliseconds>(limit));
  const bool stopped_ok = stopped && *stopped;
  if (!stopped_ok) ua.close();
  reg.reset();
  transport.reset();
  if (!stopped_ok) {
    ctx.err << "wazo: warning: sip register: unregister failed: "
            << one_line(ctx.secrets.redact(stopped ? describe_sip_failure(stopped->error()) : "no answer")) << '\n';
  }
  return kExitOk;
}

}  // namespace

bool is_sip_line_option(std::string_view name) {
  return name == "--ws" || name == "--user" || name == "--password" || name == "--domain" || name == "--auth-user" ||
         name == "--ca-file";
}

std::optional<std::string> apply_sip_line_option(SipLineOptions& line, std::string_view name,
                                                 const std::string& value) {
  if (name == "--ws") {
    if (!value.starts_with("ws://") && !value.starts_with("wss://")) return "--ws needs a ws:// or wss:// URL";
    line.ws = value;
  } else if (name == "--user") {
    line.user = value;
  } else if (name == "--password") {
    line.password = value;
    line.password_given = true;
  } else if (name == "--domain") {
    line.domain = value;
  } else if (name == "--auth-user") {
    line.auth_user = value;
  } else if (name == "--ca-file") {
    line.ca_file = value;
  } else {
    return "unknown argument " + std::string(name);
  }
  return std::nullopt;
}

std::optional<int> prepare_sip_line(Context& ctx, SipLineOptions& line, const std::string& cmd,
                                    std::string_view usage) {
  if (line.password == "-") {  // from standard input, to keep it out of the process list
    if (!std::getline(std::cin, line.password)) return fail(ctx, cmd + ": no password on standard input");
    if (!line.password.empty() && line.password.back() == '\r') line.password.pop_back();
  }
  ctx.secrets.add(line.password);
  if (!line.explicit_line()) return std::nullopt;
  if (line.ws.empty() || line.user.empty() || !line.password_given)
    return usage_error(ctx.err, cmd + ": --ws, --user and --password go together", usage);
  if (line.domain.empty()) line.domain = host_name_of(line.ws);
  return std::nullopt;
}

std::optional<std::string> sip_ws_url_for_host(std::string_view host) {
  std::string_view rest = host;
  std::string scheme = "wss://";
  if (rest.starts_with("https://")) {
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
    scheme = "ws://";
  } else if (rest.find("://") != std::string_view::npos) {
    return std::nullopt;
  }
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) rest = rest.substr(0, slash);
  if (rest.empty()) return std::nullopt;
  return scheme + std::string(rest) + "/api/asterisk/ws";
}

std::string host_name_of(std::string_view url) {
  std::string_view rest = url;
  if (const auto p = rest.find("://"); p != std::string_view::npos) rest.remove_prefix(p + 3);
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) rest = rest.substr(0, slash);
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) rest.remove_prefix(at + 1);
  if (rest.starts_with('[')) {
    const auto close = rest.find(']');
    return std::string(rest.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1));
  }
  if (const auto colon = rest.rfind(':'); colon != std::string_view::npos) rest = rest.substr(0, colon);
  return std::string(rest);
}

int run_sip(Context& ctx, const std::vector<std::string>& args) {
  if (args.empty()) return usage_error(ctx.err, "sip needs a subcommand", kSipUsage);
  if (args[0] == "register") return run_register(ctx, {args.begin() + 1, args.end()});
  return usage_error(ctx.err, "sip: unknown subcommand " + args[0], kSipUsage);
}

}  // namespace wazo::cli
