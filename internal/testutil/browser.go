// Browser: a test user agent with cookies that does not follow redirects, and form helpers.

package testutil

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// Browser is a user agent with cookies that does not follow redirects, so a
// test sees where a server sends it.
type Browser struct {
	T *testing.T
	C *http.Client
}

// NewBrowser returns a browser with an empty cookie jar.
func NewBrowser(t *testing.T) *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{T: t, C: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// Page is a response as a browser sees it.
type Page struct {
	Status int
	Header http.Header
	Body   string
	// Form holds the fields of the page's first form; Action its absolute target.
	Form   url.Values
	Action string
}

// Do sends req and reads the page.
func (b *Browser) Do(req *http.Request) *Page {
	b.T.Helper()
	resp, err := b.C.Do(req)
	if err != nil {
		b.T.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	p := &Page{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
	var action string
	p.Form, action = ParseForm(string(body))
	// An empty action submits to the page's own URL (HTML §4.10.21.3).
	p.Action = req.URL.String()
	if action != "" {
		if u, err := req.URL.Parse(action); err == nil {
			p.Action = u.String()
		}
	}
	return p
}

// Get loads a URL.
func (b *Browser) Get(u string) *Page {
	req, _ := http.NewRequest("GET", u, nil)
	return b.Do(req)
}

// Post sends a form.
func (b *Browser) Post(u string, form url.Values) *Page {
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.Do(req)
}

// Submit posts p's form with some fields set.
func (b *Browser) Submit(p *Page, set map[string]string) *Page {
	form := url.Values{}
	for k, v := range p.Form {
		form[k] = v
	}
	for k, v := range set {
		form.Set(k, v)
	}
	return b.Post(p.Action, form)
}

// ParseForm extracts the inputs and the action of the first form of a page.
func ParseForm(body string) (url.Values, string) {
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		return nil, ""
	}
	vals := url.Values{}
	action, forms := "", 0
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			attr := map[string]string{}
			for _, a := range n.Attr {
				attr[a.Key] = a.Val
			}
			switch {
			case n.Data == "form":
				forms++
				if forms == 1 {
					action = attr["action"]
				}
			case n.Data == "input" && forms == 1 && attr["name"] != "":
				vals.Add(attr["name"], attr["value"])
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return vals, action
}

// LoginAndAllow walks oauthgate's login form and consent page, each only
// when shown, and returns the final page (a redirect or the oob page).
func (b *Browser) LoginAndAllow(start, user, password string) *Page {
	b.T.Helper()
	p := b.Get(start)
	if p.Form.Has("oauthgate_password") {
		p = b.Submit(p, map[string]string{"oauthgate_username": user, "oauthgate_password": password, "oauthgate_action": "login"})
	}
	if p.Status == http.StatusOK && strings.Contains(p.Body, `value="allow"`) {
		p = b.Submit(p, map[string]string{"oauthgate_action": "allow"})
	}
	return p
}
