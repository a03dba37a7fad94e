// Step deadlines for connections: one timer per pool, not one per connection (private to net/).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

namespace engram::net::detail {

class watchdog_wheel;

/// Bounds the I/O steps of one connection: when a step's deadline has passed, the socket is
/// closed (as Beast's tcp_stream does), the pending operation fails and finish() reports the
/// timeout.
///
/// A step only stores its deadline. The connections of a pool share one timer (their
/// watchdog_wheel), which wakes up at the earliest deadline it knows of, closes the sockets
/// whose step is over and sleeps until the next one; a step whose deadline moved on meanwhile
/// costs nothing. Beast's tcp_stream starts and cancels a timer operation around every read;
/// a timer per connection, re-armed lazily, still held a timer and an armed wait (about half a
/// KiB) for each of thousands of open streams.
///
/// Thread safety: begin(), finish() and idle() come from the coroutine that uses the
/// connection. A timeout closes the socket on that coroutine's executor (a session's strand,
/// say), never while the coroutine touches the socket.
class io_watchdog {
public:
    io_watchdog(std::shared_ptr<watchdog_wheel> wheel, boost::asio::ip::tcp::socket& socket);
    ~io_watchdog();
    io_watchdog(const io_watchdog&) = delete;
    io_watchdog& operator=(const io_watchdog&) = delete;

    /// A step starts that must end by `deadline` (time_point::max(): unbounded); `ex` is the
    /// executor of the coroutine that runs it (a pooled connection may serve coroutines on
    /// different strands).
    void begin(std::chrono::steady_clock::time_point deadline, const boost::asio::any_io_executor& ex);
    /// The same for a step that waits for input without re-arming the socket in epoll
    /// (edge_wait.hpp), which cannot see bytes and a close that raised a single edge together.
    /// At `probe_at`, if that comes before `deadline`, the wheel looks at the socket once: input
    /// waiting there ends the wait (cancelled; finish() then reports success, as for input),
    /// nothing there leaves it bounded by `deadline` alone, since any later input raises an edge.
    void begin_input_wait(std::chrono::steady_clock::time_point probe_at, std::chrono::steady_clock::time_point deadline,
                          const boost::asio::any_io_executor& ex);
    /// The step ended with `ec`: returns beast::error::timeout if its deadline closed the socket
    /// meanwhile, success if a probe found input and cancelled the wait, else `ec`.
    boost::system::error_code finish(boost::system::error_code ec);
    /// The connection goes idle (into the pool): it leaves the wheel, whose timer stops once no
    /// connection is left in it (an armed timer would keep run() from returning).
    void idle();

    struct state;

private:
    void start(std::chrono::steady_clock::time_point deadline, std::chrono::steady_clock::time_point probe_at,
               const boost::asio::any_io_executor& ex);
    std::shared_ptr<state> state_;  // shared with a timeout on its way to the step's executor
};

/// Whether `s` holds input (bytes, the peer's close, an error) that a read would return now.
/// Asks the socket without waiting and without taking anything.
bool input_waiting(boost::asio::ip::tcp::socket& s) noexcept;

/// The one timer of many connections' watchdogs (a pool's). Thread-safe.
class watchdog_wheel : public std::enable_shared_from_this<watchdog_wheel> {
public:
    /// `ex`: where the timer runs (the timeouts themselves run on each step's executor).
    explicit watchdog_wheel(boost::asio::any_io_executor ex);

    /// Connections in the wheel (those between their first step and going idle).
    std::size_t watched() const;
    /// Probes (io_watchdog::begin_input_wait) that found input no edge had announced.
    std::uint64_t hidden_input_found() const;
    /// When the timer fires next (time_point::max(): it is not armed).
    std::chrono::steady_clock::time_point wakes_at() const noexcept { return wake_at_.load(); }

private:
    friend class io_watchdog;
    using clock = std::chrono::steady_clock;

    void link_locked(io_watchdog::state& s) noexcept;
    void unlink_locked(io_watchdog::state& s) noexcept;
    /// Makes the timer fire by `t` (mutex_ held).
    void wake_by_locked(clock::time_point t);
    void on_timer(std::uint64_t generation, boost::system::error_code ec);
    /// On `ex`, the executor of the step that expired: closes the socket if that step (or a later
    /// one of the same executor, also past its deadline) still runs.
    void expire(io_watchdog::state& s, const boost::asio::any_io_executor& ex);

    mutable std::mutex mutex_;
    boost::asio::steady_timer timer_;
    io_watchdog::state* head_ = nullptr;  // the watched connections (an intrusive list)
    std::size_t watched_ = 0;
    std::atomic<clock::time_point> wake_at_{clock::time_point::max()};
    std::uint64_t generation_ = 0;  // tells a superseded wait's handler apart
    std::uint64_t hidden_input_found_ = 0;
};

}  // namespace engram::net::detail
