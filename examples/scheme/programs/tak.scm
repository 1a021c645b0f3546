;;; tak.scm — Takeuchi's function, the classic call-intensive benchmark
;;; (Gabriel). Almost no allocation beyond environment frames: measures
;;; procedure call, fixnum arithmetic and comparison.
;;; Runs unmodified on moss-scheme and TinyScheme; output in tak.out.

(define (tak x y z)
  (if (not (< y x))
      z
      (tak (tak (- x 1) y z)
           (tak (- y 1) z x)
           (tak (- z 1) x y))))

(define (repeat n thunk)
  (let loop ((i 1) (result (thunk)))
    (if (< i n)
        (loop (+ i 1) (thunk))
        result)))

(display "tak 18 12 6 = ")
(display (repeat 20 (lambda () (tak 18 12 6))))
(newline)
(display "tak 22 16 8 = ")
(display (tak 22 16 8))
(newline)
