#include <engram/memory/error.hpp>

#include <cerrno>
#include <cstring>

#include <boost/throw_exception.hpp>

namespace engram::memory {
namespace {

class category_impl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "engram.memory"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
            case errc::invalid_user_id:
                return "invalid user id";
            case errc::invalid_session_id:
                return "invalid session id";
            case errc::invalid_record:
                return "invalid memory record";
            case errc::memory_corrupt:
                return "memory file is corrupt";
            case errc::invalid_update:
                return "invalid memory update";
            case errc::io_error:
                return "I/O error";
            case errc::disk_full:
                return "disk full";
            case errc::permission_denied:
                return "permission denied";
            case errc::unsafe_path:
                return "unsafe path (symlink or non-regular file)";
            case errc::not_found:
                return "not found";
            case errc::shutting_down:
                return "memory actor is shutting down";
            case errc::unsupported_record:
                return "memory record not readable by this build (left untouched)";
        }
        return "unknown engram.memory error";
    }
};

}  // namespace

const boost::system::error_category& memory_category() noexcept {
    static const category_impl instance;
    return instance;
}

std::string error_info::what() const {
    if (message.empty()) return code.message();
    return message + " (" + code.message() + ")";
}

error_info error_from_errno(int err, const std::string& context) {
    errc e = errc::io_error;
    switch (err) {
        case ENOSPC:
#ifdef EDQUOT
        case EDQUOT:
#endif
            e = errc::disk_full;
            break;
        case EACCES:
        case EPERM:
        case EROFS:
            e = errc::permission_denied;
            break;
        case ELOOP:
        case ENOTDIR:
            e = errc::unsafe_path;
            break;
        case ENOENT:
            e = errc::not_found;
            break;
        default:
            break;
    }
    return make_error(e, context + ": " + std::strerror(err));
}

void throw_exception_from_error(const error_info& e, const boost::source_location& loc) {
    boost::throw_exception(memory_error(e), loc);
}

}  // namespace engram::memory
