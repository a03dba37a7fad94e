// Connections, deadlines and the keep-alive pool (private to net/; the only Beast/SSL header).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <engram/net/claude_client.hpp>
#include <engram/net/client_config.hpp>
#include <engram/net/error.hpp>

#include "host_resolver.hpp"
#include "io_watchdog.hpp"
#include "url.hpp"

namespace engram::net::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;

using tcp_socket = asio::ip::tcp::socket;
using tls_stream = beast::ssl_stream<tcp_socket>;
using clock = std::chrono::steady_clock;

/// One HTTP/1.1 connection, plain or TLS, with the bytes read but not yet parsed (they must
/// survive between reads and between responses on a keep-alive connection).
struct connection {
    /// `tls`: the context of a TLS connection; null for a plain one. `wheel`: the timer its
    /// steps share with the pool's other connections (none: one of its own).
    connection(asio::any_io_executor ex, asio::ssl::context* tls, std::shared_ptr<watchdog_wheel> wheel = {});

    std::variant<tcp_socket, tls_stream> stream;
    io_watchdog watchdog;
    beast::flat_buffer buffer;  ///< TLS only: decrypted bytes not parsed yet
    std::string leftover;       ///< plain only: read bytes the parser could not use yet
    bool reused = false;
    bool drained = true;  ///< a plain read must wait for readiness first (cleared by the wait)
    /// Plain only: the last read filled its buffer, so input may be left that raises no edge of
    /// its own; the next wait for input re-arms the socket (edge_wait.hpp).
    bool input_left = false;
    clock::time_point idle_since{};  ///< when it went back to the pool

    tcp_socket& tcp() noexcept;
    bool plain() const noexcept { return std::holds_alternative<tcp_socket>(stream); }
    /// Whether the peer sent anything (bytes, its close, a reset) since the last response ended:
    /// such a connection must not carry another request. Asks the socket without waiting.
    bool spoke_while_idle() noexcept;
    /// The part of spoke_while_idle() that needs no system call: TLS input already read.
    bool tls_input_buffered() noexcept;
    void close() noexcept;
};

/// The bounds of one request: its deadline (client_config::total_timeout) combined with
/// per-step timeouts (each step gives the connection's watchdog whichever ends first and
/// remembers which error a timeout then means), and its cancellation.
class deadline {
public:
    /// `request_cancel`: message_request::cancel_slot (unconnected: the request follows the
    /// cancellation of whichever coroutine awaits each of its steps).
    explicit deadline(std::chrono::milliseconds total, asio::cancellation_slot request_cancel = {});

    /// The completion token for one step. Without a cancellation of the request's own, the
    /// step follows the awaiting coroutine's (`own`, from asio::this_coro::cancellation_state),
    /// as any Asio operation would. With one, the step is bound to the request's signal, which
    /// both that slot and, for this step, the coroutine's own cancellation reach. Throws
    /// client_error(errc::cancelled) if the request was cancelled already, between two steps,
    /// when no operation was there to hear it.
    auto token(const asio::cancellation_state& own) const {
        if (!cancel_) return asio::bind_cancellation_slot(own.slot(), asio::as_tuple(asio::use_awaitable));
        throw_if_cancelled();
        // Asio clears the coroutine's slot when this step completes, so this lasts one step.
        if (auto slot = own.slot(); slot.is_connected()) slot.assign(request_cancellation::forward{cancel_});
        return asio::bind_cancellation_slot(cancel_->signal.slot(), asio::as_tuple(asio::use_awaitable));
    }
    /// Whether the request (or the awaiting coroutine) has been cancelled.
    bool cancelled(const asio::cancellation_state& own) const noexcept {
        return (cancel_ && cancel_->cancelled) || own.cancelled() != asio::cancellation_type::none;
    }
    /// Whether any cancellation (terminal or not) has been asked for the request or the coroutine:
    /// an operation that ended as cancelled when this is false was cancelled by the watchdog.
    bool cancel_requested(const asio::cancellation_state& own) const noexcept {
        return (cancel_ && cancel_->requested) || own.cancelled() != asio::cancellation_type::none;
    }
    void throw_if_cancelled() const;
    errc arm(connection& c, clock::time_point step_end, errc step_code, const asio::any_io_executor& ex) const;
    errc arm(connection& c, std::chrono::milliseconds step, errc step_code, const asio::any_io_executor& ex) const {
        return arm(c, step_end(step), step_code, ex);
    }
    /// arm() for a plain connection's wait for input (async_wait_for_input with
    /// `c.input_left` as its re-arm): a wait that is not re-armed gets the watchdog's probe
    /// (io_watchdog::begin_input_wait) after hidden_input_probe.
    errc arm_input_wait(connection& c, clock::time_point step_end, errc step_code, const asio::any_io_executor& ex) const;
    /// When a step of length `step` (0: unbounded) started now must end.
    static clock::time_point step_end(std::chrono::milliseconds step);
    clock::time_point total() const noexcept { return total_; }
    bool expired() const noexcept { return clock::now() >= total_; }

    /// From a streamed 200 header on, the stream's own bound (`stream_total`, 0: none) replaces
    /// the request's: a long generation may stream for longer than a request may take to get
    /// its header, as the official SDKs allow. reopen() restores the request's bound.
    void begin_stream(std::chrono::milliseconds stream_total) noexcept { total_ = step_end(stream_total); }
    void reopen() noexcept { total_ = request_total_; }

private:
    clock::time_point total_;
    clock::time_point request_total_;
    /// A request's own cancellation (message_request::cancel_slot): the signal its steps are
    /// bound to, and whether a terminal cancellation came (it may come between two steps).
    struct request_cancellation {
        asio::cancellation_signal signal;
        bool cancelled = false;
        bool requested = false;  // any cancellation, terminal or not
        struct forward {
            std::shared_ptr<request_cancellation> to;
            void operator()(asio::cancellation_type type) const {
                to->requested = true;
                if ((type & asio::cancellation_type::terminal) != asio::cancellation_type::none) to->cancelled = true;
                to->signal.emit(type);
            }
        };
    };
    std::shared_ptr<request_cancellation> cancel_;
};

/// Throws the client_error that a failed transport operation means. `timeout_code` is what
/// deadline::arm returned for the step; `during` names the step for the message.
[[noreturn]] void throw_transport_error(boost::system::error_code ec, errc timeout_code, std::string_view during,
                                        const base_url& where);

/// Connects `c`'s socket to the first of `endpoints` that takes it, in order. The socket ends
/// up non-blocking with TCP_NODELAY. Waits (bounded by `connect_timeout` and `d`) only if the
/// connect has not ended by the time connect() returns, as over loopback it has.
asio::awaitable<void> connect_socket(connection& c, const asio::ip::tcp::resolver::results_type& endpoints,
                                     const deadline& d, std::chrono::milliseconds connect_timeout,
                                     const base_url& where);
/// Registers `s` with its reactor afresh, so that it is watched for input only.
void watch_for_input_only(tcp_socket& s, const asio::ip::tcp& protocol, const base_url& where);

class connection_pool;

/// Exclusive use of one pooled connection. Destroying it without release(true) closes the
/// connection: a half-read connection is never handed to another request.
class lease {
public:
    lease() = default;
    lease(std::shared_ptr<connection_pool> pool, std::unique_ptr<connection> c) noexcept
        : pool_(std::move(pool)), conn_(std::move(c)) {}
    lease(lease&&) noexcept = default;
    lease& operator=(lease&& other) noexcept;
    ~lease();

    connection& operator*() const noexcept { return *conn_; }
    connection* operator->() const noexcept { return conn_.get(); }
    explicit operator bool() const noexcept { return conn_ != nullptr; }
    /// Returns the connection to the pool (kept idle if `reusable`, else closed).
    void release(bool reusable) noexcept;

private:
    std::shared_ptr<connection_pool> pool_;
    std::unique_ptr<connection> conn_;
};

/// The bounded keep-alive pool of one origin. Thread-safe; the mutex only guards the idle list
/// and counters and is never held across a suspension.
class connection_pool : public std::enable_shared_from_this<connection_pool> {
public:
    /// `lookup` resolves host names (host_resolver's default when empty; tests pass their own).
    connection_pool(asio::any_io_executor ex, const client_config& cfg, base_url url,
                    host_resolver::lookup_function lookup = {});

    /// An idle connection (unless `fresh`), or a new one (resolve, connect, TLS handshake with
    /// SNI and verification). Waits while max_connections_per_host are in use.
    asio::awaitable<lease> acquire(const deadline& d, bool fresh = false);
    /// Closes the idle connections that no request may use: idle past idle_connection_timeout,
    /// or spoken on while idle (the server's close, stray bytes). With `all`, every idle one.
    /// Returns how many it closed.
    std::size_t close_idle(bool all);
    pool_stats stats() const;
    const base_url& url() const noexcept { return url_; }

private:
    friend class lease;
    asio::awaitable<std::unique_ptr<connection>> connect(const deadline& d);
    asio::ip::tcp::resolver::results_type literal_endpoints() const;
    /// The host's addresses (host_resolver), waiting until `until` at most.
    asio::awaitable<asio::ip::tcp::resolver::results_type> resolve(const deadline& d, clock::time_point until);
    asio::awaitable<void> handshake(connection& c, const deadline& d);
    void give_back(std::unique_ptr<connection> c, bool reusable) noexcept;
    /// Wakes the longest waiting request, if any (mutex_ held).
    void wake_one_locked() noexcept;

    asio::any_io_executor executor_;
    const client_config cfg_;  // a copy: leases (and so the pool) may outlive the client
    base_url url_;
    std::optional<asio::ssl::context> ssl_ctx_;  // https origins only
    std::shared_ptr<host_resolver> resolver_;     // host names only (not IP literals)
    std::shared_ptr<watchdog_wheel> wheel_;       // the step deadlines of all its connections

    mutable std::mutex mutex_;
    std::deque<std::unique_ptr<connection>> idle_;
    std::deque<std::shared_ptr<asio::steady_timer>> waiters_;
    std::size_t in_use_ = 0;
    std::uint64_t opened_ = 0;
};

}  // namespace engram::net::detail
