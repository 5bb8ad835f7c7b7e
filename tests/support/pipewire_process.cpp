#include "pipewire_process.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include "child_process.hpp"
#include "server_process.hpp"

namespace wazo::test {

namespace {

constexpr const char* kDbusDaemon = "/usr/bin/dbus-daemon";
constexpr const char* kPipeWire = "/usr/bin/pipewire";
constexpr const char* kWirePlumber = "/usr/bin/wireplumber";
constexpr const char* kPwCli = "/usr/bin/pw-cli";
constexpr const char* kGstLaunch = "/usr/bin/gst-launch-1.0";

}  // namespace

bool PipeWireProcess::available() {
  for (const char* p : {kDbusDaemon, kPipeWire, kWirePlumber, kPwCli, kGstLaunch}) {
    if (access(p, X_OK) != 0) return false;
  }
  return true;
}

std::string PipeWireProcess::unavailable_message() {
  return "PipeWire is not installed: dbus-daemon, pipewire, wireplumber, pw-cli and gst-launch-1.0 are needed; "
         "install the Debian packages dbus-daemon, pipewire, wireplumber, gstreamer1.0-pipewire and "
         "gstreamer1.0-tools";
}

std::vector<std::string> PipeWireProcess::env() const {
  const std::string home = dir_.file("home");
  return {"XDG_RUNTIME_DIR=" + runtime_dir(), "DBUS_SESSION_BUS_ADDRESS=unix:path=" + dir_.file("runtime/bus"),
          "HOME=" + home, "XDG_CONFIG_HOME=" + home + "/config", "XDG_STATE_HOME=" + home + "/state"};
}

bool PipeWireProcess::lists(const std::string& what, const std::string& text) const {
  const auto got = run_process(kPwCli, {"ls", what}, env());
  return got.out.find(text) != std::string::npos;
}

PipeWireProcess::PipeWireProcess() {
  error_ = why_not_startable(!dir_.path().empty(), available(), unavailable_message());
  if (!error_.empty()) return;
  mkdir(dir_.file("home").c_str(), 0700);
  mkdir(runtime_dir().c_str(), 0700);
  auto with_env = [&](const char* program) {
    std::vector<std::string> args{"/usr/bin/env"};
    for (auto& e : env()) args.push_back(e);
    args.emplace_back(program);
    return args;
  };
  // WirePlumber will not run without a session bus; a private one, for this test only.
  const std::string bus = dir_.file("runtime/bus");
  ServerStart b;
  b.name = "dbus-daemon";
  b.args = {kDbusDaemon, "--session", "--nofork", "--nopidfile", "--address=unix:path=" + bus};
  b.output = dir_.file("pipewire.log");
  b.ready = [bus](pid_t) { return unix_socket_accepts(bus); };
  b.waiting_for = "open its socket " + bus;
  bus_ = start_server(std::move(b), error_);
  if (bus_ < 0) return;

  const std::string socket = dir_.file("runtime/pipewire-0");
  ServerStart p;
  p.name = "pipewire";
  p.args = with_env(kPipeWire);
  p.output = dir_.file("pipewire.log");
  p.ready = [socket](pid_t) { return unix_socket_accepts(socket); };
  p.waiting_for = "open its socket " + socket;
  pipewire_ = start_server(std::move(p), error_);
  if (pipewire_ < 0) return;

  ServerStart w;
  w.name = "wireplumber";
  w.args = with_env(kWirePlumber);
  w.output = dir_.file("pipewire.log");
  w.ready = [this](pid_t) { return lists("Client", "WirePlumber [export]"); };
  w.waiting_for = "connect to PipeWire (pw-cli ls Client)";
  wireplumber_ = start_server(std::move(w), error_);
}

PipeWireProcess::~PipeWireProcess() {
  for (auto& c : cameras_) stop_server(c);
  stop_server(wireplumber_);
  stop_server(pipewire_);
  stop_server(bus_);
}

std::string PipeWireProcess::log() const { return read_whole_file(dir_.file("pipewire.log")); }

bool PipeWireProcess::add_camera(const std::string& node_name, const std::string& description,
                                 const std::string& pattern) {
  if (!running()) return false;
  // mode=provide: the sink is a source node for others to capture from, as a webcam's node is.
  std::vector<std::string> args{"/usr/bin/env"};
  for (auto& e : env()) args.push_back(e);
  for (const std::string& a :
       {std::string(kGstLaunch), std::string("-q"), std::string("videotestsrc"), std::string("is-live=true"),
        "pattern=" + pattern, std::string("!"),
        std::string("video/x-raw,format=I420,width=320,height=240,framerate=15/1"), std::string("!"),
        std::string("pipewiresink"), std::string("mode=provide"), "client-name=" + node_name,
        "stream-properties=props,media.class=Video/Source,node.description=" + description}) {
    args.push_back(a);
  }
  ServerStart c;
  c.name = "camera " + node_name;
  c.args = std::move(args);
  c.output = dir_.file("pipewire.log");
  c.ready = [this, node_name](pid_t) { return lists("Node", "node.name = \"" + node_name + "\""); };
  c.waiting_for = "PipeWire to list the node " + node_name;
  const pid_t pid = start_server(std::move(c), error_);
  if (pid < 0) return false;
  cameras_.push_back(pid);
  return true;
}

}  // namespace wazo::test
