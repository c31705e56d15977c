package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// apiPrefix is where the management API answers; the UI calls it in
// process, so every page is authorized by the very handlers (and rbac
// checks, and store queries) that serve /api/v2.0.
const apiPrefix = "/api/v2.0"

// csrfHeader is the API's CSRF header (Harbor's name).
const csrfHeader = "X-Harbor-CSRF-Token"

// recorder is the in-process response of one API call.
type recorder struct {
	status int
	header http.Header
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	// Bounded: an API page is small; a runaway answer is cut, not kept.
	if r.body.Len()+len(b) > maxAPIBody {
		return 0, fmt.Errorf("API answer larger than %d bytes", maxAPIBody)
	}
	return r.body.Write(b)
}

const maxAPIBody = 8 << 20

// apiError is a non-2xx answer of the API: its status and Harbor's message.
type apiError struct {
	Status  int
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d: %s", e.Status, e.Message) }

// call sends one request to the API on behalf of the browser request r:
// the same cookies (so the same session), address and host. body, when
// not nil, is sent as JSON; writes carry the CSRF token the browser's form
// posted, which the API checks against the session.
func (p *page) call(method, path string, body any, out any) (http.Header, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	return p.send(method, path, rd, "application/json", out)
}

func (p *page) send(method, path string, body io.Reader, ctype string, out any) (http.Header, error) {
	r := p.r
	target := path
	if !strings.HasPrefix(path, "/c/") {
		target = apiPrefix + path
	}
	req, err := http.NewRequestWithContext(r.Context(), method, target, body)
	if err != nil {
		return nil, err
	}
	req.RemoteAddr, req.Host, req.TLS = r.RemoteAddr, r.Host, r.TLS
	for _, c := range r.Cookies() {
		if c.Name == "sid" || c.Name == "__csrf" || c.Name == onboardCookie && path == onboardAPIPath {
			req.AddCookie(c)
		}
	}
	for _, h := range []string{"User-Agent", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded"} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	// Project paths name projects, even all-digit ones.
	req.Header.Set("X-Is-Resource-Name", "true")
	for k, v := range p.extra {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", ctype)
	}
	if method != http.MethodGet {
		req.Header.Set(csrfHeader, p.postedCSRF)
	}
	rec := &recorder{header: http.Header{}}
	p.s.opt.API.ServeHTTP(rec, req)
	if t := rec.header.Get(csrfHeader); t != "" {
		p.CSRF = t
	}
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if rec.status >= 300 {
		var e struct {
			Errors []struct{ Message string } `json:"errors"`
		}
		msg := http.StatusText(rec.status)
		if json.Unmarshal(rec.body.Bytes(), &e) == nil && len(e.Errors) > 0 {
			msg = e.Errors[0].Message
		}
		return rec.header, &apiError{rec.status, msg}
	}
	if raw, ok := out.(*[]byte); ok { // the answer as it is (a job's text log)
		*raw = append([]byte(nil), rec.body.Bytes()...)
		return rec.header, nil
	}
	if out != nil && rec.body.Len() > 0 {
		if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
			return rec.header, fmt.Errorf("decoding %s %s: %w", method, path, err)
		}
	}
	return rec.header, nil
}

// get is call for a GET with query values.
func (p *page) get(path string, q url.Values, out any) (http.Header, error) {
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return p.call(http.MethodGet, path, nil, out)
}

// obj and list are the shapes pages decode the API's JSON into: templates
// read fields by their Harbor names.
type (
	obj  = map[string]any
	list = []map[string]any
)

// esc is a path segment escaped for the API: Harbor clients encode '/' in
// repository names twice (%252F).
func esc(s string) string { return url.PathEscape(url.PathEscape(s)) }
