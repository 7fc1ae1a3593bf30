// Tests of the grant encoding: round trips, compactness, refused garbage, fuzzing and benchmarks.

package redis

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/oauthgate/caddy-oauthgate/tokenstore"
)

func sameGrant(a, b tokenstore.Grant) error {
	if a.ClientID != b.ClientID || a.Subject != b.Subject || a.FamilyID != b.FamilyID || a.ID != b.ID ||
		a.RefreshCount != b.RefreshCount || !slices.Equal(a.Scopes, b.Scopes) || !slices.Equal(a.Audience, b.Audience) ||
		!a.IssuedAt.Equal(b.IssuedAt) || !a.ExpiresAt.Equal(b.ExpiresAt) || !a.AuthTime.Equal(b.AuthTime) ||
		a.AuthTime.IsZero() != b.AuthTime.IsZero() {
		return fmt.Errorf("grant changed:\n got %+v\nwant %+v", a, b)
	}
	return nil
}

func codecGrants() map[string]tokenstore.Grant {
	iat := time.Unix(1_767_000_000, 0)
	bench := tokenstore.Grant{ClientID: "bench", Subject: "svc-bench", Scopes: []string{"api"},
		Audience: []string{"http://127.0.0.1:41234"}, IssuedAt: iat, ExpiresAt: iat.Add(2 * time.Hour),
		ID: "q3RvY4Bz0dQ2lUq9lVYk5g", FamilyID: "Zm9vYmFyYmF6cXV4MTIzNA"}
	subjectIsClient := bench
	subjectIsClient.Subject = "bench"
	code := bench
	code.ExpiresAt = iat.Add(90*time.Second + 123456789) // codes keep sub-second expiry
	code.AuthTime = iat.Add(-time.Minute + 1)
	refresh := bench
	refresh.RefreshCount = 7
	refresh.ExpiresAt = iat.Add(30 * 24 * time.Hour)
	odd := tokenstore.Grant{ClientID: "ç/日本", Subject: "", Scopes: []string{"", "a b"}, Audience: []string{"x"},
		IssuedAt: time.Unix(-5, 999_999_999), ExpiresAt: time.Unix(-10, 1), RefreshCount: -3,
		ID:       "q3RvY4Bz0dQ2lUq9lVYk5h",    // 22 base64url characters, not canonical: kept as text
		FamilyID: "000000\r0\r00000000000000"} // 22 bytes, two of them newlines base64 decoders skip
	return map[string]tokenstore.Grant{
		"Bench": bench, "SubjectIsClient": subjectIsClient, "Code": code, "Refresh": refresh, "Odd": odd,
		"Zero":      {},
		"ShortIDs":  {ClientID: "c", Subject: "alice", IssuedAt: iat, ExpiresAt: iat.Add(time.Hour), ID: "jti", FamilyID: ""},
		"NanoTimes": {ClientID: "c", IssuedAt: time.Unix(0, 1), ExpiresAt: time.Unix(1, 0), AuthTime: time.Unix(3, 3)},
	}
}

// Every grant comes back as it went in.
func TestGrantRoundTrip(t *testing.T) {
	for name, g := range codecGrants() {
		t.Run(name, func(t *testing.T) {
			b, err := encodeGrant(g)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeGrant(b)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if err := sameGrant(got, g); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The typical access token stays under the 92 bytes Redis keeps in a 96-byte
// allocation; JSON took twice as much.
func TestGrantEncodingIsCompact(t *testing.T) {
	g := codecGrants()["Bench"]
	b, _ := encodeGrant(g)
	j, _ := json.Marshal(g)
	if len(b) > 92 {
		t.Errorf("the benchmark grant encodes to %d bytes, want ≤ 92 (JSON: %d)", len(b), len(j))
	}
}

func TestDecodeGrantRefusesGarbage(t *testing.T) {
	valid, _ := encodeGrant(codecGrants()["Code"])
	cases := map[string][]byte{
		"Empty":          {},
		"VersionOnly":    {grantV1},
		"UnknownVersion": append([]byte{0x02}, valid[1:]...),
		"UnknownFlag":    append([]byte{grantV1, valid[1] | 0x80}, valid[2:]...),
		"TrailingByte":   append(slices.Clone(valid), 0),
		"HugeList":       {grantV1, flagSameSubject, 1, 'c', 0xff, 0xff, 0xff, 0xff, 0x0f},
		"HugeString":     {grantV1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"VarintOverflow": {grantV1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"NanosTooLarge":  {grantV1, flagSameSubject, 0, 0, 0, 1, 0x80, 0x94, 0xeb, 0xdc, 0x03, 0, 0, 0},
		"NanosZeroFlag":  {grantV1, flagSameSubject, 0, 0, 0, 1, 0, 0, 0, 0},
		"ZeroRefreshCnt": {grantV1, flagSameSubject | flagRefreshCount, 0, 0, 0, 0, 0, 0, 0, 0},
		"ZeroAuthTime":   append([]byte{grantV1, flagSameSubject | flagAuthTime, 0, 0, 0, 0, 0, 0, 0}, zeroTime()...),
		"TimeOutOfRange": append(appendTime([]byte{grantV1, flagSameSubject, 0, 0, 0}, timeBound, 0), 0, 0, 0),
		"JSON":           []byte(`{"cid":`),
		"JSONWrongType":  []byte(`{"cid":1}`),
		"Text":           []byte("oga_not-a-grant"),
	}
	for i := range valid {
		cases[fmt.Sprintf("Truncated%d", i)] = valid[:i]
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			g, err := decodeGrant(b)
			if !errors.Is(err, errUndecodable) {
				t.Fatalf("decodeGrant(%x) = %+v, %v; want errUndecodable", b, g, err)
			}
		})
	}
}

func zeroTime() []byte { return appendTime(nil, time.Time{}.Unix(), 0) }

// FuzzDecodeGrant: any bytes from Redis are decoded or refused, never a
// panic, and what is accepted survives another round trip unchanged.
func FuzzDecodeGrant(f *testing.F) {
	for _, g := range codecGrants() {
		b, _ := encodeGrant(g)
		f.Add(b)
	}
	f.Add([]byte{grantV1, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := decodeGrant(b)
		if err != nil {
			return
		}
		again, err := encodeGrant(g)
		if err != nil {
			t.Fatalf("a decoded grant does not encode: %v", err)
		}
		g2, err := decodeGrant(again)
		if err != nil {
			t.Fatalf("re-encoded grant does not decode: %v", err)
		}
		if err := sameGrant(g2, g); err != nil {
			t.Fatal(err)
		}
	})
}

func BenchmarkEncodeGrant(b *testing.B) {
	g := codecGrants()["Bench"]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodeGrant(g); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeGrant(b *testing.B) {
	val, _ := encodeGrant(codecGrants()["Bench"])
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeGrant(val); err != nil {
			b.Fatal(err)
		}
	}
}
