// Formatting of Server-Sent Events, for servers (the bundled stand-in, test doubles, and later
// the bot gateway's web page).
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace engram::net {

/// Appends one event to `out`: an `event:` line when `type` is non-empty, one `data:` line per
/// line of `data`, and the blank line that dispatches it. A reader ends a line at CR, LF or
/// CRLF, so each of them in `data` starts a new `data:` line: a bare CR written through would
/// have ended the event early and let the rest of `data` pose as fields of its own. The reader
/// joins the lines with LF, so multi-line data survives the round trip with its line ends as LF.
/// @throws std::invalid_argument if `type` holds a CR or LF (it would inject fields).
inline void append_sse_event(std::string& out, std::string_view type, std::string_view data) {
    if (type.find_first_of("\r\n") != std::string_view::npos)
        throw std::invalid_argument("SSE event type contains a line break");
    if (!type.empty()) {
        out += "event: ";
        out += type;
        out += '\n';
    }
    for (;;) {
        const auto end = data.find_first_of("\r\n");
        out += "data: ";
        out += data.substr(0, end);
        out += '\n';
        if (end == std::string_view::npos) break;
        const bool crlf = data[end] == '\r' && end + 1 < data.size() && data[end + 1] == '\n';
        data.remove_prefix(end + (crlf ? 2 : 1));
    }
    out += '\n';
}

}  // namespace engram::net
