// Duration: a lifetime in the client object, read and written as a Caddy duration string.

package tokenstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a lifetime written as a Caddy duration string: Go's
// time.ParseDuration units plus d for days ("2h", "90m", "30d", "1d12h").
// It reads such a string or, as caddy.Duration does, an integer of
// nanoseconds; it writes the string (time.Duration.String).
type Duration time.Duration

// MarshalJSON writes the duration as a string, e.g. "2h0m0s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return errors.New(`a duration is a string such as "2h" or "30d", or a number of nanoseconds`)
	}
	*d = Duration(n)
	return nil
}

// ParseDuration reads a duration as Caddy does: time.ParseDuration, with d
// (24 hours) as a further unit.
func ParseDuration(s string) (time.Duration, error) {
	var days time.Duration
	for {
		i := strings.IndexByte(s, 'd')
		if i < 0 {
			break
		}
		j := i
		for j > 0 && (s[j-1] >= '0' && s[j-1] <= '9' || s[j-1] == '.') {
			j--
		}
		n, err := strconv.ParseFloat(s[j:i], 64)
		if err != nil || j == i {
			return 0, fmt.Errorf("duration %q: a number must come before d", s)
		}
		days += time.Duration(n * float64(24*time.Hour))
		s = s[:j] + s[i+1:]
	}
	if s == "" {
		return days, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	return days + v, nil
}
