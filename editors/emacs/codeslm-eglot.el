;;; codeslm-eglot.el --- codeslm (local code completion) with Eglot  -*- lexical-binding: t; -*-

;; Works with Eglot 1.9 (Debian 12's elpa-eglot) and the Eglot built into Emacs 29+.
;; Eglot runs one server per buffer, so in these modes codeslm replaces your usual language
;; server (see editors/README.md for running it beside another one with lsp-mode).
;;
;; Usage:
;;   (add-to-list 'load-path "/path/to/codeslm/editors/emacs")
;;   (require 'codeslm-eglot)
;;   (add-hook 'python-mode-hook #'eglot-ensure)
;;
;; Completions come through `completion-at-point' (company or corfu show them while typing);
;; refactors through `eglot-code-actions'; "Edit selection" asks for an instruction.

;;; Code:

(require 'eglot)
(require 'jsonrpc)

(defgroup codeslm nil
  "Local code completion with small models."
  :group 'tools)

(defcustom codeslm-command '("codeslm" "lsp")
  "Command that starts the codeslm language server."
  :type '(repeat string))

(defcustom codeslm-modes
  '(python-mode python-ts-mode js-mode js-ts-mode typescript-mode typescript-ts-mode
    go-mode go-ts-mode rust-mode rust-ts-mode java-mode c-mode c++-mode)
  "Major modes in which Eglot should use codeslm."
  :type '(repeat symbol))

(defcustom codeslm-settings nil
  "Settings sent to the server as initializationOptions (a plist).
Keys are those of `codeslm config show', e.g.
  \\='(:lsp (:debounce_ms 150) :model \"qwen2.5-coder-1.5b\")"
  :type 'sexp)

(defcustom codeslm-request-timeout 180
  "Seconds Eglot waits for codeslm (refactors generate with the model)."
  :type 'integer)

(defvar codeslm-status nil
  "The last `codeslm/status' notification as a plist (:state :message :latencyMs ...).")

(defun codeslm-status-string ()
  "A short status for the mode line."
  (if codeslm-status
      (format "codeslm:%s%s" (plist-get codeslm-status :state)
              (let ((ms (plist-get codeslm-status :latencyMs)))
                (if (numberp ms) (format " %dms" ms) "")))
    ""))

(defclass codeslm-eglot-server (eglot-lsp-server) ()
  :documentation "The codeslm language server.")

(cl-defmethod eglot-initialization-options ((_server codeslm-eglot-server))
  (or codeslm-settings eglot--{}))

(cl-defmethod eglot-handle-notification
  ((_server codeslm-eglot-server) (_method (eql codeslm/status)) &rest params)
  "Remember the server's status for `codeslm-status-string'."
  (setq codeslm-status params)
  (force-mode-line-update t))

(cl-defmethod eglot-execute-command
  ((server codeslm-eglot-server) (command (eql codeslm.editSelection)) arguments)
  "Ask for the instruction of an \"Edit selection\" refactor, then run it."
  (let* ((instruction (read-string "codeslm: how should the selection change? "))
         (args (copy-sequence (if (vectorp arguments) arguments (vconcat arguments))))
         (first (copy-sequence (aref args 0))))
    (unless (string-empty-p instruction)
      (aset args 0 (plist-put first :instruction instruction))
      (let ((jsonrpc-default-request-timeout codeslm-request-timeout))
        (jsonrpc-request server :workspace/executeCommand
                         `(:command ,(format "%s" command) :arguments ,args))))))

(when (fboundp 'eglot-execute)
  ;; Newer Eglot (1.14+, Emacs 30) runs commands through `eglot-execute' with the whole action.
  (cl-defmethod eglot-execute :around ((server codeslm-eglot-server) action)
    (let* ((command (or (plist-get action :command) action))
           (name (if (stringp command) command (plist-get command :command))))
      (if (equal name "codeslm.editSelection")
          (eglot-execute-command server 'codeslm.editSelection
                                 (plist-get (if (stringp command) action command) :arguments))
        (let ((jsonrpc-default-request-timeout codeslm-request-timeout))
          (cl-call-next-method))))))

(cl-defmethod eglot-execute-command :around ((_server codeslm-eglot-server) _command _args)
  "Give refactors time to generate."
  (let ((jsonrpc-default-request-timeout codeslm-request-timeout))
    (cl-call-next-method)))

(defun codeslm--eglot-timeout ()
  "Longer request timeouts in buffers managed by codeslm (completion waits for the model)."
  (when (and (eglot-managed-p) (cl-typep (eglot-current-server) 'codeslm-eglot-server))
    (setq-local jsonrpc-default-request-timeout codeslm-request-timeout)))

(add-hook 'eglot-managed-mode-hook #'codeslm--eglot-timeout)

;; Warm-ups: when point rests in a new place, the server evaluates the prompt there ahead.

(defcustom codeslm-warm-idle 1.0
  "Seconds point must rest before codeslm is told where it is (nil: never)."
  :type '(choice number (const nil)) :group 'codeslm)

(defvar codeslm--warmed nil "The last (buffer line tick) sent with codeslm/warm.")

(defun codeslm--warm ()
  "Send codeslm/warm for point when it rests in a new place of a codeslm buffer."
  (when (and (eglot-managed-p) (cl-typep (eglot-current-server) 'codeslm-eglot-server))
    (let ((place (list (current-buffer) (line-number-at-pos) (buffer-modified-tick))))
      (unless (equal place codeslm--warmed)
        (setq codeslm--warmed place)
        (jsonrpc-notify (eglot-current-server) :codeslm/warm
                        (list :textDocument (eglot--TextDocumentIdentifier)
                              :position (eglot--pos-to-lsp-position)))))))

(defvar codeslm--warm-timer
  (and codeslm-warm-idle (run-with-idle-timer codeslm-warm-idle t #'codeslm--warm)))

(add-to-list 'eglot-server-programs
             `(,codeslm-modes . (codeslm-eglot-server . ,codeslm-command)))

(provide 'codeslm-eglot)
;;; codeslm-eglot.el ends here
