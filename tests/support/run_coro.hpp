// Runs a test coroutine to completion with a deadline, so a hang fails instead of blocking CI.
#pragma once

#include <chrono>
#include <exception>
#include <functional>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

namespace engram::test {

template <class MakeAwaitable>
void run_coro(boost::asio::io_context& ioc, MakeAwaitable&& make, std::chrono::seconds limit = std::chrono::seconds(60)) {
    std::exception_ptr error;
    bool done = false;
    boost::asio::co_spawn(ioc, make(), [&](std::exception_ptr e) {
        error = e;
        done = true;
    });
    ioc.restart();
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done) {
        if (ioc.run_one_until(until) == 0 && (ioc.stopped() || std::chrono::steady_clock::now() >= until)) break;
    }
    BOOST_REQUIRE_MESSAGE(done, "test coroutine did not finish within " << limit.count() << " s");
    if (error) std::rethrow_exception(error);
}

// Polls (every 20 ms, up to `limit`) until `done` holds: a regression then fails the test
// instead of hanging it.
inline boost::asio::awaitable<bool> eventually(std::function<bool()> done,
                                               std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    boost::asio::steady_timer t(co_await boost::asio::this_coro::executor);
    for (auto until = std::chrono::steady_clock::now() + limit; !done();) {
        if (std::chrono::steady_clock::now() >= until) co_return false;
        t.expires_after(std::chrono::milliseconds(20));
        co_await t.async_wait(boost::asio::use_awaitable);
    }
    co_return true;
}

}  // namespace engram::test
