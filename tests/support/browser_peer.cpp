#include "browser_peer.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <sstream>

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kamailio_process.hpp"  // child_pids, process_alive

extern char** environ;

namespace wazo::test {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kSetupHint =
    "run scripts/browser-setup.sh (npm ci in tests/browser) and install the Debian packages chromium and nodejs";
constexpr std::size_t kStderrKeep = 64 * 1024;
constexpr std::size_t kHistoryKeep = 200;

std::string find_in_path(const std::string& name) {
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : std::string();
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

std::string resolve_dir(const std::string& dir) {
  if (!dir.empty()) return dir;
  const char* env = std::getenv("WAZO_BROWSER_DIR");
  return env != nullptr ? env : "";
}

std::string tail(const std::string& text, std::size_t n) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

// Every process under `root` (children, their children...), from /proc.
std::vector<pid_t> all_descendants(pid_t root) {
  std::vector<pid_t> out;
  std::vector<pid_t> todo = {root};
  while (!todo.empty()) {
    const pid_t p = todo.back();
    todo.pop_back();
    for (const pid_t c : child_pids(p)) {
      out.push_back(c);
      todo.push_back(c);
    }
  }
  return out;
}

bool matches(const Json& event, const std::string& type, const Json& match) {
  if (!event.contains("event") || event["event"] != type) return false;
  if (!match.is_object()) return true;
  for (const auto& [key, value] : match.items()) {
    if (!event.contains(key) || event[key] != value) return false;
  }
  return true;
}

}  // namespace

std::string browser_peer_missing(const std::string& browser_dir, const std::string& chromium) {
  const std::string dir = resolve_dir(browser_dir);
  std::error_code ec;
  if (dir.empty() || !fs::exists(fs::path(dir) / "driver.mjs", ec)) {
    return "the browser peer's directory (tests/browser, WAZO_BROWSER_DIR) was not found at '" + dir + "'";
  }
  if (access(chromium.c_str(), X_OK) != 0) return "Chromium is not installed at " + chromium + ": " + kSetupHint;
  if (find_in_path("node").empty()) return std::string("node is not on PATH: ") + kSetupHint;
  for (const char* module : {"playwright-core/package.json", "sip.js/lib/index.js"}) {
    if (!fs::exists(fs::path(dir) / "node_modules" / module, ec)) {
      return "tests/browser/node_modules lacks " + std::string(module) + ": " + kSetupHint;
    }
  }
  return {};
}

BrowserPeer::BrowserPeer(BrowserPeerOptions options) : options_(std::move(options)) {
  options_.browser_dir = resolve_dir(options_.browser_dir);
  if (const char* v = std::getenv("WAZO_BROWSER_VERBOSE"); v != nullptr && *v != '\0' && *v != '0') {
    options_.verbose = true;
  }
  if (std::string missing = browser_peer_missing(options_.browser_dir, options_.chromium); !missing.empty()) {
    error_ = "the browser peer cannot run: " + missing;
    return;
  }
  start();
}

BrowserPeer::~BrowserPeer() { stop(); }

bool BrowserPeer::running() const {
  std::lock_guard lock(mutex_);
  return pid_ > 0 && !exited_;
}

bool BrowserPeer::start() {
  const std::string node = options_.node.empty() ? find_in_path("node") : options_.node;
  const std::string driver = (fs::path(options_.browser_dir) / "driver.mjs").string();
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    error_ = std::string("pipe failed: ") + std::strerror(errno);
    return false;
  }
  // Everything the child needs is built before fork(): only async-signal-safe calls happen in it.
  std::vector<std::string> args = {node, driver};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "WAZO_CHROMIUM=", 14) != 0) env.emplace_back(*e);
  }
  env.push_back("WAZO_CHROMIUM=" + options_.chromium);
  if (options_.verbose) env.emplace_back("WAZO_BROWSER_VERBOSE=1");
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::string dir = options_.browser_dir;

  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    // Its own process group, so that stop() can kill what it leaves; and SIGTERM (a clean shutdown of
    // Chromium) if the test process dies.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(126);
    dup2(in[0], STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    if (chdir(dir.c_str()) != 0) _exit(125);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (pid < 0) {
    close(in[1]);
    close(out[0]);
    close(err[0]);
    error_ = std::string("fork failed: ") + std::strerror(errno);
    return false;
  }
  pid_ = pid;
  stdin_fd_ = in[1];
  stdout_fd_ = out[0];
  stderr_fd_ = err[0];
  out_thread_ = std::thread([this] { read_stdout(); });
  err_thread_ = std::thread([this] { read_stderr(); });

  std::unique_lock lock(mutex_);
  const auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  for (;;) {
    for (auto it = events_.begin(); it != events_.end(); ++it) {
      if (matches(*it, "ready", {})) {
        ready_ = *it;
        events_.erase(it);
        lock.unlock();
        remember_descendants();
        return true;
      }
      if (matches(*it, "fatal", {})) {
        error_ =
            "the browser peer failed to start: " + it->value("message", std::string()) + "\n" + tail(stderr_, 3000);
        lock.unlock();
        stop();
        return false;
      }
    }
    if (exited_ || changed_.wait_until(lock, deadline) == std::cv_status::timeout) break;
  }
  error_ = std::string(exited_ ? "the browser peer exited" : "the browser peer did not start") + " (node " + driver +
           "); its stderr: " + tail(stderr_, 3000);
  lock.unlock();
  stop();
  return false;
}

void BrowserPeer::remember_descendants() {
  const auto now = all_descendants(pid_);
  std::lock_guard lock(mutex_);
  known_descendants_.insert(now.begin(), now.end());
}

void BrowserPeer::read_stdout() {
  std::string buffer;
  pollfd pfd{stdout_fd_, POLLIN, 0};
  auto last_scan = std::chrono::steady_clock::now();
  for (;;) {
    const int r = poll(&pfd, 1, 100);
    if (r < 0 && errno != EINTR) break;
    // Chromium runs in a process group of its own: if the driver dies, only the PIDs seen under it find it.
    if (!stopping_ && std::chrono::steady_clock::now() - last_scan > 500ms) {
      remember_descendants();
      last_scan = std::chrono::steady_clock::now();
    }
    if (r <= 0) {
      if (stopping_ && !process_alive(pid_)) break;
      continue;
    }
    char chunk[8192];
    const ssize_t n = read(stdout_fd_, chunk, sizeof chunk);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      break;
    }
    buffer.append(chunk, static_cast<std::size_t>(n));
    for (auto nl = buffer.find('\n'); nl != std::string::npos; nl = buffer.find('\n')) {
      const std::string line = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      Json message = Json::parse(line, nullptr, false);
      std::lock_guard lock(mutex_);
      if (message.is_discarded() || !message.is_object()) {
        stderr_ += "[stdout, not JSON] " + line + "\n";
      } else if (message.contains("id") && message["id"].is_number_integer() && message.contains("ok")) {
        const long id = message["id"].get<long>();
        replies_[id] = std::move(message);
      } else {
        history_.push_back(message);
        if (history_.size() > kHistoryKeep) history_.pop_front();
        events_.push_back(std::move(message));
      }
      changed_.notify_all();
    }
  }
  std::lock_guard lock(mutex_);
  exited_ = true;
  changed_.notify_all();
}

void BrowserPeer::read_stderr() {
  pollfd pfd{stderr_fd_, POLLIN, 0};
  for (;;) {
    const int r = poll(&pfd, 1, 100);
    if (r < 0 && errno != EINTR) break;
    if (r <= 0) {
      if (stopping_ && !process_alive(pid_)) break;
      continue;
    }
    char chunk[4096];
    const ssize_t n = read(stderr_fd_, chunk, sizeof chunk);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      break;
    }
    if (options_.verbose) {
      const ssize_t ignored = write(STDERR_FILENO, chunk, static_cast<std::size_t>(n));
      (void)ignored;
    }
    std::lock_guard lock(mutex_);
    stderr_.append(chunk, static_cast<std::size_t>(n));
    if (stderr_.size() > 2 * kStderrKeep) stderr_.erase(0, stderr_.size() - kStderrKeep);
  }
}

bool BrowserPeer::write_line(const std::string& line) {
  std::lock_guard lock(write_mutex_);
  if (stdin_fd_ < 0) return false;
  std::string data = line + "\n";
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(stdin_fd_, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

BrowserReply BrowserPeer::command(Json cmd, std::chrono::milliseconds timeout) {
  BrowserReply reply;
  const std::string name = cmd.value("cmd", std::string("?"));
  const std::string page = cmd.value("page", std::string());
  const std::string what = "browser command " + name + (page.empty() ? "" : " on page " + page);
  if (!running()) {
    reply.error = what + ": the browser peer is not running. " + error_ + describe();
    return reply;
  }
  const long id = next_id_++;
  cmd["id"] = id;
  // Written with the lock released: a full pipe must not block the reader thread.
  if (!write_line(cmd.dump())) {
    reply.error = what + ": cannot write to the driver: " + describe();
    return reply;
  }
  std::unique_lock lock(mutex_);
  const bool got = changed_.wait_for(lock, timeout, [&] { return replies_.count(id) > 0 || exited_; });
  if (auto it = replies_.find(id); it != replies_.end()) {
    Json message = std::move(it->second);
    replies_.erase(it);
    lock.unlock();
    reply.ok = message.value("ok", false);
    if (reply.ok) {
      reply.result = message.contains("result") ? message["result"] : Json::object();
    } else {
      reply.error = what + " failed: " + message.value("error", std::string("(no message)"));
    }
    return reply;
  }
  lock.unlock();
  reply.error =
      what +
      (got ? ": the driver exited before replying" : ": no reply within " + std::to_string(timeout.count()) + " ms") +
      describe();
  return reply;
}

BrowserReply BrowserPeer::open(const BrowserUser& user, std::chrono::milliseconds timeout) {
  Json cmd = {{"cmd", "open"},
              {"page", user.page.empty() ? user.user : user.page},
              {"ws", user.ws_url},
              {"user", user.user},
              {"password", user.password},
              {"domain", user.domain},
              {"iceServers", user.ice_servers},
              {"iceTransportPolicy", user.relay_only ? "relay" : "all"},
              {"autoAnswer", user.auto_answer},
              {"register", user.do_register}};
  return command(std::move(cmd), timeout);
}

std::optional<Json> BrowserPeer::wait_event(const std::string& type, std::chrono::milliseconds timeout,
                                            const Json& match) {
  std::unique_lock lock(mutex_);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    for (auto it = events_.begin(); it != events_.end(); ++it) {
      if (matches(*it, type, match)) {
        Json event = std::move(*it);
        events_.erase(it);
        return event;
      }
    }
    if (exited_ || changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
      // One last look: the event may have come with the wake-up that ended the wait.
      for (auto it = events_.begin(); it != events_.end(); ++it) {
        if (matches(*it, type, match)) {
          Json event = std::move(*it);
          events_.erase(it);
          return event;
        }
      }
      return std::nullopt;
    }
  }
}

void BrowserPeer::clear_events() {
  std::lock_guard lock(mutex_);
  events_.clear();
}

std::string BrowserPeer::describe() const {
  std::lock_guard lock(mutex_);
  std::string out = "\n--- browser peer: last events ---\n";
  const std::size_t first = history_.size() > 15 ? history_.size() - 15 : 0;
  for (std::size_t i = first; i < history_.size(); ++i) out += history_[i].dump() + "\n";
  out += "--- browser peer: driver stderr (tail) ---\n" + tail(stderr_, 2500);
  return out;
}

std::vector<pid_t> BrowserPeer::descendants() const { return pid_ > 0 ? all_descendants(pid_) : std::vector<pid_t>{}; }

int BrowserPeer::stop() {
  if (pid_ <= 0) return -1;
  stopping_ = true;
  // Remembered now: once the driver is gone, an orphaned Chromium is no longer under it.
  remember_descendants();
  std::set<pid_t> under;
  {
    std::lock_guard lock(mutex_);
    under = known_descendants_;
  }
  {
    std::lock_guard lock(write_mutex_);
    if (stdin_fd_ >= 0) close(stdin_fd_);  // end-of-file: the driver closes the pages, Chromium, and exits
    stdin_fd_ = -1;
  }
  int status = -1;
  bool reaped = false;
  auto wait_for = [&](std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      const pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_ || (r < 0 && errno == ECHILD)) return true;
      for (const pid_t p : all_descendants(pid_)) under.insert(p);
      std::this_thread::sleep_for(20ms);
    }
    return false;
  };
  reaped = wait_for(8s);
  if (!reaped) {
    kill(pid_, SIGTERM);
    reaped = wait_for(3s);
  }
  if (!reaped) {
    kill(-pid_, SIGKILL);
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
  }
  // Anything that outlived the driver (Chromium runs in a process group of its own): by PID.
  for (const pid_t p : under) {
    if (process_alive(p)) kill(p, SIGKILL);
  }
  const auto gone_by = std::chrono::steady_clock::now() + 2s;
  for (const pid_t p : under) {
    while (process_alive(p) && std::chrono::steady_clock::now() < gone_by) std::this_thread::sleep_for(10ms);
  }
  // A driver that was killed could not remove Chromium's temporary profile: only a directory the driver named,
  // in the temporary directory, with its prefix.
  if (const std::string profile = ready_.value("profile", std::string()); !profile.empty()) {
    const fs::path p(profile);
    std::error_code ec;
    if (p.filename().string().starts_with("wazo-chromium-") && p.parent_path() == fs::temp_directory_path(ec)) {
      fs::remove_all(p, ec);
    }
  }
  if (out_thread_.joinable()) out_thread_.join();
  if (err_thread_.joinable()) err_thread_.join();
  close(stdout_fd_);
  close(stderr_fd_);
  stdout_fd_ = stderr_fd_ = -1;
  {
    std::lock_guard lock(mutex_);
    exited_ = true;
  }
  pid_ = -1;
  return status;
}

}  // namespace wazo::test
