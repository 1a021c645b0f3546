// examples/scheme/interp.hpp — the embedded Scheme interpreter's public face.
//
// An `Interp` owns one moss heap and everything that lives in it: symbols,
// global bindings, every pair, vector, string, closure, frame and record of
// the Scheme program it runs. Embedders (main.cpp, tests/test_scheme.cpp)
// create one, then call `run_program` or `repl`; output goes to a `Sink`
// (a FILE or a string), input for `read` comes from a `Source`.
//
// How the parts fit:
//   reader.cpp    text -> data (pairs, symbols, numbers ...)
//   compiler.cpp  data -> ast.hpp Nodes, variables resolved to frame slots
//   eval.cpp      Nodes -> values; proper tail calls; procedure application
//   macro.cpp     syntax-rules expansion, used by the compiler
//   printer.cpp   values -> text (write, display)
//   numbers.cpp, data.cpp, control.cpp, io.cpp   the primitives
//   scheme_coroutine.cpp   make-coroutine / yield on moss coroutines
//   interp.cpp    construction, roots, the symbol table, the run loops and
//                 the big-stack coroutine the evaluator runs on
//
// Rules every part follows:
//  - A Value held in a C++ local is safe: moss scans stacks conservatively.
//    A Value held anywhere else off the heap (the symbol table, code
//    constants, values in flight inside a C++ exception) is reported by
//    `Interp::trace_roots`, the heap's root callback.
//  - Value slots of heap objects are written with `store` (the barrier).
//  - Scheme errors are C++ exceptions (`SchemeError`, `SchemeRaise`); they
//    never carry raw Values, only indices into the rooted `inflight_` list.
//  - Evaluation runs on a moss coroutine with a large stack; `check_stack`
//    (moss::check_stack) turns runaway recursion into moss::StackOverflow,
//    reported as a Scheme error, before the reservation ends.
#pragma once

#include <cstdint>
#include <cstdio>
#include <deque>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <moss/moss.hpp>

#include "ast.hpp"
#include "value.hpp"

namespace scheme {

struct Options {
  moss::Collector collector = moss::Collector::mark_sweep;
  // Hard cap on the heap (0: none); exceeding it is a Scheme error.
  std::size_t heap_limit = 0;
  // Stack reservation of the evaluator's coroutine: bounds recursion depth.
  // 512 MiB: about three million levels of simple non-tail recursion.
  std::size_t stack_reserve = std::size_t(512) << 20;
  int gc_percent = 100;
  // Collect every N allocations (0: off); for tests.
  std::uint64_t gc_stress_every = 0;
  // Frames that no closure can capture are allocated in moss::LocalScopes
  // and reclaimed when the calls that made them return (see eval.cpp);
  // false: every frame is an ordinary heap object.
  bool local_frames = true;
  // Arguments visible to the program through (command-line).
  std::vector<std::string> command_line;
};

// Where output goes: a FILE (buffered here, flushed on newline-free
// thresholds and by flush-output-port) or, with no file, a string.
struct Sink {
  std::FILE* file = nullptr;
  std::string text;
  void put(std::string_view s) {
    text.append(s);
    if (file != nullptr && text.size() >= (1u << 16)) flush();
  }
  void put(char c) {
    text.push_back(c);
    if (file != nullptr && text.size() >= (1u << 16)) flush();
  }
  void flush() {
    if (file != nullptr) {
      if (!text.empty()) std::fwrite(text.data(), 1, text.size(), file);
      std::fflush(file);
      text.clear();
    }
  }
};

// Characters for the reader: a FILE, or a string when there is no file.
struct Source {
  std::FILE* file = nullptr;
  std::string text;
  std::size_t position = 0;
  int peek() {
    if (file != nullptr) {
      int c = std::getc(file);
      if (c != EOF) std::ungetc(c, file);
      return c;
    }
    return position < text.size() ? static_cast<unsigned char>(text[position]) : EOF;
  }
  int get() {
    if (file != nullptr) return std::getc(file);
    return position < text.size() ? static_cast<unsigned char>(text[position++]) : EOF;
  }
};

// A reader's view of some characters: see reader.cpp.
class CharStream {
 public:
  virtual ~CharStream() = default;
  virtual int peek() = 0;
  virtual int get() = 0;
  int line = 1;
};

// An error detected by the interpreter or a primitive; the message is
// complete (values already printed into it).
class SchemeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// (raise obj): the object is Interp::inflight_[slot].
struct SchemeRaise {
  std::size_t slot;
  bool continuable;
};

// A continuation invoked: values (one Value, or a Values object) are in
// Interp::inflight_[slot].
struct ContinuationThrow {
  std::uint64_t id;
  std::size_t slot;
};

// (exit n).
struct SchemeExit {
  int code;
};

struct Scope;  // compiler.cpp
struct SchemeCoroutine;

// The moss::LocalScopes that hold local frames (eval.cpp), innermost last.
// The scope objects live here, off the C++ stack: a scope may outlive the
// activation that opened it. Nesting is bounded (past kMaxDepth frames are
// heap frames), and so is what one scope takes (kFramesPerScope frames).
struct FrameScopeStack {
  static constexpr int kMaxDepth = 64;
  static constexpr std::uint32_t kFramesPerScope = 1024;
  struct Slot {
    alignas(moss::LocalScope) unsigned char bytes[sizeof(moss::LocalScope)];
    std::uint32_t frames;  // made in this scope and not freed yet
  };
  Slot slots[kMaxDepth];
  int depth = 0;  // open scopes: slots[0 .. depth-1]
  moss::LocalScope& scope(int i) { return *std::launder(reinterpret_cast<moss::LocalScope*>(slots[i].bytes)); }
};

class Interp {
 public:
  explicit Interp(const Options& options = {});
  ~Interp();
  Interp(const Interp&) = delete;
  Interp& operator=(const Interp&) = delete;

  // Output and error streams, and the program's standard input.
  Sink out, err;
  Source in;

  // Runs every form of `text` in order. Returns the exit status: 0, the
  // argument of (exit n), or 1 after printing an uncaught error to `err`.
  int run_program(std::string_view text);
  // Reads, evaluates and prints forms from `input` until end of input,
  // printing `prompt` before each; errors are printed and the loop goes on.
  int repl(std::FILE* input, const char* prompt);

  moss::Heap& heap() { return heap_; }
  const Options& options() const { return options_; }

  // ---- Allocation and the barrier (interp.cpp) ----
  inline void store(void* holder, Value& slot, Value v);
  Value cons(Value a, Value d);
  Value make_flonum(double d);
  Value make_integer(std::int64_t n) {
    return fits_fixnum(n) ? make_fixnum(n) : box_integer(n);
  }
  Value box_integer(std::int64_t n);
  Value make_string(std::string_view s);
  Value make_string(std::size_t n, char fill);
  Value make_vector(std::size_t n, Value fill);
  Value make_values(Value* v, int n);
  Value make_error_object(Value message, Value irritants, const char* kind);
  Value intern(std::string_view name);
  // A symbol no other is eq? to, for names the compiler introduces.
  Value make_uninterned(std::string_view name);
  Value list(std::initializer_list<Value> items);
  // The one function that makes environment frames: in `scope` (a frame
  // scope, see eval.cpp) when one is given, else on the heap.
  Frame* new_frame(Frame* parent, std::uint32_t size, moss::LocalScope* scope = nullptr);
  void define_global(std::string_view name, Value v);
  Value define_primitive(const char* name, PrimitiveFn fn, int min_args, int max_args);
  // Keeps a value alive as long as the interpreter: code constants.
  Value keep(Value v) {
    if (is_object(v)) constants_.push_back(v);
    return v;
  }
  std::size_t push_inflight(Value v);
  Value take_inflight(std::size_t slot);

  // ---- Errors ----
  [[noreturn]] void error(const std::string& message);
  [[noreturn]] void error(const std::string& message, Value irritant);
  [[noreturn]] void type_error(const char* who, const char* expected, Value got);
  [[noreturn]] void raise(Value obj, bool continuable = false);
  // The message of an uncaught raise of `obj`, as printed at top level.
  std::string describe_condition(Value obj);

  // ---- Reader and printer ----
  Value read(CharStream& s);  // kEof at end of input
  void print(std::string& out, Value v, bool display);
  std::string to_string(Value v, bool display = false) {
    std::string s;
    print(s, v, display);
    return s;
  }

  // ---- Compiler and evaluator ----
  Node* compile_toplevel(Value form);
  Value eval(const Node* node, Frame* env);
  Value eval_toplevel(Value form) { return eval(compile_toplevel(form), nullptr); }
  // Applies any procedure to arguments (non-tail, from C++).
  Value apply(Value f, int argc, Value* argv);
  Value apply(Value f, std::initializer_list<Value> args) {
    return apply(f, static_cast<int>(args.size()), const_cast<Value*>(args.begin()));
  }
  // Applies a procedure that is not a closure; may return kTailCall.
  Value apply_procedure(Value f, int argc, Value* argv);
  Value apply_list(Value f, Value args);
  Value list_from_array(const Value* argv, int argc);
  // Sets up a tail call from a primitive: the primitive returns kTailCall
  // and eval applies `f` to the list `args` in its own loop.
  Value tail_call(Value f, Value args) {
    tail_fn_ = f;
    tail_args_ = args;
    return kTailCall;
  }
  // Bounds recursion: throws moss::StackOverflow while there is still room
  // to unwind (the coroutine's reservation is nearly used up).
  static void check_stack() { moss::check_stack(kStackHeadroom); }
  static constexpr std::size_t kStackHeadroom = 64u << 10;

  // ---- Dynamic state ----
  Value handlers_ = kNil;          // with-exception-handler stack; #f marks a guard
  std::uint64_t next_continuation_id_ = 1;
  Value stdin_port_ = 0, stdout_port_ = 0, stderr_port_ = 0;
  Value current_output_ = 0, current_input_ = 0;
  // The Scheme coroutine running now (null: the main evaluation).
  SchemeCoroutine* current_coroutine_ = nullptr;
  // Set while suspended coroutines are being unwound at teardown: cleanup
  // handlers (dynamic-wind) must then not run Scheme code.
  bool tearing_down_ = false;

  // Symbols the compiler recognises.
  struct Syms {
    Symbol *quote, *quasiquote, *unquote, *unquote_splicing, *lambda, *define, *set, *if_, *begin,
        *let, *let_star, *letrec, *letrec_star, *named_lambda, *cond, *case_, *and_, *or_, *when,
        *unless, *do_, *else_, *arrow, *delay, *delay_force, *define_record_type, *guard, *import,
        *define_syntax, *syntax_rules, *let_syntax, *letrec_syntax, *ellipsis, *underscore,
        *define_values, *let_values, *let_star_values, *case_lambda, *parameterize, *assert;
  } sym{};

  // Primitives the compiler's expansions call directly (so that programs
  // redefining `cons` or `list` do not change what quasiquote means). Kept
  // alive through `keep`.
  Value prim_cons_ = 0, prim_list_ = 0, prim_append_ = 0, prim_list_to_vector_ = 0,
        prim_make_lazy_promise_ = 0, prim_raise_ = 0, prim_call_with_values_ = 0;

 private:
  friend struct Compiler;
  static void trace_roots(moss::Visitor& visitor, void* self);
  int run_on_stack(void (*body)(Interp&, void*), void* data);
  Value eval_call_slow(const Call* call, Value f, Frame* env);
  bool eval_guarded(const Node* body, Frame* env, Value& result, Value& condition);
  Value apply_record_procedure(Value f, int argc, Value* argv);
  class FrameScope;  // eval.cpp: one activation's hold on a frame scope
  enum class FramePlace { heap, scope, recycle };
  FramePlace place_local_frame(FrameScope& own, bool may_recycle);
  moss::LocalScope* take_frame_scope(FrameScope& own);
  moss::LocalScope* recycle_frame_scope(FrameScope& own);
  Frame* frame_for(FrameScope& own, const Closure* c);
  Frame* enter_recycled(FrameScope& own, const Call* call, Value f, Frame* env);
  Frame* bind_array(FrameScope& own, Value f, int argc, const Value* argv);
  Frame* bind_list(FrameScope& own, Value f, Value args);
  const Node* do_loop(const DoLoop* loop, Frame*& env, FrameScope& own);

  Options options_;
  moss::Heap heap_;
  std::uint64_t root_handle_ = 0;
  std::unordered_map<std::string, Symbol*> symbols_;
  std::vector<Value> constants_;
  std::vector<Value> inflight_;
  Value tail_fn_ = 0, tail_args_ = 0;
  std::deque<std::unique_ptr<Node>> code_;
  std::unique_ptr<FrameScopeStack> frame_scopes_;
  // Frames of up to kSizedFrames - 1 slots by a type and size resolved once.
  static constexpr std::uint32_t kSizedFrames = 9;
  moss::SizedType frame_types_[kSizedFrames];

 public:
  template <class T, class... Args>
  T* new_node(Args&&... args) {
    auto node = std::make_unique<T>(std::forward<Args>(args)...);
    T* raw = node.get();
    code_.push_back(std::move(node));
    return raw;
  }
  // moss coroutines of Scheme coroutines that have started and not finished.
  std::unordered_set<moss::Coroutine*> live_coroutines_;
};

inline void Interp::store(void* holder, Value& slot, Value v) {
  // Words that are not references need no barrier on either side. The rest
  // take moss::write_word, a Member's inline barrier for tagged words
  // (Heap::write would check that `slot` lies in `holder` first; the
  // interpreter's slots always do).
  (void)holder;
  if (!is_object(v) && !is_object(slot)) {
    slot = v;
  } else {
    moss::write_word(reinterpret_cast<void**>(&slot), reinterpret_cast<void*>(v));
  }
}

// Primitive installers, one per file of primitives.
void install_number_primitives(Interp& in);
void install_data_primitives(Interp& in);
void install_control_primitives(Interp& in);
void install_io_primitives(Interp& in);

// Shared helpers for primitives (data.cpp).
std::int64_t list_length(Interp& in, Value list, const char* who);
bool eqv(Value a, Value b);
bool equal(Value a, Value b);
std::int64_t expect_index(Interp& in, Value v, const char* who);
String* expect_string(Interp& in, Value v, const char* who);

}  // namespace scheme
