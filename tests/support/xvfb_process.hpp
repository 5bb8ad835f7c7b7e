// Xvfb, the X server without a screen, as a real process: a display for the screen-sharing tests (ximagesrc).
// Listens on its Unix socket only (-nolisten tcp), on a free display number; its screen is a white root window
// (-wr). Stopped by PID.
//
//   wazo::test::XvfbProcess x;
//   ASSERT_TRUE(x.running()) << x.error();
//   ScopedEnv display("DISPLAY", x.display());
#pragma once

#include <string>

#include <sys/types.h>

#include "engine_process.hpp"  // TempDir

namespace wazo::test {

class XvfbProcess {
 public:
  // Starts Xvfb with one screen of `width`x`height` (24-bit) and waits (up to ~10 s) for its socket to accept.
  explicit XvfbProcess(int width = 640, int height = 480);
  ~XvfbProcess();  // stop()
  XvfbProcess(const XvfbProcess&) = delete;
  XvfbProcess& operator=(const XvfbProcess&) = delete;

  [[nodiscard]] bool running() const { return pid_ > 0; }
  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] const std::string& display() const { return display_; }  // ":N"
  int stop();

  static bool available();
  static std::string unavailable_message();

 private:
  bool start_once(int number, std::string& why);

  int width_, height_;
  TempDir dir_;
  pid_t pid_ = -1;
  std::string display_;
  std::string error_;
};

// Sets an environment variable for a scope, then puts back what was there.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const std::string& value);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  bool had_ = false;
  std::string old_;
};

}  // namespace wazo::test
