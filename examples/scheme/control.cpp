// examples/scheme/control.cpp — primitives about control: procedures and
// application (apply, map, for-each ...), multiple values, continuations,
// dynamic-wind, exceptions, promises, parameters, coroutines, eval, exit,
// time and the environment.
//
// Non-local exits are C++ exceptions (see interp.hpp): a continuation
// throws ContinuationThrow to the call/cc that made it (escape-only: once
// call/cc has returned, its continuation is dead); `raise` calls the
// innermost handler installed by with-exception-handler or, when the
// innermost is a guard (marked #f on the handler stack) or there is none,
// throws SchemeRaise. Every primitive here that installs dynamic state
// (dynamic-wind, with-exception-handler, parameterize, call/cc) restores it
// on the way out, exceptions included, and lets every exception pass on.
//
// Installed by Interp's constructor.
#include <chrono>
#include <cstdlib>
#include <string>

#include "interp.hpp"
#include "scheme_coroutine.hpp"

namespace scheme {

namespace {

void expect_procedure(Interp& in, Value v, const char* who) {
  if (!is_procedure(v)) in.type_error(who, "a procedure", v);
}

// ---- Application ----

Value p_procedure_p(Interp&, Value* a, int) { return make_bool(is_procedure(a[0])); }

Value p_apply(Interp& in, Value* a, int n) {
  expect_procedure(in, a[0], "apply");
  Value args = n > 1 ? a[n - 1] : kNil;
  list_length(in, args, "apply");
  for (int i = n - 2; i >= 1; --i) args = in.cons(a[i], args);
  return in.tail_call(a[0], args);
}

// Calls f on the i-th elements of `lists` (count lists, in a[1..]) for each
// i until the shortest ends; `collect` decides whether results are kept.
Value map_lists(Interp& in, Value* a, int n, bool collect, const char* who) {
  Value f = a[0];
  expect_procedure(in, f, who);
  Value head = kNil, tail = 0;
  // Appends one result to the list being built (head and tail stay in this
  // frame, where the conservative stack scan sees them).
  auto append = [&in, &head, &tail](Value r) {
    Value cell = in.cons(r, kNil);
    if (tail == 0) {
      head = cell;
    } else {
      in.store(as_pair(tail), as_pair(tail)->cdr, cell);
    }
    tail = cell;
  };
  if (n == 2) {
    Value x = a[1];
    for (; is_pair(x); x = cdr(x)) {
      Value item = car(x);
      Value r = in.apply(f, 1, &item);
      if (collect) append(r);
    }
    if (x != kNil) in.type_error(who, "a proper list", a[1]);
    return collect ? head : kUnspecified;
  }
  // Several lists: cursors and arguments live in heap vectors reachable
  // from this frame.
  int k = n - 1;
  Value cursors = in.make_vector(static_cast<std::size_t>(k), kNil);
  Value args = in.make_vector(static_cast<std::size_t>(k), kNil);
  for (int i = 0; i < k; ++i) in.store(as_vector(cursors), as_vector(cursors)->items()[i], a[i + 1]);
  for (;;) {
    Vector* cv = as_vector(cursors);
    Vector* av = as_vector(args);
    for (int i = 0; i < k; ++i) {
      Value c = cv->items()[i];
      if (!is_pair(c)) return collect ? head : kUnspecified;
      in.store(av, av->items()[i], car(c));
      in.store(cv, cv->items()[i], cdr(c));
    }
    Value r = in.apply(f, k, av->items());
    if (collect) append(r);
  }
}

Value p_map(Interp& in, Value* a, int n) { return map_lists(in, a, n, true, "map"); }
Value p_for_each(Interp& in, Value* a, int n) { return map_lists(in, a, n, false, "for-each"); }

// vector-map / vector-for-each / string-map / string-for-each over the
// shortest of the sequences a[1..].
Value map_sequences(Interp& in, Value* a, int n, bool strings, bool collect, const char* who) {
  Value f = a[0];
  expect_procedure(in, f, who);
  std::uint32_t length = UINT32_MAX;
  for (int i = 1; i < n; ++i) {
    if (strings ? !is_string(a[i]) : !is_vector(a[i])) in.type_error(who, strings ? "a string" : "a vector", a[i]);
    length = std::min(length, as_object(a[i])->length);
  }
  Value result = 0;
  if (collect) result = strings ? in.make_string(length, ' ') : in.make_vector(length, kFalse);
  int k = n - 1;
  Value args = in.make_vector(static_cast<std::size_t>(k), kFalse);
  for (std::uint32_t j = 0; j < length; ++j) {
    Vector* av = as_vector(args);
    for (int i = 0; i < k; ++i) {
      Value item = strings ? make_char(static_cast<unsigned char>(as_string(a[i + 1])->data()[j]))
                           : as_vector(a[i + 1])->items()[j];
      in.store(av, av->items()[i], item);
    }
    Value r = in.apply(f, k, av->items());
    if (!collect) continue;
    if (strings) {
      if (!is_char(r) || char_value(r) > 255) in.type_error(who, "a character result", r);
      as_string(result)->data()[j] = static_cast<char>(char_value(r));
    } else {
      in.store(as_vector(result), as_vector(result)->items()[j], r);
    }
  }
  return collect ? result : kUnspecified;
}

Value p_vector_map(Interp& in, Value* a, int n) { return map_sequences(in, a, n, false, true, "vector-map"); }
Value p_vector_for_each(Interp& in, Value* a, int n) {
  return map_sequences(in, a, n, false, false, "vector-for-each");
}
Value p_string_map(Interp& in, Value* a, int n) { return map_sequences(in, a, n, true, true, "string-map"); }
Value p_string_for_each(Interp& in, Value* a, int n) {
  return map_sequences(in, a, n, true, false, "string-for-each");
}

// ---- Multiple values ----

Value p_values(Interp& in, Value* a, int n) { return in.make_values(a, n); }

Value p_call_with_values(Interp& in, Value* a, int) {
  expect_procedure(in, a[0], "call-with-values");
  expect_procedure(in, a[1], "call-with-values");
  Value v = in.apply(a[0], 0, nullptr);
  Value args;
  if (has_kind(v, Kind::values)) {
    Vector* vals = as_vector(v);
    args = in.list_from_array(vals->items(), static_cast<int>(vals->length));
  } else {
    args = in.cons(v, kNil);
  }
  return in.tail_call(a[1], args);
}

// ---- Continuations and dynamic-wind ----

Value p_call_cc(Interp& in, Value* a, int) {
  expect_procedure(in, a[0], "call/cc");
  auto* k = moss::make<Continuation>(in.heap(), in.next_continuation_id_++);
  Value kv = to_value(k);
  Value saved_handlers = in.handlers_;
  try {
    Value result = in.apply(a[0], 1, &kv);
    k->active = false;
    return result;
  } catch (const ContinuationThrow& t) {
    k->active = false;
    if (t.id != k->id) throw;
    in.handlers_ = saved_handlers;
    return in.take_inflight(t.slot);
  } catch (...) {
    k->active = false;
    throw;
  }
}

Value p_dynamic_wind(Interp& in, Value* a, int) {
  for (int i = 0; i < 3; ++i) expect_procedure(in, a[i], "dynamic-wind");
  Value after = a[2];
  in.apply(a[0], 0, nullptr);
  Value result;
  try {
    result = in.apply(a[1], 0, nullptr);
  } catch (...) {
    // Leaving by an escape or an error: run the after thunk, unless the
    // interpreter is being torn down (no Scheme code may run then).
    if (!in.tearing_down_) in.apply(after, 0, nullptr);
    throw;
  }
  in.apply(after, 0, nullptr);
  return result;
}

// ---- Exceptions ----

Value call_handler(Interp& in, Value obj) {
  Value h = in.handlers_;
  Value saved = h;
  in.handlers_ = cdr(h);  // the handler runs with the outer handlers
  Value result;
  try {
    result = in.apply(car(h), 1, &obj);
  } catch (...) {
    in.handlers_ = saved;
    throw;
  }
  in.handlers_ = saved;
  return result;
}

bool guard_or_none(Interp& in) { return in.handlers_ == kNil || car(in.handlers_) == kFalse; }

Value p_raise(Interp& in, Value* a, int) { in.raise(a[0]); }

Value p_raise_continuable(Interp& in, Value* a, int) {
  if (guard_or_none(in)) {
    moss::prepare_deep_unwind();
    throw SchemeRaise{in.push_inflight(a[0]), true};
  }
  return call_handler(in, a[0]);
}

Value p_error(Interp& in, Value* a, int n) {
  Value irritants = in.list_from_array(a + 1, n - 1);
  in.raise(in.make_error_object(a[0], irritants, nullptr));
}

Value p_with_exception_handler(Interp& in, Value* a, int) {
  expect_procedure(in, a[0], "with-exception-handler");
  expect_procedure(in, a[1], "with-exception-handler");
  Value handler = a[0];
  Value saved = in.handlers_;
  in.handlers_ = in.cons(handler, saved);
  try {
    Value result = in.apply(a[1], 0, nullptr);
    in.handlers_ = saved;
    return result;
  } catch (const SchemeError& e) {
    // An error signalled by the implementation: give the handler an error
    // object (after unwinding to here). If it returns, the error stands.
    in.handlers_ = saved;
    Value obj = in.make_error_object(in.make_string(e.what()), kNil, nullptr);
    in.apply(handler, 1, &obj);
    throw;
  } catch (...) {
    in.handlers_ = saved;
    throw;
  }
}

ErrorObject* expect_error_object(Interp& in, Value v, const char* who) {
  if (!has_kind(v, Kind::error_object)) in.type_error(who, "an error object", v);
  return reinterpret_cast<ErrorObject*>(v);
}

Value p_error_object_p(Interp&, Value* a, int) { return make_bool(has_kind(a[0], Kind::error_object)); }
Value p_error_object_message(Interp& in, Value* a, int) {
  return expect_error_object(in, a[0], "error-object-message")->message;
}
Value p_error_object_irritants(Interp& in, Value* a, int) {
  return expect_error_object(in, a[0], "error-object-irritants")->irritants;
}
Value p_false(Interp&, Value*, int) { return kFalse; }

// ---- Promises ----

Value p_make_lazy_promise(Interp& in, Value* a, int) {
  auto* p = moss::make<Promise>(in.heap());
  p->chain = a[1] != kFalse;
  in.store(p, p->value, a[0]);
  return to_value(p);
}

Value p_make_promise(Interp& in, Value* a, int) {
  if (has_kind(a[0], Kind::promise)) return a[0];
  auto* p = moss::make<Promise>(in.heap());
  p->done = true;
  in.store(p, p->value, a[0]);
  return to_value(p);
}

Value p_promise_p(Interp&, Value* a, int) { return make_bool(has_kind(a[0], Kind::promise)); }

Value p_force(Interp& in, Value* a, int) {
  if (!has_kind(a[0], Kind::promise)) return a[0];
  auto* p = reinterpret_cast<Promise*>(a[0]);
  while (!p->done) {
    Value thunk = p->value;
    bool chain = p->chain;
    Value r = in.apply(thunk, 0, nullptr);
    if (p->done) break;  // forced again while running the thunk
    if (chain && has_kind(r, Kind::promise)) {
      // delay-force: take over the promise the thunk returned.
      auto* q = reinterpret_cast<Promise*>(r);
      p->done = q->done;
      p->chain = q->chain;
      in.store(p, p->value, q->value);
    } else {
      p->done = true;
      in.store(p, p->value, r);
    }
  }
  return p->value;
}

// ---- Parameters and case-lambda ----

Value p_make_parameter(Interp& in, Value* a, int n) {
  auto* p = moss::make<Parameter>(in.heap());
  Value converter = n > 1 ? a[1] : kFalse;
  Value value = a[0];
  in.store(p, p->converter, converter);
  if (converter != kFalse) value = in.apply(converter, 1, &value);
  in.store(p, p->value, value);
  return to_value(p);
}

Value p_parameterize(Interp& in, Value* a, int) {
  Value params = a[0];
  std::int64_t n = list_length(in, params, "parameterize");
  if (list_length(in, a[1], "parameterize") != n) in.error("parameterize: mismatched bindings");
  // Convert every new value first, then swap them in; the old values are
  // kept in a vector reachable from this frame.
  Value fresh = in.make_vector(static_cast<std::size_t>(n), kFalse);
  Value old = in.make_vector(static_cast<std::size_t>(n), kFalse);
  std::int64_t i = 0;
  for (Value p = params, v = a[1]; is_pair(p); p = cdr(p), v = cdr(v), ++i) {
    if (!has_kind(car(p), Kind::parameter)) in.type_error("parameterize", "a parameter object", car(p));
    Value x = car(v);
    Value converter = reinterpret_cast<Parameter*>(car(p))->converter;
    if (converter != kFalse) x = in.apply(converter, 1, &x);
    in.store(as_vector(fresh), as_vector(fresh)->items()[i], x);
  }
  i = 0;
  for (Value p = params; is_pair(p); p = cdr(p), ++i) {
    auto* param = reinterpret_cast<Parameter*>(car(p));
    in.store(as_vector(old), as_vector(old)->items()[i], param->value);
    in.store(param, param->value, as_vector(fresh)->items()[i]);
  }
  auto restore = [&] {
    std::int64_t k = 0;
    for (Value p = params; is_pair(p); p = cdr(p), ++k) {
      auto* param = reinterpret_cast<Parameter*>(car(p));
      in.store(param, param->value, as_vector(old)->items()[k]);
    }
  };
  Value result;
  try {
    result = in.apply(a[2], 0, nullptr);
  } catch (...) {
    restore();
    throw;
  }
  restore();
  return result;
}

Value p_case_lambda(Interp& in, Value* a, int n) {
  auto* v = moss::make_trailing<Vector>(in.heap(), std::size_t(n) * sizeof(Value), static_cast<std::uint32_t>(n),
                                        Kind::case_lambda);
  for (int i = 0; i < n; ++i) in.store(v, v->items()[i], a[i]);
  return to_value(v);
}

// ---- Coroutines ----

Value p_make_coroutine(Interp& in, Value* a, int) { return make_coroutine(in, a[0]); }
Value p_yield(Interp& in, Value* a, int n) { return yield_coroutine(in, n > 0 ? a[0] : kUnspecified); }
Value p_coroutine_p(Interp&, Value* a, int) { return make_bool(has_kind(a[0], Kind::coroutine)); }
Value p_coroutine_done_p(Interp& in, Value* a, int) {
  if (!has_kind(a[0], Kind::coroutine)) in.type_error("coroutine-done?", "a coroutine", a[0]);
  return make_bool(reinterpret_cast<SchemeCoroutine*>(a[0])->finished);
}

// ---- Evaluation, exit, time, environment ----

Value p_eval(Interp& in, Value* a, int) { return in.eval_toplevel(a[0]); }
Value p_environment(Interp& in, Value*, int) { return in.intern("interaction-environment"); }

Value p_exit(Interp& in, Value* a, int n) {
  int code = 0;
  if (n > 0) {
    if (a[0] == kFalse) code = 1;
    else if (is_fixnum(a[0])) code = static_cast<int>(fixnum_value(a[0]));
  }
  in.out.flush();
  moss::prepare_deep_unwind();
  throw SchemeExit{code};
}

Value p_current_second(Interp& in, Value*, int) {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return in.make_flonum(std::chrono::duration<double>(now).count());
}

Value p_current_jiffy(Interp& in, Value*, int) {
  auto now = std::chrono::steady_clock::now().time_since_epoch();
  return in.make_integer(std::chrono::duration_cast<std::chrono::microseconds>(now).count());
}

Value p_jiffies_per_second(Interp&, Value*, int) { return make_fixnum(1000000); }

Value p_features(Interp& in, Value*, int) {
  return in.list({in.intern("r7rs"), in.intern("exact-closed"), in.intern("ieee-float"), in.intern("moss")});
}

Value p_command_line(Interp& in, Value*, int) {
  Value result = kNil;
  const auto& args = in.options().command_line;
  for (auto it = args.rbegin(); it != args.rend(); ++it) result = in.cons(in.make_string(*it), result);
  return result;
}

Value p_getenv(Interp& in, Value* a, int) {
  String* name = expect_string(in, a[0], "get-environment-variable");
  const char* v = std::getenv(std::string(name->data(), name->length).c_str());
  return v == nullptr ? kFalse : in.make_string(v);
}

Value p_collect_garbage(Interp& in, Value*, int) {
  in.heap().collect();
  return kUnspecified;
}

}  // namespace

void Interp::raise(Value obj, bool continuable) {
  if (handlers_ == kNil || car(handlers_) == kFalse) {
    moss::prepare_deep_unwind();
    throw SchemeRaise{push_inflight(obj), continuable};
  }
  call_handler(*this, obj);
  error("exception handler returned from a non-continuable raise: " + describe_condition(obj));
}

void install_control_primitives(Interp& in) {
  struct {
    const char* name;
    PrimitiveFn fn;
    int min, max;
  } const table[] = {
      {"procedure?", p_procedure_p, 1, 1},
      {"apply", p_apply, 1, -1},
      {"map", p_map, 2, -1},
      {"for-each", p_for_each, 2, -1},
      {"vector-map", p_vector_map, 2, -1},
      {"vector-for-each", p_vector_for_each, 2, -1},
      {"string-map", p_string_map, 2, -1},
      {"string-for-each", p_string_for_each, 2, -1},
      {"values", p_values, 0, -1},
      {"call-with-values", p_call_with_values, 2, 2},
      {"call-with-current-continuation", p_call_cc, 1, 1},
      {"call/cc", p_call_cc, 1, 1},
      {"call-with-escape-continuation", p_call_cc, 1, 1},
      {"dynamic-wind", p_dynamic_wind, 3, 3},
      {"raise", p_raise, 1, 2},
      {"raise-continuable", p_raise_continuable, 1, 1},
      {"error", p_error, 1, -1},
      {"with-exception-handler", p_with_exception_handler, 2, 2},
      {"error-object?", p_error_object_p, 1, 1},
      {"error-object-message", p_error_object_message, 1, 1},
      {"error-object-irritants", p_error_object_irritants, 1, 1},
      {"read-error?", p_false, 1, 1},
      {"file-error?", p_false, 1, 1},
      {"%make-lazy-promise", p_make_lazy_promise, 2, 2},
      {"make-promise", p_make_promise, 1, 1},
      {"promise?", p_promise_p, 1, 1},
      {"force", p_force, 1, 1},
      {"make-parameter", p_make_parameter, 1, 2},
      {"%parameterize", p_parameterize, 3, 3},
      {"%case-lambda", p_case_lambda, 0, -1},
      {"make-coroutine", p_make_coroutine, 1, 1},
      {"yield", p_yield, 0, 1},
      {"coroutine?", p_coroutine_p, 1, 1},
      {"coroutine-done?", p_coroutine_done_p, 1, 1},
      {"eval", p_eval, 1, 2},
      {"interaction-environment", p_environment, 0, 0},
      {"scheme-report-environment", p_environment, 0, 1},
      {"null-environment", p_environment, 0, 1},
      {"environment", p_environment, 0, -1},
      {"exit", p_exit, 0, 1},
      {"emergency-exit", p_exit, 0, 1},
      {"current-second", p_current_second, 0, 0},
      {"current-jiffy", p_current_jiffy, 0, 0},
      {"jiffies-per-second", p_jiffies_per_second, 0, 0},
      {"features", p_features, 0, 0},
      {"command-line", p_command_line, 0, 0},
      {"get-environment-variable", p_getenv, 1, 1},
      {"collect-garbage", p_collect_garbage, 0, 0},
  };
  for (const auto& p : table) {
    Value prim = in.keep(in.define_primitive(p.name, p.fn, p.min, p.max));
    std::string_view name = p.name;
    if (name == "%make-lazy-promise") in.prim_make_lazy_promise_ = prim;
    if (name == "raise") in.prim_raise_ = prim;
    if (name == "call-with-values") in.prim_call_with_values_ = prim;
  }
}

}  // namespace scheme
