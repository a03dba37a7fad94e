// engram run / engram chat: one runtime on one io_context, one session, memory saved at the end.
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <mutex>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

#include <engram/memory/user_id.hpp>
#include <engram/memory/utf8.hpp>
#include <engram/runtime/runtime.hpp>

#include "commands.hpp"
#include "errors.hpp"
#include "line_reader.hpp"
#include "output.hpp"

namespace asio = boost::asio;
namespace net = engram::net;
namespace rt = engram::runtime;

namespace engram::cli {

namespace {

struct endpoint {
    std::string scheme;  ///< lower case
    std::string host;    ///< lower case, an IPv6 address in brackets; no user info, no port
};

// The scheme and host of a base URL. A malformed URL yields what it can; the client rejects it.
endpoint parse_endpoint(const std::string& url) {
    endpoint e;
    const auto sep = url.find("://");
    if (sep == std::string::npos) return e;
    e.scheme = url.substr(0, sep);
    std::string authority = url.substr(sep + 3);
    authority = authority.substr(0, authority.find_first_of("/?#"));
    if (const auto at = authority.rfind('@'); at != std::string::npos) authority = authority.substr(at + 1);
    if (authority.starts_with("[")) {
        const auto close = authority.find(']');
        e.host = close == std::string::npos ? authority : authority.substr(0, close + 1);
    } else {
        e.host = authority.substr(0, authority.find(':'));
    }
    for (auto* s : {&e.scheme, &e.host})
        for (char& c : *s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return e;
}

// The URL without a user:password@ part (which must never be printed).
std::string without_userinfo(const std::string& url) {
    const auto sep = url.find("://");
    if (sep == std::string::npos) return url;
    const auto end = url.find_first_of("/?#", sep + 3);
    const auto at = url.rfind('@', end == std::string::npos ? std::string::npos : end);
    if (at == std::string::npos || at < sep + 3) return url;
    return url.substr(0, sep + 3) + url.substr(at + 1);
}

// The step failed only because a signal's shutdown stopped it: a turn it cancelled, or a
// session it would not open (the open may wait seconds for the last session's memory).
bool is_cancellation(std::exception_ptr e) {
    try {
        std::rethrow_exception(e);
    } catch (const net::client_error& c) {
        return c.code_value() == net::errc::cancelled;
    } catch (const rt::runtime_error& r) {
        return r.code_value() == rt::errc::shutting_down;
    } catch (...) {
        return false;
    }
}

// Only the host itself counts: "localhost.evil.example" or "127.0.0.1.example" are not local.
bool is_loopback_host(const std::string& host) {
    if (host == "localhost" || host == "[::1]") return true;
    if (!host.starts_with("127.")) return false;
    int dots = 0;
    for (char c : host) {
        if (c == '.') ++dots;
        else if (c < '0' || c > '9') return false;
    }
    return dots == 3;
}

// A chat turn error that would fail every later turn too ends the chat.
/// What the runtime counts as no text at all (it refuses such a message as empty_message).
constexpr const char* blank_characters = " \t\r\n\v\f";

bool fatal_for_chat(std::exception_ptr e) {
    try {
        std::rethrow_exception(e);
    } catch (const net::client_error& x) {
        switch (x.kind()) {
            case net::error_kind::connection:
            case net::error_kind::tls:
            case net::error_kind::config:
                return true;
            default:
                return x.code_value() == net::errc::authentication || x.code_value() == net::errc::permission ||
                       x.code_value() == net::errc::not_found;
        }
    } catch (const rt::runtime_error& x) {
        // A turn the runtime refused or that came back empty fails alone; the chat goes on.
        return x.code_value() != rt::errc::message_too_large && x.code_value() != rt::errc::session_busy &&
               x.code_value() != rt::errc::empty_message && x.code_value() != rt::errc::invalid_message &&
               x.code_value() != rt::errc::empty_reply;
    } catch (...) {
        return true;
    }
}

// Everything one session command needs: settings, the runtime, memory reports, Ctrl-C.
class session_host {
public:
    explicit session_host(const options& o) : opts_(o), status_(o.quiet) {
        // A stray word is most likely the message without --message: ignoring it would wait on
        // stdin (run) or drop what the user meant to say.
        if (!o.positionals.empty()) {
            const std::string word = one_line(o.positionals[0]);
            if (o.command == "run")
                throw usage_error("unexpected argument '" + word + "': give the message with --message (-m), e.g. engram run --user " +
                                  (o.user_given ? one_line(o.user) : std::string("ID")) + " -m \"" + word +
                                  "\", or pipe it on stdin");
            throw usage_error("unexpected argument '" + word + "': engram " + o.command +
                              " takes no arguments (type each message at the you> prompt)");
        }
        if (o.command == "chat" && o.message)  // it would be dropped without a word
            throw usage_error("engram chat takes no --message: type each message at the you> prompt (engram run sends one)");
        if (o.command == "chat" && o.output == "json")
            throw usage_error("engram chat prints text only; --output json is for engram run and the memory commands");
        if (!o.user_given) throw usage_error("--user ID is required (whose memory to use), e.g. --user alice");
        if (auto ok = memory::encode_user_id(o.user); !ok)
            throw usage_error("invalid user id '" + one_line(o.user) + "': " + ok.error().message);
        agents_ = resolve_agents(o);
        agent_ = nullptr;
        for (auto& a : agents_)
            if (a.name == o.agent) agent_ = &a;
        if (!agent_) {
            std::string names;
            for (const auto& a : agents_) names += (names.empty() ? "" : ", ") + a.name;
            throw usage_error("unknown agent '" + o.agent + "' (available: " + names +
                              "; load your own with --agent-file FILE)");
        }
        if (!o.model.empty()) agent_->model = o.model;
        cfg_ = make_runtime_config(o);
        ctx_.base_url = cfg_.client.base_url;
        if (!o.base_url.empty()) ctx_.base_url_setting = "--base-url";
        else if (set_from_dotenv("ANTHROPIC_BASE_URL")) ctx_.base_url_setting = "ANTHROPIC_BASE_URL in ./.env";
        ctx_.api_key = cfg_.client.api_key;
        status_.set_secret(cfg_.client.api_key);
        if (cfg_.client.api_key.empty())
            throw usage_error(
                "ANTHROPIC_API_KEY is not set: export ANTHROPIC_API_KEY=... or put ANTHROPIC_API_KEY=... in ./.env "
                "(for a local server such as engram_standin_server set ANTHROPIC_BASE_URL to it and any non-empty key)");
        announce_endpoint();
        // Which certificates are trusted is as much the key's safety as where it goes.
        if (o.ca_file.empty() && set_from_dotenv("ENGRAM_CA_FILE") && !cfg_.client.ca_file.empty())
            std::cerr << "engram: trusting the certificate authorities in "
                      << one_line(cfg_.client.ca_file, ctx_.api_key) << " (set by ENGRAM_CA_FILE in ./.env)\n";
    }

    const error_context& context() const noexcept { return ctx_; }
    const status_line& status() const noexcept { return status_; }
    const agents::agent_definition& agent() const noexcept { return *agent_; }
    rt::runtime& runtime() noexcept { return *runtime_; }
    bool interrupted() const noexcept { return interrupts_ > 0; }
    /// The first signal was SIGTERM (a service manager or kill) or SIGHUP (the terminal went
    /// away), not Ctrl-C.
    bool terminated() const noexcept { return first_signal_ == SIGTERM || first_signal_ == SIGHUP; }
    /// The exit status a shell reports for the first signal: 128 + its number (130 for Ctrl-C).
    int signal_exit() const noexcept { return 128 + first_signal_; }
    const std::string& user() const noexcept { return opts_.user; }

    /// Runs `body` (a coroutine using runtime()) to completion with the runtime started and shut
    /// down around it. Returns the exit status.
    template <class Body>
    int run(Body body) {
        runtime_ = std::make_unique<rt::runtime>(ioc_.get_executor(), cfg_);  // may throw invalid_config
        runtime_->add_agent(*agent_);
        install_hooks();
        // SIGHUP too: a closed terminal (or ssh connection) must not kill the chat before its
        // memory is saved.
        asio::signal_set signals(ioc_, SIGINT, SIGTERM, SIGHUP);
        wait_for_signal(signals);
        std::exception_ptr failure;
        asio::co_spawn(ioc_, wrap(std::move(body), signals), [&](std::exception_ptr e) { failure = e; });
        ioc_.run();
        if (failure) return report(describe(failure, ctx_), ctx_);
        return exit_;
    }

    void set_exit(int code) { exit_ = code; }
    /// Ctrl-C is how this command ends normally (chat): exit 0 when it stops the command, not 130.
    void ctrl_c_ends_normally() { ctrl_c_ends_normally_ = true; }
    void on_interrupt(std::function<void()> f) { interrupt_ = std::move(f); }

    /// The memory outcome of `session_id` after drain_extractions(): empty when saved.
    std::optional<rt::memory_event> memory_failure(const std::string& session_id) {
        std::lock_guard lock(mutex_);
        for (const auto& e : events_)
            if (e.session_id == session_id && !e.ok) return e;
        return std::nullopt;
    }
    bool memory_reported(const std::string& session_id) {
        std::lock_guard lock(mutex_);
        for (const auto& e : events_)
            if (e.session_id == session_id) return true;
        return false;
    }

    /// Ends the session and waits until its memory is saved; returns exit_memory if it was not.
    asio::awaitable<int> end_and_save(rt::session& s, bool had_reply) {
        s.end();
        if (!had_reply || !agent_->remember) co_return exit_ok;  // nothing to remember
        status_.say("saving memory...");
        co_await runtime_->drain_extractions();
        const auto id = s.info().session_id;
        if (auto failed = memory_failure(id)) {
            report({exit_memory, "memory not saved: " + failed->error +
                                     (failed->set_aside ? " (`engram memory failed` lists it, `engram memory retry " + one_line(s.info().user_id) +
                                                              "` replays it at the next start)"
                                                        : " (the session stays in the journal; engram retries it the next time it starts)")},
                   ctx_);
            co_return exit_memory;
        }
        if (!memory_reported(id))
            status_.say("memory not saved yet: the session stays in the journal and is saved the next time engram starts");
        co_return exit_ok;
    }

private:
    // Says where requests (and the key) go unless it is the default endpoint: a .env in the
    // working directory can set ANTHROPIC_BASE_URL, and the real key from the environment would
    // then go to whatever host it names. Shown even with --quiet, except for a loopback server.
    void announce_endpoint() {
        const std::string& url = cfg_.client.base_url;
        std::string trimmed = url;
        while (trimmed.ends_with('/')) trimmed.pop_back();
        if (trimmed == net::client_config{}.base_url) return;
        const endpoint ep = parse_endpoint(url);
        if (is_loopback_host(ep.host)) {
            status_.say("using the local server at " + one_line(without_userinfo(url), ctx_.api_key));
            return;
        }
        // The host only: a URL may carry user:password@.
        const std::string host = one_line(ep.host.empty() ? std::string("(unparsable URL)") : ep.host, ctx_.api_key);
        std::cout.flush();
        std::cerr << "engram: sending requests and the API key to " << host << " (set by " << ctx_.base_url_setting << ")\n";
        if (ep.scheme == "http")
            std::cerr << "engram: warning: the API key would be sent unencrypted (http://) to " << host
                      << ", which is not this machine; use https:// unless the network is trusted\n";
    }

    template <class Body>
    asio::awaitable<void> wrap(Body body, asio::signal_set& signals) {
        std::exception_ptr failure;
        bool started = false;
        try {
            starting_ = true;
            co_await runtime_->start();
            starting_ = false;
            started = true;
            co_await body(*this);
        } catch (...) {
            failure = std::current_exception();
        }
        starting_ = false;  // also when start() threw
        if (started) co_await runtime_->shutdown();  // idempotent; ends sessions, drains, stops the actor
        boost::system::error_code ignored;
        signals.cancel(ignored);
        // A signal that came before the session opened (the open waits for the previous
        // session's memory, seconds at most) stopped the command as it would have stopped a
        // turn: that signal's exit, not an error.
        if (failure && interrupted() && is_cancellation(failure)) {
            exit_ = ctrl_c_ends_normally_ && !terminated() ? exit_ok : signal_exit();
            co_return;
        }
        if (failure) std::rethrow_exception(failure);
    }

    void install_hooks() {
        rt::runtime_hooks hooks;
        hooks.on_memory_update = [this](const rt::memory_event& e) {
            {
                std::lock_guard lock(mutex_);
                events_.push_back(e);
            }
            if (!e.ok) {
                // start() names every set-aside session; this user's own are worth a line (the
                // session's own failure is reported by end_and_save, or left for the next start).
                if (starting_ && e.set_aside && e.user_id == opts_.user) {
                    const std::string user = one_line(e.user_id);
                    status_.say("an earlier session of " + user + " (" + one_line(e.session_id) +
                                ") is not in memory: it was set aside after failed memory passes (`engram memory failed " +
                                user + "` says why, `engram memory retry " + user + "` replays it at the next start)");
                }
                return;
            }
            if (e.duplicate) {
                status_.say("memory already saved for session " + e.session_id);
                return;
            }
            if (e.withdrawn) {
                status_.say("session " + e.session_id + " was no longer pending: its memory was erased meanwhile, or "
                            "another engram sharing the memory directory saved it");
                return;
            }
            status_.say("memory saved for " + e.user_id + " (session " + std::to_string(e.session_count) + ", " +
                        std::to_string(e.changes.size()) + (e.changes.size() == 1 ? " change)" : " changes)"));
            for (const auto& c : e.changes) status_.say("  " + c);  // say() scrubs the key
        };
        // Notices quote the server (a retried error's message); say() scrubs the key from them.
        hooks.on_notice = [this](const rt::session_info&, const std::string& text) { status_.say(text); };
        runtime_->set_hooks(hooks);
    }

    void wait_for_signal(asio::signal_set& signals) {
        signals.async_wait([this, &signals](boost::system::error_code ec, int signo) {
            if (ec) return;  // cancelled at the end
            if (++interrupts_ >= 2) {
                std::cerr << (agent_ && agent_->remember ? "\nengram: quitting at once; unsaved memory stays in the journal "
                                                           "and is saved the next time engram starts"
                                                         : "\nengram: quitting at once")
                          << std::endl;
                line_reader::restore_stdin_flags();
                std::_Exit(128 + signo);
            }
            first_signal_ = signo;
            // An agent that remembers nothing has no memory to save: it is not promised.
            const char* ending = agent_ && agent_->remember ? "ending the session and saving memory" : "ending the session";
            // SIGTERM comes from kill or a service manager, not a keyboard: no Ctrl-C advice.
            if (signo == SIGTERM || signo == SIGHUP)
                std::cerr << "\nengram: " << (signo == SIGHUP ? "hang-up" : "terminated") << ": " << ending << std::endl;
            else
                std::cerr << "\nengram: interrupted: " << ending << " (Ctrl-C again to quit at once)" << std::endl;
            if (interrupt_) interrupt_();
            // Lets a running turn finish within the shutdown grace period, then ends every session
            // and saves its memory.
            asio::co_spawn(ioc_, runtime_->shutdown(), asio::detached);
            wait_for_signal(signals);
        });
    }

    options opts_;
    status_line status_;
    error_context ctx_;
    std::vector<agents::agent_definition> agents_;
    agents::agent_definition* agent_ = nullptr;
    rt::runtime_config cfg_;
    asio::io_context ioc_;
    std::unique_ptr<rt::runtime> runtime_;
    std::mutex mutex_;
    std::vector<rt::memory_event> events_;
    int interrupts_ = 0;
    int first_signal_ = 0;
    // Set while runtime::start() runs (its memory events come on this thread; a replayed pass's
    // may come from the runtime's worker meanwhile).
    std::atomic<bool> starting_{false};
    int exit_ = exit_ok;
    bool ctrl_c_ends_normally_ = false;
    std::function<void()> interrupt_;
};

// Says on stderr that the model is slow to answer (retry backoff, queued behind the rate limit).
class wait_notice {
public:
    wait_notice(asio::any_io_executor ex, const status_line& status) : timer_(ex) {
        timer_.expires_after(std::chrono::seconds(3));
        // The handler may run after this object is gone (completion queued before cancel()), so
        // it owns what it reads.
        timer_.async_wait([got = got_reply_, say = status](boost::system::error_code ec) {
            if (!ec && !*got) say.say("still waiting for the model (retrying or queued)...");
        });
    }
    ~wait_notice() { timer_.cancel(); }
    void reply_started() { *got_reply_ = true; }

private:
    std::shared_ptr<bool> got_reply_ = std::make_shared<bool>(false);
    asio::steady_timer timer_;
};

void announce_memory(const session_host& host, const rt::session& s) {
    if (!host.agent().remember) {
        host.status().say("agent " + host.agent().name + " remembers nothing: this session is not saved");
        return;
    }
    const auto n = s.remembered_items();
    host.status().say(n == 0 ? "no memory yet for " + s.info().user_id + " (a new user)"
                             : "memory loaded for " + s.info().user_id + ": " + std::to_string(n) +
                                   (n == 1 ? " remembered item" : " remembered items"));
}

}  // namespace

int run_command(const options& o) {
    session_host host(o);  // argument and configuration errors first, before waiting on stdin
    std::string text;
    if (o.message) {
        text = *o.message;
    } else {
        if (::isatty(0)) std::cerr << "engram: reading the message from stdin (end it with Ctrl-D)\n";
        text = read_all_stdin();
        while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    }
    if (text.find_first_not_of(blank_characters) == std::string::npos)
        throw usage_error("the message is empty: pass --message TEXT or pipe it on stdin");
    // The API takes JSON, which is UTF-8: other bytes (a Latin-1 terminal, a binary file) would
    // come back as an unhelpful HTTP 400 "body is not JSON" after the connection was made.
    if (!memory::is_valid_utf8(text))
        throw usage_error("the message is not valid UTF-8 (is the terminal or file in another encoding?)");
    const bool json_out = o.output == "json";
    return host.run([text, json_out](session_host& h) -> asio::awaitable<void> {
        auto s = co_await h.runtime().open_session(h.agent().name, h.user());
        announce_memory(h, s);
        std::exception_ptr failure;
        std::optional<net::message> reply;
        bool line_open = false;  // printed text that does not end with a newline
        {
            wait_notice notice(h.runtime().executor(), h.status());
            try {
                auto on_delta = [&notice, &line_open, json_out](std::string_view d) {
                    notice.reply_started();
                    // After a failed write (reader gone) the reply is still received, so that
                    // the session ends and is saved as usual; main() reports the failure.
                    if (!json_out && stdout_ok() && !d.empty()) {
                        std::cout << d << std::flush;
                        line_open = d.back() != '\n';
                    }
                };
                reply = co_await s.send(text, on_delta);
            } catch (...) {
                failure = std::current_exception();
            }
        }
        // A reply cut off midway ends its line, so the error on stderr does not continue it.
        if (failure && line_open) std::cout << '\n' << std::flush;
        if (reply) {
            if (json_out) {
                std::cout << boost::json::serialize(message_json(*reply)) << std::endl;
            } else {
                const auto t = reply->text();
                if (!t.empty() && t.back() != '\n') std::cout << '\n';
                std::cout.flush();
                if (t.empty())
                    h.status().say("the reply has no text (stop_reason " + std::string(reply->stop_reason()) +
                                   "); --output json shows its content blocks");
            }
        }
        const int saved = co_await h.end_and_save(s, reply.has_value());
        // A turn cut short by the signal's shutdown is that signal's exit, not an error.
        if (failure && !(h.interrupted() && is_cancellation(failure))) std::rethrow_exception(failure);
        // A memory that could not be saved outranks the signal: 130 would say all is well.
        h.set_exit(saved != exit_ok ? saved : h.interrupted() ? h.signal_exit() : exit_ok);
    });
}

int chat_command(const options& o) {
    session_host host(o);
    host.ctrl_c_ends_normally();
    return host.run([](session_host& h) -> asio::awaitable<void> {
        auto s = co_await h.runtime().open_session(h.agent().name, h.user());
        // Cleaned as every status line is: a user id may hold C1 controls or bidi overrides.
        std::cout << "engram chat: agent " << one_line(h.agent().name) << " (" << one_line(h.agent().model)
                  << "), user " << one_line(s.info().user_id) << ". Type exit or quit (or Ctrl-D) to end"
                  << (h.agent().remember ? "; memory is saved then.\n" : ".\n");
        announce_memory(h, s);
        line_reader reader(h.runtime().executor());
        h.on_interrupt([&reader] { reader.cancel(); });
        bool had_reply = false;
        int last_failure = exit_ok;  // the status of the last message that failed (the chat went on)
        std::exception_ptr fatal;
        // Once stdout fails nobody sees the replies: the chat ends (and saves) like at end of input.
        while (!h.interrupted() && stdout_ok()) {
            std::cout << "you> " << std::flush;
            if (!stdout_ok()) break;
            auto line = co_await reader.read_line();
            if (!line) {
                std::cout << '\n';
                break;
            }
            const auto b = line->find_first_not_of(blank_characters);
            if (b == std::string::npos) continue;
            const auto e = line->find_last_not_of(blank_characters);
            const std::string text = line->substr(b, e - b + 1);
            if (text == "exit" || text == "quit") break;
            if (h.interrupted()) break;
            if (!memory::is_valid_utf8(text)) {  // as in run; the chat goes on
                last_failure = report(
                    {exit_usage, "the message is not valid UTF-8 (is the terminal in another encoding?); not sent"},
                    h.context());
                continue;
            }
            std::cout << "agent> " << std::flush;
            std::exception_ptr failure;
            {
                wait_notice notice(h.runtime().executor(), h.status());
                try {
                    auto on_delta = [&notice](std::string_view d) {
                        notice.reply_started();
                        if (stdout_ok()) std::cout << d << std::flush;
                    };
                    co_await s.send(text, on_delta);
                    had_reply = true;
                    std::cout << '\n' << std::flush;
                } catch (...) {
                    failure = std::current_exception();
                }
            }
            if (!failure) continue;
            std::cout << '\n' << std::flush;
            if (h.interrupted()) break;  // the turn was cut short by Ctrl-C
            if (fatal_for_chat(failure)) {
                fatal = failure;
                break;
            }
            last_failure = report(describe(failure, h.context()), h.context());
        }
        h.on_interrupt({});
        const int saved = co_await h.end_and_save(s, had_reply);
        if (fatal) std::rethrow_exception(fatal);
        // Ctrl-C is how a user ends a chat (exit 0 once saved); SIGTERM is not, and whoever sent
        // it learns from 143 that engram was terminated, as from any program. A chat in which no
        // message got a reply and one failed exits with that failure's status: a script piping
        // messages in must not read success from a chat that only met errors.
        int status = saved;
        if (status == exit_ok && h.terminated()) status = h.signal_exit();
        else if (status == exit_ok && !had_reply && !h.interrupted()) status = last_failure;
        h.set_exit(status);
    });
}

}  // namespace engram::cli
