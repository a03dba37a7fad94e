// The process-wide request gate: its bound, interactive-before-background order, and the
// rate-limit pause.
#include "request_gate.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <engram/net/error.hpp>

#include "support/cancelled.hpp"

#include <exception>
#include <optional>
#include <string>
#include <vector>

namespace asio = boost::asio;
using engram::runtime::detail::request_gate;

namespace {

// Takes the slot of a gate of one, so that whoever asks next waits; reset() frees it.
std::optional<request_gate::permit> take_the_only_slot(asio::io_context& ioc, const std::shared_ptr<request_gate>& gate) {
    std::optional<request_gate::permit> held;
    asio::co_spawn(ioc, [&]() -> asio::awaitable<void> { held.emplace(co_await gate->acquire(request_gate::priority::interactive)); }, asio::detached);
    ioc.run();
    BOOST_REQUIRE(held.has_value());
    return held;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(runtime_request_gate)

BOOST_AUTO_TEST_CASE(freed_slots_go_to_interactive_waiters_before_background_ones) {
    asio::io_context ioc;
    auto gate = std::make_shared<request_gate>(1);
    std::vector<std::string> order;
    auto held = take_the_only_slot(ioc, gate);
    // Background asks first, interactive second; with the slot taken both wait.
    for (auto [name, prio] : {std::pair{"background", request_gate::priority::background},
                              std::pair{"interactive", request_gate::priority::interactive}}) {
        std::string who = name;
        auto p = prio;
        asio::co_spawn(ioc, [&, who, p]() -> asio::awaitable<void> {
            auto permit = co_await gate->acquire(p);
            order.push_back(who);
        }, asio::detached);
    }
    ioc.restart();
    ioc.poll();
    BOOST_TEST(order.empty());  // the bound holds
    held.reset();               // free the slot
    ioc.restart();
    ioc.run();
    BOOST_TEST(order == (std::vector<std::string>{"interactive", "background"}));
}

// Under sustained interactive load a waiting extraction must still run: its session's memory is
// what the user's next session loads.
BOOST_AUTO_TEST_CASE(a_waiting_background_request_gets_one_freed_slot_in_eight_under_interactive_load) {
    asio::io_context ioc;
    auto gate = std::make_shared<request_gate>(1);
    std::vector<std::string> order;
    auto held = take_the_only_slot(ioc, gate);
    auto ask = [&](std::string who, request_gate::priority p) {
        asio::co_spawn(ioc, [&, who, p]() -> asio::awaitable<void> {
            auto permit = co_await gate->acquire(p);
            order.push_back(who);  // the slot goes back as the permit goes
        }, asio::detached);
    };
    ask("B1", request_gate::priority::background);
    ask("B2", request_gate::priority::background);
    for (int i = 1; i <= 20; ++i) ask("I" + std::to_string(i), request_gate::priority::interactive);
    ioc.restart();
    ioc.poll();
    BOOST_TEST(order.empty());
    held.reset();
    ioc.restart();
    ioc.run();
    static_assert(request_gate::background_turn == 8);
    const std::vector<std::string> expected{"I1",  "I2",  "I3",  "I4",  "I5",  "I6",  "I7",  "B1",
                                            "I8",  "I9",  "I10", "I11", "I12", "I13", "I14", "B2",
                                            "I15", "I16", "I17", "I18", "I19", "I20"};
    BOOST_TEST(order == expected, boost::test_tools::per_element());
}

// A user opening a session waits for that user's last memory pass: it must not wait behind
// every other user's too.
BOOST_AUTO_TEST_CASE(a_promoted_owners_background_requests_go_with_the_interactive_ones_until_unpromoted) {
    asio::io_context ioc;
    auto gate = std::make_shared<request_gate>(1);
    std::vector<std::string> order;
    auto held = take_the_only_slot(ioc, gate);
    auto ask = [&](std::string who, request_gate::priority p, std::string owner) {
        asio::co_spawn(ioc, [&, who, p, owner]() -> asio::awaitable<void> {
            auto permit = co_await gate->acquire(p, {}, {}, owner);
            order.push_back(who);
        }, asio::detached);
        ioc.restart();
        ioc.poll();  // in line now
    };
    ask("bob", request_gate::priority::background, "bob");
    ask("ann", request_gate::priority::background, "ann");
    ask("chat", request_gate::priority::interactive, "");
    gate->promote("ann");  // ann's waiting request moves behind the interactive ones
    gate->promote("ann");  // (calls nest)
    ask("ann again", request_gate::priority::background, "ann");  // one made meanwhile joins them
    gate->unpromote("ann");
    ask("ann still", request_gate::priority::background, "ann");
    gate->unpromote("ann");
    ask("ann later", request_gate::priority::background, "ann");  // background again
    BOOST_TEST(order.empty());
    held.reset();
    ioc.restart();
    ioc.run();
    const std::vector<std::string> expected{"chat", "ann", "ann again", "ann still", "bob", "ann later"};
    BOOST_TEST(order == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_promoted_wait_that_is_cancelled_leaves_the_line) {
    asio::io_context ioc;
    auto gate = std::make_shared<request_gate>(1);
    auto held = gate->try_acquire();
    BOOST_REQUIRE(held.has_value());
    std::exception_ptr outcome;
    bool finished = false;
    asio::cancellation_signal cancel;
    asio::co_spawn(ioc, [gate]() -> asio::awaitable<void> { co_await gate->acquire(request_gate::priority::background, {}, {}, "ann"); },
                   asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e) {
                       outcome = e;
                       finished = true;
                   }));
    ioc.poll();
    gate->promote("ann");  // now among the interactive waiters
    cancel.emit(asio::cancellation_type::terminal);
    ioc.run_for(std::chrono::seconds(2));
    BOOST_TEST(finished);
    BOOST_TEST(engram::test::is_cancelled(outcome));
    held.reset();  // no one waits any more: the slot is free again, not handed to the cancelled wait
    BOOST_TEST(gate->try_acquire().has_value());
    gate->unpromote("ann");
}

BOOST_AUTO_TEST_CASE(a_permit_assigned_over_another_returns_the_slot_the_other_held) {
    auto gate = std::make_shared<request_gate>(2);
    auto first = gate->try_acquire();
    auto second = gate->try_acquire();
    BOOST_REQUIRE(first && second);
    BOOST_TEST(!gate->try_acquire().has_value());
    *first = std::move(*second);  // first's slot goes back; second's is now first's
    auto third = gate->try_acquire();
    BOOST_TEST(third.has_value());
    BOOST_TEST(!gate->try_acquire().has_value());  // and no slot was counted twice
    first.reset();
    BOOST_TEST(gate->try_acquire().has_value());
}

BOOST_AUTO_TEST_CASE(an_exhausted_rate_limit_window_pauses_new_requests_until_reset) {
    auto gate = std::make_shared<request_gate>(4);
    engram::net::rate_limits limits;
    limits.requests.remaining = 0;
    const auto now = std::chrono::system_clock::from_time_t(1761841050);  // 6 s before the reset
    limits.requests.reset = "2025-10-30T16:17:36Z";
    gate->observe(limits, now);
    const auto pause = gate->pause_remaining();
    BOOST_TEST(pause.count() > 4000);
    BOOST_TEST(pause.count() <= 6000);
    engram::net::rate_limits plenty;
    plenty.requests.remaining = 100;
    plenty.requests.reset = "2025-10-30T16:17:36Z";
    auto other = std::make_shared<request_gate>(4);
    other->observe(plenty, now);
    BOOST_TEST(other->pause_remaining().count() == 0);
}

BOOST_AUTO_TEST_CASE(a_request_held_back_by_the_pause_is_told_how_long_then_admitted) {
    asio::io_context ioc;
    auto gate = std::make_shared<request_gate>(4);
    engram::net::rate_limits limits;
    limits.requests.remaining = 0;
    limits.requests.reset = "2025-10-30T16:17:36Z";
    // One second before that reset, as the server's clock says.
    gate->observe(limits, std::chrono::system_clock::from_time_t(1761841055));
    std::vector<std::chrono::milliseconds> told;
    bool admitted = false;
    asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
        auto permit = co_await gate->acquire(request_gate::priority::interactive,
                                             [&](std::chrono::milliseconds wait) { told.push_back(wait); });
        admitted = true;
    }, asio::detached);
    ioc.run();
    BOOST_TEST(admitted);
    BOOST_REQUIRE_EQUAL(told.size(), 1u);
    BOOST_TEST(told[0].count() > 0);
    BOOST_TEST(told[0].count() <= 1000);
}

BOOST_AUTO_TEST_CASE(a_cancelled_wait_fails_as_a_cancelled_turn_and_gives_up_its_place) {
    asio::io_context ioc;
    auto gate = std::make_shared<request_gate>(1);
    auto held = gate->try_acquire();
    BOOST_REQUIRE(held.has_value());
    // One wait for a slot, one held back by a rate-limit pause (on another gate): both cancelled.
    auto paused = std::make_shared<request_gate>(4);
    engram::net::rate_limits limits;
    limits.requests.remaining = 0;
    limits.requests.reset = "2025-10-30T16:17:36Z";
    paused->observe(limits, std::chrono::system_clock::from_time_t(1761841050));
    std::vector<std::exception_ptr> outcomes(2);
    std::vector<bool> finished(2, false);
    asio::cancellation_signal cancel[2];
    for (int i = 0; i < 2; ++i) {
        auto g = i == 0 ? gate : paused;
        asio::co_spawn(ioc, [g]() -> asio::awaitable<void> { co_await g->acquire(request_gate::priority::interactive); },
                       asio::bind_cancellation_slot(cancel[i].slot(), [&, i](std::exception_ptr e) {
                           outcomes[i] = e;
                           finished[i] = true;
                       }));
    }
    ioc.poll();
    for (auto& c : cancel) c.emit(asio::cancellation_type::terminal);
    ioc.run_for(std::chrono::seconds(2));
    for (int i = 0; i < 2; ++i) {
        BOOST_TEST(finished[i]);
        BOOST_TEST(engram::test::is_cancelled(outcomes[i]));
    }
    held.reset();  // the cancelled waiter is gone: the slot is free again
    BOOST_TEST(gate->try_acquire().has_value());
}

BOOST_AUTO_TEST_CASE(the_load_counts_slots_taken_and_requests_waiting_for_a_slot_or_out_a_pause) {
    asio::io_context ioc;
    auto gate = std::make_shared<request_gate>(2);
    const auto load_is = [&](std::size_t in_use, std::size_t waiting) {
        const auto l = gate->current_load();
        BOOST_TEST(l.in_use == in_use);
        BOOST_TEST(l.waiting == waiting);
    };
    load_is(0, 0);
    auto a = gate->try_acquire();
    auto b = gate->try_acquire();
    load_is(2, 0);
    int admitted = 0;
    const auto ask = [&](request_gate::priority p) {
        asio::co_spawn(ioc, [&, p]() -> asio::awaitable<void> {
            auto permit = co_await gate->acquire(p);
            ++admitted;
        }, asio::detached);
    };
    ask(request_gate::priority::interactive);
    ask(request_gate::priority::background);
    ioc.poll();
    load_is(2, 2);
    a.reset();  // handed to the interactive waiter: still taken, one fewer waiting
    load_is(2, 1);
    // Each admitted request drops its permit at once: the interactive one's slot passes on to
    // the background one.
    for (int i = 0; i < 2; ++i) {
        ioc.restart();
        ioc.poll();
    }
    BOOST_TEST(admitted == 2);
    load_is(1, 0);  // b still holds its slot
    // An exhausted window: a new request sleeps out the pause and counts as waiting meanwhile.
    engram::net::rate_limits limits;
    limits.requests.remaining = 0;
    limits.requests.reset = "2025-10-30T16:17:36Z";
    gate->observe(limits, std::chrono::system_clock::from_time_t(1761841050));  // 6 s before it
    ask(request_gate::priority::interactive);
    ioc.restart();
    ioc.poll();
    load_is(1, 1);
    // The paused request is not waited for: its frame goes with the io_context.
}

BOOST_AUTO_TEST_SUITE_END()
