// engram_bench_memory: durable updates through the memory actor versus the raw
// write + fsync + rename + fsync(dir) sequence, in the same run and on the same filesystem.
//
//   engram_bench_memory [--users N] [--updates-per-user K] [--pool-threads T] [--dir PATH] [--keep]
//
// Prints one line on stdout (details go to stderr): RESULT memory_updates_per_s=X raw_updates_per_s=Y ratio=Z
#include <engram/memory/actor.hpp>
#include <engram/memory/merge.hpp>
#include <engram/memory/store.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>

namespace asio = boost::asio;
namespace mem = engram::memory;
namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

namespace {

struct options {
    int users = 1000;
    int updates_per_user = 1;
    int pool_threads = 4;
    fs::path dir;
    bool keep = false;
};

options parse_args(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::cerr << "missing value for " << a << "\n";
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--users")
            o.users = std::stoi(next());
        else if (a == "--updates-per-user")
            o.updates_per_user = std::stoi(next());
        else if (a == "--pool-threads")
            o.pool_threads = std::stoi(next());
        else if (a == "--dir")
            o.dir = next();
        else if (a == "--keep")
            o.keep = true;
        else {
            std::cerr << "usage: engram_bench_memory [--users N] [--updates-per-user K] [--pool-threads T] "
                         "[--dir PATH] [--keep]\n";
            std::exit(a == "--help" ? 0 : 2);
        }
    }
    if (o.users < 1 || o.updates_per_user < 1 || o.pool_threads < 1) {
        std::cerr << "all counts must be positive\n";
        std::exit(2);
    }
    return o;
}

mem::update_request make_update(int user, int k) {
    mem::update_request r;
    r.session_id = "bench-" + std::to_string(k);
    r.update.running_summary =
        "User " + std::to_string(user) + " is benchmarking engram. Session " + std::to_string(k) + ".";
    r.update.new_facts.push_back({"Fact " + std::to_string(k) + " about user " + std::to_string(user),
                                  mem::confidence::high, mem::fact_source::stated});
    r.update.updated_preferences["style"] = "concise";
    return r;
}

double run_actor(const options& o, const fs::path& dir) {
    auto st = mem::store::open({dir, {}, {}, nullptr});
    if (!st) {
        std::cerr << "cannot open store: " << st.error().what() << "\n";
        std::exit(1);
    }
    asio::io_context ioc;
    asio::thread_pool pool(static_cast<std::size_t>(o.pool_threads));
    auto guard = asio::make_work_guard(ioc);
    std::thread io_thread([&] { ioc.run(); });
    mem::memory_actor actor(ioc.get_executor(), pool.get_executor(), *st);
    auto run_done = actor.async_run(asio::use_future);

    std::vector<std::future<mem::result<mem::apply_ack>>> acks;
    acks.reserve(static_cast<std::size_t>(o.users * o.updates_per_user));
    const auto start = clock_type::now();
    for (int k = 0; k < o.updates_per_user; ++k)
        for (int u = 0; u < o.users; ++u)
            acks.push_back(
                actor.async_apply("user-" + std::to_string(u), make_update(u, k), asio::use_future));
    std::size_t ok = 0, coalesced = 0;
    for (auto& a : acks) {
        auto r = a.get();
        if (r) {
            ++ok;
            coalesced += r->batch_size > 1;
        } else {
            std::cerr << "update failed: " << r.error().what() << "\n";
        }
    }
    const double secs = std::chrono::duration<double>(clock_type::now() - start).count();
    actor.stop();
    run_done.wait();
    guard.reset();
    io_thread.join();
    pool.join();
    if (ok != acks.size()) std::exit(1);
    std::fprintf(stderr,
                 "# actor: %zu durable updates for %d users in %.3f s (%zu acknowledged in coalesced writes, "
                 "%d pool threads)\n",
                 ok, o.users, secs, coalesced, o.pool_threads);
    return static_cast<double>(ok) / secs;
}

/// The bare durable-write sequence, one file per user, same bytes as the actor's first write.
double run_raw(const options& o, const fs::path& dir) {
    fs::create_directories(dir);
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        std::perror("open dir");
        std::exit(1);
    }
    const int total = o.users * o.updates_per_user;
    std::vector<std::string> payloads;
    for (int u = 0; u < o.users; ++u) {
        mem::user_record rec;
        rec.memory = mem::blank_memory("user-" + std::to_string(u), "");
        mem::apply_to_record(rec, make_update(u, 0).update, {"bench-0", mem::utc_now()});
        payloads.push_back(mem::serialize(rec));
    }
    const auto start = clock_type::now();
    for (int i = 0; i < total; ++i) {
        const int u = i % o.users;
        const std::string name = "user-" + std::to_string(u) + ".json";
        const std::string tmp = ".tmp-" + name;
        const int fd = ::openat(dfd, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        const auto& p = payloads[static_cast<std::size_t>(u)];
        if (fd < 0 || ::write(fd, p.data(), p.size()) != static_cast<ssize_t>(p.size()) || ::fsync(fd) != 0 ||
            ::close(fd) != 0 || ::renameat(dfd, tmp.c_str(), dfd, name.c_str()) != 0 || ::fsync(dfd) != 0) {
            std::perror("raw write");
            std::exit(1);
        }
    }
    const double secs = std::chrono::duration<double>(clock_type::now() - start).count();
    ::close(dfd);
    std::fprintf(stderr, "# raw: %d write+fsync+rename+fsync(dir) sequences in %.3f s (one thread)\n", total,
                 secs);
    return total / secs;
}

}  // namespace

int main(int argc, char** argv) {
    options o = parse_args(argc, argv);
    fs::path base = o.dir;
    bool made_base = false;
    if (base.empty()) {
        const char* t = std::getenv("TMPDIR");
        std::string tmpl = std::string(t && *t ? t : "/tmp") + "/engram-bench-memory-XXXXXX";
        if (!::mkdtemp(tmpl.data())) {
            std::perror("mkdtemp");
            return 1;
        }
        base = tmpl;
        made_base = true;
    }
    std::fprintf(stderr, "# directory: %s\n", base.c_str());
    const double actor_rate = run_actor(o, base / "actor");
    const double raw_rate = run_raw(o, base / "raw");
    std::printf("RESULT memory_updates_per_s=%.1f raw_updates_per_s=%.1f ratio=%.3f\n", actor_rate, raw_rate,
                actor_rate / raw_rate);
    if (!o.keep) {
        std::error_code ec;
        if (made_base)
            fs::remove_all(base, ec);
        else {
            fs::remove_all(base / "actor", ec);
            fs::remove_all(base / "raw", ec);
        }
    }
    return 0;
}
