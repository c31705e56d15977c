package proxy

import (
	"context"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
)

type fixedRegistry Upstream

func (f fixedRegistry) Upstream(context.Context, int64) (*Upstream, error) {
	u := Upstream(f)
	return &u, nil
}

// TestUpstreamRepo: the project is dropped from the name, and Docker Hub's
// official images get library/.
func TestUpstreamRepo(t *testing.T) {
	for _, tc := range []struct {
		url, repo, want string
		dockerHub       bool
	}{
		{"https://registry-1.docker.io", "hub/nginx", "index.docker.io/library/nginx", false},
		{"https://docker.io", "hub/bitnami/redis", "index.docker.io/bitnami/redis", false},
		{"https://hub.docker.com", "hub/nginx", "index.docker.io/library/nginx", true},
		{"http://127.0.0.1:5000", "hub/nginx", "127.0.0.1:5000/nginx", false},
		{"http://127.0.0.1:5000", "hub/a/b/c", "127.0.0.1:5000/a/b/c", false},
	} {
		e := New(Options{Registries: fixedRegistry{URL: tc.url, DockerHub: tc.dockerHub}})
		p := newProject(meta.ProxyProject{Name: "hub", RegistryID: 1})
		c, err := e.client(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.repo(p, tc.repo)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Name(); got != tc.want {
			t.Errorf("%s via %s: upstream %s, want %s", tc.repo, tc.url, got, tc.want)
		}
	}
}

// TestProxiedAllocs: the check on every pull and push allocates nothing.
func TestProxiedAllocs(t *testing.T) {
	e := New(Options{})
	e.projects.Store(&map[string]*project{"hub": newProject(meta.ProxyProject{Name: "hub"})})
	if n := testing.AllocsPerRun(100, func() {
		if !e.Proxied("hub/library/nginx") || e.Proxied("other/x") || e.Proxied("noslash") {
			t.Fatal("wrong answer")
		}
	}); n != 0 {
		t.Errorf("Proxied allocates %v times", n)
	}
}
