package app

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/test/distserver"
)

// TestReplicationInProcess: the replication engine as app wires it (run
// in process, so -race sees berth's /v2 called through the in-process
// transport): a push to the reference registry and a pull back into a
// new project.
func TestReplicationInProcess(t *testing.T) {
	base := authServer(t, nil)
	admin := &creds{"admin", adminPassword}
	dist := distserver.Start(t, distserver.Options{})
	if st, _, body := call(t, "POST", base+"/api/v2.0/projects", admin, "", []byte(`{"project_name":"src"}`)); st != 201 {
		t.Fatalf("create project: %d %s", st, body)
	}
	seedImage(t, base, "src/app")
	st, h, body := call(t, "POST", base+"/api/v2.0/registries", admin, "",
		[]byte(fmt.Sprintf(`{"name":"dist","type":"docker-registry","url":%q}`, dist.URL())))
	if st != 201 {
		t.Fatalf("create registry: %d %s", st, body)
	}
	reg := h.Get("Location")[strings.LastIndex(h.Get("Location"), "/")+1:]
	run := func(policy string) {
		t.Helper()
		st, h, body := call(t, "POST", base+"/api/v2.0/replication/policies", admin, "", []byte(policy))
		if st != 201 {
			t.Fatalf("create policy: %d %s", st, body)
		}
		id := h.Get("Location")[strings.LastIndex(h.Get("Location"), "/")+1:]
		st, h, body = call(t, "POST", base+"/api/v2.0/replication/executions", admin, "", []byte(`{"policy_id":`+id+`}`))
		if st != 201 {
			t.Fatalf("start: %d %s", st, body)
		}
		exec := h.Get("Location")
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			_, _, body = call(t, "GET", base+exec, admin, "", nil)
			var x struct{ Status string }
			_ = json.Unmarshal(body, &x)
			if x.Status == "Succeed" {
				return
			}
			if x.Status != "InProgress" || time.Now().After(deadline) {
				t.Fatalf("execution: %s", body)
			}
		}
	}
	run(`{"name":"out","enabled":true,"dest_registry":{"id":` + reg + `},"dest_namespace":"copy","filters":[{"type":"name","value":"src/**"}]}`)
	ref, _ := name.ParseReference(dist.Addr()+"/copy/app:base", name.Insecure)
	pushed, err := remote.Head(ref)
	if err != nil {
		t.Fatal(err)
	}
	run(`{"name":"back","enabled":true,"src_registry":{"id":` + reg + `},"dest_namespace":"back","filters":[{"type":"name","value":"copy/**"}]}`)
	st, _, body = call(t, "GET", base+"/v2/back/app/manifests/base", admin, "", nil, "Accept", "application/vnd.oci.image.manifest.v1+json")
	if st != 200 || !strings.Contains(string(body), "layers") {
		t.Fatalf("pulled back: %d %s", st, body)
	}
	_, h, _ = call(t, "HEAD", base+"/v2/back/app/manifests/base", admin, "", nil, "Accept", "application/vnd.oci.image.manifest.v1+json")
	if h.Get("Docker-Content-Digest") != pushed.Digest.String() {
		t.Errorf("digest after a round trip: %s, want %s", h.Get("Docker-Content-Digest"), pushed.Digest)
	}
}
