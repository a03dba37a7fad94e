// engram::runtime: many concurrent agent sessions with durable memory, on one io_context.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>

#include <engram/agents/agent.hpp>
#include <engram/memory/actor.hpp>
#include <engram/net/claude_client.hpp>
#include <engram/runtime/config.hpp>
#include <engram/runtime/error.hpp>
#include <engram/runtime/hooks.hpp>
#include <engram/runtime/stats.hpp>
#include <engram/runtime/usage.hpp>

namespace engram::runtime {

namespace detail {
class runtime_impl;
class session_impl;
}  // namespace detail

/// Called with each text delta of a streaming reply, on the session's strand.
using delta_callback = std::function<void(std::string_view)>;

/// A handle to one conversation of one user with one agent. Copies share the session. The
/// session has its own history, which no other session sees; its memory block is loaded at open
/// and frozen until it ends (so the prompt cache holds).
///
/// @par Thread safety
/// All member functions may be called from any thread.
class session {
public:
    /// An empty handle (as is a moved-from one): it behaves as an ended session with no history,
    /// and send() throws runtime_error(session_ended). async_send() needs a real session.
    session() = default;
    /// Whether this handle refers to a session (open or ended).
    explicit operator bool() const noexcept { return impl_ != nullptr; }

    const session_info& info() const noexcept;
    /// The memory block injected into this session's system prompt.
    const std::string& memory_block() const noexcept;
    /// How many remembered items (facts, preferences, decisions, the running summary) the block
    /// was rendered from.
    std::size_t remembered_items() const noexcept;
    /// Tokens used by this session's turns, a turn cut off midway included (what its stream
    /// reported before that).
    usage_totals usage() const;
    /// Messages in the history right now (after any trimming).
    std::size_t history_size() const;

    /// Sends one user message; `on_delta` sees the reply's text as it streams. Returns the final
    /// assistant message once it is complete and in the history.
    /// @throws runtime_error (session_busy, session_ended, shutting_down, message_too_large,
    /// empty_message (no text but whitespace: nothing is sent), invalid_message (not UTF-8: nothing is sent), empty_reply), net::client_error (the model call failed, or the turn was cancelled) or whatever `on_delta` threw (as it is); the
    /// user message of a failed turn is not kept.
    boost::asio::awaitable<net::message> send(std::string text, delta_callback on_delta = {});

    /// Callback style. Completion signature `void(std::exception_ptr, net::message)`; the
    /// handler runs on its associated executor, else the session's strand (executor(), on the
    /// runtime's executor: one session's handlers never run at the same time). A cancellation
    /// slot bound to the handler (asio::bind_cancellation_slot) cancels the turn as cancelling
    /// a coroutine's send() does: it fails with client_error(errc::cancelled) and leaves no
    /// trace in the history.
    template <class CompletionToken = boost::asio::deferred_t>
    auto async_send(std::string text, delta_callback on_delta, CompletionToken&& token = {}) {
        return boost::asio::co_spawn(executor(), send(std::move(text), std::move(on_delta)),
                                     std::forward<CompletionToken>(token));
    }

    /// Ends the session: its transcript is journaled and queued for extraction, and the call
    /// returns without waiting for the model. Idempotent. A session with no turn has nothing to
    /// remember and is not counted. A session whose handles are all dropped without end() is
    /// still ended (and remembered) by the idle timeout or by shutdown(); with idle_timeout zero
    /// it is forgotten instead.
    void end();
    /// True from end() on (and for a session ended by the idle timeout or shutdown); a send()
    /// made after end() throws session_ended, also while the turn running then completes.
    bool ended() const noexcept;

    /// The session's strand. In runtime(threads, cfg) it belongs to the runtime's own pool: a
    /// copy must not outlive the runtime and its sessions (the pool goes with them).
    boost::asio::any_io_executor executor() const noexcept;

    /// Inside a delta callback: when the bytes carrying that delta were read from the
    /// connection (steady clock), so a host can measure the latency it adds. Only meaningful
    /// within the callback (which runs on the session's executor).
    std::chrono::steady_clock::time_point delta_received_at() const noexcept;

private:
    friend class detail::runtime_impl;
    explicit session(std::shared_ptr<detail::session_impl> impl) : impl_(std::move(impl)) {}
    std::shared_ptr<detail::session_impl> impl_;
};

/// Hosts sessions. Built on an executor the embedder owns (or an internal thread pool), it
/// shares one Claude client and one memory actor between all sessions.
///
/// Lifecycle: construct → `co_await start()` (opens the memory store and re-runs extractions a
/// previous process left in the journal) → open sessions → `co_await shutdown()`.
///
/// @par Thread safety
/// All member functions may be called from any thread.
class runtime {
public:
    /// Runs on `executor` (which may be multi-threaded; sessions get their own strands).
    runtime(boost::asio::any_io_executor executor, runtime_config config);
    /// Creates and owns a thread pool of `threads` threads to run on.
    runtime(std::size_t threads, runtime_config config);
    /// Without shutdown() first: stops taking sessions and turns, cancels running turns and
    /// extractions (what is not merged stays journaled), stops the sessions' idle timers (a
    /// session held by nothing else is forgotten), and stops the memory actor once it drained
    /// what it accepted, so the executor runs out of work.
    ~runtime();
    runtime(const runtime&) = delete;
    runtime& operator=(const runtime&) = delete;

    /// Registers (or replaces) an agent. The built-ins (assistant, sales, dba) are registered.
    /// Throws runtime_error(errc::invalid_agent) for a definition agents::validate() refuses.
    void add_agent(agents::agent_definition agent);
    std::vector<agents::agent_definition> agents() const;
    void set_hooks(runtime_hooks hooks);

    /// Opens the memory store, starts the memory actor and queues the journal's pending jobs.
    /// Once it succeeded, later calls do nothing; a call made while another runs waits for that
    /// one (and tries itself if that one failed); after a failure nothing is left running and
    /// start() may be called again. Register agents first: a journaled session of an agent not
    /// registered by then waits in the journal.
    /// @throws runtime_error(memory_error) if the memory directory cannot be used,
    /// runtime_error(resource_limit) (see runtime_config::min_open_files),
    /// runtime_error(shutting_down) after shutdown() began; boost::system::system_error
    /// (operation_aborted) if the caller was cancelled while waiting for another call's start.
    boost::asio::awaitable<void> start();

    /// Callback style of start(), as async_open_session(). Completion signature
    /// `void(std::exception_ptr)`.
    template <class CompletionToken = boost::asio::deferred_t>
    auto async_start(CompletionToken&& token = {}) {
        return boost::asio::co_spawn(executor(), start(), std::forward<CompletionToken>(token));
    }

    /// Opens a session for (agent, user): loads and renders the user's memory (from the actor's
    /// cache when it can). The user id must be one the memory store accepts, for a stateless
    /// agent too. @throws runtime_error (unknown_agent, vetoed, shutting_down, memory_error for
    /// an unusable user id or memory file).
    boost::asio::awaitable<session> open_session(std::string agent, std::string user_id);

    /// Callback style. Completion signature `void(std::exception_ptr, session)`; the handler
    /// runs on its associated executor, else the runtime's. A cancellation slot bound to the
    /// handler reaches the call as the cancellation of a coroutine's would. The operation holds
    /// the runtime's state from the call on: it may outlive this object (it then fails with
    /// shutting_down), as may async_start(), async_drain_extractions() and async_shutdown().
    template <class CompletionToken = boost::asio::deferred_t>
    auto async_open_session(std::string agent, std::string user_id, CompletionToken&& token = {}) {
        return boost::asio::co_spawn(executor(), open_session(std::move(agent), std::move(user_id)),
                                     std::forward<CompletionToken>(token));
    }

    /// Waits until every queued extraction finished (successfully or not), its retries
    /// (runtime_config::extraction_retry_delays) included. A parked one (its retries ran out; it
    /// waits for its user to be back) is not waited for.
    boost::asio::awaitable<void> drain_extractions();

    /// Callback style of drain_extractions(). Completion signature `void(std::exception_ptr)`.
    template <class CompletionToken = boost::asio::deferred_t>
    auto async_drain_extractions(CompletionToken&& token = {}) {
        return boost::asio::co_spawn(executor(), drain_extractions(), std::forward<CompletionToken>(token));
    }

    /// Graceful shutdown: stop opening sessions, let in-flight turns finish within
    /// shutdown_grace, end every session, drain extractions within the grace period (what cannot
    /// finish stays journaled for the next start), then stop the memory actor. It runs once, in
    /// a coroutine of its own: a caller that stops waiting (cancelled, or raced against a timer)
    /// does not stop it, and every call completes when that one shutdown has finished.
    boost::asio::awaitable<void> shutdown();

    /// Callback style of shutdown(). Completion signature `void(std::exception_ptr)`.
    template <class CompletionToken = boost::asio::deferred_t>
    auto async_shutdown(CompletionToken&& token = {}) {
        return boost::asio::co_spawn(executor(), shutdown(), std::forward<CompletionToken>(token));
    }

    /// Tokens used by all sessions and extractions of this user in this process (since the last
    /// take_user_usage()). The runtime keeps one entry per user it has served: a process that
    /// serves millions of users over its life should take them now and then.
    usage_totals user_usage(const std::string& user_id) const;
    /// Every user's tokens since the last call (or the start), and forgets them: for a host that
    /// exports usage periodically (billing, quotas), which also keeps the per-user accounting
    /// bounded by the users active in between. A session's own usage() is not affected.
    std::map<std::string, usage_totals> take_user_usage();
    /// The runtime's load now: open sessions, model requests in flight and waiting, memory
    /// passes pending and parked, the connection pool. For a periodic metrics scrape: it takes
    /// the runtime's lock once, for a few µs at 10,000 open sessions (see runtime/README.md).
    runtime_stats stats() const;
    memory::memory_actor& memory();
    net::claude_client& client();
    /// In runtime(threads, cfg), the runtime's own pool: a copy must not outlive the runtime
    /// and its sessions (the pool goes with them).
    boost::asio::any_io_executor executor() const noexcept;

private:
    std::shared_ptr<detail::runtime_impl> impl_;
};

}  // namespace engram::runtime
