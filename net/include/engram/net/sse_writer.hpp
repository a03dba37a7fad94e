// Formatting of Server-Sent Events, for servers (the bundled stand-in, test doubles, and later
// the bot gateway's web page).
#pragma once

#include <string>
#include <string_view>

namespace engram::net {

/// Appends one event to `out`: an `event:` line when `type` is non-empty, one `data:` line per
/// line of `data` (so multi-line data survives the round trip), and the blank line that
/// dispatches it.
inline void append_sse_event(std::string& out, std::string_view type, std::string_view data) {
    if (!type.empty()) {
        out += "event: ";
        out += type;
        out += '\n';
    }
    for (;;) {
        const auto nl = data.find('\n');
        out += "data: ";
        out += data.substr(0, nl);
        out += '\n';
        if (nl == std::string_view::npos) break;
        data.remove_prefix(nl + 1);
    }
    out += '\n';
}

}  // namespace engram::net
