;;; permutations.scm — permutations of small lists, two ways: building the
;;; whole list of permutations functionally (lots of shared structure and
;;; short-lived intermediate lists, like Gabriel's "perm"), and visiting
;;; every permutation of a larger list one at a time.
;;; Runs unmodified on moss-scheme and TinyScheme; output in permutations.out.

(define (remove-first x l)
  (cond ((null? l) '())
        ((eq? x (car l)) (cdr l))
        (else (cons (car l) (remove-first x (cdr l))))))

(define (permutations l)
  (if (null? l)
      (list '())
      (apply append
             (map (lambda (x)
                    (map (lambda (p) (cons x p))
                         (permutations (remove-first x l))))
                  l))))

(define (for-each-permutation l visit)
  (let loop ((rest l) (prefix '()))
    (if (null? rest)
        (visit prefix)
        (for-each (lambda (x) (loop (remove-first x rest) (cons x prefix)))
                  rest))))

;; A checksum that depends on the order of elements.
(define (weigh p)
  (let loop ((p p) (k 1) (sum 0))
    (if (null? p) sum (loop (cdr p) (+ k 1) (+ sum (* k (car p)))))))

(define (iota1 n)
  (let loop ((i n) (l '()))
    (if (= i 0) l (loop (- i 1) (cons i l)))))

(display (permutations '(a b c)))
(newline)

(define (build-rounds n)
  (let loop ((i 0) (total 0))
    (if (= i n)
        total
        (let ((ps (permutations (iota1 6))))
          (loop (+ i 1) (+ total (length ps) (weigh (car (reverse ps)))))))))

(display "built: ")
(display (build-rounds 12))
(newline)

(define visits 0)
(define checksum 0)
(for-each-permutation (iota1 7)
  (lambda (p)
    (set! visits (+ visits 1))
    (set! checksum (remainder (+ checksum (weigh p)) 1000007))))
(display "visited: ")
(display visits)
(display ", checksum ")
(display checksum)
(newline)
