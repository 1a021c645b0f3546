// examples/scheme/value.hpp — how Scheme values are represented on a moss heap.
//
// A Scheme value is one machine word (`Value`):
//
//     ...xxxx1   fixnum: a 63-bit exact integer, value = word >> 1
//     ...x0010   an immediate constant: #f #t () unspecified eof ...
//     ...x0110   a character: code point = word >> 8
//     ...x0000   a pointer to the start of a moss object (never 0)
//     0          "unassigned": the zeroed contents of a fresh slot
//
// Pointer words are always the exact start of a moss object, so the barrier
// (`moss::write_word`) and the visitor recognise them; every other word is
// ignored by the collectors. Exact integers that do not fit in a fixnum are
// boxed (`Integer`, full 64-bit range); flonums are boxed (`Flonum`).
//
// Every heap object begins with `Object`: its `Kind` and a 32-bit length (the
// element count of strings, vectors, frames, records). All objects are made
// by `moss::make` / `moss::make_trailing` in interp.cpp and friends; their
// Value slots are written only through `Interp::store` (the barrier), except
// for initialising zeroed memory with non-pointer words. Types without a
// `trace` (strings, flonums, boxed integers, primitives) are leaves.
//
// Included by every file of the interpreter.
#pragma once

#include <cstdint>
#include <cstring>

#include <moss/moss.hpp>

namespace scheme {

using Value = std::uintptr_t;

// ---- Immediates ------------------------------------------------------------

constexpr Value immediate(unsigned n) { return (Value(n) << 4) | 0x2; }

constexpr Value kUnassigned = 0;
constexpr Value kFalse = immediate(0);
constexpr Value kTrue = immediate(1);
constexpr Value kNil = immediate(2);
constexpr Value kUnspecified = immediate(3);
constexpr Value kEof = immediate(4);
constexpr Value kDefault = immediate(5);   // a missing optional argument
constexpr Value kTailCall = immediate(6);  // internal: see Interp::eval

constexpr std::int64_t kFixnumMin = -(std::int64_t(1) << 62);
constexpr std::int64_t kFixnumMax = (std::int64_t(1) << 62) - 1;

inline bool is_fixnum(Value v) { return (v & 1) != 0; }
inline std::int64_t fixnum_value(Value v) { return static_cast<std::int64_t>(v) >> 1; }
inline Value make_fixnum(std::int64_t n) { return (static_cast<Value>(n) << 1) | 1; }
inline bool fits_fixnum(std::int64_t n) { return n >= kFixnumMin && n <= kFixnumMax; }

inline bool is_char(Value v) { return (v & 0xff) == 0x6; }
inline std::uint32_t char_value(Value v) { return static_cast<std::uint32_t>(v >> 8); }
inline Value make_char(std::uint32_t c) { return (Value(c) << 8) | 0x6; }

inline Value make_bool(bool b) { return b ? kTrue : kFalse; }
inline bool truthy(Value v) { return v != kFalse; }

inline bool is_object(Value v) { return (v & 0xf) == 0 && v != 0; }

// ---- Heap objects ----------------------------------------------------------

enum class Kind : std::uint32_t {
  pair,
  flonum,
  integer,      // a boxed exact integer outside the fixnum range
  string,
  symbol,
  vector,
  closure,
  primitive,
  frame,        // an environment frame: one activation's variables
  continuation,
  values,       // multiple return values (other than exactly one)
  record_type,
  record,
  record_procedure,
  promise,
  port,
  error_object,
  coroutine,
  parameter,    // make-parameter
  case_lambda,  // a vector of closures tried in order by arity
};

struct Object {
  Kind kind;
  std::uint32_t length;
  explicit Object(Kind k, std::uint32_t n = 0) : kind(k), length(n) {}
};

inline Object* as_object(Value v) { return reinterpret_cast<Object*>(v); }
inline Value to_value(const void* p) { return reinterpret_cast<Value>(p); }
inline bool has_kind(Value v, Kind k) { return is_object(v) && as_object(v)->kind == k; }

// Reports one Value slot to a collector. Non-pointer words are skipped here,
// so the collector only sees exact object starts.
inline void trace_value(moss::Visitor& visitor, Value v) {
  if (is_object(v)) visitor.visit(reinterpret_cast<const void*>(v));
}
inline void trace_values(moss::Visitor& visitor, const Value* begin, std::uint32_t n) {
  for (std::uint32_t i = 0; i < n; ++i) trace_value(visitor, begin[i]);
}

struct Pair : Object {
  Value car = 0, cdr = 0;
  Pair() : Object(Kind::pair) {}
  void trace(moss::Visitor& v) const { trace_value(v, car); trace_value(v, cdr); }
};

struct Flonum : Object {
  double value;
  explicit Flonum(double d) : Object(Kind::flonum), value(d) {}
};

struct Integer : Object {
  std::int64_t value;
  explicit Integer(std::int64_t n) : Object(Kind::integer), value(n) {}
};

// Bytes follow the header; length excludes the terminating NUL kept for
// convenience.
struct String : Object {
  explicit String(std::uint32_t n) : Object(Kind::string, n) {}
  char* data() { return reinterpret_cast<char*>(this + 1); }
  const char* data() const { return reinterpret_cast<const char*>(this + 1); }
};

// Interned: one Symbol per name, kept alive by the interpreter's symbol
// table. A global variable's value lives in its symbol (`kUnassigned` while
// unbound).
struct Symbol : Object {
  moss::Member<String> name;
  Value value = 0;
  Value macro = 0;  // a syntax-rules transformer bound by define-syntax
  Symbol() : Object(Kind::symbol) {}
  void trace(moss::Visitor& v) const {
    v.visit(name);
    trace_value(v, value);
    trace_value(v, macro);
  }
};

// Elements follow the header.
struct Vector : Object {
  explicit Vector(std::uint32_t n, Kind k = Kind::vector) : Object(k, n) {}
  Value* items() { return reinterpret_cast<Value*>(this + 1); }
  const Value* items() const { return reinterpret_cast<const Value*>(this + 1); }
  void trace(moss::Visitor& v) const { trace_values(v, items(), length); }
};

// One activation's variables; `length` slots follow the header.
struct Frame : Object {
  moss::Member<Frame> parent;
  explicit Frame(std::uint32_t n) : Object(Kind::frame, n) {}
  Value* slots() { return reinterpret_cast<Value*>(this + 1); }
  const Value* slots() const { return reinterpret_cast<const Value*>(this + 1); }
  void trace(moss::Visitor& v) const {
    v.visit(parent);
    trace_values(v, slots(), length);
  }
};

struct Lambda;  // compiled code: ast.hpp (not a heap object)

struct Closure : Object {
  const Lambda* code;
  moss::Member<Frame> env;
  explicit Closure(const Lambda* c) : Object(Kind::closure), code(c) {}
  void trace(moss::Visitor& v) const { v.visit(env); }
};

class Interp;
using PrimitiveFn = Value (*)(Interp& in, Value* args, int argc);

// A procedure written in C++. Holds no references: names are C strings.
struct Primitive : Object {
  PrimitiveFn fn;
  const char* name;
  std::int16_t min_args, max_args;  // max_args < 0: any number
  Primitive(PrimitiveFn f, const char* n, int lo, int hi)
      : Object(Kind::primitive), fn(f), name(n),
        min_args(static_cast<std::int16_t>(lo)), max_args(static_cast<std::int16_t>(hi)) {}
};

// An escape-only continuation (see call/cc in control.cpp).
struct Continuation : Object {
  std::uint64_t id;
  bool active = true;
  Value winders = 0;  // the dynamic-wind list at capture
  explicit Continuation(std::uint64_t i) : Object(Kind::continuation), id(i) {}
  void trace(moss::Visitor& v) const { trace_value(v, winders); }
};

struct RecordType : Object {
  Value name = 0;         // a symbol
  Value field_names = 0;  // a vector of symbols
  RecordType() : Object(Kind::record_type) {}
  void trace(moss::Visitor& v) const { trace_value(v, name); trace_value(v, field_names); }
};

// `length` fields follow the header.
struct Record : Object {
  moss::Member<RecordType> type;
  explicit Record(std::uint32_t n) : Object(Kind::record, n) {}
  Value* fields() { return reinterpret_cast<Value*>(this + 1); }
  const Value* fields() const { return reinterpret_cast<const Value*>(this + 1); }
  void trace(moss::Visitor& v) const {
    v.visit(type);
    trace_values(v, fields(), length);
  }
};

// The constructor, predicate, accessors and modifiers of a record type.
struct RecordProcedure : Object {
  enum Op : std::uint32_t { construct, predicate, access, modify } op;
  std::uint32_t index = 0;  // field index for access/modify
  moss::Member<RecordType> type;
  Value fields = 0;         // construct: vector of field indices, in argument order
  Value name = 0;           // a symbol, for messages
  RecordProcedure(Op o, std::uint32_t i) : Object(Kind::record_procedure), op(o), index(i) {}
  void trace(moss::Visitor& v) const {
    v.visit(type);
    trace_value(v, fields);
    trace_value(v, name);
  }
};

// delay / delay-force / make-promise. `value` is a thunk until `done`;
// `chain`: the thunk returns another promise to follow (delay-force).
struct Promise : Object {
  bool done = false;
  bool chain = false;
  Value value = 0;
  Promise() : Object(Kind::promise) {}
  void trace(moss::Visitor& v) const { trace_value(v, value); }
};

// Textual ports. Console ports write to / read from the interpreter's
// streams; string ports keep their text in `text` (a String).
struct Port : Object {
  enum Mode : std::uint32_t { console_in, console_out, console_err, string_in, string_out } mode;
  std::uint32_t position = 0;  // string_in: next byte; string_out: bytes used
  bool open = true;
  moss::Member<String> text;
  explicit Port(Mode m) : Object(Kind::port), mode(m) {}
  void trace(moss::Visitor& v) const { v.visit(text); }
};

// What `error` raises: a message string and a list of irritants.
struct ErrorObject : Object {
  Value message = 0;
  Value irritants = 0;
  Value kind_name = 0;  // a symbol naming the error's origin, or 0
  ErrorObject() : Object(Kind::error_object) {}
  void trace(moss::Visitor& v) const {
    trace_value(v, message);
    trace_value(v, irritants);
    trace_value(v, kind_name);
  }
};

// A parameter object: called with no arguments it returns `value`.
struct Parameter : Object {
  Value value = 0;
  Value converter = 0;  // a procedure, or #f
  Parameter() : Object(Kind::parameter) {}
  void trace(moss::Visitor& v) const { trace_value(v, value); trace_value(v, converter); }
};

// ---- Typed access ----------------------------------------------------------

inline Pair* as_pair(Value v) { return reinterpret_cast<Pair*>(v); }
inline String* as_string(Value v) { return reinterpret_cast<String*>(v); }
inline Symbol* as_symbol(Value v) { return reinterpret_cast<Symbol*>(v); }
inline Vector* as_vector(Value v) { return reinterpret_cast<Vector*>(v); }
inline Frame* as_frame(Value v) { return reinterpret_cast<Frame*>(v); }
inline Closure* as_closure(Value v) { return reinterpret_cast<Closure*>(v); }
inline Primitive* as_primitive(Value v) { return reinterpret_cast<Primitive*>(v); }

inline bool is_pair(Value v) { return has_kind(v, Kind::pair); }
inline bool is_symbol(Value v) { return has_kind(v, Kind::symbol); }
inline bool is_string(Value v) { return has_kind(v, Kind::string); }
inline bool is_vector(Value v) { return has_kind(v, Kind::vector); }
inline bool is_flonum(Value v) { return has_kind(v, Kind::flonum); }
inline bool is_boxed_integer(Value v) { return has_kind(v, Kind::integer); }
inline bool is_exact_integer(Value v) { return is_fixnum(v) || is_boxed_integer(v); }
inline bool is_number(Value v) { return is_exact_integer(v) || is_flonum(v); }
inline double flonum_value(Value v) { return reinterpret_cast<Flonum*>(v)->value; }

inline Value car(Value v) { return as_pair(v)->car; }
inline Value cdr(Value v) { return as_pair(v)->cdr; }

inline bool is_procedure(Value v) {
  if (!is_object(v)) return false;
  switch (as_object(v)->kind) {
    case Kind::closure:
    case Kind::primitive:
    case Kind::continuation:
    case Kind::record_procedure:
    case Kind::coroutine:
    case Kind::parameter:
    case Kind::case_lambda:
      return true;
    default:
      return false;
  }
}

}  // namespace scheme
