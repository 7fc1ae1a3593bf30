// The built-in login's session and CSRF tokens: signed cookie values and the cookies that carry them.

package authz

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"
)

// Cookie names. Both are HttpOnly and scoped to the directory of the
// authorization endpoint's path as the browser used it (see cookiePath).
const (
	sessionCookie = "oauthgate_session"
	csrfCookie    = "oauthgate_csrf"
	// deviceCookie marks a browser in which a user signed in: its sign-ins
	// do not wait on the delays strangers cause that user (knownSources).
	deviceCookie = "oauthgate_device"
)

// session is the built-in login's state, kept client-side in a signed cookie.
type session struct {
	Subject  string `json:"s"`
	ID       string `json:"i"`
	AuthTime int64  `json:"a"`
	Expires  int64  `json:"e"`
}

// signer MACs cookie values and CSRF tokens with the server's session key.
type signer struct{ key []byte }

func (s signer) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, s.key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// seal returns base64url(json).base64url(mac).
func (s signer) seal(purpose string, v any) string {
	body, _ := json.Marshal(v)
	enc := b64.EncodeToString(body)
	return enc + "." + b64.EncodeToString(s.mac(purpose, enc))
}

// open verifies and decodes a sealed value.
func (s signer) open(purpose, sealed string, v any) bool {
	enc, sig, ok := strings.Cut(sealed, ".")
	if !ok {
		return false
	}
	got, err := b64.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(purpose, enc)) {
		return false
	}
	body, err := b64.DecodeString(enc)
	return err == nil && json.Unmarshal(body, v) == nil
}

// csrfToken binds a form to the browser (its csrf cookie), the session or
// user, the purpose and the client.
func (s signer) csrfToken(browser string, binding ...string) string {
	return b64.EncodeToString(s.mac(append([]string{"csrf", browser}, binding...)...))
}

func (s signer) checkCSRF(token, browser string, binding ...string) bool {
	if token == "" || browser == "" {
		return false
	}
	want := s.csrfToken(browser, binding...)
	return subtle.ConstantTimeCompare([]byte(token), []byte(want)) == 1
}

// cookiePath is the directory of path ("/oauth/" for "/oauth/authorize"):
// the browser sends the cookies back to the login and consent forms, which
// post to the page's own URL.
func cookiePath(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[:i+1]
	}
	return "/"
}

func setCookie(w http.ResponseWriter, r *http.Request, path, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: path, MaxAge: int(maxAge / time.Second),
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode,
	})
}

// browserID returns the csrf cookie's value, creating one when absent.
func browserID(w http.ResponseWriter, r *http.Request, path string, rand io.Reader) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 22 && len(c.Value) <= 64 {
		return c.Value
	}
	id, err := newID(rand)
	if err != nil {
		return ""
	}
	setCookie(w, r, path, csrfCookie, id, 24*time.Hour)
	return id
}

// readSession returns the valid, unexpired session of r, if any.
func (s signer) readSession(r *http.Request, now time.Time) (*session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, false
	}
	var sess session
	if !s.open("session", c.Value, &sess) || sess.Subject == "" || now.Unix() >= sess.Expires {
		return nil, false
	}
	return &sess, true
}
