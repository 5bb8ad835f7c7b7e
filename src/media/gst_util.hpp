// Small GStreamer/GLib helpers for the media layer: initialisation, typed casts that replace the C-style-cast
// macros (G_OBJECT, GST_BIN, G_CALLBACK...) our warning flags reject, and owning references.
#pragma once

#include <gst/gst.h>

#include <memory>
#include <string>

#include "wazo/core/result.hpp"

namespace wazo::media::detail {

// gst_init_check once per process; the error says why GStreamer could not start.
Result<void> ensure_gstreamer();

inline GObject* as_object(gpointer p) noexcept { return static_cast<GObject*>(p); }
inline GstBin* as_bin(GstElement* e) noexcept { return reinterpret_cast<GstBin*>(e); }
inline GstObject* as_gst_object(gpointer p) noexcept { return static_cast<GstObject*>(p); }
template <class F>
GCallback as_callback(F* f) noexcept {
  return reinterpret_cast<GCallback>(f);
}

struct ObjectUnref {
  void operator()(gpointer p) const noexcept {
    if (p) gst_object_unref(p);
  }
};
template <class T>
using Ref = std::unique_ptr<T, ObjectUnref>;

// A new element or nullptr; `name` may be null.
inline GstElement* make_element(const char* factory, const char* name = nullptr) {
  return gst_element_factory_make(factory, name);
}

// A bin from a gst-launch description with ghost pads for its unlinked pads, or an error naming the reason.
Result<GstElement*> parse_bin(const std::string& description);

// g_signal_connect_data with a shared_ptr<T> as user data, released with the handler.
template <class T, class F>
gulong connect_shared(gpointer instance, const char* signal, F* handler, const std::shared_ptr<T>& data) {
  return g_signal_connect_data(
      instance, signal, as_callback(handler), new std::shared_ptr<T>(data),
      [](gpointer d, GClosure*) { delete static_cast<std::shared_ptr<T>*>(d); }, GConnectFlags{});
}
template <class T>
GDestroyNotify shared_deleter() {
  return [](gpointer d) { delete static_cast<std::shared_ptr<T>*>(d); };
}
template <class T>
T& shared_from_data(gpointer d) {
  return **static_cast<std::shared_ptr<T>*>(d);
}

}  // namespace wazo::media::detail
