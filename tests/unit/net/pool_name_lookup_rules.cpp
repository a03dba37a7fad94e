// How a connection pool waits for a slow name lookup: connect_timeout bounds the lookup and the
// connect together, the request's total timeout bounds both too, a cancelled request stops
// waiting at once, and a lookup nobody waits for any longer still finishes and fills the cache.
// The lookup here is the test's own (host_resolver's lookup_function), so "slow" costs no time.
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/test/unit_test.hpp>

#include <engram/net/client_config.hpp>
#include <engram/net/error.hpp>

#include "host_resolver.hpp"
#include "transport.hpp"
#include "url.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using engram::net::client_config;
using engram::net::client_error;
using engram::net::errc;
using engram::net::detail::base_url;
using engram::net::detail::connection_pool;
using engram::net::detail::deadline;
using engram::net::detail::host_resolver;
using engram::net::detail::lease;

namespace {

// Lookups that end only when the test answers them.
struct held_lookups {
    std::vector<host_resolver::completion> pending;
    host_resolver::lookup_function function() {
        return [this](const std::string&, const std::string&, host_resolver::completion done) {
            pending.push_back(std::move(done));
        };
    }
};

base_url named_host(std::uint16_t port) {
    base_url u;
    u.tls = false;
    u.host = "api.example";  // a name, not a literal: the pool looks it up
    u.port = port;
    return u;
}

struct outcome {
    bool done = false;
    std::optional<errc> error;
    std::string message;
    bool connected = false;
};

// Starts pool->acquire(d) on `ioc`, cancelled through `cancel` if given; the outcome lands in `out`.
void start_acquire(asio::io_context& ioc, std::shared_ptr<connection_pool> pool, const deadline& d, outcome& out,
                   asio::cancellation_signal* cancel = nullptr) {
    auto handler = [&out](std::exception_ptr e, lease l) {
        out.done = true;
        out.connected = static_cast<bool>(l);
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const client_error& ce) {
            out.error = ce.code_value();
            out.message = ce.what();
        }
    };
    if (cancel) asio::co_spawn(ioc, pool->acquire(d), asio::bind_cancellation_slot(cancel->slot(), handler));
    else asio::co_spawn(ioc, pool->acquire(d), handler);
}

// Runs `ioc` until `out` is done (at most 10 s, which only a defect reaches).
void run_until_done(asio::io_context& ioc, const outcome& out) {
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    while (!out.done && std::chrono::steady_clock::now() < give_up) {
        if (ioc.stopped()) ioc.restart();  // out of work between two phases of a test
        ioc.run_one_for(100ms);
    }
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_lookup_that_outlasts_the_connect_timeout_fails_the_request_as_connect_timeout) {
    asio::io_context ioc;
    held_lookups lookups;
    client_config cfg;
    cfg.connect_timeout = 100ms;
    auto pool = std::make_shared<connection_pool>(ioc.get_executor(), cfg, named_host(443), lookups.function());
    const deadline d(10s);
    outcome out;
    start_acquire(ioc, pool, d, out);
    run_until_done(ioc, out);
    BOOST_REQUIRE(out.done);
    BOOST_TEST((out.error == errc::connect_timeout));
    BOOST_TEST(out.message.find("api.example") != std::string::npos);
    BOOST_TEST(lookups.pending.size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_lookup_that_outlasts_the_total_timeout_fails_the_request_as_total_timeout) {
    asio::io_context ioc;
    held_lookups lookups;
    client_config cfg;
    cfg.connect_timeout = 10s;
    auto pool = std::make_shared<connection_pool>(ioc.get_executor(), cfg, named_host(443), lookups.function());
    const deadline d(100ms);
    outcome out;
    start_acquire(ioc, pool, d, out);
    run_until_done(ioc, out);
    BOOST_REQUIRE(out.done);
    BOOST_TEST((out.error == errc::total_timeout));
}

BOOST_AUTO_TEST_CASE(a_request_cancelled_during_a_lookup_stops_waiting_and_the_lookup_still_fills_the_cache) {
    asio::io_context ioc;
    asio::ip::tcp::acceptor listener(ioc, {asio::ip::make_address("127.0.0.1"), 0});
    held_lookups lookups;
    client_config cfg;  // connect_timeout 10 s, total 10 s: only the cancellation can end the wait
    auto pool = std::make_shared<connection_pool>(ioc.get_executor(), cfg, named_host(listener.local_endpoint().port()),
                                                  lookups.function());
    const deadline d(10s);
    outcome cancelled;
    asio::cancellation_signal cancel;
    start_acquire(ioc, pool, d, cancelled, &cancel);
    asio::steady_timer soon(ioc, 50ms);
    soon.async_wait([&](boost::system::error_code) { cancel.emit(asio::cancellation_type::terminal); });
    run_until_done(ioc, cancelled);
    BOOST_REQUIRE(cancelled.done);
    BOOST_TEST((cancelled.error == errc::cancelled));
    BOOST_REQUIRE(lookups.pending.size() == 1u);

    // The lookup ends after its only request gave up: its addresses serve the next request.
    const asio::ip::tcp::endpoint there = listener.local_endpoint();
    lookups.pending.front()({}, host_resolver::results_type::create(there, "api.example", std::to_string(there.port())));
    const deadline d2(10s);
    outcome next;
    start_acquire(ioc, pool, d2, next);
    run_until_done(ioc, next);
    BOOST_REQUIRE(next.done);
    BOOST_TEST(!next.error.has_value(), next.message);
    BOOST_TEST(next.connected);
    BOOST_TEST(lookups.pending.size() == 1u);  // no second lookup
    BOOST_TEST(pool->stats().name_lookups == 1u);
}
