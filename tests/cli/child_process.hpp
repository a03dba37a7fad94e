// Runs a program as a child process with a chosen environment, working directory and stdin,
// capturing stdout and stderr, with a deadline (SIGKILL when exceeded).
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace engram::test {

struct child_result {
    int exit_status = -1;  ///< exit code, or 128 + signal when killed by a signal
    bool timed_out = false;
    std::string out;
    std::string err;
};

/// Where the child's stdout goes.
enum class child_stdout {
    pipe,         ///< captured into child_result::out
    broken_pipe,  ///< a pipe whose reading end is already closed (as `| head` after it exited)
    closed,       ///< no descriptor 1 at all (as `>&-`)
    dev_full,     ///< /dev/full: every write fails with ENOSPC
};

struct child_options {
    std::filesystem::path cwd;
    child_stdout stdout_to = child_stdout::pipe;
    bool unset_home = false;  ///< true: no HOME in the child's environment
    /// Added to the parent's environment, from which every ANTHROPIC_*, ENGRAM_* and XDG_* variable
    /// is removed and HOME is set to `cwd` (so nothing of the developer's set-up leaks in).
    std::map<std::string, std::string> env;
    std::string stdin_text;
    bool close_stdin = true;  ///< false: keep stdin open until `signal_after` was sent
    std::chrono::milliseconds timeout{60'000};
    /// When non-empty: send these signals (in order, `signal_gap` apart) once stdout contains
    /// `signal_when_out_contains`.
    std::vector<int> signals;
    std::string signal_when_out_contains;
    /// Or once this returns true (asked every 50 ms): something the test's own server saw.
    std::function<bool()> signal_when;
    std::chrono::milliseconds signal_gap{300};
};

child_result run_child(const std::string& program, const std::vector<std::string>& args, const child_options& o);

}  // namespace engram::test
