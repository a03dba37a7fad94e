// 03_coroutine_host: the runtime embedded in a coroutine program. Two sessions of one user, one
// after the other: the first tells the agent something, the memory pass distils it, and the
// second session's system prompt carries it.
//
//   engram_example_coroutine_host [--user ID] [--agent NAME] [--memory-dir DIR] [FIRST MESSAGE]
//
// Endpoint and key: ANTHROPIC_BASE_URL / ANTHROPIC_API_KEY. Without a key, start the bundled
// stand-in (build/examples/engram_standin_server prints its 127.0.0.1 URL) and point
// ANTHROPIC_BASE_URL at it, with any key.

#include <engram/runtime/runtime.hpp>

#include <cstdlib>
#include <exception>
#include <iostream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace asio = boost::asio;
namespace rt = engram::runtime;

namespace {

asio::awaitable<void> chat(rt::session& s, const std::string& text) {
    std::cout << "you> " << text << "\nagent> " << std::flush;
    co_await s.send(text, [](std::string_view delta) { std::cout << delta << std::flush; });  // streamed
    std::cout << "\n";
}

asio::awaitable<void> converse(rt::runtime& runtime, const std::string& agent, const std::string& user,
                               const std::string& first) {
    auto s1 = co_await runtime.open_session(agent, user);
    std::cout << "--- session 1 for " << user << " (" << s1.remembered_items() << " remembered items loaded)\n";
    co_await chat(s1, first);
    s1.end();  // journaled and queued for the memory pass; returns at once
    const auto load = runtime.stats();  // what a host would export as metrics
    std::cout << "[saving memory... " << load.memory_passes_pending << " memory pass(es) pending, "
              << load.sessions_open << " session(s) open, " << load.connections.idle << " idle connection(s)]\n";
    co_await runtime.drain_extractions();

    auto s2 = co_await runtime.open_session(agent, user);
    std::cout << "--- session 2 for " << user << " (" << s2.remembered_items() << " remembered items loaded)\n"
              << "memory block in this session's system prompt:\n" << s2.memory_block() << "\n";
    co_await chat(s2, "What do you remember about me?");
    s2.end();
}

asio::awaitable<void> run(rt::runtime& runtime, std::string agent, std::string user, std::string first) {
    co_await runtime.start();
    std::exception_ptr failure;
    try {
        co_await converse(runtime, agent, user, first);
    } catch (...) {
        failure = std::current_exception();
    }
    // Also after a failure: shutdown() ends the sessions, drains the memory pass and stops the
    // actor. Without it the actor and the sessions' idle timers would keep ioc.run() going.
    co_await runtime.shutdown();
    if (failure) std::rethrow_exception(failure);
    const auto u = runtime.user_usage(user);
    std::cout << "[usage for " << user << ": " << u.requests << " requests, " << u.input_tokens << " input / "
              << u.output_tokens << " output tokens]\n";
}

}  // namespace

int main(int argc, char** argv) {
    std::string user = "alice", agent = "assistant", first = "Hi! I'm building a SaaS for contract review, and my backend is Python with FastAPI.";
    rt::runtime_config cfg;  // client settings from the environment
    // This demo waits for the memory pass (drain_extractions) before its second session: a pass
    // that fails should say so now, not be retried for minutes first. A long-running host keeps
    // the default retries (runtime/README.md).
    cfg.extraction_retry_delays.clear();
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::cout << "usage: engram_example_coroutine_host [--user ID] [--agent NAME] [--memory-dir DIR] [FIRST MESSAGE]\n";
            return 0;
        }
        if (arg == "--user" && i + 1 < argc) user = argv[++i];
        else if (arg == "--agent" && i + 1 < argc) agent = argv[++i];
        else if (arg == "--memory-dir" && i + 1 < argc) cfg.memory_directory = argv[++i];
        else first = arg;
    }
    if (const char* dir = std::getenv("ENGRAM_MEMORY_DIR"); dir && *dir && cfg.memory_directory.empty()) cfg.memory_directory = dir;
    if (cfg.client.api_key.empty()) {
        std::cerr << "error: ANTHROPIC_API_KEY is not set (or start build/examples/engram_standin_server and point "
                     "ANTHROPIC_BASE_URL at it, with any key)\n";
        return 2;
    }
    std::string memory_error;
    rt::runtime_hooks hooks;
    hooks.on_memory_update = [&](const rt::memory_event& e) {
        if (!e.ok) {
            memory_error = e.error;
            std::cout << "[memory NOT saved: " << e.error << "]\n";
            return;
        }
        if (e.withdrawn) {  // erased meanwhile, or saved by another process sharing the directory
            std::cout << "[memory not saved for " << e.user_id << ": the session was no longer pending]\n";
            return;
        }
        std::cout << "[memory saved for " << e.user_id << ": session " << e.session_count << "]\n";
        for (const auto& c : e.changes) std::cout << "  " << c << "\n";
    };
    try {
        asio::io_context ioc;
        rt::runtime runtime(ioc.get_executor(), cfg);
        runtime.set_hooks(hooks);
        std::exception_ptr failure;
        asio::co_spawn(ioc, run(runtime, agent, user, first), [&](std::exception_ptr e) { failure = e; });
        ioc.run();
        if (failure) std::rethrow_exception(failure);
    } catch (const std::exception& e) {
        std::cerr << "\nerror: " << e.what() << "\n";
        return 1;
    }
    return memory_error.empty() ? 0 : 1;
}
