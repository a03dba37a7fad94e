#include <engram/memory/filesystem.hpp>

#include <cstdio>  // renameat2

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace engram::memory {

int filesystem::open_at(int dir_fd, const char* name, int flags, mode_t mode) {
    return ::openat(dir_fd, name, flags, mode);
}
ssize_t filesystem::read(int fd, void* buffer, std::size_t size) {
    return ::read(fd, buffer, size);
}
ssize_t filesystem::write(int fd, const void* data, std::size_t size) {
    return ::write(fd, data, size);
}
int filesystem::fsync(int fd) {
    return ::fsync(fd);
}
int filesystem::rename_at(int from_dir_fd, const char* from, int to_dir_fd, const char* to) {
    return ::renameat(from_dir_fd, from, to_dir_fd, to);
}
int filesystem::unlink_at(int dir_fd, const char* name, int flags) {
    return ::unlinkat(dir_fd, name, flags);
}
int filesystem::mkdir_at(int dir_fd, const char* name, mode_t mode) {
    return ::mkdirat(dir_fd, name, mode);
}

int filesystem::stat_at(int dir_fd, const char* name, struct stat* st, int flags) {
    return ::fstatat(dir_fd, name, st, flags);
}

int filesystem::rename_noreplace_at(int from_dir_fd, const char* from, int to_dir_fd, const char* to) {
    return ::renameat2(from_dir_fd, from, to_dir_fd, to, RENAME_NOREPLACE);
}

std::shared_ptr<filesystem> posix_filesystem() {
    static const auto instance = std::make_shared<filesystem>();
    return instance;
}

}  // namespace engram::memory
