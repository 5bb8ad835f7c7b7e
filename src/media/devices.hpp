// Device lookup for the engine: a device id from list_devices() back to a GStreamer element.
#pragma once

#include <gst/gst.h>

#include <string>

#include "wazo/media/media.hpp"

namespace wazo::media::detail {

// A new (floating) source or sink element for the device with this id, or nullptr when it is not there.
GstElement* create_device_element(Device::Kind kind, const std::string& id);

}  // namespace wazo::media::detail
