package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	c := newCLI(io.Discard, io.Discard)
	hc := c.lookup("healthcheck")
	healthcheck := func(args []string) int { return hc.run(c, hc, args) }
	if got := healthcheck([]string{srv.URL + "/readyz"}); got != 0 {
		t.Errorf("ready server: exit %d, want 0", got)
	}
	status = http.StatusServiceUnavailable
	if got := healthcheck([]string{srv.URL + "/readyz"}); got != 1 {
		t.Errorf("unready server: exit %d, want 1", got)
	}
	srv.Close()
	if got := healthcheck([]string{srv.URL + "/readyz"}); got != 1 {
		t.Errorf("no server: exit %d, want 1", got)
	}
	for addr, want := range map[string]string{
		"": "http://127.0.0.1:5000/readyz", ":8080": "http://127.0.0.1:8080/readyz",
		"0.0.0.0:9000": "http://127.0.0.1:9000/readyz", "127.0.0.1:0": "http://127.0.0.1:5000/readyz",
	} {
		if got := healthURL(addr); got != want {
			t.Errorf("healthURL(%q) = %q, want %q", addr, got, want)
		}
	}
}
