// Concurrency tests of the memory actor (also run under ThreadSanitizer in CI).
#include <engram/memory/actor.hpp>

// GCC 12 reports a false -Wmismatched-new-delete when it inlines Asio's awaitable frame
// allocation (class-specific operator new/delete, which do match); see GCC PR 109224.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <latch>
#include <mutex>
#include <optional>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/test/unit_test.hpp>

#include "memory_test_support.hpp"

namespace asio = boost::asio;
namespace mem = engram::memory;
using mem::test::temp_dir;

// The API shapes runtime/ relies on: awaitable results, errors inside the result.
static_assert(std::is_same_v<decltype(std::declval<mem::memory_actor&>().async_load(std::string(),
                                                                                    asio::use_awaitable)),
                             asio::awaitable<mem::result<mem::user_memory>>>);
static_assert(std::is_same_v<decltype(std::declval<mem::memory_actor&>().async_apply(
                                 std::string(), mem::update_request(), asio::use_awaitable)),
                             asio::awaitable<mem::result<mem::apply_ack>>>);
static_assert(
    std::is_same_v<decltype(std::declval<mem::memory_actor&>().async_pending_jobs(asio::use_awaitable)),
                   asio::awaitable<mem::result<std::vector<mem::pending_job>>>>);

namespace {

/// Blocks the first fsync after arm() until release(), so a test can hold a write "in flight".
struct gated_fs : mem::filesystem {
    std::mutex m;
    std::condition_variable cv;
    bool armed = false, entered = false, released = false;
    int fsync(int fd) override {
        {
            std::unique_lock lock(m);
            if (armed && !entered) {
                entered = true;
                cv.notify_all();
                cv.wait(lock, [&] { return released; });
            }
        }
        return filesystem::fsync(fd);
    }
    void arm() {
        std::lock_guard lock(m);
        armed = true;
    }
    void wait_entered() {
        std::unique_lock lock(m);
        cv.wait(lock, [&] { return entered; });
    }
    void release() {
        std::lock_guard lock(m);
        released = true;
        cv.notify_all();
    }
};

struct actor_fixture {
    temp_dir tmp;
    std::shared_ptr<gated_fs> gate = std::make_shared<gated_fs>();
    std::shared_ptr<mem::store> st;
    asio::io_context ioc;
    asio::thread_pool pool{2};
    asio::executor_work_guard<asio::io_context::executor_type> guard{ioc.get_executor()};
    std::optional<mem::memory_actor> actor;
    std::future<void> run_done;
    std::vector<std::thread> threads;

    explicit actor_fixture(mem::actor_options opts = {}, mem::merge_policy policy = {}) {
        mem::store_options o;
        o.directory = tmp.path();
        o.fs = gate;
        o.policy = policy;
        st = mem::store::open(o).value();
        actor.emplace(ioc.get_executor(), pool.get_executor(), st, opts);
        run_done = actor->async_run(asio::use_future);
        for (int i = 0; i < 3; ++i) threads.emplace_back([this] { ioc.run(); });
    }
    ~actor_fixture() {
        gate->release();
        actor->stop();
        run_done.wait();
        guard.reset();
        for (auto& t : threads) t.join();
        pool.join();
    }

    std::future<mem::result<mem::apply_ack>> apply(const std::string& user, const std::string& session,
                                                   const std::string& fact,
                                                   mem::confidence c = mem::confidence::medium) {
        mem::update_request r;
        r.session_id = session;
        if (!fact.empty()) r.update.new_facts.push_back({fact, c, std::nullopt});
        return actor->async_apply(user, std::move(r), asio::use_future);
    }
};

/// One finished session applying its update (parameters by value: they live in the frame).
asio::awaitable<void> one_session(mem::memory_actor& actor, int i, std::latch* done,
                                  std::atomic<int>* applied, std::atomic<int>* coalesced) {
    mem::update_request r;
    r.session_id = "session-" + std::to_string(i);
    // Ten high-confidence facts must survive the cap; the low ones compete for nothing.
    r.update.new_facts.push_back({"fact " + std::to_string(i),
                                  i % 20 == 0 ? mem::confidence::high : mem::confidence::low, std::nullopt});
    auto ack = co_await actor.async_apply("shared", std::move(r), asio::use_awaitable);
    if (ack && ack->status == mem::apply_status::applied) ++*applied;
    if (ack && ack->batch_size > 1) ++*coalesced;
    done->count_down();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(memory_actor_concurrency)

BOOST_AUTO_TEST_CASE(two_hundred_concurrent_sessions_of_one_user_are_all_counted) {
    actor_fixture f;
    constexpr int sessions = 200;
    std::latch done(sessions);
    std::atomic<int> applied{0}, coalesced{0};
    for (int i = 0; i < sessions; ++i) {
        // Each session is its own coroutine on its own strand, as the runtime runs them.
        asio::co_spawn(asio::make_strand(f.ioc), one_session(*f.actor, i, &done, &applied, &coalesced),
                       asio::detached);
    }
    done.wait();
    BOOST_TEST(applied.load() == sessions);
    BOOST_TEST_MESSAGE("updates acknowledged as part of a coalesced write: " << coalesced.load());
    auto rec = f.st->load("shared");
    BOOST_TEST_REQUIRE(rec.has_value());
    BOOST_TEST(rec->memory.session_count == sessions);
    BOOST_TEST(rec->applied_sessions.size() == static_cast<std::size_t>(sessions));
    BOOST_TEST_REQUIRE(rec->memory.key_facts.size() == 10u);
    for (const auto& fact : rec->memory.key_facts)
        BOOST_TEST((fact.confidence == mem::confidence::high), fact.text);
}

BOOST_AUTO_TEST_CASE(updates_queued_behind_a_write_are_coalesced_and_each_acknowledged) {
    actor_fixture f;
    f.gate->arm();
    auto first = f.apply("ann", "s0", "first");
    f.gate->wait_entered();  // the first write is now in flight (blocked in fsync)
    std::vector<std::future<mem::result<mem::apply_ack>>> rest;
    for (int i = 1; i <= 5; ++i)
        rest.push_back(f.apply("ann", "s" + std::to_string(i), "fact " + std::to_string(i)));
    // Another user proceeds while ann's write is blocked; the mailbox is FIFO, so once this
    // completes, ann's five updates have reached the actor.
    auto other = f.apply("bob", "b0", "independent").get();
    BOOST_TEST_REQUIRE(other.has_value());
    BOOST_TEST(other->batch_size == 1u);
    f.gate->release();
    auto a0 = first.get();
    BOOST_TEST_REQUIRE(a0.has_value());
    BOOST_TEST(a0->batch_size == 1u);
    for (auto& r : rest) {
        auto ack = r.get();
        BOOST_TEST_REQUIRE(ack.has_value());
        BOOST_TEST(ack->batch_size == 5u);
        BOOST_TEST((ack->status == mem::apply_status::applied));
        BOOST_TEST(ack->memory.session_count == 6);
        BOOST_TEST(ack->diff.count(mem::change::kind::fact_added) == 1u);
    }
    auto rec = f.st->load("ann");
    BOOST_TEST(rec->memory.session_count == 6);
    BOOST_TEST(rec->history.size() == 6u);
}

BOOST_AUTO_TEST_CASE(jobs_of_one_user_run_in_fifo_order) {
    actor_fixture f;
    mem::update_request r;
    r.session_id = "s1";
    r.update.new_facts.push_back({"Likes tea", mem::confidence::high, std::nullopt});
    // Submitted back to back without waiting: the load must see the update.
    auto applied = f.actor->async_apply("cy", r, asio::use_future);
    auto loaded = f.actor->async_load("cy", asio::use_future);
    auto undone = f.actor->async_undo_last("cy", asio::use_future);
    auto after_undo = f.actor->async_load("cy", asio::use_future);
    BOOST_TEST_REQUIRE(applied.get().has_value());
    auto m = loaded.get();
    BOOST_TEST_REQUIRE(m.has_value());
    BOOST_TEST(m->key_facts.size() == 1u);
    BOOST_TEST_REQUIRE(undone.get().has_value());
    BOOST_TEST(after_undo.get()->key_facts.empty());
}

BOOST_AUTO_TEST_CASE(session_start_loads_come_from_the_cache) {
    actor_fixture f;
    BOOST_TEST_REQUIRE(f.apply("dee", "s1", "Has a cat").get().has_value());
    // Remove the file behind the actor's back: a cached load does not touch the disk.
    std::filesystem::remove(f.tmp.path() / "dee.json");
    auto m = f.actor->async_load("dee", asio::use_future).get();
    BOOST_TEST_REQUIRE(m.has_value());
    BOOST_TEST(m->key_facts.size() == 1u);
}

BOOST_AUTO_TEST_CASE(cache_is_bounded) {
    mem::actor_options o;
    o.cache_capacity = 1;
    actor_fixture f(o);
    BOOST_TEST_REQUIRE(f.apply("e1", "s1", "x").get().has_value());
    BOOST_TEST_REQUIRE(f.apply("e2", "s1", "y").get().has_value());  // evicts e1
    std::filesystem::remove(f.tmp.path() / "e1.json");
    auto m = f.actor->async_load("e1", asio::use_future).get();
    BOOST_TEST_REQUIRE(m.has_value());
    BOOST_TEST(m->session_count == 0);  // read from disk again: gone
}

BOOST_AUTO_TEST_CASE(journal_erase_and_coroutine_api_through_the_actor) {
    actor_fixture f;
    std::promise<void> finished;
    auto body = [&]() -> asio::awaitable<void> {
        auto& a = *f.actor;
        // A named argument, not a braced temporary: g++ 12 mishandles aggregate temporaries that
        // live across a co_await (it relocates their std::string members bitwise).
        mem::pending_job job{"fay", "sess-9", "", "USER: I moved to Lyon"};
        auto j = co_await a.async_journal_add(job);  // the default token, asio::deferred
        BOOST_TEST(j.has_value());
        auto pending = co_await a.async_pending_jobs(asio::use_awaitable);
        BOOST_TEST_REQUIRE(pending.has_value());
        BOOST_TEST(pending->size() == 1u);
        BOOST_TEST(pending->at(0).transcript == "USER: I moved to Lyon");
        mem::update_request r;
        r.session_id = "sess-9";
        r.update.new_facts.push_back({"Lives in Lyon", mem::confidence::high, std::nullopt});
        auto ack = co_await a.async_apply("fay", r, asio::use_awaitable);
        BOOST_TEST(ack.has_value());
        auto again = co_await a.async_apply("fay", r, asio::use_awaitable);  // a replayed job
        BOOST_TEST_REQUIRE(again.has_value());
        BOOST_TEST((again->status == mem::apply_status::duplicate));
        BOOST_TEST(again->memory.session_count == 1);
        auto none = co_await a.async_pending_jobs(asio::use_awaitable);
        BOOST_TEST(none->empty());
        auto erased = co_await a.async_erase("fay", asio::use_awaitable);
        BOOST_TEST(erased.has_value());
        auto blank = co_await a.async_load("fay", asio::use_awaitable);
        BOOST_TEST(blank->session_count == 0);
        auto bad = co_await a.async_apply("", r, asio::use_awaitable);
        BOOST_TEST_REQUIRE(!bad.has_value());
        BOOST_TEST((bad.error().code == mem::errc::invalid_user_id));
        finished.set_value();
    };
    asio::co_spawn(asio::make_strand(f.ioc), body(), asio::detached);
    finished.get_future().wait();
}

// Journal questions queue behind the user's earlier jobs: asked right after an erase was sent,
// they see the erase.
BOOST_AUTO_TEST_CASE(journal_questions_wait_their_turn_behind_an_erase) {
    actor_fixture f;
    auto& a = *f.actor;
    mem::pending_job job{"gus", "sess-1", "", "USER: I moved to Oslo"};
    BOOST_TEST_REQUIRE(a.async_journal_add(job, asio::use_future).get().has_value());
    auto listed = a.async_pending_jobs(mem::journal_detail::without_transcripts, asio::use_future).get();
    BOOST_TEST_REQUIRE(listed.has_value());
    BOOST_TEST_REQUIRE(listed->size() == 1u);
    BOOST_TEST(listed->at(0).transcript.empty());
    BOOST_TEST(a.async_journal_holds("gus", "sess-1", asio::use_future).get().value());
    BOOST_TEST(a.async_journal_read("gus", "sess-1", asio::use_future).get()->transcript == "USER: I moved to Oslo");

    // Sent without waiting: the questions run after the erase because they queue behind it.
    auto erased = a.async_erase("gus", asio::use_future);
    auto holds = a.async_journal_holds("gus", "sess-1", asio::use_future);
    auto read = a.async_journal_read("gus", "sess-1", asio::use_future);
    BOOST_TEST(erased.get().has_value());
    auto h = holds.get();
    BOOST_TEST_REQUIRE(h.has_value());
    BOOST_TEST(!*h);
    auto r = read.get();
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST((r.error().code == mem::errc::not_found));
    auto bad = a.async_journal_holds("", "sess-1", asio::use_future).get();
    BOOST_TEST_REQUIRE(!bad.has_value());
    BOOST_TEST((bad.error().code == mem::errc::invalid_user_id));
}

BOOST_AUTO_TEST_CASE(stop_drains_accepted_jobs_and_refuses_later_ones) {
    actor_fixture f;
    std::vector<std::future<mem::result<mem::apply_ack>>> acks;
    for (int i = 0; i < 30; ++i)
        acks.push_back(f.apply("gus", "s" + std::to_string(i), "f" + std::to_string(i)));
    f.actor->stop();
    for (auto& a : acks) BOOST_TEST(a.get().has_value());
    f.run_done.wait();
    auto late = f.apply("gus", "late", "x").get();
    BOOST_TEST_REQUIRE(!late.has_value());
    BOOST_TEST((late.error().code == mem::errc::shutting_down));
    BOOST_TEST(f.st->load("gus")->memory.session_count == 30);
}

BOOST_AUTO_TEST_CASE(a_small_mailbox_applies_backpressure_without_losing_jobs) {
    mem::actor_options o;
    o.mailbox_capacity = 2;
    actor_fixture f(o);
    std::vector<std::future<mem::result<mem::apply_ack>>> acks;
    for (int i = 0; i < 40; ++i)
        acks.push_back(
            f.apply("user" + std::to_string(i % 4), "s" + std::to_string(i), "f" + std::to_string(i)));
    for (auto& a : acks) BOOST_TEST(a.get().has_value());
    for (int u = 0; u < 4; ++u)
        BOOST_TEST(f.st->load("user" + std::to_string(u))->memory.session_count == 10);
}

BOOST_AUTO_TEST_CASE(write_errors_reach_every_coalesced_caller) {
    struct full_disk : mem::filesystem {
        ssize_t write(int, const void*, std::size_t) override {
            errno = ENOSPC;
            return -1;
        }
    };
    temp_dir tmp;
    mem::store_options o;
    o.directory = tmp.path();
    o.fs = std::make_shared<full_disk>();
    auto st = mem::store::open(o).value();
    asio::io_context ioc;
    asio::thread_pool pool{1};
    mem::memory_actor actor(ioc.get_executor(), pool.get_executor(), st);
    actor.async_run(asio::detached);
    std::vector<mem::result<mem::apply_ack>> got;
    for (int i = 0; i < 3; ++i) {
        mem::update_request r;
        r.session_id = "s" + std::to_string(i);
        actor.async_apply("hal", r, [&](mem::result<mem::apply_ack> a) {
            got.push_back(std::move(a));
            if (got.size() == 3) actor.stop();
        });
    }
    ioc.run();
    pool.join();
    BOOST_TEST_REQUIRE(got.size() == 3u);
    for (auto& g : got) {
        BOOST_TEST_REQUIRE(!g.has_value());
        BOOST_TEST((g.error().code == mem::errc::disk_full));
    }
}

BOOST_AUTO_TEST_CASE(a_max_batch_of_zero_is_treated_as_one) {
    mem::actor_options o;
    o.max_batch = 0;
    actor_fixture f(o);
    f.gate->arm();
    auto first = f.apply("ida", "s0", "first");
    f.gate->wait_entered();  // queue the rest behind an in-flight write, where coalescing happens
    std::vector<std::future<mem::result<mem::apply_ack>>> rest;
    for (int i = 1; i <= 3; ++i)
        rest.push_back(f.apply("ida", "s" + std::to_string(i), "f" + std::to_string(i)));
    // The mailbox is FIFO: once another user's update completes, ida's three have reached the actor.
    BOOST_TEST_REQUIRE(f.apply("bo", "b0", "independent").get().has_value());
    f.gate->release();
    BOOST_TEST_REQUIRE(first.get().has_value());
    for (auto& r : rest) {
        auto ack = r.get();
        BOOST_TEST_REQUIRE(ack.has_value());
        BOOST_TEST(ack->batch_size == 1u);
    }
    BOOST_TEST(f.st->load("ida")->memory.session_count == 4);
}

BOOST_AUTO_TEST_CASE(a_request_the_store_refuses_does_not_fail_the_updates_coalesced_with_it) {
    mem::merge_policy p;
    p.max_summary_chars = 100000;  // lets a summary through that the record reader rejects
    actor_fixture f({}, p);
    f.gate->arm();
    auto first = f.apply("jo", "s0", "first");
    f.gate->wait_entered();
    auto before = f.apply("jo", "s1", "before");
    mem::update_request big;
    big.session_id = "s2";
    big.update.running_summary = std::string(9000, 'a');
    auto refused = f.actor->async_apply("jo", big, asio::use_future);
    mem::update_request late;
    late.session_id = "s3";
    late.finished_at = "1705329120";
    auto bad_time = f.actor->async_apply("jo", late, asio::use_future);
    auto after = f.apply("jo", "s4", "after");
    BOOST_TEST_REQUIRE(f.apply("kay", "k0", "independent").get().has_value());  // all of jo's are queued
    f.gate->release();
    BOOST_TEST_REQUIRE(first.get().has_value());
    auto b = before.get();
    BOOST_TEST_REQUIRE(b.has_value(), (b ? "" : b.error().what()));
    auto r = refused.get();
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST((r.error().code == mem::errc::invalid_record), r.error().what());
    auto t = bad_time.get();
    BOOST_TEST_REQUIRE(!t.has_value());
    BOOST_TEST((t.error().code == mem::errc::invalid_update), t.error().what());
    auto a = after.get();
    BOOST_TEST_REQUIRE(a.has_value(), (a ? "" : a.error().what()));
    auto rec = f.st->load("jo");
    BOOST_TEST_REQUIRE(rec.has_value(), (rec ? "" : rec.error().what()));
    BOOST_TEST(rec->memory.session_count == 3);
    BOOST_TEST(rec->memory.running_summary.empty());
}

BOOST_AUTO_TEST_CASE(destroying_a_running_actor_without_stop_lets_its_io_context_finish) {
    temp_dir tmp;
    mem::store_options o;
    o.directory = tmp.path();
    auto st = mem::store::open(o).value();
    asio::io_context ioc;
    asio::thread_pool pool{1};
    std::optional<mem::memory_actor> actor;
    actor.emplace(ioc.get_executor(), pool.get_executor(), st);
    bool ran = false;
    actor->async_run([&] { ran = true; });
    std::optional<mem::result<mem::apply_ack>> got;
    mem::update_request r;
    r.session_id = "s1";
    actor->async_apply("kit", r, [&](mem::result<mem::apply_ack> a) { got = std::move(a); });
    actor.reset();  // no stop(): the destructor must stop the mailbox loop
    ioc.run_for(std::chrono::seconds(5));
    BOOST_TEST(ioc.stopped());  // ran out of work rather than timing out
    BOOST_TEST(ran);
    BOOST_TEST_REQUIRE(got.has_value());
    BOOST_TEST(got->has_value());  // a job accepted before the destructor still runs
    pool.join();
    BOOST_TEST(st->load("kit")->memory.session_count == 1);
}

BOOST_AUTO_TEST_SUITE_END()
