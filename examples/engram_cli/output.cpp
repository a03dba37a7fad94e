#include "output.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>

#include <boost/json/array.hpp>

#include "errors.hpp"

namespace engram::cli {

namespace json = boost::json;

namespace {

constexpr std::string_view overview = R"(engram: agents that remember you

usage: engram COMMAND [OPTIONS]

commands:
  run      --agent NAME --user ID [-m TEXT]          one turn (message from stdin when absent), then save memory
  chat     --agent NAME --user ID                    interactive session; exit, quit, end of input or Ctrl-C save memory
  memory   list | show ID | history ID | undo ID | export [ID] | forget ID | failed [ID] | retry [ID [SESSION]]
  agents                                             list the built-in agents and those from --agent-file

options (any command):
  --agent NAME          agent to talk to (default: assistant)
  --agent-file FILE     load an agent definition (JSON); repeatable
  --user ID             whose memory to use
  --model MODEL         use this model for chat turns instead of the agent's
  --output text|json    json: run prints the final message as one JSON object; memory/agents print JSON
  --memory-dir DIR      where memory lives (env ENGRAM_MEMORY_DIR; default $XDG_DATA_HOME/engram/memory
                        or ~/.local/share/engram/memory)
  --base-url URL        API endpoint (env ANTHROPIC_BASE_URL; default https://api.anthropic.com)
  --ca-file FILE        extra trusted CA certificates (PEM) for a private endpoint (env ENGRAM_CA_FILE)
  --message, -m TEXT    run: the message to send (a TEXT starting with '-': --message=TEXT)
  --quiet, -q           no progress lines on stderr
  --help, -h            help (also: engram COMMAND --help, or engram help COMMAND)
  --version             print engram's version

environment: ANTHROPIC_API_KEY (required for run/chat), ANTHROPIC_BASE_URL, ENGRAM_MEMORY_DIR,
  ENGRAM_CA_FILE, ENGRAM_MAX_RETRIES (default 2), ENGRAM_RETRY_BASE_MS (default 500).
  A .env file in the working directory (KEY=VALUE lines) fills what the environment does not set.

exit status: 0 ok, 1 API or network error, or stdout could not be written (output incomplete; a
  session is still saved), 2 usage or configuration error (missing key, unknown agent, invalid
  user id, stdout closed), 3 memory error (store unusable, memory not saved), 130 run ended by
  Ctrl-C (after saving), or a second Ctrl-C: quit at once (unsaved memory stays in the journal
  and is saved at the next start), 143 ended by SIGTERM, 129 by SIGHUP (a closed terminal; both
  after saving memory)
)";

constexpr std::string_view run_help = R"(usage: engram run --user ID [--agent NAME] [--message TEXT] [--output text|json] [--model MODEL]

Sends one message (from --message, else all of stdin), streams the reply to stdout, ends the
session and waits until its memory is saved. Progress goes to stderr.
  --output json   print the final assistant message as one JSON object
                  {"id","model","content","stop_reason","usage"} instead of streaming text
Common options (--memory-dir, --agent-file, --base-url, --ca-file, --quiet): engram --help.
Exit status: 0 ok, 1 API/network error or stdout not writable (memory is still saved), 2
usage/configuration error, 3 memory error.
)";

constexpr std::string_view chat_help = R"(usage: engram chat --user ID [--agent NAME] [--model MODEL]

Interactive: type a message after "you> "; the reply streams after "agent> ". Says how much
memory was loaded. `exit`, `quit`, end of input (Ctrl-D) or Ctrl-C end the session and save its
memory; a second Ctrl-C quits at once (the session stays in the journal and is saved the next time
engram starts). A failed turn is reported and the chat goes on, except for errors that would fail
every turn (bad key, no connection, TLS).
Common options (--memory-dir, --agent-file, --base-url, --ca-file, --quiet): engram --help.
)";

constexpr std::string_view memory_help = R"(usage: engram memory SUBCOMMAND [ID [SESSION]] [--memory-dir DIR] [--output json]

Works on the memory files directly; no network, no API key needed. Never creates the memory
directory: without one, list says so (exit 0) and the others exit 3.
  list          users with stored memory
  show ID       what is remembered about ID (--output json: the memory as JSON)
  history ID    what each past update changed, oldest first
  undo ID       restore the memory as it was before the last update
  export [ID]   the full record of ID (memory, applied sessions, history), or of every user, as JSON
                (a record that cannot be read appears as {"user_id","error"} and the exit status is 3)
  forget ID     erase everything kept about ID: record, history, pending jobs, quarantined copies
  failed [ID]   sessions whose memory pass failed in a way a retry would not change (the model's
                output unusable twice, the request too large), with why; after 3 such failures a
                session is set aside: kept in the journal, no longer tried at each start
  retry [ID [SESSION]]  clear those failures (of one session, of ID's, or, with no ID, everyone's):
                the next start tries them again
Exit status: 0 ok, 1 stdout could not be written (e.g. a full disk), 2 usage error (bad
sub-command or id), 3 memory error (e.g. nothing to undo).
)";

constexpr std::string_view agents_help = R"(usage: engram agents [--agent-file FILE ...] [--output json]

Lists the built-in agents (assistant, sales, dba) and any loaded with --agent-file, with the
model each uses. --output json prints every field of every agent (a starting point for your own
agent file; see agents/README.md).
)";

std::string first_sentence(const std::string& s) {
    auto end = s.find(". ");
    std::string out = end == std::string::npos ? s : s.substr(0, end + 1);
    if (out.size() > 90) out = out.substr(0, 87) + "...";
    return out;
}

}  // namespace

std::string help_text(std::string_view command) {
    if (command == "run") return std::string(run_help);
    if (command == "chat") return std::string(chat_help);
    if (command == "memory") return std::string(memory_help);
    if (command == "agents") return std::string(agents_help);
    return std::string(overview);
}

json::object message_json(const net::message& m) {
    const auto& j = m.json();
    json::object out;
    auto copy = [&](const char* key) { out[key] = j.contains(key) ? j.at(key) : json::value(nullptr); };
    copy("id");
    copy("model");
    out["content"] = m.content();
    copy("stop_reason");
    copy("usage");
    return out;
}

// What memory holds came from a model and, before it, from a chat: on a terminal it is shown
// with control characters and bidirectional overrides replaced (one_line), like error lines.
void print_memory(std::ostream& out, const memory::user_memory& m) {
    out << "user: " << one_line(m.user_id) << "\n";
    out << "sessions: " << m.session_count;
    if (!m.last_session.empty()) out << " (last " << one_line(m.last_session) << ")";
    out << "\n";
    if (m.session_count == 0 && m.key_facts.empty() && m.preferences.empty() && m.running_summary.empty()) {
        out << "nothing remembered yet\n";
        return;
    }
    if (!m.running_summary.empty()) out << "summary: " << one_line(m.running_summary) << "\n";
    if (!m.key_facts.empty()) {
        out << "facts:\n";
        for (const auto& f : m.key_facts)
            out << "  - " << one_line(f.text) << "  [" << memory::to_string(f.confidence) << ", "
                << memory::to_string(f.source) << "]\n";
    }
    if (!m.preferences.empty()) {
        out << "preferences:\n";
        for (const auto& [k, v] : m.preferences) out << "  " << one_line(k) << ": " << one_line(v) << "\n";
    }
    if (!m.recent_decisions.empty()) {
        out << "decisions:\n";
        for (const auto& d : m.recent_decisions)
            out << "  " << one_line(d.topic) << ": " << one_line(d.decision)
                << (d.date.empty() ? "" : " (" + one_line(d.date) + ")") << "\n";
    }
}

void print_history(std::ostream& out, const memory::user_record& r) {
    if (r.history.empty()) {
        out << "no updates recorded for " << one_line(r.memory.user_id) << "\n";
        return;
    }
    for (const auto& h : r.history) {
        out << one_line(h.at) << "  session " << one_line(h.session) << "\n";
        if (h.changes.empty()) out << "    (nothing changed)\n";
        for (const auto& c : h.changes) out << "    " << one_line(c) << "\n";
    }
}

void print_agents(std::ostream& out, const std::vector<agents::agent_definition>& list,
                  const std::vector<std::string>& origins) {
    for (std::size_t i = 0; i < list.size(); ++i) {
        const auto& a = list[i];
        out << a.name << "  (" << a.model << ", " << origins[i] << ")\n";
        if (!a.description.empty()) out << "    " << first_sentence(a.description) << "\n";
    }
}

namespace {
bool stdout_broken = false;
int stdout_errno = 0;
}  // namespace

bool stdout_ok() {
    if (!stdout_broken && !std::cout.good()) {
        stdout_broken = true;
        stdout_errno = errno;  // still that of the failed write when called right after it
    }
    return !stdout_broken;
}

std::optional<std::string> stdout_failure() {
    if (stdout_ok()) {
        errno = 0;
        std::cout.flush();
        // Buffered output (a pipe or file is fully buffered) fails only here, at the flush.
        if (std::fflush(stdout) != 0 || std::ferror(stdout)) std::cout.setstate(std::ios::badbit);
        if (stdout_ok()) return std::nullopt;
    }
    return std::string("cannot write to stdout (") + (stdout_errno != 0 ? std::strerror(stdout_errno) : "write failed") +
           "); the output is incomplete";
}

void status_line::say(const std::string& text) const {
    if (quiet_) return;
    std::cout.flush();
    std::cerr << "engram: " << one_line(text, secret_) << std::endl;
}

}  // namespace engram::cli
