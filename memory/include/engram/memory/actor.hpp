// memory::memory_actor: the single writer of memory, one strand-serialized mailbox.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/deferred.hpp>

#include <engram/memory/error.hpp>
#include <engram/memory/schema.hpp>
#include <engram/memory/store.hpp>

namespace engram::memory {

struct actor_options {
    /// Jobs buffered in the mailbox; when it is full, submitting waits (backpressure).
    std::size_t mailbox_capacity = 256;
    /// Records kept in RAM (least recently used evicted) so session starts do not hit the disk.
    /// 0 disables the cache. The cache is per process: with several processes sharing one
    /// directory, async_load may return a record another process has since updated (updates
    /// themselves always re-read the file under the user's lock, so no update is lost).
    std::size_t cache_capacity = 1024;
    /// Most updates of one user coalesced into one write. 0 is taken as 1 (no coalescing).
    std::size_t max_batch = 64;
};

/// The acknowledgement of one applied update.
struct apply_ack {
    apply_status status = apply_status::applied;  ///< duplicate, withdrawn, stale: see apply_status
    memory_diff diff;                             ///< What this update changed.
    user_memory memory;                           ///< The memory as durably written.
    std::size_t batch_size = 1;                   ///< Updates written together with this one.
};

/// The only writer of memory. Jobs may be submitted from any thread or strand; they go through a
/// bounded mailbox to one coroutine on an internal strand, which keeps per-user FIFO order and
/// hands the blocking store calls to `blocking_executor` (an asio::thread_pool's executor), so
/// different users proceed concurrently and no file I/O runs on the session io_context. Updates
/// of one user that queue up while a write of that user is in flight are written together
/// (coalesced) and each is acknowledged. A request the store refuses (check_request, or a result
/// the reader would reject) fails alone; the updates coalesced with it are still applied.
///
/// Every async_ function is token-generic (default asio::deferred), e.g.
/// `auto r = co_await actor.async_apply(user, req, asio::use_awaitable);`.
///
/// @par Completion
/// The handler runs on its associated executor (for use_awaitable: the awaiting coroutine's),
/// never inside the actor's strand; the actor keeps that executor's work count up meanwhile.
/// Errors are delivered in the result (never thrown): errc::shutting_down after stop(), and
/// the store's errors (invalid_user_id, memory_corrupt, disk_full, permission_denied, ...).
///
/// @par Cancellation
/// Not supported: a submitted job always runs to completion (it is a durable write).
///
/// @par Object lifetimes
/// The actor must outlive the start of every operation (a deferred one starts when it is awaited
/// or launched). Destroying it calls stop(): jobs already accepted still run, async_run completes
/// once they are done, and none of them touches the destroyed object. Arguments are taken by value.
///
/// @par Thread safety
/// All member functions are thread-safe.
class memory_actor {
public:
    /// @param executor where the mailbox coroutine runs (an internal strand is made from it).
    /// @param blocking_executor where store calls (fsync) run, e.g. thread_pool::get_executor().
    memory_actor(boost::asio::any_io_executor executor, boost::asio::any_io_executor blocking_executor,
                 std::shared_ptr<memory::store> store, actor_options options = {});
    /// Calls stop() (see "Object lifetimes"), so a forgotten stop() cannot keep the io_context's
    /// run() from returning.
    ~memory_actor();
    memory_actor(const memory_actor&) = delete;
    memory_actor& operator=(const memory_actor&) = delete;

    memory::store& store() noexcept;

    /// Runs the mailbox until stop(): then processes every job already accepted, waits for the
    /// in-flight writes, and completes. Signature: void(). Call once.
    template <class CompletionToken = boost::asio::deferred_t>
    auto async_run(CompletionToken&& token = CompletionToken{}) {
        return boost::asio::async_initiate<CompletionToken, void()>(
            [this](auto handler) {
                start_run(boost::asio::any_completion_handler<void()>(std::move(handler)));
            },
            token);
    }

    /// Stops taking jobs (later submissions complete with errc::shutting_down) and lets async_run
    /// drain and finish. Idempotent; callable from any thread.
    void stop();

    /// The user's memory (from the cache when possible). Signature: void(result<user_memory>).
    template <class CompletionToken = boost::asio::deferred_t>
    auto async_load(std::string user_id, CompletionToken&& token = CompletionToken{}) {
        return boost::asio::async_initiate<CompletionToken, void(result<user_memory>)>(
            [this](auto handler, std::string id) {
                submit_load(std::move(id), boost::asio::any_completion_handler<void(result<user_memory>)>(
                                               std::move(handler)));
            },
            token, std::move(user_id));
    }

    /// Applies one session's update durably (and removes its journal entry once it is in the
    /// record). A session id that was already applied completes with status duplicate; see
    /// apply_status for withdrawn and stale. Signature: void(result<apply_ack>).
    template <class CompletionToken = boost::asio::deferred_t>
    auto async_apply(std::string user_id, update_request request,
                     CompletionToken&& token = CompletionToken{}) {
        return boost::asio::async_initiate<CompletionToken, void(result<apply_ack>)>(
            [this](auto handler, std::string id, update_request req) {
                submit_apply(
                    std::move(id), std::move(req),
                    boost::asio::any_completion_handler<void(result<apply_ack>)>(std::move(handler)));
            },
            token, std::move(user_id), std::move(request));
    }

    /// Undoes the user's last applied update. Signature: void(result<user_memory>).
    template <class CompletionToken = boost::asio::deferred_t>
    auto async_undo_last(std::string user_id, CompletionToken&& token = CompletionToken{}) {
        return boost::asio::async_initiate<CompletionToken, void(result<user_memory>)>(
            [this](auto handler, std::string id) {
                submit_undo(std::move(id), boost::asio::any_completion_handler<void(result<user_memory>)>(
                                               std::move(handler)));
            },
            token, std::move(user_id));
    }

    /// Erases everything kept for the user (store::erase). Signature: void(result<bool>).
    template <class CompletionToken = boost::asio::deferred_t>
    auto async_erase(std::string user_id, CompletionToken&& token = CompletionToken{}) {
        return boost::asio::async_initiate<CompletionToken, void(result<bool>)>(
            [this](auto handler, std::string id) {
                submit_erase(std::move(id),
                             boost::asio::any_completion_handler<void(result<bool>)>(std::move(handler)));
            },
            token, std::move(user_id));
    }

    /// Durably journals a finished session before its extraction starts (in the user's FIFO).
    /// Signature: void(result<void>).
    template <class CompletionToken = boost::asio::deferred_t>
    auto async_journal_add(pending_job job, CompletionToken&& token = CompletionToken{}) {
        return boost::asio::async_initiate<CompletionToken, void(result<void>)>(
            [this](auto handler, pending_job j) {
                submit_journal_add(std::move(j), boost::asio::any_completion_handler<void(result<void>)>(
                                                     std::move(handler)));
            },
            token, std::move(job));
    }

    /// The jobs journaled but not yet merged, oldest first (call at start-up, re-run each job's
    /// extraction and async_apply it). Signature: void(result<std::vector<pending_job>>).
    /// `journal_detail::without_transcripts` leaves the transcripts in the journal, for
    /// async_journal_read to fetch one job's when its turn comes (store::journal_list).
    template <class CompletionToken = boost::asio::deferred_t>
    auto async_pending_jobs(CompletionToken&& token = CompletionToken{}) {
        return async_pending_jobs(journal_detail::whole, std::forward<CompletionToken>(token));
    }
    template <class CompletionToken = boost::asio::deferred_t>
    auto async_pending_jobs(journal_detail detail, CompletionToken&& token = CompletionToken{}) {
        return boost::asio::async_initiate<CompletionToken, void(result<std::vector<pending_job>>)>(
            [this](auto handler, journal_detail d) {
                submit_pending(d, boost::asio::any_completion_handler<void(result<std::vector<pending_job>>)>(
                                      std::move(handler)));
            },
            token, detail);
    }

    /// One pending job with its transcript, in the user's FIFO (so after an erase or a merge
    /// queued before it): errc::not_found once the journal no longer holds it
    /// (store::journal_read). Signature: void(result<pending_job>).
    template <class CompletionToken = boost::asio::deferred_t>
    auto async_journal_read(std::string user_id, std::string session_id, CompletionToken&& token = CompletionToken{}) {
        return boost::asio::async_initiate<CompletionToken, void(result<pending_job>)>(
            [this](auto handler, std::string u, std::string s) {
                submit_journal_read(std::move(u), std::move(s),
                                    boost::asio::any_completion_handler<void(result<pending_job>)>(std::move(handler)));
            },
            token, std::move(user_id), std::move(session_id));
    }

    /// Whether the journal still holds the session's job (store::journal_holds), in the user's
    /// FIFO. Signature: void(result<bool>).
    template <class CompletionToken = boost::asio::deferred_t>
    auto async_journal_holds(std::string user_id, std::string session_id, CompletionToken&& token = CompletionToken{}) {
        return boost::asio::async_initiate<CompletionToken, void(result<bool>)>(
            [this](auto handler, std::string u, std::string s) {
                submit_journal_holds(std::move(u), std::move(s),
                                     boost::asio::any_completion_handler<void(result<bool>)>(std::move(handler)));
            },
            token, std::move(user_id), std::move(session_id));
    }

    /// Counts a failed memory pass of a journaled session (store::journal_record_failure), in
    /// the user's FIFO. Signature: void(result<unsigned>), the new count.
    template <class CompletionToken = boost::asio::deferred_t>
    auto async_journal_record_failure(std::string user_id, std::string session_id, std::string why,
                                      CompletionToken&& token = CompletionToken{}) {
        return boost::asio::async_initiate<CompletionToken, void(result<unsigned>)>(
            [this](auto handler, std::string u, std::string s, std::string w) {
                submit_journal_record_failure(std::move(u), std::move(s), std::move(w),
                                              boost::asio::any_completion_handler<void(result<unsigned>)>(std::move(handler)));
            },
            token, std::move(user_id), std::move(session_id), std::move(why));
    }

private:
    void start_run(boost::asio::any_completion_handler<void()> handler);
    void submit_load(std::string user_id, boost::asio::any_completion_handler<void(result<user_memory>)> h);
    void submit_apply(std::string user_id, update_request req,
                      boost::asio::any_completion_handler<void(result<apply_ack>)> h);
    void submit_undo(std::string user_id, boost::asio::any_completion_handler<void(result<user_memory>)> h);
    void submit_erase(std::string user_id, boost::asio::any_completion_handler<void(result<bool>)> h);
    void submit_journal_add(pending_job job, boost::asio::any_completion_handler<void(result<void>)> h);
    void submit_pending(journal_detail detail, boost::asio::any_completion_handler<void(result<std::vector<pending_job>>)> h);
    void submit_journal_read(std::string user_id, std::string session_id,
                             boost::asio::any_completion_handler<void(result<pending_job>)> h);
    void submit_journal_holds(std::string user_id, std::string session_id,
                              boost::asio::any_completion_handler<void(result<bool>)> h);
    void submit_journal_record_failure(std::string user_id, std::string session_id, std::string why,
                                       boost::asio::any_completion_handler<void(result<unsigned>)> h);

public:
    struct impl;  ///< Implementation detail (public only so the .cpp can name it).

private:
    std::shared_ptr<impl> impl_;
};

}  // namespace engram::memory
