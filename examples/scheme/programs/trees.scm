;;; trees.scm — binary trees in the manner of GCBench (Ellis, Kovac,
;;; Boehm): a stretch tree, a long-lived tree and a long-lived list of
;;; numbers kept throughout, then many short-lived trees of growing depth,
;;; built top-down (allocated, then filled in with set-car!/set-cdr!) and
;;; bottom-up. A node is (left . right); a leaf is ().
;;; Sized to fit TinyScheme's cell limit. Output in trees.out.

(define (tree-size depth)              ; nodes in a complete tree
  (- (expt 2 (+ depth 1)) 1))

(define (iterations depth max-depth)
  (quotient (* 2 (tree-size max-depth)) (tree-size depth)))

(define (bottom-up depth)
  (if (= depth 0)
      (cons '() '())
      (cons (bottom-up (- depth 1)) (bottom-up (- depth 1)))))

(define (populate! depth node)
  (if (> depth 0)
      (begin
        (set-car! node (cons '() '()))
        (set-cdr! node (cons '() '()))
        (populate! (- depth 1) (car node))
        (populate! (- depth 1) (cdr node)))))

(define (top-down depth)
  (let ((root (cons '() '())))
    (populate! depth root)
    root))

(define (count-nodes t)
  (if (null? t) 0 (+ 1 (count-nodes (car t)) (count-nodes (cdr t)))))

(define (time-construction depth max-depth)
  (let ((n (iterations depth max-depth)))
    (let loop ((i 0) (nodes 0))
      (if (< i n)
          (let ((a (top-down depth))
                (b (bottom-up depth)))
            (loop (+ i 1) (+ nodes (count-nodes a) (count-nodes b))))
          (begin
            (display "depth ") (display depth)
            (display ": ") (display n) (display " trees of each kind, ")
            (display nodes) (display " nodes checked")
            (newline))))))

(define stretch-depth 12)
(define long-lived-depth 10)
(define max-depth 11)

(display "stretch tree of depth ") (display stretch-depth)
(display ": ") (display (count-nodes (bottom-up stretch-depth))) (display " nodes")
(newline)

(define long-lived (top-down long-lived-depth))
(define numbers
  (let loop ((i 0) (acc '()))
    (if (= i 500) acc (loop (+ i 1) (cons (* i i) acc)))))

(define (construction-phase)
  (let loop ((d 4))
    (if (<= d max-depth)
        (begin (time-construction d max-depth) (loop (+ d 2))))))

;; GCBench runs the phase once; four rounds make more garbage per run.
(do ((round 0 (+ round 1))) ((= round 4)) (construction-phase))

(display "long-lived tree: ") (display (count-nodes long-lived)) (display " nodes, ")
(display "numbers: ") (display (apply + numbers))
(newline)
