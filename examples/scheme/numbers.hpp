// examples/scheme/numbers.hpp — the numeric tower shared by the reader,
// the printer and the numeric primitives.
//
// Two kinds of numbers: exact integers (fixnums, or boxed Integers for the
// rest of the 64-bit range; leaving that range is a Scheme error) and
// flonums (IEEE doubles). There are no exact rationals: `/` of two exact
// integers is exact when the division is exact and a flonum otherwise.
// Defined in numbers.cpp.
#pragma once

#include <string>
#include <string_view>

#include "interp.hpp"

namespace scheme {

// The number `text` denotes in `radix` (prefixes like #x override it), or 0
// if `text` is not a number.
Value parse_number(Interp& in, std::string_view text, int radix);

// External representation; flonums always show a '.', an exponent, or are
// +inf.0 / -inf.0 / +nan.0.
std::string number_to_string(Value v, int radix = 10);
std::string flonum_to_string(double d);

// The int64 value of an exact integer; false for anything else.
inline bool integer_value(Value v, std::int64_t& out) {
  if (is_fixnum(v)) {
    out = fixnum_value(v);
    return true;
  }
  if (is_boxed_integer(v)) {
    out = reinterpret_cast<Integer*>(v)->value;
    return true;
  }
  return false;
}

// The value of any number as a double; `who` names the caller in the error
// raised for a non-number.
double to_double(Interp& in, Value v, const char* who);

// Equality and ordering of two numbers (both already checked to be numbers).
bool number_equal(Value a, Value b);
int number_compare(Value a, Value b);  // -1, 0, 1; NaN compares as unordered: 2

}  // namespace scheme
