// A process killed with SIGKILL after a session ended but before its extraction finished: the
// next start finishes that extraction exactly once. Uses fork(), so it is its own test binary.
#include <engram/runtime/runtime.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <engram/memory/store.hpp>

#include "support/fake_anthropic_server.hpp"
#include "support/model_replies.hpp"
#include "support/run_coro.hpp"
#include "support/temp_dir.hpp"

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using engram::test::fake_anthropic_server;
using engram::test::recorded_request;
using engram::test::scripted_response;
using engram::test::is_extraction;

namespace {

engram::runtime::runtime_config config_for(const fake_anthropic_server& server, const std::filesystem::path& dir) {
    engram::runtime::runtime_config c;
    c.client = engram::net::client_config{};
    c.client.base_url = server.base_url();
    c.client.api_key = "sk-test";
    c.client.retry.max_retries = 0;
    c.memory_directory = dir;
    return c;
}

std::shared_ptr<engram::memory::store> open_store(const std::filesystem::path& dir) {
    engram::memory::store_options o;
    o.directory = dir;
    auto s = engram::memory::store::open(o);
    if (!s) throw std::runtime_error(s.error().what());
    return *s;
}

// The child: one session, ended; its extraction call hangs until the parent kills us.
[[noreturn]] void child_main(const std::filesystem::path& dir, int ready_fd) {
    try {
        fake_anthropic_server server;
        server.set_handler([](const recorded_request& r) {
            if (is_extraction(r)) {
                auto hang = scripted_response::json(200, "{}");
                hang.delay_before_header = std::chrono::minutes(5);
                return hang;
            }
            return scripted_response::sse(engram::test::make_text_stream("noted"));
        });
        asio::io_context ioc;
        engram::runtime::runtime rt(ioc.get_executor(), config_for(server, dir));
        asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
            co_await rt.start();
            auto s = co_await rt.open_session("assistant", "kim");
            co_await s.send("My favourite language is OCaml");
            s.end();
            auto store = open_store(dir);
            for (int i = 0; i < 500; ++i) {  // wait until the job is durable in the journal
                auto jobs = store->journal_list();
                if (jobs && jobs->size() == 1) {
                    (void)!::write(ready_fd, "r", 1);
                    break;
                }
                asio::steady_timer t(co_await asio::this_coro::executor, 10ms);
                co_await t.async_wait(asio::use_awaitable);
            }
        }, asio::detached);
        ioc.run_for(60s);
    } catch (...) {
    }
    ::_exit(3);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(runtime_crash_recovery)

BOOST_AUTO_TEST_CASE(extraction_interrupted_by_sigkill_is_finished_exactly_once_at_next_start) {
    engram::test::temp_dir tmp;
    const auto dir = tmp.path() / "memory";
    int fds[2];
    BOOST_REQUIRE(::pipe(fds) == 0);
    const pid_t child = ::fork();
    BOOST_REQUIRE(child >= 0);
    if (child == 0) {
        ::close(fds[0]);
        child_main(dir, fds[1]);
    }
    ::close(fds[1]);
    pollfd p{fds[0], POLLIN, 0};
    const int ready = ::poll(&p, 1, 60'000);
    char c = 0;
    const bool got = ready == 1 && ::read(fds[0], &c, 1) == 1;
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    ::close(fds[0]);
    BOOST_REQUIRE_MESSAGE(got, "the child never journaled its session");
    BOOST_TEST(WIFSIGNALED(status));
    BOOST_TEST(open_store(dir)->journal_list()->size() == 1u);
    BOOST_TEST(open_store(dir)->load("kim")->memory.session_count == 0);

    // The next start finishes the job.
    for (int run = 0; run < 2; ++run) {
        fake_anthropic_server server;
        server.set_handler([](const recorded_request& r) {
            if (!is_extraction(r)) return scripted_response::sse(engram::test::make_text_stream("unused"));
            return engram::test::extraction_reply(
                R"({"new_facts":[{"text":"Favourite language is OCaml","confidence":"high","source":"stated"}]})");
        });
        asio::io_context ioc;
        engram::runtime::runtime rt(ioc.get_executor(), config_for(server, dir));
        engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
            co_await rt.start();
            co_await rt.drain_extractions();
            co_await rt.shutdown();
        });
        std::size_t extraction_calls = 0;
        for (const auto& r : server.requests()) extraction_calls += is_extraction(r) ? 1 : 0;
        BOOST_TEST(extraction_calls == (run == 0 ? 1u : 0u), "run " << run);  // exactly once
        auto m = open_store(dir)->load("kim")->memory;
        BOOST_TEST(m.session_count == 1);
        BOOST_REQUIRE_EQUAL(m.key_facts.size(), 1u);
        BOOST_TEST(m.key_facts[0].text == "Favourite language is OCaml");
        BOOST_TEST(open_store(dir)->journal_list()->empty());
    }
}

BOOST_AUTO_TEST_SUITE_END()
