// examples/scheme/macro.hpp — syntax-rules macros (macro.cpp).
//
// `define_macro` binds a keyword to a `(syntax-rules ...)` transformer (kept
// in the keyword's Symbol::macro slot; macros are global). `expand_macro`
// rewrites one use of the keyword. The expansion is not hygienic: names a
// template introduces are inserted as they are, so templates should not
// bind names that a use site may also use. Called by compiler.cpp.
#pragma once

#include "interp.hpp"

namespace scheme {

void define_macro(Interp& in, Symbol* keyword, Value transformer);
Value expand_macro(Interp& in, Symbol* keyword, Value form);

}  // namespace scheme
