// zero_waiter: the wait for in-flight turns and extractions that shutdown() and
// drain_extractions() rely on.
#include "zero_waiter.hpp"

#include <atomic>
#include <chrono>
#include <future>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/test/unit_test.hpp>

namespace asio = boost::asio;
using engram::runtime::detail::zero_waiter;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(runtime_zero_waiter)

// The waiter runs on a multi-threaded pool (no strand) while done() runs on this thread, at
// varying moments around the waiter's registration: no wake-up may be lost.
BOOST_AUTO_TEST_CASE(a_count_reaching_zero_on_another_thread_always_wakes_the_waiter) {
    asio::thread_pool pool(4);
    int woken = 0;
    constexpr int rounds = 1000;
    for (int i = 0; i < rounds; ++i) {
        // Shared with the waiter: set_value() may still be running when get() returns.
        auto z = std::make_shared<zero_waiter>();
        z->add();
        auto reached = std::make_shared<std::promise<bool>>();
        auto result = reached->get_future();
        asio::co_spawn(pool, [z, reached]() -> asio::awaitable<void> {
            reached->set_value(co_await z->wait(std::chrono::steady_clock::now() + 3s));
        }, asio::detached);
        std::atomic<int> spin{0};
        while (spin.fetch_add(1, std::memory_order_relaxed) < (i % 50) * 20) {
        }
        z->done();
        // A lost wake-up shows as a wait that runs into its 3 s deadline.
        BOOST_REQUIRE_MESSAGE(result.get(), "round " << i << ": the waiter was not woken");
        ++woken;
    }
    BOOST_TEST(woken == rounds);
    pool.join();
}

BOOST_AUTO_TEST_CASE(the_wait_ends_at_its_deadline_and_at_once_when_the_count_is_zero) {
    asio::io_context ioc;
    zero_waiter z;
    std::vector<bool> results;
    asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
        results.push_back(co_await z.wait(std::chrono::steady_clock::time_point::max()));  // nothing counted
        z.add();
        results.push_back(co_await z.wait(std::chrono::steady_clock::now() + 50ms));      // never done
        z.done();
    }, asio::detached);
    ioc.run_for(5s);
    BOOST_TEST(results == (std::vector<bool>{true, false}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()
