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
// fragment (RFC 6749 §3.1.2), or the out-of-band URN.
func ValidRedirectURI(s string) error {
	if s == OOBRedirect {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if !u.IsAbs() || u.Fragment != "" || strings.Contains(s, "#") {
		return errRedirectShape
	}
	if (u.Scheme == "http" || u.Scheme == "https") && u.Host == "" {
		return errRedirectShape
	}
	return nil
}

var errRedirectShape = &Error{Code: "invalid_redirect_uri", Description: "a redirect URI must be absolute and have no fragment"}

// appendParams adds query parameters to a registered redirect URI, keeping
// the query it already has (RFC 6749 §3.1.2).
func appendParams(redirectURI string, params url.Values) string {
	sep := "?"
	if strings.Contains(redirectURI, "?") {
		sep = "&"
	}
	return redirectURI + sep + params.Encode()
}
