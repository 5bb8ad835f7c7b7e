// `wazo call` and `wazo answer`: WebRTC calls on the logged-in user's line (or one given on the command line), with
// a tone or a WAV file as the microphone and a WAV file or nothing as the speaker, for headless machines.
#pragma once

#include <string>
#include <vector>

#include "commands.hpp"

namespace wazo::cli {

// call EXTENSION [--video] [--play tone[:HZ]|none|FILE.wav | --mic ID] [--record FILE.wav | --speaker ID]
//                [--camera ID] [--for SECONDS] [--dtmf DIGITS] [--hold AT:SECONDS] [--json] [LINE OPTIONS]
// Exit 0 when the call was established, media came from the peer and the call ended by a hang-up.
int run_call(Context& ctx, const std::vector<std::string>& args);

// answer [--auto] [--count N] [--wait SECONDS] [--video] [--play ... | --mic ID] [--record FILE.wav | --speaker ID]
//        [--camera ID] [--for SECONDS] [--dtmf DIGITS] [--hold AT:SECONDS] [--json] [LINE OPTIONS]
// Exit 0 when the N calls were each established, had media and ended by a hang-up.
int run_answer(Context& ctx, const std::vector<std::string>& args);

// devices: the microphones, speakers and cameras, one a line ("microphone  ID  NAME  (default)"; --json: objects),
// for --mic, --speaker and --camera.
int run_devices(Context& ctx, const std::vector<std::string>& args);

}  // namespace wazo::cli
