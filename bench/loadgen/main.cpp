// engram_loadgen: SESSIONS concurrent sessions x TURNS streamed turns through the engram runtime
// (sessions, histories, the shared client and its pool, the request gate), against
// ANTHROPIC_BASE_URL. It follows the client contract of ../shared/bench/README.md, so
// `PROJECT_CMD=.../engram_loadgen ../shared/bench/run-peers.sh` runs it side by side with the
// official TypeScript SDK and the Python httpx peer on the same fake server.
//
//   engram_loadgen [--extract]
//
// Environment (defaults as the peers'):
//   SESSIONS [100] TURNS [5] ANTHROPIC_BASE_URL [http://127.0.0.1:8080] ANTHROPIC_API_KEY [sk-ant-bench]
//   MODEL [claude-sonnet-4-6] MAX_TOKENS [1024] BENCH_CA_FILE (extra trusted CA, for FAKE_TLS=1)
//   LOADGEN_THREADS [1]    threads running the runtime's io_context
//   LOADGEN_EXTRACT [0]    1 = end every session after its last turn, so the memory pass (journal +
//                          one extraction call, plus a repair call when the reply is not valid JSON)
//                          runs as it would in production; same as --extract
//   LOADGEN_OPEN_FIRST [1] 1 = open every session first (memory loaded), then start every session's
//                          turns at once, so SESSIONS streams are in flight together and wall_s times
//                          the turns only (open_phase_s is printed on stderr); 0 = each session opens
//                          and runs on its own, and wall_s includes the opening
//   LOADGEN_RETRIES [0]    client retries per request (the peers run with none, so none by default:
//                          a retried failure would otherwise be hidden from `errors`)
//   LOADGEN_LATENCY [0]    1 = time every delta from the read that brought it to its callback (a
//                          clock read and a histogram update per delta, which the peers do not pay:
//                          off for CPU figures, on for the latency figures)
//   FAKE_DELTAS            when set (run-peers.sh exports it), every turn must bring
//                          min(FAKE_DELTAS, MAX_TOKENS) deltas, else the exit status is 3
//
// Prints (stdout):
//   RESULT peer=engram sessions=N turns=T deltas=D bytes=B wall_s=W errors=E digest=H
//   LATENCY peer=engram what=send_to_first_delta ... (per turn: from session::send() to the first
//           delta callback, and to send()'s completion)
//   LATENCY peer=engram what=read_to_delta_callback ... (with LOADGEN_LATENCY=1; per delta: from the
//           socket read that brought its bytes, as the body parser received them, to the session's
//           delta callback; the time the bytes waited in the kernel before that read is not included)
// and a few `engram_loadgen: ...` notes on stderr, among them runtime::stats() as read with every
// session open (with the time that one call took) and after the shutdown. Exit status: 0 when every turn succeeded and the counts
// are right, 1 on turn errors, 2 on bad settings or set-up failure, 3 on wrong counts.
//
// wall_s times the load phase only: from the start of the first turn until the last turn of the
// last session has completed (with LOADGEN_OPEN_FIRST=0 from just before the sessions are opened);
// the extraction drain in --extract mode is not part of it.

#include <engram/runtime/runtime.hpp>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <openssl/evp.h>

namespace asio = boost::asio;
namespace rt = engram::runtime;
namespace net = engram::net;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr const char* agent_name = "loadgen";

// ------------------------------------------------------------------ settings

struct settings {
    std::size_t sessions = 100;
    std::size_t turns = 5;
    std::string model = "claude-sonnet-4-6";
    std::int64_t max_tokens = 1024;
    std::string base_url = "http://127.0.0.1:8080";
    std::string api_key = "sk-ant-bench";
    std::string ca_file;
    std::size_t threads = 1;
    bool extract = false;
    bool open_first = true;
    unsigned retries = 0;
    bool delta_latency = false;  ///< time every delta (LOADGEN_LATENCY=1)
    std::optional<std::uint64_t> expect_deltas_per_turn;
};

[[noreturn]] void die(const std::string& msg, int status = 2) {
    std::fprintf(stderr, "engram_loadgen: %s\n", msg.c_str());
    std::exit(status);
}

const char* env(const char* name) {
    const char* v = std::getenv(name);
    return v && *v ? v : nullptr;
}

std::uint64_t env_uint(const char* name, std::uint64_t fallback, std::uint64_t min, std::uint64_t max) {
    const char* v = env(name);
    if (!v) return fallback;
    char* end = nullptr;
    errno = 0;
    const unsigned long long n = std::strtoull(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || v[0] == '-' || n < min || n > max)
        die(std::string(name) + " must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
            "], not '" + v + "'");
    return n;
}

bool env_flag(const char* name) {
    const char* v = env(name);
    return v && (std::strcmp(v, "1") == 0 || std::strcmp(v, "true") == 0 || std::strcmp(v, "yes") == 0);
}

settings read_settings(int argc, char** argv) {
    settings s;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "--extract") {
            s.extract = true;
        } else if (a == "-h" || a == "--help") {
            std::printf(
                "usage: engram_loadgen [--extract]\n"
                "env: SESSIONS TURNS ANTHROPIC_BASE_URL ANTHROPIC_API_KEY MODEL MAX_TOKENS BENCH_CA_FILE\n"
                "     LOADGEN_THREADS [1] LOADGEN_EXTRACT [0] LOADGEN_OPEN_FIRST [1] LOADGEN_RETRIES [0]\n"
                "     LOADGEN_LATENCY [0] FAKE_DELTAS (count check)\n");
            std::exit(0);
        } else {
            die("unknown argument '" + std::string(a) + "' (try --help)");
        }
    }
    s.sessions = env_uint("SESSIONS", 100, 1, 1'000'000);
    s.turns = env_uint("TURNS", 5, 1, 100'000);
    if (const char* v = env("MODEL")) s.model = v;
    s.max_tokens = static_cast<std::int64_t>(env_uint("MAX_TOKENS", 1024, 1, 1'000'000));
    if (const char* v = env("ANTHROPIC_BASE_URL")) s.base_url = v;
    if (const char* v = env("ANTHROPIC_API_KEY")) s.api_key = v;
    if (const char* v = env("BENCH_CA_FILE")) s.ca_file = v;
    s.threads = env_uint("LOADGEN_THREADS", 1, 1, 256);
    s.extract = s.extract || env_flag("LOADGEN_EXTRACT");
    s.open_first = env_uint("LOADGEN_OPEN_FIRST", 1, 0, 1) == 1;
    s.retries = static_cast<unsigned>(env_uint("LOADGEN_RETRIES", 0, 0, 100));
    s.delta_latency = env_uint("LOADGEN_LATENCY", 0, 0, 1) == 1;
    if (env("FAKE_DELTAS")) {
        const std::uint64_t fake = env_uint("FAKE_DELTAS", 0, 0, std::numeric_limits<std::uint32_t>::max());
        s.expect_deltas_per_turn = std::min<std::uint64_t>(fake, static_cast<std::uint64_t>(s.max_tokens));
    }
    return s;
}

// ------------------------------------------------------------------ process set-up

/// A private memory directory, removed with everything in it when this object goes.
class temp_dir {
public:
    temp_dir() {
        const char* base = env("TMPDIR");
        std::string tmpl = std::string(base ? base : "/tmp") + "/engram-loadgen-XXXXXX";
        if (!::mkdtemp(tmpl.data())) die("mkdtemp(" + tmpl + ") failed: " + std::strerror(errno));
        path_ = tmpl;
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    const std::filesystem::path& path() const noexcept { return path_; }

private:
    std::filesystem::path path_;
};

// ------------------------------------------------------------------ the load

std::string user_text(std::size_t s, std::size_t t) {
    char buf[96];
    const int n = std::snprintf(buf, sizeof buf, "Session %zu, turn %zu: please continue.", s, t);
    return std::string(buf, static_cast<std::size_t>(n));
}

/// What one session saw. Written only by that session (its coroutine and, during a turn, the
/// delta callback on its strand; send()'s completion orders the two), read after the load.
struct session_state {
    std::uint64_t deltas = 0;      ///< text deltas over all turns
    std::uint64_t turn_bytes = 0;  ///< delta bytes of the running turn
    std::uint64_t bytes = 0;       ///< delta bytes of completed turns
    clock_type::time_point first_delta{};
    bool first_seen = false;
    std::uint32_t user_messages = 0;   ///< user messages put into the history (the failed turn's too, as the peers do)
    std::vector<std::string> replies;  ///< assistant texts, in order
};

/// Latencies in nanoseconds, log-linear buckets (64 per power of two, about 1.5 % wide): fixed
/// memory whatever the load, so it does not disturb the per-session memory figure.
class latency_histogram {
public:
    void add(std::uint64_t ns) noexcept {
        counts_[bucket_of(ns)].fetch_add(1, std::memory_order_relaxed);
    }
    std::uint64_t count() const noexcept {
        std::uint64_t n = 0;
        for (const auto& c : counts_) n += c.load(std::memory_order_relaxed);
        return n;
    }
    /// The lower bound of the bucket holding the q-quantile (nearest rank), in microseconds.
    double quantile_us(double q) const noexcept {
        const std::uint64_t n = count();
        if (n == 0) return 0;
        const auto rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(q * static_cast<double>(n) + 0.999999));
        std::uint64_t seen = 0;
        for (std::size_t b = 0; b < counts_.size(); ++b) {
            seen += counts_[b].load(std::memory_order_relaxed);
            if (seen >= rank) return static_cast<double>(lower_of(b)) / 1000.0;
        }
        return 0;
    }

private:
    static std::size_t bucket_of(std::uint64_t ns) noexcept {
        if (ns < 64) return static_cast<std::size_t>(ns);
        const int msb = 63 - __builtin_clzll(ns);
        return static_cast<std::size_t>(msb - 5) * 64 + static_cast<std::size_t>((ns >> (msb - 6)) & 63);
    }
    static std::uint64_t lower_of(std::size_t b) noexcept {
        if (b < 64) return b;
        const auto msb = static_cast<int>(b / 64) + 5;
        return (std::uint64_t{1} << msb) | (static_cast<std::uint64_t>(b % 64) << (msb - 6));
    }
    std::array<std::atomic<std::uint64_t>, 59 * 64> counts_{};
};

/// Shared, written rarely (errors, completion).
struct load_totals {
    std::atomic<std::uint64_t> errors{0};
    std::mutex first_error_mutex;
    std::string first_error;
    std::atomic<std::size_t> remaining{0};
    std::atomic<std::uint64_t> extraction_ok{0}, extraction_failed{0};
    /// Per delta: from the read that brought its bytes to the session's delta callback.
    latency_histogram read_to_callback;
    std::mutex extraction_error_mutex;
    std::string first_extraction_error;

    void fail(std::string msg) {
        errors.fetch_add(1, std::memory_order_relaxed);
        std::lock_guard lock(first_error_mutex);
        if (first_error.empty()) first_error = std::move(msg);
    }
};

constexpr std::uint32_t no_sample = std::numeric_limits<std::uint32_t>::max();

std::uint32_t micros(clock_type::duration d) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
    return us < 0 ? 0 : us >= no_sample ? no_sample - 1 : static_cast<std::uint32_t>(us);
}

struct load {
    const settings& cfg;
    rt::runtime& runtime;
    std::vector<session_state> state;
    std::vector<rt::session> handles;
    std::vector<char> opened;          // [s]: open_session succeeded
    std::vector<std::uint32_t> ttfd_us;  // [s * turns + t]: send() -> first delta
    std::vector<std::uint32_t> turn_us;  // [s * turns + t]: send() -> send() completed
    std::vector<std::uint32_t> open_us;  // [s]: open_session() call -> session open
    load_totals totals;

    load(const settings& c, rt::runtime& r)
        : cfg(c),
          runtime(r),
          state(c.sessions),
          handles(c.sessions),
          opened(c.sessions, 0),
          ttfd_us(c.sessions * c.turns, no_sample),
          turn_us(c.sessions * c.turns, no_sample),
          open_us(c.sessions, no_sample) {
        for (auto& st : state) st.replies.reserve(c.turns);
    }

    /// Opens session `s` (the user's memory is loaded and rendered into its system prompt).
    asio::awaitable<void> open(std::size_t s) {
        try {
            const auto asked = clock_type::now();
            handles[s] = co_await runtime.open_session(agent_name, "u" + std::to_string(s));
            open_us[s] = micros(clock_type::now() - asked);
            opened[s] = 1;
        } catch (const std::exception& e) {
            totals.fail("session " + std::to_string(s) + ": open_session: " + e.what());
        }
    }

    /// Runs the turns of session `s`, if it opened.
    asio::awaitable<void> turns(std::size_t s) {
        if (!opened[s]) co_return;
        session_state& st = state[s];
        rt::session& session = handles[s];
        for (std::size_t t = 0; t < cfg.turns; ++t) {
            st.first_seen = false;
            st.turn_bytes = 0;
            ++st.user_messages;
            const auto start = clock_type::now();
            std::string text;
            try {
                session_state* p = &st;
                const net::message reply = co_await session.send(user_text(s, t), [p, &session, this](std::string_view d) {
                    if (cfg.delta_latency) {
                        const auto now = clock_type::now();
                        totals.read_to_callback.add(static_cast<std::uint64_t>(
                            std::chrono::duration_cast<std::chrono::nanoseconds>(now - session.delta_received_at()).count()));
                    }
                    ++p->deltas;
                    p->turn_bytes += d.size();
                    if (!p->first_seen) {
                        p->first_seen = true;
                        p->first_delta = clock_type::now();
                    }
                });
                const auto done = clock_type::now();
                turn_us[s * cfg.turns + t] = micros(done - start);
                if (st.first_seen) ttfd_us[s * cfg.turns + t] = micros(st.first_delta - start);
                text = reply.text();
            } catch (const std::exception& e) {
                totals.fail("session " + std::to_string(s) + ", turn " + std::to_string(t) + ": " + e.what());
                break;  // a broken turn ends the session, as in the peers
            }
            if (text.size() != st.turn_bytes) {
                totals.fail("session " + std::to_string(s) + ", turn " + std::to_string(t) + ": the deltas carried " +
                            std::to_string(st.turn_bytes) + " bytes but the reply has " + std::to_string(text.size()));
                break;
            }
            st.bytes += st.turn_bytes;
            st.replies.push_back(std::move(text));
        }
        session.end();  // with --extract: journaled and queued for extraction; returns at once
    }

    asio::awaitable<void> run_session(std::size_t s) {
        co_await open(s);
        co_await turns(s);
    }
};

std::string digest_hex16(const settings& cfg, const std::vector<session_state>& state) {
    // Only the digest: no configuration file to read, no engine to look up (OpenSSL's full
    // start-up is a millisecond or two of a run's CPU).
    OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, nullptr);
    EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (!sha256 || !ctx || EVP_DigestInit_ex2(ctx, sha256, nullptr) != 1) die("EVP sha256 init failed");
    auto put = [ctx](std::string_view role, std::string_view text) {
        EVP_DigestUpdate(ctx, role.data(), role.size());
        EVP_DigestUpdate(ctx, "\0", 1);
        EVP_DigestUpdate(ctx, text.data(), text.size());
        EVP_DigestUpdate(ctx, "\x01", 1);
    };
    for (std::size_t s = 0; s < cfg.sessions; ++s) {
        const auto& st = state[s];
        for (std::size_t t = 0; t < st.user_messages; ++t) {
            put("user", user_text(s, t));
            if (t < st.replies.size()) put("assistant", st.replies[t]);
        }
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(sha256);
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < 8 && i < len; ++i) {
        out += hex[md[i] >> 4];
        out += hex[md[i] & 15];
    }
    return out;
}

/// Median and p99 (nearest rank) of the valid samples, in milliseconds.
struct percentiles {
    std::size_t n = 0;
    double p50 = 0, p99 = 0, max = 0;
};
percentiles summarize(std::vector<std::uint32_t> v) {
    std::erase(v, no_sample);
    percentiles p;
    p.n = v.size();
    if (v.empty()) return p;
    std::sort(v.begin(), v.end());
    auto rank = [&](double q) {
        std::size_t k = static_cast<std::size_t>(q * static_cast<double>(v.size()) + 0.999999);
        return v[std::clamp<std::size_t>(k, 1, v.size()) - 1] / 1000.0;
    };
    p.p50 = rank(0.50);
    p.p99 = rank(0.99);
    p.max = v.back() / 1000.0;
    return p;
}

}  // namespace

int main(int argc, char** argv) {
    const settings cfg = read_settings(argc, argv);
    temp_dir memdir;

    rt::runtime_config rc;
    rc.client = net::client_config{};  // all from here: no other environment is read
    rc.client.base_url = cfg.base_url;
    rc.client.api_key = cfg.api_key;
    rc.client.ca_file = cfg.ca_file;
    rc.client.retry.max_retries = cfg.retries;
    // One connection per concurrent session, all kept alive for the next turn.
    rc.client.max_connections_per_host = cfg.sessions + 64;
    rc.client.max_idle_connections_per_host = cfg.sessions + 64;
    rc.memory_directory = memdir.path();
    rc.max_in_flight_requests = cfg.sessions + 64;  // the gate never holds a turn back
    rc.memory_io_threads = 1;
    rc.extraction_retry_delays.clear();  // a failed pass is counted, not waited on for minutes
    rc.shutdown_grace = std::chrono::minutes(10);
    rc.single_threaded_executor = cfg.threads == 1;  // ioc is run by cfg.threads threads
    rc.min_open_files = cfg.sessions + 64;            // one socket per session, plus files

    // One thread: every socket is used by that thread only, so the reactor's per-socket locks
    // can go (timers and posts from the memory thread stay locked), as runtime/README advises.
    asio::io_context ioc(cfg.threads == 1 ? BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO : static_cast<int>(cfg.threads));
    std::optional<rt::runtime> runtime;
    try {
        runtime.emplace(ioc.get_executor(), rc);
    } catch (const std::exception& e) {
        die(std::string("cannot create the runtime: ") + e.what());
    }

    // The agent: the fake server answers from `messages` alone; the runtime still sends a system
    // prompt (this text plus the framed, empty memory block, marked cache_control).
    engram::agents::agent_definition agent;
    agent.name = agent_name;
    agent.description = "load generator";
    agent.model = cfg.model;
    agent.max_tokens = cfg.max_tokens;
    agent.system_prompt = "You are a load-test agent.";
    agent.extraction_model = cfg.model;
    agent.remember = cfg.extract;  // without --extract the sessions neither load nor save memory
    if (auto ok = engram::agents::validate(agent); !ok) die("the loadgen agent is invalid: " + ok.error().what());
    runtime->add_agent(agent);

    load L(cfg, *runtime);
    rt::runtime_hooks hooks;
    hooks.on_memory_update = [&L](const rt::memory_event& e) {
        if (e.ok) {
            L.totals.extraction_ok.fetch_add(1, std::memory_order_relaxed);
        } else {
            L.totals.extraction_failed.fetch_add(1, std::memory_order_relaxed);
            std::lock_guard lock(L.totals.extraction_error_mutex);
            if (L.totals.first_extraction_error.empty()) L.totals.first_extraction_error = e.error;
        }
    };
    runtime->set_hooks(std::move(hooks));

    clock_type::time_point t_open0{}, t0{}, t1{};
    // runtime::stats() with every session open (LOADGEN_OPEN_FIRST=1), and what one call took:
    // a host scrapes it at that size.
    std::optional<rt::runtime_stats> all_open;
    double stats_call_us = 0;
    std::string setup_error;
    bool finished = false;

    auto finish = [&]() -> asio::awaitable<void> {
        t1 = clock_type::now();
        try {
            co_await runtime->drain_extractions();
            co_await runtime->shutdown();  // every session has ended: nothing more is queued
        } catch (const std::exception& e) {
            setup_error = std::string("finishing: ") + e.what();
        }
        finished = true;
    };

    // Runs job(s) for every session concurrently, then `then` once the last one completed. (Locals
    // of main, not of a coroutine: `then` runs after the coroutine that called for_all is gone.)
    auto for_all = [&](auto job, auto then) {
        L.totals.remaining = cfg.sessions;
        for (std::size_t s = 0; s < cfg.sessions; ++s) {
            asio::co_spawn(ioc, job(s), [&L, then](std::exception_ptr) {
                if (L.totals.remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) then();
            });
        }
    };
    auto to_finish = [&] { asio::co_spawn(ioc, finish(), asio::detached); };

    auto start = [&]() -> asio::awaitable<void> {
        try {
            co_await runtime->start();
        } catch (const std::exception& e) {
            setup_error = std::string("runtime start failed: ") + e.what();
            co_return;
        }
        if (cfg.open_first) {
            // Every session is open before the first turn starts, so all SESSIONS turns are in
            // flight together; wall_s then times the turns alone.
            t_open0 = clock_type::now();
            for_all([&](std::size_t s) { return L.open(s); }, [&] {
                const auto before = clock_type::now();
                all_open = runtime->stats();
                stats_call_us = std::chrono::duration<double, std::micro>(clock_type::now() - before).count();
                t0 = clock_type::now();
                for_all([&](std::size_t s) { return L.turns(s); }, to_finish);
            });
        } else {
            t0 = t_open0 = clock_type::now();
            for_all([&](std::size_t s) { return L.run_session(s); }, to_finish);
        }
    };
    asio::co_spawn(ioc, start(), asio::detached);

    std::vector<std::thread> extra;
    for (std::size_t i = 1; i < cfg.threads; ++i) extra.emplace_back([&ioc] { ioc.run(); });
    ioc.run();
    for (auto& th : extra) th.join();

    if (setup_error.empty() && !finished) setup_error = "the io_context ran out of work before the load finished";
    if (!setup_error.empty()) {
        std::fprintf(stderr, "engram_loadgen: %s\n", setup_error.c_str());
        L.handles.clear();
        runtime.reset();
        return 2;  // memdir is removed on the way out
    }

    const double wall = std::chrono::duration<double>(t1 - t0).count();
    std::uint64_t deltas = 0, bytes = 0, turns_ok = 0;
    for (const auto& st : L.state) {
        deltas += st.deltas;
        bytes += st.bytes;
        turns_ok += st.replies.size();
    }
    const std::uint64_t errors = L.totals.errors.load();
    const std::string digest = digest_hex16(cfg, L.state);
    const auto ttfd = summarize(L.ttfd_us);
    const auto turn = summarize(L.turn_us);
    const auto open = summarize(L.open_us);
    const auto pool = runtime->client().stats();

    if (!L.totals.first_error.empty()) std::fprintf(stderr, "engram_loadgen: first error: %s\n", L.totals.first_error.c_str());
    std::printf("RESULT peer=engram sessions=%zu turns=%zu deltas=%" PRIu64 " bytes=%" PRIu64
                " wall_s=%.3f errors=%" PRIu64 " digest=%s\n",
                cfg.sessions, cfg.turns, deltas, bytes, wall, errors, digest.c_str());
    std::printf("LATENCY peer=engram what=send_to_first_delta turns=%zu p50_ms=%.3f p99_ms=%.3f max_ms=%.3f"
                " turn_p50_ms=%.3f turn_p99_ms=%.3f turn_max_ms=%.3f open_p50_ms=%.3f open_p99_ms=%.3f open_max_ms=%.3f\n",
                ttfd.n, ttfd.p50, ttfd.p99, ttfd.max, turn.p50, turn.p99, turn.max, open.p50, open.p99, open.max);
    const auto& h = L.totals.read_to_callback;
    if (cfg.delta_latency)
        std::printf("LATENCY peer=engram what=read_to_delta_callback deltas=%" PRIu64 " p50_us=%.2f p99_us=%.2f max_us=%.2f\n",
                h.count(), h.quantile_us(0.50), h.quantile_us(0.99), h.quantile_us(1.0));
    std::fflush(stdout);
    std::fprintf(stderr,
                 "engram_loadgen: threads=%zu extract=%d retries=%u open_first=%d open_phase_s=%.3f connections_opened=%" PRIu64 "\n",
                 cfg.threads, cfg.extract ? 1 : 0, cfg.retries, cfg.open_first ? 1 : 0,
                 cfg.open_first ? std::chrono::duration<double>(t0 - t_open0).count() : 0.0, pool.connections_opened);
    if (all_open)
        std::fprintf(stderr,
                     "engram_loadgen: stats with every session open: sessions_open=%zu requests_in_flight=%zu"
                     " memory_passes_pending=%zu idle_connections=%zu (the call took %.1f us)\n",
                     all_open->sessions_open, all_open->requests_in_flight, all_open->memory_passes_pending,
                     all_open->connections.idle, stats_call_us);
    const auto after = runtime->stats();
    std::fprintf(stderr,
                 "engram_loadgen: stats after shutdown: sessions_open=%zu requests_in_flight=%zu requests_waiting=%zu"
                 " memory_passes_pending=%zu memory_passes_parked=%zu idle_connections=%zu in_use=%zu\n",
                 after.sessions_open, after.requests_in_flight, after.requests_waiting, after.memory_passes_pending,
                 after.memory_passes_parked, after.connections.idle, after.connections.in_use);
    if (cfg.extract)
        std::fprintf(stderr, "engram_loadgen: extractions ok=%" PRIu64 " failed=%" PRIu64 "%s%s\n",
                     L.totals.extraction_ok.load(), L.totals.extraction_failed.load(),
                     L.totals.first_extraction_error.empty() ? "" : "; first failure: ",
                     L.totals.first_extraction_error.c_str());

    int status = errors > 0 ? 1 : 0;
    const std::uint64_t want_turns = static_cast<std::uint64_t>(cfg.sessions) * cfg.turns;
    if (status == 0 && turns_ok != want_turns) {
        std::fprintf(stderr, "engram_loadgen: %" PRIu64 " turns completed, expected %" PRIu64 "\n", turns_ok, want_turns);
        status = 3;
    }
    if (status == 0 && cfg.expect_deltas_per_turn && deltas != want_turns * *cfg.expect_deltas_per_turn) {
        std::fprintf(stderr, "engram_loadgen: %" PRIu64 " deltas, expected %" PRIu64 " (FAKE_DELTAS)\n", deltas,
                     want_turns * *cfg.expect_deltas_per_turn);
        status = 3;
    }

    L.handles.clear();
    runtime.reset();
    return status;
}
