;;; nqueens.scm — counts the solutions of the n-queens problem by
;;; backtracking over lists (after the classic Gabriel/Clinger "queens"):
;;; short-lived list allocation, recursion, list walking.
;;; Runs unmodified on moss-scheme and TinyScheme; output in nqueens.out.

(define (iota1 n)
  (let loop ((i n) (l '()))
    (if (= i 0) l (loop (- i 1) (cons i l)))))

;; Does a queen in `row` attack any of `placed` (rows of the previous
;; columns, nearest first)?
(define (ok? row dist placed)
  (or (null? placed)
      (and (not (= (car placed) (+ row dist)))
           (not (= (car placed) (- row dist)))
           (ok? row (+ dist 1) (cdr placed)))))

(define (try candidates rest placed)
  (if (null? candidates)
      (if (null? rest) 1 0)
      (+ (if (ok? (car candidates) 1 placed)
             (try (append (cdr candidates) rest) '() (cons (car candidates) placed))
             0)
         (try (cdr candidates) (cons (car candidates) rest) placed))))

(define (queens n) (try (iota1 n) '() '()))

(define (show n)
  (display n)
  (display " queens: ")
  (display (queens n))
  (display " solutions")
  (newline))

(show 4)
(show 6)
(show 8)
(do ((i 0 (+ i 1))) ((= i 4)) (queens 8))
(show 9)
