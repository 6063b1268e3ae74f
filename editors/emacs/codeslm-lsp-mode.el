;;; codeslm-lsp-mode.el --- codeslm with lsp-mode (beside your usual server)  -*- lexical-binding: t; -*-

;; lsp-mode runs several servers per buffer: codeslm is an add-on next to pyright, gopls...
;; With lsp-mode 9.0.1+ (lsp-inline-completion.el) suggestions show as ghost text:
;; `codeslm-lsp-suggest' asks explicitly; `codeslm-lsp-auto-mode' asks after a pause in
;; typing; while one is shown, M-f accepts its next word and C-e the rest of its line
;; (`codeslm-lsp-accept-word', `codeslm-lsp-accept-line'). Older lsp-mode: suggestions come
;; through `completion-at-point'.
;;
;; lsp-mode gives up on an answer after `lsp-response-timeout' (10 s), which a model on a
;; slow or busy CPU can take; in buffers where codeslm runs, the wait is raised to
;; `codeslm-lsp-request-timeout' (the setting is buffer-local, so it applies to the other
;; servers of those buffers too; typing still interrupts a completion request).
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

(defcustom codeslm-lsp-request-timeout 180
  "Seconds lsp-mode waits for an answer in buffers where codeslm runs.
lsp-mode's own `lsp-response-timeout' (10 s) is too short for a model on a busy CPU."
  :type 'number)

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

(defun codeslm-lsp--codeslm-buffer-p ()
  "Whether codeslm is one of the servers of the current buffer."
  (seq-some (lambda (workspace)
              (eq (lsp--client-server-id (lsp--workspace-client workspace)) 'codeslm))
            (lsp-workspaces)))

(defun codeslm-lsp--raise-timeout ()
  "Wait up to `codeslm-lsp-request-timeout' for answers in a codeslm buffer."
  (when (codeslm-lsp--codeslm-buffer-p)
    (setq-local lsp-response-timeout
                (max codeslm-lsp-request-timeout (default-value 'lsp-response-timeout)))))

(add-hook 'lsp-after-open-hook #'codeslm-lsp--raise-timeout)

;; Warm-ups: when point rests in a new place, the server evaluates the prompt there ahead.

(defcustom codeslm-lsp-warm-idle 1.0
  "Seconds point must rest before codeslm is told where it is (nil: never)."
  :type '(choice number (const nil)) :group 'codeslm-lsp)

(defvar codeslm-lsp--warmed nil "The last (buffer line tick) sent with codeslm/warm.")

(defun codeslm-lsp--warm ()
  "Send codeslm/warm for point when it rests in a new place of a codeslm buffer."
  (when (and (bound-and-true-p lsp-mode) (codeslm-lsp--codeslm-buffer-p))
    (let ((place (list (current-buffer) (line-number-at-pos) (buffer-modified-tick))))
      (unless (equal place codeslm-lsp--warmed)
        (setq codeslm-lsp--warmed place)
        (lsp-notify "codeslm/warm" (lsp--text-document-position-params))))))

(defvar codeslm-lsp--warm-timer
  (and codeslm-lsp-warm-idle (run-with-idle-timer codeslm-lsp-warm-idle t #'codeslm-lsp--warm)))

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

;; Partial accept (lsp-mode 9.0.1+ ghost text) -------------------------------------------

(defun codeslm-lsp--take (text unit)
  "The start of TEXT a partial accept inserts: UNIT `word' is its next word with the
spaces before it, `line' the rest of its line (the next line when TEXT starts one)."
  (let ((case-fold-search nil))
    (if (eq unit 'line)
        (if (string-match "\\`\n?[^\n]*" text) (match-string 0 text) text)
      (if (or (string-match "\\`[ \t\n]*[[:alnum:]_]+" text)
              (string-match "\\`[ \t\n]*[^[:alnum:]_ \t\n]+" text)
              (string-match "\\`[ \t\n]+" text))
          (match-string 0 text)
        text))))

(defvar lsp-inline-completion--items)
(defvar lsp-inline-completion--current)
(defvar lsp-inline-completion--start-point)
(declare-function lsp-inline-completion--overlay-visible "lsp-inline-completion")
(declare-function lsp-inline-completion--clear-overlay "lsp-inline-completion")
(declare-function lsp-inline-completion-show-overlay "lsp-inline-completion")

(defun codeslm-lsp--get (object key)
  "KEY of an LSP OBJECT (a hash table, or a plist with `lsp-use-plists')."
  (if (hash-table-p object) (gethash key object) (plist-get object (intern (concat ":" key)))))

(defun codeslm-lsp--accept-part (unit)
  "Insert the next UNIT of the shown suggestion and keep showing the rest."
  (unless (and (featurep 'lsp-inline-completion) (lsp-inline-completion--overlay-visible))
    (user-error "codeslm: no suggestion is shown"))
  (let* ((item (elt lsp-inline-completion--items lsp-inline-completion--current))
         (insert-text (codeslm-lsp--get item "insertText"))
         (text (if (stringp insert-text) insert-text (codeslm-lsp--get insert-text "value")))
         (range (codeslm-lsp--get item "range"))
         (start (if range (lsp--position-to-point (codeslm-lsp--get range "start"))
                  lsp-inline-completion--start-point))
         (typed (buffer-substring-no-properties start lsp-inline-completion--start-point))
         (rest (if (string-prefix-p typed text) (substring text (length typed)) text))
         (part (codeslm-lsp--take rest unit))
         (left (substring rest (length part))))
    (lsp-inline-completion--clear-overlay)
    (goto-char lsp-inline-completion--start-point)
    (insert part)
    (if (string-empty-p left)
        (setq lsp-inline-completion--items nil)
      (setq lsp-inline-completion--items
            (list (if lsp-use-plists (list :insertText left) (ht ("insertText" left))))
            lsp-inline-completion--current 0
            lsp-inline-completion--start-point (point))
      (lsp-inline-completion-show-overlay))))

(defun codeslm-lsp-accept-word ()
  "Insert the next word of the shown suggestion."
  (interactive)
  (codeslm-lsp--accept-part 'word))

(defun codeslm-lsp-accept-line ()
  "Insert the rest of the current line of the shown suggestion."
  (interactive)
  (codeslm-lsp--accept-part 'line))

(with-eval-after-load 'lsp-inline-completion
  (define-key lsp-inline-completion-active-map (kbd "M-f") #'codeslm-lsp-accept-word)
  (define-key lsp-inline-completion-active-map (kbd "C-e") #'codeslm-lsp-accept-line))

(provide 'codeslm-lsp-mode)
;;; codeslm-lsp-mode.el ends here
