// Authorization code flows for the benchmarks: a signed-in client that runs consent, Allow and exchange.

package main

import (
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/oauthgate/caddy-oauthgate/internal/testutil"
)

const alicePassword = "bench-password"

var (
	hashOnce sync.Once
	hash     string
)

// aliceHash is a cheap bcrypt hash: the flows measure OAuth, not bcrypt.
func aliceHash() string {
	hashOnce.Do(func() {
		h, _ := bcrypt.GenerateFromPassword([]byte(alicePassword), bcrypt.MinCost)
		hash = string(h)
	})
	return hash
}

// flowClient is one signed-in browser running authorization-code flows.
type flowClient struct {
	base string
	c    *http.Client
}

func newFlowClient(base string) *flowClient {
	jar, _ := cookiejar.New(nil)
	return &flowClient{base: base, c: &http.Client{Jar: jar, Transport: &http.Transport{MaxIdleConnsPerHost: 4},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (f *flowClient) authorizeURL() string {
	return f.base + "/oauth/authorize?" + url.Values{"response_type": {"code"}, "client_id": {"flows"},
		"redirect_uri": {"https://client.example/cb"}, "scope": {"api"}, "state": {"s"}, "prompt": {"consent"}}.Encode()
}

func (f *flowClient) page(method, u string, form url.Values) (int, http.Header, string, error) {
	var req *http.Request
	if form == nil {
		req, _ = http.NewRequest(method, u, nil)
	} else {
		req, _ = http.NewRequest(method, u, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := f.c.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	return resp.StatusCode, resp.Header, readBody(resp.Body), nil
}

func (f *flowClient) login() error {
	_, _, body, err := f.page("GET", f.authorizeURL(), nil)
	if err != nil {
		return err
	}
	form, _ := testutil.ParseForm(body)
	form.Set("oauthgate_username", "alice")
	form.Set("oauthgate_password", alicePassword)
	form.Set("oauthgate_action", "login")
	status, _, _, err := f.page("POST", f.authorizeURL(), form)
	if err == nil && status != 200 {
		err = fmt.Errorf("login: %d", status)
	}
	return err
}

// flow: consent page, Allow, exchange.
func (f *flowClient) flow() error {
	status, _, body, err := f.page("GET", f.authorizeURL(), nil)
	if err != nil || status != 200 {
		return fmt.Errorf("consent page: %d %v", status, err)
	}
	form, _ := testutil.ParseForm(body)
	form.Set("oauthgate_action", "allow")
	status, hdr, _, err := f.page("POST", f.authorizeURL(), form)
	if err != nil || status != 302 {
		return fmt.Errorf("allow: %d %v", status, err)
	}
	loc, _ := url.Parse(hdr.Get("Location"))
	code := loc.Query().Get("code")
	tokForm := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"https://client.example/cb"}}
	req, _ := http.NewRequest("POST", f.base+"/oauth/token", strings.NewReader(tokForm.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("flows", benchSecret)
	resp, err := f.c.Do(req)
	if err != nil {
		return err
	}
	body = readBody(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(body, "refresh_token") {
		return fmt.Errorf("exchange: %d %s", resp.StatusCode, body)
	}
	return nil
}
