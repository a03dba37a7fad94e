#include "options.hpp"

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.hpp"

namespace engram::cli {

namespace {

// Options that take a value, and where it goes.
std::string* value_slot(options& o, const std::string& name) {
    static const std::map<std::string, std::string options::*> slots{
        {"--agent", &options::agent},       {"--user", &options::user},
        {"--output", &options::output},     {"--memory-dir", &options::memory_dir},
        {"--model", &options::model},       {"--ca-file", &options::ca_file},
        {"--base-url", &options::base_url},
    };
    auto it = slots.find(name);
    return it == slots.end() ? nullptr : &(o.*(it->second));
}

/// Whether `s` is one of the options, alone or with "=value".
bool is_option_name(const std::string& s) {
    const std::string name = s.starts_with("--") ? s.substr(0, s.find('=')) : s;
    static const std::set<std::string> flags{"--help", "-h", "--version", "--quiet", "-q", "--message", "-m", "--agent-file"};
    options probe;
    return flags.count(name) != 0 || value_slot(probe, name) != nullptr;
}

std::string trim(std::string s) {
    const auto b = s.find_first_not_of(" \t\r");
    if (b == std::string::npos) return {};
    const auto e = s.find_last_not_of(" \t\r");
    return s.substr(b, e - b + 1);
}

const char* env(const char* name) {
    const char* v = std::getenv(name);
    return v && *v ? v : nullptr;
}

unsigned env_number(const char* name, unsigned max) {
    const char* v = env(name);
    if (!v) return max + 1;  // "not set"
    unsigned n = 0;
    const std::string s = v;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || end != s.data() + s.size() || n > max)
        throw usage_error(std::string(name) + "=" + s + " is not a whole number between 0 and " + std::to_string(max));
    return n;
}

std::set<std::string>& dotenv_keys() {
    static std::set<std::string> keys;
    return keys;
}

}  // namespace

bool set_from_dotenv(const std::string& key) { return dotenv_keys().count(key) != 0; }

options parse_command_line(int argc, char** argv) {
    options o;
    bool only_positionals = false;
    std::set<std::string> given;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (only_positionals || arg.size() < 2 || arg[0] != '-') {
            if (o.command.empty()) o.command = arg;
            else o.positionals.push_back(arg);
            continue;
        }
        if (arg == "--") {
            only_positionals = true;
            continue;
        }
        std::optional<std::string> inline_value;
        if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string::npos) {
            inline_value = arg.substr(eq + 1);
            arg = arg.substr(0, eq);
        }
        auto take_value = [&]() -> std::string {
            std::string v;
            if (inline_value) {
                v = *inline_value;
            } else {
                if (i + 1 >= argc) throw usage_error(arg + " needs a value (see engram --help)");
                v = argv[++i];
                // "--user -q" forgot the user's value: -q is not a user to create memory for.
                // Only a long name takes "=value" (-m has one: --message).
                if (is_option_name(v))
                    throw usage_error(arg + " needs a value, and '" + v + "' is an option (write " +
                                      (arg == "-m" ? std::string("--message") : arg) + "=" + v + " if you mean it)");
            }
            // An empty value ("--memory-dir $UNSET") would silently mean the default: the real
            // memory, for a command such as forget.
            if (v.empty() && arg != "--message" && arg != "-m") throw usage_error(arg + " needs a non-empty value");
            return v;
        };
        // A value given twice is a mistake in a script, not a choice of the last one.
        auto once = [&](const std::string& name) {
            if (!given.insert(name).second) throw usage_error(name + " is given more than once");
        };
        // A flag takes no value: "--quiet=no" must not mean quiet.
        auto flag = [&]() {
            if (inline_value) throw usage_error(arg + " takes no value (remove '=" + *inline_value + "')");
            return true;
        };
        if (arg == "--help" || arg == "-h") o.help = flag();
        else if (arg == "--version") o.version = flag();
        else if (arg == "--quiet" || arg == "-q") o.quiet = flag();
        else if (arg == "--message" || arg == "-m") {
            once("--message");
            o.message = take_value();
        } else if (arg == "--agent-file") o.agent_files.push_back(take_value());
        else if (auto* slot = value_slot(o, arg)) {
            once(arg);
            *slot = take_value();
            if (arg == "--user") o.user_given = true;
        } else {
            throw usage_error("unknown option " + arg + " (see engram --help)");
        }
    }
    if (o.output != "text" && o.output != "json")
        throw usage_error("--output must be text or json, not '" + o.output + "'");
    return o;
}

namespace {

// The settings a .env may make: engram's own and the API's. Anything else (OPENSSL_CONF,
// SSL_CERT_FILE, LD_*, HOME, ...) could load code into the process, change which certificates
// are trusted or where memory lives, unannounced, from a file in whatever directory engram is
// run in.
bool dotenv_may_set(std::string_view key) {
    return key.starts_with("ANTHROPIC_") || key.starts_with("ENGRAM_");
}

// The file's text when it is the user's own and nobody else may write it (else nullopt, with the
// reason in `why_not`): anyone who can write a .env can send the key elsewhere. A missing file
// is no .env (empty `why_not`).
std::optional<std::string> read_own_file(const std::string& path, std::string& why_not) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        if (errno != ENOENT) why_not = std::strerror(errno);
        return std::nullopt;
    }
    struct closer {
        int fd;
        ~closer() { ::close(fd); }
    } guard{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        why_not = std::strerror(errno);
        return std::nullopt;
    }
    if (!S_ISREG(st.st_mode)) {
        why_not = "it is not a regular file";
        return std::nullopt;
    }
    if (st.st_uid != ::geteuid()) {
        why_not = "it belongs to another user";
        return std::nullopt;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        why_not = "others may write to it (chmod go-w " + path + ")";
        return std::nullopt;
    }
    std::string text;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            why_not = std::strerror(errno);
            return std::nullopt;
        }
        if (n == 0) break;
        text.append(buf, static_cast<std::size_t>(n));
        if (text.size() > 1024 * 1024) {
            why_not = "it is larger than 1 MiB";
            return std::nullopt;
        }
    }
    return text;
}

}  // namespace

int load_dotenv(const std::string& path) {
    std::string why_not;
    const auto text = read_own_file(path, why_not);
    if (!text) {
        if (!why_not.empty()) std::cerr << "engram: warning: " << path << " ignored: " << why_not << "\n";
        return 0;
    }
    std::istringstream in(*text);
    std::vector<std::string> refused;
    int set = 0, line_no = 0;
    std::string line;
    while (std::getline(in, line)) {
        ++line_no;
        line = trim(line);
        if (line.empty() || line[0] == '#') continue;
        if (line.starts_with("export ")) line = trim(line.substr(7));
        const auto eq = line.find('=');
        std::string key = eq == std::string::npos ? std::string() : trim(line.substr(0, eq));
        bool valid_key = !key.empty() && !(key[0] >= '0' && key[0] <= '9');
        for (char c : key)
            valid_key = valid_key && (c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'));
        if (!valid_key) {
            std::cerr << "engram: warning: " << path << " line " << line_no << ": expected KEY=VALUE, line ignored\n";
            continue;
        }
        std::string value = trim(line.substr(eq + 1));
        if (!value.empty() && (value[0] == '"' || value[0] == '\'')) {
            const char q = value[0];
            // Inside double quotes a backslash escapes the next character, \" included, so the
            // closing quote is the first one not escaped ("a\"b" is a"b, not a\).
            std::size_t close = std::string::npos;
            for (std::size_t k = 1; k < value.size() && close == std::string::npos; ++k) {
                if (q == '"' && value[k] == '\\') ++k;
                else if (value[k] == q) close = k;
            }
            if (close == std::string::npos) {
                std::cerr << "engram: warning: " << path << " line " << line_no << ": unterminated quote, line ignored\n";
                continue;
            }
            std::string inner = value.substr(1, close - 1);
            if (q == '"') {  // the usual escapes inside double quotes
                std::string out;
                for (std::size_t k = 0; k < inner.size(); ++k) {
                    if (inner[k] == '\\' && k + 1 < inner.size()) {
                        const char n = inner[++k];
                        out += n == 'n' ? '\n' : n == 't' ? '\t' : n;
                    } else {
                        out += inner[k];
                    }
                }
                inner = out;
            }
            value = inner;
        } else if (auto hash = value.find(" #"); hash != std::string::npos) {
            value = trim(value.substr(0, hash));
        }
        if (!dotenv_may_set(key)) {
            refused.push_back(key);
            continue;
        }
        if (env(key.c_str())) continue;  // the real environment wins
        ::setenv(key.c_str(), value.c_str(), 1);
        dotenv_keys().insert(key);
        ++set;
    }
    if (!refused.empty()) {
        std::cerr << "engram: warning: " << path << ": ignored";
        for (std::size_t i = 0; i < refused.size(); ++i) std::cerr << (i ? ", " : " ") << refused[i];
        std::cerr << " (a .env sets only ANTHROPIC_* and ENGRAM_* settings; set others in the environment)\n";
    }
    return set;
}

std::string memory_directory(const options& o) {
    if (!o.memory_dir.empty()) return o.memory_dir;
    if (const char* d = env("ENGRAM_MEMORY_DIR")) {
        // Where transcripts and memory go (and what `memory forget` erases) is announced when a
        // .env chose it: one in a cloned repository could put them in its working tree.
        static bool announced = false;
        if (set_from_dotenv("ENGRAM_MEMORY_DIR") && !std::exchange(announced, true))
            std::cerr << "engram: memory directory " << one_line(d) << " (set by ENGRAM_MEMORY_DIR in ./.env)\n";
        return d;
    }
    // The library's default (memory::default_memory_directory) falls back to "./.local/share/..."
    // without HOME: memory would then depend on the working directory and be silently lost or
    // split between directories. Only an absolute default is used here.
    const char* xdg = env("XDG_DATA_HOME");
    const char* home = env("HOME");
    if ((!xdg || *xdg != '/') && (!home || *home != '/'))
        throw usage_error("no memory directory: HOME is not set (or not absolute) and neither is XDG_DATA_HOME; "
                          "pass --memory-dir DIR or set ENGRAM_MEMORY_DIR");
    return {};
}

runtime::runtime_config make_runtime_config(const options& o) {
    runtime::runtime_config cfg;
    cfg.client = net::client_config::from_env();
    if (!o.base_url.empty()) cfg.client.base_url = o.base_url;
    if (!o.ca_file.empty()) cfg.client.ca_file = o.ca_file;
    else if (const char* ca = env("ENGRAM_CA_FILE")) cfg.client.ca_file = ca;
    if (const unsigned n = env_number("ENGRAM_MAX_RETRIES", 20); n <= 20) cfg.client.retry.max_retries = n;
    if (const unsigned ms = env_number("ENGRAM_RETRY_BASE_MS", 600'000); ms <= 600'000) {
        cfg.client.retry.initial_backoff = std::chrono::milliseconds(ms);
        if (cfg.client.retry.max_backoff < cfg.client.retry.initial_backoff)
            cfg.client.retry.max_backoff = cfg.client.retry.initial_backoff;
    }
    cfg.memory_directory = memory_directory(o);
    // A command-line process has one user at a time; sessions end when the command ends.
    cfg.idle_timeout = std::chrono::milliseconds(0);
    // The command waits for its save: a failure is reported at once, and the session stays in
    // the journal for the next start, rather than holding the command for minutes of retries.
    cfg.extraction_retry_delays.clear();
    return cfg;
}

}  // namespace engram::cli
