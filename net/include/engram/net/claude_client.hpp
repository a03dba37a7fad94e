// The Anthropic Messages API client: streaming and non-streaming, over HTTPS or HTTP.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <engram/net/client_config.hpp>
#include <engram/net/error.hpp>
#include <engram/net/message.hpp>
#include <engram/net/message_accumulator.hpp>
#include <engram/net/rate_limits.hpp>

namespace engram::net {

namespace detail {
class client_impl;
class stream_state;
}  // namespace detail

/// A failed attempt that the client is about to retry (see retry_policy).
struct retry_notice {
    unsigned failed_attempt = 0;       ///< 1 for the first request sent
    std::chrono::milliseconds delay{};  ///< the backoff before the next attempt
    std::string reason;                 ///< what failed, as client_error::what() says it (never the key)
};

/// A Messages API request. `body` is the JSON the API documents (`model`, `max_tokens`,
/// `system`, `messages`, `tools`, ...); the client sets `stream` itself.
struct message_request {
    boost::json::object body;
    /// The body as JSON text, for a caller that keeps its conversation serialised (a session's
    /// history, say): when set it is sent instead of `body`, which saves building and copying a
    /// tree per request. It must be one JSON object without a `stream` member; it is not
    /// otherwise checked.
    std::string serialized_body;
    /// Extra `anthropic-beta` values for this request, added to client_config::anthropic_beta.
    std::vector<std::string> betas;
    /// Called before each retry's backoff, on the executor running the request, so a long wait
    /// can be shown. Must not throw.
    std::function<void(const retry_notice&)> on_retry;
    /// The request's own cancellation, besides that of the coroutine awaiting it (which always
    /// applies). Emitting this slot's signal (terminal, on the executor running the request)
    /// cancels whatever the request is doing, or will do next, with
    /// client_error(errc::cancelled): a caller can cancel a request it awaits inline, from
    /// elsewhere, without a co_spawn of its own. The request installs its handler in the slot
    /// when it starts (the signal must exist then); a later handler in the slot replaces it.
    boost::asio::cancellation_slot cancel_slot;
};

/// What the response header said.
struct response_info {
    int http_status = 0;
    std::string request_id;  ///< the `request-id` header
    rate_limits limits;
    unsigned attempts = 0;   ///< requests sent, retries included
};

/// One stream event as delivered to the caller, already applied to the stream's message.
class stream_event {
public:
    stream_event_kind kind = stream_event_kind::unknown;
    std::size_t index = 0;  ///< content block index, for content_block_* events
    /// When the bytes that completed this event were taken from the connection (steady clock):
    /// what a caller needs to measure its own delivery latency.
    std::chrono::steady_clock::time_point received_at{};

    /// The text of a `text_delta` (or `thinking_delta`) event; empty for other events.
    std::string_view text() const noexcept;
    /// True for a content_block_delta whose delta is a `text_delta` (the reply's visible text).
    bool is_text_delta() const noexcept { return text_delta_; }
    /// The event's JSON, with the members and values received. Only the client's own
    /// accumulation reads most events (text deltas without building a tree at all), so the
    /// tree is built here on first use. Not safe to call on one event from two threads at once.
    const boost::json::value& data() const;

    stream_event() = default;
    /// A copy owns everything it refers to (an event handed to a read_all() callback may refer
    /// to its stream's buffer, valid during the callback only).
    stream_event(const stream_event& other);
    stream_event& operator=(const stream_event& other);
    stream_event(stream_event&&) noexcept = default;
    stream_event& operator=(stream_event&&) noexcept = default;
    ~stream_event() = default;

private:
    friend class detail::stream_state;
    /// How the event was kept: data_ parsed, or a payload that data() builds it from.
    enum class form : unsigned char {
        tree,        ///< data_ is the parsed event
        fast_delta,  ///< a text delta read on the fast path: the payload is its text
        raw,         ///< any other event: the payload is its JSON, parsed on demand
    };
    /// The payload: text_, or (borrowed_) a piece of the stream's buffer, which an event lent
    /// to a read_all() callback refers to instead of a copy of its own.
    std::string_view payload() const noexcept;
    std::string text_;
    const std::string* buffer_ = nullptr;    // borrowed_: the stream's buffer
    std::uint32_t offset_ = 0, size_ = 0;    // borrowed_: where in it
    mutable std::optional<boost::json::value> data_;  // empty until parsed or built: most events never need it
    bool text_delta_ = false;
    bool borrowed_ = false;
    form form_ = form::tree;
};

/// Connection-pool figures, for tests and metrics.
struct pool_stats {
    std::uint64_t connections_opened = 0;
    std::size_t idle = 0;
    std::size_t in_use = 0;
    /// Host-name lookups started (none for an IP address; see client_config::dns_cache_ttl).
    std::uint64_t name_lookups = 0;
};

/// A streaming response being read, one event at a time. Move-only. Destroying it (or calling
/// close()) before the end closes its connection, which is never reused half-read.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe (one reader at a time).
class message_stream {
public:
    /// An empty stream (done() is true); what a failed callback-style operation passes.
    message_stream() noexcept;
    message_stream(message_stream&&) noexcept;
    message_stream& operator=(message_stream&&) noexcept;
    ~message_stream();

    /// Reads the next event; `std::nullopt` once the message is complete (after message_stop).
    ///
    /// @throws client_error on failure. Once an event has been delivered a failure is never
    /// retried (that would bill twice and repeat output): the error carries the partial message.
    /// An in-band `error` event throws with kind() == error_kind::api (e.g. errc::overloaded).
    ///
    /// @par Per-operation cancellation
    /// Terminal cancellation of the awaiting coroutine closes the connection and throws
    /// client_error(errc::cancelled).
    boost::asio::awaitable<std::optional<stream_event>> next();

    /// Callback-style next(). Completion signature:
    /// `void(std::exception_ptr, std::optional<stream_event>)`; the handler runs on its
    /// associated executor, else on the client's executor. The stream must outlive the operation.
    template <class CompletionToken = boost::asio::deferred_t>
    auto async_next(CompletionToken&& token = {}) {
        return boost::asio::co_spawn(executor(), next(), std::forward<CompletionToken>(token));
    }

    /// Reads the rest of the stream, calling `on_event` for every event in order (the events
    /// next() would return, each already applied to current()), and returns once the message
    /// is complete. One coroutine for the whole stream, where next() costs one per event: the
    /// cheaper way to consume a stream. Failures and cancellation as next(); an exception
    /// thrown by `on_event` closes the stream and propagates.
    boost::asio::awaitable<void> read_all(std::function<void(const stream_event&)> on_event);

    /// Callback-style read_all(). Completion signature `void(std::exception_ptr)`. The stream
    /// must outlive the operation.
    template <class CompletionToken = boost::asio::deferred_t>
    auto async_read_all(std::function<void(const stream_event&)> on_event, CompletionToken&& token = {}) {
        return boost::asio::co_spawn(executor(), read_all(std::move(on_event)), std::forward<CompletionToken>(token));
    }

    /// The message accumulated so far (complete after next() returned nullopt).
    const message& current() const noexcept;
    /// Moves the accumulated message out (current() is empty afterwards), for a caller that is
    /// done with the stream and keeps the message: no copy of it.
    message release_message() noexcept;
    const response_info& response() const noexcept;
    /// True once the message is complete or the stream failed or was closed.
    bool done() const noexcept;
    /// Abandons the stream now and frees its connection.
    void close() noexcept;
    boost::asio::any_io_executor executor() const noexcept;

private:
    friend class claude_client;
    explicit message_stream(std::unique_ptr<detail::stream_state> state) noexcept;
    std::unique_ptr<detail::stream_state> state_;
};

/// Client for `POST {base_url}/v1/messages`. One client is meant to be shared by every session
/// of a process: it owns a bounded keep-alive connection pool per host.
///
/// @par Object lifetimes
/// The client may be destroyed while streams it created are still alive; they keep what they
/// need. The executor's execution context must outlive the client and its streams.
///
/// @par Thread safety
/// All member functions are safe to call concurrently from any thread.
class claude_client {
public:
    /// @throws client_error(errc::invalid_config) for a malformed base URL or unreadable CA file.
    claude_client(boost::asio::any_io_executor executor, client_config config);
    ~claude_client();
    claude_client(const claude_client&) = delete;
    claude_client& operator=(const claude_client&) = delete;

    const client_config& config() const noexcept;
    boost::asio::any_io_executor executor() const noexcept;

    /// Sends a non-streaming request and returns the complete message, retrying as
    /// client_config::retry says. @throws client_error.
    boost::asio::awaitable<message> create_message(message_request request);

    /// Sends a streaming request and returns once the response header arrived with status 200
    /// (HTTP errors are retried or thrown here). Read the events with message_stream::next().
    boost::asio::awaitable<message_stream> stream_message(message_request request);

    /// Callback-style create_message(). Completion signature `void(std::exception_ptr, message)`.
    template <class CompletionToken = boost::asio::deferred_t>
    auto async_create_message(message_request request, CompletionToken&& token = {}) {
        return boost::asio::co_spawn(executor(), create_message(std::move(request)),
                                     std::forward<CompletionToken>(token));
    }

    /// Callback-style stream_message(). Completion signature
    /// `void(std::exception_ptr, message_stream)`.
    template <class CompletionToken = boost::asio::deferred_t>
    auto async_stream_message(message_request request, CompletionToken&& token = {}) {
        return boost::asio::co_spawn(executor(), stream_message(std::move(request)),
                                     std::forward<CompletionToken>(token));
    }

    pool_stats stats() const;

    /// Closes the pooled idle connections no request can use any more: those the server closed
    /// (or sent anything on) while they were idle, and those idle past idle_connection_timeout.
    /// A request would find and close them itself, but only when one comes for the host: until
    /// then each holds its descriptor (a socket the server closed sits in CLOSE_WAIT). A
    /// long-running host calls this now and then (runtime::runtime does, while sessions are
    /// open: runtime_config::idle_connection_check_interval). One poll() over the idle
    /// connections; returns how many it closed.
    std::size_t prune_idle_connections();
    /// Closes every idle pooled connection; connections in use are left alone. For a host about
    /// to go quiet for long, or to let a server it is leaving see the connections end now.
    std::size_t close_idle_connections();

private:
    // The operations themselves: create_message() and stream_message() are no coroutines, so
    // they take the client's state when called. A coroutine member would read it through
    // `this` only when first resumed, after the client may be gone (a callback-style call
    // starts later, on the executor).
    static boost::asio::awaitable<message> create_with(std::shared_ptr<detail::client_impl> impl, message_request request);
    static boost::asio::awaitable<message_stream> stream_with(std::shared_ptr<detail::client_impl> impl,
                                                              message_request request);

    std::shared_ptr<detail::client_impl> impl_;
};

}  // namespace engram::net
