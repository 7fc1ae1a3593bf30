// Tests of HTTP Basic client authentication with secrets sent form-encoded or raw.

package authz

import (
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// oddSecret has every character that form encoding changes or that Basic
// and form syntax use.
const oddSecret = "a+b%c:d/e=f&g h%2B"

// HTTP Basic client credentials are accepted form-encoded (RFC 6749 §2.3.1,
// what x/oauth2 and oauth4webapi send) and raw (what curl -u, python
// requests and oauth2c send), against SHA-256 and bcrypt secrets; a wrong
// secret in either spelling is refused.
// CONFORMANCE T2
func TestBasicAuthFormEncodedAndRaw_T2(t *testing.T) {
	bc, err := bcrypt.GenerateFromPassword([]byte(oddSecret), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	bh, err := ParseSecretHash(string(bc))
	if err != nil {
		t.Fatal(err)
	}
	for name, hash := range map[string]SecretHash{"sha256": HashSecret(oddSecret), "bcrypt": bh} {
		f := newFixture(t, func(c *Config) {
			odd := &Client{ID: "odd+id", Grants: []string{GrantClientCredentials}, Scopes: []string{"api_v3"}}
			odd.SetSecret(hash)
			c.Clients["odd+id"] = odd
		})
		raw := func(id, secret string) string {
			return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
		}
		for _, c := range []struct {
			what, header string
			want         int
		}{
			{"form-encoded", biBasic("odd+id", oddSecret), 200},
			{"raw", raw("odd+id", oddSecret), 200},
			{"form-encoded id, raw secret", raw(url.QueryEscape("odd+id"), oddSecret), 200},
			{"raw, one byte off", raw("odd+id", oddSecret[:len(oddSecret)-1]+"C"), 401},
			{"form-encoded, one byte off", biBasic("odd+id", oddSecret+" "), 401},
			{"decoded twice is not the secret", biBasic("odd+id", url.QueryEscape(oddSecret)), 401},
		} {
			r := httptest.NewRequest("POST", PathToken, strings.NewReader("grant_type=client_credentials"))
			r.Header.Set("Content-Type", formCT)
			r.Header.Set("Authorization", c.header)
			rec := f.do(r)
			if rec.Code != c.want {
				t.Fatalf("%s, %s: %d %s", name, c.what, rec.Code, rec.Body)
			}
			if c.want == 200 {
				var tr TokenResponse
				if err := json.Unmarshal(rec.Body.Bytes(), &tr); err != nil || tr.AccessToken == "" {
					t.Fatalf("%s, %s: %v %s", name, c.what, err, rec.Body)
				}
			}
		}
	}
}
