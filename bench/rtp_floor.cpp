// The floor under an audio call's CPU: one side of an Opus call over plain RTP/UDP on loopback, with the media
// elements a WebRTC call of the SDK uses (a 48 kHz mono tone in 20 ms buffers, opusenc at the SDK's complexity and
// bitrate, rtpopuspay; rtpjitterbuffer, rtpopusdepay, opusdec) and none of what WebRTC adds (ICE, DTLS, SRTP,
// RTCP, rtpbin, the SDK). bench/footprint.sh runs two of these against each other, samples one of them from
// /proc as it samples `wazo answer`, and prints the ratio of the two in the same run.
//
//   wazo_bench_rtp_floor SEND_PORT RECEIVE_PORT SECONDS
#include <cstdio>
#include <cstdlib>
#include <string>

#include <gst/gst.h>

namespace {

GstElement* launch(const std::string& description) {
  GError* error = nullptr;
  GstElement* pipeline = gst_parse_launch(description.c_str(), &error);
  if (!pipeline || error) {
    std::fprintf(stderr, "wazo_bench_rtp_floor: %s\n", error ? error->message : "cannot build the pipeline");
    if (error) g_error_free(error);
    return nullptr;
  }
  if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    std::fprintf(stderr, "wazo_bench_rtp_floor: the pipeline does not start: %s\n", description.c_str());
    gst_object_unref(pipeline);
    return nullptr;
  }
  return pipeline;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: wazo_bench_rtp_floor SEND_PORT RECEIVE_PORT SECONDS\n");
    return 2;
  }
  gst_init(nullptr, nullptr);
  const std::string send_port = argv[1], receive_port = argv[2];
  const int seconds = std::atoi(argv[3]);
  // Two pipelines, as the SDK has a send and a receive branch; both run on the system clock.
  GstElement* send = launch(
      "audiotestsrc is-live=true samplesperbuffer=960 freq=440 volume=0.3 ! audio/x-raw,rate=48000,channels=1 "
      "! opusenc complexity=5 bitrate=32000 ! rtpopuspay pt=111 ! udpsink host=127.0.0.1 port=" +
      send_port);
  GstElement* receive = launch("udpsrc address=127.0.0.1 port=" + receive_port +
                               " caps=\"application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,"
                               "payload=111\" ! rtpjitterbuffer latency=100 ! rtpopusdepay ! opusdec plc=true "
                               "! audio/x-raw,channels=1 ! fakesink sync=false name=sink");
  if (!send || !receive) return 1;
  g_usleep(static_cast<gulong>(seconds) * 1'000'000);
  // What was received, so that a floor that heard nothing is not taken for a cheap one.
  guint64 received_ms = 0;
  if (GstElement* sink = gst_bin_get_by_name(reinterpret_cast<GstBin*>(receive), "sink")) {
    GstSample* last = nullptr;
    g_object_get(sink, "last-sample", &last, nullptr);
    if (last) {
      const GstSegment* segment = gst_sample_get_segment(last);
      GstBuffer* buffer = gst_sample_get_buffer(last);
      if (segment && buffer && buffer->pts != GST_CLOCK_TIME_NONE) {
        received_ms = gst_segment_to_running_time(segment, GST_FORMAT_TIME, buffer->pts) / 1'000'000;
      }
      gst_sample_unref(last);
    }
    gst_object_unref(sink);
  }
  gst_element_set_state(send, GST_STATE_NULL);
  gst_element_set_state(receive, GST_STATE_NULL);
  gst_object_unref(send);
  gst_object_unref(receive);
  std::printf("received up to %llu ms of audio\n", static_cast<unsigned long long>(received_ms));
  return received_ms > 0 ? 0 : 1;
}
