#include <engram/memory/store.hpp>

#include <csignal>
#include <cstring>

#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include "memory_test_support.hpp"

namespace mem = engram::memory;
namespace fs = std::filesystem;
using mem::test::temp_dir;

namespace {

std::shared_ptr<mem::store> open_store(const fs::path& dir) {
    mem::store_options o;
    o.directory = dir;
    auto s = mem::store::open(o);
    if (!s) return nullptr;
    return *s;
}

/// Applies `count` single-fact updates to `user` with sessions "<tag>-<i>"; after each durable
/// one, writes i to `ack_fd` (if >= 0). Runs in a child process; never returns.
[[noreturn]] void child_loop(const fs::path& dir, const std::string& user, const std::string& tag, int count,
                             int ack_fd) {
    auto s = open_store(dir);
    if (!s) ::_exit(2);
    for (int i = 0; i < count; ++i) {
        mem::update_request r;
        r.session_id = tag + "-" + std::to_string(i);
        r.update.new_facts.push_back(
            {tag + " fact " + std::to_string(i), mem::confidence::medium, std::nullopt});
        auto res = s->apply(user, std::span<const mem::update_request>(&r, 1));
        if (!res) ::_exit(3);
        if (ack_fd >= 0 && ::write(ack_fd, &i, sizeof i) != sizeof i) ::_exit(4);
    }
    ::_exit(0);
}

int wait_exit_code(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(memory_store_processes)

BOOST_AUTO_TEST_CASE(two_processes_hammering_one_user_lose_no_update) {
    temp_dir tmp;
    BOOST_TEST_REQUIRE(open_store(tmp.path()) != nullptr);
    constexpr int per_child = 40;
    pid_t kids[2];
    for (int k = 0; k < 2; ++k) {
        kids[k] = ::fork();
        BOOST_TEST_REQUIRE(kids[k] >= 0);
        if (kids[k] == 0) child_loop(tmp.path(), "shared", "p" + std::to_string(k), per_child, -1);
    }
    for (pid_t k : kids) BOOST_TEST(wait_exit_code(k) == 0);
    auto rec = open_store(tmp.path())->load("shared");
    BOOST_TEST_REQUIRE(rec.has_value());
    BOOST_TEST(rec->memory.session_count == 2 * per_child);
    BOOST_TEST(rec->applied_sessions.size() == static_cast<std::size_t>(2 * per_child));
    // Within the cap, the newest facts of both writers are there.
    BOOST_TEST(rec->memory.key_facts.size() == 10u);
}

BOOST_AUTO_TEST_CASE(sigkill_during_a_write_loop_never_tears_a_file_or_loses_an_ack) {
    temp_dir tmp;
    BOOST_TEST_REQUIRE(open_store(tmp.path()) != nullptr);
    const int kill_after[] = {1, 3, 7, 12, 20};
    int round = 0;
    for (int after : kill_after) {
        const std::string user = "victim" + std::to_string(round);
        int fds[2];
        BOOST_TEST_REQUIRE(::pipe(fds) == 0);
        const pid_t pid = ::fork();
        BOOST_TEST_REQUIRE(pid >= 0);
        if (pid == 0) {
            ::close(fds[0]);
            child_loop(tmp.path(), user, "k", 100000, fds[1]);
        }
        ::close(fds[1]);
        int last_ack = -1, got = 0, v = 0;
        while (got < after && ::read(fds[0], &v, sizeof v) == sizeof v) {
            last_ack = v;
            ++got;
        }
        // Let the child get mid-way into its next write (it spends most of its time there).
        ::usleep(static_cast<useconds_t>(300 * (round + 1)));
        ::kill(pid, SIGKILL);
        while (::read(fds[0], &v, sizeof v) == sizeof v) last_ack = v;  // acks sent before death
        ::close(fds[0]);
        BOOST_TEST(wait_exit_code(pid) == -SIGKILL);
        BOOST_TEST_REQUIRE(last_ack >= after - 1);
        // The file parses (never torn) and holds every acknowledged update.
        const auto text = mem::test::slurp(tmp.path() / (user + ".json"));
        auto rec = mem::parse_record(text);
        BOOST_TEST_REQUIRE(rec.has_value(), (rec ? "" : rec.error().message));
        BOOST_TEST(rec->memory.session_count >= last_ack + 1);
        BOOST_TEST(rec->memory.session_count <= last_ack + 2);  // at most one unacknowledged write landed
        const std::string last_session = "k-" + std::to_string(last_ack);
        BOOST_TEST((std::find(rec->applied_sessions.begin(), rec->applied_sessions.end(), last_session) !=
                    rec->applied_sessions.end()));
        // And the store keeps working for that user afterwards.
        auto s = open_store(tmp.path());
        mem::update_request r;
        r.session_id = "after";
        BOOST_TEST(s->apply(user, std::span<const mem::update_request>(&r, 1)).has_value());
        ++round;
    }
}

BOOST_AUTO_TEST_SUITE_END()
