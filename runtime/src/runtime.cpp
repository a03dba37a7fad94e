#include <engram/runtime/runtime.hpp>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/system/system_error.hpp>

#include <engram/agents/prompts.hpp>
#include <engram/memory/render.hpp>
#include <engram/memory/store.hpp>
#include <engram/memory/update.hpp>
#include <engram/memory/user_id.hpp>
#include <engram/memory/utf8.hpp>

#include "context_overflow.hpp"
#include "history.hpp"
#include "open_files.hpp"
#include "request_gate.hpp"
#include "runtime_threads.hpp"
#include "zero_waiter.hpp"

namespace engram::runtime {
namespace detail {

namespace asio = boost::asio;
namespace json = boost::json;
using steady = std::chrono::steady_clock;

namespace {

std::string new_session_id() {
    static std::atomic<std::uint64_t> counter{0};
    // Unique across processes sharing a memory directory: time, pid and a counter.
    const auto now = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    // Appended piece by piece: GCC 12 -O3 reports a false -Wrestrict for chained operator+.
    std::string id = "s";
    id += std::to_string(now);
    id += '-';
    id += std::to_string(::getpid());
    id += '-';
    id += std::to_string(++counter);
    return id;
}

memory_event event_for(const session_info& s) {
    memory_event ev;
    ev.user_id = s.user_id;
    ev.session_id = s.session_id;
    return ev;
}

// "0.5 s", "12 s": for progress notices.
std::string seconds_text(std::chrono::milliseconds d) {
    const auto ms = std::max<std::int64_t>(d.count(), 0);
    if (ms >= 10'000) return std::to_string((ms + 500) / 1000) + " s";
    return std::to_string(ms / 1000) + "." + std::to_string((ms % 1000) / 100) + " s";
}

// A text block with nothing but whitespace in it (the API calls that empty).
bool is_blank_text(const json::value& block) {
    const auto* o = block.if_object();
    if (!o) return false;
    const auto* type = o->if_contains("type");
    const auto* text = o->if_contains("text");
    if (!type || *type != "text" || !text || !text->is_string()) return false;
    const auto& t = text->get_string();
    return std::all_of(t.begin(), t.end(), [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; });
}

// A memory pass refused for the session's own size: 413, or a 400 saying the prompt is longer
// than the model's context ("prompt is too long: 208310 tokens > 200000 maximum"; text in a
// script of one token per character or so fits max_history_chars and not the context). It is
// counted against the session (set aside after a few), where other 400s are not: a max_tokens or
// model the configuration got wrong refuses every session alike.
bool refused_as_too_large(const net::client_error& e) {
    return e.code_value() == net::errc::request_too_large || context_fraction(e).has_value();
}

// A failed model call that may succeed later: the service overloaded, rate limited or out of
// reach (after the client's own retries). Not a refused request, key or configuration.
bool passes(const net::client_error& e) {
    switch (e.kind()) {
        case net::error_kind::connection:
        case net::error_kind::timeout: return true;
        case net::error_kind::api:
            return e.code_value() == net::errc::rate_limited || e.code_value() == net::errc::api_internal ||
                   e.code_value() == net::errc::overloaded;
        default: return false;
    }
}

// A memory failure that may pass: a full disk, an I/O error.
bool passes(const boost::system::error_code& e) {
    return e == memory::errc::disk_full || e == memory::errc::io_error;
}

std::size_t remembered_items(const memory::user_memory& m) {
    return m.key_facts.size() + m.preferences.size() + m.recent_decisions.size() + (m.running_summary.empty() ? 0 : 1);
}

}  // namespace

/// One queued extraction: a finished session's transcript, already durable in the journal.
struct extraction_job {
    session_info info;
    std::string transcript;
    /// A job replayed from the journal at start: its transcript (and its agent's name) are read
    /// from the journal when its turn comes, not all at once at start-up.
    bool in_journal = false;
    /// When the session ended (ISO-8601 UTC): its facts' dates and "today" in its decisions, also
    /// when the job is replayed from the journal days later.
    std::string finished_at;
    /// What the model distilled, once it has, and the memory it was distilled from: a retry
    /// after a failed save writes it again instead of paying for the model calls a second time,
    /// as long as the stored memory is still the one it was made from (the store checks; an
    /// undo or another process's merge meanwhile means asking the model again).
    std::optional<memory::memory_update> distilled;
    memory::user_memory distilled_from;
    /// How many times its retries ran out in this process (see runtime_impl::parked_).
    unsigned parked_rounds = 0;
};

/// Rounds a session whose retries run out gets in one process: its round of retries, then one
/// attempt each time its user is back. Parked between them, it holds the user's later sessions
/// back (keeping their order). After the last it is taken to be stuck on something of its own (a
/// transcript the model keeps timing out on): left for the next start, it holds nothing back, and
/// the later sessions go ahead (it is merged late, when it can be).
constexpr unsigned rounds_a_parked_session_holds_later_ones = 3;

/// Fills a replayed job from its journal text: {"agent", "transcript"} as the session wrote it,
/// or (older journals) the plain transcript.
void read_journaled_transcript(const std::string& text, extraction_job& job) {
    std::error_code ec;
    auto v = json::parse(text, ec);
    if (!ec && v.is_object() && v.as_object().contains("transcript") && v.at("transcript").is_string()) {
        job.transcript = std::string(v.at("transcript").as_string());
        if (auto* a = v.as_object().if_contains("agent"); a && a->is_string()) job.info.agent = std::string(a->as_string());
    } else {
        job.transcript = text;  // a plain-text transcript is still usable
    }
}

class runtime_impl : public std::enable_shared_from_this<runtime_impl> {
public:
    runtime_impl(asio::any_io_executor ex, runtime_config cfg, std::unique_ptr<asio::thread_pool> owned)
        : threads_(std::make_shared<runtime_threads>(std::move(owned), cfg.memory_io_threads)),
          executor_(std::move(ex)),
          cfg_(std::move(cfg)),
          client_(std::make_shared<net::claude_client>(executor_, cfg_.client)),
          gate_(std::make_shared<request_gate>(cfg_.max_in_flight_requests)) {
        for (const auto& a : agents::builtin_agents()) agents_[a.name] = std::make_shared<const agents::agent_definition>(a);
    }

    /// Stops the memory actor, which drains what it accepted on threads_ (shared with its
    /// completion). On its own pool, from outside it, the runtime waits for that drain (up to
    /// shutdown_grace) before it stops its threads; on the embedder's executor it cannot block
    /// (this may be the thread that has to run the drain), and the pools go when the drain ends.
    ~runtime_impl() {
        actor_.reset();  // stops it (see memory_actor's "Object lifetimes")
        if (threads_->owns_executor() && !threads_->on_executor_pool()) threads_->wait_for_actor(cfg_.shutdown_grace);
    }
    /// The runtime handle is gone without shutdown(): no new sessions or turns, running turns
    /// and extractions are cancelled (what is not merged stays journaled), idle timers stop (a
    /// session only they held is forgotten), and the actor drains what it accepted and ends, so
    /// the embedder's io_context runs out of work. Sessions still held keep this object alive;
    /// what they end is reported as unsaved.
    void abandon();
    /// Cancels the running extractions; the queued ones are skipped (all stay journaled).
    void cancel_extractions() {
        abandon_extractions_ = true;
        std::vector<std::pair<std::shared_ptr<asio::cancellation_signal>, asio::strand<asio::any_io_executor>>> workers;
        {
            std::lock_guard lock(mutex_);
            for (auto& [user, sig] : worker_cancel_) workers.emplace_back(sig, worker_strands_.at(user));
        }
        for (auto& [sig, strand] : workers)
            asio::dispatch(strand, [sig] { sig->emit(asio::cancellation_type::terminal); });
    }
    /// The sessions still alive.
    std::vector<std::shared_ptr<session_impl>> open_sessions() const {
        std::vector<std::shared_ptr<session_impl>> open;
        std::lock_guard lock(mutex_);
        for (const auto& [id, w] : sessions_)
            if (auto s = w.lock()) open.push_back(std::move(s));
        return open;
    }
    bool owns_threads_and_not_on_them() const { return threads_->owns_executor() && !threads_->on_executor_pool(); }
    std::shared_ptr<runtime_threads::joined_latch> threads_joined() const { return threads_->joined(); }
    void stop_actor() {
        std::lock_guard lock(mutex_);  // start() may be creating or dropping it on another thread
        if (actor_) actor_->stop();
    }

    // ---- configuration ----
    void add_agent(agents::agent_definition a) {
        // Checked as an agent file is: a definition that fails would fail later, in every
        // session (a memory block too small to close its frame, a cap of zero).
        if (auto ok = agents::validate(a); !ok)
            throw runtime_error(errc::invalid_agent, "agent '" + a.name + "': " + ok.error().what());
        std::lock_guard lock(mutex_);
        auto name = a.name;
        agents_[name] = std::make_shared<const agents::agent_definition>(std::move(a));
    }
    std::vector<agents::agent_definition> list_agents() const {
        std::lock_guard lock(mutex_);
        std::vector<agents::agent_definition> out;
        for (const auto& [name, a] : agents_) out.push_back(*a);
        return out;
    }
    /// Sessions share the definition (it may hold a long system prompt).
    std::shared_ptr<const agents::agent_definition> find_agent(const std::string& name) const {
        std::lock_guard lock(mutex_);
        auto it = agents_.find(name);
        if (it == agents_.end()) return nullptr;
        return it->second;
    }
    void set_hooks(runtime_hooks h) {
        std::lock_guard lock(mutex_);
        hooks_ = std::make_shared<const runtime_hooks>(std::move(h));
    }
    std::shared_ptr<const runtime_hooks> hooks() const {
        std::lock_guard lock(mutex_);
        return hooks_;
    }
    /// Calls a user hook, if set. What it throws is dropped: hooks run inside the runtime's own
    /// bookkeeping (an extraction worker, a session's end, a timer handler), where an exception
    /// would skip the counters that drain_extractions() and shutdown() wait on, or escape the
    /// embedder's io_context::run().
    template <class Hook, class... Args>
    void call_hook(Hook runtime_hooks::*which, const Args&... args) const noexcept {
        try {
            const auto h = hooks();
            if (const auto& f = (*h).*which) f(args...);
        } catch (...) {  // dropped, see above
        }
    }
    void notice(const session_info& s, const std::string& text) { call_hook(&runtime_hooks::on_notice, s, text); }
    void report(const memory_event& ev) const { call_hook(&runtime_hooks::on_memory_update, ev); }

    // ---- accessors ----
    const runtime_config& config() const noexcept { return cfg_; }
    asio::any_io_executor executor() const noexcept { return executor_; }
    net::claude_client& client() noexcept { return *client_; }
    request_gate& gate() noexcept { return *gate_; }
    memory::memory_actor& memory() {
        std::lock_guard lock(mutex_);
        // Only once start() succeeded: until then it may still create or drop the actor.
        if (start_state_ != start_state::started) throw runtime_error(errc::not_started, "runtime::start() has not completed");
        return *actor_;
    }
    bool shutting_down() const noexcept { return shutting_down_.load(); }

    void add_usage(const std::string& user, const net::usage& u) {
        std::lock_guard lock(mutex_);
        user_usage_[user].add(u);
    }
    usage_totals user_usage(const std::string& user) const {
        std::lock_guard lock(mutex_);
        auto it = user_usage_.find(user);
        return it == user_usage_.end() ? usage_totals{} : it->second;
    }
    std::map<std::string, usage_totals> take_user_usage() {
        std::lock_guard lock(mutex_);
        return std::exchange(user_usage_, {});
    }

    /// A session is destroyed without having left sessions_ (see forgotten_sessions_).
    void session_forgotten() noexcept { forgotten_sessions_.fetch_add(1, std::memory_order_release); }

    /// (mutex_) Sessions open: ended ones leave sessions_ at once; only one destroyed without
    /// end() (idle timeout zero) leaves an expired entry behind, and then the table is swept
    /// first. The count is taken before the sweep: a session forgotten meanwhile has the next
    /// call sweep.
    std::size_t open_sessions_locked() {
        if (forgotten_sessions_.exchange(0, std::memory_order_acquire) > 0)
            std::erase_if(sessions_, [](const auto& kv) { return kv.second.expired(); });
        return sessions_.size();
    }
    /// (mutex_) Throws too_many_sessions when runtime_config::max_open_sessions are open.
    void check_room_for_a_session_locked() {
        const std::size_t limit = cfg_.max_open_sessions;
        if (limit > 0 && open_sessions_locked() >= limit)
            throw runtime_error(errc::too_many_sessions,
                                "too many open sessions: " + std::to_string(limit) +
                                    " are open (runtime_config::max_open_sessions); end one first");
    }

    runtime_stats stats() {
        runtime_stats st;
        {
            std::lock_guard lock(mutex_);
            st.sessions_open = open_sessions_locked();
            for (const auto& [user, n] : memory_pending_) st.memory_passes_pending += n;
            for (const auto& [user, jobs] : parked_) st.memory_passes_parked += jobs.size();
        }
        const auto load = gate_->current_load();
        st.requests_in_flight = load.in_use;
        st.requests_waiting = load.waiting;
        st.rate_limit_pause = gate_->pause_remaining();
        st.connections = client_->stats();
        return st;
    }

    // ---- lifecycle ----
    asio::awaitable<void> start();
    enum class start_step { run, wait, done };
    /// What a start() call does now: run the start (claimed for it), wait for the one under way,
    /// or nothing (started). Throws after shutdown began.
    start_step claim_start();
    asio::awaitable<session> open_session(std::string agent, std::string user_id);
    asio::awaitable<void> shutdown();
    asio::awaitable<void> run_shutdown();
    asio::awaitable<void> drain_extractions() { co_await extractions_.wait(steady::time_point::max()); }

    // ---- extraction ----
    void enqueue_extraction(extraction_job job);
    /// Queues the user's parked jobs again (see parked_), unless the runtime is shutting down.
    void requeue_parked(const std::string& user);
    /// (mutex_) Keeps a job whose retries ran out, or that waits behind one, for its user's return.
    void park_locked(extraction_job job);
    /// Queues `jobs` at the back of the user's queue, or (`parked`) the user's parked jobs at its
    /// front; starts the user's worker if it is idle.
    void queue_jobs(const std::string& user, std::deque<extraction_job> jobs, bool parked);
    /// A session of `user` ended and its memory is not merged yet (counted per user).
    void memory_pending_add(const std::string& user) {
        std::lock_guard lock(mutex_);
        ++memory_pending_[user];
    }
    void memory_pending_done(const std::string& user) {
        std::lock_guard lock(mutex_);
        if (auto it = memory_pending_.find(user); it != memory_pending_.end() && --it->second == 0) memory_pending_.erase(it);
    }

    /// Waits (up to memory_wait_on_open) until no ended session of `user` awaits its memory pass.
    /// Returns false if it had to give up.
    asio::awaitable<bool> wait_for_pending_memory(const std::string& user) {
        const auto deadline = steady::now() + cfg_.memory_wait_on_open;
        // While the user waits, the user's memory pass goes before other users' (they wait for
        // no one) in the line for a request slot: with many sessions ending at once, it would
        // otherwise wait behind all of theirs.
        struct promotion {
            request_gate& gate;
            const std::string& user;
            promotion(request_gate& g, const std::string& u) : gate(g), user(u) { gate.promote(user); }
            ~promotion() { gate.unpromote(user); }
            promotion(const promotion&) = delete;
            promotion& operator=(const promotion&) = delete;
        };
        std::optional<promotion> promoted;
        for (;;) {
            bool merged = false, retrying = false;
            {
                std::lock_guard lock(mutex_);
                merged = !memory_pending_.contains(user);
                // A pass waiting to be retried (minutes) is not worth the wait.
                retrying = retry_timers_.contains(user);
            }
            // Checked first: once a shutdown began, the memory actor may be stopping, and a load
            // would fail as a memory error.
            if (shutting_down()) throw runtime_error(errc::shutting_down, "the runtime is shutting down");
            if (merged) co_return true;
            if (retrying) co_return false;
            if (steady::now() >= deadline) co_return false;
            if (!promoted) promoted.emplace(*gate_, user);
            // Polling keeps the extraction workers free of waiter bookkeeping; it only happens
            // for a user whose memory is being written right now.
            asio::steady_timer t(co_await asio::this_coro::executor, std::min(deadline, steady::now() + std::chrono::milliseconds(20)));
            co_await t.async_wait(asio::use_awaitable);
        }
    }

    void session_closed(const std::string& id) {
        std::shared_ptr<asio::steady_timer> check;
        {
            std::lock_guard lock(mutex_);
            sessions_.erase(id);
            if (sessions_.empty()) check = std::move(connection_check_);
        }
        stop_connection_check(std::move(check));
    }
    /// After a session opened (mutex_ held): the timer of an idle connection check to start
    /// (with start_connection_check(), once the mutex is released), unless one runs.
    std::shared_ptr<asio::steady_timer> new_connection_check_locked();
    void start_connection_check(std::shared_ptr<asio::steady_timer> timer);
    /// Stops the idle connection check that `check` is the timer of (none: nothing to stop).
    static void stop_connection_check(std::shared_ptr<asio::steady_timer> check) {
        if (check) asio::dispatch(check->get_executor(), [check] { check->cancel(); });
    }
    /// Takes the idle connection check's timer away, for a shutdown to stop it.
    std::shared_ptr<asio::steady_timer> take_connection_check() {
        std::lock_guard lock(mutex_);
        return std::move(connection_check_);
    }
    zero_waiter& turns_in_flight() noexcept { return turns_; }
    zero_waiter& extractions() noexcept { return extractions_; }

private:
    /// The idle connection check: every `every`, the client's idle connections that can no
    /// longer carry a request are closed. Ends when its timer is cancelled or replaced, or when
    /// no session is open at a tick (a session dropped without end() leaves without
    /// session_closed()).
    static asio::awaitable<void> check_idle_connections(std::weak_ptr<runtime_impl> weak,
                                                        std::shared_ptr<asio::steady_timer> timer,
                                                        std::chrono::milliseconds every);
    asio::awaitable<void> extraction_worker(std::string user);
    /// Runs one job's memory pass and reports its outcome, except a failure that may pass (a
    /// full disk, an I/O error), which it returns for the worker to retry.
    asio::awaitable<std::optional<std::string>> run_extraction(extraction_job& job);
    /// What the model made of a session: the update, or a failure that may pass (tried again),
    /// or neither (a failure reported for good through `ev`).
    struct distillation {
        std::optional<memory::memory_update> update;
        memory::user_memory from;  ///< the memory the update was made from
        std::optional<std::string> passing_failure;
    };
    /// Loads the user's memory and asks the model for the session's update (with one repair).
    asio::awaitable<distillation> distill(const extraction_job& job, const agents::agent_definition& agent,
                                          memory_event& ev, std::optional<request_gate::permit>& held);
    /// Counts a failed memory pass of a journaled session that a retry would not change
    /// (store::journal_record_failure) and says so in `ev`, the host's report of it: how many
    /// there were, or that the session is now set aside (runtime_config::set_aside_after_failed_passes).
    asio::awaitable<void> count_failed_pass(memory_event& ev, std::string why);
    /// Waits `delay` before retrying `user`'s job; false when a shutdown cut it short.
    asio::awaitable<bool> wait_to_retry(const std::string& user, std::chrono::milliseconds delay);
    /// Ends every retry wait at once (shutdown): those jobs stay in the journal.
    void cut_retry_waits();
    struct extraction_reply {
        std::string text;
        bool cut = false;  ///< stopped at max_tokens
    };
    /// Calls the model with a background request slot: `held`'s if it holds one (taken from
    /// it), else one it waits for.
    asio::awaitable<extraction_reply> call_extraction_model(std::string user, net::message_request req,
                                                            std::optional<request_gate::permit>& held);

    std::shared_ptr<runtime_threads> threads_;  // first: released last
    asio::any_io_executor executor_;
    runtime_config cfg_;
    std::shared_ptr<net::claude_client> client_;
    std::shared_ptr<request_gate> gate_;
    std::shared_ptr<memory::store> store_;
    std::unique_ptr<memory::memory_actor> actor_;
    zero_waiter actor_running_;
    zero_waiter extractions_;
    zero_waiter turns_;

    mutable std::mutex mutex_;
    std::map<std::string, std::shared_ptr<const agents::agent_definition>> agents_;
    std::shared_ptr<const runtime_hooks> hooks_ = std::make_shared<const runtime_hooks>();
    std::map<std::string, std::weak_ptr<session_impl>> sessions_;
    /// Sessions destroyed without session_closed() since stats() last swept sessions_: while it
    /// is zero every entry is a live session, and stats() counts them without walking 10,000.
    std::atomic<std::size_t> forgotten_sessions_{0};
    std::size_t opens_since_sweep_ = 0;
    /// (mutex_) The timer of the idle connection check, while one runs (sessions are open).
    std::shared_ptr<asio::steady_timer> connection_check_;
    std::map<std::string, usage_totals> user_usage_;
    std::set<std::string> held_back_users_;  ///< during shutdown: users whose jobs wait for the next start
    std::map<std::string, std::deque<extraction_job>> queues_;
    /// Per user, oldest first: jobs whose pass failed for a reason that may pass after their
    /// retries ran out. They stay journaled, and are queued again (ahead of anything newer) when
    /// the user opens a session or another of the user's sessions ends: a process that runs for
    /// weeks must not keep them until its next start.
    std::map<std::string, std::vector<extraction_job>> parked_;
    std::map<std::string, std::shared_ptr<asio::steady_timer>> retry_timers_;  // workers waiting to retry
    std::set<std::string> active_users_;
    std::map<std::string, std::size_t> memory_pending_;  // user -> ended sessions not merged yet
    std::map<std::string, std::shared_ptr<asio::cancellation_signal>> worker_cancel_;
    std::map<std::string, asio::strand<asio::any_io_executor>> worker_strands_;
    std::atomic<bool> shutting_down_{false};
    std::atomic<bool> abandon_extractions_{false};
    bool shutdown_started_ = false;        // (mutex_)
    bool abandoned_ = false;               // (mutex_) the handle went without shutdown()
    std::exception_ptr shutdown_error_;    // (mutex_) what the shutdown coroutine threw
    zero_waiter shutdown_done_;
    enum class start_state { idle, starting, started };
    start_state start_state_ = start_state::idle;  // (mutex_)
    zero_waiter start_running_;                    // 1 while a start() runs
};

/// One session: a strand, a history, a frozen system prompt, and the turn lock.
class session_impl : public std::enable_shared_from_this<session_impl> {
public:
    session_impl(std::shared_ptr<runtime_impl> rt, session_info info, std::shared_ptr<const agents::agent_definition> agent,
                 std::string memory_block, std::size_t remembered)
        : rt_(std::move(rt)),
          // One thread runs the executor: it already serializes everything, and a strand would
          // only add a dispatch (and an allocation) to every completion.
          strand_(rt_->config().single_threaded_executor ? rt_->executor()
                                                          : asio::any_io_executor(asio::make_strand(rt_->executor()))),
          info_(std::move(info)),
          agent_(std::move(agent)),
          memory_block_(std::move(memory_block)),
          remembered_(remembered),
          system_json_(json::serialize(agents::system_blocks(*agent_, info_.user_id, memory_block_))),
          idle_timer_(strand_) {}
    ~session_impl() {
        if (!closed_) rt_->session_forgotten();
    }

    const session_info& info() const noexcept { return info_; }
    const std::string& memory_block() const noexcept { return memory_block_; }
    std::size_t remembered() const noexcept { return remembered_; }
    std::chrono::steady_clock::time_point delta_received_at() const noexcept { return delta_received_at_; }
    /// The session's strand (or, on a single-threaded executor, the executor itself).
    asio::any_io_executor strand() const { return strand_; }
    usage_totals usage() const {
        std::lock_guard lock(mutex_);
        return usage_;
    }
    std::size_t history_size() const {
        std::lock_guard lock(mutex_);
        return history_.size();
    }
    /// From end() on (its work on the strand may still wait for a running turn).
    bool ended() const noexcept { return end_requested_.load() || ended_.load(); }

    /// One turn. `self` keeps the session alive for as long as the turn runs (the public
    /// session::send is no coroutine of its own: one frame fewer per waiting turn).
    ///
    /// The turn runs inside the caller's coroutine: no co_spawn of its own, unless it must hop
    /// onto the session's strand. Its waits follow the caller's cancellation, and turn_cancel_,
    /// which cancel_turn() emits.
    asio::awaitable<net::message> send(std::shared_ptr<session_impl> self, std::string text, delta_callback on_delta,
                                       bool on_strand = false) {
        // The API refuses a blank text message (in this request and, kept in the history, in
        // every later one): refused before anything else, without waiting for the turn lock.
        if (text.find_first_not_of(" \t\r\n\v\f") == std::string::npos)
            throw runtime_error(errc::empty_message, "the message has no text (empty or only whitespace); nothing was sent");
        // JSON carries UTF-8 only: sent, such text failed the turn (a 400) or, taken by a lenient
        // server, made the session's journal entry and so its whole memory pass fail at its end.
        if (!memory::is_valid_utf8(text))
            throw runtime_error(errc::invalid_message, "the message is not valid UTF-8; nothing was sent");
        // Already on the session's (single-threaded) executor: no hop, no extra coroutine frame.
        if (!on_strand && !(rt_->config().single_threaded_executor && (co_await asio::this_coro::executor) == strand_))
            co_return co_await send_on_strand(std::move(self), std::move(text), std::move(on_delta));
        throw_unless_open();
        // Sent after end(), whose work may still wait for a running turn: ended, not busy.
        if (end_requested_) throw runtime_error(errc::session_ended, "session " + info_.session_id + " has ended");
        if (busy_) co_await wait_for_turn(true);  // returns holding the lock
        busy_ = true;
        turn_scope scope(*this);  // from here on, a failed turn leaves no trace in the history
        throw_unless_open();
        check_fits_history(text);  // refused at once, not after a wait for the gate
        // One frame for the whole turn: every step below is awaited here.
        auto permit = rt_->gate().try_acquire();
        if (!permit) permit = co_await wait_for_gate();
        // A cancellation that came while the gate's wake-up was on its way found nothing to cancel
        // (and the caller's own would make the next co_await throw a bare system_error).
        if (turn_cancelled_ || (co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none)
            throw net::client_error(net::errc::cancelled, "turn cancelled");
        // A model whose context is smaller than the history budget refuses the request ("prompt
        // is too long"): the session's budget is lowered and the request made again, leaving
        // more of the oldest turns out, while that leaves anything out.
        std::optional<net::message_stream> opened;
        while (!opened) {
            try {
                opened.emplace(co_await open_turn_stream(text));
            } catch (const net::client_error& e) {
                if (!shrink_for_context(e)) throw;
            }
        }
        auto stream = std::move(*opened);
        if (rt_->config().respect_rate_limits) rt_->gate().observe(stream.response().limits);
        try {
            co_await stream.read_all([this, &on_delta](const net::stream_event& ev) {
                if (on_delta && ev.is_text_delta()) {
                    delta_received_at_ = ev.received_at;
                    on_delta(ev.text());
                }
            });
        } catch (...) {
            // Cut off (cancelled, timed out, the connection lost, a callback's throw): the tokens
            // the stream reported before that (message_start's input at least) are billed all the
            // same, and a host metering usage must see them.
            if (const auto u = stream.current().usage(); u.input_tokens || u.output_tokens) count_usage(u);
            throw;
        }
        net::message reply = stream.release_message();
        finish_turn(reply);
        scope.commit();
        co_return reply;
    }

    /// The turn, run on the session's strand. A coroutine of its own: what the hop needs stays
    /// out of send()'s frame, which every waiting turn holds (thousands at once).
    asio::awaitable<net::message> send_on_strand(std::shared_ptr<session_impl> self, std::string text,
                                                 delta_callback on_delta) {
        // The caller's cancellation reaches the turn through a signal of our own, emitted on
        // the strand by a handler that owns it. Boost 1.81's co_spawn would forward it with a
        // raw pointer into the caller's slot, which a turn completing at that moment frees
        // (chriskohlhoff/asio#1332).
        auto hop = std::make_shared<asio::cancellation_signal>();
        if (auto slot = (co_await asio::this_coro::cancellation_state).slot(); slot.is_connected())
            slot.assign([hop, strand = strand_](asio::cancellation_type type) {
                asio::dispatch(strand, [hop, type] { hop->emit(type); });
            });
        co_return co_await asio::co_spawn(strand_, send(self, std::move(text), std::move(on_delta), true),
                                          asio::bind_cancellation_slot(hop->slot(), asio::use_awaitable));
    }

    /// Queues the end of the session. The extraction counter is raised at once, so
    /// drain_extractions() and shutdown() wait for what this end will journal and queue.
    void end() {
        if (end_requested_.exchange(true)) return;
        rt_->extractions().add();
        if (agent_->remember) rt_->memory_pending_add(info_.user_id);  // until its memory is saved (or not)
        // A non-coroutine lambda owns `self` for as long as do_end runs (the handle may be gone).
        auto self = shared_from_this();
        asio::co_spawn(strand_, [self] { return self->do_end(); }, asio::detached);
    }

    /// Cancels the running turn's model call (shutdown after the grace period).
    void cancel_turn() {
        auto self = shared_from_this();
        asio::dispatch(strand_, [self] {
            // From taking the turn lock to its first wait a turn does not suspend, so a busy
            // session's turn is listening on turn_cancel_ by now, or will see turn_cancelled_.
            if (!self->busy_) return;
            self->turn_cancelled_ = true;
            self->turn_cancel_.emit(asio::cancellation_type::terminal);
        });
    }

    void start_idle_watch() {
        if (rt_->config().idle_timeout.count() <= 0) return;
        asio::dispatch(strand_, [self = shared_from_this()] { self->arm_idle_timer(); });
    }
    /// For good: the timer is cancelled and never armed again (the runtime was abandoned).
    void stop_idle_watch() {
        asio::dispatch(strand_, [self = shared_from_this()] {
            self->idle_stopped_ = true;
            self->idle_timer_.cancel();
        });
    }

    bool busy() const noexcept { return busy_.load(); }

private:
    void throw_unless_open() const {
        if (ended_) throw runtime_error(errc::session_ended, "session " + info_.session_id + " has ended");
        if (rt_->shutting_down()) throw runtime_error(errc::shutting_down, "the runtime is shutting down");
    }

    /// Waits (on the strand) until the running turn hands the turn lock over; it returns holding
    /// the lock. With `policy_applies`, busy_policy::refuse fails instead. A wait cancelled by
    /// the caller throws net::client_error(cancelled), like a turn cancelled later on.
    asio::awaitable<void> wait_for_turn(bool policy_applies) {
        if (policy_applies && rt_->config().busy == busy_policy::refuse)
            throw runtime_error(errc::session_busy, "session " + info_.session_id + " is busy with another turn");
        auto w = std::make_shared<turn_waiter>(strand_);
        turn_waiters_.push_back(w);
        // However the wait ends (granted, cancelled, or its frame destroyed), the waiter leaves
        // the queue, and a lock handed to a waiter that will not take it goes on to the next:
        // a dead waiter must never swallow the wake-up of a live one behind it.
        struct leave_queue {
            session_impl& s;
            const std::shared_ptr<turn_waiter>& w;
            bool taken = false;
            ~leave_queue() {
                if (!w->granted) std::erase(s.turn_waiters_, w);
                else if (!taken) s.unlock_turn();
            }
        } guard{*this, w};
        co_await w->timer.async_wait(asio::as_tuple(asio::use_awaitable));
        // A grant and the caller's cancellation can cross: a cancelled caller does not take the
        // lock (its next co_await would throw anyway), it passes it on.
        const bool cancelled = (co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none;
        if (!w->granted || cancelled)
            throw net::client_error(net::errc::cancelled, "turn cancelled while waiting for the session's previous turn");
        guard.taken = true;
    }
    /// Hands the lock to the oldest waiter, if any (busy_ stays set): a send that reaches the
    /// strand before that waiter resumes queues behind it instead of overtaking it.
    void unlock_turn() {
        last_activity_ = steady::now();
        if (turn_waiters_.empty()) {
            busy_ = false;
            return;
        }
        auto next = std::move(turn_waiters_.front());
        turn_waiters_.erase(turn_waiters_.begin());
        next->granted = true;
        next->timer.cancel();
    }

    /// A turn from taking the lock to its end: counts it in flight and releases the lock. A
    /// turn that did not commit (it failed or was cancelled) takes its user message back out
    /// of the history, so the next send starts from the same history.
    class turn_scope {
    public:
        explicit turn_scope(session_impl& s) : s_(s) {
            s_.turn_cancelled_ = false;
            s_.rt_->turns_in_flight().add();
        }
        ~turn_scope() {
            if (!committed_) {
                std::lock_guard lock(s_.mutex_);
                if (s_.history_.back_is_user()) s_.history_.pop_back();
            }
            s_.rt_->turns_in_flight().done();
            s_.unlock_turn();
        }
        void commit() noexcept { committed_ = true; }
        turn_scope(const turn_scope&) = delete;
        turn_scope& operator=(const turn_scope&) = delete;

    private:
        session_impl& s_;
        bool committed_ = false;
    };

    void check_fits_history(const std::string& text) const {
        if (const auto chars = memory::code_points(text); chars > rt_->config().max_history_chars)
            throw runtime_error(errc::message_too_large, "the message (" + std::to_string(chars) +
                                                             " characters) exceeds the history budget of " +
                                                             std::to_string(rt_->config().max_history_chars));
    }

    /// Adds the user's message to the history and opens the model's stream. No coroutine of its
    /// own: the request then lives only in the client's frame, not also in send()'s, which every
    /// waiting turn holds (thousands at once).
    asio::awaitable<net::message_stream> open_turn_stream(const std::string& text) {
        auto request = begin_turn(text);
        prepare_model_call(request);
        return rt_->client().stream_message(std::move(request));
    }

    /// Adds the user's message to the history and makes the request (check_fits_history first).
    net::message_request begin_turn(const std::string& text) {
        std::lock_guard lock(mutex_);
        history_.push_text("user", text);
        // The oldest turns that do not fit are left out of the request, but dropped from the
        // history only once the turn succeeded (finish_turn): a failed turn leaves it as it was.
        sent_from_ = history_.fit_from(history_budget_locked());
        return agents::chat_request(*agent_, system_json_, history_.json().subspan(sent_from_));
    }

    /// (mutex_) The history budget: runtime_config::max_history_chars, or less once the model
    /// refused this session's prompt as longer than its context (shrink_for_context).
    std::size_t history_budget_locked() const {
        const std::size_t configured = rt_->config().max_history_chars;
        return context_budget_ > 0 ? std::min(context_budget_, configured) : configured;
    }

    /// After the model refused the turn's request as longer than its context: lowers the
    /// session's history budget to the share of the text sent that fits (with a margin for the
    /// system prompt and the estimate), and takes the turn's user message back out for
    /// begin_turn to add again. False, changing nothing, for any other error, or when the lower
    /// budget would leave no more out (the newest message alone is too long).
    bool shrink_for_context(const net::client_error& e) {
        const auto fits = context_fraction(e);
        if (!fits) return false;
        std::size_t budget = 0;
        {
            std::lock_guard lock(mutex_);
            const auto sent = history_.chars_from(sent_from_);
            budget = static_cast<std::size_t>(static_cast<double>(sent) * *fits * 0.85);
            if (history_.fit_from(budget) <= sent_from_ || !history_.back_is_user()) return false;
            context_budget_ = budget;
            history_.pop_back();
        }
        rt_->notice(info_, "the model's context is smaller than the history budget: session " + info_.session_id +
                               " now sends at most " + std::to_string(budget) +
                               " characters of history, its oldest turns left out (" + e.what() + ")");
        return true;
    }

    /// Keeps the reply in the history. The API refuses, in every later request, an assistant
    /// message without content or with a blank text block: such blocks are left out, and a reply
    /// with nothing else fails the turn (which then leaves no trace, so the session goes on).
    void finish_turn(const net::message& reply) {
        const auto& content = reply.content();
        const bool any_blank = std::any_of(content.begin(), content.end(), is_blank_text);
        json::array kept;
        if (any_blank)
            for (const auto& block : content)
                if (!is_blank_text(block)) kept.push_back(block);
        const bool empty = any_blank ? kept.empty() : content.empty();
        std::size_t dropped = 0;
        {
            std::lock_guard lock(mutex_);
            if (!empty) {
                dropped = history_.trim(history_budget_locked());  // what begin_turn left out
                history_.push("assistant", any_blank ? kept : content);
            }
        }
        count_usage(reply.usage());  // billed all the same
        // Outside the lock: a hook may well ask the session for its history size.
        if (dropped > 0)
            rt_->notice(info_, "history budget reached: dropped the " + std::to_string(dropped) +
                                   " oldest messages of session " + info_.session_id +
                                   " (the memory extraction still reads the start of the session)");
        if (empty)
            throw runtime_error(errc::empty_reply, "the model's reply (stop_reason \"" + std::string(reply.stop_reason()) +
                                                       "\") had no content; the turn was not kept");
        rt_->call_hook(&runtime_hooks::on_turn_finished, info_, reply);
    }

    /// Counts a turn's tokens for the session and its user.
    void count_usage(const net::usage& u) {
        {
            std::lock_guard lock(mutex_);
            usage_.add(u);
        }
        rt_->add_usage(info_.user_id, u);
    }

    /// The gate has no free slot: wait for one (a coroutine of its own, for this rare case).
    asio::awaitable<std::optional<request_gate::permit>> wait_for_gate() {
        co_return co_await rt_->gate().acquire(request_gate::priority::interactive, [this](auto wait) {
            rt_->notice(info_, "rate limit reached: waiting " + seconds_text(wait) + " for the window to reset");
        }, turn_cancel_.slot());
    }

    void prepare_model_call(net::message_request& req) {
        req.on_retry = [this](const net::retry_notice& n) {
            rt_->notice(info_, "request failed (" + n.reason + "); retrying in " + seconds_text(n.delay));
        };
        req.cancel_slot = turn_cancel_.slot();  // what cancel_turn() emits
    }

    asio::awaitable<void> do_end() {
        struct counted {
            runtime_impl* rt;
            const session_info& info;
            bool pending;  // end() marked the user's memory pending; the extraction worker takes it over
            ~counted() {
                rt->extractions().done();  // balances the add() in end()
                if (pending) rt->memory_pending_done(info.user_id);
            }
        } count_guard{rt_.get(), info_, agent_->remember};
        if (busy_) co_await wait_for_turn(false);  // a running turn finishes first and is part of the transcript
        busy_ = true;
        struct unlock {
            session_impl* s;
            ~unlock() { s->unlock_turn(); }
        } guard{this};
        if (ended_.exchange(true)) co_return;
        idle_timer_.cancel();
        std::string transcript;  // only for an agent that remembers a session with a reply
        bool any_reply = false;
        {
            std::lock_guard lock(mutex_);
            any_reply = history_.has_reply();
            // Bounded as a request is (the extraction model's context is no larger than the chat's).
            // A key the user pasted into the chat is not written to the journal, nor from there
            // into lasting memory and every later prompt.
            if (any_reply && agent_->remember)
                transcript = net::redact_key(history_.transcript(history_budget_locked()),
                                             rt_->config().client.api_key);
        }
        rt_->call_hook(&runtime_hooks::on_session_end, info_);
        closed_ = true;
        rt_->session_closed(info_.session_id);
        if (!any_reply || !agent_->remember) co_return;  // nothing to remember

        // Durable before extraction starts: a crash from here on is finished at the next start.
        const std::string finished_at = memory::utc_now();
        memory::pending_job job{info_.user_id, info_.session_id, finished_at,
                                json::serialize(json::object{{"agent", info_.agent}, {"transcript", transcript}})};
        auto r = co_await rt_->memory().async_journal_add(std::move(job), asio::use_awaitable);
        if (!r) {
            memory_event ev = event_for(info_);
            ev.error = "could not journal the session: " + r.error().what();
            rt_->report(ev);
            co_return;
        }
        count_guard.pending = false;  // the worker marks it done once the memory is merged (or failed)
        rt_->requeue_parked(info_.user_id);  // ahead of this session, in order
        rt_->enqueue_extraction(extraction_job{info_, std::move(transcript), false, finished_at, {}, {}});
    }

    /// (strand) Waits for the idle timeout, with a plain handler: thousands of sessions wait
    /// here, and a coroutine would cost each one a frame. The handler holds the session, so one
    /// whose handles were all dropped without end() is still ended (and saved) by it.
    void arm_idle_timer() {
        // An end (or the runtime's abandonment) that came first, even before the first arming
        // (start_idle_watch races with a shutdown's end()), must not leave a timer holding the
        // session for another idle period.
        if (ended_ || end_requested_ || idle_stopped_) return;
        const auto idle = rt_->config().idle_timeout;
        // While a turn runs the session is not idle: look again a whole period later (the turn's
        // end moves last_activity_ on).
        idle_timer_.expires_at(busy_ ? steady::now() + idle : last_activity_ + idle);
        idle_timer_.async_wait([self = shared_from_this()](boost::system::error_code) { self->on_idle_timer(); });
    }
    void on_idle_timer() {
        if (ended_ || end_requested_) return;  // do_end() cancelled the wait, or will
        const auto idle = rt_->config().idle_timeout;
        if (!busy_ && steady::now() >= last_activity_ + idle) {
            rt_->notice(info_, "session " + info_.session_id + " idle for " +
                                   std::to_string(std::chrono::duration_cast<std::chrono::seconds>(idle).count()) + " s: ending it");
            end();
            return;
        }
        arm_idle_timer();  // activity moved the deadline on
    }

    std::shared_ptr<runtime_impl> rt_;
    asio::any_io_executor strand_;
    std::chrono::steady_clock::time_point delta_received_at_{};  // written and read on strand_ only
    const session_info info_;
    const std::shared_ptr<const agents::agent_definition> agent_;
    const std::string memory_block_;
    const std::size_t remembered_;
    const std::string system_json_;  // frozen for the session so the prompt cache holds

    mutable std::mutex mutex_;  // guards history_ and usage_ for readers on other threads
    message_history history_;
    usage_totals usage_;
    std::size_t sent_from_ = 0;      // (mutex_) the first message the running turn's request sent
    std::size_t context_budget_ = 0; // (mutex_) the history budget the model's context allows; 0: none found

    std::atomic<bool> busy_{false};
    std::atomic<bool> ended_{false};
    std::atomic<bool> end_requested_{false};
    struct turn_waiter {
        explicit turn_waiter(const asio::any_io_executor& ex) : timer(ex, steady::time_point::max()) {}
        asio::steady_timer timer;
        bool granted = false;  // (strand_) unlock_turn() handed it the lock
    };
    // Oldest first; empty whenever busy_ is false. A vector, not a deque: libstdc++'s deque
    // allocates 576 bytes up front, for every session, and turns rarely queue.
    std::vector<std::shared_ptr<turn_waiter>> turn_waiters_;
    asio::cancellation_signal turn_cancel_;  // emitted on strand_ only, by cancel_turn()
    bool turn_cancelled_ = false;            // (strand_) the running turn was cancelled
    asio::steady_timer idle_timer_;
    bool idle_stopped_ = false;  // (strand_) stop_idle_watch() was called
    bool closed_ = false;        // (strand_) left the runtime's session table (session_closed)
    steady::time_point last_activity_ = steady::now();

    friend class runtime_impl;
};

// ---- runtime_impl ----

void runtime_impl::abandon() {
    {
        std::lock_guard lock(mutex_);
        // A shutdown under way finishes on its own (its coroutine holds the runtime): stopping
        // the actor under it would lose the transcripts of the sessions it is ending.
        if (shutdown_started_) return;
        abandoned_ = true;
    }
    shutting_down_ = true;
    stop_connection_check(take_connection_check());
    // What would keep the executor busy for minutes: idle timers (30 min by default) holding
    // their sessions, turns streaming, extractions waiting for the model.
    for (const auto& s : open_sessions()) {
        s->stop_idle_watch();
        s->cancel_turn();
    }
    cancel_extractions();
    cut_retry_waits();
    stop_actor();
}

asio::awaitable<void> runtime_impl::check_idle_connections(std::weak_ptr<runtime_impl> weak,
                                                         std::shared_ptr<asio::steady_timer> timer,
                                                         std::chrono::milliseconds every) {
    for (;;) {
        {
            // A stop takes the timer away, then cancels it on this strand: one that came before
            // this wait began found nothing to cancel, and the wait would hold the executor for
            // a whole interval. Looked at here, in the same step that begins the wait.
            auto self = weak.lock();
            if (!self || self->shutting_down()) co_return;
            std::lock_guard lock(self->mutex_);
            if (self->connection_check_ != timer) co_return;
        }
        timer->expires_after(every);
        auto [ec] = co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
        auto self = weak.lock();
        if (ec || !self || self->shutting_down()) co_return;
        self->client().prune_idle_connections();
        std::lock_guard lock(self->mutex_);
        if (self->connection_check_ != timer) co_return;  // stopped, and maybe another started
        std::erase_if(self->sessions_, [](const auto& kv) { return kv.second.expired(); });
        if (self->sessions_.empty()) {
            self->connection_check_.reset();
            co_return;
        }
    }
}

std::shared_ptr<asio::steady_timer> runtime_impl::new_connection_check_locked() {
    if (connection_check_ || cfg_.idle_connection_check_interval.count() <= 0 || shutting_down()) return nullptr;
    connection_check_ = std::make_shared<asio::steady_timer>(asio::make_strand(executor_));
    return connection_check_;
}

void runtime_impl::start_connection_check(std::shared_ptr<asio::steady_timer> timer) {
    // Not under mutex_: the coroutine's first step may run inside co_spawn, and it takes the
    // mutex. It holds the runtime weakly: a runtime dropped without shutdown() is not kept.
    auto ex = timer->get_executor();
    asio::co_spawn(ex, check_idle_connections(weak_from_this(), std::move(timer), cfg_.idle_connection_check_interval),
                   asio::detached);
}

runtime_impl::start_step runtime_impl::claim_start() {
    std::lock_guard lock(mutex_);
    // After shutdown() (or the handle's destruction) nothing may start again: an actor
    // started then would never be stopped, and io_context::run() would never return.
    if (shutting_down()) throw runtime_error(errc::shutting_down, "the runtime is shutting down");
    if (start_state_ == start_state::started) return start_step::done;
    if (start_state_ == start_state::starting) return start_step::wait;
    start_state_ = start_state::starting;
    start_running_.add();
    return start_step::run;
}

asio::awaitable<void> runtime_impl::start() {
    // A call made while another runs waits for it (it suspends while the journal is read): it
    // returning at once, before the runtime had started, made the caller's next open_session()
    // fail as not_started. If that start fails, the next waiter tries in its turn.
    start_step step;
    while ((step = claim_start()) == start_step::wait)
        if (!co_await start_running_.wait(steady::time_point::max()))
            throw boost::system::system_error(asio::error::operation_aborted, "stopped waiting for start()");
    if (step == start_step::done) co_return;
    // A failed start() leaves nothing running and may be tried again (once the directory is
    // usable or the limit raised); it must not turn later calls into silent no-ops.
    struct idle_unless_started {
        runtime_impl& rt;
        bool ok = false;
        ~idle_unless_started() {
            {
                std::lock_guard lock(rt.mutex_);
                rt.start_state_ = ok ? start_state::started : start_state::idle;
            }
            rt.start_running_.done();
        }
    } state_guard{*this};
    if (cfg_.min_open_files > 0)
        if (auto why = ensure_open_files(cfg_.min_open_files); !why.empty()) throw runtime_error(errc::resource_limit, why);
    memory::store_options so;
    so.directory = cfg_.memory_directory;
    so.fs = cfg_.memory_filesystem;
    auto opened = memory::store::open(so);
    if (!opened) throw runtime_error(errc::memory_error, "cannot open the memory directory: " + opened.error().what());
    store_ = *opened;
    {
        std::lock_guard lock(mutex_);
        actor_ = std::make_unique<memory::memory_actor>(executor_, threads_->io_executor(), store_);
        if (abandoned_) actor_->stop();  // abandoned meanwhile: it only drains (nothing); a shutdown stops it itself
    }
    actor_running_.add();
    threads_->actor_started();
    // Weak: the actor stops only when shutdown() or the runtime's destruction says so, and a
    // handler owning the runtime would keep it (and the embedder's io_context) alive forever.
    // The threads are shared instead: the actor's writes need them until it has finished.
    actor_->async_run([weak = weak_from_this(), threads = threads_] {
        threads->actor_finished();
        if (auto self = weak.lock()) self->actor_running_.done();
    });

    // Without transcripts: after an outage the journal may hold more text than the process
    // should hold at once. Each is read when its job's turn comes.
    auto pending = co_await actor_->async_pending_jobs(memory::journal_detail::without_transcripts, asio::use_awaitable);
    if (!pending) {
        const bool refused = pending.error().code == memory::errc::shutting_down;  // abandoned meanwhile
        actor_->stop();
        co_await actor_running_.wait(steady::time_point::max());
        {
            std::lock_guard lock(mutex_);
            actor_.reset();
        }
        store_.reset();
        if (refused) throw runtime_error(errc::shutting_down, "the runtime is shutting down");
        throw runtime_error(errc::memory_error, "cannot read the pending-job journal: " + pending.error().what());
    }
    for (auto& job : *pending) {
        // Set aside after its failed passes: replayed again only once journal_retry clears them.
        // Said at every start, so that a host's log shows each session whose memory waits on
        // someone, not only `engram memory failed`.
        if (cfg_.set_aside_after_failed_passes > 0 && job.failed_passes >= cfg_.set_aside_after_failed_passes) {
            memory_event ev;
            ev.user_id = job.user_id;
            ev.session_id = job.session_id;
            ev.set_aside = true;
            ev.error = "set aside after " + std::to_string(job.failed_passes) + " failed memory passes" +
                       (job.last_failure.empty() ? std::string() : " (the last: " + job.last_failure + ")") +
                       ": not replayed at start until memory::store::journal_retry clears it";
            report(ev);
            continue;
        }
        extraction_job ej;
        ej.info = session_info{job.session_id, job.user_id, "assistant"};
        ej.finished_at = job.created_at;  // the session's end, not this start's
        ej.in_journal = true;
        memory_pending_add(ej.info.user_id);
        enqueue_extraction(std::move(ej));
    }
    state_guard.ok = true;
}

asio::awaitable<session> runtime_impl::open_session(std::string agent_name, std::string user_id) {
    if (shutting_down()) throw runtime_error(errc::shutting_down, "the runtime is shutting down");
    {
        // Started means the journal's jobs are queued too: a user's unmerged sessions are
        // waited for (wait_for_pending_memory) before the memory is loaded.
        std::lock_guard lock(mutex_);
        if (start_state_ != start_state::started) throw runtime_error(errc::not_started, "runtime::start() has not completed");
        // Before the hook and the memory load, so a refused open costs neither; checked again
        // as the session joins the table, for opens that were loading meanwhile.
        check_room_for_a_session_locked();
    }
    auto agent = find_agent(agent_name);
    if (!agent) throw runtime_error(errc::unknown_agent, "no agent named '" + agent_name + "'");
    // Checked for every agent, a stateless one too (which never asks the memory store): the id
    // goes into the system prompt and the hooks.
    if (auto ok = memory::encode_user_id(user_id); !ok)
        throw runtime_error(errc::memory_error, "unusable user id: " + ok.error().what());
    session_info info{new_session_id(), user_id, agent_name};
    if (auto h = hooks(); h->on_session_open && !h->on_session_open(info))
        throw runtime_error(errc::vetoed, "a hook refused session " + info.session_id);
    // A session the hook let open and that then fails to open (its memory cannot be loaded, a
    // shutdown began meanwhile, the caller gave up waiting) is ended for the hooks too: a host
    // counting or allocating per session in the two hooks must see both. (Not from a guard's
    // destructor: that would also run when the io_context destroys a frame it never resumed,
    // after the host's state may be gone.)
    const session_info opening = info;
    try {
        memory::result<memory::user_memory> loaded = memory::user_memory{};
        if (agent->remember) requeue_parked(user_id);  // the user is back: their memory is wanted now
        if (agent->remember && !co_await wait_for_pending_memory(user_id))
            notice(info, "the memory of " + user_id + "'s previous session is still being saved; this session opens without it");
        if (agent->remember) {  // a stateless agent neither reads nor writes memory
            loaded = co_await actor_->async_load(user_id, asio::use_awaitable);
            // A record this build cannot read (a newer engram wrote it, as during a rolling upgrade
            // of processes sharing the directory) is left alone by the store; the session still
            // opens, without it, and its job waits in the journal for a build that can merge it.
            if (!loaded && loaded.error().code == memory::errc::unsupported_record) {
                notice(info, "the memory of " + user_id + " cannot be read by this build (" + loaded.error().what() +
                                 "); this session opens without it, and what it learns waits in the journal for a build that can");
                loaded = memory::user_memory{};
            }
            if (!loaded)
                throw runtime_error(errc::memory_error, "cannot load the memory of user '" + user_id + "': " + loaded.error().what());
        }
        std::string block = memory::render_for_prompt(*loaded, agents::render_options_for(*agent));
        auto impl = std::make_shared<session_impl>(shared_from_this(), std::move(info), std::move(agent), std::move(block),
                                                   remembered_items(*loaded));
        std::shared_ptr<asio::steady_timer> check;
        {
            std::lock_guard lock(mutex_);
            if (shutting_down()) throw runtime_error(errc::shutting_down, "the runtime is shutting down");
            if (++opens_since_sweep_ >= 1024) {  // now and then, forget sessions dropped without end()
                opens_since_sweep_ = 0;
                std::erase_if(sessions_, [](const auto& kv) { return kv.second.expired(); });
            }
            check_room_for_a_session_locked();
            sessions_[impl->info().session_id] = impl;
            check = new_connection_check_locked();
        }
        if (check) start_connection_check(std::move(check));
        impl->start_idle_watch();
        co_return session(impl);
    } catch (...) {
        call_hook(&runtime_hooks::on_session_end, opening);
        throw;
    }
}

void runtime_impl::requeue_parked(const std::string& user) {
    queue_jobs(user, {}, /*parked=*/true);
}

void runtime_impl::park_locked(extraction_job job) {
    // Its transcript is in the journal (every queued job was journaled first): read again when
    // its turn comes, rather than held, with what the model distilled and the memory it was
    // distilled from, through an outage for every user it hit.
    job.transcript = std::string();
    job.in_journal = true;
    job.distilled.reset();
    job.distilled_from = memory::user_memory{};
    parked_[job.info.user_id].push_back(std::move(job));
}

void runtime_impl::enqueue_extraction(extraction_job job) {
    const std::string user = job.info.user_id;
    std::deque<extraction_job> one;
    one.push_back(std::move(job));
    queue_jobs(user, std::move(one), /*parked=*/false);
}

void runtime_impl::queue_jobs(const std::string& user, std::deque<extraction_job> jobs, bool parked) {
    bool spawn = false;
    std::shared_ptr<asio::cancellation_signal> signal;
    std::optional<asio::strand<asio::any_io_executor>> strand;
    {
        std::lock_guard lock(mutex_);
        auto& q = queues_[user];
        if (parked) {
            // The user's parked jobs go back to the front of the queue, in order, and count as
            // pending and queued in the same step: a session ending or opening on another thread
            // sees them either parked or queued, never neither. A shutdown does not wait for
            // them (they are merged at the next start).
            auto it = parked_.find(user);
            if (shutting_down() || it == parked_.end()) {
                if (q.empty() && !active_users_.contains(user)) queues_.erase(user);
                return;
            }
            jobs.assign(std::make_move_iterator(it->second.begin()), std::make_move_iterator(it->second.end()));
            parked_.erase(it);
            memory_pending_[user] += jobs.size();
            q.insert(q.begin(), std::make_move_iterator(jobs.begin()), std::make_move_iterator(jobs.end()));
        } else {
            q.insert(q.end(), std::make_move_iterator(jobs.begin()), std::make_move_iterator(jobs.end()));
        }
        // Counted before the worker can take them (it counts each one done).
        for (std::size_t i = 0; i < jobs.size(); ++i) extractions_.add();
        if (active_users_.insert(user).second) {
            spawn = true;
            signal = std::make_shared<asio::cancellation_signal>();
            strand = asio::make_strand(executor_);
            worker_cancel_[user] = signal;
            worker_strands_.insert_or_assign(user, *strand);
        }
    }
    // One worker per user keeps that user's extractions in order (the second sees the first's
    // result); different users' workers run in parallel.
    if (spawn) {
        auto self = shared_from_this();
        // The worker is bound to `signal` until its coroutine frame is gone, which is after this
        // completion handler has run (co_spawn calls it from the frame's last step, and clears
        // the slot before that when the worker never suspended). worker_cancel_ lets go of the
        // signal as the worker ends, so the handler keeps it, and lets go of it only once the
        // frame's teardown is over: in a handler of its own.
        asio::co_spawn(*strand, [self, user] { return self->extraction_worker(user); },
                       asio::bind_cancellation_slot(signal->slot(), [ex = executor_, signal](std::exception_ptr) {
                           asio::post(ex, [signal] {});
                       }));
    }
}

asio::awaitable<void> runtime_impl::extraction_worker(std::string user) {
    // When the user's parked sessions are tried again (never for a host that retries nothing).
    const std::string again = "; tried again when the user opens a session or another of their sessions ends, and "
                              "at the next start";
    for (;;) {
        extraction_job job;
        bool held_back = false, behind_parked = false, abandoned = false;
        session_info parked_info;
        {
            std::lock_guard lock(mutex_);
            auto& q = queues_[user];
            if (q.empty()) {
                queues_.erase(user);
                active_users_.erase(user);
                worker_cancel_.erase(user);
                worker_strands_.erase(user);
                co_return;
            }
            job = std::move(q.front());
            q.pop_front();
            held_back = held_back_users_.count(user) > 0;
            // Read once: a job parked below must not be taken for an abandoned one after.
            abandoned = abandon_extractions_;
            // Taken, checked and parked in one step: a requeue in between would otherwise put
            // the parked ones behind this one.
            behind_parked = !held_back && !abandoned && parked_.contains(user);
            if (behind_parked) {
                parked_info = job.info;
                park_locked(std::move(job));
            }
        }
        // Whatever ends the job, the user's next session and drain_extractions() stop waiting for it.
        struct job_done {
            runtime_impl& rt;
            const std::string& user;
            ~job_done() {
                rt.memory_pending_done(user);
                rt.extractions_.done();
            }
        } done{*this, user};
        // A session left unmerged has its outcome too: a host tracking one per ended session
        // would otherwise wait for it forever.
        const auto not_merged = [this](const session_info& info, std::string why) {
            memory_event ev = event_for(info);
            ev.error = std::move(why);
            report(ev);
        };
        if (abandoned) {
            not_merged(job.info, "not merged: the runtime stopped before its turn (the shutdown's grace period ran out, or "
                                 "the runtime was destroyed); the session stays in the journal and is merged at the next start");
            continue;
        }
        if (held_back) {
            not_merged(job.info, "not merged yet: an earlier session of this user could not be merged; the session stays in "
                                 "the journal and is merged after it at the next start");
            continue;
        }
        if (behind_parked) {
            // It waits with the earlier one, untried: merged in the order they ended once the
            // user is back, and no model call is spent on it while the earlier one cannot be.
            not_merged(parked_info, "not merged yet: an earlier session of this user is still to be merged; the session "
                                    "stays in the journal and is merged after it" +
                                        (shutting_down() ? std::string(" at the next start") : again));
            continue;
        }
        // A failure that may pass is tried again here, before this user's later sessions (their
        // queue waits), rather than at the next start, after them: merged then, an old session's
        // preferences and summary would have overwritten newer ones. One that was parked before
        // (its round of waits ran out) and is back because its user is, is tried once.
        const std::size_t retries_allowed = job.parked_rounds > 0 ? 0 : cfg_.extraction_retry_delays.size();
        std::size_t retries = 0;
        for (;;) {
            std::optional<std::string> failure;
            bool may_pass = false;
            bool too_large = false;  // the session's own text refused: counted (count_failed_pass)
            try {
                failure = co_await run_extraction(job);
                may_pass = failure.has_value();
            } catch (const net::client_error& e) {
                failure = e.what();
                may_pass = passes(e);
                too_large = refused_as_too_large(e);
            } catch (const std::exception& e) {
                failure = e.what();
            } catch (...) {
                failure = "unknown exception";
            }
            if (!failure) break;
            bool retry = false;
            if (may_pass && retries < retries_allowed && !abandon_extractions_)
                retry = co_await wait_to_retry(user, cfg_.extraction_retry_delays[retries]);
            if (retry) {
                ++retries;
                continue;
            }
            // Read once: a shutdown setting the flag between two reads would leave this job
            // neither held back nor parked, and a session the shutdown ends merged ahead of it.
            const bool stopping = shutting_down();
            if (may_pass && stopping) {
                // Shutdown cut the wait: this job stays journaled, and so do the user's later
                // ones (the sessions the shutdown ends queue up even after this worker is
                // gone), so that the next start merges them after it. Merged now, they would
                // make it a late session, whose changes of the same things are kept out.
                std::lock_guard lock(mutex_);
                held_back_users_.insert(user);
            }
            memory_event ev = event_for(job.info);
            ev.error = "extraction failed, the session stays in the journal: " + *failure;
            if (retries > 0) ev.error += " (tried " + std::to_string(retries + 1) + " times)";
            if (too_large && !may_pass) co_await count_failed_pass(ev, *failure);
            // Parked: the process keeps it (the journal has it too) until its user is back. Not by
            // a host that retries nothing (the command line: one session per process), and not
            // after its third round: taken to be stuck on something of its own (a
            // transcript the model keeps timing out on), it no longer holds the user's later
            // sessions back nor costs a model call at each of their returns; the next start tries it.
            if (may_pass && !stopping && !abandon_extractions_ && !cfg_.extraction_retry_delays.empty() &&
                job.parked_rounds + 1 < rounds_a_parked_session_holds_later_ones) {
                ev.error += again;
                ++job.parked_rounds;
                std::lock_guard lock(mutex_);
                park_locked(std::move(job));
            } else if (may_pass && job.parked_rounds > 0) {
                ev.error += "; it is tried again at the next start";
            }
            report(ev);
            break;
        }
    }
}

asio::awaitable<void> runtime_impl::count_failed_pass(memory_event& ev, std::string why) {
    const unsigned limit = cfg_.set_aside_after_failed_passes;
    if (limit == 0) co_return;
    auto n = co_await actor_->async_journal_record_failure(ev.user_id, ev.session_id, std::move(why), asio::use_awaitable);
    if (!n) {
        // Merged or erased meanwhile (by another process): there is nothing left to count.
        if (n.error().code != memory::errc::not_found) ev.error += "; the failure could not be counted in the journal: " + n.error().what();
        co_return;
    }
    ev.set_aside = *n >= limit;
    if (ev.set_aside)
        ev.error += "; set aside after " + std::to_string(*n) +
                    " such failures: no longer replayed at start (memory::store::journal_retry replays it again)";
    else
        ev.error += " (failure " + std::to_string(*n) + " of " + std::to_string(limit) + " before it is set aside)";
}

asio::awaitable<bool> runtime_impl::wait_to_retry(const std::string& user, std::chrono::milliseconds delay) {
    auto timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor, delay);
    bool registered = false;
    {
        // Registered under the lock that shutdown's cut_retry_waits() takes after setting the
        // flag: either this sees the shutdown, or the shutdown sees this timer.
        std::lock_guard lock(mutex_);
        if (!shutting_down()) {
            retry_timers_[user] = timer;
            registered = true;
        }
    }
    if (!registered) co_return false;
    auto [ec] = co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
    {
        std::lock_guard lock(mutex_);
        retry_timers_.erase(user);
    }
    co_return !ec && !shutting_down();
}

void runtime_impl::cut_retry_waits() {
    std::vector<std::pair<std::shared_ptr<asio::steady_timer>, asio::strand<asio::any_io_executor>>> waits;
    {
        std::lock_guard lock(mutex_);
        for (auto& [user, timer] : retry_timers_) waits.emplace_back(timer, worker_strands_.at(user));
    }
    // A timer is its worker's: cancelled on the worker's strand.
    for (auto& [timer, strand] : waits) asio::dispatch(strand, [timer] { timer->cancel(); });
}

asio::awaitable<runtime_impl::extraction_reply> runtime_impl::call_extraction_model(
    std::string user, net::message_request req, std::optional<request_gate::permit>& held) {
    std::optional<request_gate::permit> permit;
    // A slot held since before the job read its memory: a rate-limit pause that began meanwhile
    // is waited out as a new request would.
    if (held && gate_->pause_remaining().count() == 0) permit = std::move(held);
    held.reset();
    if (!permit) permit.emplace(co_await gate_->acquire(request_gate::priority::background, {}, {}, user));
    auto msg = co_await client_->create_message(std::move(req));
    add_usage(user, msg.usage());
    co_return extraction_reply{msg.text(), msg.stop_reason() == "max_tokens"};
}

asio::awaitable<runtime_impl::distillation> runtime_impl::distill(const extraction_job& job,
                                                                 const agents::agent_definition& agent,
                                                                 memory_event& ev,
                                                                 std::optional<request_gate::permit>& held) {
    distillation out;
    auto loaded = co_await actor_->async_load(job.info.user_id, asio::use_awaitable);
    if (!loaded) {
        if (passes(loaded.error().code)) {
            out.passing_failure = "cannot load memory: " + loaded.error().what();
            co_return out;
        }
        ev.error = "cannot load memory: " + loaded.error().what();
        report(ev);
        co_return out;
    }
    auto reply =
        co_await call_extraction_model(job.info.user_id, agents::extraction_request(agent, *loaded, job.transcript), held);
    auto update = memory::parse_extraction_reply(reply.text);
    if (!update) {
        // One repair attempt, telling the model what was wrong.
        std::string first_error = update.error().what();
        auto repair = agents::extraction_repair_request(
            agent, *loaded, job.transcript, reply.text,
            reply.cut ? "it was cut off at max_tokens (" + std::to_string(agent.extraction_max_tokens) +
                            " tokens) before the JSON object ended; send a shorter update: fewer and shorter facts, "
                            "a summary of at most two sentences (" + first_error + ")"
                      : first_error);
        // The same limit would cut the same answer again: the repair gets twice the room, up to
        // 8192 tokens (what every current model allows), never less than the agent's own.
        if (reply.cut)
            repair.body["max_tokens"] =
                std::max(agent.extraction_max_tokens, std::min<std::int64_t>(2 * agent.extraction_max_tokens, 8192));
        if (reply.cut) first_error = "cut off at max_tokens: " + first_error;
        reply = co_await call_extraction_model(job.info.user_id, std::move(repair), held);
        update = memory::parse_extraction_reply(reply.text);
        if (!update) {
            ev.error = "extraction output was invalid twice (" + first_error + "; then " + update.error().what() +
                       "): memory unchanged, the session stays in the journal";
            co_await count_failed_pass(ev, ev.error);
            report(ev);
            co_return out;
        }
    }
    out.update = std::move(*update);
    out.from = std::move(*loaded);
    co_return out;
}

asio::awaitable<std::optional<std::string>> runtime_impl::run_extraction(extraction_job& job) {
    memory_event ev = event_for(job.info);
    // The journal must still hold the session, asked in the user's order after anything queued
    // before (an erase): a session the user asked to forget, or one another process sharing the
    // directory merged, is not sent to the model. A job replayed at start reads its transcript
    // from there; a live one has it and only asks.
    memory::result<bool> pending = true;
    // A job replayed at start reads its transcript only once it holds the request slot its model
    // call will use: every user's replayed jobs start at once (a worker per user), and after an
    // outage the journal may hold more text than a process should hold at one time.
    std::optional<request_gate::permit> slot;
    if (job.in_journal) slot = co_await gate_->acquire(request_gate::priority::background, {}, {}, job.info.user_id);
    if (job.in_journal) {
        auto read = co_await actor_->async_journal_read(job.info.user_id, job.info.session_id, asio::use_awaitable);
        if (read) {
            read_journaled_transcript(read->transcript, job);
            job.in_journal = false;
        } else {
            pending = read.error().code == memory::errc::not_found ? memory::result<bool>(false)
                                                                   : memory::result<bool>(read.error());
        }
    } else {
        pending = co_await actor_->async_journal_holds(job.info.user_id, job.info.session_id, asio::use_awaitable);
    }
    if (pending && !*pending) {
        ev.ok = true;
        ev.withdrawn = true;
        report(ev);
        co_return std::nullopt;
    }
    if (!pending) {
        if (passes(pending.error().code)) co_return "cannot read the journaled session: " + pending.error().what();
        ev.error = "cannot read the journaled session: " + pending.error().what();
        report(ev);
        co_return std::nullopt;
    }
    auto found = find_agent(job.info.agent);
    if (!found) {
        // A journaled session of an agent this process does not know (an agent file another run
        // used): merged under another agent's caps and prompt it could lose facts for good, so
        // it waits in the journal for a runtime that has its agent.
        ev.error = "agent '" + job.info.agent + "' is not registered here: the session stays in the journal until a "
                   "runtime with that agent starts";
        report(ev);
        co_return std::nullopt;
    }
    const agents::agent_definition agent = *found;
    // An update is written only onto the memory it was made from (checked by the store, under
    // the user's lock): an undo or another process's merge while the model worked, or while a
    // failed save waited to be retried, would otherwise be overwritten by it, or undone. Stale,
    // it is distilled again once from the memory now stored and that is written as it is.
    const auto apply = [&](bool checked) {
        memory::update_request req{job.info.session_id, *job.distilled,
                                   job.finished_at.empty() ? memory::utc_now() : job.finished_at,
                                   agents::merge_policy_for(agent), /*journaled=*/true, std::nullopt};
        if (checked) req.based_on = job.distilled_from;
        return actor_->async_apply(job.info.user_id, std::move(req), asio::use_awaitable);
    };
    std::optional<memory::result<memory::apply_ack>> applied;
    for (int round = 0; !applied; ++round) {
        if (!job.distilled) {
            auto distilled = co_await distill(job, agent, ev, slot);
            if (distilled.passing_failure) co_return distilled.passing_failure;
            if (!distilled.update) co_return std::nullopt;  // reported
            job.distilled = std::move(distilled.update);
            job.distilled_from = std::move(distilled.from);
        }
        applied.emplace(co_await apply(round == 0));
        if (*applied && (*applied)->status == memory::apply_status::stale) {
            applied.reset();
            job.distilled.reset();
        }
    }
    if (!*applied) {
        const auto& e = applied->error();
        if (passes(e.code)) co_return "cannot save memory: " + e.what();
        ev.error = "cannot save memory: " + e.what();
        report(ev);
        co_return std::nullopt;
    }
    const auto& ack = **applied;
    ev.ok = true;
    ev.duplicate = ack.status == memory::apply_status::duplicate;
    ev.withdrawn = ack.status == memory::apply_status::withdrawn;
    for (const auto& c : ack.diff.changes) ev.changes.push_back(c.description);
    ev.session_count = ack.memory.session_count;
    report(ev);
    co_return std::nullopt;
}

asio::awaitable<void> runtime_impl::shutdown() {
    // One shutdown runs, for whoever asked first, in a coroutine of its own: a caller that stops
    // waiting (cancelled, or raced against a timer) does not stop it half-way, and every later
    // call waits for that same shutdown rather than for an actor nobody would stop.
    bool first = false;
    {
        std::lock_guard lock(mutex_);
        if (!shutdown_started_) {
            shutdown_started_ = first = true;
            shutdown_done_.add();
        }
    }
    shutting_down_ = true;
    stop_connection_check(take_connection_check());
    if (first) {
        auto self = shared_from_this();
        asio::co_spawn(executor_, [self] { return self->run_shutdown(); }, [self](std::exception_ptr e) {
            {
                std::lock_guard lock(self->mutex_);
                self->shutdown_error_ = e;
            }
            self->shutdown_done_.done();
        });
    }
    // The wait ends early only when the caller is cancelled: that caller must not believe the
    // shutdown done (it goes on without it).
    if (!co_await shutdown_done_.wait(steady::time_point::max()))
        throw boost::system::system_error(asio::error::operation_aborted, "stopped waiting for the shutdown");
    std::exception_ptr failed;
    {
        std::lock_guard lock(mutex_);
        failed = shutdown_error_;
    }
    if (failed) std::rethrow_exception(failed);
}

asio::awaitable<void> runtime_impl::run_shutdown() {
    // A start() under way finishes first (it may be creating the actor); one that begins now
    // is refused (it sees shutting_down_).
    co_await start_running_.wait(steady::time_point::max());
    const auto deadline = steady::now() + cfg_.shutdown_grace;
    const auto open = open_sessions();
    // 1. In-flight turns may finish within the grace period; then they are cancelled.
    if (!co_await turns_.wait(deadline)) {
        for (auto& s : open) s->cancel_turn();
        co_await turns_.wait(steady::time_point::max());
    }
    // 2. Every session ends: its transcript is journaled and queued.
    for (auto& s : open) s->end();
    // Ending is asynchronous (journal write); wait until every session is closed.
    for (;;) {
        bool all_closed = true;
        {
            std::lock_guard lock(mutex_);
            // A session whose every handle was dropped without end() is gone: nothing to wait for.
            std::erase_if(sessions_, [](const auto& kv) { return kv.second.expired(); });
            all_closed = sessions_.empty();
        }
        if (all_closed || !actor_) break;
        asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(5));
        co_await t.async_wait(asio::use_awaitable);
    }
    // 3. Extractions drain within what is left of the grace period; the rest stays journaled.
    // One waiting to retry is not tried again now: it would hold the shutdown for its wait.
    cut_retry_waits();
    if (!co_await extractions_.wait(deadline)) {
        cancel_extractions();
        co_await extractions_.wait(steady::time_point::max());
    }
    // 4. The memory actor stops last, after its mailbox drained.
    if (actor_) {
        actor_->stop();
        co_await actor_running_.wait(steady::time_point::max());
    }
    // No session or pass of this runtime will send again: the server sees its connections end
    // now, not whenever the client goes (a host may keep the runtime object for long).
    client_->close_idle_connections();
}

}  // namespace detail

// ---- public surface ----

// An empty handle (default-constructed or moved from) is an ended session with nothing in it.
namespace {
const session_info no_session_info{};
const std::string no_memory_block;
}  // namespace

const session_info& session::info() const noexcept { return impl_ ? impl_->info() : no_session_info; }
const std::string& session::memory_block() const noexcept { return impl_ ? impl_->memory_block() : no_memory_block; }
std::size_t session::remembered_items() const noexcept { return impl_ ? impl_->remembered() : 0; }
usage_totals session::usage() const { return impl_ ? impl_->usage() : usage_totals{}; }
std::size_t session::history_size() const { return impl_ ? impl_->history_size() : 0; }
boost::asio::awaitable<net::message> session::send(std::string text, delta_callback on_delta) {
    if (!impl_)
        throw runtime_error(errc::session_ended, "send() on an empty session handle (default-constructed or moved from)");
    return impl_->send(impl_, std::move(text), std::move(on_delta));
}
void session::end() {
    if (impl_) impl_->end();
}
bool session::ended() const noexcept { return !impl_ || impl_->ended(); }
boost::asio::any_io_executor session::executor() const noexcept { return impl_ ? impl_->strand() : boost::asio::any_io_executor{}; }
std::chrono::steady_clock::time_point session::delta_received_at() const noexcept {
    return impl_ ? impl_->delta_received_at() : std::chrono::steady_clock::time_point{};
}

runtime::runtime(boost::asio::any_io_executor executor, runtime_config config)
    : impl_(std::make_shared<detail::runtime_impl>(std::move(executor), std::move(config), nullptr)) {}

runtime::runtime(std::size_t threads, runtime_config config) {
    auto pool = std::make_unique<boost::asio::thread_pool>(std::max<std::size_t>(1, threads));
    auto ex = pool->get_executor();
    if (threads <= 1) config.single_threaded_executor = true;  // our own pool of one thread
    impl_ = std::make_shared<detail::runtime_impl>(ex, std::move(config), std::move(pool));
}

runtime::~runtime() {
    if (!impl_) return;
    impl_->abandon();
    // A runtime on threads of its own ends them before its handle is gone (a program may well
    // return from main next), unless this is one of them. Others may still hold the runtime for
    // a moment (a coroutine frame finishing, a session handle): they drop it on those threads,
    // which are joined then. Bounded: a session held for longer keeps the threads.
    std::shared_ptr<detail::runtime_threads::joined_latch> joined;
    if (impl_->owns_threads_and_not_on_them()) joined = impl_->threads_joined();
    const auto grace = impl_->config().shutdown_grace;
    impl_.reset();
    if (joined) joined->wait_for(grace);
}

void runtime::add_agent(agents::agent_definition agent) { impl_->add_agent(std::move(agent)); }
std::vector<agents::agent_definition> runtime::agents() const { return impl_->list_agents(); }
void runtime::set_hooks(runtime_hooks hooks) { impl_->set_hooks(std::move(hooks)); }
namespace {

// Runs one of the runtime's operations holding its state until the operation ends. The public
// functions are no coroutines themselves: they take the state when called, where a coroutine
// member would read it through `this` only once started, and a callback-style call
// (async_shutdown(), say) starts later, on the executor, when the runtime object may be gone.
template <class Operation>
auto holding(std::shared_ptr<detail::runtime_impl> impl, Operation op) -> decltype(op(*impl)) {
    co_return co_await op(*impl);
}

}  // namespace

boost::asio::awaitable<void> runtime::start() {
    return holding(impl_, [](detail::runtime_impl& rt) { return rt.start(); });
}
boost::asio::awaitable<session> runtime::open_session(std::string agent, std::string user_id) {
    return holding(impl_, [agent = std::move(agent), user_id = std::move(user_id)](detail::runtime_impl& rt) mutable {
        return rt.open_session(std::move(agent), std::move(user_id));
    });
}
boost::asio::awaitable<void> runtime::drain_extractions() {
    return holding(impl_, [](detail::runtime_impl& rt) { return rt.drain_extractions(); });
}
boost::asio::awaitable<void> runtime::shutdown() {
    return holding(impl_, [](detail::runtime_impl& rt) { return rt.shutdown(); });
}
usage_totals runtime::user_usage(const std::string& user_id) const { return impl_->user_usage(user_id); }
std::map<std::string, usage_totals> runtime::take_user_usage() { return impl_->take_user_usage(); }
runtime_stats runtime::stats() const { return impl_->stats(); }
memory::memory_actor& runtime::memory() { return impl_->memory(); }
net::claude_client& runtime::client() { return impl_->client(); }
boost::asio::any_io_executor runtime::executor() const noexcept { return impl_->executor(); }

}  // namespace engram::runtime
