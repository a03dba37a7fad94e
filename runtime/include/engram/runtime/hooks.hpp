// Lifecycle hooks through which a host can log, meter or veto.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <engram/net/message.hpp>
#include <engram/runtime/usage.hpp>

namespace engram::runtime {

struct session_info {
    std::string session_id;
    std::string user_id;
    std::string agent;
};

/// The outcome of one extraction job.
struct memory_event {
    std::string user_id;
    std::string session_id;
    bool ok = false;
    bool duplicate = false;            ///< the session had already been applied (nothing changed)
    /// The session was no longer pending when its turn came: the user's memory was erased after
    /// it ended, or another process sharing the memory directory merged it. Not merged here;
    /// nothing of it stays journaled (nothing changed).
    bool withdrawn = false;
    std::string error;                 ///< when !ok: why (the job stays in the journal, or in quarantine when its file was damaged)
    /// When !ok: the session's pass failed in a way a retry would not change, often enough that
    /// it is no longer replayed at start (runtime_config::set_aside_after_failed_passes). Every
    /// start() reports each such session again, with this set.
    bool set_aside = false;
    std::vector<std::string> changes;  ///< when ok: human-readable diff lines
    std::int64_t session_count = 0;    ///< when ok: the user's session count afterwards
};

/// Every hook is optional. Hooks run on runtime threads (the session's strand for session hooks,
/// the extraction worker for on_memory_update, and start() for the set-aside sessions it reports);
/// they must be quick and must not block. What a
/// hook throws is caught and dropped (it runs inside the runtime's bookkeeping), except from
/// on_session_open, whose exception propagates out of open_session().
struct runtime_hooks {
    /// Return false to refuse the session (open_session then throws errc::vetoed).
    std::function<bool(const session_info&)> on_session_open;
    std::function<void(const session_info&, const net::message&)> on_turn_finished;
    /// Called once for every session on_session_open let through, also when the open failed
    /// after that hook (open_session then threw).
    std::function<void(const session_info&)> on_session_end;
    std::function<void(const memory_event&)> on_memory_update;
    /// Notices that must not pass silently, for a session: history trimmed, a turn held back by an
    /// exhausted rate-limit window, a failed request about to be retried (with its backoff), the
    /// session ended for idleness.
    std::function<void(const session_info&, const std::string&)> on_notice;
};

}  // namespace engram::runtime
