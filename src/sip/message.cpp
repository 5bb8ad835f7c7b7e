// Placeholder until the parser lands (keeps the wazo_sip target buildable).
#include "wazo/sip/message.hpp"
