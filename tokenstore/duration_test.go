// Tests of the client object's duration: Caddy duration strings in, strings out.

package tokenstore

import (
	"encoding/json"
	"testing"
	"time"
)

// CONFORMANCE M1
// A client's lifetimes read as Caddy writes them (a string with Go's units
// or d, or nanoseconds) and write as a string; anything else is refused
// with a message saying what a duration is.
func TestDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		`"2h"`: 2 * time.Hour, `"90m"`: 90 * time.Minute, `"30d"`: 30 * 24 * time.Hour, `"1d12h"`: 36 * time.Hour,
		`"1.5d"`: 36 * time.Hour, `7200000000000`: 2 * time.Hour, `"0s"`: 0,
	} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil || time.Duration(d) != want {
			t.Errorf("%s = %v, %v; want %v", in, time.Duration(d), err, want)
		}
	}
	for _, in := range []string{`"2 hours"`, `"d"`, `"h2"`, `true`, `"1x"`, `[1]`} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err == nil {
			t.Errorf("%s was accepted as %v", in, time.Duration(d))
		}
	}
	out, _ := json.Marshal(Client{ID: "c", AccessTokenTTL: Duration(2 * time.Hour)})
	if string(out) != `{"id":"c","access_token_ttl":"2h0m0s"}` {
		t.Errorf("marshalled %s", out)
	}
}
