#include <engram/memory/actor.hpp>

#include <algorithm>
#include <atomic>
#include <deque>
#include <exception>
#include <list>
#include <unordered_map>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <engram/memory/user_id.hpp>

namespace asio = boost::asio;

namespace engram::memory {
namespace {

enum class job_kind { load, apply, undo, erase, journal_add, journal_read, journal_holds, journal_failure, pending, stop };

/// A mailbox entry. Exactly one of the paths below completes it: the actor after the work, the
/// send handler if the mailbox is closed, or the destructor (errc::shutting_down) if it is
/// dropped unprocessed. That way no caller ever waits forever.
struct job {
    job_kind kind = job_kind::stop;
    std::string user_id;
    update_request request;
    pending_job journal;  ///< journal_add: the job; journal_read and the like: its user and session ids
                          ///< (journal_failure: and the failure, in last_failure)
    journal_detail detail = journal_detail::whole;  ///< pending
    bool solo = false;  ///< An apply that must not be coalesced (see the retry in pump()).
    virtual ~job() = default;
    virtual void fail(error_info e) = 0;
};

template <class T>
struct job_of final : job {
    asio::any_completion_handler<void(result<T>)> handler;
    asio::any_completion_executor work;  // tracked: keeps the caller's executor alive meanwhile
    asio::any_io_executor leave;         // the actor's (non-strand) executor, to leave the strand

    job_of(job_kind k, asio::any_completion_handler<void(result<T>)> h, const asio::any_io_executor& fallback)
        : handler(std::move(h)), leave(fallback) {
        kind = k;
        if (handler)
            work = asio::prefer(asio::get_associated_executor(handler, fallback),
                                asio::execution::outstanding_work.tracked);
    }
    ~job_of() override {
        if (handler)
            fail(make_error(errc::shutting_down, "the memory actor stopped before running this job"));
    }
    void complete(result<T> r) {
        if (!handler) return;
        auto h = std::move(handler);
        auto ex = std::move(work);
        // Leave with a post (a caller never resumes inside the actor's strand), then dispatch to
        // the handler's own executor.
        asio::post(leave, [h = std::move(h), r = std::move(r), ex = std::move(ex)]() mutable {
            asio::dispatch(ex,
                           [h = std::move(h), r = std::move(r)]() mutable { std::move(h)(std::move(r)); });
        });
    }
    void fail(error_info e) override { complete(result<T>(std::move(e))); }
};

template <class T>
job_of<T>& as(job& j) {
    return static_cast<job_of<T>&>(j);
}

using job_ptr = std::shared_ptr<job>;
using mailbox_type = asio::experimental::concurrent_channel<void(boost::system::error_code, job_ptr)>;

error_info stopped_error() {
    return make_error(errc::shutting_down, "the memory actor has stopped");
}

}  // namespace

struct memory_actor::impl : std::enable_shared_from_this<impl> {
    asio::strand<asio::any_io_executor> strand;
    asio::any_io_executor fallback;
    asio::any_io_executor blocking;
    std::shared_ptr<memory::store> st;
    actor_options opts;
    mailbox_type mailbox;
    std::atomic<bool> accepting{true};
    std::atomic<bool> stop_requested{false};

    // Touched only on the strand.
    struct user_state {
        std::deque<job_ptr> queue;
        bool busy = false;
    };
    std::unordered_map<std::string, user_state> users;
    std::list<std::pair<std::string, user_memory>> lru;  // most recent first
    std::unordered_map<std::string, std::list<std::pair<std::string, user_memory>>::iterator> cache_index;
    std::size_t inflight = 0;
    bool draining = false;
    asio::steady_timer drained;

    impl(asio::any_io_executor ex, asio::any_io_executor blocking_ex, std::shared_ptr<memory::store> s,
         actor_options o)
        : strand(asio::make_strand(ex)),
          fallback(ex),
          blocking(std::move(blocking_ex)),
          st(std::move(s)),
          opts(o),
          mailbox(strand, o.mailbox_capacity),
          drained(strand) {
        opts.max_batch = std::max<std::size_t>(opts.max_batch, 1);  // 0 would make an empty batch
    }

    void submit(job_ptr j) {
        if (!accepting.load()) return j->fail(stopped_error());
        if (mailbox.try_send(boost::system::error_code{}, job_ptr(j))) return;
        // Full: wait for room (backpressure). The job is failed if the mailbox closes meanwhile.
        mailbox.async_send(boost::system::error_code{}, job_ptr(j), [j](boost::system::error_code ec) {
            if (ec) j->fail(stopped_error());
        });
    }

    // ---- cache (strand only) ----
    const user_memory* cache_get(const std::string& id) {
        auto it = cache_index.find(id);
        if (it == cache_index.end()) return nullptr;
        lru.splice(lru.begin(), lru, it->second);
        return &it->second->second;
    }
    void cache_put(const std::string& id, const user_memory& m) {
        if (opts.cache_capacity == 0) return;
        if (auto it = cache_index.find(id); it != cache_index.end()) {
            it->second->second = m;
            lru.splice(lru.begin(), lru, it->second);
            return;
        }
        lru.emplace_front(id, m);
        cache_index[id] = lru.begin();
        while (lru.size() > opts.cache_capacity) {
            cache_index.erase(lru.back().first);
            lru.pop_back();
        }
    }
    void cache_erase(const std::string& id) {
        if (auto it = cache_index.find(id); it != cache_index.end()) {
            lru.erase(it->second);
            cache_index.erase(it);
        }
    }

    // ---- blocking work (runs on `blocking`, finishes on the strand) ----
    template <class Work, class Done>
    void run_blocking(Work work, Done done) {
        ++inflight;
        asio::post(
            blocking, [self = shared_from_this(), work = std::move(work), done = std::move(done)]() mutable {
                using R = decltype(work());
                std::optional<R> r;
                try {
                    r.emplace(work());
                } catch (const std::exception& e) {  // e.g. bad_alloc: report it, keep the actor alive
                    r.emplace(make_error(errc::io_error, std::string("memory store failed: ") + e.what()));
                }
                asio::post(self->strand, [self, r = std::move(*r), done = std::move(done)]() mutable {
                    done(std::move(r));
                    --self->inflight;
                    if (self->draining && self->inflight == 0) self->drained.cancel();
                });
            });
    }

    void accept(job_ptr j) {
        if (j->kind == job_kind::pending) {
            run_blocking([s = st, detail = j->detail] { return s->journal_list(detail); },
                         [j](result<std::vector<pending_job>> r) {
                             as<std::vector<pending_job>>(*j).complete(std::move(r));
                         });
            return;
        }
        if (j->kind == job_kind::load) {
            auto it = users.find(j->user_id);
            const bool idle = it == users.end() || (!it->second.busy && it->second.queue.empty());
            if (idle)
                if (const auto* m = cache_get(j->user_id)) return as<user_memory>(*j).complete(*m);
        }
        const std::string id = j->user_id;
        users[id].queue.push_back(std::move(j));
        pump(id);
    }

    void finished(const std::string& id) {
        users[id].busy = false;
        pump(id);
    }

    void pump(const std::string& id) {
        auto it = users.find(id);
        if (it == users.end()) return;
        auto& u = it->second;
        if (u.busy) return;
        if (u.queue.empty()) {
            users.erase(it);
            return;
        }
        std::vector<job_ptr> batch;
        if (u.queue.front()->kind == job_kind::apply && !u.queue.front()->solo) {
            while (!u.queue.empty() && u.queue.front()->kind == job_kind::apply && !u.queue.front()->solo &&
                   batch.size() < opts.max_batch) {
                batch.push_back(std::move(u.queue.front()));
                u.queue.pop_front();
            }
        } else {
            batch.push_back(std::move(u.queue.front()));
            u.queue.pop_front();
        }
        u.busy = true;
        auto self = shared_from_this();
        switch (batch.front()->kind) {
            case job_kind::apply: {
                auto reqs = std::make_shared<std::vector<update_request>>();
                for (auto& j : batch) reqs->push_back(std::move(j->request));
                run_blocking([s = st, id, reqs] { return s->apply(id, *reqs); },
                             [self, id, batch, reqs](result<apply_result> r) {
                                 if (!r && r.error().code == errc::invalid_record && batch.size() > 1) {
                                     // One request's merge would not load back: run each alone, so
                                     // that only it is refused, not the updates coalesced with it.
                                     auto& queue = self->users[id].queue;
                                     for (std::size_t i = batch.size(); i-- > 0;) {
                                         batch[i]->request = std::move((*reqs)[i]);
                                         batch[i]->solo = true;
                                         queue.push_front(batch[i]);
                                     }
                                 } else if (!r) {
                                     self->cache_erase(id);
                                     for (auto& j : batch) j->fail(r.error());
                                 } else {
                                     self->cache_put(id, r->record.memory);
                                     for (std::size_t i = 0; i < batch.size(); ++i) {
                                         apply_ack ack{r->outcomes[i].status, std::move(r->outcomes[i].diff),
                                                       r->record.memory, batch.size()};
                                         as<apply_ack>(*batch[i]).complete(std::move(ack));
                                     }
                                 }
                                 self->finished(id);
                             });
                return;
            }
            case job_kind::load:
            case job_kind::undo: {
                const bool undo = batch.front()->kind == job_kind::undo;
                run_blocking([s = st, id, undo] { return undo ? s->undo_last(id) : s->load(id); },
                             [self, id, j = batch.front()](result<user_record> r) {
                                 if (r) {
                                     self->cache_put(id, r->memory);
                                     as<user_memory>(*j).complete(std::move(r->memory));
                                 } else {
                                     self->cache_erase(id);
                                     as<user_memory>(*j).complete(r.error());
                                 }
                                 self->finished(id);
                             });
                return;
            }
            case job_kind::erase:
                run_blocking([s = st, id] { return s->erase(id); },
                             [self, id, j = batch.front()](result<bool> r) {
                                 self->cache_erase(id);
                                 as<bool>(*j).complete(std::move(r));
                                 self->finished(id);
                             });
                return;
            case job_kind::journal_add:
                run_blocking([s = st, job = batch.front()->journal] { return s->journal_add(job); },
                             [self, id, j = batch.front()](result<void> r) {
                                 as<void>(*j).complete(std::move(r));
                                 self->finished(id);
                             });
                return;
            case job_kind::journal_read:
                // In the user's queue: after an erase or a merge queued before it, whose effect
                // on the journal it then sees.
                run_blocking([s = st, id, session = batch.front()->journal.session_id] { return s->journal_read(id, session); },
                             [self, id, j = batch.front()](result<pending_job> r) {
                                 as<pending_job>(*j).complete(std::move(r));
                                 self->finished(id);
                             });
                return;
            case job_kind::journal_holds:
                run_blocking([s = st, id, session = batch.front()->journal.session_id] { return s->journal_holds(id, session); },
                             [self, id, j = batch.front()](result<bool> r) {
                                 as<bool>(*j).complete(std::move(r));
                                 self->finished(id);
                             });
                return;
            case job_kind::journal_failure:
                run_blocking([s = st, id, job = batch.front()->journal] {
                                 return s->journal_record_failure(id, job.session_id, job.last_failure);
                             },
                             [self, id, j = batch.front()](result<unsigned> r) {
                                 as<unsigned>(*j).complete(std::move(r));
                                 self->finished(id);
                             });
                return;
            case job_kind::pending:
            case job_kind::stop:
                break;
        }
        u.busy = false;  // not reached: those kinds never enter a user queue
    }

    asio::awaitable<void> loop() {
        for (;;) {
            auto [ec, j] = co_await mailbox.async_receive(asio::as_tuple(asio::use_awaitable));
            if (ec || !j || j->kind == job_kind::stop) break;
            accept(std::move(j));
        }
        draining = true;
        accepting = false;
        // Jobs that were accepted just before stop() may still be buffered: run them too.
        while (mailbox.try_receive([this](boost::system::error_code, job_ptr j) {
            if (j && j->kind != job_kind::stop) accept(std::move(j));
        })) {
        }
        while (inflight > 0) {
            drained.expires_at(asio::steady_timer::time_point::max());
            co_await drained.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        // Close, then drop anything that raced in (each dropped job completes with shutting_down).
        mailbox.close();
        mailbox.reset();
        mailbox.close();
    }
};

memory_actor::memory_actor(asio::any_io_executor executor, asio::any_io_executor blocking_executor,
                           std::shared_ptr<memory::store> store, actor_options options)
    : impl_(std::make_shared<impl>(std::move(executor), std::move(blocking_executor), std::move(store),
                                   options)) {}

memory_actor::~memory_actor() {
    // Without this the loop would wait on the mailbox forever, and its io_context's run() with it.
    // The loop, its jobs and their handlers share impl_, so none of them outlives what it uses.
    stop();
}

memory::store& memory_actor::store() noexcept {
    return *impl_->st;
}

namespace {
// A free coroutine taking the owner by value: its frame keeps the actor's state alive, and no
// lambda capture can dangle once the spawning function returns.
asio::awaitable<void> run_loop(std::shared_ptr<memory_actor::impl> self) {
    co_await self->loop();
}
}  // namespace

void memory_actor::start_run(asio::any_completion_handler<void()> handler) {
    auto work = asio::prefer(asio::get_associated_executor(handler, impl_->fallback),
                             asio::execution::outstanding_work.tracked);
    auto self = impl_;
    asio::co_spawn(
        self->strand, run_loop(self),
        [h = std::move(handler), work = std::move(work), leave = self->fallback](std::exception_ptr) mutable {
            asio::post(leave, [h = std::move(h), work = std::move(work)]() mutable {
                asio::dispatch(work, std::move(h));
            });
        });
}

void memory_actor::stop() {
    if (impl_->stop_requested.exchange(true)) return;
    impl_->accepting = false;
    auto marker = std::make_shared<job_of<void>>(
        job_kind::stop, asio::any_completion_handler<void(result<void>)>(), impl_->fallback);
    impl_->mailbox.async_send(boost::system::error_code{}, job_ptr(marker), [](boost::system::error_code) {});
}

namespace {
// Under the store's names: an id that is too long only once its upper case is escaped fails
// its own request here, not a whole coalesced batch in the store.
result<void> check_user(const std::string& id, name_case names) {
    if (auto e = encode_user_id(id, names); !e) return e.error();
    return {};
}
}  // namespace

void memory_actor::submit_load(std::string user_id,
                               asio::any_completion_handler<void(result<user_memory>)> h) {
    auto j = std::make_shared<job_of<user_memory>>(job_kind::load, std::move(h), impl_->fallback);
    if (auto c = check_user(user_id, impl_->st->names()); !c) return j->fail(c.error());
    j->user_id = std::move(user_id);
    impl_->submit(std::move(j));
}

void memory_actor::submit_apply(std::string user_id, update_request req,
                                asio::any_completion_handler<void(result<apply_ack>)> h) {
    auto j = std::make_shared<job_of<apply_ack>>(job_kind::apply, std::move(h), impl_->fallback);
    if (auto c = check_user(user_id, impl_->st->names()); !c) return j->fail(c.error());
    // Checked here so one bad request never fails the updates coalesced with it.
    if (auto c = check_request(req, impl_->st->limits(), impl_->st->names()); !c) return j->fail(c.error());
    j->user_id = std::move(user_id);
    j->request = std::move(req);
    impl_->submit(std::move(j));
}

void memory_actor::submit_undo(std::string user_id,
                               asio::any_completion_handler<void(result<user_memory>)> h) {
    auto j = std::make_shared<job_of<user_memory>>(job_kind::undo, std::move(h), impl_->fallback);
    if (auto c = check_user(user_id, impl_->st->names()); !c) return j->fail(c.error());
    j->user_id = std::move(user_id);
    impl_->submit(std::move(j));
}

void memory_actor::submit_erase(std::string user_id, asio::any_completion_handler<void(result<bool>)> h) {
    auto j = std::make_shared<job_of<bool>>(job_kind::erase, std::move(h), impl_->fallback);
    if (auto c = check_user(user_id, impl_->st->names()); !c) return j->fail(c.error());
    j->user_id = std::move(user_id);
    impl_->submit(std::move(j));
}

void memory_actor::submit_journal_add(pending_job job, asio::any_completion_handler<void(result<void>)> h) {
    auto j = std::make_shared<job_of<void>>(job_kind::journal_add, std::move(h), impl_->fallback);
    if (auto c = check_user(job.user_id, impl_->st->names()); !c) return j->fail(c.error());
    if (auto s = encode_session_id(job.session_id, impl_->st->names()); !s) return j->fail(s.error());
    j->user_id = job.user_id;
    j->journal = std::move(job);
    impl_->submit(std::move(j));
}

void memory_actor::submit_pending(journal_detail detail,
                                  asio::any_completion_handler<void(result<std::vector<pending_job>>)> h) {
    auto j =
        std::make_shared<job_of<std::vector<pending_job>>>(job_kind::pending, std::move(h), impl_->fallback);
    j->detail = detail;
    impl_->submit(std::move(j));
}

namespace {
// A journal_read, journal_holds or journal_failure job: in the user's queue, naming one session.
template <class T>
void submit_journal_query(memory_actor::impl& a, job_kind kind, std::string user_id, std::string session_id,
                          asio::any_completion_handler<void(result<T>)> h, std::string failure = {}) {
    auto j = std::make_shared<job_of<T>>(kind, std::move(h), a.fallback);
    if (auto c = check_user(user_id, a.st->names()); !c) return j->fail(c.error());
    if (auto s = encode_session_id(session_id, a.st->names()); !s) return j->fail(s.error());
    j->user_id = user_id;
    j->journal.user_id = std::move(user_id);
    j->journal.session_id = std::move(session_id);
    j->journal.last_failure = std::move(failure);
    a.submit(std::move(j));
}
}  // namespace

void memory_actor::submit_journal_read(std::string user_id, std::string session_id,
                                       asio::any_completion_handler<void(result<pending_job>)> h) {
    submit_journal_query<pending_job>(*impl_, job_kind::journal_read, std::move(user_id), std::move(session_id),
                                      std::move(h));
}

void memory_actor::submit_journal_holds(std::string user_id, std::string session_id,
                                        asio::any_completion_handler<void(result<bool>)> h) {
    submit_journal_query<bool>(*impl_, job_kind::journal_holds, std::move(user_id), std::move(session_id),
                               std::move(h));
}

void memory_actor::submit_journal_record_failure(std::string user_id, std::string session_id, std::string why,
                                                 asio::any_completion_handler<void(result<unsigned>)> h) {
    submit_journal_query<unsigned>(*impl_, job_kind::journal_failure, std::move(user_id), std::move(session_id),
                                   std::move(h), std::move(why));
}

}  // namespace engram::memory
