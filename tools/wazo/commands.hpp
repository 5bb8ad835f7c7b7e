// The commands of the `wazo` CLI. Each returns the process exit code: 0 success, 1 failure (one line on stderr),
// 2 usage error.
#pragma once

#include <chrono>
#include <functional>
#include <iosfwd>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "wazo/core/error.hpp"
#include "wazo/core/runtime.hpp"

namespace wazo::rest {
class ApiClient;
}

namespace wazo::cli {

struct SavedSession;

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

struct GlobalOptions {
  std::string host;  // empty: the host saved at login
  bool insecure = false;
  std::string ca_file;
  bool json = false;
  std::chrono::milliseconds timeout{30'000};
  bool verbose = false;
};

// Secrets the program knows (password, tokens), masked out of anything it prints or logs, as a second line of
// defence behind the SDK's own obfuscation. Thread-safe: the log sink uses it on the I/O thread.
class Secrets {
 public:
  void add(std::string secret);
  [[nodiscard]] std::string redact(std::string_view text) const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> secrets_;
};

struct Context {
  Runtime& runtime;
  const GlobalOptions& options;
  Secrets& secrets;
  std::ostream& out;
  std::ostream& err;
};

int run_login(Context& ctx, const std::vector<std::string>& args);
int run_whoami(Context& ctx, const std::vector<std::string>& args);
int run_logout(Context& ctx, const std::vector<std::string>& args);
int run_api(Context& ctx, const std::vector<std::string>& args);
int run_events(Context& ctx, const std::vector<std::string>& args);    // live events from wazo-websocketd
int run_presence(Context& ctx, const std::vector<std::string>& args);  // presence set STATE [STATUS]
int run_dnd(Context& ctx, const std::vector<std::string>& args);       // dnd on|off
int run_chat(Context& ctx, const std::vector<std::string>& args);      // chat send USER TEXT

// "401 Authentication Failed", "transport: Could not connect to server", ... (one line, no secrets).
std::string describe_failure(const Error& error);

// Prints "wazo: error: MESSAGE" (one line, secrets masked); returns kExitFailure.
int fail(Context& ctx, std::string_view message);
int fail(Context& ctx, const Error& error);

// `s` with its line breaks and tabs made spaces.
std::string one_line(std::string s);

// Runs `body` with a client of the saved session (refreshed tokens are saved as they come) and the session;
// returns what `body` returns. No session, an unreadable one or one for another server than --host: prints the
// error and returns kExitFailure without calling `body`; `not_logged_in` is the message when there is none.
int with_session(Context& ctx, const std::function<int(rest::ApiClient&, const SavedSession&)>& body,
                 std::string_view not_logged_in = {});

// The TLS options to reach the saved session's server: the global options, over what was saved at login.
struct SessionTls {
  bool insecure = false;
  std::string ca_file;
};
SessionTls session_tls(const GlobalOptions& options, const SavedSession& saved);

// Prints "wazo: error: MESSAGE" and, when `usage` is not empty, "usage: USAGE"; returns kExitUsage.
int usage_error(std::ostream& err, std::string_view message, std::string_view usage);

}  // namespace wazo::cli
