;;; lsp_mode_driver.el --- drive lsp-mode in batch mode against codeslm  -*- lexical-binding: t; -*-
;; Opens a file with lsp-mode and editors/emacs/codeslm-lsp-mode.el, waits for the server,
;; completes at a position the way completion UIs do (insert the candidate, then the exit
;; function applies the textEdit) and writes what happened as JSON to $CODESLM_TEST_OUT.

(load (expand-file-name "driver_common.el" (file-name-directory load-file-name)))
(require 'lsp-mode)
(require 'lsp-completion)
(add-to-list 'load-path (getenv "CODESLM_EDITORS_EMACS"))
(require 'codeslm-lsp-mode)
(setq codeslm-lsp-command (append (json-read-from-string (getenv "CODESLM_TEST_CMD")) nil))
(setq codeslm-lsp-settings '(:gen (:max_tokens 160)))
(setq lsp-enabled-clients '(codeslm)       ; no other Python server in the test
      lsp-session-file (expand-file-name "lsp-session" (getenv "HOME"))
      lsp-auto-guess-root t
      lsp-restart 'ignore
      lsp-enable-file-watchers nil
      lsp-log-io nil
      lsp-enable-snippet nil
      lsp-modeline-workspace-status-enable nil
      lsp-modeline-diagnostics-enable nil
      lsp-modeline-code-actions-enable nil
      lsp-headerline-breadcrumb-enable nil)

(condition-case err
    (progn
      (find-file (getenv "CODESLM_TEST_FILE"))
      (python-mode)
      (lsp-workspace-folders-add (file-name-directory (getenv "CODESLM_TEST_FILE")))
      (lsp)
      (out 'started (if (wait-until (lambda () (and (lsp-workspaces)
                                                    (eq (lsp--workspace-status
                                                         (car (lsp-workspaces)))
                                                        'initialized)))
                                    120)
                        t :false))
      (out 'servers (vconcat (mapcar (lambda (w) (symbol-name (lsp--client-server-id
                                                               (lsp--workspace-client w))))
                                     (lsp-workspaces))))
      (out 'ready (if (wait-until (lambda () (and codeslm-lsp-status
                                                  (member (gethash "state" codeslm-lsp-status)
                                                          '("ready" "slow" "error"))))
                                  180)
                      t :false))
      (out 'modeline (codeslm-lsp-status-string))
      ;; As shipped: the wait for answers in this buffer is codeslm's, not lsp-mode's 10 s.
      (out 'response_timeout lsp-response-timeout)
      (out 'default_response_timeout (default-value 'lsp-response-timeout))
      (goto-char (point-min))
      (forward-line 1)
      (end-of-line)
      (let ((started (float-time)))
        (complete-like-a-ui (lsp-completion-at-point))
        (out 'completion_seconds (- (float-time) started)))
      (out 'after_completion (buffer-substring-no-properties (point-min) (point-max))))
  (error (out 'error (format "%S" err))))

(write-result)
(ignore-errors (lsp-workspace-shutdown (car (lsp-workspaces))))
(kill-emacs 0)
