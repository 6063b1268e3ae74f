;;; codeslm-lsp-mode.el --- codeslm with lsp-mode (beside your usual server)  -*- lexical-binding: t; -*-

;; lsp-mode runs several servers per buffer: codeslm is an add-on next to pyright, gopls...
;; With lsp-mode 9.0.1+ (lsp-inline-completion.el) suggestions show as ghost text:
;; `codeslm-lsp-suggest' asks explicitly; `codeslm-lsp-auto-mode' asks after a pause in
;; typing. Older lsp-mode: suggestions come through `completion-at-point'.
;;
;; Usage:
;;   (add-to-list 'load-path "/path/to/codeslm/editors/emacs")
;;   (with-eval-after-load 'lsp-mode (require 'codeslm-lsp-mode))
;;   (add-hook 'python-mode-hook #'lsp-deferred)

;;; Code:

(require 'lsp-mode)

(defgroup codeslm-lsp nil
  "codeslm with lsp-mode."
  :group 'tools)

(defcustom codeslm-lsp-command '("codeslm" "lsp")
  "Command that starts the codeslm language server."
  :type '(repeat string))

(defcustom codeslm-lsp-settings nil
  "initializationOptions for the server (a plist of `codeslm config show' keys)."
  :type 'sexp)

(defcustom codeslm-lsp-idle-delay 0.3
  "Seconds of no typing before `codeslm-lsp-auto-mode' asks for a suggestion."
  :type 'number)

(defvar codeslm-lsp-status nil "The last codeslm/status notification (a hash table).")

(defun codeslm-lsp--status (_workspace params)
  (setq codeslm-lsp-status params)
  (force-mode-line-update t))

(defun codeslm-lsp-status-string ()
  "\"codeslm:ready 420ms\" for the mode line."
  (if codeslm-lsp-status
      (let ((ms (gethash "latencyMs" codeslm-lsp-status)))
        (format "codeslm:%s%s" (gethash "state" codeslm-lsp-status)
                (if (numberp ms) (format " %dms" ms) "")))
    ""))

(defun codeslm-lsp--edit-selection (action)
  "Ask for the instruction of an \"Edit selection\" refactor, then run it."
  (let* ((command (lsp:code-action-command action))
         (args (append (lsp:command-arguments? (or command action)) nil))
         (instruction (read-string "codeslm: how should the selection change? ")))
    (unless (string-empty-p instruction)
      (let ((first (car args)))
        (puthash "instruction" instruction first)
        (lsp-workspace-command-execute "codeslm.editSelection" (vconcat args))))))

(lsp-register-client
 (make-lsp-client
  :new-connection (lsp-stdio-connection (lambda () codeslm-lsp-command))
  :activation-fn (lsp-activate-on "python" "javascript" "typescript" "typescriptreact"
                                  "go" "rust" "java" "c" "cpp")
  :add-on? t
  :priority -2
  :server-id 'codeslm
  :initialization-options (lambda () codeslm-lsp-settings)
  :notification-handlers (ht ("codeslm/status" #'codeslm-lsp--status))
  :action-handlers (ht ("codeslm.editSelection" #'codeslm-lsp--edit-selection))))

(defun codeslm-lsp-suggest ()
  "Show codeslm's suggestion at point as ghost text (Invoked: several candidates)."
  (interactive)
  (if (require 'lsp-inline-completion nil t)
      (lsp-inline-completion-display)
    (completion-at-point)))

(defvar-local codeslm-lsp--timer nil)

(defun codeslm-lsp--after-change (&rest _)
  (when (timerp codeslm-lsp--timer)
    (cancel-timer codeslm-lsp--timer))
  (let ((buffer (current-buffer)))
    (setq codeslm-lsp--timer
          (run-with-idle-timer
           codeslm-lsp-idle-delay nil
           (lambda ()
             (when (and (buffer-live-p buffer) (eq buffer (current-buffer))
                        (not (region-active-p)))
               (lsp-inline-completion-display t)))))))

(define-minor-mode codeslm-lsp-auto-mode
  "Ask codeslm for a ghost-text suggestion whenever typing pauses (lsp-mode 9.0.1+)."
  :lighter " slm"
  (if (and codeslm-lsp-auto-mode (require 'lsp-inline-completion nil t))
      (add-hook 'after-change-functions #'codeslm-lsp--after-change nil t)
    (remove-hook 'after-change-functions #'codeslm-lsp--after-change t)))

(provide 'codeslm-lsp-mode)
;;; codeslm-lsp-mode.el ends here
