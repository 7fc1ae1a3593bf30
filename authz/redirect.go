// Redirect URIs: which may be registered, matching them (RFC 8252 loopback ports), adding response params.

package authz

import (
	"net"
	"net/url"
	"strings"
)

// OOBRedirect is the out-of-band redirect URI: the code is shown on a page
// instead of being sent anywhere (CONFORMANCE A3).
const OOBRedirect = "urn:ietf:wg:oauth:2.0:oob"

// maxRedirectURILen bounds what is compared at all.
const maxRedirectURILen = 2048

// MatchRedirectURI reports whether requested is one of registered
// (CONFORMANCE A2): exact string comparison, except that a loopback redirect
// registered without a port matches the same URI on any port (RFC 8252 §7.3).
func MatchRedirectURI(registered []string, requested string) bool {
	if requested == "" || len(requested) > maxRedirectURILen {
		return false
	}
	for _, r := range registered {
		if r == requested {
			return true
		}
	}
	req, err := url.Parse(requested)
	if err != nil || req.Scheme != "http" || req.User != nil || req.Fragment != "" || req.Opaque != "" {
		return false
	}
	host, port, err := net.SplitHostPort(req.Host)
	if err != nil || !isLoopbackIP(host) || port == "" || !allDigits(port) {
		return false
	}
	// The same URI without its port must be registered verbatim.
	prefix := "http://" + req.Host
	if !strings.HasPrefix(requested, prefix) {
		return false
	}
	candidate := "http://" + req.Host[:len(req.Host)-len(port)-1] + requested[len(prefix):]
	for _, r := range registered {
		if r == candidate {
			return true
		}
	}
	return false
}

func isLoopbackIP(host string) bool {
	if host == "127.0.0.1" {
		return true
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return host == "::1"
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) <= 5
}

// ValidRedirectURI checks a URI before it is registered: absolute, no
// fragment (RFC 6749 §3.1.2), and of a kind a code may safely be sent to —
// https; http only to a loopback host (RFC 8252 §7.3); a private-use scheme
// in reverse-domain form such as com.example.app:/cb (RFC 8252 §7.1); or the
// out-of-band URN. Anything else (javascript:, data:, file:, plain http to a
// remote host, …) is refused with a description saying which rule it broke.
func ValidRedirectURI(s string) error {
	if s == OOBRedirect {
		return nil
	}
	if len(s) > maxRedirectURILen {
		return redirectError("is longer than 2048 bytes")
	}
	u, err := url.Parse(s)
	if err != nil {
		return redirectError("is not a URI")
	}
	if !u.IsAbs() {
		return redirectError("must be absolute, with a scheme")
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return redirectError("must not have a fragment")
	}
	switch scheme := strings.ToLower(u.Scheme); {
	case scheme == "https":
		if u.Host == "" || u.Hostname() == "" {
			return redirectError("with https needs a host")
		}
	case scheme == "http":
		if u.Host == "" || !loopbackHost(u.Hostname()) {
			return redirectError("may use http only with a loopback host (127.0.0.1, [::1] or localhost, RFC 8252 §7.3); use https")
		}
	case strings.Contains(scheme, "."):
		for label := range strings.SplitSeq(scheme, ".") {
			if label == "" {
				return redirectError("with a private-use scheme needs a reverse domain name as the scheme, such as com.example.app (RFC 8252 §7.1)")
			}
		}
	case scheme == "urn":
		return redirectError("may be a URN only as " + OOBRedirect)
	default:
		return redirectError("may not use the scheme " + u.Scheme + ": use https, http to a loopback host, a private-use scheme in reverse-domain form (com.example.app:/cb) or " + OOBRedirect)
	}
	if u.User != nil {
		return redirectError("must not carry user information")
	}
	return nil
}

// loopbackHost: a loopback IP literal or localhost.
func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func redirectError(why string) *Error {
	return &Error{Code: "invalid_redirect_uri", Description: "a redirect URI " + why, Status: 400}
}

// appendParams adds query parameters to a registered redirect URI, keeping
// the query it already has (RFC 6749 §3.1.2).
func appendParams(redirectURI string, params url.Values) string {
	sep := "?"
	if strings.Contains(redirectURI, "?") {
		sep = "&"
	}
	return redirectURI + sep + params.Encode()
}
