// The runtime against the fake Anthropic server: sessions, extraction, durable memory, the next
// session; concurrency, busy policies, idle timeout and shutdown. Loopback only.
#include <engram/runtime/runtime.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <optional>
#include <set>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <engram/memory/store.hpp>

#include "support/cancelled.hpp"
#include "support/fake_anthropic_server.hpp"
#include "support/fixtures.hpp"
#include "support/model_replies.hpp"
#include "support/run_coro.hpp"
#include "support/temp_dir.hpp"

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using engram::runtime::runtime;
using engram::runtime::runtime_config;
using engram::runtime::runtime_error;
using engram::test::fake_anthropic_server;
using engram::test::recorded_request;
using engram::test::scripted_response;
using engram::test::chat_requests;
using engram::test::echo_reply;
using engram::test::echo_server;
using engram::test::extraction_reply;
using engram::test::extraction_requests;
using engram::test::is_extraction;

namespace {

runtime_config config_for(const fake_anthropic_server& server, const engram::test::temp_dir& dir) {
    runtime_config c;
    c.client = engram::net::client_config{};
    c.client.base_url = server.base_url();
    c.client.api_key = "sk-test";
    c.client.retry.initial_backoff = 5ms;
    c.memory_directory = dir.path() / "memory";
    c.shutdown_grace = 5s;
    return c;
}

// Chat turns are echoed; every memory pass meets an overloaded model (529), and is counted.
void overloaded_for_memory(fake_anthropic_server& server, std::atomic<int>& extraction_calls) {
    server.set_handler([&extraction_calls](const recorded_request& r) {
        if (!is_extraction(r)) return echo_reply(r);
        ++extraction_calls;
        return scripted_response::json(529, R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})");
    });
}

// A failed memory pass waits 10 minutes for its one retry (the client itself retries nothing),
// and the shutdown's grace is longer than a test may take: only a cut ends such a wait in time.
runtime_config waiting_long_to_retry(const fake_anthropic_server& server, const engram::test::temp_dir& dir) {
    auto cfg = config_for(server, dir);
    cfg.client.retry.max_retries = 0;
    cfg.extraction_retry_delays = {std::chrono::minutes(10)};
    cfg.shutdown_grace = 30s;
    return cfg;
}

// Until the first memory pass has been tried (and failed).
asio::awaitable<void> until_tried(const std::atomic<int>& extraction_calls) {
    while (extraction_calls.load() == 0) {
        asio::steady_timer t(co_await asio::this_coro::executor, 10ms);
        co_await t.async_wait(asio::use_awaitable);
    }
}

using engram::test::eventually;

// One session of `user` that says `text` and ends (its memory pass queued).
asio::awaitable<void> say_and_end(runtime& rt, std::string user, std::string text) {
    auto s = co_await rt.open_session("assistant", user);
    co_await s.send(text);
    s.end();
}

// The model of the undo tests: the first session teaches the cello; the second's summary says
// whatever the memory it is shown holds (made before an undo, it still mentions the cello).
// `slow_when_it_knows` delays that reply, to undo while the model works.
std::function<scripted_response(const recorded_request&)> cello_then_bike(std::atomic<int>& extraction_calls,
                                                                       std::chrono::milliseconds slow_when_it_knows) {
    return [&extraction_calls, slow_when_it_knows](const recorded_request& r) {
        if (!is_extraction(r)) return echo_reply(r);
        ++extraction_calls;
        if (r.body.find("second session") == std::string::npos)
            return extraction_reply(R"({"running_summary":"Plays the cello.","new_facts":["Plays the cello"]})");
        const bool knows_cello = r.body.find("Plays the cello") != std::string::npos;
        auto reply = extraction_reply(knows_cello ? R"({"running_summary":"Plays the cello and rides a bike.","new_facts":["Rides a bike"]})"
                                                  : R"({"running_summary":"Rides a bike.","new_facts":["Rides a bike"]})");
        if (knows_cello) reply.delay_before_header = slow_when_it_knows;
        return reply;
    };
}

// The next `failures_left` writes of ida's memory record meet a full disk (the journal's
// writes pass).
struct disk_full_for_record : engram::memory::filesystem {
    std::atomic<int> failures_left{0};
    int rename_at(int from_dir, const char* from, int to_dir, const char* to) override {
        if (std::string_view(to) == "ida.json" && failures_left.load() > 0) {
            --failures_left;
            errno = ENOSPC;
            return -1;
        }
        return filesystem::rename_at(from_dir, from, to_dir, to);
    }
};

// Memory writes go through `fs`; a failed save is retried after each of `delays`.
runtime_config retrying_saves_through(const fake_anthropic_server& server, const engram::test::temp_dir& dir,
                                      std::shared_ptr<disk_full_for_record> fs,
                                      std::vector<std::chrono::milliseconds> delays) {
    auto cfg = config_for(server, dir);
    cfg.memory_filesystem = std::move(fs);
    cfg.extraction_retry_delays = std::move(delays);
    return cfg;
}

std::shared_ptr<engram::memory::store> open_store(const engram::test::temp_dir& dir) {
    engram::memory::store_options options;
    options.directory = dir.path() / "memory";
    auto store = engram::memory::store::open(options);
    BOOST_REQUIRE(store);
    return *store;
}

engram::memory::user_memory stored_memory(const engram::test::temp_dir& dir, const std::string& user) {
    auto store = open_store(dir);
    auto rec = store->load(user);
    BOOST_REQUIRE(rec);
    return rec->memory;
}

// Records every memory event the runtime reports.
void record_memory_events(runtime& rt, std::vector<engram::runtime::memory_event>& events) {
    engram::runtime::runtime_hooks hooks;
    hooks.on_memory_update = [&events](const engram::runtime::memory_event& e) { events.push_back(e); };
    rt.set_hooks(hooks);
}

const char* fact_update = R"({"running_summary":"Alice is building a SaaS for contract review.",
  "new_facts":[{"text":"Uses Python and FastAPI for the backend","confidence":"high","source":"stated"}],
  "updated_preferences":{"communication_style":"direct"}})";

// Chat turns echo; every extraction returns fact_update after `delay`.
void slow_memory_server(fake_anthropic_server& server, std::chrono::milliseconds delay) {
    server.set_handler([delay](const recorded_request& r) {
        if (!is_extraction(r)) return echo_reply(r);
        auto reply = extraction_reply(fact_update);
        reply.delay_before_header = delay;
        return reply;
    });
}

// Threads of this process right now.
std::size_t thread_count() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& task : std::filesystem::directory_iterator("/proc/self/task")) ++n;
    return n;
}

// Polls until the process is back to `baseline` threads or `limit` passed; returns the count.
std::size_t wait_for_threads(std::size_t baseline, std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (thread_count() > baseline && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(10ms);
    return thread_count();
}

// From a thread outside a runtime on threads of its own: starts it, opens a session of `user`
// and has one turn in it.
engram::runtime::session session_after_one_turn(runtime& rt, const std::string& user) {
    auto opened = asio::co_spawn(rt.executor(), [&]() -> asio::awaitable<engram::runtime::session> {
        co_await rt.start();
        auto s = co_await rt.open_session("assistant", user);
        co_await s.send("hello");
        co_return s;
    }, asio::use_future);
    BOOST_REQUIRE(opened.wait_for(30s) == std::future_status::ready);
    return opened.get();
}

// A memory update with one fact, for the actor directly.
engram::memory::update_request one_fact_update(const std::string& session_id, const std::string& fact) {
    engram::memory::update_request req;
    req.session_id = session_id;
    req.update.new_facts.push_back({fact, engram::memory::confidence::high, engram::memory::fact_source::stated});
    return req;
}

// One process's life on cfg's memory directory: start (replaying the journal), carol's session
// saying "I like tea" if `with_session`, every memory pass, shutdown; events go to `events`.
void one_start(const runtime_config& cfg, std::vector<engram::runtime::memory_event>& events, bool with_session) {
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), cfg);
    record_memory_events(rt, events);
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        if (with_session) {
            auto s = co_await rt.open_session("assistant", "carol");
            co_await s.send("I like tea");
            s.end();
        }
        co_await rt.drain_extractions();
        co_await rt.shutdown();
    });
}

// The one job the journal holds (the test fails if it holds another number).
engram::memory::pending_job only_journaled_job(const engram::test::temp_dir& dir) {
    auto jobs = open_store(dir)->journal_list();
    BOOST_REQUIRE(jobs);
    BOOST_REQUIRE_EQUAL(jobs->size(), 1u);
    return jobs->front();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(runtime_integration)

BOOST_AUTO_TEST_CASE(facts_from_session_one_reach_the_system_prompt_of_session_two) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, fact_update);
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), config_for(server, dir));
    std::vector<engram::runtime::memory_event> events;
    record_memory_events(rt, events);
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        auto s1 = co_await rt.open_session("assistant", "alice");
        BOOST_TEST(s1.remembered_items() == 0u);
        std::string streamed;
        bool stamped = true;  // every delta carries when its bytes were read, at or before the callback
        auto reply = co_await s1.send("I use Python and FastAPI for my backend", [&](std::string_view d) {
            streamed += d;
            const auto at = s1.delta_received_at();
            stamped = stamped && at != std::chrono::steady_clock::time_point{} && at <= std::chrono::steady_clock::now();
        });
        BOOST_TEST(reply.text() == "echo: I use Python and FastAPI for my backend");
        BOOST_TEST(streamed == reply.text());
        BOOST_TEST(stamped);
        s1.end();
        co_await rt.drain_extractions();

        auto s2 = co_await rt.open_session("assistant", "alice");
        BOOST_TEST(s2.remembered_items() >= 2u);
        co_await s2.send("What do I use?");
        s2.end();
        co_await rt.shutdown();
    });
    // One extraction call was made, carrying the transcript, with the extraction model.
    const auto ex = extraction_requests(server);
    BOOST_REQUIRE_GE(ex.size(), 1u);
    BOOST_TEST(ex[0].body.find("I use Python and FastAPI for my backend") != std::string::npos);
    // Session 2's first request carries the fact in its system prompt.
    const auto chats = chat_requests(server);
    BOOST_REQUIRE_EQUAL(chats.size(), 2u);
    const auto system2 = json::serialize(json::parse(chats[1].body).at("system"));
    BOOST_TEST(system2.find("Uses Python and FastAPI for the backend") != std::string::npos);
    const auto system1 = json::serialize(json::parse(chats[0].body).at("system"));
    BOOST_TEST(system1.find("FastAPI") == std::string::npos);
    BOOST_TEST(system2.find("cache_control") != std::string::npos);
    // Memory is on disk.
    const auto m = stored_memory(dir, "alice");
    BOOST_TEST(m.session_count == 2);
    BOOST_TEST(m.preferences.at("communication_style") == "direct");
    BOOST_REQUIRE(!events.empty());
    BOOST_TEST(events.front().ok);
    BOOST_TEST(!events.front().changes.empty());
}

BOOST_AUTO_TEST_CASE(a_session_opened_while_the_previous_one_is_being_saved_waits_for_its_memory) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    slow_memory_server(server, 300ms);  // the memory pass is still running when session 2 opens
    asio::io_context ioc;
    auto cfg = config_for(server, dir);
    runtime rt(ioc.get_executor(), cfg);
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        auto s1 = co_await rt.open_session("assistant", "alice");
        co_await s1.send("I use Python and FastAPI for my backend");
        s1.end();  // no drain: session 2 opens at once
        auto s2 = co_await rt.open_session("assistant", "alice");
        BOOST_TEST(s2.memory_block().find("Uses Python and FastAPI for the backend") != std::string::npos, s2.memory_block());
        s2.end();
        co_await rt.shutdown();
    });
}

BOOST_AUTO_TEST_CASE(a_returning_users_memory_pass_goes_before_other_users_waiting_for_a_request_slot) {
    // One request slot, and ten users' sessions ending at once: their memory passes wait in line
    // for it. The last of them comes back at once; its pass must be the next to run, not the
    // tenth, or the new session would wait for nine other users' passes.
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    slow_memory_server(server, 300ms);
    asio::io_context ioc;
    auto cfg = config_for(server, dir);
    cfg.max_in_flight_requests = 1;
    cfg.memory_wait_on_open = 20s;  // long enough for all ten: the order shows the promotion
    runtime rt(ioc.get_executor(), cfg);
    constexpr int users = 10;
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        std::vector<engram::runtime::session> sessions;
        for (int u = 0; u < users; ++u) {
            sessions.push_back(co_await rt.open_session("assistant", "user" + std::to_string(u)));
            co_await sessions.back().send("I am user number " + std::to_string(u) + ".");
        }
        for (auto& s : sessions) s.end();
        auto back = co_await rt.open_session("assistant", "user9");
        BOOST_TEST(back.memory_block().find("Uses Python and FastAPI for the backend") != std::string::npos);
        back.end();
        co_await rt.drain_extractions();  // all of them, before the shutdown's grace could cut any
        co_await rt.shutdown();
    }, 60s);
    std::vector<std::size_t> user9_passes;
    const auto passes = extraction_requests(server);
    for (std::size_t i = 0; i < passes.size(); ++i)
        if (passes[i].body.find("I am user number 9.") != std::string::npos) user9_passes.push_back(i);
    BOOST_TEST(passes.size() == static_cast<std::size_t>(users));
    BOOST_REQUIRE_EQUAL(user9_passes.size(), 1u);
    BOOST_TEST(user9_passes[0] <= 1u);  // right after the pass that held the slot, if not first
}

BOOST_AUTO_TEST_CASE(with_no_wait_a_session_opens_at_once_without_the_memory_still_being_saved_and_says_so) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    slow_memory_server(server, 300ms);
    asio::io_context ioc;
    auto cfg = config_for(server, dir);
    cfg.memory_wait_on_open = 0ms;
    runtime rt(ioc.get_executor(), cfg);
    std::vector<std::string> notices;
    engram::runtime::runtime_hooks hooks;
    hooks.on_notice = [&](const engram::runtime::session_info&, const std::string& text) { notices.push_back(text); };
    rt.set_hooks(hooks);
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        auto s1 = co_await rt.open_session("assistant", "alice");
        co_await s1.send("I use Python and FastAPI for my backend");
        s1.end();
        auto s2 = co_await rt.open_session("assistant", "alice");
        BOOST_TEST(s2.memory_block().find("FastAPI") == std::string::npos);
        s2.end();
        co_await rt.shutdown();
    });
    BOOST_REQUIRE_EQUAL(notices.size(), 1u);
    BOOST_TEST(notices[0].find("still being saved") != std::string::npos, notices[0]);
}

BOOST_AUTO_TEST_CASE(a_user_whose_memory_a_newer_engram_wrote_can_still_talk_and_that_memory_is_left_alone) {
    // A rolling upgrade: a newer build shares the directory and wrote dora's record in a schema
    // this build does not read. Her session opens without memory (and says so), and the record
    // is neither quarantined nor written over; the session's job stays journaled.
    engram::test::temp_dir dir;
    const std::string newer = R"({"schema_version": 7, "user_id": "dora", "memories": [{"text": "a later shape"}]})";
    std::filesystem::create_directories(dir.path() / "memory");
    std::ofstream(dir.path() / "memory" / "dora.json") << newer;
    fake_anthropic_server server;
    echo_server(server, fact_update);
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), config_for(server, dir));
    std::vector<std::string> notices;
    std::vector<engram::runtime::memory_event> events;
    engram::runtime::runtime_hooks hooks;
    hooks.on_notice = [&](const engram::runtime::session_info&, const std::string& text) { notices.push_back(text); };
    hooks.on_memory_update = [&](const engram::runtime::memory_event& e) { events.push_back(e); };
    rt.set_hooks(hooks);
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        auto s = co_await rt.open_session("assistant", "dora");
        BOOST_TEST(s.remembered_items() == 0u);
        const auto reply = co_await s.send("hello");
        BOOST_TEST(reply.text() == "echo: hello");
        s.end();
        co_await rt.shutdown();
    });
    BOOST_REQUIRE_EQUAL(notices.size(), 1u);
    BOOST_TEST(notices[0].find("cannot be read by this build") != std::string::npos, notices[0]);
    BOOST_REQUIRE_EQUAL(events.size(), 1u);
    BOOST_TEST(!events[0].ok);
    BOOST_TEST(engram::test::read_file(dir.path() / "memory" / "dora.json") == newer);
    auto jobs = open_store(dir)->journal_list();
    BOOST_TEST_REQUIRE(jobs.has_value());
    BOOST_TEST(jobs->size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_failed_turn_leaves_the_history_whole_and_trimmed_turns_still_reach_the_extraction) {
    // A 100-character budget. Turn 2 would leave turn 1 out of its request, but it fails (a 400):
    // turn 1 must still be in the history for turn 3. Turn 4 then does trim it, and the
    // extraction at the end still reads it.
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    server.set_handler([](const recorded_request& r) {
        if (is_extraction(r)) return extraction_reply(fact_update);
        if (engram::test::last_user_text(r).starts_with("B"))
            return scripted_response::json(400, R"({"type":"error","error":{"type":"invalid_request_error","message":"no"}})");
        return echo_reply(r);
    });
    asio::io_context ioc;
    auto cfg = config_for(server, dir);
    cfg.max_history_chars = 100;
    runtime rt(ioc.get_executor(), cfg);
    const std::string a(40, 'A'), b(40, 'B'), c(10, 'C'), d(60, 'D');
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        auto s = co_await rt.open_session("assistant", "erin");
        co_await s.send(a);
        try {
            co_await s.send(b);
            BOOST_ERROR("the failing turn succeeded");
        } catch (const engram::net::client_error&) {
        }
        co_await s.send(c);
        co_await s.send(d);
        s.end();
        co_await rt.shutdown();
    });
    const auto chats = chat_requests(server);
    BOOST_REQUIRE_EQUAL(chats.size(), 4u);
    BOOST_TEST(chats[1].body.find(a) == std::string::npos);  // the failed turn left turn 1 out...
    BOOST_TEST(chats[2].body.find(a) != std::string::npos);  // ...but the next one has it again
    BOOST_TEST(chats[3].body.find(a) == std::string::npos);  // trimmed for good after turn 4
    const auto ex = extraction_requests(server);
    BOOST_REQUIRE_EQUAL(ex.size(), 1u);
    BOOST_TEST(ex[0].body.find("USER: " + a) != std::string::npos);
    BOOST_TEST(ex[0].body.find(b) == std::string::npos);  // the failed turn left no trace
}

// A model whose context is smaller than the history budget (text in a script of about a token per
// character fits max_history_chars and not the context): its "prompt is too long" refusal lowers
// the session's budget, the turn goes out again without the oldest turns, later turns fit at once,
// and the session's memory pass reads a transcript of the same bound.
BOOST_AUTO_TEST_CASE(a_prompt_too_long_for_the_models_context_is_sent_again_without_the_oldest_turns) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    constexpr std::size_t context = 12'000;  // the fake model's context, in request body bytes
    std::atomic<int> refusals{0};
    std::atomic<std::size_t> longest_pass{0};
    server.set_handler([&](const recorded_request& r) {
        if (is_extraction(r)) {
            longest_pass = std::max(longest_pass.load(), r.body.size());
            return extraction_reply(fact_update);
        }
        if (r.body.size() <= context) return echo_reply(r);
        ++refusals;
        return scripted_response::json(400, R"({"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: )" +
                                                std::to_string(r.body.size()) + R"( tokens > 12000 maximum"}})");
    });
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), config_for(server, dir));  // max_history_chars 400,000
    std::vector<std::string> notices;
    engram::runtime::runtime_hooks hooks;
    hooks.on_notice = [&](const engram::runtime::session_info&, const std::string& text) { notices.push_back(text); };
    rt.set_hooks(hooks);
    constexpr int turns = 6;
    int echoed = 0;
    std::size_t history_at_end = 0;
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        auto s = co_await rt.open_session("assistant", "kim");
        for (int t = 0; t < turns; ++t) {
            const std::string text = "turn " + std::to_string(t) + " " + std::string(2000, 'x');
            const auto reply = co_await s.send(text);
            if (reply.text() == "echo: " + text) ++echoed;
        }
        history_at_end = s.history_size();
        s.end();
        co_await rt.drain_extractions();
        co_await rt.shutdown();
    }, 30s);
    BOOST_TEST(echoed == turns);      // every turn answered, the refused one on its second request
    BOOST_TEST(refusals.load() == 1); // the lowered budget holds for the later turns
    BOOST_TEST(history_at_end < static_cast<std::size_t>(2 * turns));
    const auto told = std::count_if(notices.begin(), notices.end(),
                                    [](const std::string& n) { return n.find("context is smaller") != std::string::npos; });
    BOOST_TEST(told == 1);
    // The pass's transcript is bounded by the lowered budget (about 9,000 characters; with the
    // extraction prompt about 12,600 bytes), not by max_history_chars (then over 20,000).
    BOOST_TEST(longest_pass.load() < 16'000u, longest_pass.load());
    BOOST_TEST(stored_memory(dir, "kim").session_count == 1);
}

BOOST_AUTO_TEST_CASE(an_agent_that_does_not_remember_neither_journals_nor_extracts) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, fact_update);
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), config_for(server, dir));
    auto stateless = engram::agents::builtin_agents().front();
    stateless.name = "stateless";
    stateless.remember = false;
    rt.add_agent(stateless);
    std::vector<engram::runtime::memory_event> events;
    record_memory_events(rt, events);
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        for (int i = 0; i < 2; ++i) {
            auto s = co_await rt.open_session("stateless", "alice");
            BOOST_TEST(s.remembered_items() == 0u);
            co_await s.send("I use Python and FastAPI for my backend");
            s.end();
            co_await rt.drain_extractions();
        }
        co_await rt.shutdown();
    });
    BOOST_TEST(extraction_requests(server).empty());
    BOOST_TEST(server.requests().size() == 2u);
    BOOST_TEST(events.empty());
    auto store = open_store(dir);
    auto jobs = store->journal_list();
    BOOST_REQUIRE(jobs);
    BOOST_TEST(jobs->empty());
    const auto alice = store->load("alice");
    const bool nothing_saved = !alice || alice->memory.session_count == 0;
    BOOST_TEST(nothing_saved);
}

BOOST_AUTO_TEST_CASE(an_agents_memory_caps_apply_to_what_its_sessions_remember) {
    // The built-in dba agent keeps up to 20 facts, twice the store's default: an extraction
    // that brings 14 keeps all 14.
    std::string update = R"({"new_facts":[)";
    for (int i = 0; i < 14; ++i)
        update += std::string(i ? "," : "") + R"({"text":"Database fact number )" + std::to_string(i) +
                  R"(","confidence":"high","source":"stated"})";
    update += "]}";
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, update);
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), config_for(server, dir));
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        auto s = co_await rt.open_session("dba", "carol");
        co_await s.send("We run PostgreSQL 15 on three replicas");
        s.end();
        co_await rt.shutdown();
    });
    BOOST_TEST(stored_memory(dir, "carol").key_facts.size() == 14u);
}

BOOST_AUTO_TEST_CASE(a_hundred_concurrent_sessions_never_see_each_others_history) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, "{}", 2ms);
    asio::io_context ioc;
    auto cfg = config_for(server, dir);
    cfg.single_threaded_executor = true;  // one thread runs ioc: sessions share it without strands
    cfg.max_in_flight_requests = 40;
    runtime rt(ioc.get_executor(), cfg);
    constexpr int sessions = 100, turns = 3;
    std::atomic<int> ok{0};
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        auto ex = co_await asio::this_coro::executor;
        int finished = 0;
        asio::steady_timer all_done(ex, std::chrono::steady_clock::time_point::max());
        for (int i = 0; i < sessions; ++i) {
            asio::co_spawn(ex, [&, i]() -> asio::awaitable<void> {
                auto s = co_await rt.open_session("assistant", "user" + std::to_string(i));
                for (int t = 0; t < turns; ++t) {
                    const std::string text = "u" + std::to_string(i) + "-t" + std::to_string(t);
                    auto reply = co_await s.send(text);
                    if (reply.text() == "echo: " + text) ++ok;
                }
                BOOST_TEST(s.history_size() == static_cast<std::size_t>(2 * turns));
                s.end();
            }, [&](std::exception_ptr e) {
                if (e) try { std::rethrow_exception(e); } catch (const std::exception& x) { BOOST_ERROR(x.what()); }
                if (++finished == sessions) all_done.cancel();
            });
        }
        co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
        co_await rt.shutdown();
    }, 180s);
    BOOST_TEST(ok.load() == sessions * turns);
    // Every chat request's history is exactly its own session's: same user prefix, turns in order.
    std::size_t chats = 0;
    for (const auto& r : server.requests()) {
        if (is_extraction(r)) continue;
        ++chats;
        const auto body = json::parse(r.body);
        const auto& msgs = body.at("messages").as_array();
        const std::string last = std::string(msgs.back().at("content").as_string());
        const std::string prefix = last.substr(0, last.find('-'));
        BOOST_REQUIRE_EQUAL(msgs.size() % 2, 1u);
        for (std::size_t k = 0; k < msgs.size(); ++k) {
            const auto& content = msgs[k].at("content");
            const std::string text = content.is_string() ? std::string(content.as_string()) : json::serialize(content);
            const std::string expected_turn = prefix + "-t" + std::to_string(k / 2);
            BOOST_TEST(text.find(expected_turn) != std::string::npos, "request history mixes sessions: " << text);
        }
    }
    BOOST_TEST(chats == static_cast<std::size_t>(sessions * turns));
}

BOOST_AUTO_TEST_CASE(fifty_sessions_of_one_user_ending_together_lose_no_update) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, R"({"running_summary":"Bob talks a lot."})");
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), config_for(server, dir));
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        std::vector<engram::runtime::session> all;
        for (int i = 0; i < 50; ++i) all.push_back(co_await rt.open_session("assistant", "bob"));
        for (int i = 0; i < 50; ++i) co_await all[i].send("message " + std::to_string(i));
        for (auto& s : all) s.end();  // all end together
        co_await rt.drain_extractions();
        co_await rt.shutdown();
    }, 180s);
    BOOST_TEST(stored_memory(dir, "bob").session_count == 50);
    BOOST_TEST(extraction_requests(server).size() == 50u);
}

BOOST_AUTO_TEST_CASE(invalid_extraction_output_twice_leaves_memory_unchanged_and_the_job_journaled) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, "Sure! Here is what I learned: the user likes tea.");  // never JSON
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), config_for(server, dir));
    std::vector<engram::runtime::memory_event> events;
    record_memory_events(rt, events);
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        auto s = co_await rt.open_session("assistant", "carol");
        co_await s.send("I like tea");
        s.end();
        co_await rt.drain_extractions();
        co_await rt.shutdown();
    });
    const auto ex = extraction_requests(server);
    BOOST_TEST(ex.size() == 2u);  // the call and one repair
    if (ex.size() == 2) BOOST_TEST(ex[1].body.find("the user likes tea") != std::string::npos);  // the bad reply is shown
    BOOST_REQUIRE_EQUAL(events.size(), 1u);
    BOOST_TEST(!events[0].ok);
    BOOST_TEST(events[0].error.find("invalid twice") != std::string::npos);
    BOOST_TEST(stored_memory(dir, "carol").session_count == 0);
    auto jobs = open_store(dir)->journal_list();
    BOOST_REQUIRE(jobs);
    BOOST_TEST(jobs->size() == 1u);
}

// Output the model cannot make usable for a session is not an outage: replayed at every start it
// would cost two model calls each time, for good. Its failures are counted in the journal; after
// set_aside_after_failed_passes the session is no longer replayed, until journal_retry clears them.
BOOST_AUTO_TEST_CASE(a_session_whose_extraction_output_stays_invalid_is_set_aside_after_its_third_failed_pass) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, "Sure! Here is what I learned: the user likes tea.");  // never JSON
    std::vector<engram::runtime::memory_event> events;
    const auto cfg = config_for(server, dir);
    one_start(cfg, events, true);   // the session's own pass: failure 1
    one_start(cfg, events, false);  // replayed: 2
    one_start(cfg, events, false);  // replayed: 3, set aside
    BOOST_TEST(extraction_requests(server).size() == 6u);  // a call and a repair each time
    BOOST_REQUIRE_EQUAL(events.size(), 3u);
    BOOST_TEST(events[0].error.find("failure 1 of 3") != std::string::npos, events[0].error);
    BOOST_TEST(events[1].error.find("failure 2 of 3") != std::string::npos, events[1].error);
    BOOST_TEST(events[2].error.find("set aside after 3") != std::string::npos, events[2].error);
    BOOST_TEST((!events[0].set_aside && !events[1].set_aside && events[2].set_aside));

    one_start(cfg, events, false);  // set aside: not replayed, no model call, but said
    BOOST_TEST(extraction_requests(server).size() == 6u);
    BOOST_REQUIRE_EQUAL(events.size(), 4u);
    BOOST_TEST((!events[3].ok && events[3].set_aside));
    BOOST_TEST(events[3].session_id == events[2].session_id);
    BOOST_TEST(events[3].user_id == "carol");
    BOOST_TEST(events[3].error.find("set aside after 3 failed memory passes") != std::string::npos, events[3].error);
    BOOST_TEST(events[3].error.find("invalid twice") != std::string::npos, events[3].error);  // the last failure's reason
    const auto job = only_journaled_job(dir);  // nothing is lost
    BOOST_TEST(job.failed_passes == 3u);
    BOOST_TEST(job.last_failure.find("invalid twice") != std::string::npos);
    BOOST_TEST(job.transcript.find("I like tea") != std::string::npos);

    // Cleared, it is replayed again (and, the model now answering well, merged).
    BOOST_REQUIRE(open_store(dir)->journal_retry("carol", job.session_id));
    server.set_handler([](const recorded_request& r) {
        if (is_extraction(r)) return extraction_reply(R"({"running_summary":"Carol likes tea."})");
        return scripted_response::sse(engram::test::make_text_stream("ok"));
    });
    one_start(cfg, events, false);
    BOOST_TEST(extraction_requests(server).size() == 7u);
    BOOST_REQUIRE_EQUAL(events.size(), 5u);
    BOOST_TEST(events[4].ok, events[4].error);
    BOOST_TEST(stored_memory(dir, "carol").running_summary == "Carol likes tea.");
    BOOST_TEST(open_store(dir)->journal_list()->empty());
}

// A request refused as too large fails the same way at every start: counted like invalid output.
BOOST_AUTO_TEST_CASE(an_extraction_refused_as_too_large_is_counted_against_the_session) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    server.set_handler([](const recorded_request& r) {
        if (is_extraction(r))
            return scripted_response::json(413, R"({"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum size"}})");
        return echo_reply(r);
    });
    std::vector<engram::runtime::memory_event> events;
    one_start(config_for(server, dir), events, true);
    BOOST_REQUIRE_EQUAL(events.size(), 1u);
    BOOST_TEST(events[0].error.find("failure 1 of 3") != std::string::npos, events[0].error);
    BOOST_TEST(only_journaled_job(dir).failed_passes == 1u);
}

// The API's 400 for a prompt longer than the model's context is the session's own size too; a 400
// for anything else (here a setting the model does not support) refuses every session alike and
// is not counted against this one.
BOOST_AUTO_TEST_CASE(a_400_for_a_prompt_too_long_is_counted_against_the_session_and_another_400_is_not) {
    for (const bool too_long : {true, false}) {
        BOOST_TEST_CONTEXT("prompt too long: " << too_long) {
            engram::test::temp_dir dir;
            fake_anthropic_server server;
            server.set_handler([too_long](const recorded_request& r) {
                if (!is_extraction(r)) return echo_reply(r);
                return scripted_response::json(
                    400, too_long ? R"({"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 208310 tokens > 200000 maximum"}})"
                                  : R"({"type":"error","error":{"type":"invalid_request_error","message":"This model does not support effort level 'xhigh'. Supported levels: high, low, max, medium."}})");
            });
            std::vector<engram::runtime::memory_event> events;
            one_start(config_for(server, dir), events, true);
            BOOST_REQUIRE_EQUAL(events.size(), 1u);
            BOOST_TEST((events[0].error.find("failure 1 of 3") != std::string::npos) == too_long, events[0].error);
            BOOST_TEST(only_journaled_job(dir).failed_passes == (too_long ? 1u : 0u));
        }
    }
}

// An outage is not the session's fault: however often its pass fails for one, it is not counted.
BOOST_AUTO_TEST_CASE(an_extraction_failed_by_an_outage_is_not_counted_against_the_session) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    std::atomic<int> extraction_calls{0};
    overloaded_for_memory(server, extraction_calls);
    std::vector<engram::runtime::memory_event> events;
    auto cfg = config_for(server, dir);
    cfg.extraction_retry_delays.clear();  // as the command line: one try per start
    for (int start = 0; start < 4; ++start) one_start(cfg, events, start == 0);
    BOOST_REQUIRE_EQUAL(events.size(), 4u);  // tried at every start
    for (const auto& e : events) {
        BOOST_TEST(!e.ok);
        BOOST_TEST(!e.set_aside);
        BOOST_TEST(e.error.find("set aside") == std::string::npos, e.error);
    }
    BOOST_TEST(only_journaled_job(dir).failed_passes == 0u);
}

BOOST_AUTO_TEST_CASE(a_repaired_extraction_is_applied) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    std::atomic<int> extraction_calls{0};
    server.set_handler([&](const recorded_request& r) {
        if (is_extraction(r))
            return extraction_reply(++extraction_calls == 1 ? "{\"new_facts\": [" : "```json\n{\"running_summary\":\"Dan plays chess.\"}\n```");
        return scripted_response::sse(engram::test::make_text_stream("ok"));
    });
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), config_for(server, dir));
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        auto s = co_await rt.open_session("assistant", "dan");
        co_await s.send("I play chess");
        s.end();
        co_await rt.drain_extractions();
        co_await rt.shutdown();
    });
    BOOST_TEST(extraction_calls.load() == 2);
    const auto m = stored_memory(dir, "dan");
    BOOST_TEST(m.session_count == 1);
    BOOST_TEST(m.running_summary == "Dan plays chess.");
}

// A reply cut off at max_tokens is no valid update; repaired under the same limit, it was cut
// again, every time (temperature 0), and the job failed at every start.
BOOST_AUTO_TEST_CASE(an_extraction_cut_off_at_max_tokens_is_repaired_with_more_room_and_a_shorter_ask) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    std::atomic<int> extraction_calls{0};
    server.set_handler([&](const recorded_request& r) {
        if (is_extraction(r))
            return ++extraction_calls == 1
                       ? extraction_reply(R"({"new_facts": [{"text": "Plays chess at club lev)", "max_tokens")
                       : extraction_reply(R"({"new_facts": ["Plays chess"]})");
        return scripted_response::sse(engram::test::make_text_stream("ok"));
    });
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), config_for(server, dir));
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        auto s = co_await rt.open_session("assistant", "dan");
        co_await s.send("I play chess");
        s.end();
        co_await rt.drain_extractions();
        co_await rt.shutdown();
    });
    const auto ex = extraction_requests(server);
    BOOST_REQUIRE_EQUAL(ex.size(), 2u);
    const auto first = json::parse(ex[0].body), repair = json::parse(ex[1].body);
    const auto limit = engram::agents::find_builtin("assistant")->extraction_max_tokens;
    BOOST_TEST(first.at("max_tokens").as_int64() == limit);
    BOOST_TEST(repair.at("max_tokens").as_int64() == std::min<std::int64_t>(2 * limit, 8192));
    const std::string ask(repair.at("messages").as_array().back().at("content").as_array().at(0).at("text").as_string());
    BOOST_TEST(ask.find("cut off at max_tokens") != std::string::npos, ask);
    BOOST_TEST(ask.find("shorter update") != std::string::npos, ask);
    const auto m = stored_memory(dir, "dan");
    BOOST_REQUIRE_EQUAL(m.key_facts.size(), 1u);
    BOOST_TEST(m.key_facts[0].text == "Plays chess");
}

// An overloaded model at the end of a session: tried again in this process, before the user's
// later session, which is merged after it. Left for the next start, the old session was merged
// after the newer one and its summary and preferences overwrote the newer ones.
BOOST_AUTO_TEST_CASE(a_memory_pass_that_meets_an_overloaded_model_is_retried_before_the_users_later_sessions) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    std::atomic<int> extraction_calls{0};
    server.set_handler([&](const recorded_request& r) {
        if (!is_extraction(r)) return echo_reply(r);
        if (++extraction_calls == 1)
            return scripted_response::json(529, R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})");
        const bool second = r.body.find("second session") != std::string::npos;
        return extraction_reply(second ? R"({"running_summary":"Said it in the second session.","updated_preferences":{"tone":"dry"}})"
                                       : R"({"running_summary":"Said it in the first session.","updated_preferences":{"tone":"warm"},
                                            "new_facts":["Plays the cello"]})");
    });
    asio::io_context ioc;
    auto cfg = config_for(server, dir);
    cfg.client.retry.max_retries = 0;  // the client's own retries are not what is tested
    cfg.extraction_retry_delays = {50ms, 50ms};
    cfg.memory_wait_on_open = 0ms;  // the second session does not wait for the first's memory
    runtime rt(ioc.get_executor(), cfg);
    std::vector<engram::runtime::memory_event> events;
    record_memory_events(rt, events);
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        co_await say_and_end(rt, "ida", "first session: I play the cello");
        co_await say_and_end(rt, "ida", "second session: keep it dry");
        co_await rt.drain_extractions();
        co_await rt.shutdown();
    }, 30s);
    BOOST_TEST(extraction_calls.load() == 3);  // overloaded, the retry, the second session
    BOOST_REQUIRE_EQUAL(events.size(), 2u);
    BOOST_TEST(events[0].ok);
    BOOST_TEST(events[1].ok);
    const auto m = stored_memory(dir, "ida");
    BOOST_TEST(m.session_count == 2);
    BOOST_TEST(m.running_summary == "Said it in the second session.");  // merged last
    BOOST_TEST(m.preferences.at("tone") == "dry");
    BOOST_REQUIRE_EQUAL(m.key_facts.size(), 1u);
    BOOST_TEST(m.key_facts[0].text == "Plays the cello");
    BOOST_TEST(open_store(dir)->journal_list()->empty());
}

// While `down`, every memory pass (with `only_cello`, only the cello session's) meets an
// overloaded model (529); otherwise it learns the session's instrument. Every pass is counted.
std::function<scripted_response(const recorded_request&)> overloaded_while(const std::atomic<bool>& down,
                                                                         std::atomic<int>& extraction_calls,
                                                                         bool only_cello = false) {
    return [&down, &extraction_calls, only_cello](const recorded_request& r) {
        if (!is_extraction(r)) return echo_reply(r);
        ++extraction_calls;
        const bool cello = r.body.find("I play the cello") != std::string::npos;
        if (down && (cello || !only_cello))
            return scripted_response::json(529, R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})");
        const bool bike = r.body.find("I ride a bike") != std::string::npos;
        return extraction_reply(bike ? R"({"running_summary":"Rides a bike.","new_facts":["Rides a bike"]})"
                                     : R"({"running_summary":"Plays the cello.","new_facts":["Plays the cello"]})");
    };
}

std::vector<std::string> fact_texts(const engram::memory::user_memory& m) {
    std::vector<std::string> out;
    for (const auto& f : m.key_facts) out.push_back(f.text);
    return out;
}

// A model overloaded for every memory pass while `down` (overloaded_while), and a memory
// directory.
struct outage {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    std::atomic<bool> down{true};
    std::atomic<int> extraction_calls{0};
    explicit outage(bool only_cello = false) { server.set_handler(overloaded_while(down, extraction_calls, only_cello)); }
    // Memory passes retried after `delays` (the client itself retries nothing); an open waits
    // `wait_on_open` for the user's pending memory.
    runtime_config retrying(std::vector<std::chrono::milliseconds> delays,
                            std::chrono::milliseconds wait_on_open = 0ms) const {
        auto cfg = config_for(server, dir);
        cfg.client.retry.max_retries = 0;
        cfg.extraction_retry_delays = std::move(delays);
        cfg.memory_wait_on_open = wait_on_open;
        return cfg;
    }
};

// The same, with only the cello session's passes refused.
struct outage_for_the_cello : outage {
    outage_for_the_cello() : outage(/*only_cello=*/true) {}
};

// A long-running process does not keep a session whose retries ran out until its next start:
// the user's return brings it back, and the memory that session opens with has it.
BOOST_FIXTURE_TEST_CASE(a_session_whose_retries_ran_out_is_merged_when_its_user_comes_back, outage) {
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), retrying({20ms}, runtime_config{}.memory_wait_on_open));
    std::vector<engram::runtime::memory_event> events;
    record_memory_events(rt, events);
    std::string opened_with;
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        co_await say_and_end(rt, "ida", "I play the cello");
        co_await rt.drain_extractions();
        BOOST_TEST(extraction_calls.load() == 2);  // the pass and its one retry
        BOOST_TEST(stored_memory(dir, "ida").session_count == 0);
        down = false;  // the outage is over
        auto s = co_await rt.open_session("assistant", "ida");
        opened_with = s.memory_block();
        s.end();
        co_await rt.shutdown();
    }, 30s);
    BOOST_TEST(opened_with.find("Plays the cello") != std::string::npos, opened_with);
    BOOST_TEST(extraction_calls.load() == 3);
    BOOST_REQUIRE_GE(events.size(), 2u);
    BOOST_TEST(!events[0].ok);
    BOOST_TEST(events[0].error.find("tried again when the user opens a session") != std::string::npos, events[0].error);
    BOOST_TEST(events[1].ok);
    BOOST_TEST(fact_texts(stored_memory(dir, "ida")) == std::vector<std::string>{"Plays the cello"},
               boost::test_tools::per_element());
    BOOST_TEST(open_store(dir)->journal_list()->empty());
}

// An outage costs a user one round of retry waits, not one per queued session, and the
// sessions are merged in the order they ended once the user is back.
BOOST_FIXTURE_TEST_CASE(sessions_behind_one_whose_retries_ran_out_wait_with_it_untried_and_merge_in_order, outage) {
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), retrying({300ms, 300ms}));
    std::vector<engram::runtime::memory_event> events;
    record_memory_events(rt, events);
    const auto passes_of = [&](std::string_view said) {
        const auto ex = extraction_requests(server);
        return std::count_if(ex.begin(), ex.end(), [&](const recorded_request& r) { return r.body.find(said) != std::string::npos; });
    };
    std::string bike_session;
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        co_await say_and_end(rt, "ida", "I play the cello");
        auto s = co_await rt.open_session("assistant", "ida");
        bike_session = s.info().session_id;
        co_await s.send("I ride a bike");
        s.end();  // while the cello session's pass waits to retry, or (a slow machine) is parked
        co_await rt.drain_extractions();
        BOOST_TEST(passes_of("I play the cello") >= 3);  // its round: 1 + 2 retries
        BOOST_TEST(passes_of("I ride a bike") == 0);     // never tried while the cello waits
        down = false;
        auto last = co_await rt.open_session("assistant", "ida");
        last.end();
        co_await rt.drain_extractions();
        co_await rt.shutdown();
    }, 30s);
    BOOST_TEST(passes_of("I ride a bike") == 1);
    const auto said = std::find_if(events.begin(), events.end(), [&](const auto& e) {
        return e.session_id == bike_session && !e.ok;
    });
    BOOST_REQUIRE(said != events.end());
    BOOST_TEST(said->error.find("an earlier session of this user is still to be merged") != std::string::npos, said->error);
    const auto m = stored_memory(dir, "ida");
    BOOST_TEST(m.session_count == 2);
    BOOST_TEST(m.running_summary == "Rides a bike.");  // merged last, as it ended last
    BOOST_TEST((fact_texts(m) == std::vector<std::string>{"Plays the cello", "Rides a bike"}), boost::test_tools::per_element());
    BOOST_TEST(open_store(dir)->journal_list()->empty());
}

// The user's return brings a parked session back at a session's end too: here the one its
// opening brought back failed once more.
BOOST_FIXTURE_TEST_CASE(a_parked_session_is_tried_again_when_another_session_of_its_user_ends, outage) {
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), retrying({20ms}));
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        co_await say_and_end(rt, "ida", "I play the cello");
        co_await rt.drain_extractions();
        auto s = co_await rt.open_session("assistant", "ida");  // brings it back: tried once, fails
        co_await rt.drain_extractions();
        BOOST_TEST(extraction_calls.load() == 3);
        down = false;
        co_await s.send("I ride a bike");
        s.end();
        co_await rt.drain_extractions();
        co_await rt.shutdown();
    }, 30s);
    BOOST_TEST(extraction_calls.load() == 5);
    const auto m = stored_memory(dir, "ida");
    BOOST_TEST(m.session_count == 2);
    BOOST_TEST((fact_texts(m) == std::vector<std::string>{"Plays the cello", "Rides a bike"}), boost::test_tools::per_element());
    BOOST_TEST(m.running_summary == "Rides a bike.");
}

// A session the model keeps refusing holds its user's later ones back for three rounds, not for
// ever: then they are merged, and it waits in the journal to be merged late.
BOOST_FIXTURE_TEST_CASE(after_its_third_round_a_session_no_longer_holds_its_users_later_sessions_back, outage_for_the_cello) {
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), retrying({20ms}));
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        co_await say_and_end(rt, "ida", "I play the cello");  // round 1: tried twice
        co_await rt.drain_extractions();
        auto s = co_await rt.open_session("assistant", "ida");  // round 2: tried once
        co_await rt.drain_extractions();
        co_await s.send("I ride a bike");
        s.end();  // round 3 (tried once), then the bike session, no longer held back
        co_await rt.drain_extractions();
        co_await rt.shutdown();
    }, 30s);
    BOOST_TEST(extraction_calls.load() == 5);
    const auto m = stored_memory(dir, "ida");
    BOOST_TEST(fact_texts(m) == std::vector<std::string>{"Rides a bike"}, boost::test_tools::per_element());
    const auto left = open_store(dir)->journal_list();
    BOOST_TEST_REQUIRE(left->size() == 1u);
    BOOST_TEST((*left)[0].user_id == "ida");
}

// A host that retries nothing (the command line) parks nothing: a later session is merged as
// before, and the failed one waits in the journal for the next start.
BOOST_FIXTURE_TEST_CASE(without_retries_a_failed_session_holds_no_later_session_back, outage_for_the_cello) {
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), retrying({}));
    std::vector<engram::runtime::memory_event> events;
    record_memory_events(rt, events);
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        co_await say_and_end(rt, "ida", "I play the cello");
        co_await rt.drain_extractions();
        co_await say_and_end(rt, "ida", "I ride a bike");
        co_await rt.drain_extractions();
        co_await rt.shutdown();
    }, 30s);
    BOOST_TEST(extraction_calls.load() == 2);
    BOOST_TEST(fact_texts(stored_memory(dir, "ida")) == std::vector<std::string>{"Rides a bike"}, boost::test_tools::per_element());
    BOOST_REQUIRE_EQUAL(events.size(), 2u);
    BOOST_TEST(events[0].error.find("tried again when") == std::string::npos, events[0].error);
    BOOST_TEST(open_store(dir)->journal_list()->size() == 1u);
}

// A session that a shutdown ends while an earlier one of its user is parked is not merged
// before it, even when the model would take it: both wait in the journal, and the next start
// merges them in order.
BOOST_FIXTURE_TEST_CASE(a_shutdown_merges_no_session_of_a_user_ahead_of_a_parked_one, outage_for_the_cello) {
    const auto cfg = retrying({20ms});
    {
        asio::io_context ioc;
        runtime rt(ioc.get_executor(), cfg);
        engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
            co_await rt.start();
            co_await say_and_end(rt, "ida", "I play the cello");
            co_await rt.drain_extractions();
            auto s = co_await rt.open_session("assistant", "ida");
            co_await rt.drain_extractions();  // the cello session, brought back, failed again
            co_await s.send("I ride a bike");
            co_await rt.shutdown();  // ends the bike session
        }, 30s);
    }
    BOOST_TEST(extraction_calls.load() == 3);  // the bike session was not tried
    BOOST_TEST(stored_memory(dir, "ida").session_count == 0);
    BOOST_TEST(open_store(dir)->journal_list()->size() == 2u);
    down = false;
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), cfg);
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        co_await rt.drain_extractions();
        co_await rt.shutdown();
    }, 30s);
    const auto m = stored_memory(dir, "ida");
    BOOST_TEST(m.session_count == 2);
    BOOST_TEST((fact_texts(m) == std::vector<std::string>{"Plays the cello", "Rides a bike"}), boost::test_tools::per_element());
    BOOST_TEST(m.running_summary == "Rides a bike.");  // merged last
}

// A full disk passes: the memory pass is tried again, and writes what the model distilled the
// first time rather than asking the model again (the failed write left the memory as it was).
// What a host's metrics read: stats() follows sessions, the request slots and the memory passes
// as sessions open, wait for a slot, stream, end in an outage (pending, then parked) and are
// merged once their user is back.
BOOST_FIXTURE_TEST_CASE(stats_follow_sessions_request_slots_and_memory_passes, outage) {
    // One request slot; a reply to "take your time" comes after 1.5 s (what the checks below
    // need, with room for a slow machine), so a second turn waits.
    server.set_handler([base = overloaded_while(down, extraction_calls)](const recorded_request& r) {
        auto reply = base(r);
        if (!is_extraction(r) && r.body.find("take your time") != std::string::npos) reply.delay_before_header = 1500ms;
        return reply;
    });
    asio::io_context ioc;
    auto cfg = retrying({20ms});
    cfg.max_in_flight_requests = 1;
    runtime rt(ioc.get_executor(), cfg);
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        auto st = rt.stats();
        BOOST_TEST(st.sessions_open == 0u);
        BOOST_TEST(st.requests_in_flight == 0u);
        auto ann = co_await rt.open_session("assistant", "ann");
        auto bob = co_await rt.open_session("assistant", "bob");
        BOOST_TEST(rt.stats().sessions_open == 2u);

        int replies = 0;
        const auto ex = co_await asio::this_coro::executor;
        const auto say = [&](engram::runtime::session& s, std::string text) {
            asio::co_spawn(ex, [&s, &replies, text]() -> asio::awaitable<void> {
                co_await s.send(text);
                ++replies;
            }, asio::detached);
        };
        say(ann, "I play the cello; take your time");
        BOOST_TEST_REQUIRE(co_await eventually([&] { return rt.stats().requests_in_flight == 1u; }));
        say(bob, "hello");
        BOOST_TEST(co_await eventually([&] {
            st = rt.stats();
            return st.requests_in_flight == 1u && st.requests_waiting == 1u;
        }));
        BOOST_TEST(rt.stats().connections.in_use == 1u);
        BOOST_TEST_REQUIRE(co_await eventually([&] { return replies == 2; }));
        st = rt.stats();
        BOOST_TEST(st.requests_in_flight == 0u);
        BOOST_TEST(st.requests_waiting == 0u);
        BOOST_TEST(st.rate_limit_pause.count() == 0);
        BOOST_TEST(st.connections.in_use == 0u);
        BOOST_TEST(st.connections.idle == 1u);  // one slot: the turns took turns on one connection

        ann.end();  // in the outage: pending while its pass and its retry fail, then parked
        st = rt.stats();
        BOOST_TEST(st.memory_passes_pending == 1u);  // from end() on, before its work runs
        BOOST_TEST(st.memory_passes_parked == 0u);
        BOOST_TEST(co_await eventually([&] { return rt.stats().sessions_open == 1u; }));
        co_await rt.drain_extractions();
        st = rt.stats();
        BOOST_TEST(st.memory_passes_pending == 0u);
        BOOST_TEST(st.memory_passes_parked == 1u);

        down = false;
        auto back = co_await rt.open_session("assistant", "ann");  // brings the parked session back
        BOOST_TEST(rt.stats().memory_passes_parked == 0u);
        back.end();
        bob.end();
        co_await rt.drain_extractions();
        st = rt.stats();
        BOOST_TEST(st.sessions_open == 0u);
        BOOST_TEST(st.memory_passes_pending == 0u);
        BOOST_TEST(st.memory_passes_parked == 0u);
        co_await rt.shutdown();
    }, 30s);
    BOOST_TEST(fact_texts(stored_memory(dir, "ann")) == std::vector<std::string>{"Plays the cello"},
               boost::test_tools::per_element());
    BOOST_TEST(stored_memory(dir, "bob").session_count == 1);
}

// With no idle timeout nothing holds a session whose handles are all dropped: it is forgotten,
// not ended, and no longer counts as open.
BOOST_AUTO_TEST_CASE(a_session_forgotten_without_end_no_longer_counts_as_open) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, fact_update);
    asio::io_context ioc;
    auto cfg = config_for(server, dir);
    cfg.idle_timeout = 0s;
    runtime rt(ioc.get_executor(), cfg);
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        auto kept = co_await rt.open_session("assistant", "uma");
        {
            auto dropped = co_await rt.open_session("assistant", "vic");
            co_await dropped.send("hello");
            BOOST_TEST(rt.stats().sessions_open == 2u);
        }
        // Gone with its last handle (unless a handler of its last turn still held it a moment).
        BOOST_TEST(co_await eventually([&] { return rt.stats().sessions_open == 1u; }));
        BOOST_TEST(rt.stats().sessions_open == 1u);  // and again, once the table was swept
        kept.end();
        BOOST_TEST(co_await eventually([&] { return rt.stats().sessions_open == 0u; }));
        co_await rt.shutdown();
    }, 30s);
}

BOOST_AUTO_TEST_CASE(a_save_retried_after_a_full_disk_does_not_call_the_model_again) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    std::atomic<int> extraction_calls{0};
    server.set_handler(cello_then_bike(extraction_calls, 0ms));
    auto fs = std::make_shared<disk_full_for_record>();
    fs->failures_left = 2;  // the first two writes of ida's record
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), retrying_saves_through(server, dir, fs, {20ms, 20ms, 20ms}));
    std::vector<engram::runtime::memory_event> events;
    record_memory_events(rt, events);
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        co_await say_and_end(rt, "ida", "I play the cello");
        co_await rt.drain_extractions();
        co_await rt.shutdown();
    }, 30s);
    BOOST_TEST(fs->failures_left.load() == 0);  // both failed saves happened
    BOOST_TEST(extraction_calls.load() == 1);
    BOOST_REQUIRE_EQUAL(events.size(), 1u);
    BOOST_TEST(events[0].ok);
    const auto m = stored_memory(dir, "ida");
    BOOST_TEST(m.session_count == 1);
    BOOST_REQUIRE_EQUAL(m.key_facts.size(), 1u);
    BOOST_TEST(m.key_facts[0].text == "Plays the cello");
    BOOST_TEST(open_store(dir)->journal_list()->empty());
}

// ida's memory passes answered by cello_then_bike, a runtime whose failed saves wait 1 s to be
// retried, and a file system that can fail her record's writes.
struct second_save_retried {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    std::atomic<int> extraction_calls{0};
    std::shared_ptr<disk_full_for_record> fs = std::make_shared<disk_full_for_record>();
    asio::io_context ioc;
    runtime rt{ioc.get_executor(), retrying_saves_through(server, dir, fs, {1s})};
    second_save_retried() { server.set_handler(cello_then_bike(extraction_calls, 0ms)); }

    // Starts the runtime; the first session (the cello) is saved, the second's save (the bike)
    // meets a full disk once and waits to be retried.
    asio::awaitable<void> until_the_second_save_failed() {
        co_await rt.start();
        co_await say_and_end(rt, "ida", "first session: I play the cello");
        co_await rt.drain_extractions();
        fs->failures_left = 1;
        co_await say_and_end(rt, "ida", "second session: I ride a bike");
        BOOST_TEST_REQUIRE(co_await eventually([&] { return fs->failures_left.load() == 0; }));
    }
};

// Erased while its save waits to be retried, a user's session does not come back, and is not
// sent to the model again either.
BOOST_FIXTURE_TEST_CASE(a_user_erased_while_a_save_waits_for_its_retry_is_not_brought_back, second_save_retried) {
    std::vector<engram::runtime::memory_event> events;
    record_memory_events(rt, events);
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await until_the_second_save_failed();
        auto erased = co_await rt.memory().async_erase("ida", asio::use_awaitable);
        BOOST_TEST(erased.has_value());
        co_await rt.drain_extractions();
        co_await rt.shutdown();
    }, 30s);
    BOOST_TEST(extraction_calls.load() == 2);  // one per session: none after the erase
    BOOST_REQUIRE_EQUAL(events.size(), 2u);
    BOOST_TEST(events[1].ok);
    BOOST_TEST(events[1].withdrawn);
    BOOST_TEST(!std::filesystem::exists(dir.path() / "memory" / "ida.json"));
    BOOST_TEST(open_store(dir)->journal_list()->empty());
}

// A user erased while a session's pass runs: neither that session nor the next one queued
// behind it is merged, and the next one is not sent to the model at all.
BOOST_AUTO_TEST_CASE(sessions_of_a_user_erased_while_a_pass_runs_are_neither_merged_nor_sent_to_the_model) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    std::atomic<int> extraction_calls{0};
    server.set_handler([&](const recorded_request& r) {
        if (!is_extraction(r)) return echo_reply(r);
        ++extraction_calls;
        auto reply = extraction_reply(R"({"new_facts":["Plays the cello"]})");
        reply.delay_before_header = 500ms;  // time to erase while the model works
        return reply;
    });
    asio::io_context ioc;
    auto cfg = config_for(server, dir);
    cfg.memory_wait_on_open = 0ms;  // the second session opens while the first is being distilled
    runtime rt(ioc.get_executor(), cfg);
    std::vector<engram::runtime::memory_event> events;
    record_memory_events(rt, events);
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        co_await say_and_end(rt, "ida", "first session: I play the cello");
        co_await say_and_end(rt, "ida", "second session: still the cello");
        BOOST_TEST_REQUIRE(co_await eventually([&] { return extraction_calls.load() == 1; }));
        auto erased = co_await rt.memory().async_erase("ida", asio::use_awaitable);
        BOOST_TEST(erased.has_value());
        co_await rt.drain_extractions();
        co_await rt.shutdown();
    }, 30s);
    BOOST_TEST(extraction_calls.load() == 1);  // the second session never reached the model
    BOOST_REQUIRE_EQUAL(events.size(), 2u);
    for (const auto& e : events) {
        BOOST_TEST(e.ok, e.error);
        BOOST_TEST(e.withdrawn, e.session_id << " duplicate=" << e.duplicate << " changes=" << e.changes.size());
    }
    BOOST_TEST(!std::filesystem::exists(dir.path() / "memory" / "ida.json"));
}

// An undo while the model distils a session: the update, made from the memory before the undo,
// is not written onto the memory after it; the session is distilled again from that.
BOOST_AUTO_TEST_CASE(a_memory_undone_while_the_model_distils_a_session_is_distilled_again) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    std::atomic<int> extraction_calls{0};
    server.set_handler(cello_then_bike(extraction_calls, 500ms));  // time to undo while the model works
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), config_for(server, dir));
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        co_await say_and_end(rt, "ida", "first session: I play the cello");
        co_await rt.drain_extractions();
        co_await say_and_end(rt, "ida", "second session: I ride a bike");
        BOOST_TEST_REQUIRE(co_await eventually([&] { return extraction_calls.load() == 2; }));
        auto undone = co_await rt.memory().async_undo_last("ida", asio::use_awaitable);
        BOOST_TEST(undone.has_value());
        co_await rt.drain_extractions();
        co_await rt.shutdown();
    }, 30s);
    BOOST_TEST(extraction_calls.load() == 3);
    BOOST_TEST(stored_memory(dir, "ida").running_summary == "Rides a bike.");
}

// An undo while a save waits to be retried changes the memory the update was made from: the
// model is asked again rather than the old update bringing back what was undone.
BOOST_FIXTURE_TEST_CASE(a_memory_undone_while_a_save_waits_for_its_retry_is_distilled_again, second_save_retried) {
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await until_the_second_save_failed();
        auto undone = co_await rt.memory().async_undo_last("ida", asio::use_awaitable);
        BOOST_TEST(undone.has_value());
        co_await rt.drain_extractions();
        co_await rt.shutdown();
    }, 30s);
    BOOST_TEST(extraction_calls.load() == 3);  // first; second; second again after the undo
    const auto m = stored_memory(dir, "ida");
    BOOST_REQUIRE_EQUAL(m.key_facts.size(), 1u);
    BOOST_TEST(m.key_facts[0].text == "Rides a bike");
    BOOST_TEST(m.running_summary == "Rides a bike.");  // the undone session does not come back through it
}

// A key the user pasted into the chat reaches neither the journal nor the memory pass (and so
// neither lasting memory nor later prompts).
BOOST_AUTO_TEST_CASE(an_api_key_pasted_into_a_chat_is_redacted_from_the_sessions_transcript) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, "{}");
    asio::io_context ioc;
    auto cfg = config_for(server, dir);
    const std::string key = "sk-ant-test-pasted-0123456789";
    cfg.client.api_key = key;
    runtime rt(ioc.get_executor(), cfg);
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        auto s = co_await rt.open_session("assistant", "ida");
        co_await s.send("my key is " + key + ", keep it safe");
        s.end();
        co_await rt.drain_extractions();
        co_await rt.shutdown();
    }, 30s);
    bool seen = false;
    for (const auto& r : server.requests()) {
        if (!is_extraction(r)) continue;
        seen = true;
        BOOST_TEST(r.body.find(key) == std::string::npos);
        BOOST_TEST(r.body.find("my key is ***, keep it safe") != std::string::npos);
    }
    BOOST_TEST(seen);
}

// A retry waiting when the runtime shuts down is not waited for: the job stays in the journal.
BOOST_AUTO_TEST_CASE(shutdown_cuts_a_retry_wait_short_and_leaves_the_job_in_the_journal) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    std::atomic<int> extraction_calls{0};
    overloaded_for_memory(server, extraction_calls);
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), waiting_long_to_retry(server, dir));
    std::vector<engram::runtime::memory_event> events;
    record_memory_events(rt, events);
    std::chrono::steady_clock::duration shutdown_took{};
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        auto s = co_await rt.open_session("assistant", "jo");
        co_await s.send("I like tea");
        s.end();
        co_await until_tried(extraction_calls);
        asio::steady_timer settle(co_await asio::this_coro::executor, 100ms);
        co_await settle.async_wait(asio::use_awaitable);
        const auto began = std::chrono::steady_clock::now();
        co_await rt.shutdown();
        shutdown_took = std::chrono::steady_clock::now() - began;
    }, 60s);
    BOOST_TEST(extraction_calls.load() == 1);
    BOOST_TEST((shutdown_took < 10s));
    BOOST_REQUIRE_EQUAL(events.size(), 1u);
    BOOST_TEST(!events[0].ok);
    BOOST_TEST(events[0].error.find("Overloaded") != std::string::npos, events[0].error);
    BOOST_TEST(open_store(dir)->journal_list()->size() == 1u);
}

// The user's next session, ended by the same shutdown, must not be merged before the session
// whose pass waits: at the next start that one would then be late, and its changes of the same
// preferences or summary kept out.
BOOST_AUTO_TEST_CASE(a_later_session_is_not_merged_before_one_whose_retry_the_shutdown_cut) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    std::atomic<int> extraction_calls{0};
    overloaded_for_memory(server, extraction_calls);
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), waiting_long_to_retry(server, dir));
    std::vector<engram::runtime::memory_event> events;
    record_memory_events(rt, events);
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        auto first = co_await rt.open_session("assistant", "jo");
        co_await first.send("I like tea");
        first.end();
        co_await until_tried(extraction_calls);
        auto second = co_await rt.open_session("assistant", "jo");
        co_await second.send("I like coffee now");
        co_await rt.shutdown();  // ends `second`; its job queues behind the waiting one
    }, 60s);
    BOOST_TEST(extraction_calls.load() == 1);  // the second session's pass did not run
    BOOST_REQUIRE_EQUAL(events.size(), 2u);
    BOOST_TEST(!events[0].ok);
    BOOST_TEST(!events[1].ok);
    BOOST_TEST(events[1].error.find("earlier session") != std::string::npos, events[1].error);
    BOOST_TEST(open_store(dir)->journal_list()->size() == 2u);  // both replayed, in order, at the next start
}

BOOST_AUTO_TEST_CASE(busy_policy_refuse_rejects_a_second_send_and_wait_queues_it) {
    for (auto policy : {engram::runtime::busy_policy::refuse, engram::runtime::busy_policy::wait}) {
        engram::test::temp_dir dir;
        fake_anthropic_server server;
        echo_server(server, "{}", 30ms);
        asio::io_context ioc;
        auto cfg = config_for(server, dir);
        cfg.busy = policy;
        runtime rt(ioc.get_executor(), cfg);
        std::vector<std::string> outcomes(2);
        engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
            co_await rt.start();
            auto s = co_await rt.open_session("assistant", "erin");
            auto ex = co_await asio::this_coro::executor;
            int finished = 0;
            asio::steady_timer both(ex, std::chrono::steady_clock::time_point::max());
            for (int i = 0; i < 2; ++i) {
                asio::co_spawn(ex, s.send("turn " + std::to_string(i)), [&, i](std::exception_ptr e, engram::net::message m) {
                    if (!e) {
                        outcomes[i] = m.text();
                    } else {
                        try { std::rethrow_exception(e); } catch (const runtime_error& err) {
                            outcomes[i] = err.code_value() == engram::runtime::errc::session_busy ? "busy" : err.what();
                        } catch (const std::exception& err) { outcomes[i] = err.what(); }
                    }
                    if (++finished == 2) both.cancel();
                });
            }
            co_await both.async_wait(asio::as_tuple(asio::use_awaitable));
            if (policy == engram::runtime::busy_policy::wait) BOOST_TEST(s.history_size() == 4u);
            else BOOST_TEST(s.history_size() == 2u);
            co_await rt.shutdown();
        });
        if (policy == engram::runtime::busy_policy::refuse) {
            BOOST_TEST(outcomes[0] == "echo: turn 0");
            BOOST_TEST(outcomes[1] == "busy");
        } else {
            BOOST_TEST(outcomes[0] == "echo: turn 0");
            BOOST_TEST(outcomes[1] == "echo: turn 1");
        }
    }
}

BOOST_AUTO_TEST_CASE(a_session_is_ended_from_end_on_and_a_later_send_says_so_while_a_turn_runs) {
    // end() returns at once; its work waits for the running turn. From the call on the session
    // reads as ended, and a send made after it is refused as ended, not as busy (refuse) nor
    // queued behind the running turn (wait). The running turn completes and is remembered.
    for (auto policy : {engram::runtime::busy_policy::refuse, engram::runtime::busy_policy::wait}) {
        BOOST_TEST_CONTEXT("policy " << static_cast<int>(policy)) {
            engram::test::temp_dir dir;
            fake_anthropic_server server;
            echo_server(server, fact_update, 200ms);
            asio::io_context ioc;
            auto cfg = config_for(server, dir);
            cfg.busy = policy;
            runtime rt(ioc.get_executor(), cfg);
            std::string first;
            std::optional<engram::runtime::errc> second;
            engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
                co_await rt.start();
                auto s = co_await rt.open_session("assistant", "erin");
                auto ex = co_await asio::this_coro::executor;
                bool first_done = false;
                asio::co_spawn(ex, s.send("I play the cello"), [&](std::exception_ptr e, engram::net::message m) {
                    BOOST_TEST(!e);
                    if (!e) first = m.text();
                    first_done = true;
                });
                BOOST_TEST_REQUIRE(co_await eventually([&] { return !chat_requests(server).empty(); }));
                s.end();
                BOOST_TEST(s.ended());
                try {
                    co_await s.send("one more");
                } catch (const runtime_error& e) {
                    second = e.code_value();
                }
                BOOST_TEST_REQUIRE(co_await eventually([&] { return first_done; }));
                co_await rt.drain_extractions();
                co_await rt.shutdown();
            }, 30s);
            BOOST_TEST(first == "echo: I play the cello");
            BOOST_TEST((second == engram::runtime::errc::session_ended));
            BOOST_TEST(chat_requests(server).size() == 1u);
            BOOST_TEST(stored_memory(dir, "erin").session_count == 1);
        }
    }
}

BOOST_AUTO_TEST_CASE(idle_timeout_ends_the_session_and_saves_memory) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, R"({"running_summary":"Frank was idle."})");
    asio::io_context ioc;
    auto cfg = config_for(server, dir);
    cfg.idle_timeout = 200ms;
    runtime rt(ioc.get_executor(), cfg);
    std::promise<engram::runtime::memory_event> saved;
    engram::runtime::runtime_hooks hooks;
    hooks.on_memory_update = [&](const engram::runtime::memory_event& e) { saved.set_value(e); };
    rt.set_hooks(hooks);
    bool ended = false;
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        auto s = co_await rt.open_session("assistant", "frank");
        co_await s.send("hello");
        asio::steady_timer wait(co_await asio::this_coro::executor, 600ms);
        co_await wait.async_wait(asio::use_awaitable);
        co_await rt.drain_extractions();
        ended = s.ended();
        co_await rt.shutdown();
    });
    BOOST_TEST(ended);
    auto fut = saved.get_future();
    BOOST_REQUIRE(fut.wait_for(0s) == std::future_status::ready);
    BOOST_TEST(fut.get().ok);
    BOOST_TEST(stored_memory(dir, "frank").running_summary == "Frank was idle.");
}

BOOST_AUTO_TEST_CASE(a_turn_longer_than_the_idle_timeout_is_not_cut_and_idleness_counts_from_its_end) {
    for (bool single_threaded : {false, true}) {
        BOOST_TEST_CONTEXT("single_threaded_executor " << single_threaded) {
            engram::test::temp_dir dir;
            fake_anthropic_server server;
            server.set_handler([](const recorded_request& r) {
                if (is_extraction(r)) return extraction_reply("{}");
                // About 800 ms of streaming, four times the idle timeout.
                auto s = scripted_response::sse(engram::test::make_text_stream("a slow but steady reply", 8), {60});
                s.delay_between_pieces = 50ms;
                return s;
            });
            asio::io_context ioc;
            auto cfg = config_for(server, dir);
            cfg.idle_timeout = 200ms;
            cfg.single_threaded_executor = single_threaded;
            runtime rt(ioc.get_executor(), cfg);
            bool ended_right_after_the_turn = true, ended_later = false;
            std::string reply_text;
            engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
                co_await rt.start();
                auto s = co_await rt.open_session("assistant", "gina");
                auto reply = co_await s.send("hello");
                reply_text = reply.text();
                ended_right_after_the_turn = s.ended();
                asio::steady_timer wait(co_await asio::this_coro::executor, 700ms);
                co_await wait.async_wait(asio::use_awaitable);
                ended_later = s.ended();
                co_await rt.shutdown();
            }, 30s);
            BOOST_TEST(reply_text == "a slow but steady reply");
            BOOST_TEST(!ended_right_after_the_turn);
            BOOST_TEST(ended_later);
        }
    }
}

BOOST_AUTO_TEST_CASE(shutdown_lets_in_flight_turns_finish_and_saves_their_sessions) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, R"({"running_summary":"Grace waited."})", 40ms);  // a turn takes ~0.4 s
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), config_for(server, dir));
    std::string reply_text;
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        auto s = co_await rt.open_session("assistant", "grace");
        auto ex = co_await asio::this_coro::executor;
        bool turn_done = false;
        asio::co_spawn(ex, s.send("a slow question"), [&](std::exception_ptr e, engram::net::message m) {
            if (!e) reply_text = m.text();
            turn_done = true;
        });
        asio::steady_timer t(ex, 50ms);  // the turn is streaming now
        co_await t.async_wait(asio::use_awaitable);
        co_await rt.shutdown();
        BOOST_TEST(turn_done);
        BOOST_TEST(s.ended());
        bool refused = false;
        try {
            co_await rt.open_session("assistant", "grace");
        } catch (const runtime_error& e) {
            refused = e.code_value() == engram::runtime::errc::shutting_down;
        }
        BOOST_TEST(refused);
    });
    BOOST_TEST(reply_text == "echo: a slow question");
    BOOST_TEST(stored_memory(dir, "grace").session_count == 1);
}

namespace {

// Chat turns stall after two deltas (until the client leaves); extractions return "{}".
void stalling_chat_server(fake_anthropic_server& server) {
    server.set_handler([](const recorded_request& r) {
        if (is_extraction(r)) return extraction_reply("{}");
        const auto body = engram::test::make_text_stream("never finishes", 2);
        auto s = scripted_response::sse(body);
        s.stop_after_bytes = body.find("content_block_stop");
        s.stall = true;
        return s;
    });
}

// The set-up both cancellation tests share: stalling chat turns, and a stream idle timeout long
// enough that only a cancellation can end a turn in time.
runtime_config stalling_config(const fake_anthropic_server& server, const engram::test::temp_dir& dir,
                               bool single_threaded) {
    auto cfg = config_for(server, dir);
    cfg.single_threaded_executor = single_threaded;
    cfg.client.stream_idle_timeout = 60s;
    return cfg;
}

}  // namespace

// A turn runs inside the caller's coroutine on a single-threaded executor, and in a coroutine
// of its own on the session's strand otherwise: both must be cancellable.
BOOST_AUTO_TEST_CASE(shutdown_after_the_grace_period_cancels_a_stalled_turn) {
    for (bool single_threaded : {false, true}) {
        BOOST_TEST_CONTEXT("single_threaded_executor " << single_threaded) {
            engram::test::temp_dir dir;
            fake_anthropic_server server;
            stalling_chat_server(server);
            asio::io_context ioc;
            auto cfg = stalling_config(server, dir, single_threaded);
            cfg.shutdown_grace = 300ms;
            runtime rt(ioc.get_executor(), cfg);
            std::exception_ptr failure;
            bool finished = false;
            const auto started = std::chrono::steady_clock::now();
            engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
                co_await rt.start();
                auto s = co_await rt.open_session("assistant", "hank");
                auto ex = co_await asio::this_coro::executor;
                asio::co_spawn(ex, s.send("stall please"), [&](std::exception_ptr e, engram::net::message) {
                    failure = e;
                    finished = true;
                });
                asio::steady_timer t(ex, 100ms);
                co_await t.async_wait(asio::use_awaitable);
                co_await rt.shutdown();
                BOOST_TEST(s.ended());
            }, 30s);
            BOOST_TEST(finished);
            BOOST_TEST(engram::test::is_cancelled(failure));
            BOOST_TEST((std::chrono::steady_clock::now() - started < 20s));
            BOOST_TEST(extraction_requests(server).empty());  // the cancelled turn left nothing to remember
        }
    }
}

BOOST_AUTO_TEST_CASE(cancelling_the_callers_coroutine_cancels_its_turn_which_leaves_no_trace) {
    using namespace asio::experimental::awaitable_operators;
    for (bool single_threaded : {false, true}) {
        BOOST_TEST_CONTEXT("single_threaded_executor " << single_threaded) {
            engram::test::temp_dir dir;
            fake_anthropic_server server;
            stalling_chat_server(server);
            asio::io_context ioc;
            runtime rt(ioc.get_executor(), stalling_config(server, dir, single_threaded));
            std::exception_ptr failure;
            bool finished = false;
            const auto started = std::chrono::steady_clock::now();
            engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
                co_await rt.start();
                auto s = co_await rt.open_session("assistant", "ida");
                auto ex = co_await asio::this_coro::executor;
                // 1. The usual way to bound a call: the timer wins, the stalled turn is cancelled.
                std::string seen;
                asio::steady_timer t(ex, 200ms);
                auto r = co_await (s.send("stall please", [&](std::string_view d) { seen += d; }) ||
                                   t.async_wait(asio::use_awaitable));
                BOOST_TEST(r.index() == 1u);
                BOOST_TEST(!seen.empty());            // it was cancelled mid-stream
                BOOST_TEST(s.history_size() == 0u);  // and left nothing in the history
                // 2. The caller's own cancellation slot, to see the error the turn ends with.
                asio::cancellation_signal cancel;
                asio::co_spawn(ex, s.send("stall again"),
                               asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e, engram::net::message) {
                                   failure = e;
                                   finished = true;
                               }));
                t.expires_after(200ms);
                co_await t.async_wait(asio::use_awaitable);
                cancel.emit(asio::cancellation_type::terminal);
                for (int i = 0; i < 250 && !finished; ++i) {
                    t.expires_after(20ms);
                    co_await t.async_wait(asio::use_awaitable);
                }
                BOOST_TEST(s.history_size() == 0u);
                // 3. The turn lock was released each time: the session takes the next turn.
                server.set_handler([](const recorded_request& req) { return echo_reply(req); });
                auto reply = co_await s.send("hello again");
                BOOST_TEST(!reply.text().empty());
                BOOST_TEST(s.history_size() == 2u);
                s.end();
                co_await rt.shutdown();
            }, 30s);
            BOOST_TEST(finished);
            BOOST_TEST(engram::test::is_cancelled(failure));
            BOOST_TEST((std::chrono::steady_clock::now() - started < 20s));
        }
    }
}

BOOST_AUTO_TEST_CASE(unknown_agent_hostile_user_id_and_vetoed_sessions_are_clear_errors) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, "{}");
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), config_for(server, dir));
    engram::runtime::runtime_hooks hooks;
    hooks.on_session_open = [](const engram::runtime::session_info& s) { return s.user_id != "blocked"; };
    rt.set_hooks(hooks);
    // A definition an agent file could not hold is refused when added, not at every session.
    auto broken = *engram::agents::find_builtin("assistant");
    broken.name = "broken";
    broken.memory.max_facts = 0;
    try {
        rt.add_agent(broken);
        BOOST_ERROR("an invalid agent was added");
    } catch (const runtime_error& e) {
        BOOST_TEST((e.code_value() == engram::runtime::errc::invalid_agent));
        BOOST_TEST(std::string(e.what()).find("memory.max_facts") != std::string::npos, e.what());
    }
    for (const auto& a : rt.agents()) BOOST_TEST(a.name != "broken");
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        try {
            co_await rt.open_session("no-such-agent", "ivy");
            BOOST_ERROR("an unknown agent was accepted");
        } catch (const runtime_error& e) {
            BOOST_TEST((e.code_value() == engram::runtime::errc::unknown_agent));
        }
        try {
            co_await rt.open_session("assistant", std::string("../\0etc", 7));
            BOOST_ERROR("a hostile user id was accepted");
        } catch (const runtime_error& e) {
            BOOST_TEST((e.code_value() == engram::runtime::errc::memory_error));
        }
        try {
            co_await rt.open_session("assistant", "blocked");
            BOOST_ERROR("a vetoed session was opened");
        } catch (const runtime_error& e) {
            BOOST_TEST((e.code_value() == engram::runtime::errc::vetoed));
        }
        co_await rt.shutdown();
    });
}

BOOST_AUTO_TEST_CASE(usage_is_accounted_per_session_and_per_user) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, "{}");
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), config_for(server, dir));
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        auto s = co_await rt.open_session("assistant", "jo");
        co_await s.send("one");
        co_await s.send("two");
        BOOST_TEST(s.usage().requests == 2);
        BOOST_TEST(s.usage().input_tokens == 20);  // the fake reports 10 input tokens per turn
        s.end();
        co_await rt.drain_extractions();
        const auto u = rt.user_usage("jo");
        BOOST_TEST(u.requests == 3);  // two turns and the extraction call
        BOOST_TEST(u.input_tokens == 70);
        co_await rt.shutdown();
    });
}

BOOST_AUTO_TEST_CASE(taking_user_usage_returns_each_users_tokens_since_the_last_take_and_forgets_them) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, "{}");
    asio::io_context ioc;
    auto cfg = config_for(server, dir);
    runtime rt(ioc.get_executor(), cfg);
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        auto jo = co_await rt.open_session("assistant", "jo");
        auto al = co_await rt.open_session("assistant", "al");
        co_await jo.send("one");
        co_await al.send("one");
        co_await al.send("two");
        auto taken = rt.take_user_usage();
        BOOST_REQUIRE_EQUAL(taken.size(), 2u);
        BOOST_TEST(taken.at("jo").requests == 1);
        BOOST_TEST(taken.at("al").requests == 2);
        BOOST_TEST(taken.at("al").input_tokens == 20);  // the fake reports 10 input tokens per turn
        BOOST_TEST(rt.user_usage("jo").requests == 0);  // forgotten
        BOOST_TEST(rt.take_user_usage().empty());       // nothing since
        co_await jo.send("two");
        taken = rt.take_user_usage();
        BOOST_REQUIRE_EQUAL(taken.size(), 1u);
        BOOST_TEST(taken.at("jo").requests == 1);
        BOOST_TEST(jo.usage().requests == 2);  // the session's own count goes on
        co_await rt.shutdown();
    });
}

namespace {

// Awaits `op` for at most `limit`; false if it had to be given up.
asio::awaitable<bool> within(asio::awaitable<void> op, std::chrono::milliseconds limit = 5s) {
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer t(co_await asio::this_coro::executor, limit);
    auto r = co_await (std::move(op) || t.async_wait(asio::use_awaitable));
    co_return r.index() == 0;
}

std::vector<std::string> chat_turn_texts(const fake_anthropic_server& server) {
    std::vector<std::string> out;
    for (const auto& r : chat_requests(server)) out.push_back(engram::test::last_user_text(r));
    return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_send_cancelled_while_waiting_for_its_turn_fails_as_cancelled_and_leaves_the_queue) {
    for (bool single_threaded : {false, true}) {
        BOOST_TEST_CONTEXT("single_threaded_executor " << single_threaded) {
            engram::test::temp_dir dir;
            fake_anthropic_server server;
            echo_server(server, "{}", 30ms);  // a turn streams for a few hundred ms
            asio::io_context ioc;
            auto cfg = config_for(server, dir);
            cfg.single_threaded_executor = single_threaded;
            runtime rt(ioc.get_executor(), cfg);
            std::exception_ptr second_failure;
            bool first_done = false, second_done = false, third_done = false;
            std::string third_text;
            engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
                co_await rt.start();
                auto s = co_await rt.open_session("assistant", "lee");
                auto ex = co_await asio::this_coro::executor;
                asio::steady_timer t(ex);
                auto pause = [&](std::chrono::milliseconds d) {
                    t.expires_after(d);
                    return t.async_wait(asio::use_awaitable);
                };
                asio::co_spawn(ex, s.send("first"), [&](std::exception_ptr, engram::net::message) { first_done = true; });
                co_await pause(20ms);
                asio::cancellation_signal cancel_second;
                asio::co_spawn(ex, s.send("second"),
                               asio::bind_cancellation_slot(cancel_second.slot(), [&](std::exception_ptr e, engram::net::message) {
                                   second_failure = e;
                                   second_done = true;
                               }));
                co_await pause(20ms);
                asio::co_spawn(ex, s.send("third"), [&](std::exception_ptr e, engram::net::message m) {
                    if (!e) third_text = m.text();
                    third_done = true;
                });
                co_await pause(20ms);
                cancel_second.emit(asio::cancellation_type::terminal);  // while it waits behind "first"
                BOOST_TEST(co_await eventually([&] { return second_done; }));
                // The cancelled waiter must not swallow the wake-up meant for the one behind it.
                BOOST_TEST(co_await eventually([&] { return first_done && third_done; }));
                BOOST_TEST(third_text == "echo: third");
                s.end();  // waits for the turn lock too
                BOOST_TEST(co_await within(rt.drain_extractions()));
                BOOST_TEST(co_await within(rt.shutdown()));
            }, 30s);
            BOOST_TEST(engram::test::is_cancelled(second_failure));
            BOOST_TEST(chat_turn_texts(server) == (std::vector<std::string>{"first", "third"}), boost::test_tools::per_element());
        }
    }
}

BOOST_AUTO_TEST_CASE(a_turn_sent_after_a_queued_one_runs_after_it) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, "{}", 10ms);
    asio::io_context ioc;
    auto cfg = config_for(server, dir);
    // The caller's coroutine then runs its turn itself, so "third" is sent on the spot when
    // "first" returns, before the queued "second" has resumed.
    cfg.single_threaded_executor = true;
    runtime rt(ioc.get_executor(), cfg);
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        auto s = co_await rt.open_session("assistant", "mia");
        auto ex = co_await asio::this_coro::executor;
        bool second_done = false;
        asio::co_spawn(ex, [&]() -> asio::awaitable<void> {
            asio::steady_timer t(ex, 20ms);
            co_await t.async_wait(asio::use_awaitable);
            co_await s.send("second");
        }, [&](std::exception_ptr) { second_done = true; });
        co_await s.send("first");
        co_await s.send("third");
        BOOST_TEST(co_await eventually([&] { return second_done; }));
        s.end();
        BOOST_TEST(co_await within(rt.shutdown()));
    }, 30s);
    BOOST_TEST(chat_turn_texts(server) == (std::vector<std::string>{"first", "second", "third"}), boost::test_tools::per_element());
}

namespace {
struct hook_failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};
}  // namespace

BOOST_AUTO_TEST_CASE(a_throwing_memory_hook_does_not_stop_that_users_later_extractions) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, fact_update);
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), config_for(server, dir));
    int updates = 0;
    engram::runtime::runtime_hooks hooks;
    hooks.on_memory_update = [&](const engram::runtime::memory_event&) {
        ++updates;
        throw hook_failure("memory hook failed");
    };
    rt.set_hooks(hooks);
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        for (int i = 0; i < 2; ++i) {
            const auto opening = std::chrono::steady_clock::now();
            auto s = co_await rt.open_session("assistant", "ned");
            BOOST_TEST((std::chrono::steady_clock::now() - opening < 2s));  // no wait for a wedged worker
            if (i == 1) BOOST_TEST(s.memory_block().find("FastAPI") != std::string::npos);
            co_await s.send("I use Python and FastAPI for my backend");
            s.end();
            BOOST_TEST(co_await within(rt.drain_extractions()));
        }
        BOOST_TEST(co_await within(rt.shutdown()));
    }, 30s);
    BOOST_TEST(updates == 2);  // once per extraction: a throwing hook is not called again
    BOOST_TEST(stored_memory(dir, "ned").session_count == 2);
}

BOOST_AUTO_TEST_CASE(a_throwing_session_end_hook_still_saves_the_session_and_lets_shutdown_finish) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, fact_update);
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), config_for(server, dir));
    engram::runtime::runtime_hooks hooks;
    hooks.on_session_end = [](const engram::runtime::session_info&) { throw hook_failure("end hook failed"); };
    rt.set_hooks(hooks);
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        auto s = co_await rt.open_session("assistant", "olga");  // the handle stays alive
        co_await s.send("I use Python and FastAPI for my backend");
        s.end();
        BOOST_TEST(co_await within(rt.drain_extractions()));
        BOOST_TEST(co_await within(rt.shutdown()));
    }, 30s);
    BOOST_TEST(stored_memory(dir, "olga").session_count == 1);
}

BOOST_AUTO_TEST_CASE(throwing_turn_and_notice_hooks_neither_fail_the_turn_nor_escape_the_executor) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, R"({"running_summary":"Pia was idle."})");
    asio::io_context ioc;
    auto cfg = config_for(server, dir);
    cfg.idle_timeout = 200ms;
    runtime rt(ioc.get_executor(), cfg);
    int notices = 0;
    engram::runtime::runtime_hooks hooks;
    hooks.on_turn_finished = [](const engram::runtime::session_info&, const engram::net::message&) {
        throw hook_failure("turn hook failed");
    };
    hooks.on_notice = [&](const engram::runtime::session_info&, const std::string&) {
        ++notices;
        throw hook_failure("notice hook failed");  // the idle end's notice runs in a timer handler
    };
    rt.set_hooks(hooks);
    bool ended = false;
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        auto s = co_await rt.open_session("assistant", "pia");
        auto reply = co_await s.send("hello");
        BOOST_TEST(reply.text() == "echo: hello");
        BOOST_TEST(s.history_size() == 2u);
        BOOST_TEST(co_await eventually([&] { return s.ended(); }));
        ended = s.ended();
        BOOST_TEST(co_await within(rt.drain_extractions()));
        BOOST_TEST(co_await within(rt.shutdown()));
    }, 30s);
    BOOST_TEST(ended);
    BOOST_TEST(notices == 1);
    BOOST_TEST(stored_memory(dir, "pia").running_summary == "Pia was idle.");
}

namespace {

// A streamed reply with no content at all, or with one empty text block: both happen (a model
// that has nothing to add ends its turn at once), and the API refuses either in a later request.
std::string empty_stream(bool with_empty_block) {
    const std::string full = engram::test::make_text_stream("", 1);
    if (with_empty_block) return full;
    std::string out;
    for (std::size_t pos = 0; pos < full.size();) {
        const auto end = std::min(full.find("\n\n", pos), full.size()) + 2;
        const std::string event = full.substr(pos, end - pos);
        if (event.find("content_block") == std::string::npos) out += event;
        pos = end;
    }
    return out;
}

// What the API requires of every message in a request: content that is not empty, and no
// empty text block.
bool every_message_has_content(const recorded_request& r) {
    const auto body = json::parse(r.body);
    for (const auto& m : body.at("messages").as_array()) {
        const auto& c = m.at("content");
        if (c.is_string() && c.as_string().empty()) return false;
        if (c.is_array()) {
            if (c.as_array().empty()) return false;
            for (const auto& b : c.as_array())
                if (b.at("type") == "text" && b.at("text").as_string().empty()) return false;
        }
    }
    return true;
}

}  // namespace

BOOST_AUTO_TEST_CASE(an_empty_reply_fails_its_turn_and_the_session_goes_on) {
    for (bool with_empty_block : {false, true}) {
        BOOST_TEST_CONTEXT("empty text block " << with_empty_block) {
            engram::test::temp_dir dir;
            fake_anthropic_server server;
            server.set_handler([with_empty_block](const recorded_request& r) {
                if (is_extraction(r)) return extraction_reply("{}");
                if (engram::test::last_user_text(r) == "say nothing") return scripted_response::sse(empty_stream(with_empty_block));
                return echo_reply(r);
            });
            asio::io_context ioc;
            runtime rt(ioc.get_executor(), config_for(server, dir));
            engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
                co_await rt.start();
                auto s = co_await rt.open_session("assistant", "quinn");
                co_await s.send("hello");
                try {
                    co_await s.send("say nothing");
                    BOOST_ERROR("an empty reply was accepted as a turn");
                } catch (const runtime_error& e) {
                    BOOST_TEST((e.code_value() == engram::runtime::errc::empty_reply), e.what());
                }
                BOOST_TEST(s.history_size() == 2u);  // as before the failed turn
                BOOST_TEST(s.usage().requests == 2);  // its tokens were billed all the same
                auto reply = co_await s.send("hello again");
                BOOST_TEST(reply.text() == "echo: hello again");
                BOOST_TEST(s.history_size() == 4u);
                s.end();
                BOOST_TEST(co_await within(rt.shutdown()));
            }, 30s);
            const auto chats = chat_requests(server);
            BOOST_REQUIRE_EQUAL(chats.size(), 3u);
            for (const auto& r : chats) BOOST_TEST(every_message_has_content(r), r.body);
        }
    }
}

BOOST_AUTO_TEST_CASE(a_failed_start_can_be_retried_once_the_memory_directory_is_usable) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, "{}");
    asio::io_context ioc;
    auto cfg = config_for(server, dir);
    const auto blocker = dir.path() / "blocker";
    { std::ofstream(blocker) << "a file where the memory directory's parent should be"; }
    cfg.memory_directory = blocker / "memory";
    runtime rt(ioc.get_executor(), cfg);
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        try {
            co_await rt.start();
            BOOST_ERROR("start() succeeded with an unusable memory directory");
        } catch (const runtime_error& e) {
            BOOST_TEST((e.code_value() == engram::runtime::errc::memory_error), e.what());
        }
        std::filesystem::remove(blocker);
        co_await rt.start();  // really starts this time
        auto s = co_await rt.open_session("assistant", "rex");
        co_await s.send("hello");
        s.end();
        BOOST_TEST(co_await within(rt.shutdown()));
    }, 30s);
}

// The idle connection check ends with the last session: a wait left behind would hold
// io_context::run() for a whole interval, an hour here. (The session ends at once; whether the
// check had begun its first wait by then, a single thread does not let the test choose.)
BOOST_AUTO_TEST_CASE(a_session_ended_at_once_leaves_no_idle_connection_check_behind) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, "{}");
    asio::io_context ioc;
    auto cfg = config_for(server, dir);
    cfg.idle_connection_check_interval = std::chrono::hours(1);
    {
        runtime rt(ioc.get_executor(), cfg);
        engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
            co_await rt.start();
            auto s = co_await rt.open_session("assistant", "ivy");
            s.end();
            co_await rt.shutdown();
        }, 30s);
    }
    ioc.restart();
    const auto began = std::chrono::steady_clock::now();
    ioc.run_for(10s);
    BOOST_TEST(ioc.stopped());  // ran out of work rather than into the time limit
    BOOST_TEST((std::chrono::steady_clock::now() - began < 5s));
}

BOOST_AUTO_TEST_CASE(a_runtime_destroyed_without_shutdown_lets_the_io_context_run_out_of_work) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, "{}");
    asio::io_context ioc;
    {
        runtime rt(ioc.get_executor(), config_for(server, dir));
        engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
            co_await rt.start();
            auto s = co_await rt.open_session("assistant", "sam");
            co_await s.send("hello");
            s.end();
            co_await rt.drain_extractions();
        }, 30s);
    }  // no shutdown()
    ioc.restart();
    const auto began = std::chrono::steady_clock::now();
    ioc.run_for(10s);
    BOOST_TEST(ioc.stopped());  // ran out of work rather than into the time limit
    BOOST_TEST((std::chrono::steady_clock::now() - began < 5s));
}

// A server closes kept-alive connections that stay idle. While sessions are open the runtime
// closes them on its side too, instead of keeping their descriptors until the next request.
// (That the check holds no io_context past the last session or a shutdown, the tests around
// this one show: they expect the io_context to run out of work before the default interval.)
BOOST_AUTO_TEST_CASE(while_sessions_are_open_connections_the_server_closed_are_closed_on_the_runtimes_side_too) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    server.set_handler([](const recorded_request& r) {
        auto reply = is_extraction(r) ? extraction_reply(fact_update) : echo_reply(r);
        reply.close_after = 50ms;
        return reply;
    });
    asio::io_context ioc;
    auto cfg = config_for(server, dir);
    cfg.idle_connection_check_interval = 100ms;
    runtime rt(ioc.get_executor(), cfg);
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        auto s = co_await rt.open_session("assistant", "nia");
        co_await s.send("hello");
        BOOST_TEST(rt.client().stats().idle == 1u);
        BOOST_TEST(co_await eventually([&] { return rt.client().stats().idle == 0u; }, 2s));
        co_await s.send("hello again");  // on a new connection
        BOOST_TEST(rt.client().stats().connections_opened == 2u);
        s.end();
        co_await rt.shutdown();
    }, 30s);
    BOOST_TEST(stored_memory(dir, "nia").session_count == 1);
}

// After shutdown nothing of the runtime's sends again: its kept-alive connections are closed
// then, not left open until the runtime object goes.
BOOST_AUTO_TEST_CASE(shutdown_closes_the_kept_alive_connections) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, fact_update);
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), config_for(server, dir));
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        auto s = co_await rt.open_session("assistant", "ora");
        co_await s.send("hello");
        s.end();
        co_await rt.drain_extractions();
        BOOST_TEST(rt.client().stats().idle >= 1u);
        BOOST_TEST(server.connections_open() >= 1u);
        co_await rt.shutdown();
        BOOST_TEST(rt.client().stats().idle == 0u);
        BOOST_TEST(co_await eventually([&] { return server.connections_open() == 0u; }, 2s));
    }, 30s);
    BOOST_TEST(stored_memory(dir, "ora").session_count == 1);
}

// The check runs on one of the runtime's threads while sessions on the others take connections
// from the pool and give them back, and the server closes those that stay idle for 3 ms: some are
// pruned, some found closed by the next request, some closed as a request goes out (sent again).
BOOST_AUTO_TEST_CASE(the_idle_connection_check_beside_sessions_on_other_threads_loses_no_turn) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    server.set_handler([](const recorded_request& r) {
        auto reply = is_extraction(r) ? extraction_reply("{}") : echo_reply(r);
        reply.close_after = 3ms;
        return reply;
    });
    auto cfg = config_for(server, dir);
    cfg.idle_connection_check_interval = 2ms;
    runtime rt(3, cfg);
    constexpr int sessions = 12, turns = 4;
    std::atomic<int> ok{0};
    std::vector<std::future<void>> done;
    for (int i = 0; i < sessions; ++i)
        done.push_back(asio::co_spawn(rt.executor(), [&rt, &ok, i]() -> asio::awaitable<void> {
            co_await rt.start();
            auto s = co_await rt.open_session("assistant", "pat" + std::to_string(i));
            for (int t = 0; t < turns; ++t) {
                const std::string text = "u" + std::to_string(i) + "-t" + std::to_string(t);
                auto reply = co_await s.send(text);
                if (reply.text() == "echo: " + text) ++ok;
                asio::steady_timer pause(co_await asio::this_coro::executor, std::chrono::milliseconds(i % 4 * 2));
                co_await pause.async_wait(asio::use_awaitable);
            }
            s.end();
        }, asio::use_future));
    for (auto& f : done) {
        BOOST_REQUIRE(f.wait_for(60s) == std::future_status::ready);
        f.get();
    }
    auto shut = asio::co_spawn(rt.executor(), rt.shutdown(), asio::use_future);
    BOOST_REQUIRE(shut.wait_for(30s) == std::future_status::ready);
    shut.get();
    BOOST_TEST(ok.load() == sessions * turns);
}

// A host that caps open sessions gets a typed refusal beyond the cap, before its open hook runs
// (no open/end pair to account for); an ended or a forgotten session makes room again.
BOOST_AUTO_TEST_CASE(beyond_max_open_sessions_an_open_is_refused_until_one_ends_or_is_forgotten) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, fact_update);
    asio::io_context ioc;
    auto cfg = config_for(server, dir);
    cfg.max_open_sessions = 2;
    cfg.idle_timeout = 0s;  // a session whose handles are dropped is forgotten
    runtime rt(ioc.get_executor(), cfg);
    int hook_opens = 0;
    engram::runtime::runtime_hooks hooks;
    hooks.on_session_open = [&hook_opens](const engram::runtime::session_info&) {
        ++hook_opens;
        return true;
    };
    rt.set_hooks(hooks);
    const auto refused = [&rt](std::string user) -> asio::awaitable<std::optional<runtime_error>> {
        try {
            co_await rt.open_session("assistant", user);
        } catch (const runtime_error& e) {
            co_return e;
        }
        co_return std::nullopt;
    };
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        auto ann = co_await rt.open_session("assistant", "ann");
        std::optional<engram::runtime::session> bob = co_await rt.open_session("assistant", "bob");
        const auto third = co_await refused("cy");
        BOOST_REQUIRE(third.has_value());
        BOOST_TEST((third->code_value() == engram::runtime::errc::too_many_sessions));
        BOOST_TEST(std::string(third->what()).find("max_open_sessions") != std::string::npos, third->what());
        BOOST_TEST(hook_opens == 2);

        ann.end();
        BOOST_TEST(co_await eventually([&] { return rt.stats().sessions_open == 1u; }));
        auto cy = co_await rt.open_session("assistant", "cy");
        BOOST_TEST((co_await refused("dee")).has_value());  // full again

        bob.reset();  // forgotten: room for one
        auto dee = co_await rt.open_session("assistant", "dee");
        BOOST_TEST(rt.stats().sessions_open == 2u);
        cy.end();
        dee.end();
        co_await rt.shutdown();
    }, 30s);
    BOOST_TEST(hook_opens == 4);  // ann, bob, cy, dee: never the refused ones
}

// Opens racing on three threads all pass the early check (nothing is open yet); the cap holds
// as they join the session table.
BOOST_AUTO_TEST_CASE(opens_racing_on_three_threads_never_exceed_max_open_sessions) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, fact_update);
    auto cfg = config_for(server, dir);
    cfg.max_open_sessions = 5;
    runtime rt(3, cfg);
    constexpr int opens = 20;
    std::atomic<int> opened{0}, refused{0};
    std::mutex kept_mutex;
    std::vector<engram::runtime::session> kept;
    auto started = asio::co_spawn(rt.executor(), rt.start(), asio::use_future);
    BOOST_REQUIRE(started.wait_for(30s) == std::future_status::ready);
    started.get();
    std::vector<std::future<void>> done;
    for (int i = 0; i < opens; ++i)
        done.push_back(asio::co_spawn(rt.executor(), [&, i]() -> asio::awaitable<void> {
            try {
                auto s = co_await rt.open_session("assistant", "racer" + std::to_string(i));
                ++opened;
                std::lock_guard lock(kept_mutex);
                kept.push_back(std::move(s));
            } catch (const runtime_error& e) {
                if (e.code_value() == engram::runtime::errc::too_many_sessions) ++refused;
            }
        }, asio::use_future));
    for (auto& f : done) {
        BOOST_REQUIRE(f.wait_for(30s) == std::future_status::ready);
        f.get();
    }
    BOOST_TEST(opened.load() == 5);
    BOOST_TEST(refused.load() == opens - 5);
    BOOST_TEST(rt.stats().sessions_open == 5u);
    for (auto& s : kept) s.end();
    auto shut = asio::co_spawn(rt.executor(), rt.shutdown(), asio::use_future);
    BOOST_REQUIRE(shut.wait_for(30s) == std::future_status::ready);
    shut.get();
}

// A metrics thread reads stats() while sessions on three threads open, stream, end or are
// forgotten (no idle timeout: half of them are dropped without end()): its figures stay within
// the sessions and slots there are, and settle at zero.
BOOST_AUTO_TEST_CASE(stats_read_on_another_thread_while_sessions_run_on_three_stay_within_bounds) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, fact_update);
    auto cfg = config_for(server, dir);
    cfg.idle_timeout = 0s;
    cfg.max_in_flight_requests = 4;
    runtime rt(3, cfg);
    constexpr std::size_t sessions = 16;
    constexpr int turns = 3;
    std::atomic<bool> stop{false};
    std::atomic<std::size_t> reads{0}, most_open{0}, most_in_flight{0};
    std::thread scraper([&] {
        while (!stop.load()) {
            const auto st = rt.stats();
            most_open = std::max(most_open.load(), st.sessions_open);
            most_in_flight = std::max(most_in_flight.load(), st.requests_in_flight);
            ++reads;
            std::this_thread::yield();
        }
    });
    std::atomic<int> ok{0};
    std::vector<std::future<void>> done;
    for (std::size_t i = 0; i < sessions; ++i)
        done.push_back(asio::co_spawn(rt.executor(), [&rt, &ok, i]() -> asio::awaitable<void> {
            co_await rt.start();
            auto s = co_await rt.open_session("assistant", "sam" + std::to_string(i));
            for (int t = 0; t < turns; ++t) {
                const std::string text = "s" + std::to_string(i) + "-t" + std::to_string(t);
                if ((co_await s.send(text)).text() == "echo: " + text) ++ok;
            }
            if (i % 2 == 0) s.end();  // the others are forgotten with their last handle, here
        }, asio::use_future));
    for (auto& f : done) {
        BOOST_REQUIRE(f.wait_for(60s) == std::future_status::ready);
        f.get();
    }
    auto drained = asio::co_spawn(rt.executor(), rt.drain_extractions(), asio::use_future);
    BOOST_REQUIRE(drained.wait_for(30s) == std::future_status::ready);
    drained.get();
    stop = true;
    scraper.join();
    const auto st = rt.stats();
    BOOST_TEST(st.sessions_open == 0u);
    BOOST_TEST(st.requests_in_flight == 0u);
    BOOST_TEST(st.requests_waiting == 0u);
    BOOST_TEST(st.memory_passes_pending == 0u);
    BOOST_TEST(st.connections.in_use == 0u);
    BOOST_TEST(reads.load() > 0u);
    BOOST_TEST(most_open.load() <= sessions);
    BOOST_TEST(most_in_flight.load() <= 4u);
    BOOST_TEST(ok.load() == static_cast<int>(sessions) * turns);
    auto shut = asio::co_spawn(rt.executor(), rt.shutdown(), asio::use_future);
    BOOST_REQUIRE(shut.wait_for(30s) == std::future_status::ready);
    shut.get();
}

// A caller that bounds its wait for shutdown() (or is cancelled) used to stop the shutdown half
// way: later calls then waited for an actor nobody stopped, and io_context::run() never returned.
BOOST_AUTO_TEST_CASE(a_shutdown_whose_caller_stopped_waiting_still_finishes_and_later_calls_wait_for_it) {
    using namespace asio::experimental::awaitable_operators;
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, fact_update, 200ms);  // a turn streams for about a second
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), config_for(server, dir));
    std::size_t second_result = 99;
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        co_await rt.start();
        auto s = co_await rt.open_session("assistant", "zoe");
        asio::co_spawn(ex, s.send("a slow turn"), asio::detached);
        asio::steady_timer t(ex, 50ms);
        co_await t.async_wait(asio::use_awaitable);
        asio::steady_timer impatient(ex, 100ms);  // gives up while the turn still streams
        co_await (rt.shutdown() || impatient.async_wait(asio::use_awaitable));
        asio::steady_timer limit(ex, 20s);
        second_result = (co_await (rt.shutdown() || limit.async_wait(asio::use_awaitable))).index();
    }, 60s);
    BOOST_TEST(second_result == 0u);  // the shutdown finished, not the 20 s limit
    BOOST_TEST(stored_memory(dir, "zoe").session_count == 1);  // the session was ended and saved
    ioc.restart();
    ioc.run_for(10s);
    BOOST_TEST(ioc.stopped());
}

// `co_await (rt.shutdown() || timer)` and then leaving the runtime's scope: the shutdown under
// way must still end the sessions and save them, not have the actor stopped under it.
BOOST_AUTO_TEST_CASE(a_runtime_destroyed_while_its_shutdown_runs_still_saves_the_sessions_it_ends) {
    using namespace asio::experimental::awaitable_operators;
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, fact_update, 200ms);  // a turn streams for about a second
    asio::io_context ioc;
    {
        runtime rt(ioc.get_executor(), config_for(server, dir));
        engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
            auto ex = co_await asio::this_coro::executor;
            co_await rt.start();
            auto s = co_await rt.open_session("assistant", "ula");
            asio::co_spawn(ex, s.send("a slow turn"), asio::detached);
            asio::steady_timer t(ex, 50ms);
            co_await t.async_wait(asio::use_awaitable);
            asio::steady_timer impatient(ex, 100ms);
            co_await (rt.shutdown() || impatient.async_wait(asio::use_awaitable));
        }, 30s);
    }  // destroyed while the shutdown waits for the turn
    ioc.restart();
    ioc.run_for(20s);
    BOOST_TEST(ioc.stopped());
    BOOST_TEST(stored_memory(dir, "ula").session_count == 1);
}

BOOST_AUTO_TEST_CASE(start_after_shutdown_is_refused_and_leaves_nothing_running) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, "{}");
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), config_for(server, dir));
    std::optional<engram::runtime::errc> refused;
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.shutdown();
        try {
            co_await rt.start();
        } catch (const runtime_error& e) {
            refused = e.code_value();
        }
    }, 30s);
    BOOST_TEST((refused == engram::runtime::errc::shutting_down));
    ioc.restart();
    ioc.run_for(10s);
    BOOST_TEST(ioc.stopped());
}

// start() suspends while the memory actor reads the journal: a second call made meanwhile (two
// parts of a program each starting the runtime before they use it) waits for the first, so that
// its caller's next open_session() finds the runtime started.
BOOST_AUTO_TEST_CASE(a_start_called_while_another_runs_returns_once_the_runtime_has_started) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, "{}");
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), config_for(server, dir));
    std::vector<std::string> failures;
    int opened = 0;
    auto start_then_open = [&](std::string user) -> asio::awaitable<void> {
        try {
            co_await rt.start();
            auto s = co_await rt.open_session("assistant", user);
            ++opened;
            s.end();
        } catch (const runtime_error& e) {
            failures.push_back(user + ": " + e.what());
        }
    };
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        using namespace asio::experimental::awaitable_operators;
        co_await (start_then_open("ann") && start_then_open("ben"));
        co_await rt.shutdown();
    }, 30s);
    BOOST_TEST(failures.empty(), (failures.empty() ? std::string() : failures.front()));
    BOOST_TEST(opened == 2);
}

// start() and shutdown() called at the same moment on different threads of a runtime's own pool,
// twenty times: both always return, a start that lost the race is refused as shutting_down, no
// session opens afterwards, and nothing is left running (the next round opens the same memory
// directory, and the threads are gone at the end).
BOOST_AUTO_TEST_CASE(start_and_shutdown_racing_on_several_threads_both_return_and_leave_nothing_running) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, "{}");
    const auto baseline = thread_count();
    int started = 0;
    int refused = 0;
    for (int round = 0; round < 20; ++round) {
        runtime rt(4, config_for(server, dir));
        std::promise<void> go;
        std::shared_future<void> gate = go.get_future().share();
        auto start = asio::co_spawn(asio::make_strand(rt.executor()),
                                    [&rt, gate]() -> asio::awaitable<std::optional<engram::runtime::errc>> {
                                        gate.wait();
                                        std::optional<engram::runtime::errc> failed;
                                        try {
                                            co_await rt.start();
                                        } catch (const runtime_error& e) {
                                            failed = e.code_value();
                                        }
                                        co_return failed;
                                    },
                                    asio::use_future);
        auto stop = asio::co_spawn(asio::make_strand(rt.executor()),
                                   [&rt, gate]() -> asio::awaitable<void> {
                                       gate.wait();
                                       co_await rt.shutdown();
                                   },
                                   asio::use_future);
        go.set_value();
        BOOST_REQUIRE(start.wait_for(30s) == std::future_status::ready);
        BOOST_REQUIRE(stop.wait_for(30s) == std::future_status::ready);
        const auto start_failure = start.get();
        stop.get();
        if (!start_failure) {
            ++started;
        } else {
            BOOST_TEST((*start_failure == engram::runtime::errc::shutting_down));
            ++refused;
        }
        auto open = asio::co_spawn(rt.executor(), [&rt]() -> asio::awaitable<std::optional<engram::runtime::errc>> {
            std::optional<engram::runtime::errc> failed;
            try {
                co_await rt.open_session("assistant", "wes");
            } catch (const runtime_error& e) {
                failed = e.code_value();
            }
            co_return failed;
        }, asio::use_future);
        BOOST_REQUIRE(open.wait_for(30s) == std::future_status::ready);
        BOOST_TEST((open.get() == engram::runtime::errc::shutting_down));
    }
    BOOST_TEST_MESSAGE("start won " << started << " of 20 races, was refused in " << refused);
    BOOST_TEST(started + refused == 20);
    BOOST_TEST(wait_for_threads(baseline, 10s) == baseline);
}

// Sessions dropped without end() wait on their idle timers (30 minutes by default): the runtime's
// destruction stops those, so the io_context runs out of work at once.
BOOST_AUTO_TEST_CASE(a_runtime_destroyed_with_sessions_on_idle_timers_lets_the_io_context_run_out_of_work) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, "{}");
    asio::io_context ioc;
    {
        runtime rt(ioc.get_executor(), config_for(server, dir));  // idle_timeout: 30 min
        engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
            co_await rt.start();
            for (const char* user : {"abe", "bea"}) {
                auto s = co_await rt.open_session("assistant", user);
                co_await s.send("hello");
            }  // dropped without end(): only the idle timers hold them
        }, 30s);
    }  // no shutdown()
    ioc.restart();
    const auto began = std::chrono::steady_clock::now();
    ioc.run_for(10s);
    BOOST_TEST(ioc.stopped());
    BOOST_TEST((std::chrono::steady_clock::now() - began < 5s));
}

BOOST_AUTO_TEST_CASE(a_blank_or_non_utf8_message_is_refused_before_anything_is_sent_or_kept) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, "{}");
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), config_for(server, dir));
    std::vector<engram::runtime::errc> refused;
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        auto s = co_await rt.open_session("assistant", "wes");
        for (const char* text : {"", " \n\t ", "caf\xE9 au lait", "\xF0\x9F"}) {  // blank twice, Latin-1, a cut emoji
            try {
                co_await s.send(text);
            } catch (const runtime_error& e) {
                refused.push_back(e.code_value());
            }
        }
        BOOST_TEST((co_await s.send("hello")).text() == "echo: hello");  // the session goes on
        s.end();
        co_await rt.shutdown();
    }, 30s);
    using engram::runtime::errc;
    BOOST_TEST((refused == std::vector<errc>{errc::empty_message, errc::empty_message, errc::invalid_message, errc::invalid_message}));
    const auto chats = chat_requests(server);
    BOOST_TEST_REQUIRE(chats.size() == 1u);  // only "hello" reached the API, alone in its history
    BOOST_TEST(json::parse(chats[0].body).at("messages").as_array().size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_stateless_agent_refuses_an_unusable_user_id_too) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, "{}");
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), config_for(server, dir));
    auto stateless = *engram::agents::find_builtin("assistant");
    stateless.name = "stateless";
    stateless.remember = false;
    rt.add_agent(stateless);
    std::optional<engram::runtime::errc> refused;
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        try {
            co_await rt.open_session("stateless", "line\nbreak </user_memory>");
        } catch (const runtime_error& e) {
            refused = e.code_value();
        }
        co_await rt.shutdown();
    }, 30s);
    BOOST_TEST((refused == engram::runtime::errc::memory_error));
}

// A session journaled under an agent that another run registered (an agent file): merged under
// the built-in's caps it lost facts; it waits for a runtime that has its agent.
BOOST_AUTO_TEST_CASE(a_journaled_session_of_an_agent_not_registered_here_waits_in_the_journal) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, fact_update);
    {
        auto store = open_store(dir);
        const json::object job{{"agent", "support"}, {"transcript", "USER: I build the backend with FastAPI\n"}};
        BOOST_REQUIRE(store->journal_add({"yan", "s-support-1", "", json::serialize(job)}).has_value());
    }
    auto support = *engram::agents::find_builtin("assistant");
    support.name = "support";
    support.memory.max_facts = 15;
    for (const bool registered : {false, true}) {
        asio::io_context ioc;
        runtime rt(ioc.get_executor(), config_for(server, dir));
        if (registered) rt.add_agent(support);
        std::vector<engram::runtime::memory_event> events;
        record_memory_events(rt, events);
        engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
            co_await rt.start();
            co_await rt.drain_extractions();
            co_await rt.shutdown();
        }, 30s);
        BOOST_TEST_CONTEXT("agent registered: " << registered) {
            BOOST_TEST_REQUIRE(events.size() == 1u);
            BOOST_TEST(events[0].ok == registered);
            BOOST_TEST(extraction_requests(server).size() == (registered ? 1u : 0u));
            BOOST_TEST(open_store(dir)->journal_list()->size() == (registered ? 0u : 1u));
            if (!registered) BOOST_TEST(events[0].error.find("'support' is not registered") != std::string::npos, events[0].error);
        }
    }
    BOOST_TEST(stored_memory(dir, "yan").key_facts.size() == 1u);
}

// A session replayed from the journal (the process stopped before its merge) is dated when it
// ended: dated at the replay, its facts looked newer than later sessions' and outlived them.
BOOST_AUTO_TEST_CASE(a_session_replayed_from_the_journal_is_dated_when_it_ended_not_when_replayed) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, fact_update);
    {
        auto store = open_store(dir);
        const json::object job{{"agent", "assistant"}, {"transcript", "USER: I build the backend with FastAPI\n"}};
        BOOST_REQUIRE(store->journal_add({"yan", "s-old-1", "2024-01-10T09:00:00Z", json::serialize(job)}).has_value());
        // A date no record could store is not the session's: the merge is dated now instead of failing.
        BOOST_REQUIRE(store->journal_add({"zed", "s-old-2", "last Tuesday", json::serialize(job)}).has_value());
    }
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), config_for(server, dir));
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        co_await rt.drain_extractions();
        co_await rt.shutdown();
    }, 30s);
    const auto yan = stored_memory(dir, "yan");
    BOOST_TEST(yan.last_session == "2024-01-10T09:00:00Z");
    BOOST_REQUIRE(!yan.key_facts.empty());
    for (const auto& f : yan.key_facts) BOOST_TEST(f.first_seen == "2024-01-10T09:00:00Z");
    const auto zed = stored_memory(dir, "zed");
    BOOST_TEST(zed.session_count == 1);
    BOOST_TEST(zed.last_session.substr(0, 4) == engram::memory::utc_now().substr(0, 4));
    BOOST_TEST(open_store(dir)->journal_list()->empty());
}

// Replayed jobs are read from the journal when their turn comes, not all at start: one that
// another process merged (or an erase removed) meanwhile costs no model call and is reported as
// withdrawn; the others are merged with their transcripts.
BOOST_AUTO_TEST_CASE(a_replayed_session_is_read_from_the_journal_when_its_turn_comes) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    std::atomic<int> extraction_calls{0};
    std::atomic<bool> release{false};
    server.set_handler([&](const recorded_request& r) {
        if (!is_extraction(r)) return echo_reply(r);
        ++extraction_calls;
        auto reply = extraction_reply(r.body.find("cello") != std::string::npos
                                          ? R"({"new_facts":["Plays the cello"]})"
                                          : R"({"new_facts":["Rides a bike"]})");
        // The first pass is slow, so that the test can take the second job away meanwhile.
        if (r.body.find("cello") != std::string::npos) reply.delay_before_header = 500ms;
        return reply;
    });
    {
        auto store = open_store(dir);
        const json::object first{{"agent", "assistant"}, {"transcript", "USER: I play the cello\n"}};
        const json::object second{{"agent", "assistant"}, {"transcript", "USER: I ride a bike\n"}};
        BOOST_REQUIRE(store->journal_add({"ida", "s-1", "2024-01-10T09:00:00Z", json::serialize(first)}).has_value());
        BOOST_REQUIRE(store->journal_add({"ida", "s-2", "2024-01-10T10:00:00Z", json::serialize(second)}).has_value());
        BOOST_REQUIRE(store->journal_add({"ivo", "s-3", "2024-01-10T11:00:00Z", json::serialize(second)}).has_value());
    }
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), config_for(server, dir));
    std::vector<engram::runtime::memory_event> events;
    record_memory_events(rt, events);
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        BOOST_TEST_REQUIRE(co_await eventually([&] { return extraction_calls.load() >= 1; }));
        // Another process merges ida's second session while her first is being distilled here.
        BOOST_TEST(open_store(dir)->journal_remove("ida", "s-2").has_value());
        co_await rt.drain_extractions();
        co_await rt.shutdown();
    }, 30s);
    BOOST_TEST(extraction_calls.load() == 2);  // s-1 and s-3; none for s-2
    BOOST_REQUIRE_EQUAL(events.size(), 3u);
    for (const auto& e : events) {
        BOOST_TEST(e.ok, e.error);
        BOOST_TEST(e.withdrawn == (e.session_id == "s-2"), e.session_id);
    }
    BOOST_TEST(stored_memory(dir, "ida").key_facts.at(0).text == "Plays the cello");
    BOOST_TEST(stored_memory(dir, "ivo").key_facts.at(0).text == "Rides a bike");
    BOOST_TEST(open_store(dir)->journal_list()->empty());
}

BOOST_AUTO_TEST_CASE(replayed_sessions_of_many_users_are_read_one_request_slot_at_a_time) {
    // Every user's replayed job starts at once (a worker per user); each must read its transcript
    // only when it holds the request slot its model call will use, or after an outage a restart
    // would hold every journaled transcript at the same time. Seen from outside: sessions another
    // process merged while the first pass ran were not read here, so they cost no model call.
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    std::atomic<int> extraction_calls{0};
    server.set_handler([&](const recorded_request& r) {
        if (!is_extraction(r)) return echo_reply(r);
        auto reply = extraction_reply(R"({"new_facts":["Plays the cello"]})");
        // Long enough for the test to empty the journal meanwhile (30 fsynced removes), on a
        // slow sanitizer build too.
        if (++extraction_calls == 1) reply.delay_before_header = 3s;
        return reply;
    });
    constexpr int users = 30;
    {
        auto store = open_store(dir);
        const json::object job{{"agent", "assistant"}, {"transcript", "USER: I play the cello\n"}};
        for (int i = 0; i < users; ++i)
            BOOST_REQUIRE(store->journal_add({"user" + std::to_string(i), "s-" + std::to_string(i), "2024-01-10T09:00:00Z",
                                              json::serialize(job)})
                              .has_value());
    }
    asio::io_context ioc;
    auto cfg = config_for(server, dir);
    cfg.max_in_flight_requests = 1;
    runtime rt(ioc.get_executor(), cfg);
    std::vector<engram::runtime::memory_event> events;
    record_memory_events(rt, events);
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        BOOST_TEST_REQUIRE(co_await eventually([&] { return extraction_calls.load() >= 1; }));
        // Another process merges every session while the first pass waits for its reply (that
        // pass's update is then not written either: the journal no longer holds its session).
        auto other = open_store(dir);
        auto jobs = other->journal_list();
        BOOST_REQUIRE(jobs);
        BOOST_TEST(jobs->size() == static_cast<std::size_t>(users));
        for (const auto& j : *jobs) BOOST_TEST(other->journal_remove(j.user_id, j.session_id).has_value());
        co_await rt.drain_extractions();
        co_await rt.shutdown();
    }, 30s);
    BOOST_TEST(extraction_calls.load() == 1);  // the others were withdrawn, never read
    BOOST_REQUIRE_EQUAL(events.size(), static_cast<std::size_t>(users));
    for (const auto& e : events) {
        BOOST_TEST(e.ok, e.error);
        BOOST_TEST(e.withdrawn, e.session_id);
    }
    BOOST_TEST(open_store(dir)->journal_list()->empty());
}

BOOST_AUTO_TEST_CASE(a_session_that_fails_to_open_after_the_open_hook_is_ended_for_the_hooks) {
    // A host counting (or allocating) per session in on_session_open and on_session_end must see
    // an end for every open the hook let through: here the open waits for the user's previous
    // memory pass, and a shutdown stops it.
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    slow_memory_server(server, 1500ms);
    asio::io_context ioc;
    auto cfg = config_for(server, dir);
    cfg.memory_wait_on_open = 10s;
    runtime rt(ioc.get_executor(), cfg);
    std::vector<std::string> opened, ended;
    engram::runtime::runtime_hooks hooks;
    hooks.on_session_open = [&](const engram::runtime::session_info& i) {
        opened.push_back(i.session_id);
        return true;
    };
    hooks.on_session_end = [&](const engram::runtime::session_info& i) { ended.push_back(i.session_id); };
    rt.set_hooks(hooks);
    std::optional<engram::runtime::errc> second_open;
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        co_await say_and_end(rt, "ann", "I play the cello");
        asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
            try {
                co_await rt.open_session("assistant", "ann");  // waits for ann's memory pass
            } catch (const runtime_error& e) {
                second_open = e.code_value();
            }
        }, asio::detached);
        BOOST_TEST_REQUIRE(co_await eventually([&] { return opened.size() == 2; }));
        co_await rt.shutdown();
        BOOST_TEST_REQUIRE(co_await eventually([&] { return second_open.has_value(); }));
    }, 30s);
    BOOST_TEST((second_open == engram::runtime::errc::shutting_down));
    BOOST_REQUIRE_EQUAL(opened.size(), 2u);
    std::sort(opened.begin(), opened.end());
    std::sort(ended.begin(), ended.end());
    BOOST_TEST(ended == opened, boost::test_tools::per_element());
}

namespace {

// Runs one callback-style call from a thread of the host's: `start` gets a handler that
// fulfils a promise of T. Waits up to 10 s and returns the value (or throws the exception).
template <class T, class Start>
T wait_for_callback(Start start) {
    auto promise = std::make_shared<std::promise<T>>();  // shared: a handler that comes late finds it
    start([promise](std::exception_ptr e, auto... value) {
        if (e) promise->set_exception(e);
        else promise->set_value(std::move(value)...);
    });
    auto future = promise->get_future();
    BOOST_TEST_REQUIRE((future.wait_for(10s) == std::future_status::ready));
    return future.get();
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_host_with_callbacks_only_starts_chats_fails_clearly_is_remembered_and_shuts_down) {
    // A bot framework with no coroutines of its own: every step is a callback run by the
    // runtime's own pool, and the host's thread waits on futures. The reply's handler is bound
    // to the host's strand and must run there.
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, R"({"running_summary":"Likes callbacks.","new_facts":["Likes callbacks"]})");
    runtime rt(2, config_for(server, dir));
    asio::thread_pool host(1);
    auto host_strand = asio::make_strand(host.get_executor());
    using engram::net::message;
    using engram::runtime::session;

    wait_for_callback<void>([&](auto done) { rt.async_start(done); });
    auto s = wait_for_callback<session>([&](auto done) { rt.async_open_session("assistant", "cal", done); });
    BOOST_TEST(s.remembered_items() == 0u);

    std::string streamed;  // on the session's strand; read after the reply's handler ran
    bool on_host_strand = false;
    const auto reply = wait_for_callback<message>([&](auto done) {
        s.async_send("I like callbacks.", [&](std::string_view d) { streamed += d; },
                     asio::bind_executor(host_strand, [&, done](std::exception_ptr e, message m) {
                         on_host_strand = host_strand.running_in_this_thread();
                         done(e, std::move(m));
                     }));
    });
    BOOST_TEST(reply.text() == "echo: I like callbacks.");
    BOOST_TEST(streamed == reply.text());
    BOOST_TEST(on_host_strand);
    BOOST_TEST(s.history_size() == 2u);

    // A failure reaches the handler as its exception.
    s.end();
    BOOST_CHECK_EXCEPTION(wait_for_callback<message>([&](auto done) { s.async_send("anyone there?", {}, done); }), runtime_error,
                          [](const runtime_error& e) { return e.code_value() == engram::runtime::errc::session_ended; });

    // Once the extractions are drained, the next session of the user knows what the first taught.
    wait_for_callback<void>([&](auto done) { rt.async_drain_extractions(done); });
    auto next = wait_for_callback<session>([&](auto done) { rt.async_open_session("assistant", "cal", done); });
    BOOST_TEST(next.remembered_items() == 2u);  // the fact and the running summary
    BOOST_TEST(next.memory_block().find("Likes callbacks") != std::string::npos);
    next.end();

    wait_for_callback<void>([&](auto done) { rt.async_shutdown(done); });
    host.join();
}

BOOST_AUTO_TEST_CASE(a_callback_style_call_outlives_the_runtime_that_started_it) {
    // The operation starts on the executor after the runtime object is gone: it must hold the
    // runtime's state from the call on (AddressSanitizer in CI sees a read through the dead
    // object). The runtime is gone, so an open fails as after a shutdown; the shutdown completes.
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, "{}");
    asio::io_context ioc;
    bool shut_down = false;
    std::optional<engram::runtime::errc> open_failure;
    {
        runtime rt(ioc.get_executor(), config_for(server, dir));
        rt.async_open_session("assistant", "ann", [&](std::exception_ptr e, engram::runtime::session) {
            try {
                if (e) std::rethrow_exception(e);
            } catch (const runtime_error& x) {
                open_failure = x.code_value();
            }
        });
        rt.async_shutdown([&](std::exception_ptr e) { shut_down = !e; });
    }
    ioc.run_for(10s);
    BOOST_TEST(shut_down);
    BOOST_TEST(open_failure.has_value());
}

BOOST_AUTO_TEST_CASE(the_tokens_of_a_turn_cut_off_midway_are_counted) {
    // The stream's message_start reported 10 input tokens, which the API bills whether or not the
    // turn completes: a host metering usage (quotas, billing) must see them.
    using namespace asio::experimental::awaitable_operators;
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    stalling_chat_server(server);
    asio::io_context ioc;
    runtime rt(ioc.get_executor(), stalling_config(server, dir, true));
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        auto s = co_await rt.open_session("assistant", "ula");
        asio::steady_timer t(co_await asio::this_coro::executor, 300ms);
        auto r = co_await (s.send("stall please") || t.async_wait(asio::use_awaitable));
        BOOST_TEST(r.index() == 1u);  // the timer won: the turn was cancelled mid-stream
        BOOST_TEST(s.usage().requests == 1);
        BOOST_TEST(s.usage().input_tokens == 10);
        BOOST_TEST(rt.user_usage("ula").input_tokens == 10);
        co_await rt.shutdown();
    }, 30s);
}

BOOST_AUTO_TEST_CASE(every_session_a_shutdown_leaves_unmerged_has_its_memory_event) {
    // The grace period runs out while the first of three memory passes waits for the model: that
    // one is cancelled, the two queued behind it are skipped. A host tracking one outcome per
    // ended session hears of all three, and all three stay journaled.
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    slow_memory_server(server, 3s);
    asio::io_context ioc;
    auto cfg = config_for(server, dir);
    cfg.shutdown_grace = 300ms;
    cfg.memory_wait_on_open = 0ms;
    runtime rt(ioc.get_executor(), cfg);
    std::vector<engram::runtime::memory_event> events;
    record_memory_events(rt, events);
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await rt.start();
        for (const char* text : {"I play the cello", "I ride a bike", "I bake bread"}) co_await say_and_end(rt, "ann", text);
        BOOST_TEST_REQUIRE(co_await eventually([&] { return !extraction_requests(server).empty(); }));
        co_await rt.shutdown();
    }, 30s);
    BOOST_REQUIRE_EQUAL(events.size(), 3u);
    for (const auto& e : events) BOOST_TEST(!e.ok, e.session_id);
    BOOST_TEST(open_store(dir)->journal_list()->size() == 3u);
}

BOOST_AUTO_TEST_CASE(an_empty_session_handle_is_an_ended_session_and_send_says_so) {
    engram::runtime::session s;  // default-constructed, as a host's member before open_session
    BOOST_TEST(!s);
    BOOST_TEST(s.ended());
    BOOST_TEST(s.history_size() == 0u);
    BOOST_TEST(s.info().session_id.empty());
    BOOST_TEST(s.memory_block().empty());
    s.end();  // nothing to end, and no crash
    asio::io_context ioc;
    BOOST_CHECK_EXCEPTION(engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> { co_await s.send("hi"); }),
                          runtime_error,
                          [](const runtime_error& e) { return e.code_value() == engram::runtime::errc::session_ended; });
}

BOOST_AUTO_TEST_CASE(a_runtime_on_threads_of_its_own_serves_a_session_and_keeps_its_memory) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, fact_update);
    const auto baseline = thread_count();
    {
        runtime rt(2, config_for(server, dir));
        auto done = asio::co_spawn(rt.executor(), [&]() -> asio::awaitable<std::string> {
            co_await rt.start();
            auto s = co_await rt.open_session("assistant", "tia");
            auto reply = co_await s.send("hello");
            s.end();
            co_await rt.shutdown();
            co_return reply.text();
        }, asio::use_future);
        BOOST_REQUIRE(done.wait_for(30s) == std::future_status::ready);
        BOOST_TEST(done.get() == "echo: hello");
    }
    // Its pool threads are joined by the time its handle is gone (the thread that joined them
    // for one of their own may still be returning).
    BOOST_TEST(thread_count() <= baseline + 1);
    BOOST_TEST(wait_for_threads(baseline, 10s) == baseline);
    BOOST_TEST(stored_memory(dir, "tia").key_facts.size() == 1u);
}

// A session handle that outlives the runtime handle keeps the runtime alive; when its last copy
// is dropped on one of the runtime's own threads, that thread cannot join its own pool.
BOOST_AUTO_TEST_CASE(the_last_session_dropped_on_the_runtimes_own_thread_still_ends_its_threads) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, fact_update);
    const auto baseline = thread_count();
    std::promise<void> dropped;
    {
        auto cfg = config_for(server, dir);
        cfg.idle_timeout = 0ms;  // no idle timer holding the session
        cfg.shutdown_grace = 500ms;  // how long the handle waits for the session held below
        auto rt = std::make_unique<runtime>(2, cfg);
        auto s = session_after_one_turn(*rt, "uma");
        const auto ex = s.executor();
        rt.reset();  // the session is the runtime's last owner now
        asio::post(ex, [s = std::move(s), &dropped]() mutable {
            s = {};  // ~runtime on a thread of the runtime's own pool
            dropped.set_value();
        });
    }
    BOOST_REQUIRE(dropped.get_future().wait_for(30s) == std::future_status::ready);
    BOOST_TEST(wait_for_threads(baseline, 10s) == baseline);
}

// A program may return from main right after the runtime's handle is gone: a runtime on threads
// of its own must have joined them by then, even when the last to let go of it is one of them.
BOOST_AUTO_TEST_CASE(destroying_a_runtime_on_threads_of_its_own_joins_them_when_one_of_them_lets_go_last) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, fact_update);
    const auto baseline = thread_count();
    auto cfg = config_for(server, dir);
    cfg.idle_timeout = 0ms;
    auto rt = std::make_unique<runtime>(2, cfg);
    auto s = session_after_one_turn(*rt, "val");
    {
        // (No executor of the runtime's pool may outlive the pool: it is gone with the handle.)
        const auto ex = s.executor();
        asio::post(ex, [s = std::move(s)]() mutable {
            std::this_thread::sleep_for(300ms);  // still holding the session when the handle goes
            s = {};
        });
    }
    rt.reset();
    BOOST_TEST(thread_count() <= baseline + 1);  // at most the thread that joined them, returning
    BOOST_TEST(wait_for_threads(baseline, 10s) == baseline);
}

// Memory writes an embedder handed the actor directly are accepted jobs: the runtime's
// destruction without shutdown() stops the actor, which still writes them, on threads that
// must outlive the runtime object.
BOOST_AUTO_TEST_CASE(writes_the_memory_actor_accepted_complete_after_the_runtime_is_destroyed) {
    engram::test::temp_dir dir;
    fake_anthropic_server server;
    echo_server(server, "{}");
    asio::io_context ioc;
    constexpr int writes = 5;
    std::vector<bool> ok;
    {
        runtime rt(ioc.get_executor(), config_for(server, dir));
        engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> { co_await rt.start(); }, 30s);
        for (int i = 0; i < writes; ++i)
            rt.memory().async_apply("vic", one_fact_update("s-" + std::to_string(i), "fact number " + std::to_string(i)),
                                    [&ok](engram::memory::result<engram::memory::apply_ack> r) { ok.push_back(r.has_value()); });
    }  // no shutdown(), and the io_context has not run the actor yet
    ioc.restart();
    ioc.run_for(10s);
    BOOST_TEST(ioc.stopped());
    BOOST_TEST(ok == std::vector<bool>(writes, true));
    BOOST_TEST(stored_memory(dir, "vic").key_facts.size() == static_cast<std::size_t>(writes));
}

BOOST_AUTO_TEST_SUITE_END()
