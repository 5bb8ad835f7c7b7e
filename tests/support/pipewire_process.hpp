// PipeWire as real processes, for the camera tests: a D-Bus session bus, the PipeWire daemon and WirePlumber (the
// session manager, which links a capture stream to the camera it asks for), all in one temporary runtime
// directory; cameras are GStreamer test patterns published as PipeWire Video/Source nodes (what a webcam is to
// PipeWire). Nothing of the user's session is used; everything is stopped by PID.
//
//   wazo::test::PipeWireProcess pw;
//   ASSERT_TRUE(pw.running()) << pw.error();
//   ASSERT_TRUE(pw.add_camera("redcam", "RedCam", "red")) << pw.error();
//   ScopedEnv runtime("XDG_RUNTIME_DIR", pw.runtime_dir());   // where GStreamer's pipewire elements connect
#pragma once

#include <string>
#include <vector>

#include <sys/types.h>

#include "engine_process.hpp"  // TempDir

namespace wazo::test {

class PipeWireProcess {
 public:
  PipeWireProcess();  // starts the bus, PipeWire and WirePlumber, each waited for (~10 s at most)
  ~PipeWireProcess();
  PipeWireProcess(const PipeWireProcess&) = delete;
  PipeWireProcess& operator=(const PipeWireProcess&) = delete;

  [[nodiscard]] bool running() const { return wireplumber_ > 0; }
  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] std::string runtime_dir() const { return dir_.file("runtime"); }
  [[nodiscard]] std::string log() const;

  // A camera named `node_name` (its description, what a device list shows, is `description`) that shows
  // videotestsrc's `pattern` ("red", "blue", "ball"...) as I420 320x240 at 15 fps; waits until PipeWire lists it.
  bool add_camera(const std::string& node_name, const std::string& description, const std::string& pattern);

  static bool available();
  static std::string unavailable_message();

 private:
  [[nodiscard]] std::vector<std::string> env() const;  // for env(1): the runtime directory, the bus, HOME
  [[nodiscard]] bool lists(const std::string& what, const std::string& text) const;  // pw-cli ls <what> has text

  TempDir dir_;
  pid_t bus_ = -1;
  pid_t pipewire_ = -1;
  pid_t wireplumber_ = -1;
  std::vector<pid_t> cameras_;
  std::string error_;
};

}  // namespace wazo::test
