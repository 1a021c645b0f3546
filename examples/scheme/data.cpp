// examples/scheme/data.cpp — primitives on data: equivalence, booleans,
// pairs and lists, symbols, characters, strings and vectors.
//
// Conventions: a primitive receives its arguments as an array (on the
// caller's stack, so they stay reachable) and checks their types itself;
// optional arguments beyond argc are absent (not kDefault). Lists are built
// front to back through a tail pointer held in a local, or back to front;
// either way every partial result is reachable from the C++ stack. Strings
// are byte strings: string-ref gives characters 0-255.
//
// Installed by Interp's constructor; the helpers at the top (list_length,
// eqv, equal, expect_*) are shared through interp.hpp.
#include <algorithm>
#include <cctype>
#include <cstring>
#include <string>

#include "interp.hpp"
#include "numbers.hpp"

namespace scheme {

std::int64_t list_length(Interp& in, Value list, const char* who) {
  std::int64_t n = 0;
  Value slow = list, fast = list;
  while (is_pair(fast)) {
    fast = cdr(fast);
    ++n;
    if (!is_pair(fast)) break;
    fast = cdr(fast);
    ++n;
    slow = cdr(slow);
    if (fast == slow) in.error(std::string(who) + ": circular list");
  }
  if (fast != kNil) in.type_error(who, "a proper list", list);
  return n;
}

bool eqv(Value a, Value b) {
  if (a == b) return true;
  if (is_flonum(a) && is_flonum(b)) {
    double x = flonum_value(a), y = flonum_value(b);
    return std::memcmp(&x, &y, sizeof x) == 0;
  }
  if (is_boxed_integer(a) && is_boxed_integer(b)) {
    return reinterpret_cast<Integer*>(a)->value == reinterpret_cast<Integer*>(b)->value;
  }
  if (is_string(a) && is_string(b)) return as_string(a)->length == 0 && as_string(b)->length == 0;
  return false;
}

bool equal(Value a, Value b) {
  for (;;) {
    if (eqv(a, b)) return true;
    if (is_pair(a) && is_pair(b)) {
      Interp::check_stack();
      if (!equal(car(a), car(b))) return false;
      a = cdr(a);
      b = cdr(b);
      continue;
    }
    if (is_string(a) && is_string(b)) {
      const String* x = as_string(a);
      const String* y = as_string(b);
      return x->length == y->length && std::memcmp(x->data(), y->data(), x->length) == 0;
    }
    if (is_vector(a) && is_vector(b)) {
      const Vector* x = as_vector(a);
      const Vector* y = as_vector(b);
      if (x->length != y->length) return false;
      Interp::check_stack();
      for (std::uint32_t i = 0; i < x->length; ++i) {
        if (!equal(x->items()[i], y->items()[i])) return false;
      }
      return true;
    }
    return false;
  }
}

std::int64_t expect_index(Interp& in, Value v, const char* who) {
  if (!is_fixnum(v) || fixnum_value(v) < 0) in.type_error(who, "a non-negative index", v);
  return fixnum_value(v);
}

String* expect_string(Interp& in, Value v, const char* who) {
  if (!is_string(v)) in.type_error(who, "a string", v);
  return as_string(v);
}

namespace {

Pair* expect_pair(Interp& in, Value v, const char* who) {
  if (!is_pair(v)) in.type_error(who, "a pair", v);
  return as_pair(v);
}

Vector* expect_vector(Interp& in, Value v, const char* who) {
  if (!is_vector(v)) in.type_error(who, "a vector", v);
  return as_vector(v);
}

std::uint32_t expect_char(Interp& in, Value v, const char* who) {
  if (!is_char(v)) in.type_error(who, "a character", v);
  return char_value(v);
}

Symbol* expect_symbol(Interp& in, Value v, const char* who) {
  if (!is_symbol(v)) in.type_error(who, "a symbol", v);
  return as_symbol(v);
}

// Optional [start [end]] arguments at args[first], args[first+1], checked
// against `length`.
void range_args(Interp& in, Value* a, int n, int first, std::int64_t length, const char* who,
                std::int64_t& start, std::int64_t& end) {
  start = n > first ? expect_index(in, a[first], who) : 0;
  end = n > first + 1 ? expect_index(in, a[first + 1], who) : length;
  if (end > length || start > end) {
    in.error(std::string(who) + ": range " + std::to_string(start) + ".." + std::to_string(end) +
             " out of bounds for length " + std::to_string(length));
  }
}

[[noreturn]] void index_error(Interp& in, const char* who, std::int64_t index, std::int64_t length) {
  in.error(std::string(who) + ": index " + std::to_string(index) + " out of range for length " +
           std::to_string(length));
}

// ---- Equivalence and booleans ----

Value p_eq(Interp&, Value* a, int) { return make_bool(a[0] == a[1]); }
Value p_eqv(Interp&, Value* a, int) { return make_bool(eqv(a[0], a[1])); }
Value p_equal(Interp&, Value* a, int) { return make_bool(equal(a[0], a[1])); }
Value p_not(Interp&, Value* a, int) { return make_bool(a[0] == kFalse); }
Value p_boolean_p(Interp&, Value* a, int) { return make_bool(a[0] == kTrue || a[0] == kFalse); }
Value p_boolean_eq(Interp& in, Value* a, int n) {
  for (int i = 0; i < n; ++i) {
    if (a[i] != kTrue && a[i] != kFalse) in.type_error("boolean=?", "a boolean", a[i]);
  }
  for (int i = 1; i < n; ++i) {
    if (a[i] != a[0]) return kFalse;
  }
  return kTrue;
}

// ---- Pairs and lists ----

Value p_pair_p(Interp&, Value* a, int) { return make_bool(is_pair(a[0])); }
Value p_null_p(Interp&, Value* a, int) { return make_bool(a[0] == kNil); }
Value p_cons(Interp& in, Value* a, int) { return in.cons(a[0], a[1]); }
Value p_car(Interp& in, Value* a, int) { return expect_pair(in, a[0], "car")->car; }
Value p_cdr(Interp& in, Value* a, int) { return expect_pair(in, a[0], "cdr")->cdr; }
Value p_set_car(Interp& in, Value* a, int) {
  Pair* p = expect_pair(in, a[0], "set-car!");
  in.store(p, p->car, a[1]);
  return kUnspecified;
}
Value p_set_cdr(Interp& in, Value* a, int) {
  Pair* p = expect_pair(in, a[0], "set-cdr!");
  in.store(p, p->cdr, a[1]);
  return kUnspecified;
}

// c[ad]+r: `Path` lists the operations innermost first, 'a' or 'd'.
template <char... Path>
Value p_cxr(Interp& in, Value* a, int) {
  static constexpr char path[] = {Path..., 0};
  static const std::string name = [] {
    std::string s = "c";
    for (int i = static_cast<int>(sizeof...(Path)) - 1; i >= 0; --i) s += path[i];
    return s + "r";
  }();
  Value v = a[0];
  for (std::size_t i = 0; i < sizeof...(Path); ++i) {
    if (!is_pair(v)) in.type_error(name.c_str(), "a pair", a[0]);
    v = path[i] == 'a' ? car(v) : cdr(v);
  }
  return v;
}

Value p_list_p(Interp&, Value* a, int) {
  Value slow = a[0], fast = a[0];
  for (;;) {
    if (fast == kNil) return kTrue;
    if (!is_pair(fast)) return kFalse;
    fast = cdr(fast);
    if (fast == kNil) return kTrue;
    if (!is_pair(fast)) return kFalse;
    fast = cdr(fast);
    slow = cdr(slow);
    if (fast == slow) return kFalse;
  }
}

Value p_list(Interp& in, Value* a, int n) { return in.list_from_array(a, n); }

Value p_make_list(Interp& in, Value* a, int n) {
  std::int64_t k = expect_index(in, a[0], "make-list");
  Value fill = n > 1 ? a[1] : kUnspecified;
  Value result = kNil;
  for (std::int64_t i = 0; i < k; ++i) result = in.cons(fill, result);
  return result;
}

Value p_length(Interp& in, Value* a, int) { return make_fixnum(list_length(in, a[0], "length")); }

// Appends a copy of `list` to the list being built at head/tail.
void append_copy(Interp& in, Value list, Value& head, Value& tail, const char* who) {
  Value x = list;
  for (; is_pair(x); x = cdr(x)) {
    Value cell = in.cons(car(x), kNil);
    if (tail == 0) {
      head = cell;
    } else {
      in.store(as_pair(tail), as_pair(tail)->cdr, cell);
    }
    tail = cell;
  }
  if (x != kNil) in.type_error(who, "a proper list", list);
}

Value p_append(Interp& in, Value* a, int n) {
  if (n == 0) return kNil;
  Value head = kNil, tail = 0;
  for (int i = 0; i < n - 1; ++i) append_copy(in, a[i], head, tail, "append");
  if (tail == 0) return a[n - 1];
  in.store(as_pair(tail), as_pair(tail)->cdr, a[n - 1]);
  return head;
}

Value p_reverse(Interp& in, Value* a, int) {
  Value result = kNil;
  Value x = a[0];
  for (; is_pair(x); x = cdr(x)) result = in.cons(car(x), result);
  if (x != kNil) in.type_error("reverse", "a proper list", a[0]);
  return result;
}

Value p_list_tail(Interp& in, Value* a, int) {
  std::int64_t k = expect_index(in, a[1], "list-tail");
  Value x = a[0];
  for (std::int64_t i = 0; i < k; ++i) {
    if (!is_pair(x)) in.error("list-tail: list too short", a[0]);
    x = cdr(x);
  }
  return x;
}

Value p_list_ref(Interp& in, Value* a, int) {
  std::int64_t k = expect_index(in, a[1], "list-ref");
  Value x = a[0];
  for (std::int64_t i = 0; i < k; ++i) {
    if (!is_pair(x)) index_error(in, "list-ref", k, i);
    x = cdr(x);
  }
  if (!is_pair(x)) index_error(in, "list-ref", k, k);
  return car(x);
}

Value p_list_set(Interp& in, Value* a, int) {
  std::int64_t k = expect_index(in, a[1], "list-set!");
  Value x = a[0];
  for (std::int64_t i = 0; i < k && is_pair(x); ++i) x = cdr(x);
  if (!is_pair(x)) index_error(in, "list-set!", k, list_length(in, a[0], "list-set!"));
  in.store(as_pair(x), as_pair(x)->car, a[2]);
  return kUnspecified;
}

Value p_list_copy(Interp& in, Value* a, int) {
  Value head = kNil, tail = 0;
  Value x = a[0];
  for (; is_pair(x); x = cdr(x)) {
    Value cell = in.cons(car(x), kNil);
    if (tail == 0) {
      head = cell;
    } else {
      in.store(as_pair(tail), as_pair(tail)->cdr, cell);
    }
    tail = cell;
  }
  if (tail == 0) return x;
  in.store(as_pair(tail), as_pair(tail)->cdr, x);
  return head;
}

Value p_last_pair(Interp& in, Value* a, int) {
  Value x = a[0];
  expect_pair(in, x, "last-pair");
  while (is_pair(cdr(x))) x = cdr(x);
  return x;
}

template <bool (*Same)(Value, Value)>
Value member_generic(Interp& in, Value* a, int n, const char* who) {
  Value x = a[1];
  for (; is_pair(x); x = cdr(x)) {
    if (n > 2) {
      Value args[2] = {a[0], car(x)};
      if (truthy(in.apply(a[2], 2, args))) return x;
    } else if (Same(a[0], car(x))) {
      return x;
    }
  }
  if (x != kNil) in.type_error(who, "a proper list", a[1]);
  return kFalse;
}

bool same_eq(Value a, Value b) { return a == b; }
Value p_memq(Interp& in, Value* a, int n) { return member_generic<same_eq>(in, a, n, "memq"); }
Value p_memv(Interp& in, Value* a, int n) { return member_generic<eqv>(in, a, n, "memv"); }
Value p_member(Interp& in, Value* a, int n) { return member_generic<equal>(in, a, n, "member"); }

template <bool (*Same)(Value, Value)>
Value assoc_generic(Interp& in, Value* a, int n, const char* who) {
  Value x = a[1];
  for (; is_pair(x); x = cdr(x)) {
    Value entry = car(x);
    if (!is_pair(entry)) in.type_error(who, "an association list", a[1]);
    if (n > 2) {
      Value args[2] = {a[0], car(entry)};
      if (truthy(in.apply(a[2], 2, args))) return entry;
    } else if (Same(a[0], car(entry))) {
      return entry;
    }
  }
  if (x != kNil) in.type_error(who, "a proper list", a[1]);
  return kFalse;
}

Value p_assq(Interp& in, Value* a, int n) { return assoc_generic<same_eq>(in, a, n, "assq"); }
Value p_assv(Interp& in, Value* a, int n) { return assoc_generic<eqv>(in, a, n, "assv"); }
Value p_assoc(Interp& in, Value* a, int n) { return assoc_generic<equal>(in, a, n, "assoc"); }

// ---- Symbols ----

Value p_symbol_p(Interp&, Value* a, int) { return make_bool(is_symbol(a[0])); }
Value p_symbol_to_string(Interp& in, Value* a, int) {
  const String* name = expect_symbol(in, a[0], "symbol->string")->name.get();
  return in.make_string(std::string_view(name->data(), name->length));
}
Value p_string_to_symbol(Interp& in, Value* a, int) {
  const String* s = expect_string(in, a[0], "string->symbol");
  return in.intern(std::string_view(s->data(), s->length));
}
Value p_symbol_eq(Interp& in, Value* a, int n) {
  for (int i = 0; i < n; ++i) expect_symbol(in, a[i], "symbol=?");
  for (int i = 1; i < n; ++i) {
    if (a[i] != a[0]) return kFalse;
  }
  return kTrue;
}
Value p_gensym(Interp& in, Value* a, int n) {
  static std::uint64_t counter = 0;
  std::string base = "g";
  if (n > 0 && is_string(a[0])) base = std::string(as_string(a[0])->data(), as_string(a[0])->length);
  if (n > 0 && is_symbol(a[0])) base = in.to_string(a[0], true);
  return in.make_uninterned(base + std::to_string(++counter));
}

// ---- Characters ----

Value p_char_p(Interp&, Value* a, int) { return make_bool(is_char(a[0])); }
Value p_char_to_integer(Interp& in, Value* a, int) { return make_fixnum(expect_char(in, a[0], "char->integer")); }
Value p_integer_to_char(Interp& in, Value* a, int) {
  std::int64_t n = expect_index(in, a[0], "integer->char");
  if (n > 0x10ffff) in.error("integer->char: not a Unicode scalar value", a[0]);
  return make_char(static_cast<std::uint32_t>(n));
}

std::uint32_t fold(std::uint32_t c) { return c < 128 ? static_cast<std::uint32_t>(std::tolower(static_cast<int>(c))) : c; }

template <bool (*Ok)(std::uint32_t, std::uint32_t), bool Fold>
Value char_compare(Interp& in, Value* a, int n) {
  for (int i = 0; i < n; ++i) expect_char(in, a[i], "char comparison");
  for (int i = 0; i + 1 < n; ++i) {
    std::uint32_t x = char_value(a[i]), y = char_value(a[i + 1]);
    if (Fold) {
      x = fold(x);
      y = fold(y);
    }
    if (!Ok(x, y)) return kFalse;
  }
  return kTrue;
}
bool u_eq(std::uint32_t x, std::uint32_t y) { return x == y; }
bool u_lt(std::uint32_t x, std::uint32_t y) { return x < y; }
bool u_gt(std::uint32_t x, std::uint32_t y) { return x > y; }
bool u_le(std::uint32_t x, std::uint32_t y) { return x <= y; }
bool u_ge(std::uint32_t x, std::uint32_t y) { return x >= y; }

template <int (*F)(int)>
Value char_map(Interp& in, Value* a, int) {
  std::uint32_t c = expect_char(in, a[0], "char case");
  return make_char(c < 128 ? static_cast<std::uint32_t>(F(static_cast<int>(c))) : c);
}
int to_upper(int c) { return std::toupper(c); }
int to_lower(int c) { return std::tolower(c); }

template <int (*F)(int)>
Value char_class(Interp& in, Value* a, int) {
  std::uint32_t c = expect_char(in, a[0], "char class");
  return make_bool(c < 128 && F(static_cast<int>(c)) != 0);
}
int is_alpha(int c) { return std::isalpha(c); }
int is_digit(int c) { return std::isdigit(c); }
int is_space(int c) { return std::isspace(c); }
int is_upper(int c) { return std::isupper(c); }
int is_lower(int c) { return std::islower(c); }

Value p_digit_value(Interp& in, Value* a, int) {
  std::uint32_t c = expect_char(in, a[0], "digit-value");
  return c >= '0' && c <= '9' ? make_fixnum(c - '0') : kFalse;
}

// ---- Strings ----

char byte_of(Interp& in, Value c, const char* who) {
  std::uint32_t code = expect_char(in, c, who);
  if (code > 255) in.error(std::string(who) + ": strings hold only characters 0-255", c);
  return static_cast<char>(code);
}

Value p_string_p(Interp&, Value* a, int) { return make_bool(is_string(a[0])); }
Value p_make_string(Interp& in, Value* a, int n) {
  std::int64_t k = expect_index(in, a[0], "make-string");
  return in.make_string(static_cast<std::size_t>(k), n > 1 ? byte_of(in, a[1], "make-string") : ' ');
}
Value p_string(Interp& in, Value* a, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(byte_of(in, a[i], "string"));
  return in.make_string(s);
}
Value p_string_length(Interp& in, Value* a, int) { return make_fixnum(expect_string(in, a[0], "string-length")->length); }
Value p_string_ref(Interp& in, Value* a, int) {
  String* s = expect_string(in, a[0], "string-ref");
  std::int64_t k = expect_index(in, a[1], "string-ref");
  if (k >= s->length) index_error(in, "string-ref", k, s->length);
  return make_char(static_cast<unsigned char>(s->data()[k]));
}
Value p_string_set(Interp& in, Value* a, int) {
  String* s = expect_string(in, a[0], "string-set!");
  std::int64_t k = expect_index(in, a[1], "string-set!");
  if (k >= s->length) index_error(in, "string-set!", k, s->length);
  s->data()[k] = byte_of(in, a[2], "string-set!");
  return kUnspecified;
}
Value p_substring(Interp& in, Value* a, int n) {
  String* s = expect_string(in, a[0], "substring");
  std::int64_t start, end;
  range_args(in, a, n, 1, s->length, "substring", start, end);
  return in.make_string(std::string_view(s->data() + start, static_cast<std::size_t>(end - start)));
}
Value p_string_append(Interp& in, Value* a, int n) {
  std::size_t total = 0;
  for (int i = 0; i < n; ++i) total += expect_string(in, a[i], "string-append")->length;
  Value result = in.make_string(total, ' ');
  char* out = as_string(result)->data();
  for (int i = 0; i < n; ++i) {
    const String* s = as_string(a[i]);
    std::memcpy(out, s->data(), s->length);
    out += s->length;
  }
  return result;
}
Value p_string_copy(Interp& in, Value* a, int n) { return p_substring(in, a, n); }
Value p_string_copy_to(Interp& in, Value* a, int n) {
  String* to = expect_string(in, a[0], "string-copy!");
  std::int64_t at = expect_index(in, a[1], "string-copy!");
  String* from = expect_string(in, a[2], "string-copy!");
  std::int64_t start, end;
  range_args(in, a, n, 3, from->length, "string-copy!", start, end);
  if (at + (end - start) > to->length) in.error("string-copy!: destination too short");
  std::memmove(to->data() + at, from->data() + start, static_cast<std::size_t>(end - start));
  return kUnspecified;
}
Value p_string_fill(Interp& in, Value* a, int n) {
  String* s = expect_string(in, a[0], "string-fill!");
  char c = byte_of(in, a[1], "string-fill!");
  std::int64_t start, end;
  range_args(in, a, n, 2, s->length, "string-fill!", start, end);
  std::memset(s->data() + start, c, static_cast<std::size_t>(end - start));
  return kUnspecified;
}
Value p_string_to_list(Interp& in, Value* a, int n) {
  String* s = expect_string(in, a[0], "string->list");
  std::int64_t start, end;
  range_args(in, a, n, 1, s->length, "string->list", start, end);
  Value result = kNil;
  for (std::int64_t i = end; i > start; --i) result = in.cons(make_char(static_cast<unsigned char>(s->data()[i - 1])), result);
  return result;
}
Value p_list_to_string(Interp& in, Value* a, int) {
  std::int64_t n = list_length(in, a[0], "list->string");
  Value result = in.make_string(static_cast<std::size_t>(n), ' ');
  char* out = as_string(result)->data();
  for (Value x = a[0]; is_pair(x); x = cdr(x)) *out++ = byte_of(in, car(x), "list->string");
  return result;
}

template <bool (*Ok)(int), bool Fold>
Value string_compare(Interp& in, Value* a, int n) {
  for (int i = 0; i < n; ++i) expect_string(in, a[i], "string comparison");
  for (int i = 0; i + 1 < n; ++i) {
    const String* x = as_string(a[i]);
    const String* y = as_string(a[i + 1]);
    std::size_t common = std::min(x->length, y->length);
    int c = 0;
    for (std::size_t k = 0; k < common && c == 0; ++k) {
      auto p = static_cast<unsigned char>(x->data()[k]), q = static_cast<unsigned char>(y->data()[k]);
      if (Fold) {
        p = static_cast<unsigned char>(std::tolower(p));
        q = static_cast<unsigned char>(std::tolower(q));
      }
      c = p < q ? -1 : (p > q ? 1 : 0);
    }
    if (c == 0) c = x->length < y->length ? -1 : (x->length > y->length ? 1 : 0);
    if (!Ok(c)) return kFalse;
  }
  return kTrue;
}
bool c_eq(int c) { return c == 0; }
bool c_lt(int c) { return c < 0; }
bool c_gt(int c) { return c > 0; }
bool c_le(int c) { return c <= 0; }
bool c_ge(int c) { return c >= 0; }

template <int (*F)(int)>
Value string_case(Interp& in, Value* a, int) {
  String* s = expect_string(in, a[0], "string case");
  Value result = in.make_string(std::string_view(s->data(), s->length));
  String* r = as_string(result);
  for (std::uint32_t i = 0; i < r->length; ++i) {
    r->data()[i] = static_cast<char>(F(static_cast<unsigned char>(r->data()[i])));
  }
  return result;
}

// ---- Vectors ----

Value p_vector_p(Interp&, Value* a, int) { return make_bool(is_vector(a[0])); }
Value p_make_vector(Interp& in, Value* a, int n) {
  std::int64_t k = expect_index(in, a[0], "make-vector");
  return in.make_vector(static_cast<std::size_t>(k), n > 1 ? a[1] : kFalse);
}
Value p_vector(Interp& in, Value* a, int n) {
  Value v = in.make_vector(static_cast<std::size_t>(n), kFalse);
  Vector* vec = as_vector(v);
  for (int i = 0; i < n; ++i) in.store(vec, vec->items()[i], a[i]);
  return v;
}
Value p_vector_length(Interp& in, Value* a, int) { return make_fixnum(expect_vector(in, a[0], "vector-length")->length); }
Value p_vector_ref(Interp& in, Value* a, int) {
  Vector* v = expect_vector(in, a[0], "vector-ref");
  if (!is_fixnum(a[1]) || static_cast<std::uint64_t>(fixnum_value(a[1])) >= v->length) {
    if (!is_fixnum(a[1])) in.type_error("vector-ref", "an index", a[1]);
    index_error(in, "vector-ref", fixnum_value(a[1]), v->length);
  }
  return v->items()[fixnum_value(a[1])];
}
Value p_vector_set(Interp& in, Value* a, int) {
  Vector* v = expect_vector(in, a[0], "vector-set!");
  if (!is_fixnum(a[1]) || static_cast<std::uint64_t>(fixnum_value(a[1])) >= v->length) {
    if (!is_fixnum(a[1])) in.type_error("vector-set!", "an index", a[1]);
    index_error(in, "vector-set!", fixnum_value(a[1]), v->length);
  }
  in.store(v, v->items()[fixnum_value(a[1])], a[2]);
  return kUnspecified;
}
Value p_vector_to_list(Interp& in, Value* a, int n) {
  Vector* v = expect_vector(in, a[0], "vector->list");
  std::int64_t start, end;
  range_args(in, a, n, 1, v->length, "vector->list", start, end);
  Value result = kNil;
  for (std::int64_t i = end; i > start; --i) result = in.cons(v->items()[i - 1], result);
  return result;
}
Value p_list_to_vector(Interp& in, Value* a, int) {
  std::int64_t n = list_length(in, a[0], "list->vector");
  Value v = in.make_vector(static_cast<std::size_t>(n), kFalse);
  Vector* vec = as_vector(v);
  Value x = a[0];
  for (std::int64_t i = 0; i < n; ++i, x = cdr(x)) in.store(vec, vec->items()[i], car(x));
  return v;
}
Value p_vector_fill(Interp& in, Value* a, int n) {
  Vector* v = expect_vector(in, a[0], "vector-fill!");
  std::int64_t start, end;
  range_args(in, a, n, 2, v->length, "vector-fill!", start, end);
  for (std::int64_t i = start; i < end; ++i) in.store(v, v->items()[i], a[1]);
  return kUnspecified;
}
Value p_vector_copy(Interp& in, Value* a, int n) {
  Vector* v = expect_vector(in, a[0], "vector-copy");
  std::int64_t start, end;
  range_args(in, a, n, 1, v->length, "vector-copy", start, end);
  Value result = in.make_vector(static_cast<std::size_t>(end - start), kFalse);
  Vector* r = as_vector(result);
  for (std::int64_t i = start; i < end; ++i) in.store(r, r->items()[i - start], v->items()[i]);
  return result;
}
Value p_vector_copy_to(Interp& in, Value* a, int n) {
  Vector* to = expect_vector(in, a[0], "vector-copy!");
  std::int64_t at = expect_index(in, a[1], "vector-copy!");
  Vector* from = expect_vector(in, a[2], "vector-copy!");
  std::int64_t start, end;
  range_args(in, a, n, 3, from->length, "vector-copy!", start, end);
  if (at + (end - start) > to->length) in.error("vector-copy!: destination too short");
  if (at <= start) {
    for (std::int64_t i = start; i < end; ++i) in.store(to, to->items()[at + i - start], from->items()[i]);
  } else {
    for (std::int64_t i = end; i > start; --i) in.store(to, to->items()[at + i - 1 - start], from->items()[i - 1]);
  }
  return kUnspecified;
}
Value p_vector_append(Interp& in, Value* a, int n) {
  std::size_t total = 0;
  for (int i = 0; i < n; ++i) total += expect_vector(in, a[i], "vector-append")->length;
  Value result = in.make_vector(total, kFalse);
  Vector* r = as_vector(result);
  std::size_t k = 0;
  for (int i = 0; i < n; ++i) {
    Vector* v = as_vector(a[i]);
    for (std::uint32_t j = 0; j < v->length; ++j) in.store(r, r->items()[k++], v->items()[j]);
  }
  return result;
}
Value p_vector_to_string(Interp& in, Value* a, int n) {
  Vector* v = expect_vector(in, a[0], "vector->string");
  std::int64_t start, end;
  range_args(in, a, n, 1, v->length, "vector->string", start, end);
  Value result = in.make_string(static_cast<std::size_t>(end - start), ' ');
  for (std::int64_t i = start; i < end; ++i) {
    as_string(result)->data()[i - start] = byte_of(in, as_vector(a[0])->items()[i], "vector->string");
  }
  return result;
}
Value p_string_to_vector(Interp& in, Value* a, int n) {
  String* s = expect_string(in, a[0], "string->vector");
  std::int64_t start, end;
  range_args(in, a, n, 1, s->length, "string->vector", start, end);
  Value result = in.make_vector(static_cast<std::size_t>(end - start), kFalse);
  for (std::int64_t i = start; i < end; ++i) {
    as_vector(result)->items()[i - start] = make_char(static_cast<unsigned char>(as_string(a[0])->data()[i]));
  }
  return result;
}

}  // namespace

void install_data_primitives(Interp& in) {
  struct {
    const char* name;
    PrimitiveFn fn;
    int min, max;
  } const table[] = {
      {"eq?", p_eq, 2, 2},
      {"eqv?", p_eqv, 2, 2},
      {"equal?", p_equal, 2, 2},
      {"not", p_not, 1, 1},
      {"boolean?", p_boolean_p, 1, 1},
      {"boolean=?", p_boolean_eq, 2, -1},
      {"pair?", p_pair_p, 1, 1},
      {"null?", p_null_p, 1, 1},
      {"cons", p_cons, 2, 2},
      {"car", p_car, 1, 1},
      {"cdr", p_cdr, 1, 1},
      {"set-car!", p_set_car, 2, 2},
      {"set-cdr!", p_set_cdr, 2, 2},
      {"caar", p_cxr<'a', 'a'>, 1, 1},
      {"cadr", p_cxr<'d', 'a'>, 1, 1},
      {"cdar", p_cxr<'a', 'd'>, 1, 1},
      {"cddr", p_cxr<'d', 'd'>, 1, 1},
      {"caaar", p_cxr<'a', 'a', 'a'>, 1, 1},
      {"caadr", p_cxr<'d', 'a', 'a'>, 1, 1},
      {"cadar", p_cxr<'a', 'd', 'a'>, 1, 1},
      {"caddr", p_cxr<'d', 'd', 'a'>, 1, 1},
      {"cdaar", p_cxr<'a', 'a', 'd'>, 1, 1},
      {"cdadr", p_cxr<'d', 'a', 'd'>, 1, 1},
      {"cddar", p_cxr<'a', 'd', 'd'>, 1, 1},
      {"cdddr", p_cxr<'d', 'd', 'd'>, 1, 1},
      {"cadddr", p_cxr<'d', 'd', 'd', 'a'>, 1, 1},
      {"cddddr", p_cxr<'d', 'd', 'd', 'd'>, 1, 1},
      {"list?", p_list_p, 1, 1},
      {"list", p_list, 0, -1},
      {"make-list", p_make_list, 1, 2},
      {"length", p_length, 1, 1},
      {"append", p_append, 0, -1},
      {"reverse", p_reverse, 1, 1},
      {"list-tail", p_list_tail, 2, 2},
      {"list-ref", p_list_ref, 2, 2},
      {"list-set!", p_list_set, 3, 3},
      {"list-copy", p_list_copy, 1, 1},
      {"last-pair", p_last_pair, 1, 1},
      {"memq", p_memq, 2, 2},
      {"memv", p_memv, 2, 2},
      {"member", p_member, 2, 3},
      {"assq", p_assq, 2, 2},
      {"assv", p_assv, 2, 2},
      {"assoc", p_assoc, 2, 3},
      {"symbol?", p_symbol_p, 1, 1},
      {"symbol->string", p_symbol_to_string, 1, 1},
      {"string->symbol", p_string_to_symbol, 1, 1},
      {"symbol=?", p_symbol_eq, 2, -1},
      {"gensym", p_gensym, 0, 1},
      {"char?", p_char_p, 1, 1},
      {"char->integer", p_char_to_integer, 1, 1},
      {"integer->char", p_integer_to_char, 1, 1},
      {"char=?", char_compare<u_eq, false>, 1, -1},
      {"char<?", char_compare<u_lt, false>, 1, -1},
      {"char>?", char_compare<u_gt, false>, 1, -1},
      {"char<=?", char_compare<u_le, false>, 1, -1},
      {"char>=?", char_compare<u_ge, false>, 1, -1},
      {"char-ci=?", char_compare<u_eq, true>, 1, -1},
      {"char-ci<?", char_compare<u_lt, true>, 1, -1},
      {"char-ci>?", char_compare<u_gt, true>, 1, -1},
      {"char-upcase", char_map<to_upper>, 1, 1},
      {"char-downcase", char_map<to_lower>, 1, 1},
      {"char-foldcase", char_map<to_lower>, 1, 1},
      {"char-alphabetic?", char_class<is_alpha>, 1, 1},
      {"char-numeric?", char_class<is_digit>, 1, 1},
      {"char-whitespace?", char_class<is_space>, 1, 1},
      {"char-upper-case?", char_class<is_upper>, 1, 1},
      {"char-lower-case?", char_class<is_lower>, 1, 1},
      {"digit-value", p_digit_value, 1, 1},
      {"string?", p_string_p, 1, 1},
      {"make-string", p_make_string, 1, 2},
      {"string", p_string, 0, -1},
      {"string-length", p_string_length, 1, 1},
      {"string-ref", p_string_ref, 2, 2},
      {"string-set!", p_string_set, 3, 3},
      {"substring", p_substring, 2, 3},
      {"string-append", p_string_append, 0, -1},
      {"string-copy", p_string_copy, 1, 3},
      {"string-copy!", p_string_copy_to, 3, 5},
      {"string-fill!", p_string_fill, 2, 4},
      {"string->list", p_string_to_list, 1, 3},
      {"list->string", p_list_to_string, 1, 1},
      {"string=?", string_compare<c_eq, false>, 1, -1},
      {"string<?", string_compare<c_lt, false>, 1, -1},
      {"string>?", string_compare<c_gt, false>, 1, -1},
      {"string<=?", string_compare<c_le, false>, 1, -1},
      {"string>=?", string_compare<c_ge, false>, 1, -1},
      {"string-ci=?", string_compare<c_eq, true>, 1, -1},
      {"string-ci<?", string_compare<c_lt, true>, 1, -1},
      {"string-upcase", string_case<to_upper>, 1, 1},
      {"string-downcase", string_case<to_lower>, 1, 1},
      {"string-foldcase", string_case<to_lower>, 1, 1},
      {"vector?", p_vector_p, 1, 1},
      {"make-vector", p_make_vector, 1, 2},
      {"vector", p_vector, 0, -1},
      {"vector-length", p_vector_length, 1, 1},
      {"vector-ref", p_vector_ref, 2, 2},
      {"vector-set!", p_vector_set, 3, 3},
      {"vector->list", p_vector_to_list, 1, 3},
      {"list->vector", p_list_to_vector, 1, 1},
      {"vector-fill!", p_vector_fill, 2, 4},
      {"vector-copy", p_vector_copy, 1, 3},
      {"vector-copy!", p_vector_copy_to, 3, 5},
      {"vector-append", p_vector_append, 0, -1},
      {"vector->string", p_vector_to_string, 1, 3},
      {"string->vector", p_string_to_vector, 1, 3},
  };
  for (const auto& p : table) {
    Value prim = in.keep(in.define_primitive(p.name, p.fn, p.min, p.max));
    std::string_view name = p.name;
    if (name == "cons") in.prim_cons_ = prim;
    if (name == "list") in.prim_list_ = prim;
    if (name == "append") in.prim_append_ = prim;
    if (name == "list->vector") in.prim_list_to_vector_ = prim;
  }
}

}  // namespace scheme
