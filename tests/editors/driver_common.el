;;; driver_common.el --- helpers shared by the batch-Emacs editor drivers  -*- lexical-binding: t; -*-
;; A result alist written as JSON to $CODESLM_TEST_OUT, a wait that keeps processing the
;; server's messages, and completion the way completion UIs (company, corfu) do it.

(require 'json)

(defvar out nil "What the driver saw, written as JSON by `write-result'.")
(defun out (key value) (push (cons key value) out))

(defun wait-until (pred seconds)
  "Process server output until PRED is true or SECONDS pass; PRED's last value."
  (let ((deadline (+ (float-time) seconds)))
    (while (and (not (funcall pred)) (< (float-time) deadline))
      (accept-process-output nil 0.1))
    (funcall pred)))

(defun complete-like-a-ui (capf)
  "Pick the first candidate of CAPF (a completion-at-point result), insert it and run its
exit function; record how many candidates there were."
  (let* ((start (nth 0 capf)) (end (nth 1 capf)) (table (nth 2 capf))
         (props (nthcdr 3 capf))
         (candidates (funcall table (buffer-substring-no-properties start end) nil t)))
    (out 'candidates (length candidates))
    (when candidates
      (let ((choice (car candidates)))
        ;; A copy: Emacs 28's completion--replace strips the properties of the string it
        ;; gets, and exit functions read the LSP item from them.
        (completion--replace start end (copy-sequence choice))
        (funcall (plist-get props :exit-function) choice 'finished)))))

(defun write-result ()
  (with-temp-file (getenv "CODESLM_TEST_OUT")
    (insert (json-encode out))))
