// Configuration of the engram runtime.
#pragma once

#include <chrono>
#include <vector>
#include <cstddef>
#include <filesystem>
#include <memory>

#include <engram/memory/filesystem.hpp>
#include <engram/net/client_config.hpp>

namespace engram::runtime {

/// What a second send() does while a turn of the same session is still streaming.
enum class busy_policy {
    wait,    ///< queue behind the running turn (turns run in the order they were sent)
    refuse,  ///< fail at once with runtime_error(errc::session_busy)
};

struct runtime_config {
    /// Endpoint, key, TLS, timeouts and retries of the shared Claude client.
    net::client_config client = net::client_config::from_env();
    /// Where memory lives; empty means memory::default_memory_directory().
    std::filesystem::path memory_directory;
    /// Model requests in flight at once, process-wide. Interactive turns go before background
    /// extraction calls when both wait.
    std::size_t max_in_flight_requests = 64;
    busy_policy busy = busy_policy::wait;
    /// Sessions open at once (as runtime::stats().sessions_open counts them); open_session()
    /// beyond it throws runtime_error(errc::too_many_sessions) before the open hook runs, so a
    /// host can refuse a user with "busy" rather than run out of memory. Zero: no limit.
    std::size_t max_open_sessions = 0;
    /// A session with no activity for this long is ended (and its memory saved); zero disables.
    std::chrono::milliseconds idle_timeout{std::chrono::minutes(30)};
    /// At shutdown, how long in-flight turns and extractions may take before they are cancelled
    /// (cancelled extractions stay in the journal and run at the next start).
    std::chrono::milliseconds shutdown_grace{std::chrono::seconds(10)};
    /// History budget per session, in characters (Unicode code points, not bytes) of message text
    /// (roughly 4 per token in English). Past it
    /// the oldest turns are dropped before the next request, and the turn reports it. A session
    /// whose request the model refuses as longer than its context ("prompt is too long") lowers
    /// its own budget and sends the turn again (runtime/README.md, "History budget").
    std::size_t max_history_chars = 400'000;
    /// open_session() for a user whose earlier session is still being distilled (it ended a
    /// moment ago, or its job was replayed from the journal at start) waits up to this long for
    /// that memory, so the new session starts with it; past the bound it opens without it and
    /// says so through on_notice. Zero: never wait. While it waits, that user's extraction calls
    /// go before other users' in the line for a request slot (max_in_flight_requests).
    std::chrono::milliseconds memory_wait_on_open{std::chrono::seconds(5)};
    /// A session's memory pass that fails for a reason that passes (the model overloaded, rate
    /// limited or unreachable after the client's own retries; a full disk, an I/O error) is tried
    /// again after
    /// each of these waits in turn, in the same process and before that user's later sessions,
    /// so they are merged in order. Past the last it is reported through on_memory_update, stays
    /// in the journal and is tried again when the user opens a session of an agent that
    /// remembers or another of their sessions ends (up to three rounds; runtime/README) and at the
    /// next start; at shutdown it
    /// stays in the journal for the next start. Empty: no retry, nothing parked (a command-line
    /// tool that waits for its save).
    std::vector<std::chrono::milliseconds> extraction_retry_delays{std::chrono::seconds(30), std::chrono::minutes(2),
                                                                   std::chrono::minutes(10)};
    /// A journaled session whose memory pass failed this many times in a way a retry would not
    /// change (the model's output unusable even after the repair request, or the request refused
    /// as too large, by a 413 or a 400 "prompt is too long": failures of the session's own text,
    /// counted in its journal entry across processes) is set aside: it stays in the journal but
    /// is no longer replayed at start, where it would cost model calls at every start for good.
    /// memory::store::journal_retry (the CLI's `engram memory retry`) replays it again. Outages,
    /// rate limits and other refusals (a bad key, an exhausted credit balance, any other 400:
    /// they fail every session alike) are not counted. 0: never set aside.
    unsigned set_aside_after_failed_passes = 3;
    /// Threads for blocking memory I/O (fsync), separate from the session threads.
    std::size_t memory_io_threads = 2;
    /// The file system calls the memory store makes; null means the real ones. A host may pass
    /// its own to count or trace memory I/O, a test to make a write fail.
    std::shared_ptr<memory::filesystem> memory_filesystem;
    /// When the rate-limit headers say a window is (nearly) exhausted, hold new requests until it
    /// resets instead of running into 429s.
    bool respect_rate_limits = true;
    /// Set when exactly one thread runs the executor (an io_context run by one thread): sessions
    /// then use it directly instead of a strand each, which saves CPU on every completion and
    /// memory per session. Setting it while several threads run the executor is a data race.
    /// runtime(1, config) sets it itself.
    bool single_threaded_executor = false;
    /// While sessions are open, how often the shared client closes pooled connections no request
    /// can use any more (net::claude_client::prune_idle_connections): those the server closed
    /// while they were idle, which would otherwise keep their descriptors (in CLOSE_WAIT) until
    /// the next request, and those idle past client.idle_connection_timeout. One poll() over
    /// the idle connections each time. The check stops when the last session ends (it never
    /// keeps an io_context::run() going on its own). Zero: never.
    std::chrono::milliseconds idle_connection_check_interval{std::chrono::seconds(15)};
    /// When non-zero, start() raises the soft RLIMIT_NOFILE to at least this many descriptors
    /// (each streaming session holds one socket; allow some for files and the memory store),
    /// up to the hard limit, and fails with errc::resource_limit saying what to change if the
    /// hard limit is lower. Zero leaves the limit alone.
    std::size_t min_open_files = 0;
};

}  // namespace engram::runtime
