;;; queue.scm — a FIFO queue of long-lived lists. Each step makes a fresh
;;; list and enqueues it; once the queue is full the oldest list is taken
;;; off and summed. Every list survives a few hundred steps, so the heap
;;; always holds a band of middle-aged objects while young garbage flows
;;; through: the pattern generational and incremental collectors care about.
;;; Runs unmodified on moss-scheme and TinyScheme; output in queue.out.

(define (make-queue) (cons '() '()))          ; (front . back)

(define (queue-empty? q) (null? (car q)))

(define (enqueue! q x)
  (let ((cell (cons x '())))
    (if (null? (car q))
        (set-car! q cell)
        (set-cdr! (cdr q) cell))
    (set-cdr! q cell)))

(define (dequeue! q)
  (let ((cell (car q)))
    (set-car! q (cdr cell))
    (if (null? (car q)) (set-cdr! q '()))
    (car cell)))

(define (make-numbers n seed)
  (let loop ((i 0) (acc '()))
    (if (= i n) acc (loop (+ i 1) (cons (remainder (+ seed (* i 31)) 997) acc)))))

(define (sum l) (if (null? l) 0 (+ (car l) (sum (cdr l)))))

(define (run steps capacity length)
  (let ((q (make-queue)))
    (let loop ((i 0) (size 0) (total 0))
      (cond ((< i steps)
             (enqueue! q (make-numbers length i))
             (if (= size capacity)
                 (loop (+ i 1) size (remainder (+ total (sum (dequeue! q))) 1000000007))
                 (loop (+ i 1) (+ size 1) total)))
            (else
             (let drain ((total total) (left 0))
               (if (queue-empty? q)
                   (list total left)
                   (drain (remainder (+ total (sum (dequeue! q))) 1000000007) (+ left 1)))))))))

(display "short queue: ")
(display (run 1000 10 20))
(newline)
(display "long queue: ")
(display (run 8000 200 40))
(newline)
