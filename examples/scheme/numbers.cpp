// examples/scheme/numbers.cpp — numbers: parsing, printing and the numeric
// primitives (+ - * / comparisons, integer division, rounding, exactness,
// transcendental functions).
//
// Exact arithmetic first tries the fixnum fast path on the tagged words
// themselves (a 63-bit overflow check), then the 64-bit path through boxed
// Integers; overflowing 64 bits raises a Scheme error rather than wrapping
// or silently going inexact. Any flonum argument makes the result a flonum.
// See numbers.hpp for the representation. Installed by Interp's constructor.
#include "numbers.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace scheme {

namespace {

[[noreturn]] void overflow(Interp& in, const char* who) {
  in.error(std::string(who) + ": integer overflow (exact integers are limited to 64 bits)");
}

void check_number(Interp& in, Value v, const char* who) {
  if (!is_number(v)) in.type_error(who, "a number", v);
}

std::int64_t expect_integer(Interp& in, Value v, const char* who) {
  std::int64_t n;
  if (!integer_value(v, n)) in.type_error(who, "an exact integer", v);
  return n;
}

Value add2(Interp& in, Value a, Value b) {
  if (is_fixnum(a) && is_fixnum(b)) {
    std::int64_t r;
    if (!__builtin_add_overflow(static_cast<std::int64_t>(a), static_cast<std::int64_t>(b - 1), &r)) {
      return static_cast<Value>(r);
    }
  }
  std::int64_t x, y;
  if (integer_value(a, x) && integer_value(b, y)) {
    std::int64_t r;
    if (__builtin_add_overflow(x, y, &r)) overflow(in, "+");
    return in.make_integer(r);
  }
  return in.make_flonum(to_double(in, a, "+") + to_double(in, b, "+"));
}

Value sub2(Interp& in, Value a, Value b) {
  if (is_fixnum(a) && is_fixnum(b)) {
    std::int64_t r;
    if (!__builtin_sub_overflow(static_cast<std::int64_t>(a), static_cast<std::int64_t>(b - 1), &r)) {
      return static_cast<Value>(r);
    }
  }
  std::int64_t x, y;
  if (integer_value(a, x) && integer_value(b, y)) {
    std::int64_t r;
    if (__builtin_sub_overflow(x, y, &r)) overflow(in, "-");
    return in.make_integer(r);
  }
  return in.make_flonum(to_double(in, a, "-") - to_double(in, b, "-"));
}

Value mul2(Interp& in, Value a, Value b) {
  std::int64_t x, y;
  if (integer_value(a, x) && integer_value(b, y)) {
    std::int64_t r;
    if (__builtin_mul_overflow(x, y, &r)) overflow(in, "*");
    return in.make_integer(r);
  }
  return in.make_flonum(to_double(in, a, "*") * to_double(in, b, "*"));
}

Value div2(Interp& in, Value a, Value b) {
  std::int64_t x, y;
  if (integer_value(a, x) && integer_value(b, y)) {
    if (y == 0) in.error("/: division by zero");
    if (y == -1) {
      if (x == std::numeric_limits<std::int64_t>::min()) overflow(in, "/");
      return in.make_integer(-x);
    }
    if (x % y == 0) return in.make_integer(x / y);
    return in.make_flonum(static_cast<double>(x) / static_cast<double>(y));
  }
  return in.make_flonum(to_double(in, a, "/") / to_double(in, b, "/"));
}

Value p_add(Interp& in, Value* a, int n) {
  if (n == 0) return make_fixnum(0);
  check_number(in, a[0], "+");
  Value r = a[0];
  for (int i = 1; i < n; ++i) r = add2(in, r, a[i]);
  return r;
}

Value p_sub(Interp& in, Value* a, int n) {
  check_number(in, a[0], "-");
  if (n == 1) return sub2(in, make_fixnum(0), a[0]);
  Value r = a[0];
  for (int i = 1; i < n; ++i) r = sub2(in, r, a[i]);
  return r;
}

Value p_mul(Interp& in, Value* a, int n) {
  if (n == 0) return make_fixnum(1);
  check_number(in, a[0], "*");
  Value r = a[0];
  for (int i = 1; i < n; ++i) r = mul2(in, r, a[i]);
  return r;
}

Value p_div(Interp& in, Value* a, int n) {
  check_number(in, a[0], "/");
  if (n == 1) return div2(in, make_fixnum(1), a[0]);
  Value r = a[0];
  for (int i = 1; i < n; ++i) r = div2(in, r, a[i]);
  return r;
}

// Comparisons: every argument must be a number, and each adjacent pair must
// satisfy `ok(compare)`.
template <bool (*Ok)(int)>
Value compare_chain(Interp& in, Value* a, int n, const char* who) {
  bool result = true;
  for (int i = 0; i < n; ++i) check_number(in, a[i], who);
  for (int i = 0; i + 1 < n && result; ++i) {
    int c;
    if (is_fixnum(a[i]) && is_fixnum(a[i + 1])) {
      c = a[i] < a[i + 1] ? -1 : (a[i] == a[i + 1] ? 0 : 1);
    } else {
      c = number_compare(a[i], a[i + 1]);
    }
    result = Ok(c);
  }
  return make_bool(result);
}

bool ok_eq(int c) { return c == 0; }
bool ok_lt(int c) { return c == -1; }
bool ok_gt(int c) { return c == 1; }
bool ok_le(int c) { return c == -1 || c == 0; }
bool ok_ge(int c) { return c == 1 || c == 0; }

Value p_num_eq(Interp& in, Value* a, int n) { return compare_chain<ok_eq>(in, a, n, "="); }
Value p_lt(Interp& in, Value* a, int n) { return compare_chain<ok_lt>(in, a, n, "<"); }
Value p_gt(Interp& in, Value* a, int n) { return compare_chain<ok_gt>(in, a, n, ">"); }
Value p_le(Interp& in, Value* a, int n) { return compare_chain<ok_le>(in, a, n, "<="); }
Value p_ge(Interp& in, Value* a, int n) { return compare_chain<ok_ge>(in, a, n, ">="); }

// An integer argument of the integer-division family: exact, or a flonum
// with an integral value (then the result is inexact).
struct IntArg {
  bool exact;
  std::int64_t i;
  double d;
};

IntArg int_arg(Interp& in, Value v, const char* who) {
  std::int64_t n;
  if (integer_value(v, n)) return {true, n, static_cast<double>(n)};
  if (is_flonum(v)) {
    double d = flonum_value(v);
    if (std::isfinite(d) && d == std::trunc(d)) return {false, 0, d};
  }
  in.type_error(who, "an integer", v);
}

enum class DivKind { truncate_quotient, truncate_remainder, floor_quotient, floor_remainder };

Value integer_divide(Interp& in, Value a, Value b, DivKind kind, const char* who) {
  IntArg x = int_arg(in, a, who), y = int_arg(in, b, who);
  if (x.exact && y.exact) {
    if (y.i == 0) in.error(std::string(who) + ": division by zero");
    if (y.i == -1) {
      if (kind == DivKind::truncate_remainder || kind == DivKind::floor_remainder) return make_fixnum(0);
      if (x.i == std::numeric_limits<std::int64_t>::min()) overflow(in, who);
      return in.make_integer(-x.i);
    }
    std::int64_t q = x.i / y.i, r = x.i % y.i;
    bool adjust = r != 0 && ((r < 0) != (y.i < 0));
    switch (kind) {
      case DivKind::truncate_quotient: return in.make_integer(q);
      case DivKind::truncate_remainder: return in.make_integer(r);
      case DivKind::floor_quotient: return in.make_integer(adjust ? q - 1 : q);
      case DivKind::floor_remainder: return in.make_integer(adjust ? r + y.i : r);
    }
  }
  if (y.d == 0) in.error(std::string(who) + ": division by zero");
  double q = std::trunc(x.d / y.d), r = std::fmod(x.d, y.d);
  bool adjust = r != 0 && ((r < 0) != (y.d < 0));
  switch (kind) {
    case DivKind::truncate_quotient: return in.make_flonum(q);
    case DivKind::truncate_remainder: return in.make_flonum(r);
    case DivKind::floor_quotient: return in.make_flonum(adjust ? q - 1 : q);
    case DivKind::floor_remainder: return in.make_flonum(adjust ? r + y.d : r);
  }
  return kUnspecified;
}

Value p_quotient(Interp& in, Value* a, int) {
  if (is_fixnum(a[0]) && is_fixnum(a[1]) && fixnum_value(a[1]) > 0) {
    return make_fixnum(fixnum_value(a[0]) / fixnum_value(a[1]));
  }
  return integer_divide(in, a[0], a[1], DivKind::truncate_quotient, "quotient");
}
Value p_remainder(Interp& in, Value* a, int) {
  if (is_fixnum(a[0]) && is_fixnum(a[1]) && fixnum_value(a[1]) > 0) {
    return make_fixnum(fixnum_value(a[0]) % fixnum_value(a[1]));
  }
  return integer_divide(in, a[0], a[1], DivKind::truncate_remainder, "remainder");
}
Value p_modulo(Interp& in, Value* a, int) {
  return integer_divide(in, a[0], a[1], DivKind::floor_remainder, "modulo");
}
Value p_floor_quotient(Interp& in, Value* a, int) {
  return integer_divide(in, a[0], a[1], DivKind::floor_quotient, "floor-quotient");
}
Value p_floor_div(Interp& in, Value* a, int) {
  Value v[2] = {integer_divide(in, a[0], a[1], DivKind::floor_quotient, "floor/"),
                integer_divide(in, a[0], a[1], DivKind::floor_remainder, "floor/")};
  return in.make_values(v, 2);
}
Value p_truncate_div(Interp& in, Value* a, int) {
  Value v[2] = {integer_divide(in, a[0], a[1], DivKind::truncate_quotient, "truncate/"),
                integer_divide(in, a[0], a[1], DivKind::truncate_remainder, "truncate/")};
  return in.make_values(v, 2);
}

bool is_integer_value(Value v) {
  if (is_exact_integer(v)) return true;
  if (!is_flonum(v)) return false;
  double d = flonum_value(v);
  return std::isfinite(d) && d == std::trunc(d);
}

Value p_number_p(Interp&, Value* a, int) { return make_bool(is_number(a[0])); }
Value p_integer_p(Interp&, Value* a, int) { return make_bool(is_integer_value(a[0])); }
Value p_rational_p(Interp&, Value* a, int) {
  return make_bool(is_exact_integer(a[0]) || (is_flonum(a[0]) && std::isfinite(flonum_value(a[0]))));
}
Value p_exact_p(Interp& in, Value* a, int) {
  check_number(in, a[0], "exact?");
  return make_bool(is_exact_integer(a[0]));
}
Value p_inexact_p(Interp& in, Value* a, int) {
  check_number(in, a[0], "inexact?");
  return make_bool(is_flonum(a[0]));
}
Value p_exact_integer_p(Interp&, Value* a, int) { return make_bool(is_exact_integer(a[0])); }
Value p_nan_p(Interp& in, Value* a, int) {
  check_number(in, a[0], "nan?");
  return make_bool(is_flonum(a[0]) && std::isnan(flonum_value(a[0])));
}
Value p_infinite_p(Interp& in, Value* a, int) {
  check_number(in, a[0], "infinite?");
  return make_bool(is_flonum(a[0]) && std::isinf(flonum_value(a[0])));
}
Value p_finite_p(Interp& in, Value* a, int) {
  check_number(in, a[0], "finite?");
  return make_bool(!is_flonum(a[0]) || std::isfinite(flonum_value(a[0])));
}

int sign_of(Interp& in, Value v, const char* who) {
  std::int64_t n;
  if (integer_value(v, n)) return n < 0 ? -1 : (n > 0 ? 1 : 0);
  if (!is_flonum(v)) in.type_error(who, "a number", v);
  double d = flonum_value(v);
  return d < 0 ? -1 : (d > 0 ? 1 : 0);
}

Value p_zero_p(Interp& in, Value* a, int) {
  if (is_fixnum(a[0])) return make_bool(a[0] == make_fixnum(0));
  if (is_flonum(a[0])) return make_bool(flonum_value(a[0]) == 0);
  return make_bool(sign_of(in, a[0], "zero?") == 0);
}
Value p_positive_p(Interp& in, Value* a, int) { return make_bool(sign_of(in, a[0], "positive?") > 0); }
Value p_negative_p(Interp& in, Value* a, int) { return make_bool(sign_of(in, a[0], "negative?") < 0); }
Value p_odd_p(Interp& in, Value* a, int) {
  IntArg x = int_arg(in, a[0], "odd?");
  return make_bool(x.exact ? (x.i & 1) != 0 : std::fmod(x.d, 2.0) != 0);
}
Value p_even_p(Interp& in, Value* a, int) {
  IntArg x = int_arg(in, a[0], "even?");
  return make_bool(x.exact ? (x.i & 1) == 0 : std::fmod(x.d, 2.0) == 0);
}

Value p_abs(Interp& in, Value* a, int) {
  std::int64_t n;
  if (integer_value(a[0], n)) {
    if (n == std::numeric_limits<std::int64_t>::min()) overflow(in, "abs");
    return in.make_integer(n < 0 ? -n : n);
  }
  return in.make_flonum(std::fabs(to_double(in, a[0], "abs")));
}

Value min_max(Interp& in, Value* a, int n, bool want_max, const char* who) {
  bool inexact = false;
  Value best = a[0];
  for (int i = 0; i < n; ++i) {
    check_number(in, a[i], who);
    if (is_flonum(a[i])) inexact = true;
    if (i > 0) {
      int c = number_compare(a[i], best);
      if ((want_max && c == 1) || (!want_max && c == -1)) best = a[i];
      if (c == 2) best = a[i];  // NaN wins
    }
  }
  if (inexact && !is_flonum(best)) return in.make_flonum(to_double(in, best, who));
  return best;
}
Value p_max(Interp& in, Value* a, int n) { return min_max(in, a, n, true, "max"); }
Value p_min(Interp& in, Value* a, int n) { return min_max(in, a, n, false, "min"); }

std::int64_t gcd64(std::int64_t a, std::int64_t b) {
  std::uint64_t x = a < 0 ? 0 - static_cast<std::uint64_t>(a) : static_cast<std::uint64_t>(a);
  std::uint64_t y = b < 0 ? 0 - static_cast<std::uint64_t>(b) : static_cast<std::uint64_t>(b);
  while (y != 0) {
    std::uint64_t t = x % y;
    x = y;
    y = t;
  }
  return static_cast<std::int64_t>(x);
}

Value p_gcd(Interp& in, Value* a, int n) {
  std::int64_t g = 0;
  for (int i = 0; i < n; ++i) g = gcd64(g, expect_integer(in, a[i], "gcd"));
  if (g < 0) overflow(in, "gcd");
  return in.make_integer(g);
}
Value p_lcm(Interp& in, Value* a, int n) {
  std::int64_t l = 1;
  for (int i = 0; i < n; ++i) {
    std::int64_t x = expect_integer(in, a[i], "lcm");
    if (x == 0) return make_fixnum(0);
    std::int64_t g = gcd64(l, x);
    std::int64_t r;
    if (__builtin_mul_overflow(l / g, x, &r)) overflow(in, "lcm");
    l = r < 0 ? -r : r;
  }
  return in.make_integer(l);
}

Value p_expt(Interp& in, Value* a, int) {
  std::int64_t base, e;
  if (integer_value(a[0], base) && integer_value(a[1], e)) {
    if (e >= 0) {
      std::int64_t result = 1, b = base;
      while (e > 0) {
        if (e & 1) {
          if (__builtin_mul_overflow(result, b, &result)) overflow(in, "expt");
        }
        e >>= 1;
        if (e > 0 && __builtin_mul_overflow(b, b, &b)) overflow(in, "expt");
      }
      return in.make_integer(result);
    }
    if (base == 1) return make_fixnum(1);
    if (base == -1) return make_fixnum((e & 1) ? -1 : 1);
    if (base == 0) in.error("expt: zero raised to a negative power");
  }
  return in.make_flonum(std::pow(to_double(in, a[0], "expt"), to_double(in, a[1], "expt")));
}

// The exact square root of n >= 0, rounded down.
std::int64_t isqrt(std::int64_t n) {
  auto r = static_cast<std::int64_t>(std::sqrt(static_cast<double>(n)));
  while (r > 0 && (r > n / r)) --r;
  while ((r + 1) <= n / (r + 1)) ++r;
  return r;
}

Value p_sqrt(Interp& in, Value* a, int) {
  std::int64_t n;
  if (integer_value(a[0], n) && n >= 0) {
    std::int64_t r = isqrt(n);
    if (r * r == n) return in.make_integer(r);
  }
  double d = to_double(in, a[0], "sqrt");
  if (d < 0) in.error("sqrt: negative argument (complex numbers are not supported)", a[0]);
  return in.make_flonum(std::sqrt(d));
}

Value p_exact_integer_sqrt(Interp& in, Value* a, int) {
  std::int64_t n = expect_integer(in, a[0], "exact-integer-sqrt");
  if (n < 0) in.error("exact-integer-sqrt: negative argument", a[0]);
  std::int64_t r = isqrt(n);
  Value v[2] = {in.make_integer(r), in.make_integer(n - r * r)};
  return in.make_values(v, 2);
}

Value p_square(Interp& in, Value* a, int) {
  check_number(in, a[0], "square");
  return mul2(in, a[0], a[0]);
}

Value p_inexact(Interp& in, Value* a, int) {
  if (is_flonum(a[0])) return a[0];
  return in.make_flonum(to_double(in, a[0], "inexact"));
}

Value p_exact(Interp& in, Value* a, int) {
  if (is_exact_integer(a[0])) return a[0];
  double d = to_double(in, a[0], "exact");
  if (!std::isfinite(d) || d != std::trunc(d)) {
    in.error("exact: no exact representation (exact rationals are not supported)", a[0]);
  }
  if (d < -9.2233720368547758e18 || d >= 9.2233720368547758e18) overflow(in, "exact");
  return in.make_integer(static_cast<std::int64_t>(d));
}

template <double (*F)(double)>
Value rounding(Interp& in, Value v, const char* who) {
  if (is_exact_integer(v)) return v;
  return in.make_flonum(F(to_double(in, v, who)));
}
double round_even(double d) { return std::nearbyint(d); }
double floor_d(double d) { return std::floor(d); }
double ceil_d(double d) { return std::ceil(d); }
double trunc_d(double d) { return std::trunc(d); }
Value p_floor(Interp& in, Value* a, int) { return rounding<floor_d>(in, a[0], "floor"); }
Value p_ceiling(Interp& in, Value* a, int) { return rounding<ceil_d>(in, a[0], "ceiling"); }
Value p_round(Interp& in, Value* a, int) { return rounding<round_even>(in, a[0], "round"); }
Value p_truncate(Interp& in, Value* a, int) { return rounding<trunc_d>(in, a[0], "truncate"); }

template <double (*F)(double)>
Value p_math(Interp& in, Value* a, int) {
  return in.make_flonum(F(to_double(in, a[0], "math function")));
}
double exp_d(double d) { return std::exp(d); }
double sin_d(double d) { return std::sin(d); }
double cos_d(double d) { return std::cos(d); }
double tan_d(double d) { return std::tan(d); }
double asin_d(double d) { return std::asin(d); }
double acos_d(double d) { return std::acos(d); }

Value p_log(Interp& in, Value* a, int n) {
  double x = std::log(to_double(in, a[0], "log"));
  if (n == 2) x /= std::log(to_double(in, a[1], "log"));
  return in.make_flonum(x);
}
Value p_atan(Interp& in, Value* a, int n) {
  if (n == 2) return in.make_flonum(std::atan2(to_double(in, a[0], "atan"), to_double(in, a[1], "atan")));
  return in.make_flonum(std::atan(to_double(in, a[0], "atan")));
}

Value p_numerator(Interp& in, Value* a, int) {
  check_number(in, a[0], "numerator");
  return a[0];
}
Value p_denominator(Interp& in, Value* a, int) {
  check_number(in, a[0], "denominator");
  return is_flonum(a[0]) ? in.make_flonum(1.0) : make_fixnum(1);
}

int radix_arg(Interp& in, Value* a, int n, int index, const char* who) {
  if (n <= index) return 10;
  std::int64_t r = expect_integer(in, a[index], who);
  if (r != 2 && r != 8 && r != 10 && r != 16) in.error(std::string(who) + ": radix must be 2, 8, 10 or 16", a[index]);
  return static_cast<int>(r);
}

Value p_number_to_string(Interp& in, Value* a, int n) {
  check_number(in, a[0], "number->string");
  int radix = radix_arg(in, a, n, 1, "number->string");
  return in.make_string(number_to_string(a[0], radix));
}

Value p_string_to_number(Interp& in, Value* a, int n) {
  String* s = expect_string(in, a[0], "string->number");
  int radix = radix_arg(in, a, n, 1, "string->number");
  Value v = parse_number(in, std::string_view(s->data(), s->length), radix);
  return v == 0 ? kFalse : v;
}

// Digits of an unsigned integer in `radix`.
bool parse_digits(std::string_view t, int radix, std::uint64_t& out) {
  if (t.empty()) return false;
  std::uint64_t n = 0;
  for (char c : t) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return false;
    if (d >= radix) return false;
    if (__builtin_mul_overflow(n, static_cast<std::uint64_t>(radix), &n) ||
        __builtin_add_overflow(n, static_cast<std::uint64_t>(d), &n)) {
      return false;
    }
  }
  out = n;
  return true;
}

// A real number without prefixes: integer, decimal, n/d, or an infinity/NaN.
// Returns false if `t` is not one. Integers too big for 64 bits become
// flonums.
bool parse_real(std::string_view t, int radix, bool& exact, std::int64_t& i, double& d) {
  if (t == "+inf.0") { exact = false; d = HUGE_VAL; return true; }
  if (t == "-inf.0") { exact = false; d = -HUGE_VAL; return true; }
  if (t == "+nan.0" || t == "-nan.0") { exact = false; d = std::nan(""); return true; }
  if (t.empty()) return false;
  bool negative = false;
  std::string_view body = t;
  if (body[0] == '+' || body[0] == '-') {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  if (body.empty()) return false;
  if (auto slash = body.find('/'); slash != std::string_view::npos) {
    std::uint64_t num, den;
    if (!parse_digits(body.substr(0, slash), radix, num) || !parse_digits(body.substr(slash + 1), radix, den)) {
      return false;
    }
    if (den == 0) return false;
    if (num % den == 0 && num / den <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      exact = true;
      i = static_cast<std::int64_t>(num / den);
      if (negative) i = -i;
    } else {
      exact = false;
      d = static_cast<double>(num) / static_cast<double>(den);
      if (negative) d = -d;
    }
    return true;
  }
  std::uint64_t n;
  if (parse_digits(body, radix, n)) {
    std::uint64_t limit = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + (negative ? 1 : 0);
    if (n <= limit) {
      exact = true;
      i = negative ? static_cast<std::int64_t>(0 - n) : static_cast<std::int64_t>(n);
      return true;
    }
  }
  if (radix != 10) return false;
  // Decimal: digits, at most one '.', optional exponent; at least one digit.
  bool digit = false, dot = false;
  std::size_t k = 0;
  for (; k < body.size(); ++k) {
    char c = body[k];
    if (c >= '0' && c <= '9') digit = true;
    else if (c == '.' && !dot) dot = true;
    else break;
  }
  if (!digit) return false;
  if (k < body.size()) {
    if (body[k] != 'e' && body[k] != 'E') return false;
    ++k;
    if (k < body.size() && (body[k] == '+' || body[k] == '-')) ++k;
    if (k == body.size()) return false;
    for (; k < body.size(); ++k) {
      if (body[k] < '0' || body[k] > '9') return false;
    }
  }
  std::string copy(t);
  exact = false;
  d = std::strtod(copy.c_str(), nullptr);
  return true;
}

}  // namespace

double to_double(Interp& in, Value v, const char* who) {
  if (is_fixnum(v)) return static_cast<double>(fixnum_value(v));
  if (is_flonum(v)) return flonum_value(v);
  if (is_boxed_integer(v)) return static_cast<double>(reinterpret_cast<Integer*>(v)->value);
  in.type_error(who, "a number", v);
}

bool number_equal(Value a, Value b) { return number_compare(a, b) == 0; }

int number_compare(Value a, Value b) {
  std::int64_t x, y;
  if (integer_value(a, x) && integer_value(b, y)) return x < y ? -1 : (x == y ? 0 : 1);
  double p = is_flonum(a) ? flonum_value(a) : static_cast<double>(integer_value(a, x) ? x : 0);
  double q = is_flonum(b) ? flonum_value(b) : static_cast<double>(integer_value(b, y) ? y : 0);
  if (p < q) return -1;
  if (p > q) return 1;
  if (p == q) return 0;
  return 2;
}

Value parse_number(Interp& in, std::string_view t, int radix) {
  char exactness = 0;
  while (t.size() >= 2 && t[0] == '#') {
    char c = static_cast<char>(t[1] | 0x20);
    if (c == 'x') radix = 16;
    else if (c == 'o') radix = 8;
    else if (c == 'b') radix = 2;
    else if (c == 'd') radix = 10;
    else if (c == 'e' || c == 'i') exactness = c;
    else return 0;
    t.remove_prefix(2);
  }
  if (t.empty()) return 0;
  char c0 = t[0];
  bool plausible = (c0 >= '0' && c0 <= '9') || c0 == '.' || c0 == '+' || c0 == '-' ||
                   (radix == 16 && std::isxdigit(static_cast<unsigned char>(c0)));
  if (!plausible) return 0;
  bool exact = false;
  std::int64_t i = 0;
  double d = 0;
  if (!parse_real(t, radix, exact, i, d)) return 0;
  if (exactness == 'i' && exact) return in.make_flonum(static_cast<double>(i));
  if (exactness == 'e' && !exact) {
    if (!std::isfinite(d) || d != std::trunc(d) || std::fabs(d) >= 9.2e18) return 0;
    return in.make_integer(static_cast<std::int64_t>(d));
  }
  return exact ? in.make_integer(i) : in.make_flonum(d);
}

std::string flonum_to_string(double d) {
  if (std::isnan(d)) return "+nan.0";
  if (std::isinf(d)) return d > 0 ? "+inf.0" : "-inf.0";
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof buffer, d);
  std::string s(buffer, result.ptr);
  // 1e+21 -> 1e21; always show that the number is inexact.
  if (auto e = s.find("e+"); e != std::string::npos) s.erase(e + 1, 1);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string number_to_string(Value v, int radix) {
  std::int64_t n;
  if (integer_value(v, n)) {
    if (radix == 10) return std::to_string(n);
    std::uint64_t u = n < 0 ? 0 - static_cast<std::uint64_t>(n) : static_cast<std::uint64_t>(n);
    std::string digits;
    do {
      digits.push_back("0123456789abcdef"[u % static_cast<std::uint64_t>(radix)]);
      u /= static_cast<std::uint64_t>(radix);
    } while (u != 0);
    if (n < 0) digits.push_back('-');
    return std::string(digits.rbegin(), digits.rend());
  }
  return flonum_to_string(flonum_value(v));
}

void install_number_primitives(Interp& in) {
  struct {
    const char* name;
    PrimitiveFn fn;
    int min, max;
  } const table[] = {
      {"+", p_add, 0, -1},
      {"-", p_sub, 1, -1},
      {"*", p_mul, 0, -1},
      {"/", p_div, 1, -1},
      {"=", p_num_eq, 1, -1},
      {"<", p_lt, 1, -1},
      {">", p_gt, 1, -1},
      {"<=", p_le, 1, -1},
      {">=", p_ge, 1, -1},
      {"quotient", p_quotient, 2, 2},
      {"remainder", p_remainder, 2, 2},
      {"modulo", p_modulo, 2, 2},
      {"truncate-quotient", p_quotient, 2, 2},
      {"truncate-remainder", p_remainder, 2, 2},
      {"floor-quotient", p_floor_quotient, 2, 2},
      {"floor-remainder", p_modulo, 2, 2},
      {"floor/", p_floor_div, 2, 2},
      {"truncate/", p_truncate_div, 2, 2},
      {"number?", p_number_p, 1, 1},
      {"complex?", p_number_p, 1, 1},
      {"real?", p_number_p, 1, 1},
      {"rational?", p_rational_p, 1, 1},
      {"integer?", p_integer_p, 1, 1},
      {"exact?", p_exact_p, 1, 1},
      {"inexact?", p_inexact_p, 1, 1},
      {"exact-integer?", p_exact_integer_p, 1, 1},
      {"exact-rational?", p_exact_integer_p, 1, 1},
      {"nan?", p_nan_p, 1, 1},
      {"infinite?", p_infinite_p, 1, 1},
      {"finite?", p_finite_p, 1, 1},
      {"zero?", p_zero_p, 1, 1},
      {"positive?", p_positive_p, 1, 1},
      {"negative?", p_negative_p, 1, 1},
      {"odd?", p_odd_p, 1, 1},
      {"even?", p_even_p, 1, 1},
      {"abs", p_abs, 1, 1},
      {"magnitude", p_abs, 1, 1},
      {"max", p_max, 1, -1},
      {"min", p_min, 1, -1},
      {"gcd", p_gcd, 0, -1},
      {"lcm", p_lcm, 0, -1},
      {"expt", p_expt, 2, 2},
      {"sqrt", p_sqrt, 1, 1},
      {"exact-integer-sqrt", p_exact_integer_sqrt, 1, 1},
      {"square", p_square, 1, 1},
      {"exact->inexact", p_inexact, 1, 1},
      {"inexact->exact", p_exact, 1, 1},
      {"inexact", p_inexact, 1, 1},
      {"exact", p_exact, 1, 1},
      {"floor", p_floor, 1, 1},
      {"ceiling", p_ceiling, 1, 1},
      {"round", p_round, 1, 1},
      {"truncate", p_truncate, 1, 1},
      {"exp", p_math<exp_d>, 1, 1},
      {"log", p_log, 1, 2},
      {"sin", p_math<sin_d>, 1, 1},
      {"cos", p_math<cos_d>, 1, 1},
      {"tan", p_math<tan_d>, 1, 1},
      {"asin", p_math<asin_d>, 1, 1},
      {"acos", p_math<acos_d>, 1, 1},
      {"atan", p_atan, 1, 2},
      {"numerator", p_numerator, 1, 1},
      {"denominator", p_denominator, 1, 1},
      {"number->string", p_number_to_string, 1, 2},
      {"string->number", p_string_to_number, 1, 2},
  };
  for (const auto& p : table) in.define_primitive(p.name, p.fn, p.min, p.max);
}

}  // namespace scheme
