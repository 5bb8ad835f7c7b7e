#include "xvfb_process.hpp"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server_process.hpp"

namespace wazo::test {

namespace {

using namespace std::chrono_literals;

constexpr const char* kXvfb = "/usr/bin/Xvfb";

std::string socket_path(int number) { return "/tmp/.X11-unix/X" + std::to_string(number); }

}  // namespace

bool XvfbProcess::available() { return access(kXvfb, X_OK) == 0; }

std::string XvfbProcess::unavailable_message() {
  return std::string("Xvfb is not installed: ") + kXvfb + " is needed; install the Debian package xvfb";
}

XvfbProcess::XvfbProcess(int width, int height) : width_(width), height_(height) {
  error_ = why_not_startable(!dir_.path().empty(), available(), unavailable_message());
  if (!error_.empty()) return;
  // A display number nobody uses (a lock or socket left by another server means taken; Xvfb itself refuses a
  // number whose lock exists, and then another is tried).
  std::mt19937 rng(static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
                   static_cast<unsigned>(getpid()));
  std::string why;
  for (int attempt = 0; attempt < 5; ++attempt) {
    const int number = 100 + static_cast<int>(rng() % 800);
    if (access(("/tmp/.X" + std::to_string(number) + "-lock").c_str(), F_OK) == 0) continue;
    if (access(socket_path(number).c_str(), F_OK) == 0) continue;
    if (start_once(number, why)) return;
  }
  error_ = why.empty() ? "no free display number" : why;
}

XvfbProcess::~XvfbProcess() { stop(); }

int XvfbProcess::stop() { return stop_server(pid_); }

bool XvfbProcess::start_once(int number, std::string& why) {
  const std::string screen = std::to_string(width_) + "x" + std::to_string(height_) + "x24";
  ServerStart start;
  start.name = "Xvfb";
  // -wr: a white root window (the screen a test then sees); -noreset: stays up when the last client leaves.
  start.args = {kXvfb, ":" + std::to_string(number), "-screen", "0", screen, "-nolisten", "tcp", "-wr", "-noreset"};
  start.output = dir_.file("xvfb.out");
  start.ready = [path = socket_path(number)](pid_t) { return unix_socket_accepts(path); };
  start.waiting_for = "open its socket " + socket_path(number);
  pid_ = start_server(std::move(start), why);
  if (pid_ < 0) return false;
  display_ = ":" + std::to_string(number);
  return true;
}

ScopedEnv::ScopedEnv(std::string name, const std::string& value) : name_(std::move(name)) {
  if (const char* old = std::getenv(name_.c_str())) {
    had_ = true;
    old_ = old;
  }
  setenv(name_.c_str(), value.c_str(), 1);
}

ScopedEnv::~ScopedEnv() {
  if (had_) {
    setenv(name_.c_str(), old_.c_str(), 1);
  } else {
    unsetenv(name_.c_str());
  }
}

}  // namespace wazo::test
