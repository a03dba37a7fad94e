// How a connection pool resolves its host: one lookup shared by every request that needs it
// while it runs, its addresses kept for the TTL, a failure kept for no one, and a request that
// stops waiting leaves the lookup running for the cache. The lookup here is the test's own, so
// each rule is checked without a name server.
#include <chrono>
#include <functional>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include "host_resolver.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using engram::net::detail::host_resolver;
using results_type = host_resolver::results_type;
using clock_type = host_resolver::clock;

namespace {

// A lookup function that records each lookup and completes only when the test says so.
struct scripted_lookups {
    std::vector<host_resolver::completion> pending;
    host_resolver::lookup_function function() {
        return [this](const std::string&, const std::string&, host_resolver::completion done) {
            pending.push_back(std::move(done));
        };
    }
    void answer(std::size_t i, boost::system::error_code ec = {}) {
        const asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 443);
        pending.at(i)(ec, ec ? results_type{} : results_type::create(ep, "api.example", "443"));
    }
};

std::shared_ptr<host_resolver> resolver_for(asio::io_context& ioc, scripted_lookups& lookups, std::chrono::milliseconds ttl) {
    return std::make_shared<host_resolver>(ioc.get_executor(), "api.example", "443", ttl, lookups.function());
}

// Runs the io_context until the ticket's timer wait ends (by the lookup's end, or by expiring).
void wait(asio::io_context& ioc, const host_resolver::ticket& t) {
    bool done = false;
    engram::net::detail::async_wait_on_strand(t.timer, [&](boost::system::error_code) { done = true; });
    ioc.restart();
    while (!done && ioc.run_one_for(15s) > 0) {
    }
    BOOST_REQUIRE(done);
}

// The first lookup, answered: its one waiter woken with the addresses.
void resolve_first(asio::io_context& ioc, host_resolver& r, scripted_lookups& lookups) {
    auto first = r.join(ioc.get_executor(), clock_type::now() + 10s);
    lookups.answer(0);
    wait(ioc, first);
    BOOST_TEST(r.leave(first).has_value());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(host_resolution)

BOOST_AUTO_TEST_CASE(requests_that_need_the_host_while_a_lookup_runs_share_it) {
    asio::io_context ioc;
    scripted_lookups lookups;
    auto r = resolver_for(ioc, lookups, 60s);
    std::vector<host_resolver::ticket> tickets;
    for (int i = 0; i < 100; ++i) tickets.push_back(r->join(ioc.get_executor(), clock_type::now() + 10s));
    BOOST_TEST(lookups.pending.size() == 1u);
    BOOST_TEST(r->lookups() == 1u);
    const auto began = clock_type::now();
    lookups.answer(0);
    for (const auto& t : tickets) {
        BOOST_TEST_REQUIRE(!t.ready);
        wait(ioc, t);
        auto found = r->leave(t);
        BOOST_TEST_REQUIRE(found.has_value());
        BOOST_TEST(!found->error);
        BOOST_TEST(found->results.size() == 1u);
    }
    BOOST_TEST((clock_type::now() - began < 5s));  // the lookup's end woke them, not their 10 s
}

BOOST_AUTO_TEST_CASE(addresses_serve_new_connections_until_the_ttl_ends) {
    asio::io_context ioc;
    scripted_lookups lookups;
    auto r = resolver_for(ioc, lookups, 200ms);
    resolve_first(ioc, *r, lookups);
    auto cached = r->join(ioc.get_executor(), clock_type::now() + 10s);
    BOOST_TEST(cached.ready.has_value());  // from the cache, no wait
    BOOST_TEST(r->lookups() == 1u);
    std::this_thread::sleep_for(250ms);
    auto later = r->join(ioc.get_executor(), clock_type::now() + 10s);
    BOOST_TEST(!later.ready.has_value());  // stale: looked up again
    BOOST_TEST(r->lookups() == 2u);
}

BOOST_AUTO_TEST_CASE(with_a_ttl_of_zero_every_connection_looks_the_host_up) {
    asio::io_context ioc;
    scripted_lookups lookups;
    auto r = resolver_for(ioc, lookups, 0ms);
    resolve_first(ioc, *r, lookups);
    auto second = r->join(ioc.get_executor(), clock_type::now() + 10s);
    BOOST_TEST(!second.ready.has_value());
    BOOST_TEST(r->lookups() == 2u);
}

BOOST_AUTO_TEST_CASE(a_failed_lookup_is_reported_to_its_waiters_and_not_kept) {
    asio::io_context ioc;
    scripted_lookups lookups;
    auto r = resolver_for(ioc, lookups, 60s);
    auto t = r->join(ioc.get_executor(), clock_type::now() + 10s);
    lookups.answer(0, asio::error::host_not_found);
    wait(ioc, t);
    auto found = r->leave(t);
    BOOST_TEST_REQUIRE(found.has_value());
    BOOST_TEST((found->error == asio::error::host_not_found));
    auto retry = r->join(ioc.get_executor(), clock_type::now() + 10s);
    BOOST_TEST(!retry.ready.has_value());
    BOOST_TEST(r->lookups() == 2u);  // the next request looks again
}

BOOST_AUTO_TEST_CASE(a_request_stops_waiting_at_its_deadline_and_the_late_lookup_still_fills_the_cache) {
    asio::io_context ioc;
    scripted_lookups lookups;
    auto r = resolver_for(ioc, lookups, 60s);
    const auto began = clock_type::now();
    auto t = r->join(ioc.get_executor(), began + 100ms);
    wait(ioc, t);  // expired: the lookup never answered
    BOOST_TEST((clock_type::now() - began >= 100ms));
    BOOST_TEST(!r->leave(t).has_value());  // still running
    lookups.answer(0);                     // it ends at last, with no one waiting
    auto next = r->join(ioc.get_executor(), clock_type::now() + 10s);
    BOOST_TEST(next.ready.has_value());
    BOOST_TEST(r->lookups() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
