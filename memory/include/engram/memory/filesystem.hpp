// A thin seam over the POSIX calls the store makes, so tests can inject ENOSPC, EACCES, EIO, ...
#pragma once

#include <cstddef>
#include <memory>

#include <sys/stat.h>
#include <sys/types.h>

namespace engram::memory {

/// Every member behaves like the POSIX call it is named after: it returns -1 and sets errno on
/// failure. The default implementations call the real functions; a test derives from this class
/// and overrides one member to fail on cue. Implementations must be thread-safe.
class filesystem {
public:
    virtual ~filesystem() = default;
    virtual int open_at(int dir_fd, const char* name, int flags, mode_t mode);
    virtual ssize_t read(int fd, void* buffer, std::size_t size);
    virtual ssize_t write(int fd, const void* data, std::size_t size);
    virtual int fsync(int fd);
    virtual int rename_at(int from_dir_fd, const char* from, int to_dir_fd, const char* to);
    virtual int unlink_at(int dir_fd, const char* name, int flags);
    virtual int mkdir_at(int dir_fd, const char* name, mode_t mode);
    virtual int stat_at(int dir_fd, const char* name, struct stat* st, int flags);  ///< fstatat
    /// renameat2(..., RENAME_NOREPLACE): EEXIST when `to` exists; EINVAL where the file system
    /// cannot (the store then checks with stat_at first).
    virtual int rename_noreplace_at(int from_dir_fd, const char* from, int to_dir_fd, const char* to);
};

/// The shared real implementation.
std::shared_ptr<filesystem> posix_filesystem();

}  // namespace engram::memory
