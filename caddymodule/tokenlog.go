// Keeping a token_header out of Caddy's logs: the log filter, and the warning that names it at start.

package caddymodule

import (
	"net/http"

	"go.uber.org/zap"
)

// TokenHeaderLogFilter is the Caddy log filter that keeps a token sent in
// token_header out of a log: Caddy logs request headers under their
// canonical names (sessionID → Sessionid) and redacts only Authorization,
// Proxy-Authorization, Cookie and Set-Cookie.
func TokenHeaderLogFilter(header string) string {
	return "request>headers>" + http.CanonicalHeaderKey(header) + " delete"
}

// warnTokenHeaderLogged says, at start, how to keep a token_header out of
// Caddy's logs. A handler cannot do it itself: Caddy copies the request for
// its access log and error log before any handler runs, and a module cannot
// read the logging configuration to tell whether the filter is there.
// Each header is named once per config, however many handlers read it.
func (a *App) warnTokenHeaderLogged(logger *zap.Logger, header string) {
	filter := TokenHeaderLogFilter(header)
	if !a.firstWarning(filter) {
		return
	}
	logger.Warn("oauthgate_protect: token_header "+header+": Caddy's access log, and its error log at DEBUG, record request headers "+
		"and redact only Authorization and Cookie; keep the token out of both with `"+filter+"` in a `format filter { … }` "+
		"of the site's `log` block and of the global `log default` (see README, \"Tokens in a custom header\")",
		zap.String("token_header", header), zap.String("log_filter", filter))
}

// firstWarning reports whether the warning named key is given for the first
// time in this config (and notes that it is): handlers that share a cause
// share one warning.
func (a *App) firstWarning(key string) bool {
	if a.warned[key] {
		return false
	}
	if a.warned == nil {
		a.warned = map[string]bool{}
	}
	a.warned[key] = true
	return true
}
