package ha

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// TestHAClientAddressAndRevocation: behind nginx, the audit log records the
// client's own address (nginx is a trusted proxy, the client connects from
// 127.0.0.7), and a token revoked on one replica (its user disabled) stops
// working on every other replica within seconds.
func TestHAClientAddressAndRevocation(t *testing.T) {
	c := startCluster(t, 3, true, onS3)
	lb := startNginx(t, freePort(t), c.addrs)

	// A client on its own loopback address, through nginx.
	from := &net.TCPAddr{IP: net.ParseIP("127.0.0.7")}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{LocalAddr: from, Timeout: 3 * time.Second}).DialContext}}
	for _, pw := range []string{"wrong-password", adminPassword} {
		req, _ := http.NewRequest("GET", lb.URL+"/service/token?service=berth", nil)
		req.SetBasicAuth("admin", pw)
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	admin := func(i int, method, path string, body any) (int, []byte) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, c.url(i)+path, rd)
		req.SetBasicAuth("admin", adminPassword)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := admin(0, "GET", "/api/v2.0/audit-logs?page_size=100", nil)
		var logs []struct {
			Operation string `json:"operation"`
			ClientIP  string `json:"client_ip"`
		}
		_ = json.Unmarshal(body, &logs)
		seen := map[string]string{}
		for _, l := range logs {
			if l.Operation == "login" || l.Operation == "login_failed" {
				seen[l.Operation] = l.ClientIP
			}
		}
		if seen["login"] == "127.0.0.7" && seen["login_failed"] == "127.0.0.7" {
			t.Logf("audit log through nginx: login and login_failed from %s", seen["login"])
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit log does not show the client 127.0.0.7 behind nginx: %s", body)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Revocation across replicas: token from replica 0, used on replica 2,
	// the user disabled through replica 1.
	if st, b := admin(1, "POST", "/api/v2.0/users", map[string]any{"username": "eve", "email": "eve@example.test",
		"realname": "Eve", "password": "Password-123"}); st != 201 {
		t.Fatalf("create user: %d %s", st, b)
	}
	q := url.Values{"service": {"berth"}, "scope": {"repository:library/x:pull"}}
	req, _ := http.NewRequest("GET", c.url(0)+"/service/token?"+q.Encode(), nil)
	req.SetBasicAuth("eve", "Password-123")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct{ Token string }
	_ = json.NewDecoder(res.Body).Decode(&tok)
	res.Body.Close()
	check := func() int {
		req, _ := http.NewRequest("GET", c.url(2)+"/v2/library/x/tags/list", nil)
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if st := check(); st != 404 { // allowed, and library/x does not exist
		t.Fatalf("token on replica 2 before the change: %d", st)
	}
	_, body := admin(1, "GET", "/api/v2.0/users?username=eve", nil)
	var users []struct {
		ID int64 `json:"user_id"`
	}
	if json.Unmarshal(body, &users) != nil || len(users) != 1 {
		t.Fatalf("users: %s", body)
	}
	if st, b := admin(1, "PUT", fmt.Sprintf("/api/v2.0/users/%d", users[0].ID), map[string]any{"disabled": true}); st != 200 {
		t.Fatalf("disable: %d %s", st, b)
	}
	start := time.Now()
	for check() != 401 {
		if time.Since(start) > 10*time.Second {
			t.Fatal("the disabled user's token still works on another replica after 10s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("disabled on replica 1, token refused on replica 2 after %s", time.Since(start).Round(10*time.Millisecond))
}
