// engram memory ... / engram agents: offline commands on the memory store and agent files.
#include <iostream>

#include <boost/json/serialize.hpp>

#include <engram/memory/store.hpp>
#include <engram/memory/user_id.hpp>
#include <engram/runtime/config.hpp>

#include "commands.hpp"
#include "errors.hpp"
#include "output.hpp"

namespace json = boost::json;
namespace mem = engram::memory;
namespace rt = engram::runtime;

namespace engram::cli {

namespace {

// The memory commands only read or tidy what is stored: they never create the directory (a
// mistyped --memory-dir would become a new, empty one). Null when it does not exist.
// The memory directory as the user should see it (the default one is named too).
std::string shown_directory(const options& o) {
    const std::string dir = memory_directory(o);
    return dir.empty() ? mem::default_memory_directory().string() : dir;
}

std::shared_ptr<mem::store> open_existing_store(const options& o) {
    mem::store_options so;
    so.directory = memory_directory(o);
    so.create_directory = false;
    auto s = mem::store::open(so);
    if (!s && s.error().code == mem::errc::not_found) return nullptr;
    if (!s) throw cli_error(exit_memory, "cannot open the memory directory: " + s.error().message);
    return *s;
}

std::shared_ptr<mem::store> open_store(const options& o) {
    auto s = open_existing_store(o);
    if (!s)
        throw cli_error(exit_memory, "no memory directory at " + shown_directory(o) +
                                         ": nothing is stored there (check --memory-dir / ENGRAM_MEMORY_DIR)");
    return s;
}

// The id argument of `memory SUB ID`, validated like a session's --user.
std::string user_argument(const options& o, const std::string& sub) {
    std::string id;
    // "forget alice --user bob": which one was meant cannot be guessed, and forget cannot be undone.
    if (o.positionals.size() >= 2 && o.user_given && o.positionals[1] != o.user)
        throw usage_error("engram memory " + sub + " got two user ids ('" + one_line(o.positionals[1]) + "' and --user '" +
                          one_line(o.user) + "'): give one");
    if (o.positionals.size() >= 2) id = o.positionals[1];
    else if (o.user_given) id = o.user;
    else throw usage_error("engram memory " + sub + " needs a user id: engram memory " + sub + " ID");
    if (o.positionals.size() > 2) throw usage_error("engram memory " + sub + " takes one user id");
    if (auto ok = mem::encode_user_id(id); !ok)
        throw usage_error("invalid user id '" + one_line(id) + "': " + ok.error().message);
    return id;
}

template <class T>
T checked(mem::result<T> r, const std::string& doing) {
    if (!r) {
        const int code = r.error().code == mem::errc::invalid_user_id ? exit_usage : exit_memory;
        throw cli_error(code, doing + ": " + r.error().message);
    }
    return std::move(*r);
}

}  // namespace

std::vector<agents::agent_definition> resolve_agents(const options& o, std::vector<std::string>* origins) {
    std::vector<agents::agent_definition> list = agents::builtin_agents();
    std::vector<std::string> from(list.size(), "built-in");
    for (const auto& file : o.agent_files) {
        auto a = agents::load_agent_file(file);
        if (!a) throw usage_error(a.error().message);
        bool replaced = false;
        for (std::size_t i = 0; i < list.size(); ++i)
            if (list[i].name == a->name) {
                list[i] = *a;
                from[i] = file;
                replaced = true;
            }
        if (!replaced) {
            list.push_back(*a);
            from.push_back(file);
        }
    }
    if (origins) *origins = std::move(from);
    return list;
}

int agents_command(const options& o) {
    if (!o.positionals.empty()) throw usage_error("engram agents takes no arguments (see engram agents --help)");
    std::vector<std::string> origins;
    const auto list = resolve_agents(o, &origins);
    if (o.output == "json") {
        json::array out;
        for (const auto& a : list) out.push_back(agents::to_json(a));
        std::cout << mem::pretty_json(out);
    } else {
        print_agents(std::cout, list, origins);
    }
    return exit_ok;
}

namespace {

// `memory failed [ID]`: the journaled sessions whose memory passes failed in a way a retry would
// not change (runtime_config::set_aside_after_failed_passes), set aside or not yet.
int failed_sessions(const options& o) {
    if (o.positionals.size() > 2) throw usage_error("engram memory failed takes at most one user id");
    const std::string id = o.positionals.size() == 2 || o.user_given ? user_argument(o, "failed") : std::string();
    const unsigned limit = rt::runtime_config{}.set_aside_after_failed_passes;
    auto store = open_store(o);  // no directory: exit 3, never "nothing failed" (a mistyped --memory-dir)
    std::vector<mem::pending_job> failed;
    for (auto& j : checked(store->journal_list(mem::journal_detail::without_transcripts), "cannot read the journal"))
        if (j.failed_passes > 0 && (id.empty() || j.user_id == id)) failed.push_back(std::move(j));
    if (o.output == "json") {
        json::array out;
        for (const auto& j : failed)
            out.push_back(json::object{{"user_id", j.user_id},
                                       {"session_id", j.session_id},
                                       {"ended_at", j.created_at},
                                       {"failed_passes", j.failed_passes},
                                       {"set_aside", limit > 0 && j.failed_passes >= limit},
                                       {"last_failure", j.last_failure}});
        std::cout << mem::pretty_json(out);
        return exit_ok;
    }
    for (const auto& j : failed)
        std::cout << one_line(j.user_id) << "  session " << one_line(j.session_id) << "  ended " << j.created_at << "  failed "
                  << j.failed_passes << (j.failed_passes == 1 ? " time" : " times")
                  << (limit > 0 && j.failed_passes >= limit ? ", set aside (not replayed)" : "") << ": "
                  << one_line(j.last_failure) << '\n';
    if (failed.empty()) std::cerr << "engram: no session in the journal has a failed memory pass\n";
    return exit_ok;
}

// `memory retry [ID [SESSION]]` (or --user ID [SESSION]): the next start replays the failed
// sessions of every user, of ID, or that one. Clearing a count is harmless, so no ID means all
// (a broken extraction set-up fails every user's sessions alike).
int retry_sessions(const options& o) {
    std::vector<std::string> args(o.positionals.begin() + 1, o.positionals.end());  // [ID] [SESSION]
    std::string id;
    if (o.user_given) {
        id = o.user;  // then the one argument is a session: "retry --user carol s1"
        if (args.size() == 2) {
            if (args[0] != o.user)
                throw usage_error("engram memory retry got two user ids ('" + one_line(args[0]) + "' and --user '" +
                                  one_line(o.user) + "'): give one");
            args.erase(args.begin());
        }
    } else if (!args.empty()) {
        id = args.front();
        args.erase(args.begin());
    }
    if (args.size() > 1) throw usage_error("engram memory retry takes a user id and at most one session id");
    const std::string session = args.empty() ? std::string() : args.front();
    if (!id.empty())
        if (auto ok = mem::encode_user_id(id); !ok) throw usage_error("invalid user id '" + one_line(id) + "': " + ok.error().message);
    auto store = open_store(o);
    std::size_t count = 0;
    for (const auto& j : checked(store->journal_list(mem::journal_detail::without_transcripts), "cannot read the journal")) {
        if ((!id.empty() && j.user_id != id) || j.failed_passes == 0 || (!session.empty() && j.session_id != session)) continue;
        auto r = store->journal_retry(j.user_id, j.session_id);
        if (!r && r.error().code == mem::errc::not_found) continue;  // merged or forgotten meanwhile
        if (!r) throw cli_error(exit_memory, "cannot clear the failures of session " + one_line(j.session_id) + ": " + r.error().message);
        ++count;
    }
    if (!session.empty() && count == 0)
        throw cli_error(exit_memory, "no failed session " + one_line(session) + " of " + one_line(id) + " in the journal");
    const std::string whose = id.empty() ? std::string(" (all users)") : " of " + one_line(id);
    if (o.output == "json")
        std::cout << json::serialize(json::object{{"user_id", id.empty() ? json::value(nullptr) : json::value(id)}, {"sessions", count}})
                  << '\n';
    else if (count == 0)
        std::cout << "no failed sessions" << whose << '\n';
    else
        std::cout << count << (count == 1 ? " session" : " sessions") << whose << " will be replayed at the next start\n";
    return exit_ok;
}

}  // namespace

int memory_command(const options& o) {
    if (o.positionals.empty())
        throw usage_error("engram memory needs a sub-command: list, show, history, undo, export, forget, failed or retry");
    const std::string sub = o.positionals[0];
    const bool json_out = o.output == "json";
    if (sub == "list") {
        if (o.positionals.size() > 1) throw usage_error("engram memory list takes no user id");
        auto store = open_existing_store(o);
        if (!store) {
            if (json_out) std::cout << "[]\n";
            else std::cerr << "engram: no memory stored: " << shown_directory(o) << " is not a memory directory\n";
            return exit_ok;
        }
        const auto users = checked(store->list_users(), "cannot list users");
        if (json_out) {
            json::array out;
            for (const auto& u : users) out.push_back(json::value(u));
            std::cout << json::serialize(out) << '\n';
        } else {
            for (const auto& u : users) std::cout << one_line(u) << '\n';  // ids may hold any character
            if (users.empty()) std::cerr << "engram: no memory stored in " << store->directory().string() << '\n';
        }
        return exit_ok;
    }
    if (sub == "export") {
        auto store = open_store(o);
        if (o.positionals.size() == 1 && !o.user_given) {
            const auto all = checked(store->export_all(), "cannot export");
            std::cout << mem::pretty_json(all);
            // A record that cannot be read is exported as {"user_id","error"}: the output is a
            // partial export, which must not look like a complete one to a script.
            std::string failed;
            std::size_t count = 0;
            for (const auto& u : all.as_object().at("users").as_array())
                if (const auto* e = u.as_object().if_contains("error")) {
                    ++count;
                    if (failed.empty())
                        failed = std::string(u.as_object().at("user_id").as_string()) + " (" + std::string(e->as_string()) + ")";
                }
            if (count > 0)
                throw cli_error(exit_memory, "the export is incomplete: " + std::to_string(count) +
                                                 (count == 1 ? " record could not be read: " : " records could not be read, first ") +
                                                 failed + "; every other user was exported");
        } else {
            const auto id = user_argument(o, sub);
            std::cout << mem::pretty_json(checked(store->export_user(id), "cannot export " + id));
        }
        return exit_ok;
    }
    if (sub == "failed") return failed_sessions(o);
    if (sub == "retry") return retry_sessions(o);
    if (sub != "show" && sub != "history" && sub != "undo" && sub != "forget")
        throw usage_error("unknown memory sub-command '" + sub + "' (list, show, history, undo, export, forget, failed, retry)");
    const auto id = user_argument(o, sub);
    auto store = open_store(o);
    if (sub == "show") {
        const auto rec = checked(store->load(id), "cannot load the memory of " + id);
        if (json_out) std::cout << mem::pretty_json(mem::to_json(rec.memory));
        else print_memory(std::cout, rec.memory);
        // A damaged record was moved aside (by this or an earlier read): the user then looks new,
        // which must not read as "nothing was ever remembered".
        if (auto q = store->quarantined(id); q && !q->empty() && rec.memory.session_count == 0)
            std::cerr << "engram: " << q->size() << (q->size() == 1 ? " damaged copy" : " damaged copies") << " of " << one_line(id)
                      << "'s memory kept in " << (store->directory() / ".quarantine").string() << " (latest: " << q->back()
                      << "); engram no longer reads it\n";
    } else if (sub == "history") {
        const auto rec = checked(store->load(id), "cannot load the memory of " + id);
        if (json_out) {
            json::array out;
            for (const auto& h : rec.history) {
                json::array changes;
                for (const auto& c : h.changes) changes.push_back(json::value(c));
                json::object entry;
                entry["at"] = h.at;
                entry["session"] = h.session;
                entry["changes"] = std::move(changes);
                out.push_back(std::move(entry));
            }
            std::cout << mem::pretty_json(out);
        } else {
            print_history(std::cout, rec);
        }
    } else if (sub == "undo") {
        auto undone = store->undo_last(id);
        if (!undone && undone.error().code == mem::errc::not_found)
            throw cli_error(exit_memory, "nothing to undo for " + id + " (no update in its history)");
        const auto rec = checked(std::move(undone), "cannot undo the last update of " + id);
        if (json_out) {  // the memory now, as show gives it
            std::cout << mem::pretty_json(mem::to_json(rec.memory));
        } else {
            std::cout << "undid the last update of " << one_line(id) << "; memory now:\n";
            print_memory(std::cout, rec.memory);
        }
    } else {  // forget
        const bool existed = checked(store->erase(id), "cannot erase the memory of " + id);
        if (json_out)
            std::cout << json::serialize(json::object{{"user_id", id}, {"erased", existed}}) << '\n';
        else
            std::cout << (existed ? "forgot everything stored about " : "nothing was stored about ") << one_line(id) << '\n';
    }
    return exit_ok;
}

}  // namespace engram::cli
