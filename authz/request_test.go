// Fuzz tests of parsing endpoint request parameters and the scope parameter.

package authz

import (
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzParseParams(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", "grant_type=client_credentials&scope=a+b", "")
	f.Add("application/json", `{"grant_type":"client_credentials","code":"x"}`, "grant_type=x")
	f.Add("application/json", `{"a":"b","a":"c"}`, "")
	f.Add("application/json", `{"a":1}`, "")
	f.Add("", "", "grant_type=client_credentials")
	f.Add("text/plain", "x", "")
	f.Add("application/x-www-form-urlencoded", "a=%zz", "")
	f.Add("application/x-www-form-urlencoded", "a=1;b=2", "client_secret=x")
	f.Fuzz(func(t *testing.T, ct, body, query string) {
		r := httptest.NewRequest("POST", "/oauth/token", strings.NewReader(body))
		r.URL.RawQuery = query
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		p, err := ParseParams(httptest.NewRecorder(), r)
		if err != nil {
			if err.Code != "invalid_request" || (err.Status != 400 && err.Status != 413) {
				t.Fatalf("unexpected error %v (%d)", err, err.Status)
			}
			return
		}
		for k, v := range p {
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				t.Fatalf("accepted invalid UTF-8 %q=%q", k, v)
			}
		}
	})
}

func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"api_v3 bcf_v2_1", "a,b", " , ", "a\"b", "a\\b", strings.Repeat("x ", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		scopes, err := ParseScope(s)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, sc := range scopes {
			if ValidScopeName(sc) != nil || seen[sc] {
				t.Fatalf("ParseScope(%q) yielded %q", s, sc)
			}
			seen[sc] = true
		}
	})
}
