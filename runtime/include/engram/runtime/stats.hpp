// A snapshot of a runtime's load, for a host's metrics and health checks.
#pragma once

#include <chrono>
#include <cstddef>

#include <engram/net/claude_client.hpp>

namespace engram::runtime {

/// What runtime::stats() saw. Each group is read under its own lock (the runtime's, the request
/// gate's, the connection pool's), so figures from different groups may be a moment apart
/// while sessions and passes move on.
struct runtime_stats {
    /// Sessions opened and not ended. An end() counts once its work started on the session's
    /// strand (after the turn it waits for, if one runs). One whose handles were all dropped
    /// without end() counts until the idle timeout or shutdown() ends it (with idle_timeout
    /// zero: until it is gone).
    std::size_t sessions_open = 0;
    /// Model requests holding one of runtime_config::max_in_flight_requests' slots: chat turns
    /// and memory passes.
    std::size_t requests_in_flight = 0;
    /// Requests waiting for a slot, or held back while the server's rate-limit window is exhausted.
    std::size_t requests_waiting = 0;
    /// How long new requests are still held back by an exhausted rate-limit window (zero when not).
    std::chrono::milliseconds rate_limit_pause{0};
    /// Ended sessions of agents that remember whose memory is not saved yet: being journaled,
    /// queued, distilled or waiting to retry. drain_extractions() waits for these.
    std::size_t memory_passes_pending = 0;
    /// Ended sessions whose memory pass failed its retries in this process and that wait, in the
    /// journal, for their user to open or end another session (see runtime/README.md). Not pending.
    std::size_t memory_passes_parked = 0;
    /// The shared client's connection pool.
    net::pool_stats connections;
};

}  // namespace engram::runtime
