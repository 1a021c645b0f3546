;;; deriv.scm — symbolic differentiation of polynomial expressions
;;; (after Gabriel's "deriv"): builds many small short-lived lists of
;;; symbols and numbers, and uses quasiquote, map and assq-style dispatch.
;;; Runs unmodified on moss-scheme and TinyScheme; output in deriv.out.

(define (deriv a)
  (cond ((not (pair? a))
         (if (eq? a 'x) 1 0))
        ((eq? (car a) '+)
         (cons '+ (map deriv (cdr a))))
        ((eq? (car a) '-)
         (cons '- (map deriv (cdr a))))
        ((eq? (car a) '*)
         (list '* a (cons '+ (map deriv-over (cdr a)))))
        ((eq? (car a) '/)
         `(- (/ ,(deriv (cadr a)) ,(caddr a))
             (/ ,(cadr a) (* ,(caddr a) ,(caddr a) ,(deriv (caddr a))))))
        (else (error "deriv: no derivative for" a))))

(define (deriv-over a) (list '/ (deriv a) a))

;; A simplifier, so the printed answer is readable.
(define (simplify e)
  (if (not (pair? e))
      e
      (let ((op (car e)) (args (map simplify (cdr e))))
        (cond ((eq? op '+)
               (let ((terms (remove-zeros args)))
                 (cond ((null? terms) 0)
                       ((null? (cdr terms)) (car terms))
                       (else (cons '+ terms)))))
              ((eq? op '*)
               (if (memv 0 args) 0 (cons '* args)))
              (else (cons op args))))))

(define (remove-zeros l)
  (cond ((null? l) '())
        ((eqv? (car l) 0) (remove-zeros (cdr l)))
        (else (cons (car l) (remove-zeros (cdr l))))))

(define expr '(+ (* 3 x x) (* a x x) (* b x) 5))

(define (run n)
  (let loop ((i 0) (result #f))
    (if (= i n)
        result
        (loop (+ i 1) (deriv expr)))))

(display (deriv expr))
(newline)
(display (simplify (deriv '(+ (* 2 x) (- x 1)))))
(newline)
(display (deriv '(/ x (+ x 1))))
(newline)
(display (length (run 20000)))
(newline)
