#include <engram/net/claude_client.hpp>
#include <engram/net/retry.hpp>
#include <engram/net/sse_parser.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <random>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_cat.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "response_reader.hpp"
#include "body_sink.hpp"
#include "spare_buffers.hpp"
#include "edge_wait.hpp"
#include "text_delta_scanner.hpp"
#include "transport.hpp"

namespace engram::net {
namespace detail {

namespace http = beast::http;
namespace json = boost::json;

using response_parser = response_reader;

namespace {

std::string_view header_of(const response_parser& p, std::string_view name) { return p.header(name); }

double unit_random() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

// Anything that reaches the caller as an exception is a client_error; Asio's own
// operation_aborted (thrown when a cancelled coroutine resumes) becomes errc::cancelled.
[[noreturn]] void rethrow_as_client_error(std::exception_ptr e) {
    try {
        std::rethrow_exception(e);
    } catch (const client_error&) {
        throw;
    } catch (const boost::system::system_error& se) {
        if (se.code() == asio::error::operation_aborted) throw client_error(errc::cancelled, "request cancelled");
        throw client_error(errc::connect_failed, se.what());
    }
}

}  // namespace

/// How soon after a reused connection's request went out its close still counts as the close of
/// a stale socket (one the server closed as the request was sent): about a round trip on any
/// network, far below the time a server takes to work on a request.
constexpr std::chrono::seconds stale_close_window{2};

/// Shared state of one client: configuration, the pool, and request construction.
class client_impl : public std::enable_shared_from_this<client_impl> {
public:
    client_impl(asio::any_io_executor ex, client_config cfg) : executor_(std::move(ex)), cfg_(std::move(cfg)) {
        std::string error;
        auto url = parse_base_url(cfg_.base_url, error);
        if (!url) throw client_error(errc::invalid_config, "invalid base URL: " + error);
        require_header_value("api_key", cfg_.api_key);
        require_header_value("anthropic_version", cfg_.anthropic_version);
        require_header_value("user_agent", cfg_.user_agent);
        for (const auto& b : cfg_.anthropic_beta) require_header_value("anthropic_beta", b);
        pool_ = std::make_shared<connection_pool>(executor_, cfg_, std::move(*url));
        // Every request starts the same way: compose that once.
        const auto& u = pool_->url();
        head_ = "POST " + u.path_prefix + "/v1/messages HTTP/1.1\r\nHost: " + u.host_header() + "\r\nUser-Agent: ";
        head_ += cfg_.user_agent;
        head_ += "\r\nContent-Type: application/json\r\nanthropic-version: ";
        head_ += cfg_.anthropic_version;
        head_ += "\r\nx-api-key: ";
        head_ += cfg_.api_key;
        head_ += "\r\n";
    }

    const client_config& config() const noexcept { return cfg_; }
    asio::any_io_executor executor() const noexcept { return executor_; }
    pool_stats stats() const { return pool_->stats(); }
    std::size_t close_idle(bool all) { return pool_->close_idle(all); }

    /// A request ready to send, composed once and resent as is by retries: the header as
    /// HTTP/1.1 text and the serialised body.
    struct prepared {
        std::string head;
        std::string body;
        std::function<void(const retry_notice&)> on_retry;
        std::array<asio::const_buffer, 2> buffers() const noexcept { return {asio::buffer(head), asio::buffer(body)}; }
        /// The same for a TLS stream. Not a std::array: Asio writes one of those with a
        /// specialised loop that, once the head is sent, offers an empty first buffer; Beast's
        /// ssl_stream (its flat_stream) then writes nothing when the body is over 16 KiB, and
        /// the write ends there, the body unsent. A general sequence skips what was sent.
        auto tls_buffers() const noexcept { return beast::buffers_cat(asio::buffer(head), asio::buffer(body)); }
    };

    prepared prepare(message_request&& r, bool streaming) const {
        prepared p;
        p.on_retry = std::move(r.on_retry);
        for (const auto& b : r.betas) require_header_value("betas", b);
        if (!r.serialized_body.empty()) {
            p.body = std::move(r.serialized_body);
            add_stream_member(p.body, streaming);
        } else {
            r.body["stream"] = streaming;
            p.body = json::serialize(r.body);
        }
        // The tree can be several times the size of its text (the whole conversation), and the
        // request may now wait for a connection: keep only the text.
        json::object().swap(r.body);
        std::string betas;
        for (const std::vector<std::string>* list : std::initializer_list<const std::vector<std::string>*>{&cfg_.anthropic_beta, &r.betas})
            for (const auto& b : *list) {
                if (!betas.empty()) betas += ',';
                betas += b;
            }
        p.head.reserve(head_.size() + betas.size() + 96);
        p.head += head_;
        p.head += streaming ? "Accept: text/event-stream\r\n" : "Accept: application/json\r\n";
        if (!betas.empty()) {
            p.head += "anthropic-beta: ";
            p.head += betas;
            p.head += "\r\n";
        }
        p.head += "Content-Length: ";
        p.head += std::to_string(p.body.size());
        p.head += "\r\n\r\n";
        return p;
    }

    /// Adds `"stream":...` to a body the caller serialised: the last member of its object.
    static void add_stream_member(std::string& body, bool streaming) {
        constexpr std::string_view space = " \t\r\n";
        const auto first = body.find_first_not_of(space);
        const auto last = body.find_last_not_of(space);
        if (first == std::string::npos || body[first] != '{' || body[last] != '}')
            throw client_error(errc::invalid_config, "message_request::serialized_body is not a JSON object");
        const auto before_close = body.find_last_not_of(space, last - 1);
        const bool has_members = before_close != first;
        body.insert(last, std::string(has_members ? "," : "") + (streaming ? "\"stream\":true" : "\"stream\":false"));
    }

    /// One opened response: the connection and a parser that has read the header.
    struct opened {
        lease conn;
        std::unique_ptr<response_parser> parser;
        response_info info;
        /// A reused connection was found closed: this request's later attempts connect anew.
        bool stale_found = false;
        /// The server answered before taking all of the request (write_and_read_header).
        bool request_sent = true;
    };

    /// Sends the request until a 200 header arrives or retrying is over, into `o` (the caller's:
    /// this frame waits through connects and backoffs, so it holds little itself). Retries are
    /// counted over the whole request: a stream reopened after failing before its first event
    /// goes on from the count its earlier attempts left in o.info.attempts.
    asio::awaitable<void> open(const prepared& p, const deadline& d, opened& o) {
        for (;;) {
            const unsigned retry = o.info.attempts++;  // retries before this attempt
            std::exception_ptr failure;
            std::optional<std::chrono::milliseconds> hint;
            bool retryable = false;
            bool stale_reuse = false;
            try {
                o.conn = co_await pool_->acquire(d, o.stale_found);
                const bool reused = o.conn->reused;
                o.parser = std::make_unique<response_parser>();
                o.parser->body_limit(boost::none);  // bounded by our own limits as we read
                const auto sent_at = clock::now();
                try {
                    o.request_sent = co_await write_and_read_header(*o.conn, p, o.parser, d);
                } catch (const client_error& e) {
                    // A kept-alive connection the server closed just as the request went out
                    // fails before any response byte, and at once: that is not an attempt, just
                    // a stale socket. Once per request: its later attempts take new connections,
                    // so a pool of sockets the server closed all at once costs one resend, not
                    // one per socket. A close that comes later came from a server that took the
                    // request and worked on it: sent again, it would be billed twice, so it is
                    // an attempt like any other (max_retries, backoff).
                    if (reused && !o.stale_found && e.code_value() == errc::connection_closed && !o.parser->got_some() &&
                        clock::now() - sent_at < stale_close_window)
                        stale_reuse = true;
                    throw;
                }
                take_header(o);
                if (o.info.http_status == 200) co_return;
                // An HTTP error: its (bounded) body says what went wrong.
                auto error = co_await read_error_response(o, d);
                failure = std::make_exception_ptr(error.error);
                retryable = error.retryable;
                hint = error.hint;
            } catch (const client_error& e) {
                retryable = retryable_failure(e);
                failure = std::current_exception();
            }
            // The failed attempt's connection is closed now, before any backoff: held, it would
            // count against max_connections_per_host while the retry waits for one.
            o.conn.release(false);
            if (stale_reuse) {
                --o.info.attempts;
                o.stale_found = true;
                continue;
            }
            co_await before_retry(p, d, o, retryable, retry, hint, failure);
        }
    }

    /// Whether a failed attempt (not an HTTP error) may be sent again: a connection failure or
    /// a step's timeout, not the request's own total.
    static bool retryable_failure(const client_error& e) {
        const auto k = e.kind();
        return k == error_kind::connection || (k == error_kind::timeout && e.code_value() != errc::total_timeout);
    }

    /// After failed attempt number `retry` (0: the first): rethrows `failure` if it may not be
    /// retried, else tells p.on_retry and waits the backoff.
    asio::awaitable<void> before_retry(const prepared& p, const deadline& d, const opened& o, bool retryable,
                                       unsigned retry, std::optional<std::chrono::milliseconds> hint,
                                       const std::exception_ptr& failure) {
        if (!retryable || retry >= cfg_.retry.max_retries || d.expired()) std::rethrow_exception(failure);
        auto delay = retry_delay(cfg_.retry, retry, hint, unit_random());
        if (clock::now() + delay >= d.total())
            std::rethrow_exception(failure);  // the wait alone would break the total timeout: report the real cause
        if (p.on_retry) p.on_retry(retry_notice{o.info.attempts, delay, what_of(failure)});
        co_await backoff(delay, d);
    }

    /// What the caller needs from a response header, taken into o.info.
    void take_header(opened& o) const {
        o.info.http_status = o.parser->status();
        o.info.request_id = from_server(header_of(*o.parser, "request-id"));
        o.info.limits = parse_rate_limits([&](std::string_view n) { return header_of(*o.parser, n); });
        // The fields would stay allocated for the whole stream (the parser keeps its own
        // framing state); an error response still needs them below.
        if (o.info.http_status == 200) o.parser->clear_headers();
    }

    struct error_response {
        client_error error;
        bool retryable = false;
        std::optional<std::chrono::milliseconds> hint;
    };

    /// Reads an HTTP error's bounded body and returns the connection to the pool.
    asio::awaitable<error_response> read_error_response(opened& o, const deadline& d) {
        std::string body;
        bool complete = false;
        try {
            complete = co_await read_body(o, body, cfg_.max_error_body_bytes, d, false);
        } catch (const client_error& e) {
            // A body cut short still leaves the status and headers, which say what went wrong
            // (a 401 is not a connection error) and when to retry; a cancellation is the caller's.
            if (e.code_value() == errc::cancelled) throw;
        }
        o.conn.release(complete && o.request_sent && o.parser->keep_alive());
        api_error_details details = from_server(parse_error_body(o.info, body));
        const errc code = errc_from_api(details.error_type, o.info.http_status);
        const bool retryable = should_retry_status(o.info.http_status, header_of(*o.parser, "x-should-retry"));
        co_return error_response{client_error(code, describe_api_error(details), details), retryable, o.info.limits.retry_after};
    }

    static std::string what_of(const std::exception_ptr& e) {
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            return x.what();
        }
    }

    /// The wait before a retry, cancellable like every step of the request.
    asio::awaitable<void> backoff(std::chrono::milliseconds delay, const deadline& d) {
        asio::steady_timer timer(co_await asio::this_coro::executor, delay);
        auto [ec] = co_await timer.async_wait(d.token(co_await asio::this_coro::cancellation_state));
        if (ec) throw client_error(errc::cancelled, "request cancelled during the backoff before a retry");
    }

    /// Sends the request and reads the final response's header. Returns false when the server
    /// answered before taking the whole request (the connection cannot carry another one).
    asio::awaitable<bool> write_and_read_header(connection& c, const prepared& p, std::unique_ptr<response_parser>& parser,
                                                const deadline& d) {
        // One step from sending to the end of the header, however many reads it takes.
        const auto step_end = deadline::step_end(cfg_.response_header_timeout);
        errc code = d.arm(c, step_end, errc::response_header_timeout, co_await asio::this_coro::executor);
        const auto own = co_await asio::this_coro::cancellation_state;
        std::tuple<boost::system::error_code, std::size_t> written;
        if (c.plain()) written = co_await asio::async_write(c.tcp(), p.buffers(), d.token(own));
        else written = co_await asio::async_write(std::get<tls_stream>(c.stream), p.tls_buffers(), d.token(own));
        auto [wec, wn] = written;
        wec = c.watchdog.finish(wec);
        if (wec) {
            // A server may answer before it has read the whole request, refusing it (a 413 for a
            // body too large), and close: the send then fails (EPIPE, ECONNRESET) with that answer
            // already in the receive buffer. The answer says what went wrong and whether to retry;
            // the send's error would have been retried as a dropped connection, body and all.
            bool answered = false;
            if (wec == asio::error::broken_pipe || wec == asio::error::connection_reset)
                answered = co_await read_early_answer(c, parser, d, step_end);
            if (answered) co_return false;
            throw_transport_error(wec, code, "sending request", pool_->url());
        }
        co_await read_final_header(c, parser, d, step_end);
        co_return true;
    }

    asio::awaitable<void> read_final_header(connection& c, std::unique_ptr<response_parser>& parser, const deadline& d,
                                            clock::time_point step_end) {
        for (;;) {
            while (!parser->is_header_done())
                co_await read_some(c, *parser, d, step_end, errc::response_header_timeout, "reading response header");
            // An interim response (100 Continue, 103 Early Hints) comes before the real one, which
            // a client must read on (RFC 9110 §15.2). Taken for the answer, it failed the request
            // and left the real response on the connection for the next request to read.
            const int status = parser->status();
            if (status / 100 != 1 || status == 101) break;
            parser = std::make_unique<response_parser>();  // what follows it is kept unparsed
            parser->body_limit(boost::none);
        }
    }

    /// After a send the server cut short: whether it left a final answer other than success
    /// (which, the request being incomplete, could not be one).
    asio::awaitable<bool> read_early_answer(connection& c, std::unique_ptr<response_parser>& parser, const deadline& d,
                                            clock::time_point step_end) {
        bool answered = false;
        try {
            co_await read_final_header(c, parser, d, step_end);
            answered = parser->status() / 100 != 2;
        } catch (const client_error& e) {
            if (e.code_value() == errc::cancelled) throw;  // the caller's, not the server's
        }
        co_return answered;
    }

    /// Reads up to `limit` body bytes into `out`. Returns whether the body ended. With
    /// `must_fit`, a longer body is an error; otherwise it is truncated (and the connection
    /// must then not be reused).
    asio::awaitable<bool> read_body(opened& o, std::string& out, std::size_t limit, const deadline& d, bool must_fit) {
        string_sink sink(limit);
        o.parser->set_sink(&sink);
        struct detach {
            response_parser& p;
            ~detach() { p.set_sink(nullptr); }
        } guard{*o.parser};
        while (!o.parser->is_done() && !sink.overflowed) co_await read_body_some(*o.conn, *o.parser, d);
        if (sink.overflowed && must_fit)
            throw client_error(errc::body_too_large, "response body exceeds " + std::to_string(limit) + " bytes");
        out = std::move(sink.text);
        co_return !sink.overflowed;
    }

    /// One read step of a body, bounded by the stream idle timeout. The decoded bytes go to
    /// the parser's body sink.
    asio::awaitable<void> read_body_some(connection& c, response_parser& parser, const deadline& d) {
        return read_some(c, parser, d, deadline::step_end(cfg_.stream_idle_timeout), errc::stream_idle_timeout,
                         "reading response body");
    }

    /// Reads until the parser has made progress. Until the header is complete nothing past it
    /// is parsed: the body must wait until its sink is attached.
    asio::awaitable<void> read_some(connection& c, response_parser& parser, const deadline& d,
                                    clock::time_point step_end, errc step_code, const char* during) {
        while (!read_now(c, parser, during)) {
            if (!c.plain()) {
                co_await wait_for_tls_bytes(c, parser, d, step_end, step_code, during);
                continue;
            }
            const errc code = d.arm_input_wait(c, step_end, step_code, co_await asio::this_coro::executor);
            auto [ec] = co_await async_wait_for_input(c.tcp(), c.input_left, d.token(co_await asio::this_coro::cancellation_state));
            became_readable(c, ec, code, during, d.cancel_requested(co_await asio::this_coro::cancellation_state));
        }
    }

    /// What can be done without waiting: parse the bytes the connection holds, else (plain
    /// connections) read what the socket has. Returns false if nothing could be done.
    ///
    /// Bytes already read are parsed here and now. Beast's async_read_some would parse them
    /// too, but then post its completion behind every other ready handler: with thousands of
    /// streams that queueing, not parsing, was most of a delta's delivery time.
    bool read_now(connection& c, response_parser& parser, const char* during) {
        if (c.plain()) return read_plain_now(c, parser, during);
        if (c.buffer.size() == 0) return false;
        const auto used = parse(parser, c.buffer.data(), during);
        c.buffer.consume(used);
        // Bytes the parser cannot use are part of one line, as on a plain connection (whose
        // bound this is): a chunk-size line that never ends must not grow the buffer unbounded.
        if (used == 0 && !parser.is_done() && c.buffer.size() > max_line_bytes) throw_line_too_long(during);
        return used > 0 || parser.is_done();
    }

    /// Longest line a response may hold unparsed (Beast bounds the header itself at 8 KiB).
    static constexpr std::size_t max_line_bytes = 8 * 1024;
    [[noreturn]] static void throw_line_too_long(const char* during) {
        throw client_error(errc::http_protocol_error, std::string("malformed response: a line longer than 8 KiB while ") + during);
    }

    /// A plain connection keeps no read buffer of its own: once the socket is readable, what it
    /// holds is read into a buffer shared by the thread and parsed at once. Only what the parser
    /// cannot use yet is kept (c.leftover): usually the CRLF that ends a chunk, which Beast takes
    /// together with the next chunk's size line; after a header, the body bytes that came with
    /// it. One read takes up to 16 KiB instead of Beast's 512-byte steps, and 10,000 waiting
    /// streams hold no buffers.
    bool read_plain_now(connection& c, response_parser& parser, const char* during) {
        if (!c.leftover.empty()) {
            const auto used = parse(parser, asio::buffer(c.leftover), during);
            if (used > 0) keep_leftover(c, std::string_view(c.leftover).substr(used));
            if (used > 0 || parser.is_done()) return true;
        }
        if (c.drained) return false;
        thread_local std::array<char, 16 * 1024> scratch;
        // What is kept and still unusable is part of one line (a header or a chunk's size line):
        // Beast bounds the header; a longer chunk line is no response Anthropic sends.
        static_assert(2 * max_line_bytes <= scratch.size(), "room for a kept line and a read");
        const std::size_t kept = c.leftover.size();
        if (kept > max_line_bytes) throw_line_too_long(during);
        std::memcpy(scratch.data(), c.leftover.data(), kept);
        boost::system::error_code ec;
        const std::size_t n =
            std::get<tcp_socket>(c.stream).read_some(asio::buffer(scratch.data() + kept, scratch.size() - kept), ec);  // non-blocking
        // The next read waits for readiness again, even after a full buffer: that wait is where a
        // stream with a lot to read lets the thousands of others have their turn. After a full
        // buffer the input left raises no edge: that wait re-arms the socket (edge_wait.hpp).
        c.drained = true;
        c.input_left = n == scratch.size() - kept;
        if (ec == asio::error::would_block || ec == asio::error::try_again) return false;
        if (ec == asio::error::eof) return end_of_input(parser, during);
        if (ec) throw_transport_error(ec, errc::connection_closed, during, pool_->url());
        const std::string_view all(scratch.data(), kept + n);
        keep_leftover(c, all.substr(parse(parser, asio::buffer(all.data(), all.size()), during)));
        return true;
    }

    /// Keeps `rest` as the connection's leftover. The usual two bytes fit in the string itself;
    /// a larger buffer (the body behind a header) is not kept once it is mostly used: it goes
    /// back to the thread's spares, where the next one comes from.
    static void keep_leftover(connection& c, std::string_view rest) {
        if (rest.size() <= c.leftover.capacity() && c.leftover.capacity() <= std::max<std::size_t>(15, 2 * rest.size())) {
            c.leftover.assign(rest);
            return;
        }
        std::string next;
        if (rest.size() > next.capacity()) spare_buffers<std::string>::take(next, rest.size());
        next.assign(rest);  // before the old buffer goes: `rest` may lie in it
        spare_buffers<std::string>::give(c.leftover);
        c.leftover.swap(next);
    }

    /// Ends a plain connection's wait for readability (the wait is written out in each caller:
    /// a coroutine of its own would add a frame to every waiting stream). `cancel_requested`:
    /// deadline::cancel_requested() for the waiting coroutine.
    void became_readable(connection& c, boost::system::error_code ec, errc timeout_code, const char* during,
                         bool cancel_requested) const {
        ec = c.watchdog.finish(ec);
        // Cancelled, but nobody asked: the watchdog's probe for input without an edge did, for this
        // wait or, on a thread pool without strands, for the one before it, which ended just as
        // the probe looked. Either way a read finds the input, or nothing and the step waits on.
        if (ec == asio::error::operation_aborted && !cancel_requested && c.tcp().is_open()) ec = {};
        if (ec) throw_transport_error(ec, timeout_code, during, pool_->url());
        c.drained = false;
    }

    /// Waits, within the step's deadline, until a TLS stream's next decrypted bytes land in the
    /// connection's buffer.
    asio::awaitable<void> wait_for_tls_bytes(connection& c, response_parser& parser, const deadline& d,
                                             clock::time_point step_end, errc step_code, const char* during) {
        const errc code = d.arm(c, step_end, step_code, co_await asio::this_coro::executor);
        auto& tls = std::get<tls_stream>(c.stream);
        const auto own = co_await asio::this_coro::cancellation_state;
        auto [ec, n] = co_await tls.async_read_some(c.buffer.prepare(std::max<std::size_t>(512, c.buffer.capacity() - c.buffer.size())),
                                                    d.token(own));
        ec = c.watchdog.finish(ec);
        c.buffer.commit(n);
        if (ec == asio::error::eof && end_of_input(parser, during)) co_return;
        if (ec) throw_transport_error(ec, code, during, pool_->url());
    }

    /// The peer closed its side: as Beast decides, that ends a body delimited by the close;
    /// anything else was cut off.
    bool end_of_input(response_parser& parser, const char* during) const {
        boost::system::error_code ec = http::error::end_of_stream;
        if (parser.got_some()) parser.put_eof(ec);
        if (ec) throw_transport_error(ec, errc::connection_closed, during, pool_->url());
        return true;
    }

    /// Feeds `bytes` to the parser for as long as it makes progress; returns how many it used.
    /// Stops at the end of the header, so the body is only parsed once its sink is attached.
    std::size_t parse(response_parser& parser, asio::const_buffer bytes, const char* during) const {
        std::size_t total = 0;
        const bool header_only = !parser.is_header_done();
        while (bytes.size() > 0 && !parser.is_done()) {
            boost::system::error_code ec;
            const auto used = parser.put(bytes, ec);
            bytes += used;  // counts even with need_more: a status line can be taken alone
            total += used;
            if (ec == http::error::need_more) break;
            if (ec) throw_transport_error(ec, errc::connection_closed, during, pool_->url());
            if (used == 0) break;
            if (header_only && parser.is_header_done()) break;
        }
        return total;
    }

    static api_error_details parse_error_body(const response_info& info, std::string_view body) {
        api_error_details d;
        d.http_status = info.http_status;
        d.request_id = info.request_id;
        std::error_code ec;
        auto v = json::parse(body, ec);
        if (!ec && v.is_object()) {
            if (auto* e = v.get_object().if_contains("error"); e && e->is_object()) {
                if (auto* t = e->get_object().if_contains("type"); t && t->is_string()) d.error_type = t->get_string();
                if (auto* m = e->get_object().if_contains("message"); m && m->is_string()) d.message = m->get_string();
            }
            if (d.request_id.empty())
                if (auto* r = v.get_object().if_contains("request_id"); r && r->is_string()) d.request_id = r->get_string();
        }
        if (d.message.empty()) d.message = body.empty() ? "(empty body)" : "(body is not an API error object)";
        return d;
    }

    /// Text a server sent, made fit for an error: one line (a request id or message with line
    /// breaks would break log lines) and without the API key (a gateway may quote the key it
    /// refused, and callers print errors as they are).
    std::string from_server(std::string_view text) const {
        // The key first: flattening could split a key that holds a tab.
        std::string in = redact_key(std::string(text), cfg_.api_key);
        std::size_t out = 0;  // rewritten in place: a line break never becomes longer
        for (std::size_t i = 0; i < in.size(); ++i) {
            const auto c = static_cast<unsigned char>(in[i]);
            // NEL (C2 85), LINE and PARAGRAPH SEPARATOR (E2 80 A8/A9) break lines too.
            const std::size_t unicode_break = c == 0xC2 && i + 1 < in.size() && static_cast<unsigned char>(in[i + 1]) == 0x85 ? 2
                                              : c == 0xE2 && i + 2 < in.size() && static_cast<unsigned char>(in[i + 1]) == 0x80 &&
                                                        (static_cast<unsigned char>(in[i + 2]) == 0xA8 ||
                                                         static_cast<unsigned char>(in[i + 2]) == 0xA9)
                                                  ? 3
                                                  : 0;
            if (unicode_break) {
                in[out++] = ' ';
                i += unicode_break - 1;
            } else {
                in[out++] = c < 0x20 || c == 0x7f ? ' ' : static_cast<char>(c);
            }
        }
        in.resize(out);
        return in;
    }
    api_error_details from_server(api_error_details d) const {
        d.error_type = from_server(d.error_type);
        d.message = from_server(d.message);
        d.request_id = from_server(d.request_id);
        return d;
    }

    static std::string describe_api_error(const api_error_details& d) {
        std::string s = "API error";
        if (d.http_status) s += " " + std::to_string(d.http_status);
        if (!d.error_type.empty()) s += " " + d.error_type;
        s += ": " + d.message;
        if (!d.request_id.empty()) s += " (request-id: " + d.request_id + ")";
        return s;
    }

    asio::awaitable<message> create(message_request r) {
        try {
            const deadline d(cfg_.total_timeout, r.cancel_slot);
            const auto p = prepare(std::move(r), false);
            opened o;
            co_await open(p, d, o);
            std::string body;
            co_await read_body(o, body, cfg_.max_body_bytes, d, true);
            o.conn.release(o.parser->keep_alive());
            std::error_code ec;
            auto v = json::parse(body, ec);
            if (ec || !v.is_object())
                throw client_error(errc::invalid_json, "response body is not a JSON object" +
                                                           (o.info.request_id.empty() ? std::string() : " (request-id: " + o.info.request_id + ")"));
            co_return message(std::move(v.get_object()));
        } catch (...) {
            rethrow_as_client_error(std::current_exception());
        }
    }

    std::shared_ptr<connection_pool> pool() const { return pool_; }

private:
    /// A header value with a line break would let it add header lines of its own.
    static void require_header_value(std::string_view what, std::string_view value) {
        if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos)
            throw client_error(errc::invalid_config, std::string(what) + " contains a line break or NUL");
    }

    asio::any_io_executor executor_;
    client_config cfg_;
    std::shared_ptr<connection_pool> pool_;
    std::string head_;  // the request line and the headers every request carries
};

/// Everything one streaming response needs; it keeps the client state alive.
class stream_state final : public body_sink {
public:
    /// Made once the request is open (`o` holds a 200 header): a stream waiting to connect or
    /// for its header, as thousands do at once when a server is slow to accept them, holds only
    /// the request and its connection, not the parser, queue and message of a stream that reads.
    stream_state(std::shared_ptr<client_impl> client, client_impl::prepared p, deadline d, client_impl::opened o)
        : client_(std::move(client)),
          prepared_(std::move(p)),
          deadline_(d),
          o_(std::move(o)),
          sse_(client_->config().max_event_bytes) {
        opened();
    }
    ~stream_state() {
        spare_buffers<std::vector<stream_event>>::give(queue_);
        spare_buffers<std::string>::give(raw_);
    }
    stream_state(const stream_state&) = delete;
    stream_state& operator=(const stream_state&) = delete;

    /// Sends the request again (no frame of its own: the client's open() fills o_). Then call
    /// opened().
    asio::awaitable<void> open() { return client_->open(prepared_, deadline_, o_); }
    void opened() {
        o_.parser->set_sink(this);  // body bytes go straight into the SSE parser
        deadline_.begin_stream(client_->config().stream_total_timeout);
    }

    void on_body(std::string_view piece) override {
        received_at_ = std::chrono::steady_clock::now();  // one clock read per piece, not per event
        feed(piece);
    }

    asio::awaitable<std::optional<stream_event>> next() {
        // The common case, an event already parsed, costs no second coroutine frame.
        if (head_ < queue_.size()) co_return pop_event();
        std::exception_ptr failure;
        try {
            if (co_await fill()) co_return pop_event();
            co_return std::nullopt;
        } catch (...) {
            failure = std::current_exception();
        }
        std::rethrow_exception(failed(failure));
    }

    /// Delivers every remaining event to `on_event`: one coroutine for the whole stream, where
    /// next() is one per event.
    asio::awaitable<void> read_all(std::function<void(const stream_event&)> on_event) {
        std::exception_ptr failure;
        bool callers = false;  // thrown by on_event: passed on as it is, whatever its type
        try {
            for (;;) {
                while (head_ < queue_.size()) {
                    const stream_event& ev = queue_[head_];
                    before_delivery();
                    try {
                        on_event(ev);
                    } catch (...) {
                        callers = true;
                        throw;
                    }
                    delivered();
                }
                if (!co_await fill()) co_return;
            }
        } catch (...) {
            failure = std::current_exception();
        }
        std::rethrow_exception(failed(failure, callers));
    }

    stream_event pop_event() {
        before_delivery();
        stream_event ev = std::move(queue_[head_]);
        if (ev.borrowed_) {  // it outlives the buffer: own the payload
            ev.text_.assign(ev.payload());
            ev.borrowed_ = false;
        }
        delivered();
        return ev;
    }

    void before_delivery() {
        if (delivered_ == 0) {
            // From the first delivered event on, the request can never be sent again: free it
            // (it holds the whole serialized conversation). Swapped, not assigned: assigning
            // an empty string keeps the old capacity.
            std::string().swap(prepared_.body);
            std::string().swap(prepared_.head);
        }
    }

    /// The event at head_ has been delivered.
    void delivered() {
        if (++head_ == queue_.size()) {
            last_burst_ = queue_.size();
            queue_.clear();  // keeps its capacity: steady-state delivery does not allocate
            // So does raw_, unless it outgrew a few small events: a reply's head (its
            // message_start) needs far more than the deltas after it, and thousands of slow
            // streams would each hold that room.
            if (raw_.capacity() > 256) spare_buffers<std::string>::give(raw_);
            else raw_.clear();
            head_ = 0;
        }
        ++delivered_;
    }

    /// Whatever went wrong, this connection is in an unknown state: close it. Returns what to
    /// throw: a client_error with the message so far (the caller's own exceptions as they are).
    /// Later reads throw it again: a stream that failed must not look like one that ended.
    std::exception_ptr failed(std::exception_ptr e, bool callers = false) {
        finished_ = true;
        o_.conn.release(false);
        if (failure_) return failure_;  // a later read rethrew it: the same failure, as it was
        if (callers) {
            // A system_error of the caller's is no connection failure. What was queued behind
            // the event it threw on is not delivered (nor that event again).
            queue_.clear();
            head_ = 0;
            return failure_ = e;
        }
        try {
            rethrow_as_client_error(e);
        } catch (const client_error& ce) {
            if (ce.partial_message() || !acc_.started()) failure_ = std::current_exception();
            else
                failure_ = std::make_exception_ptr(
                    client_error(ce.code_value(), ce.what(), ce.api(), std::make_shared<message>(acc_.current())));
        } catch (...) {
            failure_ = std::current_exception();
        }
        return failure_;
    }

    /// Reads until an event is queued (true) or the stream has ended (false).
    asio::awaitable<bool> fill() {
        for (;;) {
            if (head_ < queue_.size()) co_return true;
            if (pending_error_) std::rethrow_exception(std::exchange(pending_error_, nullptr));
            if (failure_) std::rethrow_exception(failure_);
            if (finished_) co_return false;
            if (acc_.stop_received()) {
                co_await drain();
                co_return false;
            }
            if (o_.parser->is_done()) {
                // The body ended without message_stop.
                sse_.finish();
                finished_ = true;
                o_.conn.release(o_.parser->keep_alive());
                throw client_error(errc::incomplete_stream, "stream ended without message_stop" + request_id_suffix(),
                                   std::nullopt, std::make_shared<message>(acc_.current()));
            }
            std::exception_ptr retry_after;
            try {
                // Events land in queue_ via on_body. The common case waits in this frame.
                constexpr const char* during = "reading response body";
                if (!client_->read_now(*o_.conn, *o_.parser, during)) {
                    // A waiting stream keeps room for about its last read's events, not for a
                    // burst it had once (the head of a reply is several events, and a slow
                    // server may take long to send the first delta after it): thousands of slow
                    // streams would each hold that room. A stream that gets bursts keeps it.
                    if (head_ == queue_.size() && queue_.capacity() > std::max<std::size_t>(2, 2 * last_burst_)) {
                        spare_buffers<std::vector<stream_event>>::give(queue_);
                        spare_buffers<std::string>::give(raw_);
                        head_ = 0;
                    }
                    const auto step_end = deadline::step_end(client_->config().stream_idle_timeout);
                    if (o_.conn->plain()) {
                        const errc code =
                            deadline_.arm_input_wait(*o_.conn, step_end, errc::stream_idle_timeout, co_await asio::this_coro::executor);
                        auto [ec] = co_await async_wait_for_input(o_.conn->tcp(), o_.conn->input_left,
                                                                  deadline_.token(co_await asio::this_coro::cancellation_state));
                        client_->became_readable(*o_.conn, ec, code, during,
                                                 deadline_.cancel_requested(co_await asio::this_coro::cancellation_state));
                    } else {
                        co_await client_->wait_for_tls_bytes(*o_.conn, *o_.parser, deadline_, step_end, errc::stream_idle_timeout, during);
                    }
                }
            } catch (const client_error& e) {
                // Nothing has reached the caller yet, so sending the request again is safe.
                if (delivered_ == 0 && head_ == queue_.size() && !acc_.started() && client_impl::retryable_failure(e))
                    retry_after = std::current_exception();
                else throw;
            }
            if (retry_after) {
                co_await reopen(retry_after);
                continue;
            }
        }
    }

    const message& current() const noexcept { return acc_.current(); }
    message release_message() noexcept { return std::move(acc_.current()); }
    const response_info& response() const noexcept { return o_.info; }
    bool done() const noexcept { return finished_; }
    void close() noexcept {
        finished_ = true;
        o_.conn.release(false);
    }
    asio::any_io_executor executor() const noexcept { return client_->executor(); }

private:
    std::string request_id_suffix() const {
        return o_.info.request_id.empty() ? std::string() : " (request-id: " + o_.info.request_id + ")";
    }

    /// Sends the request again after `failure`, which came before any event: within the
    /// request's retries and total timeout, which bound the new attempt as they bounded the
    /// first (the stream's own bound starts again at its new header).
    asio::awaitable<void> reopen(std::exception_ptr failure) {
        o_.conn.release(false);
        deadline_.reopen();
        co_await client_->before_retry(prepared_, deadline_, o_, true, o_.info.attempts - 1, std::nullopt, failure);
        sse_ = sse_parser(client_->config().max_event_bytes);
        acc_ = message_accumulator();
        body_bytes_ = 0;  // the failed attempt's bytes are no part of this one
        co_await open();
        opened();
    }

    void feed(std::string_view bytes) {
        if (pending_error_) return;  // nothing after a failure is delivered
        // A stream is as long as its generation, which max_tokens bounds; a server that never
        // stops (never quiet long enough for stream_idle_timeout) must not grow the message
        // until the process runs out of memory.
        body_bytes_ += bytes.size();
        if (body_bytes_ > client_->config().max_body_bytes) {
            pending_error_ = std::make_exception_ptr(client_error(
                errc::body_too_large,
                "the stream exceeds max_body_bytes (" + std::to_string(client_->config().max_body_bytes) + " bytes)" +
                    request_id_suffix(),
                std::nullopt, std::make_shared<message>(acc_.current())));
            return;
        }
        // Room for the events these bytes may hold (a text delta takes some 120 bytes on the
        // wire) at once, rather than a doubling at a time. A read that brought several chunks
        // feeds them one by one while the first ones' events still wait: then the queue at
        // least doubles, or each chunk would move every event queued before it.
        if (const std::size_t room = queue_.size() + bytes.size() / 96 + 1; queue_.capacity() < room) {
            if (queue_.empty()) {  // a spare one of this thread's, if it has one
                spare_buffers<std::vector<stream_event>>::give(queue_);
                spare_buffers<std::vector<stream_event>>::take(queue_, room);
            }
            if (queue_.capacity() < room) queue_.reserve(std::max(room, 2 * queue_.capacity()));
        }
        thread_local std::string decoded;  // a text with escapes, decoded; lend() copies it at once
        // The hottest path: a whole SSE block that is a text delta in the API's own form, read in
        // one pass without splitting its lines first.
        auto take_text_delta_block = [&](std::string_view block) -> std::size_t {
            if (pending_error_) return 0;
            std::size_t index = 0;
            std::string_view text;
            const std::size_t taken = detail::scan_text_delta_block(block, index, text, decoded);
            if (taken == 0 || !acc_.try_apply_text(index, text)) return 0;
            queue_text_delta(index, text);
            return taken;
        };
        auto ec = sse_.feed(bytes, [&](const sse_event& ev) {
            if (pending_error_) return;  // nothing after a failure is delivered
            // The hot paths: a plain text delta, and the events that are nothing but their type,
            // are read without building a JSON tree.
            // `event: message` names SSE's default type, as no `event:` line does: the data's
            // "type" then says what the event is.
            const std::string_view type = ev.type == "message" ? std::string_view() : ev.type;
            std::size_t index = 0;
            std::string_view text;
            if ((type == "content_block_delta" || type.empty()) && acc_.try_apply_text_delta(ev.data, index, text, decoded)) {
                queue_text_delta(index, text);
                return;
            }
            stream_event& out = queue_.emplace_back();
            out.received_at = received_at_;
            if (acc_.try_apply_bare_event(type, ev.data, out.kind, out.index)) {
                out.form_ = stream_event::form::raw;
                lend(out, ev.data);
                return;
            }
            // Any other event is parsed once for the accumulator. A delta's tree is kept (text()
            // reads a thinking delta's text from it); the few other events of a reply are parsed
            // into a scratch arena, the message copies what it keeps, and the event keeps its
            // JSON text for data().
            const bool keep_tree = type.empty() || type == "content_block_delta";
            unsigned char arena_block[2048];
            json::monotonic_resource arena(arena_block, sizeof arena_block);
            const json::storage_ptr storage = keep_tree ? json::storage_ptr() : json::storage_ptr(&arena);
            json::value scratch(storage);  // same storage as the parse: the tree is moved in, not copied
            json::value& tree = keep_tree ? out.data_.emplace() : scratch;
            // A message_start's tree is not needed here: the accumulator then builds the reply
            // from it in place.
            auto aec = acc_.apply(type, ev.data, &out.kind, type == "message_start" ? nullptr : &tree, storage);
            if (!keep_tree && !aec) {
                out.form_ = stream_event::form::raw;
                lend(out, ev.data);
            }
            if (aec) {
                queue_.pop_back();
                pending_error_ = std::make_exception_ptr(client_error(
                    static_cast<errc>(aec.value()), std::string(make_error_code(static_cast<errc>(aec.value())).message()) +
                                                       ": " + client_->from_server(acc_.last_error_detail()) + request_id_suffix(),
                    std::nullopt, std::make_shared<message>(acc_.current())));
                return;
            }
            if (out.kind == stream_event_kind::error) {
                queue_.pop_back();
                auto details = client_->from_server(*acc_.stream_error());
                if (details.request_id.empty()) details.request_id = o_.info.request_id;
                const errc code = errc_from_api(details.error_type, 0);
                pending_error_ = std::make_exception_ptr(client_error(code, client_impl::describe_api_error(details), details,
                                                                      std::make_shared<message>(acc_.current())));
                return;
            }
            if (auto* o = tree.if_object()) {
                if (auto* i = o->if_contains("index"); i && (i->is_int64() || i->is_uint64()))
                    out.index = static_cast<std::size_t>(i->to_number<std::int64_t>());
                if (out.kind == stream_event_kind::content_block_delta)
                    if (auto* d = o->if_contains("delta"); d && d->is_object())
                        if (auto* t = d->get_object().if_contains("type"); t && t->is_string())
                            out.text_delta_ = t->get_string() == "text_delta";
            }
        }, take_text_delta_block);
        if (ec && !pending_error_)
            pending_error_ = std::make_exception_ptr(client_error(errc::event_too_large,
                                                                  "server-sent event exceeds " +
                                                                      std::to_string(client_->config().max_event_bytes) + " bytes" + request_id_suffix(),
                                                                  std::nullopt, std::make_shared<message>(acc_.current())));
    }

    /// Queues a text delta the accumulator has taken.
    void queue_text_delta(std::size_t index, std::string_view text) {
        stream_event& out = queue_.emplace_back();
        out.received_at = received_at_;
        out.kind = stream_event_kind::content_block_delta;
        out.index = index;
        out.text_delta_ = true;
        out.form_ = stream_event::form::fast_delta;
        lend(out, text);
    }

    /// Gives `out` its payload: a piece of raw_, the one buffer of all the queued events, as
    /// long as they are only lent to read_all()'s callback (pop_event() gives them a copy).
    void lend(stream_event& out, std::string_view payload) {
        // A short payload fits in the event's own string without an allocation (15 bytes is
        // the smallest small-string room of the standard libraries); one past what an offset
        // can say gets a copy of its own.
        if (payload.size() <= 15 || raw_.size() + payload.size() > std::numeric_limits<std::uint32_t>::max()) {
            out.text_.append(payload);  // a new event: its text is empty
            return;
        }
        if (raw_.empty() && raw_.capacity() < payload.size())  // room for the few events of a reply's head
            spare_buffers<std::string>::take(raw_, std::max<std::size_t>(payload.size(), 512));
        out.buffer_ = &raw_;
        out.offset_ = static_cast<std::uint32_t>(raw_.size());
        out.size_ = static_cast<std::uint32_t>(payload.size());
        out.borrowed_ = true;
        raw_.append(payload);
    }

    /// After message_stop: read the end of the body so the connection can be reused. The
    /// message is complete, so the caller does not wait long for that: a server slow to end the
    /// body costs its connection, not the caller's time.
    asio::awaitable<void> drain() {
        finished_ = true;
        try {
            discard_sink rest;  // only the framing's end is expected; a large remainder is not worth reading
            o_.parser->set_sink(&rest);
            constexpr std::chrono::milliseconds grace{1000};
            const auto idle = client_->config().stream_idle_timeout;
            const auto step = idle.count() > 0 ? std::min(idle, grace) : grace;
            while (!o_.parser->is_done() && rest.bytes < 64 * 1024)
                co_await client_->read_some(*o_.conn, *o_.parser, deadline_, deadline::step_end(step), errc::stream_idle_timeout,
                                            "reading the end of the response body");
            o_.parser->set_sink(nullptr);
            o_.conn.release(o_.parser->is_done() && o_.parser->keep_alive());
        } catch (const client_error&) {
            o_.parser->set_sink(nullptr);
            o_.conn.release(false);  // the message is complete; only the connection is lost
        }
    }

    std::shared_ptr<client_impl> client_;
    client_impl::prepared prepared_;
    deadline deadline_;
    client_impl::opened o_;  // the connection, its parser, what the header said
    sse_parser sse_;
    message_accumulator acc_;
    std::vector<stream_event> queue_;  // events parsed but not yet delivered, from head_ on
    std::string raw_;                  // the payloads of queue_'s borrowed events
    std::size_t last_burst_ = 0;       // how many events the queue held when it last ran empty
    std::chrono::steady_clock::time_point received_at_{};
    std::size_t head_ = 0;
    std::size_t body_bytes_ = 0;  // the stream's body so far, bounded by max_body_bytes
    std::exception_ptr pending_error_;
    std::exception_ptr failure_;  // what ended the stream, thrown again by any later read
    std::size_t delivered_ = 0;
    bool finished_ = false;
};

}  // namespace detail

// ---- public surface ----

std::string_view stream_event::text() const noexcept {
    if (form_ == form::fast_delta) return payload();
    const auto* o = data_ ? data_->if_object() : nullptr;
    if (!o) return {};
    const auto* d = o->if_contains("delta");
    if (!d || !d->is_object()) return {};
    for (const char* key : {"text", "thinking"})
        if (auto* t = d->get_object().if_contains(key); t && t->is_string()) return t->get_string();
    return {};
}

std::string_view stream_event::payload() const noexcept {
    if (borrowed_) return std::string_view(*buffer_).substr(offset_, size_);
    return text_;
}

stream_event::stream_event(const stream_event& other)
    : kind(other.kind),
      index(other.index),
      received_at(other.received_at),
      text_(other.payload()),
      data_(other.data_),
      text_delta_(other.text_delta_),
      form_(other.form_) {}

stream_event& stream_event::operator=(const stream_event& other) {
    if (this != &other) *this = stream_event(other);
    return *this;
}

const boost::json::value& stream_event::data() const {
    if (data_) return *data_;
    if (form_ == form::raw) {
        data_ = boost::json::parse(payload());  // it parsed once already
    } else if (form_ == form::fast_delta) {
        boost::json::object delta{{"type", "text_delta"}, {"text", payload()}};
        boost::json::object ev{{"type", "content_block_delta"}, {"index", static_cast<std::int64_t>(index)}};  // as a parser stores it
        ev["delta"] = std::move(delta);
        data_ = std::move(ev);
    } else {
        data_.emplace();  // an event built without a tree (a default one): null
    }
    return *data_;
}

message_stream::message_stream(std::unique_ptr<detail::stream_state> state) noexcept : state_(std::move(state)) {}
message_stream::message_stream() noexcept = default;
message_stream::message_stream(message_stream&&) noexcept = default;
message_stream& message_stream::operator=(message_stream&&) noexcept = default;
message_stream::~message_stream() = default;

boost::asio::awaitable<std::optional<stream_event>> message_stream::next() {
    if (!state_) throw client_error(errc::invalid_config, "next() on an empty message_stream");
    return state_->next();
}
boost::asio::awaitable<void> message_stream::read_all(std::function<void(const stream_event&)> on_event) {
    if (!state_) throw client_error(errc::invalid_config, "read_all() on an empty message_stream");
    return state_->read_all(std::move(on_event));  // no frame of its own
}
const message& message_stream::current() const noexcept {
    static const message empty;
    return state_ ? state_->current() : empty;
}
message message_stream::release_message() noexcept {
    return state_ ? state_->release_message() : message();
}
const response_info& message_stream::response() const noexcept {
    static const response_info empty;
    return state_ ? state_->response() : empty;
}
bool message_stream::done() const noexcept { return !state_ || state_->done(); }
void message_stream::close() noexcept {
    if (state_) state_->close();
}
boost::asio::any_io_executor message_stream::executor() const noexcept {
    return state_ ? state_->executor() : boost::asio::any_io_executor();
}

claude_client::claude_client(boost::asio::any_io_executor executor, client_config config)
    : impl_(std::make_shared<detail::client_impl>(std::move(executor), std::move(config))) {}
claude_client::~claude_client() = default;

const client_config& claude_client::config() const noexcept { return impl_->config(); }
boost::asio::any_io_executor claude_client::executor() const noexcept { return impl_->executor(); }
pool_stats claude_client::stats() const { return impl_->stats(); }
std::size_t claude_client::prune_idle_connections() { return impl_->close_idle(false); }
std::size_t claude_client::close_idle_connections() { return impl_->close_idle(true); }

boost::asio::awaitable<message> claude_client::create_message(message_request request) {
    return create_with(impl_, std::move(request));  // the operation keeps the client state alive
}

boost::asio::awaitable<message_stream> claude_client::stream_message(message_request request) {
    return stream_with(impl_, std::move(request));
}

boost::asio::awaitable<message> claude_client::create_with(std::shared_ptr<detail::client_impl> impl,
                                                           message_request request) {
    co_return co_await impl->create(std::move(request));
}

boost::asio::awaitable<message_stream> claude_client::stream_with(std::shared_ptr<detail::client_impl> impl,
                                                                   message_request request) {
    try {
        const detail::deadline d(impl->config().total_timeout, request.cancel_slot);
        auto prepared = impl->prepare(std::move(request), true);
        detail::client_impl::opened o;
        co_await impl->open(prepared, d, o);
        co_return message_stream(std::make_unique<detail::stream_state>(impl, std::move(prepared), d, std::move(o)));
    } catch (...) {
        detail::rethrow_as_client_error(std::current_exception());
    }
}

}  // namespace engram::net
