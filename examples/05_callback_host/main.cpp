// 05_callback_host: the runtime embedded in a program with its own threads and plain callbacks
// (no coroutines in the host code). Several users chat at once from a thread pool; completion
// handlers run on the runtime's executor (a session's on that session's strand), so the host
// only synchronises its own data.
//
//   engram_example_callback_host [--users N] [--threads N] [--memory-dir DIR]

#include <engram/runtime/runtime.hpp>

#include <atomic>
#include <cstdlib>
#include <future>
#include <iostream>
#include <mutex>

namespace rt = engram::runtime;

int main(int argc, char** argv) {
    int users = 3;
    std::size_t threads = 2;
    rt::runtime_config cfg;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::cout << "usage: engram_example_callback_host [--users N] [--threads N] [--memory-dir DIR]\n";
            return 0;
        }
        if (arg == "--users" && i + 1 < argc) users = std::max(1, std::atoi(argv[++i]));
        else if (arg == "--threads" && i + 1 < argc) threads = static_cast<std::size_t>(std::max(1, std::atoi(argv[++i])));
        else if (arg == "--memory-dir" && i + 1 < argc) cfg.memory_directory = argv[++i];
    }
    if (const char* dir = std::getenv("ENGRAM_MEMORY_DIR"); dir && *dir && cfg.memory_directory.empty()) cfg.memory_directory = dir;
    if (cfg.client.api_key.empty()) {
        std::cerr << "error: ANTHROPIC_API_KEY is not set (or start build/examples/engram_standin_server and point "
                     "ANTHROPIC_BASE_URL at it, with any key)\n";
        return 2;
    }

    rt::runtime runtime(threads, cfg);  // the runtime owns `threads` threads
    std::mutex out_mutex;               // the host's own data: stdout
    auto say = [&](const std::string& line) {
        std::lock_guard lock(out_mutex);
        std::cout << line << std::endl;
    };
    rt::runtime_hooks hooks;
    hooks.on_memory_update = [&](const rt::memory_event& e) {
        const std::string what = !e.ok        ? "NOT saved: " + e.error
                                 : e.withdrawn ? std::string("not saved: the session was no longer pending")
                                               : std::string("saved");
        say("[memory " + what + " for " + e.user_id + "]");
    };
    runtime.set_hooks(hooks);

    std::promise<void> started;
    runtime.async_start([&](std::exception_ptr e) {
        if (e) started.set_exception(e); else started.set_value();
    });
    try {
        started.get_future().get();
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    }

    std::atomic<int> remaining{users};
    std::atomic<int> failures{0};
    std::promise<void> all_done;
    for (int u = 0; u < users; ++u) {
        const std::string user = "callback-user-" + std::to_string(u);
        runtime.async_open_session("assistant", user, [&, user](std::exception_ptr e, rt::session s) {
            if (e) {
                ++failures;
                if (--remaining == 0) all_done.set_value();
                return;
            }
            s.async_send("My name is " + user + " and I like callbacks.", {}, [&, s, user](std::exception_ptr e2, engram::net::message m) mutable {
                if (e2) {
                    ++failures;
                    try { std::rethrow_exception(e2); } catch (const std::exception& x) { say(user + ": error: " + x.what()); }
                } else {
                    say(user + " <- " + m.text());
                }
                s.end();  // memory is saved in the background
                if (--remaining == 0) all_done.set_value();
            });
        });
    }
    all_done.get_future().wait();

    std::promise<void> stopped;
    runtime.async_shutdown([&](std::exception_ptr) { stopped.set_value(); });
    stopped.get_future().wait();
    say("done: " + std::to_string(users - failures.load()) + " of " + std::to_string(users) + " sessions succeeded");
    return failures.load() == 0 ? 0 : 1;
}
