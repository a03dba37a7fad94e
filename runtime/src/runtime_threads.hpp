// The thread pools a runtime made (private to runtime/).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>

#include <boost/asio/thread_pool.hpp>

namespace engram::runtime::detail {

/// The pool a runtime runs on when it owns one (runtime(threads, cfg)) and the memory actor's
/// pool for blocking file I/O. Held by a shared_ptr that the memory actor's completion shares,
/// so both pools outlive the runtime object until the actor has drained what it accepted (a
/// write posted to a destroyed pool would be a use after free). The last owner may be released
/// on one of these very threads, which cannot join its own pool: a pool is then stopped and
/// joined by a short-lived thread of its own.
class runtime_threads {
public:
    runtime_threads(std::unique_ptr<boost::asio::thread_pool> executor_pool, std::size_t io_threads);
    ~runtime_threads();
    runtime_threads(const runtime_threads&) = delete;
    runtime_threads& operator=(const runtime_threads&) = delete;

    boost::asio::thread_pool::executor_type io_executor() { return io_->get_executor(); }

    /// The memory actor has finished (or was never started).
    void actor_finished();
    void actor_started();
    /// Whether this thread is one of the runtime's own executor threads.
    bool on_executor_pool() const;
    bool owns_executor() const noexcept { return executor_pool_ != nullptr; }
    /// Blocks until actor_finished() or `limit` passed. Returns whether the actor finished.
    bool wait_for_actor(std::chrono::milliseconds limit);

    /// Set once both pools are stopped and joined (by whoever destroyed this object, or by the
    /// short-lived thread that did it for one of the pools' own threads).
    class joined_latch {
    public:
        void set();
        bool wait_for(std::chrono::milliseconds limit);

    private:
        std::mutex mutex_;
        std::condition_variable cv_;
        bool joined_ = false;
    };
    std::shared_ptr<joined_latch> joined() const noexcept { return joined_; }

private:
    std::unique_ptr<boost::asio::thread_pool> executor_pool_;
    std::unique_ptr<boost::asio::thread_pool> io_;
    std::mutex mutex_;
    std::condition_variable actor_done_;
    bool actor_running_ = false;
    std::shared_ptr<joined_latch> joined_ = std::make_shared<joined_latch>();
};

}  // namespace engram::runtime::detail
