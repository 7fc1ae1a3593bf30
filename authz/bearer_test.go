// Tests of bearer tokens in requests: where they are read from, challenges, route policies, and fuzzing.

package authz

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
)

// CONFORMANCE R1: where the token is read from.
func TestBearerExtraction_R1(t *testing.T) {
	tests := []struct {
		name    string
		src     BearerSource
		headers map[string][]string
		target  string
		want    string
		err     string // "", "none", or an error code
	}{
		{"bearer", BearerSource{}, map[string][]string{"Authorization": {"Bearer abc.def-_~+/="}}, "/", "abc.def-_~+/=", ""},
		{"scheme case-insensitive", BearerSource{}, map[string][]string{"Authorization": {"bEaReR abc"}}, "/", "abc", ""},
		{"no header", BearerSource{}, nil, "/", "", "none"},
		{"basic is not a bearer token", BearerSource{}, map[string][]string{"Authorization": {"Basic YTpi"}}, "/", "", "none"},
		{"empty bearer", BearerSource{}, map[string][]string{"Authorization": {"Bearer "}}, "/", "", "invalid_request"},
		{"bearer with space inside", BearerSource{}, map[string][]string{"Authorization": {"Bearer a b"}}, "/", "", "invalid_request"},
		{"bearer with bad char", BearerSource{}, map[string][]string{"Authorization": {"Bearer a\"b"}}, "/", "", "invalid_request"},
		{"two Authorization headers", BearerSource{}, map[string][]string{"Authorization": {"Bearer a", "Bearer b"}}, "/", "", "invalid_request"},
		{"custom header (seed 001 sessionID)", BearerSource{Header: "sessionID"}, map[string][]string{"Sessionid": {"tok123"}}, "/", "tok123", ""},
		{"custom header ignored when not configured", BearerSource{}, map[string][]string{"Sessionid": {"tok123"}}, "/", "", "none"},
		{"header and Authorization both", BearerSource{Header: "sessionID"}, map[string][]string{"Sessionid": {"a"}, "Authorization": {"Bearer b"}}, "/", "", "invalid_request"},
		{"query only when enabled", BearerSource{}, nil, "/?access_token=abc", "", "none"},
		{"query enabled", BearerSource{Query: true}, nil, "/?access_token=abc", "abc", ""},
		{"query and header", BearerSource{Query: true}, map[string][]string{"Authorization": {"Bearer b"}}, "/?access_token=abc", "", "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tt.target, nil)
			for k, v := range tt.headers {
				r.Header[k] = v
			}
			got, err := tt.src.Extract(r)
			switch {
			case tt.err == "" && (err != nil || got != tt.want):
				t.Fatalf("Extract = %q, %v; want %q", got, err, tt.want)
			case tt.err == "none" && !errors.Is(err, ErrNoToken):
				t.Fatalf("err = %v, want ErrNoToken", err)
			case tt.err != "" && tt.err != "none":
				var e *Error
				if !errors.As(err, &e) || e.Code != tt.err || e.Status != 400 {
					t.Fatalf("err = %v, want %s (400)", err, tt.err)
				}
			}
		})
	}
}

// CONFORMANCE R2: the challenge format of RFC 6750 §3.
func TestChallenge_R2(t *testing.T) {
	if got := Challenge("api", nil, nil); got != `Bearer realm="api"` {
		t.Fatalf("no-token challenge %q", got)
	}
	got := Challenge("api", ErrInvalidToken.WithDescription("the access token expired"), []string{"a"})
	if got != `Bearer realm="api", error="invalid_token", error_description="the access token expired"` {
		t.Fatalf("invalid_token challenge %q", got)
	}
	got = Challenge(`a"pi`, ErrInsufficientScope.WithDescription("x"), []string{"api_v3", "bcf_v2_1"})
	if got != `Bearer realm="api", error="insufficient_scope", error_description="x", scope="api_v3 bcf_v2_1"` {
		t.Fatalf("insufficient_scope challenge %q", got)
	}
}

// CONFORMANCE R3
// CONFORMANCE R4: all-of / any-of scopes and audience.
func TestPolicy_R3_R4(t *testing.T) {
	id := &Principal{Scopes: []string{"api_v3", "read"}, Audience: []string{"backend"}}
	tests := []struct {
		name string
		p    Policy
		want string
	}{
		{"no requirement", Policy{}, ""},
		{"all present", Policy{Scopes: []string{"api_v3", "read"}}, ""},
		{"all, one missing", Policy{Scopes: []string{"api_v3", "write"}}, "insufficient_scope"},
		{"any, one present", Policy{Scopes: []string{"write", "read"}, Any: true}, ""},
		{"any, none present", Policy{Scopes: []string{"write", "admin"}, Any: true}, "insufficient_scope"},
		{"audience matches", Policy{Audience: []string{"frontend", "backend"}}, ""},
		{"other audience (seed 002)", Policy{Audience: []string{"frontend"}}, "invalid_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Check(id)
			if (err == nil) != (tt.want == "") || (err != nil && err.Code != tt.want) {
				t.Fatalf("Check = %v, want %q", err, tt.want)
			}
		})
	}
}

func FuzzParseBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer a.b.c", "Bearer ", "Basic abc", "Bearer a==", "Bearer =a", "Bearer  a", strings.Repeat("Bearer ", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, ok, err := ParseBearer(h)
		if err == nil && ok {
			if !isB64Token(tok) || strings.ContainsAny(tok, " \t\r\n\"") {
				t.Fatalf("accepted a malformed token %q", tok)
			}
		}
		if !ok && (tok != "" || err != nil) {
			t.Fatalf("non-bearer header yielded %q, %v", tok, err)
		}
	})
}

func FuzzParseBasicAuth(f *testing.F) {
	for _, s := range []string{"Basic " + b64std("a:b"), "Basic " + b64std("a%3A:b%25"), "Basic !!", "Basic " + b64std("nocolon"), "basic " + b64std(":x")} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		id, _, ok, err := ParseBasicAuth(h)
		if ok && err == nil && id == "" {
			t.Fatal("accepted Basic credentials with an empty client id")
		}
	})
}
