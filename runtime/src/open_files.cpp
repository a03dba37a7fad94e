#include "open_files.hpp"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>

namespace engram::runtime::detail {

std::string ensure_open_files(std::size_t wanted) {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return std::string("cannot read the open-file limit: ") + std::strerror(errno);
    const auto want = static_cast<rlim_t>(wanted);
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want) return {};
    const bool hard_enough = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want;
    rlimit raised = rl;
    raised.rlim_cur = hard_enough ? want : rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) != 0)
        return "cannot raise the open-file limit from " + std::to_string(rl.rlim_cur) + ": " + std::strerror(errno);
    if (hard_enough) return {};
    return "the open-file limit is " + std::to_string(rl.rlim_max) + " (hard) but " + std::to_string(wanted) +
           " are wanted (runtime_config::min_open_files); raise the hard limit (ulimit -Hn as root, LimitNOFILE= "
           "in a systemd unit, or /etc/security/limits.conf) or lower min_open_files";
}

}  // namespace engram::runtime::detail
