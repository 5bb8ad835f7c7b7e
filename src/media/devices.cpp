// list_devices() over GstDeviceMonitor, and the GStreamer helpers shared by the media layer.
#include <mutex>

#include "media/devices.hpp"
#include "media/gst_util.hpp"
#include "wazo/media/media.hpp"

namespace wazo::media {

namespace detail {

Result<void> ensure_gstreamer() {
  static std::once_flag once;
  static std::string failure;
  std::call_once(once, [] {
    GError* error = nullptr;
    if (!gst_init_check(nullptr, nullptr, &error)) {
      failure = std::string("GStreamer could not start: ") + (error ? error->message : "unknown reason");
      if (error) g_error_free(error);
    }
  });
  if (!failure.empty()) return Error(ErrorCategory::media, failure);
  return {};
}

Result<GstElement*> parse_bin(const std::string& description) {
  GError* error = nullptr;
  GstElement* bin = gst_parse_bin_from_description(description.c_str(), TRUE, &error);
  if (!bin || error) {
    std::string why = error ? error->message : "unknown reason";
    if (error) g_error_free(error);
    if (bin) gst_object_unref(bin);
    return Error(ErrorCategory::media, "cannot build the media branch: " + why);
  }
  return bin;
}

namespace {

Device::Kind kind_of(GstDevice* device, bool& known) {
  known = true;
  if (gst_device_has_classes(device, "Audio/Source")) return Device::Kind::audio_input;
  if (gst_device_has_classes(device, "Audio/Sink")) return Device::Kind::audio_output;
  if (gst_device_has_classes(device, "Video/Source")) return Device::Kind::video_input;
  known = false;
  return Device::Kind::audio_input;
}

// An id that stays the same while the device is plugged: the API's own path when it has one, else the name.
std::string id_of(GstDevice* device) {
  std::string id;
  if (GstStructure* props = gst_device_get_properties(device)) {
    for (const char* key : {"device.path", "object.path", "udev-id", "device.string", "node.name"}) {
      if (const char* v = gst_structure_get_string(props, key)) {
        id = v;
        break;
      }
    }
    gst_structure_free(props);
  }
  gchar* name = gst_device_get_display_name(device);
  gchar* klass = gst_device_get_device_class(device);
  if (id.empty()) id = std::string(klass ? klass : "") + ":" + (name ? name : "");
  g_free(name);
  g_free(klass);
  return id;
}

bool is_default(GstDevice* device) {
  gboolean def = FALSE;
  if (GstStructure* props = gst_device_get_properties(device)) {
    gst_structure_get_boolean(props, "is-default", &def);
    gst_structure_free(props);
  }
  return def != FALSE;
}

// One monitor for the process, started at the first use and never stopped: the device providers keep their
// connections (PulseAudio, PipeWire) and follow hot-plugging, and a list costs no provider start. (Stopping
// PipeWire 0.3.65's provider removes devices it has already freed: GStreamer-CRITICALs, then a crash.)
GstDeviceMonitor* shared_monitor() {
  static GstDeviceMonitor* const monitor = [] {
    GstDeviceMonitor* m = gst_device_monitor_new();
    gst_device_monitor_add_filter(m, "Audio/Source", nullptr);
    gst_device_monitor_add_filter(m, "Audio/Sink", nullptr);
    gst_device_monitor_add_filter(m, "Video/Source", nullptr);
    // Without a sound server or a camera the providers find nothing; start() still returns promptly. A monitor
    // that did not start probes its providers on each get_devices instead.
    gst_device_monitor_start(m);
    return m;
  }();
  return monitor;
}

template <class F>
void for_each_device(F&& f) {
  GList* devices = gst_device_monitor_get_devices(shared_monitor());
  for (GList* l = devices; l; l = l->next) f(static_cast<GstDevice*>(l->data));
  g_list_free_full(devices, gst_object_unref);
}

}  // namespace

GstElement* create_device_element(Device::Kind kind, const std::string& id) {
  GstElement* element = nullptr;
  for_each_device([&](GstDevice* device) {
    bool known = false;
    if (element || kind_of(device, known) != kind || !known || id_of(device) != id) return;
    element = gst_device_create_element(device, nullptr);
  });
  return element;
}

}  // namespace detail

Result<std::vector<Device>> list_devices() {
  if (auto r = detail::ensure_gstreamer(); !r) return std::move(r).error();
  std::vector<Device> out;
  detail::for_each_device([&](GstDevice* device) {
    bool known = false;
    const auto kind = detail::kind_of(device, known);
    if (!known) return;
    gchar* name = gst_device_get_display_name(device);
    out.push_back(Device{
        .kind = kind, .id = detail::id_of(device), .name = name ? name : "", .is_default = detail::is_default(device)});
    g_free(name);
  });
  return out;
}

}  // namespace wazo::media
