// examples/scheme/scheme_coroutine.cpp — make-coroutine, resuming and
// yield, on moss coroutines (see scheme_coroutine.hpp for the protocol).
//
// Switching: resume_coroutine records the running Scheme coroutine (to
// restore it afterwards) and the exception-handler stack, then resumes the
// moss::Coroutine; values cross in both directions as the void* of
// resume()/yield(), which is just the Value word. Exceptions escaping the
// coroutine's procedure come out of resume() and keep propagating in the
// resumer; the coroutine is finished then.
//
// GC: the body lambda holds the SchemeCoroutine pointer and lives on the
// coroutine's own stack, which moss scans while the coroutine is suspended;
// while it runs, the resumer's frame holds it.
#include "scheme_coroutine.hpp"

namespace scheme {

namespace {

// Stack reservation of each Scheme coroutine: address space only; pages
// are committed as the stack grows.
constexpr std::size_t kCoroutineStackReserve = std::size_t(256) << 20;

void finish(Interp& in, SchemeCoroutine* c) {
  c->finished = true;
  c->running = false;
  if (c->co != nullptr) {
    in.live_coroutines_.erase(c->co);
    delete c->co;
    c->co = nullptr;
  }
}

}  // namespace

Value make_coroutine(Interp& in, Value procedure) {
  if (!is_procedure(procedure)) in.type_error("make-coroutine", "a procedure", procedure);
  auto* c = moss::make<SchemeCoroutine>(in.heap());
  in.store(c, c->procedure, procedure);
  return to_value(c);
}

Value resume_coroutine(Interp& in, Value value, Value argument) {
  auto* c = reinterpret_cast<SchemeCoroutine*>(value);
  if (c->finished) in.error("coroutine has finished", value);
  if (c->running) in.error("coroutine is already running", value);
  if (c->co == nullptr) {
    in.store(c, c->transfer, argument);
    moss::CoroutineOptions options;
    options.stack_reserve = kCoroutineStackReserve;
    Interp* interp = &in;
    c->co = new moss::Coroutine(
        in.heap(),
        [interp, c](moss::Yield& yield) {
          SchemeCoroutine* self = c;
          self->yield = &yield;
          Value first = self->transfer;
          Value result = interp->apply(self->procedure, 1, &first);
          interp->store(self, self->transfer, result);
        },
        options);
    in.live_coroutines_.insert(c->co);
  }
  SchemeCoroutine* previous = in.current_coroutine_;
  Value saved_handlers = in.handlers_;
  c->resumer = previous;
  c->running = true;
  in.current_coroutine_ = c;
  in.handlers_ = c->handlers;
  void* out = nullptr;
  try {
    out = c->co->resume(reinterpret_cast<void*>(argument));
  } catch (...) {
    in.current_coroutine_ = previous;
    in.handlers_ = saved_handlers;
    finish(in, c);
    throw;
  }
  in.current_coroutine_ = previous;
  in.handlers_ = saved_handlers;
  c->running = false;
  if (c->co->done()) {
    Value result = c->transfer;
    in.store(c, c->transfer, kFalse);
    finish(in, c);
    return result;
  }
  return reinterpret_cast<Value>(out);
}

Value yield_coroutine(Interp& in, Value value) {
  SchemeCoroutine* self = in.current_coroutine_;
  if (self == nullptr) in.error("yield: not inside a coroutine");
  in.store(self, self->handlers, in.handlers_);
  void* resumed_with = (*self->yield)(reinterpret_cast<void*>(value));
  // Resumed: resume_coroutine has made `self` current again.
  in.handlers_ = self->handlers;
  return reinterpret_cast<Value>(resumed_with);
}

void destroy_all_coroutines(Interp& in) {
  for (moss::Coroutine* co : in.live_coroutines_) delete co;
  in.live_coroutines_.clear();
}

}  // namespace scheme
