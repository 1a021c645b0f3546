;;; strings.scm — string building: growing strings by appending, joining
;;; many pieces at once, slicing with substring, and turning generated
;;; names into symbols and back. Strings are leaf objects (no pointers
;;; inside), so this exercises the collector's pointer-free spans.
;;; Runs unmodified on moss-scheme and TinyScheme; output in strings.out.

(define (grow n)
  (let loop ((i 0) (s ""))
    (if (= i n)
        s
        (loop (+ i 1) (string-append s (number->string i) ",")))))

(define (join pieces separator)
  (if (null? pieces)
      ""
      (let loop ((rest (cdr pieces)) (acc (list (car pieces))))
        (if (null? rest)
            (apply string-append (reverse acc))
            (loop (cdr rest) (cons (car rest) (cons separator acc)))))))

(define (numbers n)
  (let loop ((i n) (acc '()))
    (if (= i 0) acc (loop (- i 1) (cons (number->string (* i i)) acc)))))

;; Every `step`-th slice of length `width`, concatenated.
(define (slices s step width)
  (let loop ((i 0) (acc '()))
    (if (> (+ i width) (string-length s))
        (apply string-append (reverse acc))
        (loop (+ i step) (cons (substring s i (+ i width)) acc)))))

(define (symbol-round n)
  (let loop ((i 0) (total 0))
    (if (= i n)
        total
        (let* ((name (string-append "item-" (number->string (remainder i 500))))
               (sym (string->symbol name)))
          (loop (+ i 1) (+ total (string-length (symbol->string sym))))))))

(define big (grow 3000))
(display "grown: ") (display (string-length big)) (newline)
(display "head: ") (display (substring big 0 30)) (newline)

(define joined (join (numbers 2000) "+"))
(display "joined: ") (display (string-length joined)) (newline)
(display "tail: ") (display (substring joined (- (string-length joined) 24) (string-length joined))) (newline)

(define (repeat-slices n)
  (let loop ((i 0) (total 0))
    (if (= i n)
        total
        (loop (+ i 1) (+ total (string-length (slices joined (+ 3 (remainder i 7)) 5)))))))
(display "sliced: ") (display (repeat-slices 200)) (newline)
(display "symbols: ") (display (symbol-round 100000)) (newline)
(display (eq? (string->symbol "item-42") 'item-42)) (newline)
