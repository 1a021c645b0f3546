// tests/test_scheme.cpp — the Scheme interpreter of examples/scheme, as a
// specification: one test case per language feature (a program and the
// exact output it must print), the error cases (message on the error
// stream, non-zero status, never a crash), the REPL, and the bundled
// programs of examples/scheme/programs compared with their .out files.
// Everything runs under both collectors (and some under GC stress, which
// collects every few allocations, to catch values the interpreter forgot
// to keep reachable). Local frames (frames in moss::LocalScopes, eval.cpp)
// are on by default; the bundled programs and the cases that stress
// frames' lifetimes (tail calls, deep recursion, continuations, coroutines,
// GC stress) also run with them off, and the last section checks that
// scopes reclaim frames, and that frames that must outlive a call do.
// CI's gc-stress step reruns it all under MOSS_GC_STRESS; the few tests
// bound by stack depth or heap size then use a coarser interval
// (deep_stress below).
#include <doctest/doctest.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "examples/scheme/interp.hpp"

#ifndef MOSS_SOURCE_ROOT
#error "MOSS_SOURCE_ROOT must name the source tree (tests/meson.build defines it)"
#endif

namespace {

const moss::Collector kCollectors[] = {moss::Collector::mark_sweep, moss::Collector::refcount};

struct Run {
  int status;
  std::string out, err;
  moss::HeapStats stats;  // at the end of the run
};

struct RunOptions {
  std::string input;                       // the program's standard input
  std::size_t stack_reserve = 0;           // 0: the interpreter's default
  std::size_t heap_limit = 0;
  std::uint64_t gc_stress_every = 0;
  bool local_frames = true;
};

// The stress interval of the tests bound by stack depth or heap size (a
// million frames, stack overflows, a 16 MiB heap filled, a 400,000-element
// live list). Each stress collection scans the whole deep stack or marks
// the whole heap, so under MOSS_GC_STRESS=211 they alone would run for over
// 25 minutes: when the environment asks for stress they pin an interval of
// at least 10,007 allocations instead (an explicit interval wins over the
// environment); otherwise they leave it alone (0).
std::uint64_t deep_stress() {
  const char* s = std::getenv("MOSS_GC_STRESS");
  std::uint64_t every = s != nullptr ? std::strtoull(s, nullptr, 10) : 0;
  return every == 0 ? 0 : std::max<std::uint64_t>(every, 10007);
}

// moss grows coroutine stacks from a SIGSEGV handler it installs once per
// process; doctest saves and restores the SIGSEGV action around every test
// case, which drops moss's handler after the first case that made a
// coroutine (reported to moss). Until moss re-checks its handler, put it
// back before every run.
void keep_moss_fault_handler() {
  static struct sigaction moss_action {};
  static bool captured = false;
  if (!captured) {
    moss::Heap heap;
    moss::Coroutine co(heap, [](moss::Yield&) {});
    co.resume();
    sigaction(SIGSEGV, nullptr, &moss_action);
    captured = true;
  }
  sigaction(SIGSEGV, &moss_action, nullptr);
}

Run run(std::string_view program, moss::Collector collector, const RunOptions& ro = {}) {
  keep_moss_fault_handler();
  scheme::Options options;
  options.collector = collector;
  if (ro.stack_reserve != 0) options.stack_reserve = ro.stack_reserve;
  options.heap_limit = ro.heap_limit;
  options.gc_stress_every = ro.gc_stress_every;
  options.local_frames = ro.local_frames;
  scheme::Interp interp(options);
  interp.in.text = ro.input;
  int status = interp.run_program(program);
  return {status, interp.out.text, interp.err.text, interp.heap().stats()};
}

// The program prints exactly `expected` and succeeds, under each collector.
void expect_output(std::string_view program, std::string_view expected, const RunOptions& ro = {}) {
  for (moss::Collector c : kCollectors) {
    CAPTURE(moss::collector_name(c));
    Run r = run(program, c, ro);
    CHECK(r.err == "");
    CHECK(r.status == 0);
    CHECK(r.out == expected);
  }
}

// expect_output with local frames on, then off.
void expect_output_both_frames(std::string_view program, std::string_view expected, RunOptions ro = {}) {
  for (bool local : {true, false}) {
    CAPTURE(local);
    ro.local_frames = local;
    expect_output(program, expected, ro);
  }
}

// The program fails with an error message containing `message`, after
// printing `expected_out`, under each collector.
void expect_error(std::string_view program, std::string_view message, std::string_view expected_out = "",
                  const RunOptions& ro = {}) {
  for (moss::Collector c : kCollectors) {
    CAPTURE(moss::collector_name(c));
    Run r = run(program, c, ro);
    CHECK(r.status == 1);
    CHECK(r.out == expected_out);
    CAPTURE(r.err);
    CHECK(r.err.rfind("Error: ", 0) == 0);
    CHECK(r.err.find(message) != std::string::npos);
  }
}

std::string read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  REQUIRE_MESSAGE(file.good(), "cannot open " << path);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

void check_bundled_program(const char* name) {
  std::string base = std::string(MOSS_SOURCE_ROOT) + "/examples/scheme/programs/" + name;
  std::string program = read_file(base + ".scm");
  std::string expected = read_file(base + ".out");
  for (moss::Collector c : kCollectors) {
    for (bool local : {true, false}) {
      CAPTURE(moss::collector_name(c));
      CAPTURE(local);
      RunOptions ro;
      ro.local_frames = local;
      Run r = run(program, c, ro);
      CHECK(r.err == "");
      CHECK(r.status == 0);
      CHECK(r.out == expected);
      if (!local) CHECK(r.stats.local_objects == 0);
    }
  }
}

}  // namespace

// ---- Expressions and binding forms ----------------------------------------

TEST_CASE("scheme: self-evaluating data and quote") {
  expect_output(R"((write 42) (newline)
(write -7) (newline)
(write "a \"string\"\n") (newline)
(write #\a) (write #\space) (write #\newline) (newline)
(write #t) (write #f) (write #true) (newline)
(write '(a b . c)) (newline)
(write '#(1 "two" #\3)) (newline)
(write (quote (quote x))) (newline)
(write '()) (newline))",
                R"(42
-7
"a \"string\"\n"
#\a#\space#\newline
#t#f#t
(a b . c)
#(1 "two" #\3)
(quote x)
()
)");
}

TEST_CASE("scheme: define and lambda, including rest arguments") {
  expect_output(R"((define x 10)
(define (add a b) (+ a b))
(define (rest a . more) (list a more))
(define all (lambda args args))
(define ((curried a) b) (* a b))
(display (list x (add 1 2) (rest 1) (rest 1 2 3) (all) (all 4 5) ((curried 6) 7)))
(newline)
(display ((lambda (x y . z) (list x y z)) 1 2 3 4))
(newline))",
                "(10 3 (1 ()) (1 (2 3)) () (4 5) 42)\n(1 2 (3 4))\n");
}

TEST_CASE("scheme: let, let*, letrec, letrec* and named let") {
  expect_output(R"((define x 1)
(display (let ((x 2) (y x)) (list x y)))
(display (let* ((x 2) (y x)) (list x y)))
(display (let* ((x 5) (x (+ x 1))) x))
(display (letrec ((even? (lambda (n) (if (= n 0) #t (odd? (- n 1)))))
                  (odd? (lambda (n) (if (= n 0) #f (even? (- n 1))))))
           (list (even? 100) (odd? 7))))
(display (letrec* ((a 1) (b (+ a 1))) (list a b)))
(display (let loop ((i 0) (acc '())) (if (= i 4) (reverse acc) (loop (+ i 1) (cons i acc)))))
(display (let () 5))
(newline))",
                "(2 1)(2 2)6(#t #t)(1 2)(0 1 2 3)5\n");
}

TEST_CASE("scheme: closures capture their own bindings") {
  expect_output(R"((define (counter)
  (let ((n 0)) (lambda () (set! n (+ n 1)) n)))
(define a (counter))
(define b (counter))
(a) (a) (b)
(display (list (a) (b)))
(define procs (let loop ((i 0) (acc '())) (if (= i 3) acc (loop (+ i 1) (cons (lambda () i) acc)))))
(display (map (lambda (p) (p)) procs))
(define (make-adders)
  (do ((i 0 (+ i 1)) (acc '() (cons (lambda (x) (+ x i)) acc))) ((= i 3) acc)))
(display (map (lambda (f) (f 10)) (make-adders)))
(newline))",
                "(3 2)(2 1 0)(12 11 10)\n");
}

TEST_CASE("scheme: internal definitions") {
  expect_output(R"((define (f x)
  (define a (* x 2))
  (define (g y) (+ y a))
  (begin (define b 1))
  (g b))
(display (f 5))
(define (h)
  (define (ev? n) (if (= n 0) #t (od? (- n 1))))
  (define (od? n) (if (= n 0) #f (ev? (- n 1))))
  (ev? 10))
(display (h))
(display (let ((x 1)) (define y (+ x 1)) (* y 10)))
(newline))",
                "11#t20\n");
}

TEST_CASE("scheme: if, cond with =>, case, and, or, when, unless") {
  expect_output(R"((display (if #f 1 2))
(display (if '() 'yes 'no))
(display (cond ((assv 2 '((1 . a) (2 . b))) => cdr) (else 'none)))
(display (cond ((> 1 2) 'a) ((< 1 2) 'b) (else 'c)))
(display (cond (#f 1) (else 'fallback)))
(display (cond ((+ 1 2))))
(display (case (* 2 3) ((2 3 5 7) 'prime) ((1 4 6 8 9) 'composite) (else 'other)))
(display (case 'x ((a) 1) (else => (lambda (k) (list k 'missed)))))
(display (case #\b ((#\a) 'a) ((#\b) 'b)))
(display (list (and) (and 1 2) (and 1 #f 3) (or) (or #f 2) (or #f #f)))
(when (= 1 1) (display "when"))
(unless (= 1 1) (display "never"))
(unless #f (display "unless"))
(newline))",
                "2yesbbfallback3composite(x missed)b(#t 2 #f #f 2 #f)whenunless\n");
}

TEST_CASE("scheme: set! and begin") {
  expect_output(R"((define x 1)
(set! x (+ x 1))
(define (f) (let ((y 1)) (set! y (* y 10)) (set! x (+ x y)) y))
(display (begin (f) (list x (begin 1 2 3))))
(newline))",
                "(12 3)\n");
}

TEST_CASE("scheme: do loops") {
  expect_output(R"((display (do ((vec (make-vector 5)) (i 0 (+ i 1))) ((= i 5) vec) (vector-set! vec i i)))
(display (let ((x '(1 3 5 7 9))) (do ((x x (cdr x)) (sum 0 (+ sum (car x)))) ((null? x) sum))))
(do ((i 0 (+ i 1))) ((= i 3)) (display i))
(newline))",
                "#(0 1 2 3 4)25012\n");
}

TEST_CASE("scheme: quasiquote, unquote and unquote-splicing") {
  expect_output(R"((define x 5) (define l '(a b))
(write `(x ,x ,@l end)) (newline)
(write `(1 ,@'() 2)) (newline)
(write `#(1 ,x ,@l)) (newline)
(write `(a . ,x)) (newline)
(write `(1 `(2 ,(3 ,x)))) (newline)
(write `,x) (newline))",
                "(x 5 a b end)\n(1 2)\n#(1 5 a b)\n(a . 5)\n(1 (quasiquote (2 (unquote (3 5)))))\n5\n");
}

TEST_CASE("scheme: define-record-type") {
  expect_output(R"((define-record-type <point> (make-point x y) point? (x point-x set-point-x!) (y point-y))
(define p (make-point 3 4))
(set-point-x! p 10)
(display (list (point-x p) (point-y p) (point? p) (point? '(3 4)) (procedure? point-x)))
(write p)
(define (local)
  (define-record-type node (make-node v) node? (v node-v))
  (node-v (make-node 'inside)))
(display (local))
(newline))",
                "(10 4 #t #f #t)#<point 10 4>inside\n");
}

TEST_CASE("scheme: syntax-rules macros") {
  expect_output(R"((define-syntax swap!
  (syntax-rules () ((_ a b) (let ((tmp a)) (set! a b) (set! b tmp)))))
(define-syntax my-or
  (syntax-rules () ((_) #f) ((_ e) e) ((_ e r ...) (let ((t e)) (if t t (my-or r ...))))))
(define-syntax for
  (syntax-rules (in) ((_ x in lst body ...) (for-each (lambda (x) body ...) lst))))
(define-syntax my-let*
  (syntax-rules () ((_ () body ...) (let () body ...))
                   ((_ ((n v) rest ...) body ...) (let ((n v)) (my-let* (rest ...) body ...)))))
(define p 1) (define q 2)
(swap! p q)
(display (list p q (my-or #f #f 7) (my-or) (my-let* ((a 1) (b (+ a 1))) (* a b))))
(for y in '(1 2 3) (display y))
(newline))",
                "(2 1 7 #f 2)123\n");
}

TEST_CASE("scheme: proper tail calls run loops in constant stack") {
  // A 64 KiB stack cannot hold a million frames: these only pass if every
  // call in tail position (through if, cond, and, or, when, case, let,
  // named let, do, apply and mutual recursion) reuses the stack.
  RunOptions small_stack;
  small_stack.stack_reserve = 256u << 10;
  expect_output_both_frames(R"((define (count n) (if (= n 0) 'done (count (- n 1))))
(define (ping n) (cond ((= n 0) 'pong) (else (pong (- n 1)))))
(define (pong n) (and #t (or #f (when #t (case 1 ((1) (let ((m n)) (ping m))))))))
(define (via-apply n) (if (= n 0) 'applied (apply via-apply (list (- n 1)))))
(display (list (count 1000000) (ping 1000000) (via-apply 300000)
               (let loop ((i 0)) (if (< i 1000000) (loop (+ i 1)) i))
               (do ((i 0 (+ i 1))) ((= i 1000000) i))))
(newline))",
                            "(done pong applied 1000000 1000000)\n", small_stack);
}

// Under AddressSanitizer an evaluator frame is larger (a million no longer
// fit the default 512 MiB stack) and every collection's conservative scan of
// the deep stack is several times slower, so the sanitizer job recurses
// 200,000 frames deep (still far past the 64 MiB up to which the sanitizer
// cleans up a stack by itself) and builds a shorter list.
#if MOSS_ASAN_FIBERS
constexpr int kDeepFrames = 200000, kDeepList = 60000;
#else
constexpr int kDeepFrames = 1000000, kDeepList = 300000;
#endif

TEST_CASE("scheme: deep non-tail recursion (a million frames) works") {
  const std::string frames = std::to_string(kDeepFrames), list = std::to_string(kDeepList);
  RunOptions deep;
  deep.gc_stress_every = deep_stress();
  expect_output_both_frames(R"((define (depth n) (if (= n 0) 0 (+ 1 (depth (- n 1)))))
(display (depth )" + frames + R"())
(define (build n) (if (= n 0) '() (cons n (build (- n 1)))))
(display (length (build )" + list + R"()))
(newline))",
                            frames + list + "\n", deep);
}

// ---- Data types -----------------------------------------------------------

TEST_CASE("scheme: pairs and the list library") {
  expect_output(R"((define l (list 1 2 3 4))
(display (list (car l) (cdr l) (cadr l) (cddr l) (caddr l) (cadddr l)))
(newline)
(display (list (length l) (list-ref l 2) (list-tail l 2) (append '(a) '(b c) '() '(d) 'e) (append) (reverse l)))
(newline)
(display (list (list-copy l) (last-pair l) (memq 'c '(a b c d)) (memv 3 l) (member '(1) '((0) (1) (2)))
               (memq 'z '(a))))
(newline)
(display (list (assq 'b '((a 1) (b 2))) (assv 2 '((1 . one) (2 . two))) (assoc "b" '(("a" . 1) ("b" . 2)))
               (assq 'z '())))
(newline)
(define p (cons 1 2)) (set-car! p 'x) (set-cdr! p '(y))
(display (list p (pair? p) (pair? '()) (null? '()) (list? '(1 2)) (list? '(1 . 2)) (make-list 2 'z)))
(newline)
(display (list (apply + 1 2 '(3 4)) (map + '(1 2 3) '(10 20 30 40)) (map (lambda (x) (* x x)) l)))
(for-each (lambda (a b) (display (- a b))) '(10 20) '(1 2))
(newline))",
                "(1 (2 3 4) 2 (3 4) 3 4)\n"
                "(4 3 (3 4) (a b c d . e) () (4 3 2 1))\n"
                "((1 2 3 4) (4) (c d) (3 4) ((1) (2)) #f)\n"
                "((b 2) (2 . two) (b . 2) #f)\n"
                "((x y) #t #f #t #t #f (z z))\n"
                "(10 (11 22 33) (1 4 9 16))918\n");
}

TEST_CASE("scheme: vectors") {
  expect_output(R"((define v (make-vector 3 0))
(vector-set! v 0 'a)
(display (list v (vector-length v) (vector-ref v 0) (vector 1 2) (vector->list #(1 2 3)) (vector->list #(1 2 3) 1)
               (list->vector '(x y))))
(newline)
(vector-fill! v 7)
(display (list v (vector-map + #(1 2) #(10 20 30)) (vector-copy #(1 2 3) 1) (vector-append #(1) #(2 3))))
(vector-for-each (lambda (x) (display x)) #(4 5 6))
(newline))",
                "(#(a 0 0) 3 a #(1 2) (1 2 3) (2 3) #(x y))\n(#(7 7 7) #(11 22) #(2 3) #(1 2 3))456\n");
}

TEST_CASE("scheme: strings") {
  expect_output(R"((define s (make-string 3 #\a))
(string-set! s 1 #\b)
(write (list s (string-length "hello") (string-ref "hello" 1) (substring "hello" 1 3) (string-append "ab" "" "cd")
             (string->list "abc") (list->string '(#\x #\y)) (string-copy "abc") (string #\a #\b)))
(newline)
(write (list (string=? "a" "a" "a") (string<? "abc" "abd") (string>? "b" "a") (string<? "ab" "abc")
             (string-ci=? "AbC" "aBc") (string-upcase "abc") (number->string 42) (string->number "17")
             (string->number "abc") (string->symbol "sym") (symbol->string 'name)))
(newline)
(define out (open-output-string))
(write 'x out) (display " and " out) (write "y" out)
(write (get-output-string out))
(newline))",
                "(\"aba\" 5 #\\e \"el\" \"abcd\" (#\\a #\\b #\\c) \"xy\" \"abc\" \"ab\")\n"
                "(#t #t #t #t #t \"ABC\" \"42\" 17 #f sym \"name\")\n"
                "\"x and \\\"y\\\"\"\n");
}

TEST_CASE("scheme: characters, symbols and booleans") {
  expect_output(R"((write (list (char->integer #\A) (integer->char 97) (char<? #\a #\b) (char-upcase #\a)
             (char-alphabetic? #\a) (char-numeric? #\1) (char-whitespace? #\space) (digit-value #\7) #\x41))
(newline)
(write (list (symbol? 'a) (symbol? "a") (eq? 'abc (string->symbol "abc")) (symbol=? 'a 'a)
             (boolean? #f) (boolean? 0) (not #f) (not 0) (boolean=? #t #t)))
(newline))",
                "(65 #\\a #t #\\A #t #t #t 7 #\\A)\n(#t #f #t #t #t #f #t #f #t)\n");
}

TEST_CASE("scheme: exact integer arithmetic") {
  expect_output(R"((display (list (+) (+ 1 2 3) (- 5) (- 10 1 2) (*) (* 2 3 4) (/ 12 4) (quotient 17 5) (remainder 17 5)
               (modulo 17 5) (quotient -17 5) (remainder -17 5) (modulo -17 5) (modulo 17 -5)))
(newline)
(display (list (abs -7) (min 3 1 2) (max 3 1 2) (gcd 12 18) (gcd) (lcm 4 6) (expt 2 10) (expt 2 0) (sqrt 16)
               (exact-integer-sqrt 17)))
(newline)
(display (list (number? 1) (integer? 2) (integer? 2.0) (integer? 2.5) (exact? 1) (inexact? 1.0) (zero? 0)
               (positive? 3) (negative? -3) (odd? 7) (even? 7) (exact-integer? 5)))
(newline)
(display (list (= 1 1 1) (< 1 2 3) (< 1 3 2) (> 3 2 1) (<= 1 1 2) (>= 2 2 3)))
(display (list 4611686018427387903 (+ 4611686018427387903 1) (* 3037000499 3037000499) (- -9223372036854775807 1)))
(newline))",
                "(0 6 -5 7 1 24 3 3 2 2 -3 -2 3 -3)\n"
                "(7 1 3 6 0 12 1024 1 4 4 1)\n"
                "(#t #t #t #f #t #t #t #t #t #t #f #t)\n"
                "(#t #t #f #t #t #f)(4611686018427387903 4611686018427387904 9223372030926249001 -9223372036854775808)\n");
}

TEST_CASE("scheme: flonums and exactness") {
  expect_output(R"((display (list 1.5 (+ 1 0.5) (* 2 1.5) (/ 1 4) (/ 1.0 4) (exact->inexact 3) (inexact->exact 2.0)
               (exact 3.0) (inexact 1) (sqrt 2.25) (sqrt 2) (expt 2.0 3) (expt 2 -1)))
(newline)
(display (list (floor 2.5) (ceiling 2.5) (round 2.5) (round 3.5) (truncate -2.7) (floor -2.5) (round 7) (abs -2.5)
               (max 1 2.0) (exact (round 2.6))))
(newline)
(display (list (number->string 3.25) (string->number "1e3") (string->number "#xff") (number->string 255 16)
               (/ 1.0 0) (- (/ 1.0 0)) 1e21 0.1 -0.0 (exact->inexact 1/3)))
(newline))",
                "(1.5 1.5 3.0 0.25 0.25 3.0 2 3 1.0 1.5 1.4142135623730951 8.0 0.5)\n"
                "(2.0 3.0 2.0 4.0 -2.0 -3.0 7 2.5 2.0 3)\n"
                "(3.25 1000.0 255 ff +inf.0 -inf.0 1e21 0.1 -0.0 0.3333333333333333)\n");
}

TEST_CASE("scheme: eq?, eqv? and equal?") {
  expect_output(R"((define l '(1 2))
(display (list (eq? 'a 'a) (eq? l l) (eq? '() '()) (eqv? 1.5 1.5) (eqv? 100 100) (eqv? "a" "a")
               (equal? "abc" "abc") (equal? '(1 (2 #(3))) '(1 (2 #(3)))) (equal? '(1 2) '(1 3))
               (eqv? 9223372036854775807 9223372036854775807) (eq? #\a #\a)))
(newline))",
                "(#t #t #t #t #t #f #t #t #f #t #t)\n");
}

// ---- Control --------------------------------------------------------------

TEST_CASE("scheme: values and call-with-values") {
  expect_output(R"((call-with-values (lambda () (values 1 2 3)) (lambda (a b c) (display (list a b c))))
(call-with-values (lambda () 7) (lambda (x) (display x)))
(display (call-with-values (lambda () (values)) list))
(define-values (q r) (floor/ 17 5))
(display (list q r))
(let-values (((a b) (values 1 2)) ((c) (values 3))) (display (list a b c)))
(newline))",
                "(1 2 3)7()(3 2)(1 2 3)\n");
}

TEST_CASE("scheme: escaping continuations and dynamic-wind") {
  expect_output_both_frames(R"((display (call/cc (lambda (k) (+ 1 (k 42)))))
(display (call-with-current-continuation (lambda (k) 5)))
(define (find-first pred l)
  (call/cc (lambda (return) (for-each (lambda (x) (if (pred x) (return x))) l) #f)))
(display (list (find-first even? '(1 3 4 5)) (find-first even? '(1 3))))
(dynamic-wind (lambda () (display "[in")) (lambda () (display " body")) (lambda () (display " out]")))
(display (call/cc (lambda (k)
  (dynamic-wind (lambda () (display "<")) (lambda () (k 'escaped)) (lambda () (display ">"))))))
(define saved #f)
(display (+ 1 (call/cc (lambda (k) (set! saved k) 1))))
(newline))",
                            "425(4 #f)[in body out]<>escaped2\n");
}

TEST_CASE("scheme: calling a continuation after its extent is an error") {
  expect_error(R"((define saved #f)
(display (call/cc (lambda (k) (set! saved k) 1)))
(saved 2))",
               "only escaping continuations are supported", "1");
}

TEST_CASE("scheme: error, raise, guard and with-exception-handler") {
  expect_output(R"((display (guard (e (#t (list (error-object? e) (error-object-message e) (error-object-irritants e))))
  (error "bad thing:" 1 'two)))
(display (guard (e ((symbol? e) (list 'sym e)) ((string? e) (list 'str e))) (raise "oops")))
(display (guard (e ((string? e) 'no)) (guard (e2 ((number? e2) (* e2 2))) (raise 21))))
(display (guard (e (#t 'caught-car)) (car 5)))
(display (with-exception-handler (lambda (e) 10) (lambda () (+ 1 (raise-continuable 'c)))))
(display (call/cc (lambda (k) (with-exception-handler (lambda (e) (k (list 'handled e))) (lambda () (raise 'boom))))))
(display (call/cc (lambda (k) (with-exception-handler (lambda (e) (k 'type-error)) (lambda () (vector-ref '(1) 0))))))
(display (guard (e ((symbol? e) (list 'outer e))) (guard (inner ((string? inner) 'inner)) (raise 'x))))
(newline))",
                "(#t bad thing: (1 two))(str oops)42caught-car11(handled boom)type-error(outer x)\n");
}

TEST_CASE("scheme: delay, force, make-promise, parameters and case-lambda") {
  expect_output(R"((define count 0)
(define p (delay (begin (set! count (+ count 1)) count)))
(display (list (force p) (force p) count (force (make-promise 5)) (force 6) (promise? p)))
(define (stream-from n) (cons n (delay (stream-from (+ n 1)))))
(define (take s k) (if (= k 0) '() (cons (car s) (take (force (cdr s)) (- k 1)))))
(display (take (stream-from 1) 5))
(define width (make-parameter 10))
(display (list (width) (parameterize ((width 20)) (width)) (width)))
(define area (case-lambda ((r) (* r r)) ((w h) (* w h)) ((a b . rest) (length rest))))
(display (list (area 3) (area 2 5) (area 1 2 3 4)))
(newline))",
                "(1 1 1 5 6 #t)(1 2 3 4 5)(10 20 10)(9 10 2)\n");
}

TEST_CASE("scheme: coroutines with make-coroutine and yield") {
  expect_output_both_frames(R"((define gen (make-coroutine (lambda (start)
  (let loop ((i start)) (if (< i (+ start 3)) (begin (yield i) (loop (+ i 1))) 'finished)))))
(display (list (gen 10) (gen 'x) (gen 'x) (gen 'x) (coroutine-done? gen)))
(define echo (make-coroutine (lambda (first) (let loop ((v first) (n 0)) (if (< n 3) (loop (yield (* v 2)) (+ n 1)) v)))))
(display (list (echo 1) (echo 5) (echo 7) (echo 9)))
(define (tree-walker tree)
  (make-coroutine (lambda (ignored)
    (let walk ((t tree)) (cond ((null? t) #f) ((pair? t) (walk (car t)) (walk (cdr t))) (else (yield t))))
    'end)))
(define w (tree-walker '((a (b)) c ((d)))))
(display (list (w 0) (w 0) (w 0) (w 0) (w 0)))
(define outer (make-coroutine (lambda (x)
  (define inner (make-coroutine (lambda (y) (yield (+ y 1)) 'inner-done)))
  (yield (inner x))
  (inner 0))))
(display (list (outer 1) (outer 0)))
(display (guard (e (#t (error-object-message e))) ((make-coroutine (lambda (x) (car x))) 5)))
(newline))",
                            "(10 11 12 finished #t)(2 10 14 9)(a b c d end)(2 inner-done)"
                            "car: expected a pair, got 5\n");
}

TEST_CASE("scheme: a finished coroutine cannot be resumed") {
  expect_error("(define c (make-coroutine (lambda (x) x))) (display (c 1)) (c 2)", "coroutine has finished", "1");
  expect_error("(yield 1)", "yield: not inside a coroutine");
}

// ---- Input and output -----------------------------------------------------

TEST_CASE("scheme: read and read-line from standard input") {
  RunOptions with_input;
  with_input.input = "(1 2 (3)) foo \"bar\" 42\nrest of line\n";
  expect_output(R"((let loop ((x (read)) (n 0))
  (if (or (eof-object? x) (= n 4)) #t (begin (write x) (newline) (loop (if (= n 3) x (read)) (+ n 1)))))
(write (list (read-line) (read-line) (eof-object? (read-line)) (eof-object? (read-char))))
(newline))",
                "(1 2 (3))\nfoo\n\"bar\"\n42\n(\"\" \"rest of line\" #t #t)\n", with_input);
}

TEST_CASE("scheme: write and display") {
  expect_output(R"((write '("s" #\c 1.0 sym (1 . 2) #(a))) (newline)
(display '("s" #\c 1.0 sym (1 . 2) #(a))) (newline)
(write-string "written") (write-char #\!) (newline)
(display (string->symbol "with space")) (write (string->symbol "with space")) (newline)
(flush-output-port))",
                "(\"s\" #\\c 1.0 sym (1 . 2) #(a))\n(s c 1.0 sym (1 . 2) #(a))\nwritten!\nwith space|with space|\n");
}

TEST_CASE("scheme: time, exit and the environment") {
  expect_output(R"((import (scheme base) (scheme write) (scheme time))
(define t0 (current-second))
(define j0 (current-jiffy))
(display (list (> t0 1.0e9) (exact-integer? j0) (>= (current-jiffy) j0) (jiffies-per-second)))
(newline)
(display (eval '(* 6 7) (interaction-environment)))
(newline))",
                "(#t #t #t 1000000)\n42\n");
  for (moss::Collector c : kCollectors) {
    Run r = run("(display \"before\") (exit 7) (display \"after\")", c);
    CHECK(r.status == 7);
    CHECK(r.out == "before");
    Run fine = run("(exit)", c);
    CHECK(fine.status == 0);
    Run unwound = run("(dynamic-wind (lambda () #f) (lambda () (exit #f)) (lambda () (display \"cleanup\")))", c);
    CHECK(unwound.status == 1);
    CHECK(unwound.out == "cleanup");
  }
}

// ---- Errors ---------------------------------------------------------------

TEST_CASE("scheme: errors are reported, never crash") {
  expect_error("(display 1) (undefined-variable)", "unbound variable: undefined-variable", "1");
  expect_error("(car 5)", "car: expected a pair, got 5");
  expect_error("(car '())", "car: expected a pair, got ()");
  expect_error("(vector-ref (vector 1 2) 2)", "vector-ref: index 2 out of range");
  expect_error("(+ 1 \"two\")", "+: expected a number, got \"two\"");
  expect_error("((lambda (a b) a) 1)", "wrong number of arguments");
  expect_error("(define (f x) x) (f 1 2)", "wrong number of arguments to #<procedure f>: got 2, expected 1");
  expect_error("(car 1 2)", "wrong number of arguments to #<procedure car>: got 2, expected 1");
  expect_error("(5 3)", "not a procedure: 5");
  expect_error("(error \"custom failure:\" 'x 42)", "custom failure: x 42");
  expect_error("(raise 'some-symbol)", "uncaught exception: some-symbol");
  expect_error("(* 4611686018427387904 4)", "integer overflow");
  expect_error("(+ 9223372036854775807 1)", "integer overflow");
  expect_error("(quotient 1 0)", "division by zero");
  expect_error("(letrec ((a b) (b 1)) a)", "variable used before its definition: b");
  expect_error("(set! never-defined 1)", "unbound variable: never-defined");
  expect_error("(if)", "syntax error");
  expect_error("(display \"unterminated", "read: end of input inside a string");
  expect_error("(string-ref \"abc\" 10)", "string-ref: index 10 out of range");
  expect_error("(exact 1.5)", "exact: no exact representation");
  expect_error("(length '(1 . 2))", "length: expected a proper list");
}

TEST_CASE("scheme: runaway recursion is a stack overflow error") {
  RunOptions small;
  small.stack_reserve = 16u << 20;
  small.gc_stress_every = deep_stress();
  expect_error("(define (f n) (+ 1 (f n))) (display \"go\") (f 1)", "stack overflow", "go", small);
  // Deep recursion in the printer and in equal? is bounded the same way.
  expect_error(R"((define (nest n acc) (if (= n 0) acc (nest (- n 1) (list acc))))
(define deep (nest 1000000 '()))
(display (equal? deep deep)) (write deep))",
               "stack overflow", "#t", small);
}

TEST_CASE("scheme: running out of heap is an error") {
  RunOptions limited;
  limited.heap_limit = 16u << 20;
  limited.gc_stress_every = deep_stress();
  expect_error("(define (grow l) (grow (cons (make-vector 8 0) l))) (grow '())", "out of memory", "", limited);
  // The interpreter is usable again afterwards: in the REPL, the next form runs.
}

TEST_CASE("scheme: the REPL prints results and survives errors") {
  for (moss::Collector c : kCollectors) {
    CAPTURE(moss::collector_name(c));
    keep_moss_fault_handler();
    scheme::Options options;
    options.collector = c;
    options.stack_reserve = 16u << 20;
    scheme::Interp interp(options);
    std::string input =
        "(define x 20)\n(+ x 1)\n(car x)\n'sym\n(define (f n) (+ 1 (f n)))\n(f 0)\n\"str\"\n"
        "(values 1 2)\n(display \"out\")\n(raise 'r)\n(* x 2)\n";
    std::FILE* file = fmemopen(input.data(), input.size(), "r");
    REQUIRE(file != nullptr);
    int status = interp.repl(file, "> ");
    std::fclose(file);
    CHECK(status == 0);
    CHECK(interp.out.text == "> > 21\n> > sym\n> > > \"str\"\n> 1 2\n> out> > 40\n> \n");
    CHECK(interp.err.text ==
          "Error: car: expected a pair, got 20\nError: stack overflow (recursion too deep)\n"
          "Error: uncaught exception: r\n");
  }
}

TEST_CASE("scheme: the REPL goes on after a stack overflow deep in a large stack") {
  // 72 MiB: past the 64 MiB up to which AddressSanitizer cleans a stack by
  // itself when an exception is thrown. The overflow is caught by the REPL
  // on the same coroutine stack, and the next forms run where the unwound
  // frames were.
  for (moss::Collector c : kCollectors) {
    CAPTURE(moss::collector_name(c));
    keep_moss_fault_handler();
    scheme::Options options;
    options.collector = c;
    options.stack_reserve = 72u << 20;
    options.gc_stress_every = deep_stress();
    scheme::Interp interp(options);
    std::string input =
        "(define (f n) (+ 1 (f n)))\n(f 0)\n(define (g n) (if (= n 0) 0 (+ 1 (g (- n 1)))))\n"
        "(g 20000)\n(string-append \"a\" (number->string 42))\n";
    std::FILE* file = fmemopen(input.data(), input.size(), "r");
    REQUIRE(file != nullptr);
    int status = interp.repl(file, "");
    std::fclose(file);
    CHECK(status == 0);
    CHECK(interp.out.text == "20000\n\"a42\"\n\n");
    CHECK(interp.err.text == "Error: stack overflow (recursion too deep)\n");
  }
}

// ---- The collector under the interpreter ----------------------------------

TEST_CASE("scheme: values stay reachable when collecting every few allocations") {
  RunOptions stress;
  stress.gc_stress_every = 3;
  expect_output_both_frames(R"((define-record-type pt (make-pt x y) pt? (x pt-x) (y pt-y))
(define (tree d) (if (= d 0) (make-pt d "leaf") (cons (tree (- d 1)) (vector (tree (- d 1)) (* d 1.5)))))
(define (count t) (cond ((pair? t) (+ (count (car t)) (count (vector-ref (cdr t) 0)))) (else 1)))
(define-syntax twice (syntax-rules () ((_ e) (list e e))))
(define (strs n) (if (= n 0) "" (string-append (number->string n) (strs (- n 1)))))
(display (list (count (tree 8)) (twice (length (map cons '(1 2 3) '(4 5 6)))) (strs 12)
               `(1 ,@(list 2 3) ,(+ 2 2)) (let-values (((a b) (values 1 2))) (+ a b))
               (guard (e (#t (error-object-message e))) (error "msg" 1))
               (call/cc (lambda (k) (dynamic-wind (lambda () 1) (lambda () (k 'esc)) (lambda () 2))))
               (let ((g (make-coroutine (lambda (x) (yield (list x x)) 'done)))) (list (g 'a) (g 'b)))
               (apply max (map (lambda (x) (* x x)) '(3 1 4 1 5)))))
(newline))",
                            "(256 (3 3) 121110987654321 (1 2 3 4) 3 msg esc ((a a) done) 25)\n", stress);
}

TEST_CASE("scheme: a large live heap with churn") {
  RunOptions big;
  big.gc_stress_every = deep_stress();
  expect_output(R"((define (make-list-n n) (let loop ((i 0) (acc '())) (if (= i n) acc (loop (+ i 1) (cons i acc)))))
(define keep (make-list-n 400000))
(define table (make-vector 1000 '()))
(do ((i 0 (+ i 1))) ((= i 200000))
  (vector-set! table (remainder i 1000) (cons (make-string 10 #\x) (if (= (remainder i 7) 0) '() (vector-ref table (remainder i 1000))))))
(display (list (length keep) (apply + (map length (vector->list table)))))
(newline))",
                "(400000 3999)\n", big);
}

// ---- Local frames ----------------------------------------------------------

namespace {

// Runs `program` with local frames on and off under each collector; checks
// the output, and hands each run to `check` (with whether frames were local).
template <class Check>
void run_both_frames(std::string_view program, std::string_view expected, Check check, RunOptions ro = {}) {
  for (moss::Collector c : kCollectors) {
    for (bool local : {true, false}) {
      CAPTURE(moss::collector_name(c));
      CAPTURE(local);
      ro.local_frames = local;
      Run r = run(program, c, ro);
      CHECK(r.err == "");
      CHECK(r.status == 0);
      CHECK(r.out == expected);
      check(r, local);
    }
  }
}

}  // namespace

TEST_CASE("scheme: frames of a procedure no closure can capture are reclaimed by their scope") {
  // `add` and `loop` create no closure: every one of their frames is made in
  // a LocalScope and reclaimed when its scope closes, with no collection.
  run_both_frames(R"((define (add a b) (let ((s (+ a b))) s))
(define (loop i acc) (if (= i 0) acc (loop (- i 1) (add acc 1))))
(display (loop 100000 0))
(define (fib n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2)))))
(display (list (fib 15) (map (lambda (x) (add x x)) '(1 2 3))))
(define (count-up n) (do ((i 0 (+ i 1)) (acc '() (cons i acc))) ((= i n) (length acc))))
(display (count-up 1000))
(newline))",
                  "100000(610 (2 4 6))1000\n", [](const Run& r, bool local) {
                    if (local) {
                      CHECK(r.stats.local_objects >= 200000);
                      CHECK(r.stats.local_reclaimed >= 200000);
                      CHECK(r.stats.local_escaped == 0);
                    } else {
                      CHECK(r.stats.local_objects == 0);
                      CHECK(r.stats.local_reclaimed == 0);
                    }
                  });
}

TEST_CASE("scheme: dead local frames are freed by their activation, not traced until their scope closes") {
  // Under refcount each reconciliation traces the local frames that may
  // refer to heap objects (every frame here holds the list `l`). Frames
  // freed when their activation returns leave only the live ones, a few
  // dozen, to trace; left in their scopes until those close, up to 64 x
  // 1024 dead frames would be traced each time.
  const char* program = R"((define (fib n l) (if (< n 2) n (+ (fib (- n 1) l) (fib (- n 2) l))))
(display (fib 20 (list 1 2 3)))
(newline))";
  RunOptions ro;
  ro.gc_stress_every = 199;
  std::uint64_t per_reconciliation[2] = {};
  for (bool local : {true, false}) {
    CAPTURE(local);
    ro.local_frames = local;
    Run r = run(program, moss::Collector::refcount, ro);
    CHECK(r.err == "");
    CHECK(r.out == "6765\n");
    REQUIRE(r.stats.collections >= 5);
    if (local) CHECK(r.stats.local_reclaimed >= 20000);
    per_reconciliation[local ? 1 : 0] = r.stats.rc_stack_words_scanned / r.stats.collections;
  }
  CAPTURE(per_reconciliation[0]);
  CAPTURE(per_reconciliation[1]);
  CHECK(per_reconciliation[1] <= 2 * per_reconciliation[0] + 4096);
}

TEST_CASE("scheme: frames that closures capture stay valid across collections") {
  // make-adder's and make-counter's frames are captured (lambda inside):
  // heap frames. sum and walk make local frames in between, and collections
  // run while both kinds are live. A guard handler's frame, a heap frame,
  // has a local frame as its parent: that frame escapes to the heap.
  const char* program = R"((define (make-adder n) (lambda (x) (+ x n)))
(define (make-counter)
  (let ((n 0)) (lambda () (set! n (+ n 1)) n)))
(define (sum l acc) (if (null? l) acc (sum (cdr l) (+ acc (car l)))))
(define (walk fs x) (if (null? fs) '() (cons ((car fs) x) (walk (cdr fs) x))))
(define (safe-car x) (guard (e (#t (list 'no-car x))) (car x)))
(define adders (map make-adder '(1 2 3 4 5)))
(define counters (vector (make-counter) (make-counter)))
(define (churn k) (if (= k 0) 'done (begin (sum '(1 2 3 4) 0) (make-vector 10 k) (churn (- k 1)))))
(collect-garbage)
(churn 3000)
((vector-ref counters 0))
(collect-garbage)
(display (list (walk adders 10) ((vector-ref counters 0)) ((vector-ref counters 1))
               (safe-car '(a)) (safe-car 5) (sum '(1 2 3) 0)))
(collect-garbage)
(display (walk adders (sum '(10 20) 0)))
(newline))";
  const char* expected = "((11 12 13 14 15) 2 1 a (no-car 5) 6)(31 32 33 34 35)\n";
  run_both_frames(program, expected, [](const Run& r, bool local) {
    if (local) {
      CHECK(r.stats.local_reclaimed > 0);
      CHECK(r.stats.local_escaped > 0);  // safe-car's frame under the handler's
    }
  });
  RunOptions stress;
  stress.gc_stress_every = 5;
  run_both_frames(program, expected, [](const Run&, bool) {}, stress);
}

TEST_CASE("scheme: call/cc escapes out of nested local frames") {
  // walk recurses (not in tail position) through local frames, thousands
  // deep (many scopes, and heap frames past the deepest), then escapes
  // through a continuation; the scopes close as the C++ stack unwinds, and
  // evaluation goes on with local frames afterwards. dynamic-wind's after
  // thunks run on the way out.
  run_both_frames(R"((define (walk k n) (if (= n 0) (k 'escaped) (+ 1 (walk k (- n 1)))))
(define (go n) (call/cc (lambda (k) (walk k n))))
(define unwound 0)
(define (guarded n)
  (call/cc (lambda (k)
    (dynamic-wind (lambda () #f)
                  (lambda () (walk k n))
                  (lambda () (set! unwound (+ unwound 1)))))))
(define (repeat i acc) (if (= i 0) acc (repeat (- i 1) (cons (go (* i 7)) acc))))
(display (list (go 10) (go 1000) (go 100000) (guarded 500) (guarded 50000) unwound))
(display (length (repeat 200 '())))
(define (add a b) (+ a b))
(define (loop i acc) (if (= i 0) acc (loop (- i 1) (add acc 2))))
(display (loop 10000 0))
(display (guard (e (#t (list 'caught e))) (walk (lambda (v) (raise v)) 3000)))
(newline))",
                  "(escaped escaped escaped escaped escaped 2)20020000(caught escaped)\n",
                  [](const Run& r, bool local) {
                    if (local) CHECK(r.stats.local_reclaimed > 10000);
                  });
}

TEST_CASE("scheme: a tail loop of ten million calls runs in bounded memory") {
  // One scope per activation, recycled every kFramesPerScope frames: the
  // loop neither nests scopes nor keeps its frames. The heap limit would
  // stop it otherwise (ten million frames are hundreds of MiB), and every
  // frame but a few is reclaimed by a scope, not by a collection.
  RunOptions limited;
  limited.heap_limit = 32u << 20;
  limited.local_frames = true;
  for (moss::Collector c : kCollectors) {
    CAPTURE(moss::collector_name(c));
    Run r = run(R"((define (step i acc) (if (= i 0) acc (step (- i 1) (+ acc 1))))
(display (step 10000000 0))
(newline))",
                c, limited);
    CHECK(r.err == "");
    CHECK(r.out == "10000000\n");
    CHECK(r.stats.local_reclaimed >= 10000000);
    CHECK(r.stats.local_escaped == 0);
    CHECK(r.stats.heap_bytes < (32u << 20));
  }
}

TEST_CASE("scheme: coroutines and local frames") {
  // The main evaluation sits in local frames when it resumes a coroutine;
  // the coroutine (heap frames only) yields from inside its own calls.
  run_both_frames(R"((define (add a b) (+ a b))
(define gen (make-coroutine (lambda (n)
  (let loop ((i 0)) (if (< i n) (begin (yield (add i 100)) (loop (+ i 1))) 'end)))))
(define (pull k acc) (if (= k 0) (reverse acc) (pull (- k 1) (cons (gen 4) acc))))
(define (deep n) (if (= n 0) (pull 5 '()) (let ((r (deep (- n 1)))) r)))
(display (deep 300))
(newline))",
                  "(100 101 102 103 end)\n", [](const Run& r, bool local) {
                    if (local) CHECK(r.stats.local_reclaimed > 0);
                  });
}

// ---- The bundled programs -------------------------------------------------

TEST_CASE("scheme program: tak") { check_bundled_program("tak"); }
TEST_CASE("scheme program: fib") { check_bundled_program("fib"); }
TEST_CASE("scheme program: nqueens") { check_bundled_program("nqueens"); }
TEST_CASE("scheme program: deriv") { check_bundled_program("deriv"); }
TEST_CASE("scheme program: destruc") { check_bundled_program("destruc"); }
TEST_CASE("scheme program: trees") { check_bundled_program("trees"); }
TEST_CASE("scheme program: permutations") { check_bundled_program("permutations"); }
TEST_CASE("scheme program: queue") { check_bundled_program("queue"); }
TEST_CASE("scheme program: strings") { check_bundled_program("strings"); }
