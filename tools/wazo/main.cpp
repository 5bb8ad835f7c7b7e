// wazo: the command-line client of wazo-sdk. `wazo --help` says how to use it.
#include <charconv>
#include <cmath>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "call_command.hpp"
#include "commands.hpp"
#include "sip_command.hpp"
#include "wazo/core/log.hpp"
#include "wazo/core/runtime.hpp"

namespace wazo::cli {
namespace {

constexpr std::string_view kUsage =
    "wazo [--host URL] [--insecure] [--ca FILE] [--json] [--timeout SECONDS] [--verbose] COMMAND [ARGS]";

constexpr std::string_view kHelp = R"(Commands:
  login USER PASSWORD [--expiration SECONDS]
                      log in and save the session (PASSWORD "-" reads it from standard input)
  whoami              show the user of the saved session (renews an expired token)
  logout              revoke the session's tokens and delete the saved session
  api METHOD PATH [JSON]
                      send any REST request with the session's token, e.g. api GET /api/auth/0.1/users
  events [--count N] [NAME...]
                      print events as they arrive (all, or these names); stop after N, or on Ctrl-C
  presence set STATE [STATUS]
                      set your presence: available, away, unavailable or invisible
  dnd on|off          turn do-not-disturb on or off
  chat send USER TEXT send a chat message to USER (a username or a uuid)
  sip register [--for SECONDS] [--expires SECONDS]
                      register your SIP line (from the session) over WebSocket; stay registered until
                      Ctrl-C or --for SECONDS, then unregister; one line per registration change
  sip register --ws URL --user USER --password PASSWORD [--domain DOMAIN] [--auth-user NAME]
               [--insecure | --ca-file FILE] [--for SECONDS] [--expires SECONDS]
                      the same with a line given on the command line (PASSWORD "-" reads standard input)
  call EXTENSION [--video] [--play tone[:HZ]|none|FILE.wav] [--record FILE.wav] [--for SECONDS]
                 [--dtmf DIGITS] [--hold AT:SECONDS] [--json] [LINE]
                      call EXTENSION on your line (a tone by default as the microphone); print the call's
                      events, hang up after --for SECONDS (else when the peer does, or on Ctrl-C), send DTMF
                      once the media is up, hold AT s after the answer for SECONDS; then print the media
                      statistics. Exit 1 when busy, rejected, not found, unanswered or without media
  answer [--auto] [--count N] [--wait SECONDS] [--video] [--play ...] [--record FILE.wav]
         [--for SECONDS] [--dtmf DIGITS] [--hold AT:SECONDS] [--json] [LINE]
                      register and wait for N calls (asking on the terminal unless --auto), answer each
                      and keep it up --for SECONDS or until the peer hangs up; statistics after each call
                      LINE: --ws URL --user USER --password PASSWORD [--domain D] [--auth-user A]
                      [--insecure | --ca-file FILE], else the session's SIP line
                      --mic ID, --speaker ID, --camera ID (call and answer): devices from `devices`
                      ("default": the system's) instead of the tone, the recording, the test pattern
  devices             list the microphones, speakers and cameras with their ids

Options (before the command):
  --host URL          the server: http(s)://HOST[:PORT], or HOST[:PORT] for HTTPS; saved at login
  --insecure          do not verify the server's TLS certificate (development only); saved at login
  --ca FILE           trust the CAs of this PEM file; saved at login
  --json              machine-readable output
  --timeout SECONDS   request timeout (default 30)
  --verbose           log the requests to standard error (secrets are masked)
  -h, --help          show this help
  --version           show the version

The session is saved (mode 0600) in $WAZO_SESSION_FILE, else $XDG_CONFIG_HOME/wazo/session.json,
else ~/.config/wazo/session.json.
Exit status: 0 success, 1 failure (one line on standard error), 2 usage error.
)";

using Command = int (*)(Context&, const std::vector<std::string>&);

Command find_command(std::string_view name) {
  if (name == "login") return run_login;
  if (name == "whoami") return run_whoami;
  if (name == "logout") return run_logout;
  if (name == "api") return run_api;
  if (name == "events") return run_events;
  if (name == "presence") return run_presence;
  if (name == "dnd") return run_dnd;
  if (name == "chat") return run_chat;
  if (name == "sip") return run_sip;
  if (name == "call") return run_call;
  if (name == "answer") return run_answer;
  if (name == "devices") return run_devices;
  return nullptr;
}

bool parse_timeout(std::string_view text, std::chrono::milliseconds& out) {
  double seconds = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(seconds) || seconds <= 0 ||
      seconds > 86'400) {
    return false;
  }
  out = std::chrono::milliseconds(static_cast<long long>(std::ceil(seconds * 1000)));
  return true;
}

// A sink for --verbose: the SDK's stderr lines, with any secret the program knows masked once more.
LogSink verbose_sink(const Secrets& secrets) {
  return [&secrets, sink = stderr_log_sink()](const LogRecord& r) {
    const std::string message = secrets.redact(r.message);
    sink(LogRecord{.level = r.level, .category = r.category, .message = message, .time = r.time});
  };
}

int run(int argc, char** argv) {
  const std::vector<std::string> argv_s(argv + 1, argv + argc);
  GlobalOptions options;
  std::size_t i = 0;
  // Takes the value of an option given as "--name VALUE" or "--name=VALUE".
  auto value_of = [&](std::string_view name, std::string& value) {
    const std::string& a = argv_s[i];
    if (a.size() > name.size() && a[name.size()] == '=') {
      value = a.substr(name.size() + 1);
      return true;
    }
    if (i + 1 >= argv_s.size()) return false;
    value = argv_s[++i];
    return true;
  };
  auto is = [&](std::string_view name) {
    const std::string& a = argv_s[i];
    return a == name || (a.starts_with(name) && a.size() > name.size() && a[name.size()] == '=');
  };
  for (; i < argv_s.size() && argv_s[i].starts_with("-"); ++i) {
    const std::string& a = argv_s[i];
    std::string value;
    if (a == "--") {
      ++i;
      break;
    } else if (a == "-h" || a == "--help") {
      std::cout << "usage: " << kUsage << "\n\n" << kHelp;
      return kExitOk;
    } else if (a == "--version") {
      std::cout << "wazo " << WAZO_VERSION << '\n';
      return kExitOk;
    } else if (a == "--insecure") {
      options.insecure = true;
    } else if (a == "--json") {
      options.json = true;
    } else if (a == "--verbose") {
      options.verbose = true;
    } else if (is("--host")) {
      if (!value_of("--host", value) || value.empty()) return usage_error(std::cerr, "--host needs a URL", kUsage);
      options.host = value;
    } else if (is("--ca")) {
      if (!value_of("--ca", value) || value.empty()) return usage_error(std::cerr, "--ca needs a file", kUsage);
      options.ca_file = value;
    } else if (is("--timeout")) {
      if (!value_of("--timeout", value) || !parse_timeout(value, options.timeout)) {
        return usage_error(std::cerr, "--timeout needs a positive number of seconds", kUsage);
      }
    } else {
      return usage_error(std::cerr, "unknown option " + a, kUsage);
    }
  }
  if (i >= argv_s.size()) return usage_error(std::cerr, "no command", kUsage);
  const std::string& name = argv_s[i];
  if (name == "help") {
    std::cout << "usage: " << kUsage << "\n\n" << kHelp;
    return kExitOk;
  }
  const Command command = find_command(name);
  if (command == nullptr) return usage_error(std::cerr, "unknown command " + name, kUsage);
  const std::vector<std::string> args(argv_s.begin() + static_cast<std::ptrdiff_t>(i) + 1, argv_s.end());

  Secrets secrets;  // outlives the runtime, whose I/O thread may log through verbose_sink
  RuntimeOptions rt_options;
  if (options.verbose) {
    rt_options.log_sink = verbose_sink(secrets);
    rt_options.log_level = LogLevel::debug;
  } else {
    rt_options.log_sink = [](const LogRecord&) {};  // errors are reported once, by the command
    rt_options.log_level = LogLevel::off;
  }
  Runtime runtime(std::move(rt_options));
  Context ctx{.runtime = runtime, .options = options, .secrets = secrets, .out = std::cout, .err = std::cerr};
  const int code = command(ctx, args);
  if (!(std::cout << std::flush)) {
    std::cerr << "wazo: error: cannot write to standard output\n";
    return kExitFailure;
  }
  return code;
}

}  // namespace
}  // namespace wazo::cli

int main(int argc, char** argv) { return wazo::cli::run(argc, argv); }
