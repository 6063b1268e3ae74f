;;; eglot_driver.el --- drive Eglot in batch mode against codeslm  -*- lexical-binding: t; -*-
;; Opens a file, waits for the server, completes at a position the way completion UIs do
;; (insert the candidate, run the exit function that applies the textEdit), runs a docstring
;; code action, and writes what happened as JSON to $CODESLM_TEST_OUT.

(require 'cl-lib)
(load (expand-file-name "driver_common.el" (file-name-directory load-file-name)))
(setq codeslm-command (json-read-from-string (getenv "CODESLM_TEST_CMD")))
(setq codeslm-command (append codeslm-command nil))
(load (expand-file-name "codeslm-eglot.el" (getenv "CODESLM_EDITORS_EMACS")))
(setq eglot-confirm-server-initiated-edits nil)  ; batch mode: nobody to ask
(setq codeslm-settings '(:gen (:max_tokens 160)))

(condition-case err
    (progn
      (find-file (getenv "CODESLM_TEST_FILE"))
      (python-mode)
      (apply #'eglot (eglot--guess-contact))
      (out 'managed (if (eglot-managed-p) t :false))
      (out 'server_class (symbol-name (eieio-object-class (eglot-current-server))))
      (out 'ready (if (wait-until (lambda () (member (plist-get codeslm-status :state)
                                                     '("ready" "slow" "error")))
                                  180)
                      t :false))
      (out 'status (plist-get codeslm-status :state))
      (out 'modeline (codeslm-status-string))
      ;; Complete at the end of line 2 like company/corfu do after the user picks a candidate.
      (goto-char (point-min))
      (forward-line 1)
      (end-of-line)
      (complete-like-a-ui (eglot-completion-at-point))
      (out 'after_completion (buffer-substring-no-properties (point-min) (point-max)))
      ;; A refactor through Eglot's code actions (what `eglot-code-actions' offers).
      (let* ((actions (eglot-code-actions 5 5 "refactor.rewrite"))
             (docstring (cl-find-if (lambda (a) (string-match-p "docstring"
                                                                 (plist-get a :title)))
                                    actions)))
        (out 'actions (vconcat (mapcar (lambda (a) (plist-get a :title)) actions)))
        (when docstring
          (let ((command (plist-get docstring :command)))
            (eglot-execute-command (eglot-current-server)
                                   (intern (plist-get command :command))
                                   (plist-get command :arguments)))))
      (out 'after_refactor (buffer-substring-no-properties (point-min) (point-max))))
  (error (out 'error (format "%S" err))))

(write-result)
(ignore-errors (eglot-shutdown (eglot-current-server)))
(kill-emacs 0)
