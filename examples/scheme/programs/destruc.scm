;;; destruc.scm — destructive list operations (in the spirit of Gabriel's
;;; "destruc"): a list of lists is repeatedly rearranged in place with
;;; set-car! and set-cdr!, so the collector sees old objects pointing at
;;; new ones and links being cut and remade.
;;; Runs unmodified on moss-scheme and TinyScheme; output in destruc.out.

(define (make-lists n len)
  (let loop ((i 0) (acc '()))
    (if (= i n)
        acc
        (loop (+ i 1) (cons (make-list-of len i) acc)))))

(define (make-list-of len seed)
  (let loop ((k 0) (acc '()))
    (if (= k len) acc (loop (+ k 1) (cons (+ seed k) acc)))))

;; One round: for each sublist, splice part of the next sublist into it and
;; rewrite its elements in place.
(define (scramble! lists)
  (let loop ((l lists))
    (if (and (pair? l) (pair? (cdr l)))
        (let* ((a (car l))
               (b (cadr l))
               (half (quotient (length a) 2))
               (cut (list-tail a half)))
          (if (pair? cut)
              (begin
                (set-cdr! cut (if (pair? b) (cdr b) '()))
                (if (pair? b) (set-cdr! b '()))))
          (let walk ((x a) (k 0))
            (if (pair? x)
                (begin
                  (set-car! x (remainder (+ (car x) k 7) 1000))
                  (walk (cdr x) (+ k 1)))))
          (loop (cddr l))))))

;; Rebuild every sublist to a fixed length with fresh cells.
(define (refill! lists len)
  (let loop ((l lists) (i 0))
    (if (pair? l)
        (let ((old (car l)))
          (set-car! l (make-list-of len (+ i (if (pair? old) (car old) 0))))
          (loop (cdr l) (+ i 1))))))

(define (checksum lists)
  (let loop ((l lists) (sum 0))
    (if (null? l)
        sum
        (loop (cdr l)
              (let inner ((x (car l)) (s sum))
                (if (null? x) s (inner (cdr x) (remainder (+ s (car x)) 1000003))))))))

(define lists (make-lists 60 40))

(define (rounds n)
  (do ((i 0 (+ i 1))) ((= i n))
    (scramble! lists)
    (if (= (remainder i 5) 4) (refill! lists 40))))

(rounds 600)
(display "checksum: ")
(display (checksum lists))
(newline)
(display "lengths: ")
(display (map length (list-tail lists 50)))
(newline)
