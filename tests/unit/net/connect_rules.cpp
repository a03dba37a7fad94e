// How a connection's socket is connected: each address in turn, the first that accepts is taken,
// and the socket ends up non-blocking with Nagle off. Over loopback the connect has ended by
// the time connect() returns, so most of this is the path that never waits on the reactor; a
// listener with a full accept queue makes a connect wait (see also the client's integration
// tests).
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <chrono>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/test/unit_test.hpp>

#include <engram/net/error.hpp>

#include "support/full_listener.hpp"
#include "transport.hpp"
#include "url.hpp"

namespace asio = boost::asio;
using engram::net::client_error;
using engram::net::errc;
using engram::net::detail::base_url;
using engram::net::detail::connection;
using engram::net::detail::connect_socket;
using engram::net::detail::deadline;
using results_type = asio::ip::tcp::resolver::results_type;

namespace {

const auto loopback = asio::ip::make_address("127.0.0.1");

// A loopback port nothing listens on: bound by the kernel's choice, then let go.
asio::ip::tcp::endpoint refusing_endpoint(asio::io_context& ioc) {
    asio::ip::tcp::socket s(ioc);
    s.open(asio::ip::tcp::v4());
    s.bind({loopback, 0});
    return s.local_endpoint();
}

results_type addresses(const std::vector<asio::ip::tcp::endpoint>& eps) {
    return results_type::create(eps.begin(), eps.end(), "127.0.0.1", "0");
}

base_url plain_url() {
    base_url u;
    u.tls = false;
    u.host = "127.0.0.1";
    u.port = 1;
    return u;
}

// Runs `connect_socket` to completion; rethrows what it threw.
void connect(asio::io_context& ioc, connection& c, const results_type& eps,
             std::chrono::milliseconds connect_timeout = std::chrono::seconds(5)) {
    const deadline d(std::chrono::seconds(10));
    std::exception_ptr failure;
    bool done = false;
    asio::co_spawn(ioc, connect_socket(c, eps, d, connect_timeout, plain_url()), [&](std::exception_ptr e) {
        failure = e;
        done = true;
        ioc.stop();  // the connection's timer may still be armed: nothing here sends it idle
    });
    ioc.run_for(std::chrono::seconds(10));
    ioc.restart();
    BOOST_REQUIRE(done);
    if (failure) std::rethrow_exception(failure);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(connecting_a_socket)

BOOST_AUTO_TEST_CASE(an_address_that_refuses_is_passed_over_for_the_next) {
    asio::io_context ioc;
    asio::ip::tcp::acceptor listener(ioc, {loopback, 0});
    connection c(ioc.get_executor(), nullptr);
    connect(ioc, c, addresses({refusing_endpoint(ioc), listener.local_endpoint()}));

    BOOST_TEST(c.tcp().is_open());
    BOOST_TEST(c.tcp().remote_endpoint() == listener.local_endpoint());
    // Reads try the socket directly: it must never block.
    BOOST_TEST(c.tcp().non_blocking());
    BOOST_TEST((::fcntl(c.tcp().native_handle(), F_GETFL) & O_NONBLOCK) != 0);
    int nodelay = 0;
    socklen_t len = sizeof nodelay;
    BOOST_REQUIRE(::getsockopt(c.tcp().native_handle(), IPPROTO_TCP, TCP_NODELAY, &nodelay, &len) == 0);
    BOOST_TEST(nodelay != 0);

    // And the connection works: bytes written arrive at the listener's side.
    asio::ip::tcp::socket peer = listener.accept();
    BOOST_TEST(asio::write(c.tcp(), asio::buffer("ping", 4)) == 4u);
    char got[4] = {};
    BOOST_TEST(asio::read(peer, asio::buffer(got)) == 4u);
    BOOST_TEST(std::string_view(got, 4) == "ping");
}

BOOST_AUTO_TEST_CASE(when_every_address_refuses_the_error_is_connect_failed) {
    asio::io_context ioc;
    connection c(ioc.get_executor(), nullptr);
    try {
        connect(ioc, c, addresses({refusing_endpoint(ioc), refusing_endpoint(ioc)}));
        BOOST_FAIL("connected to nothing");
    } catch (const client_error& e) {
        BOOST_TEST((e.code_value() == errc::connect_failed));
        BOOST_TEST(std::string(e.what()).find("could not connect") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(no_address_at_all_is_connect_failed) {
    asio::io_context ioc;
    connection c(ioc.get_executor(), nullptr);
    BOOST_CHECK_THROW(connect(ioc, c, addresses({})), client_error);
}

BOOST_AUTO_TEST_CASE(an_address_that_refuses_after_a_wait_is_passed_over_for_the_next) {
    // The first address makes the connect wait (its accept queue is full) and then refuses (it
    // closes before the SYN is sent again, a second later); the second has room by then.
    asio::io_context ioc;
    engram::test::full_listener first(ioc), second(ioc);
    const auto first_ep = first.acceptor.local_endpoint();
    asio::ip::tcp::socket second_filler(ioc);
    asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
        asio::steady_timer t(ioc, std::chrono::milliseconds(300));
        co_await t.async_wait(asio::use_awaitable);
        first.acceptor.close();
        first.filler.close();
        second_filler = co_await second.acceptor.async_accept(asio::use_awaitable);  // room again
    }, asio::detached);
    connection c(ioc.get_executor(), nullptr);
    connect(ioc, c, addresses({first_ep, second.acceptor.local_endpoint()}));
    BOOST_TEST(c.tcp().remote_endpoint() == second.acceptor.local_endpoint());
    BOOST_TEST(c.tcp().non_blocking());
}

BOOST_AUTO_TEST_CASE(the_connect_timeout_bounds_the_wait_for_a_later_address_too) {
    // The first address makes the connect wait (its accept queue is full) and then refuses (it
    // closes before the SYN is sent again, a second later); the second never takes it. The
    // timeout, started at the first wait, must still end the second.
    asio::io_context ioc;
    engram::test::full_listener first(ioc), second(ioc);
    const auto first_ep = first.acceptor.local_endpoint();
    asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
        asio::steady_timer t(ioc, std::chrono::milliseconds(300));
        co_await t.async_wait(asio::use_awaitable);
        first.acceptor.close();
        first.filler.close();
    }, asio::detached);
    connection c(ioc.get_executor(), nullptr);
    const auto started = std::chrono::steady_clock::now();
    try {
        connect(ioc, c, addresses({first_ep, second.acceptor.local_endpoint()}), std::chrono::milliseconds(2500));
        BOOST_FAIL("connected to a listener that takes nothing");
    } catch (const client_error& e) {
        BOOST_TEST((e.code_value() == errc::connect_timeout), e.what());
    }
    const auto took = std::chrono::steady_clock::now() - started;
    // One timeout from the first wait on (the first address refuses after about a second, as
    // the case above shows), not one per address.
    BOOST_TEST((took >= std::chrono::milliseconds(2400)));
    BOOST_TEST((took < std::chrono::milliseconds(3300)));
}

BOOST_AUTO_TEST_CASE(an_address_that_never_answers_gets_only_its_share_of_the_connect_timeout) {
    // The first address drops every SYN (its accept queue stays full), as a route that leads
    // nowhere does; the second takes the connect. With two addresses the first may use half
    // of the timeout, then the second is tried.
    asio::io_context ioc;
    engram::test::full_listener first(ioc);
    asio::ip::tcp::acceptor second(ioc, {loopback, 0});
    connection c(ioc.get_executor(), nullptr);
    const auto started = std::chrono::steady_clock::now();
    connect(ioc, c, addresses({first.acceptor.local_endpoint(), second.local_endpoint()}), std::chrono::milliseconds(3000));
    const auto took = std::chrono::steady_clock::now() - started;
    BOOST_TEST(c.tcp().remote_endpoint() == second.local_endpoint());
    BOOST_TEST((took >= std::chrono::milliseconds(1400)));
    BOOST_TEST((took < std::chrono::milliseconds(2500)));
}

BOOST_AUTO_TEST_SUITE_END()
