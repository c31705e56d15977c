package registry

import (
	"net/http"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
)

// refuseAll is a pull policy that refuses every artifact of a project.
type refuseAll struct {
	project string
	calls   int
}

func (p *refuseAll) CheckPull(_ *http.Request, repo string, m *meta.Manifest) error {
	p.calls++
	if m.Body == nil {
		panic("CheckPull without the manifest's body")
	}
	if strings.HasPrefix(repo, p.project+"/") {
		return &meta.PolicyViolationError{Message: "The image is not signed by cosign."}
	}
	return nil
}

// TestPullPolicy: a refused manifest GET is Harbor's 412
// PROJECTPOLICYVIOLATION with the policy's message; HEAD is not checked.
func TestPullPolicy(t *testing.T) {
	p := &refuseAll{project: "guarded"}
	e := newEnv(t, Options{PullPolicy: p})
	d, _ := e.pushImage("guarded/app", "v1", []byte("layer"))
	e.pushImage("free/app", "v1", []byte("layer"))

	for _, ref := range []string{"v1", string(d)} {
		r := e.do("GET", "/v2/guarded/app/manifests/"+ref, nil)
		e.expect(r, http.StatusPreconditionFailed, "PROJECTPOLICYVIOLATION")
		if got := strings.TrimSpace(string(r.body)); got != `{"errors":[{"code":"PROJECTPOLICYVIOLATION","message":"The image is not signed by cosign."}]}` {
			t.Errorf("body %s", got)
		}
	}
	calls := p.calls
	e.expect(e.do("HEAD", "/v2/guarded/app/manifests/v1", nil), http.StatusOK, "")
	if p.calls != calls {
		t.Error("HEAD went through the pull policy")
	}
	e.expect(e.do("GET", "/v2/free/app/manifests/v1", nil), http.StatusOK, "")
	e.expect(e.do("GET", "/v2/guarded/app/manifests/v2", nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
}
