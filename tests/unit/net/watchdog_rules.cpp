// The step deadlines of a pool's connections, kept by one shared timer (watchdog_wheel): a step
// past its deadline has its socket closed and finishes as a timeout; the other connections on
// the same timer go on; a deadline that moved on, or a step now run by another strand, is not
// closed by a timeout that was meant for the step before; and once every connection is idle the
// timer is gone, so an io_context's run() can return. And the wait for input that is not re-armed
// in epoll (edge_wait.hpp): it ends for each new input, input that raised no edge of its own (a
// close that came with the last bytes) is found by the watchdog's probe, and a re-armed wait
// finds input a read left behind.
#include <chrono>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/test/unit_test.hpp>

#include "edge_wait.hpp"
#include "io_watchdog.hpp"

namespace asio = boost::asio;
using engram::net::detail::async_wait_for_input;
using engram::net::detail::io_watchdog;
using engram::net::detail::watchdog_wheel;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

/// A connected loopback pair: `ours` is what a watchdog bounds, `peer` the other end.
struct socket_pair {
    explicit socket_pair(asio::io_context& ioc) : ours(ioc), peer(ioc) {
        asio::ip::tcp::acceptor listener(ioc, {asio::ip::make_address("127.0.0.1"), 0});
        ours.connect(listener.local_endpoint());
        listener.accept(peer);
    }
    asio::ip::tcp::socket ours;
    asio::ip::tcp::socket peer;
};

/// Waits for `s` to become readable, as a step does; the outcome lands in `out`.
void wait_readable(asio::ip::tcp::socket& s, std::optional<boost::system::error_code>& out) {
    s.async_wait(asio::ip::tcp::socket::wait_read, [&out](boost::system::error_code ec) { out = ec; });
}

/// Waits for input on `s` as a plain connection's read step does (re-armed or not); the outcome
/// lands in `out`.
void wait_for_input(asio::ip::tcp::socket& s, bool rearm, std::optional<boost::system::error_code>& out) {
    async_wait_for_input(s, rearm, [&out](boost::system::error_code ec) { out = ec; });
}

/// Leaves a wait for new input on a new socket pending in `r`. A new socket's first wait may end
/// at once, before any input (the reactor has not seen the socket drained yet): a read step then
/// finds nothing and waits again, as this does.
void wait_for_new_input(asio::io_context& ioc, asio::ip::tcp::socket& s, std::optional<boost::system::error_code>& r) {
    wait_for_input(s, false, r);
    ioc.poll();
    if (!r) return;
    r.reset();
    wait_for_input(s, false, r);
    ioc.poll();
    BOOST_REQUIRE(!r.has_value());
}

/// Runs `ioc` until `r` holds the outcome of a wait (or nothing is left to run for 5 s).
void run_until_done(asio::io_context& ioc, const std::optional<boost::system::error_code>& r) {
    while (!r && ioc.run_one_for(5s)) {
    }
}

/// Reads what `s` holds now (without waiting): the bytes, or the error (eof) a read gives.
std::string read_now(asio::ip::tcp::socket& s, boost::system::error_code& ec) {
    std::string out(64 * 1024, '\0');
    s.non_blocking(true);
    out.resize(s.read_some(asio::buffer(out), ec));
    return out;
}

/// What `s` holds now is the end of its input: a read gives no bytes, and eof.
void expect_end_of_input(asio::ip::tcp::socket& s) {
    boost::system::error_code ec;
    BOOST_TEST(read_now(s, ec).empty());
    BOOST_TEST((ec == asio::error::eof));
}

/// The peer sends a byte: the step waiting for it in `r` must end well, its watchdog untouched.
void expect_step_to_end_well(asio::io_context& ioc, socket_pair& pair, io_watchdog& watchdog,
                             std::optional<boost::system::error_code>& r) {
    asio::write(pair.peer, asio::buffer("x", 1));
    while (!r && ioc.run_one_for(5s)) {
    }
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST(!*r);
    BOOST_TEST(!watchdog.finish(*r));
}

/// Two connections whose watchdogs share one wheel, on a single-threaded io_context.
struct wheel_world {
    asio::io_context ioc;
    std::shared_ptr<watchdog_wheel> wheel = std::make_shared<watchdog_wheel>(ioc.get_executor());
    socket_pair a{ioc}, b{ioc};
    io_watchdog wa{wheel, a.ours}, wb{wheel, b.ours};
};

/// wheel_world with a wait for new input on a.ours pending in `r` (wait_for_new_input).
struct waiting_world : wheel_world {
    waiting_world() { wait_for_new_input(ioc, a.ours, r); }
    asio::executor_work_guard<asio::io_context::executor_type> busy = asio::make_work_guard(ioc);  // poll() must not stop it
    std::optional<boost::system::error_code> r;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(watchdog_rules)

BOOST_FIXTURE_TEST_CASE(a_step_past_its_deadline_times_out_while_another_on_the_same_timer_goes_on, wheel_world) {

    wa.begin(clock_type::now() + 50ms, ioc.get_executor());
    wb.begin(clock_type::now() + 30s, ioc.get_executor());
    BOOST_TEST(wheel->watched() == 2u);
    std::optional<boost::system::error_code> ra, rb;
    wait_readable(a.ours, ra);
    wait_readable(b.ours, rb);

    // Nothing arrives on a: its deadline closes its socket, and its wait fails.
    while (!ra && ioc.run_one_for(5s)) {
    }
    BOOST_REQUIRE(ra.has_value());
    BOOST_TEST(!a.ours.is_open());
    BOOST_TEST((wa.finish(*ra) == boost::beast::error::timeout));

    // b is untouched: its step goes on and ends well when its bytes come.
    BOOST_TEST(!rb.has_value());
    BOOST_TEST(b.ours.is_open());
    expect_step_to_end_well(ioc, b, wb, rb);
    // The timer now waits for b's deadline, half a minute away.
    BOOST_TEST((wheel->wakes_at() > clock_type::now() + 20s));
    BOOST_TEST((wheel->wakes_at() != clock_type::time_point::max()));
}

BOOST_FIXTURE_TEST_CASE(a_step_that_began_after_the_deadline_of_the_one_before_is_not_closed, wheel_world) {

    // A short step ends in time; the next one has a long deadline. The timer still wakes up at
    // the first one's deadline, and must leave the second step alone.
    const auto first_end = clock_type::now() + 30ms;
    wa.begin(first_end, ioc.get_executor());
    BOOST_TEST(!wa.finish({}));
    wa.begin(clock_type::now() + 30s, ioc.get_executor());
    std::optional<boost::system::error_code> r;
    wait_readable(a.ours, r);
    ioc.run_until(first_end + 100ms);
    BOOST_TEST(!r.has_value());
    BOOST_TEST(a.ours.is_open());
    // Re-armed for the second step's deadline.
    BOOST_TEST((wheel->wakes_at() > clock_type::now() + 20s));
    BOOST_TEST((wheel->wakes_at() != clock_type::time_point::max()));

    expect_step_to_end_well(ioc, a, wa, r);
}

BOOST_FIXTURE_TEST_CASE(once_every_connection_is_idle_the_timer_is_gone_and_run_returns, wheel_world) {
    wa.begin(clock_type::now() + 30s, ioc.get_executor());
    wb.begin(clock_type::now() + 60s, ioc.get_executor());
    BOOST_TEST(!wa.finish({}));
    BOOST_TEST(!wb.finish({}));

    wa.idle();
    BOOST_TEST(wheel->watched() == 1u);
    ioc.poll();
    BOOST_TEST(!ioc.stopped());  // b is still in the wheel: the timer is armed for it

    wb.idle();
    BOOST_TEST(wheel->watched() == 0u);
    BOOST_TEST((wheel->wakes_at() == clock_type::time_point::max()));
    ioc.poll();  // the cancelled wait's handler runs; then nothing is left
    BOOST_TEST(ioc.stopped());
}

BOOST_FIXTURE_TEST_CASE(a_timeout_that_arrives_after_its_step_ended_and_another_began_closes_nothing, wheel_world) {
    wa.begin(clock_type::now() - 1ms, ioc.get_executor());  // over already
    BOOST_TEST(ioc.run_one_for(5s) == 1u);  // the wheel wakes up and sends the timeout on its way
    // Before it runs, the step ends well and the next one begins, with time to spare.
    BOOST_TEST(!wa.finish({}));
    wa.begin(clock_type::now() + 30s, ioc.get_executor());
    std::optional<boost::system::error_code> r;
    wait_readable(a.ours, r);
    ioc.run_for(100ms);
    BOOST_TEST(a.ours.is_open());
    BOOST_TEST(!r.has_value());

    expect_step_to_end_well(ioc, a, wa, r);
}

BOOST_FIXTURE_TEST_CASE(a_timeout_sent_to_one_strand_leaves_the_step_of_another_to_its_own_timeout, wheel_world) {
    auto first = asio::make_strand(ioc);
    auto second = asio::make_strand(ioc);
    wa.begin(clock_type::now() - 1ms, first);  // over already
    BOOST_TEST(ioc.run_one_for(5s) == 1u);   // the wheel wakes up and sends the timeout to `first`
    // Before it runs, the step ends and the connection's next one begins on another strand, past
    // its deadline too. `first` must not touch the socket that `second` now uses.
    BOOST_TEST(!wa.finish({}));
    wa.begin(clock_type::now() - 1ms, second);
    std::optional<bool> open_after_first;
    asio::post(first, [&] { open_after_first = a.ours.is_open(); });  // runs after the timeout sent there
    std::optional<boost::system::error_code> r;
    wait_readable(a.ours, r);
    while ((!r || !open_after_first) && ioc.run_one_for(5s)) {
    }
    BOOST_REQUIRE(open_after_first.has_value());
    BOOST_TEST(*open_after_first);
    // The second step's own timeout, sent to `second`, closed it.
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST(!a.ours.is_open());
    BOOST_TEST((wa.finish(*r) == boost::beast::error::timeout));
}

BOOST_AUTO_TEST_CASE(a_connection_gone_before_its_timeout_runs_is_left_alone) {
    asio::io_context ioc;
    auto wheel = std::make_shared<watchdog_wheel>(ioc.get_executor());
    socket_pair a(ioc);
    auto wa = std::make_unique<io_watchdog>(wheel, a.ours);
    wa->begin(clock_type::now() - 1ms, ioc.get_executor());  // over already
    BOOST_TEST(ioc.run_one_for(5s) == 1u);  // the wheel wakes up and sends the timeout on its way
    wa.reset();                              // the connection goes before the timeout runs
    ioc.run_for(100ms);                      // the timeout finds nothing to close
    BOOST_TEST(a.ours.is_open());
    BOOST_TEST(wheel->watched() == 0u);
}

BOOST_FIXTURE_TEST_CASE(a_wait_for_input_that_is_not_rearmed_ends_for_each_new_input, waiting_world) {
    for (const std::string piece : {"one", "two", "three"}) {
        BOOST_TEST_CONTEXT(piece) {
            asio::write(a.peer, asio::buffer(piece));
            run_until_done(ioc, r);
            BOOST_REQUIRE(r.has_value());
            BOOST_TEST(!*r);
            boost::system::error_code ec;
            BOOST_TEST(read_now(a.ours, ec) == piece);
            r.reset();
            wait_for_input(a.ours, false, r);
            ioc.poll();
            BOOST_TEST(!r.has_value());  // nothing new: it waits
        }
    }
    asio::write(a.peer, asio::buffer("four", 4));
    run_until_done(ioc, r);
    BOOST_REQUIRE(r.has_value());
    boost::system::error_code ec;
    BOOST_TEST(read_now(a.ours, ec) == "four");
    // Input that comes while no wait is there is not lost: the next wait ends at once.
    a.peer.close();
    ioc.poll();  // the reactor takes the close's edge, with no wait to give it to
    r.reset();
    wait_for_input(a.ours, false, r);
    ioc.poll();
    BOOST_REQUIRE(r.has_value());
    expect_end_of_input(a.ours);
}

BOOST_FIXTURE_TEST_CASE(a_close_that_came_with_the_last_bytes_is_found_by_the_probe, waiting_world) {
    // The last bytes and the close reach the socket before the reactor looks again: one edge.
    asio::write(a.peer, asio::buffer("last", 4));
    a.peer.shutdown(asio::ip::tcp::socket::shutdown_send);
    run_until_done(ioc, r);
    BOOST_REQUIRE(r.has_value());
    boost::system::error_code ec;
    BOOST_TEST(read_now(a.ours, ec) == "last");  // the read takes the close too, and says nothing of it
    BOOST_TEST(!ec);

    // The next wait, not re-armed, would never end. The probe finds the close and ends it.
    r.reset();
    wa.begin_input_wait(clock_type::now() + 50ms, clock_type::now() + 30s, ioc.get_executor());
    wait_for_input(a.ours, false, r);
    run_until_done(ioc, r);
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST((*r == asio::error::operation_aborted));  // cancelled by the probe...
    BOOST_TEST(!wa.finish(*r));                          // ...which the step takes as input
    BOOST_TEST(wheel->hidden_input_found() == 1u);
    BOOST_TEST(a.ours.is_open());
    expect_end_of_input(a.ours);
}

BOOST_FIXTURE_TEST_CASE(a_probe_that_finds_nothing_leaves_the_wait_to_its_deadline_and_to_later_input, waiting_world) {
    wa.begin_input_wait(clock_type::now() + 30ms, clock_type::now() + 30s, ioc.get_executor());
    ioc.run_for(200ms);  // the probe has looked by now
    BOOST_TEST(!r.has_value());
    BOOST_TEST(wheel->hidden_input_found() == 0u);
    // The wheel now waits for the step's own deadline.
    BOOST_TEST((wheel->wakes_at() > clock_type::now() + 20s));
    BOOST_TEST((wheel->wakes_at() != clock_type::time_point::max()));
    expect_step_to_end_well(ioc, a, wa, r);
}

BOOST_FIXTURE_TEST_CASE(a_wait_whose_probe_found_nothing_times_out_at_its_own_deadline_not_before, waiting_world) {
    const auto deadline = clock_type::now() + 300ms;
    wa.begin_input_wait(clock_type::now() + 20ms, deadline, ioc.get_executor());
    ioc.run_until(deadline - 150ms);  // the probe has looked, and found nothing
    BOOST_TEST(!r.has_value());
    BOOST_TEST(a.ours.is_open());
    run_until_done(ioc, r);
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST((clock_type::now() >= deadline));
    BOOST_TEST(!a.ours.is_open());
    BOOST_TEST((wa.finish(*r) == boost::beast::error::timeout));
}

BOOST_FIXTURE_TEST_CASE(input_a_read_left_behind_ends_a_rearmed_wait_and_a_wait_can_be_cancelled, waiting_world) {
    const std::string burst(32 * 1024, 'x');  // within the socket buffers: written at once
    asio::write(a.peer, asio::buffer(burst));
    run_until_done(ioc, r);
    BOOST_REQUIRE(r.has_value());
    char some[1024];
    BOOST_TEST(a.ours.read_some(asio::buffer(some)) == sizeof some);  // a read that fills its buffer

    // What is left raised its edge already: a wait that is not re-armed hears nothing more, and
    // ends only when cancelled (through its slot, as a request's cancellation does).
    r.reset();
    asio::cancellation_signal cancel;
    async_wait_for_input(a.ours, false,
                         asio::bind_cancellation_slot(cancel.slot(), [this](boost::system::error_code ec) { r = ec; }));
    ioc.run_for(100ms);
    BOOST_TEST(!r.has_value());
    cancel.emit(asio::cancellation_type::terminal);
    run_until_done(ioc, r);
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST((*r == asio::error::operation_aborted));

    // Re-armed, the wait ends at once.
    r.reset();
    wait_for_input(a.ours, true, r);
    run_until_done(ioc, r);
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST(!*r);
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

/// One connection on a strand of a two-thread io_context: `rounds` steps, each a wait for a byte
/// its peer writes a millisecond later (silent: never), each bounded by `step`.
struct stepping_connection {
    stepping_connection(asio::io_context& ioc, std::shared_ptr<watchdog_wheel> wheel, std::chrono::milliseconds step,
                        bool silent, bool probed = false)
        : pair(ioc), strand(asio::make_strand(ioc)), pace(strand), watchdog(std::move(wheel), pair.ours), step(step),
          silent(silent), probed(probed) {}

    void next_round() {
        if (rounds_done == rounds) {
            watchdog.idle();
            return;
        }
        auto on_input = asio::bind_executor(strand, [this](boost::system::error_code ec) {
            ec = watchdog.finish(ec);
            if (ec) {
                failure = ec;
                watchdog.idle();
                return;
            }
            char byte;
            boost::system::error_code read_ec;
            pair.ours.non_blocking(true);
            if (pair.ours.read_some(asio::buffer(&byte, 1), read_ec) == 1) ++rounds_done;  // else: a wait that ended early
            next_round();
        });
        if (probed) {
            // A wait that is not re-armed, probed every few milliseconds while it waits.
            watchdog.begin_input_wait(clock_type::now() + 3ms, clock_type::now() + step, strand);
            async_wait_for_input(pair.ours, false, std::move(on_input));
        } else {
            watchdog.begin(clock_type::now() + step, strand);
            pair.ours.async_wait(asio::ip::tcp::socket::wait_read, std::move(on_input));
        }
        // One byte a round: a wait that ended early (a new socket's first) must not ask again.
        if (silent || requested > rounds_done) return;
        ++requested;
        pace.expires_after(1ms);
        pace.async_wait([this](boost::system::error_code ec) {
            if (!ec) asio::write(pair.peer, asio::buffer("x", 1));
        });
    }

    socket_pair pair;
    asio::strand<asio::io_context::executor_type> strand;
    asio::steady_timer pace;
    io_watchdog watchdog;
    std::chrono::milliseconds step;
    bool silent;
    bool probed;
    int rounds = 100;
    int rounds_done = 0;
    int requested = 0;  // bytes asked of the peer
    std::optional<boost::system::error_code> failure;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(watchdog_rules)

BOOST_AUTO_TEST_CASE(steps_on_two_threads_share_the_timer_and_only_the_silent_ones_time_out) {
    asio::io_context ioc;
    auto wheel = std::make_shared<watchdog_wheel>(ioc.get_executor());
    std::vector<std::unique_ptr<stepping_connection>> conns;
    for (int i = 0; i < 24; ++i) {
        const bool silent = i % 6 == 0;  // 4 of them: each times out while the others step on
        // Half wait without re-arming, their probes looking while the other thread steps.
        conns.push_back(std::make_unique<stepping_connection>(ioc, wheel, silent ? 40ms : 2s, silent, i / 6 % 2 == 1));
    }
    for (auto& c : conns) asio::post(c->strand, [&c] { c->next_round(); });
    std::thread other([&ioc] { ioc.run(); });
    ioc.run();  // returns once every connection is done and idle: the wheel's timer is gone too
    other.join();

    for (const auto& c : conns) {
        if (c->silent) {
            BOOST_TEST(c->rounds_done == 0);
            BOOST_REQUIRE(c->failure.has_value());
            BOOST_TEST((*c->failure == boost::beast::error::timeout));
        } else {
            BOOST_TEST(!c->failure.has_value());
            BOOST_TEST(c->rounds_done == c->rounds);
        }
    }
    BOOST_TEST(wheel->watched() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
