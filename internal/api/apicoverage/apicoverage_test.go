package apicoverage

import (
	"slices"
	"strings"
	"testing"
)

const harborDoc = `swagger: '2.0'
basePath: /api/v2.0
paths:
  /users/{user_id}:
    parameters:
      - name: user_id
        in: path
    get:
      tags: [user]
      operationId: getUser
    delete:
      tags: [user]
      operationId: deleteUser
  /users/current:
    get:
      tags: [user]
      operationId: getCurrentUserInfo
`

const berthDoc = `{"paths": {
  "/users/{id}": {"get": {"operationId": "getUser"}, "delete": {"operationId": "removeUser"}},
  "/openapi.json": {"get": {"operationId": "getOpenAPI"}},
  "/c/login": {"servers": [{"url": "/"}], "post": {"operationId": "login"}}
}}`

func TestCompare(t *testing.T) {
	h, err := Harbor([]byte(harborDoc))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Berth([]byte(berthDoc))
	if err != nil {
		t.Fatal(err)
	}
	r := Compare(h, b)
	if r.Served() != 2 || len(r.Matches) != 3 {
		t.Errorf("served %d of %d, want 2 of 3", r.Served(), len(r.Matches))
	}
	var extra []string
	for _, o := range r.Extra {
		extra = append(extra, o.OperationID)
	}
	if !slices.Equal(extra, []string{"login", "getOpenAPI"}) {
		t.Errorf("extra = %v", extra)
	}
	mm := strings.Join(r.Mismatches(), "\n")
	for _, want := range []string{`DELETE /users/{id}: berth's operationId is "removeUser", Harbor's is "deleteUser"`, "Harbor names the parameters /users/{user_id}"} {
		if !strings.Contains(mm, want) {
			t.Errorf("mismatches lack %q:\n%s", want, mm)
		}
	}
	md := string(r.Markdown("test"))
	for _, want := range []string{"berth serves 2 of Harbor's 3 operations (66.7%)", "| getCurrentUserInfo | GET | `/users/current` | no |", "`/c/login` (not under /api/v2.0)"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if string(r.Markdown("test")) != md {
		t.Error("markdown is not deterministic")
	}
}

func TestFind(t *testing.T) {
	h, err := Harbor([]byte(harborDoc))
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/users/current": "getCurrentUserInfo", // the literal segment wins over {user_id}
		"/users/7":       "getUser",
		"/users/a%2Fb":   "getUser",
		"/users/7/x":     "",
		"/users/":        "",
	} {
		op, ok := Find(h, "GET", path)
		if ok != (want != "") || op.OperationID != want {
			t.Errorf("Find(GET %s) = %q, %v; want %q", path, op.OperationID, ok, want)
		}
	}
}
