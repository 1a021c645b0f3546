// examples/scheme/scheme_coroutine.hpp — coroutines for Scheme programs.
//
// (make-coroutine proc) returns a coroutine object that is also a
// procedure: calling it with a value v resumes the coroutine (the first call
// starts it as (proc v)); the call returns the value the coroutine passes to
// (yield x), or proc's return value when it finishes. Calling a finished
// coroutine is an error. Each runs on a moss::Coroutine with a stack of its
// own, which moss scans while it is suspended.
//
// Lifetime: the moss::Coroutine is made on first resume and destroyed as
// soon as it finishes. A suspended one is kept alive by its own stack (a
// root), so it lasts until it finishes or the interpreter is destroyed
// (destroy_all_coroutines unwinds the rest).
//
// Used by eval.cpp (applying a coroutine), control.cpp (the primitives) and
// interp.cpp (teardown).
#pragma once

#include "interp.hpp"

namespace scheme {

struct SchemeCoroutine : Object {
  Value procedure = 0;
  Value transfer = 0;          // the first resume's argument; the final result
  Value handlers = kNil;       // its exception-handler stack while suspended
  moss::Coroutine* co = nullptr;
  moss::Yield* yield = nullptr;
  SchemeCoroutine* resumer = nullptr;  // the coroutine running when this was resumed
  bool running = false;
  bool finished = false;
  SchemeCoroutine() : Object(Kind::coroutine) {}
  void trace(moss::Visitor& v) const {
    trace_value(v, procedure);
    trace_value(v, transfer);
    trace_value(v, handlers);
  }
};

Value make_coroutine(Interp& in, Value procedure);
Value resume_coroutine(Interp& in, Value coroutine, Value argument);
Value yield_coroutine(Interp& in, Value value);
void destroy_all_coroutines(Interp& in);

}  // namespace scheme
