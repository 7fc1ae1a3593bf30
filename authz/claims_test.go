package authz

import (
	"encoding/json"
	"reflect"
	"testing"
)

// The payloads this server signs take the fast path: otherwise it would
// quietly never run.
func TestOwnClaimsTakeTheFastPath(t *testing.T) {
	for _, c := range []claims{
		{Issuer: testIssuer, Subject: "alice", Audience: audience{"backend"}, ExpiresAt: 1795449600, IssuedAt: 1795446000,
			ID: "x8d9Qy2y0yqQ0jwm7kA1Xw", ClientID: "reporting", Scope: "api_v3 bcf_v2_1", Family: "f6tB5R2hYh1hV9sXUo3m1A"},
		{Issuer: testIssuer, Subject: "svc", Audience: audience{"a", "b"}, ExpiresAt: 1, IssuedAt: 0, NotBefore: 5, ID: "j", ClientID: "c"},
		{Issuer: testIssuer, Subject: "svc", Audience: audience{testIssuer}, ID: "j", ClientID: "c"},
	} {
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var got claims
		if !parseClaims(string(b), &got) {
			t.Fatalf("%s did not take the fast path", b)
		}
		if !reflect.DeepEqual(got, c) {
			t.Fatalf("fast path read %+v from %s, want %+v", got, b, c)
		}
	}
}

// K1: whatever the fast path accepts, encoding/json reads the same way.
func FuzzClaimsMatchEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{"iss":"https://as","sub":"a","aud":"b","exp":10,"iat":5,"jti":"j","client_id":"c","scope":"x y","fam":"f"}`,
		`{"iss":"https://as","sub":"a","aud":["b","c"],"exp":-0,"iat":0,"nbf":12345678901234567,"jti":"j","client_id":"c"}`,
		`{"aud":[]}`, `{}`, `{"exp":01}`, `{"exp":1.5}`, `{"exp":1e3}`, `{"sub":"a","sub":"b"}`, `{"SUB":"a"}`,
		`{"sub":"a\u0062"}`, `{"sub":null}`, `{"aud":null}`, `{"aud":["a",]}`, `{ "sub":"a"}`, `{"sub":"é"}`, `{"exp":99999999999999999999}`,
		`{"iss":"a"}x`, `{"aud":["a"`, `{"exp":-}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var fast claims
		if !parseClaims(s, &fast) {
			return
		}
		var slow claims
		if err := json.Unmarshal([]byte(s), &slow); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json refuses it: %v", s, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: fast path %+v, encoding/json %+v", s, fast, slow)
		}
	})
}
