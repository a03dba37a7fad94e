#include "transport.hpp"

#include "edge_wait.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>

namespace engram::net::detail {

connection::connection(asio::any_io_executor ex, asio::ssl::context* tls, std::shared_ptr<watchdog_wheel> wheel)
    : stream(tls ? decltype(stream)(std::in_place_type<tls_stream>, ex, *tls)
                 : decltype(stream)(std::in_place_type<tcp_socket>, ex)),
      watchdog(wheel ? std::move(wheel) : std::make_shared<watchdog_wheel>(ex), tcp()) {
    // TLS records arrive decrypted in pieces: reading them 512 bytes at a time (Beast's
    // smallest read) costs an operation each, while 4 KiB is little next to OpenSSL's own
    // buffers. Plain connections read into a per-thread buffer instead (see client_impl).
    if (tls) buffer.reserve(4096);
}

tcp_socket& connection::tcp() noexcept {
    if (auto* p = std::get_if<tcp_socket>(&stream)) return *p;
    return std::get<tls_stream>(stream).next_layer();
}

bool connection::tls_input_buffered() noexcept {
    // A TLS record (a stray one, the server's close_notify) may already sit in OpenSSL's
    // buffers, read from the socket with the response's last one.
    auto* tls = std::get_if<tls_stream>(&stream);
    if (!tls) return false;
    SSL* ssl = tls->native_handle();
    return SSL_has_pending(ssl) || BIO_ctrl_pending(SSL_get_rbio(ssl)) > 0;
}

bool connection::spoke_while_idle() noexcept { return tls_input_buffered() || input_waiting(tcp()); }

void connection::close() noexcept {
    boost::system::error_code ignored;
    tcp().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    tcp().close(ignored);
}

deadline::deadline(std::chrono::milliseconds total, asio::cancellation_slot request_cancel)
    : total_(step_end(total)), request_total_(total_) {
    if (request_cancel.is_connected()) {
        cancel_ = std::make_shared<request_cancellation>();
        request_cancel.assign(request_cancellation::forward{cancel_});
    }
}

void deadline::throw_if_cancelled() const {
    if (cancel_ && cancel_->cancelled) throw client_error(errc::cancelled, "request cancelled");
}

clock::time_point deadline::step_end(std::chrono::milliseconds step) {
    return step.count() > 0 ? clock::now() + step : clock::time_point::max();
}

errc deadline::arm(connection& c, clock::time_point step_end, errc step_code, const asio::any_io_executor& ex) const {
    if (step_end < total_) {
        c.watchdog.begin(step_end, ex);
        return step_code;
    }
    c.watchdog.begin(total_, ex);
    return errc::total_timeout;
}

errc deadline::arm_input_wait(connection& c, clock::time_point step_end, errc step_code, const asio::any_io_executor& ex) const {
    if (!edge_waits || c.input_left) return arm(c, step_end, step_code, ex);
    const bool step_first = step_end < total_;
    c.watchdog.begin_input_wait(clock::now() + hidden_input_probe, step_first ? step_end : total_, ex);
    return step_first ? step_code : errc::total_timeout;
}

void throw_transport_error(boost::system::error_code ec, errc timeout_code, std::string_view during,
                           const base_url& where) {
    const std::string at = " (" + std::string(during) + ", " + where.origin() + ")";
    if (ec == beast::error::timeout) throw client_error(timeout_code, make_error_code(timeout_code).message() + at);
    if (ec == asio::error::operation_aborted) throw client_error(errc::cancelled, "request cancelled" + at);
    if (ec.category() == asio::error::get_ssl_category()) {
        const bool verify = ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_CERTIFICATE_VERIFY_FAILED;
        const errc e = verify ? errc::certificate_verify_failed : errc::tls_handshake_failed;
        throw client_error(e, make_error_code(e).message() + ": " + ec.message() + at);
    }
    if (ec == asio::ssl::error::stream_truncated || ec == beast::http::error::end_of_stream ||
        ec == beast::http::error::partial_message || ec == asio::error::eof ||
        ec == asio::error::connection_reset || ec == asio::error::broken_pipe)
        throw client_error(errc::connection_closed, "connection closed by the server: " + ec.message() + at);
    if (ec.category() == beast::http::make_error_code(beast::http::error::bad_version).category())
        throw client_error(errc::http_protocol_error, "malformed HTTP response: " + ec.message() + at);
    throw client_error(errc::connect_failed, "could not connect: " + ec.message() + at);
}

lease& lease::operator=(lease&& other) noexcept {
    if (this != &other) {
        release(false);
        pool_ = std::move(other.pool_);
        conn_ = std::move(other.conn_);
    }
    return *this;
}

lease::~lease() { release(false); }

void lease::release(bool reusable) noexcept {
    if (conn_ && pool_) pool_->give_back(std::move(conn_), reusable);
    conn_.reset();
    pool_.reset();
}

connection_pool::connection_pool(asio::any_io_executor ex, const client_config& cfg, base_url url,
                                 host_resolver::lookup_function lookup)
    : executor_(std::move(ex)), cfg_(cfg), url_(std::move(url)), wheel_(std::make_shared<watchdog_wheel>(executor_)) {
    if (!url_.host_is_ip_literal())
        resolver_ = std::make_shared<host_resolver>(executor_, url_.host, std::to_string(url_.port), cfg_.dns_cache_ttl,
                                                    std::move(lookup));
    // Only an https origin has a TLS context: making one costs OpenSSL some 10 million
    // instructions (about 3 ms), and loading the system's trust store a few thousand
    // allocations and about 1 MB.
    if (!url_.tls) return;
    auto& ctx = ssl_ctx_.emplace(asio::ssl::context::tls_client);
    ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    // Thousands of mostly idle streams: OpenSSL frees a connection's ~34 KB of record buffers
    // while nothing is buffered, and takes them back for the next record.
    SSL_CTX_set_mode(ctx.native_handle(), SSL_MODE_RELEASE_BUFFERS);
    boost::system::error_code ec;
    // OpenSSL's default paths honour SSL_CERT_FILE and SSL_CERT_DIR.
    ctx.set_default_verify_paths(ec);
    if (!cfg_.ca_file.empty()) {
        ctx.load_verify_file(cfg_.ca_file, ec);
        if (ec) throw client_error(errc::invalid_config, "cannot load CA file '" + cfg_.ca_file + "': " + ec.message());
    }
    ctx.set_verify_mode(cfg_.verify_peer ? asio::ssl::verify_peer : asio::ssl::verify_none);
}

asio::awaitable<lease> connection_pool::acquire(const deadline& d, bool fresh) {
    bool woken = false;
    for (;;) {
        std::shared_ptr<asio::steady_timer> waiter;
        std::unique_ptr<connection> pooled;
        std::vector<std::unique_ptr<connection>> expired;
        bool connect_new = false;
        {
            std::lock_guard lock(mutex_);
            // Idle for too long (oldest first): a NAT or firewall may have dropped it silently,
            // and a request sent on it would wait for a reply that never comes.
            const auto limit = cfg_.idle_connection_timeout;
            while (limit.count() > 0 && !idle_.empty() && clock::now() - idle_.front()->idle_since >= limit) {
                expired.push_back(std::move(idle_.front()));
                idle_.pop_front();
            }
            if (!fresh && !idle_.empty()) {
                pooled = std::move(idle_.back());  // most recently used: least likely to be stale
                idle_.pop_back();
                ++in_use_;
            } else if (in_use_ < cfg_.max_connections_per_host) {
                ++in_use_;  // reserve the slot before connecting
                connect_new = true;
            } else {
                // A request cancelled already would throw from d.token() below, after joining the
                // line: its timer would stay there and take a wake-up meant for a live waiter.
                d.throw_if_cancelled();
                // On a strand of its own, as a name lookup's waiters (host_resolver::join): the
                // wake-up (give_back, any thread) and the wait's start (this coroutine's thread,
                // which need not be a strand's) then never touch the timer at once.
                waiter = std::make_shared<asio::steady_timer>(asio::make_strand(co_await asio::this_coro::executor), d.total());
                // A request woken for a slot that another took meanwhile keeps its place in line.
                if (woken) waiters_.push_front(waiter);
                else waiters_.push_back(waiter);
            }
        }
        for (auto& c : expired) c->close();
        expired.clear();  // not kept in this frame while it waits
        if (pooled) {
            // Bytes that came while it was idle (a stray second response, say) would be taken
            // for this request's response, and a close from the server would cost the request a
            // resend: such a connection is closed, and the slot it held opens a new one.
            if (!pooled->spoke_while_idle()) {
                pooled->reused = true;
                co_return lease(shared_from_this(), std::move(pooled));
            }
            pooled->close();
            pooled.reset();
            break;
        }
        if (connect_new) break;
        const auto own = co_await asio::this_coro::cancellation_state;
        try {
            co_await async_wait_on_strand(waiter, d.token(own));
        } catch (...) {
            // Cancelled before the wait began (the coroutine's own cancellation, which d.token()
            // or Asio throws): out of the line, or its wake-up to the next in it.
            std::lock_guard lock(mutex_);
            if (auto it = std::find(waiters_.begin(), waiters_.end(), waiter); it != waiters_.end()) waiters_.erase(it);
            else wake_one_locked();
            throw;
        }
        // Whether a free slot's wake-up came is told by the line, not by how the wait ended: the
        // wake-up expires the timer (which also ends a wait that had not begun yet), as the
        // deadline does.
        const bool cancelled = d.cancelled(own);
        const bool out_of_time = clock::now() >= d.total();
        {
            std::lock_guard lock(mutex_);
            if (auto it = std::find(waiters_.begin(), waiters_.end(), waiter); it != waiters_.end())
                waiters_.erase(it);  // not woken: leaves the line (and rejoins at its front below)
            else if (cancelled || out_of_time)
                wake_one_locked();  // woken, but no longer wanting the slot: the next in line takes it
        }
        if (cancelled) throw client_error(errc::cancelled, "request cancelled while waiting for a connection");
        if (out_of_time) throw client_error(errc::total_timeout, "timed out waiting for a free connection to " + url_.origin());
        woken = true;  // try again, first in line if it must wait again
    }
    try {
        auto c = co_await connect(d);
        {
            std::lock_guard lock(mutex_);
            ++opened_;
        }
        co_return lease(shared_from_this(), std::move(c));
    } catch (...) {
        give_back(nullptr, false);
        throw;
    }
}

// Connecting is split in coroutines so that the one a new connection waits in (the TCP connect)
// holds little: with thousands of streams connecting at once, its frame is paid thousands of
// times.
asio::awaitable<std::unique_ptr<connection>> connection_pool::connect(const deadline& d) {
    auto c = std::make_unique<connection>(executor_, ssl_ctx_ ? &*ssl_ctx_ : nullptr, wheel_);
    // Nothing to look up for an IP literal: the resolver's work runs on a thread of its own (a
    // round trip per connection, felt when thousands of streams connect at once).
    asio::ip::tcp::resolver::results_type endpoints;
    auto connect_timeout = cfg_.connect_timeout;
    if (url_.host_is_ip_literal()) {
        endpoints = literal_endpoints();
    } else {
        // connect_timeout covers the lookup and the connect together, as curl's does.
        const auto began = clock::now();
        endpoints = co_await resolve(d, std::min(d.total(), deadline::step_end(connect_timeout)));
        const auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - began);
        if (connect_timeout.count() > 0) connect_timeout = std::max(std::chrono::milliseconds(1), connect_timeout - spent);
    }
    co_await connect_socket(*c, endpoints, d, connect_timeout, url_);
    if (!c->plain()) co_await handshake(*c, d);
    co_return c;
}

namespace {

boost::system::error_code pending_connect_result(tcp_socket& s) {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(s.native_handle(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    return {err, asio::error::get_system_category()};
}

/// Starts a non-blocking connect and reports at once if it has ended already: over loopback
/// (and often a LAN) the handshake is over by the time connect() returns. Returns
/// asio::error::in_progress if it has not.
boost::system::error_code start_connect(tcp_socket& s, const asio::ip::tcp::endpoint& ep) {
    if (::connect(s.native_handle(), ep.data(), static_cast<socklen_t>(ep.size())) == 0) return {};
    if (errno != EINPROGRESS && errno != EINTR) return {errno, asio::error::get_system_category()};
    pollfd p{s.native_handle(), POLLOUT, 0};
    if (::poll(&p, 1, 0) != 1) return asio::error::in_progress;
    return pending_connect_result(s);
}

}  // namespace

// Each address in turn, as asio::async_connect would try them, but without the reactor when the
// connect ends at once. Asio's connect waits for writability through the reactor, which then
// watches the socket for writability for good (see watch_for_input_only): a registration, a
// wake-up and two more epoll_ctl calls per connection that a connect finished inside connect()
// does not need.
asio::awaitable<void> connect_socket(connection& c, const asio::ip::tcp::resolver::results_type& endpoints,
                                     const deadline& d, std::chrono::milliseconds connect_timeout,
                                     const base_url& where) {
    boost::system::error_code last = asio::error::host_not_found;
    // The timeout runs from the first wait, and bounds every wait after it (each address's).
    std::optional<clock::time_point> connect_end;
    errc timeout_code = errc::connect_timeout;
    bool waited = false;
    const std::size_t count = endpoints.size();
    std::size_t index = 0;
    for (const auto& entry : endpoints) {
        const std::size_t left = count - index++;  // addresses still to try, this one included
        const auto ep = entry.endpoint();
        auto& s = c.tcp();
        boost::system::error_code ec;
        if (s.is_open()) s.close(ec);
        s.open(ep.protocol(), ec);
        if (!ec) s.non_blocking(true, ec);  // plain reads try the socket directly and never block
        if (!ec) s.set_option(asio::ip::tcp::no_delay(true), ec);
        if (!ec) ec = start_connect(s, ep);
        if (ec == asio::error::in_progress) {
            const auto now = clock::now();
            if (!connect_end) connect_end = deadline::step_end(connect_timeout);
            // Each address gets an equal share of the time left, the last one all of it (as
            // curl does): a host whose first address drops every packet (an IPv6 route that
            // leads nowhere) is still reached at its others.
            auto wait_end = *connect_end;
            if (left > 1 && wait_end != clock::time_point::max()) wait_end = now + (wait_end - now) / left;
            timeout_code = d.arm(c, wait_end, errc::connect_timeout, co_await asio::this_coro::executor);
            auto [wait_ec] = co_await s.async_wait(tcp_socket::wait_write, d.token(co_await asio::this_coro::cancellation_state));
            waited = true;
            wait_ec = c.watchdog.finish(wait_ec);
            if (wait_ec == beast::error::timeout && timeout_code == errc::connect_timeout && left > 1) {
                last = wait_ec;  // this address's share is over: the next one
                continue;
            }
            if (wait_ec) throw_transport_error(wait_ec, timeout_code, "connect", where);  // timed out or cancelled
            ec = pending_connect_result(s);
            if (!ec) {
                watch_for_input_only(s, ep.protocol(), where);
                s.non_blocking(true);  // registered afresh, the socket's flags are Asio's defaults again
            }
        }
        if (!ec) {
            // A connect that ended at once still completes as Asio's would, after what is already
            // queued: a burst of new sessions then sends its requests after all its connects,
            // not each right behind its own.
            if (!waited) co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
            co_return;
        }
        last = ec;
    }
    throw_transport_error(last, timeout_code, "connect", where);
}

// Asio's reactor watches a socket for writability from its connect on, for good; its sockets are
// edge-triggered, and arming a read wait re-arms every watched event, so a writable socket then
// reports "writable" at each read wait: an event per read that the reactor takes and drops (and
// often an extra epoll_wait). Registered afresh, the socket is watched for input only; a write
// that would block adds writability back, as Asio does for any socket.
void watch_for_input_only(tcp_socket& s, const asio::ip::tcp& protocol, const base_url& where) {
    boost::system::error_code ec;
    const auto fd = s.release(ec);
    if (ec) throw_transport_error(ec, errc::connect_failed, "connect", where);
    s.assign(protocol, fd, ec);
    if (ec) {
        ::close(fd);  // released: no longer the socket's to close
        throw_transport_error(ec, errc::connect_failed, "connect", where);
    }
}

asio::ip::tcp::resolver::results_type connection_pool::literal_endpoints() const {
    const asio::ip::tcp::endpoint ep(asio::ip::make_address(url_.host), url_.port);
    return asio::ip::tcp::resolver::results_type::create(ep, url_.host, std::to_string(url_.port));
}

asio::awaitable<asio::ip::tcp::resolver::results_type> connection_pool::resolve(const deadline& d, clock::time_point until) {
    auto t = resolver_->join(co_await asio::this_coro::executor, until);
    if (t.ready) co_return std::move(*t.ready);
    const auto own = co_await asio::this_coro::cancellation_state;
    std::optional<host_resolver::outcome> found;
    try {
        [[maybe_unused]] auto [ec] = co_await async_wait_on_strand(t.timer, d.token(own));
        found = resolver_->leave(t);
    } catch (...) {  // cancelled before the wait: the lookup goes on without this request
        resolver_->leave(t);
        throw;
    }
    if (!found) {
        if (d.cancelled(own)) throw client_error(errc::cancelled, "request cancelled");
        if (clock::now() >= d.total()) throw client_error(errc::total_timeout, "timed out resolving '" + url_.host + "'");
        throw client_error(errc::connect_timeout, "timed out resolving '" + url_.host + "' (connect_timeout " +
                                                      std::to_string(cfg_.connect_timeout.count()) + " ms)");
    }
    if (found->error)
        throw client_error(errc::resolve_failed, "could not resolve '" + url_.host + "': " + found->error.message());
    co_return std::move(found->results);
}

asio::awaitable<void> connection_pool::handshake(connection& c, const deadline& d) {
    auto& tls = std::get<tls_stream>(c.stream);
    // SNI is for names only (RFC 6066); IP literals are verified against the certificate's
    // IP addresses instead.
    if (!url_.host_is_ip_literal() && !SSL_set_tlsext_host_name(tls.native_handle(), url_.host.c_str()))
        throw client_error(errc::tls_handshake_failed, "cannot set TLS server name");
    if (cfg_.verify_peer) tls.set_verify_callback(asio::ssl::host_name_verification(url_.host));
    const auto own = co_await asio::this_coro::cancellation_state;
    const errc code = d.arm(c, cfg_.tls_handshake_timeout, errc::tls_handshake_timeout, co_await asio::this_coro::executor);
    auto [ec] = co_await tls.async_handshake(asio::ssl::stream_base::client, d.token(own));
    ec = c.watchdog.finish(ec);
    if (ec) throw_transport_error(ec, code, "TLS handshake", url_);
}

void connection_pool::give_back(std::unique_ptr<connection> c, bool reusable) noexcept {
    {
        std::lock_guard lock(mutex_);
        --in_use_;
        // Bytes read past the end of the response (a stray CRLF, a second response) would be
        // taken by the next request on the connection as the start of its own: not reused.
        const bool clean = c && c->leftover.empty() && c->buffer.size() == 0;
        if (clean && reusable && idle_.size() < cfg_.max_idle_connections_per_host) {
            c->watchdog.idle();  // an idle connection has no step to bound
            c->idle_since = clock::now();
            idle_.push_back(std::move(c));
        }
        wake_one_locked();
    }
    if (c) c->close();
}

void connection_pool::wake_one_locked() noexcept {
    if (waiters_.empty()) return;
    auto wake = std::move(waiters_.front());
    waiters_.pop_front();
    // On the timer's strand; expiring it, rather than cancelling the wait, also ends a wait
    // that has not begun yet (on a thread pool the wake-up may come first).
    asio::post(wake->get_executor(), [wake] { wake->expires_at(clock::time_point::min()); });
}

std::size_t connection_pool::close_idle(bool all) {
    std::vector<std::unique_ptr<connection>> doomed;
    {
        std::lock_guard lock(mutex_);
        if (all) {
            for (auto& c : idle_) doomed.push_back(std::move(c));
            idle_.clear();
        } else if (!idle_.empty()) {
            // One poll() over every idle socket, not a look at each: a host with thousands idle
            // pays one system call. A socket the server closed, reset or wrote on is readable.
            std::vector<pollfd> fds;
            fds.reserve(idle_.size());
            for (const auto& c : idle_) fds.push_back(pollfd{c->tcp().native_handle(), POLLIN | POLLRDHUP, 0});
            const bool polled = ::poll(fds.data(), fds.size(), 0) >= 0;
            const auto limit = cfg_.idle_connection_timeout;
            const auto now = clock::now();
            std::size_t kept = 0;
            for (std::size_t i = 0; i < idle_.size(); ++i) {
                auto& c = idle_[i];
                const bool expired = limit.count() > 0 && now - c->idle_since >= limit;
                const bool spoke = polled ? fds[i].revents != 0 || c->tls_input_buffered() : c->spoke_while_idle();
                if (expired || spoke) doomed.push_back(std::move(c));
                else idle_[kept++] = std::move(c);
            }
            idle_.resize(kept);
        }
    }
    for (auto& c : doomed) c->close();  // outside the lock
    return doomed.size();
}

pool_stats connection_pool::stats() const {
    std::lock_guard lock(mutex_);
    return pool_stats{opened_, idle_.size(), in_use_, resolver_ ? resolver_->lookups() : 0};
}

}  // namespace engram::net::detail
