// Name resolution for a connection pool: one lookup at a time per host, shared, and cached.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

namespace engram::net::detail {

/// Resolves one host for its connection pool. Without it, thousands of streams connecting at
/// once each ran getaddrinfo, one after another on Asio's single resolver thread (seconds of
/// queueing for a real host name). Here, requests that need the addresses while a lookup runs
/// share it, and its result serves new connections for `ttl` (curl keeps names 60 s too); a
/// failed lookup is not kept.
///
/// A lookup cannot be interrupted (getaddrinfo runs to its end on the resolver's thread), so a
/// request does not wait for it: it waits on a timer of its own, bounded by its deadline, which
/// the lookup's end expires. A request that gave up leaves the lookup to finish and fill the cache.
///
/// Thread-safe. The waiting itself is the caller's (a coroutine that awaits ticket::timer with its
/// own cancellation, see connection_pool::resolve).
class host_resolver : public std::enable_shared_from_this<host_resolver> {
public:
    using results_type = boost::asio::ip::tcp::resolver::results_type;
    using clock = std::chrono::steady_clock;
    using completion = std::function<void(boost::system::error_code, results_type)>;
    /// Starts a lookup of host:port and calls `done` once, on any thread. The default uses
    /// asio::ip::tcp::resolver on `executor`; tests pass their own.
    using lookup_function = std::function<void(const std::string& host, const std::string& port, completion done)>;

    host_resolver(boost::asio::any_io_executor executor, std::string host, std::string port, std::chrono::milliseconds ttl,
                  lookup_function lookup = {});

    struct outcome {
        boost::system::error_code error;
        results_type results;
    };
    struct lookup;
    /// One request's wait: `ready` at once when the cache answered, else a timer (on a strand of
    /// the caller's executor, expiring at `until`) that the lookup's end makes expire at once.
    /// Start its wait on that strand (async_wait_on_strand).
    struct ticket {
        std::optional<results_type> ready;
        std::shared_ptr<lookup> pending;
        std::shared_ptr<boost::asio::steady_timer> timer;
    };
    /// Answers from the cache, or joins the running lookup, or starts one.
    ticket join(const boost::asio::any_io_executor& caller, clock::time_point until);
    /// After the ticket's timer wait ended, however it ended: the lookup's outcome, or nullopt
    /// while it still runs (the request timed out or was cancelled). Leaves the lookup's waiters.
    std::optional<outcome> leave(const ticket& t);

    /// Lookups started so far.
    std::uint64_t lookups() const;
    const std::string& host() const noexcept { return host_; }

private:
    void finished(const std::shared_ptr<lookup>& l, boost::system::error_code ec, results_type results);

    const std::string host_;
    const std::string port_;
    const std::chrono::milliseconds ttl_;
    lookup_function lookup_;

    mutable std::mutex mutex_;
    std::shared_ptr<lookup> current_;  // running, or the last one (its results while fresh)
    clock::time_point fresh_until_{};
    std::uint64_t lookups_ = 0;
};

/// timer.async_wait, started on the timer's own executor (its strand): a wake-up posted there
/// either comes first (the wait then ends at once) or ends the wait; never a race on the timer.
template <class Token>
auto async_wait_on_strand(const std::shared_ptr<boost::asio::steady_timer>& timer, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [timer](auto handler) {
            boost::asio::dispatch(timer->get_executor(),
                                  [timer, h = std::move(handler)]() mutable { timer->async_wait(std::move(h)); });
        },
        token);
}

}  // namespace engram::net::detail
