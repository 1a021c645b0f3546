;;; fib.scm — doubly recursive Fibonacci: non-tail calls, fixnum arithmetic.
;;; Also sums Fibonacci numbers with a tail-recursive loop to check that
;;; loops run in constant stack.
;;; Runs unmodified on moss-scheme and TinyScheme; output in fib.out.

(define (fib n)
  (if (< n 2)
      n
      (+ (fib (- n 1)) (fib (- n 2)))))

(define (fib-iter n)
  (let loop ((i 0) (a 0) (b 1))
    (if (= i n) a (loop (+ i 1) b (+ a b)))))

(define (sum-fibs n)
  (do ((i 0 (+ i 1))
       (total 0 (+ total (fib-iter (remainder i 60)))))
      ((= i n) total)))

(display "fib 25 = ")
(display (fib 25))
(newline)
(display "fib-iter 90 = ")
(display (fib-iter 90))
(newline)
(display "sum of 30000 iterative fibs = ")
(display (sum-fibs 30000))
(newline)
