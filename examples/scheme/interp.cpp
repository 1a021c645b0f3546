// examples/scheme/interp.cpp — the interpreter's life cycle: the heap and
// its roots, the symbol table, allocation helpers, errors, and the two run
// loops (a whole program, or a REPL) on the evaluator's big-stack coroutine.
//
// Roots. Everything the interpreter holds outside the heap and outside any
// stack is reported by `trace_roots`, the heap's root callback: the symbol
// table (symbols are never freed, and hold the global bindings), constants
// of compiled code, values in flight inside C++ exceptions, and a few
// dynamic-state Values. Everything else is reachable from those or from a
// stack.
//
// Stacks. `run_on_stack` runs the evaluation on a moss::Coroutine whose
// stack reserves `Options::stack_reserve` bytes (growing in place as it is
// used), so deep non-tail recursion works; eval's moss::check_stack turns
// the end of the reservation into an ordinary exception. Every exception
// that can leave evaluation is turned into an error message here.
//
// Called by main.cpp and tests/test_scheme.cpp.
#include "interp.hpp"

#include <cstring>

#include "scheme_coroutine.hpp"

namespace scheme {

namespace {

moss::HeapOptions heap_options(const Options& o) {
  moss::HeapOptions h;
  h.collector = o.collector;
  h.heap_limit = o.heap_limit;
  h.gc_percent = o.gc_percent;
  if (o.gc_stress_every != 0) h.stress_every = o.gc_stress_every;
  return h;
}

// Characters from a string (program text).
class TextStream : public CharStream {
 public:
  explicit TextStream(std::string_view t) : text_(t) {}
  int peek() override { return pos_ < text_.size() ? static_cast<unsigned char>(text_[pos_]) : EOF; }
  int get() override { return pos_ < text_.size() ? static_cast<unsigned char>(text_[pos_++]) : EOF; }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace

// Characters from the interpreter's standard input.
class SourceStream : public CharStream {
 public:
  explicit SourceStream(Source& s) : source_(s) {}
  int peek() override { return source_.peek(); }
  int get() override { return source_.get(); }

 private:
  Source& source_;
};

Interp::Interp(const Options& options)
    : options_(options), heap_(heap_options(options)), frame_scopes_(std::make_unique<FrameScopeStack>()) {
  root_handle_ = heap_.add_root_callback(&Interp::trace_roots, this);
  for (std::uint32_t n = 0; n < kSizedFrames; ++n) {
    frame_types_[n] = moss::Heap::sized_type(moss::type_index<Frame>(), sizeof(Frame) + n * sizeof(Value));
  }
  Syms& s = sym;
  auto k = [&](const char* name) { return as_symbol(intern(name)); };
  s.quote = k("quote");
  s.quasiquote = k("quasiquote");
  s.unquote = k("unquote");
  s.unquote_splicing = k("unquote-splicing");
  s.lambda = k("lambda");
  s.define = k("define");
  s.set = k("set!");
  s.if_ = k("if");
  s.begin = k("begin");
  s.let = k("let");
  s.let_star = k("let*");
  s.letrec = k("letrec");
  s.letrec_star = k("letrec*");
  s.named_lambda = k("named-lambda");
  s.cond = k("cond");
  s.case_ = k("case");
  s.and_ = k("and");
  s.or_ = k("or");
  s.when = k("when");
  s.unless = k("unless");
  s.do_ = k("do");
  s.else_ = k("else");
  s.arrow = k("=>");
  s.delay = k("delay");
  s.delay_force = k("delay-force");
  s.define_record_type = k("define-record-type");
  s.guard = k("guard");
  s.import = k("import");
  s.define_syntax = k("define-syntax");
  s.syntax_rules = k("syntax-rules");
  s.let_syntax = k("let-syntax");
  s.letrec_syntax = k("letrec-syntax");
  s.ellipsis = k("...");
  s.underscore = k("_");
  s.define_values = k("define-values");
  s.let_values = k("let-values");
  s.let_star_values = k("let*-values");
  s.case_lambda = k("case-lambda");
  s.parameterize = k("parameterize");
  s.assert = k("assert");
  install_number_primitives(*this);
  install_data_primitives(*this);
  install_control_primitives(*this);
  install_io_primitives(*this);
}

Interp::~Interp() {
  // Unwind suspended coroutines while the heap is still here; cleanup
  // handlers must not run Scheme code during this.
  tearing_down_ = true;
  destroy_all_coroutines(*this);
  heap_.remove_root_callback(root_handle_);
}

void Interp::trace_roots(moss::Visitor& visitor, void* self) {
  auto* in = static_cast<Interp*>(self);
  for (auto& entry : in->symbols_) visitor.visit(static_cast<const void*>(entry.second));
  for (Value v : in->constants_) trace_value(visitor, v);
  for (Value v : in->inflight_) trace_value(visitor, v);
  trace_value(visitor, in->handlers_);
  trace_value(visitor, in->stdin_port_);
  trace_value(visitor, in->stdout_port_);
  trace_value(visitor, in->stderr_port_);
  trace_value(visitor, in->current_output_);
  trace_value(visitor, in->current_input_);
  trace_value(visitor, in->tail_fn_);
  trace_value(visitor, in->tail_args_);
  if (in->current_coroutine_ != nullptr) visitor.visit(static_cast<const void*>(in->current_coroutine_));
}

// ---- Allocation ----

Value Interp::cons(Value a, Value d) {
  Pair* p = moss::make<Pair>(heap_);
  store(p, p->car, a);
  store(p, p->cdr, d);
  return to_value(p);
}

Value Interp::make_flonum(double d) { return to_value(moss::make<Flonum>(heap_, d)); }

Value Interp::box_integer(std::int64_t n) { return to_value(moss::make<Integer>(heap_, n)); }

Value Interp::make_string(std::string_view text) {
  if (text.size() > UINT32_MAX - 1) error("make-string: string too long");
  auto n = static_cast<std::uint32_t>(text.size());
  String* s = moss::make_trailing<String>(heap_, std::size_t(n) + 1, n);
  if (n > 0) std::memcpy(s->data(), text.data(), n);
  return to_value(s);
}

Value Interp::make_string(std::size_t n, char fill) {
  if (n > UINT32_MAX - 1) error("make-string: string too long");
  String* s = moss::make_trailing<String>(heap_, n + 1, static_cast<std::uint32_t>(n));
  std::memset(s->data(), fill, n);
  return to_value(s);
}

Value Interp::make_vector(std::size_t n, Value fill) {
  if (n > (UINT32_MAX >> 1)) error("make-vector: vector too long");
  auto* v = moss::make_trailing<Vector>(heap_, n * sizeof(Value), static_cast<std::uint32_t>(n));
  Value* items = v->items();
  for (std::size_t i = 0; i < n; ++i) store(v, items[i], fill);
  return to_value(v);
}

Value Interp::make_values(Value* items, int n) {
  if (n == 1) return items[0];
  auto* v = moss::make_trailing<Vector>(heap_, std::size_t(n) * sizeof(Value), static_cast<std::uint32_t>(n),
                                        Kind::values);
  for (int i = 0; i < n; ++i) store(v, v->items()[i], items[i]);
  return to_value(v);
}

Value Interp::make_error_object(Value message, Value irritants, const char* kind) {
  auto* e = moss::make<ErrorObject>(heap_);
  store(e, e->message, message);
  store(e, e->irritants, irritants);
  if (kind != nullptr) store(e, e->kind_name, intern(kind));
  return to_value(e);
}

Value Interp::intern(std::string_view name) {
  std::string key(name);
  auto it = symbols_.find(key);
  if (it != symbols_.end()) return to_value(it->second);
  Value text = make_string(name);
  Symbol* s = moss::make<Symbol>(heap_);
  s->name = as_string(text);
  symbols_.emplace(std::move(key), s);
  return to_value(s);
}

Value Interp::make_uninterned(std::string_view name) {
  Value text = make_string(name);
  Symbol* s = moss::make<Symbol>(heap_);
  s->name = as_string(text);
  return keep(to_value(s));
}

Value Interp::list(std::initializer_list<Value> items) {
  Value result = kNil;
  for (auto it = items.end(); it != items.begin();) {
    --it;
    result = cons(*it, result);
  }
  return result;
}

void Interp::define_global(std::string_view name, Value v) {
  Symbol* s = as_symbol(intern(name));
  store(s, s->value, v);
}

Value Interp::define_primitive(const char* name, PrimitiveFn fn, int min_args, int max_args) {
  Value p = to_value(moss::make<Primitive>(heap_, fn, name, min_args, max_args));
  define_global(name, p);
  return p;
}

std::size_t Interp::push_inflight(Value v) {
  inflight_.push_back(v);
  return inflight_.size() - 1;
}

Value Interp::take_inflight(std::size_t slot) {
  Value v = slot < inflight_.size() ? inflight_[slot] : kUnspecified;
  if (slot < inflight_.size()) inflight_.resize(slot);
  return v;
}

// ---- Errors ----

// Errors and escapes are C++ exceptions that may unwind a deep part of the
// evaluator's coroutine stack: moss::prepare_deep_unwind() first (it keeps
// AddressSanitizer's view of that stack right; a no-op otherwise).
void Interp::error(const std::string& message) {
  moss::prepare_deep_unwind();
  throw SchemeError(message);
}

void Interp::error(const std::string& message, Value irritant) {
  moss::prepare_deep_unwind();
  throw SchemeError(message + ": " + to_string(irritant));
}

void Interp::type_error(const char* who, const char* expected, Value got) {
  moss::prepare_deep_unwind();
  throw SchemeError(std::string(who) + ": expected " + expected + ", got " + to_string(got));
}

std::string Interp::describe_condition(Value obj) {
  if (has_kind(obj, Kind::error_object)) {
    auto* e = reinterpret_cast<ErrorObject*>(obj);
    std::string text = is_string(e->message) ? to_string(e->message, true) : to_string(e->message);
    for (Value x = e->irritants; is_pair(x); x = cdr(x)) {
      text += ' ';
      text += to_string(car(x));
    }
    return text;
  }
  return "uncaught exception: " + to_string(obj);
}

// ---- Running ----

namespace {

struct RunState {
  Interp* in;
  void (*body)(Interp&, void*);
  void* data;
};

// Prints the message for an exception that escaped evaluation; returns the
// exit status it implies. Must be called from inside a catch block.
int report(Interp& in) {
  in.out.flush();
  std::string message;
  try {
    throw;
  } catch (const SchemeExit& e) {
    return e.code;
  } catch (const SchemeError& e) {
    message = e.what();
  } catch (const SchemeRaise& r) {
    message = in.describe_condition(in.take_inflight(r.slot));
  } catch (const ContinuationThrow&) {
    message = "continuation called after its extent ended (only escaping continuations are supported)";
  } catch (const moss::StackOverflow&) {
    message = "stack overflow (recursion too deep)";
  } catch (const moss::OutOfMemory& e) {
    message = e.what();
  } catch (const std::bad_alloc&) {
    message = "out of memory";
  } catch (const std::exception& e) {
    message = std::string("internal error: ") + e.what();
  }
  in.err.put("Error: " + message + "\n");
  in.err.flush();
  return 1;
}

// In the REPL: report, then forget the failed evaluation's dynamic state.
void report_in_repl(Interp& in) {
  report(in);
  in.take_inflight(0);
  in.handlers_ = kNil;
  in.current_coroutine_ = nullptr;
}

}  // namespace

int Interp::run_on_stack(void (*body)(Interp&, void*), void* data) {
  RunState state{this, body, data};
  int status = 0;
  try {
    moss::CoroutineOptions co_options;
    co_options.stack_reserve = options_.stack_reserve;
    moss::Coroutine co(
        heap_,
        [&state](moss::Yield&) { state.body(*state.in, state.data); },
        co_options);
    co.resume();
  } catch (...) {
    status = report(*this);
  }
  // Whatever happened, nothing is in flight any more.
  inflight_.clear();
  handlers_ = kNil;
  tail_fn_ = tail_args_ = 0;
  current_coroutine_ = nullptr;
  out.flush();
  return status;
}

int Interp::run_program(std::string_view text) {
  struct Program {
    std::string_view text;
  } program{text};
  return run_on_stack(
      [](Interp& in, void* data) {
        TextStream stream(static_cast<Program*>(data)->text);
        for (;;) {
          Value form = in.read(stream);
          if (form == kEof) break;
          in.eval_toplevel(form);
        }
      },
      &program);
}

int Interp::repl(std::FILE* input, const char* prompt) {
  struct Session {
    const char* prompt;
    bool finished = false;
    int status = 0;
  } session{prompt};
  in.file = input;
  while (!session.finished) {
    int status = run_on_stack(
        [](Interp& in, void* data) {
          auto* s = static_cast<Session*>(data);
          SourceStream stream(in.in);
          for (;;) {
            in.out.put(s->prompt);
            in.out.flush();
            try {
              Value form = in.read(stream);
              if (form == kEof) {
                in.out.put("\n");
                s->finished = true;
                return;
              }
              Value result = in.eval_toplevel(form);
              if (result != kUnspecified) {
                std::string text;
                in.print(text, result, false);
                in.out.put(text + "\n");
              }
            } catch (const SchemeExit& e) {
              s->finished = true;
              s->status = e.code;
              return;
            } catch (const moss::StackOverflow&) {
              report_in_repl(in);
            } catch (const SchemeError&) {
              report_in_repl(in);
            } catch (const SchemeRaise&) {
              report_in_repl(in);
            } catch (const ContinuationThrow&) {
              report_in_repl(in);
            } catch (const moss::OutOfMemory&) {
              report_in_repl(in);
            }
          }
        },
        &session);
    if (status != 0 && !session.finished) continue;  // the coroutine died: start a new one
    if (session.finished) return session.status;
  }
  return session.status;
}

}  // namespace scheme
