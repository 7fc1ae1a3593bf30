// Parsing endpoint request parameters from form or JSON bodies, each given at most once.

package authz

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// MaxBodyBytes bounds token, revocation and introspection request bodies (CONFORMANCE T1).
const MaxBodyBytes = 64 << 10

// Params are the parameters of an endpoint request, each given at most once.
type Params map[string]string

// multiSep joins the values of a repeatable parameter (ParamResource) in
// Params; checkParam refuses it inside a value.
const multiSep = "\x00"

// Values returns every value of k: one for most parameters, each given
// one for a repeatable one (RFC 8707's resource).
func (p Params) Values(k string) []string {
	v, ok := p[k]
	if !ok {
		return nil
	}
	return strings.Split(v, multiSep)
}

// add sets k to v, or appends v when k is repeatable; a repeated other
// parameter is refused.
func (p Params) add(k, v string) *Error {
	if err := checkParam(k, v); err != nil {
		return err
	}
	if old, dup := p[k]; dup {
		if k != ParamResource {
			return duplicateParam(k)
		}
		v = old + multiSep + v
	}
	p[k] = v
	return nil
}

// ParseParams reads a POST body as application/x-www-form-urlencoded or
// application/json (an object of string values). A parameter given twice,
// invalid UTF-8, a body over MaxBodyBytes or another content type is an
// invalid_request. From the query string only grant_type is taken, and only
// when the body has none (seed 003); credentials in the query are refused.
func ParseParams(w http.ResponseWriter, r *http.Request) (Params, *Error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			e := ErrInvalidRequest.WithDescription(fmt.Sprintf("request body exceeds %d bytes", MaxBodyBytes))
			e.Status = http.StatusRequestEntityTooLarge
			return nil, e
		}
		return nil, ErrInvalidRequest.WithDescription("could not read the request body")
	}
	var p Params
	var perr *Error
	ct := r.Header.Get("Content-Type")
	mt, _, mterr := mime.ParseMediaType(ct)
	switch {
	case ct == "" && len(bytes.TrimSpace(body)) == 0:
		p = Params{}
	case mterr == nil && mt == "application/x-www-form-urlencoded":
		p, perr = parseForm(string(body))
	case mterr == nil && mt == "application/json":
		p, perr = parseJSONObject(body)
	default:
		return nil, ErrInvalidRequest.WithDescription("Content-Type must be application/x-www-form-urlencoded or application/json")
	}
	if perr != nil {
		return nil, perr
	}
	q, perr := parseForm(r.URL.RawQuery)
	if perr != nil {
		return nil, perr
	}
	for _, k := range []string{"client_secret", "code", "refresh_token", "code_verifier", "token"} {
		if _, ok := q[k]; ok {
			return nil, ErrInvalidRequest.WithDescription(k + " must be sent in the request body, not in the URL")
		}
	}
	if g, ok := q["grant_type"]; ok {
		if _, inBody := p["grant_type"]; !inBody {
			p["grant_type"] = g
		}
	}
	return p, nil
}

func parseForm(s string) (Params, *Error) {
	vals, err := url.ParseQuery(s)
	if err != nil {
		return nil, ErrInvalidRequest.WithDescription("malformed form-encoded parameters")
	}
	p := make(Params, len(vals))
	for k, v := range vals {
		for _, one := range v {
			if err := p.add(k, one); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

// parseJSONObject decodes a flat JSON object of strings, refusing duplicate
// keys (encoding/json would silently keep the last one).
func parseJSONObject(body []byte) (Params, *Error) {
	// encoding/json would turn invalid UTF-8 into U+FFFD silently.
	if !utf8.Valid(body) {
		return nil, ErrInvalidRequest.WithDescription("parameters must be valid UTF-8")
	}
	bad := ErrInvalidRequest.WithDescription("the JSON body must be one object of string values")
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, bad
	}
	p := Params{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, bad
		}
		k, _ := kt.(string)
		vt, err := dec.Token()
		if err != nil {
			return nil, bad
		}
		if _, dup := p[k]; dup {
			return nil, duplicateParam(k)
		}
		if vt == json.Delim('[') && k == ParamResource {
			// RFC 8707's resource may be several: a JSON array of strings.
			for dec.More() {
				et, err := dec.Token()
				v, ok := et.(string)
				if err != nil || !ok {
					return nil, ErrInvalidRequest.WithDescription("resource must be a string or an array of strings")
				}
				if err := p.add(k, v); err != nil {
					return nil, err
				}
			}
			if et, err := dec.Token(); err != nil || et != json.Delim(']') {
				return nil, bad
			}
			continue
		}
		v, ok := vt.(string)
		if !ok {
			return nil, ErrInvalidRequest.WithDescription("JSON parameter values must be strings")
		}
		if err := p.add(k, v); err != nil {
			return nil, err
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, bad
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, bad
	}
	return p, nil
}

func checkParam(k, v string) *Error {
	if !utf8.ValidString(k) || !utf8.ValidString(v) {
		return ErrInvalidRequest.WithDescription("parameters must be valid UTF-8")
	}
	if k == ParamResource && strings.Contains(v, multiSep) {
		return ErrInvalidTarget.WithDescription("resource must be an absolute URI without a fragment")
	}
	return nil
}

func duplicateParam(k string) *Error {
	if !utf8.ValidString(k) || len(k) > 64 {
		return ErrInvalidRequest.WithDescription("a parameter is given more than once")
	}
	return ErrInvalidRequest.WithDescription(fmt.Sprintf("parameter %q is given more than once", k))
}
